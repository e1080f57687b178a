package producer

import (
	"cmp"
	"context"
	"errors"
	"math/bits"
	"slices"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/merlinkafka/merlin/callbacks"
)

// Stats is a snapshot of a Producer's counters, for programs that have
// neither Prometheus nor OpenTelemetry (see packages prommerlin and
// otelmerlin for those): what librdkafka's statistics and franz-go's
// metrics hooks give. Counters only grow over the producer's life; gauges
// (BufferedMessages, Workers, Brokers) say how things are now.
//
// Counters are read one by one, not under one lock, so a snapshot taken
// while messages flow may be off by the messages in motion between two
// reads (a message counted as acknowledged whose batch is not yet counted
// among the latencies, say). A message's outcome is counted after its
// callbacks ran and before Flush and Close return (ProduceSync may return
// a moment before).
type Stats struct {
	// Counters are the totals over every topic.
	Counters
	// Topics are the counters of each topic the producer has used.
	Topics map[string]Counters

	// BufferedMessages and BufferedBytes are what Producer.BufferedMessages
	// returns: held, not yet acknowledged or failed.
	BufferedMessages int
	BufferedBytes    int

	// Latency is the time from a batch's first message being accepted to
	// the batch's acknowledgement (with AcksNone: its write to the socket),
	// one observation per batch, in seconds: the longest any of its
	// messages waited.
	Latency Histogram
	// RequestLatency is the round trip of produce requests that a broker
	// answered: from a batch's sending to its answer, in seconds.
	RequestLatency Histogram
	// BatchMessages and BatchBytes are the sizes of the batches sent, one
	// observation per batch on its first send (resends are Retries).
	// Bytes are before compression, as MaxBytes counts them.
	BatchMessages Histogram
	BatchBytes    Histogram

	// Workers counts the partition workers in each state, such as
	// Workers[StateDowntime].
	Workers [StateClosed + 1]int
	// Brokers are the cluster's brokers as the last metadata named them,
	// by id, with the state of each one's circuit breaker.
	Brokers []BrokerStats
	// Connections is the number of open broker connections.
	Connections int

	// Downtime counts the downtime events (see package callbacks).
	Downtime DowntimeStats
	// EventsDropped is how many (event, handler) deliveries the event bus
	// dropped because a handler was slow (callbacks.Bus.Dropped).
	EventsDropped uint64
}

// Counters are the message counters of one topic, or of all of them.
// Acknowledged plus Failed may exceed Produced by the messages the
// producer found in Config.SpillDir at start: those were produced by an
// earlier process.
type Counters struct {
	// Produced and ProducedBytes count the messages produce calls accepted
	// (not those a call refused with an error) and their encoded size.
	Produced      uint64
	ProducedBytes uint64
	// Acknowledged and AcknowledgedBytes count the messages a broker
	// acknowledged (with AcksNone: written to a broker's socket).
	Acknowledged      uint64
	AcknowledgedBytes uint64
	// Failed counts the messages reported failed, by class of error, such
	// as Failed[ClassTimeout]; see ErrorClassOf.
	Failed [numErrorClasses]uint64
	// Batches counts the batches sent (each once, however often it was
	// resent); Retries counts the resends.
	Batches uint64
	Retries uint64
}

// FailedTotal is the sum of Failed.
func (c Counters) FailedTotal() uint64 {
	var n uint64
	for _, v := range c.Failed {
		n += v
	}
	return n
}

func (c *Counters) add(o Counters) {
	c.Produced += o.Produced
	c.ProducedBytes += o.ProducedBytes
	c.Acknowledged += o.Acknowledged
	c.AcknowledgedBytes += o.AcknowledgedBytes
	for i := range c.Failed {
		c.Failed[i] += o.Failed[i]
	}
	c.Batches += o.Batches
	c.Retries += o.Retries
}

