package picker

import "fmt"

// Keyed returns the strategy that other Kafka clients' users expect, and the
// producer's default: a keyed message goes to [KeyPartition](key, n), that is
// murmur2(key) & 0x7fffffff % n, the same partition as the Java client and
// franz-go's kgo.StickyKeyPartitioner; an unkeyed message (nil key) is
// placed by StickyRoundRobin(DefaultStickyRun).
//
// Keyed messages ignore availability: they always go to their hash
// partition, which keeps per-key order. Unkeyed messages avoid partitions
// that are down.
func Keyed() Strategy { return KeyedWith(nil) }

// KeyedWith is [Keyed] with another strategy for unkeyed messages, for
// example KeyedWith(Random()). A nil unkeyed means StickyRoundRobin with the
// default run.
func KeyedWith(unkeyed Strategy) Strategy {
	if unkeyed == nil {
		unkeyed = StickyRoundRobin(0)
	}
	return keyedStrategy{unkeyed: unkeyed}
}

type keyedStrategy struct{ unkeyed Strategy }

func (s keyedStrategy) New(topic string) Picker {
	return &keyedPicker{unkeyed: s.unkeyed.New(topic)}
}

func (s keyedStrategy) String() string {
	name := "custom"
	if st, ok := s.unkeyed.(fmt.Stringer); ok {
		name = st.String()
	}
	if name == "sticky" {
		return "keyed"
	}
	return "keyed+" + name
}

type keyedPicker struct{ unkeyed Picker }

func (k *keyedPicker) Pick(key []byte, n int32, up Availability) int32 {
	if n <= 0 {
		return -1
	}
	if key == nil {
		return k.unkeyed.Pick(nil, n, up)
	}
	return KeyPartition(key, n)
}
