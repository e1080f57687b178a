package callbacks

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// recorder is a Handler that keeps the events it receives and signals when
// it has a given number.
type recorder struct {
	mu     sync.Mutex
	events []Event
	want   int
	full   chan struct{}
}

func newRecorder(want int) *recorder {
	return &recorder{want: want, full: make(chan struct{})}
}

func (r *recorder) Handle(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	if len(r.events) == r.want {
		close(r.full)
	}
}

func (r *recorder) got() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// wait waits for the recorder to have its events, failing the test after a
// generous deadline rather than hanging.
func (r *recorder) wait(t *testing.T) {
	t.Helper()
	select {
	case <-r.full:
	case <-time.After(10 * time.Second):
		t.Fatalf("handler got %d events, want %d", len(r.got()), r.want)
	}
}

// blocker is a Handler that blocks until released.
type blocker struct {
	entered chan struct{} // receives once per Handle call
	release chan struct{}
}

func newBlocker() *blocker {
	return &blocker{entered: make(chan struct{}, 1000), release: make(chan struct{})}
}

func (b *blocker) Handle(Event) {
	b.entered <- struct{}{}
	<-b.release
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestBusDeliversInOrderToEveryHandler(t *testing.T) {
	const n = 1000
	a, b := newRecorder(n), newRecorder(n)
	bus := NewBus(BusOptions{QueueSize: n}, a, nil, b)
	for i := range n {
		bus.Emit(Event{Kind: Flush, Count: i, Partition: -1, Broker: -1})
	}
	a.wait(t)
	b.wait(t)
	for name, r := range map[string]*recorder{"a": a, "b": b} {
		for i, e := range r.got() {
			if e.Count != i || e.Kind != Flush {
				t.Fatalf("handler %s: event %d is %+v, want Count %d", name, i, e, i)
			}
			if e.Time.IsZero() {
				t.Fatalf("handler %s: event %d has no Time", name, i)
			}
		}
	}
	if err := bus.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if d := bus.Dropped(); d != 0 {
		t.Errorf("Dropped = %d, want 0", d)
	}
}

func TestBusKeepsEmitTime(t *testing.T) {
	when := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	r := newRecorder(1)
	bus := NewBus(BusOptions{}, r)
	bus.Emit(Event{Kind: WorkerUp, Time: when})
	r.wait(t)
	if got := r.got()[0].Time; !got.Equal(when) {
		t.Errorf("Time = %v, want %v", got, when)
	}
	_ = bus.Close(testCtx(t))
}

func TestBusBlockedHandlerDoesNotBlockEmitOrOthers(t *testing.T) {
	const queue, n = 10, 100
	stuck := newBlocker()
	got := make(chan Event, n)
	fast := HandlerFunc(func(e Event) { got <- e })
	bus := NewBus(BusOptions{QueueSize: queue}, stuck, fast)
	t.Cleanup(func() {
		close(stuck.release)
		_ = bus.Close(testCtx(t))
	})

	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			bus.Emit(Event{Kind: DowntimeSaved, Count: i})
			// Let the fast handler keep up, so only the stuck one drops.
			if e := <-got; e.Count != i {
				t.Errorf("fast handler: event %d has Count %d", i, e.Count)
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Emit or the other handler blocked behind a blocked handler")
	}
	<-stuck.entered // the stuck handler holds one event, its queue 10 more
	if got, want := bus.Dropped(), uint64(n-1-queue); got != want {
		t.Errorf("Dropped = %d, want %d", got, want)
	}
}

func TestBusCountsDropsWhenQueueFull(t *testing.T) {
	stuck := newBlocker()
	bus := NewBus(BusOptions{QueueSize: 2}, stuck)
	bus.Emit(Event{Kind: Error})
	<-stuck.entered // first event taken by the handler
	for range 5 {
		bus.Emit(Event{Kind: Error}) // 2 queued, 3 dropped
	}
	if got := bus.Dropped(); got != 3 {
		t.Errorf("Dropped = %d, want 3", got)
	}
	close(stuck.release)
	if err := bus.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if got := bus.Dropped(); got != 3 {
		t.Errorf("after Close, Dropped = %d, want 3", got)
	}
}

func TestBusCloseDrains(t *testing.T) {
	const n = 500
	gate := make(chan struct{})
	var got []int
	h := HandlerFunc(func(e Event) {
		<-gate
		got = append(got, e.Count) // only the handler goroutine touches got
	})
	bus := NewBus(BusOptions{QueueSize: n}, h)
	for i := range n {
		bus.Emit(Event{Kind: Flush, Count: i})
	}
	close(gate)
	if err := bus.Close(testCtx(t)); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Close returned after the handler goroutine ended: reading got is
	// ordered after its writes.
	if len(got) != n {
		t.Fatalf("handler got %d events before Close returned, want %d", len(got), n)
	}
	for i, c := range got {
		if c != i {
			t.Fatalf("event %d has Count %d", i, c)
		}
	}
	// Emits after Close are dropped and counted, once per handler.
	bus.Emit(Event{Kind: Flush})
	if d := bus.Dropped(); d != 1 {
		t.Errorf("Dropped after a late Emit = %d, want 1", d)
	}
	// Close again: nil at once.
	if err := bus.Close(testCtx(t)); err != nil {
		t.Errorf("second Close: %v", err)
	}
	bus.Add(HandlerFunc(func(Event) { t.Error("handler added after Close was called") }))
	bus.Emit(Event{Kind: Flush})
}

func TestBusCloseGivesUpAtDeadline(t *testing.T) {
	stuck := newBlocker()
	bus := NewBus(BusOptions{QueueSize: 10}, stuck)
	for range 4 {
		bus.Emit(Event{Kind: Flush})
	}
	<-stuck.entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := bus.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close with a cancelled context = %v, want context.Canceled", err)
	}
	// Once the handler returns, its goroutine drops the 3 queued events
	// and ends; a Close with time to spare then succeeds.
	close(stuck.release)
	if err := bus.Close(testCtx(t)); err != nil {
		t.Fatalf("Close after release: %v", err)
	}
	if d := bus.Dropped(); d != 3 {
		t.Errorf("Dropped = %d, want the 3 abandoned events", d)
	}
}

