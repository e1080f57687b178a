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

// Read returns whole batches, across segments. When it meets corrupt data
// it returns the good batches before it, if any, and the error (wrapping
// ErrCorruptData) only when there are none, so that a consumer gets
// everything up to the damage, then CORRUPT_MESSAGE.
func (l *diskLog) Read(offset int64, maxBytes int, dst []byte) ([]byte, error) {
	sls, _, err := l.readSlices(offset, maxBytes, nil)
	if err != nil {
		return dst, err
	}
	return appendSlices(sls, dst)
}

// readSlices returns the Slices of the whole batches from offset on, one a
// segment, while their total stays within maxBytes, but always at least
// one batch when offset < NextOffset (seglog's Read stops at the end of a
// segment: this goes on into the next), and their total size. Close them,
// or give them to appendSlices.
func (l *diskLog) readSlices(offset int64, maxBytes int, sls []seglog.Slice) ([]seglog.Slice, int, error) {
	sl, err := l.log.Read(offset, maxBytes)
	if err != nil {
		switch {
		case errors.Is(err, seglog.ErrOffsetOutOfRange):
			return sls, 0, fmt.Errorf("%w: %w", ErrOffsetOutOfRange, err)
		case errors.Is(err, seglog.ErrCorrupt):
			return sls, 0, fmt.Errorf("%w: %w", ErrCorruptData, err)
		}
		return sls, 0, err
	}
	n := sl.Len()
	if n == 0 {
		return sls, 0, nil
	}
	sls = append(sls, sl)
	for n < maxBytes && sl.NextOffset() < l.log.NextOffset() {
		// An error here (damage, a segment just deleted) is the next
		// fetch's, from where this one ends.
		if sl, err = l.log.Read(sl.NextOffset(), maxBytes-n); err != nil {
			break
		}
		if sl.Len() == 0 || sl.Len() > maxBytes-n {
			sl.Close()
			break
		}
		n += sl.Len()
		sls = append(sls, sl)
	}
	return sls, n, nil
}

// appendSlices appends the bytes of sls to dst, checking every batch, and
// closes them. On corrupt data it returns the good batches before it, if
// any, else the error (wrapping ErrCorruptData).
func appendSlices(sls []seglog.Slice, dst []byte) ([]byte, error) {
	defer closeSlices(sls)
	orig := len(dst)
	for _, sl := range sls {
		out, err := sl.AppendTo(dst)
		switch {
		case err == nil:
			dst = out
			continue
		case len(out) > orig:
			return out, nil // the next fetch, from the damage on, gets the error
		case errors.Is(err, seglog.ErrCorrupt):
			return dst[:orig], fmt.Errorf("%w: %w", ErrCorruptData, err)
		}
		return dst[:orig], err
	}
	return dst, nil
}

func closeSlices(sls []seglog.Slice) {
	for _, sl := range sls {
		sl.Close()
	}
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
