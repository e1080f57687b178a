package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/merlinkafka/merlin/producer"
)

// results reads the "results" of a /sync answer.
func results(t *testing.T, r reply) []map[string]any {
	t.Helper()
	list, ok := r.body["results"].([]any)
	if !ok {
		t.Fatalf("no results in %s", r.raw)
	}
	out := make([]map[string]any, len(list))
	for i, x := range list {
		out[i] = x.(map[string]any)
	}
	return out
}

func num(v any) int64 { f, _ := v.(float64); return int64(f) }

func TestSyncRawBody(t *testing.T) {
	c := newKfake(t, "t")
	gw := newTestGateway(t, producer.Config{Brokers: c.ListenAddrs()}, gwOpts{})

	r1 := post(t, gw.URL+"/sync/t?key=user-1", "text/plain", "hello").expect(t, http.StatusOK)
	// kafboy's routes end with a slash; the key may come in a header.
	r2 := post(t, gw.URL+"/sync/t/", "", "world", "X-Merlin-Key", "user-2").expect(t, http.StatusOK)
	// No key at all.
	r3 := post(t, gw.URL+"/sync/t", "application/octet-stream", "\x00\x01binary\xff").expect(t, http.StatusOK)

	recs := byValue(consume(t, c.ListenAddrs(), "t", 3))
	for _, tc := range []struct {
		r          reply
		value, key string
	}{{r1, "hello", "user-1"}, {r2, "world", "user-2"}, {r3, "\x00\x01binary\xff", ""}} {
		if tc.r.body["topic"] != "t" {
			t.Fatalf("topic in %s", tc.r.raw)
		}
		res := results(t, tc.r)
		if len(res) != 1 {
			t.Fatalf("results %s", tc.r.raw)
		}
		rec := recs[tc.value]
		if rec == nil {
			t.Fatalf("%q did not arrive", tc.value)
		}
		if string(rec.Key) != tc.key {
			t.Fatalf("%q arrived with key %q, want %q", tc.value, rec.Key, tc.key)
		}
		if num(res[0]["partition"]) != int64(rec.Partition) || num(res[0]["offset"]) != rec.Offset {
			t.Fatalf("answered %v, arrived at %d/%d", res[0], rec.Partition, rec.Offset)
		}
	}
}

// A JSON array produces many messages: keys, every kind of value, headers
// (in order, duplicates kept) and timestamps arrive intact.
func TestSyncJSONArray(t *testing.T) {
	c := newKfake(t, "t")
	gw := newTestGateway(t, producer.Config{Brokers: c.ListenAddrs()}, gwOpts{})
	body := `[
	  {"key": "k0", "value": "plain string", "headers": {"h1": "v1", "h2": "v2", "h1": "again", "nil": null}},
	  {"key": "k1", "value": {"n": 1,  "s": "x"}},
	  {"key": "k2", "value": [1, 2, 3], "timestamp": 1700000000123},
	  {"key": "k3", "value": 42},
	  {"key": "k4", "value": null},
	  {"key": "k5"},
	  {"key": "k6", "value_base64": "AAEC/w=="},
	  {"key": "k7", "value": "esc\"aped\n\u00e9"},
	  {"key": "k8", "value": true}
	]`
	r := post(t, gw.URL+"/sync/t", "application/json; charset=utf-8", body).expect(t, http.StatusOK)
	res := results(t, r)
	if len(res) != 9 {
		t.Fatalf("%d results: %s", len(res), r.raw)
	}
	recs := consume(t, c.ListenAddrs(), "t", 9)
	byKey := map[string]*kgo.Record{}
	for _, rec := range recs {
		byKey[string(rec.Key)] = rec
	}
	want := []struct {
		value []byte // nil: a null value
	}{
		{[]byte("plain string")},
		{[]byte(`{"n": 1,  "s": "x"}`)}, // byte for byte as written
		{[]byte(`[1, 2, 3]`)},
		{[]byte(`42`)},
		{nil},
		{nil},
		{[]byte{0, 1, 2, 0xff}},
		{[]byte("esc\"aped\né")},
		{[]byte("true")},
	}
	for i, w := range want {
		key := fmt.Sprintf("k%d", i)
		rec := byKey[key]
		if rec == nil {
			t.Fatalf("%s did not arrive", key)
		}
		if string(rec.Value) != string(w.value) || (w.value == nil) != (rec.Value == nil) {
			t.Errorf("%s: value %q (nil %v), want %q (nil %v)", key, rec.Value, rec.Value == nil, w.value, w.value == nil)
		}
		if num(res[i]["partition"]) != int64(rec.Partition) || num(res[i]["offset"]) != rec.Offset {
			t.Errorf("%s: answered %v, arrived at %d/%d", key, res[i], rec.Partition, rec.Offset)
		}
	}
	var hs []string
	for _, h := range byKey["k0"].Headers {
		hs = append(hs, fmt.Sprintf("%s=%s(nil %v)", h.Key, h.Value, h.Value == nil))
	}
	if got, want := strings.Join(hs, " "), "h1=v1(nil false) h2=v2(nil false) h1=again(nil false) nil=(nil true)"; got != want {
		t.Errorf("headers %s, want %s", got, want)
	}
	if ts := byKey["k2"].Timestamp.UnixMilli(); ts != 1700000000123 {
		t.Errorf("timestamp %d", ts)
	}
	if len(byKey["k1"].Headers) != 0 {
		t.Errorf("k1 has headers %v", byKey["k1"].Headers)
	}
}

