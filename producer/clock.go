package producer

import (
	"sync/atomic"
	"time"
)

// clock is a millisecond-resolution wall clock for record timestamps and
// delivery deadlines, read with an atomic load instead of a time.Now per
// produce call (a third of a call's cost where the clock is slow).
//
// While messages flow, a goroutine refreshes it every millisecond; after a
// second without readers it stops, and the next read calls time.Now and
// starts it again. Kafka timestamps are milliseconds, so nothing is lost;
// deadlines are at most a millisecond early or late.
type clock struct {
	now     atomic.Int64 // unix nanoseconds, valid while running
	running atomic.Bool
	read    atomic.Bool // read since the last tick
	stop    <-chan struct{}
	done    func() // called when the ticking goroutine ends
	start   func() // called before it starts
}

// Now returns the current time in unix nanoseconds.
func (c *clock) Now() int64 {
	if c.running.Load() {
		c.read.Store(true)
		return c.now.Load()
	}
	t := time.Now().UnixNano()
	if c.running.CompareAndSwap(false, true) {
		c.now.Store(t)
		c.read.Store(true)
		c.start()
		go c.tick()
	}
	return t
}

func (c *clock) tick() {
	defer c.done()
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	idle := 0
	for {
		select {
		case <-c.stop:
			c.running.Store(false)
			return
		case now := <-t.C:
			c.now.Store(now.UnixNano())
		}
		if c.read.Swap(false) {
			idle = 0
			continue
		}
		if idle++; idle >= 1000 {
			c.running.Store(false)
			return
		}
	}
}
