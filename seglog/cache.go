package seglog

import (
	"fmt"
	"os"
	"sync"
)

// FileCache bounds the number of segment files held open by the Logs that
// share it, closing the least recently used idle handle to make room (poe
// called this hibernation). A handle is pinned only while a read, write or
// fsync uses it; a Slice does not pin one between reads. When every handle
// is pinned the cache lets the count exceed its bound until a handle is
// released, rather than block.
//
// Closing an idle sealed segment's handle also drops the segment's index
// from memory; it is read back from its files on the next use.
//
// A FileCache is safe for concurrent use. Make one with NewFileCache.
type FileCache struct {
	mu        sync.Mutex
	max       int
	open      int // handles open or being opened
	peak      int
	opens     int64
	evictions int64
	lru       cachedFile // sentinel of a circular list, most recent first
}

// FileCacheStats is a snapshot of a FileCache's counters.
type FileCacheStats struct {
	Max       int   // the bound given to NewFileCache
	Open      int   // handles open now
	Peak      int   // most handles open at the same time so far
	Opens     int64 // files opened, the first time or after eviction
	Evictions int64 // idle handles closed to make room
}

// NewFileCache returns a cache that keeps at most maxOpen files open
// (at least 1).
func NewFileCache(maxOpen int) *FileCache {
	if maxOpen < 1 {
		maxOpen = 1
	}
	c := &FileCache{max: maxOpen}
	c.lru.prev, c.lru.next = &c.lru, &c.lru
	return c
}

// Stats returns the cache's counters.
func (c *FileCache) Stats() FileCacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return FileCacheStats{Max: c.max, Open: c.open, Peak: c.peak, Opens: c.opens, Evictions: c.evictions}
}

// cachedFile is one file whose handle the cache opens on demand.
type cachedFile struct {
	c *FileCache

	openMu sync.Mutex // serializes opening and renaming this file
	path   string     // guarded by openMu
	flag   int        // guarded by openMu

	// Guarded by c.mu.
	f          *os.File
	refs       int
	removed    bool
	prev, next *cachedFile
	onEvict    func() // called with c.mu held: must be quick and not lock c.mu
}

func (c *FileCache) newFile(path string, flag int, onEvict func()) *cachedFile {
	return &cachedFile{c: c, path: path, flag: flag, onEvict: onEvict}
}

// acquire returns the open file, opening it if needed, and pins it until
// release.
func (e *cachedFile) acquire() (*os.File, error) {
	c := e.c
	c.mu.Lock()
	if f := e.hitLocked(); f != nil {
		c.mu.Unlock()
		return f, nil
	}
	c.mu.Unlock()

	e.openMu.Lock()
	defer e.openMu.Unlock()
	c.mu.Lock()
	if e.removed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	if f := e.hitLocked(); f != nil {
		c.mu.Unlock()
		return f, nil
	}
	c.trimLocked(c.max - 1)
	c.open++ // reserve the slot while opening without the lock
	if c.open > c.peak {
		c.peak = c.open
	}
	c.mu.Unlock()

	f, err := os.OpenFile(e.path, e.flag, 0o644)

	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.open--
		return nil, fmt.Errorf("seglog: %w", err)
	}
	c.opens++
	e.f, e.refs = f, 1
	e.pushFrontLocked()
	return f, nil
}

func (e *cachedFile) hitLocked() *os.File {
	if e.f == nil || e.removed {
		return nil
	}
	e.refs++
	e.unlinkLocked()
	e.pushFrontLocked()
	return e.f
}

// release unpins the file acquired by acquire.
func (e *cachedFile) release() {
	c := e.c
	c.mu.Lock()
	defer c.mu.Unlock()
	e.refs--
	if e.refs > 0 {
		return
	}
	if e.removed {
		e.closeLocked()
		return
	}
	c.trimLocked(c.max)
}

// remove closes the handle as soon as it is unpinned; acquire fails with
// ErrClosed from then on.
func (e *cachedFile) remove() {
	c := e.c
	c.mu.Lock()
	defer c.mu.Unlock()
	e.removed = true
	if e.refs == 0 {
		e.closeLocked()
	}
}

// rename renames the file on disk and makes later opens use the new name.
func (e *cachedFile) rename(newPath string) error {
	e.openMu.Lock()
	defer e.openMu.Unlock()
	if err := os.Rename(e.path, newPath); err != nil {
		return err
	}
	e.path = newPath
	return nil
}

// setFlag changes the open flags used from the next open on.
func (e *cachedFile) setFlag(flag int) {
	e.openMu.Lock()
	e.flag = flag
	e.openMu.Unlock()
}

func (e *cachedFile) currentPath() string {
	e.openMu.Lock()
	defer e.openMu.Unlock()
	return e.path
}

// trimLocked closes idle handles, least recently used first, until at most
// limit are open or only pinned ones are left.
func (c *FileCache) trimLocked(limit int) {
	for e := c.lru.prev; e != &c.lru && c.open > limit; {
		prev := e.prev
		if e.refs == 0 {
			e.closeLocked()
			c.evictions++
		}
		e = prev
	}
}

func (e *cachedFile) closeLocked() {
	if e.f == nil {
		return
	}
	e.f.Close() // read handles, or data already written: nothing to lose
	e.f = nil
	e.unlinkLocked()
	e.c.open--
	if e.onEvict != nil {
		e.onEvict()
	}
}

func (e *cachedFile) pushFrontLocked() {
	h := &e.c.lru
	e.prev, e.next = h, h.next
	h.next.prev = e
	h.next = e
}

func (e *cachedFile) unlinkLocked() {
	if e.prev == nil {
		return
	}
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev, e.next = nil, nil
}
