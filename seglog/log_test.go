package seglog

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/internal/kbatch"
)

func TestAppendReadRollByBytes(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{SegmentBytes: 4096, IndexIntervalBytes: 512})
	defer l.Close()
	var want []kbatch.Header
	for i := 0; i < 300; i++ {
		n := 1 + i%7
		b := batch(t, n, 1000+int64(i), 20)
		base, last := mustAppend(t, l, b)
		if i == 0 && base != 0 {
			t.Fatalf("first base %d", base)
		}
		if last-base != int64(n-1) {
			t.Fatalf("append %d: base %d last %d for %d records", i, base, last, n)
		}
		// Append patches the caller's batch with its base offset.
		h, err := kbatch.ValidateOne(b)
		if err != nil || h.BaseOffset != base {
			t.Fatalf("patched batch: %+v %v", h, err)
		}
		want = append(want, h)
	}
	if l.Segments() < 10 {
		t.Fatalf("%d segments, want many rolls", l.Segments())
	}
	if got := len(segFiles(t, dir, ".log")); got != l.Segments() {
		t.Fatalf("%d .log files for %d segments", got, l.Segments())
	}
	// Every sealed segment has its index files; the active one does not.
	if got := len(segFiles(t, dir, ".index")); got != l.Segments()-1 {
		t.Fatalf("%d .index files for %d sealed segments", got, l.Segments()-1)
	}
	for _, max := range []int{0, 100, 1000, 1 << 20} {
		got := readAll(t, l, 0, max)
		if len(got) != len(want) {
			t.Fatalf("maxBytes %d: read %d batches, want %d", max, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("maxBytes %d: batch %d = %+v, want %+v", max, i, got[i], want[i])
			}
		}
	}
	// Segments hold at most SegmentBytes (each batch is far smaller).
	for _, p := range segFiles(t, dir, ".log") {
		if sz := fileSize(t, p); sz > 4096 {
			t.Fatalf("%s is %d bytes", p, sz)
		}
	}
}

func TestReadFromInsideBatchesAndEdges(t *testing.T) {
	l := mustOpen(t, t.TempDir(), Options{SegmentBytes: 2000, IndexIntervalBytes: 300})
	defer l.Close()
	var hs []kbatch.Header
	for i := 0; i < 60; i++ {
		b := batch(t, 5, int64(i), 8)
		mustAppend(t, l, b)
		h, _ := kbatch.ParseHeader(b)
		hs = append(hs, h)
	}
	next := l.NextOffset()
	if next != 300 {
		t.Fatalf("NextOffset %d", next)
	}
	for off := int64(0); off < next; off++ {
		s, err := l.Read(off, 1)
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.AppendTo(nil)
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		h, err := kbatch.ValidateOne(b) // maxBytes 1: exactly one batch
		if err != nil {
			t.Fatalf("offset %d: %v", off, err)
		}
		if h != hs[off/5] || s.BaseOffset() != h.BaseOffset {
			t.Fatalf("offset %d: batch %+v, want %+v", off, h, hs[off/5])
		}
	}
	// At the end: empty, no error.
	s, err := l.Read(next, 1000)
	if err != nil || s.Len() != 0 {
		t.Fatalf("Read at NextOffset: %d bytes, %v", s.Len(), err)
	}
	if b, err := s.AppendTo([]byte("x")); err != nil || string(b) != "x" {
		t.Fatalf("empty AppendTo: %q %v", b, err)
	}
	s.Close()
	_, err = l.Read(next+1, 1000)
	wantErr(t, err, ErrOffsetOutOfRange)
	_, err = l.Read(-1, 1000)
	wantErr(t, err, ErrOffsetOutOfRange)

	// maxBytes bounds the slice to whole batches.
	size := hs[0].Size()
	s, err = l.Read(0, 3*size+size/2)
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 3*size {
		t.Fatalf("Len %d, want %d", s.Len(), 3*size)
	}
	var w bytes.Buffer
	if n, err := s.WriteTo(&w); err != nil || n != int64(3*size) {
		t.Fatalf("WriteTo: %d %v", n, err)
	}
	b, _ := s.AppendTo(nil)
	if !bytes.Equal(w.Bytes(), b) {
		t.Fatal("WriteTo and AppendTo disagree")
	}
	s.Close()
	s.Close() // idempotent
}

func TestRollByRecords(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{SegmentRecords: 100})
	defer l.Close()
	appendN(t, l, 50, 10, 0) // 500 records
	if l.Segments() != 5 {
		t.Fatalf("%d segments, want 5", l.Segments())
	}
	for i, want := range []string{"00000000000000000000.log", "00000000000000000100.log", "00000000000000000200.log"} {
		if got := filepath.Base(segFiles(t, dir, ".log")[i]); got != want {
			t.Fatalf("segment %d is %s, want %s", i, got, want)
		}
	}
	// A batch larger than the limit gets a segment of its own.
	mustAppend(t, l, batch(t, 150, 0, 1))
	mustAppend(t, l, batch(t, 1, 0, 1))
	if l.Segments() != 7 {
		t.Fatalf("%d segments, want 7", l.Segments())
	}
	if got := len(readAll(t, l, 0, 1<<20)); got != 52 {
		t.Fatalf("%d batches", got)
	}
}

