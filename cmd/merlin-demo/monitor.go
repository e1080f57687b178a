package main

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/merlinkafka/merlin/callbacks"
	"github.com/merlinkafka/merlin/producer"
)

// maxWidth is the widest line the demo prints, on a terminal or not.
const maxWidth = 100

// tally counts one statsd metric over one second.
type tally struct {
	name   string // as statsd receives it: "downtime_saved", "state_ready"
	rank   int    // the kind, to keep a stable order
	n      int64  // counter value, or number of timings
	maxDur time.Duration
	timing bool
}

func (t tally) String() string {
	if t.timing {
		return fmt.Sprintf("%s %d (max %s)", t.name, t.n, t.maxDur.Round(time.Millisecond))
	}
	return t.name + " " + strconv.FormatInt(t.n, 10)
}

// metric returns the statsd metric an event is counted under and the value
// it adds, as callbacks.Statsd sends it (the rtt timing of FlushedReplied
// and the bytes of Flush aside). ok is false for kinds Statsd ignores.
func metric(e callbacks.Event) (t tally, ok bool) {
	t = tally{name: e.Kind.String(), rank: int(e.Kind), n: 1}
	switch e.Kind {
	case callbacks.Flush, callbacks.FlushedReplied, callbacks.DowntimeSaved,
		callbacks.DowntimeReplayed, callbacks.MaxDowntimeBufferReached, callbacks.MessagesFailed:
		t.n = int64(e.Count)
	case callbacks.WorkerUp, callbacks.WorkerDown, callbacks.MainBrokerUnreachable, callbacks.Error:
	case callbacks.TimeToConnect, callbacks.TimeDown:
		t.timing, t.maxDur = true, e.Duration
	case callbacks.StateChange:
		if e.To != "" {
			t.name = "state_" + e.To
		}
	default:
		return t, false
	}
	return t, true
}

// summary is one second's events.
type summary struct {
	at     time.Duration // since the start, at the end of the second
	tallys []tally
}

// tokens are the summary's entries, in kind order.
func (s summary) tokens() []string {
	if len(s.tallys) == 0 {
		return []string{"(no events)"}
	}
	out := make([]string, len(s.tallys))
	for i, t := range s.tallys {
		out[i] = t.String()
	}
	return out
}

type note struct {
	at   time.Duration
	text string
}

// monitor gathers what the demo shows, from the producer's events, the
// delivery reports and the outage, and formats it as a screen redrawn in
// place or as plain lines.
type monitor struct {
	start    time.Time
	rate     int // requested
	messages int

	mu       sync.Mutex
	bucket   map[string]*tally // since the last roll
	history  []summary         // most recent last, at most maxHistory
	replayed map[int32]int64
	acked    map[int32]int64 // cumulative, by partition
	lastAck  map[int32]int64 // at the last roll
	ackRate  map[int32]int64 // in the last second
	lastSent int64
	lastRoll time.Time
	sentRate int64 // in the last second
	behind   bool  // the producer could not keep the rate in the last second
	notes    []note
	noted    map[string]time.Time // when an event kind was last noted
	failures int
	out      outage
	workers  []producer.PartitionInfo
	// states are the workers' states as their last state_change event
	// said, fresher than the metadata polled twice a second (the demo
	// runs one worker a partition).
	states map[int32]producer.State
}

// outage is the staged broker outage.
type outage struct {
	active       bool
	broker       int32
	since        time.Time
	planned, got time.Duration
}

const (
	maxHistory = 40
	maxNotes   = 4
)

func newMonitor(start time.Time, rate, messages int) *monitor {
	return &monitor{
		start: start, rate: rate, messages: messages, lastRoll: start,
		bucket:   map[string]*tally{},
		replayed: map[int32]int64{},
		acked:    map[int32]int64{},
		lastAck:  map[int32]int64{},
		ackRate:  map[int32]int64{},
		noted:    map[string]time.Time{},
		states:   map[int32]producer.State{},
	}
}

