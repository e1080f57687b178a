// Package mockbroker runs a cluster of Kafka brokers inside the test process,
// on loopback ports, for testing Kafka clients: merlin's producer, or any
// other client that speaks the Kafka protocol.
//
//	c, err := mockbroker.NewCluster(mockbroker.Brokers(3), mockbroker.Topic("events", 6))
//	if err != nil { ... }
//	defer c.Close()
//	// point the client at c.Addrs(), then:
//	c.Stop(2)                             // node 2 goes away
//	c.InjectError(mockbroker.APIProduce, "events", 0, 6, 3) // NOT_LEADER_OR_FOLLOWER x3
//	c.WaitForRecords(ctx, "events", 1000)
//	recs := c.Records("events", 0)
//
// The brokers are package broker's, with in-memory storage, sharing one
// broker.Cluster: every broker answers Metadata for the whole cluster, and
// each partition has one leader (the brokers take turns, partition after
// partition), which alone accepts its produces and fetches. There is no
// replication.
//
// Consumer groups work as on package broker: each group is coordinated by
// one of the brokers (FindCoordinator names it; the others answer
// NOT_COORDINATOR), and stopping that broker makes the group unreachable
// until it starts again (members whose session timed out meanwhile rejoin).
//
// # Faults
//
// Stop closes a broker's listener and connections, as if its process died:
// it keeps its place in the metadata and the leadership of its partitions
// (there is no failover), so clients find those partitions unreachable until
// Start brings the broker back on the same address, with everything it had
// stored, or MoveLeader moves them. Pause makes a broker accept connections
// and read requests but answer nothing until Resume; SetLatency delays each
// request; DropConnections cuts the open connections; InjectError makes the
// next n requests of a type on a partition fail with a Kafka error code;
// AddPartitions grows a topic.
//
// # Inspection
//
// Records returns what a partition stored, decoded, in offset order;
// ProduceRequests lists every produce request partition by partition (which
// broker received it, how many records its batch had, what was answered);
// WaitForRecords waits until a topic holds n records.
//
// # TLS and SASL
//
// TLS(cfg) and SASL(mechanisms, users) make the brokers a Kafka SASL_SSL
// (or SSL, or SASL_PLAINTEXT) listener, so that a client's authentication
// code paths can be tested: certificates from any test CA, PLAIN,
// SCRAM-SHA-256 and SCRAM-SHA-512 with Kafka's answers to wrong passwords
// (SASL_AUTHENTICATION_FAILED) and to requests before authentication (the
// connection is closed).
//
// Idempotent producers get Kafka's treatment (see package broker): a retried
// batch is answered with its first offset and stored once, so Records shows
// exactly what a consumer would read.
package mockbroker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/merlinkafka/merlin/broker"
	"github.com/merlinkafka/merlin/internal/kbatch"
)

// APIKey names a Kafka request type, for InjectError.
type APIKey = broker.APIKey

// Request types that InjectError applies to.
const (
	APIProduce     = broker.APIProduce
	APIFetch       = broker.APIFetch
	APIListOffsets = broker.APIListOffsets
	APIMetadata    = broker.APIMetadata
	// APIInitProducerID: inject with topic "" and AllPartitions.
	APIInitProducerID = broker.APIInitProducerID
)

// AllPartitions, as InjectError's partition, matches every partition of the
// topic.
const AllPartitions = broker.AllPartitions

// ErrUnknownBroker is returned for a broker id that is not in the cluster.
var ErrUnknownBroker = errors.New("mockbroker: unknown broker id")

type config struct {
	brokers           int
	topics            []topicSpec
	autoCreate        bool
	defaultPartitions int32
	logger            *slog.Logger
	security          security
}

type topicSpec struct {
	name       string
	partitions int32
}

// Option configures NewCluster.
type Option func(*config)

// Brokers sets the number of brokers, with node ids 1 to n. Default 1.
func Brokers(n int) Option { return func(c *config) { c.brokers = n } }

// Topic creates a topic with the given number of partitions at start.
func Topic(name string, partitions int32) Option {
	return func(c *config) { c.topics = append(c.topics, topicSpec{name, partitions}) }
}

// AutoCreate sets whether Metadata requests create the unknown topics they
// name, as Kafka's auto.create.topics.enable. Default true.
func AutoCreate(enabled bool) Option { return func(c *config) { c.autoCreate = enabled } }

