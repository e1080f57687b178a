package producer

import "sync/atomic"

// lifecycle is a producer's close state. Close moves it forward, once:
//
//	open ─beginClose─▶ closing ─abort─▶ aborting ─finish─▶ closed
//	                   closing ─────────finish───────────▶ closed
//
// The states mean:
//   - closing: produce calls and Ping return ErrClosed; callers waiting
//     for a topic's metadata are released (closingC); workers drain.
//   - aborting, only when Close's context ended first: workers fail what
//     they still hold with ErrClosed (abortC).
//   - closed: Close is done; later Close calls return at once (doneC).
//
// Each state has a channel that is closed on entry, so goroutines can wait
// for it in a select; isClosing is the produce calls' fast path.
type lifecycle struct {
	closing  atomic.Bool
	closingC chan struct{}
	abortC   chan struct{}
	doneC    chan struct{}
}

func newLifecycle() lifecycle {
	return lifecycle{
		closingC: make(chan struct{}),
		abortC:   make(chan struct{}),
		doneC:    make(chan struct{}),
	}
}

// isClosing reports whether Close has begun.
func (l *lifecycle) isClosing() bool { return l.closing.Load() }

// beginClose moves open to closing. Only the first caller gets true; it
// must later call finish.
func (l *lifecycle) beginClose() bool {
	if !l.closing.CompareAndSwap(false, true) {
		return false
	}
	close(l.closingC)
	return true
}

// abort moves closing to aborting. Called by the Close that began, at most
// once.
func (l *lifecycle) abort() { close(l.abortC) }

// finish moves to closed. Called by the Close that began, once.
func (l *lifecycle) finish() { close(l.doneC) }
