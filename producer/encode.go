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

// encode builds the produce request for one batch. sarama encodes it when
// it is sent; the records live in two slabs per batch (values and pointers),
// not one allocation per message.
func (p *Producer) encode(t *topicState, partition int32, b *batch) (*sarama.ProduceRequest, error) {
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
	slab := make([]sarama.Record, n)
	ptrs := make([]*sarama.Record, n)
	nh := 0
	for i := 0; i < n; i++ {
		if massaged != nil {
			nh += len(massaged[i].Headers)
		} else {
			nh += len(msgs[i].msg.Headers)
		}
	}
	var hslab []sarama.RecordHeader
	var hptrs []*sarama.RecordHeader
	if nh > 0 {
		hslab = make([]sarama.RecordHeader, nh)
		hptrs = make([]*sarama.RecordHeader, nh)
	}
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
	req := &sarama.ProduceRequest{
		RequiredAcks: sarama.RequiredAcks(set.acks),
		Timeout:      int32(p.cfg.RequestTimeout / time.Millisecond),
		Version:      7,
	}
	req.AddBatch(t.name, partition, rb)
	return req, nil
}
