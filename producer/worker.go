package producer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/cenkalti/backoff/v4"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/merlinkafka/merlin/buffer"
	"github.com/merlinkafka/merlin/callbacks"
	"github.com/merlinkafka/merlin/internal/kbatch"
)

// rec is one accepted message on its way to a broker.
type rec struct {
	msg      Message
	ts       int64 // milliseconds
	deadline int64 // unix nanoseconds; 0 means none
	size     int32
	idx      int32   // index in the ProduceSync call's results
	w        *waiter // nil unless the message belongs to a ProduceSync call
}

// ack is the answer to one produce request, handed from sarama's reader
// goroutine to the worker.
type ack struct {
	b    *batch
	resp *sarama.ProduceResponse
	err  error
}

// worker serves one partition (or one of its workers when a topic has
// several per partition). Producers append to the open batch under mu;
// the worker's goroutine owns everything else: the state, the backlog of
// sealed batches, what is in flight, and retries.
type worker struct {
	p     *Producer
	t     *topicState
	part  *partition
	index int

	// Producer side, under mu: the open batch. Unless delivery needs the
	// messages back (see Producer.keepsMessages), a produce call encodes
	// its messages straight into curEnc, keeping a note for each with a
	// callback or waiter; otherwise they are kept in cur.
	mu           sync.Mutex
	curN         int
	cur          []rec
	curEnc       kbatch.Builder
	curNotes     []note
	curHdrs      []kbatch.RecordHeader
	curBytes     int
	curCallbacks bool     // some message of the open batch has OnDelivery
	curFirst     int64    // unix nanoseconds of the first message of cur
	curDeadline  int64    // of the first message
	sealed       []*batch // full batches waiting for the worker
	queued       int      // messages held until settled, wherever they are (PartitionInfo.Buffered); the producer-wide sum is p.bud's
	flushReq     bool     // send cur now (ProduceSync, ProduceAsync, Flush)
	stopping     bool     // Close: take no more
	running      bool     // its goroutine runs (see run: an idle worker has none)

	wake chan struct{} // capacity 1
	acks chan ack      // answers to what is in flight; nil while idle (send makes it)
	done chan struct{}

	// Worker-owned.
	state    State
	pending  []*batch // sealed, not sent; the downtime buffer when down
	inflight []*batch // sent, unanswered, in send order
	retry    []*batch // answered retriably, to resend in order before pending
	pid      int64
	epoch    int16
	nextSeq  int32
	// pidSeen: the broker has acknowledged a batch of this producer id on
	// this partition. Until then one batch at a time: a broker without state
	// for a producer id takes any first sequence (Kafka 2.5+), so a second
	// batch could be stored before a first one that failed.
	pidSeen    bool
	started    time.Time
	downSince  time.Time
	backoff    *backoff.ExponentialBackOff
	replayLeft int // batches of the downtime backlog still to send
	replayMsgs int
	retryAt    time.Time
	lastErr    error

	spill      *buffer.Spill   // this worker's own, opened on first need
	spills     []*buffer.Spill // every spill it uses, adopted ones too
	builder    kbatch.Builder  // encodes the batches it seals
	hdrScratch []kbatch.RecordHeader
	idleSince  time.Time

	rep       *reporter    // reports its settled batches
	reporting atomic.Int32 // batches handed to rep, not yet reported

	retryNow atomic.Bool // the leader moved: skip the backoff
	up       atomic.Bool // leader reachable, for pickers
	st       atomic.Int32
	ctr      workerCounters
}

func newWorker(p *Producer, t *topicState, part *partition, index int) *worker {
	w := &worker{
		p:       p,
		t:       t,
		part:    part,
		index:   index,
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		pid:     -1,
		epoch:   -1,
		state:   StateConnecting,
		started: time.Now(),
		backoff: p.newBackoff(),
		rep:     p.reporters[(int(part.id)+index)%len(p.reporters)],
	}
	w.up.Store(true) // optimistic until the first failure
	return w
}

// start runs the worker's goroutine if it is not running. Called with mu
// held; the caller runs the goroutine when it returns true.
func (w *worker) startLocked() bool {
	if w.running {
		return false
	}
	w.running = true
	return true
}

// wakeUp signals the worker, starting its goroutine if it had none.
func (w *worker) wakeUp() {
	w.mu.Lock()
	start := w.startLocked()
	w.mu.Unlock()
	if start {
		go w.run()
	}
	w.signal()
}

func (w *worker) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// call is what the messages of one produce call share.
type call struct {
	nowMS    int64   // the call's time, the timestamp of messages without one
	deadline int64   // unix nanoseconds; 0 means none
	wt       *waiter // nil unless the call is ProduceSync
}

