package seglog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/merlinkafka/merlin/internal/fsutil"
)

// errSegmentDeleted is returned internally when a reader reaches a segment
// that retention has just deleted; Log methods turn it into
// ErrOffsetOutOfRange.
var errSegmentDeleted = errors.New("seglog: segment deleted")

// segment is one .log file and its indexes.
type segment struct {
	base     int64
	dir      string
	interval int64
	file     *cachedFile
	logger   *slog.Logger

	// refs counts the Log's own reference while the segment is listed,
	// plus one per Slice and per reader in progress. Deleted segments
	// lose their files when it drops to zero.
	refs    atomic.Int32
	deleted atomic.Bool

	// checked is the length of the segment's prefix known to hold valid
	// batches: appended by this process (checked before the write),
	// scanned by recovery, or read and checked once. Slice.WriteTo sends
	// bytes below it without reading them (sendfile).
	checked atomic.Int64

	// Guarded by Log.mu while the segment is active; immutable once sealed.
	sealed   bool
	size     int64   // end of the last readable batch
	next     int64   // offset after the last batch
	maxTS    int64   // largest MaxTimestamp, math.MinInt64 when empty
	diskSize int64   // file size; above size when an older segment's tail is unreadable
	entries  []entry // the active segment's index, kept in memory only

	// Appender state of the active segment, guarded by Log.wmu.
	created time.Time // start of the segment's age; zero when empty
	lastIdx int64     // position of the last index entry
	bgMark  int64     // size at the last background fsync

	// A sealed segment's index, loaded on demand and dropped when its file
	// handle is closed for being idle.
	idxMu sync.Mutex
	idx   atomic.Pointer[[]entry]
}

func newSegment(dir string, base int64, o *Options, flag int) *segment {
	s := &segment{
		base:     base,
		dir:      dir,
		interval: int64(o.IndexIntervalBytes),
		logger:   o.Logger,
		next:     base,
		maxTS:    math.MinInt64,
	}
	s.file = o.Files.newFile(segmentPath(dir, base, logExt), flag, func() { s.idx.Store(nil) })
	s.refs.Store(1)
	return s
}

// markChecked records that [from, to) holds valid batches, which extends
// the checked prefix when it starts inside it.
func (s *segment) markChecked(from, to int64) {
	for {
		c := s.checked.Load()
		if from > c || to <= c || s.checked.CompareAndSwap(c, to) {
			return
		}
	}
}

// segView is what a reader needs of a segment, copied under Log.mu.
type segView struct {
	seg     *segment
	size    int64
	next    int64
	entries []entry // nil for a sealed segment: use seg.index
	active  bool
}

func (s *segment) view() segView {
	v := segView{seg: s, size: s.size, next: s.next}
	if !s.sealed {
		v.entries, v.active = s.entries[:len(s.entries):len(s.entries)], true
	}
	return v
}

// index returns the view's index entries, loading a sealed segment's from
// its files (or rebuilding them) when they are not in memory.
func (v *segView) index() ([]entry, error) {
	if v.active {
		return v.entries, nil
	}
	return v.seg.index()
}

func (s *segment) index() ([]entry, error) {
	if p := s.idx.Load(); p != nil {
		return *p, nil
	}
	s.idxMu.Lock()
	defer s.idxMu.Unlock()
	if p := s.idx.Load(); p != nil {
		return *p, nil
	}
	if s.deleted.Load() {
		return nil, errSegmentDeleted
	}
	es, err := readIndexFiles(s.dir, s.base, s.size)
	if err != nil {
		s.logger.Warn("seglog: rebuilding index", "segment", s.file.currentPath(), "reason", err)
		es, err = s.rebuildIndexLocked()
		if err != nil {
			return nil, err
		}
	}
	s.idx.Store(&es)
	return es, nil
}

// rebuildIndex replaces a sealed segment's index by one built from its
// batches, after a reader found the index inconsistent with the log.
func (s *segment) rebuildIndex() ([]entry, error) {
	s.idxMu.Lock()
	defer s.idxMu.Unlock()
	s.logger.Warn("seglog: rebuilding index that does not match the log", "segment", s.file.currentPath())
	es, err := s.rebuildIndexLocked()
	if err != nil {
		return nil, err
	}
	s.idx.Store(&es)
	return es, nil
}

