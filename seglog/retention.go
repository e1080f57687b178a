package seglog

import (
	"time"
)

// ApplyRetention deletes the oldest sealed segments that retention allows
// to go, and returns how many it deleted. A segment goes when the log
// without it is still at least RetentionBytes, or when its newest record
// (its largest MaxTimestamp, or the file's modification time when its
// batches carry no timestamps) is older than RetentionAge before now. It
// stops at the first segment that must stay, so the log stays contiguous,
// and never deletes the active segment. StartOffset moves to the first
// remaining segment.
//
// Deletion renames the segment's files to .deleted names, fsyncs the
// directory, and removes the files once no Slice uses them. Open removes
// .deleted files left by a crash.
func (l *Log) ApplyRetention(now time.Time) (deletedSegments int, err error) {
	if err := l.lockRetention(); err != nil {
		return 0, err
	}
	defer l.retMu.Unlock()
	// Read under retMu: SetLimits changes them.
	if l.opts.RetentionAge <= 0 && l.opts.RetentionBytes <= 0 {
		return 0, nil
	}
	l.mu.RLock()
	segs := append([]*segment(nil), l.segs...)
	total := l.active.size
	for _, s := range segs[:len(segs)-1] {
		total += s.diskSize
	}
	l.mu.RUnlock()

	diff := total - l.opts.RetentionBytes
	var victims []*segment
	for _, s := range segs[:len(segs)-1] {
		byBytes := l.opts.RetentionBytes > 0 && diff-s.diskSize >= 0
		byAge := false
		if l.opts.RetentionAge > 0 && !byBytes {
			newest := time.UnixMilli(s.maxTS)
			if s.maxTS < 0 {
				if newest, err = s.modTime(); err != nil {
					return 0, err
				}
			}
			byAge = now.Sub(newest) > l.opts.RetentionAge
		}
		if !byBytes && !byAge {
			break
		}
		victims = append(victims, s)
		diff -= s.diskSize
	}
	if len(victims) == 0 {
		return 0, nil
	}

	l.mu.Lock()
	l.segs = append([]*segment(nil), l.segs[len(victims):]...)
	l.mu.Unlock()

	return len(victims), l.deleteSegments(victims, "seglog: retention deleted segment")
}

// lockRetention takes retMu for an operation that deletes segments, or
// returns ErrClosed without it when the log is closed, before or while it
// waited.
func (l *Log) lockRetention() error {
	if l.closed.Load() {
		return ErrClosed
	}
	l.retMu.Lock()
	if l.closed.Load() {
		l.retMu.Unlock()
		return ErrClosed
	}
	return nil
}
