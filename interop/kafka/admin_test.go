package kafka

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/merlinkafka/merlin/broker"
)

// adminTranscript runs admin calls (kadm) against brokers and writes down
// their outcomes.
func adminTranscript(t *testing.T, ctx context.Context, brokers []string) []string {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var lines []string
	note := func(step string, err error, extra ...any) {
		line := fmt.Sprintf("%s: %v", step, err)
		if len(extra) > 0 {
			line += " " + fmt.Sprint(extra...)
		}
		lines = append(lines, line)
	}
	r, err := adm.CreateTopic(ctx, 2, 1, nil, "adm")
	note("create", err, r.Err)
	for i := range 3 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "adm", Partition: 0, Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cp, err := adm.CreatePartitions(ctx, 1, "adm")
	note("add a partition", err, cp["adm"].Err)
	cp, err = adm.UpdatePartitions(ctx, 2, "adm")
	note("shrink to 2", nil, cp["adm"].Err, err != nil)
	cp, _ = adm.CreatePartitions(ctx, 1, "missing")
	note("add to a missing topic", nil, cp["missing"].Err)

	var dr kadm.Offsets
	dr.Add(kadm.Offset{Topic: "adm", Partition: 0, At: 2})
	drr, err := adm.DeleteRecords(ctx, dr)
	d, _ := drr.Lookup("adm", 0)
	note("delete records below 2", err, d.Err, " low=", d.LowWatermark)
	dr = kadm.Offsets{}
	dr.Add(kadm.Offset{Topic: "adm", Partition: 0, At: 10})
	drr, _ = adm.DeleteRecords(ctx, dr)
	d, _ = drr.Lookup("adm", 0)
	note("delete records past the end", nil, d.Err)
	lo, err := adm.ListStartOffsets(ctx, "adm")
	o, _ := lo.Lookup("adm", 0)
	note("start offset", err, o.Offset)

	v, bad := "1000", "x"
	ar, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: &v}}, "adm")
	note("set retention.ms", err, ar[0].Err)
	ar, _ = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "segment.bytes", Value: &bad}}, "adm")
	note("set segment.bytes=x", nil, ar[0].Err)
	rcs, err := adm.DescribeTopicConfigs(ctx, "adm")
	rc, _ := rcs.On("adm", nil)
	for _, c := range rc.Configs {
		if c.Key == "retention.ms" {
			note("describe retention.ms", err, c.MaybeValue(), " ", c.Source == kmsg.ConfigSourceDynamicTopicConfig)
		}
	}
	ar, _ = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "segment.ms", Value: &v}}, "adm")
	note("AlterConfigs segment.ms only", nil, ar[0].Err)
	rcs, _ = adm.DescribeTopicConfigs(ctx, "adm")
	rc, _ = rcs.On("adm", nil)
	for _, c := range rc.Configs {
		if c.Key == "retention.ms" || c.Key == "segment.ms" {
			note("describe "+c.Key, nil, c.Source == kmsg.ConfigSourceDynamicTopicConfig)
		}
	}
	rcs, _ = adm.DescribeTopicConfigs(ctx, "missing")
	rc, _ = rcs.On("missing", nil)
	note("describe a missing topic", nil, rc.Err)

	del, err := adm.DeleteTopics(ctx, "adm", "missing")
	note("delete", err, del["adm"].Err, " ", del["missing"].Err)
	return lines
}

// The same admin calls against Apache Kafka and merlin's broker (on disk
// storage, where topic configs apply) get the same outcomes.
func TestAdminMatchesKafka(t *testing.T) {
	ctx := testContext(t, 3*time.Minute)
	kc := cluster(t, 1, nil)
	ds, err := broker.NewDiskStorage(t.TempDir(), broker.DiskOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := broker.New(broker.Config{Storage: ds, DisableAutoCreateTopics: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	want := adminTranscript(t, ctx, kc.Brokers())
	got := adminTranscript(t, ctx, []string{b.Addr()})
	compareTranscripts(t, want, got)
}
