package callbacks

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultQueueSize is the number of events a Bus queues per handler when
// BusOptions.QueueSize is not set.
const DefaultQueueSize = 4096

// BusOptions configures a Bus.
type BusOptions struct {
	// QueueSize is the number of events queued per handler before further
	// events for that handler are dropped. Zero or less means
	// DefaultQueueSize. An Event is 128 bytes on 64-bit platforms, so the
	// default costs 0.5 MiB per handler.
	QueueSize int
}

func (o BusOptions) withDefaults() BusOptions {
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	return o
}

// Bus fans events out to handlers. Emit never blocks and never runs a
// handler on the caller's goroutine: each handler has its own bounded queue
// and goroutine; when a queue is full the event is dropped for that handler
// and counted (Dropped). Close drains what is queued, up to its context, and
// stops the goroutines.
//
// A nil *Bus is valid: Emit does nothing, Dropped is 0 and Close returns nil,
// so code can emit unconditionally. All methods are safe for concurrent use.
type Bus struct {
	size int

	// mu guards closed and sinks. Emit holds it shared only for its
	// non-blocking sends, so that Close can close the queues without a
	// send racing on a closed channel.
	mu     sync.RWMutex
	closed bool
	sinks  []*sink

	dropped   atomic.Uint64
	totals    [kindEnd]kindTotals
	abandon   atomic.Bool // Close ran out of time: skip what is left
	running   sync.WaitGroup
	closeOnce sync.Once
	done      chan struct{} // closed when every handler goroutine has ended
}

type sink struct {
	h     Handler
	queue chan Event
}

// NewBus returns a Bus delivering to handlers (nil handlers are skipped).
func NewBus(opts BusOptions, handlers ...Handler) *Bus {
	b := &Bus{size: opts.withDefaults().QueueSize, done: make(chan struct{})}
	for _, h := range handlers {
		b.Add(h)
	}
	return b
}

// Add registers another handler; it receives the events emitted after Add
// returns. Add does nothing for a nil handler, a nil Bus, or after Close.
func (b *Bus) Add(h Handler) {
	if b == nil || h == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	s := &sink{h: h, queue: make(chan Event, b.size)}
	b.sinks = append(b.sinks, s)
	b.running.Add(1)
	go b.run(s)
}

func (b *Bus) run(s *sink) {
	defer b.running.Done()
	for e := range s.queue {
		if b.abandon.Load() {
			b.dropped.Add(1)
			continue
		}
		s.h.Handle(e)
	}
}

// Emit queues e for every handler. It sets e.Time to the current time when
// it is zero. Emit never blocks: a handler whose queue is full loses the
// event, and Dropped counts it. After Close every emitted event is dropped
// and counted once per handler. Emit on a nil Bus does nothing.
func (b *Bus) Emit(e Event) {
	if b == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	b.count(&e)
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		b.dropped.Add(uint64(len(b.sinks)))
		return
	}
	for _, s := range b.sinks {
		select {
		case s.queue <- e:
		default:
			b.dropped.Add(1)
		}
	}
}

// Dropped returns the number of (event, handler) deliveries that did not
// happen: events emitted while the handler's queue was full, emitted after
// Close, or left in a queue when Close ran out of time.
func (b *Bus) Dropped() uint64 {
	if b == nil {
		return 0
	}
	return b.dropped.Load()
}

// Close stops the Bus: later Emits are dropped, and the handlers are given
// what is already queued. Close returns nil once every handler has finished
// its queue and its goroutine has ended. If ctx ends first, Close returns
// ctx.Err() and the handler goroutines drop the rest of their queues (counted
// in Dropped) and end as soon as their current Handle call returns; a Handle
// call that never returns keeps its goroutine forever.
//
// Close may be called more than once and concurrently; each call waits as
// described. It does not close the handlers.
func (b *Bus) Close(ctx context.Context) error {
	if b == nil {
		return nil
	}
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		for _, s := range b.sinks {
			close(s.queue)
		}
		b.mu.Unlock()
		go func() {
			b.running.Wait()
			close(b.done)
		}()
	})
	select {
	case <-b.done:
		return nil
	case <-ctx.Done():
		select {
		case <-b.done:
			return nil
		default:
		}
		b.abandon.Store(true)
		return ctx.Err()
	}
}
