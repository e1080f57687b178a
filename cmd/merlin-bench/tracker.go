package main

import (
	"sync"
	"sync/atomic"
)

// tracker counts the outcomes a producer reports and tells when a given
// number of them has arrived. done is on the producers' hot path: two
// atomic operations unless a target is reached.
type tracker struct {
	completed atomic.Int64
	failed    atomic.Int64
	target    atomic.Int64

	mu       sync.Mutex
	reached  chan struct{}
	closed   bool
	firstErr error
}

func newTracker() *tracker {
	t := &tracker{reached: make(chan struct{})}
	t.target.Store(-1)
	return t
}

// done records one outcome.
func (t *tracker) done(err error) {
	if err != nil {
		t.failed.Add(1)
		t.mu.Lock()
		if t.firstErr == nil {
			t.firstErr = err
		}
		t.mu.Unlock()
	}
	if n := t.completed.Add(1); n == t.target.Load() {
		t.mu.Lock()
		t.closeLocked()
		t.mu.Unlock()
	}
}

func (t *tracker) closeLocked() {
	if !t.closed && t.completed.Load() >= t.target.Load() {
		close(t.reached)
		t.closed = true
	}
}

// expect returns a channel closed once n outcomes in all have arrived.
func (t *tracker) expect(n int64) <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.reached, t.closed = make(chan struct{}), false
	t.target.Store(n)
	t.closeLocked()
	return t.reached
}

// counts returns how many outcomes arrived, how many were failures, and
// the first failure.
func (t *tracker) counts() (completed, failed int64, first error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.completed.Load(), t.failed.Load(), t.firstErr
}