// DefaultPartitions sets the partition count of auto-created topics.
// Default: the number of brokers, so that every broker leads one.
func DefaultPartitions(n int32) Option { return func(c *config) { c.defaultPartitions = n } }

// Logger sets where the brokers log (protocol errors, closed connections).
// Default: nowhere.
func Logger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// Cluster is a set of in-process brokers sharing one cluster state. Its
// methods are safe for concurrent use.
type Cluster struct {
	state *broker.Cluster
	log   *slog.Logger
	ids   []int32
	sec   security

	mu     sync.Mutex
	nodes  map[int32]*node
	closed bool

	eventsMu sync.Mutex
	requests []ProduceRequest
	stored   chan struct{} // closed and replaced when a batch is stored
}

type node struct {
	id      int32
	addr    string // fixed after the first start
	b       *broker.Broker
	paused  bool
	latency time.Duration
}

// NewCluster starts the brokers and creates the topics given as options.
func NewCluster(opts ...Option) (*Cluster, error) {
	cfg := config{brokers: 1, autoCreate: true, logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.brokers < 1 || cfg.brokers > 1000 {
		return nil, fmt.Errorf("mockbroker: Brokers(%d): need 1 to 1000", cfg.brokers)
	}
	if cfg.defaultPartitions == 0 {
		cfg.defaultPartitions = int32(cfg.brokers)
	}
	if err := cfg.security.prepare(); err != nil {
		return nil, err
	}
	c := &Cluster{
		log:    cfg.logger,
		sec:    cfg.security,
		nodes:  make(map[int32]*node),
		stored: make(chan struct{}),
	}
	state, err := broker.NewCluster(broker.ClusterConfig{
		ClusterID:               "mockbroker",
		DisableAutoCreateTopics: !cfg.autoCreate,
		DefaultPartitions:       cfg.defaultPartitions,
		Logger:                  cfg.logger,
		OnProduce:               c.onProduce,
	})
	if err != nil {
		return nil, fmt.Errorf("mockbroker: %w", err)
	}
	c.state = state
	for i := range cfg.brokers {
		id := int32(i + 1)
		c.ids = append(c.ids, id)
		n := &node{id: id, addr: "127.0.0.1:0"}
		c.nodes[id] = n
		if err := c.startLocked(n); err != nil {
			c.Close()
			return nil, err
		}
	}
	for _, t := range cfg.topics {
		if err := state.CreateTopic(t.name, t.partitions); err != nil {
			c.Close()
			return nil, fmt.Errorf("mockbroker: topic %q: %w", t.name, err)
		}
	}
	return c, nil
}

// startLocked starts a broker for n on its address. Callers hold c.mu (or
// own c exclusively).
func (c *Cluster) startLocked(n *node) error {
	bc := broker.Config{
		Listen:  n.addr,
		NodeID:  n.id,
		Logger:  c.log,
		Cluster: c.state,
	}
	c.sec.apply(&bc)
	b, err := broker.New(bc)
	if err != nil {
		return fmt.Errorf("mockbroker: broker %d: %w", n.id, err)
	}
	if n.paused {
		b.Pause()
	}
	b.SetLatency(n.latency)
	if err := b.Start(); err != nil {
		_ = b.Close()
		return fmt.Errorf("mockbroker: starting broker %d: %w", n.id, err)
	}
	n.b, n.addr = b, b.Addr()
	return nil
}

// Close stops every broker and releases the cluster. It is idempotent.
func (c *Cluster) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	for _, n := range c.nodes {
		if n.b != nil {
			if err := n.b.Close(); err != nil {
				c.log.Warn("closing broker", "node", n.id, "err", err)
			}
			n.b = nil
		}
	}
	if err := c.state.Close(); err != nil {
		c.log.Warn("closing cluster", "err", err)
	}
}

// Addrs returns the brokers' addresses ("127.0.0.1:port"), in node id
// order, stopped brokers included: a broker keeps its address across Stop
// and Start.
func (c *Cluster) Addrs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	addrs := make([]string, 0, len(c.ids))
	for _, id := range c.ids {
		addrs = append(addrs, c.nodes[id].addr)
	}
	return addrs
}

// Addr returns the address of one broker, "" for an unknown id.
func (c *Cluster) Addr(id int32) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.nodes[id]; n != nil {
		return n.addr
	}
	return ""
}

// BrokerIDs returns the node ids, 1 to n.
func (c *Cluster) BrokerIDs() []int32 { return slices.Clone(c.ids) }

