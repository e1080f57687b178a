package broker

import (
	"errors"

	"github.com/merlinkafka/merlin/internal/kbatch"
)

// Storage keeps the partition logs of a cluster and the list of its topics.
//
// The broker opens every partition it knows once, through OpenPartition, and
// closes the Storage (which closes its partitions) when the cluster that owns
// it closes. Implementations: NewMemoryStorage, and NewDiskStorage on
// package seglog.
type Storage interface {
	// OpenPartition opens (creating it if needed) the log of one partition.
	// It is called once per partition, under the cluster's topic lock.
	OpenPartition(topic string, partition int32) (PartitionLog, error)
	// SaveTopics records the whole topic list, replacing the previous one,
	// so that a persistent store can restore the topics after a restart.
	// It is called after every topic creation or partition addition.
	SaveTopics(topics []TopicSpec) error
	// LoadTopics returns what the last SaveTopics stored (nothing for a new
	// store).
	LoadTopics() ([]TopicSpec, error)
	// Close closes every partition log and releases the store. Methods
	// called after it return an error matching ErrClosed (errors.Is).
	Close() error
}

// TopicSpec is what Storage persists about a topic.
type TopicSpec struct {
	Name       string
	ID         [16]byte // Kafka topic id (UUID), stable across restarts
	Partitions int32
}

// PartitionLog is the log of one partition: Kafka v2 record batches, each
// whole, with dense offsets.
//
// The broker calls Append for a partition from one goroutine at a time, but it
// may call Read and the offset methods concurrently with Append and with each
// other: implementations must be safe for that.
type PartitionLog interface {
	// Append stores one record batch that the broker has already validated
	// (header, length, CRC32C, NumRecords == LastOffsetDelta+1). The log
	// assigns the batch the next offset by patching its BaseOffset field (the
	// CRC does not cover it), stores the bytes otherwise unchanged, and
	// returns that base offset. Append may patch batch in place but must not
	// keep it after returning: the broker reuses the buffer. An error
	// wrapping ErrInvalidBatch (a batch the log refuses) is answered
	// CORRUPT_MESSAGE; any other error KAFKA_STORAGE_ERROR.
	Append(batch []byte) (base int64, err error)
	// Read appends to dst whole batches, starting with the batch that
	// contains offset, while their total stays within maxBytes, but always at
	// least one batch when offset < NextOffset. It returns dst unchanged when
	// offset == NextOffset, and an error wrapping ErrOffsetOutOfRange when
	// offset is below StartOffset or above NextOffset (Fetch answers
	// OFFSET_OUT_OF_RANGE). An error wrapping ErrCorruptData (stored bytes
	// that are not valid batches) is answered CORRUPT_MESSAGE, as Kafka
	// answers corrupt records, so that consumers can tell it from a
	// failing disk and seek past the damage (see VerifyDisk); any other
	// error is answered KAFKA_STORAGE_ERROR.
	Read(offset int64, maxBytes int, dst []byte) ([]byte, error)
	// StartOffset is the first offset still in the log (the log start offset).
	StartOffset() int64
	// NextOffset is the offset the next appended record gets (the log end
	// offset, which is also the high watermark: there is no replication).
	NextOffset() int64
	// OffsetForTime returns the base offset of the first batch whose
	// MaxTimestamp is at least ts (milliseconds), and false when there is
	// none. The broker narrows it down to the record.
	OffsetForTime(ts int64) (int64, bool)
	// Close releases the log. The broker does not use it afterwards.
	Close() error
}

// ErrOffsetOutOfRange is wrapped by PartitionLog.Read when the offset is not
// in the log. The broker answers it with OFFSET_OUT_OF_RANGE.
var ErrOffsetOutOfRange = errors.New("broker: offset out of range")

// ErrCorruptData is wrapped by PartitionLog.Read when the stored data at the
// offset is damaged. The broker answers it with CORRUPT_MESSAGE.
var ErrCorruptData = errors.New("broker: corrupt stored data")

// ErrInvalidBatch is wrapped by PartitionLog.Append when the log refuses a
// batch as malformed. The broker answers it with CORRUPT_MESSAGE.
var ErrInvalidBatch = errors.New("broker: invalid record batch")

// headerScanner is implemented by partition logs that can list their batch
// headers without reading the records (the disk log): the cluster then
// rebuilds its producer state from them at startup instead of reading the
// whole log.
type headerScanner interface {
	ScanHeaders(from int64, fn func(kbatch.Header) bool) error
}
