"""Round trip through merlin-broker with confluent-kafka (librdkafka).

Usage: confluent_roundtrip.py BOOTSTRAP TOPIC N

Produces N records with keys and headers (acks=all, lz4, idempotent), then
reads them back with a consumer in assign mode (no consumer group) and checks
every record: key, value, headers, and order within each partition. Prints
one line of JSON with what it did; exits non-zero with a message on stderr
at the first problem.
"""
import time

from checks import RoundTrip, args, fail, headers, key, summary, value
from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaError, Producer,
                             TopicPartition)


def main():
    bootstrap, topic, n = args()
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
    rt = RoundTrip(n, deadline, acked, partitions)
    while rt.more():
        msg = consumer.poll(1.0)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                continue
            fail("consume error: %s" % msg.error())
        rt.check(msg.partition(), msg.offset(), msg.key(), msg.value(), msg.headers() or [])
    consumer.close()
    summary(n, len(rt.seen), len(partitions))


main()
