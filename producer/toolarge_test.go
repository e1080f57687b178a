package producer

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/merlinkafka/merlin/mockbroker"
)

// A broker refuses a batch of 100 with MESSAGE_TOO_LARGE once (Kafka's
// max.message.bytes limits a whole record batch): the producer splits it
// and resends the halves, and every message is stored once, in order.
// Found against Apache Kafka (interop/kafka TestMessageTooLargeForTopic),
// where one large message used to fail its whole batch.
func TestMockTooLargeBatchIsSplit(t *testing.T) {
	c := newMock(t, mockbroker.Topic("big", 1))
	p := newProducer(t, fastRetry(Config{Brokers: c.Addrs(), TTL: 1 << 40}))
	ctx := testCtx(t)
	if _, err := p.Metadata(ctx, "big"); err != nil {
		t.Fatal(err)
	}
	c.InjectError(mockbroker.APIProduce, "big", 0, kerr.MessageTooLarge.Code, 1)
	var msgs []Message
	var want []string
	for i := range 100 {
		v := fmt.Sprintf("m%03d", i)
		msgs = append(msgs, Message{Value: []byte(v)})
		want = append(want, v)
	}
	res, err := p.ProduceSync(ctx, "big", msgs...)
	if err != nil {
		t.Fatalf("ProduceSync after one MESSAGE_TOO_LARGE: %v", err)
	}
	for i, r := range res {
		if r.Offset != int64(i) {
			t.Fatalf("message %d acknowledged at offset %d", i, r.Offset)
		}
	}
	if got := arrived(c, "big")[0]; !slices.Equal(got, want) {
		t.Fatalf("stored %d messages, want the 100 in order: %v", len(got), got)
	}
	var sizes []int
	for _, r := range c.ProduceRequests() {
		sizes = append(sizes, r.Records)
	}
	// The refused request's records are not counted by the mock (0).
	if len(sizes) != 3 || !slices.Equal(sizes[1:], []int{50, 50}) {
		t.Fatalf("batches sent: %v, want the refused one, then 50 and 50", sizes)
	}
}

// A broker that refuses every batch for its size: the batch is split down
// to single messages, and each fails, exactly once, with an error that is
// both ErrMessageTooLarge and kerr.MessageTooLarge.
func TestMockTooLargeAloneFails(t *testing.T) {
	c := newMock(t, mockbroker.Topic("big", 1))
	p := newProducer(t, fastRetry(Config{Brokers: c.Addrs(), TTL: 1 << 40}))
	ctx := testCtx(t)
	if _, err := p.Metadata(ctx, "big"); err != nil {
		t.Fatal(err)
	}
	c.InjectError(mockbroker.APIProduce, "big", 0, kerr.MessageTooLarge.Code, 1000)
	calls := make([]atomic.Int32, 5)
	var msgs []Message
	for i := range calls {
		msgs = append(msgs, Message{Value: []byte{byte(i)}, OnDelivery: func(Result) { calls[i].Add(1) }})
	}
	res, err := p.ProduceSync(ctx, "big", msgs...)
	if err == nil {
		t.Fatal("no error")
	}
	for i, r := range res {
		if !errors.Is(r.Err, ErrMessageTooLarge) || !errors.Is(r.Err, kerr.MessageTooLarge) {
			t.Fatalf("message %d: %v", i, r.Err)
		}
	}
	if err := p.Flush(ctx); err != nil { // callbacks have all run once Flush returns
		t.Fatal(err)
	}
	for i := range calls {
		if n := calls[i].Load(); n != 1 {
			t.Fatalf("message %d: OnDelivery called %d times", i, n)
		}
	}
	// 5 -> 2+3 -> 1+1, 1+2 -> 1+1: nine refused batches, none stored.
	if n := len(c.ProduceRequests()); n != 9 {
		t.Fatalf("%d produce requests, want 9", n)
	}
	if n := c.RecordCount("big"); n != 0 {
		t.Fatalf("%d records stored", n)
	}
}
