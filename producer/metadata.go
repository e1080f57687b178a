package producer

import (
	"context"
	"errors"
	"fmt"
	"github.com/merlinkafka/merlin/internal/kbatch"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/cenkalti/backoff/v4"

	"github.com/merlinkafka/merlin/callbacks"
	"github.com/merlinkafka/merlin/picker"
)

// topicState is what the producer knows of one topic.
type topicState struct {
	name   string
	set    topicSettings
	picker picker.Picker

	ready    chan struct{} // closed once the first metadata arrived (or failed for good)
	readyErr error         // set before ready is closed
	once     sync.Once

	parts atomic.Pointer[[]*partition]

	// unknownSeen counts the metadata answers in a row that said a topic
	// in use does not exist (metadata goroutine only); after
	// unknownTopicAnswers of them the topic is gone: what it holds fails
	// with ErrUnknownTopic and new calls fail at once, until an answer
	// shows it again.
	unknownSeen int
	gone        atomic.Bool

	created time.Time             // first use
	lastErr atomic.Pointer[error] // why its first metadata failed, if it did

	// Free lists of what batches are built in, so that a new batch does
	// not regrow (and re-zero) its slices from nothing: the messages it
	// keeps (recs), its encoding (encs, in bytes) and its delivery notes.
	recs  freeList[rec]
	encs  freeList[byte]
	notes freeList[note]
	// usable: ready without error, the produce path's check (a closed
	// channel's receive takes its lock).
	usable atomic.Bool
	// direct: produce calls encode messages into the open batch (see
	// Producer.keepsMessages); fixed for the topic's life.
	direct bool
}

// encRoom is the room to make in a new open batch for its records.
func (t *topicState) encRoom() int {
	h := max(4096, t.encs.hint.get())
	return min(h+h/8, t.set.maxBytes+kbatch.HeaderSize)
}

// sizeHint is the size to give a new buffer: the high-water mark of the
// batches sealed lately, decaying, so that one short batch does not make
// the next buffer regrow from small.
type sizeHint struct{ v atomic.Int32 }

// sealed records the size of a batch just sealed.
func (h *sizeHint) sealed(n int) {
	if old := int(h.v.Load()); n < old {
		n = old - old/8 + n/8
	}
	h.v.Store(int32(n))
}

func (h *sizeHint) get() int { return int(h.v.Load()) }

// freeList recycles the slices of finished batches: a small channel
// rather than a sync.Pool, which every GC empties. hint follows the sizes
// of the batches sealed lately.
type freeList[T any] struct {
	c    chan []T
	hint sizeHint
}

func newFreeList[T any](n int) freeList[T] { return freeList[T]{c: make(chan []T, n)} }

// get returns a slice of length 0: one given back, else nil.
func (f *freeList[T]) get() []T {
	select {
	case s := <-f.c:
		return s
	default:
		return nil
	}
}

// getOrMake returns a slice given back, else a new one with room for the
// hint and a quarter more, within [lo, hi].
func (f *freeList[T]) getOrMake(lo, hi int) []T {
	if s := f.get(); s != nil {
		return s
	}
	h := f.hint.get()
	return make([]T, 0, min(hi, max(lo, h+h/4)))
}

// put gives s back. A slice that holds pointers must be cleared first,
// so that the list keeps no message alive (clearPut).
func (f *freeList[T]) put(s []T) {
	if cap(s) == 0 {
		return
	}
	select {
	case f.c <- s[:0]:
	default:
	}
}

// clearPut clears s, dropping its references to messages' bytes and
// callbacks, and gives it back.
func (f *freeList[T]) clearPut(s []T) {
	clear(s)
	f.put(s)
}

func (t *topicState) getRecs() []rec { return t.recs.getOrMake(64, t.set.maxMessages) }

// partition is one partition of a topic with its workers.
type partition struct {
	id      int32
	leader  atomic.Int32
	workers []*worker
	next    atomic.Uint32
}

// Up implements picker.Availability: a partition is up when one of its
// workers can reach the leader.
func (t *topicState) Up(p int32) bool {
	parts := t.parts.Load()
	if parts == nil || int(p) >= len(*parts) {
		return false
	}
	for _, w := range (*parts)[p].workers {
		if w.up.Load() {
			return true
		}
	}
	return false
}

// unknownTopicAnswers is how many metadata answers in a row must say a
// topic in use does not exist before the producer takes it as deleted
// (franz-go's UnknownTopicRetries is 4 attempts; the Java producer waits
// for its delivery timeout).
const unknownTopicAnswers = 3

// goneErr is what the messages of a deleted topic fail with.
func (t *topicState) goneErr() error {
	return fmt.Errorf("%w: %q no longer exists", ErrUnknownTopic, t.name)
}

