package broker

import (
	"crypto/rand"
	"errors"
	"fmt"
	"github.com/merlinkafka/merlin/internal/errs"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Errors returned by Cluster methods.
var (
	ErrUnknownTopicOrPartition = errors.New("broker: unknown topic or partition")
	ErrTopicExists             = errors.New("broker: topic already exists")
	ErrInvalidTopic            = errors.New("broker: invalid topic name")
	ErrInvalidPartitions       = errors.New("broker: invalid partition count")
	// ErrPartitionLimit: the topic would take the cluster over
	// ClusterConfig.MaxPartitionsTotal.
	ErrPartitionLimit = errors.New("broker: partition limit reached")
	ErrUnknownNode    = errors.New("broker: unknown node")
	ErrNodeInUse      = errors.New("broker: node id already served by a running broker")
)

// errClusterClosed is what a Cluster's methods return after Close: it
// matches ErrClosed.
var errClusterClosed = errs.Closed("broker: cluster closed")

// Cluster is the state that one or several brokers serve: topics and their
// partition logs, the leader of each partition, the node list, the producer
// id allocator and the idempotent producers' sequence state.
//
// A Broker created without Config.Cluster makes its own. Several brokers with
// distinct node ids share one by naming it in their Config: each then answers
// Metadata for the whole cluster, and Produce and Fetch only for the
// partitions it leads (NOT_LEADER_OR_FOLLOWER for the others).
//
// A node keeps its place in the node list and its partitions after its Broker
// is closed, as if its process had died and no failover had happened: clients
// find the leader unreachable until a Broker with the same node id serves it
// again (on the same address, which is what mockbroker's Start does) or
// MoveLeader moves the partitions away.
//
// Partitions are assigned leaders round robin over the registered nodes in
// node id order, continuing from topic to topic, so that leadership spreads.
type Cluster struct {
	cfg     ClusterConfig
	log     *slog.Logger
	storage Storage

	mu         sync.RWMutex
	nodes      map[int32]*node
	topics     map[string]*topic
	topicIDs   map[[16]byte]*topic
	nextLeader int
	closed     bool

	nextPID  atomic.Int64
	firstPID int64   // nextPID once restored, for ProducerIDsAllocated
	faults   *Faults // ClusterConfig.Faults; nil in production
	groups   *groupCoordinator
}

type node struct {
	id       int32
	host     string
	port     int32
	attached bool // a Broker object owns this id and is not closed
	running  bool // that Broker is listening
}

type topic struct {
	name       string
	id         [16]byte
	partitions []*partition
}

// NodeInfo describes one node of a cluster.
type NodeInfo struct {
	ID      int32
	Host    string // empty until the node's broker first listened
	Port    int32
	Running bool // a broker is listening for this node now
}

// NewCluster returns a cluster over cfg.Storage, restoring the topics the
// storage lists and the idempotent producer state their logs hold.
func NewCluster(cfg ClusterConfig) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	c := &Cluster{
		cfg:      cfg,
		log:      cfg.Logger,
		storage:  cfg.Storage,
		nodes:    make(map[int32]*node),
		topics:   make(map[string]*topic),
		topicIDs: make(map[[16]byte]*topic),
		faults:   cfg.Faults,
	}
	specs, err := c.storage.LoadTopics()
	if err != nil {
		return nil, fmt.Errorf("broker: loading topics: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range specs {
		if _, err := c.addTopicLocked(s.Name, s.Partitions, s.ID); err != nil {
			c.closeLogsLocked()
			return nil, fmt.Errorf("broker: restoring topic %q: %w", s.Name, err)
		}
	}
	for _, t := range c.topics {
		for _, p := range t.partitions {
			maxPID, err := p.rebuild()
			if err != nil {
				c.log.Error("rebuilding producer state", "topic", t.name, "partition", p.index, "err", err)
			}
			if maxPID >= c.nextPID.Load() {
				c.nextPID.Store(maxPID + 1)
			}
		}
	}
	c.firstPID = c.nextPID.Load()
	if c.groups, err = openGroups(c); err != nil {
		c.closeLogsLocked()
		return nil, err
	}
	return c, nil
}

// Close closes the storage. Brokers serving the cluster must be closed
// first. Close is idempotent.
func (c *Cluster) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	for _, t := range c.topics {
		for _, p := range t.partitions {
			p.closeWaiters()
		}
	}
	return errors.Join(c.groups.close(), c.storage.Close())
}

