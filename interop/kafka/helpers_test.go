package kafka

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/merlinkafka/merlin/internal/kafkatest"
	"github.com/merlinkafka/merlin/internal/syncbuf"
	"github.com/merlinkafka/merlin/producer"
)

// soak is MERLIN_SOAK as a duration (0 when unset): the failover tests run
// that much longer.
func soak() time.Duration {
	d, _ := time.ParseDuration(os.Getenv("MERLIN_SOAK"))
	return d
}

// testContext ends d from now or when t ends.
func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// cluster starts n nodes for t. With n=3, topics the tests create have
// replication factor 3 and min.insync.replicas=2.
func cluster(t *testing.T, n int, props map[string]string) *kafkatest.Cluster {
	t.Helper()
	return kafkatest.New(t, kafkatest.Options{Nodes: n, Props: props})
}

// topicConfigs are the configs of the tests' topics on c.
func topicConfigs(c *kafkatest.Cluster, extra map[string]string) map[string]string {
	cfg := map[string]string{}
	if len(c.Nodes()) >= 3 {
		cfg["min.insync.replicas"] = "2"
	}
	for k, v := range extra {
		cfg[k] = v
	}
	return cfg
}

// newProducer is a merlin producer on c with the test's log kept aside and
// printed if the test fails.
func newProducer(t *testing.T, c *kafkatest.Cluster, cfg producer.Config) *producer.Producer {
	t.Helper()
	cfg.Brokers = c.Brokers()
	if cfg.Logger == nil {
		var logs syncbuf.Buffer
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("producer log:\n%s", lastLines(logs.String(), 60))
			}
		})
	}
	p, err := producer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = p.Close(ctx)
	})
	return p
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// stored is one record as a consumer read it back.
type stored struct {
	Partition int32
	Offset    int64
	Key       []byte // nil when the record has none
	Value     []byte
	Headers   []producer.Header
}

// consumeKgo reads every partition of topic from the start up to the end
// offsets as they are now, with franz-go, through the plaintext INTERNAL
// listeners.
func consumeKgo(t *testing.T, ctx context.Context, c *kafkatest.Cluster, topic string) []stored {
	t.Helper()
	ends, err := c.Admin().ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{}
	remaining := 0
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("end offset of %s/%d: %v", o.Topic, o.Partition, o.Err)
		}
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
			remaining++
		}
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.InternalBrokers()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadUncommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []stored
	for remaining > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consuming %s: %v (partitions left: %v)", topic, ctx.Err(), want)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Logf("fetch %s/%d: %v", tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := want[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			s := stored{Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: r.Value}
			for _, h := range r.Headers {
				s.Headers = append(s.Headers, producer.Header{Key: h.Key, Value: h.Value})
			}
			out = append(out, s)
			if r.Offset == end-1 {
				delete(want, r.Partition)
				remaining--
			}
		})
	}
	sortStored(out)
	return out
}

func sortStored(s []stored) {
	slices.SortFunc(s, func(a, b stored) int {
		if a.Partition != b.Partition {
			return int(a.Partition - b.Partition)
		}
		return int(a.Offset - b.Offset)
	})
}

// peerSource is the path of the Java peer program.
func peerSource(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "java", "Peer.java")
}

// javaPeer runs java/Peer.java with Kafka's class path and returns its
// standard output.
func javaPeer(t *testing.T, ctx context.Context, c *kafkatest.Cluster, args ...string) []byte {
	t.Helper()
	cmd := c.Java(ctx, append([]string{"-Xmx256m", peerSource(t)}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("java Peer %v: %v\n%s", args, err, lastLines(stderr.String(), 40))
	}
	return out
}

// consumeJava reads topic back with Kafka's own KafkaConsumer.
func consumeJava(t *testing.T, ctx context.Context, c *kafkatest.Cluster, topic string) []stored {
	t.Helper()
	out := javaPeer(t, ctx, c, "dump", strings.Join(c.Brokers(), ","), topic)
	var recs []stored
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	dec := func(s string) []byte {
		if s == "-" {
			return nil
		}
		b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "b:"))
		if err != nil {
			t.Fatalf("java dump: %q: %v", s, err)
		}
		if b == nil {
			b = []byte{}
		}
		return b
	}
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 {
			t.Fatalf("java dump: bad line %q", sc.Text())
		}
		part, _ := strconv.Atoi(f[0])
		off, _ := strconv.ParseInt(f[1], 10, 64)
		r := stored{Partition: int32(part), Offset: off, Key: dec(f[2]), Value: dec(f[3])}
		for _, h := range f[4:] {
			k, v, _ := strings.Cut(h, "=")
			r.Headers = append(r.Headers, producer.Header{Key: k, Value: dec(v)})
		}
		recs = append(recs, r)
	}
	sortStored(recs)
	return recs
}