// add appends msgs, the messages first, first+1, ... of call c, to the open
// batch, sealing it whenever it reaches a limit. It reads the caller's
// messages in place: only a worker that keeps messages (not direct) copies
// them, into rec. It returns how many messages the worker now holds.
func (w *worker) add(msgs []Message, first int, c *call, flush bool) (int, error) {
	set := &w.t.set
	w.mu.Lock()
	if w.stopping {
		w.mu.Unlock()
		return 0, ErrClosed
	}
	signal := flush
	bytes := 0
	direct := w.t.direct
	for i := range msgs {
		m := &msgs[i]
		size := m.size()
		if w.curN > 0 && (w.curN+1 > set.maxMessages || w.curBytes+size > set.maxBytes) {
			w.sealLocked()
			signal = true
		}
		if w.curN == 0 {
			w.curFirst = w.p.clock.Now()
			w.curDeadline = c.deadline
			if direct {
				w.curEnc.Codec = set.compression.codec()
				w.curEnc.NoCRC = true // see worker.encode
				w.curEnc.Use(w.t.encs.get())
				w.curEnc.Grow(w.t.encRoom())
			} else if cap(w.cur) == 0 {
				w.cur = w.t.getRecs()
			}
			signal = true // the worker arms its TTL timer
		}
		ts := c.nowMS
		if !m.Timestamp.IsZero() {
			ts = m.Timestamp.UnixMilli()
		}
		idx := int32(first + i)
		if direct {
			w.curEnc.Add(ts, m.Key, m.Value, w.headers(m.Headers)...)
			if m.OnDelivery != nil || c.wt != nil {
				if w.curNotes == nil {
					w.curNotes = w.t.notes.getOrMake(16, set.maxMessages)
				}
				w.curNotes = append(w.curNotes, note{i: int32(w.curN), onDelivery: m.OnDelivery, w: c.wt, idx: idx})
				w.curCallbacks = w.curCallbacks || m.OnDelivery != nil
			}
		} else {
			w.cur = append(w.cur, rec{msg: *m, ts: ts, deadline: c.deadline, size: int32(size), idx: idx, w: c.wt})
		}
		w.curN++
		w.curBytes += size
		bytes += size
	}
	w.countAccepted(len(msgs), bytes)
	w.queued += len(msgs)
	if flush {
		w.flushReq = true
	}
	n := w.queued
	start := w.startLocked()
	w.mu.Unlock()
	if start {
		go w.run()
	}
	if signal || start {
		w.signal()
	}
	return n, nil
}

// headers converts a message's headers for the builder, in a scratch
// slice guarded by mu.
func (w *worker) headers(hs []Header) []kbatch.RecordHeader {
	if len(hs) == 0 {
		return nil
	}
	out := w.curHdrs[:0]
	for _, h := range hs {
		out = append(out, kbatch.RecordHeader(h))
	}
	w.curHdrs = out
	return out
}

func (w *worker) sealLocked() {
	b := &batch{n: w.curN, bytes: w.curBytes, deadline: w.curDeadline, first: w.curFirst}
	if w.t.direct {
		w.t.encs.hint.sealed(w.curEnc.Size())
		b.open = w.curEnc.Detach(nil) // an idle partition holds no buffer
		w.t.notes.hint.sealed(len(w.curNotes))
		b.notes, b.callbacks = w.curNotes, w.curCallbacks
		w.curNotes, w.curCallbacks = nil, false
		clear(w.curHdrs)
	} else {
		w.t.recs.hint.sealed(len(w.cur))
		b.recs = w.cur
		w.cur = nil
	}
	w.sealed = append(w.sealed, b)
	w.curN = 0
	w.curBytes = 0
}

func (w *worker) setState(s State) {
	if w.state == s {
		return
	}
	from := w.state
	w.state = s
	w.st.Store(int32(s))
	w.emit(callbacks.Event{Kind: callbacks.StateChange, From: from.String(), To: s.String()})
}

func (w *worker) emit(e callbacks.Event) {
	e.Topic = w.t.name
	e.Partition = w.part.id
	e.Broker = w.part.leader.Load()
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	w.p.bus.Emit(e)
}

// idleExit is how long a worker with nothing to do keeps its goroutine.
var idleExit = 2 * time.Second

