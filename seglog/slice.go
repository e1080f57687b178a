package seglog

import (
	"fmt"
	"io"
	"os"
	"slices"
	"sync/atomic"

	"github.com/merlinkafka/merlin/internal/kbatch"
)

// Slice is a run of whole batches in one segment file, as returned by Read:
// a file, a position and a length. It holds a reference to its segment, so
// it stays readable when the segment rolls, when its file handle is closed
// by the FileCache (it is reopened) and when retention deletes the segment
// (the files go when the last Slice is closed). Close it when done; a
// Slice that is never closed keeps a deleted segment's files on disk until
// the next Open.
//
// Reading validates every batch (length, magic, CRC-32C, offsets following
// each other) and stops at the first bad one with an error wrapping
// ErrCorrupt, so that corrupt bytes never reach a client. Bytes checked
// once (see Checked) are not checked again by WriteTo, which can then
// hand them to a socket without reading them (sendfile).
//
// The zero Slice and the one Read returns at NextOffset are empty. Copies
// of a Slice share its reference: Close one of them once.
type Slice struct {
	ref  *sliceRef
	pos  int64
	n    int
	base int64
	next int64
}

type sliceRef struct {
	seg    *segment
	closed atomic.Bool
}

// Len returns the number of bytes in the Slice.
func (s Slice) Len() int { return s.n }

// BaseOffset returns the base offset of the Slice's first batch (for an
// empty Slice from Read, the offset that was asked for).
func (s Slice) BaseOffset() int64 { return s.base }

// NextOffset returns the offset after the Slice's last batch: where the
// next Read goes on, in this segment or the next (for an empty Slice,
// BaseOffset).
func (s Slice) NextOffset() int64 {
	if s.n == 0 {
		return s.base
	}
	return s.next
}

// Checked reports whether every batch of the Slice is known to be valid:
// appended by this process (Append checked it before writing it),
// scanned by recovery when the Log was opened, or read and checked once
// by an earlier AppendTo or WriteTo. Bytes damaged on disk after they were
// checked are not noticed, as Kafka does not check what it serves.
func (s Slice) Checked() bool {
	return s.n == 0 || s.ref.seg.checked.Load() >= s.pos+int64(s.n)
}

// Close releases the Slice's segment. It is safe to call more than once.
func (s Slice) Close() error {
	if s.ref != nil && s.ref.closed.CompareAndSwap(false, true) {
		s.ref.seg.release()
	}
	return nil
}

func (s Slice) acquire() (*os.File, error) {
	if s.ref.closed.Load() {
		return nil, fmt.Errorf("seglog: read of a closed Slice: %w", ErrClosed)
	}
	return s.ref.seg.file.acquire()
}

type readerAtFile interface {
	ReadAt([]byte, int64) (int, error)
}

// AppendTo appends the Slice's bytes to dst with one pread and returns the
// extended slice. On corrupt data it returns dst extended by the whole,
// valid batches before the bad one, and an error wrapping ErrCorrupt.
func (s Slice) AppendTo(dst []byte) ([]byte, error) {
	if s.n == 0 {
		return dst, nil
	}
	f, err := s.acquire()
	if err != nil {
		return dst, err
	}
	orig := len(dst)
	dst = slices.Grow(dst, s.n)[:orig+s.n]
	_, err = f.ReadAt(dst[orig:], s.pos)
	s.ref.seg.file.release()
	if err != nil {
		return dst[:orig], fmt.Errorf("seglog: read segment %s: %w", segmentName(s.ref.seg.base), err)
	}
	n, _, err := s.validate(dst[orig:], s.pos, s.base, true)
	s.ref.seg.markChecked(s.pos, s.pos+int64(n))
	return dst[:orig+n], err
}

