package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/merlinkafka/merlin/internal/cli"
	"github.com/merlinkafka/merlin/internal/kafkatest"
)

type args struct {
	Nodes   int    `arg:"--nodes" default:"3" help:"combined broker+controller nodes (1 to 9)"`
	Version string `arg:"--version" help:"Kafka release whose jars interop/kafka/resolve fetched (default $MERLIN_KAFKA_VERSION, else the release pinned in interop/kafka/pom.xml)"`
	Dir     string `arg:"--dir" help:"data directory, kept on exit (default: a temporary directory, removed on exit)" placeholder:"DIR"`
	HeapMB  int    `arg:"--heap-mb" default:"384" help:"Java heap of each node (-Xmx), in MiB"`
}

func (args) Description() string {
	return "merlin-kafka runs an Apache Kafka KRaft cluster on loopback until interrupted.\n"
}

// startTimeout bounds the start of the cluster (formatting, JVM start-up,
// the quorum and every broker registering).
const startTimeout = 3 * time.Minute

// liveCheck is how often the command checks that every node still runs.
const liveCheck = time.Second

// run is the whole program: it starts the cluster, prints its addresses to
// stdout and waits for ctx to end. Progress goes to stderr.
func run(ctx context.Context, argv []string, stdout, stderr io.Writer) int {
	var a args
	p, code, done := cli.Parse("merlin-kafka", &a, argv, stdout, stderr)
	if done {
		return code
	}
	switch {
	case a.Nodes < 1 || a.Nodes > 9:
		return p.Usagef("--nodes: %d is not between 1 and 9", a.Nodes)
	case a.HeapMB < 128:
		return p.Usagef("--heap-mb: %d is below 128", a.HeapMB)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if err := serve(ctx, a, stdout, log); err != nil {
		log.Error("merlin-kafka", "err", err)
		return cli.ExitError
	}
	return cli.ExitOK
}

// serve runs the cluster until ctx ends (nil) or a node dies (an error).
func serve(ctx context.Context, a args, stdout io.Writer, log *slog.Logger) error {
	dir := a.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "merlin-kafka-")
		if err != nil {
			return err
		}
		defer func() {
			if err := os.RemoveAll(tmp); err != nil {
				log.Warn("removing the data directory", "dir", tmp, "err", err)
			}
		}()
		dir = tmp
	}
	startCtx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	c, err := kafkatest.Start(startCtx, kafkatest.Options{
		Nodes:   a.Nodes,
		Version: a.Version,
		Dir:     dir,
		HeapMB:  a.HeapMB,
		Logf:    func(format string, args ...any) { log.Info(fmt.Sprintf(format, args...)) },
	})
	if errors.Is(err, kafkatest.ErrMissing) {
		return fmt.Errorf("%w (see README, \"Tests against Apache Kafka\")", err)
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted while starting: %w", err)
		}
		return err
	}
	defer func() {
		log.Info("stopping every node")
		c.Close()
		log.Info("stopped")
	}()

	brokers := strings.Join(c.Brokers(), ",")
	fmt.Fprintf(stdout, "brokers: %s\n", brokers)
	fmt.Fprintf(stdout, "Apache Kafka %s, %d node(s), data in %s\n", c.Version(), len(c.Nodes()), dir)
	for _, n := range c.Nodes() {
		fmt.Fprintf(stdout, "node %d: %s (pid %d), log %s\n", n.ID, n.Addr(), n.Pid(), n.LogPath)
	}
	fmt.Fprintf(stdout, "try: go run ./cmd/merlin-demo --brokers %s\n", brokers)
	fmt.Fprintln(stdout, "stop with Ctrl-C (SIGINT) or SIGTERM")

	tick := time.NewTicker(liveCheck)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		for _, n := range c.Nodes() {
			if !n.Running() {
				return fmt.Errorf("node %d exited on its own; its log is %s:\n%s", n.ID, n.LogPath, c.LogTails(20))
			}
		}
	}
}
