package broker

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/internal/kbatch"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// frame prefixes body with its length.
func frame(body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// header encodes a request header v1 with client id "bad".
func header(key, version int16, corr int32) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, 3)
	return append(b, "bad"...)
}

// Bad input closes the offending connection (or gets a Kafka error code)
// while a well-behaved kgo client keeps producing and consuming.
func TestBadInput(t *testing.T) {
	b := startBroker(t, Config{MaxRequestSize: 1 << 20, DefaultPartitions: 2})
	createTopic(t, b, "victim", 1)

	closes := []struct {
		name string
		send []byte
		// halfClose shuts the client's write side after sending, for
		// frames that announce more bytes than they carry.
		halfClose bool
	}{
		{"http garbage", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), false},
		{"random garbage", frame([]byte{0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09}), false},
		{"oversized frame", binary.BigEndian.AppendUint32(nil, 2<<20), false},
		{"negative length", []byte{0xff, 0xff, 0xff, 0xfe}, false},
		{"frame too short", frame([]byte{0, 18, 0}), false},
		{"truncated frame", append(binary.BigEndian.AppendUint32(nil, 100), header(18, 0, 1)...), true},
		{"truncated length", []byte{0, 0}, true},
		{"unknown api key", frame(header(999, 0, 1)), false},
		{"unsupported api key", frame(header(10, 0, 1)), false}, // FindCoordinator
		{"produce v2", frame(header(0, 2, 1)), false},
		{"produce v10", frame(header(0, 10, 1)), false},
		{"metadata v13", frame(header(3, 13, 1)), false},
		{"client id overrun", frame([]byte{0, 18, 0, 0, 0, 0, 0, 1, 0, 50, 'x'}), false},
		{"malformed body", frame(append(header(0, 7, 1), 0xff, 0xff, 0, 1)), false},
		{"bad tagged fields", frame(append(header(0, 9, 1), 0xff)), false},
	}

	var wg sync.WaitGroup
	for _, c := range closes {
		wg.Go(func() {
			if err := sendExpectClose(b.Addr(), c.send, c.halfClose); err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
		})
	}
	roundTrip(t, b.Addr(), "victim", 3000)
	wg.Wait()

	// A bad CRC gets CORRUPT_MESSAGE and the connection stays usable.
	rc := dialRaw(t, b.Addr())
	batch := buildBatch(t, 3, 1, nil)
	batch[len(batch)-1] ^= 0xff
	if p := rc.produce("victim", 0, batch); p.ErrorCode != kerr.CorruptMessage.Code {
		t.Fatalf("bad CRC: error %d, want CORRUPT_MESSAGE", p.ErrorCode)
	}
	// Two batches in one partition entry, a wrong magic, a record count
	// that disagrees with the offsets, no records: refused.
	two := append(buildBatch(t, 1, 1, nil), buildBatch(t, 1, 1, nil)...)
	magic := buildBatch(t, 1, 1, nil)
	magic[16] = 1
	for name, c := range map[string]struct {
		batch []byte
		code  int16
	}{
		"two batches":  {two, kerr.InvalidRecord.Code},
		"magic 1":      {magic, kerr.CorruptMessage.Code},
		"no records":   {nil, kerr.InvalidRecord.Code},
		"truncated":    {buildBatch(t, 3, 1, nil)[:40], kerr.CorruptMessage.Code},
		"unknown part": {buildBatch(t, 1, 1, nil), kerr.UnknownTopicOrPartition.Code},
	} {
		part := int32(0)
		if name == "unknown part" {
			part = 7
		}
		if p := rc.produce("victim", part, c.batch); p.ErrorCode != c.code {
			t.Errorf("%s: error %d, want %d", name, p.ErrorCode, c.code)
		}
	}
	req := produceReq(9, 5, "victim", 0, buildBatch(t, 1, 1, nil))
	if r := rc.do(req).(*kmsg.ProduceResponse); r.Topics[0].Partitions[0].ErrorCode != kerr.InvalidRequiredAcks.Code {
		t.Errorf("acks=5: error %d", r.Topics[0].Partitions[0].ErrorCode)
	}
	if _, next, _ := b.Cluster().Offsets("victim", 0); next != 3000 {
		t.Errorf("log end %d, want the 3000 good records only", next)
	}

	// An acks=0 produce that fails closes the connection (Kafka's way of
	// telling the client), one that succeeds gets no answer at all.
	rc.send(produceReq(7, 0, "victim", 0, batch))
	rc.expectClosed()
	rc = dialRaw(t, b.Addr())
	rc.send(produceReq(7, 0, "victim", 0, buildBatch(t, 1, 1, nil)))
	if r := rc.do(kmsg.NewPtrApiVersionsRequest()).(*kmsg.ApiVersionsResponse); r.ErrorCode != 0 {
		t.Fatalf("after acks=0: %+v", r)
	}
	if _, next, _ := b.Cluster().Offsets("victim", 0); next != 3001 {
		t.Errorf("log end %d after acks=0 produce, want 3001", next)
	}
	roundTrip(t, b.Addr(), "after", 100)
}

// sendExpectClose sends b on a new connection and checks that the broker
// closes it. It does not use t.Fatal: it runs on other goroutines.
func sendExpectClose(addr string, b []byte, halfClose bool) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write(b); err != nil {
		return err
	}
	if halfClose {
		if err := c.(*net.TCPConn).CloseWrite(); err != nil {
			return err
		}
	}
	if err := c.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return err
	}
	var buf [64]byte
	n, err := c.Read(buf[:])
	if n > 0 {
		return fmt.Errorf("got an answer (% x) instead of a closed connection", buf[:n])
	}
	if errors.Is(err, io.EOF) || isReset(err) {
		return nil
	}
	return fmt.Errorf("connection not closed: %v", err)
}

// Frames above the read chunk size are read as their bytes arrive: a large
// produce works, and a large frame that never arrives costs little.
func TestLargeFrames(t *testing.T) {
	b := startBroker(t, Config{MaxMessageBytes: -1}) // frames, not batch limits, are under test
	createTopic(t, b, "large", 1)
	rc := dialRaw(t, b.Addr())
	var bd kbatch.Builder
	big := bytes.Repeat([]byte("0123456789abcdef"), 3<<20/16) // 3 MiB
	bd.Add(1, []byte("k"), big)
	batch, err := bd.AppendBatch(nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := rc.produce("large", 0, batch); p.ErrorCode != 0 {
		t.Fatalf("3 MiB batch: %+v", p)
	}
	p := rc.fetchOne(11, "large", 0, 0, 0, 1, 1<<20, 1<<20)
	recs, err := kbatch.Records(p.RecordBatches)
	if err != nil || len(recs) != 1 || !bytes.Equal(recs[0].Value, big) {
		t.Fatalf("fetched %d records, %v", len(recs), err)
	}
	// 50 MiB announced, 10 bytes sent, then the client gives up.
	frame := append(binary.BigEndian.AppendUint32(nil, 50<<20), header(0, 9, 1)...)
	if err := sendExpectClose(b.Addr(), frame, true); err != nil {
		t.Fatal(err)
	}
}
