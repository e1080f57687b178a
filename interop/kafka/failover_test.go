package kafka

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/merlinkafka/merlin/internal/kafkatest"
	"github.com/merlinkafka/merlin/producer"
)

// failoverConfig is the producer of the failover tests: merlin's defaults
// (acks=all, idempotence on, metadata refreshed every minute unless a
// failure asks sooner), with a delivery timeout long enough to ride out
// every fault the tests stage, so that any failure is a finding.
func failoverConfig() producer.Config {
	return producer.Config{
		DeliveryTimeout: 3 * time.Minute,
		RequestTimeout:  10 * time.Second,
	}
}

// startFailoverLoad creates topic with partitions partitions at
// replication factor 3 and starts the failover producer sending keys keys'
// messages to it, 3000 a second, recorded in the ledger; stop ends the load.
func startFailoverLoad(t *testing.T, ctx context.Context, c *kafkatest.Cluster, topic string, partitions, keys int) (p *producer.Producer, l *ledger, stop func() int) {
	t.Helper()
	createTopic(t, ctx, c, topic, partitions, 3, topicConfigs(c, nil))
	p = newProducer(t, c, failoverConfig())
	l = newLedger()
	return p, l, load(ctx, p, l, topic, keys, 3000)
}

// ledOn is the partitions of topic that broker id leads now.
func ledOn(t *testing.T, ctx context.Context, c *kafkatest.Cluster, topic string, id int32) []int32 {
	t.Helper()
	leaders, err := c.Leaders(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var parts []int32
	for p, l := range leaders {
		if l == id {
			parts = append(parts, p)
		}
	}
	slices.Sort(parts)
	return parts
}

// finish stops the load, flushes, reads everything back and checks it
// against the ledger.
func finish(t *testing.T, ctx context.Context, c *kafkatest.Cluster, p *producer.Producer, l *ledger, topic string, stop func() int) {
	t.Helper()
	n := stop()
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	recs := consumeKgo(t, ctx, c, topic)
	l.check(t, recs, false)
	sent, acked, failed := l.counts()
	t.Logf("%d handed over, %d sent, %d acknowledged, %d failed, %d stored", n, sent, acked, failed, len(recs))
}

// TestLeaderKill9Idempotent: three nodes, a topic at replication factor 3
// and min.insync.replicas=2, keyed messages produced continuously with
// acks=all and idempotence; the leader of partition 0 is killed with
// SIGKILL, and later restarted. The producer follows the new leaders, and
// every acknowledged message is stored exactly once, in order per key.
func TestLeaderKill9Idempotent(t *testing.T) {
	c := cluster(t, 3, nil)
	ctx := testContext(t, 5*time.Minute+2*soak())
	const topic = "kill9"
	p, l, stop := startFailoverLoad(t, ctx, c, topic, 3, 24)
	rounds := 1 + int(soak()/(20*time.Second))
	for round := range rounds {
		_, acked, _ := l.counts()
		waitAcked(t, ctx, l, acked+3000)
		leaders, err := c.Leaders(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		victim := c.Node(leaders[0])
		parts := ledOn(t, ctx, c, topic, victim.ID)
		l.markFailover(parts...)
		if err := victim.Kill(); err != nil {
			t.Fatal(err)
		}
		d, ok := l.failoverTime(ctx)
		if !ok {
			t.Fatalf("round %d: no acknowledgement on partitions %v after killing their leader %d", round, parts, victim.ID)
		}
		_, acked, _ = l.counts()
		waitAcked(t, ctx, l, acked+2000)
		t.Logf("round %d: killed broker %d (leader of %v); first acknowledged write on a successor after %v (longest gap %v)",
			round, victim.ID, parts, d.Round(time.Millisecond), l.longestGap().Round(time.Millisecond))
		if err := victim.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := c.WaitTopic(ctx, topic, 3, 3); err != nil {
			t.Fatal(err)
		}
	}
	finish(t, ctx, c, p, l, topic, stop)
}

// TestRollingRestart: every broker of three restarted in turn (SIGTERM:
// Kafka's controlled shutdown), twice, under continuous keyed load: nothing
// lost, nothing duplicated, order kept per key. Reports, per restart, the
// longest time the partitions the broker had led went without an
// acknowledged write (Kafka moves leadership before the broker exits).
func TestRollingRestart(t *testing.T) {
	c := cluster(t, 3, nil)
	ctx := testContext(t, 6*time.Minute+2*soak())
	const topic = "rolling"
	p, l, stop := startFailoverLoad(t, ctx, c, topic, 6, 30)
	var times []time.Duration
	rounds := 2 + int(soak()/(30*time.Second))
	for round := range rounds {
		for _, n := range c.Nodes() {
			_, acked, _ := l.counts()
			waitAcked(t, ctx, l, acked+1500)
			parts := ledOn(t, ctx, c, topic, n.ID)
			l.markFailover(parts...)
			if err := n.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			if err := n.Start(ctx); err != nil {
				t.Fatal(err)
			}
			if err := c.WaitTopic(ctx, topic, 6, 3); err != nil {
				t.Fatal(err)
			}
			if len(parts) > 0 {
				if _, ok := l.failoverTime(ctx); !ok {
					t.Fatalf("no acknowledgement on %v after restarting broker %d", parts, n.ID)
				}
				gap := l.longestGap()
				times = append(times, gap)
				t.Logf("round %d: broker %d restarted (led %v): longest gap between acknowledged writes on them %v", round, n.ID, parts, gap.Round(time.Millisecond))
			}
		}
	}
	slices.Sort(times)
	if len(times) > 0 {
		t.Logf("longest write gap per controlled restart: median %v, max %v over %d restarts", times[len(times)/2].Round(time.Millisecond), times[len(times)-1].Round(time.Millisecond), len(times))
	}
	finish(t, ctx, c, p, l, topic, stop)
}

// TestNotEnoughReplicas: a topic at replication factor 3 and
// min.insync.replicas=2 on brokers 2, 3 and 4 (broker 1 alone is the KRaft
// controller, so the quorum lives while they go); two of the three
// replicas are stopped. The leader answers NOT_ENOUGH_REPLICAS, which the
// producer retries: messages wait and are delivered once the brokers are
// back. With a delivery timeout shorter than the outage, every message is
// reported failed with ErrDeliveryTimeout, its last error the broker's,
// and none is dropped silently.
func TestNotEnoughReplicas(t *testing.T) {
	c := kafkatest.New(t, kafkatest.Options{Nodes: 4, Controllers: 1})
	ctx := testContext(t, 4*time.Minute)
	assign := [][]int32{{2, 3, 4}, {2, 4, 3}}
	for _, topic := range []string{"ner-wait", "ner-timeout"} {
		if err := c.CreateTopicAssigned(ctx, topic, assign, map[string]string{"min.insync.replicas": "2"}); err != nil {
			t.Fatal(err)
		}
	}
	cfg := failoverConfig()
	p := newProducer(t, c, cfg)
	short := failoverConfig()
	short.DeliveryTimeout = 5 * time.Second
	pShort := newProducer(t, c, short)
	for _, id := range []int32{3, 4} {
		if err := c.Node(id).Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Wait for the ISR to shrink to the leader alone.
	for shrunk := false; !shrunk; {
		isr, err := c.ISR(ctx, "ner-wait")
		if err != nil {
			t.Fatal(err)
		}
		shrunk = len(isr[0]) == 1 && len(isr[1]) == 1
		select {
		case <-ctx.Done():
			t.Fatalf("ISR still %v", isr)
		case <-time.After(100 * time.Millisecond):
		}
	}
	l := newLedger()
	for i := range 200 {
		m := l.message("k" + string(rune('a'+i%5)))
		if err := p.ProduceAsync(ctx, "ner-wait", m); err != nil {
			t.Fatal(err)
		}
	}
	timedOut := newLedger()
	for i := range 50 {
		if err := pShort.ProduceAsync(ctx, "ner-timeout", timedOut.message("t"+string(rune('a'+i%5)))); err != nil {
			t.Fatal(err)
		}
	}
	// The short-timeout producer's messages fail, each once, while the
	// replicas are away.
	flushCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := pShort.Flush(flushCtx); err != nil {
		t.Fatalf("Flush of the short-timeout producer: %v", err)
	}
	_, acked, failed := timedOut.counts()
	if acked != 0 || failed != 50 {
		t.Fatalf("short delivery timeout: %d acknowledged, %d failed of 50", acked, failed)
	}
	for v, err := range timedOut.failed {
		if !errors.Is(err, producer.ErrDeliveryTimeout) || !errors.Is(err, kerr.NotEnoughReplicas) {
			t.Fatalf("%s: %v, want ErrDeliveryTimeout with NOT_ENOUGH_REPLICAS as the last error", v, err)
		}
	}
	if _, a, _ := l.counts(); a != 0 {
		t.Fatalf("%d messages acknowledged with one in-sync replica of the 2 required", a)
	}
	for _, id := range []int32{3, 4} {
		if err := c.Node(id).Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("Flush once the replicas are back: %v", err)
	}
	l.check(t, consumeKgo(t, ctx, c, "ner-wait"), false)
	if n := len(consumeKgo(t, ctx, c, "ner-timeout")); n != 0 {
		t.Fatalf("%d of the timed-out messages stored", n)
	}
}
