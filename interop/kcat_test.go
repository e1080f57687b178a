package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// kcatPath finds kcat (called kafkacat by older packages).
func kcatPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("kcat")
	if err != nil {
		if old, err2 := exec.LookPath("kafkacat"); err2 == nil {
			return old
		}
	}
	need(t, "kcat (Debian package kcat)", err)
	return path
}

// kcat runs kcat with stdin and returns its stdout, failing the test on a
// non-zero exit.
func kcat(t *testing.T, ctx context.Context, bin string, stdin []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %s: %v; stderr:\n%s", strings.Join(args, " "), err, stderr.String())
	}
	if strings.Contains(stderr.String(), "ERROR") || strings.Contains(stderr.String(), "failed") {
		t.Fatalf("kcat %s reported errors:\n%s", strings.Join(args, " "), stderr.String())
	}
	return stdout.Bytes()
}

// kcatMetadata is the part of kcat -L -J's output the test checks.
type kcatMetadata struct {
	Brokers []struct {
		ID   int32  `json:"id"`
		Name string `json:"name"`
	} `json:"brokers"`
	Topics []struct {
		Topic      string `json:"topic"`
		Partitions []struct {
			Partition int32 `json:"partition"`
			Leader    int32 `json:"leader"`
		} `json:"partitions"`
	} `json:"topics"`
}

// kcat (librdkafka) lists the broker and its topics, produces 10 000 keyed
// lines and consumes them back in order; with 3 partitions, in order per
// partition, each key always in the same partition.
func TestKcat(t *testing.T) {
	bin := kcatPath(t)
	ctx := testContext(t, 2*time.Minute)
	b := startBroker(t, t.TempDir())
	const n = 10000
	var in bytes.Buffer
	for i := range n {
		fmt.Fprintf(&in, "key-%03d:value-%05d %s\n", i%100, i, strings.Repeat("x", i%40))
	}
	lines := strings.Split(strings.TrimSuffix(in.String(), "\n"), "\n")

	// A topic auto-created by kcat -P (one partition): read back whole,
	// in order.
	kcat(t, ctx, bin, in.Bytes(), "-b", b.addr, "-P", "-t", "ordered", "-K:", "-X", "acks=all")
	out := kcat(t, ctx, bin, nil, "-b", b.addr, "-C", "-t", "ordered", "-o", "beginning", "-e", "-q", "-K:")
	if got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n"); !equalLines(t, got, lines) {
		t.Fatal("topic \"ordered\" is not what was produced to it")
	}

	// Keyed, spread by librdkafka's partitioner over 3 partitions.
	createTopic(t, ctx, b.addr, "keyed", 3)
	kcat(t, ctx, bin, in.Bytes(), "-b", b.addr, "-P", "-t", "keyed", "-K:", "-z", "lz4")
	out = kcat(t, ctx, bin, nil, "-b", b.addr, "-C", "-t", "keyed", "-o", "beginning", "-e", "-q", "-f", "%p %o %k:%s\n")
	got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(got) != n {
		t.Fatalf("consumed %d lines, want %d", len(got), n)
	}
	nextOffset := map[int]int{}
	partitionOfKey := map[string]int{}
	lastOfKey := map[string]int{}
	seen := make([]bool, n)
	for _, l := range got {
		var p, off, i int
		rest := strings.SplitN(l, " ", 3)
		if len(rest) != 3 {
			t.Fatalf("line %q", l)
		}
		p, _ = strconv.Atoi(rest[0])
		off, _ = strconv.Atoi(rest[1])
		key, value, _ := strings.Cut(rest[2], ":")
		if _, err := fmt.Sscanf(value, "value-%05d", &i); err != nil || i < 0 || i >= n || lines[i] != rest[2] {
			t.Fatalf("line %q was not produced", l)
		}
		if off != nextOffset[p] {
			t.Fatalf("partition %d: offset %d after %d", p, off, nextOffset[p]-1)
		}
		nextOffset[p]++
		if q, ok := partitionOfKey[key]; ok && q != p {
			t.Fatalf("key %s in partitions %d and %d", key, q, p)
		}
		partitionOfKey[key] = p
		if last, ok := lastOfKey[key]; ok && i < last {
			t.Fatalf("key %s: record %d after %d", key, i, last)
		}
		lastOfKey[key] = i
		if seen[i] {
			t.Fatalf("record %d twice", i)
		}
		seen[i] = true
	}
	if len(nextOffset) != 3 {
		t.Errorf("records landed in partitions %v, want 3 partitions", nextOffset)
	}

	// -L lists the broker and both topics.
	var md kcatMetadata
	if err := json.Unmarshal(kcat(t, ctx, bin, nil, "-b", b.addr, "-L", "-J"), &md); err != nil {
		t.Fatal(err)
	}
	if len(md.Brokers) != 1 || md.Brokers[0].ID != 0 || md.Brokers[0].Name != b.addr {
		t.Errorf("brokers %+v, want node 0 at %s", md.Brokers, b.addr)
	}
	topics := map[string]int{}
	for _, tp := range md.Topics {
		topics[tp.Topic] = len(tp.Partitions)
		for _, p := range tp.Partitions {
			if p.Leader != 0 {
				t.Errorf("%s/%d: leader %d", tp.Topic, p.Partition, p.Leader)
			}
		}
	}
	if len(topics) != 2 || topics["ordered"] != 1 || topics["keyed"] != 3 {
		t.Errorf("topics %v", topics)
	}
}

// equalLines compares line lists, reporting the first difference.
func equalLines(t *testing.T, got, want []string) bool {
	t.Helper()
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Errorf("line %d: %q, want %q", i, got[i], want[i])
			return false
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d lines, want %d", len(got), len(want))
		return false
	}
	return true
}
