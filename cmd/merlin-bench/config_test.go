package main

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/merlinkafka/merlin/internal/cli"
	"github.com/merlinkafka/merlin/internal/kafkatest"
	"github.com/merlinkafka/merlin/producer"
)

var (
	tunedSetup    = setup{config: configTuned, linger: 7 * time.Millisecond}
	defaultsSetup = setup{config: configDefaults, linger: 7 * time.Millisecond}
)

func TestParseConfig(t *testing.T) {
	for in, want := range map[string]string{"tuned": configTuned, " Defaults ": configDefaults} {
		if got, err := parseConfig(in); err != nil || got != want {
			t.Errorf("parseConfig(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := parseConfig("fast"); err == nil {
		t.Error("parseConfig(fast) did not fail")
	}
}

func TestMerlinConfig(t *testing.T) {
	done := func(error) {}
	// Out of the box: Brokers, ClientID and what the bench needs to count
	// outcomes and keep quiet; every setting left to merlin.
	cfg := merlinConfig(openOptions{brokers: []string{"h:1"}, setup: defaultsSetup, size: 100, done: done})
	if cfg.OnDelivery != nil || cfg.Logger == nil {
		t.Fatal("defaults: Config.OnDelivery set (outcomes go through each message's), or no Logger")
	}
	cfg.Logger = nil
	if !reflect.DeepEqual(cfg, producer.Config{Brokers: []string{"h:1"}, ClientID: "merlin-bench"}) {
		t.Errorf("defaults: %+v", cfg)
	}

	cfg = merlinConfig(openOptions{setup: tunedSetup, size: 100, done: done})
	if cfg.Acks != producer.AcksLeader || !cfg.DisableIdempotence || cfg.Compression != producer.CompressionNone || cfg.TTL != 7*time.Millisecond {
		t.Errorf("tuned: %+v", cfg)
	}
	if cfg.MaxBufferedMessages != 0 || cfg.MaxBufferedBytes != 0 {
		t.Errorf("tuned, no bound: buffer %d/%d", cfg.MaxBufferedMessages, cfg.MaxBufferedBytes)
	}

	// --buffer-bound: the message count binds; the bytes stay at the
	// default unless N messages need more.
	b := defaultsSetup
	b.bound = 10_000
	cfg = merlinConfig(openOptions{setup: b, size: 100, done: done})
	if cfg.MaxBufferedMessages != 10_000 || cfg.MaxBufferedBytes != producer.DefaultMaxBufferedBytes {
		t.Errorf("bound 10000: buffer %d/%d", cfg.MaxBufferedMessages, cfg.MaxBufferedBytes)
	}
	b.bound = 1_000_000
	cfg = merlinConfig(openOptions{setup: b, size: 100, done: done})
	if cfg.MaxBufferedMessages != 1_000_000 || cfg.MaxBufferedBytes != 1_000_000*(100+merlinOverhead) {
		t.Errorf("bound 1000000: buffer %d/%d", cfg.MaxBufferedMessages, cfg.MaxBufferedBytes)
	}
}

// TestKgoOpts checks the options against kgo's own values, and the
// defaults the descriptions quote against kgo's.
func TestKgoOpts(t *testing.T) {
	open := func(s setup, immediate bool) *kgo.Client {
		t.Helper()
		cl, err := kgo.NewClient(kgoOpts(openOptions{brokers: []string{"127.0.0.1:1"}, setup: s, immediate: immediate})...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	cl := open(defaultsSetup, true)
	for opt, want := range map[string]any{
		"MaxBufferedRecords":     int64(kgoDefaultMaxBufferedRecords),
		"ProducerLinger":         kgoDefaultLinger,
		"DisableIdempotentWrite": false,
	} {
		if got := cl.OptValue(opt); !reflect.DeepEqual(got, want) {
			t.Errorf("defaults: %s = %v (%T), want %v", opt, got, got, want)
		}
	}
	if got := cl.OptValue(kgo.RequiredAcks).(kgo.Acks); got != kgo.AllISRAcks() {
		t.Errorf("defaults: acks %v", got)
	}
	if got := cl.OptValue(kgo.ProducerBatchCompression); !reflect.DeepEqual(got, []kgo.CompressionCodec{kgo.SnappyCompression(), kgo.NoCompression()}) {
		t.Errorf("defaults: compression %v", got)
	}
	if got := cl.OptValue(kgo.ProducerBatchMaxBytes); got != int32(kgoDefaultBatchMaxBytes) {
		t.Errorf("defaults: batch max %v (%T)", got, got)
	}

	cl = open(tunedSetup, false)
	if got := cl.OptValue(kgo.ProducerLinger); got != 7*time.Millisecond {
		t.Errorf("tuned: linger %v", got)
	}
	if got := cl.OptValue(kgo.DisableIdempotentWrite); got != true {
		t.Errorf("tuned: DisableIdempotentWrite %v", got)
	}
	if got := cl.OptValue(kgo.RequiredAcks).(kgo.Acks); got != kgo.LeaderAck() {
		t.Errorf("tuned: acks %v", got)
	}
	if got := open(tunedSetup, true).OptValue(kgo.ProducerLinger); got != time.Duration(0) {
		t.Errorf("tuned, unbatched: linger %v", got)
	}
	b := tunedSetup
	b.bound = 10_000
	if got := open(b, false).OptValue(kgo.MaxBufferedRecords); got != int64(10_000) {
		t.Errorf("bound: MaxBufferedRecords %v", got)
	}
}

func TestSaramaConfig(t *testing.T) {
	sc := saramaConfig(openOptions{setup: defaultsSetup})
	if sc.Producer.RequiredAcks != sarama.WaitForAll || sc.Producer.Idempotent || sc.Producer.Compression != sarama.CompressionNone ||
		sc.Producer.Flush.Frequency != 0 || sc.Version != sarama.DefaultVersion || !sc.Producer.Return.Successes {
		t.Errorf("defaults: %+v", sc.Producer)
	}
	sc = saramaConfig(openOptions{setup: tunedSetup})
	if sc.Producer.RequiredAcks != sarama.WaitForLocal || sc.Producer.Flush.Frequency != 7*time.Millisecond || sc.Version != sarama.V3_0_0_0 {
		t.Errorf("tuned: %+v", sc.Producer)
	}
}

func TestJavaDefaultLinger(t *testing.T) {
	for v, want := range map[string]int{"3.9.1": 0, "4.4.0": 5, "10.0.0": 5} {
		if got := javaDefaultLinger(v); got != want {
			t.Errorf("%s: %d, want %d", v, got, want)
		}
	}
}

// TestRunDefaultsInProcess runs the async and sync rows out of the box
// (acks=all, idempotence on where the client has it) with a buffer bound:
// every outcome counted, the topic's offsets equal to what was sent, and
// the header saying what ran.
func TestRunDefaultsInProcess(t *testing.T) {
	argv := []string{"--in-process", "--config", "defaults", "--buffer-bound", "500", "--systems", strings.Join(goSystems, ","),
		"--workloads", "w2,w3,w5", "--runs", "1", "--messages", "2000", "--lists", "100", "--warmup", "20", "--timeout", "1m"}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), argv, &stdout, &stderr); code != cli.ExitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"config: defaults",
		"merlin: producer.Config{Brokers, ClientID} (the bench's logger discards; outcomes through each message's OnDelivery)",
		"kgo: kgo's defaults: acks=all, idempotent writes on, compression preference [snappy, none]",
		"sarama: sarama.NewConfig() with WaitForAll: RequiredAcks WaitForAll, Idempotent false",
		"buffer bound: 500 messages",
		"merlin MaxBufferedMessages 500",
		"kgo MaxBufferedRecords 500",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "ERROR") {
		t.Errorf("a row failed:\n%s", out)
	}
}

func TestBadConfigFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--config", "fast"}, `--config: unknown config "fast"`},
		{[]string{"--buffer-bound", "-1"}, "--buffer-bound: -1"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), c.args, &stdout, &stderr); code != cli.ExitUsage || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q", c.args, code, stderr.String())
		}
	}
}

