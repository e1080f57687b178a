// Package prommerlin exports a merlin Producer's statistics to Prometheus:
// a prometheus.Collector built on Producer.Stats, so that each scrape reads
// the producer's counters once and nothing is counted twice. It is its own
// package so that programs without Prometheus do not import its client.
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(prommerlin.NewCollector(p))
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// # Metrics
//
// Names follow Prometheus's conventions: a merlin_producer_ prefix,
// counters ending in _total, base units (seconds, bytes). Labels are
// bounded: topic (the topics the producer was given), class (the fixed
// set of producer.ErrorClasses), state (the fixed worker and breaker
// states) and broker (the cluster's node ids); nothing per message or
// per partition.
//
//	merlin_producer_messages_produced_total{topic}             counter    accepted by produce calls
//	merlin_producer_produced_bytes_total{topic}                counter    their encoded bytes
//	merlin_producer_messages_acknowledged_total{topic}         counter    acknowledged by a broker
//	merlin_producer_acknowledged_bytes_total{topic}            counter    their encoded bytes
//	merlin_producer_messages_failed_total{topic,class}         counter    reported failed, by error class
//	merlin_producer_batches_total{topic}                       counter    batches sent (once each)
//	merlin_producer_retries_total{topic}                       counter    batches resent
//	merlin_producer_batch_messages                             histogram  messages per batch
//	merlin_producer_batch_bytes                                histogram  bytes per batch, before compression
//	merlin_producer_produce_latency_seconds                    histogram  a batch's first message accepted to acknowledged
//	merlin_producer_request_latency_seconds                    histogram  produce request round trip
//	merlin_producer_buffered_messages                          gauge      held, not yet acknowledged or failed
//	merlin_producer_buffered_bytes                             gauge      what they count for against MaxBufferedBytes
//	merlin_producer_workers{state}                             gauge      partition workers in each state
//	merlin_producer_broker_circuit_breaker_state{broker,state} gauge      1 for the breaker's state, 0 for the others
//	merlin_producer_connections                                gauge      open broker connections
//	merlin_producer_worker_down_total                          counter    worker_down events
//	merlin_producer_worker_up_total                            counter    worker_up events
//	merlin_producer_downtime_seconds_total                     counter    time_down: how long workers were down
//	merlin_producer_downtime_saved_messages_total              counter    downtime_saved: messages buffered while down
//	merlin_producer_downtime_replayed_messages_total           counter    downtime_replayed: messages replayed
//	merlin_producer_buffer_full_total                          counter    max_downtime_buffer_reached events
//	merlin_producer_buffer_full_messages_total                 counter    the messages those were about
//	merlin_producer_broker_unreachable_total                   counter    mainbroker_unreachable events
//	merlin_producer_events_dropped_total                       counter    events a slow handler missed
//
// To tell several producers of one process apart, register each through
// prometheus.WrapRegistererWith with a label of your own.
package prommerlin

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/merlinkafka/merlin/producer"
)

// Source is what a Collector reads: *producer.Producer is one.
type Source interface {
	Stats() producer.Stats
}

// Collector is a prometheus.Collector of one producer's statistics (see
// the package documentation for the metrics). Every Collect takes one
// producer.Stats snapshot. It is safe for concurrent use, and holds
// nothing that needs releasing: unregister it when the producer is closed.
type Collector struct {
	src Source

	produced, producedBytes, acked, ackedBytes, failed, batches, retries *prometheus.Desc

	batchMsgs, batchBytes, latency, rtt *prometheus.Desc

	bufMsgs, bufBytes, workers, breaker, conns *prometheus.Desc

	down, up, downSecs, saved, replayed, full, fullMsgs, unreachable, dropped *prometheus.Desc
}

const prefix = "merlin_producer_"

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prefix+name, help, labels, nil)
}

