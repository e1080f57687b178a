package seglog

import (
	"github.com/merlinkafka/merlin/internal/kbatch"
)

// OffsetForTime returns the base offset of the first batch whose
// MaxTimestamp is at least ts (milliseconds), as Kafka's ListOffsets by
// timestamp does at batch granularity, and ok == false when no batch is
// that recent. It skips whole segments by their largest timestamp, finds
// the place in the segment through the time index, and reads at most about
// two index intervals of batch headers.
func (l *Log) OffsetForTime(ts int64) (offset int64, ok bool, err error) {
	if l.closed.Load() {
		return 0, false, ErrClosed
	}
	// The first batch with MaxTimestamp >= ts is in the first segment whose
	// largest timestamp is >= ts.
	l.mu.RLock()
	var v segView
	for _, s := range l.segs {
		if s.next > s.base && s.maxTS >= ts {
			s.refs.Add(1)
			v = s.view()
			break
		}
	}
	l.mu.RUnlock()
	if v.seg == nil {
		return 0, false, nil
	}
	defer v.seg.release()
	es, err := v.index()
	if err != nil {
		return 0, false, l.readErr(v.seg.base, err)
	}
	// Index entries carry the running maximum timestamp: every batch up to
	// entry k-1 is older than ts, and entry k's batch is not.
	from, fromBase := int64(0), v.seg.base
	if k := firstTime(es, ts); k > 0 {
		from, fromBase = int64(es[k-1].pos), v.seg.base+int64(es[k-1].rel)
	}
	it := v.iter(from, v.size, fromBase, v.walkChunk())
	defer it.close()
	for it.next() {
		if it.h.MaxTimestamp >= ts {
			return it.h.BaseOffset, true, nil
		}
	}
	return 0, false, it.err
}

// ScanHeaders calls fn with the header of every batch from the one that
// contains offset from (or from StartOffset, if from is below it) up to the
// NextOffset at the time of the call, in order, until fn returns false.
// It reads headers only, not records, and does not check CRCs; it is meant
// for rebuilding state such as idempotent producer sequences after a
// restart.
func (l *Log) ScanHeaders(from int64, fn func(kbatch.Header) bool) error {
	if l.closed.Load() {
		return ErrClosed
	}
	l.mu.RLock()
	start, end := l.segs[0].base, l.active.next
	l.mu.RUnlock()
	from = max(from, start)
	for from < end {
		v, ok, err := l.acquire(from)
		if err != nil || !ok {
			return err
		}
		more, next, err := l.scanSegment(v, from, end, fn)
		v.seg.release()
		if err != nil || !more {
			return err
		}
		from = next
	}
	return nil
}

func (l *Log) scanSegment(v segView, from, end int64, fn func(kbatch.Header) bool) (more bool, next int64, err error) {
	pos, base, err := v.locate(from)
	if err != nil {
		return false, 0, l.readErr(from, err)
	}
	it := v.iter(pos, v.size, base, walkChunk)
	defer it.close()
	for it.next() {
		if it.h.BaseOffset >= end || !fn(it.h) {
			return false, 0, nil
		}
	}
	if it.err != nil {
		return false, 0, it.err
	}
	return true, v.next, nil
}