func TestNilBus(t *testing.T) {
	var bus *Bus
	bus.Emit(Event{Kind: Flush})
	bus.Add(HandlerFunc(func(Event) {}))
	if bus.Dropped() != 0 {
		t.Error("nil bus dropped events")
	}
	if err := bus.Close(context.Background()); err != nil {
		t.Errorf("nil bus Close: %v", err)
	}
}

func TestBusWithoutHandlers(t *testing.T) {
	bus := NewBus(BusOptions{})
	bus.Emit(Event{Kind: Flush})
	if err := bus.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	bus.Emit(Event{Kind: Flush})
	if d := bus.Dropped(); d != 0 {
		t.Errorf("Dropped = %d with no handlers, want 0", d)
	}
}

// TestBusConcurrent emits from many goroutines while handlers are added and
// the bus is closed, for -race; every emitted event is delivered or counted.
func TestBusConcurrent(t *testing.T) {
	const goroutines, each = 16, 500
	var mu sync.Mutex
	delivered := 0
	count := HandlerFunc(func(Event) { mu.Lock(); delivered++; mu.Unlock() })
	bus := NewBus(BusOptions{QueueSize: 64}, count, count)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				bus.Emit(Event{Kind: Flush, Topic: fmt.Sprint("t", g), Count: i})
			}
		})
	}
	wg.Wait()
	if err := bus.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if total := uint64(delivered) + bus.Dropped(); total != 2*goroutines*each {
		t.Errorf("delivered %d + dropped %d = %d, want %d", delivered, bus.Dropped(), total, 2*goroutines*each)
	}
}

func TestBusCloseRacesEmit(t *testing.T) {
	var mu sync.Mutex
	delivered := 0
	bus := NewBus(BusOptions{QueueSize: 8}, HandlerFunc(func(Event) { mu.Lock(); delivered++; mu.Unlock() }))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				bus.Emit(Event{Kind: Error})
			}
		})
	}
	if err := bus.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if total := uint64(delivered) + bus.Dropped(); total != 8000 {
		t.Errorf("delivered %d + dropped %d = %d, want 8000", delivered, bus.Dropped(), total)
	}
}

func TestKindString(t *testing.T) {
	want := []string{"flush", "flushed_replied", "worker_up", "worker_down", "time_to_connect", "time_down",
		"mainbroker_unreachable", "downtime_saved", "downtime_replayed", "max_downtime_buffer_reached",
		"state_change", "error", "messages_failed"}
	for i, w := range want {
		if got := Kind(i + 1).String(); got != w {
			t.Errorf("Kind(%d) = %q, want %q", i+1, got, w)
		}
	}
	if got := Kind(0).String(); got != "kind(0)" {
		t.Errorf("Kind(0) = %q", got)
	}
	if got := Kind(200).String(); got != "kind(200)" {
		t.Errorf("Kind(200) = %q", got)
	}
}
