package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/mockbroker"
)

func runDemo(t *testing.T, argv ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, argv, &out, &errOut)
	return code, out.String(), errOut.String()
}

// wantAll reports each of wants that text (named what) lacks.
func wantAll(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(text, want) {
			t.Errorf("%s lacks %q:\n%s", what, want, text)
		}
	}
}

func TestDemoSurvivesOutage(t *testing.T) {
	code, out, errOut := runDemo(t, "--messages", "3000", "--rate", "3000", "--downtime", "400ms")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	wantAll(t, "output", out,
		"sent 3000, acknowledged 3000, failed 0, consumed 3000, lost 0, duplicated 0, order kept",
		">>> broker 0 DOWN", ">>> broker 0 UP again",
		"worker_down", "downtime_replayed", "time_down")
}

func TestDemoFlags(t *testing.T) {
	if code, out, _ := runDemo(t, "--help"); code != 0 || !strings.Contains(out, "--downtime") {
		t.Fatalf("--help: exit %d, %q", code, out)
	}
	for _, argv := range [][]string{{"--messages", "0"}, {"--rate", "x"}, {"--cluster", "0"}, {"--nope"}} {
		if code, _, errOut := runDemo(t, argv...); code != 2 || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q", argv, code, errOut)
		}
	}
}

func TestVerdictCountsLossDuplicatesAndOrder(t *testing.T) {
	got := []consumed{
		{0, 0, "key-0:0:0"}, {0, 1, "key-0:2:2"}, {0, 2, "key-0:1:1"}, {0, 3, "key-0:2:2"},
	}
	r := verdict(4, 4, 0, got)
	if r.lost != 1 || r.duplicated != 1 || r.reordered != 1 || r.ok() {
		t.Fatalf("%+v", r)
	}
	if r := verdict(2, 2, 0, []consumed{{0, 0, "key-0:0:0"}, {0, 1, "key-0:1:1"}}); !r.ok() {
		t.Fatalf("%+v", r)
	}
}

func TestDemoMockCluster(t *testing.T) {
	code, out, errOut := runDemo(t, "--cluster", "3", "--messages", "3000", "--rate", "3000", "--downtime", "300ms", "--quiet")
	if code != 0 || !strings.Contains(out, "lost 0, duplicated 0, order kept") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

// Two runs against the same cluster and topic each judge only their own
// messages: the second must not count the first's as duplicates or as
// out of order.
func TestDemoTwiceAgainstSameBrokers(t *testing.T) {
	c, err := mockbroker.NewCluster(mockbroker.Brokers(1), mockbroker.Topic("twice", 4))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for run := 1; run <= 2; run++ {
		code, out, errOut := runDemo(t, "--brokers", strings.Join(c.Addrs(), ","), "--topic", "twice",
			"--messages", "500", "--rate", "2000", "--quiet")
		if code != 0 || !strings.Contains(out, "sent 500, acknowledged 500, failed 0, consumed 500, lost 0, duplicated 0, order kept") {
			t.Fatalf("run %d: exit %d\nstdout:\n%s\nstderr:\n%s", run, code, out, errOut)
		}
	}
}