// waitErr is the error of a call that stopped waiting for the topic's
// first metadata because of why: that, and the last failure to get the
// metadata (ErrNoBrokers wrapping each broker's error), if there was one.
func (t *topicState) waitErr(why error) error {
	if last := t.lastErr.Load(); last != nil {
		return fmt.Errorf("%w: waiting for the metadata of %q: %w", why, t.name, *last)
	}
	return fmt.Errorf("%w: waiting for the metadata of %q", why, t.name)
}

func (t *topicState) signalWorkers() {
	if parts := t.parts.Load(); parts != nil {
		for _, part := range *parts {
			for _, w := range part.workers {
				w.signal()
			}
		}
	}
}

func (t *topicState) setReady(err error) {
	t.once.Do(func() {
		t.readyErr = err
		close(t.ready)
		t.usable.Store(err == nil)
	})
}

// BrokerInfo describes one broker of the cluster.
type BrokerInfo struct {
	ID   int32
	Addr string
}

// PartitionInfo describes one partition: its leader and whether the
// producer can reach it now.
type PartitionInfo struct {
	ID     int32
	Leader int32
	Up     bool
	State  State // of its first worker
	// Buffered is how many messages its workers hold that are not yet
	// acknowledged or failed: filling, in flight, or waiting for the leader.
	Buffered int
}

// TopicMetadata is what Metadata returns.
type TopicMetadata struct {
	Topic      string
	Brokers    []BrokerInfo
	Partitions []PartitionInfo
}

// metaClient asks brokers for metadata over a connection of its own, so
// that metadata round trips never wait behind produce requests.
type metaClient struct {
	p    *Producer
	sem  chan struct{} // capacity 1: one caller at a time, with a context
	b    *sarama.Broker
	addr string // of b
	next int
}

func (m *metaClient) addrs() []string {
	addrs := slices.Clone(m.p.cfg.Brokers)
	m.p.connsMu.Lock()
	for _, c := range m.p.conns {
		if !slices.Contains(addrs, c.addr) {
			addrs = append(addrs, c.addr)
		}
	}
	m.p.connsMu.Unlock()
	return addrs
}

// do runs fn on a live metadata connection, trying every known broker
// once. It waits for the connection (one caller at a time) and for fn only
// as long as ctx allows: sarama's calls know no context.
func (m *metaClient) do(ctx context.Context, fn func(*sarama.Broker) error) error {
	select {
	case m.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrNoBrokers, ctx.Err())
	}
	defer func() { <-m.sem }()
	addrs := m.addrs()
	var errs []error
	for range addrs {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		addr := addrs[m.next%len(addrs)]
		if m.b == nil {
			b, err := m.p.openBroker(ctx, addr)
			if err != nil {
				errs = append(errs, err)
				m.next++
				continue
			}
			m.b, m.addr = b, addr
		}
		b := m.b
		err := runCtx(ctx, func() error { return fn(b) })
		if err == nil {
			return nil
		}
		if saslKError(err) {
			// Refused on re-authentication (KIP-368).
			err = m.p.classify(m.addr, err, true)
		}
		errs = append(errs, err)
		_ = m.b.Close()
		m.b = nil
		m.next++
	}
	err := errors.Join(errs...)
	if securityErr(err) {
		// Not the network: say so, not that no broker is reachable.
		return err
	}
	return fmt.Errorf("%w: %w", ErrNoBrokers, err)
}

func (m *metaClient) close() {
	m.sem <- struct{}{}
	defer func() { <-m.sem }()
	if m.b != nil {
		_ = m.b.Close()
		m.b = nil
	}
}

// runCtx runs fn (a sarama call, which knows no context) and returns early
// when ctx ends; fn then finishes in the background within sarama's own
// timeouts.
func runCtx(ctx context.Context, fn func() error) error {
	ch := make(chan error, 1)
	go func() { ch <- fn() }()
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// newBackoff is the retry schedule of workers and metadata: exponential
// from RetryBackoff to RetryBackoffMax with 20% jitter, never giving up
// (the delivery timeout decides when messages stop waiting).
func (p *Producer) newBackoff() *backoff.ExponentialBackOff {
	return backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(p.cfg.RetryBackoff),
		backoff.WithMaxInterval(p.cfg.RetryBackoffMax),
		backoff.WithRandomizationFactor(0.2),
		backoff.WithMultiplier(2),
		backoff.WithMaxElapsedTime(0),
	)
}

// refreshSoon asks the metadata loop for a refresh now.
func (p *Producer) refreshSoon() {
	select {
	case p.refreshCh <- struct{}{}:
	default:
	}
}

