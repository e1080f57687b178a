package broker

// On-disk storage on package seglog.

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/merlinkafka/merlin/seglog"
)

// DiskFormatVersion is the version of the data directory layout that this
// build writes and reads. A directory written with another version is
// refused with ErrDataDirIncompatible rather than misread.
const DiskFormatVersion = 1

// Defaults for the zero fields of DiskOptions.
const (
	// DefaultRetentionCheckInterval is how often a DiskStorage with a
	// retention limit deletes the segments that are past it.
	DefaultRetentionCheckInterval = time.Minute
	// DefaultMaxOpenFiles bounds the segment files a DiskStorage keeps
	// open, all partitions together. Keep it above the number of
	// partitions written to at the same time: the active segment of a
	// partition whose handle was closed is reopened on its next append.
	DefaultMaxOpenFiles = 1000
)

// DiskOptions configures a DiskStorage. The zero value of every field
// selects its default; the segment and flush fields apply to every
// partition's seglog.Log (see seglog.Options for their defaults).
type DiskOptions struct {
	// SegmentBytes rolls a partition's segment at this size. Default
	// seglog.DefaultSegmentBytes (64 MiB).
	SegmentBytes int64
	// SegmentRecords rolls a partition's segment at this many records.
	// Default: no limit other than seglog's (math.MaxInt32).
	SegmentRecords int64
	// SegmentAge rolls a partition's segment that is older than this at
	// the time of an append. Default seglog.DefaultSegmentAge (7 days), or
	// RetentionAge when that is shorter.
	SegmentAge time.Duration
	// Flush is the fsync policy of every partition: what an acknowledged
	// produce survives (see seglog.FlushPolicy). Default seglog.DefaultFlush
	// (interval=1s).
	Flush seglog.FlushPolicy
	// RetentionAge deletes, every RetentionCheckInterval, the sealed
	// segments whose newest record is older than this. 0 keeps data
	// forever.
	RetentionAge time.Duration
	// RetentionBytes deletes the oldest sealed segments of a partition
	// while it stays at least this large without them. 0: no limit.
	RetentionBytes int64
	// RetentionCheckInterval is how often retention runs when RetentionAge
	// or RetentionBytes is set. Default DefaultRetentionCheckInterval.
	RetentionCheckInterval time.Duration
	// MaxOpenFiles bounds the segment files open at once, all partitions
	// together. Default DefaultMaxOpenFiles.
	MaxOpenFiles int
	// Logger receives recovery reports (torn tails cut, indexes rebuilt),
	// retention deletions and storage errors. Default slog.Default().
	Logger *slog.Logger
}

// Validate reports the first invalid field, as a *ConfigError naming it.
// Zero fields are valid: they take their defaults.
func (o DiskOptions) Validate() error {
	if o.SegmentBytes < 0 || o.SegmentBytes > seglog.MaxSegmentBytes {
		return configError("SegmentBytes", "must be in [0, %d], got %d", int64(seglog.MaxSegmentBytes), o.SegmentBytes)
	}
	return cmp.Or(
		notNegative("SegmentRecords", o.SegmentRecords),
		notNegative("SegmentAge", o.SegmentAge),
		notNegative("RetentionAge", o.RetentionAge),
		notNegative("RetentionBytes", o.RetentionBytes),
		notNegative("RetentionCheckInterval", o.RetentionCheckInterval),
		notNegative("MaxOpenFiles", o.MaxOpenFiles),
	)
}

// withDefaults returns a copy with every zero field at its default.
func (o DiskOptions) withDefaults() DiskOptions {
	o.RetentionCheckInterval = cmp.Or(o.RetentionCheckInterval, DefaultRetentionCheckInterval)
	o.MaxOpenFiles = cmp.Or(o.MaxOpenFiles, DefaultMaxOpenFiles)
	o.Logger = cmp.Or(o.Logger, slog.Default())
	return o
}

// DiskStorage is the on-disk Storage: one seglog.Log per partition, the topic
// list in a checksummed file, and an advisory lock that keeps a second broker
// out of the directory. Make one with NewDiskStorage.
//
// # Layout
//
//	DIR/merlin-format.json        format name and version, written once
//	DIR/merlin.lock               flock(2)ed while open; holds the owner's pid
//	DIR/topics.json               topic names, ids and partition counts
//	DIR/topics/NAME-PARTITION/    one seglog.Log per partition
//
// topics.json is replaced atomically (temporary file, fsync, rename, fsync
// of the directory) on every change and carries a CRC-32C of its topic list.
// A partition directory that no saved topic lists is what a crash left
// between creating a topic's partitions and saving the topic list: no client
// could have written to it, and creating that partition again starts it
// afresh. Topic names are ASCII letters, digits, '.', '_' and '-', so that
// NAME-PARTITION is always a plain file name; on a case-insensitive file
// system two topic names differing only in case would share directories.
//
// # The lock
//
// The lock is a flock(2) on merlin.lock, which the kernel drops when the
// process dies however it dies: after kill -9 or a crash a new broker starts
// on the directory without anyone deleting anything (the stale file and its
// stale pid are harmless). On systems without flock the directory is not
// locked.
//
// # Durability and recovery
//
// DiskOptions.Flush decides what an acknowledged produce survives; see
// seglog's package documentation for what each policy keeps after kill -9
// and after a power cut. Opening a partition recovers its log: the newest
// segment is checked batch by batch and a torn or corrupt tail is cut, and
// the cut logged at WARN level with its offset and size.
//
// # Retention
//
// With RetentionAge or RetentionBytes set, a goroutine owned by the storage
// applies retention to every partition every RetentionCheckInterval, and
// stops on Close. Retention deletes whole sealed segments, oldest first;
// the log start offset moves to the first remaining one.
type DiskStorage struct {
	dir    string
	opts   DiskOptions
	log    *slog.Logger
	files  *seglog.FileCache
	lock   *os.File
	locked bool

	mu     sync.Mutex
	topics []TopicSpec
	saved  map[topicPartition]bool // partitions of the saved topic list
	logs   map[topicPartition]*diskLog
	closed bool
	// topicCfg holds the per-topic configs, read on first use (see
	// topic_configs.go).
	topicCfg *topicConfigStore

	stop chan struct{}
	done chan struct{}

	syncs histogram // segment fsyncs, for SyncStats
}