// run is the worker's goroutine. It runs while the worker has work: once
// it has held nothing for idleExit it ends, and the next produce call (or
// Close) starts another. The worker's state lives in the worker, not in
// the goroutine, so an idle partition costs no goroutine.
func (w *worker) run() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if w.collect() && w.state == StateReady {
			w.setState(StateDraining)
		}
		w.failIfGone()
		w.expire()
		w.shed()
		w.step()
		if w.state == StateReady && w.isStopping() {
			w.setState(StateDraining)
		}
		if w.isStopping() && w.empty() {
			w.close()
			return
		}
		if w.idle() {
			return
		}
		wait := w.nextWake()
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
		select {
		case <-w.wake:
		case a := <-w.acks:
			w.handleAck(a)
			// Take every answer already waiting before deciding anything.
			for more := true; more; {
				select {
				case a := <-w.acks:
					w.handleAck(a)
				default:
					more = false
				}
			}
		case <-timer.C:
		case <-w.p.life.abortC:
			w.abort(ErrClosed)
			w.close()
			return
		}
	}
}

// close ends the worker for good: its goroutine stays counted as running,
// so that nothing starts another.
func (w *worker) close() {
	w.setState(StateClosed)
	w.closeSpills()
	close(w.done)
}

// idle reports whether the worker's goroutine may end now: it has held
// nothing, sent nothing and waited for nothing for idleExit.
func (w *worker) idle() bool {
	if len(w.pending)+len(w.inflight)+len(w.retry) > 0 || !w.retryAt.IsZero() {
		w.idleSince = time.Time{}
		return false
	}
	now := time.Now()
	if w.idleSince.IsZero() {
		w.idleSince = now
		return false
	}
	if now.Sub(w.idleSince) < idleExit {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.queued > 0 || w.curN > 0 || len(w.sealed) > 0 || w.stopping || w.flushReq {
		w.idleSince = time.Time{}
		return false
	}
	w.running = false
	w.idleSince = time.Time{}
	w.acks = nil // nothing is in flight; send makes another
	return true
}

// collect takes sealed batches from the producer side, and the open batch
// too when it is due: its TTL passed, or a flush was asked for.
func (w *worker) collect() (stopping bool) {
	now := time.Now().UnixNano()
	open := w.openBatchMaySeal()
	w.mu.Lock()
	stopping = w.stopping
	// A flush (ProduceSync, ProduceAsync, Flush) goes out at once when
	// nothing is in flight; otherwise it waits for the next answer (or the
	// TTL), gathering what the other callers add meanwhile.
	flushNow := w.flushReq && (len(w.inflight) == 0 || w.state == StateDowntime)
	// A produce call waiting for room in the buffer: send now rather than
	// when the batch fills or its TTL passes, if nothing of this partition
	// is on the way. Otherwise its answer gives room back and wakes the
	// worker; sealing at every wake-up under a full buffer would make
	// batches small exactly when the broker is the bottleneck.
	pressed := w.p.bud.Waiting() && len(w.inflight)+len(w.pending)+len(w.retry) == 0
	if w.curN > 0 && open && (flushNow || pressed || w.stopping || now-w.curFirst >= int64(w.t.set.ttl)) {
		w.sealLocked()
		w.flushReq = false
	}
	if w.curN == 0 {
		w.flushReq = false
	}
	sealed := w.sealed
	w.sealed = nil
	w.mu.Unlock()
	w.takeSealed(sealed)
	return stopping
}

// takeSealed prepares (encodes) batches sealed on the producer side and
// queues them, in order. While the leader is down they are held as their
// encoding only, and spilled when the producer has a spill.
func (w *worker) takeSealed(sealed []*batch) {
	saved := 0
	for _, b := range sealed {
		if !w.prepare(b) {
			continue
		}
		w.pending = append(w.pending, b)
		if w.state == StateDowntime {
			saved += b.n
			w.dropRecs(b)
			w.spillOut(b)
		}
	}
	if saved > 0 {
		w.emit(callbacks.Event{Kind: callbacks.DowntimeSaved, Count: saved})
	}
}

// held is how many messages the worker holds, for reports.
func (w *worker) held() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.queued
}

func (w *worker) isStopping() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stopping
}

// window is how many batches the worker may have in flight now.
func (w *worker) window() int {
	if w.pid >= 0 && !w.pidSeen {
		return 1
	}
	return w.p.cfg.MaxInFlight
}

// openBatchMaySeal reports whether the open batch, once due (TTL passed,
// flush asked), should be sealed now: when it would go out at once (room
// in the window, nothing queued ahead of it), or when the leader is down
// (sealed batches are packed and spilled). Otherwise it stays open and
// keeps growing until an answer frees a slot: under load, many small
// flushes (ProduceSync from many goroutines) make one request, not many.
func (w *worker) openBatchMaySeal() bool {
	if w.state == StateDowntime {
		return true
	}
	return len(w.inflight) < w.window() && len(w.retry) == 0 && len(w.pending) == 0 &&
		(w.retryAt.IsZero() || !time.Now().Before(w.retryAt))
}

