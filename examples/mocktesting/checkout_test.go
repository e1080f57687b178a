package mocktesting

import (
	"context"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/mockbroker"
	"github.com/merlinkafka/merlin/producer"
)

func TestOrdersSurviveABrokerRestart(t *testing.T) {
	cluster, err := mockbroker.NewCluster(mockbroker.Brokers(3), mockbroker.Topic("orders", 3))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	p, err := producer.New(producer.Config{Brokers: cluster.Addrs(), RetryBackoffMax: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	defer p.Close(ctx)
	shop := Checkout{P: p}

	if _, err := shop.Order(ctx, "alice", 10); err != nil {
		t.Fatal(err)
	}
	// Take down the broker leading alice's partition, order, bring it back.
	part, _ := p.Pick(ctx, "orders", []byte("alice"))
	leader := cluster.Leader("orders", part)
	if err := cluster.Stop(leader); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := shop.Order(ctx, "alice", 20); done <- err }()
	time.Sleep(50 * time.Millisecond)
	if err := cluster.Start(leader); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// What the broker stored, in order.
	recs := cluster.Records("orders", part)
	if len(recs) != 2 || string(recs[0].Key) != "alice" ||
		string(recs[0].Value) != `{"customer":"alice","amount":10}` ||
		string(recs[1].Value) != `{"customer":"alice","amount":20}` {
		t.Fatalf("stored %+v", recs)
	}
}
