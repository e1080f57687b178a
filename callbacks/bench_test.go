package callbacks

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"
)

// BenchmarkEmit measures Emit to handlers that keep up (nothing dropped
// once the queue drains) and to a handler that never returns (every event
// dropped), serially and from GOMAXPROCS goroutines.
func BenchmarkEmit(b *testing.B) {
	e := Event{Kind: Flush, Time: time.Now(), Topic: "clicks", Partition: 3, Broker: 1, Count: 100, Bytes: 10000}
	run := func(b *testing.B, bus *Bus, parallel bool, release chan struct{}) {
		b.ReportAllocs()
		if parallel {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					bus.Emit(e)
				}
			})
		} else {
			for b.Loop() {
				bus.Emit(e)
			}
		}
		b.StopTimer()
		if release != nil {
			close(release)
		}
		_ = bus.Close(context.Background())
	}
	for _, parallel := range []bool{false, true} {
		name := "serial"
		if parallel {
			name = "parallel"
		}
		b.Run("1handler/"+name, func(b *testing.B) {
			run(b, NewBus(BusOptions{}, HandlerFunc(func(Event) {})), parallel, nil)
		})
		b.Run("3handlers/"+name, func(b *testing.B) {
			h := HandlerFunc(func(Event) {})
			run(b, NewBus(BusOptions{}, h, h, h), parallel, nil)
		})
		b.Run("stuck/"+name, func(b *testing.B) {
			release := make(chan struct{})
			bus := NewBus(BusOptions{QueueSize: 16}, HandlerFunc(func(Event) { <-release }))
			run(b, bus, parallel, release)
		})
	}
	b.Run("nil", func(b *testing.B) {
		b.ReportAllocs()
		var bus *Bus
		for b.Loop() {
			bus.Emit(e)
		}
	})
}

// BenchmarkStatsdHandle measures formatting one Flush event (two lines)
// into the packet buffer, sends included.
func BenchmarkStatsdHandle(b *testing.B) {
	pc, addr := listen(b)
	go func() { // drain
		buf := make([]byte, 65536)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	s, err := NewStatsd(addr, "merlin")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	e := Event{Kind: Flush, Topic: "clicks.v2", Partition: 3, Broker: 1, Count: 100, Bytes: 10000}
	b.ReportAllocs()
	for b.Loop() {
		s.Handle(e)
	}
}

func BenchmarkSlogHandle(b *testing.B) {
	h := NewSlog(slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug})))
	e := Event{Kind: Flush, Time: time.Now(), Topic: "clicks", Partition: 3, Broker: 1, Count: 100, Bytes: 10000}
	b.ReportAllocs()
	for b.Loop() {
		h.Handle(e)
	}
}
