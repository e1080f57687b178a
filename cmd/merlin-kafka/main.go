// Command merlin-kafka starts an Apache Kafka KRaft cluster on loopback for
// a developer to point merlin's commands and tests at: the same cluster
// that merlin's tests start with internal/kafkatest (combined
// broker+controller nodes, each a `java -cp` child process), run by hand.
//
// Usage:
//
//	merlin-kafka [--nodes N] [--version V] [--dir DIR] [--heap-mb MB]
//
// Once every node is in the cluster's metadata it prints the bootstrap
// addresses on one line,
//
//	brokers: 127.0.0.1:40001,127.0.0.1:40004,127.0.0.1:40007
//
// with a command line to try them, and runs until SIGINT or SIGTERM, when it
// stops every node (Kafka's controlled shutdown, killed after 20 s) and, when
// --dir was not given, removes the temporary data directory. It also stops,
// exiting 1, when a node dies on its own.
//
// It needs Java and the Kafka jars resolved by interop/kafka/resolve
// (README, "Tests against Apache Kafka"); nothing is downloaded.
//
// Exit status: 0 after a stop on a signal; 1 when the cluster could not
// start or a node died; 2 for bad flags.
package main

import (
	"github.com/merlinkafka/merlin/internal/cli"
)

func main() { cli.Main(run) }
