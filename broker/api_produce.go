package broker

// Produce (key 0), v3-v9.
//
// Each partition entry must hold exactly one v2 record batch (magic, length
// and CRC32C checked: CORRUPT_MESSAGE; more than one batch, no records or a
// record count that disagrees with LastOffsetDelta: INVALID_RECORD). The
// batch is stored as received except for its base offset and partition
// leader epoch, which the CRC does not cover. Idempotent batches follow
// Kafka's rules (see checkSequence). Transactions are not supported.
//
// acks may be 0, 1 or -1; with no replication 1 and -1 mean the same. acks=0
// gets no answer at all, and a failure then closes the connection, as Kafka
// does, so that the client notices.

import (
	"errors"
	"fmt"
	"strings"

	"github.com/merlinkafka/merlin/internal/kbatch"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// errAcksZeroFailed closes a connection after an acks=0 produce failed.
var errAcksZeroFailed = errors.New("acks=0 produce failed; closing the connection so that the client notices")

func (c *conn) handleProduce(req *kmsg.ProduceRequest) (kmsg.Response, error) {
	cl := c.b.cluster
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	resp.Topics = make([]kmsg.ProduceResponseTopic, 0, len(req.Topics))
	var failed int16
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, 0, len(rt.Partitions))
		t := cl.topic(rt.Topic)
		name := rt.Topic
		if t != nil {
			name = t.name
		} else {
			name = strings.Clone(name) // the event outlives the request buffer
		}
		for j := range rt.Partitions {
			sp, ev := c.producePartition(req, t, name, &rt.Partitions[j])
			if sp.ErrorCode != 0 && failed == 0 {
				failed = sp.ErrorCode
			}
			st.Partitions = append(st.Partitions, sp)
			cl.onProduce(ev)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if req.Acks == 0 {
		if failed != 0 {
			return nil, fmt.Errorf("%w: %s", errAcksZeroFailed, kerr.ErrorForCode(failed))
		}
		return nil, nil
	}
	return resp, nil
}

// producePartition handles one partition entry of a produce request. t is
// nil for an unknown topic.
func (c *conn) producePartition(req *kmsg.ProduceRequest, t *topic, name string, rp *kmsg.ProduceRequestTopicPartition) (kmsg.ProduceResponseTopicPartition, ProduceEvent) {
	sp := kmsg.NewProduceResponseTopicPartition()
	sp.Partition = rp.Partition
	sp.BaseOffset = -1
	ev := ProduceEvent{
		Node: c.b.node, Topic: name, Partition: rp.Partition, Acks: req.Acks,
		Bytes: len(rp.Records), BaseOffset: -1, ProducerID: -1, BaseSequence: -1,
	}
	fail := func(e *kerr.Error, why string) (kmsg.ProduceResponseTopicPartition, ProduceEvent) {
		sp.ErrorCode, ev.ErrorCode = e.Code, e.Code
		if why != "" && req.Version >= 8 {
			sp.ErrorMessage = &why
		}
		return sp, ev
	}
	if req.Acks != 0 && req.Acks != 1 && req.Acks != -1 {
		return fail(kerr.InvalidRequiredAcks, fmt.Sprintf("acks must be 0, 1 or -1, not %d", req.Acks))
	}
	p := c.b.cluster.partitionOf(t, rp.Partition)
	if p == nil {
		return fail(kerr.UnknownTopicOrPartition, "")
	}
	if code, ok := c.b.cluster.faults.take(APIProduce, t.name, rp.Partition); ok {
		sp.ErrorCode, ev.ErrorCode = code, code
		return sp, ev
	}
	if req.TransactionID != nil {
		return fail(kerr.TransactionalIDAuthorizationFailed, "transactions are not supported")
	}
	if len(rp.Records) == 0 {
		return fail(kerr.InvalidRecord, "no record batch")
	}
	h, err := kbatch.Validate(rp.Records)
	if err != nil {
		return fail(kerr.CorruptMessage, err.Error())
	}
	ev.Records, ev.ProducerID, ev.BaseSequence = int(h.NumRecords), h.ProducerID, h.BaseSequence
	if limit := c.b.cluster.cfg.MaxMessageBytes; limit > 0 && len(rp.Records) > int(limit) {
		return fail(kerr.MessageTooLarge, fmt.Sprintf("the batch of %d bytes is above the broker's limit of %d", len(rp.Records), limit))
	}
	switch {
	case h.Size() != len(rp.Records):
		return fail(kerr.InvalidRecord, "produce requests must hold exactly one record batch per partition")
	case h.NumRecords < 1 || int64(h.NumRecords) != int64(h.LastOffsetDelta)+1:
		return fail(kerr.InvalidRecord, fmt.Sprintf("record count %d does not match last offset delta %d", h.NumRecords, h.LastOffsetDelta))
	case h.IsTransactional() || h.IsControl():
		return fail(kerr.InvalidRecord, "transactional and control batches are not supported")
	case h.ProducerID >= 0 && h.BaseSequence < 0:
		return fail(kerr.InvalidRecord, fmt.Sprintf("batch of producer id %d has no sequence number", h.ProducerID))
	}
	res := p.append(c.b.node, rp.Records, h)
	if res.err != nil {
		c.b.log.Error("storing a batch", "topic", t.name, "partition", rp.Partition, "err", res.err)
	}
	sp.ErrorCode, ev.ErrorCode = res.code, res.code
	if res.code == 0 || res.code == kerr.OutOfOrderSequenceNumber.Code {
		// Kafka reports the log start with a sequence gap too.
		sp.LogStartOffset = p.log.StartOffset()
	}
	if res.code == 0 {
		sp.BaseOffset, ev.BaseOffset, ev.Duplicate = res.base, res.base, res.duplicate
	}
	return sp, ev
}

// topic looks a topic up by name.
func (c *Cluster) topic(name string) *topic {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.topics[name]
}

// partitionOf returns partition i of t, nil if t is nil or has no such
// partition.
func (c *Cluster) partitionOf(t *topic, i int32) *partition {
	if t == nil {
		return nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if i < 0 || int(i) >= len(t.partitions) {
		return nil
	}
	return t.partitions[i]
}
