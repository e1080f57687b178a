package broker

import (
	"testing"

	"github.com/merlinkafka/merlin/internal/testkit"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestApiVersions(t *testing.T) {
	b := startBroker(t, Config{})
	rc := dialRaw(t, b.Addr())
	for v := int16(0); v <= 3; v++ {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = v
		req.ClientSoftwareName, req.ClientSoftwareVersion = "test", "1.0"
		resp := rc.do(req).(*kmsg.ApiVersionsResponse)
		if resp.ErrorCode != 0 {
			t.Fatalf("v%d: error %d", v, resp.ErrorCode)
		}
		if len(resp.ApiKeys) != len(apis) {
			t.Fatalf("v%d: %d keys, want %d", v, len(resp.ApiKeys), len(apis))
		}
		for i, k := range resp.ApiKeys {
			want := apis[i]
			if APIKey(k.ApiKey) != want.key || k.MinVersion != want.min || k.MaxVersion != want.max {
				t.Errorf("v%d: key %d: %d-%d, want %d: %d-%d", v, k.ApiKey, k.MinVersion, k.MaxVersion, want.key, want.min, want.max)
			}
		}
	}
	// Kafka-python needs Metadata v4+ advertised to use record batches.
	if r := apiFor(APIMetadata); r.max < 4 {
		t.Errorf("Metadata max version %d < 4", r.max)
	}
}

// A client asking a newer ApiVersions than we answer gets a v0 answer with
// UNSUPPORTED_VERSION and our range, and the connection stays usable.
func TestApiVersionsDowngrade(t *testing.T) {
	b := startBroker(t, Config{})
	rc := dialRaw(t, b.Addr())
	for _, v := range []int16{4, 5} {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = v
		req.ClientSoftwareName, req.ClientSoftwareVersion = "test", "1.0"
		corr := rc.send(req)
		v0 := kmsg.NewPtrApiVersionsRequest() // decode the answer as v0
		resp, err := rc.read(v0, corr)
		if err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		r := resp.(*kmsg.ApiVersionsResponse)
		if r.ErrorCode != kerr.UnsupportedVersion.Code {
			t.Fatalf("v%d: error %d, want UNSUPPORTED_VERSION", v, r.ErrorCode)
		}
		if len(r.ApiKeys) != 1 || r.ApiKeys[0].ApiKey != 18 || r.ApiKeys[0].MaxVersion != 3 {
			t.Fatalf("v%d: keys %+v", v, r.ApiKeys)
		}
	}
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "test", "1.0"
	if r := rc.do(req).(*kmsg.ApiVersionsResponse); r.ErrorCode != 0 {
		t.Fatalf("v3 after downgrade: error %d", r.ErrorCode)
	}
}

func TestMetadataVersions(t *testing.T) {
	b := startBroker(t, Config{})
	createTopic(t, b, "meta", 3)
	host, port := b.advertised(b.ln.Addr())
	rc := dialRaw(t, b.Addr())
	for v := int16(0); v <= 12; v++ {
		req := kmsg.NewPtrMetadataRequest()
		req.Version = v
		name := "meta"
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = &name
		req.Topics = append(req.Topics, rt)
		resp := rc.do(req).(*kmsg.MetadataResponse)
		if len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != 0 || resp.Brokers[0].Host != host || resp.Brokers[0].Port != port {
			t.Fatalf("v%d: brokers %+v, want node 0 at %s:%d", v, resp.Brokers, host, port)
		}
		if v >= 1 && resp.ControllerID != 0 {
			t.Errorf("v%d: controller %d", v, resp.ControllerID)
		}
		if v >= 2 && (resp.ClusterID == nil || *resp.ClusterID != "merlin") {
			t.Errorf("v%d: cluster id %v", v, resp.ClusterID)
		}
		if len(resp.Topics) != 1 {
			t.Fatalf("v%d: %d topics", v, len(resp.Topics))
		}
		mt := resp.Topics[0]
		if mt.ErrorCode != 0 || mt.Topic == nil || *mt.Topic != "meta" || len(mt.Partitions) != 3 {
			t.Fatalf("v%d: topic %+v", v, mt)
		}
		if v >= 10 && mt.TopicID == ([16]byte{}) {
			t.Errorf("v%d: no topic id", v)
		}
		for i, p := range mt.Partitions {
			if p.Partition != int32(i) || p.Leader != 0 || len(p.Replicas) != 1 || len(p.ISR) != 1 || p.ErrorCode != 0 {
				t.Errorf("v%d: partition %+v", v, p)
			}
			if v >= 7 && p.LeaderEpoch != 0 {
				t.Errorf("v%d: leader epoch %d", v, p.LeaderEpoch)
			}
		}
	}
}

func TestMetadataTopicSelection(t *testing.T) {
	b := startBroker(t, Config{})
	createTopic(t, b, "a", 1)
	createTopic(t, b, "b", 1)
	rc := dialRaw(t, b.Addr())
	meta := func(v int16, auto bool, names ...string) *kmsg.MetadataResponse {
		req := kmsg.NewPtrMetadataRequest()
		req.Version = v
		req.AllowAutoTopicCreation = auto
		if names != nil {
			req.Topics = []kmsg.MetadataRequestTopic{}
		}
		for _, n := range names {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = &n
			req.Topics = append(req.Topics, rt)
		}
		return rc.do(req).(*kmsg.MetadataResponse)
	}
	if r := meta(0, false, []string{}...); len(r.Topics) != 2 {
		t.Errorf("v0 empty list: %d topics, want all 2", len(r.Topics))
	}
	if r := meta(1, false); len(r.Topics) != 2 {
		t.Errorf("v1 null list: %d topics, want all 2", len(r.Topics))
	}
	if r := meta(1, false, []string{}...); len(r.Topics) != 0 {
		t.Errorf("v1 empty list: %d topics, want 0", len(r.Topics))
	}
	if r := meta(9, false, "nope"); r.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("no auto-create: error %d", r.Topics[0].ErrorCode)
	}
	if r := meta(9, true, "auto"); r.Topics[0].ErrorCode != 0 || len(r.Topics[0].Partitions) != DefaultPartitions {
		t.Errorf("auto-create: %+v", r.Topics[0])
	}
	if r := meta(3, false, "auto-v3"); r.Topics[0].ErrorCode != 0 {
		t.Errorf("auto-create before v4: error %d", r.Topics[0].ErrorCode)
	}
	if r := meta(9, true, "bad name!"); r.Topics[0].ErrorCode != kerr.InvalidTopicException.Code {
		t.Errorf("invalid name: error %d", r.Topics[0].ErrorCode)
	}

	// By topic id (v12).
	id := meta(12, false, "a").Topics[0].TopicID
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 12
	rt := kmsg.NewMetadataRequestTopic()
	rt.TopicID = id
	req.Topics = append(req.Topics, rt)
	r := rc.do(req).(*kmsg.MetadataResponse)
	if r.Topics[0].ErrorCode != 0 || r.Topics[0].Topic == nil || *r.Topics[0].Topic != "a" {
		t.Errorf("by id: %+v", r.Topics[0])
	}
	req.Topics[0].TopicID = [16]byte{1}
	if r := rc.do(req).(*kmsg.MetadataResponse); r.Topics[0].ErrorCode != kerr.UnknownTopicID.Code {
		t.Errorf("unknown id: error %d", r.Topics[0].ErrorCode)
	}

	// Auto-creation disabled in the config.
	b2 := startBroker(t, Config{DisableAutoCreateTopics: true})
	rc = dialRaw(t, b2.Addr())
	if r := meta(3, true, "x"); r.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("auto-create disabled: error %d", r.Topics[0].ErrorCode)
	}
}

