// Package brokerprom exports a broker's counters (broker.Broker.Stats and
// the Cluster's PartitionStats, Producers and StorageSyncs) as Prometheus
// metrics. It is a package of its own so that programs embedding package
// broker without Prometheus do not import client_golang.
//
// The metrics, all prefixed merlin_broker_:
//
//	requests_total{api,version}          requests answered
//	request_errors_total{api,version}    of those, answers carrying an error code
//	                                     (top level, topic or partition)
//	rejected_requests_total              requests that closed their connection:
//	                                     malformed, unknown key or version
//	request_duration_seconds{api}        histogram: first byte of the request to
//	                                     its answer being ready (fetch waits included)
//	received_bytes_total                 request frames read
//	sent_bytes_total                     answers written
//	connections                          open client connections
//	connections_accepted_total           connections accepted and served
//	connections_refused_total{reason}    closed at once: max_connections,
//	                                     max_connections_per_ip
//	topics, partitions                   counts now
//	log_start_offset{topic,partition}    log start offset
//	log_end_offset{topic,partition}      log end offset (high watermark)
//	log_size_bytes{topic,partition}      bytes of the partition's log
//	log_segments{topic,partition}        segment files (disk storage only)
//	idempotent_producers{topic,partition} producer ids with state
//	producer_ids_allocated_total         InitProducerId answers since start
//	fsync_duration_seconds               histogram of segment fsyncs (disk
//	                                     storage only); its _count is the
//	                                     number of fsyncs
//
// The per-partition series are bounded by the cluster's partition limit
// (ClusterConfig.MaxPartitionsTotal, 10000 by default, and merlin-broker's
// --max-partitions): five series per partition. Metrics describe the
// Broker given and the Cluster it serves; when several brokers share a
// Cluster, register the cluster-wide metrics once by giving one collector
// per process.
package brokerprom

import (
	"net/http"
	"strconv"

	"github.com/merlinkafka/merlin/broker"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const namespace = "merlin_broker"

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
}

var (
	requestsDesc      = desc("requests_total", "Requests answered, by API key and version.", "api", "version")
	errorsDesc        = desc("request_errors_total", "Requests whose answer carries an error code, at the top level or for any topic or partition, by API key and version.", "api", "version")
	rejectedDesc      = desc("rejected_requests_total", "Requests that closed their connection: malformed, of an unknown API key or of an unsupported version.")
	durationDesc      = desc("request_duration_seconds", "Time from the first byte of a request to its answer being ready, by API key (a fetch's wait for data included).", "api")
	receivedDesc      = desc("received_bytes_total", "Bytes of request frames read, length prefixes included.")
	sentDesc          = desc("sent_bytes_total", "Bytes of answers written, length prefixes included.")
	connectionsDesc   = desc("connections", "Open client connections.")
	acceptedDesc      = desc("connections_accepted_total", "Client connections accepted and served.")
	refusedDesc       = desc("connections_refused_total", "Client connections closed as soon as accepted, by the limit reached.", "reason")
	topicsDesc        = desc("topics", "Topics.")
	partitionsDesc    = desc("partitions", "Partitions of all topics.")
	startOffsetDesc   = desc("log_start_offset", "First offset of a partition's log.", "topic", "partition")
	endOffsetDesc     = desc("log_end_offset", "Offset the next record of a partition gets (the high watermark).", "topic", "partition")
	sizeDesc          = desc("log_size_bytes", "Bytes of a partition's log, on disk or in memory.", "topic", "partition")
	segmentsDesc      = desc("log_segments", "Segment files of a partition's log (disk storage).", "topic", "partition")
	producersDesc     = desc("idempotent_producers", "Idempotent producer ids with state on a partition.", "topic", "partition")
	pidsDesc          = desc("producer_ids_allocated_total", "Producer ids handed out by InitProducerId since the broker started.")
	fsyncDurationDesc = desc("fsync_duration_seconds", "Duration of the fsyncs of segment files (disk storage); the count is the number of fsyncs.")
	groupsDesc        = desc("consumer_groups", "Consumer groups, by state.", "state")
	groupMembersDesc  = desc("consumer_group_members", "Members of a consumer group.", "group")
	groupLagDesc      = desc("consumer_group_lag", "Records a consumer group has not committed, summed over the partitions of a topic it committed offsets for.", "group", "topic")
)