// NewCollector returns a Collector of src's statistics.
func NewCollector(src Source) *Collector {
	return &Collector{
		src:           src,
		produced:      desc("messages_produced_total", "Messages accepted by produce calls.", "topic"),
		producedBytes: desc("produced_bytes_total", "Encoded bytes of the messages accepted by produce calls.", "topic"),
		acked:         desc("messages_acknowledged_total", "Messages acknowledged by a broker.", "topic"),
		ackedBytes:    desc("acknowledged_bytes_total", "Encoded bytes of the messages acknowledged by a broker.", "topic"),
		failed:        desc("messages_failed_total", "Messages reported failed, by class of error.", "topic", "class"),
		batches:       desc("batches_total", "Batches sent, each counted once however often it was resent.", "topic"),
		retries:       desc("retries_total", "Batches resent after a retriable failure.", "topic"),

		batchMsgs:  desc("batch_messages", "Messages per batch sent."),
		batchBytes: desc("batch_bytes", "Bytes per batch sent, before compression."),
		latency:    desc("produce_latency_seconds", "Time from a batch's first message being accepted to the batch's acknowledgement."),
		rtt:        desc("request_latency_seconds", "Round trip of produce requests a broker answered."),

		bufMsgs:  desc("buffered_messages", "Messages held, not yet acknowledged or failed."),
		bufBytes: desc("buffered_bytes", "Bytes the held messages count for against the producer's buffer limit."),
		workers:  desc("workers", "Partition workers in each state.", "state"),
		breaker:  desc("broker_circuit_breaker_state", "State of each broker's circuit breaker: 1 for the current state, 0 for the others.", "broker", "state"),
		conns:    desc("connections", "Open broker connections."),

		down:        desc("worker_down_total", "Times a partition worker lost its leader and entered downtime."),
		up:          desc("worker_up_total", "Times a partition worker connected or came back."),
		downSecs:    desc("downtime_seconds_total", "Time partition workers spent down, counted when each came back."),
		saved:       desc("downtime_saved_messages_total", "Messages saved to a downtime buffer."),
		replayed:    desc("downtime_replayed_messages_total", "Messages replayed from a downtime buffer."),
		full:        desc("buffer_full_total", "Times the producer's buffer limits were reached."),
		fullMsgs:    desc("buffer_full_messages_total", "Messages refused, delayed or shed because the buffer was full."),
		unreachable: desc("broker_unreachable_total", "Times no broker answered for metadata or a broker's circuit breaker opened."),
		dropped:     desc("events_dropped_total", "Instrumentation events a slow handler missed."),
	}
}

// Describe sends the descriptors of every metric the Collector exports.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.produced, c.producedBytes, c.acked, c.ackedBytes, c.failed, c.batches, c.retries,
		c.batchMsgs, c.batchBytes, c.latency, c.rtt,
		c.bufMsgs, c.bufBytes, c.workers, c.breaker, c.conns,
		c.down, c.up, c.downSecs, c.saved, c.replayed, c.full, c.fullMsgs, c.unreachable, c.dropped,
	} {
		ch <- d
	}
}

// Collect takes a snapshot of the producer's statistics and sends it as
// metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.Stats()
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for topic, t := range s.Topics {
		counter(c.produced, float64(t.Produced), topic)
		counter(c.producedBytes, float64(t.ProducedBytes), topic)
		counter(c.acked, float64(t.Acknowledged), topic)
		counter(c.ackedBytes, float64(t.AcknowledgedBytes), topic)
		for _, class := range producer.ErrorClasses() {
			counter(c.failed, float64(t.Failed[class]), topic, class.String())
		}
		counter(c.batches, float64(t.Batches), topic)
		counter(c.retries, float64(t.Retries), topic)
	}

	histogram(ch, c.batchMsgs, s.BatchMessages)
	histogram(ch, c.batchBytes, s.BatchBytes)
	histogram(ch, c.latency, s.Latency)
	histogram(ch, c.rtt, s.RequestLatency)

	gauge(c.bufMsgs, float64(s.BufferedMessages))
	gauge(c.bufBytes, float64(s.BufferedBytes))
	for st, n := range s.Workers {
		gauge(c.workers, float64(n), producer.State(st).String())
	}
	for _, b := range s.Brokers {
		id := strconv.Itoa(int(b.ID))
		for _, st := range []producer.BreakerState{producer.BreakerClosed, producer.BreakerHalfOpen, producer.BreakerOpen} {
			v := 0.0
			if b.Breaker == st {
				v = 1
			}
			gauge(c.breaker, v, id, st.String())
		}
	}
	gauge(c.conns, float64(s.Connections))

	d := s.Downtime
	counter(c.down, float64(d.WorkerDown))
	counter(c.up, float64(d.WorkerUp))
	counter(c.downSecs, d.Time.Seconds())
	counter(c.saved, float64(d.SavedMessages))
	counter(c.replayed, float64(d.ReplayedMessages))
	counter(c.full, float64(d.BufferFull))
	counter(c.fullMsgs, float64(d.BufferFullMessages))
	counter(c.unreachable, float64(d.BrokerUnreachable))
	counter(c.dropped, float64(s.EventsDropped))
}

// histogram sends h as a Prometheus histogram: cumulative bucket counts,
// the last bucket (+Inf) implied by the count.
func histogram(ch chan<- prometheus.Metric, d *prometheus.Desc, h producer.Histogram) {
	buckets := make(map[float64]uint64, len(h.Bounds))
	var cum uint64
	for i, b := range h.Bounds {
		cum += h.Counts[i]
		buckets[b] = cum
	}
	ch <- prometheus.MustNewConstHistogram(d, h.Count, h.Sum, buckets)
}
