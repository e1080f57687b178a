package producer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/merlinkafka/merlin/callbacks"
	"github.com/merlinkafka/merlin/mockbroker"
)

func newMock(t *testing.T, opts ...mockbroker.Option) *mockbroker.Cluster {
	t.Helper()
	c, err := mockbroker.NewCluster(append([]mockbroker.Option{mockbroker.Logger(quietLogger())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// arrived returns the values of topic as the mock stored them, per
// partition in offset order.
func arrived(c *mockbroker.Cluster, topic string) map[int32][]string {
	out := map[int32][]string{}
	for p := int32(0); p < c.Partitions(topic); p++ {
		for _, r := range c.Records(topic, p) {
			out[p] = append(out[p], string(r.Value))
		}
	}
	return out
}

// fastRetry makes the tests' outages short.
func fastRetry(cfg Config) Config {
	cfg.RetryBackoff = 5 * time.Millisecond
	cfg.RetryBackoffMax = 50 * time.Millisecond
	cfg.BreakerTimeout = 50 * time.Millisecond
	if cfg.MetadataRefresh == 0 {
		cfg.MetadataRefresh = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	return cfg
}

func TestMockEveryModeArrivesInOrder(t *testing.T) {
	c := newMock(t, mockbroker.Brokers(3), mockbroker.Topic("m", 3))
	p := newProducer(t, Config{Brokers: c.Addrs(), Strategy: nil})
	ctx := testCtx(t)
	var sent []Message
	mk := func(n int, keyed bool) []Message {
		var ms []Message
		for i := 0; i < n; i++ {
			m := msg("", fmt.Sprintf("%05d", len(sent)))
			if keyed {
				m.Key = []byte("k" + strconv.Itoa(len(sent)%5))
			}
			m.Headers = []Header{{Key: "i", Value: []byte(strconv.Itoa(len(sent)))}}
			sent = append(sent, m)
			ms = append(ms, m)
		}
		return ms
	}
	// Each way of sending, in order, with one message and then with ten:
	// keyed and unkeyed by turns (oneKeyed says which comes first).
	sends := []struct {
		name     string
		send     func(...Message) error
		oneKeyed bool
	}{
		{"ProduceSync", func(ms ...Message) error { _, err := p.ProduceSync(ctx, "m", ms...); return err }, true},
		{"ProduceAsync", func(ms ...Message) error { return p.ProduceAsync(ctx, "m", ms...) }, false},
		{"ProduceSyncBatched", func(ms ...Message) error { _, err := p.ProduceSyncBatched(ctx, "m", ms...); return err }, true},
		{"ProduceAsyncBatched", func(ms ...Message) error { return p.ProduceAsyncBatched(ctx, "m", ms...) }, false},
	}
	for _, s := range sends {
		if err := s.send(mk(1, s.oneKeyed)...); err != nil {
			t.Fatalf("%s of 1: %v", s.name, err)
		}
		if err := s.send(mk(10, !s.oneKeyed)...); err != nil {
			t.Fatalf("%s of 10: %v", s.name, err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitForRecords(ctx, "m", len(sent)); err != nil {
		t.Fatal(err)
	}
	byValue := map[string]Message{}
	for _, m := range sent {
		byValue[string(m.Value)] = m
	}
	total := 0
	for part := int32(0); part < 3; part++ {
		recs := c.Records("m", part)
		total += len(recs)
		for i, r := range recs {
			m, ok := byValue[string(r.Value)]
			if !ok {
				t.Fatalf("unexpected record %q", r.Value)
			}
			if string(r.Key) != string(m.Key) || len(r.Headers) != 1 || string(r.Headers[0].Value) != string(m.Headers[0].Value) {
				t.Fatalf("record %+v for message %+v", r, m)
			}
			if i > 0 && string(recs[i-1].Value) > string(r.Value) {
				t.Fatalf("partition %d out of order: %q before %q", part, recs[i-1].Value, r.Value)
			}
		}
	}
	if total != len(sent) {
		t.Fatalf("%d records for %d messages", total, len(sent))
	}
}

func TestMockBatching1000By100(t *testing.T) {
	c := newMock(t, mockbroker.Topic("b", 1))
	p := newProducer(t, Config{Brokers: c.Addrs(), MaxMessages: 100, TTL: time.Hour})
	ctx := testCtx(t)
	var ms []Message
	for i := 0; i < 1000; i++ {
		ms = append(ms, msg("", strconv.Itoa(i)))
	}
	if err := p.ProduceAsyncBatched(ctx, "b", ms...); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	reqs := c.ProduceRequests()
	if len(reqs) != 10 {
		t.Fatalf("%d produce batches, want 10", len(reqs))
	}
	for _, r := range reqs {
		if r.Records != 100 || r.ErrorCode != 0 {
			t.Fatalf("batch %+v", r)
		}
	}
	got := arrived(c, "b")[0]
	for i, v := range got {
		if v != strconv.Itoa(i) {
			t.Fatalf("record %d is %q", i, v)
		}
	}
}

func TestMockInjectedErrors(t *testing.T) {
	c := newMock(t, mockbroker.Brokers(2), mockbroker.Topic("e", 2))
	p := newProducer(t, fastRetry(Config{Brokers: c.Addrs(), Strategy: nil}))
	ctx := testCtx(t)
	if _, err := p.Metadata(ctx, "e"); err != nil {
		t.Fatal(err)
	}
	// Retriable: NOT_LEADER_OR_FOLLOWER three times, then success.
	c.InjectError(mockbroker.APIProduce, "e", 0, kerr.NotLeaderForPartition.Code, 3)
	res, err := p.ProduceSync(ctx, "e", Message{Key: keyFor(0, 2), Value: []byte("retried")})
	if err != nil || res[0].Partition != 0 {
		t.Fatalf("retriable: %v %+v", err, res)
	}
	// Non-retriable: reported to the message's callback, nothing stored.
	c.InjectError(mockbroker.APIProduce, "e", 1, kerr.InvalidRecord.Code, 1)
	got := make(chan Result, 1)
	m := Message{Key: keyFor(1, 2), Value: []byte("refused"), OnDelivery: func(r Result) { got <- r }}
	if err := p.ProduceAsync(ctx, "e", m); err != nil {
		t.Fatal(err)
	}
	if r := <-got; !errors.Is(r.Err, kerr.InvalidRecord) {
		t.Fatalf("non-retriable: %+v", r)
	}
	if vs := arrived(c, "e"); len(vs[0]) != 1 || vs[0][0] != "retried" || len(vs[1]) != 0 {
		t.Fatalf("stored %v", vs)
	}
	var codes []int16
	for _, r := range c.ProduceRequests() {
		codes = append(codes, r.ErrorCode)
	}
	want := []int16{6, 6, 6, 0, 87}
	if !slices.Equal(codes, want) {
		t.Fatalf("produce answers %v, want %v", codes, want)
	}
}

// keyFor finds a key that the keyed picker sends to partition p of n.
func keyFor(p, n int32) []byte {
	for i := 0; ; i++ {
		k := []byte("key-" + strconv.Itoa(i))
		if (murmur(k) & 0x7fffffff % n) == p {
			return k
		}
	}
}

// A leader moved without any disconnect: the old leader answers
// NOT_LEADER_OR_FOLLOWER and the producer follows to the new one within one
// metadata refresh, rather than writing to the old one.
func TestMockLeaderMoveIsFollowed(t *testing.T) {
	c := newMock(t, mockbroker.Brokers(3), mockbroker.Topic("lm", 1))
	p := newProducer(t, fastRetry(Config{Brokers: c.Addrs()}))
	ctx := testCtx(t)
	if _, err := p.ProduceSync(ctx, "lm", msg("", "before")); err != nil {
		t.Fatal(err)
	}
	old := c.Leader("lm", 0)
	to := old%3 + 1
	if err := c.MoveLeader("lm", 0, to); err != nil {
		t.Fatal(err)
	}
	res, err := p.ProduceSync(ctx, "lm", msg("", "after"))
	if err != nil {
		t.Fatal(err)
	}
	md, _ := p.Metadata(ctx, "lm")
	if md.Partitions[0].Leader != to || res[0].Offset != 1 {
		t.Fatalf("producer thinks leader is %d (want %d); offset %d", md.Partitions[0].Leader, to, res[0].Offset)
	}
	var brokers []int32
	for _, r := range c.ProduceRequests() {
		if r.ErrorCode == 0 {
			brokers = append(brokers, r.Broker)
		}
	}
	if !slices.Equal(brokers, []int32{old, to}) {
		t.Fatalf("stored by brokers %v, want [%d %d]", brokers, old, to)
	}
	if got := arrived(c, "lm")[0]; !slices.Equal(got, []string{"before", "after"}) {
		t.Fatalf("stored %v", got)
	}
}

// The broker is down, 10 messages are sent with room for 5; what arrives and what is reported
// follows the policy exactly, and nothing is silent.
func TestMockDowntimeBufferCap(t *testing.T) {
	for _, policy := range []BufferFullPolicy{Reject, DropOldest, Block} {
		t.Run(policy.String(), func(t *testing.T) {
			c := newMock(t, mockbroker.Topic("cap", 1))
			rec := &recorder{}
			p := newProducer(t, fastRetry(Config{Brokers: c.Addrs(), MaxBufferedMessages: 5, BufferFull: policy,
				TTL: time.Millisecond, Handlers: []callbacks.Handler{rec}}))
			ctx := testCtx(t)
			if _, err := p.Metadata(ctx, "cap"); err != nil {
				t.Fatal(err)
			}
			if err := c.Stop(1); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			failed := map[string]error{}
			var refused []string
			for i := 0; i < 10; i++ {
				v := strconv.Itoa(i)
				m := Message{Value: []byte(v), OnDelivery: func(r Result) {
					if r.Err != nil {
						mu.Lock()
						failed[v] = r.Err
						mu.Unlock()
					}
				}}
				callCtx := ctx
				if policy == Block {
					var cancel context.CancelFunc
					callCtx, cancel = context.WithTimeout(ctx, 20*time.Millisecond)
					defer cancel()
				}
				if err := p.ProduceAsyncBatched(callCtx, "cap", m); err != nil {
					if !errors.Is(err, ErrBufferFull) {
						t.Fatalf("message %d: %v", i, err)
					}
					refused = append(refused, v)
				}
			}
			if err := c.Start(1); err != nil {
				t.Fatal(err)
			}
			if err := p.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			got := arrived(c, "cap")[0]
			mu.Lock()
			defer mu.Unlock()
			switch policy {
			case Reject, Block:
				// The first five were kept, the last five refused at the call.
				if !slices.Equal(got, []string{"0", "1", "2", "3", "4"}) || !slices.Equal(refused, []string{"5", "6", "7", "8", "9"}) || len(failed) != 0 {
					t.Fatalf("arrived %v, refused %v, failed %v", got, refused, failed)
				}
			case DropOldest:
				// Each new message pushed out the oldest: the last five arrive,
				// the first five are reported failed with ErrBufferFull.
				if !slices.Equal(got, []string{"5", "6", "7", "8", "9"}) || len(refused) != 0 || len(failed) != 5 {
					t.Fatalf("arrived %v, refused %v, failed %v", got, refused, failed)
				}
				for v, err := range failed {
					if !errors.Is(err, ErrBufferFull) || v > "4" {
						t.Fatalf("message %s failed with %v", v, err)
					}
				}
			}
			full := 0
			for _, k := range rec.kinds(-1) {
				if k == "max_downtime_buffer_reached" {
					full++
				}
			}
			for _, k := range rec.kinds(0) {
				if k == "max_downtime_buffer_reached" {
					full++
				}
			}
			if full == 0 {
				t.Fatal("no max_downtime_buffer_reached event")
			}
		})
	}
}

// A broker restarts: worker_down then worker_up, nothing lost.
func TestMockBrokerRestart(t *testing.T) {
	c := newMock(t, mockbroker.Topic("r", 1))
	rec := &recorder{}
	p := newProducer(t, fastRetry(Config{Brokers: c.Addrs(), Handlers: []callbacks.Handler{rec}}))
	ctx := testCtx(t)
	if _, err := p.ProduceSync(ctx, "r", msg("", "a")); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(1); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := p.ProduceSync(ctx, "r", msg("", "b"), msg("", "c"))
		done <- err
	}()
	// Wait until the worker noticed, then bring the broker back.
	for !slices.Contains(rec.kinds(0), "worker_down") {
		select {
		case <-ctx.Done():
			t.Fatal("no worker_down")
		case <-time.After(5 * time.Millisecond):
		}
	}
	if err := c.Start(1); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := arrived(c, "r")[0]; !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("stored %v", got)
	}
	kinds := strings.Join(rec.kinds(0), " ")
	down := strings.Index(kinds, "worker_down")
	up := strings.LastIndex(kinds, "worker_up")
	if down < 0 || up < down || !strings.Contains(kinds, "time_down") {
		t.Fatalf("events %s", kinds)
	}
}

// A rolling restart of every broker, twice, under
// continuous load: nothing lost, nothing duplicated (idempotence), order
// kept per key.
func TestMockRollingRestartsUnderLoad(t *testing.T) {
	c := newMock(t, mockbroker.Brokers(3), mockbroker.Topic("roll", 6))
	p := newProducer(t, fastRetry(Config{Brokers: c.Addrs(), DeliveryTimeout: -1}))
	ctx := testCtx(t)
	var acked, failed atomic.Int64
	stop := make(chan struct{})
	produced := make(chan int, 1)
	go func() {
		i := 0
		defer func() { produced <- i }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			k := i % 20
			m := Message{Key: []byte("k" + strconv.Itoa(k)), Value: []byte(fmt.Sprintf("%d:%d", k, i)),
				OnDelivery: func(r Result) {
					if r.Err != nil {
						failed.Add(1)
						return
					}
					acked.Add(1)
				}}
			if err := p.ProduceAsyncBatched(ctx, "roll", m); err != nil {
				t.Error(err)
				return
			}
			i++
			if i%50 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	waitAcked := func(n int64) {
		for acked.Load() < n {
			select {
			case <-ctx.Done():
				t.Fatalf("stuck at %d acknowledged", acked.Load())
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	for round := 0; round < 2; round++ {
		for _, id := range c.BrokerIDs() {
			waitAcked(acked.Load() + 200)
			if err := c.Stop(id); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
			if err := c.Start(id); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitAcked(acked.Load() + 200)
	close(stop)
	n := <-produced
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if failed.Load() != 0 || acked.Load() != int64(n) {
		t.Fatalf("produced %d, acknowledged %d, failed %d", n, acked.Load(), failed.Load())
	}
	seen := make([]int, n)
	for part, vs := range arrived(c, "roll") {
		last := map[string]int{}
		for _, v := range vs {
			k, is, _ := strings.Cut(v, ":")
			i, _ := strconv.Atoi(is)
			seen[i]++
			if prev, ok := last[k]; ok && i < prev {
				t.Fatalf("partition %d key %s: %d after %d", part, k, i, prev)
			}
			last[k] = i
		}
	}
	for i, s := range seen {
		if s != 1 {
			t.Fatalf("message %d stored %d times (of %d produced)", i, s, n)
		}
	}
	t.Logf("%d messages through 6 broker restarts", n)
}

// Connections and workers must not pile up across
// restarts of a broker.
func TestMockRestartsDoNotLeakConnections(t *testing.T) {
	c := newMock(t, mockbroker.Brokers(3), mockbroker.Topic("leak", 3))
	p := newProducer(t, fastRetry(Config{Brokers: c.Addrs()}))
	ctx := testCtx(t)
	send := func() {
		var ms []Message
		for i := 0; i < 30; i++ {
			ms = append(ms, msg("", strconv.Itoa(i)))
		}
		if _, err := p.ProduceSync(ctx, "leak", ms...); err != nil {
			t.Fatal(err)
		}
	}
	send()
	// Spread over every partition so that every broker has a connection.
	for part := int32(0); part < 3; part++ {
		if _, err := p.ProduceSync(ctx, "leak", Message{Key: keyFor(part, 3), Value: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 10; i++ {
		if err := c.Stop(2); err != nil {
			t.Fatal(err)
		}
		if err := c.Start(2); err != nil {
			t.Fatal(err)
		}
		if _, err := p.ProduceSync(ctx, "leak", Message{Key: keyFor(1, 3), Value: []byte("r" + strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	send()
	if n := p.OpenConnections(); n != 3 {
		t.Fatalf("%d produce connections open, want one per broker (3)", n)
	}
	total := 0
	for _, id := range c.BrokerIDs() {
		total += c.OpenConnections(id)
	}
	// One produce connection per broker plus the metadata connection.
	if total != 4 {
		t.Fatalf("brokers see %d open connections, want 4", total)
	}
	p.workersMu.Lock()
	workers := len(p.workers)
	p.workersMu.Unlock()
	if workers != 3 {
		t.Fatalf("%d workers for 3 partitions", workers)
	}
	// Count the goroutines themselves: workers and sinks run only while
	// they have work, so once idle none is left; sarama keeps a reader for
	// each open connection (three produce connections and the metadata
	// one).
	waitGoroutines(t, "producer.(*worker).run(", 0)
	waitGoroutines(t, "producer.(*runq[...]).run(", 0)
	waitGoroutines(t, "sarama.(*Broker).responseReceiver(", 4)
	// And after Close, none of them.
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, fn := range []string{"producer.(*worker).run(", "producer.(*runq[...]).run(", "producer.(*Producer).metadataLoop(", "sarama.(*Broker).responseReceiver("} {
		waitGoroutines(t, fn, 0)
	}
}

// A paused broker accepts and never answers: requests time out, its breaker
// opens, unkeyed traffic moves to the partitions that are up, and nothing
// is lost.
func TestMockPausedBrokerTrafficMoves(t *testing.T) {
	c := newMock(t, mockbroker.Brokers(2), mockbroker.Topic("pause", 2))
	cfg := fastRetry(Config{Brokers: c.Addrs(), RequestTimeout: 300 * time.Millisecond, DeliveryTimeout: -1, BreakerFailures: 1,
		BreakerTimeout: 10 * time.Second, Strategy: nil})
	p := newProducer(t, cfg)
	ctx := testCtx(t)
	for part := int32(0); part < 2; part++ {
		if _, err := p.ProduceSync(ctx, "pause", Message{Key: keyFor(part, 2), Value: []byte("warm")}); err != nil {
			t.Fatal(err)
		}
	}
	paused := c.Leader("pause", 0)
	if err := c.Pause(paused); err != nil {
		t.Fatal(err)
	}
	// This one is stuck on the paused leader until it answers.
	stuck := make(chan Result, 1)
	if err := p.ProduceAsync(ctx, "pause", Message{Key: keyFor(0, 2), Value: []byte("stuck"), OnDelivery: func(r Result) { stuck <- r }}); err != nil {
		t.Fatal(err)
	}
	md := waitDown(t, p, "pause", 0)
	if md.Partitions[1].Up != true {
		t.Fatalf("partition 1 should be up: %+v", md)
	}
	// Unkeyed traffic now goes to partition 1 only.
	res, err := p.ProduceSync(ctx, "pause", msg("", "u1"), msg("", "u2"), msg("", "u3"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Partition != 1 {
			t.Fatalf("unkeyed message went to partition %d while 0 is down", r.Partition)
		}
	}
	if err := c.Resume(paused); err != nil {
		t.Fatal(err)
	}
	if r := <-stuck; r.Err != nil || r.Partition != 0 {
		t.Fatalf("stuck message: %+v", r)
	}
	vs := arrived(c, "pause")
	if !slices.Contains(vs[0], "stuck") || len(vs[1]) != 4 {
		t.Fatalf("stored %v", vs)
	}
}

func waitDown(t *testing.T, p *Producer, topic string, part int32) TopicMetadata {
	t.Helper()
	ctx := testCtx(t)
	for {
		md, err := p.Metadata(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		if !md.Partitions[part].Up {
			return md
		}
		select {
		case <-ctx.Done():
			t.Fatalf("partition %d never went down", part)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func TestMockMassageTwoMessagesArriveAsOne(t *testing.T) {
	c := newMock(t, mockbroker.Topic("mas", 1))
	p := newProducer(t, Config{Brokers: c.Addrs(), TTL: time.Hour, Topics: map[string]TopicConfig{"mas": {Massage: JSONArray}}})
	ctx := testCtx(t)
	if err := p.ProduceAsyncBatched(ctx, "mas", msg("", `"one"`), msg("", `"two"`)); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := arrived(c, "mas")[0]; !slices.Equal(got, []string{`["one","two"]`}) {
		t.Fatalf("stored %q", got)
	}
	// Without the hook they arrive as two.
	plain := newProducer(t, Config{Brokers: c.Addrs(), TTL: time.Hour})
	if err := plain.ProduceAsyncBatched(ctx, "mas", msg("", `"three"`), msg("", `"four"`)); err != nil {
		t.Fatal(err)
	}
	if err := plain.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := arrived(c, "mas")[0]; len(got) != 3 {
		t.Fatalf("stored %q", got)
	}
}

// Partitions added while producing are picked up without a restart.
func TestMockPartitionsAdded(t *testing.T) {
	c := newMock(t, mockbroker.Brokers(3), mockbroker.Topic("grow", 1))
	p := newProducer(t, fastRetry(Config{Brokers: c.Addrs(), MetadataRefresh: 100 * time.Millisecond, Strategy: nil}))
	ctx := testCtx(t)
	if _, err := p.ProduceSync(ctx, "grow", msg("", "x")); err != nil {
		t.Fatal(err)
	}
	if err := c.AddPartitions("grow", 3); err != nil {
		t.Fatal(err)
	}
	for {
		md, err := p.Metadata(ctx, "grow")
		if err != nil {
			t.Fatal(err)
		}
		if len(md.Partitions) == 3 && len(md.Brokers) == 3 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("partitions never grew: %+v", md)
		case <-time.After(10 * time.Millisecond):
		}
	}
	res, err := p.ProduceSync(ctx, "grow", Message{Key: keyFor(2, 3), Value: []byte("new")})
	if err != nil || res[0].Partition != 2 {
		t.Fatalf("%v %+v", err, res)
	}
	if got := arrived(c, "grow")[2]; !slices.Equal(got, []string{"new"}) {
		t.Fatalf("partition 2 stored %v", got)
	}
}
