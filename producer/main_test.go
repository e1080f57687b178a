package producer

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/broker"
)

// childBrokerEnv makes the test binary run as a bundled broker instead of
// running tests: see startChildBroker.
const childBrokerEnv = "MERLIN_PRODUCER_TEST_CHILD_BROKER"

// childPartitionsEnv sets the child broker's partitions per created topic.
const childPartitionsEnv = "MERLIN_PRODUCER_TEST_CHILD_PARTITIONS"

func TestMain(m *testing.M) {
	if os.Getenv(childBrokerEnv) != "" {
		os.Exit(runChildBroker())
	}
	// Idle workers let their goroutines go sooner than in production, so
	// that every test also runs goroutines ending and starting again.
	idleExit = 50 * time.Millisecond
	os.Exit(m.Run())
}

// runChildBroker serves an in-memory broker until its stdin closes.
func runChildBroker() int {
	faults := new(broker.NodeFaults)
	if d, err := time.ParseDuration(os.Getenv(childBrokerEnv)); err == nil {
		faults.SetLatency(d)
	}
	parts := 2
	if n, err := strconv.Atoi(os.Getenv(childPartitionsEnv)); err == nil {
		parts = n
	}
	b, err := broker.New(broker.Config{DefaultPartitions: int32(parts), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Faults: faults})
	if err == nil {
		err = b.Start()
	}
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println("addr", b.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	b.Close()
	return 0
}

// startChildBroker runs a broker in another process, so that what it
// stores does not count in this process's heap. Each request waits latency.
func startChildBroker(t testing.TB, latency time.Duration) string {
	t.Helper()
	return startChildBrokerParts(t, latency, 2)
}

// startChildBrokerParts is startChildBroker creating topics of parts
// partitions.
func startChildBrokerParts(t testing.TB, latency time.Duration, parts int) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childBrokerEnv+"="+latency.String(), fmt.Sprintf("%s=%d", childPartitionsEnv, parts))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "addr ") {
		t.Fatalf("child broker said %q: %v", line, err)
	}
	return strings.TrimSpace(strings.TrimPrefix(line, "addr "))
}
