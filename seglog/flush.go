package seglog

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

type flushMode uint8

const (
	flushDefault flushMode = iota // the zero FlushPolicy: DefaultFlush
	flushAlways
	flushEveryN
	flushInterval
	flushNever
)

// FlushPolicy says when a Log calls fsync on its active segment. It is the
// durability promise of the log; the package documentation spells out what
// each policy keeps after a kill -9 and after a power cut.
//
// The zero value means DefaultFlush. FlushPolicy implements
// encoding.TextMarshaler and encoding.TextUnmarshaler with the syntax of
// ParseFlushPolicy, so that it can be a command-line flag.
type FlushPolicy struct {
	mode  flushMode
	n     int64
	every time.Duration
}

// DefaultFlushInterval is the period of DefaultFlush.
const DefaultFlushInterval = time.Second

// DefaultFlush is the policy used when Options.Flush is the zero value:
// FlushInterval(DefaultFlushInterval). A power cut loses at most about a
// second of appends, at the cost of one fsync a second per busy log.
var DefaultFlush = FlushInterval(DefaultFlushInterval)

// FlushAlways fsyncs the segment before Append returns: an appended batch
// survives a power cut. Concurrent appenders share fsyncs (group commit).
func FlushAlways() FlushPolicy { return FlushPolicy{mode: flushAlways} }

// FlushEveryN fsyncs after every n appended records (not batches): the
// Append that crosses the threshold returns after the fsync. n < 1 is taken
// as 1.
func FlushEveryN(n int) FlushPolicy {
	if n < 1 {
		n = 1
	}
	return FlushPolicy{mode: flushEveryN, n: int64(n)}
}

// FlushInterval fsyncs at most d after an append, from a timer the append
// arms (stopped by Close): an idle log has no fsync, goroutine or wake-up
// of its own, so that thousands of idle logs cost nothing. Appends do not
// wait for it. d <= 0 is taken as DefaultFlushInterval.
func FlushInterval(d time.Duration) FlushPolicy {
	if d <= 0 {
		d = DefaultFlushInterval
	}
	return FlushPolicy{mode: flushInterval, every: d}
}

// FlushNever leaves writeback to the operating system. The Log still fsyncs
// a segment when it rolls, and on Sync and Close.
func FlushNever() FlushPolicy { return FlushPolicy{mode: flushNever} }

// ParseFlushPolicy parses "always", "never", "every=N" (N records, N >= 1) or
// "interval=DURATION" (time.ParseDuration syntax, positive), as String
// prints them.
func ParseFlushPolicy(s string) (FlushPolicy, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "always":
		return FlushAlways(), nil
	case s == "never":
		return FlushNever(), nil
	case strings.HasPrefix(s, "every="):
		n, err := strconv.ParseInt(strings.TrimPrefix(s, "every="), 10, 64)
		if err != nil || n < 1 || n > 1<<31-1 {
			return FlushPolicy{}, fmt.Errorf("seglog: flush policy %q: every=N needs a record count from 1 to 2147483647", s)
		}
		return FlushEveryN(int(n)), nil
	case strings.HasPrefix(s, "interval="):
		d, err := time.ParseDuration(strings.TrimPrefix(s, "interval="))
		if err != nil || d <= 0 {
			return FlushPolicy{}, fmt.Errorf("seglog: flush policy %q: interval=DURATION needs a positive duration such as 500ms or 1s", s)
		}
		return FlushInterval(d), nil
	}
	return FlushPolicy{}, fmt.Errorf("seglog: unknown flush policy %q (want always, never, every=N or interval=DURATION)", s)
}

// String returns the policy in the syntax of ParseFlushPolicy.
func (p FlushPolicy) String() string {
	switch p.mode {
	case flushAlways:
		return "always"
	case flushNever:
		return "never"
	case flushEveryN:
		return "every=" + strconv.FormatInt(p.n, 10)
	case flushInterval:
		return "interval=" + p.every.String()
	}
	return DefaultFlush.String()
}

// MarshalText implements encoding.TextMarshaler.
func (p FlushPolicy) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *FlushPolicy) UnmarshalText(b []byte) error {
	q, err := ParseFlushPolicy(string(b))
	if err != nil {
		return err
	}
	*p = q
	return nil
}

// resolve replaces the zero value by DefaultFlush.
func (p FlushPolicy) resolve() FlushPolicy {
	if p.mode == flushDefault {
		return DefaultFlush
	}
	return p
}
