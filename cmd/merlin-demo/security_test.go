package main

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/merlinkafka/merlin/internal/secflags"
	"github.com/merlinkafka/merlin/internal/testcert"
)

// Against a real cluster with TLS and SCRAM, the producer and the check
// that consumes everything back both use the security flags.
func TestDemoTLSAndSASL(t *testing.T) {
	ca := testcert.NewCA(t, "CA")
	caFile, _, _ := ca.Files(t, t.TempDir(), "unused")
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "secure"), kfake.TLS(ca.ServerConfig(t)),
		kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "demo", "pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t.Setenv(secflags.PasswordEnv, "pw")
	code, out, errOut := runDemo(t, "--brokers", c.ListenAddrs()[0], "--topic", "secure", "--messages", "200", "--rate", "2000",
		"--quiet", "--tls-ca", caFile, "--sasl-mechanism", "SCRAM-SHA-512", "--sasl-user", "demo")
	if code != 0 || !strings.Contains(out, "sent 200, acknowledged 200, failed 0, consumed 200, lost 0") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

func TestDemoSecurityNeedsBrokers(t *testing.T) {
	if code, _, errOut := runDemo(t, "--tls"); code != 2 || !strings.Contains(errOut, "--brokers") {
		t.Fatalf("--tls without --brokers: exit %d, stderr %q", code, errOut)
	}
}