// State returns the underlying broker.Cluster, for what this package does
// not wrap.
func (c *Cluster) State() *broker.Cluster { return c.state }

// withNode runs f on a broker's node under the lock.
func (c *Cluster) withNode(id int32, f func(n *node) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[id]
	switch {
	case n == nil:
		return fmt.Errorf("%w: %d", ErrUnknownBroker, id)
	case c.closed:
		return errors.New("mockbroker: cluster closed")
	}
	return f(n)
}

// Stop closes a broker: its listener and every connection. It keeps its
// address, its place in the metadata and its partitions' leadership (see the
// package documentation). Stopping a stopped broker does nothing.
func (c *Cluster) Stop(id int32) error {
	return c.withNode(id, func(n *node) error {
		if n.b == nil {
			return nil
		}
		err := n.b.Close()
		n.b = nil
		return err
	})
}

// Start restarts a stopped broker on its address, with what it stored,
// its pause state and its latency. Starting a running broker does nothing.
// It fails if another process took the port meanwhile.
func (c *Cluster) Start(id int32) error {
	return c.withNode(id, func(n *node) error {
		if n.b != nil {
			return nil
		}
		return c.startLocked(n)
	})
}

// Running reports whether a broker is started.
func (c *Cluster) Running(id int32) bool {
	running := false
	_ = c.withNode(id, func(n *node) error { running = n.b != nil; return nil })
	return running
}

// Pause makes a broker accept connections and read requests but answer
// none of them until Resume. It lasts across Stop and Start.
func (c *Cluster) Pause(id int32) error { return c.setPaused(id, true) }

// Resume makes a paused broker answer the requests it held and the next
// ones.
func (c *Cluster) Resume(id int32) error { return c.setPaused(id, false) }

// setPaused records whether a broker is paused, so that Start applies it
// too, and applies it to the running broker.
func (c *Cluster) setPaused(id int32, paused bool) error {
	return c.withNode(id, func(n *node) error {
		n.paused = paused
		switch {
		case n.b == nil:
		case paused:
			n.b.Pause()
		default:
			n.b.Resume()
		}
		return nil
	})
}

// SetLatency delays every request a broker handles by d (0: none). It
// lasts across Stop and Start.
func (c *Cluster) SetLatency(id int32, d time.Duration) error {
	return c.withNode(id, func(n *node) error {
		n.latency = d
		if n.b != nil {
			n.b.SetLatency(d)
		}
		return nil
	})
}

// DropConnections closes a broker's open connections; it keeps listening.
func (c *Cluster) DropConnections(id int32) error {
	return c.withNode(id, func(n *node) error {
		if n.b != nil {
			n.b.DropConnections()
		}
		return nil
	})
}

// OpenConnections returns how many client connections a broker has open (0
// when it is stopped or unknown).
func (c *Cluster) OpenConnections(id int32) int {
	open := 0
	_ = c.withNode(id, func(n *node) error {
		if n.b != nil {
			open = n.b.OpenConnections()
		}
		return nil
	})
	return open
}

// InjectError makes the next n requests of type api that name topic and
// partition (AllPartitions: any of its partitions), on whichever broker,
// fail with the Kafka error code (for example 6, NOT_LEADER_OR_FOLLOWER, or
// kerr.NotLeaderForPartition.Code). A refused produce stores nothing. See
// broker.Cluster.InjectError for how each request type reports it.
func (c *Cluster) InjectError(api APIKey, topic string, partition int32, code int16, n int) {
	c.state.InjectError(api, topic, partition, code, n)
}

// ClearInjectedErrors drops the injections not used up yet.
func (c *Cluster) ClearInjectedErrors() { c.state.ClearInjectedErrors() }

// CreateTopic creates a topic (partitions 0: the default count).
func (c *Cluster) CreateTopic(name string, partitions int32) error {
	return c.state.CreateTopic(name, partitions)
}

// MoveLeader makes broker to the leader of a partition and bumps its leader
// epoch; the old leader answers NOT_LEADER_OR_FOLLOWER from then on.
func (c *Cluster) MoveLeader(topic string, partition, to int32) error {
	return c.state.MoveLeader(topic, partition, to)
}

// AddPartitions grows a topic to total partitions.
func (c *Cluster) AddPartitions(topic string, total int32) error {
	return c.state.AddPartitions(topic, total)
}

