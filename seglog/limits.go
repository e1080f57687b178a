package seglog

import "time"

// Limits are the options of an open Log that can change: the roll and
// retention limits, which a broker sets per topic. Zero fields select the
// defaults, as in Options.
type Limits struct {
	SegmentBytes   int64
	SegmentAge     time.Duration
	RetentionAge   time.Duration
	RetentionBytes int64
}

// SetLimits changes the log's roll and retention limits. The next Append
// rolls by the new ones, and the next ApplyRetention deletes by them.
func (l *Log) SetLimits(lim Limits) {
	o := Options{
		SegmentBytes:   lim.SegmentBytes,
		SegmentAge:     lim.SegmentAge,
		RetentionAge:   lim.RetentionAge,
		RetentionBytes: lim.RetentionBytes,
	}.withDefaults()
	// The same order as Close: retention, then writes.
	l.retMu.Lock()
	defer l.retMu.Unlock()
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.opts.SegmentBytes, l.opts.SegmentAge = o.SegmentBytes, o.SegmentAge
	l.opts.RetentionAge, l.opts.RetentionBytes = o.RetentionAge, o.RetentionBytes
}
