package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/merlinkafka/merlin/internal/cli"
	"github.com/merlinkafka/merlin/internal/secflags"
)

type args struct {
	Brokers        string        `arg:"--brokers" help:"comma-separated HOST:PORT of an existing cluster (default: the bundled broker as its own process, fresh per run)" placeholder:"ADDRS"`
	Workloads      string        `arg:"--workloads" default:"w2,w3,w4,w5" help:"comma-separated workloads to run"`
	Systems        string        `arg:"--systems" help:"comma-separated systems to compare (default merlin,kgo,sarama,java; java is left out with a message when Java or Kafka's jars are missing)"`
	Runs           int           `arg:"--runs" default:"3" help:"runs of every case and system; the table shows medians"`
	Messages       string        `arg:"--messages" help:"message counts: N for every workload, or w2=N,w5=N,... (defaults w2=100000 per row, w3=100000, w4=10000, w5=1000000)" placeholder:"SPEC"`
	Lists          string        `arg:"--lists" default:"1000,10000,100000" help:"W2's list sizes (messages in one call)"`
	Partitions     int32         `arg:"--partitions" default:"4" help:"partitions of every topic"`
	Config         string        `arg:"--config" default:"tuned" help:"tuned: every system acks=1, idempotence off, no compression, the same --linger; defaults: each client out of the box (its own batching, linger, idempotence, compression) but acks=all for every one" placeholder:"tuned|defaults"`
	Linger         time.Duration `arg:"--linger" default:"10ms" help:"batch linger of every system in --config tuned: merlin's TTL, kgo's ProducerLinger, sarama's Flush.Frequency, java's linger.ms"`
	BufferBound    int           `arg:"--buffer-bound" help:"at most N messages buffered and unacknowledged, in every system with such a limit (merlin MaxBufferedMessages, kgo MaxBufferedRecords, java buffer.memory = N x message size; sarama has none): for comparing peak heap; 0: each system's own default" placeholder:"N"`
	Warmup         int           `arg:"--warmup" default:"100" help:"messages sent and acknowledged before each timed run"`
	Timeout        time.Duration `arg:"--timeout" default:"5m" help:"limit of one run"`
	Markdown       string        `arg:"--markdown" help:"also write the table as Markdown to FILE" placeholder:"FILE"`
	SVG            string        `arg:"--svg" help:"also write a bar chart of msgs/s as SVG to FILE" placeholder:"FILE"`
	CPUProfile     string        `arg:"--cpuprofile" help:"write a CPU profile of each timed run of the profiled systems to FILE-<case>-<system>-r<run>.<ext>" placeholder:"FILE"`
	ProfileSystems string        `arg:"--profile-systems" default:"merlin" help:"systems whose runs --cpuprofile records"`
	BrokerBin      string        `arg:"--broker-bin" help:"merlin-broker binary to run (default: next to merlin-bench, else built with go build)" placeholder:"PATH"`
	InProcess      bool          `arg:"--in-process" help:"run the bundled broker inside the bench process (for tests: its CPU and memory then count against every system)"`
	// The security of an existing cluster's connections (--brokers only),
	// for every system and the bench's own admin and consumer clients.
	secflags.Flags
	Broker      string `arg:"--broker" default:"bundled" help:"comma-separated brokers to run against, in turn: bundled (merlin-broker), kafka (Apache Kafka, one KRaft node from internal/kafkatest); with both, the table gains a broker column" placeholder:"LIST"`
	KafkaHeapMB int    `arg:"--kafka-heap-mb" default:"1024" help:"Java heap of the Kafka node of --broker kafka, in MiB"`
	JavaWarmup  int    `arg:"--java-warmup" help:"records the java system sends in each run before its timed steady state, warming its JVM's JIT up (ProducerPerformance --warmup-records; default: --warmup)"`
}

func (args) Description() string {
	return "merlin-bench produces the same messages with merlin, franz-go kgo and sarama to the\nsame broker in one run and prints one table (workloads W2-W5 of docs/BENCHMARKS.md).\n"
}

