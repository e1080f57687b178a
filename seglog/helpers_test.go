package seglog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/internal/kbatch"
	"github.com/merlinkafka/merlin/internal/syncbuf"
)

// batch builds a batch of n records of valueSize bytes whose timestamps
// run from ts to ts+n-1.
func batch(tb testing.TB, n int, ts int64, valueSize int) []byte {
	tb.Helper()
	var bd kbatch.Builder
	v := bytes.Repeat([]byte{'v'}, valueSize)
	for i := 0; i < n; i++ {
		bd.Add(ts+int64(i), []byte(fmt.Sprintf("k%d", i)), v)
	}
	b, err := bd.AppendBatch(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// quiet is a logger that discards everything.
func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// capture returns a logger at debug level and the buffer it writes to.
func capture() (*slog.Logger, *syncbuf.Buffer) {
	lb := &syncbuf.Buffer{}
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

func mustOpen(tb testing.TB, dir string, o Options) *Log {
	tb.Helper()
	if o.Logger == nil {
		o.Logger = quiet()
	}
	l, err := Open(dir, o)
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

func mustAppend(tb testing.TB, l *Log, b []byte) (int64, int64) {
	tb.Helper()
	base, last, err := l.Append(b)
	if err != nil {
		tb.Fatal(err)
	}
	return base, last
}

// appendN appends count batches of per records each (10-byte values,
// timestamps from ts on, one per record) and returns the next offset.
func appendN(tb testing.TB, l *Log, count, per int, ts int64) int64 {
	tb.Helper()
	var next int64
	for i := 0; i < count; i++ {
		_, last := mustAppend(tb, l, batch(tb, per, ts+int64(i*per), 10))
		next = last + 1
	}
	return next
}

// readAll reads every batch from offset from to the end and returns their
// headers, checking that offsets are contiguous and every batch is valid.
func readAll(tb testing.TB, l *Log, from int64, maxBytes int) []kbatch.Header {
	tb.Helper()
	var hs []kbatch.Header
	off := from
	for off < l.NextOffset() {
		s, err := l.Read(off, maxBytes)
		if err != nil {
			tb.Fatalf("Read(%d): %v", off, err)
		}
		b, err := s.AppendTo(nil)
		s.Close()
		if err != nil {
			tb.Fatalf("AppendTo at %d: %v", off, err)
		}
		if len(b) == 0 {
			tb.Fatalf("Read(%d) below NextOffset %d returned nothing", off, l.NextOffset())
		}
		for len(b) > 0 {
			h, err := kbatch.Validate(b)
			if err != nil {
				tb.Fatalf("batch at %d: %v", off, err)
			}
			if len(hs) > 0 && h.BaseOffset != hs[len(hs)-1].LastOffset()+1 {
				tb.Fatalf("batch base %d after last %d", h.BaseOffset, hs[len(hs)-1].LastOffset())
			}
			hs = append(hs, h)
			b = b[h.Size():]
			off = h.LastOffset() + 1
		}
	}
	return hs
}

func segFiles(tb testing.TB, dir, ext string) []string {
	tb.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+ext))
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func fileSize(tb testing.TB, path string) int64 {
	tb.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Size()
}

// copyDir copies the regular files of src into a new directory, as a
// crash would leave them (the page cache survives a kill -9).
func copyDir(tb testing.TB, src string) string {
	tb.Helper()
	dst := tb.TempDir()
	des, err := os.ReadDir(src)
	if err != nil {
		tb.Fatal(err)
	}
	for _, de := range des {
		b, err := os.ReadFile(filepath.Join(src, de.Name()))
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, de.Name()), b, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dst
}

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func wantErr(tb testing.TB, err, target error) {
	tb.Helper()
	if !errors.Is(err, target) {
		tb.Fatalf("got error %v, want %v", err, target)
	}
}
