package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/internal/cli"
	"github.com/merlinkafka/merlin/internal/testcert"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// writeUsers writes a users file and returns its path.
func writeUsers(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Inconsistent or broken security flags are usage errors naming the flag.
func TestSecurityFlagErrors(t *testing.T) {
	ca := testcert.NewCA(t, "flags")
	_, cert, key := ca.Files(t, t.TempDir(), "broker", "127.0.0.1")
	users := writeUsers(t, "alice:secret\n")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-cert", cert}, "--tls-cert needs --tls-key"},
		{[]string{"--tls-key", key}, "--tls-key needs --tls-cert"},
		{[]string{"--tls-cert", key, "--tls-key", key}, "--tls-cert/--tls-key"},
		{[]string{"--tls-client-ca", cert}, "--tls-client-ca needs --tls-cert"},
		{[]string{"--tls-cert", cert, "--tls-key", key, "--tls-client-ca", users}, "--tls-client-ca: " + users + " holds no PEM certificate"},
		{[]string{"--sasl", "PLAIN"}, "--sasl needs --users"},
		{[]string{"--users", users}, "--users needs --sasl"},
		{[]string{"--sasl", "GSSAPI", "--users", users}, "--sasl: \"GSSAPI\" is not PLAIN"},
		{[]string{"--sasl", "PLAIN", "--users", filepath.Join(t.TempDir(), "none")}, "--users:"},
		{[]string{"--sasl", "PLAIN", "--users", writeUsers(t, "alice\n")}, "line 1: not name:password"},
		{[]string{"--session-lifetime", "1m"}, "--session-lifetime needs --sasl"},
		{[]string{"--auth-failure-delay", "soon"}, "--auth-failure-delay"},
	} {
		var stdout, stderr bytes.Buffer
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		argv := append([]string{"--listen", "127.0.0.1:0", "--memory"}, c.args...)
		if code := run(ctx, argv, &stdout, &stderr); code != cli.ExitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %q)", c.args, code, cli.ExitUsage, stderr.String())
		}
		if !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: stderr %q does not mention %q", c.args, stderr.String(), c.want)
		}
	}
}

// With TLS and SCRAM flags the broker serves kgo with the right password
// and refuses the wrong one, and logs what it requires.
func TestSecurityFlagsServe(t *testing.T) {
	ca := testcert.NewCA(t, "serve")
	_, cert, key := ca.Files(t, t.TempDir(), "broker", "127.0.0.1")
	users := writeUsers(t, "# test users\nalice:alice-secret\nbob:bob-secret\n")
	s := serve(t, "--listen", "127.0.0.1:0", "--memory", "--tls-cert", cert, "--tls-key", key,
		"--sasl", "SCRAM-SHA-512, plain", "--users", users, "--auth-failure-delay", "10ms")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := func(password string) *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.DialTLSConfig(ca.ClientConfig()),
			kgo.SASL(scram.Auth{User: "alice", Pass: password}.AsSha512Mechanism()),
			kgo.DefaultProduceTopic("secure"), kgo.AllowAutoTopicCreation(), kgo.RequestRetries(0))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	if err := client("alice-secret").ProduceSync(ctx, &kgo.Record{Value: []byte("hi")}).FirstErr(); err != nil {
		t.Fatalf("produce as alice: %v", err)
	}
	if err := client("wrong").Ping(ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("wrong password: %v, want SASL_AUTHENTICATION_FAILED", err)
	}
	for _, want := range []string{"msg=security tls=true client_certificates=false sasl=SCRAM-SHA-512,PLAIN users=2", "authentication failed"} {
		if !strings.Contains(s.stderr.String(), want) {
			t.Errorf("stderr does not hold %q:\n%s", want, s.stderr)
		}
	}
	s.stop(t)

	// PLAIN without TLS is served, with a warning.
	s = serve(t, "--listen", "127.0.0.1:0", "--memory", "--sasl", "PLAIN", "--users", users)
	if want := "PLAIN without TLS"; !strings.Contains(s.stderr.String(), want) {
		t.Errorf("stderr does not hold %q:\n%s", want, s.stderr)
	}
	s.stop(t)
}
