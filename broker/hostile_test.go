package broker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/internal/kbatch"
	"github.com/merlinkafka/merlin/internal/testkit"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Regression tests for the findings of issue 13: hostile and broken clients
// must neither leak descriptors nor grow memory without bound, and the
// broker's limits must refuse them while a good client is served.

// openFDs counts this process's open file descriptors (Linux), or skips the
// test where /proc/self/fd is not available.
func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	return len(ents) - 1 // the directory being read
}

// eventually polls cond every 2ms until it holds or timeout passes.
func eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// dialN opens n loopback connections to addr.
func dialN(t testing.TB, addr string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			_ = c.Close()
		}
	})
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		conns = append(conns, c)
	}
	return conns
}

// Finding 1: long-polling fetches whose clients close must not keep their
// descriptors. Each client asks for data at the high watermark with the
// largest MaxWaitMillis; once all wait, they close, and the broker's
// descriptors are back to the baseline within about a second.
func TestHostileLongPollFetchReleasesFDs(t *testing.T) {
	n := hostileConns(t, 300)
	var waiting atomic.Int64
	b, err := New(Config{Logger: testLogger(t), Faults: &NodeFaults{onFetchWait: func() { waiting.Add(1) }}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	createTopic(t, b, "poll", 1)
	t.Run("good client before", func(t *testing.T) { roundTrip(t, b.Addr(), "good", 10) })
	runtime.GC()
	base := openFDs(t)

	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("longpoll"))
	req := fetchReq(11, "poll", 0, 0, math.MaxInt32, 1, 1<<20, 1<<20)
	frame := f.AppendRequest(nil, req, 1)
	conns := dialN(t, b.Addr(), n)
	for _, c := range conns {
		if _, err := c.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	if !eventually(10*time.Second, func() bool { return waiting.Load() >= int64(n) }) {
		t.Fatalf("%d of %d fetches waiting", waiting.Load(), n)
	}
	during := openFDs(t)
	for _, c := range conns {
		_ = c.Close()
	}
	if !eventually(2*time.Second, func() bool { return openFDs(t) <= base && b.OpenConnections() == 0 }) {
		t.Fatalf("descriptors: %d before, %d with %d fetches waiting, %d two seconds after they closed (%d connections open)",
			base, during, n, openFDs(t), b.OpenConnections())
	}
	t.Logf("descriptors: %d before, %d with %d long-poll fetches waiting, %d after they closed", base, during, n, openFDs(t))
	roundTrip(t, b.Addr(), "good2", 10)
}

// The wait of a fetch is capped by MaxFetchWait whatever it asks for.
func TestFetchWaitCapped(t *testing.T) {
	b := startBroker(t, Config{MaxFetchWait: 50 * time.Millisecond})
	createTopic(t, b, "capped", 1)
	rc := dialRaw(t, b.Addr())
	// read gives up after 30 s: without the cap the answer would come in
	// about 24 days.
	p := rc.fetchOne(11, "capped", 0, 0, math.MaxInt32, 1, 1<<20, 1<<20)
	if p.ErrorCode != 0 || len(p.RecordBatches) != 0 {
		t.Fatalf("capped fetch: %+v", p)
	}
}

// heapInUse returns the bytes of live heap objects after two collections
// (the first moves pooled buffers to sync.Pool's victim cache, the second
// frees them).
func heapInUse() uint64 { return testkit.MemStats().HeapAlloc }

// Finding 2: connections announcing large frames and sending a little must
// not make the broker hold the announced size. First each of n connections
// sends the probe of the issue (a frame of 1 MiB announced, 10 bytes sent):
// the broker allocates nothing for them. Then each sends 64 KiB more: the
// buffers that would need (128 KiB each) are bounded by
// QueuedMaxRequestBytes, the other readers waiting, until the request read
// deadline closes them all; then a good client is served.
func TestHostileMemoryAmplification(t *testing.T) {
	n := hostileConns(t, 300)
	const budget = 4 << 20
	b := startBroker(t, Config{QueuedMaxRequestBytes: budget, RequestReadTimeout: 3 * time.Second, Logger: testLogger(t)})
	probe := []byte{0x00, 0x10, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00}
	time.Sleep(100 * time.Millisecond) // earlier tests' connections finish closing
	base := heapInUse()
	conns := dialN(t, b.Addr(), n)
	for _, c := range conns {
		if _, err := c.Write(probe); err != nil {
			t.Fatal(err)
		}
	}
	if !eventually(5*time.Second, func() bool { return b.OpenConnections() == n }) {
		t.Fatalf("%d of %d connections open", b.OpenConnections(), n)
	}
	time.Sleep(100 * time.Millisecond) // let the probes be read
	probed := heapInUse()
	// Each connection costs its goroutine and conn; the announced MiB
	// must not be allocated (n MiB in all).
	if grow := int64(probed) - int64(base); grow > int64(n)*4<<10 {
		t.Errorf("heap grew by %d bytes (%d per connection) for %d probes", grow, grow/int64(n), n)
	}
	more := make([]byte, 64<<10)
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() { _, _ = c.Write(more) })
	}
	wg.Wait()
	time.Sleep(200 * time.Millisecond)
	filled := heapInUse()
	inUse := b.budget.inUse()
	// Unbounded, the buffers would take n × 128 KiB (37.5 MiB for 300).
	// The budget, one request beyond it (128 KiB) and each connection's
	// goroutine and conn.
	limit := int64(budget + 128<<10 + n*4<<10)
	if grow := int64(filled) - int64(base); grow > limit || inUse > budget+128<<10 {
		t.Errorf("after %d × 64 KiB: heap grew by %d bytes, budget in use %d; want at most %d and %d", n, grow, inUse, limit, budget+128<<10)
	}
	// With the budget spent, small requests (that fit in a connection's
	// own buffer) are still answered.
	good := dialRaw(t, b.Addr())
	if r := good.do(kmsg.NewPtrApiVersionsRequest()).(*kmsg.ApiVersionsResponse); r.ErrorCode != 0 {
		t.Fatalf("ApiVersions with the budget spent: %+v", r)
	}
	meta := kmsg.NewPtrMetadataRequest()
	meta.Version = 12
	if r := good.do(meta).(*kmsg.MetadataResponse); len(r.Brokers) != 1 {
		t.Fatalf("Metadata with the budget spent: %+v", r)
	}
	good.conn.Close()
	t.Logf("heap: %d before, +%d after %d probes, +%d after 64 KiB more each (budget %d, in use %d; unbounded would be +%d); RSS %d now",
		base, int64(probed)-int64(base), n, int64(filled)-int64(base), budget, inUse, n*128<<10, rssBytes())
	// The read deadline closes the partial requests, and the budget is
	// released.
	if !eventually(10*time.Second, func() bool { return b.OpenConnections() == 0 && b.budget.inUse() == 0 }) {
		t.Fatalf("%d connections open, %d budget bytes in use after the request read timeout", b.OpenConnections(), b.budget.inUse())
	}
	roundTrip(t, b.Addr(), "good", 100)
}

