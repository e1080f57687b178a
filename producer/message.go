package producer

import (
	"context"
	"sync"
	"time"
)

// Header is a record header.
type Header struct {
	Key   string
	Value []byte
}

// Message is one record to produce.
//
// The producer keeps Key, Value and Headers until the message is delivered
// or failed: do not change them after handing the message over.
type Message struct {
	Key     []byte
	Value   []byte
	Headers []Header
	// Timestamp defaults to the time the message is accepted.
	Timestamp time.Time
	// OnDelivery, if set, is called exactly once with the message's outcome:
	// acknowledged (Result.Err nil, with partition and offset) or failed.
	// It runs on the worker goroutine of the message's partition, in order
	// of the partition's messages, so it must be fast and must not call back
	// into the producer synchronously.
	OnDelivery func(Result)
}

// size is what the message counts for against byte limits: its encoded
// record size, close enough (varint lengths are bounded by 5 bytes each).
func (m *Message) size() int {
	n := 21 + len(m.Key) + len(m.Value)
	for _, h := range m.Headers {
		n += 10 + len(h.Key) + len(h.Value)
	}
	return n
}

// Result is the outcome of one message.
type Result struct {
	Topic     string
	Partition int32
	// Offset is the offset the broker assigned, or -1 when unknown (AcksNone,
	// or failed).
	Offset int64
	// Err is nil when the message was acknowledged.
	Err error
}

// Buffered says where ProduceSyncBatched put messages: a partition and how
// many messages its buffer held after they were added.
type Buffered struct {
	Partition int32
	Len       int
}

// waiter collects the results of one ProduceSync call. With hooks, every
// produce call has one, for the contexts of its messages (see Hook); it
// then collects results only for ProduceSync.
type waiter struct {
	mu      sync.Mutex
	results []Result // nil: not a ProduceSync call
	left    int
	done    chan struct{}

	ctxs []context.Context // by message index, the hooks'; nil without hooks
}

func newWaiter(n int) *waiter {
	return &waiter{results: make([]Result, n), left: n, done: make(chan struct{})}
}

func (w *waiter) complete(i int, r Result) {
	if w.results == nil {
		return
	}
	w.mu.Lock()
	w.results[i] = r
	w.left--
	last := w.left == 0
	w.mu.Unlock()
	if last {
		close(w.done)
	}
}
