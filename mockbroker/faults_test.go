package mockbroker_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/mockbroker"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// connectHook reports kgo's failed connections to one node.
type connectHook struct {
	node   int32
	failed chan struct{}
}

func (h *connectHook) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err != nil && meta.NodeID == h.node {
		select {
		case h.failed <- struct{}{}:
		default:
		}
	}
}

// A broker stops while kgo produces and comes back: kgo reconnects, every
// record arrives, once.
func TestStopStartWhileProducing(t *testing.T) {
	const n = 3000
	c := newCluster(t, mockbroker.Brokers(3), mockbroker.Topic("resilient", 3))
	ctx := testContext(t)
	victim := c.Leader("resilient", 0)
	hook := &connectHook{node: victim, failed: make(chan struct{}, 1)}
	cl := newKgo(t, c, kgo.WithHooks(hook), kgo.MetadataMinAge(10*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond }))

	produceKgo(t, ctx, cl, "resilient", 0, n/3)
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(victim); err != nil {
		t.Fatal(err)
	}
	if c.Running(victim) || c.OpenConnections(victim) != 0 {
		t.Fatal("stopped broker still running")
	}
	produceKgo(t, ctx, cl, "resilient", n/3, 2*n/3)
	select { // kgo has tried the stopped broker and failed
	case <-hook.failed:
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	// The data stays readable while the broker is down.
	if len(c.Records("resilient", 0)) == 0 {
		t.Fatal("no records for partition 0 while its leader is stopped")
	}
	if err := c.Start(victim); err != nil {
		t.Fatal(err)
	}
	produceKgo(t, ctx, cl, "resilient", 2*n/3, n)
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitForRecords(ctx, "resilient", n); err != nil {
		t.Fatal(err)
	}
	checkStored(t, c, "resilient", n)
	if c.Leader("resilient", 0) != victim {
		t.Fatal("the stopped broker lost its leadership")
	}
}

// metadataCounter counts the Metadata requests kgo writes.
type metadataCounter struct{ n atomic.Int32 }

func (m *metadataCounter) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == 3 && err == nil {
		m.n.Add(1)
	}
}

// An injected NOT_LEADER_OR_FOLLOWER makes kgo refresh its metadata and
// retry until it succeeds.
func TestInjectNotLeader(t *testing.T) {
	c := newCluster(t, mockbroker.Brokers(2), mockbroker.Topic("inject", 2))
	ctx := testContext(t)
	meta := &metadataCounter{}
	cl := newKgo(t, c, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.WithHooks(meta),
		kgo.MetadataMinAge(10*time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond }))
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "inject", Partition: 1, Value: []byte("warm")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	before := meta.n.Load()
	c.InjectError(mockbroker.APIProduce, "inject", 1, kerr.NotLeaderForPartition.Code, 2)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "inject", Partition: 1, Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var codes []int16
	for _, pr := range c.ProduceRequests() {
		codes = append(codes, pr.ErrorCode)
	}
	if len(codes) != 4 || codes[1] != kerr.NotLeaderForPartition.Code || codes[2] != kerr.NotLeaderForPartition.Code || codes[3] != 0 {
		t.Fatalf("answers %v, want [0 6 6 0]", codes)
	}
	if meta.n.Load() == before {
		t.Fatal("kgo did not refresh its metadata")
	}
	if recs := c.Records("inject", 1); len(recs) != 2 || string(recs[1].Value) != "x" {
		t.Fatalf("stored %+v", recs)
	}
}

func TestMoveLeaderAndAddPartitions(t *testing.T) {
	c := newCluster(t, mockbroker.Brokers(3), mockbroker.Topic("moving", 1))
	ctx := testContext(t)
	cl := newKgo(t, c, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MetadataMinAge(10*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond }))
	produce := func(p int32, v string) {
		t.Helper()
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "moving", Partition: p, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produce(0, "a")
	from := c.Leader("moving", 0)
	to := from%3 + 1
	if err := c.MoveLeader("moving", 0, to); err != nil {
		t.Fatal(err)
	}
	produce(0, "b")
	reqs := c.ProduceRequests()
	if last := reqs[len(reqs)-1]; last.Broker != to || last.ErrorCode != 0 {
		t.Fatalf("last produce %+v, want success on broker %d", last, to)
	}

	if err := c.AddPartitions("moving", 4); err != nil {
		t.Fatal(err)
	}
	if got := c.Partitions("moving"); got != 4 {
		t.Fatalf("%d partitions", got)
	}
	cl = newKgo(t, c, kgo.RecordPartitioner(kgo.ManualPartitioner())) // sees the new partitions
	produce(3, "c")
	if recs := c.Records("moving", 3); len(recs) != 1 {
		t.Fatalf("new partition holds %d records", len(recs))
	}
	if err := c.MoveLeader("moving", 0, 42); err == nil {
		t.Fatal("moved a leader to an unknown broker")
	}
	if err := c.Stop(42); !errors.Is(err, mockbroker.ErrUnknownBroker) {
		t.Fatalf("Stop(42): %v", err)
	}
}

// rawConn sends ApiVersions v0 on a plain connection.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rawConn{c, bufio.NewReader(c)}
}

func (c *rawConn) sendApiVersions(t *testing.T) {
	t.Helper()
	req := kmsg.NewPtrApiVersionsRequest()
	if _, err := c.Write(kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)); err != nil {
		t.Fatal(err)
	}
}

