package broker

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/merlinkafka/merlin/internal/testkit"
	"github.com/twmb/franz-go/pkg/kgo"
)

// roundTrip produces n records with kgo and consumes them back, checking
// keys, values, headers and per-partition order.
func roundTrip(t *testing.T, addr, topic string, n int, produceOpts ...kgo.Opt) {
	t.Helper()
	ctx := testContext(t)
	opts := append([]kgo.Opt{kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation()}, produceOpts...)
	prod := newClient(t, addr, opts...)
	for i := range n {
		r := &kgo.Record{
			Key:     fmt.Appendf(nil, "key-%d", i%7),
			Value:   fmt.Appendf(nil, "value-%d-%s", i, bytes.Repeat([]byte{'x'}, i%50)),
			Headers: []kgo.RecordHeader{{Key: "i", Value: fmt.Appendf(nil, "%d", i)}},
		}
		prod.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	cons := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	lastByPartition := map[int32]int{}
	seen := map[int]bool{}
	testkit.Poll(t, ctx, cons, n, func(r *kgo.Record) bool {
		var i int
		if len(r.Headers) != 1 || r.Headers[0].Key != "i" {
			t.Fatalf("headers %v", r.Headers)
		}
		if _, err := fmt.Sscan(string(r.Headers[0].Value), &i); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("key-%d", i%7); string(r.Key) != want {
			t.Fatalf("record %d: key %q, want %q", i, r.Key, want)
		}
		if want := fmt.Sprintf("value-%d-%s", i, bytes.Repeat([]byte{'x'}, i%50)); string(r.Value) != want {
			t.Fatalf("record %d: value %q, want %q", i, r.Value, want)
		}
		if last, ok := lastByPartition[r.Partition]; ok && i <= last {
			t.Fatalf("partition %d: record %d after %d", r.Partition, i, last)
		}
		lastByPartition[r.Partition] = i
		if seen[i] {
			t.Fatalf("record %d consumed twice", i)
		}
		seen[i] = true
		return true
	})
}

func TestKgoRoundTrip(t *testing.T) {
	b := startBroker(t, Config{DefaultPartitions: 3})
	roundTrip(t, b.Addr(), "plain", 2000)
}

func TestKgoCompression(t *testing.T) {
	b := startBroker(t, Config{DefaultPartitions: 2})
	for _, codec := range []struct {
		name  string
		codec kgo.CompressionCodec
	}{
		{"gzip", kgo.GzipCompression()},
		{"snappy", kgo.SnappyCompression()},
		{"lz4", kgo.Lz4Compression()},
		{"zstd", kgo.ZstdCompression()},
	} {
		t.Run(codec.name, func(t *testing.T) {
			roundTrip(t, b.Addr(), "compressed-"+codec.name, 1000, kgo.ProducerBatchCompression(codec.codec))
		})
	}
}

func TestKgoAcksZero(t *testing.T) {
	b := startBroker(t, Config{})
	createTopic(t, b, "acks0", 1)
	roundTrip(t, b.Addr(), "acks0", 1000, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
}
