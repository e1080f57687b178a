package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/merlinkafka/merlin/broker"
)

// cluster is where the demo produces: embedded brokers it can stop and
// restart, or an external cluster it cannot.
type cluster interface {
	Addrs() []string
	Describe() string
	CanStop() bool
	// StopLeader stops the broker leading partition 0 of topic.
	StopLeader(topic string) (int32, error)
	Restart(id int32) error
	Close()
}

type externalCluster []string

func external(addrs []string) cluster         { return externalCluster(addrs) }
func (e externalCluster) Addrs() []string     { return e }
func (e externalCluster) Describe() string    { return "external cluster (no outage staged)" }
func (e externalCluster) CanStop() bool       { return false }
func (e externalCluster) Restart(int32) error { return errors.New("external cluster") }
func (e externalCluster) Close()              {}
func (e externalCluster) StopLeader(string) (int32, error) {
	return -1, errors.New("cannot stop a broker of an external cluster")
}

// embedded is one bundled broker in this process. Stopping it closes its
// listener and connections; restarting opens a new Broker for the same
// node on the same address over the same cluster state, as a process
// restart on the same data directory would.
type embedded struct {
	cluster *broker.Cluster
	b       *broker.Broker
	addr    string
	dir     string
	log     *slog.Logger
}

func startEmbedded(n int, topic string, partitions int32, log *slog.Logger) (cluster, error) {
	if n > 1 {
		return startMock(n, topic, partitions, log)
	}
	dir, err := os.MkdirTemp("", "merlin-demo-")
	if err != nil {
		return nil, err
	}
	storage, err := openStorage(dir, log)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	c, err := broker.NewCluster(broker.ClusterConfig{Storage: storage, DefaultPartitions: partitions, Logger: log})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := c.CreateTopic(topic, partitions); err != nil && !errors.Is(err, broker.ErrTopicExists) {
		c.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	e := &embedded{cluster: c, dir: dir, log: log, addr: "127.0.0.1:0"}
	if err := e.start(); err != nil {
		c.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	return e, nil
}

func (e *embedded) start() error {
	b, err := broker.New(broker.Config{Listen: e.addr, Cluster: e.cluster, Logger: e.log})
	if err != nil {
		return err
	}
	if err := b.Start(); err != nil {
		return err
	}
	e.b = b
	e.addr = b.Addr()
	return nil
}

func (e *embedded) Addrs() []string { return []string{e.addr} }
func (e *embedded) Describe() string {
	return fmt.Sprintf("embedded bundled broker (%s)", storageName(e.dir))
}
func (e *embedded) CanStop() bool { return true }

func (e *embedded) StopLeader(string) (int32, error) {
	if e.b == nil {
		return -1, errors.New("already stopped")
	}
	err := e.b.Close()
	e.b = nil
	return 0, err
}

func (e *embedded) Restart(int32) error { return e.start() }

func (e *embedded) Close() {
	if e.b != nil {
		e.b.Close()
	}
	e.cluster.Close()
	os.RemoveAll(e.dir)
}
