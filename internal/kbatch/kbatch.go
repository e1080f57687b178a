// Package kbatch reads, checks and writes Kafka record batches (magic v2),
// the unit that merlin's broker stores, its seglog persists and its producer
// sends.
//
// A record batch starts with a fixed 61-byte header:
//
//	offset  size  field
//	0       8     BaseOffset
//	8       4     BatchLength (bytes that follow this field)
//	12      4     PartitionLeaderEpoch
//	16      1     Magic (2)
//	17      4     CRC (CRC-32C of bytes 21 to the end)
//	21      2     Attributes
//	23      4     LastOffsetDelta
//	27      8     FirstTimestamp
//	35      8     MaxTimestamp
//	43      8     ProducerID
//	51      2     ProducerEpoch
//	53      4     BaseSequence
//	57      4     NumRecords
//	61      ...   records (compressed as a whole when Attributes say so)
//
// The CRC does not cover BaseOffset or PartitionLeaderEpoch, so a broker can
// assign offsets by patching the first eight bytes without re-encoding or
// recomputing anything: that is what SetBaseOffset does.
package kbatch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// HeaderSize is the size of a v2 record batch header, records excluded.
const HeaderSize = 61

// lengthFieldEnd is the offset where BatchLength stops counting from: the
// total size of a batch is lengthFieldEnd + BatchLength.
const lengthFieldEnd = 12

// crcStart is the first byte covered by the batch CRC.
const crcStart = 21

// Attribute bits.
const (
	CompressionMask    = 0x07
	TimestampLogAppend = 0x08
	Transactional      = 0x10
	Control            = 0x20
)

// Compression codecs as stored in the low three attribute bits.
type Codec int8

const (
	CodecNone   Codec = 0
	CodecGzip   Codec = 1
	CodecSnappy Codec = 2
	CodecLZ4    Codec = 3
	CodecZstd   Codec = 4
)

func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecGzip:
		return "gzip"
	case CodecSnappy:
		return "snappy"
	case CodecLZ4:
		return "lz4"
	case CodecZstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", int8(c))
}

// Castagnoli is the CRC-32C table, the one merlin uses wherever it checks
// bytes: record batches here, and the broker's and the spill's own files.
var Castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors returned when a batch is not valid. They all wrap ErrCorrupt so that
// callers can tell bad data from other failures with errors.Is.
var (
	// ErrCorrupt is wrapped by every error that reports malformed batch bytes.
	ErrCorrupt = errors.New("kbatch: corrupt record batch")
	// ErrShort means the bytes end before the batch does: a torn write, or a
	// batch still being received.
	ErrShort = fmt.Errorf("%w: truncated", ErrCorrupt)
	// ErrMagic means the batch is not a v2 record batch.
	ErrMagic = fmt.Errorf("%w: unsupported magic byte", ErrCorrupt)
	// ErrCRC means the CRC-32C in the header does not match the bytes.
	ErrCRC = fmt.Errorf("%w: CRC mismatch", ErrCorrupt)
	// ErrLength means the length field cannot be right.
	ErrLength = fmt.Errorf("%w: impossible length", ErrCorrupt)
)

