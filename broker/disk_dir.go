package broker

// The data directory of a DiskStorage: its lock, format file and topic list.

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/merlinkafka/merlin/internal/fsutil"
	"github.com/merlinkafka/merlin/internal/kbatch"
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
