"""Authentication against merlin-broker with confluent-kafka (librdkafka).

Usage: confluent_sasl.py CONFIG_JSON TOPIC N ok|refused

CONFIG_JSON is librdkafka configuration (bootstrap.servers,
security.protocol, sasl.*, ssl.ca.location). "ok": produces N records
(acks=all), reads them back with a consumer in assign mode, and prints
{"produced": N, "consumed": N}. "refused": asks for metadata, which must
fail, and prints {"errors": [...], "codes": [...]}: what the client
reported (error_cb and the exception), with librdkafka's error names.
Exits non-zero with a message on stderr at the first problem.
"""
import json
import sys
import time

from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaException,
                             Producer, TopicPartition)


def fail(msg):
    print("confluent_sasl: " + msg, file=sys.stderr)
    sys.exit(1)


def main():
    conf, topic, n, mode = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
    errors, codes = [], []

    def on_error(err):
        errors.append(err.str())
        codes.append(err.name())

    if mode == "refused":
        p = Producer(dict(conf, error_cb=on_error))
        try:
            p.list_topics(timeout=10)
        except KafkaException as e:
            # error_cb runs from poll: serve what the client reported.
            p.poll(1)
            errors.append(str(e))
            codes.append(e.args[0].name())
            print(json.dumps({"errors": errors, "codes": codes}))
            return
        fail("metadata was served: " + json.dumps(errors))

    deadline = time.time() + 60
    p = Producer(dict(conf, acks="all", error_cb=on_error))
    acked = []
    for i in range(n):
        p.produce(topic, value=b"v%d" % i,
                  on_delivery=lambda err, msg: acked.append(err))
    p.flush(60)
    if len(acked) != n or any(e is not None for e in acked):
        fail("delivered %d of %d: %s; errors %s" % (len(acked), n, [str(e) for e in acked if e], errors))
    c = Consumer(dict(conf, **{"group.id": "unused", "enable.auto.commit": False}))
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got = 0
    while got < n:
        if time.time() > deadline:
            fail("consumed %d of %d; errors %s" % (got, n, errors))
        m = c.poll(1.0)
        if m is None:
            continue
        if m.error():
            fail("consume: %s" % m.error())
        if m.value() != b"v%d" % got:
            fail("record %d is %r" % (got, m.value()))
        got += 1
    c.close()
    print(json.dumps({"produced": n, "consumed": got}))


main()
