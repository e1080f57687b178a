package broker

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// partitionRemover is implemented by storages that can drop a partition's
// data for good, so that a deleted topic's name can be reused afresh.
type partitionRemover interface {
	removePartition(topic string, partition int32) error
}

// DeleteTopic deletes a topic: it leaves the saved topic list first, then
// its partitions are closed (fetches waiting on them return) and their data
// removed, and the consumer groups' offsets for it are deleted, as Kafka
// does. A crash after the list was saved leaves partition directories that
// no saved topic names, which a new topic of the same name replaces.
func (c *Cluster) DeleteTopic(name string) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errClusterClosed
	}
	t := c.topics[name]
	if t == nil {
		c.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrUnknownTopicOrPartition, name)
	}
	// The topic's configs go first: a crash before the topic list is
	// saved leaves the topic with its defaults rather than a new topic of
	// the same name with the old one's configs.
	if tc, ok := c.storage.(topicConfigurer); ok {
		if err := tc.setTopicConfig(t.name, nil); err != nil {
			c.mu.Unlock()
			return err
		}
	}
	delete(c.topics, t.name)
	delete(c.topicIDs, t.id)
	if err := c.saveTopicsLocked(); err != nil {
		c.topics[t.name], c.topicIDs[t.id] = t, t
		c.mu.Unlock()
		return err
	}
	var errs []error
	rm, _ := c.storage.(partitionRemover)
	for _, p := range t.partitions {
		p.closeWaiters()
		if err := p.log.Close(); err != nil {
			errs = append(errs, err)
		}
		if rm != nil {
			if err := rm.removePartition(t.name, p.index); err != nil {
				errs = append(errs, err)
			}
		}
	}
	c.mu.Unlock()
	c.groups.forgetTopic(t.name)
	if err := errors.Join(errs...); err != nil {
		c.log.Error("removing a deleted topic's data", "topic", t.name, "err", err)
	}
	return nil
}

// removePartition drops a partition of the memory storage.
func (s *memoryStorage) removePartition(topic string, partition int32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.logs, topicPartition{topic, partition})
	return nil
}

// removePartition removes the directory of a partition that the saved
// topic list no longer names. Its log must be closed.
func (s *DiskStorage) removePartition(topic string, partition int32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errStorageClosed
	}
	tp := topicPartition{topic, partition}
	if s.saved[tp] {
		return fmt.Errorf("broker: partition %s/%d is still listed", topic, partition)
	}
	parent := filepath.Join(s.dir, diskTopicsDir)
	if err := os.RemoveAll(filepath.Join(parent, partitionDirName(tp))); err != nil {
		return fmt.Errorf("broker: removing partition %s/%d: %w", topic, partition, err)
	}
	return syncDir(parent)
}

// forgetTopic deletes every group's committed offsets of a deleted topic.
func (gc *groupCoordinator) forgetTopic(topic string) {
	for _, g := range gc.all() {
		g.mu.Lock()
		var recs []groupRecord
		for tp := range g.offsets {
			if tp.topic == topic {
				recs = append(recs, groupRecord{Type: recOffsetDelete, Group: g.id, Topic: tp.topic, Partition: tp.partition})
			}
		}
		if len(recs) > 0 && gc.store != nil {
			if err := gc.store.append(recs); err != nil {
				gc.log.Error("persisting the offsets deletion of a deleted topic", "group", g.id, "topic", topic, "err", err)
			}
		}
		for _, r := range recs {
			delete(g.offsets, topicPartition{r.Topic, r.Partition})
		}
		g.mu.Unlock()
	}
}