// rssBytes returns the process's resident set size (Linux), or 0.
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			if _, err := fmt.Sscan(rest, &kb); err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// Finding 2, second probe: concurrent frames of 100 MiB whose bytes keep
// coming. Without a bound across connections each would grow to what it
// received (16 MiB buffers for 8 MiB received, 6 connections); with
// QueuedMaxRequestBytes the buffers stay within the budget, plus the one
// request the budget lets through when every reader waits (see byteBudget).
func TestHostileLargeFrames(t *testing.T) {
	const (
		budget = 8 << 20
		conns  = 6
		sent   = 8 << 20
	)
	b := startBroker(t, Config{QueuedMaxRequestBytes: budget, RequestReadTimeout: 3 * time.Second})
	base, baseRSS := heapInUse(), rssBytes()
	head := append(binary.BigEndian.AppendUint32(nil, 100<<20), header(0, 9, 1)...)
	chunk := make([]byte, sent)
	for _, c := range dialN(t, b.Addr(), conns) {
		go func() {
			if _, err := c.Write(head); err == nil {
				_, _ = c.Write(chunk) // blocks once the broker waits; fails when closed
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	grow := int64(heapInUse()) - int64(base)
	inUse := b.budget.inUse()
	t.Logf("%d frames of 100 MiB, %d MiB sent each: heap +%d bytes, RSS +%d, budget %d in use %d (unbounded: about %d)",
		conns, sent>>20, grow, rssBytes()-baseRSS, budget, inUse, conns*2*sent)
	// The budget, the one request it lets through (a buffer of twice what
	// it received), the test's chunk and 2 MiB of slack.
	if limit := int64(budget + 2*(sent+maxPooled) + sent + 2<<20); grow > limit {
		t.Errorf("heap grew by %d bytes, want at most %d", grow, limit)
	}
	if !eventually(10*time.Second, func() bool { return b.OpenConnections() == 0 && b.budget.inUse() == 0 }) {
		t.Fatalf("%d connections, %d budget bytes after the request read timeout", b.OpenConnections(), b.budget.inUse())
	}
}

// Large requests wait for the budget rather than fail: many concurrent
// produces larger than a small budget all succeed.
func TestRequestBudgetWaits(t *testing.T) {
	b := startBroker(t, Config{QueuedMaxRequestBytes: 1 << 20})
	createTopic(t, b, "big", 1)
	big := buildBatchValue(t, make([]byte, 700<<10))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			rc := dialRaw(t, b.Addr())
			for range 3 {
				resp, err := rc.read(produceReq(9, -1, "big", 0, big), rc.send(produceReq(9, -1, "big", 0, big)))
				if err != nil {
					t.Error(err)
					return
				}
				if p := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0]; p.ErrorCode != 0 {
					t.Errorf("produce: %+v", p)
				}
			}
		})
	}
	wg.Wait()
	if _, next, _ := b.Cluster().Offsets("big", 0); next != 24 {
		t.Fatalf("log end %d, want 24", next)
	}
	if used := b.budget.inUse(); used != 0 {
		t.Fatalf("%d budget bytes still in use", used)
	}
}

