package seglog

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// These tests build by hand the state a crash leaves between the steps of
// each operation that must be atomic, then Open it: nothing acknowledged
// may be lost, no leftover may remain, and appends must continue at the
// right offset.

// listDir returns the names in dir, sorted.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	sort.Strings(names)
	return names
}

// checkClean fails on leftovers: temporary or .deleted files, index files
// without their segment, and index files beside the newest segment.
func checkClean(t *testing.T, dir string) {
	t.Helper()
	names := listDir(t, dir)
	logs := map[string]bool{}
	newest := ""
	for _, n := range names {
		if strings.HasSuffix(n, ".log") {
			logs[strings.TrimSuffix(n, ".log")] = true
			newest = strings.TrimSuffix(n, ".log")
		}
	}
	for _, n := range names {
		stem, ext, _ := strings.Cut(n, ".")
		switch {
		case strings.HasSuffix(n, ".tmp"), strings.HasSuffix(n, ".deleted"):
			t.Fatalf("leftover %s in %v", n, names)
		case ext != "log" && !logs[stem]:
			t.Fatalf("orphan %s in %v", n, names)
		case ext != "log" && stem == newest:
			t.Fatalf("index %s beside the newest segment in %v", n, names)
		}
	}
}

// reference builds a log of segments of 100 offsets (10 batches of 10) and
// returns its directory after Close.
func reference(t *testing.T, batches int) string {
	t.Helper()
	dir := t.TempDir()
	l := mustOpen(t, dir, crashOpts())
	appendN(t, l, batches, 10, time.Now().UnixMilli())
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func crashOpts() Options { return Options{SegmentRecords: 100, IndexIntervalBytes: 100} }

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// reopenAndCheck opens dir, checks offsets start..next are all readable,
// that Open left no leftovers, and that an append lands at next.
func reopenAndCheck(t *testing.T, dir string, start, next int64) {
	t.Helper()
	l := mustOpen(t, dir, crashOpts())
	defer l.Close()
	checkClean(t, dir)
	if l.StartOffset() != start || l.NextOffset() != next {
		t.Fatalf("log holds %d..%d, want %d..%d (files %v)", l.StartOffset(), l.NextOffset(), start, next, listDir(t, dir))
	}
	if got := len(readAll(t, l, start, 1)); int64(got) != (next-start)/10 {
		t.Fatalf("%d batches readable, want %d", got, (next-start)/10)
	}
	if base, _ := mustAppend(t, l, batch(t, 10, time.Now().UnixMilli(), 10)); base != next {
		t.Fatalf("append at %d, want %d", base, next)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, dir, crashOpts())
	if l.NextOffset() != next+10 {
		t.Fatalf("after append and reopen: NextOffset %d", l.NextOffset())
	}
	if got := len(readAll(t, l, start, 1<<20)); int64(got) != (next-start)/10+1 {
		t.Fatalf("%d batches after reopen", got)
	}
}

func TestCrashDuringRoll(t *testing.T) {
	// full: segment 0 holds 100 offsets; the next append rolls.
	// rolled: the same after the roll, segment 100 empty.
	seg := func(base int64, ext string) string { return segmentName(base) + ext }
	steps := []struct {
		name  string
		build func(t *testing.T, dir, rolled string)
	}{
		{"after fsync of the sealed segment", func(t *testing.T, dir, rolled string) {}},
		{"while writing the offset index", func(t *testing.T, dir, rolled string) {
			os.WriteFile(filepath.Join(dir, seg(0, ".index.tmp")), []byte{0, 0, 0}, 0o644)
		}},
		{"after renaming the offset index, while writing the time index", func(t *testing.T, dir, rolled string) {
			copyFile(t, filepath.Join(rolled, seg(0, ".index")), filepath.Join(dir, seg(0, ".index")))
			os.WriteFile(filepath.Join(dir, seg(0, ".timeindex.tmp")), []byte{1}, 0o644)
		}},
		{"after writing both indexes, before creating the new segment", func(t *testing.T, dir, rolled string) {
			copyFile(t, filepath.Join(rolled, seg(0, ".index")), filepath.Join(dir, seg(0, ".index")))
			copyFile(t, filepath.Join(rolled, seg(0, ".timeindex")), filepath.Join(dir, seg(0, ".timeindex")))
		}},
		{"after creating the new segment", func(t *testing.T, dir, rolled string) {
			for _, ext := range []string{".index", ".timeindex", ".log"} {
				copyFile(t, filepath.Join(rolled, seg(0, ext)), filepath.Join(dir, seg(0, ext)))
			}
			os.WriteFile(filepath.Join(dir, seg(100, ".log")), nil, 0o644)
		}},
		{"new segment created, sealed index lost", func(t *testing.T, dir, rolled string) {
			os.WriteFile(filepath.Join(dir, seg(100, ".log")), nil, 0o644)
		}},
	}
	rolled := reference(t, 10)
	{
		// Make rolled hold the sealed segment 0 and an empty segment 100.
		l := mustOpen(t, rolled, crashOpts())
		if err := l.rollLocked(); err != nil {
			t.Fatal(err)
		}
		l.Close()
		if got := listDir(t, rolled); len(got) != 4 {
			t.Fatalf("rolled: %v", got)
		}
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			dir := reference(t, 10)
			step.build(t, dir, rolled)
			reopenAndCheck(t, dir, 0, 100)
		})
	}
}

