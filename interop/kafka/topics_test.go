package kafka

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/producer"
)

var noAutoCreate = map[string]string{"auto.create.topics.enable": "false"}

// TestTopicCreatedAfterStart: with auto-creation off, a produce to a topic
// that does not exist fails with ErrUnknownTopic within the call's
// context (the producer does not wait out the delivery timeout for it);
// once the topic is created, the same producer writes to it.
func TestTopicCreatedAfterStart(t *testing.T) {
	c := cluster(t, 1, noAutoCreate)
	ctx := testContext(t, 2*time.Minute)
	p := newProducer(t, c, producer.Config{})
	callCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	_, err := p.ProduceSync(callCtx, "later", producer.Message{Value: []byte("too early")})
	cancel()
	if !errors.Is(err, producer.ErrUnknownTopic) {
		t.Fatalf("produce to a missing topic: %v, want ErrUnknownTopic", err)
	}
	createTopic(t, ctx, c, "later", 2, 1, nil)
	res, err := p.ProduceSync(ctx, "later", producer.Message{Value: []byte("on time")})
	if err != nil {
		t.Fatalf("produce after the topic was created: %v", err)
	}
	recs := consumeKgo(t, ctx, c, "later")
	if len(recs) != 1 || string(recs[0].Value) != "on time" || recs[0].Partition != res[0].Partition {
		t.Fatalf("stored %+v, acknowledged %+v", recs, res)
	}
}

// TestTopicDeletedWhileProducing: with auto-creation off, a topic deleted
// under continuous load. Once three metadata answers in a row say the
// topic is gone, everything the producer holds for it fails with
// ErrUnknownTopic, and so do new calls, at once (they used to wait out
// the delivery timeout, retrying UNKNOWN_TOPIC_OR_PARTITION). Every
// message handed over is acknowledged or reported failed, exactly once,
// and the producer does not recreate the topic.
func TestTopicDeletedWhileProducing(t *testing.T) {
	c := cluster(t, 1, noAutoCreate)
	ctx := testContext(t, 3*time.Minute)
	const topic = "doomed"
	createTopic(t, ctx, c, topic, 3, 1, nil)
	cfg := producer.Config{DeliveryTimeout: time.Minute, MetadataRefresh: 2 * time.Second}
	p := newProducer(t, c, cfg)
	l := newLedger()
	stop := load(ctx, p, l, topic, 10, 2000)
	waitAcked(t, ctx, l, 2000)
	if _, err := c.Admin().DeleteTopic(ctx, topic); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	// Keep producing into the void for a few seconds.
	time.Sleep(3 * time.Second)
	stop()
	flushCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := p.Flush(flushCtx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	sent, acked, failed := l.counts()
	if acked+failed != sent || failed == 0 {
		t.Fatalf("%d sent: %d acknowledged, %d failed", sent, acked, failed)
	}
	kinds := map[string]int{}
	for _, err := range l.failed {
		switch {
		case errors.Is(err, producer.ErrUnknownTopic):
			kinds["ErrUnknownTopic"]++
		case errors.Is(err, producer.ErrDeliveryTimeout):
			kinds["ErrDeliveryTimeout"]++
		default:
			kinds[err.Error()]++
		}
	}
	t.Logf("topic deleted after %d acknowledgements: %d sent, %d acknowledged, %d failed %v; flushed %v after the deletion",
		acked, sent, acked, failed, kinds, time.Since(deleted).Round(time.Millisecond))
	for k := range kinds {
		if k != "ErrUnknownTopic" {
			t.Errorf("failed with %q, want ErrUnknownTopic", k)
		}
	}
	if d := time.Since(deleted); d > 30*time.Second {
		t.Errorf("the deleted topic's messages were settled %v after the deletion, not within a few metadata refreshes", d)
	}
	if topics, err := c.Admin().ListTopics(ctx, topic); err != nil || topics.Has(topic) {
		t.Fatalf("topic %s exists again after the deletion (err %v): the producer recreated it", topic, err)
	}
	callCtx, cancel2 := context.WithTimeout(ctx, 20*time.Second)
	defer cancel2()
	if _, err := p.ProduceSync(callCtx, topic, producer.Message{Value: []byte("late")}); !errors.Is(err, producer.ErrUnknownTopic) {
		t.Fatalf("produce to the deleted topic: %v, want ErrUnknownTopic", err)
	}
}

// TestPartitionsAddedUnderLoad: partitions added with Kafka's admin API
// (3 to 6) while keyed and unkeyed messages flow. Within one metadata
// refresh the producer writes to the new partitions; keyed messages then
// follow the new partition count, as the Java client's do (a key may move
// to another partition, keeping its order within each); nothing is lost.
func TestPartitionsAddedUnderLoad(t *testing.T) {
	c := cluster(t, 1, nil)
	ctx := testContext(t, 3*time.Minute)
	const topic = "growing"
	createTopic(t, ctx, c, topic, 3, 1, nil)
	const refresh = 2 * time.Second
	p := newProducer(t, c, producer.Config{MetadataRefresh: refresh})
	l := newLedger()
	l.movingKeys = true
	stop := load(ctx, p, l, topic, 40, 2000)
	waitAcked(t, ctx, l, 2000)
	if _, err := c.Admin().CreatePartitions(ctx, 3, topic); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitTopic(ctx, topic, 6, 1); err != nil {
		t.Fatal(err)
	}
	added := time.Now()
	// Within one refresh (plus the time a batch takes), a new partition
	// receives a message.
	var first time.Duration
	for first == 0 {
		l.mu.Lock()
		for _, r := range l.acked {
			if r.Partition >= 3 {
				first = time.Since(added)
				break
			}
		}
		l.mu.Unlock()
		if first == 0 && time.Since(added) > refresh+5*time.Second {
			t.Fatalf("no message acknowledged on partitions 3-5 %v after they were added (refresh %v)", time.Since(added), refresh)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("first acknowledgement on a new partition %v after CreatePartitions", first.Round(time.Millisecond))
	_, acked, _ := l.counts()
	waitAcked(t, ctx, l, acked+2000)
	n := stop()
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	recs := consumeKgo(t, ctx, c, topic)
	l.check(t, recs, false)
	// Every key's messages after the change are where the 6-partition
	// count puts them: the partition merlin's Pick names now.
	for key := 0; key < 40; key++ {
		k := fmt.Sprintf("k%d", key)
		want, err := p.Pick(ctx, topic, []byte(k))
		if err != nil {
			t.Fatal(err)
		}
		l.mu.Lock()
		last := l.nextSeq[k] - 1
		r := l.acked[fmt.Sprintf("%s/%d", k, last)]
		l.mu.Unlock()
		if r.Partition != want {
			t.Errorf("key %s: last message in partition %d, Pick says %d", k, r.Partition, want)
		}
	}
	t.Logf("%d messages, %d stored", n, len(recs))
}
