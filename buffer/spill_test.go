package buffer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/merlinkafka/merlin/internal/kbatch"
	"github.com/merlinkafka/merlin/seglog"
)

func batchOf(t *testing.T, values ...string) []byte {
	t.Helper()
	var bd kbatch.Builder
	for _, v := range values {
		bd.Add(1, nil, []byte(v))
	}
	b, err := bd.AppendBatch(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func values(t *testing.T, b []byte) []string {
	t.Helper()
	recs, err := kbatch.Records(b)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		out = append(out, string(r.Value))
	}
	return out
}

func open(t *testing.T, dir string) *Spill {
	t.Helper()
	s, err := OpenSpill(dir, seglog.FlushNever(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSpillAppendReadAckAndReopen(t *testing.T) {
	dir := Dir(t.TempDir(), "orders", 3, 0)
	s := open(t, dir)
	var bases []int64
	for i := 0; i < 4; i++ {
		base, err := s.Append(batchOf(t, fmt.Sprint(i, "a"), fmt.Sprint(i, "b")))
		if err != nil {
			t.Fatal(err)
		}
		bases = append(bases, base)
	}
	if got, err := s.Read(bases[2]); err != nil || fmt.Sprint(values(t, got)) != "[2a 2b]" {
		t.Fatalf("read %v %v", values(t, got), err)
	}
	// Acks out of order: done moves only past the first pending batch.
	if err := s.Ack(bases[1]); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(bases[0]); err != nil {
		t.Fatal(err)
	}
	if s.Empty() {
		t.Fatal("two batches still owed")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The next producer sees what is left, from the third batch on.
	s = open(t, dir)
	var left [][]string
	if err := s.Left(func(base int64, h kbatch.Header) bool {
		b, err := s.Read(base)
		if err != nil {
			t.Fatal(err)
		}
		left = append(left, values(t, b))
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(left) != "[[2a 2b] [3a 3b]]" {
		t.Fatalf("left %v", left)
	}
	for _, b := range bases[2:] {
		if err := s.Ack(b); err != nil {
			t.Fatal(err)
		}
	}
	if !s.Empty() {
		t.Fatal("everything was acked")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("an empty spill should be removed: %v", err)
	}
}

func TestSpillCorruptDoneFile(t *testing.T) {
	dir := Dir(t.TempDir(), "t", 0, 0)
	s := open(t, dir)
	base, _ := s.Append(batchOf(t, "x"))
	_, _ = s.Append(batchOf(t, "y"))
	if err := s.Ack(base); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := os.WriteFile(filepath.Join(dir, doneFile), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenSpill(dir, seglog.FlushNever(), nil, nil); !errors.Is(err, ErrSpillCorrupt) {
		t.Fatalf("got %v", err)
	}
}

func TestFind(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{Dir(root, "a", 0, 0), Dir(root, "a", 2, 1), Dir(root, "b.c", 7, 0), filepath.Join(root, "a", "junk")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	refs, err := Find(root)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(refs)
	want := fmt.Sprint([]Ref{
		{Topic: "a", Partition: 0, Worker: 0, Dir: Dir(root, "a", 0, 0)},
		{Topic: "a", Partition: 2, Worker: 1, Dir: Dir(root, "a", 2, 1)},
		{Topic: "b.c", Partition: 7, Worker: 0, Dir: Dir(root, "b.c", 7, 0)},
	})
	if got != want {
		t.Fatalf("found %s\nwant  %s", got, want)
	}
	if refs, err := Find(filepath.Join(root, "missing")); err != nil || refs != nil {
		t.Fatalf("missing root: %v %v", refs, err)
	}
}
