package producer

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The cluster grows from one broker to three
// and the topic gains partitions, led by the new brokers; the producer
// follows without a restart.
func TestClusterGrowsFromOneBrokerToThree(t *testing.T) {
	c := newKfake(t, 1, 1, "grow")
	p := newProducer(t, fastRetry(Config{Brokers: c.ListenAddrs(), MetadataRefresh: 100 * time.Millisecond}))
	ctx := testCtx(t)
	if _, err := p.ProduceSync(ctx, "grow", msg("", "before")); err != nil {
		t.Fatal(err)
	}
	var added []int32
	for i := 0; i < 2; i++ {
		id, _, err := c.AddNode(-1, 0)
		if err != nil {
			t.Fatal(err)
		}
		added = append(added, id)
	}
	// Grow the topic to 3 partitions through the protocol, then put the
	// new partitions on the new brokers.
	admin, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	req := kmsg.NewPtrCreatePartitionsRequest()
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = "grow", 3
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 5000
	resp, err := req.RequestWith(ctx, admin)
	if err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create partitions: %v %+v", err, resp)
	}
	for i, id := range added {
		if err := c.MoveTopicPartition("grow", int32(i+1), id); err != nil {
			t.Fatal(err)
		}
	}
	for {
		md, err := p.Metadata(ctx, "grow")
		if err != nil {
			t.Fatal(err)
		}
		if len(md.Brokers) == 3 && len(md.Partitions) == 3 && md.Partitions[1].Leader == added[0] && md.Partitions[2].Leader == added[1] {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("metadata never followed: %+v", md)
		case <-time.After(20 * time.Millisecond):
		}
	}
	for part := int32(0); part < 3; part++ {
		res, err := p.ProduceSync(ctx, "grow", Message{Key: keyFor(part, 3), Value: []byte("after")})
		if err != nil || res[0].Partition != part {
			t.Fatalf("partition %d: %v %+v", part, err, res)
		}
	}
	got := consume(t, c.ListenAddrs(), "grow", 4)
	perPart := map[int32]int{}
	for _, r := range got {
		perPart[r.Partition]++
	}
	if perPart[0] != 2 || perPart[1] != 1 || perPart[2] != 1 {
		t.Fatalf("records per partition %v", perPart)
	}
	if n := p.OpenConnections(); n != 3 {
		t.Fatalf("%d connections, want one per broker", n)
	}
}
