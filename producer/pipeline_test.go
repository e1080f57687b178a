package producer

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/callbacks"
	"github.com/merlinkafka/merlin/mockbroker"
)

// With the raw hand-off to sarama turned off, sarama encodes and
// compresses the records itself from a decoding of merlin's batch: the
// same messages arrive, with every codec and in both ways of keeping an
// open batch (encoded by the produce calls, or kept as messages because
// Config.OnDelivery wants them).
func TestHandOverFallback(t *testing.T) {
	if !rawFields.ok {
		t.Fatal("sarama's RecordBatch no longer has the cached-records fields merlin hands its encoding over in: every send takes the slow fallback")
	}
	defer func(v bool) { rawHandOff = v }(rawHandOff)
	for _, raw := range []bool{true, false} {
		for _, codec := range []Compression{CompressionNone, CompressionGzip, CompressionZstd} {
			for _, keep := range []bool{false, true} {
				t.Run(fmt.Sprintf("raw=%v/%v/keep=%v", raw, codec, keep), func(t *testing.T) {
					rawHandOff = raw
					c := newKfake(t, 1, 2, "f")
					cfg := Config{Brokers: c.ListenAddrs(), Compression: codec}
					var reported atomic.Int32
					if keep {
						cfg.OnDelivery = func(Message, Result) { reported.Add(1) }
					}
					p := newProducer(t, cfg)
					ctx := testCtx(t)
					var want []Message
					for i := 0; i < 200; i++ {
						m := msg(fmt.Sprint(i%3), strings.Repeat(fmt.Sprintf("v%d ", i), 4))
						m.Headers = []Header{{Key: "h", Value: []byte(fmt.Sprint(i))}}
						want = append(want, m)
					}
					if _, err := p.ProduceSync(ctx, "f", want...); err != nil {
						t.Fatal(err)
					}
					checkArrived(t, c.ListenAddrs(), "f", want)
					if keep && reported.Load() != int32(len(want)) {
						t.Fatalf("Config.OnDelivery saw %d of %d", reported.Load(), len(want))
					}
				})
			}
		}
	}
}

// memInUse is the heap and goroutine stacks in use after collecting.
func memInUse() uint64 {
	var ms runtime.MemStats
	for i := 0; i < 3; i++ {
		runtime.GC()
	}
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc + ms.StackInuse
}

