package broker

// On-disk storage on package seglog.

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/merlinkafka/merlin/internal/fsutil"
	"github.com/merlinkafka/merlin/internal/kbatch"
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

// Errors of NewDiskStorage. The errors it returns wrap one of them, with the
// directory and the cause.
var (
	// ErrDataDirLocked: another running broker (process, or DiskStorage in
	// this process) holds the directory's lock.
	ErrDataDirLocked = errors.New("broker: data directory is in use by another broker")
	// ErrDataDirIncompatible: the directory was made by an incompatible
	// version of merlin, is not a merlin data directory, or its metadata
	// is damaged.
	ErrDataDirIncompatible = errors.New("broker: data directory cannot be used")
	// ErrDataDirNotWritable: the directory cannot be created or written.
	ErrDataDirNotWritable = errors.New("broker: data directory is not writable")
)

// Files of a data directory.
const (
	diskFormatFile = "merlin-format.json"
	diskLockFile   = "merlin.lock"
	diskTopicsFile = "topics.json"
	diskTopicsDir  = "topics"
	diskTmpSuffix  = fsutil.TmpSuffix
	diskFormatName = "merlin-broker-data"
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

func (o DiskOptions) validate() error {
	switch {
	case o.SegmentBytes < 0 || o.SegmentBytes > seglog.MaxSegmentBytes:
		return configError("SegmentBytes", "must be in [0, %d], got %d", int64(seglog.MaxSegmentBytes), o.SegmentBytes)
	case o.SegmentRecords < 0:
		return configError("SegmentRecords", "must not be negative, got %d", o.SegmentRecords)
	case o.SegmentAge < 0:
		return configError("SegmentAge", "must not be negative, got %v", o.SegmentAge)
	case o.RetentionAge < 0:
		return configError("RetentionAge", "must not be negative, got %v", o.RetentionAge)
	case o.RetentionBytes < 0:
		return configError("RetentionBytes", "must not be negative, got %d", o.RetentionBytes)
	case o.RetentionCheckInterval < 0:
		return configError("RetentionCheckInterval", "must not be negative, got %v", o.RetentionCheckInterval)
	case o.MaxOpenFiles < 0:
		return configError("MaxOpenFiles", "must not be negative, got %d", o.MaxOpenFiles)
	}
	return nil
}

func (o DiskOptions) withDefaults() DiskOptions {
	if o.RetentionCheckInterval == 0 {
		o.RetentionCheckInterval = DefaultRetentionCheckInterval
	}
	if o.MaxOpenFiles == 0 {
		o.MaxOpenFiles = DefaultMaxOpenFiles
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
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
// ErrInvalidConfig for bad options.
//
// Partitions are opened (and recovered) when the cluster opens them, which
// NewCluster does for every saved topic.
func NewDiskStorage(dir string, opts DiskOptions) (*DiskStorage, error) {
	if err := opts.validate(); err != nil {
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

func (s *DiskStorage) open() error {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return fmt.Errorf("%w: cannot create %s: %w", ErrDataDirNotWritable, s.dir, err)
	}
	if fi, err := os.Stat(s.dir); err != nil {
		return fmt.Errorf("%w: %w", ErrDataDirNotWritable, err)
	} else if !fi.IsDir() {
		return fmt.Errorf("%w: %s is not a directory", ErrDataDirNotWritable, s.dir)
	}
	if err := s.acquireLock(); err != nil {
		return err
	}
	// The lock file may exist already and be writable in a directory that
	// is not: check that files can be created.
	probe, err := os.CreateTemp(s.dir, ".merlin-probe-*")
	if err != nil {
		return fmt.Errorf("%w: cannot create files in %s: %w", ErrDataDirNotWritable, s.dir, err)
	}
	probe.Close()
	if err := os.Remove(probe.Name()); err != nil {
		return fmt.Errorf("%w: %w", ErrDataDirNotWritable, err)
	}
	if err := s.checkFormat(); err != nil {
		return err
	}
	topics, err := s.readTopics()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(s.dir, diskTopicsDir), 0o755); err != nil {
		return fmt.Errorf("%w: %w", ErrDataDirNotWritable, err)
	}
	if err := syncDir(s.dir); err != nil {
		return err
	}
	s.setSavedLocked(topics)
	s.reportStrays()
	s.log.Info("data directory opened", "dir", s.dir, "format_version", DiskFormatVersion, "topics", len(topics),
		"flush", s.opts.Flush.String(), "retention_age", s.opts.RetentionAge, "retention_bytes", s.opts.RetentionBytes)
	return nil
}

// acquireLock creates and locks the lock file, and writes this process's
// pid into it.
func (s *DiskStorage) acquireLock() error {
	path := filepath.Join(s.dir, diskLockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("%w: cannot create the lock file: %w", ErrDataDirNotWritable, err)
	}
	ok, err := lockFile(f)
	switch {
	case errors.Is(err, errLockUnsupported):
		s.log.Warn("data directory not locked: file locks are not supported on this system; do not run two brokers on it", "dir", s.dir, "os", runtime.GOOS)
	case err != nil:
		f.Close()
		return fmt.Errorf("%w: locking %s: %w", ErrDataDirNotWritable, path, err)
	case !ok:
		holder := ""
		if b, err := os.ReadFile(path); err == nil {
			if pid := strings.TrimSpace(string(b)); pid != "" {
				holder = " (pid " + pid + ")"
			}
		}
		f.Close()
		return fmt.Errorf("%w: %s is locked by a running broker%s; stop it, or use another directory", ErrDataDirLocked, s.dir, holder)
	default:
		s.locked = true
	}
	s.lock = f
	pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt(pid, 0) // informative only
	}
	return nil
}

func (s *DiskStorage) unlock() {
	if s.lock == nil {
		return
	}
	if s.locked {
		_ = s.lock.Truncate(0)
		_ = unlockFile(s.lock)
	}
	_ = s.lock.Close()
	s.lock = nil
}

// diskFormat is the content of merlin-format.json.
type diskFormat struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
}

// checkFormat reads the format file, or initializes an empty directory.
func (s *DiskStorage) checkFormat() error {
	err := checkFormatFile(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return s.initialize()
	}
	return err
}

// checkFormatFile checks the format file of the data directory dir. A
// missing file gives an error wrapping fs.ErrNotExist; one this broker
// cannot read, an error wrapping ErrDataDirIncompatible.
func checkFormatFile(dir string) error {
	path := filepath.Join(dir, diskFormatFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s is not a merlin data directory: %w", ErrDataDirIncompatible, dir, err)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrDataDirIncompatible, err)
	}
	var f diskFormat
	if err := json.Unmarshal(b, &f); err != nil || f.Format != diskFormatName {
		return fmt.Errorf("%w: %s is not a merlin broker format file", ErrDataDirIncompatible, path)
	}
	switch {
	case f.Version > DiskFormatVersion:
		return fmt.Errorf("%w: %s was made by a newer merlin (data format version %d; this broker reads version %d); run a newer merlin-broker, or use another directory",
			ErrDataDirIncompatible, dir, f.Version, DiskFormatVersion)
	case f.Version != DiskFormatVersion:
		return fmt.Errorf("%w: %s has data format version %d, which this broker (version %d) cannot read",
			ErrDataDirIncompatible, dir, f.Version, DiskFormatVersion)
	}
	return nil
}

// initialize makes a new data directory: an empty topic list, then the
// format file, which marks the directory as initialized. A directory that
// holds other files is refused, so that a mistyped --dir never scatters
// files into someone else's directory.
func (s *DiskStorage) initialize() error {
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrDataDirNotWritable, err)
	}
	for _, de := range des {
		switch name := de.Name(); name {
		case diskLockFile, diskTopicsFile, diskTopicsFile + diskTmpSuffix, diskFormatFile + diskTmpSuffix:
			// Ours: a crash interrupted an earlier initialization.
		default:
			if !strings.HasPrefix(name, ".merlin-probe-") {
				return fmt.Errorf("%w: %s is not empty and is not a merlin data directory (it has %q but no %s); use an empty or new directory",
					ErrDataDirIncompatible, s.dir, name, diskFormatFile)
			}
		}
	}
	if err := s.writeTopics(nil); err != nil {
		return err
	}
	b, _ := json.Marshal(diskFormat{Format: diskFormatName, Version: DiskFormatVersion})
	if err := writeFileAtomic(filepath.Join(s.dir, diskFormatFile), append(b, '\n')); err != nil {
		return fmt.Errorf("%w: %w", ErrDataDirNotWritable, err)
	}
	if err := syncDir(s.dir); err != nil {
		return err
	}
	s.log.Info("new data directory", "dir", s.dir, "format_version", DiskFormatVersion)
	return nil
}

