// Command sync produces messages and waits for each acknowledgement.
//
//	go run ./examples/sync                        # against an in-process broker
//	go run ./examples/sync -brokers 127.0.0.1:9092
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/merlinkafka/merlin/mockbroker"
	"github.com/merlinkafka/merlin/producer"
)

func main() {
	brokers := flag.String("brokers", os.Getenv("MERLIN_BROKERS"), "bootstrap brokers, comma-separated (default: $MERLIN_BROKERS, else brokers in this process)")
	flag.Parse()
	// No Kafka given: brokers in this process, in memory.
	addrs, stop, err := mockbroker.Bootstrap(*brokers, mockbroker.DefaultPartitions(3))
	if err != nil {
		log.Fatal(err)
	}
	defer stop()

	p, err := producer.New(producer.Config{Brokers: addrs})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	defer p.Close(ctx)

	// One message: wait for the broker's acknowledgement.
	res, err := p.ProduceSync(ctx, "orders", producer.Message{Key: []byte("order-1"), Value: []byte(`{"total":42}`)})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("order-1 stored in partition %d at offset %d\n", res[0].Partition, res[0].Offset)

	// Several at once: one Result each, in order.
	res, err = p.ProduceSync(ctx, "orders",
		producer.Message{Key: []byte("order-2"), Value: []byte(`{"total":7}`)},
		producer.Message{Key: []byte("order-3"), Value: []byte(`{"total":99}`),
			Headers: []producer.Header{{Key: "source", Value: []byte("example")}}},
	)
	if err != nil {
		log.Fatal(err)
	}
	for i, r := range res {
		fmt.Printf("message %d: partition %d offset %d\n", i, r.Partition, r.Offset)
	}
}