// rebuildIndexLocked scans the sealed segment's headers (s.idxMu held) and
// writes the index files, unless the segment is being deleted.
func (s *segment) rebuildIndexLocked() ([]entry, error) {
	f, err := s.file.acquire()
	if err != nil {
		return nil, err
	}
	sc := scanSegment(f, s.base, s.size, s.interval, false)
	s.file.release()
	if sc.ioErr != nil {
		return nil, sc.ioErr
	}
	if sc.end < s.size {
		s.logger.Warn("seglog: unreadable batch in an older segment", "segment", s.file.currentPath(),
			"offset", sc.next, "position", sc.end, "reason", sc.err)
	}
	if !s.deleted.Load() {
		if err := writeIndexFiles(s.dir, s.base, sc.entries); err != nil {
			s.logger.Warn("seglog: cannot write rebuilt index", "segment", s.file.currentPath(), "err", err)
		}
	}
	return sc.entries, nil
}

// scanResult is what scanSegment learned of a segment.
type scanResult struct {
	entries []entry
	end     int64 // end of the last good batch
	next    int64 // offset after the last good batch
	maxTS   int64
	err     error // why the scan stopped before the end (bad data)
	ioErr   error // a read error: the result cannot be trusted
}

// scanSegment reads every batch header of a segment up to size, checking
// offsets and, with crc, every CRC, and builds the index.
func scanSegment(r io.ReaderAt, base, size, interval int64, crc bool) scanResult {
	bp := getBuf()
	defer putBuf(bp)
	it := newBatchIter(r, *bp, scanChunk, 0, size, base, crc)
	res := scanResult{next: base, maxTS: math.MinInt64}
	lastIdx := int64(0)
	for it.next() {
		res.maxTS = max(res.maxTS, it.h.MaxTimestamp)
		if it.at == 0 || it.at-lastIdx >= interval {
			res.entries = append(res.entries, entry{rel: uint32(it.h.BaseOffset - base), pos: uint32(it.at), ts: res.maxTS})
			lastIdx = it.at
		}
		res.next = it.h.LastOffset() + 1
	}
	*bp = it.br.buf
	res.end = it.pos
	if it.err != nil {
		if errors.Is(it.err, ErrCorrupt) {
			res.err = it.err
		} else {
			res.ioErr = it.err
		}
	}
	return res
}

