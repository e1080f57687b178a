package producer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/merlinkafka/merlin/mockbroker"
)

// Two topics, every message acknowledged: the counters say how many
// messages and bytes each topic was given and had acknowledged, the
// batches and their sizes, one latency per batch, every worker ready, the
// brokers' breakers closed, nothing buffered.
func TestStatsCountsWhatWasAcknowledged(t *testing.T) {
	c := newMock(t, mockbroker.Brokers(2), mockbroker.Topic("a", 2), mockbroker.Topic("b", 1))
	p := newProducer(t, Config{Brokers: c.Addrs()})
	ctx := testCtx(t)
	var msgs []Message
	wantBytes := 0
	for i := range 10 {
		m := msg(fmt.Sprintf("k%d", i), "value")
		wantBytes += m.size()
		msgs = append(msgs, m)
	}
	if _, err := p.ProduceSync(ctx, "a", msgs...); err != nil {
		t.Fatal(err)
	}
	if _, err := p.ProduceSync(ctx, "b", msgs[:3]...); err != nil {
		t.Fatal(err)
	}
	// ProduceSync returns once its results are in; Flush once each
	// message's outcome is counted too.
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	s := p.Stats()
	a, b := s.Topics["a"], s.Topics["b"]
	if a.Produced != 10 || a.Acknowledged != 10 || a.ProducedBytes != uint64(wantBytes) || a.AcknowledgedBytes != uint64(wantBytes) {
		t.Errorf("topic a: %+v, want 10 produced and acknowledged, %d bytes", a, wantBytes)
	}
	if b.Produced != 3 || b.Acknowledged != 3 || b.FailedTotal() != 0 {
		t.Errorf("topic b: %+v", b)
	}
	if s.Produced != 13 || s.Acknowledged != 13 || s.FailedTotal() != 0 || s.Retries != 0 {
		t.Errorf("totals: %+v", s.Counters)
	}
	if s.Batches < 3 || s.Batches > 13 {
		t.Errorf("%d batches for 13 messages on 3 partitions", s.Batches)
	}
	if s.BatchMessages.Count != s.Batches || s.BatchMessages.Sum != 13 || s.BatchBytes.Sum != float64(wantBytes+3*msgs[0].size()) {
		t.Errorf("batch sizes %+v / %+v for %d batches", s.BatchMessages, s.BatchBytes, s.Batches)
	}
	if s.Latency.Count != s.Batches || s.RequestLatency.Count != s.Batches || s.Latency.Sum <= 0 || s.Latency.Sum < s.RequestLatency.Sum {
		t.Errorf("latency %+v, request latency %+v for %d batches", s.Latency, s.RequestLatency, s.Batches)
	}
	if s.Workers[StateReady] != 3 || s.BufferedMessages != 0 || s.BufferedBytes != 0 {
		t.Errorf("workers %v, buffered %d msgs %d bytes", s.Workers, s.BufferedMessages, s.BufferedBytes)
	}
	if len(s.Brokers) != 2 || s.Brokers[0].ID != 1 || s.Brokers[1].ID != 2 || s.Brokers[0].Breaker != BreakerClosed || s.Brokers[1].Addr != c.Addr(2) {
		t.Errorf("brokers %+v", s.Brokers)
	}
	if s.Downtime.WorkerUp != 3 || s.Downtime.WorkerDown != 0 {
		t.Errorf("downtime %+v, want 3 workers up, none down", s.Downtime)
	}
}

