package producer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/IBM/sarama"

	"github.com/merlinkafka/merlin/buffer"
	"github.com/merlinkafka/merlin/callbacks"
	"github.com/merlinkafka/merlin/seglog"
)

// Producer produces messages to Kafka. It is safe for concurrent use. Create
// one with New and release it with Close.
type Producer struct {
	cfg   Config
	sconf *sarama.Config
	log   *slog.Logger
	bus   *callbacks.Bus

	ctx    context.Context // cancelled when Close is done with the network
	cancel context.CancelFunc
	bg     sync.WaitGroup // metadata loop, senders, connection closers, clock
	dials  sync.WaitGroup // connections being opened

	callMu sync.RWMutex // produce calls hold it shared; Close exclusively
	life   lifecycle    // open, closing, aborting, closed

	topicsMu sync.Mutex // serialises writers of topics
	topics   atomic.Pointer[map[string]*topicState]
	// hot is the usable topic of a recent produce call, found again
	// without hashing its name (most producers write to one topic). A
	// usable topic stays in topics for good, so hot is never stale. On
	// its own cache line: other topics' calls replace it.
	_   [64]byte
	hot atomic.Pointer[topicState]
	_   [56]byte

	connsMu   sync.Mutex
	conns     map[int32]*brokerConn
	connsOpen atomic.Int64
	meta      *metaClient
	refreshCh chan struct{}

	// workersMu guards workers. Close takes the list under it after
	// life is closing; no worker is added once life is closing.
	workersMu sync.Mutex
	workers   []*worker

	// bud bounds what the producer holds (MaxBufferedMessages,
	// MaxBufferedBytes) and applies the BufferFull policy.
	bud   *buffer.Budget
	clock clock
	// shedWanted is how many messages a blocked producer wants the workers
	// to fail under the DropOldest policy: bud's ShedRequest.
	shedWanted *atomic.Int64

	// leftovers are spills found at start, by topic, adopted by the
	// partitions' workers when they start. Guarded by workersMu.
	leftovers  map[string][]buffer.Ref
	spillFiles *seglog.FileCache

	stats *stats   // distributions for Stats
	hooks *hookSet // nil without Config.Hooks

	reporters []*reporter // report settled batches off the workers

	pidMu   sync.Mutex
	pid     int64
	epoch   int16
	idemOff atomic.Bool
}

// New validates cfg, starts the producer's background work and fetches
// metadata for cfg.EagerTopics. It does not wait for brokers otherwise:
// metadata is fetched on first use of each topic.
func New(cfg Config) (*Producer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	p := &Producer{
		cfg:       cfg,
		sconf:     saramaConfig(cfg),
		log:       cfg.Logger,
		bus:       callbacks.NewBus(callbacks.BusOptions{}, cfg.Handlers...),
		ctx:       ctx,
		cancel:    cancel,
		life:      newLifecycle(),
		conns:     map[int32]*brokerConn{},
		refreshCh: make(chan struct{}, 1),
		pid:       -1,
		epoch:     -1,
		stats:     newStats(),
		hooks:     newHookSet(cfg.Hooks),
	}
	p.reporters = newReporters(p)
	p.applySecurity(p.sconf)
	if err := p.sconf.Validate(); err != nil {
		cancel()
		return nil, configWrap("", err)
	}
	if cfg.SASL != nil && cfg.SASL.Mechanism == SASLPlain && cfg.TLS == nil {
		p.log.Warn("SASL PLAIN without TLS sends the password in clear text")
	}
	p.meta = &metaClient{p: p, sem: make(chan struct{}, 1)}
	p.bud = buffer.NewBudget(buffer.Limits{Messages: cfg.MaxBufferedMessages, Bytes: cfg.MaxBufferedBytes,
		Policy: cfg.BufferFull, Shed: func() { p.forEachWorker((*worker).signal) },
		// A full buffer sends what is batched at once (see worker.collect):
		// waiting out the batches' TTL would cap the rate at the bound over
		// the TTL.
		Full: func() { p.forEachWorker((*worker).signal) }})
	p.shedWanted = p.bud.ShedRequest()
	p.clock.stop = ctx.Done()
	p.clock.start = func() { p.bg.Add(1) }
	p.clock.done = p.bg.Done
	p.spillFiles = seglog.NewFileCache(64)
	empty := map[string]*topicState{}
	p.topics.Store(&empty)
	if cfg.SpillDir != "" {
		refs, err := buffer.Find(cfg.SpillDir)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("producer: spill directory: %w", err)
		}
		p.leftovers = map[string][]buffer.Ref{}
		for _, r := range refs {
			p.leftovers[r.Topic] = append(p.leftovers[r.Topic], r)
		}
		for topic := range p.leftovers {
			p.topicState(topic)
		}
	}
	for _, name := range cfg.EagerTopics {
		p.topicState(name)
	}
	if len(cfg.EagerTopics) > 0 || len(p.leftovers) > 0 {
		p.refreshSoon()
	}
	// Last: from here on the loop owns leftovers (under workersMu).
	p.bg.Add(1)
	go p.metadataLoop()
	if err := p.awaitEager(); err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = p.Close(ctx)
		return nil, err
	}
	return p, nil
}

