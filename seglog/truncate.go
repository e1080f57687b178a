package seglog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/merlinkafka/merlin/internal/fsutil"
)

// startOffsetFile holds the start offset DeleteBefore set, when it is past
// the first segment's base.
const startOffsetFile = "log-start-offset"

// DeleteBefore makes offset the log's start offset, as Kafka's
// DeleteRecords does: the sealed segments wholly below it are deleted, and
// the records below it in the first remaining segment are no longer read
// (Read below it gives ErrOffsetOutOfRange; a batch that straddles it is
// read whole). The offset is saved in the log's directory before any
// segment goes, so it survives a restart. An offset at or below the
// current start changes nothing; one above NextOffset is an error wrapping
// ErrOffsetOutOfRange. It returns the start offset.
func (l *Log) DeleteBefore(offset int64) (int64, error) {
	if err := l.lockRetention(); err != nil {
		return 0, err
	}
	defer l.retMu.Unlock()
	start, next := l.StartOffset(), l.NextOffset()
	switch {
	case offset > next || offset < 0:
		return start, fmt.Errorf("%w: offset %d, log holds %d to %d", ErrOffsetOutOfRange, offset, start, next)
	case offset <= start:
		return start, nil
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(l.dir, startOffsetFile), []byte(strconv.FormatInt(offset, 10)+"\n")); err != nil {
		return start, fmt.Errorf("seglog: saving the start offset: %w", err)
	}
	l.mu.Lock()
	l.logStart = offset
	n := 0
	for n < len(l.segs)-1 && l.segs[n].next <= offset {
		n++
	}
	victims := l.segs[:n:n]
	l.segs = append([]*segment(nil), l.segs[n:]...)
	l.mu.Unlock()
	return offset, l.deleteSegments(victims, "seglog: deleted segment below the start offset")
}

// deleteSegments removes segments already taken out of l.segs, logging msg
// for each.
func (l *Log) deleteSegments(victims []*segment, msg string) error {
	if len(victims) == 0 {
		return nil
	}
	var errs []error
	for _, s := range victims {
		if err := s.markDeleted(); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, fsutil.SyncDir(l.dir))
	for _, s := range victims {
		l.logger.Info(msg, "dir", l.dir, "segment", segmentName(s.base),
			"from_offset", s.base, "to_offset", s.next, "bytes", s.diskSize)
		s.release()
	}
	return errors.Join(errs...)
}

// loadStartOffset reads the start offset DeleteBefore saved, kept within
// the segments (a torn tail may have cut the log below it). 0 when none.
func loadStartOffset(dir string, segs []*segment) (int64, error) {
	raw, err := os.ReadFile(filepath.Join(dir, startOffsetFile))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("seglog: %w", err)
	}
	off, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
	if err != nil {
		return 0, corruptf(err, "seglog: %s in %s", startOffsetFile, dir)
	}
	return min(max(off, segs[0].base), segs[len(segs)-1].next), nil
}
