package producer

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/mockbroker"
)

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkDowntimeBuffer is W7 of docs/BENCHMARKS.md: every broker is down,
// 1 000 000 messages of 100 bytes (each its own slice, as an application
// would make them) are buffered; it reports the heap each buffered message
// costs, then the rate at which the buffer replays when the brokers return.
func BenchmarkDowntimeBuffer(b *testing.B) {
	const n = 1_000_000
	for i := 0; i < b.N; i++ {
		c, err := mockbroker.NewCluster(mockbroker.Brokers(3), mockbroker.Topic("w7", 6), mockbroker.Logger(quietLogger()))
		if err != nil {
			b.Fatal(err)
		}
		p, err := New(fastRetry(Config{Brokers: c.Addrs(), DeliveryTimeout: -1, MaxBufferedMessages: 2 * n,
			MaxBufferedBytes: 1 << 30, Acks: AcksLeader}))
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		if _, err := p.Metadata(ctx, "w7"); err != nil {
			b.Fatal(err)
		}
		for _, id := range c.BrokerIDs() {
			if err := c.Stop(id); err != nil {
				b.Fatal(err)
			}
		}
		before := heapInUse()
		b.StartTimer()
		for j := 0; j < n; j++ {
			v := make([]byte, 100)
			v[0] = byte(j)
			if err := p.ProduceAsyncBatched(ctx, "w7", Message{Value: v}); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		// Let the workers seal and pack what the TTL left open.
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			if packedAll(p) {
				break
			}
		}
		after := heapInUse()
		b.ReportMetric(float64(after-before)/n, "heap-B/msg")

		start := time.Now()
		for _, id := range c.BrokerIDs() {
			if err := c.Start(id); err != nil {
				b.Fatal(err)
			}
		}
		if err := p.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(n/time.Since(start).Seconds(), "replay-msgs/s")
		if got := c.RecordCount("w7"); got != n {
			b.Fatalf("%d of %d messages arrived", got, n)
		}
		_ = p.Close(ctx)
		c.Close()
	}
}

// packedAll reports whether no worker holds an open batch any more.
func packedAll(p *Producer) bool {
	all := true
	p.forEachWorker(func(w *worker) {
		w.mu.Lock()
		if len(w.cur) > 0 || len(w.sealed) > 0 {
			all = false
		}
		w.mu.Unlock()
	})
	return all
}

// The broker is slower than the producers: the producer's heap must stay
// within the buffer limits (plus a fixed allowance for the runtime and the
// connections), however long producers push. The broker runs in a child
// process so that what it stores is not counted here; the producer holds
// its buffer limit by blocking the producing goroutine.
func TestMemoryBoundedWhenBrokerIsSlow(t *testing.T) {
	addr := startChildBroker(t, 5*time.Millisecond)
	const limit = 8 << 20
	p := newProducer(t, Config{Brokers: []string{addr}, MaxBufferedBytes: limit, MaxBytes: 256 << 10, Acks: AcksLeader})
	ctx := testCtx(t)
	if _, err := p.Metadata(ctx, "slow"); err != nil {
		t.Fatal(err)
	}
	base := heapInUse()
	var peak uint64
	var ms runtime.MemStats
	maxHeld := 0
	const n = 100_000
	for i := 0; i < n; i++ {
		// A fresh value each time, as an application would produce them:
		// what the producer holds is what it must bound.
		m := Message{Value: make([]byte, 1000)}
		if err := p.ProduceAsyncBatched(ctx, "slow", m); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
			_, bytes := p.BufferedMessages()
			if bytes > limit {
				t.Fatalf("buffer holds %d bytes, limit %d", bytes, limit)
			}
			maxHeld = max(maxHeld, bytes)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Garbage (values already sent) accumulates until the next collection,
	// and Go lets the heap reach twice the live heap (GOGC=100) before one:
	// allow twice the limit plus 16 MiB for everything else. 100 MB went
	// through, so an unbounded buffer would fail this by far.
	if maxHeld < limit/2 {
		t.Fatalf("the buffer never filled (%d bytes at most): the broker was not the bottleneck", maxHeld)
	}
	growth := int64(peak) - int64(base)
	t.Logf("heap peak %d MiB above start, buffer limit %d MiB, %d MB produced", growth>>20, limit>>20, n*1000/1000000)
	if growth > 2*limit+16<<20 {
		t.Fatalf("heap grew by %d MiB with a %d MiB buffer limit", growth>>20, limit>>20)
	}
}