// awaitEager waits, when TLS or SASL is set, for the first metadata of
// cfg.EagerTopics (at most the dial timeout), so that New returns a
// misconfiguration (refused credentials, an untrusted certificate) at
// once. A cluster that is down or slow does not fail New: that is retried.
func (p *Producer) awaitEager() error {
	if p.cfg.TLS == nil && p.cfg.SASL == nil || len(p.cfg.EagerTopics) == 0 {
		return nil
	}
	timer := time.NewTimer(p.sconf.Net.DialTimeout)
	defer timer.Stop()
	for _, name := range p.cfg.EagerTopics {
		t := p.topicState(name)
		select {
		case <-t.ready:
			if securityErr(t.readyErr) {
				return t.readyErr
			}
		case <-timer.C:
			return nil
		}
	}
	return nil
}

// Ping connects to a broker (a bootstrap broker first, with TLS and SASL
// as configured) and fetches cluster metadata, without naming or creating
// any topic. It returns nil when the cluster answered; an AuthError
// (ErrAuthentication) or a TLSError (ErrTLS) when a broker refused the
// connection's security; otherwise ErrNoBrokers wrapping why each broker
// failed. It reuses the producer's metadata connection when it is open.
func (p *Producer) Ping(ctx context.Context) error {
	if p.life.isClosing() {
		return ErrClosed
	}
	return p.meta.do(ctx, func(b *sarama.Broker) error {
		// No topics: all of them (sarama cannot send an empty list),
		// and nothing is created.
		req := sarama.NewMetadataRequest(p.sconf.Version, nil)
		req.AllowAutoTopicCreation = false
		resp, err := b.GetMetadata(req)
		if err == nil && len(resp.Brokers) == 0 {
			err = errors.New("metadata lists no broker")
		}
		return err
	})
}

