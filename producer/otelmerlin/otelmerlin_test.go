package otelmerlin_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/merlinkafka/merlin/mockbroker"
	"github.com/merlinkafka/merlin/producer"
	"github.com/merlinkafka/merlin/producer/otelmerlin"
)

type fixture struct {
	c   *mockbroker.Cluster
	p   *producer.Producer
	sr  *tracetest.SpanRecorder
	tp  *sdktrace.TracerProvider
	ctx context.Context
}

func setup(t *testing.T, cfg producer.Config) *fixture {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	c, err := mockbroker.NewCluster(mockbroker.Topic("orders", 1), mockbroker.Logger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	cfg.Brokers = c.Addrs()
	cfg.Logger = quiet
	cfg.Hooks = append(cfg.Hooks, otelmerlin.NewTracer(otelmerlin.WithTracerProvider(tp)))
	p, err := producer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	t.Cleanup(func() { _ = p.Close(ctx) })
	return &fixture{c: c, p: p, sr: sr, tp: tp, ctx: ctx}
}

func attr(s sdktrace.ReadOnlySpan, key attribute.Key) (attribute.Value, bool) {
	for _, kv := range s.Attributes() {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// Three messages acknowledged, one the broker refuses, one the call
// refuses: five spans, each ended once, children of the caller's span,
// with the outcome as status and attributes; the stored records carry a
// traceparent that parses back to the caller's trace and the message's
// span.
func TestTracerSpansAndHeaders(t *testing.T) {
	f := setup(t, producer.Config{MaxBytes: 1000})
	ctx, parent := f.tp.Tracer("test").Start(f.ctx, "checkout")

	stale := []producer.Header{{Key: "traceparent", Value: []byte("00-0123456789abcdef0123456789abcdef-0123456789abcdef-01")}}
	msgs := []producer.Message{
		{Key: []byte("alice"), Value: []byte("one"), Headers: stale},
		{Value: []byte("two")},
		{Value: nil}, // a tombstone
	}
	res, err := f.p.ProduceSync(ctx, "orders", msgs...)
	if err != nil {
		t.Fatal(err)
	}
	if string(msgs[0].Headers[0].Value) != string(stale[0].Value) || len(msgs[0].Headers) != 1 {
		t.Fatalf("the caller's headers changed: %+v", msgs[0].Headers)
	}
	f.c.InjectError(mockbroker.APIProduce, "orders", 0, kerr.InvalidRecord.Code, 1)
	if _, err := f.p.ProduceSync(ctx, "orders", producer.Message{Value: []byte("refused")}); err == nil {
		t.Fatal("a refused message was acknowledged")
	}
	if err := f.p.ProduceAsync(ctx, "orders", producer.Message{Value: make([]byte, 2000)}); !errors.Is(err, producer.ErrMessageTooLarge) {
		t.Fatalf("a message over MaxBytes: %v", err)
	}
	if err := f.p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	parent.End()

	var spans []sdktrace.ReadOnlySpan
	seen := map[trace.SpanID]bool{}
	for _, s := range f.sr.Ended() {
		if s.Name() == "checkout" {
			continue
		}
		if seen[s.SpanContext().SpanID()] {
			t.Errorf("span %s ended twice", s.SpanContext().SpanID())
		}
		seen[s.SpanContext().SpanID()] = true
		spans = append(spans, s)
	}
	if len(spans) != 5 || len(f.sr.Started()) != 6 {
		t.Fatalf("%d message spans ended, %d spans started; want 5 and 6", len(spans), len(f.sr.Started()))
	}
	for _, s := range spans {
		if s.Name() != "orders publish" || s.SpanKind() != trace.SpanKindProducer {
			t.Errorf("span %q kind %v", s.Name(), s.SpanKind())
		}
		if s.Parent().SpanID() != parent.SpanContext().SpanID() || s.SpanContext().TraceID() != parent.SpanContext().TraceID() {
			t.Errorf("span %s is not a child of the caller's", s.SpanContext().SpanID())
		}
		if v, _ := attr(s, "messaging.system"); v.AsString() != "kafka" {
			t.Errorf("messaging.system %q", v.AsString())
		}
		if v, _ := attr(s, "messaging.destination.name"); v.AsString() != "orders" {
			t.Errorf("messaging.destination.name %q", v.AsString())
		}
	}

	// The acknowledged ones, in order, against what the broker stored.
	recs := f.c.Records("orders", 0)
	if len(recs) != 3 {
		t.Fatalf("%d records stored", len(recs))
	}
	for i, s := range spans[:3] {
		if s.Status().Code == codes.Error {
			t.Errorf("message %d: status %v", i, s.Status())
		}
		if v, _ := attr(s, "messaging.kafka.offset"); v.AsInt64() != res[i].Offset {
			t.Errorf("message %d: offset attribute %v, want %d", i, v.AsInt64(), res[i].Offset)
		}
		if v, _ := attr(s, "messaging.destination.partition.id"); v.AsString() != "0" {
			t.Errorf("message %d: partition attribute %q", i, v.AsString())
		}
		carrier := propagation.MapCarrier{}
		for _, h := range recs[i].Headers {
			carrier[h.Key] = string(h.Value)
		}
		sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), carrier))
		if sc.TraceID() != parent.SpanContext().TraceID() || sc.SpanID() != s.SpanContext().SpanID() {
			t.Errorf("record %d: traceparent %q is not of span %s in trace %s", i, carrier["traceparent"], s.SpanContext().SpanID(), parent.SpanContext().TraceID())
		}
		if n := len(recs[i].Headers); i == 0 && n != 1 {
			t.Errorf("record 0 has %d headers, want its traceparent replaced, not added", n)
		}
	}
	if v, ok := attr(spans[0], "messaging.kafka.message.key"); !ok || v.AsString() != "alice" {
		t.Errorf("key attribute %v", v.AsString())
	}
	if v, ok := attr(spans[2], "messaging.kafka.message.tombstone"); !ok || !v.AsBool() {
		t.Error("the tombstone's span does not say so")
	}
	for i, want := range []string{"broker", "too_large"} {
		s := spans[3+i]
		if s.Status().Code != codes.Error {
			t.Errorf("failed message %d: status %v", i, s.Status())
		}
		if v, _ := attr(s, "error.type"); v.AsString() != want {
			t.Errorf("failed message %d: error.type %q, want %q", i, v.AsString(), want)
		}
		if len(s.Events()) != 1 || s.Events()[0].Name != "exception" {
			t.Errorf("failed message %d: events %v, want the error recorded", i, s.Events())
		}
	}
	if _, ok := attr(spans[4], "messaging.destination.partition.id"); ok {
		t.Error("a message the call refused has a partition")
	}
}

