// Package broker is a Kafka-protocol broker: a TCP server that Kafka clients
// (franz-go, sarama, kafka-go, librdkafka, kafka-python, ...) produce to and
// consume from, over a pluggable storage of record batches.
//
// A Broker serves one node of a Cluster. Alone it makes its own cluster:
//
//	b, err := broker.New(broker.Config{Listen: "127.0.0.1:9092"})
//	if err != nil { ... }
//	if err := b.Start(); err != nil { ... }
//	defer b.Close()
//
// Several brokers sharing one Cluster form a multi-node cluster in one
// process, which is what package mockbroker builds for tests; Cluster and
// Broker also carry the fault-injection hooks it uses (Pause, SetLatency,
// DropConnections, InjectError, MoveLeader, AddPartitions, OnProduce).
//
// # Protocol
//
// Requests are decoded and answers encoded with franz-go's kmsg. Each
// connection has one goroutine at a time that reads a frame, answers it and
// goes on, so answers come in request order; answers are buffered and
// written when no further request is already waiting. Supported request types and
// versions (what ApiVersions advertises):
//
//	Produce         v3-v9   record batches v2; acks 0, 1, -1; idempotence
//	Fetch           v4-v18  long poll, MinBytes, MaxBytes, whole batches
//	ListOffsets     v1-v7   earliest, latest, max timestamp, by timestamp
//	Metadata        v0-v12  auto-creation, topic ids
//	ApiVersions     v0-v3   with the v0 downgrade answer of KIP-511
//	CreateTopics    v0-v7
//	InitProducerId  v0-v4   idempotent producers (no transactions)
//	SaslHandshake   v0-v1   v0 followed by bare SASL tokens
//	SaslAuthenticate v0-v2  session lifetime (KIP-368) from v1
//
// There are no consumer groups, transactions or ACLs yet.
//
// # TLS and SASL
//
// Config.TLS makes the listener TLS-only, with mutual TLS when its
// ClientAuth requires client certificates. Config.SASLMechanisms (PLAIN,
// SCRAM-SHA-256, SCRAM-SHA-512) with Config.Credentials requires SASL
// authentication: until a client has authenticated, only ApiVersions,
// SaslHandshake and SaslAuthenticate are answered, and its frames are
// bounded to 512 KiB (Kafka's sasl.server.max.receive.size); anything else
// closes the connection. The answers are Kafka's: UNSUPPORTED_SASL_MECHANISM
// with the enabled mechanisms, SASL_AUTHENTICATION_FAILED with a message,
// ILLEGAL_SASL_STATE for SASL requests out of order (or on a listener
// without SASL), each but the last then closing the connection. A failed
// authentication is logged (rate-limited) with the client's address and
// answered after Config.AuthFailureDelay; after one, attempts from the same
// address are checked at most one per delay. Config.SessionLifetime bounds
// sessions as Kafka's connections.max.reauth.ms: clients re-authenticate
// (same mechanism, same user) or are closed at their next request. SCRAM's
// server side is github.com/xdg-go/scram's.
//
// Bad input never crashes the broker. Frames longer than
// Config.MaxRequestSize, negative or truncated lengths, unknown request
// types, unsupported versions (other than ApiVersions') and undecodable
// requests close that connection, logged with the reason; a bad record
// batch is answered CORRUPT_MESSAGE or INVALID_RECORD. A panic in a
// connection's goroutine is recovered, logged and closes only that
// connection.
//
// # Limits: hostile and broken clients
//
// No client can make the broker hold resources without bound:
//
//   - A fetch waiting for data (long poll) ends when its client closes the
//     connection: the socket is read while the fetch waits. The wait is
//     capped by Config.MaxFetchWait (30 s by default).
//   - A request's buffer grows as its bytes arrive (doubling, from the
//     connection's own 256 bytes), never to the announced size ahead of
//     them, and Config.QueuedMaxRequestBytes (256 MiB) bounds the request
//     buffers of all connections together: readers wait beyond it.
//   - A request frame must arrive within Config.RequestReadTimeout (30 s)
//     once begun, and a connection silent for Config.IdleTimeout (10
//     minutes) is closed.
//   - Config.MaxConnections and Config.MaxConnectionsPerIP refuse new
//     connections beyond them (closed as soon as accepted).
//   - ClusterConfig.MaxPartitionsPerTopic answers larger CreateTopics
//     INVALID_PARTITIONS, and ClusterConfig.MaxPartitionsTotal (10 000)
//     answers topics beyond it POLICY_VIOLATION, auto-created ones
//     included.
//   - An idle connection holds no buffer but its own 256 bytes and waits on a
//     fresh goroutine: about 2.5 KiB in all.
//   - Per-connection log lines (bad input, slow or idle clients, refused
//     connections, failed accepts) are logged at most once a second each,
//     with a count of those held back.
//
// Damaged stored data (a batch failing its CRC in an older segment, which
// only VerifyDisk detects ahead of time) is answered CORRUPT_MESSAGE, as
// Kafka answers corrupt records; consumers get past it by seeking to the
// offset VerifyDisk reports after the damage.
//
// # Storage
//
// Produced batches are stored as received, CRC32C checked, with only the
// base offset and the partition leader epoch patched (the CRC does not cover
// them): compressed batches stay compressed, and Fetch returns the same
// bytes. Storage and PartitionLog are the interface to the log;
// NewDiskStorage keeps it on disk, one seglog per partition under a locked
// data directory (the default of cmd/merlin-broker), and NewMemoryStorage in
// memory (mockbroker's, and --memory's).
//
// # Idempotent producers
//
// For each partition and producer id the cluster keeps the producer's epoch
// and the sequence ranges and offsets of its last five batches. A batch equal
// to one of those (a retry) is answered with the original offset and not
// stored again; a sequence gap gets OUT_OF_ORDER_SEQUENCE_NUMBER, an older
// epoch INVALID_PRODUCER_EPOCH, and a new epoch must start at sequence 0. A
// producer the partition has not seen may start at any sequence. The state
// lives in the Cluster, so it outlives a Broker's restart, and a Cluster
// rebuilds it from the stored batch headers when it opens existing storage.
package broker
