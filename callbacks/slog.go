package callbacks

import (
	"context"
	"log/slog"
	"time"
)

// NewSlog returns a Handler that writes one structured log record per event
// to l (slog.Default() when l is nil). The record's message is the kind's
// name ("worker_down"), its level Kind.Level, its time the event's Time, and
// its attributes those of the event's fields that are set: topic, partition
// and broker (when >= 0), count, bytes, duration (when non-zero), from, to,
// and err. Add context with l.With, for example
// l.With("component", "merlin").
func NewSlog(l *slog.Logger) Handler {
	if l == nil {
		l = slog.Default()
	}
	return slogHandler{l.Handler()}
}

type slogHandler struct{ h slog.Handler }

func (s slogHandler) Handle(e Event) {
	ctx := context.Background()
	level := e.Kind.Level()
	if !s.h.Enabled(ctx, level) {
		return
	}
	t := e.Time
	if t.IsZero() {
		t = time.Now()
	}
	r := slog.NewRecord(t, level, e.Kind.String(), 0)
	if e.Topic != "" {
		r.AddAttrs(slog.String("topic", e.Topic))
	}
	if e.Partition >= 0 {
		r.AddAttrs(slog.Int("partition", int(e.Partition)))
	}
	if e.Broker >= 0 {
		r.AddAttrs(slog.Int("broker", int(e.Broker)))
	}
	if e.Count != 0 {
		r.AddAttrs(slog.Int("count", e.Count))
	}
	if e.Bytes != 0 {
		r.AddAttrs(slog.Int("bytes", e.Bytes))
	}
	if e.Duration != 0 {
		r.AddAttrs(slog.Duration("duration", e.Duration))
	}
	if e.From != "" {
		r.AddAttrs(slog.String("from", e.From))
	}
	if e.To != "" {
		r.AddAttrs(slog.String("to", e.To))
	}
	if e.Err != nil {
		r.AddAttrs(slog.Any("err", e.Err))
	}
	_ = s.h.Handle(ctx, r)
}