// topicState returns the state of a topic, creating it (and asking for its
// metadata) on first use.
func (p *Producer) topicState(name string) *topicState {
	if t := (*p.topics.Load())[name]; t != nil {
		return t
	}
	p.topicsMu.Lock()
	defer p.topicsMu.Unlock()
	old := *p.topics.Load()
	if t := old[name]; t != nil {
		return t
	}
	set := p.cfg.topic(name)
	t := &topicState{name: name, set: set, picker: set.strategy.New(name), ready: make(chan struct{}), recs: newFreeList[rec](4), encs: newFreeList[byte](8), notes: newFreeList[note](4), created: time.Now()}
	t.direct = !p.keepsMessages(&t.set)
	m := make(map[string]*topicState, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[name] = t
	p.topics.Store(&m)
	p.refreshSoon()
	return t
}

// topic returns a topic ready for producing, waiting for its first
// metadata up to ctx and, counted from the topic's first use, the delivery
// timeout: a topic first used while no broker answers waits like any
// buffered message (the metadata loop keeps asking, with backoff), and
// once the delivery timeout has passed calls fail at once with the last
// error until metadata arrives.
func (p *Producer) topic(ctx context.Context, name string) (*topicState, error) {
	if t := p.hot.Load(); t != nil && t.name == name {
		return t, nil
	}
	if name == "" {
		return nil, fmt.Errorf("%w: empty topic name", ErrUnknownTopic)
	}
	t := p.topicState(name)
	if t.usable.Load() {
		p.hot.Store(t)
		return t, nil
	}
	select {
	case <-t.ready:
	default:
		var expired <-chan time.Time
		if d := p.cfg.DeliveryTimeout; d > 0 {
			timer := time.NewTimer(time.Until(t.created.Add(d)))
			defer timer.Stop()
			expired = timer.C
		}
		select {
		case <-t.ready:
		case <-ctx.Done():
			return nil, t.waitErr(ctx.Err())
		case <-expired:
			return nil, t.waitErr(ErrDeliveryTimeout)
		case <-p.life.closingC:
			return nil, ErrClosed
		}
	}
	if t.readyErr != nil {
		// A failed first attempt is not final: the next call tries again.
		if t.parts.Load() == nil {
			p.resetTopic(t)
		}
		return nil, t.readyErr
	}
	return t, nil
}

// resetTopic forgets a topic whose first metadata failed, so that a later
// call asks again.
func (p *Producer) resetTopic(t *topicState) {
	p.topicsMu.Lock()
	defer p.topicsMu.Unlock()
	old := *p.topics.Load()
	if old[t.name] != t {
		return
	}
	m := make(map[string]*topicState, len(old))
	for k, v := range old {
		if k != t.name {
			m[k] = v
		}
	}
	p.topics.Store(&m)
}

func (p *Producer) idempotent(t *topicState) bool {
	return p.cfg.idempotent() && t.set.acks == AcksAll && !p.idemOff.Load()
}

// ProduceSync produces msgs to topic and waits for the broker's
// acknowledgement of every one. It returns one Result per message, in
// order, and an error if any failed. Batches are sent at once, without
// waiting for TTL.
//
// If ctx ends before the messages are accepted, ProduceSync returns ctx's
// error and nothing was taken. If it ends after, it returns an error
// wrapping both ErrUnacknowledged and ctx's error: the messages will still
// be delivered or reported failed through their OnDelivery callbacks.
func (p *Producer) ProduceSync(ctx context.Context, topic string, msgs ...Message) ([]Result, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	w := newWaiter(len(msgs))
	if _, err := p.produce(ctx, topic, msgs, modeSync, w); err != nil {
		return nil, err
	}
	select {
	case <-w.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrUnacknowledged, ctx.Err())
	}
	return w.results, resultsErr(w.results)
}

// resultsErr summarises failed results: nil if none failed.
func resultsErr(results []Result) error {
	failed := 0
	var first error
	for _, r := range results {
		if r.Err != nil {
			if first == nil {
				first = r.Err
			}
			failed++
		}
	}
	if first == nil {
		return nil
	}
	return fmt.Errorf("producer: %d of %d messages failed: %w", failed, len(results), first)
}

// ProduceAsync hands msgs to their partitions' workers, which send them at
// once (no TTL wait), and returns. Each message's outcome goes to its
// OnDelivery callback (or Config.OnDelivery) and to the event handlers.
func (p *Producer) ProduceAsync(ctx context.Context, topic string, msgs ...Message) error {
	_, err := p.produce(ctx, topic, msgs, modeAsync, nil)
	return err
}