// Collector is a prometheus.Collector of one broker's metrics.
type Collector struct {
	b *broker.Broker
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a collector of b's metrics and those of its
// cluster. Register it on a prometheus.Registry, or use Handler.
func NewCollector(b *broker.Broker) *Collector { return &Collector{b: b} }

// Describe sends every metric's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		requestsDesc, errorsDesc, rejectedDesc, durationDesc, receivedDesc, sentDesc,
		connectionsDesc, acceptedDesc, refusedDesc, topicsDesc, partitionsDesc,
		startOffsetDesc, endOffsetDesc, sizeDesc, segmentsDesc, producersDesc,
		pidsDesc, fsyncDurationDesc, groupsDesc, groupMembersDesc, groupLagDesc,
	} {
		ch <- d
	}
}

// Collect sends the current values. Request counters appear for the API
// keys and versions requested at least once.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.b.Stats()
	for _, r := range st.Requests {
		if r.Requests == 0 {
			continue
		}
		api, version := r.Key.String(), strconv.Itoa(int(r.Version))
		ch <- prometheus.MustNewConstMetric(requestsDesc, prometheus.CounterValue, float64(r.Requests), api, version)
		ch <- prometheus.MustNewConstMetric(errorsDesc, prometheus.CounterValue, float64(r.Errors), api, version)
	}
	for _, l := range st.Latency {
		if l.Latency.Count == 0 {
			continue
		}
		ch <- histogram(durationDesc, l.Latency, l.Key.String())
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter(rejectedDesc, st.RejectedRequests)
	counter(receivedDesc, st.BytesIn)
	counter(sentDesc, st.BytesOut)
	gauge(connectionsDesc, float64(st.ConnectionsOpen))
	counter(acceptedDesc, st.ConnectionsAccepted)
	counter(refusedDesc, st.ConnectionsRefused.ByMaxConnections, "max_connections")
	counter(refusedDesc, st.ConnectionsRefused.ByMaxConnectionsPerIP, "max_connections_per_ip")

	cl := c.b.Cluster()
	ps := cl.PartitionStats()
	gauge(topicsDesc, float64(len(cl.Topics())))
	gauge(partitionsDesc, float64(len(ps)))
	for _, p := range ps {
		topic, part := p.Topic, strconv.Itoa(int(p.Partition))
		gauge(startOffsetDesc, float64(p.StartOffset), topic, part)
		gauge(endOffsetDesc, float64(p.EndOffset), topic, part)
		if p.SizeBytes >= 0 {
			gauge(sizeDesc, float64(p.SizeBytes), topic, part)
		}
		if p.Segments >= 0 {
			gauge(segmentsDesc, float64(p.Segments), topic, part)
		}
		gauge(producersDesc, float64(p.Producers), topic, part)
	}
	counter(pidsDesc, uint64(max(cl.ProducerIDsAllocated(), 0)))
	if h, ok := cl.StorageSyncs(); ok {
		ch <- histogram(fsyncDurationDesc, h)
	}
	// Groups: lag per group and topic, not per partition, so that the
	// series stay within groups × topics.
	states := map[string]int{"Empty": 0, "PreparingRebalance": 0, "CompletingRebalance": 0, "Stable": 0, "Dead": 0}
	for _, g := range cl.Groups() {
		states[g.State]++
		gauge(groupMembersDesc, float64(len(g.Members)), g.ID)
		lag := map[string]int64{}
		for _, o := range g.Offsets {
			if o.Lag >= 0 {
				lag[o.Topic] += o.Lag
			}
		}
		for topic, n := range lag {
			gauge(groupLagDesc, float64(n), g.ID, topic)
		}
	}
	for state, n := range states {
		gauge(groupsDesc, float64(n), state)
	}
}

// histogram converts a broker.Histogram, whose buckets are not cumulative,
// to a Prometheus histogram.
func histogram(d *prometheus.Desc, h broker.Histogram, labels ...string) prometheus.Metric {
	bounds := broker.LatencyBounds()
	buckets := make(map[float64]uint64, len(bounds))
	var cum uint64
	for i, bound := range bounds {
		cum += h.Counts[i]
		buckets[bound.Seconds()] = cum
	}
	return prometheus.MustNewConstHistogram(d, h.Count, h.Sum.Seconds(), buckets, labels...)
}

// Handler serves b's metrics in the Prometheus exposition format, with
// the Go runtime's and the process's (go_*, process_*), from a registry of
// its own.
func Handler(b *broker.Broker) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(b), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}
