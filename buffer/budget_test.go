package buffer

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testCtx is a context that ends well before the test binary's timeout,
// so that a lost wakeup fails the test with a message instead of hanging.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newTestBudget(msgs, bytes int, policy FullPolicy) *Budget {
	return NewBudget(Limits{Messages: msgs, Bytes: bytes, Policy: policy})
}

func wantHeld(t *testing.T, b *Budget, msgs, bytes int) {
	t.Helper()
	if m, by := b.Held(); m != msgs || by != bytes {
		t.Fatalf("held %d messages, %d bytes; want %d, %d", m, by, msgs, bytes)
	}
}

// waitWaiters waits until n calls wait in b (no timing: it yields until
// they do, or the test's context ends).
func waitWaiters(ctx context.Context, t *testing.T, b *Budget, n int64) {
	t.Helper()
	for b.waiters.Load() != n {
		if ctx.Err() != nil {
			t.Fatalf("%d waiters, want %d", b.waiters.Load(), n)
		}
		runtime.Gosched()
	}
}

// waitingReserve starts b.Reserve(ctx, messages, bytes) in a goroutine and
// returns the channel of its result once it waits for room, the budget's
// only waiting call.
func waitingReserve(ctx context.Context, t *testing.T, b *Budget, messages, bytes int) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- b.Reserve(ctx, messages, bytes) }()
	waitWaiters(ctx, t, b, 1)
	return done
}

func TestBudgetBounds(t *testing.T) {
	ctx := testCtx(t)
	b := newTestBudget(3, 100, Reject)
	if err := b.Reserve(ctx, 2, 50); err != nil {
		t.Fatal(err)
	}
	if err := b.Reserve(ctx, 2, 10); err != ErrFull {
		t.Fatalf("over the count: %v", err)
	}
	if err := b.Reserve(ctx, 1, 51); err != ErrFull {
		t.Fatalf("over the bytes: %v", err)
	}
	wantHeld(t, b, 2, 50) // refused calls took nothing
	if err := b.Reserve(ctx, 1, 50); err != nil {
		t.Fatalf("exactly full: %v", err)
	}
	wantHeld(t, b, 3, 100)
	b.Release(0, 30) // bytes alone, the messages still held
	if err := b.Reserve(ctx, 1, 1); err != ErrFull {
		t.Fatalf("count full: %v", err)
	}
	b.Release(1, 0)
	if err := b.Reserve(ctx, 1, 30); err != nil {
		t.Fatal(err)
	}
	b.Release(3, 100)
	wantHeld(t, b, 0, 0)
	if m, by := b.Bounds(); m != 3 || by != 100 {
		t.Fatalf("limits %d, %d", m, by)
	}
}

// One call larger than the whole budget goes through when it is empty,
// alone.
func TestBudgetOversizedAlone(t *testing.T) {
	ctx := testCtx(t)
	for _, tc := range []struct {
		name        string
		msgs, bytes int
	}{{"count", 5, 10}, {"bytes", 1, 500}, {"both", 9, 900}} {
		t.Run(tc.name, func(t *testing.T) {
			b := newTestBudget(3, 100, Reject)
			if err := b.Reserve(ctx, 1, 1); err != nil {
				t.Fatal(err)
			}
			if err := b.Reserve(ctx, tc.msgs, tc.bytes); err != ErrFull {
				t.Fatalf("oversized, budget not empty: %v", err)
			}
			b.Release(1, 1)
			if err := b.Reserve(ctx, tc.msgs, tc.bytes); err != nil {
				t.Fatalf("oversized, budget empty: %v", err)
			}
			wantHeld(t, b, tc.msgs, tc.bytes)
			if err := b.Reserve(ctx, 1, 1); err != ErrFull {
				t.Fatalf("beside an oversized call: %v", err)
			}
			if err := b.Reserve(ctx, tc.msgs, tc.bytes); err != ErrFull {
				t.Fatalf("second oversized call: %v", err)
			}
			b.Release(tc.msgs, tc.bytes)
			wantHeld(t, b, 0, 0)
		})
	}
}

func TestBudgetBlockWaitsForRoom(t *testing.T) {
	ctx := testCtx(t)
	b := newTestBudget(2, 100, Block)
	if err := b.Reserve(ctx, 2, 20); err != nil {
		t.Fatal(err)
	}
	done := waitingReserve(ctx, t, b, 1, 10)
	select {
	case err := <-done:
		t.Fatalf("returned with no room: %v", err)
	default:
	}
	b.Release(1, 10)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	wantHeld(t, b, 2, 20)
	if n := b.waiters.Load(); n != 0 {
		t.Fatalf("%d waiters left", n)
	}
}

