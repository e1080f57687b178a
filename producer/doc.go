// Package producer is merlin's batching Kafka producer.
//
// A Producer sends messages to a Kafka cluster (Apache Kafka, Redpanda, or
// merlin's own bundled broker) in four modes:
//
//   - ProduceSync waits for the broker's acknowledgement and returns one
//     Result (partition, offset) per message.
//   - ProduceAsync sends at once and reports each outcome through the
//     message's OnDelivery callback and the event handlers.
//   - ProduceSyncBatched adds messages to their partitions' batches and
//     says where they went and how full those buffers are.
//   - ProduceAsyncBatched adds messages to the batches: fire and forget.
//
// # How a message travels
//
// The topic's picker (package picker; by default keyed: murmur2 for keyed
// messages, sticky for the rest) chooses a partition, and the call takes
// room in the producer's buffer (package buffer's Budget, under the
// BufferFull policy). Each partition has a worker (Config.WorkersPerPartition,
// default 1) with an explicit state machine (see State) that owns the
// partition's batches:
//
//  1. The produce call appends to the worker's open batch under its lock.
//     Unless delivery needs the Message back (Config.OnDelivery, hooks, a
//     massage hook), it encodes the message straight into the batch's Kafka
//     record batch and keeps only a note for a callback or ProduceSync
//     waiter, so the caller's key and value are free when the call returns.
//  2. A batch is sealed at MaxMessages or MaxBytes, or TTL after its first
//     message (at once for ProduceSync and ProduceAsync), and the worker's
//     goroutine finishes its encoding, compressing it: compression runs on
//     the partitions' goroutines, spread across cores. That one encoding is
//     what is sent, held through an outage, spilled and resent; a send sets
//     only its producer id, epoch and sequence.
//  3. The worker queues the batch on its leader's sink, up to MaxInFlight
//     unanswered batches, and goes on. The sink (one per broker, over one
//     sarama connection) takes everything queued each time it can write and
//     packs it into as few produce requests as it may.
//  4. sarama's reader hands the answer back to the worker, which settles the
//     batch: acknowledged, resent after a retriable error, or failed.
//  5. A reporter runs the delivery callbacks, completes ProduceSync calls and
//     gives the room back, in order per partition, off the workers: a slow
//     callback delays other callbacks, never sending.
//
// Worker, sink and reporter goroutines run only while they have work: an
// idle partition costs its state and no goroutine. DESIGN.md in the
// repository draws the path and says which goroutine owns what.
//
// # Delivery guarantees
//
// Every message a produce call accepts ends exactly once in one of two ways:
// acknowledged by a broker, or reported failed (ErrDeliveryTimeout, a
// non-retriable BrokerError, ErrClosed from Close, ErrBufferFull under the
// DropOldest policy). Nothing is dropped silently. A produce call that
// returns an error accepted none of its messages, unless the error says
// how many it did.
//
// Retriable broker errors (leader moved, timeouts, connection loss) refresh
// metadata and resend in order after a backoff with jitter, until the
// delivery timeout. With idempotence (the default with AcksAll) a resent
// batch carries the same producer id and sequence numbers, so the broker
// writes it once, and order holds with up to 5 batches in flight per
// partition. Without idempotence, set MaxInFlight to 1 to keep order across
// retries.
//
// # TLS, SASL and dialing
//
// Config.TLS encrypts every connection (nil: plaintext); Config.SASL
// authenticates it, after TLS when both are set, with PLAIN, SCRAM-SHA-256,
// SCRAM-SHA-512 (github.com/xdg-go/scram) or OAUTHBEARER, whose tokens come
// from a TokenProvider and are replaced once 80% of their lifetime has
// passed; when the broker sets a session lifetime
// (connections.max.reauth.ms, KIP-368) connections re-authenticate before
// it ends, with a fresh token. Config.Dialer opens the TCP connections, for
// proxies or custom resolution. Ping checks all of it against the cluster
// without creating a topic.
//
// A refused authentication is an AuthError (errors.Is ErrAuthentication)
// and a TLS handshake that fails on TLS itself (an untrusted certificate,
// a name mismatch) a TLSError (errors.Is ErrTLS; errors.As finds the x509
// error); both name the broker. Neither is retried as a broker that is
// down would be: produce calls waiting for metadata return it, messages
// waiting for a leader's connection fail with it at once, and the circuit
// breaker never turns it into ErrBrokerUnavailable; New returns it when
// EagerTopics are set. Secrets are of type Secret, which fmt, slog and
// encoders print as "[REDACTED]".
//
// # Events
//
// Workers report what they do as callbacks.Event values (flush,
// flushed_replied, worker_up, worker_down, time_to_connect, time_down,
// downtime_saved, downtime_replayed, state changes, failures) to the
// handlers in Config.Handlers, each through its own queue, so that a slow
// handler never slows a worker. callbacks.NewStatsd sends them to statsd.
//
// # Statistics and hooks
//
// Producer.Stats returns a snapshot of the producer's counters: messages
// produced, acknowledged and failed (by ErrorClass) per topic, bytes,
// batches and retries, latency histograms, what is buffered, workers by
// state, each broker's circuit breaker, the downtime events. Package
// prommerlin exports them to Prometheus.
//
// Config.Hooks see every message from its produce call (ProduceHook, which
// may add headers) to its outcome (DeliveryHook, called exactly once).
// Package otelmerlin traces messages with OpenTelemetry through them.
package producer
