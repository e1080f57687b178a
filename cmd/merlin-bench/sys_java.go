package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/merlinkafka/merlin/internal/kafkatest"
	"github.com/merlinkafka/merlin/internal/syncbuf"
	"github.com/merlinkafka/merlin/producer"
)

// javaSystem is Apache Kafka's own producer, the Java client, driven by
// Kafka's ProducerPerformance tool (kafka-producer-perf-test) in a JVM of
// its own for every run. It is not a client of the bench process: the tool
// sends the messages and times them, and the bench checks the topic after.
const javaSystem = "java"

// perfClass is the tool's main class, in kafka-tools.
const perfClass = "org.apache.kafka.tools.ProducerPerformance"

// javaHeap is the tool's heap, as kafka-producer-perf-test.sh sets it.
const javaHeap = "-Xmx512m"

// javaTool is the JVM and Kafka's class path the java system runs with,
// and what the tool's release takes on its command line.
type javaTool struct {
	java, classpath, version string
	// commandProperty: producer properties go in --command-property
	// (Kafka 4.1 on) rather than the older --producer-props, which 4.x
	// deprecates; bootstrap.servers goes with them either way.
	commandProperty bool
	// warmup: the tool takes --warmup-records and prints a steady-state
	// summary without them.
	warmup bool
	// warmupRecords is how many records each run sends before the tool's
	// steady state: --java-warmup, else --warmup.
	warmupRecords int
}

// findJava finds java and the jars of Kafka version (kafkatest.Classpath),
// and asks the tool for its flags. The error wraps kafkatest.ErrMissing
// when Java or the jars are not installed.
func findJava(ctx context.Context, version string) (*javaTool, error) {
	cp, java, err := kafkatest.Classpath(version)
	if err != nil {
		return nil, err
	}
	j := &javaTool{java: java, classpath: cp, version: version}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := kafkatest.JavaCommand(ctx, java, cp, os.TempDir(), perfClass, "--help").CombinedOutput()
	if !bytes.Contains(out, []byte("--num-records")) {
		return nil, fmt.Errorf("%s --help of Kafka %s: %v\n%s", perfClass, version, err, out)
	}
	j.commandProperty = bytes.Contains(out, []byte("--command-property"))
	j.warmup = bytes.Contains(out, []byte("--warmup-records"))
	return j, nil
}

// javaProps are the Java producer's properties for a run of messages of
// size bytes. Tuned, aligned with the other systems: acks=1, idempotence
// off, no compression, linger.ms the bench's linger (0 for unbatched rows),
// batch.size merlin's batch limit (producer.DefaultMaxBytes, 1 MiB; kgo's
// and sarama's are 1 MB), the rest at the client's defaults. Defaults:
// bootstrap.servers and acks=all alone. --buffer-bound adds buffer.memory
// (javaBufferMemory).
func javaProps(brokers []string, s setup, immediate bool, size int) []string {
	props := []string{"bootstrap.servers=" + strings.Join(brokers, ",")}
	batch := javaDefaultBatchSize
	if s.defaults() {
		props = append(props, "acks=all")
	} else {
		ms := int64(0)
		if !immediate {
			ms = max(1, s.linger.Milliseconds())
		}
		batch = producer.DefaultMaxBytes
		props = append(props,
			"client.id=merlin-bench",
			"acks=1",
			"enable.idempotence=false",
			"compression.type=none",
			"linger.ms="+strconv.FormatInt(ms, 10),
			"batch.size="+strconv.Itoa(batch),
		)
	}
	if s.bound > 0 {
		props = append(props, "buffer.memory="+strconv.Itoa(javaBufferMemory(s.bound, size, batch)))
	}
	return props
}

// args is the java command line of one run: records messages of size
// bytes, the first warmup of them outside the tool's steady-state figures
// when it can do that.
func (j *javaTool) args(topic string, records, warmup, size int, props []string) []string {
	a := []string{javaHeap, "-XX:+UseG1GC", perfClass,
		"--topic", topic,
		"--num-records", strconv.Itoa(records),
		"--record-size", strconv.Itoa(size),
		"--throughput", "-1",
	}
	if j.warmup && warmup > 0 {
		a = append(a, "--warmup-records", strconv.Itoa(warmup))
	}
	if j.commandProperty {
		a = append(a, "--command-property")
	} else {
		a = append(a, "--producer-props")
	}
	return append(a, props...)
}

// perfSummary is one summary line of ProducerPerformance: the whole run's,
// or the steady state's (after the warm-up records).
type perfSummary struct {
	records  int64
	rate     float64 // records a second
	mbps     float64 // MB (2^20) a second, as the tool counts them
	avg, max time.Duration
	p50      time.Duration
	p95      time.Duration
	p99      time.Duration
	p999     time.Duration
}

