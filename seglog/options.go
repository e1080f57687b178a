package seglog

import (
	"log/slog"
	"math"
	"time"
)

// Defaults for the zero fields of Options. The package documentation gives
// the reasons.
const (
	DefaultSegmentBytes       = 64 << 20
	DefaultSegmentRecords     = math.MaxInt32
	DefaultSegmentAge         = 7 * 24 * time.Hour
	DefaultIndexIntervalBytes = 4096
	DefaultMaxOpenFiles       = 8

	// MaxSegmentBytes bounds SegmentBytes: index positions are 32-bit.
	MaxSegmentBytes = math.MaxInt32
	// maxRelOffset bounds the offsets in one segment: index offsets are
	// relative to the segment's base and 32-bit.
	maxRelOffset = math.MaxInt32
)

// Options configures a Log. The zero value of every field selects its
// default.
type Options struct {
	// SegmentBytes rolls to a new segment when the next batch would make
	// the active one larger than this. A batch larger than SegmentBytes
	// gets a segment of its own. Default 64 MiB; at most MaxSegmentBytes.
	SegmentBytes int64

	// SegmentRecords rolls to a new segment when the next batch would put
	// more than this many records (offsets) in the active one. Default
	// math.MaxInt32, the limit of the relative offsets in the index.
	SegmentRecords int64

	// SegmentAge rolls to a new segment when the active one is older than
	// this at the time of an append. A segment's age runs from its first
	// append, or for a segment that already held data at Open, from the
	// smaller of its first batch's MaxTimestamp and the time of Open.
	// Default 7 days, lowered to RetentionAge when that is set and shorter,
	// so that retention by age can delete data that arrives slowly.
	SegmentAge time.Duration

	// IndexIntervalBytes is the spacing of the sparse index: a batch gets
	// an index entry when it starts at least this many bytes after the
	// previous entry (and the first batch of every segment gets one).
	// Default 4096, as Kafka's log.index.interval.bytes.
	IndexIntervalBytes int

	// Flush is the fsync policy; the zero value is DefaultFlush.
	Flush FlushPolicy

	// RetentionAge makes ApplyRetention delete sealed segments whose
	// newest record is older than this. 0 keeps data forever.
	RetentionAge time.Duration

	// RetentionBytes makes ApplyRetention delete the oldest sealed
	// segments while the log stays at least this large without them.
	// 0 means no limit.
	RetentionBytes int64

	// Files bounds the open file handles of all the Logs that share it.
	// nil gives the Log a private cache of DefaultMaxOpenFiles handles.
	Files *FileCache

	// Logger receives recovery reports (truncated tails, rebuilt indexes,
	// removed leftovers) and retention deletions. nil means slog.Default().
	Logger *slog.Logger

	// Now is the clock for segment ages and roll decisions; nil means
	// time.Now. Tests set it to control rolling by age.
	Now func() time.Time

	// OnSync, when set, is called after each fsync of a segment file
	// (those of the flush policy, of rolls, of Sync and Close; not those
	// of directories and index files) with its duration, for metrics. It
	// must be quick and safe for concurrent use.
	OnSync func(time.Duration)
}

func (o Options) withDefaults() Options {
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if o.SegmentBytes > MaxSegmentBytes {
		o.SegmentBytes = MaxSegmentBytes
	}
	if o.SegmentRecords <= 0 || o.SegmentRecords > maxRelOffset {
		o.SegmentRecords = DefaultSegmentRecords
	}
	if o.SegmentAge <= 0 {
		o.SegmentAge = DefaultSegmentAge
		if o.RetentionAge > 0 && o.RetentionAge < o.SegmentAge {
			o.SegmentAge = o.RetentionAge
		}
	}
	if o.IndexIntervalBytes <= 0 {
		o.IndexIntervalBytes = DefaultIndexIntervalBytes
	}
	o.Flush = o.Flush.resolve()
	if o.RetentionAge < 0 {
		o.RetentionAge = 0
	}
	if o.RetentionBytes < 0 {
		o.RetentionBytes = 0
	}
	if o.Files == nil {
		o.Files = NewFileCache(DefaultMaxOpenFiles)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}
