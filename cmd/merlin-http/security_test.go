package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/merlinkafka/merlin/internal/kfaketest"
	"github.com/merlinkafka/merlin/internal/secflags"
)

// The gateway produces to a TLS + SCRAM cluster with the security flags,
// the password from the environment.
func TestRunTLSAndSASL(t *testing.T) {
	c := kfaketest.NewSecure(t, "SCRAM-SHA-256", "ingest", "right", "t")
	s := start(t, append(c.Flags(t, secflags.PasswordEnv), "--listen", "127.0.0.1:0")...)
	post(t, s.url+"/sync/t", "text/plain", "hello").expect(t, 200)
	if code := s.stop(t); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, s.stderr)
	}
}

// Refused credentials stop the gateway at start, with an error that says
// so and does not show the password.
func TestRunSASLRefused(t *testing.T) {
	c := newKfakeOpts(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"),
		kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "ingest", "right"))
	const wrong = "wrong-password-not-to-show"
	t.Setenv(secflags.PasswordEnv, wrong)
	var stderr strings.Builder
	code := run(context.Background(), []string{"--listen", "127.0.0.1:0", "--brokers", c.ListenAddrs()[0],
		"--sasl-mechanism", "SCRAM-SHA-512", "--sasl-user", "ingest"}, io.Discard, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "refused SASL SCRAM-SHA-512 authentication") {
		t.Fatalf("exit %d, stderr %q: want 1 and the refusal", code, stderr.String())
	}
	if strings.Contains(stderr.String(), wrong) {
		t.Fatal("stderr shows the password")
	}
}

func TestSecurityFlagErrorsAreUsage(t *testing.T) {
	var stderr strings.Builder
	code := run(context.Background(), []string{"--brokers", "b:9092", "--tls-cert", "c.pem"}, io.Discard, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "--tls-key") {
		t.Fatalf("exit %d, stderr %q: want 2 naming --tls-key", code, stderr.String())
	}
}
