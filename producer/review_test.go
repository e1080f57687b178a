package producer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/merlinkafka/merlin/callbacks"
	"github.com/merlinkafka/merlin/mockbroker"
)

// Two workers of one partition share the producer-wide producer id but
// number their batches independently from 0: the broker takes the second
// worker's batch for a retry of the first's and answers it without storing
// it. Every ProduceSync succeeds, and messages are missing.
func TestReviewWorkersPerPartitionShareProducerID(t *testing.T) {
	c := newMock(t, mockbroker.Topic("wpp", 1))
	p := newProducer(t, fastRetry(Config{Brokers: c.Addrs(), WorkersPerPartition: 2}))
	ctx := testCtx(t)
	var acked []string
	offsets := map[int64]string{}
	for i := 0; i < 10; i++ {
		v := "m" + strconv.Itoa(i)
		res, err := p.ProduceSync(ctx, "wpp", msg("", v))
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		acked = append(acked, v)
		if prev, ok := offsets[res[0].Offset]; ok {
			t.Errorf("%s and %s were both acknowledged at offset %d", prev, v, res[0].Offset)
		}
		offsets[res[0].Offset] = v
	}
	got := arrived(c, "wpp")[0]
	if len(got) != len(acked) {
		t.Fatalf("all %d messages acknowledged, broker stored %d: %v", len(acked), len(got), got)
	}
}

// DropOldest sheds from a batch that was packed while the leader was down.
// Packing already gave back the messages' bookkeeping allowance
// (overheadFree), but the cut-off part is settled as a fresh batch and
// gives it back again: the byte count goes negative and stays there.
func TestReviewShedPackedBatchBudgetGoesNegative(t *testing.T) {
	c := newMock(t, mockbroker.Topic("shedb", 1))
	p := newProducer(t, fastRetry(Config{Brokers: c.Addrs(), MaxBufferedMessages: 5, BufferFull: DropOldest,
		TTL: time.Millisecond, DeliveryTimeout: -1}))
	ctx := testCtx(t)
	if _, err := p.Metadata(ctx, "shedb"); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(1); err != nil {
		t.Fatal(err)
	}
	var failed, acked atomic.Int32
	for i := 0; i < 10; i++ {
		m := Message{Value: []byte(strconv.Itoa(i)), OnDelivery: func(r Result) {
			if r.Err != nil {
				failed.Add(1)
			} else {
				acked.Add(1)
			}
		}}
		if err := p.ProduceAsyncBatched(ctx, "shedb", m); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // let the TTL seal (and pack) it
	}
	if err := c.Start(1); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if failed.Load()+acked.Load() != 10 {
		t.Fatalf("%d failed + %d acked of 10", failed.Load(), acked.Load())
	}
	if n, b := p.BufferedMessages(); n != 0 || b != 0 {
		t.Fatalf("nothing held, yet BufferedMessages = %d messages, %d bytes (recOverhead %d; %d shed)", n, b, recOverhead, failed.Load())
	}
}

// Under DropOldest a blocked produce call asks the workers to shed
// (shedWanted) and clears the request only when it gets room. When its
// context ends first (everything held is in flight, nothing can be shed),
// the request stays: later, with the buffer empty, workers fail fresh
// messages with ErrBufferFull.
func TestReviewStaleShedRequestDropsLaterMessages(t *testing.T) {
	c := newMock(t, mockbroker.Topic("stale", 1))
	sent := &sentCount{}
	p := newProducer(t, fastRetry(Config{Brokers: c.Addrs(), MaxBufferedMessages: 2, BufferFull: DropOldest,
		RequestTimeout: 5 * time.Second, Handlers: []callbacks.Handler{sent}}))
	ctx := testCtx(t)
	if _, err := p.ProduceSync(ctx, "stale", msg("", "warm")); err != nil {
		t.Fatal(err)
	}
	if err := c.Pause(1); err != nil {
		t.Fatal(err)
	}
	if err := p.ProduceAsync(ctx, "stale", msg("", "a"), msg("", "b")); err != nil {
		t.Fatal(err)
	}
	sent.wait(t, ctx, 3) // warm, a and b: sent, a and b unanswered
	// Both in flight: nothing to shed; the call gives up.
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := p.ProduceAsync(short, "stale", msg("", "c")); !errors.Is(err, ErrBufferFull) {
		t.Fatalf("blocked call: %v", err)
	}
	if err := c.Resume(1); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := p.BufferedMessages(); n != 0 {
		t.Fatalf("%d buffered after flush", n)
	}
	// The buffer is empty: this must go through.
	if _, err := p.ProduceSync(ctx, "stale", msg("", "d")); err != nil {
		t.Fatalf("empty buffer, yet ProduceSync: %v", err)
	}
}

