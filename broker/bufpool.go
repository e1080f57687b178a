package broker

import (
	"math/bits"
	"sync"
)

// Pooled buffers for request reading, answers and fetch scratch space.
//
// A connection takes buffers while it has a request to read or answers to
// write and gives them back before it waits for the next request, so that an
// idle connection holds none (see conn). Buffers come in powers of two from
// minPooled to maxPooled; larger ones are allocated and dropped.
const (
	minPooledShift = 12 // 4 KiB
	maxPooledShift = 20 // 1 MiB
	minPooled      = 1 << minPooledShift
	maxPooled      = 1 << maxPooledShift
)

var bufPools [maxPooledShift - minPooledShift + 1]sync.Pool

// poolClass returns the index of the smallest class holding n bytes, or -1
// when n is above maxPooled.
func poolClass(n int) int {
	if n <= minPooled {
		return 0
	}
	if n > maxPooled {
		return -1
	}
	return bits.Len(uint(n-1)) - minPooledShift
}

// getBuf returns an empty buffer with room for at least n bytes.
func getBuf(n int) []byte {
	k := poolClass(n)
	if k < 0 {
		return make([]byte, 0, n)
	}
	if p, ok := bufPools[k].Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return make([]byte, 0, 1<<(k+minPooledShift))
}

// putBuf gives b back for reuse. The caller must not use it afterwards.
func putBuf(b []byte) {
	c := cap(b)
	if c < minPooled || c > maxPooled {
		return
	}
	// The largest class b can serve in full.
	k := bits.Len(uint(c)) - 1 - minPooledShift
	b = b[:0]
	bufPools[k].Put(&b)
}
