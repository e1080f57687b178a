package broker

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// groupConsumer is a kgo group member that commits what it consumed after
// every poll, before it allows a rebalance: what it committed nobody
// consumes again.
type groupConsumer struct {
	name string
	cl   *kgo.Client

	mu       sync.Mutex
	assigned map[int32]bool
	consumed int
	done     chan struct{}
}

// groupLedger records which consumer consumed each record value.
type groupLedger struct {
	t  *testing.T
	mu sync.Mutex
	by map[string]string
}

func (l *groupLedger) record(who string, r *kgo.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if prev, ok := l.by[string(r.Value)]; ok {
		l.t.Errorf("record %s (partition %d offset %d) consumed by %s after %s", r.Value, r.Partition, r.Offset, who, prev)
	}
	l.by[string(r.Value)] = who
}

func (l *groupLedger) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.by)
}

func startGroupConsumer(t *testing.T, ctx context.Context, addr, name, group, topic string, ledger *groupLedger, opts ...kgo.Opt) *groupConsumer {
	t.Helper()
	gc := &groupConsumer{name: name, assigned: map[int32]bool{}, done: make(chan struct{})}
	opts = append([]kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.HeartbeatInterval(100 * time.Millisecond),
		kgo.FetchMaxWait(200 * time.Millisecond),
		kgo.ClientID(name),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			gc.mu.Lock()
			defer gc.mu.Unlock()
			for _, p := range m[topic] {
				gc.assigned[p] = true
			}
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			gc.mu.Lock()
			defer gc.mu.Unlock()
			for _, p := range m[topic] {
				delete(gc.assigned, p)
			}
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			gc.mu.Lock()
			defer gc.mu.Unlock()
			for _, p := range m[topic] {
				delete(gc.assigned, p)
			}
		}),
	}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	gc.cl = cl
	go func() {
		defer close(gc.done)
		for {
			fs := cl.PollFetches(ctx)
			if fs.IsClientClosed() || ctx.Err() != nil {
				return
			}
			fs.EachError(func(topic string, p int32, err error) { t.Logf("%s: fetch %s/%d: %v", name, topic, p, err) })
			recs := fs.Records()
			for _, r := range recs {
				ledger.record(name, r)
			}
			gc.mu.Lock()
			gc.consumed += len(recs)
			gc.mu.Unlock()
			if len(recs) > 0 {
				if err := cl.CommitRecords(ctx, recs...); err != nil && ctx.Err() == nil {
					t.Errorf("%s: commit: %v", name, err)
				}
			}
			cl.AllowRebalance()
		}
	}()
	t.Cleanup(gc.close)
	return gc
}

func (gc *groupConsumer) close() {
	gc.cl.Close()
	<-gc.done
}

func (gc *groupConsumer) partitions() []int32 {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	var ps []int32
	for p := range gc.assigned {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

func (gc *groupConsumer) count() int {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	return gc.consumed
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// produceNumbered produces records from..to-1 with values "<from>" ...,
// record i to partition i%partitions.
func produceNumbered(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, from, to, partitions int) {
	t.Helper()
	var rs []*kgo.Record
	for i := from; i < to; i++ {
		rs = append(rs, &kgo.Record{Topic: topic, Partition: int32(i % partitions), Value: []byte(strconv.Itoa(i))})
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// Two kgo members of one group share a topic's partitions; when one leaves,
// the other takes its partitions over from the committed offsets: every
// record is consumed exactly once, and the committed offsets are the ends.
func TestGroupKgoShareAndTakeOver(t *testing.T) {
	ctx := testContext(t)
	b := startBroker(t, Config{})
	const topic, group, parts = "shared", "g1", 4
	createTopic(t, b, topic, parts)
	prod := newClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ledger := &groupLedger{t: t, by: map[string]string{}}

	produceNumbered(t, ctx, prod, topic, 0, 100, parts)
	a := startGroupConsumer(t, ctx, b.Addr(), "a", group, topic, ledger)
	waitFor(t, ctx, "a to own every partition", func() bool { return len(a.partitions()) == parts })
	c := startGroupConsumer(t, ctx, b.Addr(), "c", group, topic, ledger)
	waitFor(t, ctx, "a and c to share the partitions", func() bool {
		pa, pc := a.partitions(), c.partitions()
		all := append(append([]int32{}, pa...), pc...)
		slices.Sort(all)
		return len(pa) > 0 && len(pc) > 0 && slices.Equal(slices.Compact(all), []int32{0, 1, 2, 3}) && len(all) == parts
	})
	waitFor(t, ctx, "the first 100 records", func() bool { return ledger.count() == 100 })

	before := c.count()
	produceNumbered(t, ctx, prod, topic, 100, 200, parts)
	waitFor(t, ctx, "records 100-199", func() bool { return ledger.count() == 200 })
	if c.count() == before {
		t.Fatalf("c, assigned %v, consumed nothing of the second 100", c.partitions())
	}

	c.close() // LeaveGroup
	waitFor(t, ctx, "a to take every partition over", func() bool { return len(a.partitions()) == parts })
	produceNumbered(t, ctx, prod, topic, 200, 300, parts)
	waitFor(t, ctx, "records 200-299", func() bool { return ledger.count() == 300 })
	for i := 200; i < 300; i++ {
		ledger.mu.Lock()
		who := ledger.by[strconv.Itoa(i)]
		ledger.mu.Unlock()
		if who != "a" {
			t.Fatalf("record %d consumed by %q after c left", i, who)
		}
	}

	adm := kadm.NewClient(newClient(t, b.Addr()))
	// a commits after it has handed the records over: wait for the last
	// commit to land rather than race it.
	var offs kadm.OffsetResponses
	waitFor(t, ctx, "the commits of the last records", func() bool {
		var err error
		if offs, err = adm.FetchOffsets(ctx, group); err != nil {
			t.Fatal(err)
		}
		for p := int32(0); p < parts; p++ {
			if o, ok := offs.Lookup(topic, p); !ok || o.At < 75 {
				return false
			}
		}
		return true
	})
	for p := int32(0); p < parts; p++ {
		o, ok := offs.Lookup(topic, p)
		if !ok || o.Err != nil || o.At != 75 {
			t.Errorf("partition %d: committed %+v (%v), want 75", p, o, ok)
		}
	}
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	dg := described[group]
	if dg.Err != nil || dg.State != "Stable" || dg.Protocol == "" || len(dg.Members) != 1 || dg.Members[0].ClientID != "a" {
		t.Fatalf("described %+v", dg)
	}
	if _, ok := dg.Members[0].Assigned.AsConsumer(); !ok {
		t.Fatalf("member assignment is not a consumer assignment: %+v", dg.Members[0])
	}
}
