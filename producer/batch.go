package producer

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/IBM/sarama"

	"github.com/merlinkafka/merlin/buffer"
	"github.com/merlinkafka/merlin/callbacks"
	"github.com/merlinkafka/merlin/internal/kbatch"
)

// A batch is encoded once, when its worker takes it sealed (worker.prepare,
// on the partition's goroutine, compression included): enc is then the
// Kafka record batch the broker will store. What is sent, held through an
// outage, spilled to disk and resent is that encoding; a send sets only the
// producer id, epoch and sequence of the header around it.

// kafkaCodec is the record batch codec of each Compression.
var kafkaCodec = [...]kbatch.Codec{
	CompressionDefault: kbatch.CodecNone,
	CompressionNone:    kbatch.CodecNone,
	CompressionGzip:    kbatch.CodecGzip,
	CompressionSnappy:  kbatch.CodecSnappy,
	CompressionLZ4:     kbatch.CodecLZ4,
	CompressionZstd:    kbatch.CodecZstd,
}

// codec is c's codec bits in a record batch.
func (c Compression) codec() kbatch.Codec { return kafkaCodec[c] }

// hold is how a sealed batch is kept between its sends, which decides what
// it counts for against the buffer limits (see batch.budget).
type hold uint8

const (
	// holdRecords: the encoding and the messages themselves, kept because
	// Config.OnDelivery, a DeliveryHook or the massage hook needs the
	// messages back at delivery. Counts budget(n, bytes).
	holdRecords hold = iota
	// holdEncoded: only the encoding, and a note for each message with a
	// callback or a ProduceSync waiter. Counts bytes and the notes.
	holdEncoded
	// holdSpilled: written to a spill (Config.SpillDir); enc is in memory
	// only while the batch is being sent. Counts only the notes, which
	// stay in memory: the disk holds the rest.
	holdSpilled
)

// batch is a sealed run of messages for one partition, sent as one record
// batch. Once numbered it keeps its sequence numbers across resends.
type batch struct {
	owner *worker
	hold  hold
	n     int   // messages, as accepted (the massage hook may change what is on the wire)
	bytes int   // their size as accepted (Message.size), for the budget and statistics
	recs  []rec // holdRecords, and until prepare
	notes []note
	// open is the batch as produce calls encoded it, not finished yet
	// (compression, header): prepare finishes it into enc.
	open kbatch.Builder
	// enc is the encoded record batch: kbatch's 61-byte header (producer
	// id -1, as a spill stores it) and the records, compressed.
	enc []byte
	// rawLen is the uncompressed size of enc's records; 0 when unknown.
	rawLen int
	// massaged: the massage hook rewrote the records; the originals exist
	// only in recs (kept when delivery needs them), and the batch is never
	// cut or split.
	massaged bool
	// callbacks: some message has an OnDelivery callback, or the producer
	// has Config.OnDelivery or hooks: reporting runs user code.
	callbacks bool
	// lent: the messages handed to callbacks alias enc, which must not be
	// recycled.
	lent bool
	// roomBack: its room in the buffer was given back when it was
	// dropped (DropOldest), before its report.
	roomBack bool

	seq      int32 // first sequence number; valid when numbered
	pid      int64
	epoch    int16
	numbered bool
	deadline int64 // of the first message, unix nanoseconds; 0: none
	first    int64 // when its first message was accepted, unix nanoseconds; 0: unknown

	spill     *buffer.Spill // the spill holding it, if any, at spillBase
	spillBase int64

	attempts int
	lastErr  error
	sentAt   time.Time
	gen      uint64 // connection generation it was last sent on (set by the sink)
	conn     *brokerConn
	cbDone   func(error) // reports the outcome to the broker's breaker
	rb       sarama.RecordBatch
}

// note keeps what a message without its Message struct needs for its
// delivery report.
type note struct {
	i          int32 // index in the batch
	onDelivery func(Result)
	w          *waiter
	idx        int32
}

// inFlightCopy is a batch for reporting the messages of b, which is in
// flight, without touching b: the sink writes b's wire form and generation
// and reads its encoding until its answer comes. The copy shares what does
// not change in flight, its encoding included, which it never recycles.
func (b *batch) inFlightCopy() *batch {
	return &batch{owner: b.owner, hold: b.hold, n: b.n, bytes: b.bytes, recs: b.recs, notes: b.notes,
		enc: b.enc, rawLen: b.rawLen, massaged: b.massaged, callbacks: b.callbacks, lent: true,
		deadline: b.deadline, first: b.first, spill: b.spill, spillBase: b.spillBase, lastErr: b.lastErr}
}