// nextWake is how long the worker may sleep: until the open batch's TTL
// (when it may then be sealed; otherwise an answer wakes the worker), a
// retry backoff, or the oldest deadline.
func (w *worker) nextWake() time.Duration {
	d := time.Hour
	open := w.openBatchMaySeal()
	w.mu.Lock()
	if w.curN > 0 && open {
		d = time.Duration(w.curFirst + int64(w.t.set.ttl) - time.Now().UnixNano())
	}
	w.mu.Unlock()
	if !w.retryAt.IsZero() {
		d = min(d, time.Until(w.retryAt))
	}
	if w.p.cfg.DeliveryTimeout > 0 && (len(w.pending) > 0 || len(w.retry) > 0) {
		d = min(d, w.p.cfg.DeliveryTimeout/4)
	}
	if !w.idleSince.IsZero() {
		d = min(d, time.Until(w.idleSince.Add(idleExit)))
	}
	return max(d, 0)
}

func (w *worker) empty() bool {
	w.mu.Lock()
	n := w.queued
	w.mu.Unlock()
	return n == 0 && len(w.pending) == 0 && len(w.inflight) == 0 && len(w.retry) == 0
}

// step sends what can be sent, connecting first if needed.
func (w *worker) step() {
	if len(w.pending) == 0 && len(w.retry) == 0 {
		return
	}
	if w.retryNow.Swap(false) {
		w.retryAt = time.Time{}
	}
	if !w.retryAt.IsZero() {
		if time.Now().Before(w.retryAt) {
			return
		}
		w.retryAt = time.Time{}
	}
	// Resends go first, and only once nothing is in flight, so that order
	// holds: later batches wait behind them.
	if len(w.retry) > 0 && len(w.inflight) > 0 {
		return
	}
	conn, err := w.connect()
	if securityErr(err) {
		w.refused(err)
		return
	}
	if err != nil {
		w.failed(err, nil)
		return
	}
	if len(w.retry) > 0 && w.needsReset() {
		if err := w.resetProducerID(); err != nil {
			w.failed(err, nil)
			return
		}
	}
	switch w.state {
	case StateConnecting:
		w.becomeReady()
	case StateDowntime:
		// Leader reachable again: what piled up goes first, in order.
		w.replayLeft = len(w.retry) + len(w.pending)
		w.replayMsgs = 0
		for _, b := range w.retry {
			w.replayMsgs += b.n
		}
		for _, b := range w.pending {
			w.replayMsgs += b.n
		}
		w.setState(StateReplaying)
	}
	for len(w.inflight) < w.window() {
		var b *batch
		if len(w.retry) > 0 {
			b = popFront(&w.retry)
		} else if len(w.pending) > 0 {
			b = popFront(&w.pending)
		} else {
			break
		}
		if err := w.send(conn, b); err != nil {
			// Not sent (its broker's breaker is open): it goes back in
			// front, in order.
			w.retry = append([]*batch{b}, w.retry...)
			w.failed(err, nil)
			return
		}
		if w.state == StateReplaying {
			w.replayLeft--
			if w.replayLeft <= 0 {
				w.emit(callbacks.Event{Kind: callbacks.DowntimeReplayed, Count: w.replayMsgs})
				w.becomeReady()
			}
		}
	}
}

func (w *worker) becomeReady() {
	prev := w.state
	w.setState(StateReady)
	w.up.Store(true)
	w.backoff.Reset()
	switch prev {
	case StateConnecting:
		w.emit(callbacks.Event{Kind: callbacks.TimeToConnect, Duration: time.Since(w.started)})
		w.emit(callbacks.Event{Kind: callbacks.WorkerUp})
	case StateDowntime, StateReplaying:
		if !w.downSince.IsZero() {
			w.emit(callbacks.Event{Kind: callbacks.TimeDown, Duration: time.Since(w.downSince)})
			w.downSince = time.Time{}
		}
		w.emit(callbacks.Event{Kind: callbacks.WorkerUp})
	}
}

