package broker

import (
	"context"
	"sync"
)

// byteBudget bounds the bytes of request buffers held across all
// connections (Kafka's queued.max.request.bytes): a reader that needs more
// room for a request waits while the budget is spent, rather than growing
// the broker's memory.
//
// A reservation is granted whenever some budget is left, even if it does not
// fit in full, so that a request larger than what is left still proceeds
// when it is alone; the budget is therefore exceeded by at most one
// reservation, which connections keep at or below maxPooled (1 MiB).
type byteBudget struct {
	limit int64 // <= 0: no limit

	mu   sync.Mutex
	used int64
	wake chan struct{} // closed and replaced when bytes are released
}

func newByteBudget(limit int64) *byteBudget {
	return &byteBudget{limit: limit, wake: make(chan struct{})}
}

// acquire reserves n bytes, waiting until some budget is left or ctx is
// done.
func (b *byteBudget) acquire(ctx context.Context, n int) error {
	for {
		b.mu.Lock()
		if b.limit <= 0 || b.used < b.limit {
			b.used += int64(n)
			b.mu.Unlock()
			return nil
		}
		wake := b.wake
		b.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// tryAcquire reserves n bytes if some budget is left, without waiting.
func (b *byteBudget) tryAcquire(n int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.limit > 0 && b.used >= b.limit {
		return false
	}
	b.used += int64(n)
	return true
}

// release returns n reserved bytes and wakes the waiters.
func (b *byteBudget) release(n int) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= int64(n)
	close(b.wake)
	b.wake = make(chan struct{})
}

// inUse returns the bytes reserved now.
func (b *byteBudget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}
