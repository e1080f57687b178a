package interop

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/internal/kbatch"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// W1 of docs/BENCHMARKS.md: 20 concurrent producers, each call 100 messages
// of 100 bytes, to 1 topic and to 100 topics; then everything is read back.
// The figures it is compared with are in docs/BENCHMARKS.md.
//
// A call is one Produce request holding one record batch of 100 records
// (acks=all), sent by a producer on its own connection, which waits for the
// answer before its next call: a closed loop, like the reference run's
// workers. b.N is the number of calls, spread over the producers. The topics
// have one partition each; with 100 topics each producer cycles through them.
//
// The read phase fetches every partition from offset 0 to its end, one
// connection per partition and up to 20 at a time, with Fetch requests of
// up to 4 MiB per partition, counting records from the batch headers (the
// consumer's decoding is not the broker's work).
//
// Systems:
//
//	merlin-disk    the merlin-broker binary, on disk in a temporary
//	               directory, with its defaults (--fsync interval=1s,
//	               64 MiB segments)
//	merlin-fsync   the same with --fsync always: every call is fsynced
//	               before its answer
//	merlin-memory  the same binary with --memory, for the cost of the disk
//	kfake-disk     franz-go's kfake, on disk (DataDir), in the benchmark's
//	               own process (it is a library), as the peer docs/BENCHMARKS.md
//	               names
//
// Metrics: write-msgs/s and read-msgs/s (ns/op is the write time per call).
// Run with a fixed call count for comparable runs, e.g.
//
//	go test ./interop -run '^$' -bench W1 -benchtime 20000x -count 3
func BenchmarkW1(b *testing.B) {
	for _, sys := range []string{"merlin-disk", "merlin-fsync", "merlin-memory", "kfake-disk"} {
		for _, topics := range []int{1, 100} {
			b.Run(fmt.Sprintf("%s/topics=%d", sys, topics), func(b *testing.B) {
				benchW1(b, sys, topics)
			})
		}
	}
}

const (
	w1Producers = 20
	w1Batch     = 100
	w1Size      = 100
	w1Readers   = 20
)

