// Command statsd sends the producer's events to a statsd server and logs
// them through log/slog as well.
//
//	go run ./examples/statsd -statsd 127.0.0.1:8125
//
// Without -statsd it listens on a local UDP port itself and prints the
// lines it receives.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/merlinkafka/merlin/callbacks"
	"github.com/merlinkafka/merlin/mockbroker"
	"github.com/merlinkafka/merlin/producer"
)

func main() {
	brokers := flag.String("brokers", os.Getenv("MERLIN_BROKERS"), "bootstrap brokers, comma-separated (default: $MERLIN_BROKERS, else brokers in this process)")
	addr := flag.String("statsd", "", "statsd server, host:port (default: a local listener that prints what it gets)")
	flag.Parse()
	// No Kafka given: brokers in this process, in memory.
	addrs, stop, err := mockbroker.Bootstrap(*brokers, mockbroker.DefaultPartitions(2))
	if err != nil {
		log.Fatal(err)
	}
	defer stop()

	if *addr == "" {
		ln, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			log.Fatal(err)
		}
		defer ln.Close()
		*addr = ln.LocalAddr().String()
		go func() {
			buf := make([]byte, 64<<10)
			for {
				n, _, err := ln.ReadFrom(buf)
				if err != nil {
					return
				}
				for _, line := range strings.Split(strings.TrimSpace(string(buf[:n])), "\n") {
					fmt.Println("statsd <-", line)
				}
			}
		}()
	}
	sd, err := callbacks.NewStatsd(*addr, "merlin")
	if err != nil {
		log.Fatal(err)
	}
	defer sd.Close() // after the producer's Close, which drains its event bus
	logs := callbacks.NewSlog(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))

	p, err := producer.New(producer.Config{Brokers: addrs, Handlers: []callbacks.Handler{sd, logs}})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := 0; i < 5; i++ {
		if _, err := p.ProduceSync(ctx, "metrics-demo", producer.Message{Value: []byte(fmt.Sprint(i))}); err != nil {
			log.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		log.Fatal(err)
	}
	sd.Flush()
	time.Sleep(200 * time.Millisecond) // let the local listener print
}
