// Package picker chooses the partition of each message a producer sends.
//
// A [Strategy] makes one [Picker] per topic, so that state such as a round
// robin counter is kept per topic. Pickers are safe for concurrent use by any
// number of goroutines and never serialise them through one goroutine or a
// lock: the stateful strategies use one atomic counter per topic, Random keeps
// no shared state at all, so picking never queues producers behind one
// another.
//
// # Strategies
//
//   - [Keyed] (the producer's default): a keyed message goes to
//     murmur2(key) & 0x7fffffff % n, the partition the Java client, franz-go
//     (kgo.StickyKeyPartitioner) and librdkafka's murmur2 partitioner choose,
//     so merlin can share a topic with them. An unkeyed message (nil key)
//     is placed as by StickyRoundRobin(1000). An empty but non-nil key is a
//     key, as in the Java client.
//   - [Random]: every message an independent, uniformly random partition.
//   - [StickyRoundRobin](n): n messages in a row to one partition, then n to
//     the next, and so on. The count is exact (one atomic counter). The
//     first run starts at a random partition, so that many producers
//     started together do not all fill partition 0 first.
//   - [StrictRoundRobin]: partitions 0, 1, 2, ..., n-1, 0, 1, ... in turn
//     (StickyRoundRobin with runs of one message, starting at partition 0).
//   - [Func]: a custom function. Its results are reduced into range with a
//     non-negative modulo, so it may return a raw hash.
//
// [ByName] builds the named strategies from configuration text; every
// strategy's String method returns a name that ByName accepts.
//
// # Partitions that are down
//
// Pick receives an optional [Availability]. Strategies that are free to
// choose (every unkeyed message, except under Func) avoid partitions whose
// leader is down as long as at least one partition is up; when all are down
// they pick as if all were up, and the producer buffers. Keyed messages
// always go to their hash partition whatever its state, because moving them
// would break per-key order and co-location; Func results are never moved
// either, since the function decided.
//
// How each free strategy avoids a down partition:
//
//   - Random draws again, uniformly among the partitions that are up.
//   - StickyRoundRobin and StrictRoundRobin skip the down partition's whole
//     run and move to the next partition that is up, which then gets a full
//     run; the rotation stays fair among the partitions that are up.
//
// # Partition counts
//
// The partition count n is passed on every call, so a topic that gains
// partitions is handled at once. Pick returns -1 when n <= 0 (no partition
// exists to choose); a producer should never ask.
package picker
