// Command keyed shows that messages with the same key go to the same
// partition, the one the Java client and franz-go would choose, and stay in
// order there.
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
	addrs, stop, err := mockbroker.Bootstrap(*brokers, mockbroker.DefaultPartitions(6))
	if err != nil {
		log.Fatal(err)
	}
	defer stop()
	p, err := producer.New(producer.Config{Brokers: addrs}) // picker.Keyed() is the default
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	defer p.Close(ctx)

	for _, user := range []string{"alice", "bob", "carol"} {
		want, err := p.Pick(ctx, "events", []byte(user))
		if err != nil {
			log.Fatal(err)
		}
		var msgs []producer.Message
		for i := 0; i < 3; i++ {
			msgs = append(msgs, producer.Message{Key: []byte(user), Value: []byte(fmt.Sprintf("%s event %d", user, i))})
		}
		res, err := p.ProduceSync(ctx, "events", msgs...)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%-5s -> partition %d (picked %d), offsets %d..%d\n", user, res[0].Partition, want, res[0].Offset, res[2].Offset)
	}
}