func (c *Cluster) closeLogsLocked() {
	for _, t := range c.topics {
		for _, p := range t.partitions {
			_ = p.log.Close()
		}
	}
}

// attachNode registers node id for a new Broker.
func (c *Cluster) attachNode(id int32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errClusterClosed
	}
	n := c.nodes[id]
	if n == nil {
		n = &node{id: id}
		c.nodes[id] = n
	}
	if n.attached {
		return fmt.Errorf("%w: node %d", ErrNodeInUse, id)
	}
	n.attached = true
	// Partitions restored or created before any node existed get one now.
	for _, t := range c.topics {
		for _, p := range t.partitions {
			if p.leader() < 0 {
				p.setLeader(c.pickLeaderLocked())
			}
		}
	}
	return nil
}

// nodeListening records the address a node's broker listens on.
func (c *Cluster) nodeListening(id int32, host string, port int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.nodes[id]; n != nil {
		n.host, n.port, n.running = host, port, true
	}
}

// detachNode marks a node's broker closed. The node keeps its partitions.
func (c *Cluster) detachNode(id int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.nodes[id]; n != nil {
		n.attached, n.running = false, false
	}
}

// Nodes lists the cluster's nodes in id order.
func (c *Cluster) Nodes() []NodeInfo {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]NodeInfo, 0, len(c.nodes))
	for _, n := range c.nodes {
		out = append(out, NodeInfo{ID: n.id, Host: n.host, Port: n.port, Running: n.running})
	}
	slices.SortFunc(out, func(a, b NodeInfo) int { return int(a.ID) - int(b.ID) })
	return out
}

// pickLeaderLocked returns the next node in round-robin order, or -1 when
// there are no nodes yet.
func (c *Cluster) pickLeaderLocked() int32 {
	if len(c.nodes) == 0 {
		return -1
	}
	ids := slices.Sorted(maps.Keys(c.nodes))
	id := ids[c.nextLeader%len(ids)]
	c.nextLeader++
	return id
}

// controllerLocked is the node Metadata names as controller: the lowest
// running node, else self.
func (c *Cluster) controllerLocked(self int32) int32 {
	ctl := int32(-1)
	for _, n := range c.nodes {
		if n.running && (ctl < 0 || n.id < ctl) {
			ctl = n.id
		}
	}
	if ctl < 0 {
		return self
	}
	return ctl
}

// validTopicName reports why name cannot be a Kafka topic name, or "".
func validTopicName(name string) string {
	switch {
	case name == "":
		return "empty name"
	case name == "." || name == "..":
		return fmt.Sprintf("%q is reserved", name)
	case len(name) > 249:
		return fmt.Sprintf("name of %d characters is longer than 249", len(name))
	}
	for i := 0; i < len(name); i++ {
		ch := name[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '.' || ch == '_' || ch == '-') {
			return fmt.Sprintf("character %q is not allowed (only ASCII letters, digits, '.', '_' and '-')", ch)
		}
	}
	return ""
}

// CreateTopic creates a topic with n partitions (n == 0: the cluster's
// default partition count).
func (c *Cluster) CreateTopic(name string, partitions int32) error {
	_, err := c.createTopic(name, partitions, false)
	return err
}

func (c *Cluster) createTopic(name string, partitions int32, validateOnly bool) ([16]byte, error) {
	return c.createTopicAssigned(name, partitions, nil, validateOnly)
}

