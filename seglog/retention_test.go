package seglog

import (
	"errors"
	"os"
	"testing"
	"time"
)

func TestRetentionByAge(t *testing.T) {
	dir := t.TempDir()
	now := time.UnixMilli(1_700_000_000_000)
	l := mustOpen(t, dir, Options{SegmentRecords: 100, RetentionAge: time.Hour})
	defer l.Close()
	// Segment k holds timestamps around now - (10-k) hours.
	for k := 0; k < 10; k++ {
		ts := now.Add(-time.Duration(10-k) * time.Hour).UnixMilli()
		appendN(t, l, 10, 10, ts)
	}
	appendN(t, l, 1, 10, now.UnixMilli()) // the active segment
	if l.Segments() != 11 {
		t.Fatalf("%d segments", l.Segments())
	}
	n, err := l.ApplyRetention(now)
	if err != nil {
		t.Fatal(err)
	}
	// Segment 9 holds records up to 1h minus 91ms old: it stays.
	if n != 9 || l.StartOffset() != 900 || l.Segments() != 2 {
		t.Fatalf("deleted %d, start %d, %d segments", n, l.StartOffset(), l.Segments())
	}
	_, err = l.Read(899, 100)
	wantErr(t, err, ErrOffsetOutOfRange)
	_, err = l.Read(0, 100)
	wantErr(t, err, ErrOffsetOutOfRange)
	if got := len(readAll(t, l, 900, 1<<20)); got != 11 {
		t.Fatalf("%d batches left", got)
	}
	if got := len(segFiles(t, dir, ".log")); got != 2 {
		t.Fatalf("%d .log files left", got)
	}
	if got := len(segFiles(t, dir, ".deleted")) + len(segFiles(t, dir, ".index")); got != 1 {
		t.Fatalf("%d leftover files", got)
	}
	// Much later, everything but the active segment goes.
	if n, err := l.ApplyRetention(now.Add(48 * time.Hour)); err != nil || n != 1 {
		t.Fatalf("deleted %d: %v", n, err)
	}
	if l.StartOffset() != 1000 || l.Segments() != 1 {
		t.Fatalf("start %d, %d segments", l.StartOffset(), l.Segments())
	}
	if n, err := l.ApplyRetention(now.Add(480 * time.Hour)); err != nil || n != 0 {
		t.Fatalf("the active segment must stay: deleted %d: %v", n, err)
	}
	l.Close()
	// The start offset survives a reopen.
	l = mustOpen(t, dir, Options{})
	defer l.Close()
	if l.StartOffset() != 1000 || l.NextOffset() != 1010 {
		t.Fatalf("reopened at %d..%d", l.StartOffset(), l.NextOffset())
	}
}

