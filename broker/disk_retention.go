package broker

// Retention of a DiskStorage: the periodic deletion of old segments.

import (
	"errors"
	"fmt"
	"time"

	"github.com/merlinkafka/merlin/seglog"
)

// ApplyRetention applies the retention limits to every open partition now,
// as the storage's own goroutine does every RetentionCheckInterval, and
// returns how many segments it deleted.
func (s *DiskStorage) ApplyRetention(now time.Time) (int, error) {
	s.mu.Lock()
	logs := make([]*diskLog, 0, len(s.logs))
	for _, l := range s.logs {
		logs = append(logs, l)
	}
	s.mu.Unlock()
	total := 0
	var errs []error
	for _, l := range logs {
		n, err := l.log.ApplyRetention(now)
		total += n
		if err != nil && !errors.Is(err, seglog.ErrClosed) {
			errs = append(errs, fmt.Errorf("%s/%d: %w", l.tp.topic, l.tp.partition, err))
		}
	}
	return total, errors.Join(errs...)
}

func (s *DiskStorage) retentionLoop() {
	defer close(s.done)
	t := time.NewTicker(s.opts.RetentionCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			if _, err := s.ApplyRetention(now); err != nil {
				s.log.Error("retention", "err", err)
			}
		}
	}
}
