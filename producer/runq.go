package producer

import (
	"sync"
	"time"
)

// runq hands items to a goroutine that runs while items come: it is
// started by the first push, takes everything queued at once each round,
// and ends once it has found nothing queued for idleExit. Sinks and
// reporters are runqs: a producer with no traffic keeps none of their
// goroutines, and a busy one does not start a goroutine (and regrow its
// stack) per burst.
type runq[T any] struct {
	mu      sync.Mutex
	items   []T
	spare   []T // the running goroutine's other buffer
	running bool
	waiting bool          // the goroutine is parked on wake
	wake    chan struct{} // capacity 1
	handle  func([]T)     // runs on the goroutine, with the items taken
	wg      *sync.WaitGroup
}

func newRunq[T any](wg *sync.WaitGroup, handle func([]T)) runq[T] {
	return runq[T]{wake: make(chan struct{}, 1), handle: handle, wg: wg}
}

// push queues x; the goroutine handles it soon.
func (q *runq[T]) push(x T) {
	q.mu.Lock()
	q.items = append(q.items, x)
	start, wake := !q.running, q.waiting
	q.running = true
	q.waiting = false
	q.mu.Unlock()
	switch {
	case start:
		q.wg.Add(1)
		go q.run()
	case wake:
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

func (q *runq[T]) run() {
	defer q.wg.Done()
	var timer *time.Timer
	for {
		q.mu.Lock()
		if len(q.items) == 0 {
			q.waiting = true
			q.mu.Unlock()
			if timer == nil {
				timer = time.NewTimer(idleExit)
			} else {
				timer.Reset(idleExit)
			}
			select {
			case <-q.wake:
				timer.Stop()
				continue
			case <-timer.C:
			}
			q.mu.Lock()
			if len(q.items) > 0 {
				q.mu.Unlock()
				continue
			}
			// A signal left in wake by a push that came meanwhile is
			// harmless: the next goroutine finds it and looks again.
			q.running, q.waiting = false, false
			q.mu.Unlock()
			return
		}
		take := q.items
		q.items = q.spare[:0]
		q.waiting = false
		q.mu.Unlock()
		q.handle(take)
		clear(take)
		q.spare = take[:0]
	}
}
