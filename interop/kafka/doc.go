// Package kafka holds merlin's tests against Apache Kafka itself, the
// reference peer: a real KRaft cluster started by internal/kafkatest (one
// node, or three with topics at replication factor 3 and
// min.insync.replicas=2), merlin's producer writing to it, and Kafka's own
// Java clients (java/Peer.java, run as a single-file program) and franz-go
// reading back what it stored.
//
// pom.xml pins the Kafka release; ./resolve puts its jars in the local Maven
// repository. The tests take minutes, so they run only with MERLIN_KAFKA=1
// (as .ci/run sets it), and are skipped with a message otherwise; with the
// flag, a missing Java or missing jars is a failure.
// From the repository's root, one command:
//
//	interop/kafka/resolve && MERLIN_KAFKA=1 go test ./interop/kafka/ ./internal/kafkatest/
//
// MERLIN_KAFKA_VERSION=3.9.1 (after KAFKA_VERSION=3.9.1 interop/kafka/resolve)
// runs the same tests on the older broker line. MERLIN_SOAK=DURATION makes
// the failover tests run longer loads.
//
// The package has no non-test code.
package kafka
