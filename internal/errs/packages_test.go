package errs_test

import (
	"context"
	"errors"
	"testing"

	"github.com/merlinkafka/merlin/broker"
	"github.com/merlinkafka/merlin/callbacks"
	"github.com/merlinkafka/merlin/mockbroker"
	"github.com/merlinkafka/merlin/producer"
	"github.com/merlinkafka/merlin/seglog"
)

var (
	closedSentinels = map[string]error{
		"producer": producer.ErrClosed, "broker": broker.ErrClosed,
		"mockbroker": mockbroker.ErrClosed, "seglog": seglog.ErrClosed,
	}
	configSentinels = map[string]error{
		"producer": producer.ErrConfig, "broker": broker.ErrConfig,
		"mockbroker": mockbroker.ErrConfig, "callbacks": callbacks.ErrConfig,
	}
)

// TestClosedAcrossPackages checks that what every package returns after
// Close matches every package's ErrClosed, and no ErrConfig.
func TestClosedAcrossPackages(t *testing.T) {
	ctx := context.Background()
	got := map[string]error{}

	mc, err := mockbroker.NewCluster(mockbroker.Topic("t", 1))
	if err != nil {
		t.Fatal(err)
	}
	p, err := producer.New(producer.Config{Brokers: mc.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	_, got["producer.ProduceSync"] = p.ProduceSync(ctx, "t", producer.Message{Value: []byte("v")})
	mc.Close()
	got["mockbroker.Stop"] = mc.Stop(1)

	b, err := broker.New(broker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	got["broker.Start"] = b.Start()
	st := broker.NewMemoryStorage()
	st.Close()
	_, got["broker.Storage.OpenPartition"] = st.OpenPartition("t", 0)
	cl, err := broker.NewCluster(broker.ClusterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cl.Close()
	got["broker.Cluster.CreateTopic"] = cl.CreateTopic("t", 1)

	l, err := seglog.Open(t.TempDir(), seglog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	got["seglog.Sync"] = l.Sync()

	for call, err := range got {
		if err == nil {
			t.Errorf("%s after Close: no error", call)
			continue
		}
		for pkg, sentinel := range closedSentinels {
			if !errors.Is(err, sentinel) {
				t.Errorf("%s after Close: %v does not match %s.ErrClosed", call, err, pkg)
			}
		}
		for pkg, sentinel := range configSentinels {
			if errors.Is(err, sentinel) {
				t.Errorf("%s after Close: %v matches %s.ErrConfig", call, err, pkg)
			}
		}
	}
}

// TestConfigAcrossPackages checks that every package's invalid
// configuration is a *ConfigError naming the field, matching every
// package's ErrConfig and no ErrClosed.
func TestConfigAcrossPackages(t *testing.T) {
	_, mockErr := mockbroker.NewCluster(mockbroker.Brokers(-1))
	_, statsdErr := callbacks.NewStatsdWith(callbacks.StatsdOptions{})
	_, diskErr := broker.NewDiskStorage(t.TempDir(), broker.DiskOptions{SegmentBytes: -1})
	_, newErr := producer.New(producer.Config{Brokers: []string{"h:1"}, MaxInFlight: -1})
	for _, c := range []struct {
		name, field string
		err         error
	}{
		{"producer.Config.Validate", "Brokers", producer.Config{}.Validate()},
		{"producer.New", "MaxInFlight", newErr},
		{"producer topic Acks", "Topics[t].Acks", producer.Config{Brokers: []string{"h:1"}, Topics: map[string]producer.TopicConfig{"t": {Acks: 42}}}.Validate()},
		{"broker.Config.Validate", "NodeID", broker.Config{NodeID: -1}.Validate()},
		{"broker.ClusterConfig.Validate", "DefaultPartitions", broker.ClusterConfig{DefaultPartitions: -1}.Validate()},
		{"broker.DiskOptions.Validate", "SegmentBytes", broker.DiskOptions{SegmentBytes: -1}.Validate()},
		{"broker.NewDiskStorage", "SegmentBytes", diskErr},
		{"mockbroker.NewCluster", "Brokers", mockErr},
		{"callbacks.NewStatsdWith", "Addr", statsdErr},
	} {
		var ce *producer.ConfigError
		if !errors.As(c.err, &ce) || ce.Field != c.field || ce.Reason == "" {
			t.Errorf("%s: %v, want a ConfigError for %s", c.name, c.err, c.field)
			continue
		}
		for pkg, sentinel := range configSentinels {
			if !errors.Is(c.err, sentinel) {
				t.Errorf("%s: %v does not match %s.ErrConfig", c.name, c.err, pkg)
			}
		}
		for pkg, sentinel := range closedSentinels {
			if errors.Is(c.err, sentinel) {
				t.Errorf("%s: %v matches %s.ErrClosed", c.name, c.err, pkg)
			}
		}
	}
}