// connect returns the leader's connection.
func (w *worker) connect() (*brokerConn, error) {
	leader := w.part.leader.Load()
	conn := w.p.conn(leader)
	if conn == nil {
		return nil, fmt.Errorf("producer: %s/%d has no reachable leader (broker %d)", w.t.name, w.part.id, leader)
	}
	if b, _ := conn.current(); b != nil && (w.pid >= 0 || !w.p.idempotent(w.t)) {
		return conn, nil // the common case: nothing to wait for
	}
	ctx, cancel := context.WithTimeout(w.p.ctx, w.p.cfg.RequestTimeout)
	defer cancel()
	if _, _, err := conn.get(ctx); err != nil {
		return nil, err
	}
	if w.p.idempotent(w.t) && w.pid < 0 {
		// Workers sharing a partition each need their own producer id: one
		// id's sequence numbers must run in one order per partition.
		getID := w.p.producerID
		if len(w.part.workers) > 1 {
			getID = w.p.newProducerID
		}
		pid, epoch, err := getID(ctx)
		var kerrS sarama.KError
		switch {
		case errors.As(err, &kerrS) && !retriableCode(int16(kerrS)):
			// The broker refuses producer ids (too old, or not allowed):
			// produce without idempotence rather than not at all. A
			// retriable refusal (a coordinator still loading) is not
			// this: the worker tries again, idempotent.
			if !w.p.idemOff.Swap(true) {
				w.p.log.Warn("idempotence disabled: the broker refused a producer id", "err", err)
			}
		case err != nil:
			return nil, err
		default:
			w.pid, w.epoch, w.nextSeq = pid, epoch, 0
			w.pidSeen = false
		}
	}
	return conn, nil
}

// needsReset reports whether the broker lost track of this worker's
// sequence numbers: the first batch to resend was refused for its
// sequence or producer id with nothing before it outstanding.
func (w *worker) needsReset() bool {
	if w.pid < 0 || len(w.retry) == 0 {
		return false
	}
	var be *BrokerError
	if !errors.As(w.retry[0].lastErr, &be) {
		return false
	}
	switch be.Code {
	case kerr.OutOfOrderSequenceNumber.Code, kerr.UnknownProducerID.Code, kerr.InvalidProducerEpoch.Code:
		return true
	}
	return false
}

// resetProducerID takes a fresh producer id for this worker and renumbers
// every batch not yet acknowledged, in order. A batch that the broker did
// write but whose answer was lost may then be written twice: Kafka's own
// producers accept the same trade (KIP-360) rather than stall forever.
func (w *worker) resetProducerID() error {
	ctx, cancel := context.WithTimeout(w.p.ctx, w.p.cfg.RequestTimeout)
	defer cancel()
	pid, epoch, err := w.p.newProducerID(ctx)
	if err != nil {
		return err
	}
	w.pid, w.epoch, w.nextSeq = pid, epoch, 0
	w.pidSeen = false
	for _, b := range w.retry {
		b.numbered = false
	}
	for _, b := range w.pending {
		b.numbered = false
	}
	return nil
}

// send queues b, encoded when it was taken sealed, on the leader's
// connection: numbered on its first send when idempotent, it goes in
// flight and its broker's sink writes it with the next request.
func (w *worker) send(conn *brokerConn, b *batch) error {
	if err := w.load(b); err != nil {
		w.finish(b, -1, err)
		return nil
	}
	if w.pid >= 0 && w.t.set.acks == AcksAll && !b.numbered {
		b.pid, b.epoch, b.seq, b.numbered = w.pid, w.epoch, w.nextSeq, true
		w.nextSeq = addSeq(w.nextSeq, wireRecords(b.enc))
	}
	done, err := conn.allow()
	if err != nil {
		return err
	}
	if w.acks == nil {
		// Room for an answer to every batch in flight: the sink and
		// sarama's reader never block on it.
		w.acks = make(chan ack, w.p.cfg.MaxInFlight+1)
	}
	b.cbDone = done
	b.attempts++
	b.sentAt = time.Now()
	b.conn = conn
	w.countSent(b)
	w.emit(callbacks.Event{Kind: callbacks.Flush, Count: b.n, Bytes: b.bytes})
	w.inflight = append(w.inflight, b)
	conn.sink.push(b)
	return nil
}

// wireRecords is how many records the encoded batch enc carries: the
// sequence numbers it takes.
func wireRecords(enc []byte) int32 {
	h, err := kbatch.ParseHeader(enc)
	if err != nil {
		return 0
	}
	return h.NumRecords
}

// popFront takes the first batch of *list, clearing its slot so that the
// list's array does not keep the batch alive.
func popFront(list *[]*batch) *batch {
	b := (*list)[0]
	(*list)[0] = nil
	*list = (*list)[1:]
	return b
}

func addSeq(s, n int32) int32 {
	v := int64(s) + int64(n)
	if v > 0x7fffffff {
		v -= 0x80000000
	}
	return int32(v)
}

