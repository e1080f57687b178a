package producer

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/buffer"
	"github.com/merlinkafka/merlin/mockbroker"
)

// The public policy names are buffer's: a Config written against either
// compiles and means the same.
func TestBufferFullPolicyIsBuffers(t *testing.T) {
	var p BufferFullPolicy = buffer.DropOldest
	if p != DropOldest || Block != buffer.Block || Reject != buffer.Reject || p.String() != "drop-oldest" {
		t.Fatalf("policies differ: %v", p)
	}
}

// Close wakes a produce call waiting for room under Block: it returns
// ErrClosed, and Close does not wait for its context.
func TestCloseWakesCallWaitingForRoom(t *testing.T) {
	c := newMock(t, mockbroker.Topic("full", 1))
	p := newProducer(t, fastRetry(Config{Brokers: c.Addrs(), MaxBufferedMessages: 1, TTL: time.Millisecond,
		DeliveryTimeout: -1}))
	ctx := testCtx(t)
	if _, err := p.Metadata(ctx, "full"); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(1); err != nil {
		t.Fatal(err)
	}
	if err := p.ProduceAsyncBatched(ctx, "full", msg("", "held")); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.ProduceAsyncBatched(ctx, "full", msg("", "waits")) }()
	// Not a timed assertion: whether the call is waiting yet or not, it
	// must end with ErrClosed.
	time.Sleep(20 * time.Millisecond)
	closeCtx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_ = p.Close(closeCtx) // the held message is reported failed
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("waiting call on Close: %v", err)
	}
	if n, b := p.BufferedMessages(); n != 0 || b != 0 {
		t.Fatalf("after Close: %d messages, %d bytes held", n, b)
	}
}
