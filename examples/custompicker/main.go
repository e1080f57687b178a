// Command custompicker routes messages with a custom partition function:
// here, by the region prefix of the key, so that each region has its own
// partition whatever the rest of the key.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/merlinkafka/merlin/mockbroker"
	"github.com/merlinkafka/merlin/picker"
	"github.com/merlinkafka/merlin/producer"
)

var regions = [][]byte{[]byte("eu"), []byte("us"), []byte("ap")}

func byRegion(topic string, key []byte, n int32) int32 {
	prefix, _, _ := bytes.Cut(key, []byte("/"))
	for i, r := range regions {
		if bytes.Equal(prefix, r) {
			return int32(i) % n
		}
	}
	return n - 1 // everything else shares the last partition
}

func main() {
	brokers := flag.String("brokers", os.Getenv("MERLIN_BROKERS"), "bootstrap brokers, comma-separated (default: $MERLIN_BROKERS, else brokers in this process)")
	flag.Parse()
	// No Kafka given: brokers in this process, in memory.
	addrs, stop, err := mockbroker.Bootstrap(*brokers, mockbroker.DefaultPartitions(4))
	if err != nil {
		log.Fatal(err)
	}
	defer stop()
	p, err := producer.New(producer.Config{
		Brokers: addrs,
		// Only this topic uses the custom picker; others keep the default.
		Topics: map[string]producer.TopicConfig{"sessions": {Strategy: picker.Func(byRegion)}},
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	defer p.Close(ctx)
	for _, k := range []string{"eu/alice", "us/bob", "ap/chen", "eu/dora", "mars/zed"} {
		res, err := p.ProduceSync(ctx, "sessions", producer.Message{Key: []byte(k), Value: []byte("login")})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%-9s -> partition %d\n", k, res[0].Partition)
	}
}
