package broker

import (
	"bytes"
	"testing"

	"github.com/merlinkafka/merlin/internal/kbatch"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetchOne sends a fetch of one partition and returns its answer.
func (rc *rawClient) fetchOne(version int16, topic string, partition int32, offset int64, maxWait, minBytes, maxBytes, partMax int32) kmsg.FetchResponseTopicPartition {
	rc.t.Helper()
	resp := rc.do(fetchReq(version, topic, partition, offset, maxWait, minBytes, maxBytes, partMax)).(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		rc.t.Fatalf("fetch: %+v", resp)
	}
	return resp.Topics[0].Partitions[0]
}

// batchOffsets lists the base offsets of the batches in b.
func batchOffsets(t *testing.T, b []byte) []int64 {
	t.Helper()
	var offs []int64
	for len(b) > 0 {
		batch, rest, h, err := kbatch.Next(b)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kbatch.Records(batch); err != nil {
			t.Fatal(err)
		}
		offs = append(offs, h.BaseOffset)
		b = rest
	}
	return offs
}

// startWaitingBroker starts a broker that signals on waiting each time a
// fetch starts to wait for data.
func startWaitingBroker(t *testing.T) (*Broker, <-chan struct{}) {
	t.Helper()
	waiting := make(chan struct{}, 16)
	b, err := New(Config{Logger: testLogger(t), Faults: &NodeFaults{onFetchWait: func() { waiting <- struct{}{} }}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b, waiting
}

// A fetch waiting for data is woken by the produce that brings it, without
// waiting out MaxWaitMillis (ten minutes here: the test would time out).
func TestFetchLongPollWokenByProduce(t *testing.T) {
	b, waiting := startWaitingBroker(t)
	createTopic(t, b, "poll", 1)

	for _, v := range []int16{4, 11, 12, 18} {
		_, next, _ := b.Cluster().Offsets("poll", 0)
		consumer := dialRaw(t, b.Addr())
		req := fetchReq(v, "poll", 0, next, 600_000, 1, 1<<20, 1<<20)
		if v >= 13 {
			req.Topics[0].TopicID = b.Cluster().Topics()[0].ID
		}
		corr := consumer.send(req)
		<-waiting
		producer := dialRaw(t, b.Addr())
		if p := producer.produce("poll", 0, buildBatch(t, 3, 1, nil)); p.ErrorCode != 0 {
			t.Fatalf("produce: %+v", p)
		}
		resp, err := consumer.read(req, corr)
		if err != nil {
			t.Fatal(err)
		}
		p := resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]
		if p.ErrorCode != 0 || p.HighWatermark != next+3 {
			t.Fatalf("v%d: %+v", v, p)
		}
		if offs := batchOffsets(t, p.RecordBatches); len(offs) != 1 || offs[0] != next {
			t.Fatalf("v%d: batches at %v, want [%d]", v, offs, next)
		}
	}
}

// MinBytes keeps a fetch waiting through appends too small to satisfy it.
func TestFetchMinBytes(t *testing.T) {
	b, waiting := startWaitingBroker(t)
	createTopic(t, b, "min", 1)
	batch := buildBatch(t, 5, 1, nil)

	consumer := dialRaw(t, b.Addr())
	req := fetchReq(11, "min", 0, 0, 600_000, int32(2*len(batch)), 1<<20, 1<<20)
	corr := consumer.send(req)
	producer := dialRaw(t, b.Addr())
	<-waiting
	producer.produce("min", 0, buildBatch(t, 5, 1, nil))
	<-waiting // woken, not enough, waiting again
	producer.produce("min", 0, buildBatch(t, 5, 1, nil))
	resp, err := consumer.read(req, corr)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if offs := batchOffsets(t, p.RecordBatches); len(offs) != 2 {
		t.Fatalf("batches at %v, want two", offs)
	}
}

func TestFetchMaxBytes(t *testing.T) {
	b := startBroker(t, Config{})
	createTopic(t, b, "max", 2)
	rc := dialRaw(t, b.Addr())
	var size int
	for range 5 {
		batch := buildBatch(t, 20, 1, nil)
		size = len(batch)
		rc.produce("max", 0, batch)
		rc.produce("max", 1, batch)
	}
	count := func(p kmsg.FetchResponseTopicPartition) int { return len(batchOffsets(t, p.RecordBatches)) }

	if n := count(rc.fetchOne(11, "max", 0, 0, 0, 1, int32(2*size+size/2), 1<<20)); n != 2 {
		t.Errorf("MaxBytes 2.5 batches: %d batches, want 2", n)
	}
	if n := count(rc.fetchOne(11, "max", 0, 0, 0, 1, 1<<20, int32(3*size))); n != 3 {
		t.Errorf("PartitionMaxBytes 3 batches: %d batches, want 3", n)
	}
	// The first batch is returned even when it exceeds both limits (KIP-74).
	if n := count(rc.fetchOne(11, "max", 0, 0, 0, 1, 1, 1)); n != 1 {
		t.Errorf("limits below one batch: %d batches, want 1", n)
	}

	// Two partitions: the first takes the budget, the second gets nothing
	// because its first batch would exceed what is left.
	req := fetchReq(11, "max", 0, 0, 0, 1, int32(size+size/2), 1<<20)
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.PartitionMaxBytes = 1, 1<<20
	req.Topics[0].Partitions = append(req.Topics[0].Partitions, rp)
	resp := rc.do(req).(*kmsg.FetchResponse)
	p0, p1 := resp.Topics[0].Partitions[0], resp.Topics[0].Partitions[1]
	if count(p0) != 1 || count(p1) != 0 || p1.RecordBatches == nil {
		t.Errorf("budget across partitions: %d and %d batches (records nil: %v), want 1 and 0 (non-nil)", count(p0), count(p1), p1.RecordBatches == nil)
	}
}

// A fetch from inside a batch returns the whole batch.
func TestFetchInsideBatch(t *testing.T) {
	b := startBroker(t, Config{})
	createTopic(t, b, "inside", 1)
	rc := dialRaw(t, b.Addr())
	first := buildBatch(t, 10, 1, nil)
	rc.produce("inside", 0, first)
	rc.produce("inside", 0, buildBatch(t, 10, 1, nil))
	for _, v := range []int16{4, 12} {
		p := rc.fetchOne(v, "inside", 0, 5, 0, 1, 1<<20, int32(len(first)))
		if offs := batchOffsets(t, p.RecordBatches); len(offs) != 1 || offs[0] != 0 {
			t.Fatalf("v%d: batches at %v, want [0]", v, offs)
		}
		// Same bytes as produced, except the patched leader epoch.
		got := bytes.Clone(p.RecordBatches)
		kbatch.SetPartitionLeaderEpoch(got, -1)
		if !bytes.Equal(got, first) {
			t.Fatalf("v%d: stored batch differs from the produced one", v)
		}
		recs, _ := kbatch.Records(p.RecordBatches)
		if len(recs) != 10 || recs[5].Offset != 5 {
			t.Fatalf("v%d: records %+v", v, recs)
		}
	}
}

func TestFetchOffsetOutOfRange(t *testing.T) {
	b := startBroker(t, Config{})
	createTopic(t, b, "oor", 1)
	rc := dialRaw(t, b.Addr())
	rc.produce("oor", 0, buildBatch(t, 10, 1, nil))
	for _, off := range []int64{11, 1000, -1} {
		if p := rc.fetchOne(11, "oor", 0, off, 600_000, 1, 1<<20, 1<<20); p.ErrorCode != kerr.OffsetOutOfRange.Code {
			t.Errorf("offset %d: error %d, want OFFSET_OUT_OF_RANGE", off, p.ErrorCode)
		}
	}
	// At the end: nothing yet, no error, and an empty non-null records
	// field (librdkafka reads null as a broken message set).
	p := rc.fetchOne(11, "oor", 0, 10, 0, 1, 1<<20, 1<<20)
	if p.ErrorCode != 0 || p.RecordBatches == nil || len(p.RecordBatches) != 0 || p.HighWatermark != 10 || p.LogStartOffset != 0 || p.LastStableOffset != 10 {
		t.Errorf("fetch at the end: %+v", p)
	}
	if p := rc.fetchOne(11, "oor", 5, 0, 0, 1, 1<<20, 1<<20); p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("unknown partition: error %d", p.ErrorCode)
	}
	if p := rc.fetchOne(11, "nope", 0, 0, 0, 1, 1<<20, 1<<20); p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("unknown topic: error %d", p.ErrorCode)
	}
	req := fetchReq(13, "", 0, 0, 0, 1, 1<<20, 1<<20)
	req.Topics[0].TopicID = [16]byte{9}
	if r := rc.do(req).(*kmsg.FetchResponse); r.Topics[0].Partitions[0].ErrorCode != kerr.UnknownTopicID.Code {
		t.Errorf("unknown topic id: error %d", r.Topics[0].Partitions[0].ErrorCode)
	}
	// Fetch sessions are not kept.
	req = fetchReq(11, "oor", 0, 0, 0, 1, 1<<20, 1<<20)
	req.SessionID, req.SessionEpoch = 42, 1
	if r := rc.do(req).(*kmsg.FetchResponse); r.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Errorf("session: error %d", r.ErrorCode)
	}
}
