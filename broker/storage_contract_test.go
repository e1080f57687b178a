package broker

import (
	"errors"
	"slices"
	"testing"
)

// testStorageContract checks what every Storage and its PartitionLogs
// promise: appends assign dense offsets, reads return whole batches from
// the one holding the offset within maxBytes (at least one), offsets out
// of range are ErrOffsetOutOfRange, OffsetForTime finds batches by their
// max timestamp, topics round-trip, and a closed store refuses to open.
func testStorageContract(t *testing.T, s Storage) {
	t.Helper()
	l, err := s.OpenPartition("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := s.OpenPartition("t", 0); again != l {
		t.Fatal("reopening a partition gave a different log")
	}
	if got, err := l.Read(0, 100, nil); err != nil || len(got) != 0 {
		t.Fatalf("read of an empty log: %d bytes, %v", len(got), err)
	}
	var sizes []int
	// Batches of 10, 1, and a large one (its own allocation), with
	// timestamps 100.., 50 (older), 300...
	for i, b := range [][]byte{
		buildBatch(t, 10, 100, nil),
		buildBatch(t, 1, 50, nil),
		buildBatch(t, 3000, 300, nil),
	} {
		sizes = append(sizes, len(b))
		want := []int64{0, 10, 11}[i]
		base, err := l.Append(b)
		if err != nil || base != want {
			t.Fatalf("append %d: base %d, %v; want %d", i, base, err, want)
		}
	}
	if l.StartOffset() != 0 || l.NextOffset() != 3011 {
		t.Fatalf("offsets %d..%d", l.StartOffset(), l.NextOffset())
	}
	cases := []struct {
		offset   int64
		maxBytes int
		bases    []int64
	}{
		{0, 1, []int64{0}},                           // at least one batch
		{5, sizes[0] + sizes[1], []int64{0, 10}},     // from inside a batch
		{10, 1 << 30, []int64{10, 11}},               // to the end
		{2000, 1, []int64{11}},                       // inside the large batch
		{3011, 1 << 30, nil},                         // at the end: nothing
		{0, sizes[0] + sizes[1] - 1, []int64{0}},     // the second would exceed
		{0, sizes[0] + sizes[1] + 5, []int64{0, 10}}, // the third would exceed
	}
	for _, c := range cases {
		got, err := l.Read(c.offset, c.maxBytes, []byte("prefix"))
		if err != nil {
			t.Fatalf("read %d: %v", c.offset, err)
		}
		if string(got[:6]) != "prefix" {
			t.Fatal("Read did not append to dst")
		}
		var bases []int64
		if len(got) > 6 {
			bases = batchOffsets(t, got[6:])
		}
		if !slices.Equal(bases, c.bases) {
			t.Errorf("read %d max %d: batches at %v, want %v", c.offset, c.maxBytes, bases, c.bases)
		}
	}
	for _, off := range []int64{-1, 3012} {
		if _, err := l.Read(off, 100, nil); !errors.Is(err, ErrOffsetOutOfRange) {
			t.Errorf("read %d: %v, want ErrOffsetOutOfRange", off, err)
		}
	}
	for _, c := range []struct {
		ts   int64
		base int64
		ok   bool
	}{{0, 0, true}, {109, 0, true}, {110, 11, true}, {3299, 11, true}, {3300, 0, false}} {
		base, ok := l.OffsetForTime(c.ts)
		if ok != c.ok || ok && base != c.base {
			t.Errorf("OffsetForTime(%d) = %d, %v; want %d, %v", c.ts, base, ok, c.base, c.ok)
		}
	}
	if err := s.SaveTopics([]TopicSpec{{Name: "t", Partitions: 1}}); err != nil {
		t.Fatal(err)
	}
	if specs, _ := s.LoadTopics(); len(specs) != 1 || specs[0].Name != "t" {
		t.Fatalf("LoadTopics: %+v", specs)
	}
	s.Close()
	if _, err := s.OpenPartition("t", 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("open after close: %v", err)
	}
}

func TestMemoryStorageContract(t *testing.T) {
	testStorageContract(t, NewMemoryStorage())
}

func TestDiskStorageContract(t *testing.T) {
	testStorageContract(t, openDisk(t, t.TempDir(), DiskOptions{}))
}
