package picker

import (
	"sync/atomic"
	"testing"
)

// upSet is the kind of Availability a producer would pass: one atomic load
// per call.
type upSet struct{ down atomic.Uint64 }

func (u *upSet) Up(p int32) bool { return u.down.Load()&(1<<uint(p)) == 0 }

var benchStrategies = []struct {
	name string
	s    Strategy
	key  []byte
}{
	{"random", Random(), nil},
	{"sticky", StickyRoundRobin(0), nil},
	{"strict", StrictRoundRobin(), nil},
	{"keyed/unkeyed", Keyed(), nil},
	{"keyed/key16", Keyed(), []byte("user-0000012345")},
	{"keyed/key64", Keyed(), make([]byte, 64)},
	{"func", Func(func(_ string, key []byte, n int32) int32 { return int32(len(key)) }), []byte("k")},
}

// BenchmarkPick measures one pick over 12 partitions, serially and from
// GOMAXPROCS goroutines at once, with and without an Availability.
func BenchmarkPick(b *testing.B) {
	const n = 12
	up := &upSet{}
	for _, bs := range benchStrategies {
		p := bs.s.New("t")
		b.Run(bs.name+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Pick(bs.key, n, nil)
			}
		})
		b.Run(bs.name+"/serial-avail", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Pick(bs.key, n, up)
			}
		})
		b.Run(bs.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					p.Pick(bs.key, n, up)
				}
			})
		})
	}
}

// BenchmarkPickSomeDown measures the slow path: 3 of 12 partitions down.
func BenchmarkPickSomeDown(b *testing.B) {
	const n = 12
	up := &upSet{}
	up.down.Store(1<<2 | 1<<5 | 1<<9)
	for _, bs := range benchStrategies[:4] {
		p := bs.s.New("t")
		b.Run(bs.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					p.Pick(bs.key, n, up)
				}
			})
		})
	}
}
