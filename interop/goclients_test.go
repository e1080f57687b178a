package interop

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/merlinkafka/merlin/internal/testkit"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Record i of a round trip: key, value, and two headers (one empty).
func testKey(i int) []byte   { return fmt.Appendf(nil, "key-%d", i%97) }
func testValue(i int) []byte { return fmt.Appendf(nil, "value-%06d-%s", i, make([]byte, i%64)) }

// rec is a consumed record, whatever the client.
type rec struct {
	partition int32
	offset    int64
	key       []byte
	value     []byte
	headers   [][2]string
}

// checkRecords checks that recs are records 0..n-1 of a round trip, each
// once, with their keys and headers, every partition at offsets 0, 1, ...
// in order of production (per key, since one producer sent them in order).
func checkRecords(t *testing.T, recs []rec, n int) {
	t.Helper()
	if len(recs) != n {
		t.Fatalf("%d records, want %d", len(recs), n)
	}
	seen := make([]bool, n)
	next := map[int32]int64{}
	last := map[int32]int{}
	for _, r := range recs {
		var i int
		if _, err := fmt.Sscanf(string(r.value), "value-%06d-", &i); err != nil || i < 0 || i >= n || string(r.value) != string(testValue(i)) {
			t.Fatalf("%d/%d: value %q was never sent", r.partition, r.offset, r.value)
		}
		if seen[i] {
			t.Fatalf("record %d twice", i)
		}
		seen[i] = true
		if string(r.key) != string(testKey(i)) {
			t.Fatalf("record %d: key %q, want %q", i, r.key, testKey(i))
		}
		if want := [][2]string{{"i", strconv.Itoa(i)}, {"empty", ""}}; !slices.Equal(r.headers, want) {
			t.Fatalf("record %d: headers %q, want %q", i, r.headers, want)
		}
		if r.offset != next[r.partition] {
			t.Fatalf("partition %d: offset %d, want %d", r.partition, r.offset, next[r.partition])
		}
		next[r.partition]++
		if l, ok := last[r.partition]; ok && i < l {
			t.Fatalf("partition %d: record %d after %d", r.partition, i, l)
		}
		last[r.partition] = i
	}
}

// kgoClient returns a franz-go client for addr, closed when the test ends.
func kgoClient(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return testkit.Kgo(t, []string{addr}, opts...)
}

// createTopic creates a topic with CreateTopics.
func createTopic(t testing.TB, ctx context.Context, addr, topic string, partitions int32) {
	t.Helper()
	cl := kgoClient(t, addr)
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, 1
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10000
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
	cl.Close()
}

// listOffsets returns a partition's offset at ts (-2 earliest, -1 latest).
func listOffsets(t testing.TB, ctx context.Context, cl *kgo.Client, topic string, partition int32, ts int64) int64 {
	t.Helper()
	resp, err := testkit.ListOffsets(topic, ts, partition).RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		t.Fatalf("list offsets %s/%d: %v", topic, partition, err)
	}
	return p.Offset
}

// endOffsets returns the log end offset of each partition.
func endOffsets(t testing.TB, ctx context.Context, addr, topic string, partitions int32) []int64 {
	t.Helper()
	cl := kgoClient(t, addr)
	defer cl.Close()
	ends := make([]int64, partitions)
	for p := range partitions {
		ends[p] = listOffsets(t, ctx, cl, topic, p, -1)
	}
	return ends
}