func TestRollByAge(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	l := mustOpen(t, t.TempDir(), Options{SegmentAge: time.Hour, Now: clock.Now})
	defer l.Close()
	appendN(t, l, 3, 1, 0)
	clock.Add(59 * time.Minute)
	appendN(t, l, 1, 1, 0)
	if l.Segments() != 1 {
		t.Fatalf("rolled too early: %d segments", l.Segments())
	}
	clock.Add(time.Minute)
	appendN(t, l, 1, 1, 0)
	if l.Segments() != 2 {
		t.Fatalf("%d segments after an hour, want 2", l.Segments())
	}
	// The age of the new segment runs from its first append.
	clock.Add(30 * time.Minute)
	appendN(t, l, 1, 1, 0)
	if l.Segments() != 2 {
		t.Fatalf("%d segments, want 2", l.Segments())
	}
	if got := len(readAll(t, l, 0, 1<<20)); got != 6 {
		t.Fatalf("%d batches", got)
	}
}

func TestReopenContinues(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{SegmentBytes: 3000})
	next := appendN(t, l, 100, 3, 0)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wantErr(t, l.Close(), ErrClosed)
	_, _, err := l.Append(batch(t, 1, 0, 1))
	wantErr(t, err, ErrClosed)
	_, err = l.Read(0, 100)
	wantErr(t, err, ErrClosed)

	l = mustOpen(t, dir, Options{SegmentBytes: 3000})
	defer l.Close()
	if l.NextOffset() != next || l.StartOffset() != 0 {
		t.Fatalf("reopened at %d..%d, want 0..%d", l.StartOffset(), l.NextOffset(), next)
	}
	base, _ := mustAppend(t, l, batch(t, 2, 0, 1))
	if base != next {
		t.Fatalf("append after reopen got %d, want %d", base, next)
	}
	if got := len(readAll(t, l, 0, 5000)); got != 101 {
		t.Fatalf("%d batches", got)
	}
}

func TestReopenWithoutClose(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{SegmentBytes: 3000, Flush: FlushNever()})
	defer l.Close()
	next := appendN(t, l, 100, 3, 0)
	// A kill -9 leaves the files as the page cache has them: copy them
	// while the log is open, and never close the copy's writer.
	crashed := copyDir(t, dir)
	l2 := mustOpen(t, crashed, Options{SegmentBytes: 3000})
	defer l2.Close()
	if l2.NextOffset() != next {
		t.Fatalf("NextOffset %d, want %d", l2.NextOffset(), next)
	}
	if got := len(readAll(t, l2, 0, 1<<20)); got != 100 {
		t.Fatalf("%d batches", got)
	}
	if base, _ := mustAppend(t, l2, batch(t, 1, 0, 1)); base != next {
		t.Fatalf("base %d, want %d", base, next)
	}
}

func TestAppendRejectsInvalid(t *testing.T) {
	l := mustOpen(t, t.TempDir(), Options{})
	defer l.Close()
	good := batch(t, 3, 0, 5)
	bad := append([]byte(nil), good...)
	bad[len(bad)-1] ^= 1
	_, _, err := l.Append(bad)
	wantErr(t, err, ErrInvalidBatch)
	wantErr(t, err, kbatch.ErrCorrupt)
	if errors.Is(err, ErrCorrupt) {
		t.Fatal("a refused batch must not look like corrupt storage")
	}
	_, _, err = l.Append(append(append([]byte(nil), good...), good...))
	wantErr(t, err, ErrInvalidBatch)
	_, _, err = l.Append(good[:40])
	wantErr(t, err, ErrInvalidBatch)
	var bd kbatch.Builder
	empty, _ := bd.AppendBatch(nil)
	_, _, err = l.Append(empty)
	wantErr(t, err, ErrInvalidBatch)
	if l.NextOffset() != 0 {
		t.Fatalf("refused batches moved NextOffset to %d", l.NextOffset())
	}
	if base, last := mustAppend(t, l, good); base != 0 || last != 2 {
		t.Fatalf("%d %d", base, last)
	}
}