// event counts e under its statsd name; errors are noted, once a second
// per kind at most.
func (m *monitor) event(e callbacks.Event) {
	t, ok := metric(e)
	if !ok {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if b := m.bucket[t.name]; b != nil {
		b.n += t.n
		b.maxDur = max(b.maxDur, t.maxDur)
	} else {
		m.bucket[t.name] = &t
	}
	if e.Kind == callbacks.StateChange && e.Partition >= 0 {
		for st := range producer.StateClosed + 1 {
			if st.String() == e.To {
				m.states[e.Partition] = st
			}
		}
	}
	if e.Kind == callbacks.DowntimeReplayed {
		m.replayed[e.Partition] += int64(e.Count)
	}
	// Errors are noted (not mainbroker_unreachable: an outage is full of
	// them, and the banner says it).
	if e.Err != nil && e.Kind != callbacks.MainBrokerUnreachable && time.Since(m.noted[t.name]) >= time.Second {
		m.noted[t.name] = time.Now()
		m.noteLocked(fmt.Sprintf("%s: %v", t.name, e.Err))
	}
}

// delivered counts a delivery report.
func (m *monitor) delivered(r producer.Result) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r.Err == nil {
		m.acked[r.Partition]++
		return
	}
	m.failures++
	if m.failures <= 3 {
		m.noteLocked(fmt.Sprintf("FAILED %s/%d: %v", r.Topic, r.Partition, r.Err))
	}
}

// note records a line worth a person's attention; it returns the line
// with its time, for plain output.
func (m *monitor) note(text string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.noteLocked(text)
}

func (m *monitor) noteLocked(text string) string {
	n := note{at: time.Since(m.start), text: text}
	m.notes = append(m.notes, n)
	if len(m.notes) > maxNotes {
		m.notes = slices.Delete(m.notes, 0, len(m.notes)-maxNotes)
	}
	return stamp(n.at) + text
}

func (m *monitor) down(broker int32, planned time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.out = outage{active: true, broker: broker, since: time.Now(), planned: planned}
}

func (m *monitor) up() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.out.active = false
	m.out.got = time.Since(m.out.since)
	return m.out.got
}

func (m *monitor) setWorkers(w []producer.PartitionInfo) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.workers = w
}

// roll ends a second: its event counts go to the history and the rates
// are measured. sent is the messages produced so far; behind says whether
// the producer fell behind the requested rate in that second.
func (m *monitor) roll(sent int64, behind bool) summary {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := summary{at: time.Since(m.start)}
	for _, t := range m.bucket {
		s.tallys = append(s.tallys, *t)
	}
	slices.SortFunc(s.tallys, func(a, b tally) int {
		return cmp.Or(cmp.Compare(a.rank, b.rank), cmp.Compare(a.name, b.name))
	})
	clear(m.bucket)
	m.history = append(m.history, s)
	if len(m.history) > maxHistory {
		m.history = slices.Delete(m.history, 0, len(m.history)-maxHistory)
	}
	m.behind = m.behind || behind
	// Rates over less than half a second (the last roll, at the end) say
	// little: the previous ones stay.
	now := time.Now()
	dt := now.Sub(m.lastRoll)
	if dt < 500*time.Millisecond {
		return s
	}
	m.lastRoll = now
	perSecond := func(n int64) int64 { return n * int64(time.Second) / int64(dt) }
	for p, n := range m.acked {
		m.ackRate[p] = perSecond(n - m.lastAck[p])
		m.lastAck[p] = n
	}
	m.sentRate, m.lastSent = perSecond(sent-m.lastSent), sent
	m.behind = behind
	return s
}

// snapshot is what one screen or one set of plain lines shows.
type snapshot struct {
	elapsed             time.Duration
	sent, acked, failed int64
	messages, rate      int
	sentRate            int64
	behind, producing   bool
	out                 outage
	workers             []producer.PartitionInfo
	replayed, ackRate   map[int32]int64
	history             []summary
	notes               []note
	title, topic        string
	keys                int
	sinceDown           time.Duration
}

