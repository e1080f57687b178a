package kafkatest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestClasspathMissingIsErrMissing(t *testing.T) {
	t.Setenv("MERLIN_KAFKA_CACHE", t.TempDir())
	_, _, err := Classpath("0.0.0-none")
	if err == nil || !strings.Contains(err.Error(), "interop/kafka/resolve") {
		t.Fatalf("Classpath of an unresolved version: %v, want an error naming the resolve script", err)
	}
}

// A cluster id starting with '-' makes kafka-storage format fail: none may.
func TestClusterIDNeverStartsWithDash(t *testing.T) {
	for range 5000 {
		id, err := clusterID()
		if err != nil {
			t.Fatal(err)
		}
		if len(id) != 22 || id[0] == '-' {
			t.Fatalf("cluster id %q", id)
		}
	}
}

// TestNodeLifecycle starts one node, writes to it, and checks that the data
// and the port survive Stop/Start and Kill/Start, and that Close leaves no
// process behind.
func TestNodeLifecycle(t *testing.T) {
	c := New(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.CreateTopic(ctx, "life", 2, 1, map[string]string{"min.insync.replicas": "1"}); err != nil {
		t.Fatal(err)
	}
	produce := func(n int) {
		t.Helper()
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers()...), kgo.DefaultProduceTopic("life"))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		for i := range n {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "v%d", i)}).FirstErr(); err != nil {
				t.Fatalf("produce %d: %v", i, err)
			}
		}
	}
	count := func() int {
		t.Helper()
		offs, err := c.Admin().ListEndOffsets(ctx, "life")
		if err != nil {
			t.Fatal(err)
		}
		total := 0
		offs.Each(func(o kadm.ListedOffset) { total += int(o.Offset) })
		return total
	}
	produce(10)
	n := c.Nodes()[0]
	addr, pid := n.Addr(), n.Pid()
	if err := n.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if n.Addr() != addr || n.Pid() == pid {
		t.Fatalf("after Restart: addr %s pid %d, was %s pid %d", n.Addr(), n.Pid(), addr, pid)
	}
	if err := c.WaitTopic(ctx, "life", 2, 1); err != nil {
		t.Fatal(err)
	}
	produce(5)
	if err := n.Kill(); err != nil {
		t.Fatal(err)
	}
	if n.Running() {
		t.Fatal("Running after Kill")
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Fatalf("process %d of the first run still exists", pid)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitTopic(ctx, "life", 2, 1); err != nil {
		t.Fatal(err)
	}
	if got := count(); got != 15 {
		t.Fatalf("end offsets add up to %d after restart and kill, want 15", got)
	}
	last := n.Pid()
	c.Close()
	if err := syscall.Kill(last, 0); err == nil {
		t.Fatalf("process %d alive after Close", last)
	}
	if b, err := os.ReadFile(n.LogPath); err != nil || !strings.Contains(string(b), "Kafka Server started") && !strings.Contains(string(b), "started (kafka.server") {
		t.Fatalf("node log %s lacks Kafka's start line (err %v)", n.LogPath, err)
	}
}
