package kafka

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/merlinkafka/merlin/internal/kafkatest"
	"github.com/merlinkafka/merlin/producer"
)

var compressions = []producer.Compression{producer.CompressionNone, producer.CompressionGzip, producer.CompressionSnappy, producer.CompressionLZ4, producer.CompressionZstd}

// TestEveryModeAndCodec: on one node and on three (replication factor 3,
// min.insync.replicas=2), every produce mode with each of the five
// compression settings, keyed and unkeyed messages with headers, empty and
// null values; Kafka's own KafkaConsumer and franz-go read back exactly
// what was acknowledged: same keys, values and headers, at the offsets the
// producer reported, in the order sent within each partition.
func TestEveryModeAndCodec(t *testing.T) {
	for _, nodes := range []int{1, 3} {
		t.Run(fmt.Sprintf("%dnodes", nodes), func(t *testing.T) {
			c := cluster(t, nodes, nil)
			ctx := testContext(t, 4*time.Minute)
			for _, comp := range compressions {
				t.Run(comp.String(), func(t *testing.T) { everyMode(t, ctx, c, comp) })
			}
		})
	}
}

func everyMode(t *testing.T, ctx context.Context, c *kafkatest.Cluster, comp producer.Compression) {
	topic := "modes-" + comp.String()
	createTopic(t, ctx, c, topic, 3, 0, topicConfigs(c, nil))
	p := newProducer(t, c, producer.Config{Compression: comp})
	const perMode = 150
	var (
		mu      sync.Mutex
		sent    = map[string]producer.Message{} // by value
		results = map[string]producer.Result{}
		index   = map[string]int{} // value -> order handed over
	)
	msg := func(mode string, i int) producer.Message {
		v := fmt.Sprintf("%s-%04d-%s", mode, i, strings.Repeat("x", i%40))
		m := producer.Message{Value: []byte(v), Headers: []producer.Header{{Key: "mode", Value: []byte(mode)}, {Key: "i", Value: []byte(strconv.Itoa(i))}}}
		if i%3 != 0 {
			m.Key = fmt.Appendf(nil, "key-%d", i%17)
		}
		if i%25 == 7 {
			m.Headers = append(m.Headers, producer.Header{Key: "empty", Value: []byte{}})
		}
		mu.Lock()
		sent[v] = m
		index[v] = len(index)
		mu.Unlock()
		m.OnDelivery = func(r producer.Result) {
			mu.Lock()
			results[v] = r
			mu.Unlock()
		}
		return m
	}
	// ProduceSync: one message a call, then 50 in one call.
	for i := range perMode {
		m := msg("sync", i)
		m.OnDelivery = nil
		res, err := p.ProduceSync(ctx, topic, m)
		if err != nil {
			t.Fatalf("ProduceSync %d: %v", i, err)
		}
		mu.Lock()
		results[string(m.Value)] = res[0]
		mu.Unlock()
	}
	for i := range perMode {
		if err := p.ProduceAsync(ctx, topic, msg("async", i)); err != nil {
			t.Fatalf("ProduceAsync %d: %v", i, err)
		}
	}
	var batch []producer.Message
	for i := range perMode {
		batch = append(batch, msg("syncbatched", i))
		if len(batch) == 30 {
			if _, err := p.ProduceSyncBatched(ctx, topic, batch...); err != nil {
				t.Fatalf("ProduceSyncBatched: %v", err)
			}
			batch = nil
		}
	}
	for i := range perMode {
		if err := p.ProduceAsyncBatched(ctx, topic, msg("asyncbatched", i)); err != nil {
			t.Fatalf("ProduceAsyncBatched %d: %v", i, err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(results) != len(sent) {
		t.Fatalf("%d results for %d messages", len(results), len(sent))
	}
	for v, r := range results {
		if r.Err != nil {
			t.Fatalf("%s: %v", v, r.Err)
		}
	}
	kgoRecs := consumeKgo(t, ctx, c, topic)
	javaRecs := consumeJava(t, ctx, c, topic)
	for name, recs := range map[string][]stored{"kgo": kgoRecs, "java": javaRecs} {
		if len(recs) != len(sent) {
			t.Fatalf("%s read %d records, %d were acknowledged", name, len(recs), len(sent))
		}
		last := map[int32]int{}
		for _, r := range recs {
			v := string(r.Value)
			m, ok := sent[v]
			if !ok {
				t.Fatalf("%s read %q at %d/%d: never sent", name, v, r.Partition, r.Offset)
			}
			if !bytes.Equal(r.Key, m.Key) || (r.Key == nil) != (m.Key == nil) {
				t.Errorf("%s: %s key %q (nil %v), sent %q (nil %v)", name, v, r.Key, r.Key == nil, m.Key, m.Key == nil)
			}
			if len(r.Headers) != len(m.Headers) {
				t.Fatalf("%s: %s has %d headers, sent %d", name, v, len(r.Headers), len(m.Headers))
			}
			for i, h := range m.Headers {
				if r.Headers[i].Key != h.Key || !bytes.Equal(r.Headers[i].Value, h.Value) {
					t.Errorf("%s: %s header %d is %q=%q, sent %q=%q", name, v, i, r.Headers[i].Key, r.Headers[i].Value, h.Key, h.Value)
				}
			}
			if res := results[v]; res.Partition != r.Partition || res.Offset != r.Offset {
				t.Errorf("%s: %s acknowledged at %d/%d, read at %d/%d", name, v, res.Partition, res.Offset, r.Partition, r.Offset)
			}
			if i, ok := last[r.Partition]; ok && index[v] < i {
				t.Errorf("%s: partition %d holds %s after a message sent later", name, r.Partition, v)
			}
			last[r.Partition] = index[v]
		}
	}
}

// TestKeyedPartitioningMatchesJava: for 10 000 keys, the partition Kafka's
// Java producer (its default partitioner) put each key in is the one
// merlin's Pick names, and where merlin's producer then stores it.
func TestKeyedPartitioningMatchesJava(t *testing.T) {
	c := cluster(t, 1, nil)
	ctx := testContext(t, 3*time.Minute)
	const n = 10_000
	for _, parts := range []int{7, 12} {
		topic := fmt.Sprintf("keyed-%d", parts)
		createTopic(t, ctx, c, topic, parts, 1, nil)
		out := javaPeer(t, ctx, c, "keyed", strings.Join(c.Brokers(), ","), topic, strconv.Itoa(n))
		p := newProducer(t, c, producer.Config{})
		sc := bufio.NewScanner(bytes.NewReader(out))
		seen, mismatch := 0, 0
		var msgs []producer.Message
		for sc.Scan() {
			key, part, _ := strings.Cut(sc.Text(), " ")
			want, err := strconv.Atoi(part)
			if err != nil {
				t.Fatalf("java keyed: bad line %q", sc.Text())
			}
			got, err := p.Pick(ctx, topic, []byte(key))
			if err != nil {
				t.Fatal(err)
			}
			if int(got) != want {
				mismatch++
				if mismatch <= 5 {
					t.Errorf("%d partitions, key %q: Java producer chose %d, merlin %d", parts, key, want, got)
				}
			}
			seen++
			if seen%10 == 0 {
				msgs = append(msgs, producer.Message{Key: []byte(key), Value: []byte(part)})
			}
		}
		if seen != n {
			t.Fatalf("java keyed printed %d keys, want %d", seen, n)
		}
		if mismatch > 0 {
			t.Fatalf("%d partitions: %d of %d keys differ", parts, mismatch, n)
		}
		// And merlin's producer stores them where the Java producer did.
		res, err := p.ProduceSync(ctx, topic, msgs...)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if want, _ := strconv.Atoi(string(msgs[i].Value)); int(r.Partition) != want {
				t.Fatalf("key %s stored by merlin in %d, by Java in %d", msgs[i].Key, r.Partition, want)
			}
		}
	}
}

// TestMessageTooLargeForTopic: a topic whose max.message.bytes is smaller
// than one message: that message is reported failed with
// ErrMessageTooLarge (and kerr.MessageTooLarge), alone; the messages
// around it, in the same call and the same batch, are delivered.
func TestMessageTooLargeForTopic(t *testing.T) {
	c := cluster(t, 1, nil)
	ctx := testContext(t, 2*time.Minute)
	const topic = "small-messages"
	createTopic(t, ctx, c, topic, 1, 1, map[string]string{"max.message.bytes": "2000"})
	p := newProducer(t, c, producer.Config{})
	var msgs []producer.Message
	for i := range 21 {
		size := 100
		if i == 10 {
			size = 5000
		}
		msgs = append(msgs, producer.Message{Key: []byte("k"), Value: bytes.Repeat([]byte{'a' + byte(i)}, size)})
	}
	res, err := p.ProduceSync(ctx, topic, msgs...)
	if err == nil {
		t.Fatal("ProduceSync of a message above max.message.bytes: no error")
	}
	for i, r := range res {
		if i == 10 {
			if !errors.Is(r.Err, producer.ErrMessageTooLarge) || !errors.Is(r.Err, kerr.MessageTooLarge) {
				t.Fatalf("the large message: %v, want ErrMessageTooLarge wrapping kerr.MessageTooLarge", r.Err)
			}
			continue
		}
		if r.Err != nil {
			t.Errorf("message %d (100 bytes): %v", i, r.Err)
		}
	}
	recs := consumeKgo(t, ctx, c, topic)
	if len(recs) != 20 {
		t.Fatalf("%d records stored, want the 20 small ones", len(recs))
	}
	for _, r := range recs {
		if len(r.Value) != 100 {
			t.Fatalf("stored a %d-byte value", len(r.Value))
		}
	}
}
