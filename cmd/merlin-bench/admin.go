package main

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// admin is a kgo client used to create topics and count what they hold,
// outside every timed window.
type admin struct{ cl *kgo.Client }

func newAdmin(brokers []string, sec security) (*admin, error) {
	cl, err := kgo.NewClient(append(sec.kgo(), kgo.SeedBrokers(brokers...), kgo.ClientID("merlin-bench-admin"))...)
	if err != nil {
		return nil, err
	}
	return &admin{cl: cl}, nil
}

func (a *admin) close() { a.cl.Close() }

// createTopic creates topic with the given number of partitions (broker's
// default replication) and waits until metadata shows all of them.
func (a *admin) createTopic(ctx context.Context, topic string, partitions int32) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic = topic
	t.NumPartitions = partitions
	t.ReplicationFactor = -1
	req.Topics = append(req.Topics, t)
	req.TimeoutMillis = 30_000
	resp, err := req.RequestWith(ctx, a.cl)
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	for _, rt := range resp.Topics {
		if err := kerr.ErrorForCode(rt.ErrorCode); err != nil {
			return fmt.Errorf("create topic %s: %w", topic, err)
		}
	}
	for {
		n, err := a.partitions(ctx, topic)
		if err == nil && n == partitions {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topic %s: waiting for %d partitions: %w (last: %d, %v)", topic, partitions, ctx.Err(), n, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// deleteTopic deletes topic.
func (a *admin) deleteTopic(ctx context.Context, topic string) error {
	req := kmsg.NewPtrDeleteTopicsRequest()
	rt := kmsg.NewDeleteTopicsRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	req.TopicNames = append(req.TopicNames, topic)
	req.TimeoutMillis = 30_000
	resp, err := req.RequestWith(ctx, a.cl)
	if err != nil {
		return fmt.Errorf("delete topic %s: %w", topic, err)
	}
	for _, rt := range resp.Topics {
		if err := kerr.ErrorForCode(rt.ErrorCode); err != nil {
			return fmt.Errorf("delete topic %s: %w", topic, err)
		}
	}
	return nil
}

func (a *admin) partitions(ctx context.Context, topic string) (int32, error) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, a.cl)
	if err != nil {
		return 0, err
	}
	for _, t := range resp.Topics {
		if t.Topic != nil && *t.Topic == topic {
			if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
				return 0, err
			}
			return int32(len(t.Partitions)), nil
		}
	}
	return 0, kerr.UnknownTopicOrPartition
}

// records returns how many records topic holds: the sum over its
// partitions of end offset minus start offset.
func (a *admin) records(ctx context.Context, topic string) (int64, error) {
	n, err := a.partitions(ctx, topic)
	if err != nil {
		return 0, err
	}
	end, err := a.offsets(ctx, topic, n, -1)
	if err != nil {
		return 0, err
	}
	start, err := a.offsets(ctx, topic, n, -2)
	if err != nil {
		return 0, err
	}
	return end - start, nil
}

// offsets sums the ListOffsets answers (-1 latest, -2 earliest) over the
// partitions of topic. kgo sends each partition to its leader.
func (a *admin) offsets(ctx context.Context, topic string, partitions int32, ts int64) (int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for p := range partitions {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = p
		rp.Timestamp = ts
		rp.CurrentLeaderEpoch = -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, a.cl)
	if err != nil {
		return 0, err
	}
	var sum int64
	seen := 0
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return 0, fmt.Errorf("list offsets %s/%d: %w", topic, p.Partition, err)
			}
			sum += p.Offset
			seen++
		}
	}
	if seen != int(partitions) {
		return 0, fmt.Errorf("list offsets %s: %d of %d partitions answered", topic, seen, partitions)
	}
	return sum, nil
}