// buildBatchValue encodes a batch of one record with value v.
func buildBatchValue(t testing.TB, v []byte) []byte {
	t.Helper()
	var bd kbatch.Builder
	bd.Add(1, nil, v)
	b, err := bd.AppendBatch(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Finding 3: slowloris connections (a frame begun and a byte now and then)
// are closed by the request read deadline, idle ones by the idle timeout,
// while a good client is served.
func TestHostileSlowloris(t *testing.T) {
	n := hostileConns(t, 200)
	b := startBroker(t, Config{RequestReadTimeout: 300 * time.Millisecond, IdleTimeout: 500 * time.Millisecond, Logger: testLogger(t)})
	base := openFDs(t)
	slow := dialN(t, b.Addr(), n)
	idle := dialN(t, b.Addr(), n/4)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var closedByBroker atomic.Int64
	for _, c := range slow {
		wg.Go(func() {
			// A 100-byte frame, one byte every 100ms: 10 s to send.
			msg := append(binary.BigEndian.AppendUint32(nil, 100), make([]byte, 100)...)
			for _, x := range msg {
				if _, err := c.Write([]byte{x}); err != nil {
					closedByBroker.Add(1)
					return
				}
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		})
	}
	t.Run("good client", func(t *testing.T) { roundTrip(t, b.Addr(), "good", 100) })
	if !eventually(5*time.Second, func() bool { return b.OpenConnections() <= 0 }) {
		t.Errorf("%d of %d slow and idle connections still open", b.OpenConnections(), n+n/4)
	}
	close(stop)
	wg.Wait()
	for _, c := range append(slow, idle...) {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var one [1]byte
		if _, err := c.Read(one[:]); !errors.Is(err, io.EOF) && !isReset(err) {
			t.Fatalf("connection not closed by the broker: %v", err)
		}
		_ = c.Close()
	}
	if !eventually(2*time.Second, func() bool { return openFDs(t) <= base }) {
		t.Errorf("descriptors: %d before, %d after", base, openFDs(t))
	}
	t.Logf("%d slowloris and %d idle connections closed; %d writes failed; descriptors %d before, %d after", n, n/4, closedByBroker.Load(), base, openFDs(t))
	roundTrip(t, b.Addr(), "good2", 100)
}

// A client that sends requests and never reads the answers does not hold its
// connection forever: a write blocked for IdleTimeout closes it.
func TestHostileNonReader(t *testing.T) {
	b := startBroker(t, Config{IdleTimeout: 300 * time.Millisecond, MaxMessageBytes: -1})
	createTopic(t, b, "big", 1)
	big := buildBatchValue(t, make([]byte, 1<<20))
	rc := dialRaw(t, b.Addr())
	for range 4 {
		if p := rc.produce("big", 0, big); p.ErrorCode != 0 {
			t.Fatal(p)
		}
	}
	// 64 fetches of 4 MiB each: far more than the sockets buffer.
	f := kmsg.NewRequestFormatter()
	var reqs []byte
	for i := range 64 {
		reqs = f.AppendRequest(reqs, fetchReq(11, "big", 0, 0, 0, 1, 8<<20, 8<<20), int32(i))
	}
	c := dialN(t, b.Addr(), 1)[0]
	if _, err := c.Write(reqs); err != nil {
		t.Fatal(err)
	}
	rc.conn.Close()
	if !eventually(10*time.Second, func() bool { return b.OpenConnections() == 0 }) {
		t.Fatalf("%d connections open: the non-reading client holds its connection", b.OpenConnections())
	}
}

// dialFrom connects to addr from the loopback address local.
func dialFrom(local, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	return d.Dial("tcp", addr)
}

// served reports whether the broker answers ApiVersions on c (false: it
// closed c).
func served(c net.Conn) bool {
	f := kmsg.NewRequestFormatter()
	req := kmsg.NewPtrApiVersionsRequest()
	if _, err := c.Write(f.AppendRequest(nil, req, 1)); err != nil {
		return false
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var size [4]byte
	_, err := io.ReadFull(c, size[:])
	return err == nil
}

// MaxConnectionsPerIP and MaxConnections refuse connections beyond them,
// with one log line for the lot; closing connections makes room again.
func TestHostileConnectionLimits(t *testing.T) {
	logger, logs := capturingLogger(t)
	b := startBroker(t, Config{MaxConnections: 20, MaxConnectionsPerIP: 12, Logger: logger})
	if c, err := dialFrom("127.0.0.2", b.Addr()); err != nil {
		t.Skipf("cannot dial from 127.0.0.2: %v", err)
	} else {
		c.Close()
		eventually(time.Second, func() bool { return b.OpenConnections() == 0 })
	}
	open := func(local string, n int) (ok, refused int, conns []net.Conn) {
		for range n {
			c, err := dialFrom(local, b.Addr())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			if served(c) {
				ok++
				conns = append(conns, c)
			} else {
				refused++
			}
		}
		return ok, refused, conns
	}
	if ok, refused, _ := open("127.0.0.1", 15); ok != 12 || refused != 3 {
		t.Fatalf("from 127.0.0.1: %d served, %d refused; want 12 and 3 (MaxConnectionsPerIP)", ok, refused)
	}
	ok, refused, second := open("127.0.0.2", 10)
	if ok != 8 || refused != 2 {
		t.Fatalf("from 127.0.0.2: %d served, %d refused; want 8 and 2 (MaxConnections)", ok, refused)
	}
	for _, c := range second {
		c.Close()
	}
	if !eventually(2*time.Second, func() bool { return b.OpenConnections() == 12 }) {
		t.Fatalf("%d connections open, want 12", b.OpenConnections())
	}
	if ok, refused, _ := open("127.0.0.3", 8); ok != 8 || refused != 0 {
		t.Fatalf("from 127.0.0.3 after closing: %d served, %d refused", ok, refused)
	}
	closeBroker(t, b)
	out := logs.String()
	if lines := strings.Count(out, "msg=\"refusing connection\""); lines != 1 {
		t.Errorf("%d refusal lines for 5 refusals within a second, want 1 and a count:\n%s", lines, out)
	}
	if !strings.Contains(out, "msg=\"refusing connection (repeated)\" node=0 suppressed=4") {
		t.Errorf("no count of the suppressed refusals:\n%s", out)
	}
}

// Finding 6: a flood of bad connections logs a line and a count, not a line
// each.
func TestHostileWarningsRateLimited(t *testing.T) {
	logger, logs := capturingLogger(t)
	b := startBroker(t, Config{Logger: logger})
	const n = 50
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if err := sendExpectClose(b.Addr(), []byte("GET / HTTP/1.1\r\n\r\n"), false); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	closeBroker(t, b)
	out := logs.String()
	lines := strings.Count(out, "msg=\"closing connection\"")
	repeated := strings.Count(out, "msg=\"closing connection (repeated)\"")
	// 50 connections in well under the 1 s window of a loaded machine's
	// worst case of a few seconds: a handful of lines at most.
	if lines+repeated > 8 || lines < 1 {
		t.Fatalf("%d lines and %d counts for %d bad connections:\n%s", lines, repeated, n, out)
	}
}

// Finding 4: the partition limits answer CreateTopics with Kafka's codes, and
// stop auto-creation the same way.
func TestHostilePartitionLimits(t *testing.T) {
	b := startBroker(t, Config{MaxPartitionsPerTopic: 8, MaxPartitionsTotal: 20})
	rc := dialRaw(t, b.Addr())
	create := func(name string, n int32) kmsg.CreateTopicsResponseTopic {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.Version = 5
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, n, 1
		req.Topics = append(req.Topics, rt)
		return rc.do(req).(*kmsg.CreateTopicsResponse).Topics[0]
	}
	for _, c := range []struct {
		name string
		n    int32
		code int16
	}{
		{"nine", 9, kerr.InvalidPartitions.Code},
		{"a", 8, 0},
		{"b", 8, 0},
		{"c", 8, kerr.PolicyViolation.Code},
		{"d", 4, 0},
	} {
		if st := create(c.name, c.n); st.ErrorCode != c.code {
			t.Errorf("create %q with %d partitions: error %d (%v), want %d", c.name, c.n, st.ErrorCode, st.ErrorMessage, c.code)
		}
	}
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 12
	req.AllowAutoTopicCreation = true
	name := "auto"
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = &name
	req.Topics = append(req.Topics, mt)
	if got := rc.do(req).(*kmsg.MetadataResponse).Topics[0]; got.ErrorCode != kerr.PolicyViolation.Code {
		t.Errorf("auto-creation over the limit: error %d, want POLICY_VIOLATION", got.ErrorCode)
	}
	if n := len(b.Cluster().Topics()); n != 3 {
		t.Errorf("%d topics, want 3", n)
	}
}
