// Package interop holds merlin's interoperability and failure tests: each
// starts the real merlin-broker binary (built once per test run with go
// build, with -race when the tests run with it) on a free loopback port,
// with its data directory in a temporary directory, and drives it with real
// Kafka clients.
//
//   - Non-Go clients: kcat (librdkafka), confluent-kafka for Python
//     (librdkafka again, through its Python binding) and kafka-python, as
//     Debian packages them (kcat, python3-confluent-kafka, python3-kafka;
//     the Python modules are those of /usr/bin/python3, or of $MERLIN_PYTHON).
//     Without them the tests are skipped, saying what is missing; with
//     MERLIN_INTEROP=1 in the environment (as CI sets it) a missing tool is
//     a failure.
//   - Go clients: franz-go (kgo), sarama and segmentio/kafka-go.
//   - What can go wrong: SIGKILL in the middle of acknowledged idempotent
//     produces with --fsync always, torn and garbage tails, retention by age
//     and by bytes, restarts, and the data directory's lock.
//   - BenchmarkW1: workload W1 of docs/BENCHMARKS.md (poe's) through the broker on
//     disk.
//
// The package has no non-test code.
package interop
