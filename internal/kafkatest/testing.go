package kafkatest

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"
)

// Required says whether a missing Java or missing jars fail tests
// (MERLIN_KAFKA=1) rather than skip them.
func Required() bool { return os.Getenv(Env) == "1" }

// Need skips t unless MERLIN_KAFKA=1 asks for the tests that start Apache
// Kafka (they take minutes: the README's go test ./... stays quick), and
// fails it when the flag is set but Java or the jars are missing.
func Need(t testing.TB) {
	t.Helper()
	if !Required() {
		t.Skipf("skipped: starts Apache Kafka; set %s=1 to run it (needs Java 17 and interop/kafka/resolve; see README, \"Proven on Apache Kafka\")", Env)
	}
	if _, _, err := Classpath(Version()); err != nil {
		missing(t, err)
	}
}

func missing(t testing.TB, err error) {
	t.Helper()
	if Required() {
		t.Fatalf("%s=1 but %v", Env, err)
	}
	t.Skipf("skipped: %v (set %s=1 to make this a failure; see README, \"Tests against Apache Kafka\")", err, Env)
}

// New starts a cluster for t, with its data in t.TempDir(), and stops it
// when t ends. When t has failed by then, the tail of every node's log is
// printed. Without MERLIN_KAFKA=1, t is skipped (see Need).
func New(t testing.TB, opts Options) *Cluster {
	t.Helper()
	Need(t)
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	c, err := Start(ctx, opts)
	if errors.Is(err, ErrMissing) {
		missing(t, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kafkatest: Kafka %s, %d node(s) up in %v: %v", c.Version(), len(c.nodes), time.Since(start).Round(time.Millisecond), c.Brokers())
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(c.LogTails(40))
		}
		c.Close()
	})
	return c
}