func (m *monitor) snapshot(d *demo) snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := snapshot{
		elapsed:  time.Since(m.start),
		sent:     d.sent.Load(),
		acked:    d.acked.Load(),
		failed:   d.failed.Load(),
		messages: m.messages, rate: m.rate,
		sentRate:  m.sentRate,
		behind:    m.behind,
		producing: !d.produced.Load(),
		out:       m.out,
		workers:   slices.Clone(m.workers),
		replayed:  maps.Clone(m.replayed),
		ackRate:   maps.Clone(m.ackRate),
		history:   slices.Clone(m.history),
		notes:     slices.Clone(m.notes),
		title:     d.title,
		topic:     d.Topic,
		keys:      d.Keys,
	}
	for i, w := range s.workers {
		if st, ok := m.states[w.ID]; ok {
			s.workers[i].State = st
			if st == producer.StateClosed { // Close returned: nothing held
				s.workers[i].Buffered = 0
			}
		}
	}
	if m.out.active {
		s.sinceDown = time.Since(m.out.since)
	}
	return s
}

// stamp is the time prefix of plain lines and notes.
func stamp(d time.Duration) string { return fmt.Sprintf("%7.2fs  ", d.Seconds()) }

// rateText says how fast the demo produces against what was asked.
func (s snapshot) rateText() string {
	if !s.producing {
		return fmt.Sprintf("done producing (--rate %d/s)", s.rate)
	}
	t := fmt.Sprintf("producing %d/s of %d/s", s.sentRate, s.rate)
	if s.behind {
		t += ": BEHIND, cannot keep --rate"
	}
	return t
}

func (s snapshot) statusText() string {
	pct := 100 * s.sent / int64(max(1, s.messages))
	return fmt.Sprintf("sent %d (%d%%)  acked %d  failed %d  %s", s.sent, pct, s.acked, s.failed, s.rateText())
}

func (s snapshot) bannerText() string {
	if !s.out.active {
		return ""
	}
	return fmt.Sprintf(">>> broker %d DOWN  %.1fs of %v  (workers buffer, replay when it is back)",
		s.out.broker, s.sinceDown.Seconds(), s.out.planned)
}

// workerCounts is "ready 3, downtime 1": workers by state.
func (s snapshot) workerCounts() string {
	count := map[producer.State]int{}
	var states []producer.State
	for _, w := range s.workers {
		if count[w.State] == 0 {
			states = append(states, w.State)
		}
		count[w.State]++
	}
	if len(states) == 0 {
		return "none yet"
	}
	slices.Sort(states)
	b := make([]string, len(states))
	for i, st := range states {
		b[i] = fmt.Sprintf("%s %d", st, count[st])
	}
	return strings.Join(b, ", ")
}

func (s snapshot) totals() (buffered, replayed int64) {
	for _, w := range s.workers {
		buffered += int64(w.Buffered)
	}
	for _, n := range s.replayed {
		replayed += n
	}
	return buffered, replayed
}

// plain is the lines printed once a second when stdout is not a terminal.
func (s snapshot) plain(last summary) []string {
	st := stamp(s.elapsed)
	status := st + s.statusText()
	if s.out.active {
		status += fmt.Sprintf("  broker %d DOWN %.1fs", s.out.broker, s.sinceDown.Seconds())
	}
	buffered, replayed := s.totals()
	lines := wrap(status, maxWidth, 11)
	lines = append(lines, wrap(fmt.Sprintf("%sworkers %s; buffered %d, replayed %d", st, s.workerCounts(), buffered, replayed), maxWidth, 11)...)
	lines = append(lines, wrapTokens(st+"events ", last.tokens(), maxWidth, 17)...)
	return lines
}

const tableHeader = "partition  state         leader   buffered   replayed    acked/s"

func (s snapshot) row(w producer.PartitionInfo) string {
	leader := "-"
	if w.Leader >= 0 {
		leader = "b" + strconv.Itoa(int(w.Leader))
	}
	return fmt.Sprintf("%9d  %-12s %7s %10d %10d %10d", w.ID, w.State, leader, w.Buffered, s.replayed[w.ID], s.ackRate[w.ID])
}

