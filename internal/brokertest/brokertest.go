// Package brokertest starts brokers for the tests of the packages built on
// package broker (its metrics, its console).
package brokertest

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/broker"
	"github.com/merlinkafka/merlin/internal/testkit"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Start starts a broker on loopback, logging with testkit.Logger unless cfg
// has a logger, and closes it when the test ends.
func Start(t testing.TB, cfg broker.Config) *broker.Broker {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testkit.Logger(t)
	}
	b, err := broker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		_ = b.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("closing the broker: %v", err)
		}
	})
	return b
}

// Context returns a context that ends after a minute or with the test.
func Context(t testing.TB) context.Context { return testkit.Context(t, time.Minute) }

// Get GETs url and returns the body, failing the test unless the status
// is 200.
func Get(t testing.TB, ctx context.Context, url string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s, %v", url, resp.Status, err)
	}
	return string(body)
}

// CommitGroup has a new consumer in group consume n records of topic from
// its start and commit them. It returns the consumer, still a member of the
// group, closed when the test ends.
func CommitGroup(t testing.TB, ctx context.Context, addr, group, topic string, n int, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl := testkit.Kgo(t, []string{addr}, append([]kgo.Opt{kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	testkit.Poll(t, ctx, cl, n, func(*kgo.Record) bool { return true })
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	return cl
}