// Partitions that have had traffic and then none cost no goroutine, and
// 1 000 of them cost at most 2 MiB of heap and stacks together, the
// topic's metadata included (the broker runs in another process).
func TestIdlePartitionsCost(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child broker")
	}
	const parts = 1000
	addr := startChildBrokerParts(t, 0, parts)
	before := memInUse()
	p := newProducer(t, Config{Brokers: []string{addr}, Logger: quietLogger()})
	ctx := testCtx(t)
	for i := int32(0); i < parts; i++ {
		if err := p.ProduceAsyncBatched(ctx, "idle", Message{Key: keyFor(i, parts), Value: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	md, err := p.Metadata(ctx, "idle")
	if err != nil {
		t.Fatal(err)
	}
	if len(md.Partitions) != parts {
		t.Fatalf("%d partitions, want %d", len(md.Partitions), parts)
	}
	waitGoroutines(t, "producer.(*worker).run(", 0)
	waitGoroutines(t, "producer.(*runq[...]).run(", 0)
	after := memInUse()
	if f := os.Getenv("MERLIN_IDLE_HEAP"); f != "" {
		// To see what the idle partitions hold: go tool pprof -sample_index=inuse_space
		out, _ := os.Create(f)
		_ = pprof.WriteHeapProfile(out)
		out.Close()
	}
	used := int64(after) - int64(before)
	t.Logf("%d idle partitions: %d KiB of heap and stacks, %d goroutines in the process", parts, used>>10, runtime.NumGoroutine())
	if used > 2<<20 {
		t.Fatalf("%d idle partitions use %d KiB, want at most 2048", parts, used>>10)
	}
}

// A slow delivery callback delays the callbacks, not the sending: while
// one partition's callbacks are stuck, the broker keeps receiving that
// partition's later batches.
func TestSlowCallbackDoesNotStallSending(t *testing.T) {
	c := newMock(t, mockbroker.Topic("slow", 1))
	p := newProducer(t, Config{Brokers: c.Addrs(), MaxMessages: 1, TTL: time.Millisecond})
	ctx := testCtx(t)
	release := make(chan struct{})
	var delivered atomic.Int32
	for i := 0; i < 20; i++ {
		m := Message{Value: []byte(fmt.Sprint(i)), OnDelivery: func(r Result) {
			if r.Err == nil && r.Offset == 0 {
				<-release // the first callback blocks until the rest are stored
			}
			delivered.Add(1)
		}}
		if err := p.ProduceAsyncBatched(ctx, "slow", m); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(arrived(c, "slow")[0]) < 20 {
		if time.Now().After(deadline) {
			t.Fatalf("the broker has %d of 20 while a callback is blocked: sending stalled", len(arrived(c, "slow")[0]))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := delivered.Load(); n != 0 {
		t.Fatalf("%d callbacks ran before the blocked first one: order per partition broken", n)
	}
	close(release)
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := delivered.Load(); n != 20 {
		t.Fatalf("%d callbacks after Flush, want 20", n)
	}
}

// The producer-wide count (buffer.Budget, BufferedMessages) and the
// per-partition ones (worker.queued, PartitionInfo.Buffered) are kept
// apart so that neither needs a walk of the other; they must agree while
// messages sit in every place a worker holds them (open, sealed, pending,
// in flight) and after they settle.
func TestBufferedCountsAgree(t *testing.T) {
	c := newMock(t, mockbroker.Topic("agree", 4))
	p := newProducer(t, Config{Brokers: c.Addrs(), MaxMessages: 3, MaxInFlight: 2, TTL: time.Hour})
	ctx := testCtx(t)
	if _, err := p.ProduceSync(ctx, "agree", msg("", "warm")); err != nil {
		t.Fatal(err)
	}
	if err := c.Pause(1); err != nil {
		t.Fatal(err)
	}
	defer c.Resume(1)
	sumHeld := func() (n int) {
		p.forEachWorker(func(w *worker) { n += w.held() })
		return n
	}
	const n = 61 // 4 partitions × (2 in flight + pending) batches of 3, and open ones
	for i := range n {
		if err := p.ProduceAsyncBatched(ctx, "agree", msg(fmt.Sprint(i), "v")); err != nil {
			t.Fatal(err)
		}
	}
	if msgs, _ := p.BufferedMessages(); msgs != n || sumHeld() != n {
		t.Fatalf("holding %d messages: the budget counts %d, the workers %d", n, msgs, sumHeld())
	}
	md, err := p.Metadata(ctx, "agree") // known topic: no request to the paused broker
	if err != nil {
		t.Fatal(err)
	}
	var total int
	for _, pi := range md.Partitions {
		total += pi.Buffered
	}
	if total != n {
		t.Fatalf("PartitionInfo.Buffered sums to %d, want %d", total, n)
	}
	if err := c.Resume(1); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if msgs, bytes := p.BufferedMessages(); msgs != 0 || bytes != 0 || sumHeld() != 0 {
		t.Fatalf("after Flush: the budget holds %d messages in %d bytes, the workers %d", msgs, bytes, sumHeld())
	}
}

// MaxBufferedBytes counts a note for every message with a callback: it
// stays in memory while the encoding is held, and after a spill too.
func TestBufferCountsNotes(t *testing.T) {
	c := newMock(t, mockbroker.Topic("notes", 1))
	sent := &sentCount{}
	p := newProducer(t, Config{Brokers: c.Addrs(), Handlers: []callbacks.Handler{sent}})
	ctx := testCtx(t)
	if _, err := p.ProduceSync(ctx, "notes", msg("", "warm")); err != nil {
		t.Fatal(err)
	}
	if err := c.Pause(1); err != nil {
		t.Fatal(err)
	}
	defer c.Resume(1)
	var msgs []Message
	want := 0
	for i := range 20 {
		m := msg("", fmt.Sprintf("value-%02d", i))
		if i%2 == 0 {
			m.OnDelivery = func(Result) {}
			want += noteSize
		}
		want += m.size()
		msgs = append(msgs, m)
	}
	if err := p.ProduceAsync(ctx, "notes", msgs...); err != nil {
		t.Fatal(err)
	}
	sent.wait(t, ctx, 21) // in flight: encoded, messages let go
	if n, bytes := p.BufferedMessages(); n != 20 || bytes != want {
		t.Fatalf("holding 20 messages (10 with a callback): %d messages, %d bytes counted; want 20, %d (notes of %d bytes)", n, bytes, want, noteSize)
	}
	b := &batch{hold: holdSpilled, notes: make([]note, 3)}
	if got := b.budget(); got != 3*noteSize {
		t.Fatalf("a spilled batch with 3 notes counts %d bytes, want %d", got, 3*noteSize)
	}
}
