package otelmerlin_test

import (
	"context"
	"fmt"
	"log"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/merlinkafka/merlin/mockbroker"
	"github.com/merlinkafka/merlin/producer"
	"github.com/merlinkafka/merlin/producer/otelmerlin"
)

// Trace each message as a child of the caller's span. Here the spans go to
// an in-memory recorder; a program would give its exporter's provider, or
// leave the option out to use the global one.
func Example() {
	cluster, err := mockbroker.NewCluster(mockbroker.Topic("orders", 1))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())

	p, err := producer.New(producer.Config{
		Brokers: cluster.Addrs(),
		Hooks:   []producer.Hook{otelmerlin.NewTracer(otelmerlin.WithTracerProvider(tp))},
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, checkout := tp.Tracer("shop").Start(context.Background(), "checkout")
	if _, err := p.ProduceSync(ctx, "orders", producer.Message{Value: []byte(`{"total":42}`)}); err != nil {
		log.Fatal(err)
	}
	checkout.End()
	if err := p.Close(context.Background()); err != nil {
		log.Fatal(err)
	}

	for _, s := range spans.Ended() {
		fmt.Printf("%s (child of the checkout: %v)\n", s.Name(), s.Parent().SpanID() == checkout.SpanContext().SpanID())
	}
	for _, h := range cluster.Records("orders", 0)[0].Headers {
		fmt.Printf("header %s: %d characters\n", h.Key, len(h.Value))
	}
	// Output:
	// orders publish (child of the checkout: true)
	// checkout (child of the checkout: false)
	// header traceparent: 55 characters
}
