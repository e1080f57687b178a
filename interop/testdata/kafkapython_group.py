"""Consumer group round trip through merlin-broker with kafka-python.

Usage: kafkapython_group.py BOOTSTRAP TOPIC N

As confluent_group.py: N/2 records consumed in a group and committed, the
consumer closed, the other half produced and consumed by a new consumer of
the same group, which must start at the commits. Prints one line of JSON;
exits non-zero with a message on stderr at the first problem.
"""
import time

from checks import Consumed, args, in_two_halves
from kafka import KafkaConsumer, KafkaProducer


def main():
    bootstrap, topic, n = args()
    deadline = time.time() + 120
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)

    def produce(lo, hi):
        futures = [producer.send(topic, value=str(i).encode()) for i in range(lo, hi)]
        producer.flush(60)
        for f in futures:
            f.get(timeout=10)

    consumed = Consumed(n, deadline)

    def consume(want):
        consumer = KafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id="merlin-interop-kafkapython",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            session_timeout_ms=6000,
            heartbeat_interval_ms=1000,
        )
        got = 0
        while got < want:
            consumed.check_time()
            for records in consumer.poll(timeout_ms=1000).values():
                for r in records:
                    consumed.add(int(r.value), r.partition)
                    got += 1
        consumer.commit()
        consumer.close()
        return got

    in_two_halves(n, produce, consume, consumed)


main()
