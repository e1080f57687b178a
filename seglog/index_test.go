package seglog

import (
	"bytes"
	"encoding/binary"
	"os"
	"strings"
	"testing"

	"github.com/merlinkafka/merlin/internal/testkit"
)

// indexSetup makes a log of several sealed segments, closes it, and returns
// its directory, options and the original index files' contents.
func indexSetup(t *testing.T) (string, Options, map[string][]byte) {
	t.Helper()
	dir := t.TempDir()
	o := Options{SegmentRecords: 200, IndexIntervalBytes: 300}
	l := mustOpen(t, dir, o)
	for i := 0; i < 60; i++ {
		mustAppend(t, l, batch(t, 10, int64(100*i), 10))
	}
	l.Close()
	orig := map[string][]byte{}
	for _, p := range append(segFiles(t, dir, ".index"), segFiles(t, dir, ".timeindex")...) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		orig[p] = b
	}
	if len(orig) != 4 {
		t.Fatalf("%d index files, want 2 sealed segments' worth", len(orig))
	}
	return dir, o, orig
}

// checkLog reads everything and checks OffsetForTime at every batch.
func checkLog(t *testing.T, l *Log) {
	t.Helper()
	if got := len(readAll(t, l, 0, 1)); got != 60 {
		t.Fatalf("%d batches", got)
	}
	for i := 0; i < 60; i++ {
		for _, ts := range []int64{int64(100 * i), int64(100*i + 9)} {
			off, ok, err := l.OffsetForTime(ts)
			if err != nil || !ok || off != int64(10*i) {
				t.Fatalf("OffsetForTime(%d) = %d %v %v, want %d", ts, off, ok, err, 10*i)
			}
		}
	}
	if _, ok, _ := l.OffsetForTime(6000); ok {
		t.Fatal("found a batch newer than all")
	}
}

func TestIndexRebuild(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string)
		atOpen bool // rebuilt at Open (else on first use)
	}{
		{"missing offset index", func(t *testing.T, dir string) {
			os.Remove(segFiles(t, dir, ".index")[0])
		}, true},
		{"missing both", func(t *testing.T, dir string) {
			os.Remove(segFiles(t, dir, ".index")[1])
			os.Remove(segFiles(t, dir, ".timeindex")[1])
		}, true},
		{"empty", func(t *testing.T, dir string) {
			os.Truncate(segFiles(t, dir, ".index")[0], 0)
		}, true},
		{"half an entry", func(t *testing.T, dir string) {
			testkit.AppendFile(t, segFiles(t, dir, ".timeindex")[0], []byte{1, 2, 3})
		}, true},
		{"pointing past the end", func(t *testing.T, dir string) {
			p := segFiles(t, dir, ".index")[0]
			b, _ := os.ReadFile(p)
			binary.BigEndian.PutUint32(b[len(b)-4:], 1<<30)
			os.WriteFile(p, b, 0o644)
		}, true},
		{"index of another log", func(t *testing.T, dir string) {
			// Same base offset, different batches: positions do not match.
			other := t.TempDir()
			l := mustOpen(t, other, Options{SegmentRecords: 200, IndexIntervalBytes: 300})
			appendN(t, l, 60, 7, 0)
			l.Close()
			for _, ext := range []string{".index", ".timeindex"} {
				b, _ := os.ReadFile(segFiles(t, other, ext)[0])
				os.WriteFile(segFiles(t, dir, ext)[0], b, 0o644)
			}
		}, true},
		{"time index out of step", func(t *testing.T, dir string) {
			p := segFiles(t, dir, ".timeindex")[0]
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)-12], 0o644)
		}, true},
		{"middle entry off by a few bytes", func(t *testing.T, dir string) {
			p := segFiles(t, dir, ".index")[0]
			b, _ := os.ReadFile(p)
			i := len(b)/8/2*8 + 4
			binary.BigEndian.PutUint32(b[i:], binary.BigEndian.Uint32(b[i:])+3)
			os.WriteFile(p, b, 0o644)
		}, false},
		{"middle timestamps out of order", func(t *testing.T, dir string) {
			p := segFiles(t, dir, ".timeindex")[0]
			b, _ := os.ReadFile(p)
			binary.BigEndian.PutUint64(b[12:], 1<<40)
			os.WriteFile(p, b, 0o644)
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir, o, orig := indexSetup(t)
			tc.damage(t, dir)
			logger, buf := capture()
			o.Logger = logger
			l := mustOpen(t, dir, o)
			defer l.Close()
			if got := strings.Contains(buf.String(), "rebuilding index"); got != tc.atOpen {
				t.Fatalf("rebuilt at Open: %v, want %v\n%s", got, tc.atOpen, buf)
			}
			checkLog(t, l)
			if !strings.Contains(buf.String(), "rebuilding index") {
				t.Fatalf("never rebuilt:\n%s", buf)
			}
			// The rebuilt files are the ones the appends wrote.
			for p, want := range orig {
				got, err := os.ReadFile(p)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("%s after rebuild: %d bytes (%v), want %d", p, len(got), err, len(want))
				}
			}
		})
	}
}

func TestNewestSegmentIndexFilesRemoved(t *testing.T) {
	dir, o, orig := indexSetup(t)
	// Stale index files beside the newest segment (say, left by a crash
	// between writing them and creating the next segment).
	newest := newestSegment(t, dir)
	stem := strings.TrimSuffix(newest, ".log")
	for p, b := range orig {
		if strings.HasSuffix(p, ".index") {
			os.WriteFile(stem+".index", b, 0o644)
		} else {
			os.WriteFile(stem+".timeindex", b, 0o644)
		}
	}
	l := mustOpen(t, dir, o)
	defer l.Close()
	for _, ext := range []string{".index", ".timeindex"} {
		if _, err := os.Stat(stem + ext); !os.IsNotExist(err) {
			t.Fatalf("%s kept: %v", ext, err)
		}
	}
	checkLog(t, l)
}
