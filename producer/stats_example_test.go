package producer_test

import (
	"context"
	"fmt"
	"time"

	"github.com/merlinkafka/merlin/producer"
)

// Stats for a log line or a status page, without a metrics library.
func ExampleProducer_Stats() {
	c := cluster()
	defer c.Close()
	p, err := producer.New(producer.Config{Brokers: c.Addrs()})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	defer p.Close(ctx)
	for i := range 100 {
		if err := p.ProduceAsyncBatched(ctx, "events", producer.Message{Value: fmt.Appendf(nil, "event %d", i)}); err != nil {
			panic(err)
		}
	}
	if err := p.Flush(ctx); err != nil { // every outcome counted
		panic(err)
	}

	s := p.Stats()
	fmt.Printf("produced %d, acknowledged %d, failed %d (timeouts %d)\n",
		s.Produced, s.Acknowledged, s.FailedTotal(), s.Failed[producer.ClassTimeout])
	workers := 0
	for _, n := range s.Workers { // by state: s.Workers[producer.StateDowntime]...
		workers += n
	}
	fmt.Printf("events: %d acknowledged; %d partition workers; %d buffered\n",
		s.Topics["events"].Acknowledged, workers, s.BufferedMessages)
	fmt.Println("p99 latency under 10s:", s.Latency.Quantile(0.99) < 10)
	// Output:
	// produced 100, acknowledged 100, failed 0 (timeouts 0)
	// events: 100 acknowledged; 3 partition workers; 0 buffered
	// p99 latency under 10s: true
}
