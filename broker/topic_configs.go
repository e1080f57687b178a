package broker

// Per-topic configs on disk storage: the overrides AlterConfigs and
// IncrementalAlterConfigs set, kept in DIR/topic-configs.json (replaced
// atomically) and applied to the topic's partition logs through
// seglog.Log.SetLimits, at once and whenever a partition is opened.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/merlinkafka/merlin/seglog"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const diskTopicConfigsFile = "topic-configs.json"

// topicConfigStore holds the overrides of a DiskStorage, guarded by its mu.
type topicConfigStore struct {
	topics map[string]map[string]string
}

type topicConfigsFile struct {
	Version int                          `json:"version"`
	Topics  map[string]map[string]string `json:"topics"`
}

// errInvalidConfig is wrapped by the refusals of a topic config; they are
// answered INVALID_CONFIG.
var errInvalidConfig = errors.New("broker: invalid topic config")

// checkTopicConfig validates one override of a config merlin applies to a
// topic: the four limits of its partition logs, and cleanup.policy, which
// can only be "delete" (there is no compaction).
func checkTopicConfig(name, value string) error {
	n, err := strconv.ParseInt(value, 10, 64)
	switch name {
	case "cleanup.policy":
		if value != "delete" {
			return fmt.Errorf("%w: cleanup.policy %q: merlin only deletes (no compaction)", errInvalidConfig, value)
		}
		return nil
	case "retention.ms", "retention.bytes":
		if err != nil || n < -1 {
			return fmt.Errorf("%w: %s %q: a number, -1 for no limit", errInvalidConfig, name, value)
		}
	case "segment.ms":
		if err != nil || n < 1 {
			return fmt.Errorf("%w: %s %q: a positive number of milliseconds", errInvalidConfig, name, value)
		}
	case "segment.bytes":
		if err != nil || n < 14 || n > seglog.MaxSegmentBytes {
			return fmt.Errorf("%w: %s %q: bytes in [14, %d]", errInvalidConfig, name, value, int64(seglog.MaxSegmentBytes))
		}
	default:
		return fmt.Errorf("%w: merlin does not apply %s (it applies retention.ms, retention.bytes, segment.bytes, segment.ms and cleanup.policy=delete)", errInvalidConfig, name)
	}
	return nil
}

