package broker

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/merlinkafka/merlin/internal/kbatch"
	"github.com/twmb/franz-go/pkg/kerr"
)

// partition is one partition of a topic: its log, leadership, idempotent
// producer state and the fetches waiting for data.
//
// Lock order: Cluster.mu before partition.mu.
type partition struct {
	topic *topic
	index int32
	log   PartitionLog

	// leaderEpoch packs the leader node id (high 32 bits) and the leader
	// epoch (low 32 bits) for lock-free reads; written under mu.
	leaderEpoch atomic.Uint64

	mu        sync.Mutex
	producers map[int64]*producerState
	maxTS     int64 // largest MaxTimestamp stored
	maxTSBase int64 // base offset of the batch holding it, -1 if none
	waiters   []*waiter
	closed    bool
	syncErr   error // a deferred fsync failed: refuse appends
}

func newPartition(t *topic, index int32, log PartitionLog, leader int32) *partition {
	p := &partition{topic: t, index: index, log: log, maxTS: -1, maxTSBase: -1}
	p.leaderEpoch.Store(packLeader(leader, 0))
	return p
}

func packLeader(leader, epoch int32) uint64 {
	return uint64(uint32(leader))<<32 | uint64(uint32(epoch))
}

func (p *partition) leader() int32 { return int32(p.leaderEpoch.Load() >> 32) }
func (p *partition) epoch() int32  { return int32(uint32(p.leaderEpoch.Load())) }

func (p *partition) setLeader(id int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.leaderEpoch.Store(packLeader(id, p.epoch()))
}

// moveLeader changes the leader, bumps the epoch and wakes waiting fetches
// so that they answer NOT_LEADER_OR_FOLLOWER.
func (p *partition) moveLeader(to int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.leaderEpoch.Store(packLeader(to, p.epoch()+1))
	p.wakeLocked()
}

// appendResult is the outcome of appending one produced batch.
type appendResult struct {
	base      int64
	duplicate bool
	code      int16
	err       error // the storage error behind KAFKA_STORAGE_ERROR
}

// validatedAppender is a PartitionLog (the disk storage's) that can store a
// batch the produce handler validated without checking its CRC again, and
// leave the fsync its flush policy calls for to the caller: append then
// releases the partition lock before waiting for it, so that concurrent
// produces share one fsync. A batch is readable before it is durable, as
// on Kafka; its producer is answered only once it is durable.
type validatedAppender interface {
	appendValidated(batch []byte) (base int64, sync func() error, err error)
}

// append stores a validated batch received by node, applying leadership and
// idempotence rules. It may patch the batch's leader epoch in place.
func (p *partition) append(node int32, batch []byte, h kbatch.Header) appendResult {
	res, sync := p.appendLocked(node, batch, h)
	if sync == nil {
		return res
	}
	if err := sync(); err != nil {
		// The batch is in the log and in the producer state, but not known
		// to be durable: refuse everything from now on (a retry would be
		// answered as a duplicate), as the log itself refuses appends
		// after a failed fsync.
		p.mu.Lock()
		p.syncErr = err
		p.mu.Unlock()
		return appendResult{base: -1, code: kerr.KafkaStorageError.Code, err: err}
	}
	return res
}

// appendLocked checks and stores a batch under the partition lock, and
// returns the fsync still to wait for, if any.
func (p *partition) appendLocked(node int32, batch []byte, h kbatch.Header) (appendResult, func() error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return appendResult{base: -1, code: kerr.KafkaStorageError.Code, err: errClusterClosed}, nil
	}
	if p.syncErr != nil {
		return appendResult{base: -1, code: kerr.KafkaStorageError.Code, err: p.syncErr}, nil
	}
	if p.leader() != node {
		return appendResult{base: -1, code: kerr.NotLeaderForPartition.Code}, nil
	}
	if h.ProducerID >= 0 {
		v := checkSequence(p.producers[h.ProducerID], h, p.log.NextOffset() == 0)
		if v.code != 0 {
			return appendResult{base: -1, code: v.code}, nil
		}
		if v.duplicate {
			return appendResult{base: v.base, duplicate: true}, nil
		}
	}
	kbatch.SetPartitionLeaderEpoch(batch, p.epoch())
	var base int64
	var sync func() error
	var err error
	if va, ok := p.log.(validatedAppender); ok {
		base, sync, err = va.appendValidated(batch)
	} else {
		base, err = p.log.Append(batch)
	}
	if err != nil {
		code := kerr.KafkaStorageError.Code
		if errors.Is(err, ErrInvalidBatch) {
			code = kerr.CorruptMessage.Code
		}
		return appendResult{base: -1, code: code, err: err}, nil
	}
	h.BaseOffset = base
	p.observeLocked(h)
	p.wakeLocked()
	return appendResult{base: base}, sync
}