// metadataLoop refreshes the metadata of every topic in use: periodically,
// when asked, and with backoff while it fails or topics are not ready.
func (p *Producer) metadataLoop() {
	defer p.bg.Done()
	ticker := time.NewTicker(p.cfg.MetadataRefresh)
	defer ticker.Stop()
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	bo := p.newBackoff()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-ticker.C:
		case <-p.refreshCh:
		case <-retry.C:
		}
		again, err := p.refresh(p.ctx)
		if err != nil && p.ctx.Err() == nil {
			p.log.Warn("metadata refresh failed", "err", err)
			p.bus.Emit(callbacks.Event{Kind: callbacks.MainBrokerUnreachable, Partition: -1, Broker: -1, Err: err, Time: time.Now()})
		}
		if securityErr(err) {
			// Refused credentials or certificate: retrying within the
			// second would only be refused again. The next refresh is
			// the periodic one, or a produce call's.
			continue
		}
		if again || err != nil {
			retry.Reset(bo.NextBackOff())
		} else {
			bo.Reset()
			// Refreshes asked for in a burst collapse into one: wait a
			// little before honouring the next request.
			select {
			case <-time.After(p.cfg.RetryBackoff / 2):
			case <-p.ctx.Done():
				return
			}
		}
	}
}

// refresh fetches metadata for every known topic and applies it. again
// says some topic is not usable yet (being created, leaderless).
func (p *Producer) refresh(ctx context.Context) (again bool, err error) {
	topics := p.topicNames()
	if len(topics) == 0 {
		return false, nil
	}
	var resp *sarama.MetadataResponse
	err = p.meta.do(ctx, func(b *sarama.Broker) error {
		req := sarama.NewMetadataRequest(p.sconf.Version, topics)
		req.AllowAutoTopicCreation = true
		r, err := b.GetMetadata(req)
		resp = r
		return err
	})
	if err != nil {
		p.failPendingTopics(err)
		return true, err
	}
	return p.apply(resp), nil
}

// failPendingTopics records why the metadata of topics not yet in use
// could not be had, for the calls waiting for it (see Producer.topic). A
// refused certificate or credentials fails them at once: retrying would
// only be refused again. Any other failure (no broker answers yet) leaves
// them waiting while the metadata loop tries again.
func (p *Producer) failPendingTopics(err error) {
	for _, t := range p.topicList() {
		if t.parts.Load() != nil {
			continue
		}
		t.lastErr.Store(&err)
		if securityErr(err) {
			t.setReady(err)
		}
	}
}

func (p *Producer) topicList() []*topicState {
	m := p.topics.Load()
	out := make([]*topicState, 0, len(*m))
	for _, t := range *m {
		out = append(out, t)
	}
	return out
}

