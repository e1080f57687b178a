package broker

import (
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// APIKey is a Kafka request type.
type APIKey int16

// The request types a broker answers.
const (
	APIProduce        APIKey = 0
	APIFetch          APIKey = 1
	APIListOffsets    APIKey = 2
	APIMetadata       APIKey = 3
	APIApiVersions    APIKey = 18
	APICreateTopics   APIKey = 19
	APIInitProducerID APIKey = 22
)

func (k APIKey) String() string { return kmsg.NameForKey(int16(k)) }

// AllPartitions, as the partition of InjectError, matches every partition of
// the topic.
const AllPartitions int32 = -1

type injection struct {
	key       APIKey
	topic     string
	partition int32
	code      int16
	left      int
}

// faults holds injected errors. The common case, none, costs one atomic load.
type faults struct {
	n    atomic.Int32
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
// types ignore injections. Injections for the same key, topic and partition queue
// up: the older one is used first.
func (c *Cluster) InjectError(key APIKey, topic string, partition int32, code int16, n int) {
	if n <= 0 {
		return
	}
	f := &c.faults
	f.mu.Lock()
	defer f.mu.Unlock()
	f.list = append(f.list, &injection{key: key, topic: topic, partition: partition, code: code, left: n})
	f.n.Store(int32(len(f.list)))
}

// ClearInjectedErrors drops every pending injection.
func (c *Cluster) ClearInjectedErrors() {
	f := &c.faults
	f.mu.Lock()
	defer f.mu.Unlock()
	f.list = nil
	f.n.Store(0)
}

// take consumes one use of the first injection matching the key, topic and
// partition, and returns its code.
func (f *faults) take(key APIKey, topic string, partition int32) (int16, bool) {
	if f.n.Load() == 0 {
		return 0, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, in := range f.list {
		if in.key != key || in.topic != topic || (in.partition != AllPartitions && in.partition != partition) {
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

// takeTopic is take for topic-level errors: it only matches injections made
// with AllPartitions.
func (f *faults) takeTopic(key APIKey, topic string) (int16, bool) {
	if f.n.Load() == 0 {
		return 0, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, in := range f.list {
		if in.key != key || in.topic != topic || in.partition != AllPartitions {
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
