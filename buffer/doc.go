// Package buffer holds what merlin's producer keeps for messages a broker
// has not taken yet, and bounds it. It has two jobs:
//
//   - Budget bounds the messages and bytes the producer holds
//     (Config.MaxBufferedMessages and MaxBufferedBytes in package
//     producer) and applies the policy for when they are reached
//     (FullPolicy: Block, Reject or DropOldest). Every produce call
//     reserves room in it and every finished message releases room, so it
//     takes no lock on that path: the counts are atomic, and waiting calls
//     are woken only when there are some.
//   - Spill is an on-disk queue of record batches for one partition,
//     built on seglog, for what goes beyond memory while a leader is
//     down. A spilled batch is exactly the Kafka record batch that will be
//     sent, so spilling costs one write and replay one read, and what a
//     crashed or stopped producer left behind can be sent by the next
//     producer that opens the same directory (Find, Dir).
//
// The in-memory messages themselves (the batch being filled, the backlog
// of a partition whose leader is down, packed into record-batch bytes)
// live in package producer, inside the partition worker that owns them:
// DESIGN.md placed the accumulator here, but it shares the worker's lock
// and state machine, and splitting it out would put a package boundary
// through the hot path. The worker counts them against the Budget.
package buffer