// ProduceSyncBatched adds msgs to their partitions' batches and returns
// once they are buffered: for each partition the call used, in order of
// first use, how many messages its buffer then held. Batches go out when
// full or when TTL passes.
func (p *Producer) ProduceSyncBatched(ctx context.Context, topic string, msgs ...Message) ([]Buffered, error) {
	return p.produce(ctx, topic, msgs, modeSyncBatched, nil)
}

// ProduceAsyncBatched adds msgs to their partitions' batches: fire and
// forget, outcomes through callbacks. It returns an error only when the
// messages were not accepted (closed, buffer full under the Reject policy,
// ctx ended while blocked, unknown topic, message too large).
func (p *Producer) ProduceAsyncBatched(ctx context.Context, topic string, msgs ...Message) error {
	_, err := p.produce(ctx, topic, msgs, modeAsyncBatched, nil)
	return err
}

// mode is which of the four produce calls is under way.
type mode uint8

const (
	modeSync         mode = iota // ProduceSync: sent at once; wt waits for every answer
	modeAsync                    // ProduceAsync: sent at once; outcomes through callbacks
	modeSyncBatched              // ProduceSyncBatched: batched; returns what each partition holds
	modeAsyncBatched             // ProduceAsyncBatched: batched; fire and forget
)

// flush reports whether the call's batches go out at once, without
// waiting for TTL.
func (m mode) flush() bool { return m == modeSync || m == modeAsync }

// accept is the path every mode shares (through produce, which adds the
// hooks). Either every message of the call is accepted, or none is and the
// error says why.
func (p *Producer) accept(ctx context.Context, topic string, msgs []Message, md mode, wt *waiter) ([]Buffered, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	flush, info := md.flush(), md == modeSyncBatched
	p.callMu.RLock()
	defer p.callMu.RUnlock()
	if p.life.isClosing() {
		return nil, ErrClosed
	}
	t, err := p.topic(ctx, topic)
	if err != nil {
		return nil, err
	}
	if t.gone.Load() {
		return nil, t.goneErr()
	}
	bytes := 0
	for i := range msgs {
		s := msgs[i].size()
		if s > t.set.maxBytes {
			return nil, fmt.Errorf("%w: message %d is %d bytes, topic %q takes at most %d", ErrMessageTooLarge, i, s, topic, t.set.maxBytes)
		}
		bytes += s
	}
	if err := p.reserve(ctx, topic, len(msgs), bytes); err != nil {
		return nil, err
	}
	parts := *t.parts.Load()
	n := int32(len(parts))
	now := p.clock.Now()
	c := call{nowMS: now / int64(time.Millisecond), wt: wt}
	if p.cfg.DeliveryTimeout > 0 {
		c.deadline = now + int64(p.cfg.DeliveryTimeout)
	}
	var out []Buffered
	// Consecutive messages for the same worker go to it in one add: a run
	// of msgs, read in place.
	var runW *worker
	runStart, accepted := 0, 0
	for i := range msgs {
		w, err := p.route(t, parts, n, &msgs[i])
		if err == nil && w != runW {
			if runW != nil {
				var held int
				if held, err = runW.add(msgs[runStart:i], runStart, &c, flush); err == nil {
					accepted = i
					out = appendBuffered(out, runW.part.id, held, info)
				}
			}
			runW, runStart = w, i
		}
		if err != nil {
			return p.giveBackRest(msgs, accepted, out, err)
		}
	}
	held, err := runW.add(msgs[runStart:], runStart, &c, flush)
	if err != nil {
		return p.giveBackRest(msgs, accepted, out, err)
	}
	return appendBuffered(out, runW.part.id, held, info), nil
}

// giveBackRest ends a call that err stopped after its first accepted messages:
// those stay accepted, the room of the rest is given back.
func (p *Producer) giveBackRest(msgs []Message, accepted int, out []Buffered, err error) ([]Buffered, error) {
	rest := 0
	for j := accepted; j < len(msgs); j++ {
		rest += msgs[j].size()
	}
	p.release(len(msgs)-accepted, budget(len(msgs)-accepted, rest))
	if accepted > 0 {
		return out, &PartialError{Accepted: accepted, Total: len(msgs), Err: err}
	}
	return nil, err
}

