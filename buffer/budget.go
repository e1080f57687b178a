package buffer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// ErrFull is returned by Budget.Reserve when there is no room: at once
// under Reject, wrapped with the context's error when a waiting call's
// context ends.
var ErrFull = errors.New("buffer: full")

// ErrClosed is returned by Budget.Reserve when the budget is closed while
// the call waits for room.
var ErrClosed = errors.New("buffer: closed")

// FullPolicy says what Budget.Reserve does when the budget has no room for
// a call.
type FullPolicy int8

const (
	// Block waits until there is room, the call's context ends (ErrFull
	// wrapping the context's error) or the budget is closed (ErrClosed).
	Block FullPolicy = iota
	// Reject returns ErrFull at once.
	Reject
	// DropOldest asks the holders to give up their oldest messages (see
	// Budget.ShedRequest and Limits.Shed), and waits as under Block.
	DropOldest
)

func (p FullPolicy) String() string {
	switch p {
	case Block:
		return "block"
	case Reject:
		return "reject"
	case DropOldest:
		return "drop-oldest"
	}
	return fmt.Sprintf("policy(%d)", int8(p))
}

// Limits configure a Budget.
type Limits struct {
	// Messages and Bytes bound what the budget holds. Both must be
	// positive.
	Messages int
	Bytes    int
	// Policy is what Reserve does when a call does not fit.
	Policy FullPolicy
	// Shed, under DropOldest, is called each time a waiting Reserve has
	// set Budget.ShedRequest: it should wake whatever sheds messages. It
	// must not block and must not call Reserve.
	Shed func()
	// Full, if set, is called when a Reserve starts waiting for room and
	// no other call was waiting: it should make what holds the room give
	// it back sooner (a producer sends what it has batched at once rather
	// than when its batches would fill or their linger pass). It must not
	// block and must not call Reserve.
	Full func()
}

// Budget bounds the messages and bytes a producer holds. Reserve takes
// room (as the policy says when there is none), Release gives it back,
// Take counts what arrived without asking. It is safe for concurrent use.
//
// Accounting takes no lock: the counts are two atomic counters, each taken
// with compare-and-swap, and a Release wakes waiting calls (a Reserve with
// no room, WaitEmpty) only when there are some. A call whose bytes stopped
// fitting between its look and its count puts the count back, so a
// concurrent call may, for that instant, find the count bound reached:
// this happens only near the bounds, as a Reserve that lost a race, and
// waiting calls are woken when the count is put back.
//
// One call larger than the whole budget goes through when the budget holds
// no message, alone: otherwise it could never.
type Budget struct {
	// Hot: written by every Reserve and Release.
	bytes atomic.Int64
	msgs  atomic.Int64
	// waiters counts calls inside Reserve's slow path or WaitEmpty: a
	// Release wakes them when it is not zero.
	waiters atomic.Int64

	maxMsgs, maxBytes int64
	policy            FullPolicy
	onShed            func()
	onFull            func()
	shed              atomic.Int64

	mu    sync.Mutex
	freed chan struct{} // closed by the first Release after a waiter took it
	fired bool          // freed is closed: the next waiter makes a new one

	closeOnce sync.Once
	closed    chan struct{}
}

// NewBudget returns an empty budget with limits l. It panics if a bound is
// not positive or the policy unknown.
func NewBudget(l Limits) *Budget {
	if l.Messages < 1 || l.Bytes < 1 {
		panic(fmt.Sprintf("buffer: budget of %d messages, %d bytes", l.Messages, l.Bytes))
	}
	if l.Policy < Block || l.Policy > DropOldest {
		panic(fmt.Sprintf("buffer: unknown %v", l.Policy))
	}
	return &Budget{
		maxMsgs:  int64(l.Messages),
		maxBytes: int64(l.Bytes),
		policy:   l.Policy,
		onShed:   l.Shed,
		onFull:   l.Full,
		freed:    make(chan struct{}),
		closed:   make(chan struct{}),
	}
}

// Reserve takes room for msgs messages of bytes bytes. When they do not
// fit it does what the policy says: under Reject it returns ErrFull; under
// Block and DropOldest it waits for room, returning ErrFull wrapping ctx's
// error if ctx ends first and ErrClosed if the budget is closed. Under
// DropOldest, while it waits, ShedRequest says how many messages it wants
// shed; the request is withdrawn (set to 0) when the call returns, however
// it returns. On error nothing was taken.
func (b *Budget) Reserve(ctx context.Context, msgs, bytes int) error {
	if b.tryReserve(int64(msgs), int64(bytes)) {
		return nil
	}
	if b.policy == Reject {
		return ErrFull
	}
	return b.wait(ctx, int64(msgs), int64(bytes))
}

// aloneBit, set in the message count, keeps every other Reserve out while
// a call that does not fit an empty budget counts its bytes.
const aloneBit = 1 << 62

