// Command async produces in the batched, fire-and-forget mode and learns
// each message's fate from its delivery callback.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"sync/atomic"
	"time"

	"github.com/merlinkafka/merlin/mockbroker"
	"github.com/merlinkafka/merlin/producer"
)

func main() {
	brokers := flag.String("brokers", os.Getenv("MERLIN_BROKERS"), "bootstrap brokers, comma-separated (default: $MERLIN_BROKERS, else brokers in this process)")
	n := flag.Int("n", 100000, "messages to produce")
	flag.Parse()
	// No Kafka given: brokers in this process, in memory.
	addrs, stop, err := mockbroker.Bootstrap(*brokers, mockbroker.DefaultPartitions(4))
	if err != nil {
		log.Fatal(err)
	}
	defer stop()

	var acked, failed atomic.Int64
	p, err := producer.New(producer.Config{
		Brokers: addrs,
		// Called once per message that has no callback of its own.
		OnDelivery: func(m producer.Message, r producer.Result) {
			if r.Err != nil {
				failed.Add(1)
				return
			}
			acked.Add(1)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	start := time.Now()
	for i := 0; i < *n; i++ {
		if err := p.ProduceAsyncBatched(ctx, "clicks", producer.Message{Value: []byte(fmt.Sprintf("click %d", i))}); err != nil {
			log.Fatal(err) // not accepted: nothing was buffered for this call
		}
	}
	// Close flushes, waits, and reports anything it could not deliver.
	closeCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := p.Close(closeCtx); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d acknowledged, %d failed, in %v\n", acked.Load(), failed.Load(), time.Since(start).Round(time.Millisecond))
}
