package producer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/sony/gobreaker/v2"

	"github.com/merlinkafka/merlin/callbacks"
)

// ErrBrokerUnavailable wraps the error of a broker whose circuit breaker is
// open: merlin does not try it until the breaker's timeout passes.
var ErrBrokerUnavailable = errors.New("producer: broker unavailable (circuit breaker open)")

func newBrokerConn(p *Producer, id int32, addr string) *brokerConn {
	c := &brokerConn{p: p, id: id, addr: addr, sendq: make(chan *outgoing, 64), quit: make(chan struct{}), senderDone: make(chan struct{})}
	failures := uint32(p.cfg.BreakerFailures)
	c.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        fmt.Sprintf("broker %d (%s)", id, addr),
		MaxRequests: 1,
		Timeout:     p.cfg.BreakerTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		// A refused authentication or TLS handshake is not the broker
		// being down: it must reach callers as itself (see get), not as
		// ErrBrokerUnavailable.
		IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) || securityErr(err) },
		OnStateChange: func(name string, from, to gobreaker.State) {
			p.log.Info("circuit breaker", "broker", name, "from", from.String(), "to", to.String())
			if to == gobreaker.StateOpen {
				p.bus.Emit(callbacks.Event{Kind: callbacks.MainBrokerUnreachable, Time: time.Now(), Partition: -1, Broker: id,
					Err: fmt.Errorf("%w: broker %d", ErrBrokerUnavailable, id)})
			}
		},
	})
	return c
}

// allow asks the broker's breaker whether to try; the returned done must be
// called with the outcome.
func (c *brokerConn) allow() (func(error), error) {
	done, err := c.cb.Allow()
	if err != nil {
		return nil, fmt.Errorf("%w: broker %d: %w", ErrBrokerUnavailable, c.id, err)
	}
	return done, nil
}

// brokerConn owns the connection to one broker: a sarama.Broker, opened
// lazily, closed and replaced when it dies. Workers of every partition led
// by the broker share it and pipeline their produce requests on it.
//
// sarama's Open returns before the connection is up; get waits for the
// outcome through Connected, which blocks until Open's dial (and its
// ApiVersions exchange) is done. A connection that failed a request is
// dead for good in sarama: fail closes it so that the next get dials anew.
type brokerConn struct {
	p    *Producer
	id   int32
	addr string

	cb *gobreaker.TwoStepCircuitBreaker[struct{}]

	// The sender goroutine combines the batches workers submit into
	// produce requests, one batch per partition each.
	sendq      chan *outgoing
	quit       chan struct{} // closed by close
	senderOnce sync.Once
	senderDone chan struct{}
	closeOnce  sync.Once

	mu      sync.Mutex
	b       *sarama.Broker
	gen     uint64 // bumped on every new connection
	closed  bool
	dialing chan struct{} // closed when the dial under way ends
	dialErr error         // how the last dial failed
	// secErr is the last dial's authentication or TLS failure: get
	// returns it without dialing until secUntil (one breaker timeout), so
	// that refused credentials are neither hammered nor hidden.
	secErr   error
	secUntil time.Time
}

var errConnClosed = errors.New("producer: broker connection closed")

// get returns an open connection and its generation, dialing if needed.
// It waits at most the dial timeout, or until ctx is done.
func (c *brokerConn) get(ctx context.Context) (*sarama.Broker, uint64, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, 0, errConnClosed
	}
	if c.b != nil {
		b, gen := c.b, c.gen
		c.mu.Unlock()
		return b, gen, nil
	}
	if err := ctx.Err(); err != nil {
		c.mu.Unlock()
		return nil, 0, err
	}
	if c.secErr != nil && time.Now().Before(c.secUntil) {
		err := c.secErr
		c.mu.Unlock()
		return nil, 0, err
	}
	dialing := c.dialing
	if dialing == nil {
		done, err := c.allow()
		if err != nil {
			c.mu.Unlock()
			return nil, 0, err
		}
		dialing = make(chan struct{})
		c.dialing = dialing
		c.p.dials.Add(1)
		go c.dial(dialing, done)
	}
	c.mu.Unlock()
	// sarama's Open and Connected cannot be interrupted (a broker that
	// accepts and never answers holds them for the read timeout): wait for
	// the dial only as long as ctx allows.
	select {
	case <-dialing:
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.b != nil {
		return c.b, c.gen, nil
	}
	return nil, 0, c.dialErr
}

// dial opens a connection for get. It closes what it opened if the
// connection was closed meanwhile.
func (c *brokerConn) dial(dialing chan struct{}, done func(error)) {
	defer c.p.dials.Done()
	b, err := c.p.openBroker(c.p.ctx, c.addr)
	done(err)
	c.mu.Lock()
	c.dialing = nil
	switch {
	case securityErr(err):
		c.dialErr = err // it names the broker
		c.secErr, c.secUntil = err, time.Now().Add(c.p.cfg.BreakerTimeout)
	case err != nil:
		c.dialErr = fmt.Errorf("producer: broker %d: %w", c.id, err)
	case c.closed:
		_ = b.Close()
	default:
		c.secErr = nil
		c.b = b
		c.gen++
		c.p.connsOpen.Add(1)
	}
	c.mu.Unlock()
	close(dialing)
}