// Header is the decoded fixed part of a record batch.
type Header struct {
	BaseOffset           int64
	Length               int32
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	FirstTimestamp       int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// Size is the number of bytes of the whole batch, header included.
func (h Header) Size() int { return lengthFieldEnd + int(h.Length) }

// LastOffset is the offset of the batch's last record.
func (h Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// Codec is the compression codec of the batch's records.
func (h Header) Codec() Codec { return Codec(h.Attributes & CompressionMask) }

// IsTransactional reports whether the transactional attribute is set.
func (h Header) IsTransactional() bool { return h.Attributes&Transactional != 0 }

// IsControl reports whether this is a control batch.
func (h Header) IsControl() bool { return h.Attributes&Control != 0 }

// LastSequence is the sequence number of the batch's last record, wrapping
// as Kafka does at MaxInt32.
func (h Header) LastSequence() int32 {
	if h.BaseSequence < 0 {
		return h.BaseSequence
	}
	s := int64(h.BaseSequence) + int64(h.LastOffsetDelta)
	if s > 0x7fffffff {
		s -= 0x80000000
	}
	return int32(s)
}

// ParseHeader decodes the header at the start of b without checking the CRC.
// It checks that b holds at least a header, that the length is plausible and
// that the magic byte is 2.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, ErrShort
	}
	h := Header{
		BaseOffset:           int64(binary.BigEndian.Uint64(b[0:])),
		Length:               int32(binary.BigEndian.Uint32(b[8:])),
		PartitionLeaderEpoch: int32(binary.BigEndian.Uint32(b[12:])),
		Magic:                int8(b[16]),
		CRC:                  binary.BigEndian.Uint32(b[17:]),
		Attributes:           int16(binary.BigEndian.Uint16(b[21:])),
		LastOffsetDelta:      int32(binary.BigEndian.Uint32(b[23:])),
		FirstTimestamp:       int64(binary.BigEndian.Uint64(b[27:])),
		MaxTimestamp:         int64(binary.BigEndian.Uint64(b[35:])),
		ProducerID:           int64(binary.BigEndian.Uint64(b[43:])),
		ProducerEpoch:        int16(binary.BigEndian.Uint16(b[51:])),
		BaseSequence:         int32(binary.BigEndian.Uint32(b[53:])),
		NumRecords:           int32(binary.BigEndian.Uint32(b[57:])),
	}
	if h.Length < HeaderSize-lengthFieldEnd {
		return h, fmt.Errorf("%w: batch length %d is below the header size", ErrLength, h.Length)
	}
	if h.Magic != 2 {
		return h, fmt.Errorf("%w: magic %d", ErrMagic, h.Magic)
	}
	if h.NumRecords < 0 || h.LastOffsetDelta < 0 {
		return h, fmt.Errorf("%w: %d records, last offset delta %d", ErrLength, h.NumRecords, h.LastOffsetDelta)
	}
	return h, nil
}

// Validate checks the batch at the start of b: header, length and CRC. It
// returns the header; b may hold more bytes after the batch.
func Validate(b []byte) (Header, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return h, err
	}
	if h.Size() > len(b) {
		return h, fmt.Errorf("%w: batch of %d bytes, %d present", ErrShort, h.Size(), len(b))
	}
	if crc := crc32.Checksum(b[crcStart:h.Size()], Castagnoli); crc != h.CRC {
		return h, fmt.Errorf("%w: header says %08x, bytes give %08x", ErrCRC, h.CRC, crc)
	}
	return h, nil
}

// ValidateOne checks that b is exactly one valid batch, with nothing after it.
func ValidateOne(b []byte) (Header, error) {
	h, err := Validate(b)
	if err != nil {
		return h, err
	}
	if h.Size() != len(b) {
		return h, fmt.Errorf("%w: %d bytes after the batch", ErrLength, len(b)-h.Size())
	}
	return h, nil
}

// SetBaseOffset patches the base offset of the batch at the start of b. The
// CRC does not cover it, so the batch stays valid.
func SetBaseOffset(b []byte, offset int64) {
	binary.BigEndian.PutUint64(b[0:8], uint64(offset))
}

// SetPartitionLeaderEpoch patches the leader epoch, which the CRC does not
// cover either.
func SetPartitionLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[12:16], uint32(epoch))
}

// Next splits the first batch from a run of concatenated batches. It checks
// the header and the CRC. At the end of data it returns io.EOF-free
// (nil, nil, nil); on a bad or incomplete batch it returns the error and the
// bytes from the bad batch on, so that the caller can report where it was.
func Next(b []byte) (batch, rest []byte, h Header, err error) {
	if len(b) == 0 {
		return nil, nil, Header{}, nil
	}
	h, err = Validate(b)
	if err != nil {
		return nil, b, h, err
	}
	return b[:h.Size()], b[h.Size():], h, nil
}

// ValidPrefix returns how many leading bytes of b are whole, valid batches,
// and the error that stopped the scan (nil when all of b is valid).
func ValidPrefix(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		h, err := Validate(b[n:])
		if err != nil {
			return n, err
		}
		n += h.Size()
	}
	return n, nil
}