// TestJavaDefaultsInProcess runs ProducerPerformance out of the box
// (acks=all, idempotence on) with a buffer bound against the in-process
// broker: the tool's count and the topic's offsets must agree.
func TestJavaDefaultsInProcess(t *testing.T) {
	kafkatest.Need(t)
	argv := []string{"--in-process", "--config", "defaults", "--buffer-bound", "10000", "--systems", "merlin,java",
		"--workloads", "w5", "--runs", "1", "--messages", "5000", "--warmup", "50", "--timeout", "3m"}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), argv, &stdout, &stderr); code != cli.ExitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"--command-property acks=all alone; Kafka's defaults otherwise: enable.idempotence=true",
		"java buffer.memory = max(N x size, batch.size) = 1000000 bytes"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "ERROR") || findRow(out, "W5 peers, 100 B", javaSystem) == "" {
		t.Errorf("no java row, or an error:\n%s", out)
	}
}

// TestNotesOncePerCase: a case on two brokers has its latency note once.
func TestNotesOncePerCase(t *testing.T) {
	c := buildCases([]string{"w3"}, map[string]int{"w3": 10}, nil)[0]
	r := &report{cases: []caseResult{{c: c, broker: "bundled"}, {c: c, broker: "kafka"}}}
	n := 0
	for _, l := range r.notes() {
		if strings.Contains(l, "latency per sync call") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d latency notes for one case:\n%s", n, strings.Join(r.notes(), "\n"))
	}
}
