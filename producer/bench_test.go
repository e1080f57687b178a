package producer

import (
	"context"
	"testing"
	"time"
)

// BenchmarkProduceAsyncBatched measures handing one ready message to the
// producer: picking, buffering and (in the background) batching, encoding
// and sending to an in-process kfake broker. The timer includes the final
// Flush, so the figure is end to end, not just the enqueue.
func BenchmarkProduceAsyncBatched(b *testing.B) {
	for _, tc := range []struct {
		name string
		key  []byte
	}{{"unkeyed", nil}, {"keyed", []byte("user-42")}} {
		b.Run(tc.name, func(b *testing.B) {
			c := newKfakeB(b, 4, "bench")
			p, err := New(Config{Brokers: c.ListenAddrs(), Acks: AcksLeader, Logger: quietLogger()})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close(context.Background())
			ctx := context.Background()
			if _, err := p.Metadata(ctx, "bench"); err != nil {
				b.Fatal(err)
			}
			m := Message{Key: tc.key, Value: make([]byte, 100)}
			b.ReportAllocs()
			b.SetBytes(100)
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if err := p.ProduceAsyncBatched(ctx, "bench", m); err != nil {
					b.Fatal(err)
				}
			}
			if err := p.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

// BenchmarkProduceAsyncBatchedParallel is the same from many goroutines.
func BenchmarkProduceAsyncBatchedParallel(b *testing.B) {
	c := newKfakeB(b, 4, "bench")
	p, err := New(Config{Brokers: c.ListenAddrs(), Acks: AcksLeader, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(context.Background())
	ctx := context.Background()
	if _, err := p.Metadata(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(100)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		m := Message{Value: make([]byte, 100)}
		for pb.Next() {
			if err := p.ProduceAsyncBatched(ctx, "bench", m); err != nil {
				b.Error(err)
				return
			}
		}
	})
	if err := p.Flush(ctx); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkProduceToChildBroker is the same as BenchmarkProduceAsyncBatched
// with the broker in another process, so that a CPU profile of this one
// shows only the producer.
func BenchmarkProduceToChildBroker(b *testing.B) {
	addr := startChildBroker(b, 0)
	p, err := New(Config{Brokers: []string{addr}, Acks: AcksLeader, DisableIdempotence: true, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(context.Background())
	ctx := context.Background()
	if _, err := p.Metadata(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	m := Message{Value: make([]byte, 100)}
	b.ReportAllocs()
	b.SetBytes(100)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if err := p.ProduceAsyncBatched(ctx, "bench", m); err != nil {
			b.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}
