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
	brokers    string
	partitions int32
	linger     time.Duration
	runs       int
	cases      []caseResult
}

// header lines, without markup.
func (r *report) header() []string {
	return []string{
		"merlin-bench " + r.when.UTC().Format(time.RFC3339),
		"machine: " + r.machine.String(),
		fmt.Sprintf("broker: %s; topics of %d partitions", r.brokers, r.partitions),
		fmt.Sprintf("every system: acks=1 (leader), idempotence off, no compression, linger %v (merlin TTL, kgo ProducerLinger, sarama Flush.Frequency; none for sync and unbatched rows)", r.linger),
		fmt.Sprintf("figures: medians of %d runs; systems interleaved within each run", r.runs),
		"merlin/x: merlin's msgs/s over this system's, median of the per-run ratios (above 1: merlin faster)",
		"CPU: bench process over the timed window (getrusage); broker CPU: the broker process; RSS: bench process peak (reset per run); heap: sampled peak",
	}
}

var columns = []string{"workload", "system", "msgs/s", "MB/s", "us/msg", "p50", "p99", "p99.9", "CPU s", "broker CPU s", "peak RSS MB", "peak heap MB", "merlin/x"}

// cells formats one row.
func (rw *row) cells() []string {
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
		strconv.FormatFloat(rw.heapMB, 'f', 0, 64),
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
		if cr.c.latency != "" {
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
			out = append(out, fmt.Sprintf("%s: merlin/%s run by run %s", cr.c.name, rw.system, strings.Join(rs, " ")))
		}
	}
	for _, cr := range r.cases {
		for _, rw := range cr.rows {
			if rw.err != nil {
				out = append(out, fmt.Sprintf("ERROR %s, %s: %v", cr.c.name, rw.system, rw.err))
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
	lines := [][]string{slices.Clone(columns)}
	for _, cr := range r.cases {
		for _, rw := range cr.rows {
			lines = append(lines, rw.cells())
		}
	}
	for col := range 2 {
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
	b.WriteString("| " + strings.Join(columns, " | ") + " |\n")
	b.WriteString("|" + strings.Repeat("---|", 2) + strings.Repeat("--:|", len(columns)-2) + "\n")
	for _, cr := range r.cases {
		for _, rw := range cr.rows {
			cells := rw.cells()
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
