package callbacks

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// listen starts a UDP listener on loopback and returns it with its address.
func listen(t testing.TB) (net.PacketConn, string) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc, pc.LocalAddr().String()
}

// readLines reads datagrams until it has want lines, failing after a
// generous deadline rather than hanging. It returns the lines and the size of
// each datagram.
func readLines(t *testing.T, pc net.PacketConn, want int) (lines []string, sizes []int) {
	t.Helper()
	if err := pc.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	for len(lines) < want {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("after %d of %d lines: %v (lines so far %q)", len(lines), want, err, lines)
		}
		sizes = append(sizes, n)
		lines = append(lines, strings.Split(string(buf[:n]), "\n")...)
	}
	return lines, sizes
}

var errBoom = errors.New("boom")

// statsdCases are events and the exact lines the statsd sink sends for them
// with the prefix "merlin".
var statsdCases = []struct {
	e     Event
	lines []string
}{
	{Event{Kind: Flush, Topic: "clicks", Partition: 3, Broker: 1, Count: 20, Bytes: 2048},
		[]string{"merlin.clicks.flush.broker1.3:20|c", "merlin.clicks.flush_bytes.broker1.3:2048|c"}},
	{Event{Kind: Flush, Topic: "clicks", Partition: 0, Broker: 0, Count: 5},
		[]string{"merlin.clicks.flush.broker0.0:5|c"}},
	{Event{Kind: FlushedReplied, Topic: "clicks", Partition: 3, Broker: 1, Count: 20, Duration: 12500 * time.Microsecond},
		[]string{"merlin.clicks.flushed_replied.broker1.3:20|c", "merlin.clicks.flushed_replied_rtt.broker1.3:12.5|ms"}},
	{Event{Kind: WorkerUp, Topic: "clicks", Partition: 2, Broker: 7},
		[]string{"merlin.clicks.worker_up.broker7.2:1|c", "merlin.clicks.up.broker7.2:1|g"}},
	{Event{Kind: WorkerDown, Topic: "clicks", Partition: 2, Broker: 7, Err: errBoom},
		[]string{"merlin.clicks.worker_down.broker7.2:1|c", "merlin.clicks.up.broker7.2:0|g"}},
	{Event{Kind: TimeToConnect, Topic: "clicks", Partition: 2, Broker: 7, Duration: 3 * time.Millisecond},
		[]string{"merlin.clicks.time_to_connect.broker7.2:3|ms"}},
	{Event{Kind: TimeDown, Topic: "a.b:c d", Partition: -1, Broker: 4, Duration: 59280 * time.Millisecond},
		[]string{"merlin.a_b_c_d.time_down.broker4:59280|ms"}},
	{Event{Kind: MainBrokerUnreachable, Partition: -1, Broker: -1, Err: errBoom},
		[]string{"merlin.mainbroker_unreachable:1|c"}},
	{Event{Kind: DowntimeSaved, Topic: "t", Partition: 1, Broker: -1, Count: 4},
		[]string{"merlin.t.downtime_saved.1:4|c"}},
	{Event{Kind: DowntimeReplayed, Topic: "t", Partition: 1, Broker: 2, Count: 4},
		[]string{"merlin.t.downtime_replayed.broker2.1:4|c"}},
	{Event{Kind: MaxDowntimeBufferReached, Topic: "t", Partition: 1, Broker: 2, Count: 6},
		[]string{"merlin.t.max_downtime_buffer_reached.broker2.1:6|c"}},
	{Event{Kind: StateChange, Topic: "t", Partition: 1, Broker: 2, From: "ready", To: "downtime"},
		[]string{"merlin.t.state_downtime.broker2.1:1|c"}},
	{Event{Kind: StateChange, Topic: "t", Partition: 1, Broker: 2},
		[]string{"merlin.t.state_change.broker2.1:1|c"}},
	{Event{Kind: Error, Topic: "t", Partition: -1, Broker: -1, Err: errBoom},
		[]string{"merlin.t.error:1|c"}},
	{Event{Kind: MessagesFailed, Topic: "t", Partition: 0, Broker: 3, Count: 9, Err: errBoom},
		[]string{"merlin.t.messages_failed.broker3.0:9|c"}},
	{Event{Kind: Kind(99), Topic: "t"}, nil}, // unknown kinds are ignored
}

func TestStatsdLines(t *testing.T) {
	pc, addr := listen(t)
	s, err := NewStatsd(addr, "merlin")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var want []string
	for _, c := range statsdCases {
		s.Handle(c.e)
		want = append(want, c.lines...)
	}
	s.Flush()
	got, sizes := readLines(t, pc, len(want))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, n := range sizes {
		if n > DefaultMaxPacket {
			t.Errorf("a datagram has %d bytes, more than %d", n, DefaultMaxPacket)
		}
	}
	if s.Errors() != 0 {
		t.Errorf("Errors = %d", s.Errors())
	}
}