// createTopicAssigned validates and creates a topic, with the given
// leaders (one per partition) or, when leaders is nil, round-robin ones.
// With validateOnly it stops before creating. It returns the topic's id.
func (c *Cluster) createTopicAssigned(name string, partitions int32, leaders []int32, validateOnly bool) ([16]byte, error) {
	if why := validTopicName(name); why != "" {
		return [16]byte{}, fmt.Errorf("%w: %s", ErrInvalidTopic, why)
	}
	if partitions == 0 || partitions == -1 {
		partitions = c.cfg.DefaultPartitions
	}
	if perTopic := c.cfg.MaxPartitionsPerTopic; partitions < 1 || partitions > perTopic {
		return [16]byte{}, fmt.Errorf("%w: %d is not in [1, %d] (MaxPartitionsPerTopic)", ErrInvalidPartitions, partitions, perTopic)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return [16]byte{}, errClusterClosed
	}
	if _, ok := c.topics[name]; ok {
		return [16]byte{}, fmt.Errorf("%w: %q", ErrTopicExists, name)
	}
	if err := c.checkTotalLocked(int(partitions)); err != nil {
		return [16]byte{}, err
	}
	for _, id := range leaders {
		if _, ok := c.nodes[id]; !ok {
			return [16]byte{}, fmt.Errorf("%w: %d", ErrUnknownNode, id)
		}
	}
	if validateOnly {
		return [16]byte{}, nil
	}
	t, err := c.addTopicLocked(name, partitions, [16]byte{})
	if err != nil {
		return [16]byte{}, err
	}
	for i, id := range leaders {
		t.partitions[i].setLeader(id)
	}
	if err := c.saveTopicsLocked(); err != nil {
		c.removeTopicLocked(t)
		return [16]byte{}, err
	}
	return t.id, nil
}

// checkTotalLocked returns an error wrapping ErrPartitionLimit when adding
// n partitions would take the cluster over MaxPartitionsTotal.
func (c *Cluster) checkTotalLocked(n int) error {
	limit := c.cfg.MaxPartitionsTotal
	if limit < 0 {
		return nil
	}
	have := 0
	for _, t := range c.topics {
		have += len(t.partitions)
	}
	if have+n > limit {
		return fmt.Errorf("%w: the cluster has %d partitions; %d more would be over MaxPartitionsTotal (%d)", ErrPartitionLimit, have, n, limit)
	}
	return nil
}

// addTopicLocked opens the partitions of a new topic and adds it to the
// maps. A zero id gets a random one.
func (c *Cluster) addTopicLocked(name string, partitions int32, id [16]byte) (*topic, error) {
	if id == ([16]byte{}) {
		id = newTopicID()
	}
	// Request decoding aliases names into reused buffers: own the string.
	t := &topic{name: strings.Clone(name), id: id}
	if err := c.growLocked(t, partitions); err != nil {
		for _, p := range t.partitions {
			_ = p.log.Close()
		}
		return nil, err
	}
	c.topics[t.name] = t
	c.topicIDs[t.id] = t
	return t, nil
}

func (c *Cluster) removeTopicLocked(t *topic) {
	for _, p := range t.partitions {
		_ = p.log.Close()
	}
	delete(c.topics, t.name)
	delete(c.topicIDs, t.id)
}

// growLocked opens partitions of t up to total.
func (c *Cluster) growLocked(t *topic, total int32) error {
	for i := int32(len(t.partitions)); i < total; i++ {
		l, err := c.storage.OpenPartition(t.name, i)
		if err != nil {
			return fmt.Errorf("opening partition %d of %q: %w", i, t.name, err)
		}
		t.partitions = append(t.partitions, newPartition(t, i, l, c.pickLeaderLocked()))
	}
	return nil
}

func (c *Cluster) saveTopicsLocked() error {
	specs := make([]TopicSpec, 0, len(c.topics))
	for _, t := range c.topics {
		specs = append(specs, TopicSpec{Name: t.name, ID: t.id, Partitions: int32(len(t.partitions))})
	}
	slices.SortFunc(specs, func(a, b TopicSpec) int { return strings.Compare(a.Name, b.Name) })
	if err := c.storage.SaveTopics(specs); err != nil {
		c.log.Error("saving topics", "err", err)
		return fmt.Errorf("broker: saving topics: %w", err)
	}
	return nil
}

func newTopicID() [16]byte {
	var id [16]byte
	_, _ = rand.Read(id[:])
	id[6] = id[6]&0x0f | 0x40 // version 4
	id[8] = id[8]&0x3f | 0x80 // RFC 4122 variant
	return id
}

// AddPartitions grows topic to total partitions. It returns an error wrapping
// ErrInvalidPartitions when total is not above the current count.
func (c *Cluster) AddPartitions(topic string, total int32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errClusterClosed
	}
	t := c.topics[topic]
	if t == nil {
		return fmt.Errorf("%w: %q", ErrUnknownTopicOrPartition, topic)
	}
	have := int32(len(t.partitions))
	if perTopic := c.cfg.MaxPartitionsPerTopic; total <= have || total > perTopic {
		return fmt.Errorf("%w: %q has %d partitions, asked for %d (at most %d, MaxPartitionsPerTopic)", ErrInvalidPartitions, topic, have, total, perTopic)
	}
	if err := c.checkTotalLocked(int(total - have)); err != nil {
		return err
	}
	if err := c.growLocked(t, total); err != nil {
		return err
	}
	return c.saveTopicsLocked()
}

