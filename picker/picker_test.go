package picker

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// down is an Availability with some partitions down.
type down map[int32]bool

func (d down) Up(p int32) bool { return !d[p] }

func allDown(int32) bool { return false }

func TestRandomSpreadsOverAllPartitions(t *testing.T) {
	const n, picks = 8, 10000
	p := Random().New("t")
	var hits [n]int
	for range picks {
		part := p.Pick(nil, n, nil)
		if part < 0 || part >= n {
			t.Fatalf("Pick = %d, out of [0,%d)", part, n)
		}
		hits[part]++
	}
	for part, h := range hits {
		// Expected 1250 each; 900 is more than 10 standard deviations away.
		if h < 900 {
			t.Errorf("partition %d got %d of %d picks: %v", part, h, picks, hits)
		}
	}
}

func TestRandomIgnoresKeys(t *testing.T) {
	p := Random().New("t")
	seen := map[int32]bool{}
	for range 1000 {
		seen[p.Pick([]byte("same key"), 4, nil)] = true
	}
	if len(seen) != 4 {
		t.Errorf("one key went to %d partitions, want all 4", len(seen))
	}
}

// runs returns the lengths of the runs of equal values in parts, and the
// value of each run.
func runs(parts []int32) (lengths []int, values []int32) {
	for i, p := range parts {
		if i == 0 || p != parts[i-1] {
			lengths = append(lengths, 0)
			values = append(values, p)
		}
		lengths[len(lengths)-1]++
	}
	return lengths, values
}

func TestStickySwitchesAfterExactlyN(t *testing.T) {
	for _, run := range []int{1, 3, 10, 1000} {
		t.Run(fmt.Sprint(run), func(t *testing.T) {
			const n = 5
			p := StickyRoundRobin(run).New("t")
			parts := make([]int32, 7*run)
			for i := range parts {
				parts[i] = p.Pick(nil, n, nil)
			}
			lengths, values := runs(parts)
			if run == 1 {
				// Every pick is its own run.
				lengths, values = make([]int, len(parts)), parts
				for i := range lengths {
					lengths[i] = 1
				}
			}
			if len(lengths) != 7 {
				t.Fatalf("%d runs, want 7: %v", len(lengths), lengths)
			}
			for i, l := range lengths {
				if l != run {
					t.Errorf("run %d has %d messages, want %d", i, l, run)
				}
				if i > 0 && values[i] != (values[i-1]+1)%n {
					t.Errorf("run %d on partition %d follows partition %d", i, values[i], values[i-1])
				}
			}
		})
	}
}

func TestStickyDefaultRun(t *testing.T) {
	for _, n := range []int{0, -5, DefaultStickyRun} {
		s := StickyRoundRobin(n)
		if fmt.Sprint(s) != "sticky" {
			t.Errorf("StickyRoundRobin(%d) is %q, want sticky", n, s)
		}
		p := s.New("t")
		first := p.Pick(nil, 3, nil)
		for i := 1; i < DefaultStickyRun; i++ {
			if got := p.Pick(nil, 3, nil); got != first {
				t.Fatalf("StickyRoundRobin(%d): pick %d went to %d, run started on %d", n, i, got, first)
			}
		}
		if got := p.Pick(nil, 3, nil); got != (first+1)%3 {
			t.Errorf("StickyRoundRobin(%d): pick %d went to %d, want %d", n, DefaultStickyRun, got, (first+1)%3)
		}
	}
}

func TestStrictCycles(t *testing.T) {
	p := StrictRoundRobin().New("t")
	for i := range 30 {
		if got, want := p.Pick([]byte("keys are ignored"), 7, nil), int32(i%7); got != want {
			t.Fatalf("pick %d = %d, want %d", i, got, want)
		}
	}
}

func TestPickersHaveStatePerTopic(t *testing.T) {
	s := StrictRoundRobin()
	a, b := s.New("a"), s.New("b")
	a.Pick(nil, 4, nil)
	a.Pick(nil, 4, nil)
	if got := b.Pick(nil, 4, nil); got != 0 {
		t.Errorf("topic b's first pick = %d, want 0 (its own counter)", got)
	}
}

func TestKeyedUnkeyedIsSticky(t *testing.T) {
	p := Keyed().New("t")
	parts := make([]int32, 3*DefaultStickyRun)
	for i := range parts {
		parts[i] = p.Pick(nil, 4, nil)
	}
	lengths, _ := runs(parts)
	if len(lengths) != 3 {
		t.Fatalf("unkeyed runs %v, want 3 runs of %d", lengths, DefaultStickyRun)
	}
	for _, l := range lengths {
		if l != DefaultStickyRun {
			t.Errorf("unkeyed runs %v, want runs of %d", lengths, DefaultStickyRun)
		}
	}
	// An empty, non-nil key is a key (as in the Java client and kgo).
	if got, want := p.Pick([]byte{}, 7, nil), KeyPartition(nil, 7); got != want {
		t.Errorf("empty key picked %d, want its hash partition %d", got, want)
	}
}

