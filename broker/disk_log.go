package broker

// diskLog: one partition's seglog.Log as a PartitionLog.

import (
	"errors"
	"fmt"
	"sync"

	"github.com/merlinkafka/merlin/internal/kbatch"
	"github.com/merlinkafka/merlin/seglog"
)

// diskLog is one partition's seglog.Log as a PartitionLog.
type diskLog struct {
	s    *DiskStorage
	tp   topicPartition
	log  *seglog.Log
	once sync.Once
	err  error
}

var (
	_ headerScanner     = (*diskLog)(nil)
	_ validatedAppender = (*diskLog)(nil)
)

// Append checks the batch whole (CRC included) before storing it, as
// seglog.Log.Append does: it is the PartitionLog a caller other than the
// broker may use.
func (l *diskLog) Append(batch []byte) (int64, error) {
	base, _, sync, err := l.log.AppendDeferred(batch)
	if err != nil {
		return 0, l.appendErr(err)
	}
	if err := sync(); err != nil {
		return 0, err
	}
	return base, nil
}

// appendValidated stores a batch the produce handler validated (CRC
// included: kbatch.Validate) without checking its CRC again, and leaves
// the fsync of --fsync always (or every=N) to the caller: the partition
// releases its lock before it, so that concurrent produces to one
// partition share an fsync (seglog's group commit) instead of queueing for
// one each.
func (l *diskLog) appendValidated(batch []byte) (int64, func() error, error) {
	base, _, sync, err := l.log.AppendDeferredTrusted(batch)
	if err != nil {
		return 0, nil, l.appendErr(err)
	}
	return base, sync, nil
}

func (l *diskLog) appendErr(err error) error {
	if errors.Is(err, seglog.ErrInvalidBatch) {
		return fmt.Errorf("%w: %w", ErrInvalidBatch, err)
	}
	return err
}

// Read returns whole batches from one segment. When it meets corrupt data it
// returns the good batches before it, if any, and the error (wrapping
// ErrCorruptData) only when there are none, so that a consumer gets
// everything up to the damage, then CORRUPT_MESSAGE.
func (l *diskLog) Read(offset int64, maxBytes int, dst []byte) ([]byte, error) {
	sl, err := l.log.Read(offset, maxBytes)
	if err != nil {
		switch {
		case errors.Is(err, seglog.ErrOffsetOutOfRange):
			return dst, fmt.Errorf("%w: %w", ErrOffsetOutOfRange, err)
		case errors.Is(err, seglog.ErrCorrupt):
			return dst, fmt.Errorf("%w: %w", ErrCorruptData, err)
		}
		return dst, err
	}
	defer sl.Close()
	out, err := sl.AppendTo(dst)
	if err != nil {
		if errors.Is(err, seglog.ErrCorrupt) {
			if len(out) > len(dst) {
				return out, nil // the next fetch, from the damage on, gets the error
			}
			return dst, fmt.Errorf("%w: %w", ErrCorruptData, err)
		}
		return dst, err
	}
	return out, nil
}

func (l *diskLog) StartOffset() int64 { return l.log.StartOffset() }
func (l *diskLog) Size() int64        { return l.log.Size() }
func (l *diskLog) Segments() int      { return l.log.Segments() }
func (l *diskLog) NextOffset() int64  { return l.log.NextOffset() }

func (l *diskLog) OffsetForTime(ts int64) (int64, bool) {
	off, ok, err := l.log.OffsetForTime(ts)
	if err != nil {
		if !errors.Is(err, seglog.ErrClosed) {
			l.s.log.Error("looking up an offset by time", "topic", l.tp.topic, "partition", l.tp.partition, "ts", ts, "err", err)
		}
		return 0, false
	}
	return off, ok
}

func (l *diskLog) ScanHeaders(from int64, fn func(kbatch.Header) bool) error {
	return l.log.ScanHeaders(from, fn)
}

// Close closes the partition's log; opening the partition again reopens it.
func (l *diskLog) Close() error {
	l.s.mu.Lock()
	if l.s.logs[l.tp] == l {
		delete(l.s.logs, l.tp)
	}
	l.s.mu.Unlock()
	return l.close()
}

func (l *diskLog) close() error {
	l.once.Do(func() { l.err = l.log.Close() })
	return l.err
}
