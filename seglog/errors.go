package seglog

import (
	"errors"
	"fmt"

	"github.com/merlinkafka/merlin/internal/errs"
	"github.com/merlinkafka/merlin/internal/kbatch"
)

// Sentinel errors. Test for them with errors.Is; the errors returned by the
// package wrap them with the details (segment, position, offsets).
var (
	// ErrOffsetOutOfRange is returned for an offset below StartOffset or
	// above NextOffset.
	ErrOffsetOutOfRange = errors.New("seglog: offset out of range")

	// ErrClosed is returned by every operation on a closed Log, and by a
	// Slice whose Log was closed before the Slice was read. It matches
	// every merlin package's ErrClosed under errors.Is.
	ErrClosed = errs.Closed("seglog: log closed")

	// ErrCorrupt reports stored bytes that are not what was written: a batch
	// whose length, magic, CRC or offsets are wrong, or an offset that falls
	// into an unreadable part of an older segment. It wraps kbatch.ErrCorrupt.
	ErrCorrupt = fmt.Errorf("seglog: corrupt log data: %w", kbatch.ErrCorrupt)

	// ErrInvalidBatch is returned by Append for a batch that it refuses:
	// malformed, failing its CRC, not exactly one batch, or with a record
	// count that does not match its offset delta. It wraps kbatch.ErrCorrupt
	// but not ErrCorrupt, so that a broker can tell a bad request (Kafka's
	// CORRUPT_MESSAGE) from bad storage (KAFKA_STORAGE_ERROR).
	ErrInvalidBatch = fmt.Errorf("seglog: invalid record batch: %w", kbatch.ErrCorrupt)
)

// corruptf returns an error wrapping ErrCorrupt, and cause when it is not nil.
func corruptf(cause error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if cause == nil {
		return fmt.Errorf("%w: %s", ErrCorrupt, msg)
	}
	return fmt.Errorf("%w: %s: %w", ErrCorrupt, msg, cause)
}
