package broker

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/internal/kbatch"
	"github.com/merlinkafka/merlin/internal/testkit"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// testLogger logs to the test's output at warning level and above (debug
// with -v -args -debug is not worth a flag here).
func testLogger(t testing.TB) *slog.Logger { return testkit.Logger(t) }

// startBroker starts a broker on loopback and closes it when the test ends.
func startBroker(t testing.TB, cfg Config) *Broker {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return b
}

// newClient returns a kgo client for the broker, closed when the test ends.
func newClient(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return testkit.Kgo(t, []string{addr}, opts...)
}

func testContext(t testing.TB) context.Context { return testkit.Context(t, time.Minute) }

// rawClient speaks the protocol over a plain TCP connection, for requests
// kgo would not send.
type rawClient struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
	corr int32
	f    *kmsg.RequestFormatter
}

func dialRaw(t testing.TB, addr string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rawClient{t: t, conn: c, r: bufio.NewReader(c), f: kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw"))}
}

// send writes req framed with the next correlation id.
func (rc *rawClient) send(req kmsg.Request) int32 {
	rc.t.Helper()
	rc.corr++
	if _, err := rc.conn.Write(rc.f.AppendRequest(nil, req, rc.corr)); err != nil {
		rc.t.Fatal(err)
	}
	return rc.corr
}

// read reads one answer to req (sent with correlation id corr).
func (rc *rawClient) read(req kmsg.Request, corr int32) (kmsg.Response, error) {
	_ = rc.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(rc.r, size[:]); err != nil {
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(rc.r, body); err != nil {
		return nil, err
	}
	if got := int32(binary.BigEndian.Uint32(body)); got != corr {
		return nil, fmt.Errorf("correlation id %d, want %d", got, corr)
	}
	body = body[4:]
	resp := req.ResponseKind()
	if resp.IsFlexible() && req.Key() != 18 {
		var err error
		if body, err = skipTags(body); err != nil {
			return nil, err
		}
	}
	return resp, resp.ReadFrom(body)
}

// do sends req and reads its answer, failing the test on error.
func (rc *rawClient) do(req kmsg.Request) kmsg.Response {
	rc.t.Helper()
	resp, err := rc.read(req, rc.send(req))
	if err != nil {
		rc.t.Fatalf("%s v%d: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp
}

// expectClosed checks that the broker closed the connection.
func (rc *rawClient) expectClosed() {
	rc.t.Helper()
	_ = rc.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	var b [1]byte
	_, err := rc.r.Read(b[:])
	if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		rc.t.Fatalf("connection not closed by the broker: read returned %v", err)
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

// buildBatch encodes a batch of n records "k<i>"/"v<i>" with timestamps ts0+i.
func buildBatch(t testing.TB, n int, ts0 int64, setup func(*kbatch.Builder)) []byte {
	t.Helper()
	var bd kbatch.Builder
	if setup != nil {
		setup(&bd)
	}
	for i := range n {
		bd.Add(ts0+int64(i), fmt.Appendf(nil, "k%d", i), fmt.Appendf(nil, "v%d", i))
	}
	b, err := bd.AppendBatch(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// produceReq builds a produce request of one batch to one partition.
func produceReq(version int16, acks int16, topic string, partition int32, batch []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version = version
	req.Acks = acks
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// produce sends one batch and returns the partition's answer.
func (rc *rawClient) produce(topic string, partition int32, batch []byte) kmsg.ProduceResponseTopicPartition {
	rc.t.Helper()
	resp := rc.do(produceReq(9, -1, topic, partition, batch)).(*kmsg.ProduceResponse)
	return resp.Topics[0].Partitions[0]
}

// fetchReq builds a fetch of one partition.
func fetchReq(version int16, topic string, partition int32, offset int64, maxWait, minBytes, maxBytes, partMax int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version = version
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = maxWait, minBytes, maxBytes
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = partition, offset, partMax
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// createTopic creates a topic through the cluster.
func createTopic(t testing.TB, b *Broker, name string, partitions int32) {
	t.Helper()
	if err := b.Cluster().CreateTopic(name, partitions); err != nil {
		t.Fatal(err)
	}
}
