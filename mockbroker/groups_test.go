package mockbroker_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/mockbroker"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Two kgo consumer group members on a three-broker mock cluster (whose
// group coordinator is one of the nodes, the others answering
// NOT_COORDINATOR) split a topic between them, consume every record once,
// and commit the partitions' ends.
func TestKgoConsumerGroup(t *testing.T) {
	const topic, group, n = "grouped", "mock-group", 600
	c := newCluster(t, mockbroker.Brokers(3), mockbroker.Topic(topic, 6))
	ctx := testContext(t)
	prod := newKgo(t, c, kgo.DefaultProduceTopic(topic))
	for i := range n {
		prod.Produce(ctx, &kgo.Record{Key: testKey(i), Value: testValue(i)}, nil)
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	seen := map[string]string{}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, name := range []string{"one", "two"} {
		cl := newKgo(t, c,
			kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.HeartbeatInterval(100*time.Millisecond), kgo.FetchMaxWait(100*time.Millisecond),
			kgo.BlockRebalanceOnPoll(), kgo.DisableAutoCommit())
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				fs := cl.PollFetches(ctx)
				recs := fs.Records()
				mu.Lock()
				for _, r := range recs {
					if prev, dup := seen[string(r.Value)]; dup {
						t.Errorf("%s consumed by %s and %s", r.Value, prev, name)
					}
					seen[string(r.Value)] = name
				}
				mu.Unlock()
				if len(recs) > 0 {
					if err := cl.CommitRecords(ctx, recs...); err != nil && ctx.Err() == nil {
						t.Errorf("%s: commit: %v", name, err)
					}
				}
				cl.AllowRebalance()
			}
		}()
	}
	// Every record consumed, and the group settled with both members
	// holding three partitions each.
	adm := kadm.NewClient(newKgo(t, c))
	settled := func() bool {
		mu.Lock()
		got := len(seen)
		mu.Unlock()
		described, err := adm.DescribeGroups(ctx, group)
		if err != nil || got != n {
			return false
		}
		d := described[group]
		if d.Err != nil || d.State != "Stable" || len(d.Members) != 2 {
			return false
		}
		for _, m := range d.Members {
			if a, ok := m.Assigned.AsConsumer(); !ok || len(a.Topics) != 1 || len(a.Topics[0].Partitions) != 3 {
				return false
			}
		}
		return true
	}
	for !settled() {
		select {
		case <-ctx.Done():
			mu.Lock()
			t.Fatalf("consumed %d of %d, group not settled", len(seen), n)
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	wg.Wait()

	offs, err := adm.FetchOffsets(testContext(t), group)
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	for p := range int32(6) {
		o, ok := offs.Lookup(topic, p)
		if !ok || o.At != int64(len(c.Records(topic, p))) {
			t.Fatalf("partition %d: committed %+v, holds %d", p, o, len(c.Records(topic, p)))
		}
		total += o.At
	}
	if total != n {
		t.Fatalf("committed %d records in all, want %d", total, n)
	}
}
