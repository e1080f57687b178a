package main

import (
	"strings"
	"testing"

	"github.com/merlinkafka/merlin/internal/kfaketest"
	"github.com/merlinkafka/merlin/internal/secflags"
)

// Against a real cluster with TLS and SCRAM, the producer and the check
// that consumes everything back both use the security flags.
func TestDemoTLSAndSASL(t *testing.T) {
	c := kfaketest.NewSecure(t, "SCRAM-SHA-512", "demo", "pw", "secure")
	code, out, errOut := runDemo(t, append(c.Flags(t, secflags.PasswordEnv), "--topic", "secure", "--messages", "200", "--rate", "2000", "--quiet")...)
	if code != 0 || !strings.Contains(out, "sent 200, acknowledged 200, failed 0, consumed 200, lost 0") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

func TestDemoSecurityNeedsBrokers(t *testing.T) {
	if code, _, errOut := runDemo(t, "--tls"); code != 2 || !strings.Contains(errOut, "--brokers") {
		t.Fatalf("--tls without --brokers: exit %d, stderr %q", code, errOut)
	}
}
