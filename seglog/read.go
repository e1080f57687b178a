package seglog

import (
	"errors"
	"fmt"

	"github.com/merlinkafka/merlin/internal/kbatch"
)

// Read returns whole batches starting with the batch that contains offset,
// as many as fit in maxBytes but always at least one, from a single
// segment. A fetch from inside a batch returns that whole batch, as Kafka
// does; the consumer skips the records before its offset.
//
// At NextOffset Read returns an empty Slice. Below StartOffset or above
// NextOffset it returns an error wrapping ErrOffsetOutOfRange. An offset
// in an unreadable part of an older segment gives an error wrapping
// ErrCorrupt.
//
// Read locates the batch through the sparse index and reads at most
// IndexIntervalBytes of headers; the bytes themselves are read by the
// Slice. Close the Slice when done.
func (l *Log) Read(offset int64, maxBytes int) (Slice, error) {
	v, ok, err := l.acquire(offset)
	if err != nil || !ok {
		return Slice{base: offset}, err
	}
	r, err := v.locateRange(offset, maxBytes)
	if err != nil {
		v.seg.release()
		return Slice{}, l.readErr(offset, err)
	}
	return Slice{ref: &sliceRef{seg: v.seg}, pos: r.pos, n: int(r.end - r.pos), base: r.base, next: r.next}, nil
}

// batchRange is a run of whole batches in a segment: from position pos
// (base offset base) to end (offset next).
type batchRange struct{ pos, base, end, next int64 }

// locateRange finds the batch containing offset and the end of the run of
// whole batches from it that fits in maxBytes (at least one batch). In a
// sealed segment a mismatch between index and log makes it rebuild the
// index and try again, once.
func (v *segView) locateRange(offset int64, maxBytes int) (batchRange, error) {
	if offset >= v.next {
		return batchRange{}, corruptf(nil, "offset %d lies in an unreadable part of segment %s, which ends at offset %d", offset, segmentName(v.seg.base), v.next)
	}
	for attempt := 0; ; attempt++ {
		es, err := v.index()
		if err != nil {
			return batchRange{}, err
		}
		r, err := v.locateRangeWith(es, offset, maxBytes)
		if err == nil || v.active || attempt > 0 || !errors.Is(err, ErrCorrupt) {
			return r, err
		}
		if _, err := v.seg.rebuildIndex(); err != nil {
			return batchRange{}, err
		}
	}
}

// locate returns the position and base offset of the batch containing
// offset.
func (v *segView) locate(offset int64) (pos, base int64, err error) {
	r, err := v.locateRange(offset, 0)
	return r.pos, r.base, err
}

func (v *segView) locateRangeWith(es []entry, offset int64, maxBytes int) (batchRange, error) {
	k := floorEntry(es, uint32(offset-v.seg.base))
	if k < 0 {
		return batchRange{}, corruptf(nil, "segment %s has no index entry for offset %d", segmentName(v.seg.base), offset)
	}
	from, fromBase := int64(es[k].pos), v.seg.base+int64(es[k].rel)
	var it batchIter
	defer func() { it.close() }()
	var pos, base int64
	if fromBase == offset && v.active {
		pos, base = from, fromBase // the live index is authoritative
	} else {
		// Walk from the index entry to the batch; in a sealed segment
		// this also checks the entry against the header it points at.
		it = v.iter(from, v.size, fromBase, v.walkChunk())
		for {
			if !it.next() {
				if it.err != nil {
					return batchRange{}, it.err
				}
				return batchRange{}, corruptf(nil, "offset %d not found in segment %s", offset, segmentName(v.seg.base))
			}
			if it.h.LastOffset() >= offset {
				break
			}
		}
		pos, base = it.at, it.h.BaseOffset
	}

	limit := pos + int64(max(maxBytes, 0))
	if limit >= v.size {
		return batchRange{pos, base, v.size, v.next}, nil
	}
	// Every batch before an index entry at or below the limit fits: jump
	// to the last such entry when it is ahead of the walk.
	live := it.file != nil
	jumped := false
	var end, next int64
	if j := floorPos(es, limit); j >= 0 && int64(es[j].pos) > pos && (!live || int64(es[j].pos) > it.pos) {
		it.close()
		from = int64(es[j].pos)
		next = v.seg.base + int64(es[j].rel)
		it = v.iter(from, v.size, next, int(min(limit-from+kbatch.HeaderSize, walkChunk)))
		end, jumped = from, true
	} else if !live {
		it = v.iter(pos, v.size, base, int(min(limit-pos+kbatch.HeaderSize, walkChunk)))
		end, next = pos, base
	} else {
		end, next = it.pos, it.h.LastOffset()+1 // after the batch found above
		if end > limit {
			return batchRange{pos, base, end, next}, nil
		}
	}
	walked := false
	for it.next() {
		walked = true
		if it.pos > limit {
			if it.at == pos {
				end, next = it.pos, it.h.LastOffset()+1 // the first batch, larger than maxBytes
			}
			return batchRange{pos, base, end, next}, nil
		}
		end, next = it.pos, it.h.LastOffset()+1
	}
	if it.err != nil && (end == pos || (jumped && !walked)) {
		// Nothing to return, or the index entry jumped to is not a batch
		// (the caller rebuilds a sealed segment's index and retries).
		return batchRange{}, it.err
	}
	return batchRange{pos, base, end, next}, nil // up to a bad batch: the next Read reports it
}

// iter returns a header iterator over [from, end) of the segment's file,
// reading chunk bytes at a time. Call its close method when done.
func (v *segView) iter(from, end, expect int64, chunk int) batchIter {
	f, err := v.seg.file.acquire()
	if err != nil {
		return batchIter{err: fmt.Errorf("seglog: segment %s: %w", segmentName(v.seg.base), err)}
	}
	bp := getBuf()
	it := newBatchIter(f, *bp, chunk, from, end, expect, false)
	it.bp, it.file = bp, v.seg.file
	return it
}

// walkChunk is the read size for a walk from an index entry: about one
// index interval, which is as far as such walks go.
func (v *segView) walkChunk() int {
	return int(min(v.seg.interval+kbatch.HeaderSize, walkChunk))
}
