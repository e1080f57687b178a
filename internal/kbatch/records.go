package kbatch

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"slices"
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
//
// Records are written once, straight into the buffer that becomes the
// batch (Finish hands it over without a copy when uncompressed).
type Builder struct {
	Codec         Codec
	ProducerID    int64 // -1 when not idempotent; the zero Builder uses -1
	ProducerEpoch int16
	BaseSequence  int32
	// NoCRC leaves the CRC of the batches Finish and AppendBatch make zero,
	// for a caller that may never need it (a producer whose sends are
	// checksummed by its wire client): SetCRC computes it when it does.
	NoCRC      bool
	idempotent bool

	buf     []byte // HeaderSize reserved bytes, then the records
	n       int32
	firstTS int64
	maxTS   int64
	started bool
}

// SetProducer makes the batch idempotent with the given id, epoch and first
// sequence number.
func (bd *Builder) SetProducer(id int64, epoch int16, baseSequence int32) {
	bd.ProducerID, bd.ProducerEpoch, bd.BaseSequence, bd.idempotent = id, epoch, baseSequence, true
}

// Len is the number of records added since the last Reset.
func (bd *Builder) Len() int { return int(bd.n) }

// Size is the size of the records added so far, uncompressed, header
// excluded.
func (bd *Builder) Size() int { return max(0, len(bd.buf)-HeaderSize) }

// Reset empties the builder for the next batch, keeping its buffers and
// producer settings.
func (bd *Builder) Reset() {
	bd.buf = bd.buf[:0]
	bd.n = 0
	bd.started = false
}

// Grow makes room for n more bytes of records.
func (bd *Builder) Grow(n int) {
	bd.reserve()
	bd.buf = slices.Grow(bd.buf, n)
}

func (bd *Builder) reserve() {
	if len(bd.buf) < HeaderSize {
		var hdr [HeaderSize]byte
		bd.buf = append(bd.buf[:0], hdr[:]...)
	}
}

// varintLen is the size of v as a zigzag varint.
func varintLen(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}

func varBytesLen(b []byte) int {
	if b == nil {
		return 1
	}
	return varintLen(int64(len(b))) + len(b)
}

// Add appends one record with timestamp ts (milliseconds).
func (bd *Builder) Add(ts int64, key, value []byte, headers ...RecordHeader) {
	bd.reserve()
	if !bd.started {
		bd.firstTS, bd.maxTS, bd.started = ts, ts, true
	}
	if ts > bd.maxTS {
		bd.maxTS = ts
	}
	delta := ts - bd.firstTS
	size := 1 + varintLen(delta) + varintLen(int64(bd.n)) + varBytesLen(key) + varBytesLen(value) + varintLen(int64(len(headers)))
	for _, h := range headers {
		size += varintLen(int64(len(h.Key))) + len(h.Key) + varBytesLen(h.Value)
	}
	b := binary.AppendVarint(bd.buf, int64(size))
	b = append(b, 0) // attributes
	b = binary.AppendVarint(b, delta)
	b = binary.AppendVarint(b, int64(bd.n))
	b = appendVarBytes(b, key)
	b = appendVarBytes(b, value)
	b = binary.AppendVarint(b, int64(len(headers)))
	for _, h := range headers {
		b = binary.AppendVarint(b, int64(len(h.Key)))
		b = append(b, h.Key...)
		b = appendVarBytes(b, h.Value)
	}
	bd.buf = b
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
	bd.reserve()
	start := len(dst)
	var hdr [HeaderSize]byte
	dst = append(dst, hdr[:]...)
	dst, err := Compress(dst, bd.Codec, bd.buf[HeaderSize:])
	if err != nil {
		return nil, err
	}
	bd.putHeader(dst[start:])
	return dst, nil
}

// Finish returns the encoded batch, with base offset 0, and resets the
// builder. Uncompressed, the batch is the builder's own buffer, handed over
// without a copy, and spare (nil, or a buffer the caller is done with)
// becomes the builder's next one; compressed, the batch is written into
// spare and the builder keeps its buffer.
func (bd *Builder) Finish(spare []byte) ([]byte, error) {
	bd.reserve()
	var out []byte
	if bd.Codec == CodecNone {
		out = bd.buf
		bd.buf = spare[:0]
	} else {
		var hdr [HeaderSize]byte
		var err error
		out, err = Compress(append(spare[:0], hdr[:]...), bd.Codec, bd.buf[HeaderSize:])
		if err != nil {
			return nil, err
		}
		bd.buf = bd.buf[:0]
	}
	bd.putHeader(out)
	bd.n = 0
	bd.started = false
	return out, nil
}

// Detach returns a builder holding what was added so far (to Finish
// later, elsewhere) and empties bd, which takes buf (nil, or a buffer the
// caller is done with) for its next batch.
func (bd *Builder) Detach(buf []byte) Builder {
	out := *bd
	bd.buf = buf[:0]
	bd.n = 0
	bd.started = false
	return out
}

// Use gives an empty builder buf (a buffer the caller is done with) to
// build its next batch in, unless it has room of its own.
func (bd *Builder) Use(buf []byte) {
	if bd.n == 0 && cap(buf) > cap(bd.buf) {
		bd.buf = buf[:0]
	}
}

// Buffer returns the builder's buffer and forgets it: for recycling once
// a compressed batch has been finished from it.
func (bd *Builder) Buffer() []byte {
	b := bd.buf
	bd.buf = nil
	return b
}

// putHeader writes the header of the batch b (header space, then records
// as the codec stored them), CRC included.
func (bd *Builder) putHeader(b []byte) {
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
	binary.BigEndian.PutUint32(b[57:], uint32(bd.n))
	putProducer(b, pid, epoch, seq)
	if !bd.NoCRC {
		SetCRC(b)
	}
}

// SetProducer writes the producer id, epoch and first sequence number of
// the batch b and recomputes its CRC: the only header fields a producer
// changes when it resends a batch it has encoded once.
func SetProducer(b []byte, id int64, epoch int16, baseSequence int32) {
	putProducer(b, id, epoch, baseSequence)
	SetCRC(b)
}

func putProducer(b []byte, id int64, epoch int16, baseSequence int32) {
	binary.BigEndian.PutUint64(b[43:], uint64(id))
	binary.BigEndian.PutUint16(b[51:], uint16(epoch))
	binary.BigEndian.PutUint32(b[53:], uint32(baseSequence))
}

// SetCRC computes the CRC of the batch b (one whole batch) and writes it.
func SetCRC(b []byte) {
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[crcStart:], Castagnoli))
}
