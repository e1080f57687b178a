package broker

import (
	"bufio"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"strconv"
	"testing"

	"github.com/merlinkafka/merlin/internal/kbatch"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetchBenchBytes is the log a fetch benchmark reads over and over, in
// batches of about 64 KB, in segments of 16 MiB (so that fetches cross
// segment boundaries too). It stays in the page cache.
const (
	fetchBenchBytes   = 64 << 20
	fetchBenchSegment = 16 << 20
)

// BenchmarkFetchThroughput measures the bytes a reader that does not decode
// records gets from an on-disk broker over loopback TCP: fetch requests
// (v12, one partition, 1 MiB and 8 MiB a partition) written and their
// answers read on a plain connection, parsing only the batch headers, to
// find the next offset. "sendfile" is the broker's zero-copy path, "copy"
// the path of TLS connections and the memory storage. Compare the figure
// with BenchmarkLoopbackTCP, measured the same way.
func BenchmarkFetchThroughput(b *testing.B) {
	s, err := NewDiskStorage(b.TempDir(), DiskOptions{SegmentBytes: fetchBenchSegment, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	br := startBroker(b, Config{Storage: s, Logger: slog.New(slog.DiscardHandler), Faults: new(NodeFaults)})
	if err := br.Cluster().CreateTopic("fetch", 1); err != nil {
		b.Fatal(err)
	}
	l, err := s.OpenPartition("fetch", 0)
	if err != nil {
		b.Fatal(err)
	}
	batch := benchBatch(b, 100, 640)
	for size := 0; size < fetchBenchBytes; size += len(batch) {
		if _, err := l.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
	end := l.NextOffset()
	for _, mode := range []string{"sendfile", "copy"} {
		for _, part := range []int32{1 << 20, 8 << 20} {
			b.Run(mode+"/partition="+byteSize(int(part)), func(b *testing.B) {
				br.faults.copyFetch.Store(mode == "copy")
				benchFetch(b, br.Addr(), end, part)
			})
		}
	}
}

func byteSize(n int) string {
	if n >= 1<<20 {
		return strconv.Itoa(n>>20) + "MiB"
	}
	return strconv.Itoa(n>>10) + "KiB"
}

// benchFetch reads the partition from start to end over and over, one
// fetch an op.
func benchFetch(b *testing.B, addr string, end int64, partMax int32) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	r := bufio.NewReaderSize(nc, 64<<10)
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("bench"))
	var out, body []byte
	var offset, total int64
	b.ResetTimer()
	for i := range b.N {
		req := fetchReq(12, "fetch", 0, offset, 0, 1, 64<<20, partMax)
		out = f.AppendRequest(out[:0], req, int32(i))
		if _, err := nc.Write(out); err != nil {
			b.Fatal(err)
		}
		var size [4]byte
		if _, err := io.ReadFull(r, size[:]); err != nil {
			b.Fatal(err)
		}
		n := int(binary.BigEndian.Uint32(size[:]))
		if cap(body) < n {
			body = make([]byte, n)
		}
		body = body[:n]
		if _, err := io.ReadFull(r, body); err != nil {
			b.Fatal(err)
		}
		total += int64(4 + n)
		next, err := nextFetchOffset(body)
		if err != nil {
			b.Fatal(err)
		}
		if offset = next; offset >= end {
			offset = 0
		}
	}
	b.StopTimer()
	b.SetBytes(total / int64(b.N))
	b.ReportMetric(float64(total)/b.Elapsed().Seconds()/1e9, "GB/s")
}

// nextFetchOffset finds the offset after the last batch of a one-partition
// fetch answer (v12: correlation id, header tags, body) without decoding
// records: it decodes the answer's fields, which alias body, and walks the
// batch headers.
func nextFetchOffset(body []byte) (int64, error) {
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = 12
	if err := resp.UnsafeReadFrom(body[5:]); err != nil {
		return 0, err
	}
	fp := resp.Topics[0].Partitions[0]
	if fp.ErrorCode != 0 {
		return 0, kerr.ErrorForCode(fp.ErrorCode)
	}
	next := int64(-1)
	for rest := fp.RecordBatches; len(rest) >= kbatch.HeaderSize; {
		h, err := kbatch.ParseHeader(rest)
		if err != nil || h.Size() > len(rest) {
			break
		}
		next, rest = h.LastOffset()+1, rest[h.Size():]
	}
	if next < 0 {
		return 0, io.ErrUnexpectedEOF
	}
	return next, nil
}

// BenchmarkLoopbackTCP is the baseline of BenchmarkFetchThroughput: big
// buffers written over a loopback TCP connection and read as it reads
// answers (through a 64 KiB bufio.Reader, io.ReadFull into one buffer).
func BenchmarkLoopbackTCP(b *testing.B) {
	for _, size := range []int{1 << 20, 8 << 20} {
		b.Run("write="+byteSize(size), func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				buf := make([]byte, size)
				for {
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			}()
			nc, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			r := bufio.NewReaderSize(nc, 64<<10)
			buf := make([]byte, size)
			b.SetBytes(int64(size))
			b.ResetTimer()
			for range b.N {
				if _, err := io.ReadFull(r, buf); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(size)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
		})
	}
}