// openSealed opens an older segment at Open: it checks the index files
// cheaply (sizes, last entries, and the batches after the last entry) and
// rebuilds them when that fails.
func openSealed(dir string, base int64, o *Options) (*segment, error) {
	s := newSegment(dir, base, o, os.O_RDONLY)
	s.sealed = true
	f, size, err := openSegmentFile(s.file.path, os.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s.diskSize = size
	last, reason := lastIndexEntry(dir, base, s.diskSize)
	if reason == nil {
		bp := getBuf()
		it := newBatchIter(f, *bp, walkChunk, int64(last.pos), s.diskSize, base+int64(last.rel), false)
		maxTS := last.ts
		next := base
		for it.next() {
			maxTS = max(maxTS, it.h.MaxTimestamp)
			next = it.h.LastOffset() + 1
		}
		*bp = it.br.buf
		putBuf(bp)
		switch {
		case it.err != nil:
			reason = it.err
		case s.diskSize == 0:
			s.size, s.next = 0, base
			return s, nil
		default:
			s.size, s.next, s.maxTS = s.diskSize, next, maxTS
			return s, nil
		}
	}
	if !errors.Is(reason, fs.ErrNotExist) || s.diskSize > 0 {
		o.Logger.Warn("seglog: rebuilding index", "segment", s.file.path, "reason", reason)
	}
	sc := scanSegment(f, base, s.diskSize, s.interval, false)
	if sc.ioErr != nil {
		return nil, sc.ioErr
	}
	if sc.err != nil {
		o.Logger.Warn("seglog: unreadable batch in an older segment; reads from it will fail",
			"segment", s.file.path, "offset", sc.next, "position", sc.end, "bytes", s.diskSize-sc.end, "reason", sc.err)
	}
	s.size, s.next, s.maxTS = sc.end, sc.next, sc.maxTS
	if err := writeIndexFiles(dir, base, sc.entries); err != nil {
		return nil, err
	}
	s.idx.Store(&sc.entries)
	return s, nil
}

// lastIndexEntry reads the last entry of a segment's index files, checking
// what can be checked without reading them whole.
func lastIndexEntry(dir string, base, logSize int64) (entry, error) {
	offB, offN, err := readTail(segmentPath(dir, base, indexExt), indexEntrySize)
	if err != nil {
		return entry{}, err
	}
	timB, timN, err := readTail(segmentPath(dir, base, timeIndexExt), timeEntrySize)
	if err != nil {
		return entry{}, err
	}
	if offN != timN {
		return entry{}, fmt.Errorf("offset index has %d entries, time index %d", offN, timN)
	}
	if (offN == 0) != (logSize == 0) {
		return entry{}, fmt.Errorf("%d index entries for %d bytes of log", offN, logSize)
	}
	if offN == 0 {
		return entry{}, nil
	}
	e := entry{
		rel: binary.BigEndian.Uint32(offB),
		pos: binary.BigEndian.Uint32(offB[4:]),
		ts:  int64(binary.BigEndian.Uint64(timB)),
	}
	if trel := binary.BigEndian.Uint32(timB[8:]); trel != e.rel {
		return entry{}, fmt.Errorf("last entries disagree: relative offset %d in the offset index, %d in the time index", e.rel, trel)
	}
	if int64(e.pos) >= logSize {
		return entry{}, fmt.Errorf("last index entry points at position %d, past the log's %d bytes", e.pos, logSize)
	}
	return e, nil
}

// readTail returns the last entry of an index file and the number of
// entries in it.
func readTail(path string, size int) ([]byte, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	if fi.Size()%int64(size) != 0 {
		return nil, 0, fmt.Errorf("%s: %d bytes is not a whole number of entries", path, fi.Size())
	}
	n := fi.Size() / int64(size)
	if n == 0 {
		return nil, 0, nil
	}
	b := make([]byte, size)
	if _, err := f.ReadAt(b, fi.Size()-int64(size)); err != nil {
		return nil, 0, err
	}
	return b, n, nil
}

// release drops one reference; the last one of a deleted segment removes
// its files.
func (s *segment) release() {
	if s.refs.Add(-1) != 0 || !s.deleted.Load() {
		return
	}
	s.file.remove()
	var errs []error
	for _, ext := range []string{logExt, indexExt, timeIndexExt} {
		if err := os.Remove(segmentPath(s.dir, s.base, ext+deletedSufx)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(append(errs, fsutil.SyncDir(s.dir))...); err != nil {
		s.logger.Warn("seglog: removing a deleted segment", "segment", segmentName(s.base), "err", err)
	}
}

// markDeleted renames the segment's files to their .deleted names: from
// then on Open removes them instead of loading the segment. The files go
// when the last reference is released.
func (s *segment) markDeleted() error {
	s.idxMu.Lock()
	defer s.idxMu.Unlock()
	s.deleted.Store(true)
	if err := s.file.rename(segmentPath(s.dir, s.base, logExt+deletedSufx)); err != nil {
		return fmt.Errorf("seglog: %w", err)
	}
	for _, ext := range []string{indexExt, timeIndexExt} {
		p := segmentPath(s.dir, s.base, ext)
		if err := os.Rename(p, p+deletedSufx); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("seglog: %w", err)
		}
	}
	return nil
}

// modTime is the segment file's modification time, for retention of
// segments without timestamps.
func (s *segment) modTime() (time.Time, error) {
	fi, err := os.Stat(s.file.currentPath())
	if err != nil {
		return time.Time{}, err
	}
	return fi.ModTime(), nil
}
