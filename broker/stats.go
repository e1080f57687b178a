package broker

// Counters for monitoring: what Broker.Stats, Broker.Clients and the
// Cluster's PartitionStats, Producers and StorageSyncs report, and what
// packages brokerprom (Prometheus) and console (a web page) show.
//
// Counting costs a few atomic adds per request and no allocation: the
// counters are fixed arrays made when the broker is created, indexed by a
// table of the API keys and versions the broker answers (apis, apis.go).

import (
	"slices"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// latencyBounds are the upper bounds of the buckets of every Histogram the
// broker keeps: request latencies and fsync durations, from 50µs to 30s.
var latencyBounds = [...]time.Duration{
	50 * time.Microsecond, 100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second,
	10 * time.Second, 30 * time.Second,
}

// numBuckets is the number of bounds plus the bucket above the last.
const numBuckets = len(latencyBounds) + 1

// LatencyBounds returns the upper bounds of the buckets of every Histogram
// the broker keeps (request latencies, fsync durations): 18 bounds from
// 50µs to 30s.
func LatencyBounds() []time.Duration { return slices.Clone(latencyBounds[:]) }

// Histogram is a snapshot of durations counted in the buckets of
// LatencyBounds.
type Histogram struct {
	// Counts[i] counts the durations in (LatencyBounds()[i-1],
	// LatencyBounds()[i]]; the last element counts those above every
	// bound.
	// Not cumulative.
	Counts [numBuckets]uint64
	// Count is the number of durations, the sum of Counts.
	Count uint64
	// Sum is their total.
	Sum time.Duration
}

// histogram is a Histogram being counted, safe for concurrent use.
type histogram struct {
	counts [numBuckets]atomic.Uint64
	sum    atomic.Int64 // nanoseconds
}

func (h *histogram) observe(d time.Duration) {
	i := 0
	for i < len(latencyBounds) && d > latencyBounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

func (h *histogram) snapshot() Histogram {
	var s Histogram
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
		s.Count += s.Counts[i]
	}
	s.Sum = time.Duration(h.sum.Load())
	return s
}

// Stats is a snapshot of a broker's counters since it was created.
type Stats struct {
	// Requests has one element per API key and version the broker
	// answers, in key then version order, those never requested included.
	Requests []RequestStats
	// Latency has one element per API key the broker answers, in key
	// order: the time from the first byte of a request's frame to its
	// answer being ready to send (a fetch's wait for data included).
	Latency []LatencyStats
	// BytesIn and BytesOut count the bytes of request frames read and of
	// answers sent (length prefixes included).
	BytesIn, BytesOut uint64
	// RejectedRequests counts requests that closed their connection
	// because they were malformed, of an unknown API key or of an
	// unsupported version.
	RejectedRequests uint64
	// ConnectionsOpen is the number of client connections open now.
	ConnectionsOpen int
	// ConnectionsAccepted counts the connections accepted and served.
	ConnectionsAccepted uint64
	// ConnectionsRefused counts the connections closed as soon as accepted
	// because Config.MaxConnections (ByMaxConnections) or
	// Config.MaxConnectionsPerIP (ByMaxConnectionsPerIP) were reached.
	ConnectionsRefused struct{ ByMaxConnections, ByMaxConnectionsPerIP uint64 }
}

// RequestStats counts the requests of one API key and version.
type RequestStats struct {
	Key     APIKey
	Version int16
	// Requests counts the requests answered (acks=0 produce requests,
	// which get no answer, included).
	Requests uint64
	// Errors counts those whose answer carries an error code, at the top
	// level or for any topic or partition.
	Errors uint64
}

// LatencyStats is the latency histogram of one API key.
type LatencyStats struct {
	Key     APIKey
	Latency Histogram
}

// statSlots maps API keys and versions to the broker's counter arrays.
type statSlots struct {
	apis  []apiSpec
	first [256]int16 // first request slot of a key, -1 if not answered
	key   [256]int8  // index of a key in apis, -1 if not answered
	n     int        // request slots
}

// slots is set by apis.go's init, with the table.
var slots *statSlots

func newStatSlots(apis []apiSpec) *statSlots {
	s := &statSlots{apis: apis}
	for i := range s.first {
		s.first[i], s.key[i] = -1, -1
	}
	for i, r := range apis {
		s.first[r.key] = int16(s.n)
		s.key[r.key] = int8(i)
		s.n += int(r.max-r.min) + 1
	}
	return s
}

// brokerStats are one broker's counters.
type brokerStats struct {
	requests []atomic.Uint64 // by slot
	errors   []atomic.Uint64 // by slot
	latency  []histogram     // by index in slots.apis

	bytesIn, bytesOut     atomic.Uint64
	rejected              atomic.Uint64
	accepted              atomic.Uint64
	refusedMax, refusedIP atomic.Uint64
}

func newBrokerStats() *brokerStats {
	return &brokerStats{
		requests: make([]atomic.Uint64, slots.n),
		errors:   make([]atomic.Uint64, slots.n),
		latency:  make([]histogram, len(slots.apis)),
	}
}

// answered counts a request that was dispatched, resp being its answer
// (nil for none).
func (s *brokerStats) answered(c *conn, h reqHeader, resp kmsg.Response, err error) {
	c.info.requests.Add(1)
	c.info.noteClientID(h.clientID)
	k := uint16(h.key)
	if k >= 256 || slots.first[k] < 0 {
		return
	}
	r := slots.apis[slots.key[k]]
	slot := int(slots.first[k]) + int(h.version-r.min)
	s.requests[slot].Add(1)
	if err != nil || resp != nil && responseFailed(resp) {
		s.errors[slot].Add(1)
	}
	s.latency[slots.key[k]].observe(time.Since(c.frameStart))
}

// received counts a request frame of n bytes (length prefix included).
func (s *brokerStats) received(c *conn, n int) {
	s.bytesIn.Add(uint64(n))
	c.info.bytesIn.Add(uint64(n))
}

// sent counts n bytes of answers.
func (s *brokerStats) sent(c *conn, n int) {
	s.bytesOut.Add(uint64(n))
	c.info.bytesOut.Add(uint64(n))
}

// connInfo is what a connection reports to Broker.Clients.
type connInfo struct {
	connected time.Time
	requests  atomic.Uint64
	bytesIn   atomic.Uint64
	bytesOut  atomic.Uint64
	clientID  atomic.Pointer[string]
}

// noteClientID keeps the client id of the latest request; it allocates
// only when the id changes.
func (i *connInfo) noteClientID(id []byte) {
	if p := i.clientID.Load(); p != nil && *p == string(id) {
		return
	}
	s := string(id)
	i.clientID.Store(&s)
}

// Stats returns a snapshot of the broker's counters.
func (b *Broker) Stats() Stats {
	s := b.stats
	st := Stats{
		Requests:            make([]RequestStats, 0, slots.n),
		Latency:             make([]LatencyStats, 0, len(slots.apis)),
		BytesIn:             s.bytesIn.Load(),
		BytesOut:            s.bytesOut.Load(),
		RejectedRequests:    s.rejected.Load(),
		ConnectionsOpen:     b.OpenConnections(),
		ConnectionsAccepted: s.accepted.Load(),
	}
	st.ConnectionsRefused.ByMaxConnections = s.refusedMax.Load()
	st.ConnectionsRefused.ByMaxConnectionsPerIP = s.refusedIP.Load()
	for i, r := range slots.apis {
		first := int(slots.first[r.key])
		for v := r.min; v <= r.max; v++ {
			slot := first + int(v-r.min)
			st.Requests = append(st.Requests, RequestStats{
				Key: r.key, Version: v,
				Requests: s.requests[slot].Load(),
				Errors:   s.errors[slot].Load(),
			})
		}
		st.Latency = append(st.Latency, LatencyStats{Key: r.key, Latency: s.latency[i].snapshot()})
	}
	return st
}

// ClientStats describes one open client connection.
type ClientStats struct {
	// Remote is the client's address.
	Remote string
	// ClientID is the client id of its latest request ("" before any).
	ClientID  string
	Connected time.Time
	// Requests counts the requests it sent that were answered; BytesIn
	// and BytesOut the bytes of its requests and of their answers.
	Requests          uint64
	BytesIn, BytesOut uint64
}

// Clients lists the open client connections, oldest first.
func (b *Broker) Clients() []ClientStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]ClientStats, 0, len(b.conns))
	for c := range b.conns {
		cs := ClientStats{
			Connected: c.info.connected,
			Requests:  c.info.requests.Load(),
			BytesIn:   c.info.bytesIn.Load(),
			BytesOut:  c.info.bytesOut.Load(),
		}
		if a := c.remoteAddr(); a != nil {
			cs.Remote = a.String()
		}
		if id := c.info.clientID.Load(); id != nil {
			cs.ClientID = *id
		}
		out = append(out, cs)
	}
	sortClients(out)
	return out
}

// Done returns a channel closed when Close begins, so that servers
// running beside the broker (metrics, console) stop with it.
func (b *Broker) Done() <-chan struct{} { return b.done }