// ledger follows every message a test hands the producer, by value (each
// value is unique: "key/seq"), and checks what the cluster stored against
// it: every acknowledged message stored exactly once where its Result
// said, nothing stored that was never sent, failed messages stored at
// most once, every message's outcome reported exactly once, and per key
// the order in which the messages were sent.
type ledger struct {
	mu      sync.Mutex
	sent    map[string]sentMsg
	acked   map[string]producer.Result
	failed  map[string]error
	twice   []string // values whose outcome was reported more than once
	nextSeq map[string]int

	// firstAckAfter, when set, records the first acknowledgement after it
	// on one of the partitions in watch.
	firstAckAfter time.Time
	firstAck      time.Time
	watch         map[int32]bool
	lastAck       map[int32]time.Time // of each watched partition
	maxGap        time.Duration       // longest wait between acks on them

	// movingKeys: keys may change partition (partitions were added).
	movingKeys bool
}

type sentMsg struct {
	key string
	seq int
}

func newLedger() *ledger {
	return &ledger{sent: map[string]sentMsg{}, acked: map[string]producer.Result{}, failed: map[string]error{}, nextSeq: map[string]int{}}
}

// message makes the next message for key, tracked by l. Call it in the
// order the messages are handed to the producer.
func (l *ledger) message(key string) producer.Message {
	l.mu.Lock()
	seq := l.nextSeq[key]
	l.nextSeq[key] = seq + 1
	v := fmt.Sprintf("%s/%d", key, seq)
	l.sent[v] = sentMsg{key, seq}
	l.mu.Unlock()
	m := producer.Message{Key: []byte(key), Value: []byte(v)}
	m.OnDelivery = func(r producer.Result) { l.outcome(v, r) }
	return m
}

func (l *ledger) outcome(v string, r producer.Result) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, a := l.acked[v]
	_, f := l.failed[v]
	if a || f {
		l.twice = append(l.twice, v)
		return
	}
	if r.Err != nil {
		l.failed[v] = r.Err
		return
	}
	l.acked[v] = r
	if l.watch[r.Partition] {
		now := time.Now()
		if l.firstAck.IsZero() {
			l.firstAck = now
		}
		l.maxGap = max(l.maxGap, now.Sub(l.lastAck[r.Partition]))
		l.lastAck[r.Partition] = now
	}
}

// markFailover starts timing: failoverTime then says when the first
// acknowledgement on one of parts came.
func (l *ledger) markFailover(parts ...int32) {
	l.mu.Lock()
	l.firstAckAfter, l.firstAck, l.maxGap = time.Now(), time.Time{}, 0
	l.watch, l.lastAck = map[int32]bool{}, map[int32]time.Time{}
	for _, p := range parts {
		l.watch[p] = true
		l.lastAck[p] = l.firstAckAfter
	}
	l.mu.Unlock()
}

// longestGap is the longest time since markFailover that a watched
// partition went without an acknowledgement (counting from the mark).
func (l *ledger) longestGap() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.maxGap
}

// failoverTime is how long after markFailover the first acknowledgement on
// a watched partition came, waiting up to ctx for one.
func (l *ledger) failoverTime(ctx context.Context) (time.Duration, bool) {
	for {
		l.mu.Lock()
		start, first := l.firstAckAfter, l.firstAck
		l.mu.Unlock()
		if !first.IsZero() {
			return first.Sub(start), true
		}
		select {
		case <-ctx.Done():
			return 0, false
		case <-time.After(2 * time.Millisecond):
		}
	}
}

func (l *ledger) counts() (sent, acked, failed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.sent), len(l.acked), len(l.failed)
}

