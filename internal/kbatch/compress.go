package kbatch

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/snappy/xerial"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// xerialMagic starts snappy data in the framing the Java client writes.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

// MaxDecompressed bounds what one batch may inflate to, so that a small
// hostile batch cannot make a reader allocate without limit.
const MaxDecompressed = 256 << 20

// ErrTooLarge is returned when a batch would decompress beyond MaxDecompressed.
var ErrTooLarge = fmt.Errorf("%w: decompresses beyond %d bytes", ErrCorrupt, MaxDecompressed)

var (
	zstdDecOnce sync.Once
	zstdDec     *zstd.Decoder
	zstdEncOnce sync.Once
	zstdEnc     *zstd.Encoder
)

func zstdDecoder() *zstd.Decoder {
	zstdDecOnce.Do(func() {
		zstdDec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(MaxDecompressed))
	})
	return zstdDec
}

func zstdEncoder() *zstd.Encoder {
	zstdEncOnce.Do(func() {
		zstdEnc, _ = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	})
	return zstdEnc
}

// Decompress inflates data compressed with codec. Snappy accepts both the
// plain block format and the xerial framing the Java client writes.
func Decompress(codec Codec, data []byte) ([]byte, error) {
	switch codec {
	case CodecNone:
		return data, nil
	case CodecGzip:
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %v", ErrCorrupt, err)
		}
		return readCapped(zr, "gzip")
	case CodecSnappy:
		if !bytes.HasPrefix(data, xerialMagic) {
			// Plain block format: the declared length comes first; refuse
			// to allocate for an absurd one.
			if n, err := s2.DecodedLen(data); err == nil && n > MaxDecompressed {
				return nil, ErrTooLarge
			}
		}
		out, err := xerial.Decode(data)
		if err != nil {
			return nil, fmt.Errorf("%w: snappy: %v", ErrCorrupt, err)
		}
		if len(out) > MaxDecompressed {
			return nil, ErrTooLarge
		}
		return out, nil
	case CodecLZ4:
		return readCapped(lz4.NewReader(bytes.NewReader(data)), "lz4")
	case CodecZstd:
		out, err := zstdDecoder().DecodeAll(data, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: zstd: %v", ErrCorrupt, err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: unknown compression codec %d", ErrCorrupt, codec)
}

func readCapped(r io.Reader, name string) ([]byte, error) {
	out, err := io.ReadAll(io.LimitReader(r, MaxDecompressed+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, name, err)
	}
	if len(out) > MaxDecompressed {
		return nil, ErrTooLarge
	}
	return out, nil
}

// Compress compresses data with codec, appending to dst.
func Compress(dst []byte, codec Codec, data []byte) ([]byte, error) {
	switch codec {
	case CodecNone:
		return append(dst, data...), nil
	case CodecGzip:
		return compressVia(dst, data, func(w io.Writer) io.WriteCloser { return gzip.NewWriter(w) })
	case CodecSnappy:
		return append(dst, xerial.Encode(nil, data)...), nil
	case CodecLZ4:
		return compressVia(dst, data, func(w io.Writer) io.WriteCloser { return lz4.NewWriter(w) })
	case CodecZstd:
		return zstdEncoder().EncodeAll(data, dst), nil
	}
	return nil, errors.New("kbatch: unknown compression codec")
}

// compressVia appends data to dst through the compressing writer newWriter
// makes, closed to flush its last block.
func compressVia(dst, data []byte, newWriter func(io.Writer) io.WriteCloser) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	zw := newWriter(buf)
	if _, err := zw.Write(data); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
