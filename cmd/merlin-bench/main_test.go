package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/internal/cli"
)

// tinyArgs make every workload small enough for the race detector.
// goSystems are the systems the in-process test runs: no Java.
var goSystems = []string{"merlin", "kgo", "sarama"}

var tinyArgs = []string{"--runs", "1", "--messages", "2000", "--lists", "100,1000", "--warmup", "20", "--timeout", "1m"}

func TestRunEveryWorkloadInProcess(t *testing.T) {
	dir := t.TempDir()
	md, svg := filepath.Join(dir, "bench.md"), filepath.Join(dir, "bench.svg")
	prof := filepath.Join(dir, "cpu.pprof")
	argv := append([]string{"--in-process", "--systems", strings.Join(goSystems, ","), "--markdown", md, "--svg", svg, "--cpuprofile", prof}, tinyArgs...)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), argv, &stdout, &stderr); code != cli.ExitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	cases := buildCases(workloadNames, map[string]int{"w2": 2000, "w3": 2000, "w4": 2000, "w5": 2000}, []int{100, 1000})
	if len(cases) != 7 {
		t.Fatalf("%d cases, want 7", len(cases))
	}
	for _, want := range []string{"machine: ", runtimeCores(), "msgs/s", "merlin/x", "kestrel 156 us/put"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, c := range cases {
		for _, s := range goSystems {
			line := findRow(out, c.name, s)
			if line == "" {
				t.Errorf("no row for %s, %s:\n%s", c.name, s, out)
				continue
			}
			if strings.Contains(line, "ERROR") {
				t.Errorf("row %q is an error", line)
			}
			if s == "merlin" && !strings.HasSuffix(strings.TrimSpace(line), "1.00") {
				t.Errorf("merlin's ratio to itself is not 1.00: %q", line)
			}
			if c.latency != "" && strings.Count(line, " - ") > 2 {
				t.Errorf("row %q lacks latencies", line)
			}
		}
	}

	// The Markdown table has the same rows.
	mdText, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	var tableRows int
	for _, l := range strings.Split(string(mdText), "\n") {
		if strings.HasPrefix(l, "| W") {
			tableRows++
			if n := strings.Count(l, " | ") + 1; n != len(columns) {
				t.Errorf("markdown row has %d cells, want %d: %q", n, len(columns), l)
			}
		}
	}
	if want := len(cases) * len(goSystems); tableRows != want {
		t.Errorf("markdown has %d rows, want %d:\n%s", tableRows, want, mdText)
	}
	if !strings.Contains(string(mdText), "| workload | system | msgs/s |") {
		t.Errorf("markdown lacks the header:\n%s", mdText)
	}

	// The SVG parses, and has one bar per row.
	bars, texts := parseSVG(t, svg)
	if want := len(cases) * len(goSystems); bars != want {
		t.Errorf("svg has %d bars, want %d", bars, want)
	}
	for _, c := range cases {
		if !texts[c.name] {
			t.Errorf("svg lacks the title %q", c.name)
		}
	}

	// One profile per merlin run, none for the others.
	profiles, _ := filepath.Glob(filepath.Join(dir, "cpu-*.pprof"))
	if len(profiles) != len(cases) {
		t.Errorf("%d profiles, want %d: %v", len(profiles), len(cases), profiles)
	}
	for _, p := range profiles {
		if !strings.Contains(p, "-merlin-r1") {
			t.Errorf("profile %s is not of a merlin run", p)
		}
	}
}

// findRow returns the table line of case name and system, or "".
func findRow(out, name, system string) string {
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimLeft(l, " ")
		if strings.HasPrefix(l, name+" ") && strings.Fields(strings.TrimPrefix(l, name))[0] == system {
			return l
		}
	}
	return ""
}

func runtimeCores() string {
	return " cores (GOMAXPROCS "
}

// parseSVG decodes the whole file with encoding/xml and counts the bars
// (rects but the background) and collects the texts.
func parseSVG(t *testing.T, path string) (bars int, texts map[string]bool) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := xml.NewDecoder(f)
	texts = map[string]bool{}
	rects, depth := 0, 0
	var root string
	var inText bool
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("svg: %v", err)
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				root = tk.Name.Local
				if tk.Name.Space != "http://www.w3.org/2000/svg" {
					t.Errorf("svg namespace %q", tk.Name.Space)
				}
			}
			depth++
			switch tk.Name.Local {
			case "rect":
				rects++
			case "text":
				inText = true
			}
		case xml.EndElement:
			depth--
			inText = false
		case xml.CharData:
			if inText {
				texts[string(tk)] = true
			}
		}
	}
	if root != "svg" || depth != 0 {
		t.Fatalf("svg root %q, depth at end %d", root, depth)
	}
	return rects - 1, texts
}