func (p *Producer) topicNames() []string {
	m := p.topics.Load()
	out := make([]string, 0, len(*m))
	for name := range *m {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// apply updates brokers, leaders and partitions from a metadata answer.
func (p *Producer) apply(resp *sarama.MetadataResponse) (again bool) {
	p.connsMu.Lock()
	seen := map[int32]bool{}
	for _, b := range resp.Brokers {
		seen[b.ID()] = true
		c := p.conns[b.ID()]
		if c != nil && c.addr == b.Addr() {
			continue
		}
		if c != nil {
			c.close()
		}
		p.conns[b.ID()] = newBrokerConn(p, b.ID(), b.Addr())
	}
	for id, c := range p.conns {
		if !seen[id] {
			// The broker left the cluster: its connection goes with it.
			c.close()
			delete(p.conns, id)
		}
	}
	p.connsMu.Unlock()

	topics := p.topics.Load()
	for _, tm := range resp.Topics {
		t := (*topics)[tm.Name]
		if t == nil {
			continue
		}
		switch {
		case tm.Err == sarama.ErrUnknownTopicOrPartition && len(tm.Partitions) == 0:
			if t.parts.Load() == nil {
				t.setReady(fmt.Errorf("%w: %q", ErrUnknownTopic, tm.Name))
				continue
			}
			// A topic in use was deleted (or its metadata lags behind on
			// this broker: hence several answers in a row).
			t.unknownSeen++
			if t.unknownSeen < unknownTopicAnswers {
				again = true
			} else if !t.gone.Swap(true) {
				p.log.Warn("topic no longer exists: failing its messages", "topic", t.name)
				t.signalWorkers()
			}
			continue
		case tm.Err != sarama.ErrNoError || len(tm.Partitions) == 0:
			again = true
			continue
		}
		t.unknownSeen = 0
		if t.gone.Swap(false) {
			p.log.Info("topic exists again", "topic", t.name)
		}
		p.updatePartitions(t, tm.Partitions)
		for _, pm := range tm.Partitions {
			if pm.Leader < 0 {
				again = true
			}
		}
	}
	return again
}

// updatePartitions sets leaders and starts workers for new partitions.
// Partitions only grow in Kafka; a topic that shrank was recreated, which
// merlin does not follow (its workers keep their partitions).
func (p *Producer) updatePartitions(t *topicState, pms []*sarama.PartitionMetadata) {
	old := t.parts.Load()
	n := int32(0)
	for _, pm := range pms {
		n = max(n, pm.ID+1)
	}
	var parts []*partition
	if old != nil {
		parts = *old
	}
	had := len(parts)
	grown := false
	if int(n) > len(parts) {
		grown = true
		parts = slices.Clone(parts)
		for id := int32(len(parts)); id < n; id++ {
			part := &partition{id: id}
			part.leader.Store(-1)
			for i := 0; i < t.set.workers; i++ {
				part.workers = append(part.workers, newWorker(p, t, part, i))
			}
			parts = append(parts, part)
		}
	}
	for _, pm := range pms {
		part := parts[pm.ID]
		if prev := part.leader.Swap(pm.Leader); prev != pm.Leader {
			for _, w := range part.workers {
				w.signal() // a moved leader: retry at once
				if prev >= 0 {
					w.retryNow.Store(true)
				}
			}
		}
	}
	if grown {
		p.workersMu.Lock()
		if p.life.isClosing() { // Close has taken or is taking the workers' list
			p.workersMu.Unlock()
			return
		}
		for _, part := range parts[had:] {
			p.workers = append(p.workers, part.workers...)
			p.adoptLeftovers(t, part)
			for _, w := range part.workers {
				// A worker's goroutine runs while it has work (see
				// worker.run): here only when it adopted a spill.
				if len(w.pending) > 0 {
					w.wakeUp()
				}
			}
		}
		t.parts.Store(&parts)
		p.workersMu.Unlock()
	}
	t.setReady(nil)
}

// adoptLeftovers hands a new partition the spills an earlier producer left
// for it. Called under workersMu, before the workers run.
func (p *Producer) adoptLeftovers(t *topicState, part *partition) {
	refs := p.leftovers[t.name]
	if len(refs) == 0 {
		return
	}
	kept := refs[:0]
	for _, r := range refs {
		if r.Partition != part.id {
			kept = append(kept, r)
			continue
		}
		w := part.workers[r.Worker%len(part.workers)]
		if err := w.adopt(r.Dir); err != nil {
			p.log.Error("cannot replay a spill", "dir", r.Dir, "err", err)
			p.bus.Emit(callbacks.Event{Kind: callbacks.Error, Time: time.Now(), Topic: t.name, Partition: part.id, Broker: -1, Err: err})
		}
	}
	p.leftovers[t.name] = kept
}

// conn returns the connection to broker id, nil if the broker is unknown.
func (p *Producer) conn(id int32) *brokerConn {
	p.connsMu.Lock()
	defer p.connsMu.Unlock()
	return p.conns[id]
}

// producerID returns the producer id shared by workers, fetching it once.
func (p *Producer) producerID(ctx context.Context) (int64, int16, error) {
	p.pidMu.Lock()
	defer p.pidMu.Unlock()
	if p.pid >= 0 {
		return p.pid, p.epoch, nil
	}
	pid, epoch, err := p.newProducerID(ctx)
	if err != nil {
		return -1, -1, err
	}
	p.pid, p.epoch = pid, epoch
	return pid, epoch, nil
}

// newProducerID asks a broker for a fresh producer id. Answers that say
// "not yet" (COORDINATOR_LOAD_IN_PROGRESS from a cluster that has just
// started, COORDINATOR_NOT_AVAILABLE, ...) are asked again, with backoff,
// within ctx; the error returned then is retriable (see connect).
func (p *Producer) newProducerID(ctx context.Context) (int64, int16, error) {
	bo := p.newBackoff()
	for {
		var resp *sarama.InitProducerIDResponse
		err := p.meta.do(ctx, func(b *sarama.Broker) error {
			r, err := b.InitProducerID(&sarama.InitProducerIDRequest{
				TransactionTimeout: time.Minute,
				ProducerID:         -1,
				ProducerEpoch:      -1,
			})
			resp = r
			return err
		})
		if err != nil {
			return -1, -1, err
		}
		if resp.Err == sarama.ErrNoError {
			return resp.ProducerID, resp.ProducerEpoch, nil
		}
		err = fmt.Errorf("producer: InitProducerId: %w", resp.Err)
		if !retriableCode(int16(resp.Err)) {
			return -1, -1, err
		}
		select {
		case <-ctx.Done():
			return -1, -1, err
		case <-time.After(bo.NextBackOff()):
		}
	}
}
