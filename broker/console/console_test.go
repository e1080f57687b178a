package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/broker"
	"github.com/merlinkafka/merlin/internal/brokertest"
	"github.com/merlinkafka/merlin/internal/testkit"
	"github.com/twmb/franz-go/pkg/kgo"
)

// newProducer returns an idempotent kgo producer writing to partition
// 0 of topic, with client id "console-test", left open until the test
// ends.
func newProducer(t *testing.T, addr, topic string) *kgo.Client {
	t.Helper()
	return testkit.Kgo(t, []string{addr}, kgo.DefaultProduceTopic(topic),
		kgo.ClientID("console-test"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
}

// startWithTopic starts a broker with a topic of partitions partitions and
// returns it with a producer of the topic (newProducer).
func startWithTopic(t *testing.T, topic string, partitions int32) (*broker.Broker, *kgo.Client) {
	t.Helper()
	b := brokertest.Start(t, broker.Config{})
	if err := b.Cluster().CreateTopic(topic, partitions); err != nil {
		t.Fatal(err)
	}
	return b, newProducer(t, b.Addr(), topic)
}

// serve serves b's console over HTTP until the test ends.
func serve(t *testing.T, b *broker.Broker) *httptest.Server {
	srv := httptest.NewServer(Handler(b, Options{Logger: testkit.Logger(t)}))
	t.Cleanup(srv.Close)
	return srv
}

// produce sends records one at a time: record i has key "k<i>", value
// "value <i>" (or binary bytes for i == binaryAt) and a header "i".
func produce(t *testing.T, ctx context.Context, cl *kgo.Client, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		r := &kgo.Record{
			Key:     fmt.Appendf(nil, "k%d", i),
			Value:   fmt.Appendf(nil, "value %d", i),
			Headers: []kgo.RecordHeader{{Key: "i", Value: fmt.Appendf(nil, "%d", i)}},
		}
		if i == binaryAt {
			r.Value = []byte{0, 1, 0xff, 0xfe}
		}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

const binaryAt = 3

// getJSON GETs path from the handler and decodes the answer into v,
// returning the status.
func getJSON(t *testing.T, srv *httptest.Server, path string, v any) int {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q", path, ct)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return resp.StatusCode
}

// TestAPI checks every JSON endpoint after a kgo client produced.
func TestAPI(t *testing.T) {
	ctx := brokertest.Context(t)
	b, cl := startWithTopic(t, "orders", 2)
	const n = 30
	produce(t, ctx, cl, 0, n)
	srv := serve(t, b)

	var ov Overview
	if getJSON(t, srv, "/api/overview", &ov); ov.Topics != 1 || ov.Partitions != 2 || ov.Connections < 1 || ov.Addr != b.Addr() || !ov.Features.Groups {
		t.Errorf("overview %+v", ov)
	}

	var topics struct{ Topics []Topic }
	getJSON(t, srv, "/api/topics", &topics)
	if len(topics.Topics) != 1 || topics.Topics[0].Name != "orders" || len(topics.Topics[0].Partitions) != 2 {
		t.Fatalf("topics %+v", topics)
	}
	tp := topics.Topics[0]
	if p := tp.Partitions[0]; p.EndOffset != n || p.StartOffset != 0 || p.SizeBytes <= 0 || p.Segments != -1 || p.Producers != 1 {
		t.Errorf("partition 0 %+v", p)
	}
	if p := tp.Partitions[1]; p.EndOffset != 0 || p.SizeBytes != 0 {
		t.Errorf("partition 1 %+v", p)
	}
	if tp.Messages != n || tp.SizeBytes != tp.Partitions[0].SizeBytes {
		t.Errorf("topic totals %+v", tp)
	}

	var msgs Messages
	if st := getJSON(t, srv, "/api/topics/orders/partitions/0/messages?limit=5", &msgs); st != http.StatusOK {
		t.Fatalf("messages: status %d", st)
	}
	if len(msgs.Messages) != 5 || msgs.EndOffset != n {
		t.Fatalf("messages %+v: want the newest 5", msgs)
	}
	for i, m := range msgs.Messages {
		want := int64(n - 1 - i) // newest first
		if m.Offset != want || m.Key != (Bytes{Encoding: "text", Data: fmt.Sprintf("k%d", want), Size: len(fmt.Sprintf("k%d", want))}) ||
			m.Value.Data != fmt.Sprintf("value %d", want) || len(m.Headers) != 1 || m.Headers[0].Value.Data != fmt.Sprint(want) ||
			time.Since(m.Timestamp) > time.Minute {
			t.Errorf("message %d: %+v, want offset %d", i, m, want)
		}
	}
	getJSON(t, srv, fmt.Sprintf("/api/topics/orders/partitions/0/messages?limit=%d", n-binaryAt), &msgs)
	if last := msgs.Messages[len(msgs.Messages)-1]; last.Offset != binaryAt || last.Value != (Bytes{Encoding: "hex", Data: "0001fffe", Size: 4}) {
		t.Errorf("binary message %+v", last)
	}
	getJSON(t, srv, "/api/topics/orders/partitions/0/messages?limit=100000", &msgs)
	if len(msgs.Messages) != n {
		t.Errorf("limit above the count: %d messages, want %d", len(msgs.Messages), n)
	}
	getJSON(t, srv, "/api/topics/orders/partitions/1/messages", &msgs)
	if len(msgs.Messages) != 0 || msgs.Messages == nil {
		t.Errorf("empty partition: %+v, want an empty list", msgs)
	}
	var apiErr struct{ Error string }
	for path, status := range map[string]int{
		"/api/topics/nope/partitions/0/messages":           http.StatusNotFound,
		"/api/topics/orders/partitions/7/messages":         http.StatusNotFound,
		"/api/topics/orders/partitions/x/messages":         http.StatusBadRequest,
		"/api/topics/orders/partitions/0/messages?limit=0": http.StatusBadRequest,
	} {
		apiErr.Error = ""
		if got := getJSON(t, srv, path, &apiErr); got != status || apiErr.Error == "" {
			t.Errorf("%s: status %d, error %q; want %d and a message", path, got, apiErr.Error, status)
		}
	}

	var clients struct{ Clients []Client }
	getJSON(t, srv, "/api/clients", &clients)
	found := false
	for _, c := range clients.Clients {
		if c.ClientID == "console-test" && c.Requests >= n && c.BytesIn > 0 && strings.HasPrefix(c.Remote, "127.0.0.1:") {
			found = true
		}
	}
	if !found {
		t.Errorf("clients %+v: no console-test with %d requests", clients, n)
	}

	var prods Producers
	getJSON(t, srv, "/api/producers", &prods)
	if prods.Allocated != 1 || len(prods.Producers) != 1 || prods.Producers[0].LastSequence != n-1 || prods.Producers[0].LastOffset != n-1 || prods.Producers[0].Topic != "orders" {
		t.Errorf("producers %+v", prods)
	}

	var r1, r2 Rates
	getJSON(t, srv, "/api/rates", &r1)
	produce(t, ctx, cl, n, 2)
	getJSON(t, srv, "/api/rates", &r2)
	if r1.ProduceRequests < n || r2.ProduceRequests != r1.ProduceRequests+2 || r2.Records != r1.Records+2 || r2.BytesIn <= r1.BytesIn || r2.TimeMillis < r1.TimeMillis {
		t.Errorf("rates %+v then %+v: want 2 more produce requests and records", r1, r2)
	}

	var groups Groups
	if getJSON(t, srv, "/api/groups", &groups); !groups.Supported || groups.Groups == nil || len(groups.Groups) != 0 {
		t.Errorf("groups %+v: want supported and an empty list (no group yet)", groups)
	}
}

// TestGroupsExtensionPoint checks that Options.Groups feeds /api/groups
// and turns the feature on.
func TestGroupsExtensionPoint(t *testing.T) {
	b := brokertest.Start(t, broker.Config{})
	want := []Group{{ID: "g", State: "Stable", Members: []GroupMember{{MemberID: "m", ClientID: "c", Host: "/127.0.0.1"}},
		Offsets: []GroupOffset{{Topic: "t", Partition: 0, Committed: 5, Lag: 2}}}}
	var fail error
	h := Handler(b, Options{Logger: testkit.Logger(t), Groups: func(context.Context) ([]Group, error) { return want, fail }})
	srv := httptest.NewServer(h)
	defer srv.Close()
	var ov Overview
	if getJSON(t, srv, "/api/overview", &ov); !ov.Features.Groups {
		t.Error("features.groups is false with Options.Groups set")
	}
	var got Groups
	getJSON(t, srv, "/api/groups", &got)
	if !got.Supported || len(got.Groups) != 1 || got.Groups[0].ID != "g" || got.Groups[0].Offsets[0].Lag != 2 {
		t.Errorf("groups %+v", got)
	}
	fail = errors.New("no coordinator")
	var apiErr struct{ Error string }
	if st := getJSON(t, srv, "/api/groups", &apiErr); st != http.StatusInternalServerError || apiErr.Error != "no coordinator" {
		t.Errorf("failing lister: status %d, %+v", st, apiErr)
	}
}

// TestPage checks that the page and its assets are served, read-only,
// with a policy that allows nothing from other origins.
func TestPage(t *testing.T) {
	b := brokertest.Start(t, broker.Config{})
	srv := serve(t, b)
	for path, want := range map[string]string{"/": "<svg id=\"chart\"", "/app.js": "api/rates", "/style.css": "#chart"} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("%s: status %d, body without %q", path, resp.StatusCode, want)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
		if strings.Contains(string(body), "http://") || strings.Contains(string(body), "https://") {
			t.Errorf("%s refers to another origin", path)
		}
	}
	resp, err := srv.Client().Post(srv.URL+"/api/topics", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /api/topics: status %d, want 405", resp.StatusCode)
	}
}

func TestShowBytes(t *testing.T) {
	long := "a" + strings.Repeat("é", maxShown) // 2 bytes each: cut inside one
	for _, c := range []struct {
		in   []byte
		want Bytes
	}{
		{nil, Bytes{Encoding: "null"}},
		{[]byte{}, Bytes{Encoding: "text"}},
		{[]byte("héllo\n"), Bytes{Encoding: "text", Data: "héllo\n", Size: 7}},
		{[]byte{0x1b, 'a'}, Bytes{Encoding: "hex", Data: "1b61", Size: 2}},
		{[]byte{0xff}, Bytes{Encoding: "hex", Data: "ff", Size: 1}},
		{[]byte(long), Bytes{Encoding: "text", Data: long[:maxShown-1], Size: 2*maxShown + 1, Truncated: true}},
	} {
		if got := showBytes(c.in); got != c.want {
			t.Errorf("showBytes(%q) = %+v, want %+v", c.in[:min(len(c.in), 10)], got, c.want)
		}
	}
}

// TestClusterGroups: a kgo consumer group that consumed 7 of 10 records
// and committed shows on /api/groups with its member, the partition
// assigned to it, its committed offset and a lag of 3.
func TestClusterGroups(t *testing.T) {
	ctx := brokertest.Context(t)
	b, cl := startWithTopic(t, "grouped", 1)
	produce(t, ctx, cl, 0, 7)
	brokertest.CommitGroup(t, ctx, b.Addr(), "console-group", "grouped", 7, kgo.ClientID("group-member"))
	produce(t, ctx, cl, 7, 3)
	srv := serve(t, b)
	var got Groups
	getJSON(t, srv, "/api/groups", &got)
	if !got.Supported || len(got.Groups) != 1 {
		t.Fatalf("groups %+v", got)
	}
	g := got.Groups[0]
	if g.ID != "console-group" || g.State != "Stable" || len(g.Members) != 1 || g.Members[0].ClientID != "group-member" ||
		len(g.Members[0].Assigned) != 1 || g.Members[0].Assigned[0].Topic != "grouped" {
		t.Fatalf("group %+v", g)
	}
	if len(g.Offsets) != 1 || g.Offsets[0].Committed != 7 || g.Offsets[0].Lag != 3 {
		t.Fatalf("offsets %+v, want committed 7, lag 3", g.Offsets)
	}
}