// tryReserve takes room if there is some: the count first, then the bytes.
// A call holds its count for as long as it holds bytes (Release gives back
// bytes first), so a count of zero means nobody holds bytes or is taking
// some, and a call that finds it can go alone.
func (b *Budget) tryReserve(msgs, bytes int64) bool {
	for {
		held := b.msgs.Load()
		if held&aloneBit != 0 {
			return false
		}
		fits := held+msgs <= b.maxMsgs && b.bytes.Load()+bytes <= b.maxBytes
		if held == 0 && !fits {
			// Larger than the whole budget: alone, the others kept out
			// (they find it full) while it counts its bytes.
			if !b.msgs.CompareAndSwap(0, aloneBit|msgs) {
				continue
			}
			b.bytes.Add(bytes)
			b.msgs.Add(-aloneBit)
			b.wake()
			return true
		}
		if !fits {
			// Refused before taking the count: without this, a full
			// buffer's waiters would take and give back counts, waking
			// each other for nothing.
			return false
		}
		if b.msgs.CompareAndSwap(held, held+msgs) {
			break
		}
	}
	for {
		held := b.bytes.Load()
		if held+bytes > b.maxBytes {
			// The bytes went since they were looked at. Give the count
			// back: a call that found it taken may now fit.
			b.msgs.Add(-msgs)
			b.wake()
			return false
		}
		if b.bytes.CompareAndSwap(held, held+bytes) {
			return true
		}
	}
}

// wait is Reserve when there was no room.
func (b *Budget) wait(ctx context.Context, msgs, bytes int64) error {
	if b.waiters.Add(1) == 1 && b.onFull != nil {
		b.onFull()
	}
	defer b.waiters.Add(-1)
	asked := false
	defer func() {
		if asked {
			// Whatever happened, this call's request to shed is over.
			b.shed.Store(0)
		}
	}()
	for {
		// Registered (waiters) before looking: a Release that frees room
		// after tryReserve looked sees the waiter and closes freed.
		freed := b.freedChan()
		if b.tryReserve(msgs, bytes) {
			return nil
		}
		if b.policy == DropOldest {
			// Ask anew each time room was freed and is still short.
			b.shed.Store(b.shedNeeded(msgs, bytes))
			asked = true
			if b.onShed != nil {
				b.onShed()
			}
		}
		select {
		case <-freed:
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrFull, ctx.Err())
		case <-b.closed:
			return ErrClosed
		}
	}
}

// shedNeeded is how many held messages must go for msgs messages of bytes
// to fit, by count and by bytes (at the average held message size).
func (b *Budget) shedNeeded(msgs, bytes int64) int64 {
	heldMsgs, heldBytes := b.msgs.Load()&^aloneBit, b.bytes.Load()
	want := max(1, heldMsgs+msgs-b.maxMsgs)
	if over := heldBytes + bytes - b.maxBytes; over > 0 && heldMsgs > 0 {
		avg := max(1, heldBytes/heldMsgs)
		want = max(want, (over+avg-1)/avg)
	}
	return want
}

// freedChan returns the channel the next Release closes.
func (b *Budget) freedChan() <-chan struct{} {
	b.mu.Lock()
	if b.fired {
		b.freed = make(chan struct{})
		b.fired = false
	}
	ch := b.freed
	b.mu.Unlock()
	return ch
}

// Take counts msgs messages of bytes bytes that are already held (no
// policy applies: they are here), even beyond the bounds.
func (b *Budget) Take(msgs, bytes int) {
	// The count first, as Reserve.
	b.msgs.Add(int64(msgs))
	b.bytes.Add(int64(bytes))
}

// Release gives back room for msgs messages and bytes bytes, taken by
// Reserve or Take, and wakes the calls waiting for room or for the budget
// to empty. Either may be zero: bytes given back while the messages are
// still held, for example.
func (b *Budget) Release(msgs, bytes int) {
	// Bytes first: whoever sees the count reach zero sees the bytes gone
	// too.
	if bytes != 0 {
		b.bytes.Add(-int64(bytes))
	}
	if msgs != 0 {
		b.msgs.Add(-int64(msgs))
	}
	b.wake()
}

// wake wakes the waiting calls, if there are any, after room was freed.
func (b *Budget) wake() {
	if b.waiters.Load() == 0 {
		return
	}
	b.mu.Lock()
	if !b.fired {
		close(b.freed)
		b.fired = true
	}
	b.mu.Unlock()
}

// Held returns how many messages the budget holds and their bytes. While
// calls are under way the two may be from slightly different instants.
func (b *Budget) Held() (msgs, bytes int) {
	m := b.msgs.Load() &^ aloneBit
	return int(m), int(b.bytes.Load())
}

// Waiting reports whether a call waits for room (or for the budget to
// empty, in WaitEmpty): whoever holds room should give it back soon.
func (b *Budget) Waiting() bool { return b.waiters.Load() > 0 }

// Bounds returns the bounds the budget was made with.
func (b *Budget) Bounds() (msgs, bytes int) { return int(b.maxMsgs), int(b.maxBytes) }

// ShedRequest is, under DropOldest, how many held messages waiting Reserve
// calls want given up (0: none). Holders read it and lower it by what
// they shed, with CompareAndSwap; a waiting call sets it anew each time it
// is woken without room.
func (b *Budget) ShedRequest() *atomic.Int64 { return &b.shed }

// WaitEmpty waits until the budget holds no message, or ctx ends (its
// error). Each time it finds messages held it calls poke (if not nil)
// before waiting, so that what was added meanwhile can be hurried too. It
// does not return on Close: holders still release what they hold.
func (b *Budget) WaitEmpty(ctx context.Context, poke func()) error {
	if b.msgs.Load() == 0 {
		return nil
	}
	b.waiters.Add(1)
	defer b.waiters.Add(-1)
	for {
		freed := b.freedChan()
		if b.msgs.Load() == 0 {
			return nil
		}
		if poke != nil {
			poke()
		}
		select {
		case <-freed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close makes the Reserve calls waiting for room, and those that will
// wait, return ErrClosed. Reserve still takes room there is, and Release
// and Take work as before. It is safe to call more than once.
func (b *Budget) Close() { b.closeOnce.Do(func() { close(b.closed) }) }
