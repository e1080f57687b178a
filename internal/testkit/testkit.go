// Package testkit holds the helpers that the tests of several packages
// share: a logger on the test's output, a context bounded by the test, and
// franz-go clients closed with the test, and requests that kgo has no
// helper for. It depends on no merlin package,
// so that package broker's own tests can use it too.
package testkit

import (
	"context"
	"log/slog"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Logger logs to the test's output at warning level and above.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// Context returns a context that ends after d or with the test.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// Kgo returns a franz-go client seeded with addrs, closed when the test ends.
func Kgo(t testing.TB, addrs []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addrs...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Consume reads topic from its start with a new client until it has at
// least n records, and returns all it fetched (more than n when the last
// fetch brought more). It fails the test when ctx ends first.
func Consume(t testing.TB, ctx context.Context, addrs []string, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records of %s: %v", len(out), n, topic, err)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// ListOffsets is a ListOffsets request, from a consumer (ReplicaID -1), for
// the offset at ts (-2 earliest, -1 latest, else a timestamp in
// milliseconds) of each of topic's partitions given, in that order. Its
// version is left for the caller to set or for the client to choose.
func ListOffsets(topic string, ts int64, partitions ...int32) *kmsg.ListOffsetsRequest {
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for _, p := range partitions {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp = p, ts
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

// Poll fetches with cl and hands each record to each until each has
// returned true (the record counts) n times. A fetch error, or ctx ending
// first, fails the test.
func Poll(t testing.TB, ctx context.Context, cl *kgo.Client, n int, each func(*kgo.Record) bool) {
	t.Helper()
	for got := 0; got < n; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d: %v", got, n, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if each(r) {
				got++
			}
		})
	}
}

// AppendFile appends b to the file at path, as a torn or damaged tail.
func AppendFile(t testing.TB, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

// CutFile shortens the file at path by n bytes, as a write cut short.
func CutFile(t testing.TB, path string, n int64) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()-n); err != nil {
		t.Fatal(err)
	}
}

// MemStats returns the runtime's memory statistics after two collections:
// the first moves pooled buffers to sync.Pool's victim cache and lets
// shrinkable stacks shrink, the second frees them. HeapAlloc is then the
// live heap.
func MemStats() runtime.MemStats {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms
}