func TestCrashDuringDeletion(t *testing.T) {
	seg := func(base int64, ext string) string { return segmentName(base) + ext }
	ren := func(t *testing.T, dir, from, to string) {
		t.Helper()
		if err := os.Rename(filepath.Join(dir, from), filepath.Join(dir, to)); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name  string
		start int64
		build func(t *testing.T, dir string)
	}{
		{"after renaming the first segment file", 100, func(t *testing.T, dir string) {
			ren(t, dir, seg(0, ".log"), seg(0, ".log.deleted"))
		}},
		{"after renaming the first offset index", 100, func(t *testing.T, dir string) {
			ren(t, dir, seg(0, ".log"), seg(0, ".log.deleted"))
			ren(t, dir, seg(0, ".index"), seg(0, ".index.deleted"))
		}},
		{"after renaming all of the first segment", 100, func(t *testing.T, dir string) {
			for _, ext := range []string{".log", ".index", ".timeindex"} {
				ren(t, dir, seg(0, ext), seg(0, ext+".deleted"))
			}
		}},
		{"after renaming two segments", 200, func(t *testing.T, dir string) {
			for _, base := range []int64{0, 100} {
				for _, ext := range []string{".log", ".index", ".timeindex"} {
					ren(t, dir, seg(base, ext), seg(base, ext+".deleted"))
				}
			}
		}},
		{"while removing the renamed files", 100, func(t *testing.T, dir string) {
			ren(t, dir, seg(0, ".index"), seg(0, ".index.deleted"))
			os.Remove(filepath.Join(dir, seg(0, ".log")))
			os.Remove(filepath.Join(dir, seg(0, ".timeindex")))
		}},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			dir := reference(t, 45) // segments 0..400, the last with 5 batches
			step.build(t, dir)
			reopenAndCheck(t, dir, step.start, 450)
		})
	}
}

func TestCrashDuringIndexRewrite(t *testing.T) {
	seg := func(base int64, ext string) string { return segmentName(base) + ext }
	steps := []struct {
		name  string
		build func(t *testing.T, dir string)
	}{
		{"temporary offset index beside good files", func(t *testing.T, dir string) {
			copyFile(t, filepath.Join(dir, seg(100, ".index")), filepath.Join(dir, seg(100, ".index.tmp")))
		}},
		{"temporary files without the final ones", func(t *testing.T, dir string) {
			os.Rename(filepath.Join(dir, seg(100, ".index")), filepath.Join(dir, seg(100, ".index.tmp")))
			os.Rename(filepath.Join(dir, seg(100, ".timeindex")), filepath.Join(dir, seg(100, ".timeindex.tmp")))
		}},
		{"new offset index, old time index", func(t *testing.T, dir string) {
			// The time index is the one of another segment layout.
			os.WriteFile(filepath.Join(dir, seg(100, ".timeindex")), make([]byte, 24), 0o644)
		}},
		{"orphan index files of a segment that is gone", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, seg(999, ".index")), make([]byte, 8), 0o644)
			os.WriteFile(filepath.Join(dir, seg(999, ".timeindex")), make([]byte, 12), 0o644)
		}},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			dir := reference(t, 35)
			step.build(t, dir)
			reopenAndCheck(t, dir, 0, 350)
		})
	}
}

func TestOpenIgnoresForeignFiles(t *testing.T) {
	dir := reference(t, 15)
	for _, name := range []string{"topic.json", "README", "0000.log", "00000000000000000000.log.bak"} {
		os.WriteFile(filepath.Join(dir, name), []byte("keep me"), 0o644)
	}
	l := mustOpen(t, dir, crashOpts())
	l.Close()
	for _, name := range []string{"topic.json", "README", "0000.log", "00000000000000000000.log.bak"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}
