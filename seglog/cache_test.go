package seglog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestFileCacheBound(t *testing.T) {
	const logs, limit = 200, 16
	files := NewFileCache(limit)
	root := t.TempDir()
	ls := make([]*Log, logs)
	// FlushNever: no background fsync pins a file while the test appends
	// (the cache lets pinned files overflow the bound, by design; see
	// TestFileCacheOverflowWhilePinned), so the bound holds exactly.
	for i := range ls {
		ls[i] = mustOpen(t, filepath.Join(root, fmt.Sprintf("topic-%d", i)), Options{SegmentRecords: 20, Files: files, Flush: FlushNever()})
	}
	check := func(when string) {
		t.Helper()
		st := files.Stats()
		if st.Open > limit || st.Peak > limit {
			t.Fatalf("%s: %d files open, peak %d, bound %d", when, st.Open, st.Peak, limit)
		}
	}
	for round := 0; round < 5; round++ {
		for i, l := range ls {
			mustAppend(t, l, batch(t, 10, int64(round), 10))
			if i%37 == 0 {
				check("appending")
			}
		}
	}
	check("after appends")
	for _, l := range ls {
		if l.Segments() != 3 {
			t.Fatalf("%d segments", l.Segments())
		}
		if got := len(readAll(t, l, 0, 1)); got != 5 {
			t.Fatalf("%d batches", got)
		}
	}
	check("after reads")
	st := files.Stats()
	if st.Evictions == 0 || st.Opens <= limit {
		t.Fatalf("the cache never evicted: %+v", st)
	}
	// Reopening after Close works through the same cache, and Close
	// releases every handle.
	for _, l := range ls {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if st := files.Stats(); st.Open != 0 {
		t.Fatalf("%d files open after closing every log", st.Open)
	}
	l := mustOpen(t, filepath.Join(root, "topic-7"), Options{Files: files})
	defer l.Close()
	if got := len(readAll(t, l, 0, 1<<20)); got != 5 {
		t.Fatalf("%d batches", got)
	}
}

func TestFileCacheOverflowWhilePinned(t *testing.T) {
	c := NewFileCache(1)
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{SegmentRecords: 10, Files: c})
	defer l.Close()
	appendN(t, l, 3, 10, 0)
	a, b := l.segs[0].file, l.segs[1].file
	fa, err := a.acquire()
	if err != nil {
		t.Fatal(err)
	}
	fb, err := b.acquire() // a is pinned: the cache goes over its bound
	if err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Open != 2 {
		t.Fatalf("%+v", st)
	}
	if fa == nil || fb == nil {
		t.Fatal("nil file")
	}
	a.release()
	b.release()
	if st := c.Stats(); st.Open != 1 {
		t.Fatalf("back under the bound: %+v", st)
	}
}

// Goroutines pin, read and unpin more files than the cache holds, while
// others are removed: every pinned handle reads its own file, none is
// closed under a reader, and the bound holds again once all are unpinned.
// Run it with -race.
func TestFileCacheConcurrentPins(t *testing.T) {
	const files, limit, workers, rounds = 12, 4, 8, 300
	c := NewFileCache(limit)
	dir := t.TempDir()
	es := make([]*cachedFile, files)
	for i := range es {
		path := filepath.Join(dir, fmt.Sprintf("f%d", i))
		if err := os.WriteFile(path, []byte{byte(i)}, 0o644); err != nil {
			t.Fatal(err)
		}
		es[i] = c.newFile(path, os.O_RDONLY, nil)
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			var b [1]byte
			for r := range rounds {
				i := (w*7 + r*5) % files
				f, err := es[i].acquire()
				if err != nil {
					if i >= files-2 && errors.Is(err, ErrClosed) {
						continue // removed below
					}
					t.Error(err)
					return
				}
				_, err = f.ReadAt(b[:], 0)
				es[i].release()
				if err != nil || b[0] != byte(i) {
					t.Errorf("file %d read %d, %v", i, b[0], err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		es[files-1].remove()
		es[files-2].remove()
	})
	wg.Wait()
	if st := c.Stats(); st.Open > limit || st.Opens < files-2 {
		t.Fatalf("after the pins: %+v, bound %d", st, limit)
	}
	for _, e := range es {
		e.remove()
	}
	if st := c.Stats(); st.Open != 0 {
		t.Fatalf("%d handles open after removing every file", st.Open)
	}
}
