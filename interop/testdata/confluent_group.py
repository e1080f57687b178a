"""Consumer group round trip through merlin-broker with confluent-kafka.

Usage: confluent_group.py BOOTSTRAP TOPIC N

Produces N/2 records, consumes them with a consumer that subscribes in a
group and commits synchronously, closes it; produces the other half and
consumes again with a new consumer of the same group, which must start at
the commits: every record exactly once. Prints one line of JSON with what
it did; exits non-zero with a message on stderr at the first problem.
"""
import time

from checks import Consumed, args, fail, in_two_halves
from confluent_kafka import Consumer, Producer


def main():
    bootstrap, topic, n = args()
    deadline = time.time() + 120
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})

    def produce(lo, hi):
        for i in range(lo, hi):
            producer.produce(topic, key=str(i).encode(), value=str(i).encode())
            producer.poll(0)
        if producer.flush(60) != 0:
            fail("flush left messages undelivered")

    consumed = Consumed(n, deadline)

    def consume(want):
        consumer = Consumer({
            "bootstrap.servers": bootstrap,
            "group.id": "merlin-interop-confluent",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
        })
        consumer.subscribe([topic])
        got = 0
        while got < want:
            consumed.check_time()
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            if msg.error():
                fail("consume error: %s" % msg.error())
            consumed.add(int(msg.value()), msg.partition())
            got += 1
        consumer.commit(asynchronous=False)
        consumer.close()
        return got

    in_two_halves(n, produce, consume, consumed)


main()
