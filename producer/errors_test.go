package producer

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/internal/kfaketest"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/merlinkafka/merlin/callbacks"
	"github.com/merlinkafka/merlin/picker"
)

// failProduce makes kfake answer the next n produce requests with code for
// every partition; later requests are served normally.
func failProduce(c *kfake.Cluster, n int, code int16) *kfaketest.Counter {
	return kfaketest.RefuseNextProduces(c, n, code)
}

func TestRetriableErrorIsRetried(t *testing.T) {
	c := newKfake(t, 1, 1, "retry")
	p := newProducer(t, Config{Brokers: c.ListenAddrs(), RetryBackoff: time.Millisecond, RetryBackoffMax: 5 * time.Millisecond})
	ctx := testCtx(t)
	if _, err := p.Metadata(ctx, "retry"); err != nil {
		t.Fatal(err)
	}
	seen := failProduce(c, 3, kerr.NotLeaderForPartition.Code)
	res, err := p.ProduceSync(ctx, "retry", msg("", "a"), msg("", "b"))
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Offset != 0 || res[1].Offset != 1 {
		t.Fatalf("results %+v", res)
	}
	if n := seen.Load(); n < 4 {
		t.Fatalf("only %d produce requests: the retriable errors were not retried", n)
	}
	checkArrived(t, c.ListenAddrs(), "retry", []Message{msg("", "a"), msg("", "b")})
}

func TestNonRetriableErrorIsReported(t *testing.T) {
	c := newKfake(t, 1, 1, "fatal")
	p := newProducer(t, Config{Brokers: c.ListenAddrs()})
	ctx := testCtx(t)
	if _, err := p.Metadata(ctx, "fatal"); err != nil {
		t.Fatal(err)
	}
	failProduce(c, 1, kerr.InvalidRecord.Code)
	got := make(chan Result, 1)
	m := msg("", "bad")
	m.OnDelivery = func(r Result) { got <- r }
	if err := p.ProduceAsync(ctx, "fatal", m); err != nil {
		t.Fatal(err)
	}
	r := <-got
	var be *BrokerError
	if !errors.As(r.Err, &be) || be.Code != kerr.InvalidRecord.Code || be.Retriable() || !errors.Is(r.Err, kerr.InvalidRecord) {
		t.Fatalf("callback got %v", r.Err)
	}
	if r.Offset != -1 || r.Partition != 0 || r.Topic != "fatal" {
		t.Fatalf("result %+v", r)
	}
	// The next message goes through: one bad batch does not poison the worker.
	if _, err := p.ProduceSync(ctx, "fatal", msg("", "good")); err != nil {
		t.Fatal(err)
	}
}

func TestDeliveryTimeout(t *testing.T) {
	c := newKfake(t, 1, 1, "slow")
	p := newProducer(t, Config{Brokers: c.ListenAddrs(), DeliveryTimeout: 200 * time.Millisecond,
		RetryBackoff: 10 * time.Millisecond, RetryBackoffMax: 20 * time.Millisecond})
	ctx := testCtx(t)
	if _, err := p.Metadata(ctx, "slow"); err != nil {
		t.Fatal(err)
	}
	failProduce(c, 1<<30, kerr.NotLeaderForPartition.Code)
	_, err := p.ProduceSync(ctx, "slow", msg("", "x"))
	if !errors.Is(err, ErrDeliveryTimeout) || !errors.Is(err, kerr.NotLeaderForPartition) {
		t.Fatalf("got %v, want a delivery timeout naming the last error", err)
	}
}

// recorder keeps events, for tests.
type recorder struct {
	mu     sync.Mutex
	events []callbacks.Event
}

func (r *recorder) Handle(e callbacks.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) kinds(partition int32) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if e.Partition != partition {
			continue
		}
		s := e.Kind.String()
		if e.Kind == callbacks.StateChange {
			s += ":" + e.From + ">" + e.To
		}
		out = append(out, s)
	}
	return out
}

