package broker

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/merlinkafka/merlin/internal/kbatch"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// capturedFrames are request frames recorded from real clients (through a
// proxy in front of this broker) producing one record to topic "seed" and
// consuming it: franz-go v1.22.2, sarama v1.61.1 with Version V2_8_0_0, and
// librdkafka 2.0.2 (kcat -P, then kcat -C -e).
var capturedFrames = []string{
	// kgo Produce v9
	"00000072000000090000000100036b676f0000ffff0000271002057365656402000000004f000000000000000000000042ffffffff020cbc2c6c000000000000000001a20171eed9000001a20171eed900000000000000000000000000000000000120000000026b0a68656c6c6f0202680276000000",
	// kgo Fetch v18
	"0000005a000100120000000100036b676f000000138800000001032000000000000000000000000219ae125b773e45958238ff83884ee6e60200000000ffffffff0000000000000000ffffffffffffffffffffffff001000000000010100",
	// kgo ListOffsets v7
	"0000002d000200070000000200036b676f00ffffffff000205736565640200000000fffffffffffffffffffffffe000000",
	// kgo Metadata v12
	"000000280003000c0000000200036b676f000200000000000000000000000000000000057365656400010000",
	// kgo ApiVersions v3
	"0000001b001200030000000100036b676f00046b676f08756e6b6e6f776e00",
	// kgo ApiVersions v5 (answered with the v0 downgrade)
	"00000020001200050000000000036b676f00046b676f08756e6b6e6f776e00ffffffff00",
	// kgo InitProducerId v4
	"0000001e001600040000000300036b676f000000000000ffffffffffffffffffff00",
	// sarama Produce v9
	"0000007100000009000000020006736172616d61000000010000271002057365656402000000004b00000000000000000000003e000000000241595947000000000000000001a20171efb6000001a20171efb6ffffffffffffffffffff000000000000000118000000026b0a68656c6c6f00000000",
	// sarama Fetch v12
	"000000560001000c000000030006736172616d6100ffffffff000001f400000001032000000000000000ffffffff0205736565640200000000000000000000000000000000ffffffff0000000000000000001000000000010100",
	// sarama ListOffsets v6
	"0000003000020006000000010006736172616d6100ffffffff000205736565640200000000ffffffffffffffffffffffff000000",
	// sarama Metadata v11
	"000000150003000b000000010006736172616d610000000000",
	// sarama ApiVersions v3
	"0000001d00120003000000000006736172616d610007736172616d610464657600",
	// librdkafka (kcat) ApiVersions v3
	"000000240012000300000001000772646b61666b61000b6c696272646b61666b6106322e302e3200",
	// librdkafka (kcat) Metadata v4
	"0000001c0003000400000002000772646b61666b610000000100047365656401",
	// librdkafka (kcat) Produce v7
	"000000790000000700000003000772646b61666b61ffffffff000075300000000100047365656400000001000000000000004a00000000000000000000003e00000000024ee2e439000000000000000001a232f22142000001a232f22142ffffffffffffffffffffffffffff0000000118000000026b0a68656c6c6f00",
	// librdkafka (kcat) ListOffsets v2
	"000000300002000200000004000772646b61666b61ffffffff01000000010004736565640000000100000000fffffffffffffffe",
	// librdkafka (kcat) Fetch v11
	"0000005a0001000b00000005000772646b61666b61ffffffff000001f400000001032000000100000000ffffffff000000010004736565640000000100000000ffffffff0000000000000000ffffffffffffffff00100000000000000000",
}