func benchW1(b *testing.B, sys string, topics int) {
	var addr string
	switch sys {
	case "merlin-disk":
		addr = startBroker(b, b.TempDir(), "--log-level", "warn").addr
	case "merlin-fsync":
		addr = startBroker(b, b.TempDir(), "--log-level", "warn", "--fsync", "always").addr
	case "merlin-memory":
		addr = startBroker(b, b.TempDir(), "--log-level", "warn", "--memory").addr
	case "kfake-disk":
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(b.TempDir()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(c.Close)
		addr = c.ListenAddrs()[0]
	}
	names := make([]string, topics)
	for i := range names {
		names[i] = fmt.Sprintf("w1-%03d", i)
		createTopic(b, b.Context(), addr, names[i], 1)
	}

	// Every producer's batch: 100 records of 100 bytes.
	var bd kbatch.Builder
	value := make([]byte, w1Size)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	now := time.Now().UnixMilli()
	for range w1Batch {
		bd.Add(now, nil, value)
	}
	batch, err := bd.AppendBatch(nil)
	if err != nil {
		b.Fatal(err)
	}

	conns := make([]*rawConn, w1Producers)
	for i := range conns {
		conns[i] = dialRawConn(b, addr)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, w1Producers)
	b.ResetTimer()
	start := time.Now()
	for p := range w1Producers {
		wg.Add(1)
		go func(c *rawConn, p int) {
			defer wg.Done()
			req := kmsg.NewPtrProduceRequest()
			req.Version, req.Acks, req.TimeoutMillis = 9, -1, 30000
			rt := kmsg.NewProduceRequestTopic()
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Records = batch
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			for k := p; next.Add(1) <= int64(b.N); k++ {
				req.Topics[0].Topic = names[k%topics]
				resp, err := c.do(req)
				if err == nil {
					err = kerr.ErrorForCode(resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}(conns[p], p)
	}
	wg.Wait()
	write := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	for _, c := range conns {
		c.close()
	}

	// Read everything back.
	work := make(chan string, topics)
	for _, name := range names {
		work <- name
	}
	close(work)
	var records atomic.Int64
	rerrs := make(chan error, w1Readers)
	start = time.Now()
	for range min(w1Readers, topics) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dialRawConn(b, addr)
			defer c.close()
			for name := range work {
				n, err := c.readPartition(name)
				records.Add(n)
				if err != nil {
					rerrs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	read := time.Since(start)
	close(rerrs)
	for err := range rerrs {
		b.Fatal(err)
	}
	if want := int64(b.N) * w1Batch; records.Load() != want {
		b.Fatalf("read %d records, want %d", records.Load(), want)
	}
	b.ReportMetric(float64(b.N*w1Batch)/write.Seconds(), "write-msgs/s")
	b.ReportMetric(float64(records.Load())/read.Seconds(), "read-msgs/s")
}

// rawConn sends requests and reads their answers on one connection, one at
// a time.
type rawConn struct {
	tb   testing.TB
	conn net.Conn
	r    *bufio.Reader
	f    *kmsg.RequestFormatter
	corr int32
	out  []byte
	in   []byte
}

func dialRawConn(tb testing.TB, addr string) *rawConn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	return &rawConn{tb: tb, conn: c, r: bufio.NewReaderSize(c, 1<<20), f: kmsg.NewRequestFormatter(kmsg.FormatterClientID("w1"))}
}

func (c *rawConn) close() { _ = c.conn.Close() }

// do sends req and decodes its answer.
func (c *rawConn) do(req kmsg.Request) (kmsg.Response, error) {
	c.corr++
	c.out = c.f.AppendRequest(c.out[:0], req, c.corr)
	if _, err := c.conn.Write(c.out); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(c.r, size[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(size[:]))
	if cap(c.in) < n {
		c.in = make([]byte, n)
	}
	body := c.in[:n]
	if _, err := io.ReadFull(c.r, body); err != nil {
		return nil, err
	}
	if got := int32(binary.BigEndian.Uint32(body)); got != c.corr {
		return nil, fmt.Errorf("correlation id %d, want %d", got, c.corr)
	}
	body = body[4:]
	resp := req.ResponseKind()
	if resp.IsFlexible() {
		// The response header's tagged fields: none are sent but the count.
		if len(body) == 0 || body[0] != 0 {
			return nil, fmt.Errorf("unexpected response header tags")
		}
		body = body[1:]
	}
	return resp, resp.ReadFrom(body)
}

// readPartition fetches partition 0 of topic from offset 0 to its end and
// returns the number of records read.
func (c *rawConn) readPartition(topic string) (int64, error) {
	req := kmsg.NewPtrFetchRequest()
	req.Version = 11 // names topics by name; v13+ by id
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 0, 1, 4<<20
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = 4<<20, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	var records int64
	for {
		resp, err := c.do(req)
		if err != nil {
			return records, err
		}
		fp := resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]
		if err := kerr.ErrorForCode(fp.ErrorCode); err != nil {
			return records, err
		}
		off := req.Topics[0].Partitions[0].FetchOffset
		if off >= fp.HighWatermark {
			return records, nil
		}
		for rest := fp.RecordBatches; len(rest) >= kbatch.HeaderSize; {
			h, err := kbatch.ParseHeader(rest)
			if err != nil || h.Size() > len(rest) {
				break // a partial batch at the end of the answer
			}
			if h.LastOffset() >= off {
				records += int64(h.LastOffset() + 1 - max(off, h.BaseOffset))
				off = h.LastOffset() + 1
			}
			rest = rest[h.Size():]
		}
		if off == req.Topics[0].Partitions[0].FetchOffset {
			return records, fmt.Errorf("%s: no progress at offset %d (high watermark %d)", topic, off, fp.HighWatermark)
		}
		req.Topics[0].Partitions[0].FetchOffset = off
	}
}
