package callbacks

import (
	"sync/atomic"
	"time"
)

// Totals is what a Bus has been given of one kind of event since it was
// created: how many events, and the sums of their Count, Bytes and
// Duration fields. Every emitted event counts, whether or not a handler
// received it (see Dropped), so Totals serve as counters (a producer's
// downtime events, for example) without a handler of their own.
type Totals struct {
	Events   uint64
	Count    uint64
	Bytes    uint64
	Duration time.Duration
}

type kindTotals struct {
	events, count, bytes, nanos atomic.Uint64
}

// count adds e to the totals of its kind: a few atomic additions, no
// allocation.
func (b *Bus) count(e *Event) {
	if e.Kind == 0 || e.Kind >= kindEnd {
		return
	}
	t := &b.totals[e.Kind]
	t.events.Add(1)
	if e.Count > 0 {
		t.count.Add(uint64(e.Count))
	}
	if e.Bytes > 0 {
		t.bytes.Add(uint64(e.Bytes))
	}
	if e.Duration > 0 {
		t.nanos.Add(uint64(e.Duration))
	}
}

// Totals returns the totals of kind k (zero for a nil Bus or a value that
// is not a Kind constant).
func (b *Bus) Totals(k Kind) Totals {
	if b == nil || k == 0 || k >= kindEnd {
		return Totals{}
	}
	t := &b.totals[k]
	return Totals{Events: t.events.Load(), Count: t.count.Load(), Bytes: t.bytes.Load(), Duration: time.Duration(t.nanos.Load())}
}
