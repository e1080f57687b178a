package seglog

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/merlinkafka/merlin/internal/kbatch"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		acc <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-acc
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a.(*net.TCPConn), b.(*net.TCPConn)
}

// sendOver writes s to a TCP connection with WriteTo and returns what the
// other end received.
func sendOver(t *testing.T, s Slice) ([]byte, error) {
	t.Helper()
	w, r := tcpPair(t)
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(r)
		got <- b
	}()
	n, err := s.WriteTo(w)
	w.Close()
	b := <-got
	if int64(len(b)) != n {
		t.Fatalf("WriteTo said %d bytes, %d arrived", n, len(b))
	}
	return b, err
}

// Over TCP, WriteTo (sendfile for checked bytes) sends what AppendTo
// returns, and NextOffset is where the next Read goes on, across segments.
func TestSliceSendfileMatchesCopy(t *testing.T) {
	l := mustOpen(t, t.TempDir(), Options{SegmentRecords: 30, IndexIntervalBytes: 200})
	defer l.Close()
	next := appendN(t, l, 12, 10, 0)
	if l.Segments() < 3 {
		t.Fatalf("%d segments", l.Segments())
	}
	for _, maxBytes := range []int{1, 500, 1 << 20} {
		for off := int64(0); off < next; {
			s, err := l.Read(off, maxBytes)
			if err != nil {
				t.Fatal(err)
			}
			if !s.Checked() {
				t.Fatalf("Read(%d): bytes appended by this process are not Checked", off)
			}
			want, err := s.AppendTo(nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := sendOver(t, s)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("Read(%d, %d): WriteTo sent %d bytes (%v), AppendTo %d", off, maxBytes, len(got), err, len(want))
			}
			var last int64
			for b := want; len(b) > 0; {
				h, _ := kbatch.ParseHeader(b)
				last, b = h.LastOffset(), b[h.Size():]
			}
			if s.NextOffset() != last+1 {
				t.Fatalf("Read(%d): NextOffset %d, last offset %d", off, s.NextOffset(), last)
			}
			s.Close()
			off = s.NextOffset()
		}
	}
}

// An older segment from an earlier run is not Checked: WriteTo reads and
// checks it (a damaged batch is an error, not sent), and once it was
// checked it is Checked.
func TestSliceCheckedAfterReopen(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{SegmentRecords: 30})
	appendN(t, l, 6, 10, 0)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, dir, Options{SegmentRecords: 30})
	s, err := l.Read(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if s.Checked() {
		t.Fatal("an older segment of an earlier run is Checked before any read")
	}
	want, err := sendOver(t, s)
	if err != nil || len(want) != s.Len() {
		t.Fatalf("WriteTo: %d bytes, %v", len(want), err)
	}
	if !s.Checked() {
		t.Fatal("not Checked after WriteTo checked it")
	}
	s.Close()
	// The newest segment was scanned by recovery.
	s, err = l.Read(l.NextOffset()-1, 1<<20)
	if err != nil || !s.Checked() {
		t.Fatalf("the recovered newest segment: Checked %v, %v", s.Checked(), err)
	}
	s.Close()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// Damage the second batch of the first segment: sent up to it, then
	// an error.
	seg := filepath.Join(dir, segmentName(0)+logExt)
	f, err := os.OpenFile(seg, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	size := int64(len(want) / 3)
	if _, err := f.WriteAt([]byte{0xff, 0xee}, size+kbatch.HeaderSize+2); err != nil {
		t.Fatal(err)
	}
	f.Close()
	l = mustOpen(t, dir, Options{SegmentRecords: 30})
	defer l.Close()
	s, err = l.Read(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := sendOver(t, s)
	if !errors.Is(err, ErrCorrupt) || !bytes.Equal(got, want[:size]) {
		t.Fatalf("damaged segment: sent %d bytes, %v; want %d bytes and ErrCorrupt", len(got), err, size)
	}
}
