package seglog

import (
	"testing"
	"time"
)

func TestParseFlushPolicy(t *testing.T) {
	for _, tc := range []struct {
		in, out string
	}{
		{"always", "always"},
		{"never", "never"},
		{"every=1", "every=1"},
		{"every=1000", "every=1000"},
		{"interval=1s", "interval=1s"},
		{"interval=250ms", "interval=250ms"},
		{" interval=1m ", "interval=1m0s"},
	} {
		p, err := ParseFlushPolicy(tc.in)
		if err != nil || p.String() != tc.out {
			t.Fatalf("ParseFlushPolicy(%q) = %v, %v; want %s", tc.in, p, err, tc.out)
		}
		var q FlushPolicy
		if err := q.UnmarshalText([]byte(p.String())); err != nil || q != p {
			t.Fatalf("round trip of %v: %v %v", p, q, err)
		}
	}
	for _, bad := range []string{"", "sometimes", "every=0", "every=-3", "every=x", "interval=0s", "interval=-1s", "interval=soon", "Always"} {
		if _, err := ParseFlushPolicy(bad); err == nil {
			t.Fatalf("ParseFlushPolicy(%q) accepted", bad)
		}
	}
	if got := (FlushPolicy{}).String(); got != "interval=1s" {
		t.Fatalf("zero policy prints %q", got)
	}
	if FlushEveryN(0) != FlushEveryN(1) || FlushInterval(0) != DefaultFlush {
		t.Fatal("constructors do not clamp")
	}
}

func TestFlushPolicies(t *testing.T) {
	count := func(p FlushPolicy, appends int) (int64, *Log) {
		l := mustOpen(t, t.TempDir(), Options{Flush: p})
		for i := 0; i < appends; i++ {
			mustAppend(t, l, batch(t, 3, 0, 1))
		}
		return l.syncs.Load(), l
	}
	n, l := count(FlushAlways(), 10)
	if n != 10 {
		t.Fatalf("always: %d fsyncs for 10 appends", n)
	}
	l.Close()
	n, l = count(FlushEveryN(7), 10) // 30 records: fsync at 9, 18, 27
	if n != 3 {
		t.Fatalf("every=7: %d fsyncs", n)
	}
	l.Close()
	n, l = count(FlushNever(), 10)
	if n != 0 {
		t.Fatalf("never: %d fsyncs", n)
	}
	if err := l.Close(); err != nil || l.syncs.Load() != 1 {
		t.Fatalf("Close must fsync once: %d, %v", l.syncs.Load(), err)
	}

	// interval: the timer fsyncs without appends waiting.
	_, l = count(FlushInterval(5*time.Millisecond), 5)
	synced := func() uint64 {
		l.syncMu.Lock()
		defer l.syncMu.Unlock()
		return l.syncedSeq
	}
	deadline := time.Now().Add(10 * time.Second)
	for synced() != 5 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if synced() != 5 {
		t.Fatalf("interval: the flusher synced %d of 5 appends", synced())
	}
	// Nothing new: the flusher does not fsync again.
	before := l.syncs.Load()
	time.Sleep(30 * time.Millisecond)
	if l.syncs.Load() != before {
		t.Fatalf("interval: %d fsyncs of an idle log", l.syncs.Load()-before)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Close stopped the timer: no fsync after it.
	after := l.syncs.Load()
	time.Sleep(20 * time.Millisecond)
	if l.syncs.Load() != after {
		t.Fatal("the flusher outlived Close")
	}
	wantErr(t, l.Sync(), ErrClosed)
}
