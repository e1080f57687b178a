package producer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/merlinkafka/merlin/mockbroker"
)

// tooLargeMock is a mock with topic "big" of one partition whose next
// refusals produce requests are answered MESSAGE_TOO_LARGE, and a producer
// that knows its metadata and never sends a batch for its age.
func tooLargeMock(t *testing.T, refusals int) (*mockbroker.Cluster, *Producer, context.Context) {
	t.Helper()
	c := newMock(t, mockbroker.Topic("big", 1))
	p := newProducer(t, fastRetry(Config{Brokers: c.Addrs(), TTL: 1 << 40}))
	ctx := testCtx(t)
	if _, err := p.Metadata(ctx, "big"); err != nil {
		t.Fatal(err)
	}
	c.InjectError(mockbroker.APIProduce, "big", 0, kerr.MessageTooLarge.Code, refusals)
	return c, p, ctx
}

// A broker refuses a batch of 100 with MESSAGE_TOO_LARGE once (Kafka's
// max.message.bytes limits a whole record batch): the producer splits it
// and resends the halves, and every message is stored once, in order.
// Found against Apache Kafka (interop/kafka TestMessageTooLargeForTopic),
// where one large message used to fail its whole batch.
func TestMockTooLargeBatchIsSplit(t *testing.T) {
	c, p, ctx := tooLargeMock(t, 1)
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
	c, p, ctx := tooLargeMock(t, 1000)
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

// A cluster that has just started answers InitProducerId with
// COORDINATOR_LOAD_IN_PROGRESS for a while. The producer asks again and
// stays idempotent: it used to turn idempotence off for good, and a
// leader's failover then stored batches twice (found against Apache
// Kafka, interop/kafka TestLeaderKill9Idempotent).
func TestMockProducerIDRetriedWhileCoordinatorLoads(t *testing.T) {
	c := newMock(t, mockbroker.Topic("pid", 1))
	c.InjectError(mockbroker.APIInitProducerID, "", mockbroker.AllPartitions, kerr.CoordinatorLoadInProgress.Code, 3)
	p := newProducer(t, fastRetry(Config{Brokers: c.Addrs()}))
	ctx := testCtx(t)
	if _, err := p.ProduceSync(ctx, "pid", Message{Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	recs := consume(t, c.Addrs(), "pid", 1)
	if recs[0].ProducerID < 0 {
		t.Fatalf("stored with producer id %d: idempotence was turned off", recs[0].ProducerID)
	}
}

// A topic in use that the cluster says, answer after answer, no longer
// exists: what the producer holds for it fails with ErrUnknownTopic, new
// calls fail at once, and once the topic is back the same producer writes
// to it again. Found against Apache Kafka (interop/kafka
// TestTopicDeletedWhileProducing), where the messages waited out the whole
// delivery timeout.
func TestMockDeletedTopicFailsFast(t *testing.T) {
	c := newMock(t, mockbroker.Topic("gone", 1))
	p := newProducer(t, fastRetry(Config{Brokers: c.Addrs(), MetadataRefresh: 100 * time.Millisecond}))
	ctx := testCtx(t)
	if _, err := p.ProduceSync(ctx, "gone", Message{Value: []byte("before")}); err != nil {
		t.Fatal(err)
	}
	const forever = 1 << 30
	c.InjectError(mockbroker.APIMetadata, "gone", mockbroker.AllPartitions, kerr.UnknownTopicOrPartition.Code, forever)
	c.InjectError(mockbroker.APIProduce, "gone", 0, kerr.UnknownTopicOrPartition.Code, forever)
	got := make(chan Result, 1)
	if err := p.ProduceAsync(ctx, "gone", Message{Value: []byte("lost"), OnDelivery: func(r Result) { got <- r }}); err != nil {
		t.Fatal(err)
	}
	if r := <-got; !errors.Is(r.Err, ErrUnknownTopic) {
		t.Fatalf("message to the deleted topic: %v, want ErrUnknownTopic", r.Err)
	}
	if _, err := p.ProduceSync(ctx, "gone", Message{Value: []byte("late")}); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("call after the deletion: %v, want ErrUnknownTopic", err)
	}
	c.ClearInjectedErrors()
	for {
		_, err := p.ProduceSync(ctx, "gone", Message{Value: []byte("back")})
		if err == nil {
			break
		}
		if !errors.Is(err, ErrUnknownTopic) {
			t.Fatalf("once the topic is back: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := arrived(c, "gone")[0]; !slices.Equal(got, []string{"before", "back"}) {
		t.Fatalf("stored %v", got)
	}
}

// The leader dies and, a while later, the cluster moves its partition to
// another broker (Kafka fences a dead broker only after its session times
// out). A worker in downtime asks for metadata on every retry, so it finds
// the new leader at once rather than at the next periodic refresh (a
// minute by default). Found against Apache Kafka (interop/kafka
// TestLeaderKill9Idempotent), where failover took as long as
// MetadataRefresh.
func TestMockDowntimeRefreshesMetadata(t *testing.T) {
	c := newMock(t, mockbroker.Brokers(2), mockbroker.Topic("fo", 1))
	p := newProducer(t, fastRetry(Config{Brokers: c.Addrs(), MetadataRefresh: time.Hour}))
	ctx := testCtx(t)
	if _, err := p.ProduceSync(ctx, "fo", Message{Value: []byte("before")}); err != nil {
		t.Fatal(err)
	}
	old := c.Leader("fo", 0)
	if err := c.Stop(old); err != nil {
		t.Fatal(err)
	}
	got := make(chan Result, 1)
	if err := p.ProduceAsync(ctx, "fo", Message{Value: []byte("after"), OnDelivery: func(r Result) { got <- r }}); err != nil {
		t.Fatal(err)
	}
	waitDown(t, p, "fo", 0)
	if err := c.MoveLeader("fo", 0, old%2+1); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("not delivered 20 s after the leader moved: the producer waits for its hourly metadata refresh")
	}
	if got := arrived(c, "fo")[0]; !slices.Equal(got, []string{"before", "after"}) {
		t.Fatalf("stored %v", got)
	}
}

// Cold start: no broker answers when a topic is first used, and one comes
// up a second later. ProduceSync with a 10 s context waits for the
// metadata, as kgo does, instead of failing at once with ErrNoBrokers.
func TestMockColdStartWaitsForMetadata(t *testing.T) {
	c := newMock(t, mockbroker.Topic("cold", 1))
	id := c.BrokerIDs()[0]
	if err := c.Stop(id); err != nil {
		t.Fatal(err)
	}
	p := newProducer(t, fastRetry(Config{Brokers: c.Addrs()}))
	go func() {
		time.Sleep(time.Second)
		if err := c.Start(id); err != nil {
			t.Error(err)
		}
	}()
	ctx, cancel := context.WithTimeout(testCtx(t), 10*time.Second)
	defer cancel()
	if _, err := p.ProduceSync(ctx, "cold", Message{Value: []byte("early")}); err != nil {
		t.Fatalf("ProduceSync while the broker comes up: %v", err)
	}
}

// Every broker paused (accepting, never answering): calls for a topic
// whose metadata never came wait at most the delivery timeout, counted
// from the topic's first use, and then fail at once with an error that
// says why (ErrDeliveryTimeout, and ErrNoBrokers from the last attempt);
// 2 000 ProduceAsync calls with context.Background() do not add up their
// waits.
func TestMockPausedClusterBoundsColdCalls(t *testing.T) {
	c := newMock(t, mockbroker.Brokers(2), mockbroker.Topic("paused", 2))
	for _, id := range c.BrokerIDs() {
		if err := c.Pause(id); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, id := range c.BrokerIDs() {
			_ = c.Resume(id)
		}
	})
	const timeout = 2 * time.Second
	p := newProducer(t, fastRetry(Config{Brokers: c.Addrs(), DeliveryTimeout: timeout, RequestTimeout: time.Second}))
	start := time.Now()
	for i := range 2000 {
		err := p.ProduceAsync(context.Background(), "paused", Message{Value: []byte("x")})
		if !errors.Is(err, ErrDeliveryTimeout) {
			t.Fatalf("call %d: %v, want ErrDeliveryTimeout", i, err)
		}
	}
	// The bound the calls were given, not a performance figure: the first
	// waits the delivery timeout, the others not at all.
	if d := time.Since(start); d > timeout+5*time.Second {
		t.Fatalf("2000 calls took %v with a delivery timeout of %v", d, timeout)
	}
}
