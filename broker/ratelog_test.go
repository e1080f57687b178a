package broker

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

// A burst of one message logs it once, then its count when the second is
// over; after close nothing more is logged.
func TestRateLog(t *testing.T) {
	logger, logs := capturingLogger(t)
	r := newRateLog(logger, slog.LevelWarn, "bad client")
	for i := range 100 {
		r.Log("i", i)
	}
	if !eventually(3*time.Second, func() bool { return strings.Contains(logs.String(), "suppressed=99") }) {
		t.Fatalf("no count of the 99 suppressed lines:\n%s", logs.String())
	}
	if n := strings.Count(logs.String(), "msg=\"bad client\""); n != 1 {
		t.Fatalf("%d lines for a burst of 100, want 1:\n%s", n, logs.String())
	}
	time.Sleep(logEvery + 10*time.Millisecond)
	r.Log("i", 100) // a second later: logged again
	r.Log("i", 101) // counted, reported by close
	r.close()
	r.Log("i", 102) // after close: dropped
	out := logs.String()
	if !strings.Contains(out, "i=100") || strings.Contains(out, "i=101") || strings.Contains(out, "i=102") || !strings.Contains(out, "suppressed=1 ") {
		t.Fatalf("after the window and close:\n%s", out)
	}
}