// observeLocked updates the producer state and timestamp bookkeeping for a
// stored batch.
func (p *partition) observeLocked(h kbatch.Header) {
	if h.ProducerID >= 0 {
		st := p.producers[h.ProducerID]
		if st == nil {
			if p.producers == nil {
				p.producers = make(map[int64]*producerState)
			}
			st = &producerState{epoch: h.ProducerEpoch}
			p.producers[h.ProducerID] = st
		}
		st.record(h, h.BaseOffset)
	}
	if h.MaxTimestamp > p.maxTS {
		p.maxTS, p.maxTSBase = h.MaxTimestamp, h.BaseOffset
	}
}

// rebuild scans the stored batch headers to restore the producer state and
// timestamp bookkeeping after a restart. It returns the largest producer id
// seen, -1 if none.
func (p *partition) rebuild() (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	maxPID := int64(-1)
	off, end := p.log.StartOffset(), p.log.NextOffset()
	if hs, ok := p.log.(headerScanner); ok {
		err := hs.ScanHeaders(off, func(h kbatch.Header) bool {
			if h.BaseOffset >= end {
				return false
			}
			p.observeLocked(h)
			maxPID = max(maxPID, h.ProducerID)
			return true
		})
		return maxPID, err
	}
	var buf []byte
	for off < end {
		var err error
		buf, err = p.log.Read(off, 1<<20, buf[:0])
		if err != nil {
			return maxPID, err
		}
		if len(buf) == 0 {
			break
		}
		for rest := buf; len(rest) > 0; {
			h, err := kbatch.ParseHeader(rest)
			if err != nil {
				return maxPID, fmt.Errorf("batch at offset %d: %w", off, err)
			}
			if h.Size() > len(rest) {
				return maxPID, fmt.Errorf("batch at offset %d: %w", off, kbatch.ErrShort)
			}
			if h.LastOffset() < off {
				return maxPID, fmt.Errorf("storage returned offset %d when asked for %d", h.LastOffset(), off)
			}
			p.observeLocked(h)
			maxPID = max(maxPID, h.ProducerID)
			off = h.LastOffset() + 1
			rest = rest[h.Size():]
		}
	}
	return maxPID, nil
}

// maxTimestamp returns the largest stored timestamp and the base offset of
// its batch (-1, -1 when empty).
func (p *partition) maxTimestamp() (ts, base int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.maxTS, p.maxTSBase
}

// waiter is a fetch waiting for data on one or more partitions.
type waiter struct{ ch chan struct{} }

func newWaiter() *waiter { return &waiter{ch: make(chan struct{}, 1)} }

func (w *waiter) wake() {
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

// watch registers w to be woken by the next append or leader change. If the
// partition already moved on from what the caller saw (next offset, epoch),
// w is woken at once, so that no append is missed between the caller's read
// and its registration.
func (p *partition) watch(w *waiter, seenNext int64, seenEpoch int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.log.NextOffset() != seenNext || p.epoch() != seenEpoch {
		w.wake()
	}
	p.waiters = append(p.waiters, w)
}

func (p *partition) unwatch(w *waiter) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i := slices.Index(p.waiters, w); i >= 0 {
		last := len(p.waiters) - 1
		p.waiters[i] = p.waiters[last]
		p.waiters[last] = nil
		p.waiters = p.waiters[:last]
	}
}

func (p *partition) wakeLocked() {
	for _, w := range p.waiters {
		w.wake()
	}
}

func (p *partition) closeWaiters() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.wakeLocked()
}
