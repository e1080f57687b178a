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
// connection has one goroutine that reads a frame, answers it and goes on,
// so answers come in request order; answers are buffered and written when
// no further request is already waiting. Supported request types and
// versions (what ApiVersions advertises):
//
//	Produce         v3-v9   record batches v2; acks 0, 1, -1; idempotence
//	Fetch           v4-v18  long poll, MinBytes, MaxBytes, whole batches
//	ListOffsets     v1-v7   earliest, latest, max timestamp, by timestamp
//	Metadata        v0-v12  auto-creation, topic ids
//	ApiVersions     v0-v3   with the v0 downgrade answer of KIP-511
//	CreateTopics    v0-v7
//	InitProducerId  v0-v4   idempotent producers (no transactions)
//
// There are no consumer groups, transactions, ACLs, SASL or TLS yet.
//
// Bad input never crashes the broker. Frames longer than
// Config.MaxRequestSize, negative or truncated lengths, unknown request
// types, unsupported versions (other than ApiVersions') and undecodable
// requests close that connection, logged with the reason; a bad record
// batch is answered CORRUPT_MESSAGE or INVALID_RECORD. A panic in a
// connection's goroutine is recovered, logged and closes only that
// connection.
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
