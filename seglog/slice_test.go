package seglog

import (
	"bytes"
	"testing"
)

func TestSliceSurvivesRollAndEviction(t *testing.T) {
	files := NewFileCache(1)
	l := mustOpen(t, t.TempDir(), Options{SegmentRecords: 20, Files: files})
	defer l.Close()
	appendN(t, l, 1, 10, 0)
	s, want := readSlice(t, l, 1<<20) // from the active segment
	defer s.Close()
	appendN(t, l, 5, 10, 0) // rolls twice: the slice's segment is sealed
	if l.Segments() != 3 {
		t.Fatalf("%d segments", l.Segments())
	}
	readAll(t, l, 20, 1) // the cache holds one file: the slice's is closed
	if st := files.Stats(); st.Evictions == 0 {
		t.Fatalf("no eviction: %+v", st)
	}
	got, err := s.AppendTo(nil)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("after roll and eviction: %d bytes, %v", len(got), err)
	}
	var w bytes.Buffer
	if _, err := s.WriteTo(&w); err != nil || !bytes.Equal(w.Bytes(), want) {
		t.Fatalf("WriteTo: %v", err)
	}
	// The Slice covers what was there when it was made, not later appends.
	if s.Len() != len(want) || len(want) != len(batch(t, 10, 0, 10)) {
		t.Fatalf("Len %d", s.Len())
	}
}

func TestSliceAfterClose(t *testing.T) {
	l := mustOpen(t, t.TempDir(), Options{})
	appendN(t, l, 2, 10, 0)
	s, err := l.Read(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	_, err = s.AppendTo(nil)
	wantErr(t, err, ErrClosed)
	_, err = s.WriteTo(&bytes.Buffer{})
	wantErr(t, err, ErrClosed)
	s.Close()
	_, err = s.AppendTo(nil)
	wantErr(t, err, ErrClosed)
	var zero Slice
	if b, err := zero.AppendTo(nil); err != nil || len(b) != 0 || zero.Close() != nil {
		t.Fatal("zero Slice is not empty")
	}
}

func TestWriteToLargeBatches(t *testing.T) {
	l := mustOpen(t, t.TempDir(), Options{})
	defer l.Close()
	// Batches larger than WriteTo's chunk, and many small ones around them.
	mustAppend(t, l, batch(t, 3, 0, copyChunk))
	appendN(t, l, 50, 10, 0)
	mustAppend(t, l, batch(t, 2, 0, 2*copyChunk))
	appendN(t, l, 3, 10, 0)
	s, want := readSlice(t, l, 1<<30)
	defer s.Close()
	var w bytes.Buffer
	if n, err := s.WriteTo(&w); err != nil || n != int64(s.Len()) || !bytes.Equal(w.Bytes(), want) {
		t.Fatalf("WriteTo: %d of %d bytes, %v", n, s.Len(), err)
	}
}

// readSlice reads up to maxBytes from offset 0 and returns the Slice, for
// the caller to close, and its bytes.
func readSlice(t *testing.T, l *Log, maxBytes int) (Slice, []byte) {
	t.Helper()
	s, err := l.Read(0, maxBytes)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.AppendTo(nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, b
}
