package brokerprom

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/merlinkafka/merlin/broker"
	"github.com/merlinkafka/merlin/internal/brokertest"
	"github.com/merlinkafka/merlin/internal/testkit"
	"github.com/merlinkafka/merlin/seglog"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kgo"
)

// produceAndConsume produces n records to topic with kgo and consumes
// them back.
func produceAndConsume(t *testing.T, ctx context.Context, addr, topic string, n int) {
	t.Helper()
	prod, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for i := range n {
		r := &kgo.Record{Value: fmt.Appendf(nil, "value-%d", i), Partition: 0}
		if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cons.Close) // open while the test scrapes
	for got := 0; got < n; {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d: %v", got, n, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatal(err) })
		got += fs.NumRecords()
	}
}

// scrape fetches the handler's exposition and parses it.
func scrape(t *testing.T, ctx context.Context, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	body := brokertest.Get(t, ctx, srv.URL+"/metrics")
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// value sums the samples of a family whose labels include want.
func value(t *testing.T, mfs map[string]*dto.MetricFamily, name string, want ...string) float64 {
	t.Helper()
	mf := mfs[name]
	if mf == nil {
		t.Fatalf("no metric %s", name)
	}
	var sum float64
	var found bool
metrics:
	for _, m := range mf.Metric {
		for i := 0; i+1 < len(want); i += 2 {
			ok := false
			for _, l := range m.Label {
				if l.GetName() == want[i] && l.GetValue() == want[i+1] {
					ok = true
				}
			}
			if !ok {
				continue metrics
			}
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	if !found {
		t.Fatalf("no sample of %s with labels %v", name, want)
	}
	return sum
}

// TestScrapeAfterKgo scrapes /metrics after a kgo client produced and
// consumed, and checks the values against what happened.
func TestScrapeAfterKgo(t *testing.T) {
	ctx := brokertest.Context(t)
	b := brokertest.Start(t, broker.Config{})
	if err := b.Cluster().CreateTopic("prom", 2); err != nil {
		t.Fatal(err)
	}
	const n = 20
	const minBytes = float64(n * len("value-"))
	produceAndConsume(t, ctx, b.Addr(), "prom", n)
	mfs := scrape(t, ctx, Handler(b))

	produces := value(t, mfs, "merlin_broker_requests_total", "api", "Produce")
	if produces != n { // one ProduceSync at a time: a request each
		t.Errorf("produce requests %v, want %d", produces, n)
	}
	if got := value(t, mfs, "merlin_broker_request_errors_total", "api", "Produce"); got != 0 {
		t.Errorf("produce errors %v, want 0", got)
	}
	if got := value(t, mfs, "merlin_broker_requests_total", "api", "Fetch"); got < 1 {
		t.Errorf("fetch requests %v, want at least 1", got)
	}
	if got := value(t, mfs, "merlin_broker_request_duration_seconds", "api", "Produce"); got != produces {
		t.Errorf("produce latency count %v, want %v", got, produces)
	}
	for name, want := range map[string]float64{
		"merlin_broker_topics":                       1,
		"merlin_broker_partitions":                   2,
		"merlin_broker_producer_ids_allocated_total": 1,
		"merlin_broker_rejected_requests_total":      0,
	} {
		if got := value(t, mfs, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	p0 := []string{"topic", "prom", "partition", "0"}
	p1 := []string{"topic", "prom", "partition", "1"}
	if got := value(t, mfs, "merlin_broker_log_end_offset", p0...); got != n {
		t.Errorf("log end offset of prom/0 %v, want %d", got, n)
	}
	if got := value(t, mfs, "merlin_broker_log_end_offset", p1...); got != 0 {
		t.Errorf("log end offset of prom/1 %v, want 0", got)
	}
	if got := value(t, mfs, "merlin_broker_log_size_bytes", p0...); got < minBytes {
		t.Errorf("log size of prom/0 %v, want at least %d", got, n*len("value-"))
	}
	if got := value(t, mfs, "merlin_broker_idempotent_producers", p0...); got != 1 {
		t.Errorf("idempotent producers on prom/0 %v, want 1", got)
	}
	if got := value(t, mfs, "merlin_broker_connections"); got < 1 {
		t.Errorf("open connections %v: the consumer is still connected", got)
	}
	if got := value(t, mfs, "merlin_broker_connections_accepted_total"); got < 2 {
		t.Errorf("accepted connections %v, want at least 2", got)
	}
	if in, out := value(t, mfs, "merlin_broker_received_bytes_total"), value(t, mfs, "merlin_broker_sent_bytes_total"); in < minBytes || out < minBytes {
		t.Errorf("bytes received %v, sent %v: want at least the records' values", in, out)
	}
	if _, ok := mfs["merlin_broker_log_segments"]; ok {
		t.Error("memory storage exports log_segments")
	}
	if _, ok := mfs["merlin_broker_fsync_duration_seconds"]; ok {
		t.Error("memory storage exports fsync_duration_seconds")
	}
	if _, ok := mfs["go_goroutines"]; !ok {
		t.Error("Handler does not export the Go runtime's metrics")
	}
}

// startDiskBroker starts a broker on disk storage that fsyncs every
// produce, rolling segments every segmentRecords records (0: the default),
// with a topic of one partition.
func startDiskBroker(t *testing.T, topic string, segmentRecords int64) *broker.Broker {
	t.Helper()
	st, err := broker.NewDiskStorage(t.TempDir(), broker.DiskOptions{Logger: testkit.Logger(t), Flush: seglog.FlushAlways(), SegmentRecords: segmentRecords})
	if err != nil {
		t.Fatal(err)
	}
	b := brokertest.Start(t, broker.Config{Storage: st})
	if err := b.Cluster().CreateTopic(topic, 1); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestScrapeDisk checks the metrics only disk storage has: segments and
// fsyncs.
func TestScrapeDisk(t *testing.T) {
	ctx := brokertest.Context(t)
	b := startDiskBroker(t, "disk", 5)
	produceAndConsume(t, ctx, b.Addr(), "disk", 12)
	mfs := scrape(t, ctx, Handler(b))
	p0 := []string{"topic", "disk", "partition", "0"}
	if got := value(t, mfs, "merlin_broker_log_segments", p0...); got != 3 { // 5 + 5 + 2 records
		t.Errorf("segments %v, want 3", got)
	}
	if got := value(t, mfs, "merlin_broker_fsync_duration_seconds"); got < 12 { // FlushAlways: one a produce at least
		t.Errorf("fsyncs %v, want at least 12", got)
	}
}

// TestLint checks the collector's metrics with Prometheus's linter, with
// every kind of series present (disk storage, requests, refusals).
func TestLint(t *testing.T) {
	ctx := brokertest.Context(t)
	b := startDiskBroker(t, "lint", 0)
	produceAndConsume(t, ctx, b.Addr(), "lint", 3)
	c := NewCollector(b)
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	if n := testutil.CollectAndCount(c); n < 20 {
		t.Errorf("%d series collected, want at least 20", n)
	}
	var names []string
	for _, want := range []string{"merlin_broker_requests_total", "merlin_broker_fsync_duration_seconds", "merlin_broker_log_segments"} {
		if testutil.CollectAndCount(c, want) == 0 {
			names = append(names, want)
		}
	}
	if len(names) > 0 {
		t.Errorf("missing: %s", strings.Join(names, ", "))
	}
}

// A consumer group that committed 5 of 8 records shows as one Stable
// group of one member with a lag of 3 on its topic.
func TestScrapeGroups(t *testing.T) {
	ctx := brokertest.Context(t)
	b := brokertest.Start(t, broker.Config{})
	if err := b.Cluster().CreateTopic("lagging", 1); err != nil {
		t.Fatal(err)
	}
	produceAndConsume(t, ctx, b.Addr(), "lagging", 5)
	brokertest.CommitGroup(t, ctx, b.Addr(), "prom-group", "lagging", 5)
	produceAndConsume(t, ctx, b.Addr(), "lagging", 3)
	mfs := scrape(t, ctx, Handler(b))
	if v := value(t, mfs, "merlin_broker_consumer_groups", "state", "Stable"); v != 1 {
		t.Fatalf("%v stable groups", v)
	}
	if v := value(t, mfs, "merlin_broker_consumer_group_members", "group", "prom-group"); v != 1 {
		t.Fatalf("%v members", v)
	}
	if v := value(t, mfs, "merlin_broker_consumer_group_lag", "group", "prom-group", "topic", "lagging"); v != 3 {
		t.Fatalf("lag %v, want 3", v)
	}
}
