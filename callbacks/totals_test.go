package callbacks

import (
	"context"
	"testing"
	"time"
)

// Totals count every emitted event, with no handler at all, after Close,
// and when a handler's queue is full; other kinds stay at zero.
func TestBusTotals(t *testing.T) {
	bl := newBlocker()
	defer close(bl.release)
	b := NewBus(BusOptions{QueueSize: 1}, bl)
	b.Emit(Event{Kind: DowntimeSaved, Count: 3, Bytes: 30})
	b.Emit(Event{Kind: DowntimeSaved, Count: 4})
	b.Emit(Event{Kind: TimeDown, Duration: 2 * time.Second})
	b.Emit(Event{Kind: TimeDown, Duration: -time.Second}) // ignored in the sum, counted as an event
	b.Emit(Event{Kind: Kind(200)})                        // not a kind: not counted, no panic
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_ = b.Close(ctx) // the blocker holds its first event: Close gives up
	b.Emit(Event{Kind: DowntimeSaved, Count: 1})

	if got, want := b.Totals(DowntimeSaved), (Totals{Events: 3, Count: 8, Bytes: 30}); got != want {
		t.Errorf("DowntimeSaved totals %+v, want %+v", got, want)
	}
	if got, want := b.Totals(TimeDown), (Totals{Events: 2, Duration: 2 * time.Second}); got != want {
		t.Errorf("TimeDown totals %+v, want %+v", got, want)
	}
	if got := b.Totals(WorkerUp); got != (Totals{}) {
		t.Errorf("WorkerUp totals %+v, want zero", got)
	}
	if got := b.Totals(Kind(200)); got != (Totals{}) {
		t.Errorf("Kind(200) totals %+v, want zero", got)
	}
	var nilBus *Bus
	if got := nilBus.Totals(Flush); got != (Totals{}) {
		t.Errorf("nil bus totals %+v", got)
	}
}