// check compares what was stored with what the ledger saw, and returns how
// many failed messages were stored all the same.
func (l *ledger) check(t *testing.T, recs []stored, allowFailed bool) (failedStored int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.twice) > 0 {
		t.Errorf("%d messages had their outcome reported twice, first %q", len(l.twice), l.twice[0])
	}
	if len(l.acked)+len(l.failed) != len(l.sent) {
		t.Errorf("%d sent, %d acknowledged + %d failed: %d outcomes missing", len(l.sent), len(l.acked), len(l.failed), len(l.sent)-len(l.acked)-len(l.failed))
	}
	if !allowFailed {
		for v, err := range l.failed {
			t.Errorf("message %s failed: %v (and %d more)", v, err, len(l.failed)-1)
			break
		}
	}
	seen := map[string]int{}
	misplaced := 0
	lastSeq := map[string]int{} // partition/key -> seq of its last stored message
	keyPart := map[string]int32{}
	for _, r := range recs {
		v := string(r.Value)
		m, ok := l.sent[v]
		if !ok {
			t.Errorf("stored at %d/%d: %q, never sent", r.Partition, r.Offset, v)
			continue
		}
		if string(r.Key) != m.key {
			t.Errorf("stored %q with key %q, sent with key %q", v, r.Key, m.key)
		}
		seen[v]++
		if p, ok := keyPart[m.key]; ok && p != r.Partition && !l.movingKeys {
			t.Errorf("key %s stored in partitions %d and %d", m.key, p, r.Partition)
		}
		keyPart[m.key] = r.Partition
		// Order per key: within a partition (keys that moved partitions keep
		// their order in each).
		pk := fmt.Sprintf("%d/%s", r.Partition, m.key)
		if last, ok := lastSeq[pk]; ok && m.seq <= last {
			t.Errorf("key %s: %q stored at %d/%d after seq %d: out of order", m.key, v, r.Partition, r.Offset, last)
		}
		lastSeq[pk] = m.seq
		if res, ok := l.acked[v]; ok && (res.Partition != r.Partition || res.Offset != r.Offset) {
			misplaced++
			if misplaced <= 5 {
				t.Errorf("%q acknowledged at %d/%d, stored at %d/%d", v, res.Partition, res.Offset, r.Partition, r.Offset)
			}
		}
	}
	lost, dup := 0, 0
	for v := range l.acked {
		switch n := seen[v]; {
		case n == 0:
			lost++
			if lost <= 3 {
				t.Errorf("acknowledged %q not stored", v)
			}
		case n > 1:
			dup++
			if dup <= 3 {
				t.Errorf("acknowledged %q stored %d times", v, n)
			}
		}
	}
	for v := range l.failed {
		if seen[v] > 1 {
			t.Errorf("failed %q stored %d times", v, seen[v])
		}
		if seen[v] == 1 {
			failedStored++
		}
	}
	if lost+dup+misplaced > 0 {
		t.Errorf("of %d acknowledged messages: %d lost, %d stored more than once, %d stored elsewhere than acknowledged", len(l.acked), lost, dup, misplaced)
	}
	return failedStored
}

// load produces keyed messages continuously on a goroutine, keys k0..k(keys-1)
// in turn, pacing itself to about rate messages a second, until stop is
// called; stop returns how many were handed over.
func load(ctx context.Context, p *producer.Producer, l *ledger, topic string, keys, rate int) (stop func() int) {
	done := make(chan struct{})
	finished := make(chan int)
	go func() {
		n := 0
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		per := max(1, rate/100)
		for {
			select {
			case <-done:
				finished <- n
				return
			case <-ctx.Done():
				finished <- n
				return
			case <-tick.C:
			}
			for range per {
				m := l.message(fmt.Sprintf("k%d", n%keys))
				if err := p.ProduceAsyncBatched(ctx, topic, m); err != nil {
					// Refused by the call: a failure the ledger reports.
					l.outcome(string(m.Value), producer.Result{Err: fmt.Errorf("ProduceAsyncBatched: %w", err)})
				}
				n++
			}
		}
	}()
	return func() int {
		close(done)
		return <-finished
	}
}

// waitAcked waits until at least n messages are acknowledged.
func waitAcked(t *testing.T, ctx context.Context, l *ledger, n int) {
	t.Helper()
	for {
		_, a, _ := l.counts()
		if a >= n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d acknowledged, waiting for %d: %v", a, n, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// createTopic creates topic on c with partitions partitions at replication
// factor rf and configs, failing the test if Kafka refuses.
func createTopic(t *testing.T, ctx context.Context, c *kafkatest.Cluster, topic string, partitions, rf int, configs map[string]string) {
	t.Helper()
	if err := c.CreateTopic(ctx, topic, partitions, rf, configs); err != nil {
		t.Fatal(err)
	}
}
