package producer

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/internal/kfaketest"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/merlinkafka/merlin/mockbroker"
	"github.com/merlinkafka/merlin/picker"
)

func msg(key, value string) Message {
	m := Message{Value: []byte(value)}
	if key != "" {
		m.Key = []byte(key)
	}
	return m
}

// checkArrived consumes n records of topic and checks that every value
// arrived once, that per partition they keep the order in which they were
// produced (values carry a sequence number), and returns them by value.
func checkArrived(t *testing.T, addrs []string, topic string, want []Message) map[string]*kgo.Record {
	t.Helper()
	recs := consume(t, addrs, topic, len(want))
	byValue := map[string]*kgo.Record{}
	for _, r := range recs {
		if _, dup := byValue[string(r.Value)]; dup {
			t.Fatalf("value %q arrived twice", r.Value)
		}
		byValue[string(r.Value)] = r
	}
	pos := map[string]int{}
	for i, m := range want {
		pos[string(m.Value)] = i
		r, ok := byValue[string(m.Value)]
		if !ok {
			t.Fatalf("value %q never arrived", m.Value)
		}
		if string(r.Key) != string(m.Key) {
			t.Fatalf("value %q arrived with key %q, want %q", m.Value, r.Key, m.Key)
		}
		if len(r.Headers) != len(m.Headers) {
			t.Fatalf("value %q arrived with %d headers, want %d", m.Value, len(r.Headers), len(m.Headers))
		}
		for j, h := range m.Headers {
			if r.Headers[j].Key != h.Key || string(r.Headers[j].Value) != string(h.Value) {
				t.Fatalf("value %q header %d = %v, want %v", m.Value, j, r.Headers[j], h)
			}
		}
	}
	last := map[int32]int{}
	for _, r := range recs {
		i := pos[string(r.Value)]
		if prev, ok := last[r.Partition]; ok && i < prev {
			t.Fatalf("partition %d: %q came after a later message", r.Partition, r.Value)
		}
		last[r.Partition] = i
	}
	return byValue
}

func TestProduceModes(t *testing.T) {
	c := newKfake(t, 3, 4, "modes")
	addrs := c.ListenAddrs()
	p := newProducer(t, Config{Brokers: addrs})
	ctx := testCtx(t)

	var want []Message
	next := func(keyed bool) Message {
		k := ""
		if keyed {
			k = fmt.Sprintf("key-%d", len(want)%7)
		}
		m := msg(k, fmt.Sprintf("v%04d", len(want)))
		m.Headers = []Header{{Key: "n", Value: []byte(fmt.Sprint(len(want)))}}
		want = append(want, m)
		return m
	}
	batch := func(n int, keyedEvery int) []Message {
		var ms []Message
		for i := 0; i < n; i++ {
			ms = append(ms, next(keyedEvery > 0 && i%keyedEvery == 0))
		}
		return ms
	}

	// ProduceSync: one, then many, keyed and unkeyed mixed.
	res, err := p.ProduceSync(ctx, "modes", next(true))
	if err != nil || len(res) != 1 || res[0].Offset < 0 || res[0].Err != nil {
		t.Fatalf("sync one: %v %+v", err, res)
	}
	many := batch(20, 2)
	res, err = p.ProduceSync(ctx, "modes", many...)
	if err != nil || len(res) != 20 {
		t.Fatalf("sync many: %v %d", err, len(res))
	}
	for i, r := range res {
		if r.Err != nil || r.Offset < 0 || r.Topic != "modes" {
			t.Fatalf("result %d: %+v", i, r)
		}
		if many[i].Key != nil {
			if want := picker.Murmur2(many[i].Key) & 0x7fffffff % 4; r.Partition != want {
				t.Fatalf("keyed message %d on partition %d, want %d", i, r.Partition, want)
			}
		}
	}

	// ProduceAsync with delivery callbacks.
	var delivered sync.WaitGroup
	var cbErrs atomic.Int32
	withCB := func(ms []Message) []Message {
		for i := range ms {
			delivered.Add(1)
			ms[i].OnDelivery = func(r Result) {
				if r.Err != nil || r.Offset < 0 {
					cbErrs.Add(1)
				}
				delivered.Done()
			}
		}
		return ms
	}
	if err := p.ProduceAsync(ctx, "modes", withCB([]Message{next(false)})...); err != nil {
		t.Fatal(err)
	}
	if err := p.ProduceAsync(ctx, "modes", withCB(batch(30, 3))...); err != nil {
		t.Fatal(err)
	}

	// ProduceSyncBatched reports where messages went.
	one := next(true)
	buf, err := p.ProduceSyncBatched(ctx, "modes", one)
	if err != nil || len(buf) != 1 || buf[0].Len < 1 {
		t.Fatalf("sync batched one: %v %+v", err, buf)
	}
	if want := picker.Murmur2(one.Key) & 0x7fffffff % 4; buf[0].Partition != want {
		t.Fatalf("sync batched went to %d, want %d", buf[0].Partition, want)
	}
	buf, err = p.ProduceSyncBatched(ctx, "modes", batch(40, 1)...)
	if err != nil || len(buf) == 0 {
		t.Fatalf("sync batched many: %v %+v", err, buf)
	}
	seen := map[int32]bool{}
	for _, b := range buf {
		if seen[b.Partition] || b.Len < 1 {
			t.Fatalf("buffered %+v", buf)
		}
		seen[b.Partition] = true
	}

	// ProduceAsyncBatched, fire and forget.
	if err := p.ProduceAsyncBatched(ctx, "modes", next(false)); err != nil {
		t.Fatal(err)
	}
	if err := p.ProduceAsyncBatched(ctx, "modes", batch(50, 4)...); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	delivered.Wait()
	if n := cbErrs.Load(); n != 0 {
		t.Fatalf("%d delivery callbacks reported errors", n)
	}
	checkArrived(t, addrs, "modes", want)
}

