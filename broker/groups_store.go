package broker

// Persistence of the group coordinator's state on disk storage.
//
// The state is an internal log in DIR/groups/, a seglog.Log like a
// partition's (Kafka keeps it in the __consumer_offsets topic). Each record
// is one JSON groupRecord: an offset committed or deleted, a group's
// metadata (protocol type and generation, written at the end of each join
// phase) or a group deleted. The records of one OffsetCommit go in one
// batch, so a commit is kept whole or not at all.
//
// Instead of Kafka's log compaction, the log is rewritten when it has grown
// past compactAfter and four times its size after the previous rewrite: the
// current state goes to DIR/groups.new/, which is synced, then swapped for
// DIR/groups/ by two renames. Opening repairs a crash at any point of the
// swap (see openGroupLog). The whole log is replayed in NewCluster, before
// any broker answers, so there is no loading phase to report.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/merlinkafka/merlin/internal/kbatch"
	"github.com/merlinkafka/merlin/seglog"
)

const (
	groupsDir    = "groups"
	groupsNewDir = "groups.new"
	groupsOldDir = "groups.old"
)

// compactAfter is the size the groups log may reach before it is rewritten
// (a variable so that tests can make rewrites happen).
var compactAfter int64 = 16 << 20

// Types of groupRecord.
const (
	recOffset       = "offset"
	recOffsetDelete = "offset-delete"
	recGroup        = "group"
	recGroupDelete  = "group-delete"
)

// groupRecord is one entry of the groups log.
type groupRecord struct {
	Type      string       `json:"t"`
	Group     string       `json:"g"`
	Topic     string       `json:"topic,omitempty"`
	Partition int32        `json:"p,omitempty"`
	Offset    *offsetValue `json:"off,omitempty"`
	Meta      *groupMeta   `json:"meta,omitempty"` // of a recGroup
}

// groupMeta is a group's metadata as Kafka keeps it: protocol, generation,
// leader and members with their assignments. It is written at the end of
// each join phase and when the leader's assignment makes the group Stable.
type groupMeta struct {
	ProtocolType string        `json:"pt,omitempty"`
	Protocol     string        `json:"pr,omitempty"`
	Generation   int32         `json:"gen"`
	Leader       string        `json:"leader,omitempty"`
	Members      []savedMember `json:"members,omitempty"`
}

// savedMember is one member in a groupMeta.
type savedMember struct {
	ID           string          `json:"id"`
	InstanceID   string          `json:"instance,omitempty"`
	ClientID     string          `json:"client,omitempty"`
	ClientHost   string          `json:"host,omitempty"`
	SessionMs    int64           `json:"session"`
	RebalanceMs  int64           `json:"rebalance"`
	ProtocolType string          `json:"pt,omitempty"`
	Protocols    []savedProtocol `json:"protocols,omitempty"`
	Assignment   []byte          `json:"assignment,omitempty"`
}

type savedProtocol struct {
	Name     string `json:"name"`
	Metadata []byte `json:"meta,omitempty"`
}

// savedGroup is the persisted state of one group.
type savedGroup struct {
	meta    groupMeta
	offsets map[topicPartition]offsetValue
}

// groupStore is the groups log and the state it holds. The state is kept
// apart from the groups' own so that a rewrite needs no group's lock.
type groupStore struct {
	log  *slog.Logger
	root string
	opts seglog.Options

	mu       sync.Mutex
	lg       *seglog.Log
	state    map[string]*savedGroup
	baseSize int64 // size of the log after the last rewrite
	closed   bool
}

// openGroupStore opens DIR/groups of a disk storage and replays it.
func openGroupStore(s *DiskStorage) (*groupStore, error) {
	gs := &groupStore{
		log:   s.log,
		root:  s.Dir(),
		state: make(map[string]*savedGroup),
		opts: seglog.Options{
			SegmentBytes: 4 << 20,
			Flush:        s.opts.Flush,
			Logger:       s.log.With("log", groupsDir),
		},
	}
	if err := gs.repairSwap(); err != nil {
		return nil, err
	}
	lg, err := seglog.Open(filepath.Join(gs.root, groupsDir), gs.opts)
	if err != nil {
		return nil, fmt.Errorf("broker: opening the groups log: %w", err)
	}
	gs.lg = lg
	if err := gs.replay(); err != nil {
		_ = lg.Close()
		return nil, err
	}
	gs.baseSize = lg.Size()
	return gs, nil
}

// repairSwap finishes or undoes a rewrite that a crash interrupted. The
// rewrite syncs groups.new before renaming groups to groups.old, so a
// groups.new without groups is complete.
func (gs *groupStore) repairSwap() error {
	cur, next, old := filepath.Join(gs.root, groupsDir), filepath.Join(gs.root, groupsNewDir), filepath.Join(gs.root, groupsOldDir)
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	switch {
	case exists(cur):
		if err := os.RemoveAll(next); err != nil {
			return fmt.Errorf("broker: removing %s: %w", next, err)
		}
	case exists(next):
		gs.log.Warn("finishing an interrupted rewrite of the groups log")
		if err := os.Rename(next, cur); err != nil {
			return fmt.Errorf("broker: %w", err)
		}
	case exists(old):
		if err := os.Rename(old, cur); err != nil {
			return fmt.Errorf("broker: %w", err)
		}
	}
	if err := os.RemoveAll(old); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("broker: removing %s: %w", old, err)
	}
	return nil
}

