// Package producer is merlin's batching Kafka producer.
//
// A Producer sends messages to a Kafka cluster (Apache Kafka, Redpanda, or
// merlin's own bundled broker) in four modes, ekaf's:
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
// messages, sticky for the rest) chooses a partition. Each partition has a
// worker goroutine (Config.WorkersPerPartition, default 1) that owns its
// batches and a small state machine (see State). A batch is sealed when it
// reaches MaxMessages or MaxBytes, or TTL after its first message, and sent
// pipelined on the partition leader's connection (up to MaxInFlight
// unanswered batches per worker). Connections are sarama Brokers, one per
// broker, opened lazily and replaced when they die.
//
// # Configuration and errors
//
// merlin's packages configure alike: a struct whose zero fields mean their
// defaults (each field says which; enumerations have a zero "Default"
// constant, such as AcksDefault, so that no flag is needed to tell "unset"
// from a real value), a Validate method that reports the first invalid
// field without changing anything, and a constructor that validates and
// then fills in the defaults. Every invalid configuration is a
// *ConfigError naming the field, which matches ErrConfig under errors.Is.
// Everything used after Close returns an error matching ErrClosed. The
// ErrConfig and ErrClosed of every merlin package (producer, broker,
// mockbroker, callbacks, seglog) are of one kind each: errors.Is(err,
// producer.ErrClosed) holds for a closed broker.Cluster's errors too.
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
// handler never slows a worker. callbacks.NewStatsd sends them to statsd as
// ekaf did.
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