func TestBudgetContextEnds(t *testing.T) {
	for _, policy := range []FullPolicy{Block, DropOldest} {
		t.Run(policy.String(), func(t *testing.T) {
			b := newTestBudget(1, 100, policy)
			if err := b.Reserve(testCtx(t), 1, 10); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(testCtx(t))
			done := waitingReserve(ctx, t, b, 1, 10)
			cancel()
			err := <-done
			if !errors.Is(err, ErrFull) || !errors.Is(err, context.Canceled) {
				t.Fatalf("got %v, want ErrFull and context.Canceled", err)
			}
			wantHeld(t, b, 1, 10)
			if n, s := b.waiters.Load(), b.ShedRequest().Load(); n != 0 || s != 0 {
				t.Fatalf("after the call: %d waiters, shed request %d", n, s)
			}
		})
	}
}

func TestBudgetClose(t *testing.T) {
	ctx := testCtx(t)
	b := newTestBudget(1, 100, Block)
	if err := b.Reserve(ctx, 1, 10); err != nil {
		t.Fatal(err)
	}
	done := waitingReserve(ctx, t, b, 1, 10)
	b.Close()
	b.Close() // twice is fine
	if err := <-done; err != ErrClosed {
		t.Fatalf("waiting call on Close: %v", err)
	}
	if err := b.Reserve(ctx, 1, 10); err != ErrClosed {
		t.Fatalf("closed and full: %v", err)
	}
	b.Release(1, 10)
	if err := b.Reserve(ctx, 1, 10); err != nil {
		t.Fatalf("closed, with room: %v", err)
	}
}

// DropOldest sets the shed request, calls Shed, and withdraws the request
// when it gets room.
func TestBudgetDropOldest(t *testing.T) {
	ctx := testCtx(t)
	sheds := make(chan struct{}, 100)
	b := NewBudget(Limits{Messages: 4, Bytes: 1000, Policy: DropOldest, Shed: func() { sheds <- struct{}{} }})
	if err := b.Reserve(ctx, 4, 40); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Reserve(ctx, 2, 20) }()
	<-sheds
	req := b.ShedRequest()
	if n := req.Load(); n != 2 {
		t.Fatalf("shed request %d, want 2", n)
	}
	// A holder sheds one, as the producer's workers do.
	if !req.CompareAndSwap(2, 1) {
		t.Fatal("request changed")
	}
	b.Release(1, 10)
	// Still short: asked anew.
	<-sheds
	if n := req.Load(); n != 1 {
		t.Fatalf("shed request %d after one shed, want 1", n)
	}
	req.CompareAndSwap(1, 0)
	b.Release(1, 10)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := req.Load(); n != 0 {
		t.Fatalf("shed request %d after the call, want 0", n)
	}
	wantHeld(t, b, 4, 40)
}

// shedNeeded counts by bytes too, at the average held size.
func TestBudgetShedNeeded(t *testing.T) {
	b := newTestBudget(100, 1000, DropOldest)
	b.Take(10, 900) // 90 bytes each
	if n := b.shedNeeded(1, 250); n != 2 {
		t.Fatalf("150 bytes over at 90 a message: shed %d, want 2", n)
	}
	if n := b.shedNeeded(1, 50); n != 1 {
		t.Fatalf("fits: shed %d, want at least 1", n)
	}
	b.Take(95, 0)
	if n := b.shedNeeded(3, 0); n != 8 {
		t.Fatalf("105+3 of 100 messages: shed %d, want 8", n)
	}
}

// Take counts beyond the bounds; Reserve then waits for all of it.
func TestBudgetTake(t *testing.T) {
	ctx := testCtx(t)
	b := newTestBudget(2, 100, Reject)
	b.Take(5, 0)
	wantHeld(t, b, 5, 0)
	if err := b.Reserve(ctx, 1, 1); err != ErrFull {
		t.Fatalf("over by Take: %v", err)
	}
	b.Release(4, 0)
	if err := b.Reserve(ctx, 1, 1); err != nil {
		t.Fatal(err)
	}
}

