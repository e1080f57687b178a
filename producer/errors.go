package producer

import (
	"errors"
	"fmt"

	"github.com/merlinkafka/merlin/internal/errs"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Sentinel errors. Each works with errors.Is, also when wrapped.
var (
	// ErrClosed is returned by every call after Close has begun, and reported
	// for messages Close could not deliver before its context ended. Every
	// merlin package's ErrClosed (broker, mockbroker, seglog) matches it
	// under errors.Is, and it matches theirs.
	ErrClosed = errs.Closed("producer: closed")
	// ErrBufferFull is returned (policy Reject) or reported (policy
	// DropOldest) when the producer's buffer limits are reached.
	ErrBufferFull = errors.New("producer: buffer full")
	// ErrDeliveryTimeout is reported for a message that was not acknowledged
	// within Config.DeliveryTimeout.
	ErrDeliveryTimeout = errors.New("producer: delivery timeout")
	// ErrMessageTooLarge is returned for a message larger than the batch
	// byte limit of its topic (no broker would take it), and matches a
	// broker's MESSAGE_TOO_LARGE for a message alone in its batch (a
	// larger batch so refused is split and resent).
	ErrMessageTooLarge = errors.New("producer: message too large")
	// ErrUnknownTopic is returned when the cluster does not have the topic
	// and does not create it.
	ErrUnknownTopic = errors.New("producer: unknown topic")
	// ErrNoBrokers is returned when no broker could be reached for metadata.
	ErrNoBrokers = errors.New("producer: no broker reachable")
	// ErrInvalidPartition is returned by a custom picker that chose a
	// partition the topic does not have.
	ErrInvalidPartition = errors.New("producer: picker chose a partition outside the topic")
	// ErrUnacknowledged is returned by ProduceSync when its context ends
	// after the messages were accepted but before every acknowledgement
	// came: they will still be delivered or reported failed through their
	// callbacks. It wraps the context's error too.
	ErrUnacknowledged = errors.New("producer: accepted, not yet acknowledged")
	// ErrLeftInSpill is reported, wrapping ErrClosed, for messages that Close
	// could not deliver but that are in Config.SpillDir: the next producer
	// started on that directory sends them.
	ErrLeftInSpill = fmt.Errorf("%w; the message stays in the spill directory for the next producer", ErrClosed)
)

// PartialError is returned by a produce call that accepted only the first
// Accepted of its messages before Err stopped it (for example a custom
// picker that failed on a later message). The accepted ones will be
// delivered or reported through callbacks; the rest were not taken.
type PartialError struct {
	Accepted int
	Total    int
	Err      error
}

func (e *PartialError) Error() string {
	return fmt.Sprintf("producer: %d of %d messages accepted, then: %v", e.Accepted, e.Total, e.Err)
}

// Unwrap returns the error that stopped the call.
func (e *PartialError) Unwrap() error { return e.Err }

// BrokerError is a Kafka error code a broker answered for a partition. It
// unwraps to franz-go's kerr.Error, so errors.Is(err, kerr.NotLeaderForPartition)
// works, and it says whether merlin considers it retriable.
type BrokerError struct {
	Topic     string
	Partition int32
	Broker    int32
	Code      int16
}

func (e *BrokerError) Error() string {
	return fmt.Sprintf("producer: broker %d answered %s for %s/%d", e.Broker, kerr.ErrorForCode(e.Code), e.Topic, e.Partition)
}

// Unwrap returns the kerr.Error for the code.
func (e *BrokerError) Unwrap() error { return kerr.ErrorForCode(e.Code) }

// Is makes a broker's MESSAGE_TOO_LARGE and RECORD_LIST_TOO_LARGE match
// ErrMessageTooLarge, as merlin's own size check does.
func (e *BrokerError) Is(target error) bool {
	return target == ErrMessageTooLarge && tooLargeCode(e.Code)
}

// Retriable reports whether resending may succeed.
func (e *BrokerError) Retriable() bool { return retriableCode(e.Code) }

func retriableCode(code int16) bool {
	switch code {
	case kerr.OutOfOrderSequenceNumber.Code, kerr.UnknownProducerID.Code, kerr.InvalidProducerEpoch.Code:
		// Handled by resetting the worker's producer id and resending.
		return true
	}
	err := kerr.ErrorForCode(code)
	var ke *kerr.Error
	return errors.As(err, &ke) && ke.Retriable
}