var _ Storage = (*DiskStorage)(nil)

// NewDiskStorage opens the data directory dir, creating it if needed, and
// locks it. It fails with an error wrapping ErrDataDirNotWritable when dir
// cannot be created or written, ErrDataDirLocked when another broker holds
// it, and ErrDataDirIncompatible when it was made by an incompatible version,
// is not a merlin data directory (a non-empty directory without merlin's
// format file), or its topic list is damaged; and with an error wrapping
// ErrConfig for bad options.
//
// Partitions are opened (and recovered) when the cluster opens them, which
// NewCluster does for every saved topic.
func NewDiskStorage(dir string, opts DiskOptions) (*DiskStorage, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	if dir == "" {
		return nil, configError("dir", "the data directory must be named")
	}
	s := &DiskStorage{
		dir:   dir,
		opts:  opts,
		log:   opts.Logger,
		files: seglog.NewFileCache(opts.MaxOpenFiles),
		saved: make(map[topicPartition]bool),
		logs:  make(map[topicPartition]*diskLog),
	}
	if err := s.open(); err != nil {
		s.unlock()
		return nil, err
	}
	if opts.RetentionAge > 0 || opts.RetentionBytes > 0 {
		s.stop, s.done = make(chan struct{}), make(chan struct{})
		go s.retentionLoop()
	}
	return s, nil
}

// Dir returns the data directory.
func (s *DiskStorage) Dir() string { return s.dir }

// OpenPartition opens the log of a partition, recovering it (see seglog.Open),
// or creates it. A partition that the saved topic list does not name yet is
// being created: a directory it may have from an interrupted creation is
// replaced.
func (s *DiskStorage) OpenPartition(topic string, partition int32) (PartitionLog, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errStorageClosed
	}
	tp := topicPartition{topic, partition}
	if l := s.logs[tp]; l != nil {
		return l, nil
	}
	if why := validTopicName(topic); why != "" {
		return nil, fmt.Errorf("%w: %s", ErrInvalidTopic, why)
	}
	if partition < 0 {
		return nil, fmt.Errorf("%w: partition %d", ErrInvalidPartitions, partition)
	}
	parent := filepath.Join(s.dir, diskTopicsDir)
	dir := filepath.Join(parent, partitionDirName(tp))
	_, err := os.Lstat(dir)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("broker: partition directory: %w", err)
	}
	switch {
	case exists && !s.saved[tp]:
		s.log.Warn("replacing the directory of a partition whose creation was interrupted", "dir", dir)
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("broker: removing %s: %w", dir, err)
		}
		exists = false
	case !exists && s.saved[tp]:
		s.log.Error("the directory of a saved partition is missing; starting it empty", "dir", dir, "topic", topic, "partition", partition)
	}
	if !exists {
		if err := os.Mkdir(dir, 0o755); err != nil {
			return nil, fmt.Errorf("broker: creating partition directory: %w", err)
		}
		if err := syncDir(parent); err != nil {
			return nil, err
		}
	}
	lg, err := seglog.Open(dir, seglog.Options{
		SegmentBytes:   s.opts.SegmentBytes,
		SegmentRecords: s.opts.SegmentRecords,
		SegmentAge:     s.opts.SegmentAge,
		Flush:          s.opts.Flush,
		RetentionAge:   s.opts.RetentionAge,
		RetentionBytes: s.opts.RetentionBytes,
		Files:          s.files,
		Logger:         s.log.With("topic", topic, "partition", partition),
		OnSync:         s.syncs.observe,
	})
	if err != nil {
		return nil, fmt.Errorf("broker: opening %s: %w", dir, err)
	}
	if err := s.applyTopicLimitsLocked(topic, lg); err != nil {
		_ = lg.Close()
		return nil, err
	}
	l := &diskLog{s: s, tp: tp, log: lg}
	s.logs[tp] = l
	return l, nil
}

// SaveTopics replaces the saved topic list atomically.
func (s *DiskStorage) SaveTopics(topics []TopicSpec) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errStorageClosed
	}
	if err := s.writeTopics(topics); err != nil {
		return err
	}
	s.setSavedLocked(topics)
	return nil
}

// LoadTopics returns the saved topic list.
func (s *DiskStorage) LoadTopics() ([]TopicSpec, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errStorageClosed
	}
	return slices.Clone(s.topics), nil
}

// Close stops retention, closes (and fsyncs) every partition log and
// releases the directory's lock.
func (s *DiskStorage) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	if s.stop != nil {
		close(s.stop)
		<-s.done
	}
	s.mu.Lock()
	logs := s.logs
	s.logs = nil
	s.mu.Unlock()
	var errs []error
	for _, l := range logs {
		if err := l.close(); err != nil {
			errs = append(errs, fmt.Errorf("%s/%d: %w", l.tp.topic, l.tp.partition, err))
		}
	}
	s.unlock()
	return errors.Join(errs...)
}
