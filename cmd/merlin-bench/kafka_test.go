package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/internal/cli"
	"github.com/merlinkafka/merlin/internal/kafkatest"
)

// TestParsePerf reads ProducerPerformance output captured from Kafka 4.4.0
// (progress lines, the whole run's summary, the steady state's after
// --warmup-records 100) and 3.9.1 (one summary, no warm-up).
func TestParsePerf(t *testing.T) {
	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }

	total, steady, err := parsePerf(read("producer-performance-4.4.0.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if total.records != 300100 || total.rate != 110330.882353 || total.mbps != 10.52 || total.avg != ms(41.30) || total.max != ms(850) {
		t.Errorf("4.4.0 total %+v", total)
	}
	if steady == nil {
		t.Fatal("4.4.0: no steady-state summary")
	}
	want := perfSummary{records: 300000, rate: 154400.411734, mbps: 14.72, avg: ms(41.29), max: ms(155),
		p50: ms(31), p95: ms(117), p99: ms(147), p999: ms(155)}
	if *steady != want {
		t.Errorf("4.4.0 steady %+v, want %+v", *steady, want)
	}

	total, steady, err = parsePerf(read("producer-performance-3.9.1.txt"))
	if err != nil || steady != nil {
		t.Fatalf("3.9.1: steady %v, err %v", steady, err)
	}
	if total.records != 200000 || total.rate != 109110.747409 || total.p50 != ms(127) || total.p999 != ms(299) {
		t.Errorf("3.9.1 total %+v", total)
	}

	// Progress lines alone (a run cut short) have no summary.
	progress := "64820 records sent, 129123.5 records/sec (12.31 MB/sec), 21.0 ms avg latency, 68.0 ms max latency.\n"
	if _, _, err := parsePerf(progress); !errors.Is(err, errNoSummary) {
		t.Errorf("progress only: %v, want errNoSummary", err)
	}
}

func TestJavaArgs(t *testing.T) {
	tuned := setup{config: configTuned, linger: 10 * time.Millisecond}
	props := javaProps([]string{"127.0.0.1:1", "127.0.0.1:2"}, tuned, false, 100)
	for _, want := range []string{"bootstrap.servers=127.0.0.1:1,127.0.0.1:2", "acks=1", "enable.idempotence=false",
		"compression.type=none", "linger.ms=10", "batch.size=1048576"} {
		if !slices.Contains(props, want) {
			t.Errorf("props %v lack %s", props, want)
		}
	}
	if p := javaProps(nil, tuned, true, 100); !slices.Contains(p, "linger.ms=0") {
		t.Errorf("unbatched props %v", p)
	}
	if p := javaProps(nil, setup{config: configTuned, linger: 300 * time.Microsecond}, false, 100); !slices.Contains(p, "linger.ms=1") {
		t.Errorf("a linger below 1ms became no linger: %v", p)
	}
	// Out of the box: bootstrap.servers and acks=all alone.
	if p := javaProps([]string{"h:1"}, setup{config: configDefaults, linger: time.Second}, false, 100); !slices.Equal(p, []string{"bootstrap.servers=h:1", "acks=all"}) {
		t.Errorf("defaults props %v", p)
	}
	// --buffer-bound: N values' bytes, at least one batch.
	if p := javaProps(nil, setup{config: configDefaults, bound: 10_000}, false, 100); !slices.Contains(p, "buffer.memory=1000000") {
		t.Errorf("defaults, bound 10000: %v", p)
	}
	if p := javaProps(nil, setup{config: configTuned, linger: time.Millisecond, bound: 10_000}, false, 100); !slices.Contains(p, "buffer.memory=1048576") {
		t.Errorf("tuned (batch.size 1 MiB), bound 10000: %v", p)
	}

	j := &javaTool{commandProperty: true, warmup: true}
	got := strings.Join(j.args("t", 1100, 100, 100, []string{"acks=1"}), " ")
	if !strings.Contains(got, perfClass+" --topic t --num-records 1100 --record-size 100 --throughput -1 --warmup-records 100 --command-property acks=1") {
		t.Errorf("4.x args: %s", got)
	}
	old := &javaTool{}
	got = strings.Join(old.args("t", 1000, 100, 100, []string{"acks=1"}), " ")
	if strings.Contains(got, "--warmup-records") || !strings.HasSuffix(got, "--producer-props acks=1") {
		t.Errorf("3.x args: %s", got)
	}
}

