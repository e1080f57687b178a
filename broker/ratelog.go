package broker

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// logEvery is how often a rate-limited message is logged at most.
const logEvery = time.Second

// rateLog logs one kind of message (a connection closed for bad input, a
// refused connection, a failed accept) at most once per logEvery: the first
// occurrence is logged with its details, the next ones in the same second
// are counted, and the count is logged when the second is over. A flood of
// bad clients then costs a few lines a second instead of one per client.
type rateLog struct {
	log   *slog.Logger
	level slog.Level
	msg   string

	mu         sync.Mutex
	next       time.Time // when the next line may be logged
	suppressed int
	timer      *time.Timer // pending report of suppressed lines
	closed     bool
}

func newRateLog(log *slog.Logger, level slog.Level, msg string) *rateLog {
	return &rateLog{log: log, level: level, msg: msg}
}

// Log logs the message with args, or counts it when one was logged less
// than logEvery ago.
func (r *rateLog) Log(args ...any) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	if now.Before(r.next) {
		r.suppressed++
		if r.timer == nil {
			r.timer = time.AfterFunc(r.next.Sub(now), r.report)
		}
		return
	}
	r.next = now.Add(logEvery)
	r.log.Log(context.Background(), r.level, r.msg, args...)
}

// report logs how many lines were held back.
func (r *rateLog) report() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reportLocked()
}

func (r *rateLog) reportLocked() {
	r.timer = nil
	if r.suppressed == 0 {
		return
	}
	r.log.Log(context.Background(), r.level, r.msg+" (repeated)", "suppressed", r.suppressed, "in_last", logEvery)
	r.suppressed = 0
	r.next = time.Now().Add(logEvery)
}

// close logs the pending count, if any, and stops logging: after close
// nothing is logged (a test's logger may be gone).
func (r *rateLog) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	if r.timer != nil {
		r.timer.Stop()
	}
	r.reportLocked()
	r.closed = true
}