// topicConfigsLocked returns the overrides, reading the file the first time.
func (s *DiskStorage) topicConfigsLocked() (map[string]map[string]string, error) {
	if s.topicCfg != nil {
		return s.topicCfg.topics, nil
	}
	st := &topicConfigStore{topics: map[string]map[string]string{}}
	raw, err := os.ReadFile(filepath.Join(s.dir, diskTopicConfigsFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("broker: reading %s: %w", diskTopicConfigsFile, err)
	default:
		var f topicConfigsFile
		if err := json.Unmarshal(raw, &f); err != nil || f.Version != 1 {
			return nil, fmt.Errorf("%w: %s is damaged or of another version: %v", ErrDataDirIncompatible, diskTopicConfigsFile, err)
		}
		if f.Topics != nil {
			st.topics = f.Topics
		}
	}
	s.topicCfg = st
	return st.topics, nil
}

// limitsLocked are the storage's limits with a topic's overrides.
func (s *DiskStorage) limitsLocked(cfg map[string]string) seglog.Limits {
	lim := seglog.Limits{
		SegmentBytes:   s.opts.SegmentBytes,
		SegmentAge:     s.opts.SegmentAge,
		RetentionAge:   s.opts.RetentionAge,
		RetentionBytes: s.opts.RetentionBytes,
	}
	num := func(name string) (int64, bool) {
		v, ok := cfg[name]
		if !ok {
			return 0, false
		}
		n, err := strconv.ParseInt(v, 10, 64)
		return max(n, 0), err == nil // -1 (no limit) is seglog's 0
	}
	if n, ok := num("segment.bytes"); ok {
		lim.SegmentBytes = n
	}
	if n, ok := num("segment.ms"); ok {
		lim.SegmentAge = time.Duration(n) * time.Millisecond
	}
	if n, ok := num("retention.ms"); ok {
		lim.RetentionAge = time.Duration(n) * time.Millisecond
	}
	if n, ok := num("retention.bytes"); ok {
		lim.RetentionBytes = n
	}
	return lim
}

// applyTopicLimitsLocked gives a partition log its topic's limits, when the
// topic has overrides.
func (s *DiskStorage) applyTopicLimitsLocked(topic string, lg *seglog.Log) error {
	all, err := s.topicConfigsLocked()
	if err != nil {
		return err
	}
	if cfg, ok := all[topic]; ok {
		lg.SetLimits(s.limitsLocked(cfg))
		s.ensureRetentionLoopLocked()
	}
	return nil
}

// ensureRetentionLoopLocked starts the retention goroutine that
// NewDiskStorage starts only when the storage itself has a retention limit.
func (s *DiskStorage) ensureRetentionLoopLocked() {
	if s.stop == nil && !s.closed {
		s.stop, s.done = make(chan struct{}), make(chan struct{})
		go s.retentionLoop()
	}
}

// topicConfig returns a copy of a topic's overrides.
func (s *DiskStorage) topicConfig(topic string) (map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	all, err := s.topicConfigsLocked()
	if err != nil {
		return nil, err
	}
	return maps.Clone(all[topic]), nil
}

// setTopicConfig replaces a topic's overrides (nil or empty: none), saves
// them and applies them to the topic's open partitions.
func (s *DiskStorage) setTopicConfig(topic string, cfg map[string]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errStorageClosed
	}
	for name, v := range cfg {
		if err := checkTopicConfig(name, v); err != nil {
			return err
		}
	}
	all, err := s.topicConfigsLocked()
	if err != nil {
		return err
	}
	if _, ok := all[topic]; !ok && len(cfg) == 0 {
		return nil
	}
	next := maps.Clone(all)
	if len(cfg) == 0 {
		delete(next, topic)
	} else {
		next[topic] = maps.Clone(cfg)
	}
	raw, err := json.Marshal(topicConfigsFile{Version: 1, Topics: next})
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(s.dir, diskTopicConfigsFile), raw); err != nil {
		return err
	}
	s.topicCfg.topics = next
	lim := s.limitsLocked(next[topic])
	for tp, l := range s.logs {
		if tp.topic == topic {
			l.log.SetLimits(lim)
		}
	}
	if len(cfg) > 0 {
		s.ensureRetentionLoopLocked()
	}
	return nil
}

// topicConfigurer is implemented by storages that keep per-topic configs.
type topicConfigurer interface {
	topicConfig(topic string) (map[string]string, error)
	setTopicConfig(topic string, cfg map[string]string) error
}

// createConfigs picks from a CreateTopics topic's configs those merlin
// applies, on a storage that keeps topic configs, and validates them. The
// others are ignored, as CreateTopics always did, so that clients passing
// Kafka settings merlin has no use for (min.insync.replicas, ...) still
// create their topics.
func (c *conn) createConfigs(configs []kmsg.CreateTopicsRequestTopicConfig) (map[string]string, error) {
	if _, ok := c.b.cluster.storage.(topicConfigurer); !ok {
		return nil, nil
	}
	var cfg map[string]string
	for _, e := range configs {
		if e.Value == nil || !appliedTopicConfig(e.Name) {
			continue
		}
		if err := checkTopicConfig(e.Name, *e.Value); err != nil {
			return nil, err
		}
		if cfg == nil {
			cfg = map[string]string{}
		}
		cfg[strings.Clone(e.Name)] = strings.Clone(*e.Value)
	}
	return cfg, nil
}

// setCreateConfigs saves the configs of a topic just created.
func (c *conn) setCreateConfigs(topic string, cfg map[string]string) error {
	tc, ok := c.b.cluster.storage.(topicConfigurer)
	if !ok || len(cfg) == 0 {
		return nil
	}
	if err := tc.setTopicConfig(strings.Clone(topic), cfg); err != nil {
		c.b.log.Error("saving a new topic's configs", "topic", topic, "err", err)
		return err
	}
	return nil
}

// appliedTopicConfig reports whether merlin applies a topic config.
func appliedTopicConfig(name string) bool {
	switch name {
	case "retention.ms", "retention.bytes", "segment.bytes", "segment.ms", "cleanup.policy":
		return true
	}
	return false
}