// DropOldest when the byte bound is the one reached: reserve asks for
// max(over, 1) messages, over counting messages only, and asks once. One
// small message is shed, the big one still does not fit, and the call
// blocks as under Block until its context ends: it is refused, though older
// messages were there to drop.
func TestReviewDropOldestByteBoundBlocks(t *testing.T) {
	c := newMock(t, mockbroker.Topic("bytes", 1))
	p := newProducer(t, fastRetry(Config{Brokers: c.Addrs(), MaxBufferedBytes: 4096, MaxBytes: 4096,
		BufferFull: DropOldest, TTL: time.Millisecond, DeliveryTimeout: -1}))
	ctx := testCtx(t)
	if _, err := p.ProduceSync(ctx, "bytes", msg("", "warm")); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(1); err != nil {
		t.Fatal(err)
	}
	defer c.Start(1) // let the cleanup's Close deliver the rest
	var shed atomic.Int32
	small := make([]byte, 100)
	for i := 0; i < 30; i++ {
		m := Message{Value: small, OnDelivery: func(r Result) {
			if errors.Is(r.Err, ErrBufferFull) {
				shed.Add(1)
			}
		}}
		if err := p.ProduceAsyncBatched(ctx, "bytes", m); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	n, b := p.BufferedMessages()
	t.Logf("leader down, holding %d messages in %d bytes", n, b)
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	err := p.ProduceAsyncBatched(short, "bytes", Message{Value: make([]byte, 2000)})
	_, b = p.BufferedMessages()
	if err != nil {
		t.Fatalf("DropOldest refused the call after shedding %d of 30 older messages (buffer %d of 4096 bytes): %v", shed.Load(), b, err)
	}
}

// Idempotence with batches pipelined from a producer id the partition has
// not seen yet (every new producer on an existing topic, and every worker
// after resetProducerID): Kafka 2.5+ (and the mock) accept any first
// sequence from an unknown producer on a partition that holds records, so
// when the first batch fails retriably the second is stored; the first is
// then refused as out of order, the worker resets its producer id and
// writes it after the second. Order is lost although idempotence promises
// it with up to 5 in flight.
func TestReviewFirstBatchRetriedAfterSecondStored(t *testing.T) {
	c := newMock(t, mockbroker.Topic("ord", 1))
	ctx := testCtx(t)
	// The partition already holds records (another producer's).
	other := newProducer(t, Config{Brokers: c.Addrs()})
	if _, err := other.ProduceSync(ctx, "ord", msg("", "earlier")); err != nil {
		t.Fatal(err)
	}
	p := newProducer(t, fastRetry(Config{Brokers: c.Addrs(), MaxMessages: 1}))
	if _, err := p.Metadata(ctx, "ord"); err != nil {
		t.Fatal(err)
	}
	c.InjectError(mockbroker.APIProduce, "ord", 0, kerr.NotEnoughReplicas.Code, 1)
	if err := p.ProduceAsyncBatched(ctx, "ord", msg("", "first"), msg("", "second")); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := arrived(c, "ord")[0]; !slices.Equal(got, []string{"earlier", "first", "second"}) {
		var answers []string
		for _, r := range c.ProduceRequests()[1:] {
			answers = append(answers, fmt.Sprintf("%d@%d", r.ErrorCode, r.BaseOffset))
		}
		t.Fatalf("stored %v, want [earlier first second]; answers to p (code@offset) %v", got, answers)
	}
}

// With a massage hook that merges a batch into one record, settle still
// gives message i the offset base+i: results name offsets past the batch,
// holding other records (here the next call's) or none at all.
func TestReviewMassagedBatchOffsets(t *testing.T) {
	c := newMock(t, mockbroker.Topic("mo", 1))
	p := newProducer(t, Config{Brokers: c.Addrs(), Topics: map[string]TopicConfig{"mo": {Massage: JSONArray}}})
	ctx := testCtx(t)
	claimed := map[int64]int{} // offset -> call
	for call := 0; call < 2; call++ {
		res, err := p.ProduceSync(ctx, "mo", msg("", `"a`+strconv.Itoa(call)+`"`), msg("", `"b`+strconv.Itoa(call)+`"`), msg("", `"c`+strconv.Itoa(call)+`"`))
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if prev, ok := claimed[r.Offset]; ok && prev != call {
				t.Errorf("call %d message %d acknowledged at offset %d, the record of call %d", call, i, r.Offset, prev)
			}
			claimed[r.Offset] = call
		}
	}
	recs := c.Records("mo", 0)
	for off := range claimed {
		if off >= int64(len(recs)) {
			t.Errorf("offset %d acknowledged, partition holds %d records", off, len(recs))
		}
	}
}

