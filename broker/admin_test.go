package broker

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kadm's DeleteTopics removes a topic, its data on disk and the groups'
// offsets for it; the name is then free for a new, empty topic, which a
// restart keeps.
func TestAdminDeleteTopicsThenRecreate(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	b := startBroker(t, Config{Storage: openDisk(t, dir, DiskOptions{})})
	createTopic(t, b, "doomed", 2)
	createTopic(t, b, "kept", 1)
	cl := newClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceNumbered(t, ctx, cl, "doomed", 0, 20, 2)
	adm := kadm.NewClient(cl)
	commit := kadm.Offsets{}
	commit.Add(kadm.Offset{Topic: "doomed", Partition: 0, At: 7, LeaderEpoch: -1})
	commit.Add(kadm.Offset{Topic: "kept", Partition: 0, At: 0, LeaderEpoch: -1})
	if r, err := adm.CommitOffsets(ctx, "g", commit); err != nil || r.Error() != nil {
		t.Fatalf("commit: %v %v", err, r.Error())
	}

	resp, err := adm.DeleteTopics(ctx, "doomed", "missing")
	if err != nil {
		t.Fatal(err)
	}
	if err := resp["doomed"].Err; err != nil {
		t.Fatalf("delete doomed: %v", err)
	}
	if err := resp["missing"].Err; err != kerr.UnknownTopicOrPartition {
		t.Fatalf("delete missing: %v", err)
	}
	for p := range 2 {
		if _, err := os.Stat(filepath.Join(dir, "topics", "doomed-"+strconv.Itoa(p))); !os.IsNotExist(err) {
			t.Fatalf("partition %d's directory after delete: %v", p, err)
		}
	}
	md, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if md.Has("doomed") || !md.Has("kept") {
		t.Fatalf("topics after delete: %v", md.Names())
	}
	offs, err := adm.FetchOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := offs.Lookup("doomed", 0); ok {
		t.Fatal("the deleted topic's committed offset is still there")
	}
	if _, ok := offs.Lookup("kept", 0); !ok {
		t.Fatal("another topic's committed offset went with the deleted one")
	}

	if r, err := adm.CreateTopic(ctx, 3, 1, nil, "doomed"); err != nil || r.Err != nil {
		t.Fatalf("recreate: %v %v", err, r.Err)
	}
	for p := range int32(3) {
		if start, next, err := b.Cluster().Offsets("doomed", p); err != nil || start != 0 || next != 0 {
			t.Fatalf("recreated partition %d: %d..%d, %v", p, start, next, err)
		}
	}
	// A new client: the first one knows the old topic's partition count.
	produceNumbered(t, ctx, newClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner())), "doomed", 0, 3, 3)
	closeBroker(t, b)

	b = startBroker(t, Config{Storage: openDisk(t, dir, DiskOptions{})})
	specs := b.Cluster().Topics()
	if len(specs) != 2 || specs[0].Name != "doomed" || specs[0].Partitions != 3 {
		t.Fatalf("topics after restart: %+v", specs)
	}
	if _, next, _ := b.Cluster().Offsets("doomed", 0); next != 1 {
		t.Fatalf("recreated topic after restart: next offset %d, want 1", next)
	}
}

// The memory storage forgets a deleted topic's records too.
func TestAdminDeleteTopicMemory(t *testing.T) {
	ctx := testContext(t)
	b := startBroker(t, Config{})
	createTopic(t, b, "m", 1)
	cl := newClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceNumbered(t, ctx, cl, "m", 0, 5, 1)
	if err := b.Cluster().DeleteTopic("m"); err != nil {
		t.Fatal(err)
	}
	createTopic(t, b, "m", 1)
	if _, next, _ := b.Cluster().Offsets("m", 0); next != 0 {
		t.Fatalf("recreated topic has next offset %d", next)
	}
}

