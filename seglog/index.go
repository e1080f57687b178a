package seglog

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/merlinkafka/merlin/internal/fsutil"
)

// File name extensions.
const (
	logExt       = ".log"
	indexExt     = ".index"
	timeIndexExt = ".timeindex"
	tmpSuffix    = fsutil.TmpSuffix
	deletedSufx  = ".deleted"
)

// Sizes of the on-disk index entries.
const (
	indexEntrySize = 8  // relative offset u32, position u32
	timeEntrySize  = 12 // timestamp i64, relative offset u32
)

// entry is one index point: the batch that starts at pos has base offset
// segment base + rel, and ts is the largest MaxTimestamp of the segment's
// batches up to and including it. The offset index stores (rel, pos), the
// time index (ts, rel), one entry each per index point.
type entry struct {
	rel uint32
	pos uint32
	ts  int64
}

// segmentName is the 20-digit base offset that names a segment's files.
func segmentName(base int64) string { return fmt.Sprintf("%020d", base) }

func segmentPath(dir string, base int64, ext string) string {
	return filepath.Join(dir, segmentName(base)+ext)
}

// floorEntry returns the index of the last entry with rel <= rel, or -1.
func floorEntry(es []entry, rel uint32) int {
	return sort.Search(len(es), func(i int) bool { return es[i].rel > rel }) - 1
}

// floorPos returns the index of the last entry with pos <= pos, or -1.
func floorPos(es []entry, pos int64) int {
	return sort.Search(len(es), func(i int) bool { return int64(es[i].pos) > pos }) - 1
}

// firstTime returns the index of the first entry with ts >= ts, or len(es).
func firstTime(es []entry, ts int64) int {
	return sort.Search(len(es), func(i int) bool { return es[i].ts >= ts })
}

func encodeOffsetIndex(es []entry) []byte {
	b := make([]byte, len(es)*indexEntrySize)
	for i, e := range es {
		binary.BigEndian.PutUint32(b[i*indexEntrySize:], e.rel)
		binary.BigEndian.PutUint32(b[i*indexEntrySize+4:], e.pos)
	}
	return b
}

func encodeTimeIndex(es []entry) []byte {
	b := make([]byte, len(es)*timeEntrySize)
	for i, e := range es {
		binary.BigEndian.PutUint64(b[i*timeEntrySize:], uint64(e.ts))
		binary.BigEndian.PutUint32(b[i*timeEntrySize+8:], e.rel)
	}
	return b
}

// decodeIndexes decodes and checks a pair of index files for a segment whose
// batches end at size. It reports why the pair cannot be trusted.
func decodeIndexes(off, tim []byte, size int64) ([]entry, error) {
	if len(off)%indexEntrySize != 0 || len(tim)%timeEntrySize != 0 {
		return nil, fmt.Errorf("index sizes %d and %d are not whole entries", len(off), len(tim))
	}
	n := len(off) / indexEntrySize
	if len(tim)/timeEntrySize != n {
		return nil, fmt.Errorf("offset index has %d entries, time index %d", n, len(tim)/timeEntrySize)
	}
	if (n == 0) != (size == 0) {
		return nil, fmt.Errorf("%d index entries for %d bytes of log", n, size)
	}
	es := make([]entry, n)
	for i := range es {
		e := entry{
			rel: binary.BigEndian.Uint32(off[i*indexEntrySize:]),
			pos: binary.BigEndian.Uint32(off[i*indexEntrySize+4:]),
			ts:  int64(binary.BigEndian.Uint64(tim[i*timeEntrySize:])),
		}
		if trel := binary.BigEndian.Uint32(tim[i*timeEntrySize+8:]); trel != e.rel {
			return nil, fmt.Errorf("entry %d: offset index says relative offset %d, time index %d", i, e.rel, trel)
		}
		if i == 0 {
			if e.rel != 0 || e.pos != 0 {
				return nil, fmt.Errorf("first entry is (%d, %d), want (0, 0)", e.rel, e.pos)
			}
		} else if p := es[i-1]; e.rel <= p.rel || e.pos <= p.pos || e.ts < p.ts {
			return nil, fmt.Errorf("entry %d (%d, %d, %d) does not follow (%d, %d, %d)", i, e.rel, e.pos, e.ts, p.rel, p.pos, p.ts)
		}
		if int64(e.pos) >= size {
			return nil, fmt.Errorf("entry %d points at position %d, past the log's %d bytes", i, e.pos, size)
		}
		es[i] = e
	}
	return es, nil
}

// writeIndexFiles replaces the segment's index files atomically: each is
// written to a temporary file, fsynced and renamed over the old one, and
// the directory is fsynced. A crash in between leaves at worst a temporary
// file (removed by Open) or a mismatched pair (rebuilt).
func writeIndexFiles(dir string, base int64, es []entry) error {
	if err := fsutil.WriteFileAtomic(segmentPath(dir, base, indexExt), encodeOffsetIndex(es)); err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(segmentPath(dir, base, timeIndexExt), encodeTimeIndex(es)); err != nil {
		return err
	}
	return fsutil.SyncDir(dir)
}

// readIndexFiles reads and checks the segment's index files.
func readIndexFiles(dir string, base, size int64) ([]entry, error) {
	off, err := os.ReadFile(segmentPath(dir, base, indexExt))
	if err != nil {
		return nil, err
	}
	tim, err := os.ReadFile(segmentPath(dir, base, timeIndexExt))
	if err != nil {
		return nil, err
	}
	return decodeIndexes(off, tim, size)
}