func TestBudgetWaitEmpty(t *testing.T) {
	ctx := testCtx(t)
	b := newTestBudget(10, 100, Block)
	if err := b.WaitEmpty(ctx, func() { t.Error("poked while empty") }); err != nil {
		t.Fatal(err)
	}
	if err := b.Reserve(ctx, 2, 20); err != nil {
		t.Fatal(err)
	}
	var pokes atomic.Int32
	done := make(chan error, 1)
	go func() { done <- b.WaitEmpty(ctx, func() { pokes.Add(1) }) }()
	waitWaiters(ctx, t, b, 1)
	b.Release(1, 10)
	b.Release(1, 10)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if pokes.Load() == 0 {
		t.Fatal("never poked")
	}
	// Its context ends first.
	b.Take(1, 0)
	short, cancel := context.WithCancel(ctx)
	go func() { done <- b.WaitEmpty(short, nil) }()
	waitWaiters(ctx, t, b, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

// Many goroutines reserve and release against small bounds; what they hold
// together (kept in a model under a lock, updated only while each holds
// its room) never exceeds the bounds, and an oversized call never holds
// beside another.
func TestBudgetConcurrentBounds(t *testing.T) {
	for _, policy := range []FullPolicy{Block, Reject} {
		t.Run(policy.String(), func(t *testing.T) {
			const maxMsgs, maxBytes = 8, 800
			ctx := testCtx(t)
			b := newTestBudget(maxMsgs, maxBytes, policy)
			var (
				mu                   sync.Mutex
				msgs, bytes, holders int
				oversized            int
				granted, refused     atomic.Int64
				wg                   sync.WaitGroup
			)
			check := func() {
				if oversized > 0 && holders != 1 {
					t.Errorf("an oversized call holds beside %d others", holders-1)
				}
				if oversized == 0 && (msgs > maxMsgs || bytes > maxBytes) {
					t.Errorf("held %d messages, %d bytes: over %d, %d", msgs, bytes, maxMsgs, maxBytes)
				}
			}
			for g := range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(g), 1))
					for range 2000 {
						m, by := 1+rng.IntN(3), 1+rng.IntN(300)
						big := rng.IntN(50) == 0
						if big {
							// Over the count or over the bytes.
							m, by = maxMsgs+1, 10
							if rng.IntN(2) == 0 {
								m, by = 1, maxBytes*2
							}
						}
						if err := b.Reserve(ctx, m, by); err != nil {
							if err != ErrFull {
								t.Error(err)
								return
							}
							refused.Add(1)
							runtime.Gosched()
							continue
						}
						granted.Add(1)
						mu.Lock()
						msgs, bytes, holders = msgs+m, bytes+by, holders+1
						if big {
							oversized++
						}
						check()
						mu.Unlock()
						runtime.Gosched()
						mu.Lock()
						msgs, bytes, holders = msgs-m, bytes-by, holders-1
						if big {
							oversized--
						}
						mu.Unlock()
						// Give back in two steps sometimes, bytes first, as
						// the producer does when it packs.
						if rng.IntN(2) == 0 {
							b.Release(0, by/2)
							b.Release(m, by-by/2)
						} else {
							b.Release(m, by)
						}
					}
				}()
			}
			wg.Wait()
			wantHeld(t, b, 0, 0)
			t.Logf("%d granted, %d refused", granted.Load(), refused.Load())
			if n := b.waiters.Load(); n != 0 {
				t.Fatalf("%d waiters left", n)
			}
		})
	}
}

// No waiter is lost: goroutines pass a budget of one message around, each
// blocking until another releases it. A Release that missed a waiter
// would leave it blocked for good (the test's context then fails it).
func TestBudgetNoLostWaiter(t *testing.T) {
	ctx := testCtx(t)
	b := newTestBudget(1, 1<<20, Block)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3000 {
				if err := b.Reserve(ctx, 1, 10); err != nil {
					t.Error(err)
					return
				}
				b.Release(1, 10)
			}
		}()
	}
	// Flush-like waiters alongside.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 500 {
			if err := b.WaitEmpty(ctx, nil); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	wg.Wait()
	wantHeld(t, b, 0, 0)
}

// Every waiter blocked when room frees is woken: n calls wait on a full
// budget; freeing room for all of them at once lets all through.
func TestBudgetWakesEveryWaiter(t *testing.T) {
	ctx := testCtx(t)
	const n = 8
	b := newTestBudget(n, 1<<20, Block)
	if err := b.Reserve(ctx, n, n); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, n)
	for range n {
		go func() { errs <- b.Reserve(ctx, 1, 1) }()
	}
	waitWaiters(ctx, t, b, n)
	b.Release(n, n)
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	wantHeld(t, b, n, n)
}

// A call refused on a full budget does not wake the waiting calls: they
// would try, be refused and wake each other in turn for as long as it is
// full.
func TestBudgetRefusalWakesNobody(t *testing.T) {
	ctx := testCtx(t)
	b := newTestBudget(10, 100, Reject)
	if err := b.Reserve(ctx, 1, 100); err != nil {
		t.Fatal(err)
	}
	b.waiters.Add(1) // as a waiting call
	freed := b.freedChan()
	for _, c := range []struct{ msgs, bytes int }{{1, 1}, {10, 1}, {1, 200}} {
		if err := b.Reserve(ctx, c.msgs, c.bytes); err != ErrFull {
			t.Fatalf("%+v: %v", c, err)
		}
	}
	select {
	case <-freed:
		t.Fatal("a refused call woke the waiters")
	default:
	}
	b.Release(1, 100)
	select {
	case <-freed:
	default:
		t.Fatal("a Release did not wake the waiters")
	}
	b.waiters.Add(-1)
}

func TestNewBudgetPanics(t *testing.T) {
	for _, l := range []Limits{{Messages: 0, Bytes: 1}, {Messages: 1, Bytes: 0}, {Messages: 1, Bytes: 1, Policy: 7}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewBudget(%+v) did not panic", l)
				}
			}()
			NewBudget(l)
		}()
	}
}

func TestFullPolicyString(t *testing.T) {
	for p, want := range map[FullPolicy]string{Block: "block", Reject: "reject", DropOldest: "drop-oldest", 9: "policy(9)"} {
		if got := p.String(); got != want {
			t.Errorf("%d: %q, want %q", p, got, want)
		}
	}
}