func appendBuffered(out []Buffered, part int32, held int, want bool) []Buffered {
	if !want {
		return out
	}
	for i := range out {
		if out[i].Partition == part {
			out[i].Len = held
			return out
		}
	}
	return append(out, Buffered{Partition: part, Len: held})
}

// route picks the partition and worker of one message.
func (p *Producer) route(t *topicState, parts []*partition, n int32, m *Message) (*worker, error) {
	part := t.picker.Pick(m.Key, n, t)
	if part < 0 || part >= n {
		return nil, fmt.Errorf("%w: %d of %d", ErrInvalidPartition, part, n)
	}
	pt := parts[part]
	if len(pt.workers) == 1 {
		return pt.workers[0], nil
	}
	return pt.workers[int(pt.next.Add(1))%len(pt.workers)], nil
}

// reserve takes room for msgs messages of bytes bytes in the producer's
// buffer, as the BufferFull policy says.
func (p *Producer) reserve(ctx context.Context, topic string, msgs, bytes int) error {
	err := p.bud.Reserve(ctx, msgs, budget(msgs, bytes))
	switch {
	case err == nil:
		return nil
	case err == buffer.ErrClosed:
		return ErrClosed
	case err == buffer.ErrFull:
		err = ErrBufferFull
	default: // the context ended while waiting
		err = fmt.Errorf("%w: %w", ErrBufferFull, ctx.Err())
	}
	p.bufferFullEvent(topic, msgs, err)
	return err
}

// take counts messages the producer took on without a produce call (a
// spill left by an earlier producer): no policy applies, they are here.
func (p *Producer) take(msgs, budgetBytes int) { p.bud.Take(msgs, budgetBytes) }

func (p *Producer) bufferFullEvent(topic string, n int, err error) {
	p.bus.Emit(callbacks.Event{Kind: callbacks.MaxDowntimeBufferReached, Time: time.Now(), Topic: topic,
		Partition: -1, Broker: -1, Count: n, Err: err})
}

// recOverhead is what the producer spends on each message besides its
// bytes while it holds it unpacked: the buffer limits count it, so that
// MaxBufferedBytes bounds real memory, not only payloads.
const recOverhead = int(unsafe.Sizeof(rec{}))

// budget is what msgs messages of bytes encoded bytes count for against
// MaxBufferedBytes.
func budget(msgs, bytes int) int { return bytes + msgs*recOverhead }

// release gives back room for msgs messages and budgetBytes bytes (see
// budget); finished messages call it once.
func (p *Producer) release(msgs, budgetBytes int) { p.bud.Release(msgs, budgetBytes) }

// BufferedMessages returns how many messages the producer holds that are
// not yet acknowledged or failed, and the bytes they count for against
// MaxBufferedBytes (encoded size plus per-message bookkeeping).
func (p *Producer) BufferedMessages() (msgs, bytes int) { return p.bud.Held() }

// Flush sends every buffered batch now and waits until the producer holds
// nothing unacknowledged, or ctx ends. Messages produced while Flush waits
// are waited for too.
func (p *Producer) Flush(ctx context.Context) error {
	return p.bud.WaitEmpty(ctx, func() {
		p.forEachWorker(func(w *worker) {
			w.mu.Lock()
			w.flushReq = true
			w.mu.Unlock()
			w.signal()
		})
	})
}

func (p *Producer) forEachWorker(fn func(*worker)) {
	p.workersMu.Lock()
	ws := p.workers
	p.workersMu.Unlock()
	for _, w := range ws {
		fn(w)
	}
}

