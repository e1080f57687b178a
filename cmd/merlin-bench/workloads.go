package main

import (
	"fmt"
	"strconv"
	"strings"
)

// kind is how a case sends its messages.
type kind int

const (
	// kindList: calls of list messages each, async; wait for every ack.
	kindList kind = iota
	// kindOne: one async call a message; wait for every ack.
	kindOne
	// kindSync: producers goroutines, each sending one sync call a message.
	kindSync
	// kindFlood: one async call a message while a kgo consumer reads the
	// topic; done when the consumer has every message.
	kindFlood
)

// A benchCase is one row group of the table: one workload variant, run
// for every system.
type benchCase struct {
	workload  string // w2 .. w5
	id        string // short and unique, for file names: "w2-list1k"
	name      string // row label
	kind      kind
	messages  int
	size      int  // value bytes
	list      int  // kindList: messages per call
	immediate bool // no linger: merlin ProduceAsync, kgo and sarama linger 0
	producers int  // kindSync: concurrent goroutines
	// latency names what the latency columns hold, if anything.
	latency string
	ref     string // the published figure it answers
}

// workloadNames are the workloads the bench runs, in order.
var workloadNames = []string{"w2", "w3", "w4", "w5"}

// defaultMessages is each workload's message count (for W2: per row).
var defaultMessages = map[string]int{"w2": 100_000, "w3": 100_000, "w4": 10_000, "w5": 1_000_000}

// defaultLists are W2's list sizes.
var defaultLists = []int{1_000, 10_000, 100_000}

// w3Producers is W3's number of concurrent sync producers.
const w3Producers = 100

// parseWorkloads reads a comma-separated list of workload names.
func parseWorkloads(s string) ([]string, error) {
	want := map[string]bool{}
	for _, w := range strings.Split(s, ",") {
		w = strings.ToLower(strings.TrimSpace(w))
		if w == "" {
			continue
		}
		if _, ok := defaultMessages[w]; !ok {
			return nil, fmt.Errorf("unknown workload %q (want %s)", w, strings.Join(workloadNames, ", "))
		}
		want[w] = true
	}
	var out []string
	for _, w := range workloadNames {
		if want[w] {
			out = append(out, w)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no workload given")
	}
	return out, nil
}

// parseMessages reads --messages: "N" for every workload, or
// "w2=N,w5=N" for some. It returns the count of each workload.
func parseMessages(s string) (map[string]int, error) {
	counts := make(map[string]int, len(defaultMessages))
	for k, v := range defaultMessages {
		counts[k] = v
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return counts, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 {
			return nil, fmt.Errorf("%d is not a positive count", n)
		}
		for k := range counts {
			counts[k] = n
		}
		return counts, nil
	}
	for _, part := range strings.Split(s, ",") {
		w, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		w = strings.ToLower(strings.TrimSpace(w))
		if !ok {
			return nil, fmt.Errorf("%q is neither a count nor workload=count", part)
		}
		if _, known := counts[w]; !known {
			return nil, fmt.Errorf("unknown workload %q in %q", w, part)
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q: %q is not a positive count", part, v)
		}
		counts[w] = n
	}
	return counts, nil
}

// parseLists reads --lists, W2's list sizes.
func parseLists(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive list size", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no list size given")
	}
	return out, nil
}

// buildCases returns the cases of the chosen workloads. A W2 list row sends
// at least one full list.
func buildCases(workloads []string, counts map[string]int, lists []int) []benchCase {
	var cs []benchCase
	for _, w := range workloads {
		n := counts[w]
		switch w {
		case "w2":
			for _, l := range lists {
				cs = append(cs, benchCase{
					workload: w, id: "w2-list" + short(l), name: "W2 list of " + short(l),
					kind: kindList, messages: max(n, l), size: 100, list: l,
					ref: "ekaf 440 000 msg/s (lists)",
				})
			}
			cs = append(cs,
				benchCase{
					workload: w, id: "w2-one-batched", name: "W2 one a call, batched",
					kind: kindOne, messages: n, size: 100,
					ref: "ekaf 6 200 msg/s",
				},
				benchCase{
					workload: w, id: "w2-one-unbatched", name: "W2 one a call, unbatched",
					kind: kindOne, messages: n, size: 100, immediate: true,
					ref: "ekaf 2 400 msg/s",
				})
		case "w3":
			cs = append(cs, benchCase{
				workload: w, id: "w3-put-many", name: fmt.Sprintf("W3 put-many, sync x%d", w3Producers),
				kind: kindSync, messages: n, size: 1024, immediate: true, producers: w3Producers,
				latency: "ack", ref: "kestrel 61.4 us/put, median 3.3 ms",
			})
		case "w4":
			cs = append(cs, benchCase{
				workload: w, id: "w4-flood", name: "W4 flood, end to end",
				kind: kindFlood, messages: n, size: 1024,
				latency: "e2e", ref: "kestrel 156 us/put",
			})
		case "w5":
			cs = append(cs, benchCase{
				workload: w, id: "w5-peers", name: "W5 peers, 100 B",
				kind: kindOne, messages: n, size: 100,
			})
		}
	}
	return cs
}

// short writes 1000 as 1k and 100000 as 100k.
func short(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "M"
	case n >= 1_000 && n%1_000 == 0:
		return strconv.Itoa(n/1_000) + "k"
	}
	return strconv.Itoa(n)
}
