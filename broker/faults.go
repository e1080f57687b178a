package broker

// Fault injection, for tests and package mockbroker: errors answered
// instead of the work (Faults, set in ClusterConfig.Faults) and brokers
// that hold or slow their answers (NodeFaults, set in Config.Faults).
// Production clusters and brokers have neither: each place that consults
// them costs a nil check.

import (
	"sync"
	"sync/atomic"
	"time"
)

// AllPartitions, as the partition of Faults.InjectError, matches every
// partition of the topic.
const AllPartitions int32 = -1

type injection struct {
	key       APIKey
	topic     string
	partition int32
	code      int16
	left      int
}

// Faults makes a cluster answer injected errors. Set it in
// ClusterConfig.Faults; its methods are safe for concurrent use, and a nil
// *Faults injects nothing.
type Faults struct {
	n    atomic.Int32 // len(list): the common case, none, costs one load
	mu   sync.Mutex
	list []*injection
}

// InjectError makes the brokers answer code, instead of doing the work, for
// the next n times a request of type key names topic and partition
// (AllPartitions: any partition of topic), whichever broker receives it.
//
// Produce, Fetch and ListOffsets answer code in that partition's entry (a
// refused produce stores nothing). Metadata reports code as that partition's
// error, or as the topic's error with AllPartitions. InitProducerId answers
// code for injections made with topic "" and AllPartitions. Other request
// types ignore injections. Injections for the same key, topic and partition
// queue up: the older one is used first.
func (f *Faults) InjectError(key APIKey, topic string, partition int32, code int16, n int) {
	if n <= 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.list = append(f.list, &injection{key: key, topic: topic, partition: partition, code: code, left: n})
	f.n.Store(int32(len(f.list)))
}

// ClearInjectedErrors drops every pending injection.
func (f *Faults) ClearInjectedErrors() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.list = nil
	f.n.Store(0)
}

// take consumes one use of the first injection matching the key, topic and
// partition, and returns its code.
func (f *Faults) take(key APIKey, topic string, partition int32) (int16, bool) {
	return f.takeMatching(key, topic, func(p int32) bool { return p == AllPartitions || p == partition })
}

// takeTopic is take for topic-level errors: it only matches injections made
// with AllPartitions.
func (f *Faults) takeTopic(key APIKey, topic string) (int16, bool) {
	return f.takeMatching(key, topic, func(p int32) bool { return p == AllPartitions })
}

func (f *Faults) takeMatching(key APIKey, topic string, partition func(int32) bool) (int16, bool) {
	if f == nil || f.n.Load() == 0 {
		return 0, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, in := range f.list {
		if in.key != key || in.topic != topic || !partition(in.partition) {
			continue
		}
		in.left--
		if in.left == 0 {
			f.list = append(f.list[:i], f.list[i+1:]...)
			f.n.Store(int32(len(f.list)))
		}
		return in.code, true
	}
	return 0, false
}

// NodeFaults makes a broker hold or slow its answers. Set it in
// Config.Faults; a NodeFaults may outlive its Broker and serve the next one
// of the same node (mockbroker's Stop and Start keep pause and latency so).
// Its methods are safe for concurrent use.
type NodeFaults struct {
	pause   atomic.Pointer[chan struct{}] // non-nil while paused; closed on resume
	latency atomic.Int64                  // per-request delay, nanoseconds

	// onFetchWait, when set (by tests, before the broker starts), is
	// called each time a fetch is about to wait for data.
	onFetchWait func()
	// copyFetch, set by tests, makes every Fetch answer copy its records,
	// as on TLS connections, instead of sending them with sendfile.
	copyFetch atomic.Bool
}

// copiesFetch reports whether Fetch answers must copy their records.
func (f *NodeFaults) copiesFetch() bool { return f != nil && f.copyFetch.Load() }

// Pause makes the broker stop answering: connections are still accepted and
// requests read, but each waits, unanswered, until Resume.
func (f *NodeFaults) Pause() {
	ch := make(chan struct{})
	f.pause.CompareAndSwap(nil, &ch)
}

// Resume answers the requests held since Pause and the ones after.
func (f *NodeFaults) Resume() {
	if ch := f.pause.Swap(nil); ch != nil {
		close(*ch)
	}
}

// SetLatency delays the handling of every request by d (0 for none).
func (f *NodeFaults) SetLatency(d time.Duration) { f.latency.Store(int64(max(d, 0))) }

// fetchWaitHook returns the hook called before a fetch waits, or nil.
func (f *NodeFaults) fetchWaitHook() func() {
	if f == nil {
		return nil
	}
	return f.onFetchWait
}

// throttle applies Pause and SetLatency before a request is handled.
func (c *conn) throttle() error {
	f := c.b.faults
	if f == nil {
		return nil
	}
	if ch := f.pause.Load(); ch != nil {
		if err := c.flush(); err != nil {
			return err
		}
		stop := c.watchPeer()
		select {
		case <-*ch:
		case <-c.ctx.Done():
		}
		stop()
		if err := c.ctx.Err(); err != nil {
			return err
		}
	}
	if d := time.Duration(f.latency.Load()); d > 0 {
		return c.wait(d)
	}
	return nil
}