func TestParseBrokerChoices(t *testing.T) {
	got, err := parseBrokerChoices(" Kafka, bundled,kafka")
	if err != nil || !slices.Equal(got, []string{"kafka", "bundled"}) {
		t.Errorf("got %v, %v", got, err)
	}
	for _, bad := range []string{"", ",", "redpanda"} {
		if _, err := parseBrokerChoices(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--broker", "redpanda"}, `--broker: unknown broker "redpanda"`},
		{[]string{"--brokers", "a:1", "--broker", "kafka"}, "exclude each other"},
		{[]string{"--kafka-heap-mb", "64"}, "--kafka-heap-mb: 64"},
		{[]string{"--java-warmup", "-1"}, "--java-warmup: -1"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), c.args, &stdout, &stderr); code != cli.ExitUsage || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, stderr.String(), cli.ExitUsage, c.want)
		}
	}
}

// TestJavaLeftOutWithoutKafka: with no jars, the default systems run
// without java and say so; java named in --systems, or --broker kafka, is
// an error before any run.
func TestJavaLeftOutWithoutKafka(t *testing.T) {
	t.Setenv(kafkatest.VersionEnv, "0.0.0-none")
	t.Setenv("MERLIN_KAFKA_CACHE", t.TempDir())
	base := []string{"--in-process", "--workloads", "w5", "--runs", "1", "--messages", "500", "--warmup", "0"}

	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), base, &stdout, &stderr); code != cli.ExitOK {
		t.Fatalf("default systems: exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stderr.String(), "leaving out system java") || !strings.Contains(stderr.String(), "interop/kafka/resolve") {
		t.Errorf("no message about java:\n%s", stderr.String())
	}
	if findRow(stdout.String(), "W5 peers, 100 B", "java") != "" || findRow(stdout.String(), "W5 peers, 100 B", "sarama") == "" {
		t.Errorf("want rows for the Go systems only:\n%s", stdout.String())
	}

	for _, extra := range [][]string{{"--systems", "merlin,java"}, {"--broker", "kafka"}} {
		stdout.Reset()
		stderr.Reset()
		if code := run(context.Background(), append(slices.Clone(base), extra...), &stdout, &stderr); code != cli.ExitError || !strings.Contains(stderr.String(), "interop/kafka/resolve") {
			t.Errorf("%v: exit %d, stderr %q; want %d and the resolve hint", extra, code, stderr.String(), cli.ExitError)
		}
		if stdout.Len() > 0 {
			t.Errorf("%v: a table was printed:\n%s", extra, stdout.String())
		}
	}
}

// TestBrokerKafkaAndJava runs W5 on the bundled broker and on Apache
// Kafka with every system, java included, in one invocation: one table
// with a broker column, every row a result (every message acknowledged
// once and in the topic), the Java producer's latencies in the notes.
func TestBrokerKafkaAndJava(t *testing.T) {
	if testing.Short() && !kafkatest.Required() {
		t.Skip("skipped in -short mode: starts Apache Kafka")
	}
	kafkatest.Need(t)
	var stdout, stderr bytes.Buffer
	argv := []string{"--in-process", "--broker", "bundled,kafka", "--kafka-heap-mb", "512", "--workloads", "w5",
		"--runs", "1", "--messages", "5000", "--warmup", "50", "--java-warmup", "2000", "--timeout", "3m"}
	if code := run(context.Background(), argv, &stdout, &stderr); code != cli.ExitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	if line := findLine(out, "workload "); !slices.Contains(strings.Fields(line), "broker") {
		t.Errorf("no broker column in %q", line)
	}
	for _, want := range []string{"kafka = Apache Kafka " + kafkatest.Version(), "java: Apache Kafka", "enable.idempotence=false",
		"W5 peers, 100 B, java on kafka: ProducerPerformance's latency", "W5 peers, 100 B, java on bundled: ProducerPerformance's latency"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Kafka 4.x's tool warms up on --java-warmup records; 3.9's cannot.
	if !strings.Contains(out, "--warmup-records 2000") && !strings.Contains(out, "no warm-up (this release's tool has none)") {
		t.Errorf("the java line says nothing of --java-warmup 2000:\n%s", out)
	}
	rows := map[string]int{}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(strings.TrimPrefix(strings.TrimLeft(l, " "), "W5 peers, 100 B"))
		if !strings.HasPrefix(strings.TrimLeft(l, " "), "W5 peers, 100 B ") || len(f) < 3 {
			continue
		}
		if strings.Contains(l, "ERROR") {
			t.Errorf("error row %q", l)
		}
		rows[f[0]+" on "+f[1]]++
	}
	for _, s := range systemOrder {
		for _, b := range []string{"bundled", "kafka"} {
			if rows[s+" on "+b] != 1 {
				t.Errorf("%d rows for %s on %s:\n%s", rows[s+" on "+b], s, b, out)
			}
		}
	}
}

// findLine is the first line of out that starts with prefix, or "".
func findLine(out, prefix string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimLeft(l, " "), prefix) {
			return l
		}
	}
	return ""
}