// consumeKgo reads n records of topic from the start, without a group, with
// opts (TLS, SASL) added to the client's.
func consumeKgo(t *testing.T, ctx context.Context, addr, topic string, n int, opts ...kgo.Opt) []rec {
	t.Helper()
	cl := kgoClient(t, addr, append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	defer cl.Close()
	var recs []rec
	testkit.Poll(t, ctx, cl, n, func(r *kgo.Record) bool {
		var hs [][2]string
		for _, h := range r.Headers {
			hs = append(hs, [2]string{h.Key, string(h.Value)})
		}
		recs = append(recs, rec{r.Partition, r.Offset, r.Key, r.Value, hs})
		return true
	})
	return recs
}

func kgoHeaders(i int) []kgo.RecordHeader {
	return []kgo.RecordHeader{{Key: "i", Value: []byte(strconv.Itoa(i))}, {Key: "empty", Value: []byte{}}}
}

// Go clients against the broker binary on disk: franz-go, sarama and
// segmentio/kafka-go each produce records with keys and headers and read
// them back. At the end, after a restart of the broker, every topic reads
// back the same.
func TestGoClients(t *testing.T) {
	ctx := testContext(t, 3*time.Minute)
	b := startBroker(t, t.TempDir(), "--segment-bytes", "256KiB")
	const n = 3000
	sent := map[string]int{}

	t.Run("kgo", func(t *testing.T) {
		createTopic(t, ctx, b.addr, "kgo", 3)
		kgoProduce(t, ctx, b.addr, "kgo", n, kgo.ProducerBatchCompression(kgo.Lz4Compression()))
		sent["kgo"] = n
		checkRecords(t, consumeKgo(t, ctx, b.addr, "kgo", n), n)
	})

	t.Run("sarama", func(t *testing.T) {
		createTopic(t, ctx, b.addr, "sarama", 3)
		cfg := sarama.NewConfig()
		cfg.Version = sarama.V2_8_0_0
		cfg.Producer.Return.Successes = true
		cfg.Producer.RequiredAcks = sarama.WaitForAll
		cfg.Producer.Partitioner = sarama.NewHashPartitioner
		cfg.Producer.Compression = sarama.CompressionSnappy
		cfg.Consumer.Return.Errors = true
		sp, err := sarama.NewSyncProducer([]string{b.addr}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		var msgs []*sarama.ProducerMessage
		for i := range n {
			msgs = append(msgs, &sarama.ProducerMessage{
				Topic: "sarama", Key: sarama.ByteEncoder(testKey(i)), Value: sarama.ByteEncoder(testValue(i)),
				Headers: []sarama.RecordHeader{{Key: []byte("i"), Value: []byte(strconv.Itoa(i))}, {Key: []byte("empty"), Value: []byte{}}},
			})
		}
		for i := 0; i < n; i += 500 { // in order: one batch at a time
			if err := sp.SendMessages(msgs[i : i+500]); err != nil {
				t.Fatal(err)
			}
		}
		if err := sp.Close(); err != nil {
			t.Fatal(err)
		}
		sent["sarama"] = n
		cons, err := sarama.NewConsumer([]string{b.addr}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer cons.Close()
		var recs []rec
		for p, end := range endOffsets(t, ctx, b.addr, "sarama", 3) {
			pc, err := cons.ConsumePartition("sarama", int32(p), sarama.OffsetOldest)
			if err != nil {
				t.Fatal(err)
			}
			for range end {
				select {
				case m := <-pc.Messages():
					var hs [][2]string
					for _, h := range m.Headers {
						hs = append(hs, [2]string{string(h.Key), string(h.Value)})
					}
					recs = append(recs, rec{m.Partition, m.Offset, m.Key, m.Value, hs})
				case err := <-pc.Errors():
					t.Fatal(err)
				case <-ctx.Done():
					t.Fatalf("partition %d: %v", p, ctx.Err())
				}
			}
			if err := pc.Close(); err != nil {
				t.Fatal(err)
			}
		}
		checkRecords(t, recs, n)
	})

	t.Run("kafka-go", func(t *testing.T) {
		createTopic(t, ctx, b.addr, "kafkago", 3)
		w := &kafkago.Writer{
			Addr:         kafkago.TCP(b.addr),
			Topic:        "kafkago",
			Balancer:     &kafkago.Hash{},
			RequiredAcks: kafkago.RequireAll,
			BatchTimeout: 5 * time.Millisecond,
			Compression:  kafkago.Gzip,
		}
		var msgs []kafkago.Message
		for i := range n {
			msgs = append(msgs, kafkago.Message{Key: testKey(i), Value: testValue(i),
				Headers: []kafkago.Header{{Key: "i", Value: []byte(strconv.Itoa(i))}, {Key: "empty", Value: []byte{}}}})
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		sent["kafkago"] = n
		var recs []rec
		for p, end := range endOffsets(t, ctx, b.addr, "kafkago", 3) {
			r := kafkago.NewReader(kafkago.ReaderConfig{
				Brokers: []string{b.addr}, Topic: "kafkago", Partition: p, MaxWait: 100 * time.Millisecond,
			})
			for range end {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					t.Fatalf("partition %d: %v", p, err)
				}
				var hs [][2]string
				for _, h := range m.Headers {
					hs = append(hs, [2]string{h.Key, string(h.Value)})
				}
				recs = append(recs, rec{int32(m.Partition), m.Offset, m.Key, m.Value, hs})
			}
			if err := r.Close(); err != nil && !errors.Is(err, context.Canceled) {
				t.Fatal(err)
			}
		}
		// kafka-go's writer sends batches concurrently: the order of
		// records across batches is not the order of the call, so check
		// everything but that.
		slices.SortFunc(recs, func(a, b rec) int {
			if a.partition != b.partition {
				return int(a.partition - b.partition)
			}
			return int(a.offset - b.offset)
		})
		checkRecordsUnordered(t, recs, n)
	})

	// Everything is still there after a restart.
	b.stop()
	b.restart()
	for topic, n := range sent {
		recs := consumeKgo(t, ctx, b.addr, topic, n)
		checkRecordsUnordered(t, recs, n)
	}
}

// checkRecordsUnordered is checkRecords without the order of production.
func checkRecordsUnordered(t *testing.T, recs []rec, n int) {
	t.Helper()
	byPartition := map[int32][]rec{}
	for _, r := range recs {
		byPartition[r.partition] = append(byPartition[r.partition], r)
	}
	var all []rec
	for p, rs := range byPartition {
		for j, r := range rs {
			if r.offset != int64(j) {
				t.Fatalf("partition %d: record %d at offset %d", p, j, r.offset)
			}
		}
		all = append(all, rs...)
	}
	slices.SortFunc(all, func(a, b rec) int { return slices.Compare(a.value, b.value) })
	for i := range all {
		all[i].partition, all[i].offset = 0, int64(i)
	}
	checkRecords(t, all, n)
}