// Metadata returns the brokers and partitions of topic as the producer
// sees them, fetching them first if the topic is new to it.
func (p *Producer) Metadata(ctx context.Context, topic string) (TopicMetadata, error) {
	if p.life.isClosing() {
		return TopicMetadata{}, ErrClosed
	}
	t, err := p.topic(ctx, topic)
	if err != nil {
		return TopicMetadata{}, err
	}
	md := TopicMetadata{Topic: topic}
	p.connsMu.Lock()
	for id, c := range p.conns {
		md.Brokers = append(md.Brokers, BrokerInfo{ID: id, Addr: c.addr})
	}
	p.connsMu.Unlock()
	slices.SortFunc(md.Brokers, func(a, b BrokerInfo) int { return cmp.Compare(a.ID, b.ID) })
	for _, part := range *t.parts.Load() {
		md.Partitions = append(md.Partitions, PartitionInfo{
			ID:     part.id,
			Leader: part.leader.Load(),
			Up:     t.Up(part.id),
			State:  State(part.workers[0].st.Load()),
			Buffered: func() (n int) {
				for _, w := range part.workers {
					n += w.held()
				}
				return n
			}(),
		})
	}
	return md, nil
}

// Pick returns the partition a message with key would go to now. For
// strategies that move on (sticky, strict round robin) it advances them,
// as a produce would.
func (p *Producer) Pick(ctx context.Context, topic string, key []byte) (int32, error) {
	if p.life.isClosing() {
		return -1, ErrClosed
	}
	t, err := p.topic(ctx, topic)
	if err != nil {
		return -1, err
	}
	n := int32(len(*t.parts.Load()))
	part := t.picker.Pick(key, n, t)
	if part < 0 || part >= n {
		return -1, fmt.Errorf("%w: %d of %d", ErrInvalidPartition, part, n)
	}
	return part, nil
}

// Close stops taking messages (every produce call then returns ErrClosed),
// sends what is buffered and waits for the answers until ctx ends. Messages
// still undelivered then are reported failed with ErrClosed through their
// callbacks. Close releases every goroutine and connection the producer
// started; only when ctx ends first may a connection still being opened
// finish (and close itself) after Close returns, within the request
// timeout. It returns ctx's error if time ran out, and is safe to call more
// than once.
func (p *Producer) Close(ctx context.Context) error {
	if !p.life.beginClose() {
		select {
		case <-p.life.doneC:
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	}
	defer p.life.finish()
	p.bud.Close() // produce calls waiting for room return ErrClosed
	// Produce calls under way hold callMu shared: once we have it, none is
	// left, and none can start (closing is set).
	p.callMu.Lock()
	p.workersMu.Lock()
	ws := p.workers
	p.workersMu.Unlock()
	p.callMu.Unlock()
	for _, w := range ws {
		w.drain()
	}
	var err error
	for _, w := range ws {
		select {
		case <-w.done:
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err != nil {
			break
		}
	}
	if err != nil {
		// Out of time: stop the network work workers may be waiting on
		// (connecting, a producer id), then make them report the rest.
		p.cancel()
		p.life.abort()
		for _, w := range ws {
			<-w.done
		}
	}
	// Topics whose metadata never came may still have callers waiting.
	for _, t := range p.topicList() {
		t.setReady(ErrClosed)
	}
	p.cancel()
	p.connsMu.Lock()
	for _, c := range p.conns {
		c.close()
	}
	p.connsMu.Unlock()
	p.meta.close()
	p.bg.Wait()
	if err == nil {
		p.dials.Wait()
	}
	// Otherwise a connection still being opened (sarama's dial cannot be
	// interrupted) closes itself when its dial ends, within the request
	// timeout: Close does not wait past its context for it.
	busCtx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = p.bus.Close(busCtx)
	if err != nil {
		return fmt.Errorf("%w: undelivered messages reported failed: %w", ErrClosed, err)
	}
	return nil
}

// OpenConnections is the number of broker connections open for producing
// (the metadata connection excluded).
func (p *Producer) OpenConnections() int { return int(p.connsOpen.Load()) }
