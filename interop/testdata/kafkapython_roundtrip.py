"""Round trip through merlin-broker with kafka-python.

Usage: kafkapython_roundtrip.py BOOTSTRAP TOPIC N

Produces N records with keys and headers (acks=all, gzip), then reads them
back with a consumer in assign mode (no consumer group) and checks every
record: key, value, headers, and order within each partition. Prints one
line of JSON with what it did; exits non-zero with a message on stderr at the
first problem.
"""
import json
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition


def fail(msg):
    print("kafkapython_roundtrip: " + msg, file=sys.stderr)
    sys.exit(1)


def key(i):
    return ("key-%d" % (i % 97)).encode()


def value(i):
    return ("value-%06d-" % i).encode() + b"x" * (i % 64)


def headers(i):
    return [("i", str(i).encode()), ("empty", b"")]


def main():
    bootstrap, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    deadline = time.time() + 90

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", compression_type="gzip",
                             linger_ms=5, retries=5, max_in_flight_requests_per_connection=1)
    futures = [producer.send(topic, key=key(i), value=value(i), headers=headers(i)) for i in range(n)]
    producer.flush(60)
    acked = {}
    for i, f in enumerate(futures):
        md = f.get(timeout=60)
        acked[i] = (md.partition, md.offset)
    producer.close()

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest")
    partitions = None
    while not partitions:
        if time.time() > deadline:
            fail("no partitions for %s" % topic)
        partitions = consumer.partitions_for_topic(topic)
    partitions = sorted(partitions)
    tps = [TopicPartition(topic, p) for p in partitions]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    seen = {}
    next_offset = {p: 0 for p in partitions}
    last = {}
    while len(seen) < n:
        if time.time() > deadline:
            fail("consumed %d of %d before the deadline" % (len(seen), n))
        for tp, records in consumer.poll(timeout_ms=1000).items():
            for r in records:
                hs = list(r.headers or [])
                try:
                    i = int(dict(hs)["i"])
                except (KeyError, ValueError):
                    fail("record without header i: %r" % (hs,))
                if i in seen:
                    fail("record %d twice" % i)
                seen[i] = True
                p, off = r.partition, r.offset
                if r.key != key(i) or r.value != value(i):
                    fail("record %d: key %r value %r" % (i, r.key, r.value))
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