// sampleRequests returns requests of type key at version v with some
// content: several topics and partitions, unknown tagged fields in flexible
// versions, and the known tagged fields kmsg decodes as structures.
func sampleRequests(t testing.TB, key APIKey, v int16) []kmsg.Request {
	batch := buildBatch(t, 3, 1, nil)
	idem := buildBatch(t, 2, 1, func(bd *kbatch.Builder) { bd.SetProducer(1, 0, 0) })
	var tags kmsg.Tags
	tags.Set(99, []byte{1, 2, 3})
	var reqs []kmsg.Request
	switch key {
	case APIProduce:
		for _, acks := range []int16{-1, 1, 0} {
			req := produceReq(v, acks, "seed", 0, batch)
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Partition, rp.Records, rp.UnknownTags = 1, idem, tags
			req.Topics[0].Partitions = append(req.Topics[0].Partitions, rp)
			req.Topics[0].UnknownTags = tags
			reqs = append(reqs, req)
		}
	case APIFetch:
		req := fetchReq(v, "seed", 0, 0, 100, 1, 1<<20, 1<<20)
		reqs = append(reqs, req)
		req = fetchReq(v, "seed", 1, 2, 0, 1000, 10, 10)
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.HighWatermark, rp.UnknownTags = 0, 1, 5, tags
		req.Topics[0].Partitions = append(req.Topics[0].Partitions, rp)
		ft := kmsg.NewFetchRequestForgottenTopic()
		ft.Topic, ft.Partitions = "gone", []int32{1, 2}
		req.ForgottenTopics = append(req.ForgottenTopics, ft)
		cid := "merlin"
		req.ClusterID = &cid
		req.ReplicaState.ID, req.ReplicaState.Epoch = 3, 4
		req.ReplicaState.UnknownTags = tags
		req.Rack = "rack"
		req.UnknownTags = tags
		reqs = append(reqs, req)
	case APIListOffsets:
		for _, ts := range []int64{-1, -2, -3, 0, 5} {
			req := kmsg.NewPtrListOffsetsRequest()
			rt := kmsg.NewListOffsetsRequestTopic()
			rt.Topic = "seed"
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Timestamp = ts
			rt.Partitions = append(rt.Partitions, rp)
			rp.Partition, rp.UnknownTags = 1, tags
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			reqs = append(reqs, req)
		}
	case APIMetadata:
		reqs = append(reqs, kmsg.NewPtrMetadataRequest())
		req := kmsg.NewPtrMetadataRequest()
		for _, name := range []string{"seed", "auto"} {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = &name
			rt.UnknownTags = tags
			req.Topics = append(req.Topics, rt)
		}
		req.AllowAutoTopicCreation = true
		req.IncludeTopicAuthorizedOperations = true
		reqs = append(reqs, req)
	case APIApiVersions:
		req := kmsg.NewPtrApiVersionsRequest()
		req.ClientSoftwareName, req.ClientSoftwareVersion = "fuzz", "1"
		req.UnknownTags = tags
		reqs = append(reqs, req)
	case APICreateTopics:
		req := kmsg.NewPtrCreateTopicsRequest()
		for _, n := range []int32{3, -1, 0} {
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "created", n, 1
			c := kmsg.NewCreateTopicsRequestTopicConfig()
			val := "1000"
			c.Name, c.Value = "retention.ms", &val
			rt.Configs = append(rt.Configs, c)
			req.Topics = append(req.Topics, rt)
		}
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic = "assigned"
		ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		ra.Replicas = []int32{0}
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
		req.Topics = append(req.Topics, rt)
		reqs = append(reqs, req)
	case APIInitProducerID:
		reqs = append(reqs, kmsg.NewPtrInitProducerIDRequest())
	case APISaslHandshake:
		reqs = append(reqs, handshakeReq(v, SASLScramSHA512), handshakeReq(v, "GSSAPI"))
	case APISaslAuthenticate:
		reqs = append(reqs, authReq(v, []byte("\x00alice\x00alice-secret")), authReq(v, []byte("n,,n=alice,r=fuzznonce")))
	default:
		reqs = moreSampleRequests(key, v, tags)
	}
	// Every request at version v, set once here rather than in each case.
	for _, req := range reqs {
		req.SetVersion(v)
	}
	return reqs
}

// builtFrames encodes sample requests of every supported type at every
// supported version.
func builtFrames(t testing.TB) [][]byte {
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("fuzz"))
	var frames [][]byte
	for _, r := range apis {
		for v := r.min; v <= r.max; v++ {
			for _, req := range sampleRequests(t, r.key, v) {
				frames = append(frames, f.AppendRequest(nil, req, 7))
			}
		}
	}
	return frames
}

