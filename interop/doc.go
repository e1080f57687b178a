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
//   - Current non-Go clients, pinned in interop/clients/ and installed by
//     interop/clients/install into a cache outside the work tree
//     ($MERLIN_CLIENTS_CACHE, by default $XDG_CACHE_HOME/merlin): a Python
//     venv with confluent-kafka 2.x (librdkafka 2.x), kafka-python 3.x and
//     aiokafka, and an npm prefix with kafkajs. Each goes through one script
//     (testdata/*_workflow.py, testdata/kafkajs_workflow.js): its admin
//     client's topic and config calls, produce with keys and headers,
//     consume by assignment, and two members of a group sharing the
//     partitions, one leaving and the other resuming at its commits. Missing
//     environments are skipped or failed as above.
//   - Go clients: franz-go (kgo), sarama and segmentio/kafka-go.
//   - What can go wrong: SIGKILL in the middle of acknowledged idempotent
//     produces with --fsync always, torn and garbage tails, retention by age
//     and by bytes, restarts, and the data directory's lock.
//   - BenchmarkW1: workload W1 of docs/BENCHMARKS.md through the broker on disk.
//
// The package has no non-test code.
package interop
