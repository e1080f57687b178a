package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// report is everything the table and the chart show.
type report struct {
	when       time.Time
	machine    machine
	brokers    []brokerDesc // one per --broker choice
	partitions int32
	setup      setup
	names      []string // the systems asked for, in order
	runs       int
	java       *javaTool // set when the java system ran
	cases      []caseResult
}

// brokerDesc is one broker the runs produced to: its --broker choice and
// what it was.
type brokerDesc struct{ name, desc string }

// multiBroker reports whether the table has a broker column: the runs went
// to more than one broker.
func (r *report) multiBroker() bool { return len(r.brokers) > 1 }

// brokerLine says what the runs produced to.
func (r *report) brokerLine() string {
	if !r.multiBroker() {
		return fmt.Sprintf("broker: %s; topics of %d partitions", r.brokers[0].desc, r.partitions)
	}
	var parts []string
	for _, b := range r.brokers {
		parts = append(parts, b.name+" = "+b.desc)
	}
	return fmt.Sprintf("brokers: %s; topics of %d partitions", strings.Join(parts, "; "), r.partitions)
}

// columns are the table's columns, with "broker" third when there are
// several.
func (r *report) columns() []string {
	if !r.multiBroker() {
		return slices.Clone(columns)
	}
	return slices.Insert(slices.Clone(columns), 2, "broker")
}

// textColumns is how many leading columns are text, aligned left.
func (r *report) textColumns() int { return len(r.columns()) - len(columns) + 2 }

// label names a row in the notes.
func label(cr caseResult, rw *row) string {
	s := cr.c.name + ", " + rw.system
	if cr.broker != "" {
		s += " on " + cr.broker
	}
	return s
}

// header lines, without markup.
func (r *report) header() []string {
	h := []string{
		"merlin-bench " + r.when.UTC().Format(time.RFC3339),
		"machine: " + r.machine.String(),
		r.brokerLine(),
	}
	h = append(h, r.setup.configLines(r.names, r.sizes(), r.java)...)
	if r.java != nil {
		h = append(h, r.javaLine())
	}
	h = append(h,
		fmt.Sprintf("figures: medians of %d runs; systems interleaved within each run", r.runs),
		"merlin/x: merlin's msgs/s over this system's, median of the per-run ratios (above 1: merlin faster)",
		"CPU: bench process over the timed window (getrusage); broker CPU: the broker process; RSS: bench process peak (reset per run); heap: sampled peak",
	)
	return h
}

// javaLine says how the java system ran.
func (r *report) javaLine() string {
	flag := "--producer-props"
	if r.java.commandProperty {
		flag = "--command-property"
	}
	warm := "no warm-up (this release's tool has none): its whole-run summary"
	if r.java.warmup {
		warm = fmt.Sprintf("--warmup-records %d, figures from its steady-state summary", r.java.warmupRecords)
	}
	props := javaProps(nil, r.setup, false, 0)[1:] // all but bootstrap.servers
	var buf []string
	if r.setup.bound > 0 {
		props = props[:len(props)-1] // buffer.memory: on the buffer bound's line
		buf = []string{"buffer.memory as on the buffer bound's line"}
	}
	settings := strings.Join(props, " ") + " (linger.ms=0 for unbatched rows)"
	if r.setup.defaults() {
		settings = strings.Join(props, " ") + fmt.Sprintf(" alone; Kafka's defaults otherwise: enable.idempotence=true, compression.type=none, linger.ms=%d, batch.size=%d, buffer.memory=%d, max.in.flight.requests.per.connection=5",
			javaDefaultLinger(r.java.version), javaDefaultBatchSize, javaDefaultBufferMemory)
	}
	settings = strings.Join(append([]string{settings}, buf...), "; ")
	return fmt.Sprintf("java: Apache Kafka %s's Java producer in %s (one JVM per run, %s), --throughput -1, --record-size as the row, %s; %s %s; the tool's own timer; CPU and peak RSS: the whole JVM process, start-up included; heap not sampled; only the one-a-call rows",
		r.java.version, perfClass, javaHeap, warm, flag, settings)
}

// sizes are the message sizes of the cases that ran, in order of first
// appearance.
func (r *report) sizes() []int {
	var out []int
	for _, cr := range r.cases {
		if !slices.Contains(out, cr.c.size) {
			out = append(out, cr.c.size)
		}
	}
	return out
}

var columns = []string{"workload", "system", "msgs/s", "MB/s", "us/msg", "p50", "p99", "p99.9", "CPU s", "broker CPU s", "peak RSS MB", "peak heap MB", "merlin/x"}

// cells formats one row, with its broker in the third cell unless broker
// is "".
func (rw *row) cells(broker string) []string {
	c := rw.values()
	if broker != "" {
		c = slices.Insert(c, 2, broker)
	}
	return c
}

