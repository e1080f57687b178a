"""Round trip through merlin-broker with kafka-python.

Usage: kafkapython_roundtrip.py BOOTSTRAP TOPIC N

Produces N records with keys and headers (acks=all, gzip), then reads them
back with a consumer in assign mode (no consumer group) and checks every
record: key, value, headers, and order within each partition. Prints one
line of JSON with what it did; exits non-zero with a message on stderr at the
first problem.
"""
import time

from checks import RoundTrip, args, fail, headers, key, summary, value
from kafka import KafkaConsumer, KafkaProducer, TopicPartition


def main():
    bootstrap, topic, n = args()
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
    rt = RoundTrip(n, deadline, acked, partitions)
    while rt.more():
        for tp, records in consumer.poll(timeout_ms=1000).items():
            for r in records:
                rt.check(r.partition, r.offset, r.key, r.value, list(r.headers or []))
    consumer.close()
    summary(n, len(rt.seen), len(partitions))


main()