// perfLine matches a summary line, which, unlike the progress lines every
// --reporting-interval, has percentiles:
//
//	300000 records sent, 154400.411734 records/sec (14.72 MB/sec), 41.29 ms avg latency, 155.00 ms max latency, 31 ms 50th, 117 ms 95th, 147 ms 99th, 155 ms 99.9th.
var perfLine = regexp.MustCompile(`^(\d+) (steady state )?records sent, ([0-9.]+) records/sec \(([0-9.]+) MB/sec\), ([0-9.]+) ms avg latency, ([0-9.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99\.9th\.$`)

var errNoSummary = errors.New("no summary line in ProducerPerformance's output")

// parsePerf reads the tool's standard output: the whole run's summary, and
// the steady state's when the tool printed one (nil otherwise).
func parsePerf(out string) (total perfSummary, steady *perfSummary, err error) {
	found := false
	for _, line := range strings.Split(out, "\n") {
		m := perfLine.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		var s perfSummary
		s.records, _ = strconv.ParseInt(m[1], 10, 64)
		s.rate, _ = strconv.ParseFloat(m[3], 64)
		s.mbps, _ = strconv.ParseFloat(m[4], 64)
		ms := func(v string) time.Duration {
			f, _ := strconv.ParseFloat(v, 64)
			return time.Duration(f * float64(time.Millisecond))
		}
		s.avg, s.max = ms(m[5]), ms(m[6])
		s.p50, s.p95, s.p99, s.p999 = ms(m[7]), ms(m[8]), ms(m[9]), ms(m[10])
		if s.rate <= 0 {
			return total, nil, fmt.Errorf("summary %q: no rate", line)
		}
		if m[2] != "" {
			steady = &s
			continue
		}
		total, found = s, true
	}
	if !found {
		return total, nil, errNoSummary
	}
	return total, steady, nil
}

// runJava is one run of the java system: the tool produces c.messages
// (plus the warm-up) to topic, which the bench then counts. The figures
// are the tool's own (steady state when it has one); CPU and peak RSS are
// the JVM process's whole life, start-up and JIT included.
func runJava(ctx context.Context, e *env, c benchCase, cl *cluster, adm *admin, topic string) (runResult, error) {
	var res runResult
	if c.kind != kindOne {
		return res, fmt.Errorf("java: ProducerPerformance has no %s mode", c.name)
	}
	j := e.java
	warmup := 0
	if j.warmup {
		warmup = j.warmupRecords
	}
	total := warmup + c.messages
	cmd := kafkatest.JavaCommand(ctx, j.java, j.classpath, os.TempDir(),
		j.args(topic, total, warmup, c.size, javaProps(cl.addrs, e.setup, c.immediate, c.size))...)
	var stdout, stderr syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	b0, hasBroker := cl.cpu()
	err := cmd.Run()
	if b1, ok := cl.cpu(); ok && hasBroker {
		res.brokerCPU, res.hasBroker = b1-b0, true
	}
	if err != nil {
		return res, fmt.Errorf("java %s: %w%s", perfClass, err, tailOf(stderr.String(), 10))
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		res.peakRSS, res.hasRSS = ru.Maxrss<<10, true
	}
	all, steady, err := parsePerf(stdout.String())
	if err != nil {
		return res, fmt.Errorf("%w%s", err, tailOf(stdout.String()+stderr.String(), 10))
	}
	if all.records != int64(total) {
		return res, fmt.Errorf("ProducerPerformance: %d of %d records acknowledged%s", all.records, total, tailOf(stderr.String(), 10))
	}
	sum := all
	if steady != nil {
		sum = *steady
	}
	if warmup > 0 && (steady == nil || steady.records != int64(c.messages)) {
		return res, fmt.Errorf("ProducerPerformance: no steady-state summary of %d records in:\n%s", c.messages, stdout.String())
	}
	n, err := adm.records(ctx, topic)
	if err != nil {
		return res, fmt.Errorf("counting records: %w", err)
	}
	if n != int64(total) {
		return res, fmt.Errorf("topic holds %d records, %d were acknowledged", n, total)
	}
	res.messages = c.messages
	res.bytes = int64(c.messages) * int64(c.size)
	res.elapsed = time.Duration(float64(sum.records) / sum.rate * float64(time.Second))
	res.perf = &sum
	res.noHeap = true
	return res, nil
}

// tailOf is the last n lines of s, on new lines, without log4j's
// complaints about its configuration.
func tailOf(s string, n int) string {
	var keep []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l != "" && !strings.HasPrefix(l, "log4j:WARN") {
			keep = append(keep, l)
		}
	}
	if len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	if len(keep) == 0 {
		return ""
	}
	return "\n" + strings.Join(keep, "\n")
}