func TestListOffsets(t *testing.T) {
	b := startBroker(t, Config{})
	createTopic(t, b, "lo", 1)
	rc := dialRaw(t, b.Addr())
	for i := range 3 {
		ts := int64(1000 * (i + 1))
		if p := rc.produce("lo", 0, buildBatch(t, 10, ts, nil)); p.ErrorCode != 0 || p.BaseOffset != int64(10*i) {
			t.Fatalf("produce %d: %+v", i, p)
		}
	}
	cases := []struct {
		ts         int64
		minVersion int16
		offset     int64
		timestamp  int64
	}{
		{-2, 1, 0, -1},
		{-1, 1, 30, -1},
		{0, 1, 0, 1000},
		{1000, 1, 0, 1000},
		{2005, 1, 15, 2005},
		{2500, 1, 20, 3000},
		{3009, 1, 29, 3009},
		{3010, 1, -1, -1},
		{-3, 7, 29, 3009},
	}
	for v := int16(1); v <= 7; v++ {
		for _, c := range cases {
			if v < c.minVersion {
				continue
			}
			req := testkit.ListOffsets("lo", c.ts, 0, 1)
			req.Version = v
			resp := rc.do(req).(*kmsg.ListOffsetsResponse)
			p := resp.Topics[0].Partitions[0]
			if p.ErrorCode != 0 || p.Offset != c.offset || p.Timestamp != c.timestamp {
				t.Errorf("v%d ts %d: error %d offset %d timestamp %d, want offset %d timestamp %d",
					v, c.ts, p.ErrorCode, p.Offset, p.Timestamp, c.offset, c.timestamp)
			}
			if p := resp.Topics[0].Partitions[1]; p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
				t.Errorf("v%d: unknown partition: error %d", v, p.ErrorCode)
			}
		}
	}
}