// screen is the terminal's screen, width columns (at most maxWidth) by
// height rows, a line per row; it leaves the last row empty so that
// writing it never scrolls.
func (s snapshot) screen(width, height int) []string {
	width = min(width, maxWidth)
	top := []string{
		s.title,
		fmt.Sprintf("topic %q, %d messages at %d/s, %d keys; elapsed %.1fs", s.topic, s.messages, s.rate, s.keys, s.elapsed.Seconds()),
		s.statusText(),
		s.bannerText(),
		"",
		tableHeader,
	}
	const eventsHeader = "events per second, by the names statsd receives (--statsd):"
	room := height - 1 - len(top) - 2 // less a blank row and the events header
	// The notes, the most recent, take at most a third of what is left
	// once the events have three rows; the table takes what it needs
	// but leaves the events those three rows.
	var notes []string
	if n := min(len(s.notes), max(0, (room-4)/3)); n > 0 {
		notes = append(notes, "")
		for _, n := range s.notes[len(s.notes)-n:] {
			notes = append(notes, stamp(n.at)+n.text)
		}
	}
	room -= len(notes)
	rows := make([]string, 0, len(s.workers))
	for _, w := range s.workers {
		rows = append(rows, s.row(w))
	}
	if len(rows) == 0 {
		rows = append(rows, "  (waiting for the topic's metadata)")
	}
	if fit := max(1, room-3); len(rows) > fit {
		more := fmt.Sprintf("  ... %d more partitions", len(rows)-(fit-1))
		if fit == 1 {
			more = fmt.Sprintf("  %d partitions (too few rows to list them)", len(rows))
		}
		rows = append(rows[:fit-1], more)
	}
	room -= len(rows)
	var events []string
	for i := len(s.history) - 1; i >= 0 && room > 0; i-- {
		h := s.history[i]
		l := wrapTokens(stamp(h.at), h.tokens(), width, 11)
		if len(l) > room {
			l = l[:room]
		}
		events = append(l, events...)
		room -= len(l)
	}
	lines := append(top, rows...)
	lines = append(lines, "", eventsHeader)
	lines = append(lines, events...)
	for ; room > 0; room-- {
		lines = append(lines, "")
	}
	lines = append(lines, notes...)
	if len(lines) > height-1 {
		lines = lines[:max(0, height-1)]
	}
	for i, l := range lines {
		lines[i] = truncate(l, width)
	}
	return lines
}

// truncate cuts l to width columns (runes: the demo prints no wide ones).
func truncate(l string, width int) string {
	r := []rune(l)
	if len(r) <= width {
		return l
	}
	if width <= 3 {
		return string(r[:width])
	}
	return string(r[:width-3]) + "..."
}

// wrap breaks l at spaces into lines of at most width columns, the
// continuation lines indented by indent spaces; a word longer than a line
// is cut.
func wrap(l string, width, indent int) []string {
	var out []string
	for len([]rune(l)) > width {
		r := []rune(l)
		cut := strings.LastIndex(string(r[:width+1]), " ")
		prefix := len([]rune(strings.Repeat(" ", indent)))
		if cut <= prefix || strings.TrimSpace(string(r[:cut])) == "" {
			cut = len(string(r[:width]))
		}
		out = append(out, strings.TrimRight(l[:cut], " "))
		l = strings.Repeat(" ", indent) + strings.TrimLeft(l[cut:], " ")
	}
	return append(out, l)
}

// wrapTokens is head followed by the tokens, two spaces apart, broken
// between tokens into lines of at most width columns, the continuation
// lines indented by indent spaces.
func wrapTokens(head string, tokens []string, width, indent int) []string {
	var out []string
	line := head
	for i, t := range tokens {
		sep := "  "
		if i == 0 {
			sep = ""
		}
		if i > 0 && len(line)+len(sep)+len(t) > width {
			out = append(out, line)
			line, sep = strings.Repeat(" ", indent), ""
		}
		line += sep + t
	}
	return append(out, wrap(line, width, indent)...)
}
