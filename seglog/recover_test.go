package seglog

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/internal/kbatch"
	"github.com/merlinkafka/merlin/internal/testkit"
)

// newestSegment returns the path of the newest .log file.
func newestSegment(t *testing.T, dir string) string {
	t.Helper()
	logs := segFiles(t, dir, ".log")
	return logs[len(logs)-1]
}

func TestTornTail(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, path string, lastBatch int) // lastBatch: size of the last batch
		cut    func(lastBatch, garbage int) int               // bytes the recovery must cut
		keep   int                                            // batches of the newest 10 that survive
	}{
		{
			name: "cut inside the last batch",
			damage: func(t *testing.T, path string, lastBatch int) {
				os.Truncate(path, fileSize(t, path)-7)
			},
			cut:  func(lastBatch, _ int) int { return lastBatch - 7 },
			keep: 9,
		},
		{
			name: "cut inside the last header",
			damage: func(t *testing.T, path string, lastBatch int) {
				os.Truncate(path, fileSize(t, path)-int64(lastBatch)+30)
			},
			cut:  func(int, int) int { return 30 },
			keep: 9,
		},
		{
			name: "garbage appended",
			damage: func(t *testing.T, path string, _ int) {
				testkit.AppendFile(t, path, []byte(strings.Repeat("garbage!", 20)))
			},
			cut:  func(_, garbage int) int { return garbage },
			keep: 10,
		},
		{
			name: "zeros appended (power cut after the size grew)",
			damage: func(t *testing.T, path string, _ int) {
				testkit.AppendFile(t, path, make([]byte, 160))
			},
			cut:  func(_, garbage int) int { return garbage },
			keep: 10,
		},
		{
			name: "flipped byte in the last batch",
			damage: func(t *testing.T, path string, lastBatch int) {
				flipByte(t, path, fileSize(t, path)-int64(lastBatch)+70)
			},
			cut:  func(lastBatch, _ int) int { return lastBatch },
			keep: 9,
		},
		{
			name: "flipped byte in the middle batch",
			damage: func(t *testing.T, path string, lastBatch int) {
				flipByte(t, path, fileSize(t, path)-5*int64(lastBatch)+70)
			},
			cut:  func(lastBatch, _ int) int { return 5 * lastBatch },
			keep: 5,
		},
		{
			name: "base offset of the last batch rewritten",
			damage: func(t *testing.T, path string, lastBatch int) {
				f, _ := os.OpenFile(path, os.O_RDWR, 0)
				defer f.Close()
				f.WriteAt([]byte{0, 0, 0, 0, 0, 0, 0x10, 0}, fileSize(t, path)-int64(lastBatch))
			},
			cut:  func(lastBatch, _ int) int { return lastBatch },
			keep: 9,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			o := Options{SegmentRecords: 100}
			l := mustOpen(t, dir, o)
			// Recent timestamps: a segment's age after Open runs from its
			// first batch's timestamp.
			now := time.Now().UnixMilli()
			appendN(t, l, 35, 10, now) // 3 full segments and 5 batches in the newest
			l.Close()
			// Make the newest segment hold 10 batches.
			l = mustOpen(t, dir, o)
			appendN(t, l, 5, 10, now)
			l.Close()
			one := len(batch(t, 10, 0, 10))
			path := newestSegment(t, dir)
			if filepath.Base(path) != "00000000000000000300.log" || fileSize(t, path) != int64(10*one) {
				t.Fatalf("setup: %s of %d bytes", path, fileSize(t, path))
			}
			before := fileSize(t, path)
			tc.damage(t, path, one)
			garbage := int(fileSize(t, path) - before)

			logger, buf := capture()
			o.Logger = logger
			l, err := Open(dir, o)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			wantNext := int64(300 + 10*tc.keep)
			if l.NextOffset() != wantNext {
				t.Fatalf("NextOffset %d, want %d", l.NextOffset(), wantNext)
			}
			cut := tc.cut(one, garbage)
			out := buf.String()
			for _, want := range []string{"truncated", fmt.Sprintf("offset=%d", wantNext), fmt.Sprintf("bytes=%d", cut)} {
				if !strings.Contains(out, want) {
					t.Fatalf("log does not mention %q:\n%s", want, out)
				}
			}
			if got := len(readAll(t, l, 0, 1<<20)); got != 30+tc.keep {
				t.Fatalf("%d batches readable, want %d", got, 30+tc.keep)
			}
			if base, _ := mustAppend(t, l, batch(t, 2, 0, 1)); base != wantNext {
				t.Fatalf("append at %d, want %d", base, wantNext)
			}
			l.Close()
			// The cut is durable and the next Open finds nothing to cut.
			logger, buf = capture()
			o.Logger = logger
			l = mustOpen(t, dir, o)
			defer l.Close()
			if strings.Contains(buf.String(), "truncated") {
				t.Fatalf("second open cut again:\n%s", buf)
			}
			if l.NextOffset() != wantNext+2 {
				t.Fatalf("NextOffset %d after reopen", l.NextOffset())
			}
		})
	}
}