// handleAck settles one answered batch.
func (w *worker) handleAck(a ack) {
	// Answers come in send order; find the batch defensively all the same.
	i := 0
	for i < len(w.inflight) && w.inflight[i] != a.b {
		i++
	}
	if i == len(w.inflight) {
		return
	}
	w.inflight = slices.Delete(w.inflight, i, i+1) // clears the slot it frees
	b := a.b
	// The broker answered (whatever it said) or the connection failed: only
	// the latter counts against its breaker.
	b.cbDone(a.err)
	b.cbDone = nil
	if a.err != nil {
		// The connection is dead: every batch on it fails the same way.
		b.conn.fail(b.gen, a.err)
		b.lastErr = a.err
		w.requeue(b)
		w.failed(a.err, b.conn)
		return
	}
	if a.resp == nil {
		// AcksNone: written, and no answer comes.
		w.finish(b, -1, nil)
		return
	}
	block := a.resp.GetBlock(w.t.name, w.part.id)
	if block == nil {
		b.lastErr = fmt.Errorf("producer: answer for %s/%d missing", w.t.name, w.part.id)
		w.requeue(b)
		w.failed(b.lastErr, b.conn)
		return
	}
	code := int16(block.Err)
	switch {
	case code == 0 || code == kerr.DuplicateSequenceNumber.Code:
		if b.numbered && b.pid == w.pid {
			w.pidSeen = true
		}
		w.countAnswered(b)
		w.emit(callbacks.Event{Kind: callbacks.FlushedReplied, Count: b.n, Bytes: b.bytes, Duration: time.Since(b.sentAt)})
		w.finish(b, block.Offset, nil)
	case retriableCode(code):
		be := w.brokerErr(code)
		b.lastErr = be
		w.requeue(b)
		if code != kerr.OutOfOrderSequenceNumber.Code {
			w.p.refreshSoon()
		}
		w.failed(be, nil)
	case tooLargeCode(code) && w.splitTooLarge(b, code):
		// Resent in two halves; only a message alone in its batch that the
		// broker still refuses fails (as the Java producer does).
	default:
		err := w.brokerErr(code)
		w.finish(b, -1, err)
	}
}

// brokerErr is the error of a code the partition's leader answered.
func (w *worker) brokerErr(code int16) *BrokerError {
	return &BrokerError{Topic: w.t.name, Partition: w.part.id, Broker: w.part.leader.Load(), Code: code}
}

// tooLargeCode reports whether a broker refused a batch for its size:
// MESSAGE_TOO_LARGE (above the topic's max.message.bytes, which limits a
// whole record batch) or RECORD_LIST_TOO_LARGE (above its segment size).
func tooLargeCode(code int16) bool {
	return code == kerr.MessageTooLarge.Code || code == kerr.RecordListTooLarge.Code
}

// splitTooLarge splits a batch the broker refused for its size into two
// halves queued for resending in its place, and reports whether it did: a
// batch of one message, or one the massage hook rewrote, is not split.
// The halves keep the batch's producer id and its sequence numbers
// between them, so batches sent after it stay numbered right.
func (w *worker) splitTooLarge(b *batch, code int16) bool {
	if b.n < 2 {
		return false
	}
	first, second, ok := w.divide(b, b.n/2)
	if !ok {
		return false
	}
	be := w.brokerErr(code)
	first.lastErr, second.lastErr = be, be
	w.p.log.Debug("batch too large for the broker: split", "topic", w.t.name, "partition", w.part.id, "messages", b.n)
	w.requeue(first)
	w.requeue(second)
	w.dropEnc(b)
	return true
}

// requeue puts an answered-but-not-written batch back for resending, in
// sequence order among the others waiting.
func (w *worker) requeue(b *batch) {
	i := len(w.retry)
	for i > 0 && w.retry[i-1].numbered && b.numbered && seqBefore(b.seq, w.retry[i-1].seq) {
		i--
	}
	w.retry = append(w.retry, nil)
	copy(w.retry[i+1:], w.retry[i:])
	w.retry[i] = b
}

func seqBefore(a, b int32) bool { return int32(uint32(a)-uint32(b)) < 0 }

// failed records a failure to reach the leader: the worker goes down,
// asks for fresh metadata and backs off.
func (w *worker) failed(err error, conn *brokerConn) {
	w.lastErr = err
	if conn != nil && w.state == StateDowntime {
		// More answers failing on a connection already known dead: the
		// backoff was set by the first.
		return
	}
	w.retryAt = time.Now().Add(w.backoff.NextBackOff())
	if w.state == StateDowntime || w.state == StateDraining {
		// Still unreachable: ask again who leads. The cluster may have
		// moved the partition since the last answer (a dead broker is
		// only fenced after its session times out); waiting for the
		// periodic refresh would stall failover for up to MetadataRefresh.
		w.p.refreshSoon()
		return
	}
	var be *BrokerError
	if errors.As(err, &be) && be.Code == kerr.OutOfOrderSequenceNumber.Code {
		// Sequence trouble on a live connection: resend, not downtime.
		w.retryAt = time.Time{}
		return
	}
	w.up.Store(false)
	w.downSince = time.Now()
	w.setState(StateDowntime)
	for _, b := range w.pending {
		w.dropRecs(b)
		w.spillOut(b)
	}
	w.emit(callbacks.Event{Kind: callbacks.WorkerDown, Err: err})
	w.p.refreshSoon()
}

