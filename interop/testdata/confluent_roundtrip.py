"""Round trip through merlin-broker with confluent-kafka (librdkafka).

Usage: confluent_roundtrip.py BOOTSTRAP TOPIC N

Produces N records with keys and headers (acks=all, lz4, idempotent), then
reads them back with a consumer in assign mode (no consumer group) and checks
every record: key, value, headers, and order within each partition. Prints
one line of JSON with what it did; exits non-zero with a message on stderr
at the first problem.
"""
import json
import sys
import time

from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaError, Producer,
                             TopicPartition)


def fail(msg):
    print("confluent_roundtrip: " + msg, file=sys.stderr)
    sys.exit(1)


def key(i):
    return ("key-%d" % (i % 97)).encode()


def value(i):
    return ("value-%06d-" % i).encode() + b"x" * (i % 64)


def headers(i):
    # No header with a None value: confluent-kafka 1.7 (Debian bookworm)
    # crashes the interpreter reading one back ("deallocating None").
    return [("i", str(i).encode()), ("empty", b"")]


def main():
    bootstrap, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    deadline = time.time() + 90

    producer = Producer({
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "compression.type": "lz4",
        "enable.idempotence": True,
        "linger.ms": 5,
    })
    acked = {}
    errors = []

    def on_delivery(i, err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            acked[i] = (msg.partition(), msg.offset())

    for i in range(n):
        producer.produce(topic, key=key(i), value=value(i), headers=headers(i),
                         on_delivery=lambda err, msg, i=i: on_delivery(i, err, msg))
        producer.poll(0)
    if producer.flush(60) != 0:
        fail("flush left messages undelivered")
    if errors:
        fail("delivery errors: %s" % errors[:5])
    if len(acked) != n:
        fail("%d of %d acknowledged" % (len(acked), n))

    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "merlin-interop-unused",  # assign mode: no group is joined
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
    })
    md = consumer.list_topics(topic, timeout=30)
    partitions = sorted(md.topics[topic].partitions)
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    seen = {}
    next_offset = {p: 0 for p in partitions}
    last = {}
    while len(seen) < n:
        if time.time() > deadline:
            fail("consumed %d of %d before the deadline" % (len(seen), n))
        msg = consumer.poll(1.0)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                continue
            fail("consume error: %s" % msg.error())
        hs = msg.headers() or []
        try:
            i = int(dict(hs)["i"])
        except (KeyError, ValueError):
            fail("record without header i: %r" % (hs,))
        if i in seen:
            fail("record %d twice" % i)
        seen[i] = True
        p, off = msg.partition(), msg.offset()
        if msg.key() != key(i) or msg.value() != value(i):
            fail("record %d: key %r value %r" % (i, msg.key(), msg.value()))
        if hs != headers(i):
            fail("record %d: headers %r, want %r" % (i, hs, headers(i)))
        if (p, off) != acked[i]:
            fail("record %d at %d/%d, acknowledged at %d/%d" % ((i, p, off) + acked[i]))
        if off != next_offset[p]:
            fail("partition %d: offset %d, want %d" % (p, off, next_offset[p]))
        next_offset[p] += 1
        if p in last and i < last[p]:
            fail("partition %d: record %d after %d" % (p, i, last[p]))
        last[p] = i
    consumer.close()
    print(json.dumps({"produced": n, "consumed": len(seen), "partitions": len(partitions)}))


main()
