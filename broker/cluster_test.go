package broker

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// twoBrokers starts nodes 1 and 2 over one cluster.
func twoBrokers(t *testing.T) (*Cluster, *Broker, *Broker) {
	cl, err := NewCluster(ClusterConfig{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	b1 := startBroker(t, Config{Cluster: cl, NodeID: 1})
	b2 := startBroker(t, Config{Cluster: cl, NodeID: 2})
	return cl, b1, b2
}

func TestSharedClusterLeadership(t *testing.T) {
	cl, b1, b2 := twoBrokers(t)
	if err := cl.CreateTopic("shared", 4); err != nil {
		t.Fatal(err)
	}
	byNode := map[int32]*Broker{1: b1, 2: b2}
	leaders := map[int32]int{}
	for p := range int32(4) {
		l, err := cl.Leader("shared", p)
		if err != nil {
			t.Fatal(err)
		}
		leaders[l]++
		other := byNode[3-l]
		if r := dialRaw(t, other.Addr()).produce("shared", p, buildBatch(t, 1, 1, nil)); r.ErrorCode != kerr.NotLeaderForPartition.Code {
			t.Errorf("produce to partition %d on non-leader: error %d", p, r.ErrorCode)
		}
		if r := dialRaw(t, other.Addr()).fetchOne(12, "shared", p, 0, 0, 1, 1<<20, 1<<20); r.ErrorCode != kerr.NotLeaderForPartition.Code || r.CurrentLeader.LeaderID != l {
			t.Errorf("fetch partition %d on non-leader: %+v", p, r)
		}
		if r := dialRaw(t, byNode[l].Addr()).produce("shared", p, buildBatch(t, 1, 1, nil)); r.ErrorCode != 0 {
			t.Errorf("produce to partition %d on its leader: error %d", p, r.ErrorCode)
		}
	}
	if leaders[1] != 2 || leaders[2] != 2 {
		t.Errorf("leaders not spread: %v", leaders)
	}

	// Both brokers describe the whole cluster, the same way.
	meta := func(b *Broker) *kmsg.MetadataResponse {
		req := kmsg.NewPtrMetadataRequest()
		req.Version = 12
		return dialRaw(t, b.Addr()).do(req).(*kmsg.MetadataResponse)
	}
	m1, m2 := meta(b1), meta(b2)
	if len(m1.Brokers) != 2 || len(m2.Brokers) != 2 || m1.ControllerID != 1 || m2.ControllerID != 1 {
		t.Fatalf("brokers %+v / %+v, controllers %d / %d", m1.Brokers, m2.Brokers, m1.ControllerID, m2.ControllerID)
	}
	for i := range m1.Topics[0].Partitions {
		if m1.Topics[0].Partitions[i].Leader != m2.Topics[0].Partitions[i].Leader {
			t.Fatal("brokers disagree on leaders")
		}
	}

	// A closed broker stays in the metadata and keeps its partitions.
	addr1 := b1.Addr()
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}
	m := meta(b2)
	if len(m.Brokers) != 2 || m.Brokers[0].NodeID != 1 || m.ControllerID != 2 {
		t.Fatalf("after stopping node 1: brokers %+v, controller %d", m.Brokers, m.ControllerID)
	}
	if l, _ := cl.Leader("shared", 0); l != 1 && leaders[1] > 0 {
		t.Fatalf("node 1 lost its leadership")
	}
	// Restart on the same address.
	b1 = startBroker(t, Config{Cluster: cl, NodeID: 1, Listen: addr1})
	if b1.Addr() != addr1 {
		t.Fatalf("restarted on %s, want %s", b1.Addr(), addr1)
	}
	if _, err := New(Config{Cluster: cl, NodeID: 1}); !errors.Is(err, ErrNodeInUse) {
		t.Fatalf("second broker for node 1: %v, want ErrNodeInUse", err)
	}

	// Moving a leader.
	if err := cl.MoveLeader("shared", 0, 2); err != nil {
		t.Fatal(err)
	}
	if r := dialRaw(t, b2.Addr()).produce("shared", 0, buildBatch(t, 1, 1, nil)); r.ErrorCode != 0 {
		t.Errorf("produce to the new leader: error %d", r.ErrorCode)
	}
	if r := dialRaw(t, b1.Addr()).produce("shared", 0, buildBatch(t, 1, 1, nil)); r.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Errorf("produce to the old leader: error %d", r.ErrorCode)
	}
	if err := cl.MoveLeader("shared", 0, 9); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("move to unknown node: %v", err)
	}

	// Adding partitions.
	if err := cl.AddPartitions("shared", 6); err != nil {
		t.Fatal(err)
	}
	if err := cl.AddPartitions("shared", 6); !errors.Is(err, ErrInvalidPartitions) {
		t.Fatalf("shrinking: %v", err)
	}
	if got := meta(b2).Topics[0].Partitions; len(got) != 6 {
		t.Fatalf("%d partitions after AddPartitions", len(got))
	}
}

