package picker

import (
	"math/rand/v2"
	"strconv"
	"sync/atomic"
)

// DefaultStickyRun is the number of messages StickyRoundRobin sends to one
// partition before it moves on, when it is given n <= 0.
const DefaultStickyRun = 1000

// StickyRoundRobin returns a strategy that sends exactly n messages in a row
// to one partition, then exactly n to the next one, and so on, cycling over
// all partitions. n <= 0 means [DefaultStickyRun]. The first run of each
// topic starts at a random partition. Keys are ignored.
//
// Messages are counted exactly, with one atomic counter per topic, so that
// a burst cannot make a run longer than n.
// When several goroutines pick at once, each run still has exactly n
// messages; which goroutine's message is the n-th is decided by the counter.
//
// With an Availability, a partition that is down loses its whole run: the
// next partition that is up gets a full run of n.
func StickyRoundRobin(n int) Strategy {
	if n <= 0 {
		n = DefaultStickyRun
	}
	return roundRobinStrategy{run: uint64(n), randomStart: true}
}

// StrictRoundRobin returns a strategy that sends every message to the next
// partition: 0, 1, 2, ..., n-1, 0, 1, ... for each topic, starting at 0.
// Keys are ignored. With an Availability, partitions that are down are
// skipped and the rotation continues over the ones that are up.
func StrictRoundRobin() Strategy {
	return roundRobinStrategy{run: 1}
}

type roundRobinStrategy struct {
	run         uint64 // messages per partition before moving on, >= 1
	randomStart bool
}

func (s roundRobinStrategy) New(string) Picker { return s.picker() }

func (s roundRobinStrategy) picker() *roundRobin {
	p := &roundRobin{run: s.run}
	if s.randomStart {
		// 32 bits are plenty to spread the first partition and leave
		// start+run far from overflowing.
		p.start = uint64(rand.Uint32())
	}
	return p
}

func (s roundRobinStrategy) String() string {
	switch {
	case s.run == 1 && !s.randomStart:
		return "strict"
	case s.run == DefaultStickyRun:
		return "sticky"
	default:
		return "sticky:" + strconv.FormatUint(s.run, 10)
	}
}

// roundRobin is the picker of both round robin strategies: message number c
// (counting from 0) goes to partition (start + c/run) % n.
type roundRobin struct {
	next  atomic.Uint64 // messages picked so far
	run   uint64
	start uint64
	// Pad to a cache line so that the counters of pickers allocated side
	// by side (one per topic) do not contend.
	_ [40]byte
}

func (r *roundRobin) partition(c uint64, n int32) int32 {
	return int32((r.start + c/r.run) % uint64(n))
}

func (r *roundRobin) Pick(_ []byte, n int32, up Availability) int32 {
	if n <= 0 {
		return -1
	}
	c := r.next.Add(1) - 1
	p := r.partition(c, n)
	if up == nil || up.Up(p) {
		return p
	}
	return r.pickUp(c, p, n, up)
}

// pickUp handles a pick whose partition is down: it moves the counter past
// the rest of the down partition's run, so the next partition gets a full
// run, and picks again; after n tries it falls back to a scan.
func (r *roundRobin) pickUp(c uint64, first, n int32, up Availability) int32 {
	for range n {
		end := (c/r.run + 1) * r.run
		for cur := r.next.Load(); cur < end; cur = r.next.Load() {
			if r.next.CompareAndSwap(cur, end) {
				break
			}
		}
		c = r.next.Add(1) - 1
		if p := r.partition(c, n); up.Up(p) {
			return p
		}
	}
	return nextUp(first, n, up)
}
