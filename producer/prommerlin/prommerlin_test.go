package prommerlin_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/merlinkafka/merlin/mockbroker"
	"github.com/merlinkafka/merlin/producer"
	"github.com/merlinkafka/merlin/producer/prommerlin"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// setup produces 10 messages to topic a (2 partitions) and 3 to b, all
// acknowledged, then 2 more to b that the broker refuses.
func setup(t *testing.T) *producer.Producer {
	t.Helper()
	c, err := mockbroker.NewCluster(mockbroker.Brokers(2), mockbroker.Topic("a", 2), mockbroker.Topic("b", 1), mockbroker.Logger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	p, err := producer.New(producer.Config{Brokers: c.Addrs(), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	t.Cleanup(func() { _ = p.Close(ctx) })
	msgs := make([]producer.Message, 10)
	for i := range msgs {
		msgs[i] = producer.Message{Key: []byte{byte('a' + i)}, Value: []byte("v")}
	}
	if _, err := p.ProduceSync(ctx, "a", msgs...); err != nil {
		t.Fatal(err)
	}
	if _, err := p.ProduceSync(ctx, "b", msgs[:3]...); err != nil {
		t.Fatal(err)
	}
	c.InjectError(mockbroker.APIProduce, "b", 0, kerr.InvalidRecord.Code, 1)
	if _, err := p.ProduceSync(ctx, "b", msgs[:2]...); err == nil {
		t.Fatal("a refused batch succeeded")
	}
	if err := p.Flush(ctx); err != nil { // every outcome counted
		t.Fatal(err)
	}
	return p
}

// find returns the metric of family name whose labels include want.
func find(t *testing.T, mfs []*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	t.Helper()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for k, v := range want {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == k && lp.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			return m
		}
	}
	t.Fatalf("no %s%v", name, want)
	return nil
}

func TestCollectorValues(t *testing.T) {
	p := setup(t)
	reg := prometheus.NewPedanticRegistry() // checks Collect against Describe
	reg.MustRegister(prommerlin.NewCollector(p))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"merlin_producer_messages_produced_total", map[string]string{"topic": "a"}, 10},
		{"merlin_producer_messages_produced_total", map[string]string{"topic": "b"}, 5},
		{"merlin_producer_messages_acknowledged_total", map[string]string{"topic": "a"}, 10},
		{"merlin_producer_messages_acknowledged_total", map[string]string{"topic": "b"}, 3},
		{"merlin_producer_messages_failed_total", map[string]string{"topic": "b", "class": "broker"}, 2},
		{"merlin_producer_messages_failed_total", map[string]string{"topic": "b", "class": "timeout"}, 0},
		{"merlin_producer_messages_failed_total", map[string]string{"topic": "a", "class": "broker"}, 0},
		{"merlin_producer_retries_total", map[string]string{"topic": "a"}, 0},
		{"merlin_producer_workers", map[string]string{"state": "ready"}, 3},
		{"merlin_producer_workers", map[string]string{"state": "downtime"}, 0},
		{"merlin_producer_broker_circuit_breaker_state", map[string]string{"broker": "1", "state": "closed"}, 1},
		{"merlin_producer_broker_circuit_breaker_state", map[string]string{"broker": "2", "state": "open"}, 0},
		{"merlin_producer_buffered_messages", nil, 0},
		{"merlin_producer_worker_up_total", nil, 3},
		{"merlin_producer_worker_down_total", nil, 0},
	} {
		m := find(t, mfs, tc.name, tc.labels)
		got := m.GetCounter().GetValue() + m.GetGauge().GetValue()
		if got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	// Bytes: 13 acknowledged messages of 1-byte keys and values, 23 bytes
	// each as the producer counts them.
	if got := find(t, mfs, "merlin_producer_acknowledged_bytes_total", map[string]string{"topic": "a"}).GetCounter().GetValue(); got != 10*23 {
		t.Errorf("acknowledged bytes of a: %v, want %d", got, 10*23)
	}
	s := p.Stats()
	batches := find(t, mfs, "merlin_producer_batch_messages", nil).GetHistogram()
	if batches.GetSampleCount() != s.Batches || batches.GetSampleSum() != 15 {
		t.Errorf("batch_messages: %d batches of %v messages in all, want %d of 15", batches.GetSampleCount(), batches.GetSampleSum(), s.Batches)
	}
	lat := find(t, mfs, "merlin_producer_produce_latency_seconds", nil).GetHistogram()
	if lat.GetSampleCount() != s.Batches-1 || lat.GetSampleSum() <= 0 {
		t.Errorf("latency: %d observations summing to %vs, want one per acknowledged batch (%d)", lat.GetSampleCount(), lat.GetSampleSum(), s.Batches-1)
	}
	if b := lat.GetBucket(); len(b) == 0 || b[len(b)-1].GetCumulativeCount() != lat.GetSampleCount() {
		t.Errorf("latency buckets %v do not add up to %d", b, lat.GetSampleCount())
	}
}

func TestCollectorLint(t *testing.T) {
	p := setup(t)
	problems, err := testutil.CollectAndLint(prommerlin.NewCollector(p))
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range problems {
		t.Errorf("lint: %s: %s", pr.Metric, pr.Text)
	}
}

// Scraped over HTTP, in the text format.
func TestCollectorScrape(t *testing.T) {
	p := setup(t)
	reg := prometheus.NewRegistry()
	reg.MustRegister(prommerlin.NewCollector(p))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		`merlin_producer_messages_acknowledged_total{topic="a"} 10`,
		`merlin_producer_messages_failed_total{class="broker",topic="b"} 2`,
		`# TYPE merlin_producer_produce_latency_seconds histogram`,
		`merlin_producer_batch_messages_bucket{le="+Inf"} `,
	} {
		if !strings.Contains(string(body), line) {
			t.Errorf("scrape lacks %q:\n%s", line, body)
		}
	}
}
