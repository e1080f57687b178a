// Package otelmerlin traces a merlin Producer's messages with
// OpenTelemetry, as franz-go's kotel does: each message gets a span of kind
// producer, named "<topic> publish", from the moment a produce call is
// given it to its acknowledgement or failure, a child of the span in the
// produce call's context; and the span's W3C trace context is written into
// the message's headers (traceparent, and tracestate when there is one),
// so that the consumer's trace continues from it.
//
//	p, err := producer.New(producer.Config{
//		Brokers: brokers,
//		Hooks:   []producer.Hook{otelmerlin.NewTracer()},
//	})
//	...
//	ctx, span := tracer.Start(ctx, "checkout")
//	p.ProduceSync(ctx, "orders", msg) // "orders publish", child of "checkout"
//
// Spans carry the messaging semantic conventions: messaging.system
// "kafka", messaging.operation.type "send", messaging.operation.name
// "publish", messaging.destination.name (the topic),
// messaging.message.body.size, messaging.kafka.message.key (when the key
// is UTF-8), messaging.kafka.message.tombstone (a nil value); once the
// outcome is known, messaging.destination.partition.id and
// messaging.kafka.offset, or an error status, the error recorded as an
// event, and error.type (a producer.ErrorClass: "timeout", "broker", ...).
//
// It is opt-in, through producer.Config.Hooks, and its own package, so that
// programs without OpenTelemetry do not import it.
package otelmerlin

import (
	"context"
	"slices"
	"strconv"
	"unicode/utf8"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/merlinkafka/merlin/producer"
)

// ScopeName is the instrumentation scope of the Tracer's spans.
const ScopeName = "github.com/merlinkafka/merlin/producer/otelmerlin"

// Tracer is a producer hook (producer.ProduceHook and
// producer.DeliveryHook) that traces each message. Put it in
// producer.Config.Hooks; one Tracer may serve several producers. It is
// safe for concurrent use and holds nothing to release: a message's span
// ends with its outcome, which the producer guarantees, Close included.
type Tracer struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

// Option configures NewTracer.
type Option func(*options)

type options struct {
	tp   trace.TracerProvider
	prop propagation.TextMapPropagator
}

// WithTracerProvider sets where spans go. Default the global one,
// otel.GetTracerProvider().
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tp = tp }
}

// WithPropagator sets how a span's context is written into headers.
// Default propagation.TraceContext{}: W3C traceparent and tracestate
// whatever the global propagator is (which is a no-op until a program sets
// one). Pass otel.GetTextMapPropagator() to follow the global setting, or
// a composite with propagation.Baggage{} to send baggage too.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(o *options) { o.prop = p }
}

// NewTracer returns a Tracer.
func NewTracer(opts ...Option) *Tracer {
	o := options{prop: propagation.TraceContext{}}
	for _, opt := range opts {
		opt(&o)
	}
	if o.tp == nil {
		o.tp = otel.GetTracerProvider()
	}
	return &Tracer{tracer: o.tp.Tracer(ScopeName), prop: o.prop}
}

// spanKey keeps the message's span in the context OnProduce returns, so
// that OnDelivered ends only spans OnProduce started (a message found in a
// spill directory by a new producer has none; nor has one whose span
// another hook's context hides).
type spanKey struct{}

// OnProduce starts the message's span as a child of ctx (the produce
// call's context), writes its trace context into the message's headers,
// replacing any it had, and returns a context with the span, which the
// producer hands to OnDelivered.
func (t *Tracer) OnProduce(ctx context.Context, topic string, m *producer.Message) context.Context {
	attrs := []attribute.KeyValue{
		semconv.MessagingSystemKafka,
		semconv.MessagingOperationTypeSend,
		semconv.MessagingOperationName("publish"),
		semconv.MessagingDestinationName(topic),
		semconv.MessagingMessageBodySize(len(m.Value)),
	}
	if m.Key != nil && utf8.Valid(m.Key) {
		attrs = append(attrs, semconv.MessagingKafkaMessageKey(string(m.Key)))
	}
	if m.Value == nil {
		attrs = append(attrs, semconv.MessagingKafkaMessageTombstone(true))
	}
	ctx, span := t.tracer.Start(ctx, topic+" publish", trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(attrs...))
	t.prop.Inject(ctx, Carrier{M: m})
	return context.WithValue(ctx, spanKey{}, span)
}

// OnDelivered ends the message's span, from ctx, with its outcome.
func (t *Tracer) OnDelivered(ctx context.Context, _ producer.Message, r producer.Result) {
	span, ok := ctx.Value(spanKey{}).(trace.Span)
	if !ok {
		return
	}
	if r.Partition >= 0 {
		span.SetAttributes(semconv.MessagingDestinationPartitionID(strconv.Itoa(int(r.Partition))))
	}
	if r.Err != nil {
		span.RecordError(r.Err)
		span.SetStatus(codes.Error, r.Err.Error())
		span.SetAttributes(semconv.ErrorTypeKey.String(producer.ErrorClassOf(r.Err).String()))
	} else if r.Offset >= 0 {
		span.SetAttributes(semconv.MessagingKafkaOffset(int(r.Offset)))
	}
	span.End()
}

// Carrier adapts a message's headers to propagation.TextMapCarrier, to
// inject or extract a trace context by hand.
type Carrier struct{ M *producer.Message }

// Get returns the value of the first header named key, "" if none.
func (c Carrier) Get(key string) string {
	for _, h := range c.M.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// Set sets the header key to value: the first one of that name is
// replaced, in a new slice (the old one may be the producer's caller's),
// or one is appended.
func (c Carrier) Set(key, value string) {
	for i, h := range c.M.Headers {
		if h.Key == key {
			hs := slices.Clone(c.M.Headers)
			hs[i].Value = []byte(value)
			c.M.Headers = hs
			return
		}
	}
	c.M.Headers = append(c.M.Headers, producer.Header{Key: key, Value: []byte(value)})
}

// Keys returns the headers' names.
func (c Carrier) Keys() []string {
	keys := make([]string, len(c.M.Headers))
	for i, h := range c.M.Headers {
		keys[i] = h.Key
	}
	return keys
}

var (
	_ producer.ProduceHook       = (*Tracer)(nil)
	_ producer.DeliveryHook      = (*Tracer)(nil)
	_ propagation.TextMapCarrier = Carrier{}
)
