package callbacks

import (
	"log/slog"
	"strconv"
	"time"
)

// Kind says what an Event reports.
type Kind uint8

// The kinds of events. The comments say which Event fields each one fills;
// Topic, Partition and Broker are set whenever the event is about them.
const (
	// Flush: a worker flushed a batch of Count messages, Bytes bytes.
	Flush Kind = iota + 1
	// FlushedReplied: the broker acknowledged a batch: Count messages
	// acknowledged, Duration the round trip.
	FlushedReplied
	// WorkerUp: a partition worker reached the ready state.
	WorkerUp
	// WorkerDown: a partition worker lost its leader (Err).
	WorkerDown
	// TimeToConnect: Duration from the worker's start to connected.
	TimeToConnect
	// TimeDown: Duration a partition or broker was down, reported when it
	// is back.
	TimeDown
	// MainBrokerUnreachable: no bootstrap or leader broker was reachable
	// (Err).
	MainBrokerUnreachable
	// DowntimeSaved: Count messages saved to the downtime buffer.
	DowntimeSaved
	// DowntimeReplayed: Count messages replayed from the downtime buffer.
	DowntimeReplayed
	// MaxDowntimeBufferReached: the downtime buffer is full; Count messages
	// affected, as the buffer's policy decides.
	MaxDowntimeBufferReached
	// StateChange: a worker moved from state From to state To.
	StateChange
	// Error: an error worth reporting (Err).
	Error
	// MessagesFailed: Count messages were reported failed (Err).
	MessagesFailed

	kindEnd // one past the last kind
)

var kindNames = [kindEnd]string{
	Flush:                    "flush",
	FlushedReplied:           "flushed_replied",
	WorkerUp:                 "worker_up",
	WorkerDown:               "worker_down",
	TimeToConnect:            "time_to_connect",
	TimeDown:                 "time_down",
	MainBrokerUnreachable:    "mainbroker_unreachable",
	DowntimeSaved:            "downtime_saved",
	DowntimeReplayed:         "downtime_replayed",
	MaxDowntimeBufferReached: "max_downtime_buffer_reached",
	StateChange:              "state_change",
	Error:                    "error",
	MessagesFailed:           "messages_failed",
}

// String returns the kind's snake_case name, such as "flush" or
// "worker_down", the event segment of the statsd metric names; "kind(N)" for
// a value that is not a Kind constant.
func (k Kind) String() string {
	if k > 0 && k < kindEnd {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Level is the log level the slog sink uses for the kind: Error for Error
// and MessagesFailed; Warn for WorkerDown, MainBrokerUnreachable and
// MaxDowntimeBufferReached; Debug for the frequent Flush and FlushedReplied;
// Info for the rest.
func (k Kind) Level() slog.Level {
	switch k {
	case Error, MessagesFailed:
		return slog.LevelError
	case WorkerDown, MainBrokerUnreachable, MaxDowntimeBufferReached:
		return slog.LevelWarn
	case Flush, FlushedReplied:
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// Event is one instrumentation event. Fields that do not apply to the Kind
// are zero, except Partition and Broker, which are -1 when unknown or not
// applicable (0 is a valid partition and broker id).
type Event struct {
	Kind      Kind
	Time      time.Time // when it happened; Bus.Emit sets it if zero
	Topic     string
	Partition int32 // -1 when not about one partition
	Broker    int32 // broker (node) id, -1 when unknown
	Count     int
	Bytes     int
	Duration  time.Duration
	From, To  string // StateChange
	Err       error
}

// Handler receives events. A Handler registered with a Bus is called from
// one goroutine of its own, one event at a time.
type Handler interface {
	Handle(Event)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(Event)

// Handle calls f(e).
func (f HandlerFunc) Handle(e Event) { f(e) }
