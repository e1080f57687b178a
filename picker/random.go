package picker

import "math/rand/v2"

// Random returns a strategy that sends every message to an independent,
// uniformly random partition, ignoring keys. With an
// Availability, the choice is uniform among the partitions that are up.
//
// It keeps no shared state: each pick draws from the runtime's per-thread
// generator, so it scales with the number of producing goroutines.
func Random() Strategy { return randomStrategy{} }

type randomStrategy struct{}

func (randomStrategy) New(string) Picker { return randomPicker{} }
func (randomStrategy) String() string    { return "random" }

type randomPicker struct{}

func (randomPicker) Pick(_ []byte, n int32, up Availability) int32 {
	if n <= 0 {
		return -1
	}
	p := rand.Int32N(n)
	if up == nil || up.Up(p) {
		return p
	}
	return randomUp(p, n, up)
}

// randomUp picks uniformly among the partitions that are up, or returns p
// when none is. It calls Up at most 2n times.
func randomUp(p, n int32, up Availability) int32 {
	var count int32
	for q := range n {
		if up.Up(q) {
			count++
		}
	}
	if count == 0 {
		return p
	}
	// Availability may change between the two passes: if the j-th up
	// partition has gone, fall back to the next one up after p.
	j := rand.Int32N(count)
	for q := range n {
		if up.Up(q) {
			if j == 0 {
				return q
			}
			j--
		}
	}
	return nextUp(p, n, up)
}