// Close ends the span of every message it could not deliver.
func TestTracerCloseEndsSpans(t *testing.T) {
	f := setup(t, producer.Config{RetryBackoffMax: 10 * time.Millisecond})
	if _, err := f.p.ProduceSync(f.ctx, "orders", producer.Message{Value: []byte("up")}); err != nil {
		t.Fatal(err)
	}
	if err := f.c.Pause(1); err != nil { // answers nothing
		t.Fatal(err)
	}
	defer func() { _ = f.c.Resume(1) }()
	for range 3 {
		if err := f.p.ProduceAsync(f.ctx, "orders", producer.Message{Value: []byte("stuck")}); err != nil {
			t.Fatal(err)
		}
	}
	closeCtx, cancel := context.WithTimeout(f.ctx, 200*time.Millisecond)
	defer cancel()
	if err := f.p.Close(closeCtx); err == nil {
		t.Fatal("Close delivered to a paused broker")
	}
	if n := len(f.sr.Ended()); n != 4 {
		t.Fatalf("%d spans ended, want 4", n)
	}
	for _, s := range f.sr.Ended()[1:] {
		if s.Status().Code != codes.Error {
			t.Errorf("span of an undelivered message: status %v", s.Status())
		}
		if v, _ := attr(s, "error.type"); v.AsString() != "closed" {
			t.Errorf("error.type %q, want closed", v.AsString())
		}
	}
}

func TestCarrier(t *testing.T) {
	shared := make([]producer.Header, 1, 4)
	shared[0] = producer.Header{Key: "a", Value: []byte("1")}
	m := producer.Message{Headers: shared[:1:1]}
	c := otelmerlin.Carrier{M: &m}
	c.Set("a", "2")
	c.Set("b", "3")
	if c.Get("a") != "2" || c.Get("b") != "3" || c.Get("c") != "" || string(shared[0].Value) != "1" {
		t.Fatalf("headers %+v, original %+v", m.Headers, shared[:1])
	}
	if keys := c.Keys(); len(keys) != 2 || keys[0] != "a" || keys[1] != "b" {
		t.Fatalf("keys %v", keys)
	}
}
