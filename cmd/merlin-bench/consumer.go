package main

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// consumer reads a topic from the start with kgo (the same consumer for
// every system) and measures each stamped record's end-to-end latency.
type consumer struct {
	cl     *kgo.Client
	base   time.Time // stamps are nanoseconds since base, plus one
	got    atomic.Int64
	cancel context.CancelFunc
	exited chan struct{}

	mu        sync.Mutex
	target    int64
	reachedCh chan struct{}
	closed    bool
	reachedAt time.Time
	lat       []time.Duration
	firstErr  error

	// Set by finish.
	lastAt time.Time
}

func startConsumer(ctx context.Context, brokers []string, topic string, sec security) (*consumer, error) {
	cl, err := kgo.NewClient(append(sec.kgo(),
		kgo.SeedBrokers(brokers...),
		kgo.ClientID("merlin-bench-consumer"),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)...)
	if err != nil {
		return nil, err
	}
	if err := cl.Ping(ctx); err != nil {
		cl.Close()
		return nil, err
	}
	pctx, cancel := context.WithCancel(ctx)
	c := &consumer{cl: cl, base: time.Now(), cancel: cancel, exited: make(chan struct{}), target: -1}
	go c.poll(pctx)
	return c, nil
}

// now is the stamp for a message sent now: never 0, which marks warm-up
// messages.
func (c *consumer) now() int64 { return int64(time.Since(c.base)) + 1 }

func (c *consumer) poll(ctx context.Context) {
	defer close(c.exited)
	for ctx.Err() == nil {
		fs := c.cl.PollFetches(ctx)
		now := time.Since(c.base)
		var fail error
		fs.EachError(func(_ string, _ int32, err error) {
			if fail == nil && !errors.Is(err, context.Canceled) && !errors.Is(err, kgo.ErrClientClosed) {
				fail = err
			}
		})
		c.mu.Lock()
		if fail != nil && c.firstErr == nil {
			c.firstErr = fail
		}
		n := int64(0)
		fs.EachRecord(func(r *kgo.Record) {
			n++
			if len(r.Value) >= 8 {
				if ts := int64(binary.BigEndian.Uint64(r.Value)); ts != 0 {
					c.lat = append(c.lat, now-time.Duration(ts-1))
				}
			}
		})
		got := c.got.Add(n)
		if !c.closed && c.target >= 0 && got >= c.target {
			c.reachedAt = c.base.Add(now)
			close(c.reachedCh)
			c.closed = true
		}
		c.mu.Unlock()
	}
}

// reached returns a channel closed once the consumer has read n records.
func (c *consumer) reached(n int64) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.target, c.reachedCh, c.closed = n, make(chan struct{}), false
	if c.got.Load() >= n {
		c.reachedAt = time.Now()
		close(c.reachedCh)
		c.closed = true
	}
	return c.reachedCh
}

// finish stops polling and keeps the latencies and the time the last
// target was reached.
func (c *consumer) finish() {
	c.cancel()
	<-c.exited
	c.lastAt = c.reachedAt
}

func (c *consumer) err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.firstErr
}

func (c *consumer) close() {
	c.cancel()
	<-c.exited
	c.cl.Close()
}
