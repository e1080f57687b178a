package seglog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/merlinkafka/merlin/internal/kbatch"
)

// Damage is a damaged range of a log found by Verify: stored bytes that do
// not make valid batches (bad length, magic, CRC-32C or offsets).
type Damage struct {
	// Segment is the path of the segment file holding the damage.
	Segment string
	// Pos and End are the byte range of the damage in the segment file.
	Pos, End int64
	// FirstOffset is the first offset of the damaged range: the offset the
	// bad batch should have started with.
	FirstOffset int64
	// NextOffset is the first offset after the damage, where a consumer
	// can resume: the batch after the bad one, or the next segment's base
	// when the damage reaches the end of its segment. -1 when nothing
	// follows (the damage ends the log).
	NextOffset int64
	// Err says what is wrong; it wraps ErrCorrupt.
	Err error
}

// VerifyReport is what Verify found in a log directory.
type VerifyReport struct {
	Segments int   // segment files checked
	Batches  int   // good batches
	Bytes    int64 // bytes of the segment files
	Damage   []Damage
	// Tail is set when the newest segment ends in a batch that is
	// incomplete or fails its checks: a write in progress (Verify may run
	// beside the broker) or torn by a crash. Open cuts such a tail off;
	// it is not damage.
	Tail *Damage
}

// Verify reads every segment of the log in dir and checks every batch
// (header, length, CRC-32C, offsets following each other), reporting the
// damaged ranges. It only reads: it takes no lock and may run while the log
// is open, in which case the newest segment's last batch may be reported as
// a Tail in progress. Damaged bytes are skipped by their header's length
// when it is plausible, so that the batches after a damaged one are checked
// too; otherwise the damage runs to the end of its segment.
func Verify(dir string) (VerifyReport, error) {
	var rep VerifyReport
	des, err := os.ReadDir(dir)
	if err != nil {
		return rep, fmt.Errorf("seglog: %w", err)
	}
	var bases []int64
	for _, de := range des {
		if base, ext, ok := parseName(de.Name()); ok && ext == logExt && !de.IsDir() {
			bases = append(bases, base)
		}
	}
	slices.Sort(bases)
	for i, base := range bases {
		next := int64(-1)
		if i+1 < len(bases) {
			next = bases[i+1]
		}
		if err := verifySegment(segmentPath(dir, base, logExt), base, next, &rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// verifySegment checks one segment file whose first batch has offset base;
// nextBase is the next segment's base offset, -1 for the newest segment.
func verifySegment(path string, base, nextBase int64, rep *VerifyReport) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("seglog: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("seglog: %w", err)
	}
	size := fi.Size()
	rep.Segments++
	rep.Bytes += size
	bp := getBuf()
	defer putBuf(bp)
	pos, expect := int64(0), base
	for pos < size {
		it := newBatchIter(f, *bp, scanChunk, pos, size, expect, true)
		for it.next() {
			rep.Batches++
		}
		*bp = it.br.buf
		if it.err == nil {
			return nil
		}
		if !errors.Is(it.err, ErrCorrupt) {
			return it.err // a read error: nothing to conclude
		}
		d := Damage{Segment: path, Pos: it.pos, End: size, FirstOffset: it.expect, NextOffset: nextBase, Err: it.err}
		if h, ok := damagedHeader(f, it.pos, size, it.expect); ok {
			// The header is sound and only the contents are bad: skip
			// the batch and check the ones after it.
			d.End, d.NextOffset = it.pos+int64(h.Size()), h.LastOffset()+1
		}
		if nextBase < 0 && (d.End == size || d.NextOffset < 0) {
			rep.Tail = &d
			return nil
		}
		rep.Damage = append(rep.Damage, d)
		pos, expect = d.End, d.NextOffset
	}
	return nil
}

// damagedHeader reads the header of a batch that failed its checks at pos
// and reports whether it is plausible enough to skip the batch by: it
// parses, has the expected base offset and fits in the segment.
func damagedHeader(r io.ReaderAt, pos, size, expect int64) (kbatch.Header, bool) {
	var b [kbatch.HeaderSize]byte
	if size-pos < kbatch.HeaderSize {
		return kbatch.Header{}, false
	}
	if _, err := r.ReadAt(b[:], pos); err != nil {
		return kbatch.Header{}, false
	}
	h, err := kbatch.ParseHeader(b[:])
	if err != nil || h.BaseOffset != expect || int64(h.Size()) > size-pos || h.Size() < kbatch.HeaderSize {
		return kbatch.Header{}, false
	}
	return h, true
}