// validate checks the batches at the start of b, read from position pos,
// whose first base offset must be base. It returns the bytes of whole, good
// batches and the base offset expected after them. A batch cut by the end
// of b is an error only when b must end on a batch boundary (whole).
func (s Slice) validate(b []byte, pos, base int64, whole bool) (int, int64, error) {
	n := 0
	for n < len(b) {
		if len(b)-n < kbatch.HeaderSize {
			break
		}
		h, err := kbatch.ParseHeader(b[n:])
		if err != nil {
			return n, base, s.corrupt(pos+int64(n), base, err)
		}
		if h.Size() > len(b)-n {
			break
		}
		if _, err := kbatch.Validate(b[n : n+h.Size()]); err != nil {
			return n, base, s.corrupt(pos+int64(n), base, err)
		}
		if h.BaseOffset != base {
			return n, base, s.corrupt(pos+int64(n), base, fmt.Errorf("found base offset %d", h.BaseOffset))
		}
		n += h.Size()
		base = h.LastOffset() + 1
	}
	if whole && n < len(b) {
		return n, base, s.corrupt(pos+int64(n), base, kbatch.ErrShort)
	}
	return n, base, nil
}

func (s Slice) corrupt(pos, offset int64, err error) error {
	return corruptf(err, "segment %s, batch at position %d (offset %d)", segmentName(s.ref.seg.base), pos, offset)
}

// WriteTo writes the Slice's bytes to w. When the Slice is Checked and w is
// a socket (a *net.TCPConn, on Linux), the kernel copies the file's bytes
// to it with sendfile(2), without their passing through user space.
// Otherwise WriteTo reads the file in chunks and validates each batch
// before writing it (a TLS connection, for one, needs the bytes). On
// corrupt data it stops before the bad batch and returns an error wrapping
// ErrCorrupt; a caller that already announced Len() bytes to a peer must
// then drop the connection.
func (s Slice) WriteTo(w io.Writer) (int64, error) {
	if s.n == 0 {
		return 0, nil
	}
	f, err := s.acquire()
	if err != nil {
		return 0, err
	}
	defer s.ref.seg.file.release()
	if s.Checked() {
		if n, handled, err := sendFile(w, f, s.pos, int64(s.n)); handled {
			if err != nil {
				err = fmt.Errorf("seglog: sendfile from segment %s: %w", segmentName(s.ref.seg.base), err)
			}
			return n, err
		}
	}
	bp := getBuf()
	defer putBuf(bp)
	var written int64
	pos, end, base := s.pos, s.pos+int64(s.n), s.base
	for pos < end {
		want := min(int64(copyChunk), end-pos)
		if want < kbatch.HeaderSize {
			return written, s.corrupt(pos, base, kbatch.ErrShort)
		}
		buf, err := s.readChunk(f, bp, pos, want)
		if err != nil {
			return written, err
		}
		n, next, err := s.validate(buf, pos, base, pos+want == end)
		if err != nil {
			m, werr := w.Write(buf[:n]) // the good batches before the bad one
			written += int64(m)
			if werr != nil {
				return written, werr
			}
			return written, err
		}
		if n == 0 {
			// The batch is larger than the chunk: read it whole.
			h, _ := kbatch.ParseHeader(buf)
			size := int64(h.Size())
			if pos+size > end {
				return written, s.corrupt(pos, base, kbatch.ErrShort)
			}
			if buf, err = s.readChunk(f, bp, pos, size); err != nil {
				return written, err
			}
			if n, next, err = s.validate(buf, pos, base, true); err != nil {
				return written, err
			}
		}
		s.ref.seg.markChecked(pos, pos+int64(n))
		m, err := w.Write(buf[:n])
		written += int64(m)
		if err != nil {
			return written, err
		}
		pos, base = pos+int64(n), next
	}
	return written, nil
}

// readChunk reads n bytes at pos into the pooled buffer.
func (s Slice) readChunk(f readerAtFile, bp *[]byte, pos, n int64) ([]byte, error) {
	buf := slices.Grow((*bp)[:0], int(n))[:n]
	*bp = buf
	if _, err := f.ReadAt(buf, pos); err != nil {
		return nil, fmt.Errorf("seglog: read segment %s: %w", segmentName(s.ref.seg.base), err)
	}
	return buf, nil
}
