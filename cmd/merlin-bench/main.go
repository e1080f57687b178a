// Command merlin-bench runs merlin's side-by-side benchmarks (W2 to W5 of
// the project's benchmark suite): merlin's producer, franz-go's kgo and
// sarama produce the same messages to the same broker in one run, and the
// results come out as one table.
//
// Usage:
//
//	merlin-bench [--brokers HOST:PORT,...] [--workloads w2,w3,w4,w5]
//	             [--systems merlin,kgo,sarama] [--runs N] [--messages SPEC]
//	             [--partitions N] [--markdown FILE] [--svg FILE]
//	             [--cpuprofile FILE]
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
// Every system runs with acks=1 (leader), idempotence off, no compression and
// the same linger (--linger, default 10ms: merlin's TTL, kgo's
// ProducerLinger, sarama's Flush.Frequency). Sync and unbatched rows use no
// linger for kgo and sarama; merlin's ProduceSync and ProduceAsync never
// wait for the TTL. A run counts only when every message was acknowledged
// exactly once and the broker's log holds them all: a run that lost
// messages is an error, not a result.
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