// A JSON object (or any JSON that is not an array) posted as
// application/json is one message's value, as kafboy took it.
func TestJSONObjectIsOneRawMessage(t *testing.T) {
	c := newKfake(t, "t")
	gw := newTestGateway(t, producer.Config{Brokers: c.ListenAddrs()}, gwOpts{})
	event := `{"event": "click", "value": 1}`
	post(t, gw.URL+"/sync/t?key=u", "application/json", event).expect(t, http.StatusOK)
	rec := consume(t, c.ListenAddrs(), "t", 1)[0]
	if string(rec.Value) != event || string(rec.Key) != "u" {
		t.Fatalf("arrived %q=%q", rec.Key, rec.Value)
	}
}

func TestAsync(t *testing.T) {
	for _, route := range []string{"/async/", "/batch/async/"} {
		t.Run(strings.Trim(route, "/"), func(t *testing.T) {
			c := newKfake(t, "t")
			gw := newTestGateway(t, producer.Config{Brokers: c.ListenAddrs()}, gwOpts{})
			r := post(t, gw.URL+route+"t", "", "raw", "X-Merlin-Key", "rk").expect(t, http.StatusOK)
			if r.raw != "{\"ok\":1}\n" {
				t.Fatalf("body %q, want kafboy's {\"ok\":1}", r.raw)
			}
			post(t, gw.URL+route+"t/", "application/json",
				`[{"key":"a","value":"one","headers":{"h":"x"}},{"key":"b","value":{"two":2}}]`).expect(t, http.StatusOK)
			recs := byValue(consume(t, c.ListenAddrs(), "t", 3))
			if r := recs["raw"]; r == nil || string(r.Key) != "rk" {
				t.Fatalf("raw: %+v", r)
			}
			if r := recs["one"]; r == nil || string(r.Key) != "a" || len(r.Headers) != 1 || r.Headers[0].Key != "h" || string(r.Headers[0].Value) != "x" {
				t.Fatalf("one: %+v", r)
			}
			if r := recs[`{"two":2}`]; r == nil || string(r.Key) != "b" {
				t.Fatalf("two: %+v", recs)
			}
		})
	}
}

