package mockbroker_test

import (
	"context"
	"fmt"
	"time"

	"github.com/merlinkafka/merlin/mockbroker"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A three-broker cluster, a client producing to it, and what arrived.
func Example() {
	c, err := mockbroker.NewCluster(mockbroker.Brokers(3), mockbroker.Topic("events", 3))
	if err != nil {
		panic(err)
	}
	defer c.Close()
	fmt.Println("brokers:", c.BrokerIDs())
	for p := range c.Partitions("events") {
		fmt.Printf("events/%d led by %d\n", p, c.Leader("events", p))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		panic(err)
	}
	defer cl.Close()
	for i, v := range []string{"hello", "mock", "world"} {
		r := &kgo.Record{Topic: "events", Partition: 1, Key: []byte(fmt.Sprint(i)), Value: []byte(v)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			panic(err)
		}
	}
	if err := c.WaitForRecords(ctx, "events", 3); err != nil {
		panic(err)
	}
	for _, r := range c.Records("events", 1) {
		fmt.Printf("offset %d: %s=%s\n", r.Offset, r.Key, r.Value)
	}
	for _, pr := range c.ProduceRequests() {
		fmt.Printf("broker %d got %d record(s) for %s/%d\n", pr.Broker, pr.Records, pr.Topic, pr.Partition)
	}
	// Output:
	// brokers: [1 2 3]
	// events/0 led by 1
	// events/1 led by 2
	// events/2 led by 3
	// offset 0: 0=hello
	// offset 1: 1=mock
	// offset 2: 2=world
	// broker 2 got 1 record(s) for events/1
	// broker 2 got 1 record(s) for events/1
	// broker 2 got 1 record(s) for events/1
}