func TestStatsdPrefix(t *testing.T) {
	cases := map[string]string{
		"":            "clicks.flush:1|c",
		"svc.kafka":   "svc.kafka.clicks.flush:1|c",
		".svc.kafka.": "svc.kafka.clicks.flush:1|c",
		"a:b|c":       "a_b_c.clicks.flush:1|c",
	}
	for prefix, want := range cases {
		pc, addr := listen(t)
		s, err := NewStatsdWith(StatsdOptions{Addr: addr, Prefix: prefix, FlushInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		s.Handle(Event{Kind: Flush, Topic: "clicks", Partition: -1, Broker: -1, Count: 1})
		if got, _ := readLines(t, pc, 1); got[0] != want {
			t.Errorf("prefix %q: %q, want %q", prefix, got[0], want)
		}
		s.Close()
	}
}

// TestStatsdPacketsSplitAtMaxPacket sends many lines with a small packet
// size and checks that every datagram fits and no line is cut or lost.
func TestStatsdPacketsSplitAtMaxPacket(t *testing.T) {
	const events, maxPacket = 200, 120
	pc, addr := listen(t)
	s, err := NewStatsdWith(StatsdOptions{Addr: addr, Prefix: "p", MaxPacket: maxPacket, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for i := range events {
		s.Handle(Event{Kind: DowntimeSaved, Topic: "topic", Partition: int32(i), Broker: 1, Count: i})
	}
	s.Close() // sends the last partial packet
	got, sizes := readLines(t, pc, events)
	if len(got) != events {
		t.Fatalf("%d lines, want %d", len(got), events)
	}
	for i, l := range got {
		want := "p.topic.downtime_saved.broker1." + itoa(i) + ":" + itoa(i) + "|c"
		if l != want {
			t.Fatalf("line %d = %q, want %q", i, l, want)
		}
	}
	for _, n := range sizes {
		if n > maxPacket {
			t.Errorf("datagram of %d bytes, more than %d", n, maxPacket)
		}
	}
	if len(sizes) < 2 || uint64(len(sizes)) != s.Packets() {
		t.Errorf("%d datagrams read, Packets = %d", len(sizes), s.Packets())
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestStatsdFlushInterval checks that a lone line is sent without Flush,
// once the flush interval passes.
func TestStatsdFlushInterval(t *testing.T) {
	pc, addr := listen(t)
	s, err := NewStatsdWith(StatsdOptions{Addr: addr, Prefix: "merlin", FlushInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Handle(Event{Kind: WorkerUp, Topic: "t", Partition: 0, Broker: 1})
	got, _ := readLines(t, pc, 2)
	if got[0] != "merlin.t.worker_up.broker1.0:1|c" || got[1] != "merlin.t.up.broker1.0:1|g" {
		t.Errorf("lines %q", got)
	}
}

// TestStatsdThroughBus feeds the sink from a Bus, as a producer would.
func TestStatsdThroughBus(t *testing.T) {
	pc, addr := listen(t)
	s, err := NewStatsd(addr, "merlin")
	if err != nil {
		t.Fatal(err)
	}
	bus := NewBus(BusOptions{}, s)
	bus.Emit(Event{Kind: Flush, Topic: "clicks", Partition: 0, Broker: 1, Count: 20})
	bus.Emit(Event{Kind: FlushedReplied, Topic: "clicks", Partition: 0, Broker: 1, Count: 20, Duration: 2 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bus.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := readLines(t, pc, 3)
	want := []string{"merlin.clicks.flush.broker1.0:20|c", "merlin.clicks.flushed_replied.broker1.0:20|c", "merlin.clicks.flushed_replied_rtt.broker1.0:2|ms"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines %q, want %q", got, want)
	}
}

func TestStatsdAfterClose(t *testing.T) {
	_, addr := listen(t)
	s, err := NewStatsd(addr, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	s.Handle(Event{Kind: Error})
	s.Flush()
	if s.Errors() != 1 {
		t.Errorf("Errors = %d after a Handle on a closed sink, want 1", s.Errors())
	}
}

func TestStatsdBadAddress(t *testing.T) {
	for _, addr := range []string{"", "no-port", "127.0.0.1:notaport"} {
		if _, err := NewStatsd(addr, "p"); err == nil {
			t.Errorf("NewStatsd(%q) succeeded", addr)
		}
	}
}
