package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/merlinkafka/merlin/internal/cli"
	"github.com/merlinkafka/merlin/internal/kfaketest"
	"github.com/merlinkafka/merlin/internal/secflags"
)

// Every system, and the bench's own admin and consumer, connect to a TLS +
// SCRAM cluster with the security flags.
func TestRunTLSAndSASL(t *testing.T) {
	c := kfaketest.NewSecure(t, "SCRAM-SHA-256", "bench", "pw")
	argv := append(c.Flags(t, secflags.PasswordEnv), "--workloads", "w4,w5", "--systems", "merlin,kgo,sarama", "--runs", "1", "--messages", "300", "--warmup", "10", "--timeout", "1m")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), argv, &stdout, &stderr); code != cli.ExitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	if strings.Contains(out, "ERROR") || !strings.Contains(out, "kgo") || !strings.Contains(out, "sarama") {
		t.Fatalf("want a row of every system and no error:\n%s", out)
	}
}

func TestSecurityNeedsBrokers(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--in-process", "--tls"}, &stdout, &stderr); code != cli.ExitUsage || !strings.Contains(stderr.String(), "--brokers") {
		t.Fatalf("--tls without --brokers: exit %d, stderr %q", code, stderr.String())
	}
}