// topicsFile is the content of topics.json. CRC32C is the CRC-32C
// (Castagnoli) of the bytes of Topics as they appear in the file.
type topicsFile struct {
	Version int             `json:"version"`
	CRC32C  uint32          `json:"crc32c"`
	Topics  json.RawMessage `json:"topics"`
}

type topicEntry struct {
	Name       string `json:"name"`
	ID         string `json:"id"`
	Partitions int32  `json:"partitions"`
}

var castagnoli = kbatch.Castagnoli

func (s *DiskStorage) writeTopics(topics []TopicSpec) error {
	entries := make([]topicEntry, 0, len(topics))
	for _, t := range topics {
		entries = append(entries, topicEntry{Name: t.Name, ID: formatUUID(t.ID), Partitions: t.Partitions})
	}
	list, err := json.Marshal(entries)
	if err != nil {
		return err
	}
	b, err := json.Marshal(topicsFile{Version: DiskFormatVersion, CRC32C: crc32.Checksum(list, castagnoli), Topics: list})
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(s.dir, diskTopicsFile), append(b, '\n')); err != nil {
		return err
	}
	return syncDir(s.dir)
}

func (s *DiskStorage) readTopics() ([]TopicSpec, error) {
	path := filepath.Join(s.dir, diskTopicsFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: the topic list is unreadable: %w", ErrDataDirIncompatible, err)
	}
	damaged := func(why string, args ...any) error {
		return fmt.Errorf("%w: the topic list %s is damaged: %s", ErrDataDirIncompatible, path, fmt.Sprintf(why, args...))
	}
	var f topicsFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, damaged("%v", err)
	}
	if f.Version != DiskFormatVersion {
		return nil, damaged("version %d, want %d", f.Version, DiskFormatVersion)
	}
	if sum := crc32.Checksum(f.Topics, castagnoli); sum != f.CRC32C {
		return nil, damaged("checksum %d, computed %d", f.CRC32C, sum)
	}
	var entries []topicEntry
	if err := json.Unmarshal(f.Topics, &entries); err != nil {
		return nil, damaged("%v", err)
	}
	topics := make([]TopicSpec, 0, len(entries))
	for _, e := range entries {
		id, ok := parseUUID(e.ID)
		switch {
		case validTopicName(e.Name) != "":
			return nil, damaged("topic name %q: %s", e.Name, validTopicName(e.Name))
		case !ok:
			return nil, damaged("topic %q has id %q", e.Name, e.ID)
		case e.Partitions < 1 || e.Partitions > MaxPartitions:
			return nil, damaged("topic %q has %d partitions", e.Name, e.Partitions)
		}
		topics = append(topics, TopicSpec{Name: e.Name, ID: id, Partitions: e.Partitions})
	}
	return topics, nil
}

