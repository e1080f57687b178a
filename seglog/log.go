package seglog

import (
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/merlinkafka/merlin/internal/kbatch"
)

// Log is the segmented log of one topic-partition. It is safe for
// concurrent use: appends are serialized, and reads run beside them,
// holding the log's lock only to copy a few fields.
type Log struct {
	dir    string
	opts   Options
	logger *slog.Logger

	// wmu serializes appends and rolls.
	wmu      sync.Mutex
	unsynced int64 // records appended since the last fsync, for FlushEveryN

	// mu guards the segment list, the active segment's mutable fields and
	// writeSeq. It is held only to copy or publish them.
	mu       sync.RWMutex
	segs     []*segment // ascending base offsets; the last is active
	logStart int64      // set by DeleteBefore; StartOffset is at least this
	active   *segment   // written under wmu and mu
	writeSeq uint64     // appends so far

	// Group commit: one fsync at a time; those who wait for it are all
	// woken when it ends (syncDone), so that the ones it covers return at
	// once instead of queueing behind the next.
	syncMu    sync.Mutex
	syncDone  *sync.Cond   // on syncMu
	syncing   bool         // an fsync is under way; guarded by syncMu
	syncedSeq uint64       // guarded by syncMu
	syncs     atomic.Int64 // fsyncs of the active segment, for tests

	// FlushAlways: what the last fsync did, for the next one to wait for
	// the appenders it released (see gatherFor). Guarded by syncMu.
	lastCover  uint64        // appends the last fsync covered
	lastEnd    uint64        // writeSeq when it ended
	lastSync   time.Duration // how long it took
	gatherSkip int           // fsyncs to start without waiting, after a wait in vain
	gather     atomic.Pointer[gathering]

	failure atomic.Pointer[error] // a failed write or fsync: appends stop

	// Background fsync of the active segment ahead of its roll, every
	// earlyFlush bytes.
	earlyFlush int64
	bgSyncing  atomic.Bool
	bg         sync.WaitGroup

	retMu sync.Mutex // serializes ApplyRetention and Close

	// FlushInterval: a timer armed by the first append after an fsync,
	// so that an idle log costs neither a goroutine nor a wake-up. flushMu
	// serializes its runs with Close.
	flushTimer *time.Timer
	flushArmed atomic.Bool
	flushMu    sync.Mutex

	closed atomic.Bool
}

func newLog(dir string, o Options, segs []*segment) *Log {
	l := &Log{
		dir:    dir,
		opts:   o,
		logger: o.Logger,
		segs:   segs,
		active: segs[len(segs)-1],
		// An eighth of a segment, so that a roll's fsync finds at most
		// that much to write.
		earlyFlush: max(o.SegmentBytes/8, 1<<20),
	}
	l.syncDone = sync.NewCond(&l.syncMu)
	if o.Flush.mode == flushInterval {
		l.flushTimer = time.AfterFunc(time.Hour, l.flushTick)
		l.flushTimer.Stop()
	}
	return l
}

// Dir returns the log's directory.
func (l *Log) Dir() string { return l.dir }

// StartOffset returns the first offset the log holds (Kafka's log start
// offset). It moves forward when retention deletes segments and when
// DeleteBefore moves it.
func (l *Log) StartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.startLocked()
}

// startLocked is StartOffset with mu held.
func (l *Log) startLocked() int64 { return max(l.segs[0].base, l.logStart) }

// NextOffset returns the offset the next appended record will get (Kafka's
// log end offset).
func (l *Log) NextOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.active.next
}

// Size returns the bytes of all the log's segment files.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.segs[:len(l.segs)-1] {
		n += s.diskSize
	}
	return n + l.active.size
}

// Segments returns the number of segments.
func (l *Log) Segments() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.segs)
}

// Append stores one record batch (magic v2) and returns the offsets of its
// first and last records. It checks the batch with kbatch.ValidateOne
// (length, magic, CRC-32C, nothing after it) and that its record count
// matches its last offset delta; a refused batch gives an error wrapping
// ErrInvalidBatch.
//
// Append assigns the offsets by patching the base offset in place: after
// it returns, batch holds the stored bytes. The CRC does not cover the
// base offset, so the batch stays valid. The batch reaches the file with a
// single write; when it returns, the batch is readable and durable as the
// flush policy promises.
func (l *Log) Append(batch []byte) (base, last int64, err error) {
	base, last, wait, err := l.AppendDeferred(batch)
	if err != nil {
		return base, last, err
	}
	if err := wait(); err != nil {
		return base, last, err
	}
	return base, last, nil
}

