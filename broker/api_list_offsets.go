package broker

// ListOffsets (key 2), v1-v7.
//
// Timestamp -2 (and -4, earliest local) answers the log start offset, -1 (and
// -5) the next offset, -3 (v7) the offset and timestamp of the record with
// the largest timestamp, and a timestamp t >= 0 the first record whose
// timestamp is at least t, with that timestamp (offset -1 when there is
// none). Other negative timestamps get INVALID_REQUEST.

import (
	"github.com/merlinkafka/merlin/internal/kbatch"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListOffsets special timestamps.
const (
	latestTimestamp        = -1
	earliestTimestamp      = -2
	maxTimestampTimestamp  = -3
	earliestLocalTimestamp = -4
	latestTieredTimestamp  = -5
)

func (c *conn) handleListOffsets(req *kmsg.ListOffsetsRequest) kmsg.Response {
	cl := c.b.cluster
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	resp.Topics = make([]kmsg.ListOffsetsResponseTopic, 0, len(req.Topics))
	for ti := range req.Topics {
		rt := &req.Topics[ti]
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		t := cl.topic(rt.Topic)
		st.Partitions = make([]kmsg.ListOffsetsResponseTopicPartition, 0, len(rt.Partitions))
		for pi := range rt.Partitions {
			rp := &rt.Partitions[pi]
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = c.listOffset(t, rp, &sp)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func (c *conn) listOffset(t *topic, rp *kmsg.ListOffsetsRequestTopicPartition, sp *kmsg.ListOffsetsResponseTopicPartition) int16 {
	cl := c.b.cluster
	p := cl.partitionOf(t, rp.Partition)
	if p == nil {
		return kerr.UnknownTopicOrPartition.Code
	}
	if code, ok := cl.faults.take(APIListOffsets, t.name, rp.Partition); ok {
		return code
	}
	leader, epoch := p.leader(), p.epoch()
	if leader != c.b.node {
		return kerr.NotLeaderForPartition.Code
	}
	if code := leaderEpochCode(rp.CurrentLeaderEpoch, epoch); code != 0 {
		return code
	}
	sp.LeaderEpoch = epoch
	switch ts := rp.Timestamp; {
	case ts == earliestTimestamp || ts == earliestLocalTimestamp:
		sp.Offset = p.log.StartOffset()
	case ts == latestTimestamp || ts == latestTieredTimestamp:
		sp.Offset = p.log.NextOffset()
	case ts == maxTimestampTimestamp:
		maxTS, base := p.maxTimestamp()
		if base >= 0 {
			sp.Offset, sp.Timestamp = p.findRecord(base, maxTS, true)
		}
	case ts >= 0:
		if base, ok := p.log.OffsetForTime(ts); ok {
			sp.Offset, sp.Timestamp = p.findRecord(base, ts, false)
		}
	default:
		return kerr.InvalidRequest.Code
	}
	return 0
}

// findRecord decodes the batch at base and returns the offset and timestamp
// of its first record whose timestamp is ts (exact) or at least ts. If the
// batch cannot be decoded, it answers the batch's base offset and maximum
// timestamp, which is what a batch-granular index would give.
func (p *partition) findRecord(base, ts int64, exact bool) (int64, int64) {
	buf, err := p.log.Read(base, 1, nil)
	if err != nil || len(buf) == 0 {
		return -1, -1
	}
	h, err := kbatch.ParseHeader(buf)
	if err != nil {
		return -1, -1
	}
	if recs, err := kbatch.Records(buf[:min(h.Size(), len(buf))]); err == nil {
		for _, r := range recs {
			if r.Timestamp == ts || !exact && r.Timestamp > ts {
				return r.Offset, r.Timestamp
			}
		}
	}
	return h.BaseOffset, h.MaxTimestamp
}

// leaderEpochCode checks the leader epoch a Fetch or ListOffsets request
// names (current, -1 for none) against the partition's (KIP-320):
// FENCED_LEADER_EPOCH if older, UNKNOWN_LEADER_EPOCH if newer, else 0.
func leaderEpochCode(current, epoch int32) int16 {
	switch {
	case current < 0:
	case current < epoch:
		return kerr.FencedLeaderEpoch.Code
	case current > epoch:
		return kerr.UnknownLeaderEpoch.Code
	}
	return 0
}
