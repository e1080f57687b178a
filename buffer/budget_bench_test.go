package buffer

import (
	"context"
	"sync"
	"testing"
)

// mutexBudget is the scheme Budget replaced, kept as the benchmark's
// baseline: one mutex around both counts, and a channel closed and made
// anew on every release, waiters or not (unless lazy: then only when a
// waiter took the channel, to tell the lock's cost from the channel's).
type mutexBudget struct {
	mu                sync.Mutex
	msgs, bytes       int
	maxMsgs, maxBytes int
	freed             chan struct{}
	lazy, taken       bool
}

func (b *mutexBudget) Reserve(ctx context.Context, msgs, bytes int) error {
	for {
		b.mu.Lock()
		if b.msgs+msgs <= b.maxMsgs && b.bytes+bytes <= b.maxBytes || b.msgs == 0 {
			b.msgs += msgs
			b.bytes += bytes
			b.mu.Unlock()
			return nil
		}
		freed := b.freed
		b.taken = true
		b.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (b *mutexBudget) Release(msgs, bytes int) {
	b.mu.Lock()
	b.msgs -= msgs
	b.bytes -= bytes
	if !b.lazy || b.taken {
		close(b.freed)
		b.freed = make(chan struct{})
		b.taken = false
	}
	b.mu.Unlock()
}

// BenchmarkBudgetReserveRelease is one Reserve and one Release of a
// message of 240 bytes (100 encoded, 140 of bookkeeping, as the producer
// counts it), from every P at once, with room to spare: the cost every
// produce call and every delivered batch pays. "mutex" is the scheme
// Budget replaced; "mutex-lazy-chan" is it without the channel made per
// release.
func BenchmarkBudgetReserveRelease(b *testing.B) {
	const msgs, bytes = 1_000_000, 64 << 20
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		bud  interface {
			Reserve(ctx context.Context, msgs, bytes int) error
			Release(msgs, bytes int)
		}
	}{
		{"mutex", &mutexBudget{maxMsgs: msgs, maxBytes: bytes, freed: make(chan struct{})}},
		{"mutex-lazy-chan", &mutexBudget{maxMsgs: msgs, maxBytes: bytes, freed: make(chan struct{}), lazy: true}},
		{"atomic", NewBudget(Limits{Messages: msgs, Bytes: bytes})},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := tc.bud.Reserve(ctx, 1, 240); err != nil {
						b.Error(err)
						return
					}
					tc.bud.Release(1, 240)
				}
			})
		})
	}
}