// DowntimeStats counts the producer's downtime events, the callbacks
// package's kinds, as counters (callbacks.Bus.Totals of each kind).
type DowntimeStats struct {
	// WorkerDown counts worker_down events: a partition worker lost its
	// leader and entered downtime. WorkerUp counts worker_up events:
	// a worker connected or came back.
	WorkerDown uint64
	WorkerUp   uint64
	// Time is the sum of the time_down durations: how long workers were
	// down, counted when each came back.
	Time time.Duration
	// SavedMessages counts the messages saved to downtime buffers
	// (downtime_saved), ReplayedMessages those replayed from them
	// (downtime_replayed).
	SavedMessages    uint64
	ReplayedMessages uint64
	// BufferFull counts max_downtime_buffer_reached events (the buffer
	// limits were reached: a call refused or blocked, or, under DropOldest,
	// messages shed); BufferFullMessages the messages they were about.
	BufferFull         uint64
	BufferFullMessages uint64
	// BrokerUnreachable counts mainbroker_unreachable events: no broker
	// answered for metadata, or a broker's circuit breaker opened.
	BrokerUnreachable uint64
}

// BrokerStats is one broker as the producer sees it.
type BrokerStats struct {
	ID      int32
	Addr    string
	Breaker BreakerState
}

// BreakerState is the state of a broker's circuit breaker (see
// Config.BreakerFailures).
type BreakerState int8

const (
	// BreakerClosed: the broker is used.
	BreakerClosed BreakerState = iota
	// BreakerHalfOpen: one probe is let through to see if it is back.
	BreakerHalfOpen
	// BreakerOpen: the broker failed; merlin does not try it until the
	// breaker's timeout passes.
	BreakerOpen
)

var breakerNames = [...]string{"closed", "half-open", "open"}

func (s BreakerState) String() string {
	if s >= 0 && int(s) < len(breakerNames) {
		return breakerNames[s]
	}
	return "unknown"
}

// ErrorClass is a coarse, fixed classification of the errors a message can
// fail with, for counters and metric labels.
type ErrorClass uint8

const (
	// ClassOther is any error not in another class (an unencodable batch,
	// an unreadable spill, a custom picker's error).
	ClassOther ErrorClass = iota
	// ClassTimeout: ErrDeliveryTimeout.
	ClassTimeout
	// ClassBufferFull: ErrBufferFull.
	ClassBufferFull
	// ClassClosed: ErrClosed (Close ran out of time; ErrLeftInSpill too).
	ClassClosed
	// ClassTooLarge: ErrMessageTooLarge, ours or a broker's.
	ClassTooLarge
	// ClassUnknownTopic: ErrUnknownTopic (also a topic deleted while in use).
	ClassUnknownTopic
	// ClassBroker: any other error code a broker answered (a BrokerError).
	ClassBroker
	// ClassContext: the produce call's context ended before it accepted
	// the message. Only produce calls return it (and hooks see it); an
	// accepted message never fails with it.
	ClassContext

	numErrorClasses
)

var classNames = [numErrorClasses]string{"other", "timeout", "buffer_full", "closed", "too_large", "unknown_topic", "broker", "context"}

// String returns the class's name as metric labels use it: "other",
// "timeout", "buffer_full", "closed", "too_large", "unknown_topic",
// "broker" or "context".
func (c ErrorClass) String() string {
	if c < numErrorClasses {
		return classNames[c]
	}
	return "unknown"
}

// ErrorClasses returns every class, in order: the indices of
// Counters.Failed.
func ErrorClasses() []ErrorClass {
	cs := make([]ErrorClass, numErrorClasses)
	for i := range cs {
		cs[i] = ErrorClass(i)
	}
	return cs
}

// ErrorClassOf classifies err (which should not be nil), with errors.Is and
// errors.As, in the order of the class constants: a delivery timeout whose
// last error was a broker's is ClassTimeout.
func ErrorClassOf(err error) ErrorClass {
	var be *BrokerError
	switch {
	case errors.Is(err, ErrDeliveryTimeout):
		return ClassTimeout
	case errors.Is(err, ErrBufferFull):
		return ClassBufferFull
	case errors.Is(err, ErrClosed):
		return ClassClosed
	case errors.Is(err, ErrMessageTooLarge):
		return ClassTooLarge
	case errors.Is(err, ErrUnknownTopic):
		return ClassUnknownTopic
	case errors.As(err, &be):
		return ClassBroker
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return ClassContext
	}
	return ClassOther
}