// budget is what b counts for against MaxBufferedBytes now.
func (b *batch) budget() int {
	switch b.hold {
	case holdRecords:
		return budget(b.n, b.bytes)
	case holdEncoded:
		return b.bytes + len(b.notes)*noteSize
	}
	return len(b.notes) * noteSize
}

// noteSize is what a note costs: MaxBufferedBytes counts it, as it counts
// recOverhead, so that the bound is real memory with callbacks too.
const noteSize = int(unsafe.Sizeof(note{}))

// setHold moves b to h and gives back the room that frees.
func (w *worker) setHold(b *batch, h hold) {
	before := b.budget()
	b.hold = h
	if freed := before - b.budget(); freed != 0 {
		w.p.release(0, freed)
	}
}

// needMessages reports whether delivery reports need the Message itself
// (Config.OnDelivery and the hooks receive it), not only its callback.
func (p *Producer) needMessages() bool { return p.cfg.OnDelivery != nil || p.hooks != nil }

// keepsMessages reports whether the messages of topic t's open batches are
// kept as they are until sealed (delivery or the massage hook needs them),
// rather than encoded by the produce calls as they come.
func (p *Producer) keepsMessages(set *topicSettings) bool {
	return p.needMessages() || set.massage != nil
}

// prepare runs on the worker's goroutine for each batch it takes sealed:
// the massage hook, then the one encoding. Unless delivery needs them, the
// messages are then let go (the caller's keys and values with them) and
// only notes stay. A batch that cannot be encoded fails.
func (w *worker) prepare(b *batch) bool {
	b.owner = w
	if b.recs == nil {
		// Encoded by the produce calls: compress and finish it here.
		if err := w.finishOpen(b); err != nil {
			w.finish(b, -1, err)
			return false
		}
		w.setHold(b, holdEncoded)
		return true
	}
	b.n = len(b.recs)
	b.callbacks = w.p.needMessages()
	if !b.callbacks {
		for i := range b.recs {
			if b.recs[i].msg.OnDelivery != nil {
				b.callbacks = true
				break
			}
		}
	}
	if err := w.encode(b); err != nil {
		w.finish(b, -1, err)
		return false
	}
	if !w.p.needMessages() {
		w.dropRecs(b)
	}
	return true
}

// finishOpen turns the records produce calls encoded into b's record
// batch: in place when uncompressed, compressed into a recycled buffer
// otherwise.
func (w *worker) finishOpen(b *batch) error {
	b.rawLen = b.open.Size()
	var enc []byte
	var err error
	if b.open.Codec == kbatch.CodecNone {
		enc, err = b.open.Finish(nil)
	} else {
		enc, err = b.open.Finish(w.t.encs.get())
		w.t.encs.put(b.open.Buffer())
	}
	b.open = kbatch.Builder{}
	if err != nil {
		return fmt.Errorf("producer: encoding a batch for %s/%d: %w", w.t.name, w.part.id, err)
	}
	b.enc = enc
	return nil
}

// encode builds b's record batch from its messages (or what the massage
// hook made of them).
func (w *worker) encode(b *batch) error {
	set := &w.t.set
	var massaged []Message
	if set.massage != nil {
		in := make([]Message, len(b.recs))
		for i := range b.recs {
			in[i] = b.recs[i].msg
		}
		out, err := set.massage(w.t.name, w.part.id, in)
		if err != nil {
			return err
		}
		if len(out) == 0 {
			out = []Message{{}}
		}
		massaged = out
		b.massaged = true
	}
	bd := &w.builder
	bd.Reset()
	bd.Codec = set.compression.codec()
	bd.NoCRC = true // sarama checksums what it sends; spillOut what it stores
	bd.Grow(b.bytes)
	if massaged != nil {
		first := b.recs[0].ts
		for i := range massaged {
			m := &massaged[i]
			ts := first
			if !m.Timestamp.IsZero() {
				ts = m.Timestamp.UnixMilli()
			}
			w.addRecord(ts, m)
		}
	} else {
		for i := range b.recs {
			w.addRecord(b.recs[i].ts, &b.recs[i].msg)
		}
	}
	b.rawLen = bd.Size()
	enc, err := bd.Finish(w.t.encs.get())
	if err != nil {
		return fmt.Errorf("producer: encoding a batch for %s/%d: %w", w.t.name, w.part.id, err)
	}
	b.enc = enc
	return nil
}