// fuzzBroker is a broker that is not listening, with topic "seed" (two
// partitions, a few batches), and fetches and group joins that never wait.
func fuzzBroker(t testing.TB) *Broker {
	b, err := New(Config{
		Logger:         slog.New(slog.DiscardHandler),
		MaxRequestSize: 1 << 20,
		IdleTimeout:    -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	b.maxFetchWait = 0
	b.cluster.groups.maxWait = 0
	createTopic(t, b, "seed", 2)
	p := b.cluster.partition("seed", 0)
	for range 2 {
		batch := buildBatch(t, 3, 1, nil)
		h, _ := kbatch.Validate(batch)
		if r := p.append(0, batch, h); r.code != 0 {
			t.Fatal(r)
		}
	}
	return b
}

// addSeeds adds the fuzz targets' seed corpus: the captured frames, frames
// of every supported request type and version, several requests in one
// stream, and some garbage.
func addSeeds(f *testing.F) {
	for _, h := range capturedFrames {
		b, err := hex.DecodeString(h)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	frames := builtFrames(f)
	for _, fr := range frames {
		f.Add(fr)
	}
	f.Add(bytes.Join(frames[:6], nil)) // several requests in one stream
	f.Add([]byte{0, 0, 0, 3, 0, 0, 0})
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
}

// FuzzHandleRequest feeds a byte stream to a connection's read loop: framing,
// header decoding, dispatch and every handler. Nothing may panic or hang,
// the loop must end with the end of the input or a protocol error, and the
// answers must be well-formed frames.
func FuzzHandleRequest(f *testing.F) {
	addSeeds(f)

	f.Fuzz(func(t *testing.T, data []byte) {
		b := fuzzBroker(t)
		defer b.Close()
		c := newConn(b, nil)
		c.src = bytes.NewReader(data)
		var out []byte
		c.onFlush = func(b []byte) { out = append(out, b...) }
		err := c.loop()
		if err == nil || !errors.Is(err, io.EOF) && !errors.Is(err, errProtocol) && !errors.Is(err, errAcksZeroFailed) {
			t.Fatalf("loop ended with %v", err)
		}
		_ = c.flush()
		for len(out) > 0 {
			if len(out) < 8 {
				t.Fatalf("answer of %d bytes", len(out))
			}
			n := int(int32(out[0])<<24 | int32(out[1])<<16 | int32(out[2])<<8 | int32(out[3]))
			if n < 4 || n > len(out)-4 {
				t.Fatalf("answer frame length %d with %d bytes left", n, len(out)-4)
			}
			out = out[4+n:]
		}
	})
}

// TestFuzzSeeds runs the seeds through handle one request at a time and
// checks that each gets an answer that decodes.
func TestFuzzSeeds(t *testing.T) {
	b := fuzzBroker(t)
	defer b.Close()
	frames := builtFrames(t)
	for _, h := range capturedFrames {
		fr, _ := hex.DecodeString(h)
		frames = append(frames, fr)
	}
	for _, fr := range frames {
		c := newConn(b, nil)
		hdr, _, err := parseRequestHeader(fr[4:])
		if err != nil {
			t.Fatal(err)
		}
		if err := c.handle(fr[4:]); err != nil {
			t.Fatalf("%s v%d: %v", hdr.key, hdr.version, err)
		}
		if len(c.out) == 0 {
			continue // acks=0
		}
		version := hdr.version
		if hdr.key == APIApiVersions && version > 3 {
			version = 0
		}
		req := kmsg.RequestForKey(int16(hdr.key))
		req.SetVersion(version)
		resp := req.ResponseKind()
		body := c.out[8:]
		if resp.IsFlexible() && hdr.key != APIApiVersions {
			body = body[1:]
		}
		if err := resp.ReadFrom(body); err != nil {
			t.Fatalf("%s v%d: answer does not decode: %v", hdr.key, hdr.version, err)
		}
	}
}
