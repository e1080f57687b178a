package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/merlinkafka/merlin/internal/cli"
	"github.com/merlinkafka/merlin/internal/kafkatest"
	"github.com/merlinkafka/merlin/internal/syncbuf"
)

// TestMerlinKafkaStartsProducesAndStops runs the command with one node and
// its default temporary directory, produces a record to the brokers it
// prints, ends it as SIGINT would (cli.Main cancels run's context), and
// checks that it exits 0, that no process of the cluster is left and that
// the directory is gone.
func TestMerlinKafkaStartsProducesAndStops(t *testing.T) {
	if testing.Short() && !kafkatest.Required() {
		t.Skip("skipped in -short mode: starts Apache Kafka")
	}
	kafkatest.Need(t)
	t.Setenv("TMPDIR", t.TempDir()) // where the command's own temp dir goes

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncbuf.Buffer
	exit := make(chan int, 1)
	go func() { exit <- run(ctx, []string{"--nodes", "1", "--heap-mb", "256"}, &stdout, &stderr) }()

	brokers, dir := waitBrokers(t, &stdout, &stderr, exit)
	if !strings.HasPrefix(dir, os.Getenv("TMPDIR")) {
		t.Fatalf("data directory %q is not under TMPDIR %q", dir, os.Getenv("TMPDIR"))
	}
	if pids := processesUsing(dir); len(pids) != 1 {
		t.Fatalf("%d processes use %s while one node runs: %v", len(pids), dir, pids)
	}

	pctx, pcancel := context.WithTimeout(ctx, time.Minute)
	defer pcancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	r := &kgo.Record{Topic: "merlin-kafka-test", Value: []byte("hello")}
	err = cl.ProduceSync(pctx, r).FirstErr()
	cl.Close()
	if err != nil {
		t.Fatalf("produce to %v: %v", brokers, err)
	}
	if r.Offset != 0 {
		t.Errorf("first record of a new topic at offset %d", r.Offset)
	}

	cancel()
	select {
	case code := <-exit:
		if code != cli.ExitOK {
			t.Fatalf("exit %d after the signal\nstderr:\n%s", code, stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("still running a minute after the signal\nstderr:\n%s", stderr.String())
	}
	if pids := processesUsing(dir); len(pids) > 0 {
		t.Errorf("processes left running after exit: %v", pids)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temporary data directory %s left behind (stat: %v)", dir, err)
	}
}

// waitBrokers waits for the brokers line and the data directory line.
func waitBrokers(t *testing.T, stdout, stderr *syncbuf.Buffer, exit <-chan int) (brokers []string, dir string) {
	t.Helper()
	deadline := time.After(startTimeout + 30*time.Second)
	for {
		for _, l := range strings.Split(stdout.String(), "\n") {
			if s, ok := strings.CutPrefix(l, "brokers: "); ok {
				brokers = strings.Split(s, ",")
			}
			if _, rest, ok := strings.Cut(l, ", data in "); ok {
				dir = rest
			}
		}
		if len(brokers) > 0 && dir != "" {
			if len(brokers) != 1 || !strings.HasPrefix(brokers[0], "127.0.0.1:") {
				t.Fatalf("brokers line lists %v, want one loopback address", brokers)
			}
			if !strings.Contains(stdout.String(), "go run ./cmd/merlin-demo --brokers "+brokers[0]) {
				t.Errorf("no merlin-demo hint:\n%s", stdout.String())
			}
			return brokers, dir
		}
		select {
		case code := <-exit:
			t.Fatalf("exited %d before printing the brokers\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
		case <-deadline:
			t.Fatalf("no brokers line\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// processesUsing lists the pids whose command line mentions dir: the
// cluster's java processes name their config files under it.
func processesUsing(dir string) []string {
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var pids []string
	for _, f := range cmdlines {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // exited meanwhile
		}
		if bytes.Contains(b, []byte(dir)) {
			pids = append(pids, filepath.Base(filepath.Dir(f)))
		}
	}
	return pids
}

func TestMerlinKafkaFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--nodes", "0"}, "--nodes: 0"},
		{[]string{"--nodes", "10"}, "--nodes: 10"},
		{[]string{"--heap-mb", "64"}, "--heap-mb: 64"},
		{[]string{"--nope"}, "unknown argument --nope"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), c.args, &stdout, &stderr); code != cli.ExitUsage || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, stderr.String(), cli.ExitUsage, c.want)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, &stdout, &stderr); code != cli.ExitOK || !strings.Contains(stdout.String(), "--heap-mb") {
		t.Errorf("--help: exit %d, stdout %q", code, stdout.String())
	}
}

// TestMerlinKafkaWithoutKafka: with no class path for the release, the
// command fails at once, says how to get the jars and leaves no directory.
func TestMerlinKafkaWithoutKafka(t *testing.T) {
	t.Setenv("MERLIN_KAFKA_CACHE", t.TempDir())
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--nodes", "1", "--version", "0.0.0-none"}, &stdout, &stderr); code != cli.ExitError {
		t.Fatalf("exit %d, want %d\nstderr:\n%s", code, cli.ExitError, stderr.String())
	}
	if !strings.Contains(stderr.String(), "interop/kafka/resolve") || strings.Contains(stdout.String(), "brokers:") {
		t.Errorf("stdout %q, stderr %q: want no brokers line and the resolve hint", stdout.String(), stderr.String())
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("left %v in TMPDIR", left)
	}
}