func TestBatchSync(t *testing.T) {
	c := newKfake(t, "t")
	// A long linger keeps the batch open, so the buffer depth is exact.
	gw := newTestGateway(t, producer.Config{Brokers: c.ListenAddrs(), TTL: time.Hour}, gwOpts{})
	r := post(t, gw.URL+"/batch/sync/t", "application/json",
		`[{"key":"same","value":"1"},{"key":"same","value":"2"},{"key":"same","value":"3"}]`).expect(t, http.StatusOK)
	buf, _ := r.body["buffered"].([]any)
	if r.body["topic"] != "t" || len(buf) != 1 {
		t.Fatalf("body %s", r.raw)
	}
	first := buf[0].(map[string]any)
	if num(first["len"]) != 3 {
		t.Fatalf("buffered %v, want 3 messages in one partition", first)
	}
	r = post(t, gw.URL+"/batch/sync/t/", "", "4", "X-Merlin-Key", "same").expect(t, http.StatusOK)
	second := r.body["buffered"].([]any)[0].(map[string]any)
	if num(second["partition"]) != num(first["partition"]) || num(second["len"]) != 4 {
		t.Fatalf("then buffered %v, want 4 in partition %v", second, first["partition"])
	}
	if err := gw.p.Flush(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	recs := consume(t, c.ListenAddrs(), "t", 4)
	for i, rec := range recs {
		if string(rec.Value) != fmt.Sprint(i+1) || int64(rec.Partition) != num(first["partition"]) {
			t.Fatalf("record %d: %d/%q", i, rec.Partition, rec.Value)
		}
	}
}

// Readiness follows the cluster: 503 while no broker answers (it used to
// answer 200 with every broker down), 200 again once one does; liveness
// stays 200 throughout.
func TestHealthzNotReadyWithoutBrokers(t *testing.T) {
	c := newKfake(t, "t")
	gw := newTestGateway(t, producer.Config{Brokers: c.ListenAddrs()}, gwOpts{})
	do(t, http.MethodGet, gw.URL+"/healthz", "", nil).expect(t, http.StatusOK)
	c.Close()
	time.Sleep(pingEvery + 100*time.Millisecond) // past the cached answer
	r := do(t, http.MethodGet, gw.URL+"/healthz", "", nil).expect(t, http.StatusServiceUnavailable, "not ready")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	r = do(t, http.MethodGet, gw.URL+"/livez", "", nil).expect(t, http.StatusOK)
	if num(r.body["ok"]) != 1 {
		t.Fatalf("livez %s", r.raw)
	}
}

func TestHealthz(t *testing.T) {
	c := newKfake(t, "t")
	gw := newTestGateway(t, producer.Config{Brokers: c.ListenAddrs()}, gwOpts{})
	r := do(t, http.MethodGet, gw.URL+"/healthz", "", nil).expect(t, http.StatusOK)
	if num(r.body["ok"]) != 1 || num(r.body["delivered"]) != 0 {
		t.Fatalf("healthz %s", r.raw)
	}
	post(t, gw.URL+"/sync/t", "", "x").expect(t, http.StatusOK)
	// The answer may come before the delivery callback has counted it;
	// Flush returns after it has.
	if err := gw.p.Flush(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	r = do(t, http.MethodGet, gw.URL+"/healthz", "", nil).expect(t, http.StatusOK)
	if num(r.body["delivered"]) != 1 || num(r.body["failed"]) != 0 || num(r.body["buffered_messages"]) != 0 || num(r.body["open_connections"]) < 1 {
		t.Fatalf("healthz after one delivery %s", r.raw)
	}
	gw.g.closing.Store(true)
	r = do(t, http.MethodGet, gw.URL+"/healthz", "", nil).expect(t, http.StatusServiceUnavailable, "shutting down")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
}

func TestMetadata(t *testing.T) {
	c := newKfake(t, "t")
	gw := newTestGateway(t, producer.Config{Brokers: c.ListenAddrs(), TTL: time.Hour}, gwOpts{})
	r := post(t, gw.URL+"/batch/sync/t", "", "held", "X-Merlin-Key", "k").expect(t, http.StatusOK)
	held := num(r.body["buffered"].([]any)[0].(map[string]any)["partition"])

	r = do(t, http.MethodGet, gw.URL+"/metadata/t", "", nil).expect(t, http.StatusOK)
	brokers, _ := r.body["brokers"].([]any)
	parts, _ := r.body["partitions"].([]any)
	if r.body["topic"] != "t" || len(brokers) != 1 || len(parts) != 2 {
		t.Fatalf("metadata %s", r.raw)
	}
	leader := num(brokers[0].(map[string]any)["id"])
	for i, x := range parts {
		p := x.(map[string]any)
		if num(p["partition"]) != int64(i) || num(p["leader"]) != leader {
			t.Fatalf("partition %d: %v", i, p)
		}
		if s, _ := p["state"].(string); s == "" || s == "unknown" {
			t.Fatalf("partition %d: state %v", i, p["state"])
		}
		want := int64(0)
		if int64(i) == held {
			want = 1
		}
		if num(p["buffered"]) != want {
			t.Fatalf("partition %d buffered %v, want %d", i, p["buffered"], want)
		}
	}
	do(t, http.MethodGet, gw.URL+"/metadata/t/", "", nil).expect(t, http.StatusOK)
	do(t, http.MethodGet, gw.URL+"/metadata/bad%20name", "", nil).expect(t, http.StatusBadRequest, "topic name")
}

func TestBadRequests(t *testing.T) {
	c := newKfake(t, "t")
	gw := newTestGateway(t, producer.Config{Brokers: c.ListenAddrs()}, gwOpts{})
	const js = "application/json"
	for _, tc := range []struct {
		name, path, ct, body, want string
		header                     []string
	}{
		{"empty body", "/sync/t", "", "", "empty body", nil},
		{"empty JSON body", "/async/t", js, "", "empty body", nil},
		{"empty array", "/sync/t", js, "[]", "empty JSON array", nil},
		{"bad JSON array", "/sync/t", js, `[{"value": }]`, "bad JSON", nil},
		{"unterminated array", "/batch/sync/t", js, `[{"value": 1}`, "bad JSON", nil},
		{"data after array", "/sync/t", js, `[{"value": 1}] [`, "after the array", nil},
		{"invalid JSON object", "/async/t", js, `{"event": `, "not valid JSON", nil},
		{"unknown field", "/sync/t", js, `[{"vaule": "typo"}]`, "vaule", nil},
		{"element not an object", "/sync/t", js, `["just a string"]`, "bad JSON", nil},
		{"key not a string", "/sync/t", js, `[{"key": 42, "value": 1}]`, "key", nil},
		{"value and value_base64", "/sync/t", js, `[{"value": "a", "value_base64": "YQ=="}]`, "both", nil},
		{"bad base64", "/sync/t", js, `[{"value_base64": "!!"}]`, "value_base64", nil},
		{"header not a string", "/sync/t", js, `[{"value": 1, "headers": {"h": 1}}]`, `header "h"`, nil},
		{"headers not an object", "/sync/t", js, `[{"value": 1, "headers": ["h"]}]`, "headers", nil},
		{"timestamp not a number", "/sync/t", js, `[{"value": 1, "timestamp": "now"}]`, "timestamp", nil},
		{"key param with array", "/sync/t?key=k", js, `[{"value": 1}]`, "own", nil},
		{"key header with array", "/async/t", js, `[{"value": 1}]`, "own", []string{"X-Merlin-Key", "k"}},
		{"bad content type", "/sync/t", "application/json; =", "x", "Content-Type", nil},
		{"empty topic", "/sync/", "", "x", "empty topic", nil},
		{"empty topic, batch", "/batch/async/", "", "x", "empty topic", nil},
		{"invalid topic", "/sync/no%20spaces", "", "x", "topic name", nil},
		{"invalid topic dotdot", "/async/%2E%2E", "", "x", "not allowed", nil},
		{"invalid topic slash", "/async/a%2Fb", "", "x", "topic name", nil},
		{"topic too long", "/sync/" + strings.Repeat("a", 250), "", "x", "249", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			post(t, gw.URL+tc.path, tc.ct, tc.body, tc.header...).expect(t, http.StatusBadRequest, tc.want)
		})
	}
	// Nothing was produced.
	if n, _ := gw.p.BufferedMessages(); n != 0 {
		t.Fatalf("%d messages buffered", n)
	}
	if d := gw.g.stats.delivered.Load(); d != 0 {
		t.Fatalf("%d messages delivered", d)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	c := newKfake(t, "t")
	gw := newTestGateway(t, producer.Config{Brokers: c.ListenAddrs()}, gwOpts{})
	for _, tc := range []struct{ method, path, allow string }{
		{http.MethodGet, "/sync/t", "POST"},
		{http.MethodPut, "/async/t/", "POST"},
		{http.MethodDelete, "/batch/sync/t", "POST"},
		{http.MethodGet, "/batch/async/t", "POST"},
		{http.MethodGet, "/sync/", "POST"},
		{http.MethodPost, "/healthz", "GET, HEAD"},
		{http.MethodPost, "/metadata/t", "GET, HEAD"},
	} {
		r := do(t, tc.method, gw.URL+tc.path, "", nil).expect(t, http.StatusMethodNotAllowed, tc.method)
		if got := r.header.Get("Allow"); got != tc.allow {
			t.Fatalf("%s %s: Allow %q, want %q", tc.method, tc.path, got, tc.allow)
		}
	}
}

func TestNotFound(t *testing.T) {
	c := newKfake(t, "t")
	gw := newTestGateway(t, producer.Config{Brokers: c.ListenAddrs()}, gwOpts{})
	for _, path := range []string{"/", "/sync/a/b", "/batch/t", "/produce/t"} {
		post(t, gw.URL+path, "", "x").expect(t, http.StatusNotFound, "no route")
	}
}

func TestBodyTooLarge(t *testing.T) {
	c := newKfake(t, "t")
	gw := newTestGateway(t, producer.Config{Brokers: c.ListenAddrs()}, gwOpts{maxBody: 100})
	post(t, gw.URL+"/sync/t", "", strings.Repeat("a", 100)).expect(t, http.StatusOK)
	// Known length: refused before reading.
	post(t, gw.URL+"/sync/t", "", strings.Repeat("a", 101)).expect(t, http.StatusRequestEntityTooLarge, "--max-body")
	// Chunked, length unknown: refused while reading.
	req, err := http.NewRequestWithContext(testCtx(t), http.MethodPost, gw.URL+"/async/t",
		io.MultiReader(strings.NewReader(strings.Repeat("b", 60)), strings.NewReader(strings.Repeat("b", 60))))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked: status %d", resp.StatusCode)
	}
	if n := len(consume(t, c.ListenAddrs(), "t", 1)); n != 1 {
		t.Fatal(n)
	}
}

// A message larger than the producer's batch limit (1 MiB) is refused
// whole: 422.
func TestMessageTooLarge(t *testing.T) {
	c := newKfake(t, "t")
	gw := newTestGateway(t, producer.Config{Brokers: c.ListenAddrs()}, gwOpts{})
	big := strings.Repeat("x", 2<<20)
	for _, route := range produceRoutes {
		post(t, gw.URL+route, "", big).expect(t, http.StatusUnprocessableEntity, "too large")
	}
	post(t, gw.URL+"/sync/t", "application/json", `[{"value":"small"},{"value":"`+big+`"}]`).
		expect(t, http.StatusUnprocessableEntity, "too large")
	if n, _ := gw.p.BufferedMessages(); n != 0 {
		t.Fatalf("%d messages accepted", n)
	}
}

func TestUnknownTopic(t *testing.T) {
	// This cluster does not create topics on first use.
	c := newKfakeOpts(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "known"))
	gw := newTestGateway(t, producer.Config{Brokers: c.ListenAddrs()}, gwOpts{})
	for _, route := range []string{"/sync/", "/async/", "/batch/sync/", "/batch/async/"} {
		post(t, gw.URL+route+"unknown", "", "x").expect(t, http.StatusUnprocessableEntity, "unknown topic")
	}
	do(t, http.MethodGet, gw.URL+"/metadata/unknown", "", nil).expect(t, http.StatusUnprocessableEntity, "unknown topic")
	post(t, gw.URL+"/sync/known", "", "x").expect(t, http.StatusOK)
}