func TestRetentionByAgeWithoutTimestamps(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{SegmentRecords: 10, RetentionAge: time.Hour})
	defer l.Close()
	appendN(t, l, 3, 10, -1) // timestamps -1..: no usable timestamp
	for _, p := range segFiles(t, dir, ".log") {
		// Batches with timestamps below zero: retention falls back to mtime.
		if err := os.Chtimes(p, time.Now(), time.Now().Add(-2*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	mustAppend(t, l, batch(t, 1, -1, 1))
	n, err := l.ApplyRetention(time.Now())
	if err != nil || n != 3 {
		t.Fatalf("deleted %d: %v", n, err)
	}
}

func TestRetentionByBytes(t *testing.T) {
	dir := t.TempDir()
	one := int64(len(batch(t, 10, 0, 10)))
	l := mustOpen(t, dir, Options{SegmentRecords: 50, RetentionBytes: 12 * one})
	defer l.Close()
	appendN(t, l, 42, 10, 0) // 8 sealed segments of 5 batches, 2 batches active
	if l.Segments() != 9 || l.Size() != 42*one {
		t.Fatalf("%d segments, %d bytes", l.Segments(), l.Size())
	}
	n, err := l.ApplyRetention(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// 42 batches: deleting segments while at least 12 batches remain
	// leaves 2 sealed segments plus the active one (12 batches).
	if n != 6 || l.StartOffset() != 300 || l.Size() != 12*one {
		t.Fatalf("deleted %d, start %d, size %d", n, l.StartOffset(), l.Size())
	}
	_, err = l.Read(299, 1)
	wantErr(t, err, ErrOffsetOutOfRange)
	if got := len(readAll(t, l, l.StartOffset(), 1<<20)); got != 12 {
		t.Fatalf("%d batches", got)
	}
	// A limit below the active segment's size keeps the active segment.
	l.opts.RetentionBytes = 1
	if n, err := l.ApplyRetention(time.Now()); err != nil || n != 2 || l.Segments() != 1 {
		t.Fatalf("deleted %d, %d segments left: %v", n, l.Segments(), err)
	}
	if got := len(segFiles(t, dir, ".log")); got != 1 {
		t.Fatalf("%d segment files", got)
	}
}

func TestRetentionWhileSliceOpen(t *testing.T) {
	dir := t.TempDir()
	files := NewFileCache(2)
	l := mustOpen(t, dir, Options{SegmentRecords: 10, RetentionBytes: 1, Files: files})
	defer l.Close()
	appendN(t, l, 5, 10, 0)
	s, err := l.Read(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := l.ApplyRetention(time.Now()); err != nil || n != 4 {
		t.Fatalf("deleted %d: %v", n, err)
	}
	// The segment is gone from the log and renamed on disk, but the Slice
	// still reads it, even after its handle is evicted.
	if got := len(segFiles(t, dir, ".log.deleted")); got != 1 {
		t.Fatalf("%d .deleted segments while a Slice holds one", got)
	}
	appendN(t, l, 3, 10, 0)
	readAll(t, l, l.StartOffset(), 1) // touches other files: evicts
	b, err := s.AppendTo(nil)
	if err != nil || len(b) != s.Len() {
		t.Fatalf("read of a deleted segment: %d bytes, %v", len(b), err)
	}
	s.Close()
	if got := len(segFiles(t, dir, ".deleted")); got != 0 {
		t.Fatalf("%d .deleted files after the last Slice closed", got)
	}
}

// SetLimits changes retention and rolling on an open log.
func TestSetLimits(t *testing.T) {
	l := mustOpen(t, t.TempDir(), Options{SegmentBytes: 1 << 20, Logger: quiet()})
	defer l.Close()
	appendN(t, l, 5, 1, 1)
	if n := l.Segments(); n != 1 {
		t.Fatalf("%d segments before SetLimits", n)
	}
	if n, err := l.ApplyRetention(time.Now()); err != nil || n != 0 {
		t.Fatalf("retention without limits deleted %d: %v", n, err)
	}
	l.SetLimits(Limits{SegmentBytes: 1, RetentionBytes: 1})
	appendN(t, l, 3, 1, 1)
	if n := l.Segments(); n != 4 {
		t.Fatalf("%d segments after appending 3 batches with 1-byte segments", n)
	}
	if n, err := l.ApplyRetention(time.Now()); err != nil || n != 3 || l.StartOffset() != 7 {
		t.Fatalf("retention deleted %d segments (%v), start %d; want 3, start 7", n, err, l.StartOffset())
	}
}

// DeleteBefore moves the start offset, deletes the segments wholly below
// it, refuses offsets past the end, and its offset survives a reopen.
func TestDeleteBefore(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{SegmentRecords: 10, Logger: quiet()})
	appendN(t, l, 25, 1, 1) // segments at 0, 10, 20
	if start, err := l.DeleteBefore(13); err != nil || start != 13 || l.StartOffset() != 13 || l.Segments() != 2 {
		t.Fatalf("DeleteBefore(13): start %d, %v; StartOffset %d, %d segments", start, err, l.StartOffset(), l.Segments())
	}
	if _, err := l.Read(12, 1<<20); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below the start offset: %v", err)
	}
	if sl, err := l.Read(13, 1<<20); err != nil || sl.BaseOffset() != 13 {
		t.Fatalf("read at the start offset: base %d, %v", sl.BaseOffset(), err)
	} else {
		sl.Close()
	}
	if start, err := l.DeleteBefore(5); err != nil || start != 13 {
		t.Fatalf("DeleteBefore below the start: %d, %v", start, err)
	}
	if _, err := l.DeleteBefore(26); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("DeleteBefore past the end: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, dir, Options{SegmentRecords: 10, Logger: quiet()})
	defer l.Close()
	if l.StartOffset() != 13 || l.NextOffset() != 25 {
		t.Fatalf("after reopen: %d..%d, want 13..25", l.StartOffset(), l.NextOffset())
	}
	if start, err := l.DeleteBefore(25); err != nil || start != 25 || l.Segments() != 1 {
		t.Fatalf("DeleteBefore(end): %d, %v, %d segments", start, err, l.Segments())
	}
}