// MoveLeader makes node to the leader of a partition and bumps the
// partition's leader epoch. Brokers then answer NOT_LEADER_OR_FOLLOWER for it
// except node to, and Metadata names to as leader.
func (c *Cluster) MoveLeader(topic string, partition, to int32) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if _, ok := c.nodes[to]; !ok {
		return fmt.Errorf("%w: %d", ErrUnknownNode, to)
	}
	p := c.partitionLocked(topic, partition)
	if p == nil {
		return fmt.Errorf("%w: %s/%d", ErrUnknownTopicOrPartition, topic, partition)
	}
	p.moveLeader(to)
	return nil
}

// Leader returns the leader node of a partition.
func (c *Cluster) Leader(topic string, partition int32) (int32, error) {
	p := c.partition(topic, partition)
	if p == nil {
		return -1, fmt.Errorf("%w: %s/%d", ErrUnknownTopicOrPartition, topic, partition)
	}
	return p.leader(), nil
}

// Topics lists the topics, sorted by name.
func (c *Cluster) Topics() []TopicSpec {
	c.mu.RLock()
	defer c.mu.RUnlock()
	specs := make([]TopicSpec, 0, len(c.topics))
	for _, t := range c.topics {
		specs = append(specs, TopicSpec{Name: t.name, ID: t.id, Partitions: int32(len(t.partitions))})
	}
	slices.SortFunc(specs, func(a, b TopicSpec) int { return strings.Compare(a.Name, b.Name) })
	return specs
}

// Offsets returns a partition's log start offset and next offset (the high
// watermark).
func (c *Cluster) Offsets(topic string, partition int32) (start, next int64, err error) {
	p := c.partition(topic, partition)
	if p == nil {
		return 0, 0, fmt.Errorf("%w: %s/%d", ErrUnknownTopicOrPartition, topic, partition)
	}
	return p.log.StartOffset(), p.log.NextOffset(), nil
}

// ReadBatches appends to dst the stored record batches of a partition from
// the one holding offset on, up to maxBytes (at least one batch), as a Fetch
// would return them.
func (c *Cluster) ReadBatches(topic string, partition int32, offset int64, maxBytes int, dst []byte) ([]byte, error) {
	p := c.partition(topic, partition)
	if p == nil {
		return dst, fmt.Errorf("%w: %s/%d", ErrUnknownTopicOrPartition, topic, partition)
	}
	return p.log.Read(offset, maxBytes, dst)
}

// partition looks a partition up.
func (c *Cluster) partition(topic string, partition int32) *partition {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.partitionLocked(topic, partition)
}

func (c *Cluster) partitionLocked(topic string, partition int32) *partition {
	t := c.topics[topic]
	if t == nil || partition < 0 || int(partition) >= len(t.partitions) {
		return nil
	}
	return t.partitions[partition]
}

// allocProducerID returns a fresh producer id.
func (c *Cluster) allocProducerID() int64 {
	return c.nextPID.Add(1) - 1
}

func (c *Cluster) onProduce(ev ProduceEvent) {
	if f := c.cfg.OnProduce; f != nil {
		f(ev)
	}
}

// ProduceEvent describes one partition of one produce request, as
// ClusterConfig.OnProduce receives it.
type ProduceEvent struct {
	Node      int32 // the broker that received the request
	Topic     string
	Partition int32
	Acks      int16
	// Records is the batch's record count (0 when it could not be parsed).
	Records int
	// Bytes is the size of the records field.
	Bytes int
	// BaseOffset is where the batch was stored, -1 when it was not.
	BaseOffset int64
	// Duplicate is true when the batch repeated one already stored (an
	// idempotent retry): it was answered with the first copy's offset and
	// not stored again.
	Duplicate bool
	// ErrorCode is the Kafka error code answered, 0 for success.
	ErrorCode    int16
	ProducerID   int64
	BaseSequence int32
}
