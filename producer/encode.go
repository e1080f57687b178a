package producer

import (
	"time"

	"github.com/IBM/sarama"
)

var saramaCodec = [...]sarama.CompressionCodec{
	CompressionNone:   sarama.CompressionNone,
	CompressionGzip:   sarama.CompressionGZIP,
	CompressionSnappy: sarama.CompressionSnappy,
	CompressionLZ4:    sarama.CompressionLZ4,
	CompressionZstd:   sarama.CompressionZSTD,
}

// massage runs the topic's massage hook on b once, before its first send:
// resends carry the same records and sequence numbers.
func massage(t *topicState, partition int32, b *batch) error {
	if t.set.massage == nil || b.massaged != nil {
		return nil
	}
	in := make([]Message, len(b.recs))
	for i := range b.recs {
		in[i] = b.recs[i].msg
	}
	out, err := t.set.massage(t.name, partition, in)
	if err != nil {
		return err
	}
	if len(out) == 0 {
		out = []Message{{}}
	}
	b.massaged = out
	return nil
}

// records is how many records b carries on the wire.
func (b *batch) records() int {
	if b.massaged != nil {
		return len(b.massaged)
	}
	return len(b.recs)
}

// slabs hold the sarama records of the batch being sent. sarama encodes a
// request inside AsyncProduce, before it returns, so one set per worker,
// reused from batch to batch, is enough: no allocation per message, nor
// per batch once they have grown.
type slabs struct {
	recs  []sarama.Record
	ptrs  []*sarama.Record
	hdrs  []sarama.RecordHeader
	hptrs []*sarama.RecordHeader
}

// release drops the slabs' references to message bytes once sent.
func (s *slabs) release(n, nh int) {
	clear(s.recs[:n])
	clear(s.hdrs[:nh])
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n, n+n/4)
	}
	return s[:n]
}

// encode builds the record batch of b in the worker's slabs. It returns it
// and how many records and headers it used, for slabs.release once the
// request carrying it has been encoded.
func (w *worker) encode(b *batch) (*sarama.RecordBatch, int, int, error) {
	t, sl := w.t, &w.slabs
	set := &t.set
	msgs := b.recs
	massaged := b.massaged
	n := len(msgs)
	if massaged != nil {
		n = len(massaged)
	}
	first := int64(0)
	if len(msgs) > 0 {
		first = msgs[0].ts
	}
	maxTS := first
	sl.recs = grow(sl.recs, n)
	sl.ptrs = grow(sl.ptrs, n)
	slab, ptrs := sl.recs, sl.ptrs
	nh := 0
	for i := 0; i < n; i++ {
		if massaged != nil {
			nh += len(massaged[i].Headers)
		} else {
			nh += len(msgs[i].msg.Headers)
		}
	}
	sl.hdrs = grow(sl.hdrs, nh)
	sl.hptrs = grow(sl.hptrs, nh)
	hslab, hptrs := sl.hdrs, sl.hptrs
	for i := 0; i < n; i++ {
		var m *Message
		ts := first
		if massaged != nil {
			m = &massaged[i]
			if !m.Timestamp.IsZero() {
				ts = m.Timestamp.UnixMilli()
			}
		} else {
			m = &msgs[i].msg
			ts = msgs[i].ts
		}
		if ts > maxTS {
			maxTS = ts
		}
		r := &slab[i]
		*r = sarama.Record{}
		r.Key = m.Key
		r.Value = m.Value
		r.OffsetDelta = int64(i)
		r.TimestampDelta = time.Duration(ts-first) * time.Millisecond
		if len(m.Headers) > 0 {
			hs := hptrs[:len(m.Headers):len(m.Headers)]
			for j, h := range m.Headers {
				hslab[j] = sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value}
				hs[j] = &hslab[j]
			}
			hslab = hslab[len(m.Headers):]
			hptrs = hptrs[len(m.Headers):]
			r.Headers = hs
		}
		ptrs[i] = r
	}
	rb := &sarama.RecordBatch{
		Version:         2,
		Codec:           saramaCodec[set.compression],
		LastOffsetDelta: int32(n - 1),
		FirstTimestamp:  time.UnixMilli(first),
		MaxTimestamp:    time.UnixMilli(maxTS),
		ProducerID:      -1,
		ProducerEpoch:   -1,
		FirstSequence:   -1,
		Records:         ptrs,
	}
	if set.compression != CompressionNone {
		rb.CompressionLevel = sarama.CompressionLevelDefault
	}
	if b.numbered {
		rb.ProducerID, rb.ProducerEpoch, rb.FirstSequence = b.pid, b.epoch, b.seq
	}
	return rb, n, nh, nil
}
