package producer

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/callbacks"
	"github.com/merlinkafka/merlin/picker"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// quietLogger keeps test output readable.
func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newKfake starts franz-go's fake cluster with topic seeded.
func newKfake(t *testing.T, brokers int, partitions int32, topics ...string) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(brokers), kfake.SeedTopics(partitions, topics...), kfake.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// countProduceBatches counts the record batches kfake receives per topic.
type batchCounter struct {
	mu      sync.Mutex
	batches int
	records []int
}

func (bc *batchCounter) install(c *kfake.Cluster) {
	c.ControlKey(0, func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		pr := req.(*kmsg.ProduceRequest)
		bc.mu.Lock()
		defer bc.mu.Unlock()
		for _, t := range pr.Topics {
			for _, p := range t.Partitions {
				var rb kmsg.RecordBatch
				if err := rb.ReadFrom(p.Records); err == nil {
					bc.batches++
					bc.records = append(bc.records, int(rb.NumRecords))
				}
			}
		}
		return nil, nil, false
	})
}

func (bc *batchCounter) snapshot() (int, []int) {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	return bc.batches, append([]int(nil), bc.records...)
}

// want fails t unless the cluster saw exactly n batches of size records each.
func (bc *batchCounter) want(t *testing.T, n, size int) {
	t.Helper()
	got, sizes := bc.snapshot()
	if got != n {
		t.Fatalf("%d batches %v, want %d of %d", got, sizes, n, size)
	}
	for _, s := range sizes {
		if s != size {
			t.Fatalf("batch sizes %v, want %d each", sizes, size)
		}
	}
}

// consume reads n records of topic from the start with a kgo client.
func consume(t *testing.T, addrs []string, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := testCtx(t)
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", len(out), n, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Logf("fetch %s/%d: %v", topic, p, err) })
		out = append(out, fs.Records()...)
	}
	return out
}

func newProducer(t *testing.T, cfg Config) *Producer {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = p.Close(ctx)
	})
	return p
}

func newKfakeB(b *testing.B, partitions int32, topics ...string) *kfake.Cluster {
	b.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	return c
}

func murmur(k []byte) int32 { return picker.Murmur2(k) }

// goroutines counts the goroutines whose stack has a frame of fn, for
// leak checks.
func goroutines(fn string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, fn) {
			count++
		}
	}
	return count
}

// waitGoroutines waits until goroutines(fn) is want, and fails if it never
// settles there: goroutines that finish do so asynchronously.
func waitGoroutines(t *testing.T, fn string, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := goroutines(fn)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines in %s, want %d", got, fn, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sentCount counts the messages of the batches workers sent (Flush events),
// so that a test can wait until messages are in flight instead of sleeping.
type sentCount struct{ n atomic.Int64 }

func (s *sentCount) Handle(e callbacks.Event) {
	if e.Kind == callbacks.Flush {
		s.n.Add(int64(e.Count))
	}
}

// wait returns once at least n messages were sent.
func (s *sentCount) wait(t *testing.T, ctx context.Context, n int64) {
	t.Helper()
	for s.n.Load() < n {
		select {
		case <-ctx.Done():
			t.Fatalf("%d messages sent, waited for %d", s.n.Load(), n)
		case <-time.After(time.Millisecond):
		}
	}
}