// AppendDeferred is Append leaving to its caller the fsync the flush policy
// calls for: when it returns, the batch is written and readable, and wait
// (never nil) makes it durable as the policy promises. A caller that holds
// a lock of its own across Append can release it before wait, so that
// concurrent appenders share one fsync (group commit) instead of taking
// turns.
func (l *Log) AppendDeferred(batch []byte) (base, last int64, wait func() error, err error) {
	return l.appendDeferred(batch, kbatch.ValidateOne)
}

// AppendDeferredTrusted is AppendDeferred for a batch whose CRC-32C the
// caller has already checked, as a broker does with every produced batch
// before it applies its own rules: it checks the header, the length and
// the record count, but does not compute the CRC a second time. A batch
// whose CRC is wrong is stored as it is, and reads report it as corrupt;
// recovery (Open) and Verify still check every CRC.
func (l *Log) AppendDeferredTrusted(batch []byte) (base, last int64, wait func() error, err error) {
	return l.appendDeferred(batch, parseOne)
}

// parseOne checks that b is exactly one batch, by its header alone.
func parseOne(b []byte) (kbatch.Header, error) {
	h, err := kbatch.ParseHeader(b)
	if err == nil && h.Size() != len(b) {
		err = fmt.Errorf("%w: batch of %d bytes in %d", kbatch.ErrLength, h.Size(), len(b))
	}
	return h, err
}

func (l *Log) appendDeferred(batch []byte, check func([]byte) (kbatch.Header, error)) (base, last int64, wait func() error, err error) {
	none := func() error { return nil }
	h, err := check(batch)
	if err != nil {
		return 0, 0, none, fmt.Errorf("%w: %w", ErrInvalidBatch, err)
	}
	if h.NumRecords != h.LastOffsetDelta+1 {
		return 0, 0, none, fmt.Errorf("%w: %d records with last offset delta %d", ErrInvalidBatch, h.NumRecords, h.LastOffsetDelta)
	}
	count := int64(h.LastOffsetDelta) + 1
	size := int64(len(batch))

	l.wmu.Lock()
	if l.closed.Load() {
		l.wmu.Unlock()
		return 0, 0, none, ErrClosed
	}
	if p := l.failure.Load(); p != nil {
		l.wmu.Unlock()
		return 0, 0, none, fmt.Errorf("seglog: log failed earlier, reopen it: %w", *p)
	}
	now := l.opts.Now()
	act := l.active
	if act.size > 0 && (act.size+size > l.opts.SegmentBytes ||
		act.next-act.base+count > l.opts.SegmentRecords ||
		now.Sub(act.created) >= l.opts.SegmentAge) {
		if err := l.rollLocked(); err != nil {
			l.wmu.Unlock()
			return 0, 0, none, err
		}
		act = l.active
	}

	pos := act.size
	base = act.next
	kbatch.SetBaseOffset(batch, base)
	if err := l.writeAt(act, batch, pos); err != nil {
		l.wmu.Unlock()
		return 0, 0, none, err
	}
	if pos == 0 {
		act.created = now
	}
	act.markChecked(pos, pos+size)

	l.mu.Lock()
	act.size = pos + size
	act.diskSize = act.size
	act.next = base + count
	act.maxTS = max(act.maxTS, h.MaxTimestamp)
	if pos == 0 || pos-act.lastIdx >= act.interval {
		act.entries = append(act.entries, entry{rel: uint32(base - act.base), pos: uint32(pos), ts: act.maxTS})
		act.lastIdx = pos
	}
	l.writeSeq++
	seq := l.writeSeq
	l.mu.Unlock()
	if g := l.gather.Load(); g != nil && seq >= g.target {
		g.reached()
	}

	if act.size-act.bgMark >= l.earlyFlush && l.opts.Flush.mode != flushAlways &&
		l.bgSyncing.CompareAndSwap(false, true) {
		act.bgMark = act.size
		l.bg.Add(1)
		go l.backgroundSync(act)
	}

	needSync := false
	switch l.opts.Flush.mode {
	case flushAlways:
		needSync = true
	case flushEveryN:
		l.unsynced += count
		if l.unsynced >= l.opts.Flush.n {
			l.unsynced, needSync = 0, true
		}
	}
	l.wmu.Unlock()

	if l.flushTimer != nil && l.flushArmed.CompareAndSwap(false, true) {
		l.flushTimer.Reset(l.opts.Flush.every)
	}
	if needSync {
		return base, base + count - 1, func() error { return l.syncTo(seq) }, nil
	}
	return base, base + count - 1, none, nil
}