// produceRoutes are the routes that produce to topic t.
var produceRoutes = []string{"/sync/t", "/async/t", "/batch/sync/t", "/batch/async/t"}

// expectUnavailable posts body to every produce route and expects 503 with
// want in the body and a Retry-After header.
func (gw *testGateway) expectUnavailable(t *testing.T, body, want string) {
	t.Helper()
	for _, route := range produceRoutes {
		r := post(t, gw.URL+route, "", body).expect(t, http.StatusServiceUnavailable, want)
		if r.header.Get("Retry-After") == "" {
			t.Fatalf("%s: no Retry-After", route)
		}
	}
}

func TestNoBrokers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	// A call waits for a topic's first metadata within its bounds (the
	// request timeout here), then says why it could not have it.
	gw := newTestGateway(t, producer.Config{Brokers: []string{addr}}, gwOpts{closeTimeout: time.Second, timeout: 500 * time.Millisecond})
	gw.expectUnavailable(t, "x", "no broker")
	do(t, http.MethodGet, gw.URL+"/metadata/t", "", nil).expect(t, http.StatusServiceUnavailable, "no broker")
}

func TestBufferFull(t *testing.T) {
	c := newKfake(t, "t")
	gw := newTestGateway(t, producer.Config{Brokers: c.ListenAddrs(), TTL: time.Hour, MaxBufferedMessages: 1}, gwOpts{})
	post(t, gw.URL+"/batch/async/t", "", "first").expect(t, http.StatusOK)
	gw.expectUnavailable(t, "more", "buffer full")
	// What was accepted is still delivered.
	if err := gw.p.Flush(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if rec := consume(t, c.ListenAddrs(), "t", 1)[0]; string(rec.Value) != "first" {
		t.Fatalf("arrived %q", rec.Value)
	}
}

func TestProducerClosed(t *testing.T) {
	c := newKfake(t, "t")
	gw := newTestGateway(t, producer.Config{Brokers: c.ListenAddrs()}, gwOpts{})
	if err := gw.p.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	gw.expectUnavailable(t, "late", "closed")
	do(t, http.MethodGet, gw.URL+"/metadata/t", "", nil).expect(t, http.StatusServiceUnavailable, "closed")
}

// When --timeout passes before the broker acknowledges, /sync answers 504,
// and says the messages may still be delivered: they are.
func TestSyncTimeout(t *testing.T) {
	c := newKfake(t, "t")
	var failing atomic.Bool
	failing.Store(true)
	controlProduce(c, kerr.NotLeaderForPartition.Code, failing.Load)
	gw := newTestGateway(t, producer.Config{Brokers: c.ListenAddrs(), RetryBackoff: time.Millisecond, RetryBackoffMax: 20 * time.Millisecond},
		gwOpts{timeout: 200 * time.Millisecond})
	// Metadata first, so that the timeout can only pass waiting for the
	// acknowledgement.
	do(t, http.MethodGet, gw.URL+"/metadata/t", "", nil).expect(t, http.StatusOK)
	post(t, gw.URL+"/sync/t", "", "late").expect(t, http.StatusGatewayTimeout, "may still be delivered")
	failing.Store(false)
	if rec := consume(t, c.ListenAddrs(), "t", 1)[0]; string(rec.Value) != "late" {
		t.Fatalf("arrived %q", rec.Value)
	}
}

// A non-retriable broker error is 502, with each message's outcome.
func TestBrokerError(t *testing.T) {
	c := newKfake(t, "t")
	var n atomic.Int32
	controlProduce(c, kerr.InvalidRecord.Code, func() bool { return n.Add(1) == 1 })
	gw := newTestGateway(t, producer.Config{Brokers: c.ListenAddrs()}, gwOpts{})
	r := post(t, gw.URL+"/sync/t", "application/json", `[{"key":"k","value":"a"},{"key":"k","value":"b"}]`).
		expect(t, http.StatusBadGateway, "INVALID_RECORD")
	res := results(t, r)
	if len(res) != 2 || r.body["topic"] != "t" {
		t.Fatalf("body %s", r.raw)
	}
	for i, x := range res {
		if e, _ := x["error"].(string); !strings.Contains(e, "INVALID_RECORD") || num(x["offset"]) != -1 {
			t.Fatalf("result %d: %v", i, x)
		}
	}
	// The broker takes the next ones.
	post(t, gw.URL+"/sync/t", "", "c").expect(t, http.StatusOK)
	if err := gw.p.Flush(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	r = do(t, http.MethodGet, gw.URL+"/healthz", "", nil).expect(t, http.StatusOK)
	if num(r.body["failed"]) != 2 || num(r.body["delivered"]) != 1 {
		t.Fatalf("healthz %s", r.raw)
	}
}

func TestStatusOf(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("producer: 1 of 2 messages failed: %w", err) }
	for _, tc := range []struct {
		err        error
		status     int
		retryAfter bool
	}{
		{producer.ErrClosed, 503, true},
		{wrap(producer.ErrClosed), 503, true},
		{producer.ErrBufferFull, 503, true},
		{fmt.Errorf("%w: %w", producer.ErrBufferFull, context.DeadlineExceeded), 503, true},
		{fmt.Errorf("%w: dial refused", producer.ErrNoBrokers), 503, true},
		{producer.ErrMessageTooLarge, 422, false},
		{producer.ErrUnknownTopic, 422, false},
		{wrap(&producer.BrokerError{Code: kerr.InvalidRecord.Code}), 502, false},
		{wrap(&producer.BrokerError{Code: kerr.NotLeaderForPartition.Code}), 503, true},
		{wrap(producer.ErrDeliveryTimeout), 504, false},
		{context.DeadlineExceeded, 504, false},
		{context.Canceled, 499, false},
		{producer.ErrInvalidPartition, 500, false},
		{errors.New("something else"), 500, false},
	} {
		status, ra := statusOf(tc.err)
		if status != tc.status || (ra > 0) != tc.retryAfter {
			t.Errorf("%v: %d, retry after %d; want %d, %v", tc.err, status, ra, tc.status, tc.retryAfter)
		}
	}
}
