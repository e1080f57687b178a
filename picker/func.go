package picker

// Func returns a strategy that asks f for every message's partition; topic is
// the picker's topic, key is nil for unkeyed messages and n is the partition
// count.
//
// f may return any int32: a result outside [0, n) is reduced with a
// non-negative modulo (r mod n, in [0, n)), so f can return a raw hash and
// the same result always maps to the same partition. Availability is not
// consulted: the function has decided. f must be safe for concurrent use and
// fast; it runs on the producing goroutine. Func panics if f is nil.
func Func(f func(topic string, key []byte, n int32) int32) Strategy {
	if f == nil {
		panic("picker: Func called with a nil function")
	}
	return funcStrategy{f: f}
}

type funcStrategy struct {
	f func(topic string, key []byte, n int32) int32
}

func (s funcStrategy) New(topic string) Picker { return &funcPicker{topic: topic, f: s.f} }
func (funcStrategy) String() string            { return "func" }

type funcPicker struct {
	topic string
	f     func(topic string, key []byte, n int32) int32
}

func (p *funcPicker) Pick(key []byte, n int32, _ Availability) int32 {
	if n <= 0 {
		return -1
	}
	r := p.f(p.topic, key, n)
	if r >= 0 && r < n {
		return r
	}
	r %= n
	if r < 0 {
		r += n
	}
	return r
}
