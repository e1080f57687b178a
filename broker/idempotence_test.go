package broker

import (
	"testing"

	"github.com/merlinkafka/merlin/internal/kbatch"
	"github.com/twmb/franz-go/pkg/kerr"
)

// idemBatch builds an idempotent batch of n records.
func idemBatch(t *testing.T, pid int64, epoch int16, seq int32, n int) []byte {
	return buildBatch(t, n, 1, func(bd *kbatch.Builder) { bd.SetProducer(pid, epoch, seq) })
}

func TestIdempotentProduce(t *testing.T) {
	b := startBroker(t, Config{})
	createTopic(t, b, "idem", 1)
	rc := dialRaw(t, b.Addr())
	next := func() int64 {
		_, n, _ := b.Cluster().Offsets("idem", 0)
		return n
	}
	steps := []struct {
		name  string
		batch []byte
		code  int16
		base  int64 // expected base offset when code == 0
		next  int64 // expected log end after the step
	}{
		{"first", idemBatch(t, 7, 0, 0, 5), 0, 0, 5},
		{"second", idemBatch(t, 7, 0, 5, 3), 0, 5, 8},
		{"retry of the first", idemBatch(t, 7, 0, 0, 5), 0, 0, 8},
		{"retry of the second", idemBatch(t, 7, 0, 5, 3), 0, 5, 8},
		{"gap", idemBatch(t, 7, 0, 20, 1), kerr.OutOfOrderSequenceNumber.Code, 0, 8},
		{"overlap", idemBatch(t, 7, 0, 6, 4), kerr.OutOfOrderSequenceNumber.Code, 0, 8},
		{"third", idemBatch(t, 7, 0, 8, 2), 0, 8, 10},
		{"other producer, any sequence", idemBatch(t, 8, 3, 100, 1), 0, 10, 11},
		{"new epoch not at 0", idemBatch(t, 7, 1, 10, 1), kerr.OutOfOrderSequenceNumber.Code, 0, 11},
		{"new epoch at 0", idemBatch(t, 7, 1, 0, 1), 0, 11, 12},
		{"stale epoch", idemBatch(t, 7, 0, 10, 1), kerr.InvalidProducerEpoch.Code, 0, 12},
		{"non-idempotent", buildBatch(t, 2, 1, nil), 0, 12, 14},
		{"producer id without sequence", idemBatch(t, 7, 1, -1, 1), kerr.InvalidRecord.Code, 0, 14},
	}
	for _, s := range steps {
		p := rc.produce("idem", 0, s.batch)
		if p.ErrorCode != s.code || s.code == 0 && p.BaseOffset != s.base {
			t.Fatalf("%s: error %d base %d, want error %d base %d", s.name, p.ErrorCode, p.BaseOffset, s.code, s.base)
		}
		if n := next(); n != s.next {
			t.Fatalf("%s: log end %d, want %d", s.name, n, s.next)
		}
	}

	// Only the last five batches of a producer are remembered.
	for i := range 6 {
		if p := rc.produce("idem", 0, idemBatch(t, 9, 0, int32(i), 1)); p.ErrorCode != 0 {
			t.Fatalf("batch %d: %+v", i, p)
		}
	}
	if p := rc.produce("idem", 0, idemBatch(t, 9, 0, 1, 1)); p.ErrorCode != 0 || p.BaseOffset != 15 {
		t.Fatalf("retry of the 2nd of 6: %+v, want base 15", p)
	}
	if p := rc.produce("idem", 0, idemBatch(t, 9, 0, 0, 1)); p.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("retry of the 1st of 6 (forgotten): error %d, want OUT_OF_ORDER_SEQUENCE_NUMBER", p.ErrorCode)
	}
}

// The idempotence state lives in the cluster: a new Broker for the same node
// (a restart) still recognises a retry.
func TestIdempotenceSurvivesBrokerRestart(t *testing.T) {
	cl, err := NewCluster(ClusterConfig{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	b1 := startBroker(t, Config{Cluster: cl})
	createTopic(t, b1, "restart", 1)
	batch := idemBatch(t, 3, 0, 0, 4)
	if p := dialRaw(t, b1.Addr()).produce("restart", 0, batch); p.ErrorCode != 0 {
		t.Fatal(p)
	}
	addr := b1.Addr()
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}
	b2 := startBroker(t, Config{Cluster: cl, Listen: addr})
	if p := dialRaw(t, b2.Addr()).produce("restart", 0, batch); p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("retry after restart: %+v", p)
	}
	if _, next, _ := cl.Offsets("restart", 0); next != 4 {
		t.Fatalf("log end %d, want 4", next)
	}
}

// keepStorage is a Storage whose Close does nothing, to reopen the same
// memory storage in a new cluster, as a process restart over a disk store
// would.
type keepStorage struct{ Storage }

func (keepStorage) Close() error { return nil }

// A new cluster over existing storage restores the topics, the producer
// state (from the batch headers) and the producer id allocator.
func TestClusterRestoresFromStorage(t *testing.T) {
	st := keepStorage{NewMemoryStorage()}
	b1 := startBroker(t, Config{Storage: st})
	createTopic(t, b1, "kept", 2)
	id := b1.Cluster().Topics()[0].ID
	batch := idemBatch(t, 41, 0, 0, 3)
	rc := dialRaw(t, b1.Addr())
	rc.produce("kept", 1, buildBatch(t, 2, 1, nil))
	if p := rc.produce("kept", 1, batch); p.ErrorCode != 0 || p.BaseOffset != 2 {
		t.Fatal(p)
	}
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}

	b2 := startBroker(t, Config{Storage: st, NodeID: 4})
	topics := b2.Cluster().Topics()
	if len(topics) != 1 || topics[0].Name != "kept" || topics[0].Partitions != 2 || topics[0].ID != id {
		t.Fatalf("restored topics %+v", topics)
	}
	if leader, _ := b2.Cluster().Leader("kept", 1); leader != 4 {
		t.Fatalf("leader %d, want the new node 4", leader)
	}
	rc = dialRaw(t, b2.Addr())
	if p := rc.produce("kept", 1, batch); p.ErrorCode != 0 || p.BaseOffset != 2 {
		t.Fatalf("retry after reopening: %+v, want base 2", p)
	}
	if p := rc.produce("kept", 1, idemBatch(t, 41, 0, 5, 1)); p.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("gap after reopening: error %d", p.ErrorCode)
	}
	if pid := b2.Cluster().allocProducerID(); pid <= 41 {
		t.Fatalf("allocated producer id %d, reusing stored ones", pid)
	}
}
