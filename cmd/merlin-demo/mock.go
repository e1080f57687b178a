package main

import (
	"fmt"
	"log/slog"

	"github.com/merlinkafka/merlin/mockbroker"
)

// mockCluster is a mockbroker cluster of several in-memory brokers.
type mockCluster struct {
	c *mockbroker.Cluster
	n int
}

func startMock(n int, topic string, partitions int32, log *slog.Logger) (cluster, error) {
	c, err := mockbroker.NewCluster(mockbroker.Brokers(n), mockbroker.Topic(topic, partitions), mockbroker.Logger(log))
	if err != nil {
		return nil, err
	}
	return &mockCluster{c: c, n: n}, nil
}

func (m *mockCluster) Addrs() []string { return m.c.Addrs() }
func (m *mockCluster) Describe() string {
	return fmt.Sprintf("mockbroker cluster of %d brokers (in memory)", m.n)
}
func (m *mockCluster) CanStop() bool { return true }

func (m *mockCluster) StopLeader(topic string) (int32, error) {
	id := m.c.Leader(topic, 0)
	return id, m.c.Stop(id)
}

func (m *mockCluster) Restart(id int32) error { return m.c.Start(id) }
func (m *mockCluster) Close()                 { m.c.Close() }
