package broker

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// tcpFuzzBroker starts the broker FuzzTCP feeds, with short limits so that
// every input ends quickly: fetches wait at most 5ms, a begun request must
// arrive within 500ms, and the request byte budget is small. The idle
// timeout stays long: the good client's connections must not be reaped.
func tcpFuzzBroker(tb testing.TB) *Broker {
	b := startBroker(tb, Config{
		Logger:                slog.New(slog.DiscardHandler),
		MaxRequestSize:        1 << 20,
		RequestReadTimeout:    500 * time.Millisecond,
		MaxFetchWait:          5 * time.Millisecond,
		QueuedMaxRequestBytes: 4 << 20,
		MaxPartitionsTotal:    2000, // fuzzed CreateTopics accumulate
	})
	createTopic(tb, b, "seed", 2)
	createTopic(tb, b, "good", 1)
	return b
}

// goodClient checks that a well-behaved kgo client still produces a record
// and fetches it back.
func goodClient(tb testing.TB, cl *kgo.Client, b *Broker) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := &kgo.Record{Topic: "good", Value: []byte("still served")}
	if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		tb.Fatalf("good client: produce: %v", err)
	}
	req := fetchReq(11, "good", 0, r.Offset, 0, 1, 1<<20, 1<<20)
	for _, ts := range b.Cluster().Topics() {
		if ts.Name == "good" {
			req.Topics[0].TopicID = ts.ID // kgo sends v13+, by id
		}
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		tb.Fatalf("good client: fetch: %v", err)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 || !bytes.Contains(p.RecordBatches, []byte("still served")) {
		tb.Fatalf("good client: fetch at %d: error %d, %d bytes", r.Offset, p.ErrorCode, len(p.RecordBatches))
	}
}

// sendRaw writes data on a new connection, closes its write side and reads
// what the broker answers until it closes the connection.
func sendRaw(tb testing.TB, addr string, data []byte) {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	// The broker may close the connection before reading everything
	// (bad input): write errors are expected.
	if _, err := c.Write(data); err == nil {
		_ = c.(*net.TCPConn).CloseWrite()
	}
	if _, err := io.Copy(io.Discard, c); err != nil && !isReset(err) {
		tb.Fatalf("connection not closed by the broker after the input: %v", err)
	}
}

// FuzzTCP feeds byte streams to a running broker over a loopback socket:
// request frames captured from kgo, sarama and librdkafka and built for every
// API version, mutated. After each input a good kgo client must still
// produce and fetch, and the broker's goroutines and descriptors must be
// back to their baseline (the input's connection gone, whatever it asked).
func FuzzTCP(f *testing.F) {
	addSeeds(f)
	long := fetchReq(11, "seed", 0, 0, 1<<30, 1<<30, 1<<20, 1<<20) // a long poll
	f.Add(kmsg.NewRequestFormatter().AppendRequest(nil, long, 1))
	f.Add([]byte{0x00, 0x10, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00}) // issue 13's probe

	b := tcpFuzzBroker(f)
	cl := newClient(f, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))

	f.Fuzz(func(t *testing.T, data []byte) {
		// The baseline is taken after the good client's check: its
		// connections come and go on their own (kgo opens one per kind
		// of request and closes idle ones).
		goodClient(t, cl, b)
		baseG, baseFD := runtime.NumGoroutine(), openFDs(t)
		sendRaw(t, b.Addr(), data)
		if !eventually(5*time.Second, func() bool {
			return runtime.NumGoroutine() <= baseG && openFDs(t) <= baseFD
		}) {
			t.Fatalf("goroutines %d (baseline %d), descriptors %d (baseline %d) after the input", runtime.NumGoroutine(), baseG, openFDs(t), baseFD)
		}
		goodClient(t, cl, b)
	})
}
