package broker

import (
	"net"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/seglog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func requestStats(t *testing.T, st Stats, key APIKey) (requests, errors uint64) {
	t.Helper()
	for _, r := range st.Requests {
		if r.Key == key {
			requests += r.Requests
			errors += r.Errors
		}
	}
	return requests, errors
}

func latencyStats(st Stats, key APIKey) Histogram {
	for _, l := range st.Latency {
		if l.Key == key {
			return l.Latency
		}
	}
	return Histogram{}
}

// quietStats returns a Stats and a Clients snapshot taken while no request
// was being read or answered: it retries until the broker's byte and
// request counters are the same before and after Clients and every
// counted request has its latency recorded.
func quietStats(t *testing.T, b *Broker) (Stats, []ClientStats) {
	t.Helper()
	// total is the requests counted, or 0 when a request's latency is
	// not yet recorded (answered counts the request first).
	total := func(st Stats) (n uint64) {
		var observed uint64
		for _, r := range st.Requests {
			n += r.Requests
		}
		for _, l := range st.Latency {
			observed += l.Latency.Count
		}
		if n != observed {
			return 0
		}
		return n
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		before := b.Stats()
		clients := b.Clients()
		after := b.Stats()
		if before.BytesIn == after.BytesIn && before.BytesOut == after.BytesOut &&
			total(before) != 0 && total(before) == total(after) && before.ConnectionsOpen == after.ConnectionsOpen {
			return after, clients
		}
		if time.Now().After(deadline) {
			t.Fatal("the broker's counters did not stop moving for 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestStatsAfterKgo checks the counters after a kgo client produced and
// consumed: requests by key, latency counts matching them, bytes, the
// connections, the partition's offsets and size, and the producer id.
func TestStatsAfterKgo(t *testing.T) {
	b := startBroker(t, Config{})
	const n = 50
	roundTrip(t, b.Addr(), "stats", n, kgo.ClientID("stats-client"))

	// The consumer goes on fetching in the background, so the counters are
	// read when a Stats, Clients, Stats sequence shows nothing moved.
	st, clients := quietStats(t, b)
	for _, key := range []APIKey{APIProduce, APIFetch, APIMetadata, APIApiVersions, APIInitProducerID} {
		reqs, _ := requestStats(t, st, key)
		if reqs == 0 {
			t.Errorf("%s: no requests counted", key)
		}
		if h := latencyStats(st, key); h.Count != reqs || h.Sum <= 0 {
			t.Errorf("%s: latency count %d, sum %v; want count %d, sum > 0", key, h.Count, h.Sum, reqs)
		}
	}
	if _, errs := requestStats(t, st, APIProduce); errs != 0 {
		t.Errorf("produce: %d errors counted, want 0", errs)
	}
	if st.BytesIn < n*10 || st.BytesOut < n*10 {
		t.Errorf("bytes in %d, out %d: want at least %d each", st.BytesIn, st.BytesOut, n*10)
	}
	if st.ConnectionsAccepted < 2 || st.ConnectionsOpen < 2 {
		t.Errorf("connections accepted %d, open %d: want at least 2 (producer and consumer)", st.ConnectionsAccepted, st.ConnectionsOpen)
	}
	if st.RejectedRequests != 0 {
		t.Errorf("rejected %d, want 0", st.RejectedRequests)
	}

	if len(clients) != st.ConnectionsOpen {
		t.Errorf("%d clients listed, %d connections open", len(clients), st.ConnectionsOpen)
	}
	var in uint64
	ids := map[string]bool{}
	for _, c := range clients {
		if c.Requests == 0 || c.Remote == "" || c.Connected.IsZero() {
			t.Errorf("client %+v: want requests, an address and a time", c)
		}
		ids[c.ClientID] = true
		in += c.BytesIn
	}
	if !ids["stats-client"] || !ids["kgo"] {
		t.Errorf("client ids %v: want the producer's stats-client and the consumer's kgo", ids)
	}
	if in == 0 || in > st.BytesIn {
		t.Errorf("clients' bytes in %d, broker's %d", in, st.BytesIn)
	}

	ps := b.Cluster().PartitionStats()
	if len(ps) != 1 {
		t.Fatalf("partition stats %+v, want one partition", ps)
	}
	p := ps[0]
	if p.Topic != "stats" || p.StartOffset != 0 || p.EndOffset != n || p.SizeBytes <= 0 || p.Segments != -1 || p.Producers != 1 {
		t.Errorf("partition %+v: want stats/0 with offsets [0, %d), a size, no segments (memory) and one producer", p, n)
	}
	prods := b.Cluster().Producers()
	if len(prods) != 1 || prods[0].LastSequence != n-1 || prods[0].Topic != "stats" {
		t.Errorf("producers %+v: want one, last sequence %d", prods, n-1)
	}
	if got := b.Cluster().ProducerIDsAllocated(); got != 1 {
		t.Errorf("producer ids allocated %d, want 1", got)
	}
	if _, ok := b.Cluster().StorageSyncs(); ok {
		t.Error("memory storage reports fsyncs")
	}
}

// TestStatsErrorsAndRejects checks that an answer with an error code
// counts as an error of its key and version, and that a malformed request
// counts as rejected.
func TestStatsErrorsAndRejects(t *testing.T) {
	b := startBroker(t, Config{DisableAutoCreateTopics: true})
	rc := dialRaw(t, b.Addr())
	if got := rc.produce("missing", 0, buildBatch(t, 1, 0, nil)); got.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("produce to a missing topic: code %d", got.ErrorCode)
	}
	var found bool
	for _, r := range b.Stats().Requests {
		if r.Key == APIProduce && r.Version == 9 {
			found = true
			if r.Requests != 1 || r.Errors != 1 {
				t.Errorf("produce v9: %d requests, %d errors; want 1, 1", r.Requests, r.Errors)
			}
		}
	}
	if !found {
		t.Fatal("no produce v9 counters")
	}

	nc, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// A frame of 12 bytes: Produce v100, which no broker answers.
	if _, err := nc.Write([]byte{0, 0, 0, 12, 0, 0, 0, 100, 0, 0, 0, 1, 0xff, 0xff, 0, 0}); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Read(make([]byte, 1)); err == nil {
		t.Fatal("the connection stayed open")
	}
	if got := b.Stats().RejectedRequests; got != 1 {
		t.Errorf("rejected %d, want 1", got)
	}
}

// TestStatsRefused checks the refused connection counter.
func TestStatsRefused(t *testing.T) {
	b := startBroker(t, Config{MaxConnections: 1})
	first := dialRaw(t, b.Addr())
	first.do(kmsg.NewPtrApiVersionsRequest())
	second := dialRaw(t, b.Addr())
	second.expectClosed()
	st := b.Stats()
	if st.ConnectionsRefused.ByMaxConnections != 1 || st.ConnectionsRefused.ByMaxConnectionsPerIP != 0 || st.ConnectionsAccepted != 1 {
		t.Errorf("accepted %d, refused %+v: want 1 accepted, 1 refused by MaxConnections", st.ConnectionsAccepted, st.ConnectionsRefused)
	}
}

// TestStatsDisk checks what a DiskStorage adds: segments, size on disk and
// fsyncs.
func TestStatsDisk(t *testing.T) {
	st, err := NewDiskStorage(t.TempDir(), DiskOptions{Flush: seglog.FlushAlways(), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	b := startBroker(t, Config{Storage: st})
	createTopic(t, b, "disk", 1)
	rc := dialRaw(t, b.Addr())
	for range 3 {
		if got := rc.produce("disk", 0, buildBatch(t, 2, 0, nil)); got.ErrorCode != 0 {
			t.Fatalf("produce: code %d", got.ErrorCode)
		}
	}
	ps := b.Cluster().PartitionStats()
	if len(ps) != 1 || ps[0].EndOffset != 6 || ps[0].Segments != 1 || ps[0].SizeBytes <= 0 {
		t.Errorf("partition stats %+v: want 6 records in one segment", ps)
	}
	h, ok := b.Cluster().StorageSyncs()
	if !ok || h.Count < 3 {
		t.Errorf("fsyncs %+v (%v): want at least 3 with FlushAlways", h, ok)
	}
}

// TestStatsAnsweredAllocatesNothing checks that counting a request
// allocates nothing once the client id is known.
func TestStatsAnsweredAllocatesNothing(t *testing.T) {
	b, err := New(Config{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c := newConn(b, nil)
	c.frameStart = time.Now()
	h := reqHeader{key: APIProduce, version: 9, clientID: []byte("id")}
	resp := kmsg.NewPtrProduceResponse()
	b.stats.answered(c, h, resp, nil)
	if n := testing.AllocsPerRun(100, func() {
		b.stats.answered(c, h, resp, nil)
		b.stats.received(c, 100)
		b.stats.sent(c, 100)
	}); n != 0 {
		t.Errorf("%v allocations per request", n)
	}
}
