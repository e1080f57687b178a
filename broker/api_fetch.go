package broker

// Fetch (key 1), v4-v18.
//
// Returns whole stored batches: a fetch from an offset inside a batch gets
// that whole batch, and the client skips the records before its offset.
// MaxBytes and each PartitionMaxBytes bound the answer, except that the first
// batch of the first partition with data is always returned whole so that
// the consumer progresses (KIP-74). A partition with nothing to return
// carries an empty, non-null records field: librdkafka reads null as a
// broken message set. On disk, one partition's answer goes on across
// segment boundaries; on a plain TCP connection its checked bytes go from
// the segment files to the socket with sendfile(2) (see zerocopy.go).
//
// When less than MinBytes is available, the request waits up to MaxWaitMillis
// for appends to the partitions it reads; each append wakes the fetches
// waiting on that partition. Errors (unknown partition, NOT_LEADER_OR_FOLLOWER,
// leader epoch mismatch, OFFSET_OUT_OF_RANGE, CORRUPT_MESSAGE for damaged
// stored data) answer at once. The wait is capped by Config.MaxFetchWait, and
// ends when the client closes its connection (see conn.watchPeer): a client
// that shuts down its sending side is gone too, as Kafka takes it.
//
// Fetch sessions (KIP-227) are not kept: answers carry session id 0, which
// makes clients send full requests, and a request naming a session gets
// FETCH_SESSION_ID_NOT_FOUND. v13+ names topics by id.

