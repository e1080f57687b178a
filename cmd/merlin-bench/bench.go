package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"time"
)

// row is the table's line for one case and one system: medians over its
// runs.
type row struct {
	c      benchCase
	system string
	runs   int   // successful runs
	err    error // the first failed run's error; the row is then no result

	rate      float64 // messages a second
	mbps      float64 // value megabytes (1e6) a second
	usPerMsg  float64 // elapsed microseconds per message
	cpu       float64 // seconds, bench process
	brokerCPU float64 // seconds, broker process
	hasBroker bool
	rssMB     float64
	hasRSS    bool
	heapMB    float64
	p50       time.Duration
	p99       time.Duration
	p999      time.Duration
	hasLat    bool
	ratio     float64 // median over runs of merlin's rate / this rate
	hasRatio  bool
	ratios    []float64 // run by run
	noHeap    bool
	perf      *perfSummary // java: medians of the tool's summaries
}

// caseResult is one case's rows, in system order, on one broker.
type caseResult struct {
	c      benchCase
	broker string // the --broker choice when there are several, else ""
	rows   []*row
}

// title is the case's name, with its broker when there are several.
func (cr caseResult) title() string {
	if cr.broker == "" {
		return cr.c.name
	}
	return cr.c.name + " on " + cr.broker
}

// bench runs every case runs times for every system, interleaving the
// systems within each run (starting with a different one each time), and
// reports progress to progress.
func bench(ctx context.Context, e *env, cases []benchCase, names []string, runs int, progress io.Writer) []caseResult {
	var out []caseResult
	for _, c := range cases {
		names := slices.DeleteFunc(slices.Clone(names), func(s string) bool { return !supports(s, c) })
		results := make(map[string][]*runResult, len(names))
		errs := make(map[string]error, len(names))
		for _, s := range names {
			results[s] = make([]*runResult, runs)
		}
		for r := range runs {
			for k := range names {
				s := names[(k+r)%len(names)]
				if errs[s] != nil {
					continue
				}
				if ctx.Err() != nil {
					errs[s] = ctx.Err()
					continue
				}
				res, err := runOnce(ctx, e, c, s, r+1)
				if err != nil {
					errs[s] = fmt.Errorf("run %d: %w", r+1, err)
					fmt.Fprintf(progress, "%-28s %-7s run %d/%d: ERROR %v\n", c.name, s, r+1, runs, err)
					continue
				}
				results[s][r] = &res
				fmt.Fprintf(progress, "%-28s %-7s run %d/%d: %s msgs/s in %v\n", c.name, s, r+1, runs, fmtRate(res.rate()), res.elapsed.Round(time.Millisecond))
			}
		}
		out = append(out, caseResult{c: c, rows: aggregate(c, names, results, errs)})
	}
	return out
}

// aggregate turns the runs of one case into its rows.
func aggregate(c benchCase, names []string, results map[string][]*runResult, errs map[string]error) []*row {
	rows := make([]*row, 0, len(names))
	for _, s := range names {
		rw := &row{c: c, system: s, err: errs[s]}
		rows = append(rows, rw)
		var ok []*runResult
		for _, r := range results[s] {
			if r != nil {
				ok = append(ok, r)
			}
		}
		rw.runs = len(ok)
		if rw.err != nil || len(ok) == 0 {
			continue
		}
		pick := func(f func(*runResult) float64) float64 {
			v := make([]float64, len(ok))
			for i, r := range ok {
				v[i] = f(r)
			}
			return median(v)
		}
		rw.rate = pick(func(r *runResult) float64 { return r.rate() })
		rw.mbps = pick(func(r *runResult) float64 { return float64(r.bytes) / 1e6 / r.elapsed.Seconds() })
		rw.usPerMsg = pick(func(r *runResult) float64 { return float64(r.elapsed.Microseconds()) / float64(r.messages) })
		rw.cpu = pick(func(r *runResult) float64 { return r.cpu.Seconds() })
		rw.heapMB = pick(func(r *runResult) float64 { return float64(r.peakHeap) / 1e6 })
		rw.noHeap = all(ok, func(r *runResult) bool { return r.noHeap })
		if all(ok, func(r *runResult) bool { return r.perf != nil }) {
			dur := func(f func(*perfSummary) time.Duration) time.Duration {
				return time.Duration(pick(func(r *runResult) float64 { return float64(f(r.perf)) }))
			}
			rw.perf = &perfSummary{
				avg:  dur(func(s *perfSummary) time.Duration { return s.avg }),
				max:  dur(func(s *perfSummary) time.Duration { return s.max }),
				p50:  dur(func(s *perfSummary) time.Duration { return s.p50 }),
				p95:  dur(func(s *perfSummary) time.Duration { return s.p95 }),
				p99:  dur(func(s *perfSummary) time.Duration { return s.p99 }),
				p999: dur(func(s *perfSummary) time.Duration { return s.p999 }),
			}
		}
		if rw.hasBroker = all(ok, func(r *runResult) bool { return r.hasBroker }); rw.hasBroker {
			rw.brokerCPU = pick(func(r *runResult) float64 { return r.brokerCPU.Seconds() })
		}
		if rw.hasRSS = all(ok, func(r *runResult) bool { return r.hasRSS }); rw.hasRSS {
			rw.rssMB = pick(func(r *runResult) float64 { return float64(r.peakRSS) / 1e6 })
		}
		if rw.hasLat = c.latency != "" && all(ok, func(r *runResult) bool { return len(r.lat) > 0 }); rw.hasLat {
			rw.p50 = time.Duration(pick(func(r *runResult) float64 { return float64(percentile(r.lat, 0.50)) }))
			rw.p99 = time.Duration(pick(func(r *runResult) float64 { return float64(percentile(r.lat, 0.99)) }))
			rw.p999 = time.Duration(pick(func(r *runResult) float64 { return float64(percentile(r.lat, 0.999)) }))
		}
	}
	// Ratios: merlin's rate over this system's, run by run.
	base, ok := results["merlin"]
	if !ok || errs["merlin"] != nil {
		return rows
	}
	for _, rw := range rows {
		if rw.err != nil || rw.runs == 0 {
			continue
		}
		var ratios []float64
		for i, r := range results[rw.system] {
			if r != nil && base[i] != nil {
				ratios = append(ratios, base[i].rate()/r.rate())
			}
		}
		if len(ratios) > 0 {
			rw.ratio, rw.hasRatio, rw.ratios = median(ratios), true, ratios
		}
	}
	return rows
}

func all(rs []*runResult, f func(*runResult) bool) bool {
	for _, r := range rs {
		if !f(r) {
			return false
		}
	}
	return true
}

// median of v (the mean of the middle two for an even count).
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// percentile of sorted durations, nearest rank.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