// run is the whole program: it parses argv, runs the benchmarks, writes the
// table to stdout (and the files asked for) and returns the exit code.
// Progress goes to stderr.
func run(ctx context.Context, argv []string, stdout, stderr io.Writer) int {
	var a args
	p, code, done := cli.Parse("merlin-bench", &a, argv, stdout, stderr)
	if done {
		return code
	}
	usage := p.Usagef
	workloads, err := parseWorkloads(a.Workloads)
	if err != nil {
		return usage("--workloads: %v", err)
	}
	names, err := parseSystems(cmp.Or(a.Systems, strings.Join(systemOrder, ",")))
	if err != nil {
		return usage("--systems: %v", err)
	}
	profiled, err := parseSystems(a.ProfileSystems)
	if err != nil {
		return usage("--profile-systems: %v", err)
	}
	counts, err := parseMessages(a.Messages)
	if err != nil {
		return usage("--messages: %v", err)
	}
	lists, err := parseLists(a.Lists)
	if err != nil {
		return usage("--lists: %v", err)
	}
	switch {
	case a.Runs < 1:
		return usage("--runs: %d must be at least 1", a.Runs)
	case a.Partitions < 1:
		return usage("--partitions: %d must be at least 1", a.Partitions)
	case a.Linger <= 0:
		return usage("--linger: %v must be positive", a.Linger)
	case a.BufferBound < 0:
		return usage("--buffer-bound: %d must not be negative", a.BufferBound)
	case a.Warmup < 0:
		return usage("--warmup: %d must not be negative", a.Warmup)
	case a.Timeout <= 0:
		return usage("--timeout: %v must be positive", a.Timeout)
	case a.InProcess && a.Brokers != "":
		return usage("--in-process and --brokers exclude each other")
	case a.JavaWarmup < 0:
		return usage("--java-warmup: %d must not be negative", a.JavaWarmup)
	case a.KafkaHeapMB < 128:
		return usage("--kafka-heap-mb: %d is below 128", a.KafkaHeapMB)
	}
	config, err := parseConfig(a.Config)
	if err != nil {
		return usage("--config: %v", err)
	}
	set := setup{config: config, linger: a.Linger, bound: a.BufferBound}
	choices, err := parseBrokerChoices(a.Broker)
	if err != nil {
		return usage("--broker: %v", err)
	}
	if a.Brokers != "" && (len(choices) > 1 || choices[0] != brokerBundled) {
		return usage("--brokers and --broker %s exclude each other", a.Broker)
	}
	var sec security
	if sec.tls, sec.sasl, err = a.Flags.Producer(os.LookupEnv); err != nil {
		return usage("%v", err)
	}
	if (sec.tls != nil || sec.sasl != nil) && strings.TrimSpace(a.Brokers) == "" {
		return usage("--tls* and --sasl-* need --brokers: the bundled broker has neither")
	}
	addrs := cli.List(a.Brokers)

	names, java, err := findJavaFor(ctx, names, a.Systems != "", slices.Contains(choices, brokerKafka), stderr)
	if err != nil {
		fmt.Fprintf(stderr, "merlin-bench: %v\n", err)
		return cli.ExitError
	}
	if java != nil {
		java.warmupRecords = cmp.Or(a.JavaWarmup, a.Warmup)
	}
	e := &env{
		partitions: a.Partitions,
		setup:      set,
		warmup:     a.Warmup,
		timeout:    a.Timeout,
		cpuprofile: a.CPUProfile,
		profile:    map[string]bool{},
		stderr:     stderr,
		sec:        sec,
		java:       java,
	}
	for _, s := range profiled {
		e.profile[s] = true
	}
	rep := &report{
		when:       time.Now(),
		machine:    thisMachine(),
		partitions: a.Partitions,
		setup:      set,
		names:      names,
		runs:       a.Runs,
		java:       java,
	}
	fmt.Fprintf(stderr, "merlin-bench: %s\n", rep.machine)
	cases := buildCases(workloads, counts, lists)
	if err := benchBrokers(ctx, e, rep, choices, func(choice string) (brokerSource, error) {
		return openSource(ctx, a, choice, addrs, stderr)
	}, cases, names); err != nil {
		fmt.Fprintf(stderr, "merlin-bench: %v\n", err)
		return cli.ExitError
	}

	if err := rep.writeText(stdout); err != nil {
		fmt.Fprintf(stderr, "merlin-bench: %v\n", err)
		return cli.ExitError
	}
	code = cli.ExitOK
	for _, out := range []struct {
		path  string
		write func(io.Writer) error
	}{{a.Markdown, rep.writeMarkdown}, {a.SVG, rep.writeSVG}} {
		if out.path == "" {
			continue
		}
		if err := writeFile(out.path, out.write); err != nil {
			fmt.Fprintf(stderr, "merlin-bench: %v\n", err)
			code = cli.ExitError
		}
	}
	if rep.failed() || ctx.Err() != nil {
		code = cli.ExitError
	}
	return code
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}