func TestProduceSyncOffsetsAreContiguous(t *testing.T) {
	c := newKfake(t, 1, 1, "offsets")
	p := newProducer(t, Config{Brokers: c.ListenAddrs()})
	ctx := testCtx(t)
	var ms []Message
	for i := 0; i < 100; i++ {
		ms = append(ms, msg("", fmt.Sprint(i)))
	}
	for round := 0; round < 3; round++ {
		res, err := p.ProduceSync(ctx, "offsets", ms...)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if want := int64(round*100 + i); r.Offset != want {
				t.Fatalf("round %d message %d: offset %d, want %d", round, i, r.Offset, want)
			}
		}
	}
}

func TestBatchingByCount(t *testing.T) {
	c := newKfake(t, 1, 1, "count")
	var bc batchCounter
	bc.install(c)
	p := newProducer(t, Config{Brokers: c.ListenAddrs(), MaxMessages: 100, TTL: time.Hour})
	ctx := testCtx(t)
	// Warm up metadata so the count below has only our batches.
	if _, err := p.Metadata(ctx, "count"); err != nil {
		t.Fatal(err)
	}
	var want []Message
	for i := 0; i < 1000; i++ {
		m := msg("", fmt.Sprintf("m%04d", i))
		want = append(want, m)
		if err := p.ProduceAsyncBatched(ctx, "count", m); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	bc.want(t, 10, 100)
	checkArrived(t, c.ListenAddrs(), "count", want)
}

func TestBatchingByBytes(t *testing.T) {
	c := newKfake(t, 1, 1, "bytes")
	var bc batchCounter
	bc.install(c)
	// Each message counts 21 + 100 bytes: 10 fit in 1210 bytes, 11 do not.
	p := newProducer(t, Config{Brokers: c.ListenAddrs(), MaxBytes: 1210, MaxBufferedBytes: 1 << 20, TTL: time.Hour})
	ctx := testCtx(t)
	if _, err := p.Metadata(ctx, "bytes"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		if err := p.ProduceAsyncBatched(ctx, "bytes", Message{Value: make([]byte, 100)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	bc.want(t, 5, 10)
	// A message larger than a batch is refused, not accepted and lost.
	err := p.ProduceAsyncBatched(ctx, "bytes", Message{Value: make([]byte, 2000)})
	if !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("oversized message: %v", err)
	}
}

func TestBatchingByTTL(t *testing.T) {
	c := newKfake(t, 1, 1, "ttl")
	var bc batchCounter
	bc.install(c)
	p := newProducer(t, Config{Brokers: c.ListenAddrs(), MaxMessages: 1000, TTL: 50 * time.Millisecond})
	ctx := testCtx(t)
	if _, err := p.Metadata(ctx, "ttl"); err != nil {
		t.Fatal(err)
	}
	delivered := make(chan Result, 3)
	for i := 0; i < 3; i++ {
		m := msg("", fmt.Sprint(i))
		m.OnDelivery = func(r Result) { delivered <- r }
		if err := p.ProduceAsyncBatched(ctx, "ttl", m); err != nil {
			t.Fatal(err)
		}
	}
	// No flush: only the TTL can send this batch of 3 (far below 1000).
	for i := 0; i < 3; i++ {
		select {
		case r := <-delivered:
			if r.Err != nil {
				t.Fatal(r.Err)
			}
		case <-ctx.Done():
			t.Fatal("the TTL never flushed the batch")
		}
	}
	bc.want(t, 1, 3)
}

func TestCompressionRoundTrip(t *testing.T) {
	for _, codec := range []Compression{CompressionNone, CompressionGzip, CompressionSnappy, CompressionLZ4, CompressionZstd} {
		t.Run(codec.String(), func(t *testing.T) {
			c := newKfake(t, 1, 2, "z")
			p := newProducer(t, Config{Brokers: c.ListenAddrs(), Compression: codec})
			ctx := testCtx(t)
			var want []Message
			for i := 0; i < 300; i++ {
				m := msg(fmt.Sprint(i%5), strings.Repeat(fmt.Sprintf("payload %d ", i), 5))
				m.Headers = []Header{{Key: "codec", Value: []byte(codec.String())}}
				want = append(want, m)
			}
			if _, err := p.ProduceSync(ctx, "z", want...); err != nil {
				t.Fatal(err)
			}
			checkArrived(t, c.ListenAddrs(), "z", want)
		})
	}
}

func TestPerTopicOverrides(t *testing.T) {
	c := newKfake(t, 1, 4, "strict", "default")
	var bc batchCounter
	bc.install(c)
	p := newProducer(t, Config{
		Brokers: c.ListenAddrs(),
		Topics: map[string]TopicConfig{
			"strict": {Strategy: picker.StrictRoundRobin(), MaxMessages: 2, Compression: CompressionGzip},
		},
	})
	ctx := testCtx(t)
	res, err := p.ProduceSync(ctx, "strict", msg("", "a"), msg("", "b"), msg("", "c"), msg("", "d"), msg("", "e"))
	if err != nil {
		t.Fatal(err)
	}
	var parts []int32
	for _, r := range res {
		parts = append(parts, r.Partition)
	}
	for i := 1; i < len(parts); i++ {
		if parts[i] != (parts[i-1]+1)%4 {
			t.Fatalf("strict round robin gave partitions %v", parts)
		}
	}
	// The default topic keeps the producer's sticky choice for unkeyed messages.
	res, err = p.ProduceSync(ctx, "default", msg("", "a"), msg("", "b"), msg("", "c"))
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Partition != res[1].Partition || res[1].Partition != res[2].Partition {
		t.Fatalf("default topic should stay on one partition: %+v", res)
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		cfg   Config
		field string
	}{
		{Config{}, "Brokers"},
		{Config{Brokers: []string{"nohost"}}, "Brokers[0]"},
		{Config{Brokers: []string{"a:1"}, MaxMessages: -1}, "MaxMessages"},
		{Config{Brokers: []string{"a:1"}, MaxBytes: 1 << 30}, "MaxBytes"},
		{Config{Brokers: []string{"a:1"}, TTL: -time.Second}, "TTL"},
		{Config{Brokers: []string{"a:1"}, Acks: 7}, "Acks"},
		{Config{Brokers: []string{"a:1"}, Compression: 9}, "Compression"},
		{Config{Brokers: []string{"a:1"}, MaxInFlight: 6}, "MaxInFlight"},
		{Config{Brokers: []string{"a:1"}, WorkersPerPartition: 100}, "WorkersPerPartition"},
		{Config{Brokers: []string{"a:1"}, MaxBufferedBytes: 10}, "MaxBufferedBytes"},
		{Config{Brokers: []string{"a:1"}, BufferFull: 7}, "BufferFull"},
		{Config{Brokers: []string{"a:1"}, Topics: map[string]TopicConfig{"t": {MaxMessages: -5}}}, "Topics[t].MaxMessages"},
		{Config{Brokers: []string{"a:1"}, Topics: map[string]TopicConfig{"t": {Acks: -1}}}, "Topics[t].Acks"},
	}
	for _, c := range cases {
		err := c.cfg.Validate()
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.field+":") {
			t.Errorf("config %+v: error %v, want one naming %s", c.cfg, err, c.field)
		}
		if _, err := New(c.cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("New accepted %+v: %v", c.cfg, err)
		}
	}
	// Without idempotence more in flight is allowed.
	ok := Config{Brokers: []string{"a:1"}, MaxInFlight: 10, DisableIdempotence: true}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestClosedProducer(t *testing.T) {
	c := newKfake(t, 1, 1, "closed")
	p := newProducer(t, Config{Brokers: c.ListenAddrs()})
	ctx := testCtx(t)
	var got []Result
	var mu sync.Mutex
	for i := 0; i < 10; i++ {
		m := msg("", fmt.Sprint(i))
		m.OnDelivery = func(r Result) { mu.Lock(); got = append(got, r); mu.Unlock() }
		if err := p.ProduceAsyncBatched(ctx, "closed", m); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(got) != 10 {
		t.Fatalf("close reported %d of 10 messages", len(got))
	}
	for _, r := range got {
		if r.Err != nil {
			t.Fatalf("close flushed with error: %v", r.Err)
		}
	}
	mu.Unlock()
	if err := p.ProduceAsyncBatched(ctx, "closed", msg("", "late")); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
	if _, err := p.ProduceSync(ctx, "closed", msg("", "late")); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
	if _, err := p.Metadata(ctx, "closed"); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if n := p.OpenConnections(); n != 0 {
		t.Fatalf("%d connections open after close", n)
	}
}

// Close with a broker that never answers: its context ends and every
// message is reported failed with ErrClosed, none dropped.
func TestCloseReportsUndelivered(t *testing.T) {
	c := newKfake(t, 1, 1, "stuck")
	p := newProducer(t, Config{Brokers: c.ListenAddrs(), RequestTimeout: 30 * time.Second})
	ctx := testCtx(t)
	if _, err := p.Metadata(ctx, "stuck"); err != nil {
		t.Fatal(err)
	}
	// From now on every produce is refused with a retriable error, so the
	// producer keeps retrying and Close runs out of time.
	kfaketest.RefuseProduce(c, kerr.NotLeaderForPartition.Code, func() bool { return true })
	var failed atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		m := msg("", fmt.Sprint(i))
		m.OnDelivery = func(r Result) {
			if errors.Is(r.Err, ErrClosed) {
				failed.Add(1)
			}
			wg.Done()
		}
		if err := p.ProduceAsync(ctx, "stuck", m); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	err := p.Close(short)
	if !errors.Is(err, ErrClosed) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("close: %v", err)
	}
	wg.Wait()
	if n := failed.Load(); n != 20 {
		t.Fatalf("%d of 20 reported ErrClosed", n)
	}
}

// A full buffer sends what is batched at once: with a TTL of an hour and
// room for 5 messages, 50 messages still go through, each call that finds
// no room making the workers send rather than wait for their batches to
// fill or their TTL to pass.
func TestFullBufferSendsAtOnce(t *testing.T) {
	c := newKfake(t, 1, 2, "press")
	p := newProducer(t, Config{Brokers: c.ListenAddrs(), MaxBufferedMessages: 5, TTL: time.Hour})
	ctx, cancel := context.WithTimeout(testCtx(t), 20*time.Second)
	defer cancel()
	var want []Message
	for i := 0; i < 50; i++ {
		m := msg("", fmt.Sprint(i))
		want = append(want, m)
		if err := p.ProduceAsyncBatched(ctx, "press", m); err != nil {
			t.Fatalf("message %d: %v (the call waited for the TTL)", i, err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	checkArrived(t, c.ListenAddrs(), "press", want)
}

func TestContextCancelWhileBlocked(t *testing.T) {
	// The broker holds its answers, so the buffer stays full: a full
	// buffer makes the producer send what it batched at once, and an
	// answering broker would free the room.
	c := newMock(t, mockbroker.Topic("full", 1))
	p := newProducer(t, Config{Brokers: c.Addrs(), MaxBufferedMessages: 5, TTL: time.Hour, MaxMessages: 100})
	ctx := testCtx(t)
	if _, err := p.Metadata(ctx, "full"); err != nil {
		t.Fatal(err)
	}
	if err := c.Pause(1); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if err := p.ProduceAsyncBatched(ctx, "full", msg("", fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	err := p.ProduceAsyncBatched(short, "full", msg("", "blocked"))
	if !errors.Is(err, ErrBufferFull) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("blocked produce: %v", err)
	}
	if err := c.Resume(1); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Room again.
	if err := p.ProduceAsyncBatched(ctx, "full", msg("", "after")); err != nil {
		t.Fatal(err)
	}

	rp := newProducer(t, Config{Brokers: c.Addrs(), MaxBufferedMessages: 2, TTL: time.Hour, BufferFull: Reject})
	for i := 0; i < 2; i++ {
		if err := rp.ProduceAsyncBatched(ctx, "full", msg("", "r")); err != nil {
			t.Fatal(err)
		}
	}
	if err := rp.ProduceAsyncBatched(ctx, "full", msg("", "r")); !errors.Is(err, ErrBufferFull) {
		t.Fatalf("reject policy: %v", err)
	}
}

func TestMassageJSONArray(t *testing.T) {
	c := newKfake(t, 1, 1, "massage")
	p := newProducer(t, Config{Brokers: c.ListenAddrs(), TTL: time.Hour,
		Topics: map[string]TopicConfig{"massage": {Massage: JSONArray}}})
	ctx := testCtx(t)
	var results []Result
	var mu sync.Mutex
	for _, v := range []string{`{"a":1}`, `plain text`} {
		m := msg("", v)
		m.OnDelivery = func(r Result) { mu.Lock(); results = append(results, r); mu.Unlock() }
		if err := p.ProduceAsyncBatched(ctx, "massage", m); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	recs := consume(t, c.ListenAddrs(), "massage", 1)
	if len(recs) != 1 || string(recs[0].Value) != `[{"a":1},"plain text"]` {
		t.Fatalf("got %d records, first %q", len(recs), recs[0].Value)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(results) != 2 || results[0].Err != nil || results[1].Err != nil {
		t.Fatalf("both originals must be acknowledged: %+v", results)
	}
}

func TestManyProducersConcurrently(t *testing.T) {
	c := newKfake(t, 3, 6, "conc")
	p := newProducer(t, Config{Brokers: c.ListenAddrs()})
	ctx := testCtx(t)
	const goroutines, each = 8, 500
	var wg sync.WaitGroup
	var want []Message
	var mu sync.Mutex
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				m := msg(fmt.Sprintf("g%d", g), fmt.Sprintf("g%d-%05d", g, i))
				if err := p.ProduceAsyncBatched(ctx, "conc", m); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				want = append(want, m)
				mu.Unlock()
			}
		}(g)
	}
	wg.Wait()
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got := consume(t, c.ListenAddrs(), "conc", goroutines*each)
	// Per key (one goroutine each), values arrive in production order.
	byKey := map[string][]string{}
	for _, r := range got {
		byKey[string(r.Key)] = append(byKey[string(r.Key)], string(r.Value))
	}
	for k, vs := range byKey {
		if !sort.StringsAreSorted(vs) || len(vs) != each {
			t.Fatalf("key %s: %d values, sorted %v", k, len(vs), sort.StringsAreSorted(vs))
		}
	}
}
