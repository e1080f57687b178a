package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/merlinkafka/merlin/producer"
)

var (
	bannerRE    = regexp.MustCompile(`>>> broker \d+ DOWN`)
	downRowRE   = regexp.MustCompile(`^\s+\d+\s+downtime\s`)
	eventLineRE = regexp.MustCompile(`^\s+\d+\.\d\ds  [a-z_0-9]+ \d+`)
	elapsedRE   = regexp.MustCompile(`elapsed (\d+\.\d)s`)
)

// TestDemoScreenInTmux runs the demo binary in a real 120x40 terminal
// (tmux) and reads the screen a few times a second. On every screen no line
// is wider than 100 columns and downtime_saved lines are not most of it;
// on each screen taken during the outage (by the elapsed time the screen
// shows) the DOWN banner, the worker table with workers in downtime, and
// event summary lines are all visible; the run ends with a clean verdict.
func TestDemoScreenInTmux(t *testing.T) {
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		if os.Getenv("MERLIN_INTEROP") == "1" {
			t.Fatal("MERLIN_INTEROP=1 but tmux is not installed")
		}
		t.Skip("tmux is not installed; the screen is tested in a tmux terminal")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "merlin-demo")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	sock := filepath.Join(dir, "tmux.sock")
	tm := func(args ...string) (string, error) {
		out, err := exec.Command(tmux, append([]string{"-S", sock, "-f", "/dev/null"}, args...)...).CombinedOutput()
		return string(out), err
	}
	// Outage from 2s to 5s of a 6s run.
	const from, to = 2.0, 5.0
	cmd := bin + " --messages 6000 --rate 1000 --downtime 3s; echo merlin-demo exit $?; sleep 600"
	if out, err := tm("new-session", "-d", "-x", "120", "-y", "40", "-s", "demo", cmd); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	t.Cleanup(func() { tm("kill-server") })

	var during, screens int
	var last string
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(last, "merlin-demo exit") {
		if time.Now().After(deadline) {
			t.Fatalf("the demo did not end; last screen:\n%s", last)
		}
		time.Sleep(200 * time.Millisecond)
		s, err := tm("capture-pane", "-p", "-t", "demo")
		if err != nil {
			t.Fatalf("capture-pane: %v\n%s", err, s)
		}
		last = s
		screens++
		lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
		var nonEmpty, saved int
		for _, l := range lines {
			if n := utf8.RuneCountInString(l); n > maxWidth {
				t.Errorf("line of %d columns:\n%s", n, l)
			}
			if strings.TrimSpace(l) != "" {
				nonEmpty++
			}
			if strings.Contains(l, "downtime_saved") {
				saved++
			}
		}
		if nonEmpty > 0 && 2*saved >= nonEmpty {
			t.Errorf("screen is mostly downtime_saved lines:\n%s", s)
		}
		m := elapsedRE.FindStringSubmatch(s)
		if m == nil {
			continue
		}
		at, _ := strconv.ParseFloat(m[1], 64)
		if at < from+0.6 || at > to-0.4 {
			continue
		}
		during++
		var banner, header, downRow, events bool
		for _, l := range lines {
			banner = banner || bannerRE.MatchString(l)
			header = header || strings.HasPrefix(l, tableHeader)
			downRow = downRow || downRowRE.MatchString(l)
			events = events || eventLineRE.MatchString(l)
		}
		if !banner || !header || !downRow || !events {
			t.Errorf("at %.1fs, in the outage: banner %v, worker table %v, a worker in downtime %v, event summary %v:\n%s",
				at, banner, header, downRow, events, s)
		}
	}
	if during < 3 {
		t.Errorf("%d of %d screens were taken during the outage, want 3 or more; last:\n%s", during, screens, last)
	}
	wantAll(t, "last screen", last,
		"sent 6000, acknowledged 6000, failed 0, consumed 6000, lost 0, duplicated 0, order kept",
		"merlin-demo exit 0")
}

// stampedWriter records when each line was written.
type stampedWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	times []time.Time
}

func (w *stampedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	for range bytes.Count(p, []byte("\n")) {
		w.times = append(w.times, now)
	}
	return w.buf.Write(p)
}

