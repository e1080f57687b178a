package seglog

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/merlinkafka/merlin/internal/kbatch"
)

// Chunk sizes for reading segment files.
const (
	walkChunk    = 16 << 10 // bounded header walks (index gaps)
	scanChunk    = 1 << 20  // whole-segment scans (recovery, index rebuild)
	copyChunk    = 256 << 10
	maxPooledBuf = 4 << 20
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, walkChunk); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) <= maxPooledBuf {
		*b = (*b)[:0]
		bufPool.Put(b)
	}
}

// blockReader serves windows of a file region from a buffer filled by
// ReadAt (pread) calls.
type blockReader struct {
	r     io.ReaderAt
	limit int64 // never read at or past this position
	chunk int
	buf   []byte // file bytes [off, off+len(buf))
	off   int64
}

// window returns the file bytes [pos, pos+n), which must lie below limit.
// The result is valid until the next call.
func (br *blockReader) window(pos int64, n int) ([]byte, error) {
	if pos >= br.off && pos+int64(n) <= br.off+int64(len(br.buf)) {
		i := pos - br.off
		return br.buf[i : i+int64(n)], nil
	}
	if pos+int64(n) > br.limit {
		return nil, io.ErrUnexpectedEOF
	}
	want := int64(max(n, br.chunk))
	if pos+want > br.limit {
		want = br.limit - pos
	}
	if int64(cap(br.buf)) < want {
		br.buf = make([]byte, want)
	}
	br.buf = br.buf[:want]
	m, err := br.r.ReadAt(br.buf, pos)
	br.buf, br.off = br.buf[:m], pos
	if m < n {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return br.buf[:n], nil
}

// batchIter walks the batches of a segment region [pos, end), checking that
// every header parses, that each batch fits before end and, when expect is
// not negative, that base offsets follow each other. With crc it also
// checks every batch's CRC-32C.
type batchIter struct {
	br     blockReader
	pos    int64 // start of the next batch; on error, of the bad one
	end    int64
	expect int64 // base offset the next batch must have; -1: unchecked
	crc    bool

	h   kbatch.Header
	at  int64 // position of h's batch
	err error

	bp   *[]byte     // pooled buffer to return on close, if any
	file *cachedFile // pinned file to release on close, if any
}

// close returns the iterator's buffer to the pool and unpins its file.
func (it *batchIter) close() {
	if it.bp != nil {
		*it.bp = it.br.buf
		putBuf(it.bp)
		it.bp = nil
	}
	if it.file != nil {
		it.file.release()
		it.file = nil
	}
}

func newBatchIter(r io.ReaderAt, buf []byte, chunk int, pos, end, expect int64, crc bool) batchIter {
	return batchIter{
		br:  blockReader{r: r, limit: end, chunk: chunk, buf: buf[:0], off: -1},
		pos: pos, end: end, expect: expect, crc: crc,
	}
}

// next advances to the next batch. It returns false at end or on an error,
// which err then holds (wrapping ErrCorrupt for bad data).
func (it *batchIter) next() bool {
	if it.err != nil || it.pos >= it.end {
		return false
	}
	if it.end-it.pos < kbatch.HeaderSize {
		it.err = corruptf(kbatch.ErrShort, "%d bytes at position %d are too few for a batch header", it.end-it.pos, it.pos)
		return false
	}
	b, err := it.br.window(it.pos, kbatch.HeaderSize)
	if err != nil {
		it.err = fmt.Errorf("seglog: reading position %d: %w", it.pos, err)
		return false
	}
	h, err := kbatch.ParseHeader(b)
	if err != nil {
		it.err = corruptf(err, "batch at position %d", it.pos)
		return false
	}
	size := int64(h.Size())
	if size > it.end-it.pos {
		it.err = corruptf(kbatch.ErrShort, "batch at position %d claims %d bytes, %d left", it.pos, size, it.end-it.pos)
		return false
	}
	if it.expect >= 0 && h.BaseOffset != it.expect {
		it.err = corruptf(nil, "batch at position %d has base offset %d, want %d", it.pos, h.BaseOffset, it.expect)
		return false
	}
	if it.crc {
		b, err := it.br.window(it.pos, int(size))
		if err != nil {
			it.err = fmt.Errorf("seglog: reading position %d: %w", it.pos, err)
			return false
		}
		if _, err := kbatch.Validate(b); err != nil {
			it.err = corruptf(err, "batch at position %d (offset %d)", it.pos, h.BaseOffset)
			return false
		}
	}
	it.h, it.at = h, it.pos
	it.pos += size
	if it.expect >= 0 {
		it.expect = h.LastOffset() + 1
	}
	return true
}