func flipByte(t *testing.T, path string, pos int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := []byte{0}
	if _, err := f.ReadAt(b, pos); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x40
	if _, err := f.WriteAt(b, pos); err != nil {
		t.Fatal(err)
	}
}

func TestNewestSegmentEmptiedByRecovery(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{SegmentRecords: 10})
	appendN(t, l, 3, 10, 0)
	l.Close()
	path := newestSegment(t, dir)
	os.Truncate(path, 20) // less than a header
	l = mustOpen(t, dir, Options{SegmentRecords: 10})
	defer l.Close()
	if l.NextOffset() != 20 || fileSize(t, path) != 0 {
		t.Fatalf("NextOffset %d, newest %d bytes", l.NextOffset(), fileSize(t, path))
	}
	if base, _ := mustAppend(t, l, batch(t, 1, 0, 1)); base != 20 {
		t.Fatalf("base %d", base)
	}
}

func TestCorruptionInOlderSegment(t *testing.T) {
	setup := func(t *testing.T) (string, int) {
		dir := t.TempDir()
		l := mustOpen(t, dir, Options{SegmentRecords: 100, IndexIntervalBytes: 1})
		appendN(t, l, 30, 10, 0)
		l.Close()
		return dir, len(batch(t, 10, 0, 10))
	}
	first := func(t *testing.T, dir string) string { return segFiles(t, dir, ".log")[0] }

	t.Run("payload byte", func(t *testing.T) {
		dir, one := setup(t)
		flipByte(t, first(t, dir), int64(3*one+100)) // inside batch 3 (offsets 30..39)
		l := mustOpen(t, dir, Options{})
		defer l.Close()
		for _, off := range []int64{30, 35} {
			s, err := l.Read(off, 1)
			if err != nil {
				t.Fatal(err)
			}
			b, err := s.AppendTo([]byte("prefix"))
			wantErr(t, err, ErrCorrupt)
			wantErr(t, err, kbatch.ErrCRC)
			if string(b) != "prefix" {
				t.Fatalf("corrupt read returned %d bytes", len(b)-6)
			}
			_, err = s.WriteTo(new(discardCounter))
			wantErr(t, err, ErrCorrupt)
			s.Close()
		}
		// A read that starts before the bad batch gets the good ones and
		// the error.
		s, err := l.Read(0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.AppendTo(nil)
		wantErr(t, err, ErrCorrupt)
		if n, verr := kbatch.ValidPrefix(b); verr != nil || n != 3*one {
			t.Fatalf("got %d good bytes (%v), want %d", n, verr, 3*one)
		}
		w := new(discardCounter)
		n, err := s.WriteTo(w)
		wantErr(t, err, ErrCorrupt)
		if n != int64(3*one) {
			t.Fatalf("WriteTo wrote %d, want %d", n, 3*one)
		}
		s.Close()
		// Other batches stay readable.
		if s, err := l.Read(40, 1<<20); err != nil {
			t.Fatal(err)
		} else if _, err := s.AppendTo(nil); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("length field", func(t *testing.T) {
		dir, one := setup(t)
		// The length of batch 5 now points into the middle of batch 6.
		flipByte(t, first(t, dir), int64(5*one+11))
		for _, p := range append(segFiles(t, dir, ".index"), segFiles(t, dir, ".timeindex")...) {
			os.Remove(p) // force a rebuild, which must stop at the bad header
		}
		logger, buf := capture()
		l := mustOpen(t, dir, Options{Logger: logger})
		defer l.Close()
		if !strings.Contains(buf.String(), "unreadable batch in an older segment") {
			t.Fatalf("not logged:\n%s", buf)
		}
		// Batch 5's header chains (its wrong length leads past it) but its
		// CRC fails; what follows is unreachable.
		s, err := l.Read(0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.AppendTo(nil)
		s.Close()
		wantErr(t, err, ErrCorrupt)
		if n, verr := kbatch.ValidPrefix(b); verr != nil || n != 5*one {
			t.Fatalf("got %d good bytes (%v), want %d", n, verr, 5*one)
		}
		for _, off := range []int64{50, 55, 60, 99} {
			s, err := l.Read(off, 1<<20)
			if err == nil {
				_, err = s.AppendTo(nil)
				s.Close()
			}
			wantErr(t, err, ErrCorrupt)
		}
		// Offsets before and after are fine.
		for _, off := range []int64{0, 49, 100, 299} {
			s, err := l.Read(off, 1)
			if err != nil {
				t.Fatalf("Read(%d): %v", off, err)
			}
			if _, err := s.AppendTo(nil); err != nil {
				t.Fatalf("Read(%d): %v", off, err)
			}
			s.Close()
		}
		err = l.ScanHeaders(0, func(kbatch.Header) bool { return true })
		wantErr(t, err, ErrCorrupt)
	})
}

type discardCounter struct{ n int64 }

func (d *discardCounter) Write(p []byte) (int, error) { d.n += int64(len(p)); return len(p), nil }
