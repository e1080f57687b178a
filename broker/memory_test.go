package broker

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/merlinkafka/merlin/internal/kbatch"
)

func TestMemoryLog(t *testing.T) {
	s := NewMemoryStorage()
	defer s.Close()
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
		for rest := got[6:]; len(rest) > 0; {
			batch, r, h, err := kbatch.Next(rest)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := kbatch.Records(batch); err != nil {
				t.Fatal(err)
			}
			bases, rest = append(bases, h.BaseOffset), r
		}
		if len(bases) != len(c.bases) || len(bases) > 0 && (bases[0] != c.bases[0] || bases[len(bases)-1] != c.bases[len(c.bases)-1]) {
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
	if _, err := s.OpenPartition("t", 1); !errors.Is(err, ErrStorageClosed) {
		t.Fatalf("open after close: %v", err)
	}
}

func TestServe(t *testing.T) {
	// Serve on a started broker serves until ctx ends, then closes it.
	b, err := New(Config{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Serve(ctx) }()
	roundTrip(t, b.Addr(), "serve", 10)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("tcp", b.Addr()); err == nil {
		t.Fatal("still listening after Serve returned")
	}

	// Serve starts a broker that was not started, and returns the
	// listen error.
	b2, err := New(Config{Listen: b.Addr(), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if err := b2.Serve(ctx); err != nil || b2.Addr() != b.Addr() {
		t.Fatalf("Serve: %v, address %q", err, b2.Addr())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	b3, err := New(Config{Listen: ln.Addr().String(), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer b3.Close()
	if err := b3.Serve(context.Background()); err == nil {
		t.Fatal("Serve on a port in use returned nil")
	}
}