// Histogram is a snapshot of a distribution: Counts[i] observations at most
// Bounds[i] and above Bounds[i-1]; the last count, Counts[len(Bounds)], is
// of those above every bound. Bounds double from one to the next.
type Histogram struct {
	// Bounds are the buckets' upper bounds, increasing. The slice is
	// shared by every snapshot: do not modify it.
	Bounds []float64
	Counts []uint64
	// Count is the number of observations, the sum of Counts; Sum is the
	// sum of the observed values.
	Count uint64
	Sum   float64
}

// Mean is Sum/Count, 0 without observations.
func (h Histogram) Mean() float64 {
	if h.Count == 0 {
		return 0
	}
	return h.Sum / float64(h.Count)
}

// Quantile estimates the q-quantile (0 <= q <= 1) by linear interpolation
// within the bucket it falls in, as Prometheus's histogram_quantile does:
// within a factor of two of the truth. It returns 0 without observations,
// and the highest bound when the quantile falls above every bound.
func (h Histogram) Quantile(q float64) float64 {
	if h.Count == 0 || len(h.Bounds) == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := q * float64(h.Count)
	var seen float64
	for i, c := range h.Counts {
		if c == 0 {
			continue
		}
		if seen+float64(c) >= rank {
			if i == len(h.Bounds) {
				return h.Bounds[i-1]
			}
			lo := 0.0
			if i > 0 {
				lo = h.Bounds[i-1]
			}
			return lo + (h.Bounds[i]-lo)*(rank-seen)/float64(c)
		}
		seen += float64(c)
	}
	return h.Bounds[len(h.Bounds)-1]
}

// hist is a histogram with doubling buckets, updated with atomic
// additions: base is the first bucket's upper bound in the observed unit,
// scale converts that unit to the snapshot's.
type hist struct {
	base   uint64
	scale  float64
	bounds []float64
	counts []atomic.Uint64 // len(bounds)+1
	sum    atomic.Uint64
}

func newHist(base uint64, buckets int, scale float64) *hist {
	h := &hist{base: base, scale: scale, bounds: make([]float64, buckets), counts: make([]atomic.Uint64, buckets+1)}
	for i := range h.bounds {
		h.bounds[i] = float64(base<<i) * scale
	}
	return h
}

func (h *hist) observe(v uint64) {
	i := 0
	if v > h.base {
		// v in (base<<(i-1), base<<i] has (v-1)/base in [2^(i-1), 2^i).
		i = min(bits.Len64((v-1)/h.base), len(h.bounds))
	}
	h.counts[i].Add(1)
	h.sum.Add(v)
}

func (h *hist) snapshot() Histogram {
	s := Histogram{Bounds: h.bounds, Counts: make([]uint64, len(h.counts))}
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
		s.Count += s.Counts[i]
	}
	s.Sum = float64(h.sum.Load()) * h.scale
	return s
}

// stats are the producer-wide distributions.
type stats struct {
	latency, rtt *hist // nanoseconds
	batchMsgs    *hist
	batchBytes   *hist
}

func newStats() *stats {
	const ns = 1e-9
	return &stats{
		latency:    newHist(uint64(500*time.Microsecond), 18, ns), // 0.5 ms .. 65 s
		rtt:        newHist(uint64(500*time.Microsecond), 18, ns),
		batchMsgs:  newHist(1, 15, 1),   // 1 .. 16384
		batchBytes: newHist(128, 20, 1), // 128 B .. 64 MiB
	}
}

// workerCounters are one worker's message counters: the producers calling
// add write produced, under the worker's mu which they hold anyway (no
// atomic on the produce path); the worker's goroutine the rest. Stats sums
// them by topic. Workers are never removed, so the sums never go down.
type workerCounters struct {
	produced, producedBytes uint64 // under worker.mu
	acked, ackedBytes       atomic.Uint64
	failed                  [numErrorClasses]atomic.Uint64
	batches, retries        atomic.Uint64
}

func (w *worker) counters() Counters {
	c := &w.ctr
	w.mu.Lock()
	s := Counters{Produced: c.produced, ProducedBytes: c.producedBytes}
	w.mu.Unlock()
	s.Acknowledged = c.acked.Load()
	s.AcknowledgedBytes = c.ackedBytes.Load()
	s.Batches = c.batches.Load()
	s.Retries = c.retries.Load()
	for i := range c.failed {
		s.Failed[i] = c.failed[i].Load()
	}
	return s
}

