package broker

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/internal/kbatch"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkIngestKgo measures ingest through the whole stack: a franz-go
// client (its defaults: idempotent, acks=all, batches up to 1 MB) producing
// 100-byte records to an in-memory broker over loopback. The client's
// encoding and the broker share the machine, so the figure is end to end.
func BenchmarkIngestKgo(b *testing.B) {
	br, err := New(Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	if err := br.Start(); err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	if err := br.Cluster().CreateTopic("bench", 1); err != nil {
		b.Fatal(err)
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(br.Addr()),
		kgo.DefaultProduceTopic("bench"),
		kgo.MaxBufferedRecords(1<<20),
	)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	value := bytes.Repeat([]byte{'v'}, 100)
	// Warm up: metadata, producer id, connections.
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
		b.Fatal(err)
	}

	failed := make(chan error, 1)
	done := func(_ *kgo.Record, err error) {
		if err != nil {
			select {
			case failed <- err:
			default:
			}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		cl.Produce(ctx, &kgo.Record{Value: value}, done)
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	select {
	case err := <-failed:
		b.Fatal(err)
	default:
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(b.N*len(value))/elapsed.Seconds()/1e6, "MB/s")
}

// BenchmarkProduceHandler measures the broker alone: one produce request of
// a 1000-record batch of 100-byte values (about 110 KB), decoded, checked
// (CRC32C), copied into storage and answered, without a socket. The storage
// copies each batch into one reused buffer, so that b.N is not bounded by
// memory.
func BenchmarkProduceHandler(b *testing.B) {
	br, err := New(Config{Logger: slog.New(slog.DiscardHandler), Storage: &copyStorage{}})
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	if err := br.Cluster().CreateTopic("bench", 1); err != nil {
		b.Fatal(err)
	}
	batch := benchBatch(b, 1000, 100)
	frame := produceFrame(b, batch)
	c := newConn(br, nil)
	b.ReportAllocs()
	b.SetBytes(int64(len(batch)))
	b.ResetTimer()
	for range b.N {
		if err := c.handle(frame); err != nil {
			b.Fatal(err)
		}
		c.out = c.out[:0]
	}
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "msgs/s")
}

// produceFrame is a Produce v9 request frame body (without its length).
func produceFrame(b *testing.B, batch []byte) []byte {
	req := produceReq(9, -1, "bench", 0, batch)
	var buf []byte
	buf = append(buf, header(0, 9, 1)...)
	buf = append(buf, 0) // header tags
	return req.AppendTo(buf)
}

// copyStorage is a Storage whose partitions copy each batch over the
// previous one: the cost of a store, without the memory.
type copyStorage struct{ keepStorage }

func (s *copyStorage) OpenPartition(string, int32) (PartitionLog, error) { return &copyLog{}, nil }
func (s *copyStorage) SaveTopics([]TopicSpec) error                      { return nil }
func (s *copyStorage) LoadTopics() ([]TopicSpec, error)                  { return nil, nil }

type copyLog struct {
	buf  []byte
	next int64
}

func (l *copyLog) Append(batch []byte) (int64, error) {
	l.buf = append(l.buf[:0], batch...)
	h, err := kbatch.ParseHeader(l.buf)
	if err != nil {
		return 0, err
	}
	base := l.next
	kbatch.SetBaseOffset(l.buf, base)
	l.next += int64(h.LastOffsetDelta) + 1
	return base, nil
}
func (l *copyLog) Read(int64, int, []byte) ([]byte, error) { return nil, nil }
func (l *copyLog) StartOffset() int64                      { return 0 }
func (l *copyLog) NextOffset() int64                       { return l.next }
func (l *copyLog) OffsetForTime(int64) (int64, bool)       { return 0, false }
func (l *copyLog) Close() error                            { return nil }

// benchBatch builds a batch of n records of valueSize bytes, without keys.
func benchBatch(b *testing.B, n, valueSize int) []byte {
	var bd kbatch.Builder
	value := bytes.Repeat([]byte{'v'}, valueSize)
	for range n {
		bd.Add(1, nil, value)
	}
	batch, err := bd.AppendBatch(nil)
	if err != nil {
		b.Fatal(err)
	}
	return batch
}