func (rw *row) values() []string {
	if rw.err != nil {
		c := []string{rw.c.name, rw.system, "ERROR"}
		for len(c) < len(columns) {
			c = append(c, "-")
		}
		return c
	}
	dash := func(ok bool, s string) string {
		if !ok {
			return "-"
		}
		return s
	}
	return []string{
		rw.c.name,
		rw.system,
		fmtRate(rw.rate),
		strconv.FormatFloat(rw.mbps, 'f', 1, 64),
		fmtFloat(rw.usPerMsg),
		dash(rw.hasLat, fmtDur(rw.p50)),
		dash(rw.hasLat, fmtDur(rw.p99)),
		dash(rw.hasLat, fmtDur(rw.p999)),
		strconv.FormatFloat(rw.cpu, 'f', 2, 64),
		dash(rw.hasBroker, strconv.FormatFloat(rw.brokerCPU, 'f', 2, 64)),
		dash(rw.hasRSS, strconv.FormatFloat(rw.rssMB, 'f', 0, 64)),
		dash(!rw.noHeap, strconv.FormatFloat(rw.heapMB, 'f', 0, 64)),
		dash(rw.hasRatio, strconv.FormatFloat(rw.ratio, 'f', 2, 64)),
	}
}

// notes lists the published references and the errors.
func (r *report) notes() []string {
	var out []string
	seen := map[string]bool{}
	for _, cr := range r.cases {
		if cr.c.ref != "" && !seen[cr.c.ref] {
			seen[cr.c.ref] = true
			out = append(out, fmt.Sprintf("%s: published %s", cr.c.name, cr.c.ref))
		}
		if cr.c.latency != "" && !seen["latency "+cr.c.name] {
			seen["latency "+cr.c.name] = true
			what := map[string]string{"ack": "per sync call, send to acknowledgement", "e2e": "per message, send to consumer poll (consumer: kgo in the bench process, its CPU in every row)"}[cr.c.latency]
			out = append(out, fmt.Sprintf("%s: latency %s", cr.c.name, what))
		}
	}
	for _, cr := range r.cases {
		for _, rw := range cr.rows {
			if rw.system == "merlin" || len(rw.ratios) < 2 {
				continue
			}
			rs := make([]string, len(rw.ratios))
			for i, v := range rw.ratios {
				rs[i] = strconv.FormatFloat(v, 'f', 2, 64)
			}
			out = append(out, fmt.Sprintf("%s: merlin/%s run by run %s", cr.title(), rw.system, strings.Join(rs, " ")))
		}
	}
	for _, cr := range r.cases {
		for _, rw := range cr.rows {
			if p := rw.perf; p != nil {
				out = append(out, fmt.Sprintf("%s: ProducerPerformance's latency, send to acknowledgement (medians of runs): avg %s, p50 %s, p95 %s, p99 %s, p99.9 %s, max %s",
					label(cr, rw), fmtDur(p.avg), fmtDur(p.p50), fmtDur(p.p95), fmtDur(p.p99), fmtDur(p.p999), fmtDur(p.max)))
			}
		}
	}
	for _, cr := range r.cases {
		for _, rw := range cr.rows {
			if rw.err != nil {
				out = append(out, fmt.Sprintf("ERROR %s: %v", label(cr, rw), rw.err))
			}
		}
	}
	return out
}

// failed reports whether any row is an error.
func (r *report) failed() bool {
	for _, cr := range r.cases {
		for _, rw := range cr.rows {
			if rw.err != nil {
				return true
			}
		}
	}
	return false
}

// writeText writes the header, an aligned table and the notes.
func (r *report) writeText(w io.Writer) error {
	var b strings.Builder
	for _, h := range r.header() {
		b.WriteString(h + "\n")
	}
	b.WriteString("\n")
	// tabwriter aligns every column right; the two text columns are padded
	// to one width first, which keeps them left-aligned.
	lines := [][]string{r.columns()}
	for _, cr := range r.cases {
		for _, rw := range cr.rows {
			lines = append(lines, rw.cells(cr.broker))
		}
	}
	for col := range r.textColumns() {
		width := 0
		for _, l := range lines {
			width = max(width, len(l[col]))
		}
		for _, l := range lines {
			l[col] += strings.Repeat(" ", width-len(l[col]))
		}
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, l := range lines {
		fmt.Fprintln(tw, strings.Join(l, "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	b.WriteString("\n")
	for _, n := range r.notes() {
		b.WriteString(n + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeMarkdown writes the same as a Markdown document.
func (r *report) writeMarkdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("# merlin-bench\n\n")
	for _, h := range r.header()[1:] {
		b.WriteString("- " + mdEscape(h) + "\n")
	}
	b.WriteString("- run: " + r.when.UTC().Format(time.RFC3339) + "\n\n")
	cols, text := r.columns(), r.textColumns()
	b.WriteString("| " + strings.Join(cols, " | ") + " |\n")
	b.WriteString("|" + strings.Repeat("---|", text) + strings.Repeat("--:|", len(cols)-text) + "\n")
	for _, cr := range r.cases {
		for _, rw := range cr.rows {
			cells := rw.cells(cr.broker)
			for i := range cells {
				cells[i] = mdEscape(cells[i])
			}
			b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
		}
	}
	if notes := r.notes(); len(notes) > 0 {
		b.WriteString("\n")
		for _, n := range notes {
			b.WriteString("- " + mdEscape(n) + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// fmtRate writes 1234567.8 as "1 234 568".
func fmtRate(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// fmtFloat writes v with three significant digits, at least.
func fmtFloat(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// fmtDur writes a latency in us below a millisecond, else in ms.
func fmtDur(d time.Duration) string {
	us := float64(d) / float64(time.Microsecond)
	if us < 1000 {
		return fmtFloat(us) + "us"
	}
	return fmtFloat(us/1000) + "ms"
}
