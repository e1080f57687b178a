// Package callbacks carries merlin's instrumentation: typed events for what
// the producer does (flushes, acknowledgements, workers going up and down,
// downtime buffering), a [Bus] that fans them out to [Handler]s without ever
// slowing the producer, and two ready-made handlers: a statsd sink
// ([NewStatsd]) and a log/slog sink ([NewSlog]).
//
// An [Event] carries its [Kind], the topic, partition and broker it is about,
// and counts, bytes, durations or an error as the kind calls for (see the
// Kind constants).
//
// # Handlers never slow the producer
//
// [Bus.Emit] never blocks on a handler and never runs one on the caller's
// goroutine. Each handler has its own bounded queue (BusOptions.QueueSize,
// 4096 events by default) and its own goroutine, which calls Handle with the
// handler's events one at a time, in the order they were emitted. When a
// handler falls so far behind that its queue is full, further events for it
// are dropped and counted ([Bus.Dropped]); other handlers are not affected.
// A handler may therefore block or be slow, at the cost of its own events.
// A panic in a handler is not recovered: like any goroutine's, it ends the
// program.
//
// [Bus.Close] stops accepting events, lets every handler finish its queue
// (up to the context's deadline) and stops the goroutines. It does not close
// the handlers themselves: close sinks such as [Statsd] after the bus, so
// that the events it drained reach them.
//
// # Options and errors
//
// BusOptions and StatsdOptions follow merlin's configuration style: zero
// fields mean their defaults, StatsdOptions.Validate reports the first
// invalid field as a *ConfigError (errors.Is ErrConfig, which matches
// every merlin package's ErrConfig), and NewStatsdWith validates before
// it fills in the defaults.
//
// # Statsd
//
// [Statsd] sends metrics named <prefix>.<topic>.<event>.broker<id>.<partition>
// over UDP in the statsd line protocol. See [NewStatsd] for the metrics each
// kind produces and how lines are packed into packets.
package callbacks
