package broker

// DeleteRecords (key 21), v0-v2: moves partitions' log start offsets.

import (
	"errors"
	"fmt"

	"github.com/merlinkafka/merlin/seglog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// recordDeleter is implemented by partition logs that can move their start
// offset (both of merlin's). DeleteRecordsBefore returns the new start
// offset, and an error wrapping ErrOffsetOutOfRange for an offset past the
// end.
type recordDeleter interface {
	DeleteRecordsBefore(offset int64) (int64, error)
}

func (c *conn) handleDeleteRecords(req *kmsg.DeleteRecordsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	cl := c.b.cluster
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		t := cl.topic(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition, sp.LowWatermark = rp.Partition, -1
			sp.ErrorCode = c.deleteRecords(t, rp.Partition, rp.Offset, &sp.LowWatermark)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// deleteRecords moves one partition's start offset to offset (-1: the high
// watermark), setting low to the new start.
func (c *conn) deleteRecords(t *topic, partition int32, offset int64, low *int64) int16 {
	p := c.b.cluster.partitionOf(t, partition)
	switch {
	case p == nil:
		return kerr.UnknownTopicOrPartition.Code
	case p.leader() != c.b.node:
		return kerr.NotLeaderForPartition.Code
	}
	d, ok := p.log.(recordDeleter)
	if !ok {
		return kerr.UnknownServerError.Code
	}
	if offset == -1 {
		offset = p.log.NextOffset()
	}
	start, err := d.DeleteRecordsBefore(offset)
	switch {
	case errors.Is(err, ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case err != nil:
		c.b.log.Error("deleting records", "topic", t.name, "partition", partition, "offset", offset, "err", err)
		return kerr.KafkaStorageError.Code
	}
	*low = start
	return 0
}

// DeleteRecordsBefore moves the disk log's start offset (seglog.DeleteBefore).
func (l *diskLog) DeleteRecordsBefore(offset int64) (int64, error) {
	start, err := l.log.DeleteBefore(offset)
	if errors.Is(err, seglog.ErrOffsetOutOfRange) {
		return start, fmt.Errorf("%w: %w", ErrOffsetOutOfRange, err)
	}
	return start, err
}

// DeleteRecordsBefore drops the batches wholly below offset and hides the
// records below it in the one that straddles it.
func (l *memoryLog) DeleteRecordsBefore(offset int64) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	start := l.startLocked()
	switch {
	case offset < 0 || offset > l.next:
		return start, fmt.Errorf("%w: %d not in [%d, %d]", ErrOffsetOutOfRange, offset, start, l.next)
	case offset <= start:
		return start, nil
	}
	n := 0
	for n < len(l.batches) && l.batches[n].last < offset {
		n++
	}
	l.batches = append([]memoryBatch(nil), l.batches[n:]...)
	l.start = offset
	return offset, nil
}

// startLocked is the log start offset: the first batch's base, or the
// offset DeleteRecordsBefore moved it to. Callers hold l.mu.
func (l *memoryLog) startLocked() int64 {
	first := l.next
	if len(l.batches) > 0 {
		first = l.batches[0].base
	}
	return max(first, l.start)
}
