package seglog

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/merlinkafka/merlin/internal/fsutil"
)

// Open opens the log in dir, creating the directory and a first segment
// when needed, and recovers it:
//
//   - leftovers of interrupted operations are finished or removed:
//     temporary index files, files renamed to .deleted by retention, and
//     index files without their segment;
//   - every older segment's index files are checked cheaply and rebuilt
//     when missing or stale;
//   - the newest segment is scanned batch by batch, checking lengths,
//     CRC-32C and offsets, and cut after its last good batch; the cut is
//     logged with its offset and size.
//
// One directory must be used by one Log at a time; the broker guards its
// data directory with an advisory lock.
func Open(dir string, opts Options) (*Log, error) {
	o := opts.withDefaults()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("seglog: %w", err)
	}
	bases, err := cleanDir(dir, o.Logger)
	if err != nil {
		return nil, err
	}
	if len(bases) == 0 {
		if err := createSegmentFile(dir, 0); err != nil {
			return nil, err
		}
		bases = []int64{0}
	}
	var segs []*segment
	fail := func(err error) (*Log, error) {
		for _, s := range segs {
			s.file.remove()
		}
		return nil, err
	}
	for _, base := range bases[:len(bases)-1] {
		s, err := openSealed(dir, base, &o)
		if err != nil {
			return fail(err)
		}
		segs = append(segs, s)
	}
	newest, err := recoverNewest(dir, bases[len(bases)-1], &o)
	if err != nil {
		return fail(err)
	}
	segs = append(segs, newest)
	for i := 1; i < len(segs); i++ {
		if prev := segs[i-1]; prev.next != segs[i].base {
			o.Logger.Warn("seglog: segments do not follow each other; offsets between them cannot be read",
				"dir", dir, "segment", segmentName(prev.base), "ends_at_offset", prev.next, "next_segment", segmentName(segs[i].base))
		}
	}
	start, err := loadStartOffset(dir, segs)
	if err != nil {
		return fail(err)
	}
	l := newLog(dir, o, segs)
	l.logStart = start
	return l, nil
}

// createSegmentFile creates an empty segment file and makes its directory
// entry durable.
func createSegmentFile(dir string, base int64) error {
	f, err := os.OpenFile(segmentPath(dir, base, logExt), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("seglog: new segment: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("seglog: new segment: %w", err)
	}
	return fsutil.SyncDir(dir)
}

// cleanDir removes the leftovers of interrupted operations and returns the
// base offsets of the segments, ascending. Files whose names this package
// does not make are left alone.
func cleanDir(dir string, logger *slog.Logger) ([]int64, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("seglog: %w", err)
	}
	logs := map[int64]bool{}
	var indexes []string
	var leftovers []string
	for _, de := range des {
		name := de.Name()
		base, ext, ok := parseName(name)
		if !ok || de.IsDir() {
			continue
		}
		switch {
		case strings.HasSuffix(ext, tmpSuffix), strings.HasSuffix(ext, deletedSufx):
			leftovers = append(leftovers, name)
		case ext == logExt:
			logs[base] = true
		default:
			indexes = append(indexes, name)
		}
	}
	for _, name := range indexes {
		if base, _, _ := parseName(name); !logs[base] {
			leftovers = append(leftovers, name) // an index without its segment
		}
	}
	for _, name := range leftovers {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("seglog: removing leftover: %w", err)
		}
		logger.Info("seglog: removed leftover file", "dir", dir, "file", name)
	}
	if len(leftovers) > 0 {
		if err := fsutil.SyncDir(dir); err != nil {
			return nil, err
		}
	}
	bases := make([]int64, 0, len(logs))
	for b := range logs {
		bases = append(bases, b)
	}
	slices.Sort(bases)
	return bases, nil
}

// parseName splits a file name this package makes: 20 digits, then one of
// the extensions, optionally followed by .tmp or .deleted.
func parseName(name string) (base int64, ext string, ok bool) {
	if len(name) <= 20 {
		return 0, "", false
	}
	for _, c := range name[:20] {
		if c < '0' || c > '9' {
			return 0, "", false
		}
	}
	base, err := strconv.ParseInt(name[:20], 10, 64)
	if err != nil {
		return 0, "", false
	}
	ext = name[20:]
	stem := strings.TrimSuffix(strings.TrimSuffix(ext, tmpSuffix), deletedSufx)
	switch stem {
	case logExt, indexExt, timeIndexExt:
		return base, ext, true
	}
	return 0, "", false
}

// openSegmentFile opens a segment's data file with flag and returns it with
// its size, refusing a file larger than any segment this package writes
// (not a segment, or damaged beyond what recovery should scan).
func openSegmentFile(path string, flag int) (*os.File, int64, error) {
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("seglog: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("seglog: %w", err)
	}
	if size := fi.Size(); size > MaxSegmentBytes+1<<31 {
		f.Close()
		return nil, 0, fmt.Errorf("seglog: segment %s is %d bytes, larger than any segment this package writes", path, size)
	}
	return f, fi.Size(), nil
}

// recoverNewest scans the newest segment, truncates what follows its last
// good batch and builds its index in memory. The newest segment never has
// index files on disk: they are written when it is sealed.
func recoverNewest(dir string, base int64, o *Options) (*segment, error) {
	s := newSegment(dir, base, o, os.O_RDWR)
	f, size, err := openSegmentFile(s.file.path, os.O_RDWR)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := scanSegment(f, base, size, s.interval, true)
	if sc.ioErr != nil {
		return nil, sc.ioErr
	}
	if sc.end < size {
		if err := f.Truncate(sc.end); err != nil {
			return nil, fmt.Errorf("seglog: truncating torn tail: %w", err)
		}
		if err := f.Sync(); err != nil {
			return nil, fmt.Errorf("seglog: truncating torn tail: %w", err)
		}
		o.Logger.Warn("seglog: truncated torn or corrupt tail of the newest segment",
			"segment", s.file.path, "offset", sc.next, "position", sc.end, "bytes", size-sc.end, "reason", sc.err)
	}
	removed := false
	for _, ext := range []string{indexExt, timeIndexExt} {
		err := os.Remove(segmentPath(dir, base, ext))
		if err == nil {
			removed = true
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("seglog: %w", err)
		}
	}
	if removed {
		if err := fsutil.SyncDir(dir); err != nil {
			return nil, err
		}
	}
	s.size, s.diskSize, s.next, s.maxTS, s.entries = sc.end, sc.end, sc.next, sc.maxTS, sc.entries
	s.checked.Store(sc.end)
	if n := len(sc.entries); n > 0 {
		s.lastIdx = int64(sc.entries[n-1].pos)
		now := o.Now()
		s.created = now
		if first := sc.entries[0].ts; first >= 0 && time.UnixMilli(first).Before(now) {
			s.created = time.UnixMilli(first)
		}
	}
	return s, nil
}
