// Command merlin-bench runs merlin's side-by-side benchmarks (W2 to W5 of
// the project's benchmark suite): merlin's producer, franz-go's kgo, sarama
// and Apache Kafka's Java producer produce the same messages to the same
// broker in one run, and the results come out as one table.
//
// Usage:
//
//	merlin-bench [--brokers HOST:PORT,...] [--broker bundled,kafka]
//	             [--workloads w2,w3,w4,w5] [--systems merlin,kgo,sarama,java]
//	             [--runs N] [--messages SPEC] [--partitions N]
//	             [--config tuned|defaults] [--buffer-bound N]
//	             [--markdown FILE] [--svg FILE] [--cpuprofile FILE]
//
// Without --brokers it starts the bundled broker (cmd/merlin-broker, built
// with `go build` when no merlin-broker binary sits next to merlin-bench) as
// its own process, in memory on loopback, and a fresh one for every run of
// every system, so that no run pays for the data of the one before.
//
// An existing cluster's connections take the security flags every merlin
// command has (--tls, --tls-ca, --tls-cert/--tls-key, --tls-server-name,
// --sasl-mechanism PLAIN|SCRAM-SHA-256|SCRAM-SHA-512 and --sasl-user, the
// password from MERLIN_SASL_PASSWORD or --sasl-password-file), for all
// three systems and the bench's own admin and consumer clients alike.
//
// --broker kafka runs against Apache Kafka instead: one KRaft node started
// with internal/kafkatest (Java and the jars of interop/kafka/resolve), once
// for the whole invocation and warmed up, with a fresh topic per run that is
// deleted after it; a JVM restarted per run would measure its start-up and
// JIT. --broker bundled,kafka runs every workload on each in turn (the Kafka
// node is not running during the bundled broker's runs) and prints one
// table with a broker column.
//
// The java system is Kafka's Java producer in Kafka's ProducerPerformance
// tool (kafka-producer-perf-test), a JVM of its own per run, with the same
// message size and count, the producer properties of --config (below),
// --throughput -1
// and --warmup-records as --java-warmup (default --warmup), records the JVM
// warms its JIT up on. Its figures are the tool's own steady-state summary;
// its CPU and peak RSS are the whole JVM's. It only
// runs the one-a-call rows (W2 one a call, W5). When Java or the jars are
// missing it is left out with a message, unless --systems names it.
//
// The workloads:
//
//	W2 ekaf       async batched, 100-byte messages: lists of 1k, 10k and 100k
//	              messages in one call, then one call a message with batching
//	              (linger) and without; 100 000 messages a row
//	W3 put-many   100 000 messages of 1 KB, sync, from 100 goroutines; ack
//	              latency percentiles
//	W4 flood      one producer, one consumer (kgo for every system), 10 000
//	              messages of 1 KB end to end; us/msg and end-to-end latency
//	W5 peers      1 000 000 messages of 100 bytes, one call a message, async
//	              batched
//
// --config tuned (the default) runs every system with acks=1 (leader),
// idempotence off, no compression and the same linger (--linger, default
// 10ms: merlin's TTL, kgo's ProducerLinger, sarama's Flush.Frequency,
// java's linger.ms, java's batch.size as merlin's 1 MiB). Sync and
// unbatched rows use no linger for kgo, sarama and java; merlin's
// ProduceSync and ProduceAsync never wait for the TTL.
//
// --config defaults runs each client out of the box, with its own
// batching, linger, idempotence and compression, in every row, but
// acks=all for every one: merlin with producer.Config{Brokers, ClientID}
// and each message's OnDelivery counting outcomes; kgo with its defaults (acks=all,
// idempotent, snappy preferred, 10ms linger); sarama's NewConfig() with
// RequiredAcks WaitForAll (idempotence stays off, its default);
// ProducerPerformance with bootstrap.servers and acks=all alone. The
// table's header says which config ran and each system's settings.
//
// --buffer-bound N holds the systems to N messages buffered and not yet
// acknowledged, for comparing peak heap: merlin's MaxBufferedMessages
// (MaxBufferedBytes raised when N messages need more than its default),
// kgo's MaxBufferedRecords, java's buffer.memory = N x message size (at
// least one batch.size); sarama has no such bound and keeps its defaults.
//
// Either way, a run counts only
// when every message was acknowledged exactly once and the broker's log
// holds them all (for java: the tool's count of acknowledged records and
// the topic's offsets): a run that lost messages is an error, not a
// result.
//
// Each figure is the median of --runs runs. The runs of the systems are
// interleaved (run 1 of each, then run 2, ...) and the ratio column is the
// median of the per-run ratios merlin/system, so that noise on a shared
// machine hits both sides of a ratio alike. CPU is the bench process's own
// (getrusage) over the timed window, broker CPU the broker process's; peak
// RSS is the bench process's high-water mark over the window (reset before
// each run), peak heap is sampled.
//
// Exit status: 0 when every run succeeded, 1 when any failed, 2 for bad
// flags.
package main

import (
	"github.com/merlinkafka/merlin/internal/cli"
)

func main() { cli.Main(run) }