// lossyClient drops every 100th message but reports it acknowledged: the
// bench must notice from the topic's contents.
type lossyClient struct {
	client
	n    atomic.Int64
	done func(error)
}

func (c *lossyClient) produceOne(ctx context.Context, topic string, val []byte) error {
	if c.n.Add(1)%100 == 0 {
		c.done(nil)
		return nil
	}
	return c.client.produceOne(ctx, topic, val)
}

func TestLostMessagesAreAnError(t *testing.T) {
	systems["lossy"] = func(ctx context.Context, o openOptions) (client, error) {
		inner, err := openKgo(ctx, o)
		if err != nil {
			return nil, err
		}
		return &lossyClient{client: inner, done: o.done}, nil
	}
	defer delete(systems, "lossy")
	var stdout, stderr bytes.Buffer
	argv := []string{"--in-process", "--workloads", "w5", "--systems", "merlin,lossy", "--runs", "1", "--messages", "2000", "--warmup", "0"}
	if code := run(context.Background(), argv, &stdout, &stderr); code != cli.ExitError {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, cli.ExitError, stdout.String(), stderr.String())
	}
	out := stdout.String()
	if line := findRow(out, "W5 peers, 100 B", "lossy"); !strings.Contains(line, "ERROR") {
		t.Errorf("lossy row %q is not an error:\n%s", line, out)
	}
	if !strings.Contains(out, "topic holds 1980 records, 2000 were acknowledged") {
		t.Errorf("the error does not say what was lost:\n%s", out)
	}
	if line := findRow(out, "W5 peers, 100 B", "merlin"); line == "" || strings.Contains(line, "ERROR") {
		t.Errorf("merlin row %q", line)
	}
}

// TestRunProcessBroker runs the default setup: the bundled broker built
// and started as its own process.
func TestRunProcessBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/merlin-broker")
	}
	var stdout, stderr bytes.Buffer
	argv := []string{"--workloads", "w5,w3", "--systems", "merlin,kgo", "--runs", "2", "--messages", "2000", "--warmup", "10"}
	if code := run(context.Background(), argv, &stdout, &stderr); code != cli.ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	if !strings.Contains(out, "as its own process") {
		t.Errorf("header does not say the broker ran as its own process:\n%s", out)
	}
	for _, name := range []string{"W5 peers, 100 B", "W3 put-many, sync x100"} {
		for _, s := range []string{"merlin", "kgo"} {
			line := findRow(out, name, s)
			f := strings.Fields(strings.TrimPrefix(line, name))
			// system, msgs/s (with spaces), ...: the broker CPU column is
			// the fifth from the end.
			if len(f) < 5 || f[len(f)-4] == "-" {
				t.Errorf("row %q has no broker CPU", line)
			}
		}
	}
}

func TestRunBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--nope"}, "unknown argument --nope"},
		{[]string{"--workloads", "w9"}, `--workloads: unknown workload "w9"`},
		{[]string{"--systems", "kafka-go"}, `--systems: unknown system "kafka-go"`},
		{[]string{"--messages", "w5=0"}, "--messages"},
		{[]string{"--messages", "w7=10"}, `unknown workload "w7"`},
		{[]string{"--lists", "10,x"}, "--lists"},
		{[]string{"--runs", "0"}, "--runs: 0"},
		{[]string{"--partitions", "0"}, "--partitions: 0"},
		{[]string{"--linger", "0s"}, "--linger"},
		{[]string{"--in-process", "--brokers", "a:1"}, "exclude each other"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), c.args, &stdout, &stderr); code != cli.ExitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %q)", c.args, code, cli.ExitUsage, stderr.String())
		}
		if !strings.Contains(stderr.String(), c.want) || !strings.Contains(stderr.String(), "Usage:") {
			t.Errorf("%v: stderr %q does not mention %q with the usage", c.args, stderr.String(), c.want)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, &stdout, &stderr); code != cli.ExitOK || !strings.Contains(stdout.String(), "--markdown") {
		t.Errorf("--help: exit %d, stdout %q", code, stdout.String())
	}
}