import (
	"errors"
	"time"

	"github.com/merlinkafka/merlin/seglog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetchWatch is a partition a waiting fetch listens to, with what the fetch
// saw of it.
type fetchWatch struct {
	p         *partition
	seenNext  int64
	seenEpoch int32
}

func (c *conn) handleFetch(req *kmsg.FetchRequest) (kmsg.Response, error) {
	if req.SessionID != 0 {
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return resp, nil
	}
	wait := time.Duration(max(req.MaxWaitMillis, 0)) * time.Millisecond
	if c.b.maxFetchWait >= 0 {
		wait = min(wait, c.b.maxFetchWait) // Config.MaxFetchWait
	}
	deadline := time.Now().Add(wait)
	var (
		w       *waiter
		watches []fetchWatch
		timer   *time.Timer
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		var resp *kmsg.FetchResponse
		var bytes int
		var urgent bool
		resp, bytes, urgent, watches = c.buildFetch(req, watches[:0])
		remaining := time.Until(deadline)
		if urgent || bytes >= int(req.MinBytes) || remaining <= 0 || len(watches) == 0 {
			return resp, nil
		}
		if w == nil {
			w = newWaiter()
		}
		for _, fw := range watches {
			fw.p.watch(w, fw.seenNext, fw.seenEpoch)
		}
		err := c.flush()
		if err == nil {
			if timer == nil {
				timer = time.NewTimer(remaining)
			} else {
				timer.Reset(remaining)
			}
			if hook := c.b.faults.fetchWaitHook(); hook != nil {
				hook()
			}
			stop := c.watchPeer()
			select {
			case <-w.ch:
			case <-timer.C:
			case <-c.ctx.Done():
				err = c.ctx.Err()
			}
			stop()
		}
		for _, fw := range watches {
			fw.p.unwatch(w)
		}
		if err != nil {
			return nil, err
		}
	}
}

// fetchSpan locates one partition's records: in c.scratch, or in slices
// of segment files that the connection sends as they are (zero copy).
type fetchSpan struct {
	topic, partition int
	start, end       int
	slices           []seglog.Slice
}

// sliceReader is a PartitionLog (the disk storage's) that can hand out its
// batches as slices of segment files instead of copying them.
type sliceReader interface {
	readSlices(offset int64, maxBytes int, sls []seglog.Slice) ([]seglog.Slice, int, error)
}

var _ sliceReader = (*diskLog)(nil)

// buildFetch reads what is available now. It returns the answer, how many
// record bytes it holds, whether an error makes it due at once, and the
// partitions to watch if the caller waits.
func (c *conn) buildFetch(req *kmsg.FetchRequest, watches []fetchWatch) (*kmsg.FetchResponse, int, bool, []fetchWatch) {
	cl := c.b.cluster
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	resp.Topics = make([]kmsg.FetchResponseTopic, 0, len(req.Topics))
	if cap(c.scratch) > maxPooled {
		c.scratch = nil
	}
	if c.scratch == nil {
		c.scratch = getBuf(minPooled)
	}
	c.scratch = c.scratch[:0]
	c.dropPending() // an earlier build of this answer, before a wait
	var spans []fetchSpan
	budget := int(req.MaxBytes)
	urgent := false
	byID := req.Version >= 13
	for ti := range req.Topics {
		rt := &req.Topics[ti]
		ft := kmsg.NewFetchResponseTopic()
		ft.Topic, ft.TopicID = rt.Topic, rt.TopicID
		var t *topic
		unknown := kerr.UnknownTopicOrPartition.Code
		if byID {
			t = cl.topicByID(rt.TopicID)
			unknown = kerr.UnknownTopicID.Code
		} else {
			t = cl.topic(rt.Topic)
		}
		ft.Partitions = make([]kmsg.FetchResponseTopicPartition, 0, len(rt.Partitions))
		for pi := range rt.Partitions {
			rp := &rt.Partitions[pi]
			fp := kmsg.NewFetchResponseTopicPartition()
			fp.Partition = rp.Partition
			fp.HighWatermark = -1
			fp.RecordBatches = []byte{}
			code := c.fetchPartition(t, rp, &fp, &budget, &spans, &watches, len(resp.Topics), len(ft.Partitions))
			if code == -2 {
				code = unknown
			}
			if code != 0 {
				fp.ErrorCode = code
				urgent = true
			}
			ft.Partitions = append(ft.Partitions, fp)
		}
		resp.Topics = append(resp.Topics, ft)
	}
	bytes := 0
	for _, s := range spans {
		fp := &resp.Topics[s.topic].Partitions[s.partition]
		if s.slices != nil {
			fp.RecordBatches = c.pend(s.slices, s.end-s.start)
		} else {
			fp.RecordBatches = c.scratch[s.start:s.end:s.end]
		}
		bytes += s.end - s.start
	}
	return resp, bytes, urgent, watches
}

// fetchPartition fills fp for one requested partition, appending its records
// to c.scratch. It returns the error code, -2 for an unknown topic or
// partition (the caller picks the code for how the topic was named).
func (c *conn) fetchPartition(t *topic, rp *kmsg.FetchRequestTopicPartition, fp *kmsg.FetchResponseTopicPartition,
	budget *int, spans *[]fetchSpan, watches *[]fetchWatch, ti, pi int) int16 {
	cl := c.b.cluster
	p := cl.partitionOf(t, rp.Partition)
	if p == nil {
		return -2
	}
	if code, ok := cl.faults.take(APIFetch, t.name, rp.Partition); ok {
		return code
	}
	leader, epoch := p.leader(), p.epoch()
	if leader != c.b.node {
		fp.CurrentLeader.LeaderID, fp.CurrentLeader.LeaderEpoch = leader, epoch
		return kerr.NotLeaderForPartition.Code
	}
	if code := leaderEpochCode(rp.CurrentLeaderEpoch, epoch); code != 0 {
		return code
	}
	start, next := p.log.StartOffset(), p.log.NextOffset()
	if rp.FetchOffset < start || rp.FetchOffset > next {
		// As Kafka: an error partition reports no offsets.
		fp.HighWatermark, fp.LastStableOffset, fp.LogStartOffset = -1, -1, -1
		return kerr.OffsetOutOfRange.Code
	}
	fp.HighWatermark, fp.LastStableOffset, fp.LogStartOffset = next, next, start
	*watches = append(*watches, fetchWatch{p: p, seenNext: next, seenEpoch: epoch})
	if rp.FetchOffset == next {
		return 0
	}
	first := len(*spans) == 0
	if !first && *budget <= 0 {
		return 0
	}
	limit := max(min(int(rp.PartitionMaxBytes), *budget), 0)
	before := len(c.scratch)
	var sls []seglog.Slice
	var n int
	var err error
	if sr, ok := p.log.(sliceReader); ok && c.zeroCopy() {
		sls, n, err = sr.readSlices(rp.FetchOffset, limit, nil)
		if err == nil && !allChecked(sls) {
			// Bytes never checked yet are checked as they are copied.
			c.scratch, err = appendSlices(sls, c.scratch)
			sls, n = nil, len(c.scratch)-before
		}
	} else {
		c.scratch, err = p.log.Read(rp.FetchOffset, limit, c.scratch)
		n = len(c.scratch) - before
	}
	if err != nil {
		c.scratch = c.scratch[:before]
		if errors.Is(err, ErrOffsetOutOfRange) {
			return kerr.OffsetOutOfRange.Code
		}
		if errors.Is(err, ErrCorruptData) {
			c.b.logs.corrupt.Log("topic", t.name, "partition", rp.Partition, "offset", rp.FetchOffset, "err", err,
				"hint", "merlin-broker verify names the damaged range and the offset after it, where consumers can resume")
			return kerr.CorruptMessage.Code
		}
		c.b.logs.storage.Log("topic", t.name, "partition", rp.Partition, "offset", rp.FetchOffset, "err", err)
		return kerr.KafkaStorageError.Code
	}
	// Batches appended since next was read may be in the answer: report a
	// high watermark that covers them (it only grows).
	hw := p.log.NextOffset()
	fp.HighWatermark, fp.LastStableOffset = hw, hw
	if n > limit && !first {
		// Only the first partition with data may exceed the limits.
		c.scratch = c.scratch[:before]
		closeSlices(sls)
		return 0
	}
	if n > 0 {
		*budget -= n
		*spans = append(*spans, fetchSpan{topic: ti, partition: pi, start: before, end: before + n, slices: sls})
	}
	return 0
}

func allChecked(sls []seglog.Slice) bool {
	for _, sl := range sls {
		if !sl.Checked() {
			return false
		}
	}
	return true
}

// topicByID looks a topic up by id.
func (c *Cluster) topicByID(id [16]byte) *topic {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.topicIDs[id]
}