// readAnswer reads one answer frame, failing after timeout.
func (c *rawConn) readAnswer(timeout time.Duration) error {
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	var size [4]byte
	if _, err := io.ReadFull(c.r, size[:]); err != nil {
		return err
	}
	_, err := io.ReadFull(c.r, make([]byte, binary.BigEndian.Uint32(size[:])))
	return err
}

func TestPauseResume(t *testing.T) {
	c := newCluster(t, mockbroker.Brokers(2))
	if err := c.Pause(1); err != nil {
		t.Fatal(err)
	}
	conn := dial(t, c.Addr(1))
	conn.sendApiVersions(t)
	var netErr net.Error
	if err := conn.readAnswer(100 * time.Millisecond); !errors.As(err, &netErr) || !netErr.Timeout() {
		t.Fatalf("paused broker answered: %v", err)
	}
	// Pausing one broker does not pause the other.
	other := dial(t, c.Addr(2))
	other.sendApiVersions(t)
	if err := other.readAnswer(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.Resume(1); err != nil {
		t.Fatal(err)
	}
	if err := conn.readAnswer(30 * time.Second); err != nil {
		t.Fatalf("held request not answered after Resume: %v", err)
	}

	// A pause lasts across Stop and Start.
	if err := c.Pause(1); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(1); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(1); err != nil {
		t.Fatal(err)
	}
	conn = dial(t, c.Addr(1))
	conn.sendApiVersions(t)
	if err := conn.readAnswer(100 * time.Millisecond); err == nil {
		t.Fatal("restarted broker forgot its pause")
	}
	if err := c.Resume(1); err != nil {
		t.Fatal(err)
	}
	if err := conn.readAnswer(30 * time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestLatency(t *testing.T) {
	c := newCluster(t)
	const d = 100 * time.Millisecond
	if err := c.SetLatency(1, d); err != nil {
		t.Fatal(err)
	}
	conn := dial(t, c.Addr(1))
	start := time.Now()
	conn.sendApiVersions(t)
	if err := conn.readAnswer(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < d {
		t.Fatalf("answered in %v, before the %v latency", took, d)
	}
	if err := c.SetLatency(1, 0); err != nil {
		t.Fatal(err)
	}
}

func TestDropConnections(t *testing.T) {
	c := newCluster(t, mockbroker.Brokers(2), mockbroker.Topic("drop", 1))
	ctx := testContext(t)
	leader := c.Leader("drop", 0)
	cl := newKgo(t, c, kgo.DefaultProduceTopic("drop"))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("1")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if n := c.OpenConnections(leader); n < 1 {
		t.Fatalf("%d connections to the leader", n)
	}
	if err := c.DropConnections(leader); err != nil {
		t.Fatal(err)
	}
	if n := c.OpenConnections(leader); n != 0 {
		t.Fatalf("%d connections after DropConnections", n)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("2")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if n := c.OpenConnections(leader); n < 1 {
		t.Fatalf("kgo did not reconnect: %d connections", n)
	}
	if got := c.RecordCount("drop"); got != 2 {
		t.Fatalf("%d records", got)
	}
}

func TestAutoCreate(t *testing.T) {
	ctx := testContext(t)
	metadata := func(c *mockbroker.Cluster, topic string) kmsg.MetadataResponseTopic {
		t.Helper()
		cl := newKgo(t, c)
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = &topic
		req.Topics = append(req.Topics, rt)
		req.AllowAutoTopicCreation = true
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0]
	}
	on := newCluster(t, mockbroker.Brokers(3))
	if mt := metadata(on, "auto"); mt.ErrorCode != 0 || len(mt.Partitions) != 3 {
		t.Fatalf("auto-created: %+v", mt)
	}
	off := newCluster(t, mockbroker.AutoCreate(false))
	if mt := metadata(off, "auto"); mt.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("auto-creation off: %+v", mt)
	}
	sized := newCluster(t, mockbroker.DefaultPartitions(5))
	if mt := metadata(sized, "auto"); len(mt.Partitions) != 5 {
		t.Fatalf("DefaultPartitions(5): %d partitions", len(mt.Partitions))
	}
}

func TestWaitForRecords(t *testing.T) {
	c := newCluster(t, mockbroker.Topic("wait", 2))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.WaitForRecords(ctx, "wait", 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
	ctx = testContext(t)
	cl := newKgo(t, c, kgo.DefaultProduceTopic("wait"))
	done := make(chan error, 1)
	go func() { done <- c.WaitForRecords(ctx, "wait", 50) }()
	for i := range 50 {
		cl.Produce(ctx, &kgo.Record{Value: []byte{byte(i)}}, nil)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, pr := range c.ProduceRequests() {
		total += pr.Records
		if pr.Topic != "wait" || pr.Acks != -1 || pr.Broker != 1 || pr.ErrorCode != 0 || pr.BaseOffset < 0 {
			t.Fatalf("request %+v", pr)
		}
	}
	if total != 50 {
		t.Fatalf("produce requests carried %d records", total)
	}
	for _, n := range []int{-1, 1001} {
		_, err := mockbroker.NewCluster(mockbroker.Brokers(n))
		var ce *mockbroker.ConfigError
		if !errors.Is(err, mockbroker.ErrConfig) || !errors.As(err, &ce) || ce.Field != "Brokers" {
			t.Fatalf("Brokers(%d): %v, want a ConfigError for Brokers", n, err)
		}
	}
}
