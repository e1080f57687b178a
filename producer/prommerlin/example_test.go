package prommerlin_test

import (
	"bufio"
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/merlinkafka/merlin/mockbroker"
	"github.com/merlinkafka/merlin/producer"
	"github.com/merlinkafka/merlin/producer/prommerlin"
)

// Register a producer's collector and serve it on /metrics. Here the
// brokers are in-process (mockbroker) and the scrape is a recorded request.
func Example() {
	cluster, err := mockbroker.NewCluster(mockbroker.Topic("orders", 1))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()
	p, err := producer.New(producer.Config{Brokers: cluster.Addrs()})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	defer p.Close(ctx)

	reg := prometheus.NewRegistry()
	reg.MustRegister(prommerlin.NewCollector(p))
	handler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{}) // http.Handle("/metrics", handler)

	for _, v := range []string{"one", "two", "three"} {
		if _, err := p.ProduceSync(ctx, "orders", producer.Message{Value: []byte(v)}); err != nil {
			log.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		log.Fatal(err)
	}

	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "merlin_producer_messages_") && !strings.Contains(line, "failed") {
			fmt.Println(line)
		}
	}
	// Output:
	// merlin_producer_messages_acknowledged_total{topic="orders"} 3
	// merlin_producer_messages_produced_total{topic="orders"} 3
}
