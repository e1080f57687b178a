package picker

// Picker chooses the partition of one message for one topic.
//
// Implementations must be safe for concurrent use by many goroutines and must
// not serialise them through one goroutine or a contended mutex; the
// implementations in this package use atomics.
type Picker interface {
	// Pick returns a partition in [0, n), or -1 when n <= 0. key is nil
	// for unkeyed messages.
	//
	// up, when non-nil, reports whether a partition's leader is reachable;
	// strategies free to choose (unkeyed messages under any strategy except
	// Func) skip partitions that are down when at least one is up; keyed
	// messages always go to their hash partition.
	Pick(key []byte, n int32, up Availability) int32
}

// Availability reports whether a partition's leader is reachable. A nil
// Availability means every partition is up. Up is called on the producing
// goroutine, once per pick when the chosen partition is up, so it must be
// cheap and safe for concurrent use (an atomic load, for example).
type Availability interface {
	Up(partition int32) bool
}

// AvailabilityFunc adapts a function to [Availability].
type AvailabilityFunc func(partition int32) bool

// Up calls f(partition).
func (f AvailabilityFunc) Up(partition int32) bool { return f(partition) }

// Strategy makes one Picker per topic, so that each topic has its own state.
// Its String method, when it has one, names it in logs.
type Strategy interface {
	New(topic string) Picker
}

// nextUp returns the first partition after p (cyclically) that is up, or p
// when none is.
func nextUp(p, n int32, up Availability) int32 {
	for i := int32(1); i < n; i++ {
		q := p + i
		if q >= n {
			q -= n
		}
		if up.Up(q) {
			return q
		}
	}
	return p
}