// writeAt writes b at pos of the active segment (wmu held). On failure it
// cuts the file back to pos; if that fails too the log stops taking appends.
func (l *Log) writeAt(s *segment, b []byte, pos int64) error {
	f, err := s.file.acquire()
	if err != nil {
		return err
	}
	defer s.file.release()
	if _, err := f.WriteAt(b, pos); err != nil {
		err = fmt.Errorf("seglog: append to %s: %w", segmentName(s.base), err)
		if terr := f.Truncate(pos); terr != nil {
			l.fail(fmt.Errorf("%w; then cutting back the partial write: %w", err, terr))
		}
		return err
	}
	return nil
}

// backgroundSync fsyncs a segment without holding any lock that appends
// need, so that the fsync of a roll, which appends wait for, finds little
// left to write. It does not advance what Sync and the flush policy count
// as synced.
func (l *Log) backgroundSync(s *segment) {
	defer l.bg.Done()
	defer l.bgSyncing.Store(false)
	if err := l.fsyncSegment(s); err != nil && err != ErrClosed {
		l.fail(err)
	}
}

func (l *Log) fail(err error) {
	l.failure.CompareAndSwap(nil, &err)
	l.logger.Error("seglog: log failed; appends refused until reopened", "dir", l.dir, "err", err)
}

// rollLocked seals the active segment and starts a new one (wmu held). The
// steps are ordered so that a crash between any two leaves a state Open
// recovers: the sealed segment is fsynced, its index files are written
// atomically, and only then is the new segment file created (and its
// directory entry fsynced).
func (l *Log) rollLocked() error {
	old := l.active
	if err := l.fsyncSegment(old); err != nil {
		l.fail(err)
		return err
	}
	es := old.entries
	if err := writeIndexFiles(l.dir, old.base, es); err != nil {
		return err
	}
	if err := createSegmentFile(l.dir, old.next); err != nil {
		return err
	}
	ns := newSegment(l.dir, old.next, &l.opts, os.O_RDWR)
	l.mu.Lock()
	old.sealed = true
	old.diskSize = old.size
	old.idx.Store(&es)
	l.segs = append(l.segs, ns)
	l.active = ns
	l.mu.Unlock()
	old.file.setFlag(os.O_RDONLY)
	return nil
}

func (l *Log) fsyncSegment(s *segment) error {
	f, err := s.file.acquire()
	if err != nil {
		return err
	}
	defer s.file.release()
	l.syncs.Add(1)
	start := time.Now()
	err = f.Sync()
	if l.opts.OnSync != nil {
		l.opts.OnSync(time.Since(start))
	}
	if err != nil {
		return fmt.Errorf("seglog: fsync %s: %w", segmentName(s.base), err)
	}
	return nil
}

// Sync fsyncs everything appended so far, whatever the flush policy.
func (l *Log) Sync() error {
	if l.closed.Load() {
		return ErrClosed
	}
	l.mu.RLock()
	seq := l.writeSeq
	l.mu.RUnlock()
	return l.syncTo(seq)
}

// syncTo makes appends up to seq durable. Callers arriving while another
// fsync runs wait for it and usually find their appends covered (group
// commit); the first one it does not cover starts the next, for everything
// appended by then.
func (l *Log) syncTo(seq uint64) error {
	l.syncMu.Lock()
	for l.syncedSeq < seq && l.syncing {
		l.syncDone.Wait()
	}
	if l.syncedSeq >= seq {
		l.syncMu.Unlock()
		return nil
	}
	l.syncing = true
	wait := l.gatherFor()
	l.syncMu.Unlock()
	wait()

	l.mu.RLock()
	target, act := l.writeSeq, l.active
	l.mu.RUnlock()
	// Segments sealed since were fsynced when they rolled, before any
	// write to a later one.
	start := time.Now()
	err := l.fsyncSegment(act)
	took := time.Since(start)
	if err != nil && err != ErrClosed {
		l.fail(err)
	}
	l.mu.RLock()
	end := l.writeSeq
	l.mu.RUnlock()

	l.syncMu.Lock()
	l.syncing = false
	if err == nil {
		l.lastCover, l.lastEnd, l.lastSync = target-l.syncedSeq, end, took
		l.syncedSeq = target
	}
	l.syncDone.Broadcast()
	l.syncMu.Unlock()
	return err
}