func TestUnreachableBrokersAreAnError(t *testing.T) {
	var stdout, stderr bytes.Buffer
	argv := []string{"--brokers", "127.0.0.1:1", "--workloads", "w5", "--systems", "merlin", "--runs", "1", "--messages", "10", "--timeout", "2s"}
	if code := run(context.Background(), argv, &stdout, &stderr); code != cli.ExitError {
		t.Fatalf("exit %d, want %d\n%s", code, cli.ExitError, stdout.String())
	}
	if !strings.Contains(stdout.String(), "ERROR") {
		t.Errorf("no error row:\n%s", stdout.String())
	}
}

func TestParseMessages(t *testing.T) {
	got, err := parseMessages("500")
	if err != nil || got["w2"] != 500 || got["w5"] != 500 {
		t.Fatalf("500: %v %v", got, err)
	}
	got, err = parseMessages("w5=10, W3=20")
	if err != nil || got["w5"] != 10 || got["w3"] != 20 || got["w2"] != defaultMessages["w2"] {
		t.Fatalf("w5=10,W3=20: %v %v", got, err)
	}
	for _, bad := range []string{"0", "-3", "w5", "w5=x", "w8=3"} {
		if _, err := parseMessages(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestBuildCases(t *testing.T) {
	cs := buildCases([]string{"w2"}, map[string]int{"w2": 5000}, []int{1000, 10000})
	if len(cs) != 4 {
		t.Fatalf("%d cases", len(cs))
	}
	// A list row sends at least one full list.
	if cs[0].messages != 5000 || cs[1].messages != 10000 || cs[1].name != "W2 list of 10k" {
		t.Errorf("lists: %+v, %+v", cs[0], cs[1])
	}
	if cs[2].immediate || !cs[3].immediate {
		t.Errorf("batched %v, unbatched %v", cs[2].immediate, cs[3].immediate)
	}
	ids := map[string]bool{}
	for _, c := range buildCases(workloadNames, defaultMessages, defaultLists) {
		if ids[c.id] {
			t.Errorf("duplicate id %s", c.id)
		}
		ids[c.id] = true
	}
}

func TestTracker(t *testing.T) {
	tr := newTracker()
	first := tr.expect(3)
	tr.done(nil)
	tr.done(errors.New("boom"))
	select {
	case <-first:
		t.Fatal("reached after 2 of 3")
	default:
	}
	tr.done(nil)
	select {
	case <-first:
	case <-time.After(time.Second):
		t.Fatal("not reached after 3 of 3")
	}
	// A target already passed is reached at once.
	select {
	case <-tr.expect(2):
	default:
		t.Fatal("target 2 after 3 outcomes not reached")
	}
	if c, f, err := tr.counts(); c != 3 || f != 1 || err == nil || err.Error() != "boom" {
		t.Errorf("counts %d %d %v", c, f, err)
	}
}

func TestStats(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median odd %v", m)
	}
	if m := median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Errorf("median even %v", m)
	}
	lat := make([]time.Duration, 1000)
	for i := range lat {
		lat[i] = time.Duration(i + 1)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500}, {0.99, 990}, {0.999, 999}, {1, 1000}, {0, 1}} {
		if got := percentile(lat, c.q); got != c.want {
			t.Errorf("p%v = %v, want %v", c.q, got, c.want)
		}
	}
	for v, want := range map[float64]string{0: "0", 999: "999", 1000: "1 000", 1234567.4: "1 234 567"} {
		if got := fmtRate(v); got != want {
			t.Errorf("fmtRate(%v) = %q, want %q", v, got, want)
		}
	}
	if got := fmtDur(3300 * time.Microsecond); got != "3.30ms" {
		t.Errorf("fmtDur = %q", got)
	}
	if got := profileName("out/cpu.pprof", "w5-peers", "merlin", 2); got != "out/cpu-w5-peers-merlin-r2.pprof" {
		t.Errorf("profileName = %q", got)
	}
}

func TestProcessCPU(t *testing.T) {
	if _, ok := processCPU(os.Getpid()); !ok {
		t.Skip("no /proc")
	}
	if _, ok := processCPU(-1); ok {
		t.Error("pid -1 has a CPU time")
	}
}