// CreatePartitions grows a topic (kadm), refuses to shrink it, and with
// ValidateOnly changes nothing; an assignment places the new partitions'
// leaders.
func TestAdminCreatePartitions(t *testing.T) {
	ctx := testContext(t)
	cl, err := NewCluster(ClusterConfig{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	b0 := startBroker(t, Config{NodeID: 0, Cluster: cl})
	startBroker(t, Config{NodeID: 1, Cluster: cl})
	if err := cl.CreateTopic("grow", 2); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(newClient(t, b0.Addr()))
	r, err := adm.CreatePartitions(ctx, 3, "grow")
	if err != nil || r["grow"].Err != nil {
		t.Fatalf("add 3: %v %+v", err, r)
	}
	if got := cl.Topics()[0].Partitions; got != 5 {
		t.Fatalf("%d partitions after adding 3 to 2", got)
	}
	if r, err := adm.UpdatePartitions(ctx, 4, "grow"); err != nil || r["grow"].Err != kerr.InvalidPartitions {
		t.Fatalf("shrink: %v %+v", err, r)
	}
	if r, err := adm.ValidateCreatePartitions(ctx, 1, "grow"); err != nil || r["grow"].Err != nil || cl.Topics()[0].Partitions != 5 {
		t.Fatalf("validate only: %v %+v, %d partitions", err, r, cl.Topics()[0].Partitions)
	}
	req := kmsg.NewPtrCreatePartitionsRequest()
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = "grow", 7
	for _, node := range []int32{1, 1} {
		a := kmsg.NewCreatePartitionsRequestTopicAssignment()
		a.Replicas = []int32{node}
		rt.Assignment = append(rt.Assignment, a)
	}
	req.Topics = append(req.Topics, rt)
	resp := dialRaw(t, b0.Addr()).do(req).(*kmsg.CreatePartitionsResponse)
	if resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("assigned: %+v", resp.Topics[0])
	}
	for _, p := range []int32{5, 6} {
		if l, _ := cl.Leader("grow", p); l != 1 {
			t.Fatalf("partition %d led by %d, assigned to 1", p, l)
		}
	}
}

// DescribeConfigs reports the limits the disk storage applies, for topics
// and brokers, and UNKNOWN_TOPIC_OR_PARTITION for a missing topic.
func TestAdminDescribeConfigs(t *testing.T) {
	ctx := testContext(t)
	b := startBroker(t, Config{Storage: openDisk(t, t.TempDir(), DiskOptions{RetentionAge: time.Hour, SegmentBytes: 1 << 20})})
	createTopic(t, b, "c", 1)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	rcs, err := adm.DescribeTopicConfigs(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On("c", nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe: %v %v", err, rc.Err)
	}
	want := map[string]string{"retention.ms": "3600000", "retention.bytes": "-1", "segment.bytes": "1048576", "segment.ms": "3600000", "cleanup.policy": "delete"}
	for _, c := range rc.Configs {
		if w, ok := want[c.Key]; ok {
			if c.MaybeValue() != w {
				t.Errorf("%s = %q, want %q", c.Key, c.MaybeValue(), w)
			}
			delete(want, c.Key)
		}
	}
	if len(want) != 0 {
		t.Errorf("configs not reported: %v", want)
	}
	rcs, err = adm.DescribeTopicConfigs(ctx, "nope")
	if err != nil {
		t.Fatal(err)
	}
	if rc, _ := rcs.On("nope", nil); rc.Err != kerr.UnknownTopicOrPartition {
		t.Fatalf("missing topic: %v", rc.Err)
	}
	bcs, err := adm.DescribeBrokerConfigs(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range bcs[0].Configs {
		if c.Key == "log.retention.ms" && c.MaybeValue() == "3600000" {
			found = true
		}
	}
	if !found {
		t.Fatalf("broker configs %+v", bcs[0].Configs)
	}
}

// DescribeCluster names the cluster, its controller and its brokers; and
// ListOffsets with -3 (kadm's ListMaxTimestampOffsets) finds the record
// with the largest timestamp.
func TestAdminDescribeClusterAndMaxTimestamp(t *testing.T) {
	ctx := testContext(t)
	b := startBroker(t, Config{})
	createTopic(t, b, "ts", 1)
	rc := dialRaw(t, b.Addr())
	req := kmsg.NewPtrDescribeClusterRequest()
	req.Version = 1
	req.EndpointType = 1
	resp := rc.do(req).(*kmsg.DescribeClusterResponse)
	if resp.ErrorCode != 0 || resp.ClusterID != "merlin" || resp.ControllerID != 0 || len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != 0 {
		t.Fatalf("describe cluster: %+v", resp)
	}
	cl := newClient(t, b.Addr())
	for i, ts := range []int64{1000, 5000, 3000} {
		r := &kgo.Record{Topic: "ts", Value: []byte{byte(i)}, Timestamp: time.UnixMilli(ts)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	lo, err := kadm.NewClient(cl).ListMaxTimestampOffsets(ctx, "ts")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := lo.Lookup("ts", 0); !ok || o.Err != nil || o.Offset != 1 || o.Timestamp != 5000 {
		t.Fatalf("max timestamp offset %+v", o)
	}
}

func describedConfig(t *testing.T, adm *kadm.Client, topic, name string) kadm.Config {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(testContext(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe %s: %v %v", topic, err, rc.Err)
	}
	for _, c := range rc.Configs {
		if c.Key == name {
			return c
		}
	}
	t.Fatalf("%s has no config %s", topic, name)
	return kadm.Config{}
}

// IncrementalAlterConfigs and AlterConfigs set a topic's retention and
// segment limits on disk storage: they apply at once (segments roll and
// retention deletes by them), DescribeConfigs reports them as dynamic topic
// configs, a restart keeps them, and configs merlin does not apply are
// refused. Deleting the topic drops them.
func TestAdminAlterConfigsPersisted(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	ds := openDisk(t, dir, DiskOptions{})
	b := startBroker(t, Config{Storage: ds})
	createTopic(t, b, "r", 1)
	cl := newClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MaxBufferedRecords(1))
	adm := kadm.NewClient(cl)
	set := func(name, value string) kadm.AlterConfig {
		return kadm.AlterConfig{Op: kadm.SetConfig, Name: name, Value: &value}
	}
	r, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{set("retention.bytes", "1"), set("segment.bytes", "100")}, "r")
	if err != nil || r[0].Err != nil {
		t.Fatalf("alter: %v %+v", err, r)
	}
	if c := describedConfig(t, adm, "r", "retention.bytes"); c.MaybeValue() != "1" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("retention.bytes after alter: %+v", c)
	}
	produceAndRetain := func(from int) {
		t.Helper()
		for i := from; i < from+5; i++ {
			produceNumbered(t, ctx, cl, "r", i, i+1, 1)
		}
		if _, err := ds.ApplyRetention(time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	produceAndRetain(0)
	if start, next, _ := b.Cluster().Offsets("r", 0); start != 4 || next != 5 {
		t.Fatalf("offsets %d..%d after retention by 1 byte with 100-byte segments; want 4..5", start, next)
	}
	for _, bad := range []kadm.AlterConfig{set("cleanup.policy", "compact"), set("min.insync.replicas", "2"), set("segment.bytes", "x")} {
		r, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{bad}, "r")
		if err != nil || r[0].Err != kerr.InvalidConfig {
			t.Fatalf("alter %s=%s: %v %+v", bad.Name, *bad.Value, err, r)
		}
	}
	closeBroker(t, b)

	ds = openDisk(t, dir, DiskOptions{})
	b = startBroker(t, Config{Storage: ds})
	cl = newClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MaxBufferedRecords(1))
	adm = kadm.NewClient(cl)
	if c := describedConfig(t, adm, "r", "segment.bytes"); c.MaybeValue() != "100" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("segment.bytes after restart: %+v", c)
	}
	produceAndRetain(5)
	if start, next, _ := b.Cluster().Offsets("r", 0); start != 9 || next != 10 {
		t.Fatalf("offsets %d..%d after restart and retention; want 9..10", start, next)
	}
	// AlterConfigs replaces the whole set: retention.bytes returns to its
	// default.
	ar, err := adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{set("segment.ms", "60000")}, "r")
	if err != nil || ar[0].Err != nil {
		t.Fatalf("alter state: %v %+v", err, ar)
	}
	if c := describedConfig(t, adm, "r", "retention.bytes"); c.MaybeValue() != "-1" || c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("retention.bytes after AlterConfigs without it: %+v", c)
	}
	if err := b.Cluster().DeleteTopic("r"); err != nil {
		t.Fatal(err)
	}
	createTopic(t, b, "r", 1)
	if c := describedConfig(t, adm, "r", "segment.ms"); c.MaybeValue() == "60000" {
		t.Fatalf("a recreated topic kept the deleted one's config: %+v", c)
	}
}