func formatUUID(id [16]byte) string {
	h := hex.EncodeToString(id[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func parseUUID(s string) ([16]byte, bool) {
	var id [16]byte
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 || len(s) != 36 {
		return id, false
	}
	copy(id[:], b)
	return id, true
}

func (s *DiskStorage) setSavedLocked(topics []TopicSpec) {
	s.topics = slices.Clone(topics)
	clear(s.saved)
	for _, t := range topics {
		for p := range t.Partitions {
			s.saved[topicPartition{t.Name, p}] = true
		}
	}
}

// reportStrays logs the partition directories that no saved topic lists.
func (s *DiskStorage) reportStrays() {
	des, err := os.ReadDir(filepath.Join(s.dir, diskTopicsDir))
	if err != nil {
		return
	}
	for _, de := range des {
		tp, ok := parsePartitionDir(de.Name())
		if !ok || !s.saved[tp] {
			s.log.Warn("data directory holds a partition directory of no saved topic; left alone (creating that partition again replaces it)",
				"dir", filepath.Join(s.dir, diskTopicsDir, de.Name()))
		}
	}
}

func partitionDirName(tp topicPartition) string {
	return tp.topic + "-" + strconv.Itoa(int(tp.partition))
}

func parsePartitionDir(name string) (topicPartition, bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return topicPartition{}, false
	}
	p, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || p < 0 || strconv.Itoa(int(p)) != name[i+1:] {
		return topicPartition{}, false
	}
	return topicPartition{name[:i], int32(p)}, true
}

// Dir returns the data directory.
func (s *DiskStorage) Dir() string { return s.dir }

// FileCacheStats returns the counters of the cache of open segment files.
func (s *DiskStorage) FileCacheStats() seglog.FileCacheStats { return s.files.Stats() }

// OpenPartition opens the log of a partition, recovering it (see seglog.Open),
// or creates it. A partition that the saved topic list does not name yet is
// being created: a directory it may have from an interrupted creation is
// replaced.
func (s *DiskStorage) OpenPartition(topic string, partition int32) (PartitionLog, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrStorageClosed
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
		return ErrStorageClosed
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
		return nil, ErrStorageClosed
	}
	return slices.Clone(s.topics), nil
}

// ApplyRetention applies the retention limits to every open partition now,
// as the storage's own goroutine does every RetentionCheckInterval, and
// returns how many segments it deleted.
func (s *DiskStorage) ApplyRetention(now time.Time) (int, error) {
	s.mu.Lock()
	logs := make([]*diskLog, 0, len(s.logs))
	for _, l := range s.logs {
		logs = append(logs, l)
	}
	s.mu.Unlock()
	total := 0
	var errs []error
	for _, l := range logs {
		n, err := l.log.ApplyRetention(now)
		total += n
		if err != nil && !errors.Is(err, seglog.ErrClosed) {
			errs = append(errs, fmt.Errorf("%s/%d: %w", l.tp.topic, l.tp.partition, err))
		}
	}
	return total, errors.Join(errs...)
}

func (s *DiskStorage) retentionLoop() {
	defer close(s.done)
	t := time.NewTicker(s.opts.RetentionCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			if _, err := s.ApplyRetention(now); err != nil {
				s.log.Error("retention", "err", err)
			}
		}
	}
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

// diskLog is one partition's seglog.Log as a PartitionLog.
type diskLog struct {
	s    *DiskStorage
	tp   topicPartition
	log  *seglog.Log
	once sync.Once
	err  error
}

var _ headerScanner = (*diskLog)(nil)

func (l *diskLog) Append(batch []byte) (int64, error) {
	base, sync, err := l.AppendDeferred(batch)
	if err != nil {
		return 0, err
	}
	if err := sync(); err != nil {
		return 0, err
	}
	return base, nil
}

// AppendDeferred is Append with the fsync of --fsync always (or every=N)
// left to the caller: the partition releases its lock before it, so that
// concurrent produces to one partition share an fsync (seglog's group
// commit) instead of queueing for one each.
func (l *diskLog) AppendDeferred(batch []byte) (int64, func() error, error) {
	base, _, sync, err := l.log.AppendDeferred(batch)
	if err != nil {
		if errors.Is(err, seglog.ErrInvalidBatch) {
			return 0, nil, fmt.Errorf("%w: %w", ErrInvalidBatch, err)
		}
		return 0, nil, err
	}
	return base, sync, nil
}

// Read returns whole batches from one segment. When it meets corrupt data it
// returns the good batches before it, if any, and the error (wrapping
// ErrCorruptData) only when there are none, so that a consumer gets
// everything up to the damage, then CORRUPT_MESSAGE.
func (l *diskLog) Read(offset int64, maxBytes int, dst []byte) ([]byte, error) {
	sl, err := l.log.Read(offset, maxBytes)
	if err != nil {
		switch {
		case errors.Is(err, seglog.ErrOffsetOutOfRange):
			return dst, fmt.Errorf("%w: %w", ErrOffsetOutOfRange, err)
		case errors.Is(err, seglog.ErrCorrupt):
			return dst, fmt.Errorf("%w: %w", ErrCorruptData, err)
		}
		return dst, err
	}
	defer sl.Close()
	out, err := sl.AppendTo(dst)
	if err != nil {
		if errors.Is(err, seglog.ErrCorrupt) {
			if len(out) > len(dst) {
				return out, nil // the next fetch, from the damage on, gets the error
			}
			return dst, fmt.Errorf("%w: %w", ErrCorruptData, err)
		}
		return dst, err
	}
	return out, nil
}

func (l *diskLog) StartOffset() int64 { return l.log.StartOffset() }
func (l *diskLog) Size() int64        { return l.log.Size() }
func (l *diskLog) Segments() int      { return l.log.Segments() }
func (l *diskLog) NextOffset() int64  { return l.log.NextOffset() }

func (l *diskLog) OffsetForTime(ts int64) (int64, bool) {
	off, ok, err := l.log.OffsetForTime(ts)
	if err != nil {
		if !errors.Is(err, seglog.ErrClosed) {
			l.s.log.Error("looking up an offset by time", "topic", l.tp.topic, "partition", l.tp.partition, "ts", ts, "err", err)
		}
		return 0, false
	}
	return off, ok
}

func (l *diskLog) ScanHeaders(from int64, fn func(kbatch.Header) bool) error {
	return l.log.ScanHeaders(from, fn)
}

// Close closes the partition's log; opening the partition again reopens it.
func (l *diskLog) Close() error {
	l.s.mu.Lock()
	if l.s.logs[l.tp] == l {
		delete(l.s.logs, l.tp)
	}
	l.s.mu.Unlock()
	return l.close()
}

func (l *diskLog) close() error {
	l.once.Do(func() { l.err = l.log.Close() })
	return l.err
}

// writeFileAtomic and syncDir are fsutil's, with errors prefixed by the
// package name as the others are.
func writeFileAtomic(path string, data []byte) error {
	if err := fsutil.WriteFileAtomic(path, data); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	if err := fsutil.SyncDir(dir); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	return nil
}