func (gs *groupStore) replay() error {
	var buf []byte
	for off := gs.lg.StartOffset(); off < gs.lg.NextOffset(); {
		sl, err := gs.lg.Read(off, 1<<20)
		if err != nil {
			return fmt.Errorf("broker: reading the groups log at %d: %w", off, err)
		}
		buf, err = sl.AppendTo(buf[:0])
		_ = sl.Close()
		if err != nil {
			return fmt.Errorf("broker: reading the groups log at %d: %w", off, err)
		}
		if len(buf) == 0 {
			break
		}
		for rest := buf; len(rest) > 0; {
			batch, r, h, err := kbatch.Next(rest)
			if err != nil {
				return fmt.Errorf("broker: groups log at %d: %w", off, err)
			}
			rest = r
			recs, err := kbatch.Records(batch)
			if err != nil {
				return fmt.Errorf("broker: groups log at %d: %w", h.BaseOffset, err)
			}
			for _, rec := range recs {
				var gr groupRecord
				if err := json.Unmarshal(rec.Value, &gr); err != nil {
					return fmt.Errorf("broker: groups log at %d: %w", h.BaseOffset, err)
				}
				gs.apply(gr)
			}
			off = h.LastOffset() + 1
		}
	}
	return nil
}

// apply updates the state with one record.
func (gs *groupStore) apply(r groupRecord) {
	if r.Type == recGroupDelete {
		delete(gs.state, r.Group)
		return
	}
	sg := gs.state[r.Group]
	if sg == nil {
		sg = &savedGroup{offsets: make(map[topicPartition]offsetValue)}
		gs.state[r.Group] = sg
	}
	tp := topicPartition{r.Topic, r.Partition}
	switch r.Type {
	case recOffset:
		if r.Offset != nil {
			sg.offsets[tp] = *r.Offset
		}
	case recOffsetDelete:
		delete(sg.offsets, tp)
	case recGroup:
		if r.Meta != nil {
			sg.meta = *r.Meta
		}
	}
}

// append writes records as one batch and applies them.
func (gs *groupStore) append(recs []groupRecord) error {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	if gs.closed {
		return errStorageClosed
	}
	if err := appendGroupRecords(gs.lg, recs); err != nil {
		return err
	}
	for _, r := range recs {
		gs.apply(r)
	}
	if size := gs.lg.Size(); size > compactAfter && size > 4*gs.baseSize {
		if err := gs.rewriteLocked(); err != nil {
			// The records are stored: the rewrite is tried again after
			// the next append.
			gs.log.Error("rewriting the groups log", "err", err)
		}
	}
	return nil
}

func appendGroupRecords(lg *seglog.Log, recs []groupRecord) error {
	var bd kbatch.Builder
	now := time.Now().UnixMilli()
	for _, r := range recs {
		v, err := json.Marshal(r)
		if err != nil {
			return err
		}
		bd.Add(now, nil, v)
	}
	batch, err := bd.AppendBatch(nil)
	if err != nil {
		return err
	}
	_, _, err = lg.Append(batch)
	return err
}

// snapshotLocked lists records that rebuild the current state.
func (gs *groupStore) snapshotLocked() []groupRecord {
	var recs []groupRecord
	for id, sg := range gs.state {
		meta := sg.meta
		recs = append(recs, groupRecord{Type: recGroup, Group: id, Meta: &meta})
		for tp, o := range sg.offsets {
			recs = append(recs, groupRecord{Type: recOffset, Group: id, Topic: tp.topic, Partition: tp.partition, Offset: &o})
		}
	}
	return recs
}

// rewriteLocked replaces the log with one holding only the current state.
func (gs *groupStore) rewriteLocked() error {
	cur, next, old := filepath.Join(gs.root, groupsDir), filepath.Join(gs.root, groupsNewDir), filepath.Join(gs.root, groupsOldDir)
	if err := os.RemoveAll(next); err != nil {
		return err
	}
	nl, err := seglog.Open(next, gs.opts)
	if err != nil {
		return err
	}
	recs := gs.snapshotLocked()
	for len(recs) > 0 {
		n := min(len(recs), 1000)
		if err := appendGroupRecords(nl, recs[:n]); err != nil {
			_ = nl.Close()
			return err
		}
		recs = recs[n:]
	}
	if err := nl.Sync(); err != nil {
		_ = nl.Close()
		return err
	}
	if err := syncDir(gs.root); err != nil {
		_ = nl.Close()
		return err
	}
	size := nl.Size()
	if err := nl.Close(); err != nil {
		return err
	}
	if err := gs.lg.Close(); err != nil {
		gs.log.Warn("closing the groups log before its rewrite", "err", err)
	}
	// From here on the old log is closed: reopen whichever is in place.
	swapErr := os.Rename(cur, old)
	if swapErr == nil {
		swapErr = os.Rename(next, cur)
	}
	if swapErr == nil {
		swapErr = syncDir(gs.root)
	}
	if swapErr != nil {
		if err := gs.repairSwap(); err != nil {
			swapErr = errors.Join(swapErr, err)
		}
	} else {
		_ = os.RemoveAll(old)
		gs.baseSize = size
	}
	lg, err := seglog.Open(cur, gs.opts)
	if err != nil {
		gs.closed = true
		return errors.Join(swapErr, fmt.Errorf("broker: reopening the groups log: %w", err))
	}
	gs.lg = lg
	return swapErr
}

func (gs *groupStore) close() error {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	if gs.closed {
		return nil
	}
	gs.closed = true
	return gs.lg.Close()
}