func TestScanHeaders(t *testing.T) {
	l := mustOpen(t, t.TempDir(), Options{SegmentBytes: 1500, IndexIntervalBytes: 200})
	defer l.Close()
	appendN(t, l, 80, 4, 0)
	var got []int64
	if err := l.ScanHeaders(130, func(h kbatch.Header) bool {
		got = append(got, h.BaseOffset)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 48 || got[0] != 128 || got[47] != 316 {
		t.Fatalf("scanned %d batches %v", len(got), got)
	}
	n := 0
	if err := l.ScanHeaders(-5, func(kbatch.Header) bool { n++; return n < 10 }); err != nil || n != 10 {
		t.Fatalf("early stop: %d %v", n, err)
	}
}

func TestOffsetForTime(t *testing.T) {
	dir := t.TempDir()
	o := Options{SegmentBytes: 2000, IndexIntervalBytes: 256}
	l := mustOpen(t, dir, o)
	// Batch i holds 3 records with timestamps 10i..10i+2 (MaxTimestamp
	// 10i+2), except batch 50, whose timestamps run backwards in time.
	var tsOf []int64
	for i := 0; i < 100; i++ {
		ts := int64(10 * i)
		if i == 50 {
			ts = 5
		}
		mustAppend(t, l, batch(t, 3, ts, 10))
		tsOf = append(tsOf, ts+2)
	}
	check := func(l *Log) {
		t.Helper()
		for ts := int64(-1); ts < 1000; ts++ {
			wantOff, wantOK := int64(0), false
			for i, m := range tsOf {
				if m >= ts {
					wantOff, wantOK = int64(3*i), true
					break
				}
			}
			off, ok, err := l.OffsetForTime(ts)
			if err != nil || ok != wantOK || (ok && off != wantOff) {
				t.Fatalf("OffsetForTime(%d) = %d %v %v, want %d %v", ts, off, ok, err, wantOff, wantOK)
			}
		}
	}
	check(l)
	l.Close()
	// After a reopen (sealed indexes from files) and after a rebuild.
	l = mustOpen(t, dir, o)
	check(l)
	l.Close()
	for _, p := range append(segFiles(t, dir, ".index"), segFiles(t, dir, ".timeindex")...) {
		os.Remove(p)
	}
	l = mustOpen(t, dir, o)
	defer l.Close()
	check(l)
}

func TestLargeBatches(t *testing.T) {
	dir := t.TempDir()
	o := Options{SegmentBytes: 4 << 20}
	l := mustOpen(t, dir, o)
	// Batches larger than the recovery scan's chunk and than a segment.
	mustAppend(t, l, batch(t, 3, 0, 1<<20))
	mustAppend(t, l, batch(t, 2, 0, 3<<20))
	mustAppend(t, l, batch(t, 4, 0, 10))
	mustAppend(t, l, batch(t, 2, 0, 3<<20))
	next := l.NextOffset()
	crashed := copyDir(t, dir)
	l.Close()
	for _, d := range []string{dir, crashed} {
		l := mustOpen(t, d, o)
		if l.NextOffset() != next {
			t.Fatalf("NextOffset %d, want %d", l.NextOffset(), next)
		}
		if got := len(readAll(t, l, 0, 1)); got != 4 {
			t.Fatalf("%d batches", got)
		}
		l.Close()
	}
}

// AppendDeferredTrusted skips only the CRC: a batch of the wrong shape is
// still refused, and a batch with a bad CRC that was stored anyway is
// reported by reads and cut by recovery.
func TestAppendTrustedSkipsOnlyTheCRC(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{})
	two := append(batch(t, 1, 1, 10), batch(t, 1, 1, 10)...)
	if _, _, _, err := l.AppendDeferredTrusted(two); !errors.Is(err, ErrInvalidBatch) {
		t.Fatalf("two batches: %v, want ErrInvalidBatch", err)
	}
	if _, _, _, err := l.AppendDeferredTrusted(batch(t, 2, 1, 10)[:40]); !errors.Is(err, ErrInvalidBatch) {
		t.Fatalf("a cut batch: %v, want ErrInvalidBatch", err)
	}
	good := batch(t, 3, 1, 10)
	if _, _, _, err := l.AppendDeferred(slices.Clone(good)); err != nil {
		t.Fatal(err)
	}
	bad := batch(t, 3, 1, 10)
	bad[len(bad)-1] ^= 0xff
	if _, _, _, err := l.AppendDeferred(slices.Clone(bad)); !errors.Is(err, ErrInvalidBatch) {
		t.Fatalf("AppendDeferred of a bad CRC: %v, want ErrInvalidBatch", err)
	}
	base, _, wait, err := l.AppendDeferredTrusted(bad)
	if err != nil || wait() != nil || base != 3 {
		t.Fatalf("trusted append of a bad CRC: base %d, %v", base, err)
	}
	sl, err := l.Read(3, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sl.AppendTo(nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read of the bad batch: %v, want ErrCorrupt", err)
	}
	sl.Close()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, dir, Options{})
	defer l.Close()
	if n := l.NextOffset(); n != 3 {
		t.Fatalf("recovery kept offsets up to %d, want the bad batch cut at 3", n)
	}
}
