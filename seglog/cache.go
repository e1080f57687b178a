package seglog

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
)

// FileCache bounds the number of segment files held open by the Logs that
// share it, closing a least recently used idle handle to make room. A handle is pinned only while a read, write or
// fsync uses it; a Slice does not pin one between reads. When every handle
// is pinned the cache lets the count exceed its bound until a handle is
// released, rather than block.
//
// Pinning an open handle and unpinning it are atomic operations on the
// file's own counter: appends and reads of open files never take the
// cache's lock, which only opening, closing and eviction do. Recency is
// approximate (the clock algorithm: a use marks the handle, and eviction
// gives a marked handle a second chance).
//
// Closing an idle sealed segment's handle also drops the segment's index
// from memory; it is read back from its files on the next use.
//
// A FileCache is safe for concurrent use. Make one with NewFileCache.
type FileCache struct {
	mu        sync.Mutex
	max       int
	open      atomic.Int64 // handles open or being opened; written under mu
	listed    int          // handles in lru
	peak      int
	opens     int64
	evictions int64
	lru       cachedFile // sentinel of a circular list, newest first
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
	return FileCacheStats{Max: c.max, Open: int(c.open.Load()), Peak: c.peak, Opens: c.opens, Evictions: c.evictions}
}

// cachedFile is one file whose handle the cache opens on demand.
type cachedFile struct {
	c *FileCache

	openMu sync.Mutex // serializes opening and renaming this file
	path   string     // guarded by openMu
	flag   int        // guarded by openMu

	// refs is -1 while the file is not open (or is being opened or
	// closed), else the number of pins. Moving it from -1 or to -1 takes
	// c.mu; pinning an open file is a compare-and-swap from n >= 0 to n+1.
	refs    atomic.Int32
	f       atomic.Pointer[os.File] // set while refs >= 0
	used    atomic.Bool             // pinned since eviction last looked
	removed atomic.Bool

	// Guarded by c.mu.
	prev, next *cachedFile
	onEvict    func() // called with c.mu held: must be quick and not lock c.mu
}

func (c *FileCache) newFile(path string, flag int, onEvict func()) *cachedFile {
	e := &cachedFile{c: c, path: path, flag: flag, onEvict: onEvict}
	e.refs.Store(-1)
	return e
}

// acquire returns the open file, opening it if needed, and pins it until
// release.
func (e *cachedFile) acquire() (*os.File, error) {
	if f, ok := e.pin(); ok {
		if e.removed.Load() {
			e.release()
			return nil, ErrClosed
		}
		return f, nil
	}

	e.openMu.Lock()
	defer e.openMu.Unlock()
	c := e.c
	c.mu.Lock()
	if e.removed.Load() {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	if f, ok := e.pin(); ok {
		c.mu.Unlock()
		return f, nil
	}
	c.trimLocked(c.max - 1)
	c.peak = max(c.peak, int(c.open.Add(1))) // reserve the slot while opening without the lock
	c.mu.Unlock()

	f, err := os.OpenFile(e.path, e.flag, 0o644)

	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.open.Add(-1)
		return nil, fmt.Errorf("seglog: %w", err)
	}
	if e.removed.Load() {
		f.Close()
		c.open.Add(-1)
		return nil, ErrClosed
	}
	c.opens++
	e.f.Store(f)
	e.used.Store(true)
	e.pushFrontLocked()
	e.refs.Store(1)
	return f, nil
}

// pin pins the file if it is open.
func (e *cachedFile) pin() (*os.File, bool) {
	for {
		n := e.refs.Load()
		if n < 0 {
			return nil, false
		}
		if e.refs.CompareAndSwap(n, n+1) {
			if !e.used.Load() {
				e.used.Store(true)
			}
			return e.f.Load(), true
		}
	}
}

// release unpins the file acquired by acquire.
func (e *cachedFile) release() {
	if e.refs.Add(-1) > 0 {
		return
	}
	c := e.c
	if !e.removed.Load() && c.open.Load() <= int64(c.max) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.removed.Load() {
		e.closeIdleLocked()
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
	e.removed.Store(true)
	e.closeIdleLocked()
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

// trimLocked closes idle handles, oldest first, until at most limit are
// open or only pinned ones are left. A handle used since it was last
// looked at gets a second chance: it moves to the front instead. The walk
// looks at each handle at most about twice, however busy the others are.
func (c *FileCache) trimLocked(limit int) {
	steps := 2*c.listed + 1
	for e := c.lru.prev; e != &c.lru && c.open.Load() > int64(limit) && steps > 0; steps-- {
		prev := e.prev
		switch {
		case e.refs.Load() != 0:
		case e.used.Load():
			e.used.Store(false)
			e.unlinkLocked()
			e.pushFrontLocked()
		case e.closeIdleLocked():
			c.evictions++
		}
		e = prev
	}
}

// closeIdleLocked closes the handle if it is open and unpinned, and says
// whether it did.
func (e *cachedFile) closeIdleLocked() bool {
	if !e.refs.CompareAndSwap(0, -1) {
		return false
	}
	e.f.Swap(nil).Close() // read handles, or data already written: nothing to lose
	e.unlinkLocked()
	e.c.open.Add(-1)
	if e.onEvict != nil {
		e.onEvict()
	}
	return true
}

func (e *cachedFile) pushFrontLocked() {
	h := &e.c.lru
	e.prev, e.next = h, h.next
	h.next.prev = e
	h.next = e
	e.c.listed++
}

func (e *cachedFile) unlinkLocked() {
	if e.prev == nil {
		return
	}
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev, e.next = nil, nil
	e.c.listed--
}