func TestCallbacksOrder(t *testing.T) {
	c := newKfake(t, 1, 1, "events")
	rec := &recorder{}
	p := newProducer(t, Config{Brokers: c.ListenAddrs(), Handlers: []callbacks.Handler{rec}})
	ctx := testCtx(t)
	if _, err := p.ProduceSync(ctx, "events", msg("", "a"), msg("", "b")); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(rec.kinds(0), " ")
	want := "state_change:connecting>ready time_to_connect worker_up flush flushed_replied state_change:ready>draining state_change:draining>closed"
	if got != want {
		t.Fatalf("events\n got: %s\nwant: %s", got, want)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, e := range rec.events {
		if e.Kind == callbacks.FlushedReplied && (e.Count != 2 || e.Topic != "events" || e.Broker < 0 || e.Duration <= 0) {
			t.Fatalf("flushed_replied event %+v", e)
		}
	}
}

func TestStatsdSinkReceivesProducerEvents(t *testing.T) {
	ln, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sd, err := callbacks.NewStatsd(ln.LocalAddr().String(), "merlin")
	if err != nil {
		t.Fatal(err)
	}
	c := newKfake(t, 1, 1, "stats")
	p := newProducer(t, Config{Brokers: c.ListenAddrs(), Handlers: []callbacks.Handler{sd}})
	ctx := testCtx(t)
	if _, err := p.ProduceSync(ctx, "stats", msg("", "a"), msg("", "b"), msg("", "c")); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	sd.Close()
	var lines []string
	buf := make([]byte, 64<<10)
	_ = ln.SetReadDeadline(time.Now().Add(5 * time.Second))
	for !containsPrefix(lines, "merlin.stats.flushed_replied.broker") {
		n, _, err := ln.ReadFrom(buf)
		if err != nil {
			t.Fatalf("statsd lines so far %q: %v", lines, err)
		}
		lines = append(lines, strings.Split(strings.TrimSpace(string(buf[:n])), "\n")...)
	}
	if !containsPrefix(lines, "merlin.stats.flush.broker") {
		t.Fatalf("no flush line in %q", lines)
	}
}

func containsPrefix(lines []string, prefix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

func TestSyncContextEndsAfterAcceptance(t *testing.T) {
	c := newKfake(t, 1, 1, "slowack")
	p := newProducer(t, Config{Brokers: c.ListenAddrs(), RetryBackoff: time.Millisecond, RetryBackoffMax: 5 * time.Millisecond})
	ctx := testCtx(t)
	if _, err := p.Metadata(ctx, "slowack"); err != nil {
		t.Fatal(err)
	}
	failProduce(c, 1<<30, kerr.NotLeaderForPartition.Code)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err := p.ProduceSync(short, "slowack", msg("", "x"))
	if !errors.Is(err, ErrUnacknowledged) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	// Before acceptance (the topic's metadata never comes): ctx's error alone.
	done, cancel2 := context.WithCancel(ctx)
	cancel2()
	_, err = p.ProduceSync(done, "never-seen-topic", msg("", "x"))
	if errors.Is(err, ErrUnacknowledged) || !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	// The broker keeps refusing: Close gives up quickly and reports it.
	closeCtx, cancel3 := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel3()
	if err := p.Close(closeCtx); !errors.Is(err, ErrClosed) {
		t.Fatalf("close: %v", err)
	}
}

func TestPartialAcceptance(t *testing.T) {
	c := newKfake(t, 1, 2, "partial")
	calls := 0
	p := newProducer(t, Config{Brokers: c.ListenAddrs(), Topics: map[string]TopicConfig{"partial": {
		Strategy: picker.Func(func(_ string, key []byte, n int32) int32 {
			calls++
			return 0
		}),
	}}})
	ctx := testCtx(t)
	// A picker cannot fail, but an oversized message is refused up front:
	// nothing of that call is taken.
	_, err := p.ProduceSync(ctx, "partial", msg("", "ok"), Message{Value: make([]byte, 2<<20)})
	if !errors.Is(err, ErrMessageTooLarge) || calls != 0 {
		t.Fatalf("got %v after %d picks", err, calls)
	}
	var pe *PartialError
	perr := error(&PartialError{Accepted: 2, Total: 5, Err: ErrInvalidPartition})
	if !errors.As(perr, &pe) || !errors.Is(perr, ErrInvalidPartition) || pe.Accepted != 2 {
		t.Fatal("PartialError does not unwrap")
	}
}
