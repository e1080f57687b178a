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
// process, which is what package mockbroker builds for tests. The fault
// injection it uses is kept out of Cluster and Broker: a Faults set in
// ClusterConfig.Faults injects errors (InjectError), and a NodeFaults set in
// Config.Faults pauses or slows one broker (Pause, SetLatency); both are nil
// in production. Broker.DropConnections, Cluster.MoveLeader,
// Cluster.AddPartitions and ClusterConfig.OnProduce serve tests too.
//
// # Configuration and errors
//
// merlin's packages configure alike: a struct whose zero fields mean their
// defaults (each field says which; enumerations have a zero "Default"
// constant, such as producer.AcksDefault, so that no flag is needed to tell "unset"
// from a real value), a Validate method that reports the first invalid
// field without changing anything, and a constructor that validates and
// then fills in the defaults. Every invalid configuration is a
// *ConfigError naming the field, which matches ErrConfig under errors.Is.
// Everything used after Close returns an error matching ErrClosed. The
// ErrConfig and ErrClosed of every merlin package (producer, broker,
// mockbroker, callbacks, seglog) are of one kind each: errors.Is(err,
// producer.ErrClosed) holds for a closed broker.Cluster's errors too.
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
//	CreateTopics    v0-v7   topic configs merlin applies are kept (see below)
//	InitProducerId  v0-v4   idempotent producers (no transactions)
//	FindCoordinator v0-v6   batched coordinator keys from v4
//	JoinGroup       v0-v9   MEMBER_ID_REQUIRED (v4+), static members (v5+)
//	SyncGroup       v0-v5
//	Heartbeat       v0-v4
//	LeaveGroup      v0-v5   batched members from v3
//	OffsetCommit    v0-v9
//	OffsetFetch     v0-v9   several groups at once from v8
//	ListGroups      v0-v5   state and type filters
//	DescribeGroups  v0-v6
//	DeleteGroups    v0-v2
//	OffsetDelete    v0
//	DeleteTopics    v0-v6   data removed, names reusable, by topic id from v6
//	DeleteRecords   v0-v2   moves the log start offset
//	CreatePartitions v0-v3
//	DescribeConfigs v0-v4   topic and broker configs
//	AlterConfigs    v0-v2   topic configs, on disk storage
//	IncrementalAlterConfigs v0-v1
//	DescribeCluster v0-v2
//	SaslHandshake   v0-v1   v0 followed by bare SASL tokens
//	SaslAuthenticate v0-v2  session lifetime (KIP-368) from v1
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
// There are no transactions, KIP-848 consumer groups or ACLs.
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
// # Consumer groups
//
// The classic group protocol follows Kafka's group coordinator: the states
// Empty, PreparingRebalance, CompletingRebalance, Stable and Dead; a join
// phase that ends when every member has joined or the longest rebalance
// timeout has passed; session timeouts kept by heartbeats, commits, joins
// and syncs; static membership (KIP-345); the protocol chosen by the
// members' votes; Kafka's error codes for stale generations and unknown or
// fenced members. In a multi-node Cluster each group is answered by one
// node, chosen by hashing the group id over the node ids; the others answer
// NOT_COORDINATOR. Committed offsets and group metadata (protocol,
// generation, leader, members and assignments) are kept on disk storage in
// an internal log (DIR/groups), rewritten from the current state as it
// grows and replayed before the cluster serves: after a restart, even a
// kill -9, a group with members is Stable again, its members carry on
// without a rebalance if they still heartbeat, and expire if not. On memory
// storage groups live as long as the Cluster. Offsets do not expire
// (Kafka's offsets.retention.minutes is not applied).
//
// # Topic configs
//
// DescribeConfigs reports the limits in effect for a topic: the storage's
// (DiskOptions), overridden per topic on disk storage by CreateTopics,
// AlterConfigs or IncrementalAlterConfigs for the configs merlin applies:
// retention.ms, retention.bytes, segment.bytes and segment.ms
// (cleanup.policy only as "delete": there is no compaction). The overrides are kept in
// DIR/topic-configs.json and applied to the partition logs at once.
// max.message.bytes is ClusterConfig.MaxMessageBytes, read-only. Altering
// other configs is refused with INVALID_CONFIG (CreateTopics ignores them);
// memory storage keeps every batch and refuses alterations.
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
//
// # Locks
//
// The broker's mutexes, and the order in which they may be taken (a lock
// is only ever acquired while holding locks listed before it, never the
// other way round):
//
//  1. Broker.mu: the listener, the connection set and per-IP counts.
//     Held by Start while it registers the node in the Cluster; nothing
//     is held when connections are closed (Close, DropConnections): a TLS
//     close may write, for up to 5 seconds.
//  2. Cluster.mu (RWMutex): nodes, the topic maps and each topic's
//     partition list (topic has no lock of its own). Read-locked briefly
//     by lookups and Metadata; write-locked to create, grow, delete and
//     restore topics, to attach nodes and by Close. It is never taken
//     twice by one goroutine (read locks included: a waiting writer
//     would deadlock it).
//  3. group.mu, one per consumer group: all of a group's state. Taken
//     under Cluster.mu only by Cluster.Close; request handlers take it
//     after their Cluster lookups are done, with nothing else held.
//  4. groupCoordinator.mu: the group map. Taken under group.mu (a group
//     removing itself) and under Cluster.mu (Close), never held while a
//     group's lock is taken: get and all release it first.
//  5. partition.mu: leader and epoch writes, idempotent producer state,
//     fetch waiters. Taken under Cluster.mu (leader moves, restore,
//     Close) or alone; appends release it before waiting for an fsync.
//  6. Storage: DiskStorage.mu (the partition map, the saved topic list,
//     topic configs), memoryStorage.mu, groupStore.mu (the groups log,
//     under group.mu), then each log's own: memoryLog.mu, or seglog.Log's
//     (retMu before wmu before mu, syncMu before mu) and last the
//     seglog.FileCache's. Storage locks are taken under Cluster.mu,
//     partition.mu or group.mu, and never call back into the broker.
//  7. Leaves, taken under any of the above and taking nothing: Faults.mu
//     (injected errors), byteBudget.mu (QueuedMaxRequestBytes),
//     authThrottle.mu, FileCredentials.mu and rateLog.mu (which logs
//     while held: slog handlers must not call into the broker).
//
// A connection has no mutex: one goroutine at a time serves it, and
// watchPeer's reader is joined before the handler goes on. Cluster.Close
// waits for the storage's retention goroutine, and Broker.Close for its
// connections' goroutines, with no lock held that those take.
// ClusterConfig.OnProduce is called with no lock held.
//
// # Differences from Apache Kafka
//
// interop/kafka's TestDifferentialAgainstKafka sends the same requests, at
// the same versions, to this broker and to Apache Kafka and compares the
// answers field by field (node ids, addresses, cluster and topic ids,
// throttling, error messages, epochs and broker timestamps aside). What
// differs on purpose:
//
//   - A topic auto-created by Metadata is created before the answer, which
//     shows it with its partitions; Kafka creates it asynchronously and
//     answers the first request with an error (UNKNOWN_TOPIC_OR_PARTITION
//     in KRaft), which clients retry.
//   - ApiVersions lists far fewer APIs (no transactions, ACLs, quotas,
//     share groups, KRaft or replication APIs) and lower maximum versions
//     of some; clients negotiate down, and the test logs the list.
//
// Produce batches above MaxMessageBytes (Kafka's message.max.bytes,
// 1 048 588 by default) are refused MESSAGE_TOO_LARGE, and a fetch out of
// range reports no offsets, as Kafka does; the test found both.
package broker