func TestCreateTopics(t *testing.T) {
	b := startBroker(t, Config{DefaultPartitions: 4})
	createTopic(t, b, "exists", 1)
	rc := dialRaw(t, b.Addr())
	type topicReq struct {
		name       string
		partitions int32
		rf         int16
	}
	for v := int16(0); v <= 7; v++ {
		sfx := string(rune('a' + v))
		cases := []struct {
			topicReq
			code           int16
			wantPartitions int32
		}{
			{topicReq{"new-" + sfx, 2, 1}, 0, 2},
			{topicReq{"default-" + sfx, -1, -1}, 0, 4},
			{topicReq{"exists", 1, 1}, kerr.TopicAlreadyExists.Code, 0},
			{topicReq{"zero-" + sfx, 0, 1}, kerr.InvalidPartitions.Code, 0},
			{topicReq{"neg-" + sfx, -5, 1}, kerr.InvalidPartitions.Code, 0},
			{topicReq{"huge-" + sfx, MaxPartitions + 1, 1}, kerr.InvalidPartitions.Code, 0},
			{topicReq{"rf-" + sfx, 1, 3}, kerr.InvalidReplicationFactor.Code, 0},
			{topicReq{"bad/name", 1, 1}, kerr.InvalidTopicException.Code, 0},
			{topicReq{"twice-" + sfx, 1, 1}, kerr.InvalidRequest.Code, 0},
			{topicReq{"twice-" + sfx, 1, 1}, kerr.InvalidRequest.Code, 0},
		}
		req := kmsg.NewPtrCreateTopicsRequest()
		req.Version = v
		req.TimeoutMillis = 5000
		for _, c := range cases {
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = c.name, c.topicReq.partitions, c.rf
			req.Topics = append(req.Topics, rt)
		}
		resp := rc.do(req).(*kmsg.CreateTopicsResponse)
		for i, c := range cases {
			got := resp.Topics[i]
			if got.Topic != c.name || got.ErrorCode != c.code {
				t.Errorf("v%d %s: error %d, want %d", v, c.name, got.ErrorCode, c.code)
			}
			if v >= 5 && c.code == 0 && got.NumPartitions != c.wantPartitions {
				t.Errorf("v%d %s: %d partitions, want %d", v, c.name, got.NumPartitions, c.wantPartitions)
			}
			if v >= 7 && c.code == 0 && got.TopicID == ([16]byte{}) {
				t.Errorf("v%d %s: no topic id", v, c.name)
			}
		}
		if _, _, err := b.Cluster().Offsets("default-"+sfx, 3); err != nil {
			t.Errorf("v%d: default partition count not applied: %v", v, err)
		}
	}

	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version = 4
	req.ValidateOnly = true
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "validate", 1, 1
	req.Topics = append(req.Topics, rt)
	if r := rc.do(req).(*kmsg.CreateTopicsResponse); r.Topics[0].ErrorCode != 0 {
		t.Fatalf("validate only: error %d", r.Topics[0].ErrorCode)
	}
	if _, _, err := b.Cluster().Offsets("validate", 0); err == nil {
		t.Fatal("validate-only request created the topic")
	}
}

func TestInitProducerID(t *testing.T) {
	b := startBroker(t, Config{})
	rc := dialRaw(t, b.Addr())
	seen := map[int64]bool{}
	for v := int16(0); v <= 4; v++ {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.Version = v
		resp := rc.do(req).(*kmsg.InitProducerIDResponse)
		if resp.ErrorCode != 0 || resp.ProducerEpoch != 0 || seen[resp.ProducerID] || resp.ProducerID < 0 {
			t.Fatalf("v%d: %+v", v, resp)
		}
		seen[resp.ProducerID] = true
	}
	req := kmsg.NewPtrInitProducerIDRequest()
	txn := "txn"
	req.TransactionalID = &txn
	if resp := rc.do(req).(*kmsg.InitProducerIDResponse); resp.ErrorCode != kerr.TransactionalIDAuthorizationFailed.Code {
		t.Fatalf("transactional: error %d", resp.ErrorCode)
	}
}
