package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/internal/kafkatest"
)

// TestDemoAgainstKafka runs the demo with --brokers against a 3-node Apache
// Kafka cluster, on a topic made as a production one would be (replication
// factor 3, min.insync.replicas=2), and checks its verdict: everything
// acknowledged and consumed back once, in order per key, exit 0.
func TestDemoAgainstKafka(t *testing.T) {
	c := kafkatest.New(t, kafkatest.Options{Nodes: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const topic = "merlin-demo-kafka"
	if err := c.CreateTopic(ctx, topic, 4, 3, map[string]string{"min.insync.replicas": "2"}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runDemo(t, "--brokers", strings.Join(c.Brokers(), ","), "--topic", topic,
		"--messages", "3000", "--rate", "3000", "--keys", "16")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	wantAll(t, "output", out,
		"external cluster (no outage staged)",
		"sent 3000, acknowledged 3000, failed 0, consumed 3000, lost 0, duplicated 0, order kept")
	// The demo produced to the topic made here, all four partitions.
	offs, err := c.Admin().ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var total, used int64
	for _, o := range offs[topic] {
		total += o.Offset
		if o.Offset > 0 {
			used++
		}
	}
	if total != 3000 || used != 4 {
		t.Errorf("topic holds %d records in %d partitions, want 3000 in 4", total, used)
	}
}