// A broker's non-retriable refusal, a delivery timeout, and messages shed
// under DropOldest are each counted in their class; a retriable refusal is
// a retry, not a failure.
func TestStatsCountsFailuresByClassAndRetries(t *testing.T) {
	c := newMock(t, mockbroker.Topic("f", 1))
	p := newProducer(t, fastRetry(Config{Brokers: c.Addrs()}))
	ctx := testCtx(t)

	c.InjectError(mockbroker.APIProduce, "f", 0, kerr.NotLeaderForPartition.Code, 2)
	if _, err := p.ProduceSync(ctx, "f", msg("", "retried")); err != nil {
		t.Fatal(err)
	}
	c.InjectError(mockbroker.APIProduce, "f", 0, kerr.InvalidRecord.Code, 1)
	if _, err := p.ProduceSync(ctx, "f", msg("", "refused"), msg("", "refused too")); err == nil {
		t.Fatal("a refused batch was acknowledged")
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	s := p.Stats()
	if s.Retries != 2 || s.Acknowledged != 1 || s.Failed[ClassBroker] != 2 || s.FailedTotal() != 2 {
		t.Fatalf("counters %+v, want 2 retries, 1 acknowledged, 2 failed by the broker", s.Counters)
	}
	if s.Produced != 3 {
		t.Errorf("produced %d, want 3", s.Produced)
	}
}

// While the only broker is down, batches pile up in the downtime buffer
// and fail at their delivery timeout; the counters show the worker going
// down, the messages saved, and the timeouts.
func TestStatsCountsDowntime(t *testing.T) {
	c := newMock(t, mockbroker.Topic("d", 1))
	p := newProducer(t, fastRetry(Config{Brokers: c.Addrs(), DeliveryTimeout: 300 * time.Millisecond}))
	ctx := testCtx(t)
	takeDown(t, c, p, "d")
	for i := range 5 {
		if err := p.ProduceAsync(ctx, "d", msg("", fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil { // done when every message has failed
		t.Fatal(err)
	}
	s := p.Stats()
	if s.Failed[ClassTimeout] != 6 || s.Acknowledged != 1 {
		t.Errorf("counters %+v, want 6 timed out, 1 acknowledged", s.Counters)
	}
	if s.Downtime.WorkerDown < 1 || s.Downtime.SavedMessages < 5 || s.Downtime.SavedMessages > 6 || s.Downtime.BrokerUnreachable == 0 {
		t.Errorf("downtime %+v, want the worker down, 5 or 6 messages saved, the broker unreachable", s.Downtime)
	}
	if s.Workers[StateDowntime] != 1 {
		t.Errorf("workers %v, want one in downtime", s.Workers)
	}
}

// takeDown produces one message to topic (on partition 0, led by broker
// 1) while its leader is up, stops the leader, produces "first", which
// takes the only worker down, and waits until it is: what is produced next
// goes to the downtime buffer.
func takeDown(t *testing.T, c *mockbroker.Cluster, p *Producer, topic string) {
	t.Helper()
	ctx := testCtx(t)
	if _, err := p.ProduceSync(ctx, topic, msg("", "up")); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(1); err != nil {
		t.Fatal(err)
	}
	if err := p.ProduceAsync(ctx, topic, msg("", "first")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for p.Stats().Workers[StateDowntime] != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the worker never went down")
		}
		waitABit()
	}
}

func waitABit() { time.Sleep(time.Millisecond) }

func TestErrorClassOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want ErrorClass
	}{
		{fmt.Errorf("%w (last error: %w)", ErrDeliveryTimeout, &BrokerError{Code: kerr.NotLeaderForPartition.Code}), ClassTimeout},
		{ErrBufferFull, ClassBufferFull},
		{fmt.Errorf("%w: %w", ErrBufferFull, context.Canceled), ClassBufferFull},
		{ErrLeftInSpill, ClassClosed},
		{&BrokerError{Code: kerr.MessageTooLarge.Code}, ClassTooLarge},
		{fmt.Errorf("%w: %q no longer exists", ErrUnknownTopic, "t"), ClassUnknownTopic},
		{&BrokerError{Code: kerr.InvalidRecord.Code}, ClassBroker},
		{context.DeadlineExceeded, ClassContext},
		{errors.New("something else"), ClassOther},
	} {
		if got := ErrorClassOf(tc.err); got != tc.want {
			t.Errorf("ErrorClassOf(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	seen := map[string]bool{}
	for _, c := range ErrorClasses() {
		if n := c.String(); n == "unknown" || seen[n] {
			t.Errorf("class %d named %q", c, n)
		}
		seen[c.String()] = true
	}
}

// Observations land in the bucket whose bound is the first at or above
// them; Quantile interpolates within it.
func TestHistogramBuckets(t *testing.T) {
	h := newHist(10, 3, 0.5) // bounds 5, 10, 20 (10, 20, 40 observed)
	for _, v := range []uint64{0, 10, 11, 20, 21, 40, 41, 1000} {
		h.observe(v)
	}
	s := h.snapshot()
	if want := []float64{5, 10, 20}; fmt.Sprint(s.Bounds) != fmt.Sprint(want) {
		t.Fatalf("bounds %v, want %v", s.Bounds, want)
	}
	if want := []uint64{2, 2, 2, 2}; fmt.Sprint(s.Counts) != fmt.Sprint(want) {
		t.Fatalf("counts %v, want %v", s.Counts, want)
	}
	if s.Count != 8 || s.Sum != 1143*0.5 {
		t.Fatalf("count %d sum %v", s.Count, s.Sum)
	}
	if q := s.Quantile(0.5); q != 10 {
		t.Errorf("median %v, want 10", q)
	}
	if q := s.Quantile(0.375); math.Abs(q-7.5) > 1e-9 {
		t.Errorf("0.375-quantile %v, want 7.5", q)
	}
	if q := s.Quantile(1); q != 20 {
		t.Errorf("maximum %v, want the highest bound 20", q)
	}
	if (Histogram{}).Quantile(0.5) != 0 || (Histogram{}).Mean() != 0 {
		t.Error("an empty histogram has a quantile")
	}
}