func (w *worker) addRecord(ts int64, m *Message) {
	hs := w.hdrScratch[:0]
	for _, h := range m.Headers {
		hs = append(hs, kbatch.RecordHeader{Key: h.Key, Value: h.Value})
	}
	w.hdrScratch = hs
	w.builder.Add(ts, m.Key, m.Value, hs...)
	clear(hs) // drop the references to the message's bytes
}

// dropRecs lets b's messages go, keeping a note for each that has a
// callback or a waiter: b is then held as its encoding only. A massaged
// batch keeps them when delivery needs the originals.
func (w *worker) dropRecs(b *batch) {
	if b.hold != holdRecords || b.recs == nil || (b.massaged && w.p.needMessages()) {
		return
	}
	w.toNotes(b)
	w.setHold(b, holdEncoded)
}

// toNotes replaces b's messages by notes, leaving its hold alone.
func (w *worker) toNotes(b *batch) {
	var notes []note
	for i := range b.recs {
		r := &b.recs[i]
		if r.msg.OnDelivery != nil || r.w != nil {
			if notes == nil {
				notes = w.t.notes.getOrMake(16, len(b.recs))
			}
			notes = append(notes, note{i: int32(i), onDelivery: r.msg.OnDelivery, w: r.w, idx: r.idx})
		}
	}
	b.notes = notes
	w.t.recs.clearPut(b.recs)
	b.recs = nil
}

// spillOut writes b to the worker's spill, when the producer has one, and
// lets its bytes go from memory.
func (w *worker) spillOut(b *batch) {
	if w.p.cfg.SpillDir == "" || b.enc == nil || b.spill != nil || b.recs != nil {
		return
	}
	if w.spill == nil {
		sp, err := buffer.OpenSpill(buffer.Dir(w.p.cfg.SpillDir, w.t.name, w.part.id, w.index), w.p.cfg.SpillFlush, w.p.spillFiles, w.p.log)
		if err != nil {
			w.p.log.Error("spill unavailable; buffering in memory", "err", err)
			return
		}
		w.spill = sp
		w.spills = append(w.spills, sp)
	}
	kbatch.SetCRC(b.enc) // left out when encoded: only a stored batch needs it
	base, err := w.spill.Append(b.enc)
	if err != nil {
		w.p.log.Error("spill write failed; buffering in memory", "err", err)
		return
	}
	b.spill, b.spillBase = w.spill, base
	b.enc = nil
	w.setHold(b, holdSpilled)
}

// load reads a spilled batch back for sending.
func (w *worker) load(b *batch) error {
	if b.enc != nil || b.spill == nil {
		return nil
	}
	enc, err := b.spill.Read(b.spillBase)
	if err != nil {
		err = fmt.Errorf("producer: buffered batch (spill offset %d) unreadable: %w", b.spillBase, err)
		w.p.log.Error("spill", "err", err)
		return err
	}
	b.enc = enc
	b.lent = true // the spill's buffer, not ours to recycle
	return nil
}

// wireBatch is the sarama form of b for its next send: the header fields,
// and the encoded records handed over as they are (see rawhandoff.go).
func (b *batch) wireBatch() (*sarama.RecordBatch, error) {
	h, err := kbatch.ParseHeader(b.enc)
	if err != nil {
		return nil, err
	}
	rb := &b.rb
	*rb = sarama.RecordBatch{
		Version:         2,
		Codec:           sarama.CompressionCodec(h.Codec()),
		LastOffsetDelta: h.LastOffsetDelta,
		FirstTimestamp:  time.UnixMilli(h.FirstTimestamp),
		MaxTimestamp:    time.UnixMilli(h.MaxTimestamp),
		ProducerID:      -1,
		ProducerEpoch:   -1,
		FirstSequence:   -1,
	}
	if b.numbered {
		rb.ProducerID, rb.ProducerEpoch, rb.FirstSequence = b.pid, b.epoch, b.seq
	}
	if err := handOver(rb, b.enc, int(h.NumRecords), b.rawLen); err != nil {
		return nil, err
	}
	return rb, nil
}

// records decodes the records of b's encoding (reading a spilled batch
// back first). Keys and values alias b's buffers.
func (w *worker) records(b *batch) ([]kbatch.Record, error) {
	if err := w.load(b); err != nil {
		return nil, err
	}
	if b.enc == nil {
		return nil, errors.New("producer: batch has no encoding")
	}
	decoded, err := kbatch.Records(b.enc)
	if err == nil && len(decoded) != b.n {
		err = fmt.Errorf("%d records, %d expected", len(decoded), b.n)
	}
	if err != nil {
		// Our own encoding, CRC-checked when read back from a spill: a bug,
		// but one the messages' owners hear about, not a crash.
		return nil, fmt.Errorf("producer: buffered batch unreadable: %w", err)
	}
	b.lent = true
	return decoded, nil
}

