package broker

import (
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/merlinkafka/merlin/internal/errs"
	"github.com/merlinkafka/merlin/internal/kbatch"
)

// errStorageClosed is returned by a Storage used after Close: it matches
// ErrClosed, as the error of any Storage used after Close should.
var errStorageClosed = errs.Closed("broker: storage closed")

// Arena chunks that small batches are copied into: one allocation per
// megabyte of ingest instead of one per batch. A partition's chunks start
// small and double, so that idle partitions cost little.
const (
	memoryChunkSize    = 1 << 20
	memoryFirstChunk   = 4 << 10
	memoryLargeBatches = memoryChunkSize / 4 // get their own allocation
)

// NewMemoryStorage returns a Storage that keeps everything in memory, with no
// retention: it holds every batch it was given until it is garbage
// collected. It is the default storage, and the one mockbroker uses.
func NewMemoryStorage() Storage {
	return &memoryStorage{logs: make(map[topicPartition]*memoryLog)}
}

type topicPartition struct {
	topic     string
	partition int32
}

type memoryStorage struct {
	mu     sync.Mutex
	topics []TopicSpec
	logs   map[topicPartition]*memoryLog
	closed bool
}

func (s *memoryStorage) OpenPartition(topic string, partition int32) (PartitionLog, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errStorageClosed
	}
	tp := topicPartition{topic, partition}
	l := s.logs[tp]
	if l == nil {
		l = &memoryLog{}
		s.logs[tp] = l
	}
	return l, nil
}

func (s *memoryStorage) SaveTopics(topics []TopicSpec) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errStorageClosed
	}
	s.topics = slices.Clone(topics)
	return nil
}

func (s *memoryStorage) LoadTopics() ([]TopicSpec, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errStorageClosed
	}
	return slices.Clone(s.topics), nil
}

func (s *memoryStorage) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.logs = nil
	s.topics = nil
	return nil
}

// memoryLog is one partition in memory: a sorted index of batches whose bytes
// live in shared arena chunks.
type memoryLog struct {
	mu      sync.RWMutex
	batches []memoryBatch
	next    int64
	start   int64  // set by DeleteRecordsBefore (see startLocked)
	free    []byte // unused tail of the current arena chunk
	chunk   int    // size of the current arena chunk
	size    int64  // bytes of the batches held
}

type memoryBatch struct {
	base, last int64
	// maxTS is the largest MaxTimestamp of this batch and every batch
	// before it, so that OffsetForTime can binary search.
	maxTS int64
	data  []byte
}

func (l *memoryLog) Append(batch []byte) (int64, error) {
	h, err := kbatch.ParseHeader(batch)
	if err != nil {
		return 0, fmt.Errorf("broker: memory append: %w", err)
	}
	if h.Size() != len(batch) {
		return 0, fmt.Errorf("broker: memory append: %w", kbatch.ErrLength)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	data := l.alloc(len(batch))
	copy(data, batch)
	base := l.next
	kbatch.SetBaseOffset(data, base)
	maxTS := h.MaxTimestamp
	if n := len(l.batches); n > 0 && l.batches[n-1].maxTS > maxTS {
		maxTS = l.batches[n-1].maxTS
	}
	l.batches = append(l.batches, memoryBatch{
		base:  base,
		last:  base + int64(h.LastOffsetDelta),
		maxTS: maxTS,
		data:  data,
	})
	l.next = base + int64(h.LastOffsetDelta) + 1
	l.size += int64(len(batch))
	return base, nil
}

// alloc returns n bytes carved from the arena, or a dedicated slice for
// batches too large to share a chunk. Callers hold l.mu.
func (l *memoryLog) alloc(n int) []byte {
	if n > memoryLargeBatches {
		return make([]byte, n)
	}
	if len(l.free) < n {
		l.chunk = min(max(2*l.chunk, memoryFirstChunk, n), memoryChunkSize)
		l.free = make([]byte, l.chunk)
	}
	b := l.free[:n:n]
	l.free = l.free[n:]
	return b
}

func (l *memoryLog) Read(offset int64, maxBytes int, dst []byte) ([]byte, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	start := l.startLocked()
	if offset < start || offset > l.next {
		return dst, fmt.Errorf("%w: %d not in [%d, %d]", ErrOffsetOutOfRange, offset, start, l.next)
	}
	i := sort.Search(len(l.batches), func(i int) bool { return l.batches[i].last >= offset })
	total := 0
	for ; i < len(l.batches); i++ {
		b := l.batches[i].data
		if total > 0 && total+len(b) > maxBytes {
			break
		}
		dst = append(dst, b...)
		total += len(b)
	}
	return dst, nil
}

func (l *memoryLog) StartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.startLocked()
}

func (l *memoryLog) NextOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.next
}

func (l *memoryLog) OffsetForTime(ts int64) (int64, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	i := sort.Search(len(l.batches), func(i int) bool { return l.batches[i].maxTS >= ts })
	if i == len(l.batches) {
		return 0, false
	}
	return l.batches[i].base, true
}

// Size returns the bytes of the batches held.
func (l *memoryLog) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.size
}

func (l *memoryLog) Close() error { return nil }
