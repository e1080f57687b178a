package seglog

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/merlinkafka/merlin/internal/kbatch"
)

// FuzzRecover writes arbitrary bytes as a segment file and opens the log:
// Open must not panic, and every batch the log then serves must pass
// kbatch.Validate. With older set, the bytes are an older segment (no
// index files) followed by an empty newest one, so they are read through
// a rebuilt index instead of the recovery scan.
func FuzzRecover(f *testing.F) {
	valid := func(n int) []byte {
		var out []byte
		next := int64(0)
		for i := 0; i < n; i++ {
			b := batch(f, 1+i%4, int64(i), 5+i)
			kbatch.SetBaseOffset(b, next)
			h, _ := kbatch.ParseHeader(b)
			next = h.LastOffset() + 1
			out = append(out, b...)
		}
		return out
	}
	three := valid(3)
	f.Add(three, false)
	f.Add(three, true)
	f.Add(valid(1)[:40], false)
	f.Add(append(append([]byte(nil), three...), "garbage"...), false)
	f.Add(three[:len(three)-3], true)
	flipped := append([]byte(nil), three...)
	flipped[len(flipped)-2] ^= 1
	f.Add(flipped, false)
	f.Add(flipped, true)
	huge := append([]byte(nil), three...)
	binary.BigEndian.PutUint32(huge[8:], 0x7fffffff)
	f.Add(huge, true)
	wrongBase := append([]byte(nil), three...)
	binary.BigEndian.PutUint64(wrongBase, 7)
	f.Add(wrongBase, false)
	f.Add(make([]byte, 200), false)
	f.Add([]byte{}, false)

	f.Fuzz(func(t *testing.T, data []byte, older bool) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segmentName(0)+logExt), data, 0o644); err != nil {
			t.Fatal(err)
		}
		if older {
			if err := os.WriteFile(filepath.Join(dir, segmentName(1<<20)+logExt), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		l, err := Open(dir, Options{Logger: quiet(), Files: NewFileCache(2), Flush: FlushNever()})
		if err != nil {
			t.Fatal(err) // bad data is recovered from, not an Open failure
		}
		defer l.Close()
		for off := l.StartOffset(); off < l.NextOffset(); {
			s, err := l.Read(off, 1+int(off%3)*100)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Read(%d): %v", off, err)
				}
				break // an older segment's unreadable part
			}
			b, err := s.AppendTo(nil)
			s.Close()
			if err != nil && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("AppendTo at %d: %v", off, err)
			}
			if n, verr := kbatch.ValidPrefix(b); verr != nil || n != len(b) {
				t.Fatalf("served %d bytes at offset %d of which %d valid: %v", len(b), off, n, verr)
			}
			if err != nil || len(b) == 0 {
				break
			}
			for len(b) > 0 {
				h, _ := kbatch.ParseHeader(b)
				if off < h.BaseOffset || off > h.LastOffset() {
					t.Fatalf("read at %d returned batch %d..%d", off, h.BaseOffset, h.LastOffset())
				}
				off = h.LastOffset() + 1
				b = b[h.Size():]
			}
		}
		if !older {
			// What recovery kept is valid through and through.
			kept, err := os.ReadFile(filepath.Join(dir, segmentName(0)+logExt))
			if err != nil {
				t.Fatal(err)
			}
			if n, err := kbatch.ValidPrefix(kept); err != nil || n != len(kept) {
				t.Fatalf("recovered segment has %d valid bytes of %d: %v", n, len(kept), err)
			}
		}
		l.ScanHeaders(0, func(kbatch.Header) bool { return true })
		l.OffsetForTime(3)
		next := l.NextOffset()
		base, _, err := l.Append(batch(t, 2, 0, 3))
		if err != nil || base != next {
			t.Fatalf("append: base %d, want %d: %v", base, next, err)
		}
		s, err := l.Read(base, 1)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := s.AppendTo(nil); err != nil || len(b) == 0 {
			t.Fatalf("reading the new batch: %v", err)
		}
		s.Close()
	})
}
