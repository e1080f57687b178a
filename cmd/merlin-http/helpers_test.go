package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/internal/kfaketest"
	"github.com/merlinkafka/merlin/internal/testkit"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/merlinkafka/merlin/producer"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testCtx(t testing.TB) context.Context { return testkit.Context(t, time.Minute) }

// newKfake starts franz-go's fake cluster with topics of 2 partitions that
// creates other topics on first use.
func newKfake(t testing.TB, topics ...string) *kfake.Cluster {
	t.Helper()
	return newKfakeOpts(t, kfake.NumBrokers(1), kfake.SeedTopics(2, topics...), kfake.AllowAutoTopicCreation())
}

func newKfakeOpts(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// testGateway is a gateway over its own producer behind an httptest server.
type testGateway struct {
	*httptest.Server
	g *gateway
	p *producer.Producer
}

type gwOpts struct {
	maxBody      int64
	timeout      time.Duration
	closeTimeout time.Duration // for the cleanup's Close; default 10s
}

// newTestGateway starts a gateway as run would build it, with cfg's fields
// over the flags' defaults.
func newTestGateway(t testing.TB, cfg producer.Config, o gwOpts) *testGateway {
	t.Helper()
	if o.maxBody == 0 {
		o.maxBody = 10 << 20
	}
	if o.timeout == 0 {
		o.timeout = 30 * time.Second
	}
	if o.closeTimeout == 0 {
		o.closeTimeout = 10 * time.Second
	}
	log := quietLogger()
	stats := newDeliveryStats(log)
	cfg.Logger = log
	cfg.OnDelivery = stats.onDelivery
	if cfg.BufferFull == producer.Block {
		cfg.BufferFull = producer.Reject
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "merlin-http-test"
	}
	p, err := producer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := newGateway(p, stats, o.maxBody, o.timeout, log)
	srv := httptest.NewServer(g.handler())
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), o.closeTimeout)
		defer cancel()
		_ = p.Close(ctx)
	})
	return &testGateway{Server: srv, g: g, p: p}
}

// reply is an HTTP answer with its body decoded as a JSON object.
type reply struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

func do(t testing.TB, method, url, contentType string, body []byte, header ...string) reply {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t), method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: Content-Type %q, body %q", method, url, ct, raw)
	}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		t.Fatalf("%s %s: body %q is not a JSON object: %v", method, url, raw, err)
	}
	return r
}

func post(t testing.TB, url, contentType, body string, header ...string) reply {
	t.Helper()
	return do(t, http.MethodPost, url, contentType, []byte(body), header...)
}

// expect fails unless r has status; for errors it also checks the body is
// {"error": "..."} and, if want is given, that the error mentions it.
func (r reply) expect(t testing.TB, status int, want ...string) reply {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.raw)
	}
	if status >= 400 {
		msg, ok := r.body["error"].(string)
		if !ok || msg == "" {
			t.Fatalf("error body without \"error\": %s", r.raw)
		}
		for _, w := range want {
			if !strings.Contains(msg, w) {
				t.Fatalf("error %q does not mention %q", msg, w)
			}
		}
	}
	return r
}

// consume reads n records of topic from the start with a kgo client, and
// fails if more arrive than n in what it fetched.
func consume(t testing.TB, addrs []string, topic string, n int) []*kgo.Record {
	t.Helper()
	out := testkit.Consume(t, testCtx(t), addrs, topic, n)
	if len(out) > n {
		t.Fatalf("consumed %d records, want %d", len(out), n)
	}
	return out
}

// byValue indexes records by value.
func byValue(recs []*kgo.Record) map[string]*kgo.Record {
	m := map[string]*kgo.Record{}
	for _, r := range recs {
		m[string(r.Value)] = r
	}
	return m
}

// controlProduce makes kfake answer produce requests with code for every
// partition while fail returns true; otherwise it serves them.
func controlProduce(c *kfake.Cluster, code int16, fail func() bool) {
	kfaketest.RefuseProduce(c, code, fail)
}

// lineWriter is a safe io.Writer that tells when a line containing a
// given text has been written.
type lineWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	want  string
	found chan string // the first line containing want
}

func newLineWriter(want string) *lineWriter {
	return &lineWriter{want: want, found: make(chan string, 1)}
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	before := w.buf.Len()
	w.buf.Write(p)
	if w.want != "" && strings.Contains(w.buf.String()[max(0, before-len(w.want)):], w.want) {
		for _, line := range strings.Split(w.buf.String(), "\n") {
			if strings.Contains(line, w.want) {
				w.found <- line
				w.want = ""
				break
			}
		}
	}
	return len(p), nil
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
