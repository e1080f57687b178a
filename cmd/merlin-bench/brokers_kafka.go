package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/merlinkafka/merlin/internal/kafkatest"
)

// Broker choices of --broker.
const (
	brokerBundled = "bundled"
	brokerKafka   = "kafka"
)

// parseBrokerChoices reads --broker: bundled, kafka, or both in the order
// given.
func parseBrokerChoices(s string) ([]string, error) {
	var out []string
	for _, name := range strings.Split(s, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		switch name {
		case "":
			continue
		case brokerBundled, brokerKafka:
		default:
			return nil, fmt.Errorf("unknown broker %q (want %s or %s)", name, brokerBundled, brokerKafka)
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no broker given")
	}
	return out, nil
}

// kafkaWarmup is how many 100-byte records warm the Kafka node's JVM up
// (its JIT) before the first run, so that the first system to run does
// not pay for it. They are sent twice, as both configs send them: acks=1
// without idempotence (tuned) and acks=all, idempotent (defaults), on as
// many partitions as the runs use. With only the first pass, the first
// system of a defaults run on Kafka ran at half the speed of the next.
const kafkaWarmup = 300_000

// shmDir is where the Kafka node keeps its log when it can: a tmpfs, as
// the bundled broker runs --memory, so that neither measures the disk's
// writeback. On this project's 2-core machines a log on disk made W5 on
// Kafka swing from 0.6× to 1.7× between runs of the same two clients.
const shmDir = "/dev/shm"

// logBase is the directory the Kafka node's data directory goes in:
// shmDir when it is a directory, else the default temporary directory.
func logBase() string {
	if fi, err := os.Stat(shmDir); err == nil && fi.IsDir() {
		return shmDir
	}
	return ""
}

// kafkaBroker is Apache Kafka: one KRaft node started with
// internal/kafkatest, in a temporary directory on disk. Unlike the bundled
// broker it is started once, on the first run, and kept for every run of
// the invocation, each on a fresh topic that is deleted after it: a JVM
// takes seconds to start and more to warm up, and a cold one per run would
// measure its JIT rather than the producers.
type kafkaBroker struct {
	version    string
	heapMB     int
	partitions int32 // of the runs' topics, and of the warm-up's
	stderr     io.Writer

	dir     string
	c       *kafkatest.Cluster
	bootErr error // the first start's failure, returned to every later run
}

func (k *kafkaBroker) describe() string {
	where := "on disk"
	if logBase() == shmDir {
		where = "in tmpfs (" + shmDir + ")"
	}
	return fmt.Sprintf("Apache Kafka %s, 1 KRaft node (internal/kafkatest, java -cp, -Xmx%dm, loopback, log "+where+"), started once and warmed up with 2 × %d records (acks=1, and acks=all idempotent); a fresh topic per run, deleted after it",
		k.version, k.heapMB, kafkaWarmup)
}

func (k *kafkaBroker) start(ctx context.Context) (*cluster, error) {
	if k.c == nil && k.bootErr == nil {
		k.bootErr = k.boot(ctx)
	}
	if k.bootErr != nil {
		return nil, k.bootErr
	}
	n := k.c.Nodes()[0]
	alive := func() error {
		if !n.Running() {
			return fmt.Errorf("kafka node exited; its log: %s\n%s", n.LogPath, k.c.LogTails(20))
		}
		return nil
	}
	if err := alive(); err != nil {
		return nil, err
	}
	return &cluster{
		addrs:  k.c.Brokers(),
		cpu:    func() (time.Duration, bool) { return processCPU(n.Pid()) },
		stop:   alive,
		shared: true,
	}, nil
}

// boot starts the node and warms it up.
func (k *kafkaBroker) boot(ctx context.Context) error {
	dir, err := os.MkdirTemp(logBase(), "merlin-bench-kafka-")
	if err != nil {
		return err
	}
	k.dir = dir
	t0 := time.Now()
	c, err := kafkatest.Start(ctx, kafkatest.Options{
		Nodes:   1,
		Version: k.version,
		Dir:     dir,
		HeapMB:  k.heapMB,
	})
	if err != nil {
		return fmt.Errorf("starting Apache Kafka: %w", err)
	}
	k.c = c
	fmt.Fprintf(k.stderr, "merlin-bench: Apache Kafka %s up at %s in %v; warming it up\n", c.Version(), strings.Join(c.Brokers(), ","), time.Since(t0).Round(time.Millisecond))
	return k.warmUp(ctx)
}

// warmUp produces kafkaWarmup records to a topic of its own, then deletes
// it.
func (k *kafkaBroker) warmUp(ctx context.Context) error {
	const topic = "merlin-bench-warmup"
	if err := k.c.CreateTopic(ctx, topic, int(k.partitions), 1, nil); err != nil {
		return err
	}
	passes := [][]kgo.Opt{
		{kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite()},
		{kgo.RequiredAcks(kgo.AllISRAcks())},
	}
	for _, opts := range passes {
		if err := produceWarmup(ctx, append(opts, kgo.SeedBrokers(k.c.Brokers()...), kgo.DefaultProduceTopic(topic))); err != nil {
			return fmt.Errorf("warming Kafka up: %w", err)
		}
	}
	_, err := k.c.Admin().DeleteTopic(ctx, topic)
	return err
}

// produceWarmup sends kafkaWarmup records with a kgo client of opts.
func produceWarmup(ctx context.Context, opts []kgo.Opt) error {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	val := make([]byte, 100)
	errs := make(chan error, 1)
	for range kafkaWarmup {
		cl.Produce(ctx, &kgo.Record{Value: val}, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

func (k *kafkaBroker) cleanup() {
	if k.c != nil {
		k.c.Close()
	}
	if k.dir != "" {
		_ = os.RemoveAll(k.dir)
	}
}