// countAccepted counts messages of bytes encoded bytes a produce call
// handed to w. Called with w.mu held.
func (w *worker) countAccepted(n, bytes int) {
	w.ctr.produced += uint64(n)
	w.ctr.producedBytes += uint64(bytes)
}

// countSent counts b being sent: a new batch, or a resend.
func (w *worker) countSent(b *batch) {
	if b.attempts > 1 {
		w.ctr.retries.Add(1)
		return
	}
	w.ctr.batches.Add(1)
	w.p.stats.batchMsgs.observe(uint64(b.n))
	w.p.stats.batchBytes.observe(uint64(b.bytes))
}

// countAnswered counts a broker's acknowledgement of b, sent at sentAt.
func (w *worker) countAnswered(b *batch) {
	w.p.stats.rtt.observe(uint64(max(0, time.Since(b.sentAt))))
}

// countSettled counts the outcome of b's n messages.
func (w *worker) countSettled(b *batch, n int, err error) {
	if err != nil {
		w.ctr.failed[ErrorClassOf(err)].Add(uint64(n))
		return
	}
	w.ctr.acked.Add(uint64(n))
	w.ctr.ackedBytes.Add(uint64(b.bytes))
	if b.first > 0 {
		w.p.stats.latency.observe(uint64(max(0, time.Now().UnixNano()-b.first)))
	}
}

// Stats returns a snapshot of the producer's counters. It is cheap enough
// to call every few seconds: it takes no lock a produce call waits on for
// long, and allocates only the snapshot. Counting costs the produce path
// a few atomic additions per call and per batch, and no allocation.
func (p *Producer) Stats() Stats {
	s := Stats{
		Topics:         map[string]Counters{},
		Latency:        p.stats.latency.snapshot(),
		RequestLatency: p.stats.rtt.snapshot(),
		BatchMessages:  p.stats.batchMsgs.snapshot(),
		BatchBytes:     p.stats.batchBytes.snapshot(),
		Connections:    int(p.connsOpen.Load()),
		EventsDropped:  p.bus.Dropped(),
	}
	p.forEachWorker(func(w *worker) {
		c := s.Topics[w.t.name]
		c.add(w.counters())
		s.Topics[w.t.name] = c
		if st := State(w.st.Load()); st >= 0 && st <= StateClosed {
			s.Workers[st]++
		}
	})
	for _, c := range s.Topics {
		s.Counters.add(c)
	}
	s.BufferedMessages, s.BufferedBytes = p.BufferedMessages()

	p.connsMu.Lock()
	for id, c := range p.conns {
		s.Brokers = append(s.Brokers, BrokerStats{ID: id, Addr: c.addr, Breaker: breakerState(c.cb.State())})
	}
	p.connsMu.Unlock()
	slices.SortFunc(s.Brokers, func(a, b BrokerStats) int { return cmp.Compare(a.ID, b.ID) })

	bus := p.bus
	s.Downtime = DowntimeStats{
		WorkerDown:         bus.Totals(callbacks.WorkerDown).Events,
		WorkerUp:           bus.Totals(callbacks.WorkerUp).Events,
		Time:               bus.Totals(callbacks.TimeDown).Duration,
		SavedMessages:      bus.Totals(callbacks.DowntimeSaved).Count,
		ReplayedMessages:   bus.Totals(callbacks.DowntimeReplayed).Count,
		BufferFull:         bus.Totals(callbacks.MaxDowntimeBufferReached).Events,
		BufferFullMessages: bus.Totals(callbacks.MaxDowntimeBufferReached).Count,
		BrokerUnreachable:  bus.Totals(callbacks.MainBrokerUnreachable).Events,
	}
	return s
}

func breakerState(s gobreaker.State) BreakerState {
	switch s {
	case gobreaker.StateHalfOpen:
		return BreakerHalfOpen
	case gobreaker.StateOpen:
		return BreakerOpen
	}
	return BreakerClosed
}