// messages rebuilds b's messages, with their callbacks and waiters, from
// its encoding: for cutting a batch in two.
func (w *worker) messages(b *batch) ([]rec, error) {
	if b.recs != nil {
		return b.recs, nil
	}
	decoded, err := w.records(b)
	if err != nil {
		return nil, err
	}
	recs := w.t.getRecs()
	for i := range decoded {
		m := decodedMessage(&decoded[i])
		recs = append(recs, rec{msg: m, ts: decoded[i].Timestamp, deadline: b.deadline, size: int32(m.size())})
	}
	for _, n := range b.notes {
		r := &recs[n.i]
		r.msg.OnDelivery, r.w, r.idx = n.onDelivery, n.w, n.idx
	}
	return recs, nil
}

func decodedMessage(d *kbatch.Record) Message {
	m := Message{Key: d.Key, Value: d.Value, Timestamp: time.UnixMilli(d.Timestamp)}
	if len(d.Headers) > 0 {
		m.Headers = make([]Header, len(d.Headers))
		for j, h := range d.Headers {
			m.Headers[j] = Header{Key: h.Key, Value: h.Value}
		}
	}
	return m
}

// divide cuts b after its first k messages into two batches, each encoded
// and held as b was, and reports whether it could: a massaged batch has no
// originals to cut. The halves keep b's producer id, sequence numbers and
// deadlines; the second keeps b's place in a spill, so that the spill
// marks b done only when the second half is.
func (w *worker) divide(b *batch, k int) (first, second *batch, ok bool) {
	if b.massaged || k <= 0 || k >= b.n {
		return nil, nil, false
	}
	recs, err := w.messages(b)
	if err != nil {
		return nil, nil, false
	}
	held := b.hold
	first = &batch{recs: recs[:k:k], pid: b.pid, epoch: b.epoch, seq: b.seq, numbered: b.numbered,
		first: b.first, lastErr: b.lastErr}
	second = &batch{recs: append(w.t.getRecs(), recs[k:]...), pid: b.pid, epoch: b.epoch, numbered: b.numbered,
		first: b.first, lastErr: b.lastErr, spill: b.spill, spillBase: b.spillBase}
	if b.numbered {
		second.seq = addSeq(b.seq, int32(k))
	}
	for _, h := range []*batch{first, second} {
		h.deadline = h.recs[0].deadline
		for i := range h.recs {
			h.bytes += int(h.recs[i].size)
		}
	}
	// What the halves count for adds up to what b did.
	second.bytes = b.bytes - first.bytes
	for _, h := range []*batch{first, second} {
		h.owner, h.n = w, len(h.recs)
		h.callbacks = b.callbacks
		if err := w.encode(h); err != nil {
			return nil, nil, false
		}
		// Same hold as b: the halves count together what b counted.
		h.hold = held
		if held != holdRecords {
			w.toNotes(h)
		}
	}
	return first, second, true
}

// adopt takes over a spill an earlier producer left: its batches go to the
// front of the backlog, in order, reported through Config.OnDelivery.
func (w *worker) adopt(dir string) error {
	sp, err := buffer.OpenSpill(dir, w.p.cfg.SpillFlush, w.p.spillFiles, w.p.log)
	if err != nil {
		return err
	}
	w.spills = append(w.spills, sp)
	if dir == buffer.Dir(w.p.cfg.SpillDir, w.t.name, w.part.id, w.index) {
		w.spill = sp
	}
	var left []*batch
	n := 0
	err = sp.Left(func(base int64, h kbatch.Header) bool {
		left = append(left, &batch{owner: w, spill: sp, spillBase: base, n: int(h.NumRecords), bytes: h.Size(),
			hold: holdSpilled, callbacks: w.p.needMessages()})
		n += int(h.NumRecords)
		return true
	})
	w.pending = append(left, w.pending...)
	w.mu.Lock()
	w.queued += n
	w.mu.Unlock()
	w.p.take(n, 0)
	if n > 0 {
		w.p.log.Info("replaying what an earlier producer spilled", "topic", w.t.name, "partition", w.part.id, "messages", n)
		w.emit(callbacks.Event{Kind: callbacks.DowntimeSaved, Count: n})
	}
	return err
}

func (w *worker) closeSpills() {
	for _, sp := range w.spills {
		if err := sp.Close(); err != nil {
			w.p.log.Warn("spill close", "err", err)
		}
	}
	w.spills, w.spill = nil, nil
}