// Close(ctx) waits for every worker after ctx ends, and a worker only sees
// quit between steps: one blocked dialing a leader that accepts but does not
// answer (sarama's Open waits for ApiVersions up to its read timeout, not
// bounded by any context) keeps Close far past its deadline.
func TestReviewCloseOverrunsContext(t *testing.T) {
	c := newMock(t, mockbroker.Topic("slowclose", 1))
	p := newProducer(t, fastRetry(Config{Brokers: c.Addrs(), RequestTimeout: 2 * time.Second}))
	ctx := testCtx(t)
	if _, err := p.Metadata(ctx, "slowclose"); err != nil {
		t.Fatal(err)
	}
	if err := c.Pause(1); err != nil {
		t.Fatal(err)
	}
	defer c.Resume(1)
	got := make(chan Result, 1)
	if err := p.ProduceAsync(ctx, "slowclose", Message{Value: []byte("x"), OnDelivery: func(r Result) { got <- r }}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the worker is dialing
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	var err error
	done := make(chan struct{})
	go func() { err = p.Close(short); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Errorf("Close with a 100ms context still running after 3s (worker stuck in connect: dial, then producer id behind the metadata loop's dial)")
		_ = c.Resume(1)
		<-done
	}
	t.Logf("Close took %v", time.Since(start).Round(time.Millisecond))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("close: %v", err)
	}
	if r := <-got; !errors.Is(r.Err, ErrClosed) {
		t.Fatalf("message reported %v", r.Err)
	}
}

// DropOldest with a spill: shed takes a whole spilled batch out of pending
// without finish, so its spill entry is never acknowledged. The spill's
// done mark can no longer pass it: after a clean Close with everything
// delivered, the spill stays on disk, and the next producer on the
// directory sends the shed messages (already reported ErrBufferFull) and
// every delivered batch after them again.
func TestReviewShedSpilledBatchReplayedByNextProducer(t *testing.T) {
	c := newMock(t, mockbroker.Topic("shsp", 1))
	dir := t.TempDir()
	ctx := testCtx(t)
	var mu sync.Mutex
	outcome := map[string]string{}
	first := newProducer(t, fastRetry(Config{Brokers: c.Addrs(), SpillDir: dir, MaxBufferedMessages: 5,
		BufferFull: DropOldest, TTL: time.Millisecond, DeliveryTimeout: -1,
		OnDelivery: func(m Message, r Result) {
			mu.Lock()
			defer mu.Unlock()
			if r.Err != nil {
				outcome[string(m.Value)] = "failed"
			} else {
				outcome[string(m.Value)] = "acked"
			}
		}}))
	if _, err := first.Metadata(ctx, "shsp"); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(1); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if err := first.ProduceAsyncBatched(ctx, "shsp", msg("", strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // its own batch, packed and spilled
	}
	if err := c.Start(1); err != nil {
		t.Fatal(err)
	}
	if err := first.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(ctx); err != nil {
		t.Fatal(err)
	}
	before := arrived(c, "shsp")[0]
	mu.Lock()
	t.Logf("first producer: arrived %v, outcomes %v", before, outcome)
	mu.Unlock()

	second := newProducer(t, fastRetry(Config{Brokers: c.Addrs(), SpillDir: dir}))
	time.Sleep(300 * time.Millisecond)
	if err := second.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if after := arrived(c, "shsp")[0]; len(after) != len(before) {
		t.Fatalf("a fresh producer on the directory sent %d more records: %v", len(after)-len(before), after[len(before):])
	}
}