func TestKeyedWith(t *testing.T) {
	p := KeyedWith(StrictRoundRobin()).New("t")
	for i := range 10 {
		if got := p.Pick(nil, 3, nil); got != int32(i%3) {
			t.Fatalf("unkeyed pick %d = %d, want %d", i, got, i%3)
		}
		if got, want := p.Pick([]byte("k"), 3, nil), KeyPartition([]byte("k"), 3); got != want {
			t.Fatalf("keyed pick = %d, want %d", got, want)
		}
	}
}

func TestAvailabilitySkipsDownPartitions(t *testing.T) {
	const n = 6
	off := down{1: true, 2: true, 4: true}
	strategies := []Strategy{Random(), StickyRoundRobin(5), StrictRoundRobin(), Keyed(), KeyedWith(Random()), KeyedWith(StrictRoundRobin())}
	for _, s := range strategies {
		t.Run(fmt.Sprint(s), func(t *testing.T) {
			p := s.New("t")
			hits := map[int32]int{}
			for range 3000 {
				part := p.Pick(nil, n, off)
				if off[part] {
					t.Fatalf("picked partition %d, which is down", part)
				}
				hits[part]++
			}
			if len(hits) != 3 {
				t.Errorf("picked %v, want all of 0, 3 and 5", hits)
			}
		})
	}
}

func TestAvailabilityStrictStaysFair(t *testing.T) {
	p := StrictRoundRobin().New("t")
	off := down{1: true, 2: true}
	want := []int32{0, 3, 0, 3, 0, 3}
	for i, w := range want {
		if got := p.Pick(nil, 4, off); got != w {
			t.Fatalf("pick %d = %d, want %d", i, got, w)
		}
	}
}

func TestAvailabilityStickySkipsWholeRun(t *testing.T) {
	const run, n = 4, 3
	p := StickyRoundRobin(run).New("t")
	first := p.Pick(nil, n, nil)
	for range run - 1 {
		p.Pick(nil, n, nil)
	}
	// The next run's partition goes down: its run is skipped and the
	// partition after it gets a full run.
	off := down{(first + 1) % n: true}
	parts := make([]int32, 2*run)
	for i := range parts {
		parts[i] = p.Pick(nil, n, off)
	}
	lengths, values := runs(parts)
	if len(lengths) != 2 || lengths[0] != run || lengths[1] != run {
		t.Fatalf("runs %v on %v, want two runs of %d", lengths, values, run)
	}
	if values[0] != (first+2)%n || values[1] != first {
		t.Errorf("runs on %v, want %d then %d", values, (first+2)%n, first)
	}
}

func TestAvailabilityAllDown(t *testing.T) {
	for _, s := range []Strategy{Random(), StickyRoundRobin(0), StrictRoundRobin(), Keyed()} {
		p := s.New("t")
		for range 100 {
			if part := p.Pick(nil, 5, AvailabilityFunc(allDown)); part < 0 || part >= 5 {
				t.Fatalf("%v: all down, Pick = %d, want a partition in [0,5)", s, part)
			}
		}
	}
}

func TestKeyedIgnoresAvailability(t *testing.T) {
	p := Keyed().New("t")
	for _, key := range []string{"a", "b", "user-42", "foobar"} {
		home := KeyPartition([]byte(key), 8)
		if got := p.Pick([]byte(key), 8, down{home: true}); got != home {
			t.Errorf("key %q with its partition %d down went to %d", key, home, got)
		}
	}
}

func TestFunc(t *testing.T) {
	var gotTopic string
	var gotKey []byte
	s := Func(func(topic string, key []byte, n int32) int32 {
		gotTopic, gotKey = topic, key
		return int32(len(key)) - 3
	})
	p := s.New("orders")
	cases := []struct {
		key  string
		want int32
	}{
		{"abcde", 2},    // 2 in range
		{"abc", 0},      // 0 in range
		{"ab", 4},       // -1 mod 5
		{"", 2},         // -3 mod 5
		{"abcdefgh", 0}, // 5 mod 5
		{"abcdefghijklm", 0},
		{"abcdefghijklmn", 1},
	}
	for _, c := range cases {
		if got := p.Pick([]byte(c.key), 5, down{c.want: true}); got != c.want {
			t.Errorf("key %q: Pick = %d, want %d (availability ignored)", c.key, got, c.want)
		}
		if gotTopic != "orders" || string(gotKey) != c.key {
			t.Errorf("f got topic %q key %q", gotTopic, gotKey)
		}
	}
	if got := p.Pick(nil, 0, nil); got != -1 {
		t.Errorf("Pick with 0 partitions = %d, want -1", got)
	}
}

func TestFuncNilPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Func(nil) did not panic")
		}
	}()
	Func(nil)
}

func TestNoPartitions(t *testing.T) {
	for _, s := range []Strategy{Random(), StickyRoundRobin(0), StrictRoundRobin(), Keyed()} {
		p := s.New("t")
		for _, n := range []int32{0, -1} {
			if got := p.Pick([]byte("k"), n, nil); got != -1 {
				t.Errorf("%v: Pick with %d partitions = %d, want -1", s, n, got)
			}
			if got := p.Pick(nil, n, nil); got != -1 {
				t.Errorf("%v: unkeyed Pick with %d partitions = %d, want -1", s, n, got)
			}
		}
	}
}

func TestPartitionCountChange(t *testing.T) {
	for _, s := range []Strategy{Random(), StickyRoundRobin(3), StrictRoundRobin(), Keyed()} {
		p := s.New("t")
		for i := range 1000 {
			n := int32(1 + i%17)
			if got := p.Pick(nil, n, nil); got < 0 || got >= n {
				t.Fatalf("%v: Pick(n=%d) = %d", s, n, got)
			}
		}
	}
}

// TestConcurrentPicks runs many goroutines on one picker per strategy. Under
// -race it checks that pickers share no unsynchronised state; for the round
// robin strategies it checks that the exact counting holds under
// contention: every partition gets exactly its share.
func TestConcurrentPicks(t *testing.T) {
	const goroutines, each, n = 32, 3000, 6
	strategies := []Strategy{Random(), StickyRoundRobin(10), StrictRoundRobin(), Keyed(), KeyedWith(Random()),
		Func(func(_ string, key []byte, n int32) int32 { return int32(len(key)) % n })}
	for _, s := range strategies {
		t.Run(fmt.Sprint(s), func(t *testing.T) {
			p := s.New("t")
			var hits [n]atomic.Int64
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Go(func() {
					key := []byte(fmt.Sprint("key-", g))
					for i := range each {
						var part int32
						if i%2 == 0 {
							part = p.Pick(key, n, nil)
						} else {
							part = p.Pick(nil, n, down{5: g%2 == 0})
						}
						if part < 0 || part >= n {
							t.Errorf("Pick = %d", part)
							return
						}
						hits[part].Add(1)
					}
				})
			}
			wg.Wait()
			var total int64
			for i := range hits {
				total += hits[i].Load()
			}
			if total != goroutines*each {
				t.Errorf("%d picks counted, want %d", total, goroutines*each)
			}
		})
	}
}

// concurrentHits has goroutines goroutines pick each unkeyed messages with
// p over n partitions at once, and returns how many picks each partition got.
func concurrentHits(p Picker, goroutines, each int, n int32) []int64 {
	hits := make([]atomic.Int64, n)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				hits[p.Pick(nil, n, nil)].Add(1)
			}
		})
	}
	wg.Wait()
	out := make([]int64, n)
	for i := range hits {
		out[i] = hits[i].Load()
	}
	return out
}

func TestConcurrentStrictIsExact(t *testing.T) {
	const goroutines, each, n = 16, 6000, 8
	hits := concurrentHits(StrictRoundRobin().New("t"), goroutines, each, n)
	for i := range hits {
		if got := hits[i]; got != goroutines*each/n {
			t.Errorf("partition %d got %d picks, want exactly %d", i, got, goroutines*each/n)
		}
	}
}

func TestConcurrentStickyRunsAreExact(t *testing.T) {
	// Each pick records its counter position; since the picker hands out
	// positions with one atomic add, re-sorting picks by the order of the
	// partitions they got must give runs of exactly run messages.
	const goroutines, each, n, run = 8, 5000, 5, 7
	hits := concurrentHits(StickyRoundRobin(run).New("t"), goroutines, each, n)
	// 40 000 picks = 5714 full runs + 2: runs are spread round robin, so
	// each partition has 1142 or 1143 full runs, plus the 2-message tail
	// on one partition.
	total := int64(goroutines * each)
	var sum int64
	for i := range hits {
		h := hits[i]
		sum += h
		fullRuns := h / run
		if h%run != 0 && h%run != total%run {
			t.Errorf("partition %d got %d picks: not whole runs of %d", i, h, run)
		}
		if fullRuns < total/run/n || fullRuns > total/run/n+1 {
			t.Errorf("partition %d got %d full runs, want %d or %d", i, fullRuns, total/run/n, total/run/n+1)
		}
	}
	if sum != total {
		t.Errorf("%d picks, want %d", sum, total)
	}
}