// When stdout is not a terminal, the demo prints plain lines: no escape
// codes, none over 100 columns, a bounded number in any second (the
// outage used to print hundreds a second), with the status, workers and
// event summary lines among them.
func TestDemoPlainOutput(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out stampedWriter
	var errOut bytes.Buffer
	code := run(ctx, []string{"--messages", "3000", "--rate", "1000", "--downtime", "1500ms"}, &out, &errOut)
	text := out.buf.String()
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, text, errOut.String())
	}
	if strings.Contains(text, "\x1b") {
		t.Errorf("plain output has escape codes:\n%q", text)
	}
	for _, l := range strings.Split(text, "\n") {
		if n := utf8.RuneCountInString(l); n > maxWidth {
			t.Errorf("line of %d columns:\n%s", n, l)
		}
	}
	// About four lines a second, and a burst of a dozen at the end (the
	// last second, the rate, consuming, the verdict).
	const most = 16
	for i, ti := range out.times {
		n := 0
		for _, tj := range out.times[i:] {
			if tj.Sub(ti) < time.Second {
				n++
			}
		}
		if n > most {
			t.Fatalf("%d lines within a second from line %d, want at most %d:\n%s", n, i+1, most, text)
		}
	}
	wantAll(t, "output", text, "producing ", "  workers ", "  events ", "downtime_saved", ">>> broker 0 DOWN", "produced 3000 messages in")
}

// A sender slower than --rate makes produce say it fell behind, and the
// line after the run says the rate was not kept.
func TestProduceSaysWhenBehind(t *testing.T) {
	d := &demo{args: args{Messages: 12, Rate: 200, Keys: 4, Topic: "t"}, mon: newMonitor(time.Now(), 200, 12)}
	slow := func(context.Context, producer.Message) error {
		time.Sleep(50 * time.Millisecond) // 20 a second at most
		return nil
	}
	if err := d.produce(context.Background(), slow); err != nil {
		t.Fatal(err)
	}
	if d.sent.Load() != 12 || !d.behind.Load() {
		t.Errorf("sent %d, behind %v; want 12, true", d.sent.Load(), d.behind.Load())
	}
	if !strings.Contains(d.rateLine, "could not keep the requested rate") {
		t.Errorf("rate line %q", d.rateLine)
	}
	s := snapshot{producing: true, behind: true, rate: 200, sentRate: 20}
	if got := s.rateText(); !strings.Contains(got, "20/s of 200/s") || !strings.Contains(got, "BEHIND") {
		t.Errorf("rateText %q", got)
	}
	s.behind = false
	if got := s.rateText(); strings.Contains(got, "BEHIND") {
		t.Errorf("rateText %q", got)
	}
	if got := rateSummary(1000, time.Second, 1000); strings.Contains(got, "could not") {
		t.Errorf("rateSummary at the rate: %q", got)
	}
}

// The screen fits the terminal and 100 columns whatever it holds: many
// partitions, long names and errors, big numbers; the banner, the table's
// header and the events stay on it.
func TestScreenFits(t *testing.T) {
	s := snapshot{
		elapsed: 83 * time.Second, sent: 123456789, acked: 123456000, failed: 12345,
		messages: 200000000, rate: 1000000, sentRate: 999999, producing: true, behind: true,
		out:      outage{active: true, broker: 7, planned: 4 * time.Second},
		replayed: map[int32]int64{}, ackRate: map[int32]int64{},
		title: "merlin-demo: " + strings.Repeat("long description ", 12), topic: strings.Repeat("t", 150), keys: 64,
	}
	for i := range int32(80) {
		s.workers = append(s.workers, producer.PartitionInfo{ID: i, Leader: i % 3, State: producer.StateDowntime, Buffered: 1 << 30})
		s.replayed[i], s.ackRate[i] = 1<<40, 1<<33
	}
	for i := range 60 {
		var tallys []tally
		for k := range 15 {
			tallys = append(tallys, tally{name: fmt.Sprintf("state_%d", k), n: 1 << 40})
		}
		s.history = append(s.history, summary{at: time.Duration(i) * time.Second, tallys: tallys})
	}
	for range maxNotes {
		s.notes = append(s.notes, note{at: time.Minute, text: "error: " + strings.Repeat("x", 300)})
	}
	for _, size := range [][2]int{{120, 40}, {80, 24}, {100, 15}, {200, 60}} {
		w, h := size[0], size[1]
		lines := s.screen(w, h)
		if len(lines) > h-1 {
			t.Errorf("%dx%d: %d lines", w, h, len(lines))
		}
		var banner, header, more, events bool
		for _, l := range lines {
			if n := utf8.RuneCountInString(l); n > min(w, maxWidth) {
				t.Errorf("%dx%d: line of %d columns: %s", w, h, n, l)
			}
			banner = banner || bannerRE.MatchString(l)
			header = header || l == tableHeader
			more = more || strings.Contains(l, "more partitions") || strings.Contains(l, "too few rows")
			events = events || eventLineRE.MatchString(l)
		}
		if !banner || !header || !more || !events {
			t.Errorf("%dx%d: banner %v, table header %v, more partitions %v, events %v:\n%s",
				w, h, banner, header, more, events, strings.Join(lines, "\n"))
		}
	}
}
