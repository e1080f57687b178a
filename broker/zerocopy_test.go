package broker

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/internal/testcert"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// zcSegmentBytes makes segments of a few batches, so that fetches span
// them.
const zcSegmentBytes = 2048

// fillPartitions produces batches of 10 records to partitions 0..n-1 of
// topic until each holds count batches.
func fillPartitions(t *testing.T, addr, topic string, n int32, count int) {
	t.Helper()
	rc := dialRaw(t, addr)
	for i := range count {
		for p := range n {
			if r := rc.produce(topic, p, buildBatch(t, 10, int64(i), nil)); r.ErrorCode != 0 {
				t.Fatalf("produce: %+v", r)
			}
		}
	}
}

// rawFetch sends a fetch and returns its answer's bytes after the
// correlation id.
func (rc *rawClient) rawFetch(req *kmsg.FetchRequest) []byte {
	rc.t.Helper()
	rc.send(req)
	_ = rc.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(rc.r, size[:]); err != nil {
		rc.t.Fatal(err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(rc.r, body); err != nil {
		rc.t.Fatal(err)
	}
	return body[4:]
}

// twoPartitionFetch fetches partition 0 from off0 and partition 1 from
// off1, up to maxBytes.
func twoPartitionFetch(version int16, topic string, off0, off1 int64, maxBytes int32) *kmsg.FetchRequest {
	req := fetchReq(version, topic, 0, off0, 0, 1, maxBytes, maxBytes)
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = 1, off1, maxBytes
	req.Topics[0].Partitions = append(req.Topics[0].Partitions, rp)
	return req
}

// storedBytes reads a partition's batches from the storage directly.
func storedBytes(t *testing.T, s *DiskStorage, topic string, p int32, off int64, maxBytes int) []byte {
	t.Helper()
	l, err := s.OpenPartition(topic, p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Read(off, maxBytes, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A Fetch answered from the segment files (sendfile) is byte for byte the
// answer copied through memory, in the record formats of v11 and of the
// flexible versions, with partitions whose bytes were never checked (older
// segments of an earlier run: copied and checked) beside ones sent from
// their files, and records spanning segments.
func TestFetchZeroCopyMatchesCopy(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, Config{Storage: openDisk(t, dir, DiskOptions{SegmentBytes: zcSegmentBytes})})
	createTopic(t, b, "zc", 2)
	fillPartitions(t, b.Addr(), "zc", 2, 30)
	closeBroker(t, b)
	s := openDisk(t, dir, DiskOptions{SegmentBytes: zcSegmentBytes})
	b = startBroker(t, Config{Storage: s, Faults: new(NodeFaults)})
	fillPartitions(t, b.Addr(), "zc", 2, 5) // a newest segment, checked
	rc := dialRaw(t, b.Addr())
	const maxBytes = 8 << 10
	want0 := storedBytes(t, s, "zc", 0, 0, maxBytes)
	want1 := storedBytes(t, s, "zc", 1, 300, maxBytes)
	if len(want0) <= zcSegmentBytes {
		t.Fatalf("a fetch of %d bytes does not span segments of %d", len(want0), zcSegmentBytes)
	}
	for _, version := range []int16{11, 12} {
		for round := range 2 { // the second finds partition 0 checked
			req := twoPartitionFetch(version, "zc", 0, 300, maxBytes)
			b.faults.copyFetch.Store(false)
			zero := rc.rawFetch(req)
			b.faults.copyFetch.Store(true)
			copied := rc.rawFetch(req)
			b.faults.copyFetch.Store(false)
			if !bytes.Equal(zero, copied) {
				t.Fatalf("v%d round %d: zero-copy answer (%d bytes) differs from the copied one (%d bytes)", version, round, len(zero), len(copied))
			}
			resp := req.ResponseKind().(*kmsg.FetchResponse)
			if resp.IsFlexible() {
				zero = zero[1:] // the response header's tags
			}
			if err := resp.ReadFrom(zero); err != nil {
				t.Fatalf("v%d: %v", version, err)
			}
			ps := resp.Topics[0].Partitions
			if !bytes.Equal(ps[0].RecordBatches, want0) || !bytes.Equal(ps[1].RecordBatches, want1) {
				t.Fatalf("v%d: records of %d and %d bytes, want %d and %d", version, len(ps[0].RecordBatches), len(ps[1].RecordBatches), len(want0), len(want1))
			}
		}
	}
}

// One fetch goes on past the end of a segment: a kgo consumer reading a
// log of many small segments gets every record in order, most of them in
// fetches that span segments.
func TestFetchSpansSegmentsKgo(t *testing.T) {
	s := openDisk(t, t.TempDir(), DiskOptions{SegmentBytes: zcSegmentBytes})
	b := startBroker(t, Config{Storage: s})
	createTopic(t, b, "span", 1)
	fillPartitions(t, b.Addr(), "span", 1, 60)
	l, _ := s.OpenPartition("span", 0)
	if segs := l.(*diskLog).Segments(); segs < 4 {
		t.Fatalf("%d segments", segs)
	}
	rc := dialRaw(t, b.Addr())
	if fp := rc.fetchOne(12, "span", 0, 0, 0, 1, 1<<20, 1<<20); len(batchOffsets(t, fp.RecordBatches)) != 60 {
		t.Fatalf("one fetch of 1 MiB got %d of the 60 batches", len(batchOffsets(t, fp.RecordBatches)))
	}
	ctx := testContext(t)
	cons := newClient(t, b.Addr(), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"span": {0: kgo.NewOffset().AtStart()}}))
	var got []int64
	for len(got) < 600 {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, r.Offset) })
	}
	for i, off := range got {
		if off != int64(i) {
			t.Fatalf("record %d has offset %d", i, off)
		}
	}
}

// Over TLS the records are copied (TLS encrypts them in user space) and
// are the stored bytes, across segments.
func TestFetchOverTLS(t *testing.T) {
	ca := testcert.NewCA(t, "zc")
	s := openDisk(t, t.TempDir(), DiskOptions{SegmentBytes: zcSegmentBytes})
	b := startBroker(t, Config{Storage: s, TLS: ca.ServerConfig(t)})
	createTopic(t, b, "tls", 2)
	nc, err := tls.Dial("tcp", b.Addr(), ca.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	rc := &rawClient{t: t, conn: nc, r: bufio.NewReader(nc), f: kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw"))}
	for i := range 20 {
		for p := range int32(2) {
			if r := rc.produce("tls", p, buildBatch(t, 10, int64(i), nil)); r.ErrorCode != 0 {
				t.Fatalf("produce: %+v", r)
			}
		}
	}
	resp := rc.do(twoPartitionFetch(12, "tls", 0, 55, 1<<20)).(*kmsg.FetchResponse)
	ps := resp.Topics[0].Partitions
	if want := storedBytes(t, s, "tls", 0, 0, 1<<20); !bytes.Equal(ps[0].RecordBatches, want) || len(want) <= zcSegmentBytes {
		t.Fatalf("partition 0: %d bytes, want the %d stored", len(ps[0].RecordBatches), len(want))
	}
	if offs := batchOffsets(t, ps[1].RecordBatches); !slices.Equal(offs[:2], []int64{50, 60}) || len(offs) != 15 {
		t.Fatalf("partition 1 from 55: batches %v", offs)
	}
}
