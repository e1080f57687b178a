package kbatch

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Header of a record (a key and a value; Kafka calls them headers too).
type RecordHeader struct {
	Key   string
	Value []byte
}

// Record is one decoded record with its absolute offset and timestamp.
type Record struct {
	Offset    int64
	Timestamp int64 // milliseconds since the epoch
	Key       []byte
	Value     []byte
	Headers   []RecordHeader
}

// Records decodes every record of the valid batch b (use Validate first),
// decompressing as needed. Keys, values and header values alias b or the
// decompressed buffer; copy them to keep them past b's lifetime.
func Records(b []byte) ([]Record, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return nil, err
	}
	if h.Size() > len(b) {
		return nil, ErrShort
	}
	raw, err := Decompress(h.Codec(), b[HeaderSize:h.Size()])
	if err != nil {
		return nil, err
	}
	if int(h.NumRecords) > len(raw) {
		// Every record takes at least a few bytes: refuse an absurd count
		// before allocating for it.
		return nil, fmt.Errorf("%w: %d records in %d bytes", ErrLength, h.NumRecords, len(raw))
	}
	out := make([]Record, 0, h.NumRecords)
	r := reader{b: raw}
	for i := int32(0); i < h.NumRecords; i++ {
		rec, err := r.record(h)
		if err != nil {
			return out, fmt.Errorf("record %d: %w", i, err)
		}
		out = append(out, rec)
	}
	if len(r.b) != 0 {
		return out, fmt.Errorf("%w: %d bytes after the last record", ErrLength, len(r.b))
	}
	return out, nil
}

type reader struct {
	b   []byte
	bad bool
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.bad = true
		r.b = nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.varint()
	if n < 0 {
		return nil
	}
	if int64(len(r.b)) < n {
		r.bad = true
		r.b = nil
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) record(h Header) (Record, error) {
	length := r.varint()
	if r.bad || length < 0 || int64(len(r.b)) < length {
		return Record{}, ErrShort
	}
	body := reader{b: r.b[:length]}
	r.b = r.b[length:]
	if len(body.b) < 1 {
		return Record{}, ErrShort
	}
	body.b = body.b[1:] // record attributes, unused
	tsDelta := body.varint()
	offDelta := body.varint()
	key := body.bytes()
	value := body.bytes()
	nh := body.varint()
	if body.bad || nh < 0 || nh > int64(len(body.b)) {
		return Record{}, fmt.Errorf("%w: bad record fields", ErrCorrupt)
	}
	var headers []RecordHeader
	if nh > 0 {
		headers = make([]RecordHeader, 0, nh)
	}
	for j := int64(0); j < nh; j++ {
		k := body.bytes()
		v := body.bytes()
		headers = append(headers, RecordHeader{Key: string(k), Value: v})
	}
	if body.bad || len(body.b) != 0 {
		return Record{}, fmt.Errorf("%w: bad record headers", ErrCorrupt)
	}
	ts := h.FirstTimestamp + tsDelta
	if h.Attributes&TimestampLogAppend != 0 {
		ts = h.MaxTimestamp
	}
	return Record{
		Offset:    h.BaseOffset + offDelta,
		Timestamp: ts,
		Key:       key,
		Value:     value,
		Headers:   headers,
	}, nil
}

// Builder encodes record batches. The zero value builds uncompressed,
// non-idempotent batches; set the fields before the first Add.
type Builder struct {
	Codec         Codec
	ProducerID    int64 // -1 when not idempotent; the zero Builder uses -1
	ProducerEpoch int16
	BaseSequence  int32
	idempotent    bool

	records []byte
	n       int32
	firstTS int64
	maxTS   int64
	started bool
	scratch []byte
}

// SetProducer makes the batch idempotent with the given id, epoch and first
// sequence number.
func (bd *Builder) SetProducer(id int64, epoch int16, baseSequence int32) {
	bd.ProducerID, bd.ProducerEpoch, bd.BaseSequence, bd.idempotent = id, epoch, baseSequence, true
}

// Len is the number of records added since the last Reset.
func (bd *Builder) Len() int { return int(bd.n) }

// Reset empties the builder for the next batch, keeping its buffers and
// producer settings.
func (bd *Builder) Reset() {
	bd.records = bd.records[:0]
	bd.n = 0
	bd.started = false
}

// Add appends one record with timestamp ts (milliseconds).
func (bd *Builder) Add(ts int64, key, value []byte, headers ...RecordHeader) {
	if !bd.started {
		bd.firstTS, bd.maxTS, bd.started = ts, ts, true
	}
	if ts > bd.maxTS {
		bd.maxTS = ts
	}
	body := bd.scratch[:0]
	body = append(body, 0) // attributes
	body = binary.AppendVarint(body, ts-bd.firstTS)
	body = binary.AppendVarint(body, int64(bd.n))
	body = appendVarBytes(body, key)
	body = appendVarBytes(body, value)
	body = binary.AppendVarint(body, int64(len(headers)))
	for _, h := range headers {
		body = binary.AppendVarint(body, int64(len(h.Key)))
		body = append(body, h.Key...)
		body = appendVarBytes(body, h.Value)
	}
	bd.records = binary.AppendVarint(bd.records, int64(len(body)))
	bd.records = append(bd.records, body...)
	bd.scratch = body
	bd.n++
}

func appendVarBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

// AppendBatch appends the encoded batch to dst, with base offset 0, and
// returns it. The builder keeps its records; call Reset for the next batch.
func (bd *Builder) AppendBatch(dst []byte) ([]byte, error) {
	start := len(dst)
	var hdr [HeaderSize]byte
	dst = append(dst, hdr[:]...)
	var err error
	dst, err = Compress(dst, bd.Codec, bd.records)
	if err != nil {
		return nil, err
	}
	b := dst[start:]
	binary.BigEndian.PutUint64(b[0:], 0)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-lengthFieldEnd))
	binary.BigEndian.PutUint32(b[12:], 0xffffffff) // leader epoch -1
	b[16] = 2
	binary.BigEndian.PutUint16(b[21:], uint16(bd.Codec)&CompressionMask)
	lastDelta := bd.n - 1
	if lastDelta < 0 {
		lastDelta = 0
	}
	binary.BigEndian.PutUint32(b[23:], uint32(lastDelta))
	binary.BigEndian.PutUint64(b[27:], uint64(bd.firstTS))
	binary.BigEndian.PutUint64(b[35:], uint64(bd.maxTS))
	pid, epoch, seq := int64(-1), int16(-1), int32(-1)
	if bd.idempotent {
		pid, epoch, seq = bd.ProducerID, bd.ProducerEpoch, bd.BaseSequence
	}
	binary.BigEndian.PutUint64(b[43:], uint64(pid))
	binary.BigEndian.PutUint16(b[51:], uint16(epoch))
	binary.BigEndian.PutUint32(b[53:], uint32(seq))
	binary.BigEndian.PutUint32(b[57:], uint32(bd.n))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[crcStart:], Castagnoli))
	return dst, nil
}