// refused fails every batch waiting to be sent with err, a refused
// authentication or TLS handshake: retrying would only be refused again
// until the configuration changes, and a caller must learn why at once,
// not as a delivery timeout. The worker counts as down meanwhile.
func (w *worker) refused(err error) {
	w.lastErr = err
	for _, list := range [][]*batch{w.retry, w.pending} {
		for _, b := range list {
			w.finish(b, -1, err)
		}
	}
	w.retry, w.pending = nil, nil
	if w.state == StateDowntime || w.state == StateDraining {
		return
	}
	w.up.Store(false)
	w.downSince = time.Now()
	w.setState(StateDowntime)
	w.emit(callbacks.Event{Kind: callbacks.WorkerDown, Err: err})
}

// finish settles b: its messages' outcome is reported, on the worker at
// once when that runs no user code and nothing is waiting to be reported
// before it, by the worker's reporter otherwise (see reporter).
func (w *worker) finish(b *batch, base int64, err error) {
	if b.recs == nil && b.enc == nil && w.p.needMessages() {
		// The reporter needs the messages and must not read the spill.
		_ = w.load(b)
	}
	if b.spill != nil && !errors.Is(err, ErrLeftInSpill) {
		if aerr := b.spill.Ack(b.spillBase); aerr != nil {
			w.p.log.Warn("spill: cannot record progress; its batches may be sent again after a restart", "err", aerr)
		}
	}
	if !b.callbacks && w.reporting.Load() == 0 {
		w.report(b, base, err)
		return
	}
	w.reporting.Add(1)
	w.rep.push(report{b: b, base: base, err: err})
}

// report delivers the outcome of b's messages and gives their room back.
// It runs on the worker or on its reporter, and b is no longer the
// worker's.
func (w *worker) report(b *batch, base int64, err error) {
	var decoded []kbatch.Record
	if b.recs == nil && w.p.needMessages() && b.enc != nil {
		// Unreadable: reported all the same, without their content.
		decoded, _ = kbatch.Records(b.enc)
		b.lent = true
	}
	ni := 0
	for i := 0; i < b.n; i++ {
		off := int64(-1)
		if err == nil && base >= 0 {
			off = base + int64(i)
			if b.massaged {
				// The hook may merge or split records: every original
				// is in the batch that starts at base.
				off = base
			}
		}
		res := Result{Topic: w.t.name, Partition: w.part.id, Offset: off, Err: err}
		if b.recs != nil {
			w.deliver(&b.recs[i], res)
			continue
		}
		var r rec
		if i < len(decoded) {
			r.msg = decodedMessage(&decoded[i])
		}
		if ni < len(b.notes) && int(b.notes[ni].i) == i {
			n := &b.notes[ni]
			r.msg.OnDelivery, r.w, r.idx = n.onDelivery, n.w, n.idx
			ni++
		}
		w.deliver(&r, res)
	}
	w.countSettled(b, b.n, err)
	if err != nil {
		w.emit(callbacks.Event{Kind: callbacks.MessagesFailed, Count: b.n, Err: err})
	}
	w.mu.Lock()
	w.queued -= b.n
	w.mu.Unlock()
	if !b.roomBack {
		w.p.release(b.n, b.budget())
	}
	w.t.recs.clearPut(b.recs)
	b.recs = nil
	w.dropEnc(b)
	b.rb = sarama.RecordBatch{} // it refers to the encoding too
	w.t.notes.clearPut(b.notes)
	b.notes = nil
}

// dropEnc lets b's encoding go, back to the topic's free list unless
// messages handed out alias it.
func (w *worker) dropEnc(b *batch) {
	if !b.lent && b.enc != nil {
		w.t.encs.put(b.enc)
	}
	b.enc = nil
}

func (w *worker) deliver(r *rec, res Result) {
	if w.p.hooks != nil {
		w.p.hooks.delivered(r.hookCtx(), r.msg, res)
	}
	if r.w != nil {
		r.w.complete(int(r.idx), res)
	}
	if r.msg.OnDelivery != nil {
		r.msg.OnDelivery(res)
	} else if w.p.cfg.OnDelivery != nil {
		w.p.cfg.OnDelivery(r.msg, res)
	}
}

