// Spill: one partition worker's on-disk queue of record batches (see the
// package doc).
//
// Layout: one seglog directory per partition (and worker) under the spill
// root, root/<topic>/<partition>-<worker>, plus a small "done" file that
// records the first offset not yet delivered. Everything below it is done
// (acknowledged, or reported failed) and is deleted when the whole log is.

package buffer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/merlinkafka/merlin/internal/fsutil"
	"github.com/merlinkafka/merlin/internal/kbatch"
	"github.com/merlinkafka/merlin/seglog"
)

// ErrSpillCorrupt is returned when the done file cannot be trusted.
var ErrSpillCorrupt = errors.New("buffer: spill state corrupt")

const doneFile = "done"

var castagnoli = kbatch.Castagnoli

// Spill is the on-disk queue of one partition worker. It is safe for
// concurrent use, but the producer uses it from the worker's goroutine.
type Spill struct {
	dir string
	log *seglog.Log

	mu      sync.Mutex
	done    int64   // every offset below is delivered or failed
	pending []int64 // base offsets handed out and not yet acked, sorted
	acked   map[int64]int64
}

// OpenSpill opens (creating it if needed) the spill of one partition worker.
func OpenSpill(dir string, flush seglog.FlushPolicy, files *seglog.FileCache, logger *slog.Logger) (*Spill, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("buffer: spill directory: %w", err)
	}
	l, err := seglog.Open(dir, seglog.Options{Flush: flush, Files: files, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("buffer: spill %s: %w", dir, err)
	}
	s := &Spill{dir: dir, log: l, acked: map[int64]int64{}}
	done, err := readDone(filepath.Join(dir, doneFile))
	if err != nil {
		l.Close()
		return nil, err
	}
	s.done = max(done, l.StartOffset())
	if s.done > l.NextOffset() {
		// The log lost its tail (a power cut under a lax fsync policy):
		// nothing beyond what it holds is owed.
		s.done = l.NextOffset()
	}
	return s, nil
}

// Append spills one record batch and returns its base offset in the spill.
func (s *Spill) Append(batch []byte) (int64, error) {
	base, _, err := s.log.Append(batch)
	if err != nil {
		return -1, err
	}
	s.mu.Lock()
	s.pending = append(s.pending, base)
	s.mu.Unlock()
	return base, nil
}

// Read returns a copy of the batch spilled at base.
func (s *Spill) Read(base int64) ([]byte, error) {
	sl, err := s.log.Read(base, 1)
	if err != nil {
		return nil, err
	}
	defer sl.Close()
	b, err := sl.AppendTo(nil)
	if err != nil {
		return nil, err
	}
	_, rest, h, err := kbatch.Next(b)
	if err != nil {
		return nil, err
	}
	if h.BaseOffset != base {
		return nil, fmt.Errorf("%w: batch at %d starts at %d", ErrSpillCorrupt, base, h.BaseOffset)
	}
	return b[:len(b)-len(rest)], nil
}

// Left calls fn for every batch spilled and not done, in order: what a
// previous producer left. The batches it names count as handed out.
func (s *Spill) Left(fn func(base int64, h kbatch.Header) bool) error {
	s.mu.Lock()
	from := s.done
	s.mu.Unlock()
	return s.log.ScanHeaders(from, func(h kbatch.Header) bool {
		if h.BaseOffset < from {
			return true
		}
		s.mu.Lock()
		s.pending = append(s.pending, h.BaseOffset)
		s.mu.Unlock()
		return fn(h.BaseOffset, h)
	})
}

// Ack marks the batch at base done (delivered or reported failed). The done
// mark moves past every batch below the first one still pending, and is
// persisted; a log with nothing pending is emptied.
func (s *Spill) Ack(base int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := slices.BinarySearch(s.pending, base)
	if !ok {
		return nil
	}
	s.pending = slices.Delete(s.pending, i, i+1)
	next := s.log.NextOffset()
	if len(s.pending) > 0 {
		next = s.pending[0]
	}
	if next <= s.done {
		return nil
	}
	s.done = next
	return writeDone(filepath.Join(s.dir, doneFile), s.done)
}

// Empty reports whether nothing spilled is still owed.
func (s *Spill) Empty() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done >= s.log.NextOffset()
}

// Close closes the spill. A spill with nothing owed is removed from disk.
func (s *Spill) Close() error {
	empty := s.Empty()
	err := s.log.Close()
	if empty && err == nil {
		return os.RemoveAll(s.dir)
	}
	return err
}

// done file: 8-byte big-endian offset and a CRC-32C of it, replaced
// atomically (temp file, fsync, rename).
func writeDone(path string, off int64) error {
	var b [12]byte
	binary.BigEndian.PutUint64(b[:8], uint64(off))
	binary.BigEndian.PutUint32(b[8:], crc32.Checksum(b[:8], castagnoli))
	return fsutil.WriteFileAtomic(path, b[:])
}

func readDone(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(b) != 12 || binary.BigEndian.Uint32(b[8:]) != crc32.Checksum(b[:8], castagnoli) {
		// A torn done file: replaying from the start of the log resends
		// batches already delivered (duplicates), which beats losing any.
		return 0, fmt.Errorf("%w: %s", ErrSpillCorrupt, path)
	}
	return int64(binary.BigEndian.Uint64(b[:8])), nil
}

// Ref names one spill directory found under a root.
type Ref struct {
	Topic     string
	Partition int32
	Worker    int
	Dir       string
}

// Dir is the spill directory of one partition worker under root.
func Dir(root, topic string, partition int32, worker int) string {
	return filepath.Join(root, topic, fmt.Sprintf("%d-%d", partition, worker))
}

// Find lists the spill directories under root, as Dir lays them out.
func Find(root string) ([]Ref, error) {
	topics, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Ref
	for _, t := range topics {
		if !t.IsDir() {
			continue
		}
		parts, err := os.ReadDir(filepath.Join(root, t.Name()))
		if err != nil {
			return nil, err
		}
		for _, p := range parts {
			ps, ws, ok := strings.Cut(p.Name(), "-")
			part, err1 := strconv.ParseInt(ps, 10, 32)
			w, err2 := strconv.Atoi(ws)
			if !p.IsDir() || !ok || err1 != nil || err2 != nil {
				continue
			}
			out = append(out, Ref{Topic: t.Name(), Partition: int32(part), Worker: w, Dir: filepath.Join(root, t.Name(), p.Name())})
		}
	}
	return out, nil
}
