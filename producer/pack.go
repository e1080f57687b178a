package producer

import (
	"fmt"
	"time"

	"github.com/merlinkafka/merlin/buffer"
	"github.com/merlinkafka/merlin/callbacks"
	"github.com/merlinkafka/merlin/internal/kbatch"
)

// A batch that waits for a leader that is down is packed: its messages are
// encoded as one Kafka record batch (the bytes the broker will store), and
// the Message structs, with the caller's key and value slices, are let go.
// What a buffered message then costs is its encoded record, about 8 bytes
// more than key plus value, and nothing else unless it carries a callback.
// This is what keeps a long outage within MaxBufferedBytes of real memory,
// and it is the form a disk spill stores.

// note keeps what a packed message needs for its delivery report.
type note struct {
	i          int32 // index in the batch
	onDelivery func(Result)
	w          *waiter
	idx        int32
}

// count is how many messages b holds, packed or not.
func (b *batch) count() int {
	if b.recs == nil {
		return b.packedN
	}
	return len(b.recs)
}

// pack encodes b's messages into a record batch and drops the recs.
func (w *worker) pack(b *batch) {
	if b.packed != nil || len(b.recs) == 0 || b.massaged != nil {
		return
	}
	bd := &w.builder
	bd.Reset()
	var notes []note
	for i := range b.recs {
		r := &b.recs[i]
		hs := w.hdrScratch[:0]
		for _, h := range r.msg.Headers {
			hs = append(hs, kbatch.RecordHeader{Key: h.Key, Value: h.Value})
		}
		w.hdrScratch = hs
		bd.Add(r.ts, r.msg.Key, r.msg.Value, hs...)
		if r.msg.OnDelivery != nil || r.w != nil {
			notes = append(notes, note{i: int32(i), onDelivery: r.msg.OnDelivery, w: r.w, idx: r.idx})
		}
	}
	packed, err := bd.AppendBatch(make([]byte, 0, b.bytes+kbatch.HeaderSize))
	if err != nil {
		return // uncompressed encoding does not fail; stay unpacked if it did
	}
	b.deadline = b.recs[0].deadline
	b.packed = packed
	b.packedN = len(b.recs)
	b.notes = notes
	if !b.memFree && !b.overheadFree {
		// Packed, a message costs its encoded bytes: its bookkeeping
		// allowance goes back to the buffer.
		b.overheadFree = true
		w.p.release(0, budget(b.packedN, 0))
	}
	w.t.putRecs(b.recs)
	b.recs = nil
}

// unpack restores b's messages from its packed bytes. Keys, values and
// header values point into the packed buffer.
func (w *worker) unpack(b *batch) {
	if b.recs != nil {
		return
	}
	if b.packed == nil && b.spill != nil {
		packed, err := b.spill.Read(b.spillBase)
		if err != nil {
			w.unreadable(b, err)
			return
		}
		b.packed = packed
	}
	if b.packed == nil {
		return
	}
	decoded, err := kbatch.Records(b.packed)
	if err == nil && len(decoded) != b.packedN {
		err = fmt.Errorf("%d records, %d expected", len(decoded), b.packedN)
	}
	if err != nil {
		// Our own encoding, CRC-checked when read back from a spill: this
		// is a bug, but one the messages' owners hear about, not a crash.
		w.unreadable(b, err)
		return
	}
	recs := w.t.getRecs()
	for i := range decoded {
		d := &decoded[i]
		m := Message{Key: d.Key, Value: d.Value, Timestamp: time.UnixMilli(d.Timestamp)}
		if len(d.Headers) > 0 {
			m.Headers = make([]Header, len(d.Headers))
			for j, h := range d.Headers {
				m.Headers[j] = Header{Key: h.Key, Value: h.Value}
			}
		}
		recs = append(recs, rec{msg: m, ts: d.Timestamp, deadline: b.deadline, size: int32(m.size())})
	}
	for _, n := range b.notes {
		r := &recs[n.i]
		r.msg.OnDelivery, r.w, r.idx = n.onDelivery, n.w, n.idx
	}
	b.recs = recs
	b.packed, b.packedN, b.notes = nil, 0, nil
}

// unreadable handles a buffered batch that cannot be read back (the disk
// failed a spilled one): its messages are lost to the producer and reported
// so, never sent.
func (w *worker) unreadable(b *batch, err error) {
	err = fmt.Errorf("producer: buffered batch (spill offset %d) unreadable: %w", b.spillBase, err)
	w.p.log.Error("spill", "err", err)
	b.recs = w.t.getRecs()[:0]
	for i := 0; i < b.packedN; i++ {
		b.recs = append(b.recs, rec{deadline: b.deadline})
	}
	for _, n := range b.notes {
		r := &b.recs[n.i]
		r.msg.OnDelivery, r.w, r.idx = n.onDelivery, n.w, n.idx
	}
	b.notes = nil
	b.lastErr = err
	b.broken = true
}

// spillOut writes a packed batch to the worker's spill, when the producer
// has one, and lets its bytes go from memory.
func (w *worker) spillOut(b *batch) {
	if w.p.cfg.SpillDir == "" || b.packed == nil || b.spill != nil {
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
	base, err := w.spill.Append(b.packed)
	if err != nil {
		w.p.log.Error("spill write failed; buffering in memory", "err", err)
		return
	}
	b.spill, b.spillBase = w.spill, base
	b.packed = nil
	if !b.memFree {
		held := w.heldBudget(b, b.packedN)
		b.memFree = true
		w.p.release(0, held)
	}
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
		left = append(left, &batch{spill: sp, spillBase: base, packedN: int(h.NumRecords), bytes: h.Size(), memFree: true})
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