// expire fails messages whose delivery timeout passed and that are not in
// flight (an in-flight batch may yet be written; its answer decides).
func (w *worker) expire() {
	if w.p.cfg.DeliveryTimeout <= 0 {
		return
	}
	now := time.Now().UnixNano()
	keep := func(list []*batch) []*batch {
		out := list[:0]
		for _, b := range list {
			if b.deadline != 0 && now > b.deadline {
				err := ErrDeliveryTimeout
				if b.lastErr != nil {
					err = fmt.Errorf("%w (last error: %w)", ErrDeliveryTimeout, b.lastErr)
				} else if w.lastErr != nil {
					err = fmt.Errorf("%w (last error: %w)", ErrDeliveryTimeout, w.lastErr)
				}
				w.finish(b, -1, err)
				continue
			}
			out = append(out, b)
		}
		return out
	}
	w.retry = keep(w.retry)
	w.pending = keep(w.pending)
}

// shed fails this worker's oldest messages that were never sent, when the
// buffer is full under the DropOldest policy. Batches already sent are
// left alone: the broker may have them.
func (w *worker) shed() {
	for w.p.shedWanted.Load() > 0 {
		if len(w.pending) == 0 {
			// Nothing sealed: take what the open batch holds.
			w.sealAll(false)
			if len(w.pending) == 0 {
				return
			}
		}
		b := w.pending[0]
		if b.numbered {
			return // sequence numbers are taken: it must be sent
		}
		k := int(min(w.p.shedWanted.Load(), int64(b.n)))
		if k <= 0 {
			return
		}
		if b.spill != nil || b.massaged {
			// A spilled batch goes whole: the spill can only mark whole
			// batches done, and a part left there would be sent again by
			// the next producer on the directory. A massaged one has no
			// originals to cut.
			k = b.n
		}
		if want := w.p.shedWanted.Load(); !w.p.shedWanted.CompareAndSwap(want, max(0, want-int64(k))) {
			continue
		}
		dropped := b
		if k < b.n {
			if first, second, ok := w.divide(b, k); ok {
				dropped = first
				w.pending[0] = second
				w.dropEnc(b)
			}
		}
		if dropped == b {
			popFront(&w.pending)
		}
		w.emit(callbacks.Event{Kind: callbacks.MaxDowntimeBufferReached, Count: dropped.n, Err: ErrBufferFull})
		// The room goes back now, not once the callbacks have run: the
		// call waiting for it would otherwise see no room yet and ask
		// for more messages to be shed.
		w.p.release(dropped.n, dropped.budget())
		dropped.roomBack = true
		w.finish(dropped, -1, ErrBufferFull)
	}
}

// sealAll seals the open batch and moves every sealed batch from the
// producer side to pending, in order; with stop it also takes no more.
func (w *worker) sealAll(stop bool) {
	w.mu.Lock()
	if stop {
		w.stopping = true
	}
	if w.curN > 0 {
		w.sealLocked()
	}
	sealed := w.sealed
	w.sealed = nil
	w.mu.Unlock()
	w.takeSealed(sealed)
}

// failIfGone fails every message the worker holds and has not sent when
// its topic was deleted. Batches in flight are left to their answers
// (UNKNOWN_TOPIC_OR_PARTITION sends them back here to fail).
func (w *worker) failIfGone() {
	if !w.t.gone.Load() {
		return
	}
	w.sealAll(false)
	if len(w.pending)+len(w.retry) == 0 {
		return
	}
	err := w.t.goneErr()
	for _, list := range [][]*batch{w.retry, w.pending} {
		for _, b := range list {
			w.finish(b, -1, err)
		}
	}
	w.retry, w.pending = nil, nil
}

// abort fails everything the worker holds: Close ran out of time.
func (w *worker) abort(err error) {
	w.sealAll(true)
	for i, b := range w.inflight {
		// Its sink (or sarama's reader, answering) may still use it: the
		// report goes through a copy of what does not change in flight.
		w.inflight[i] = b.inFlightCopy()
	}
	for _, list := range [][]*batch{w.inflight, w.retry, w.pending} {
		for _, b := range list {
			if b.spill != nil {
				w.finish(b, -1, ErrLeftInSpill)
				continue
			}
			w.finish(b, -1, err)
		}
	}
	w.inflight, w.retry, w.pending = nil, nil, nil
}

// drain makes the worker send everything it has and then stop.
func (w *worker) drain() {
	w.mu.Lock()
	w.stopping = true
	start := w.startLocked()
	w.mu.Unlock()
	if start {
		go w.run()
	}
	w.signal()
}
