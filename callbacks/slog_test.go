package callbacks

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestSlog(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := NewSlog(l.With("component", "merlin"))
	when := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	events := []Event{
		{Kind: Flush, Time: when, Topic: "clicks", Partition: 3, Broker: 1, Count: 20, Bytes: 2048},
		{Kind: WorkerDown, Time: when, Topic: "clicks", Partition: 3, Broker: 1, Err: errBoom},
		{Kind: StateChange, Time: when, Topic: "clicks", Partition: 0, Broker: -1, From: "ready", To: "downtime"},
		{Kind: TimeDown, Time: when, Topic: "clicks", Partition: -1, Broker: 2, Duration: 1500 * time.Millisecond},
		{Kind: MessagesFailed, Time: when, Topic: "clicks", Partition: 2, Broker: 1, Count: 7, Err: errBoom},
		{Kind: MainBrokerUnreachable, Time: when, Partition: -1, Broker: -1, Err: errBoom},
	}
	for _, e := range events {
		h.Handle(e)
	}
	want := []string{
		`time=2024-05-01T12:00:00.000Z level=DEBUG msg=flush component=merlin topic=clicks partition=3 broker=1 count=20 bytes=2048`,
		`time=2024-05-01T12:00:00.000Z level=WARN msg=worker_down component=merlin topic=clicks partition=3 broker=1 err=boom`,
		`time=2024-05-01T12:00:00.000Z level=INFO msg=state_change component=merlin topic=clicks partition=0 from=ready to=downtime`,
		`time=2024-05-01T12:00:00.000Z level=INFO msg=time_down component=merlin topic=clicks broker=2 duration=1.5s`,
		`time=2024-05-01T12:00:00.000Z level=ERROR msg=messages_failed component=merlin topic=clicks partition=2 broker=1 count=7 err=boom`,
		`time=2024-05-01T12:00:00.000Z level=WARN msg=mainbroker_unreachable component=merlin err=boom`,
	}
	got := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSlogLevelFilter(t *testing.T) {
	var buf bytes.Buffer
	h := NewSlog(slog.New(slog.NewTextHandler(&buf, nil))) // Info and above
	h.Handle(Event{Kind: Flush, Partition: -1, Broker: -1, Count: 1})
	h.Handle(Event{Kind: Error, Partition: -1, Broker: -1, Err: errBoom})
	out := buf.String()
	if strings.Contains(out, "msg=flush") {
		t.Errorf("a Debug-level flush was logged at Info: %s", out)
	}
	if !strings.Contains(out, "level=ERROR msg=error err=boom") {
		t.Errorf("error not logged: %q", out)
	}
	if !strings.Contains(out, "time=") || strings.Contains(out, "time=0001") {
		t.Errorf("an event without Time should be logged at the current time: %q", out)
	}
}

func TestKindLevel(t *testing.T) {
	want := map[Kind]slog.Level{
		Flush: slog.LevelDebug, FlushedReplied: slog.LevelDebug,
		WorkerUp: slog.LevelInfo, TimeToConnect: slog.LevelInfo, TimeDown: slog.LevelInfo,
		DowntimeSaved: slog.LevelInfo, DowntimeReplayed: slog.LevelInfo, StateChange: slog.LevelInfo,
		WorkerDown: slog.LevelWarn, MainBrokerUnreachable: slog.LevelWarn, MaxDowntimeBufferReached: slog.LevelWarn,
		Error: slog.LevelError, MessagesFailed: slog.LevelError,
	}
	for k, l := range want {
		if k.Level() != l {
			t.Errorf("%v.Level() = %v, want %v", k, k.Level(), l)
		}
	}
}