// fail drops the connection of generation gen, if it is still the current
// one. Close runs on its own goroutine: sarama's Close waits for the
// reader, and fail may be called from a worker that must not block.
func (c *brokerConn) fail(gen uint64, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.b == nil || c.gen != gen {
		return
	}
	c.drop()
}

func (c *brokerConn) drop() {
	old := c.b
	c.b = nil
	c.p.connsOpen.Add(-1)
	c.p.bg.Add(1)
	go func() {
		defer c.p.bg.Done()
		_ = old.Close()
	}()
}

// close drops the connection for good and stops its sender.
func (c *brokerConn) close() {
	c.closeOnce.Do(func() { close(c.quit) })
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.b != nil {
		c.drop()
	}
}

// outgoing is one worker's batch on its way into a produce request. A
// worker reuses its own: it waits for sent before its next submit.
type outgoing struct {
	broker    *sarama.Broker
	topic     string
	partition int32
	acks      Acks
	rb        *sarama.RecordBatch
	// onAnswer receives the request's answer, on sarama's reader
	// goroutine; nil with AcksNone.
	onAnswer func(*sarama.ProduceResponse, error)
	sent     chan error
}

// submit hands a batch to the broker's sender and waits until the request
// carrying it has been written (or could not be).
func (c *brokerConn) submit(o *outgoing) error {
	if o.sent == nil {
		o.sent = make(chan error, 1)
	}
	c.senderOnce.Do(func() {
		c.p.bg.Add(1)
		go c.sendLoop()
	})
	select {
	case c.sendq <- o:
	case <-c.quit:
		return errConnClosed
	}
	select {
	case err := <-o.sent:
		return err
	case <-c.senderDone:
		// The sender stopped; it answered everything it took.
		select {
		case err := <-o.sent:
			return err
		default:
			return errConnClosed
		}
	}
}

// maxCombined bounds how many batches one produce request carries.
const maxCombined = 64

// sendLoop combines the batches waiting for this broker into produce
// requests: one batch per partition, the same acks and connection for all.
// With many partitions on one broker and small batches (synchronous
// producers), that is one request and one write instead of many.
func (c *brokerConn) sendLoop() {
	defer c.p.bg.Done()
	defer close(c.senderDone)
	var held *outgoing // taken, but did not fit the last request
	type tp struct {
		topic string
		part  int32
	}
	seen := map[tp]bool{}
	for {
		first := held
		held = nil
		if first == nil {
			select {
			case first = <-c.sendq:
			case <-c.quit:
				c.refuseWaiting()
				return
			}
		}
		group := []*outgoing{first}
		clear(seen)
		seen[tp{first.topic, first.partition}] = true
	more:
		for len(group) < maxCombined {
			select {
			case o := <-c.sendq:
				k := tp{o.topic, o.partition}
				if o.broker != first.broker || o.acks != first.acks || seen[k] {
					held = o
					break more
				}
				seen[k] = true
				group = append(group, o)
			default:
				break more
			}
		}
		c.sendGroup(group)
	}
}

func (c *brokerConn) sendGroup(group []*outgoing) {
	first := group[0]
	req := &sarama.ProduceRequest{
		RequiredAcks: sarama.RequiredAcks(first.acks.kafka()),
		Timeout:      int32(c.p.cfg.RequestTimeout / time.Millisecond),
		Version:      7,
	}
	for _, o := range group {
		req.AddBatch(o.topic, o.partition, o.rb)
	}
	var cb sarama.ProduceCallback
	if first.acks != AcksNone {
		// Copy the callbacks now: workers reuse their outgoing once sent.
		answers := make([]func(*sarama.ProduceResponse, error), len(group))
		for i, o := range group {
			answers[i] = o.onAnswer
		}
		cb = func(resp *sarama.ProduceResponse, err error) {
			for _, a := range answers {
				a(resp, err)
			}
		}
	}
	err := first.broker.AsyncProduce(req, cb)
	for _, o := range group {
		o.sent <- err
	}
}

// refuseWaiting answers every batch still queued when the sender stops.
func (c *brokerConn) refuseWaiting() {
	for {
		select {
		case o := <-c.sendq:
			o.sent <- errConnClosed
		default:
			return
		}
	}
}

// saramaConfig builds the sarama configuration merlin's connections use.
func saramaConfig(cfg Config) *sarama.Config {
	sc := sarama.NewConfig()
	sc.ClientID = cfg.ClientID
	sc.Version = sarama.V3_0_0_0
	sc.Net.DialTimeout = min(10*time.Second, cfg.RequestTimeout)
	// An answer later than the broker-side timeout plus as much again (at
	// most 5 s) means the connection is dead.
	sc.Net.ReadTimeout = cfg.RequestTimeout + min(cfg.RequestTimeout, 5*time.Second)
	sc.Net.WriteTimeout = cfg.RequestTimeout
	// Every worker pipelines up to MaxInFlight batches on its leader's
	// connection; sarama blocks a sender beyond this many open requests.
	sc.Net.MaxOpenRequests = 256
	sc.Metadata.AllowAutoTopicCreation = true
	return sc
}
