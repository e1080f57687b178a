package producer_test

import (
	"context"
	"fmt"
	"time"

	"github.com/merlinkafka/merlin/mockbroker"
	"github.com/merlinkafka/merlin/picker"
	"github.com/merlinkafka/merlin/producer"
)

// The examples run against an in-process mockbroker cluster; point
// Config.Brokers at your own cluster instead.
func cluster() *mockbroker.Cluster {
	c, err := mockbroker.NewCluster(mockbroker.Brokers(3), mockbroker.Topic("events", 3))
	if err != nil {
		panic(err)
	}
	return c
}

func ExampleProducer_ProduceSync() {
	c := cluster()
	defer c.Close()
	p, err := producer.New(producer.Config{Brokers: c.Addrs()})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	defer p.Close(ctx)

	res, err := p.ProduceSync(ctx, "events",
		producer.Message{Key: []byte("user-1"), Value: []byte("signed up")},
		producer.Message{Key: []byte("user-1"), Value: []byte("logged in")},
	)
	if err != nil {
		panic(err)
	}
	for _, r := range res {
		fmt.Printf("%s/%d offset %d\n", r.Topic, r.Partition, r.Offset)
	}
	// Output:
	// events/2 offset 0
	// events/2 offset 1
}

func ExampleProducer_ProduceAsyncBatched() {
	c := cluster()
	defer c.Close()
	p, err := producer.New(producer.Config{
		Brokers:     c.Addrs(),
		MaxMessages: 100,                   // a batch goes out at 100 messages ...
		TTL:         50 * time.Millisecond, // ... or 50 ms after its first one
		Strategy:    picker.StrictRoundRobin(),
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for i := 0; i < 300; i++ {
		err := p.ProduceAsyncBatched(ctx, "events", producer.Message{
			Value: []byte(fmt.Sprint(i)),
			OnDelivery: func(r producer.Result) {
				if r.Err != nil {
					fmt.Println("failed:", r.Err)
				}
			},
		})
		if err != nil {
			panic(err) // not accepted: closed, or the buffer is full
		}
	}
	// Close sends what is buffered and waits for the acknowledgements.
	if err := p.Close(ctx); err != nil {
		panic(err)
	}
	for part := int32(0); part < 3; part++ {
		fmt.Printf("partition %d holds %d messages\n", part, len(c.Records("events", part)))
	}
	// Output:
	// partition 0 holds 100 messages
	// partition 1 holds 100 messages
	// partition 2 holds 100 messages
}

func ExampleProducer_ProduceSyncBatched() {
	c := cluster()
	defer c.Close()
	p, err := producer.New(producer.Config{Brokers: c.Addrs(), TTL: time.Hour})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	defer p.Close(ctx)
	buf, err := p.ProduceSyncBatched(ctx, "events",
		producer.Message{Key: []byte("user-1"), Value: []byte("a")},
		producer.Message{Key: []byte("user-1"), Value: []byte("b")},
	)
	if err != nil {
		panic(err)
	}
	fmt.Printf("buffered in partition %d, which now holds %d messages\n", buf[0].Partition, buf[0].Len)
	// Output:
	// buffered in partition 2, which now holds 2 messages
}

func ExampleProducer_Metadata() {
	c := cluster()
	defer c.Close()
	p, err := producer.New(producer.Config{Brokers: c.Addrs()})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	defer p.Close(ctx)
	md, err := p.Metadata(ctx, "events")
	if err != nil {
		panic(err)
	}
	fmt.Println(len(md.Brokers), "brokers")
	for _, part := range md.Partitions {
		fmt.Printf("partition %d led by broker %d\n", part.ID, part.Leader)
	}
	// Output:
	// 3 brokers
	// partition 0 led by broker 1
	// partition 1 led by broker 2
	// partition 2 led by broker 3
}
