package testkit

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestKgoConsume(t *testing.T) {
	c, err := kfake.NewCluster(kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := Context(t, 30*time.Second)
	cl := Kgo(t, c.ListenAddrs(), kgo.DefaultProduceTopic("t"), kgo.WithLogger(nil))
	for _, v := range []string{"a", "b", "c"} {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	recs := Consume(t, ctx, c.ListenAddrs(), "t", 3)
	if len(recs) != 3 || string(recs[0].Value) != "a" || string(recs[2].Value) != "c" {
		t.Fatalf("consumed %v", recs)
	}
	Logger(t).Info("below warning: not shown")
}