// gathering is an fsync waiting for appends up to target.
type gathering struct {
	target uint64
	once   sync.Once
	ch     chan struct{}
}

func (g *gathering) reached() { g.once.Do(func() { close(g.ch) }) }

// gatherFor (syncMu held, by the caller about to fsync under FlushAlways)
// returns what to wait for before the fsync: the appenders that the last
// fsync released come back with their next append a moment after it
// ended, and an fsync started at once would leave them for the next one,
// splitting steady appenders into two groups that take turns. So it waits
// until as many appends as the last fsync covered have arrived since it
// ended, for about as long as that fsync took (0.2 to 2ms). A lone
// appender never waits (the last fsync covered one append); after a wait
// in vain (appenders gone elsewhere) the next two fsyncs start at once.
func (l *Log) gatherFor() func() {
	none := func() {}
	if l.opts.Flush.mode != flushAlways || l.lastCover < 2 || l.closed.Load() {
		return none
	}
	if l.gatherSkip > 0 {
		l.gatherSkip--
		return none
	}
	g := &gathering{target: l.lastEnd + l.lastCover, ch: make(chan struct{})}
	window := min(max(l.lastSync, 200*time.Microsecond), 2*time.Millisecond)
	return func() {
		l.gather.Store(g)
		defer l.gather.Store(nil)
		l.mu.RLock()
		now := l.writeSeq
		l.mu.RUnlock()
		if now >= g.target {
			return
		}
		t := time.NewTimer(window)
		defer t.Stop()
		select {
		case <-g.ch:
		case <-t.C:
			l.syncMu.Lock()
			l.gatherSkip = 2
			l.syncMu.Unlock()
		}
	}
}

// flushTick is FlushInterval's fsync, run by the timer (on a goroutine of
// its own) one interval after the first append since the last run.
// Appends during the fsync arm the timer again.
func (l *Log) flushTick() {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	if l.closed.Load() {
		return
	}
	l.flushArmed.Store(false)
	if err := l.Sync(); err != nil && err != ErrClosed {
		l.logger.Error("seglog: periodic fsync failed", "dir", l.dir, "err", err)
	}
}

// Close fsyncs the log and closes its files. Slices read after Close fail
// with ErrClosed. A second Close returns ErrClosed.
func (l *Log) Close() error {
	if !l.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	if l.flushTimer != nil {
		// A run under way finishes first; later ones see closed.
		l.flushMu.Lock()
		l.flushTimer.Stop()
		l.flushMu.Unlock()
	}
	l.retMu.Lock()
	defer l.retMu.Unlock()
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.bg.Wait()
	var err error
	if l.failure.Load() == nil {
		l.mu.RLock()
		seq := l.writeSeq
		l.mu.RUnlock()
		err = l.syncTo(seq)
	}
	l.mu.RLock()
	segs := l.segs
	l.mu.RUnlock()
	for _, s := range segs {
		s.file.remove()
	}
	return err
}

// acquire finds the segment holding offset and takes a reference to it.
// At NextOffset it returns ok == false and no error.
func (l *Log) acquire(offset int64) (v segView, ok bool, err error) {
	if l.closed.Load() {
		return segView{}, false, ErrClosed
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	start, next := l.startLocked(), l.active.next
	if offset < start || offset > next {
		return segView{}, false, fmt.Errorf("%w: offset %d, log holds %d to %d", ErrOffsetOutOfRange, offset, start, next)
	}
	if offset == next {
		return segView{}, false, nil
	}
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > offset }) - 1
	s := l.segs[i]
	s.refs.Add(1)
	return s.view(), true, nil
}

// readErr turns the internal error of a segment that retention deleted
// meanwhile into ErrOffsetOutOfRange.
func (l *Log) readErr(offset int64, err error) error {
	if err == errSegmentDeleted {
		return fmt.Errorf("%w: offset %d was deleted by retention", ErrOffsetOutOfRange, offset)
	}
	return err
}
