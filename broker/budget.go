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
// A reservation is granted when it fits in what is left, or when nothing is
// reserved (a request larger than the whole budget is read when it is
// alone). Readers reserve their buffers as they grow, so the budget can be
// spent by partly read requests that all wait for more: when every reserved
// byte belongs to a waiting reader, nothing would ever be released, and the
// waiter holding the most (the first of them on a tie) is granted its
// reservation beyond the budget, so that its request completes and frees
// its bytes. The budget is therefore exceeded only by one request's buffer
// at a time.
type byteBudget struct {
	limit int64 // <= 0: no limit

	mu          sync.Mutex
	used        int64
	waiters     map[*budgetWaiter]struct{}
	waitingHeld int64 // bytes held by the waiters
	seq         uint64
	wake        chan struct{} // closed and replaced when the state changes
}

type budgetWaiter struct {
	held int64
	seq  uint64 // arrival order, for ties
}

func newByteBudget(limit int64) *byteBudget {
	return &byteBudget{limit: limit, waiters: make(map[*budgetWaiter]struct{}), wake: make(chan struct{})}
}

// acquire reserves n bytes for a reader that already holds held bytes,
// waiting until they fit (or a rule above grants them) or ctx is done.
func (b *byteBudget) acquire(ctx context.Context, n, held int) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.roomLocked(n) {
		b.used += int64(n)
		return nil
	}
	b.seq++
	w := &budgetWaiter{held: int64(held), seq: b.seq}
	b.waiters[w] = struct{}{}
	b.waitingHeld += w.held
	b.broadcastLocked() // the others may now all be waiting
	defer func() {
		delete(b.waiters, w)
		b.waitingHeld -= w.held
		b.broadcastLocked()
	}()
	for {
		if b.roomLocked(n) || b.used <= b.waitingHeld && b.firstLocked(w) {
			b.used += int64(n)
			return nil
		}
		wake := b.wake
		b.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
		}
		b.mu.Lock()
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// roomLocked reports whether n more bytes may be reserved without waiting.
func (b *byteBudget) roomLocked(n int) bool {
	return b.limit <= 0 || b.used+int64(n) <= b.limit || b.used == 0
}

// firstLocked reports whether w holds the most of the waiters.
func (b *byteBudget) firstLocked(w *budgetWaiter) bool {
	for o := range b.waiters {
		if o.held > w.held || o.held == w.held && o.seq < w.seq {
			return false
		}
	}
	return true
}

func (b *byteBudget) broadcastLocked() {
	close(b.wake)
	b.wake = make(chan struct{})
}

// tryAcquire reserves n bytes if they fit, without waiting.
func (b *byteBudget) tryAcquire(n int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.roomLocked(n) {
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
	b.broadcastLocked()
}

// inUse returns the bytes reserved now.
func (b *byteBudget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}