// Leader returns the leader of a partition, -1 if there is no such
// partition.
func (c *Cluster) Leader(topic string, partition int32) int32 {
	id, err := c.state.Leader(topic, partition)
	if err != nil {
		return -1
	}
	return id
}

// Partitions returns a topic's partition count, 0 if it does not exist.
func (c *Cluster) Partitions(topic string) int32 {
	for _, t := range c.state.Topics() {
		if t.Name == topic {
			return t.Partitions
		}
	}
	return 0
}

// Record is a stored record.
type Record struct {
	Offset    int64
	Timestamp time.Time // millisecond precision, as Kafka stores it
	Key       []byte    // nil when the record had none
	Value     []byte
	Headers   []Header
}

// Header is a record header.
type Header struct {
	Key   string
	Value []byte
}

// Records returns the records a partition holds, in offset order (nil for
// an unknown partition). The slices are the caller's.
func (c *Cluster) Records(topic string, partition int32) []Record {
	start, _, err := c.state.Offsets(topic, partition)
	if err != nil {
		return nil
	}
	data, err := c.state.ReadBatches(topic, partition, start, math.MaxInt, nil)
	if err != nil {
		c.log.Error("reading records", "topic", topic, "partition", partition, "err", err)
		return nil
	}
	var out []Record
	for len(data) > 0 {
		batch, rest, h, err := kbatch.Next(data)
		if err != nil {
			c.log.Error("decoding stored batches", "topic", topic, "partition", partition, "err", err)
			break
		}
		data = rest
		if h.IsControl() {
			continue
		}
		recs, err := kbatch.Records(batch)
		if err != nil {
			c.log.Error("decoding stored records", "topic", topic, "partition", partition, "offset", h.BaseOffset, "err", err)
			continue
		}
		for _, r := range recs {
			rec := Record{Offset: r.Offset, Timestamp: time.UnixMilli(r.Timestamp), Key: r.Key, Value: r.Value}
			for _, hd := range r.Headers {
				rec.Headers = append(rec.Headers, Header{Key: hd.Key, Value: hd.Value})
			}
			out = append(out, rec)
		}
	}
	return out
}

// RecordCount returns how many records a topic holds, over all its
// partitions.
func (c *Cluster) RecordCount(topic string) int {
	total := 0
	for p := range c.Partitions(topic) {
		if start, next, err := c.state.Offsets(topic, p); err == nil {
			total += int(next - start)
		}
	}
	return total
}

// WaitForRecords waits until topic holds at least n records in total, or
// ctx ends.
func (c *Cluster) WaitForRecords(ctx context.Context, topic string, n int) error {
	for {
		c.eventsMu.Lock()
		stored := c.stored
		c.eventsMu.Unlock()
		got := c.RecordCount(topic)
		if got >= n {
			return nil
		}
		select {
		case <-stored:
		case <-ctx.Done():
			return fmt.Errorf("mockbroker: %d of %d records in %q: %w", got, n, topic, ctx.Err())
		}
	}
}

// ProduceRequest is one partition of one produce request, as a broker
// received and answered it.
type ProduceRequest struct {
	Broker    int32 // node id of the broker that received it
	Topic     string
	Partition int32
	Acks      int16
	Records   int // records in the batch (0 if it could not be parsed)
	Bytes     int // size of the batch
	// BaseOffset is where the batch was stored (or, for a retried
	// duplicate, where its first copy was), -1 when it was refused.
	BaseOffset int64
	Duplicate  bool  // a retry of a stored batch, answered but not stored again
	ErrorCode  int16 // Kafka error code answered, 0 for success
}

// ProduceRequests returns every produce request partition received so far,
// in arrival order.
func (c *Cluster) ProduceRequests() []ProduceRequest {
	c.eventsMu.Lock()
	defer c.eventsMu.Unlock()
	return slices.Clone(c.requests)
}

func (c *Cluster) onProduce(ev broker.ProduceEvent) {
	c.eventsMu.Lock()
	defer c.eventsMu.Unlock()
	c.requests = append(c.requests, ProduceRequest{
		Broker: ev.Node, Topic: ev.Topic, Partition: ev.Partition, Acks: ev.Acks,
		Records: ev.Records, Bytes: ev.Bytes, BaseOffset: ev.BaseOffset,
		Duplicate: ev.Duplicate, ErrorCode: ev.ErrorCode,
	})
	if ev.ErrorCode == 0 && !ev.Duplicate {
		close(c.stored)
		c.stored = make(chan struct{})
	}
}