// On memory storage there is nothing to configure: altering is refused.
func TestAdminAlterConfigsMemory(t *testing.T) {
	b := startBroker(t, Config{})
	createTopic(t, b, "m", 1)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	v := "1000"
	r, err := adm.AlterTopicConfigs(testContext(t), []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: &v}}, "m")
	if err != nil || r[0].Err != kerr.InvalidRequest {
		t.Fatalf("alter on memory storage: %v %+v", err, r)
	}
}

// DeleteRecords (kadm) moves the log start offset on disk and memory
// storage: fetches below it are OFFSET_OUT_OF_RANGE, ListOffsets earliest
// answers it, an offset past the end is refused, and on disk a restart
// keeps it.
func TestAdminDeleteRecords(t *testing.T) {
	for _, disk := range []bool{false, true} {
		name := "memory"
		if disk {
			name = "disk"
		}
		t.Run(name, func(t *testing.T) {
			ctx := testContext(t)
			dir := t.TempDir()
			cfg := func() Config {
				if disk {
					return Config{Storage: openDisk(t, dir, DiskOptions{SegmentBytes: 200})}
				}
				return Config{}
			}
			b := startBroker(t, cfg())
			createTopic(t, b, "dr", 1)
			cl := newClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
			for i := range 10 {
				produceNumbered(t, ctx, cl, "dr", i, i+1, 1)
			}
			adm := kadm.NewClient(cl)
			del := kadm.Offsets{}
			del.Add(kadm.Offset{Topic: "dr", Partition: 0, At: 6})
			r, err := adm.DeleteRecords(ctx, del)
			if err != nil {
				t.Fatal(err)
			}
			if dr, _ := r.Lookup("dr", 0); dr.Err != nil || dr.LowWatermark != 6 {
				t.Fatalf("delete records: %+v", dr)
			}
			rc := dialRaw(t, b.Addr())
			if fp := rc.fetchOne(11, "dr", 0, 5, 0, 1, 1<<20, 1<<20); fp.ErrorCode != kerr.OffsetOutOfRange.Code || fp.LogStartOffset != -1 { // no offsets on errors, as Kafka
				t.Fatalf("fetch below the start offset: error %d, log start %d", fp.ErrorCode, fp.LogStartOffset)
			}
			if lo := rc.listOffset("dr", 0, -2); lo.Offset != 6 {
				t.Fatalf("earliest offset %d, want 6", lo.Offset)
			}
			del = kadm.Offsets{}
			del.Add(kadm.Offset{Topic: "dr", Partition: 0, At: 11})
			if r, err := adm.DeleteRecords(ctx, del); err != nil {
				t.Fatal(err)
			} else if dr, _ := r.Lookup("dr", 0); dr.Err != kerr.OffsetOutOfRange {
				t.Fatalf("delete past the end: %+v", dr)
			}
			if !disk {
				return
			}
			closeBroker(t, b)
			b = startBroker(t, cfg())
			if start, next, _ := b.Cluster().Offsets("dr", 0); start != 6 || next != 10 {
				t.Fatalf("after restart: %d..%d, want 6..10", start, next)
			}
		})
	}
}

// CreateTopics sets the configs merlin applies (on disk storage), refuses
// bad values of them, and ignores the Kafka configs it has no use for.
func TestAdminCreateTopicWithConfigs(t *testing.T) {
	ctx := testContext(t)
	b := startBroker(t, Config{Storage: openDisk(t, t.TempDir(), DiskOptions{})})
	adm := kadm.NewClient(newClient(t, b.Addr()))
	ms, isr, bad := "60000", "2", "soon"
	r, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"retention.ms": &ms, "min.insync.replicas": &isr}, "configured")
	if err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	if c := describedConfig(t, adm, "configured", "retention.ms"); c.MaybeValue() != "60000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("retention.ms of the new topic: %+v", c)
	}
	// kadm returns the topic's error as the call's too.
	if r, _ := adm.CreateTopic(ctx, 1, 1, map[string]*string{"retention.ms": &bad}, "refused"); r.Err != kerr.InvalidConfig {
		t.Fatalf("create with retention.ms=%s: %v", bad, r.Err)
	}
	if b.Cluster().hasTopic("refused") {
		t.Fatal("a topic refused for its config was created")
	}
}
