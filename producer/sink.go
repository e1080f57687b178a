package producer

import (
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// sink turns the batches that workers queue for one broker into produce
// requests. Workers push a batch and go on (they never wait for the
// write); the sink's goroutine (a runq) runs while batches come and, each
// time it can write, takes all of them and packs them into as few
// requests as it may: one batch per partition in a request, the same
// acks, at most maxCombined batches and maxRequestBytes. Under load the
// batches that queue while a request is being written go out together in
// the next one. sarama's AsyncProduce blocks once MaxOpenRequests are
// unanswered: that is the backpressure, and batches queue meanwhile.
//
// Every batch pushed gets exactly one answer on its worker's acks
// channel: the broker's response, the write's error, or errConnClosed.
type sink struct {
	c *brokerConn
	q runq[*batch]
	// seen marks the partitions of the request being packed; only the
	// sink's goroutine uses it.
	seen map[*partition]bool

	mu     sync.Mutex
	closed bool
}

const (
	// maxCombined bounds how many batches one produce request carries.
	maxCombined = 64
	// maxRequestBytes bounds a request's batches; Kafka refuses requests
	// above socket.request.max.bytes, 100 MiB by default.
	maxRequestBytes = 32 << 20
)

func (s *sink) init(c *brokerConn) {
	s.c = c
	s.q = newRunq(&c.p.bg, s.send)
}

// push queues b, whose worker counts it in flight, for the next request.
func (s *sink) push(b *batch) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		answer(b, nil, errConnClosed)
		return
	}
	s.q.push(b)
}

func (s *sink) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

func answer(b *batch, resp *sarama.ProduceResponse, err error) {
	// Never blocks: acks has room for every batch its worker has in flight.
	b.owner.acks <- ack{b: b, resp: resp, err: err}
}

// send writes the batches taken from the queue, in as few requests as
// they fit in.
func (s *sink) send(take []*batch) {
	for len(take) > 0 {
		take = s.sendSome(take)
	}
}

// sendSome sends one request with as many of the batches as fit, in
// order, and returns the others, in order.
func (s *sink) sendSome(take []*batch) []*batch {
	first := take[0]
	acks := first.owner.t.set.acks
	req := &sarama.ProduceRequest{
		RequiredAcks: sarama.RequiredAcks(acks.kafka()),
		Timeout:      int32(s.c.p.cfg.RequestTimeout / time.Millisecond),
		Version:      7,
	}
	group := make([]*batch, 0, min(len(take), maxCombined))
	rest := take[:0]
	if s.seen == nil {
		s.seen = map[*partition]bool{}
	}
	seen := s.seen
	clear(seen)
	bytes := 0
	for _, b := range take {
		part := b.owner.part
		fits := len(group) < maxCombined && (len(group) == 0 || bytes+len(b.enc) <= maxRequestBytes)
		if seen[part] || b.owner.t.set.acks != acks || !fits {
			// Next request. A partition with a batch left over keeps the
			// rest of its batches for later too: order holds.
			seen[part] = true
			rest = append(rest, b)
			continue
		}
		seen[part] = true
		rb, err := b.wireBatch()
		if err != nil {
			answer(b, nil, err)
			continue
		}
		req.AddBatch(b.owner.t.name, part.id, rb)
		group = append(group, b)
		bytes += len(b.enc)
	}
	if len(group) == 0 {
		return rest
	}
	broker, gen := s.c.current()
	if broker == nil {
		for _, b := range group {
			answer(b, nil, errConnClosed)
		}
		return rest
	}
	for _, b := range group {
		b.gen = gen
	}
	var cb sarama.ProduceCallback
	if acks != AcksNone {
		cb = func(resp *sarama.ProduceResponse, err error) {
			for _, b := range group {
				answer(b, resp, err)
			}
		}
	}
	err := broker.AsyncProduce(req, cb)
	if err != nil || acks == AcksNone {
		// Not written (no callback follows), or written and unanswered.
		for _, b := range group {
			answer(b, nil, err)
		}
	}
	return rest
}
