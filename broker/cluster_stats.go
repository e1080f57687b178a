package broker

import (
	"cmp"
	"slices"
	"strings"
)

// PartitionStats describes one partition for monitoring.
type PartitionStats struct {
	Topic     string
	Partition int32
	// Leader is the node id of the partition's leader.
	Leader int32
	// StartOffset and EndOffset are the log start offset and the log end
	// offset (the next offset, which is also the high watermark).
	StartOffset, EndOffset int64
	// SizeBytes is the size of the partition's log (on disk for
	// DiskStorage, in memory for NewMemoryStorage), -1 when its storage
	// does not tell.
	SizeBytes int64
	// Segments is the number of segment files, -1 when its storage has
	// none or does not tell (memory).
	Segments int
	// Producers counts the idempotent producer ids with state on the
	// partition.
	Producers int
}

// ProducerStats is the idempotence state of one producer id on one
// partition.
type ProducerStats struct {
	ProducerID    int64
	ProducerEpoch int16
	Topic         string
	Partition     int32
	// LastSequence is the sequence number of the last record stored, and
	// LastOffset the base offset of its batch.
	LastSequence int32
	LastOffset   int64
}

// sizer and segmenter are implemented by partition logs that can tell
// their size and segment count (both storages tell their size; the disk
// log its segments).
type (
	sizer     interface{ Size() int64 }
	segmenter interface{ Segments() int }
)

// syncStatter is implemented by storages that count their fsyncs.
type syncStatter interface{ SyncStats() Histogram }

// allPartitions lists the partitions, by topic name then index.
func (c *Cluster) allPartitions() []*partition {
	c.mu.RLock()
	var ps []*partition
	for _, t := range c.topics {
		ps = append(ps, t.partitions...)
	}
	c.mu.RUnlock()
	slices.SortFunc(ps, func(a, b *partition) int {
		return cmp.Or(strings.Compare(a.topic.name, b.topic.name), cmp.Compare(a.index, b.index))
	})
	return ps
}

// PartitionStats describes every partition, by topic name then index. The
// list has at most ClusterConfig.MaxPartitionsTotal elements.
func (c *Cluster) PartitionStats() []PartitionStats {
	ps := c.allPartitions()
	out := make([]PartitionStats, 0, len(ps))
	for _, p := range ps {
		s := PartitionStats{
			Topic:       p.topic.name,
			Partition:   p.index,
			Leader:      p.leader(),
			StartOffset: p.log.StartOffset(),
			EndOffset:   p.log.NextOffset(),
			SizeBytes:   -1,
			Segments:    -1,
		}
		if l, ok := p.log.(sizer); ok {
			s.SizeBytes = l.Size()
		}
		if l, ok := p.log.(segmenter); ok {
			s.Segments = l.Segments()
		}
		p.mu.Lock()
		s.Producers = len(p.producers)
		p.mu.Unlock()
		out = append(out, s)
	}
	return out
}

// Producers lists the idempotent producer state of every partition, by
// topic, partition and producer id.
func (c *Cluster) Producers() []ProducerStats {
	var out []ProducerStats
	for _, p := range c.allPartitions() {
		start := len(out)
		p.mu.Lock()
		for id, st := range p.producers {
			if st.n == 0 {
				continue
			}
			last := st.batches[(st.head+st.n-1)%maxCachedBatches]
			out = append(out, ProducerStats{
				ProducerID: id, ProducerEpoch: st.epoch,
				Topic: p.topic.name, Partition: p.index,
				LastSequence: last.last, LastOffset: last.base,
			})
		}
		p.mu.Unlock()
		slices.SortFunc(out[start:], func(a, b ProducerStats) int { return cmp.Compare(a.ProducerID, b.ProducerID) })
	}
	return out
}

// ProducerIDsAllocated counts the producer ids InitProducerId handed out
// since the cluster was created.
func (c *Cluster) ProducerIDsAllocated() int64 {
	return c.nextPID.Load() - c.firstPID
}

// StorageSyncs returns the fsyncs of segment files the storage made
// (DiskStorage does), and false when the storage does not count them
// (memory).
func (c *Cluster) StorageSyncs() (Histogram, bool) {
	if s, ok := c.storage.(syncStatter); ok {
		return s.SyncStats(), true
	}
	return Histogram{}, false
}

// SyncStats returns the fsyncs of segment files made so far and their
// durations.
func (s *DiskStorage) SyncStats() Histogram { return s.syncs.snapshot() }