func TestInjectError(t *testing.T) {
	faults := new(Faults)
	cl, err := NewCluster(ClusterConfig{Faults: faults, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	b := startBroker(t, Config{Cluster: cl})
	createTopic(t, b, "inj", 2)
	rc := dialRaw(t, b.Addr())
	faults.InjectError(APIProduce, "inj", 0, kerr.NotLeaderForPartition.Code, 2)
	for i := range 3 {
		r := rc.produce("inj", 0, buildBatch(t, 1, 1, nil))
		want := kerr.NotLeaderForPartition.Code
		if i == 2 {
			want = 0
		}
		if r.ErrorCode != want {
			t.Fatalf("produce %d: error %d, want %d", i, r.ErrorCode, want)
		}
	}
	if _, next, _ := cl.Offsets("inj", 0); next != 1 {
		t.Fatalf("refused batches were stored: log end %d", next)
	}
	faults.InjectError(APIFetch, "inj", AllPartitions, kerr.UnknownLeaderEpoch.Code, 1)
	if r := rc.fetchOne(11, "inj", 1, 0, 0, 1, 1<<20, 1<<20); r.ErrorCode != kerr.UnknownLeaderEpoch.Code {
		t.Fatalf("fetch: error %d", r.ErrorCode)
	}
	faults.InjectError(APIMetadata, "inj", 1, kerr.LeaderNotAvailable.Code, 1)
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 9
	m := rc.do(req).(*kmsg.MetadataResponse)
	if m.Topics[0].Partitions[0].ErrorCode != 0 || m.Topics[0].Partitions[1].ErrorCode != kerr.LeaderNotAvailable.Code {
		t.Fatalf("metadata: %+v", m.Topics[0].Partitions)
	}
	faults.InjectError(APIListOffsets, "inj", 0, kerr.NotLeaderForPartition.Code, 5)
	faults.ClearInjectedErrors()
	if r := rc.fetchOne(11, "inj", 0, 0, 0, 1, 1<<20, 1<<20); r.ErrorCode != 0 {
		t.Fatalf("after clear: error %d", r.ErrorCode)
	}
}

func TestBrokerLifecycle(t *testing.T) {
	b, err := New(Config{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if b.Addr() != "" {
		t.Fatal("address before Start")
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); !errors.Is(err, ErrStarted) {
		t.Fatalf("second Start: %v", err)
	}
	// A port in use is reported.
	b2, err := New(Config{Listen: b.Addr(), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := b2.Start(); err == nil {
		t.Fatal("Start on a port in use succeeded")
	}
	_ = b2.Close()

	// A waiting fetch and an idle connection do not hold Close up.
	createTopic(t, b, "close", 1)
	rc := dialRaw(t, b.Addr())
	rc.send(fetchReq(11, "close", 0, 0, 600_000, 1, 1<<20, 1<<20))
	idle := dialRaw(t, b.Addr())
	idle.do(kmsg.NewPtrApiVersionsRequest())
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if n := b.OpenConnections(); n != 0 {
		t.Fatalf("%d connections after Close", n)
	}
	rc.expectClosed()
	idle.expectClosed()
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := b.Start(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
	if _, err := net.Dial("tcp", rc.conn.RemoteAddr().String()); err == nil {
		t.Fatal("still listening after Close")
	}
}

func TestConfigValidate(t *testing.T) {
	cl, err := NewCluster(ClusterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, c := range []struct {
		cfg   Config
		field string
	}{
		{Config{Listen: "nope"}, "Listen"},
		{Config{NodeID: -1}, "NodeID"},
		{Config{AdvertisedPort: 70000}, "AdvertisedPort"},
		{Config{MaxRequestSize: -1}, "MaxRequestSize"},
		{Config{DefaultPartitions: -2}, "DefaultPartitions"},
		{Config{DefaultPartitions: MaxPartitions + 1}, "DefaultPartitions"},
		{Config{Cluster: cl, Storage: NewMemoryStorage()}, "Storage"},
		{Config{Cluster: cl, DisableAutoCreateTopics: true}, "DisableAutoCreateTopics"},
		{Config{Cluster: cl, DefaultPartitions: 3}, "DefaultPartitions"},
		{Config{MaxConnections: -1}, "MaxConnections"},
		{Config{MaxConnectionsPerIP: -1}, "MaxConnectionsPerIP"},
		{Config{MaxPartitionsPerTopic: MaxPartitions + 1}, "MaxPartitionsPerTopic"},
		{Config{MaxPartitionsPerTopic: 2, DefaultPartitions: 3}, "DefaultPartitions"},
		{Config{Cluster: cl, MaxPartitionsPerTopic: 3}, "MaxPartitionsPerTopic"},
		{Config{Cluster: cl, MaxPartitionsTotal: 3}, "MaxPartitionsTotal"},
	} {
		err := c.cfg.Validate()
		if !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v, want ErrConfig", c.cfg, err)
			continue
		}
		if want := ": " + c.field + ":"; !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, c.field)
		}
		if _, err := New(c.cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%+v): %v", c.cfg, err)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero Config: %v", err)
	}
}

// failingStorage fails SaveTopics.
type failingStorage struct{ Storage }

func (failingStorage) SaveTopics([]TopicSpec) error { return errors.New("disk full") }

// A topic the storage cannot record is not created.
func TestCreateTopicStorageFailure(t *testing.T) {
	b := startBroker(t, Config{Storage: failingStorage{NewMemoryStorage()}})
	if b.NodeID() != 0 {
		t.Fatal(b.NodeID())
	}
	rc := dialRaw(t, b.Addr())
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version = 5
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "doomed", 2, 1
	req.Topics = append(req.Topics, rt)
	if r := rc.do(req).(*kmsg.CreateTopicsResponse); r.Topics[0].ErrorCode != kerr.KafkaStorageError.Code {
		t.Fatalf("error %d, want KAFKA_STORAGE_ERROR", r.Topics[0].ErrorCode)
	}
	if len(b.Cluster().Topics()) != 0 {
		t.Fatal("topic created despite the storage failure")
	}
	// Auto-creation failing answers a retriable error.
	meta := kmsg.NewPtrMetadataRequest()
	meta.Version = 4
	name := "doomed"
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = &name
	meta.Topics = append(meta.Topics, mt)
	meta.AllowAutoTopicCreation = true
	if r := rc.do(meta).(*kmsg.MetadataResponse); r.Topics[0].ErrorCode != kerr.LeaderNotAvailable.Code {
		t.Fatalf("auto-create failure: error %d", r.Topics[0].ErrorCode)
	}
}
