package mockbroker_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/merlinkafka/merlin/internal/testkit"
	"github.com/merlinkafka/merlin/mockbroker"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
)

func newCluster(t testing.TB, opts ...mockbroker.Option) *mockbroker.Cluster {
	t.Helper()
	c, err := mockbroker.NewCluster(append([]mockbroker.Option{mockbroker.Logger(testkit.Logger(t))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func testContext(t testing.TB) context.Context { return testkit.Context(t, 90*time.Second) }

func newKgo(t testing.TB, c *mockbroker.Cluster, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return testkit.Kgo(t, c.Addrs(), opts...)
}

// record i of a test: its key, value and header.
func testKey(i int) []byte   { return fmt.Appendf(nil, "key-%d", i%97) }
func testValue(i int) []byte { return fmt.Appendf(nil, "value-%06d", i) }

// checkStored checks that the cluster holds records 0..n-1 of testValue
// exactly once, with their keys and an "i" header, in increasing order
// within each partition. It returns how many landed in each partition.
func checkStored(t *testing.T, c *mockbroker.Cluster, topic string, n int) map[int32]int {
	t.Helper()
	seen := make([]bool, n)
	perPartition := map[int32]int{}
	for p := range c.Partitions(topic) {
		last := -1
		for j, r := range c.Records(topic, p) {
			if r.Offset != int64(j) {
				t.Fatalf("%s/%d: record %d has offset %d", topic, p, j, r.Offset)
			}
			var i int
			if _, err := fmt.Sscanf(string(r.Value), "value-%d", &i); err != nil || i >= n {
				t.Fatalf("%s/%d: unexpected value %q", topic, p, r.Value)
			}
			if seen[i] {
				t.Fatalf("record %d stored twice", i)
			}
			seen[i] = true
			if i <= last {
				t.Fatalf("%s/%d: record %d after %d", topic, p, i, last)
			}
			last = i
			if string(r.Key) != string(testKey(i)) {
				t.Fatalf("record %d: key %q", i, r.Key)
			}
			if len(r.Headers) != 1 || r.Headers[0].Key != "i" || string(r.Headers[0].Value) != strconv.Itoa(i) {
				t.Fatalf("record %d: headers %v", i, r.Headers)
			}
			perPartition[p]++
		}
	}
	for i, ok := range seen {
		if !ok {
			t.Fatalf("record %d missing", i)
		}
	}
	return perPartition
}

// produceKgo produces records from..to-1 asynchronously; failures fail the
// test.
func produceKgo(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, from, to int) {
	for i := from; i < to; i++ {
		r := &kgo.Record{Topic: topic, Key: testKey(i), Value: testValue(i),
			Headers: []kgo.RecordHeader{{Key: "i", Value: []byte(strconv.Itoa(i))}}}
		cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce %s: %v", r.Value, err)
			}
		})
	}
}

func TestKgoRoundTrip10k(t *testing.T) {
	const n = 10000
	c := newCluster(t, mockbroker.Brokers(3), mockbroker.Topic("ten", 6))
	ctx := testContext(t)
	prod := newKgo(t, c) // idempotent, acks=all: kgo's defaults
	produceKgo(t, ctx, prod, "ten", 0, n)
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	perPartition := checkStored(t, c, "ten", n)
	leaders := map[int32]bool{}
	for p := range int32(6) {
		leaders[c.Leader("ten", p)] = true
		if perPartition[p] == 0 {
			t.Errorf("partition %d got nothing", p)
		}
	}
	if len(leaders) != 3 {
		t.Errorf("leaders %v: not spread over 3 brokers", leaders)
	}

	cons := newKgo(t, c, kgo.ConsumeTopics("ten"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[int32][]*kgo.Record{}
	testkit.Poll(t, ctx, cons, n, func(r *kgo.Record) bool {
		got[r.Partition] = append(got[r.Partition], r)
		return true
	})
	for p, recs := range got {
		stored := c.Records("ten", p)
		if len(recs) != len(stored) {
			t.Fatalf("partition %d: consumed %d, stored %d", p, len(recs), len(stored))
		}
		for i, r := range recs {
			s := stored[i]
			if r.Offset != s.Offset || string(r.Key) != string(s.Key) || string(r.Value) != string(s.Value) ||
				len(r.Headers) != 1 || string(r.Headers[0].Value) != string(s.Headers[0].Value) ||
				!r.Timestamp.Equal(s.Timestamp) {
				t.Fatalf("partition %d record %d: consumed %+v, stored %+v", p, i, r, s)
			}
		}
	}
}

func saramaConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewHashPartitioner
	cfg.Consumer.Return.Errors = true
	return cfg
}

func saramaMessage(topic string, i int) *sarama.ProducerMessage {
	return &sarama.ProducerMessage{
		Topic:   topic,
		Key:     sarama.ByteEncoder(testKey(i)),
		Value:   sarama.ByteEncoder(testValue(i)),
		Headers: []sarama.RecordHeader{{Key: []byte("i"), Value: []byte(strconv.Itoa(i))}},
	}
}

func TestSarama(t *testing.T) {
	const n = 600
	c := newCluster(t, mockbroker.Brokers(3), mockbroker.Topic("sarama", 3))
	ctx := testContext(t)

	// SyncProducer, one message at a time then in a batch.
	sp, err := sarama.NewSyncProducer(c.Addrs(), saramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	for i := range n / 3 {
		m := saramaMessage("sarama", i)
		p, off, err := sp.SendMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		if recs := c.Records("sarama", p); int64(len(recs)) <= off || string(recs[off].Value) != string(testValue(i)) {
			t.Fatalf("message %d reported at %d/%d, not stored there", i, p, off)
		}
	}
	var msgs []*sarama.ProducerMessage
	for i := n / 3; i < 2*n/3; i++ {
		msgs = append(msgs, saramaMessage("sarama", i))
	}
	if err := sp.SendMessages(msgs); err != nil {
		t.Fatal(err)
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}

	// AsyncProducer, idempotent.
	cfg := saramaConfig()
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1
	ap, err := sarama.NewAsyncProducer(c.Addrs(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for i := 2 * n / 3; i < n; i++ {
			ap.Input() <- saramaMessage("sarama", i)
		}
	}()
	for range n - 2*n/3 {
		select {
		case <-ap.Successes():
		case err := <-ap.Errors():
			t.Fatal(err)
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
	if err := ap.Close(); err != nil {
		t.Fatal(err)
	}
	perPartition := checkStored(t, c, "sarama", n)

	// The partition consumer reads everything back.
	cons, err := sarama.NewConsumer(c.Addrs(), saramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	for p := range int32(3) {
		pc, err := cons.ConsumePartition("sarama", p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		stored := c.Records("sarama", p)
		for j := range perPartition[p] {
			select {
			case m := <-pc.Messages():
				s := stored[j]
				if m.Offset != s.Offset || string(m.Key) != string(s.Key) || string(m.Value) != string(s.Value) ||
					len(m.Headers) != 1 || string(m.Headers[0].Value) != string(s.Headers[0].Value) {
					t.Fatalf("partition %d: consumed %+v, stored %+v", p, m, s)
				}
			case err := <-pc.Errors():
				t.Fatal(err)
			case <-ctx.Done():
				t.Fatalf("partition %d: %d of %d consumed: %v", p, j, perPartition[p], ctx.Err())
			}
		}
		if err := pc.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestKafkaGo(t *testing.T) {
	const n = 500
	c := newCluster(t, mockbroker.Brokers(2), mockbroker.Topic("kafkago", 2))
	ctx := testContext(t)
	w := &kafkago.Writer{
		Addr:         kafkago.TCP(c.Addrs()...),
		Topic:        "kafkago",
		Balancer:     &kafkago.Hash{},
		RequiredAcks: kafkago.RequireAll,
		BatchTimeout: 5 * time.Millisecond,
	}
	var msgs []kafkago.Message
	for i := range n {
		msgs = append(msgs, kafkago.Message{Key: testKey(i), Value: testValue(i),
			Headers: []kafkago.Header{{Key: "i", Value: []byte(strconv.Itoa(i))}}})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	perPartition := checkStored(t, c, "kafkago", n)

	for p := range int32(2) {
		r := kafkago.NewReader(kafkago.ReaderConfig{
			Brokers: c.Addrs(), Topic: "kafkago", Partition: int(p), MaxWait: 100 * time.Millisecond,
		})
		stored := c.Records("kafkago", p)
		for j := range perPartition[p] {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatalf("partition %d message %d: %v", p, j, err)
			}
			if m.Offset != stored[j].Offset || string(m.Value) != string(stored[j].Value) || string(m.Key) != string(stored[j].Key) {
				t.Fatalf("partition %d: read %+v, stored %+v", p, m, stored[j])
			}
		}
		if err := r.Close(); err != nil && !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
	}
}
