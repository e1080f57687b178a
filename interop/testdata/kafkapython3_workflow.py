"""The whole client workflow through merlin-broker with kafka-python 3.x,
run by the venv of interop/clients/install.

Usage: kafkapython3_workflow.py BOOTSTRAP PREFIX N P

As confluent2_workflow.py: KafkaAdminClient creates PREFIX-admin with 2
partitions, creates partitions up to P, notes the error codes of creating
it again, of shrinking it and of deleting a missing topic, describes its
configs, alters retention.ms with AlterConfigs and then with
IncrementalAlterConfigs (each read back), deletes it, and creates
PREFIX-data and PREFIX-group; N records with keys and headers go to
PREFIX-data (record i to partition i % P) and come back through a consumer
assigned every partition; members a and b (each KafkaConsumer polled by its
own thread) share PREFIX-group in group PREFIX-grp, commit each poll's
records synchronously, a leaves and b takes over from a's commits.

Prints one line of JSON (see interop/clients_test.go); exits non-zero with
a message on stderr at the first problem it cannot report.
"""
import threading
import time

import kafka
import kafka.errors
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic

from workflow import Assigned, Group, Workflow

w = Workflow("kafkapython3", "kafka-python %s" % kafka.__version__)
bootstrap, prefix, n, nparts = w.bootstrap, w.prefix, w.n, w.nparts


def error_code(call, *args, **kwargs):
    """The Kafka error code that call raised, 0 if none."""
    try:
        call(*args, **kwargs)
    except kafka.errors.BrokerResponseError as e:
        return e.errno
    return 0


def admin_steps():
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    t = prefix + "-admin"
    admin.create_topics([NewTopic(t, 2, 1)], timeout_ms=10000)
    admin.create_partitions({t: NewPartitions(nparts)}, timeout_ms=10000)
    md = admin.describe_topics([t])
    out = {"partitions": len(md[0]["partitions"]), "altered": [], "errors": {
        "create_existing": error_code(admin.create_topics, [NewTopic(t, 2, 1)], timeout_ms=10000),
        "shrink_partitions": error_code(admin.create_partitions, {t: NewPartitions(1)}, timeout_ms=10000),
        "delete_missing": error_code(admin.delete_topics, [prefix + "-missing"], timeout_ms=10000),
    }}

    def retention():
        r = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t)], config_filter="all")
        return r["topic"][t]["retention.ms"]["value"]

    out["retention_before"] = retention()
    for api, incremental, value in (("AlterConfigs", False, "3600000"), ("IncrementalAlterConfigs", True, "7200000")):
        r = admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, t, {"retention.ms": value})],
                                incremental=incremental)
        if r["topic"][t] != "OK":
            w.fail("%s: %r" % (api, r))
        out["altered"].append({"api": api, "set": value, "read": retention()})
    admin.delete_topics([t], timeout_ms=10000)
    while t in admin.list_topics():
        w.check_deadline("waiting for the deleted topic to go")
        time.sleep(0.1)
    out["deleted"] = True
    admin.create_topics([NewTopic(prefix + "-data", nparts, 1), NewTopic(prefix + "-group", nparts, 1)],
                        timeout_ms=10000)
    admin.close()
    w.summary["admin"] = out


producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)


def produce(topic, lo, hi):
    futures = []
    for i in range(lo, hi):
        key, value, partition = w.record(i)
        futures.append(producer.send(topic, key=key, value=value, partition=partition, headers=w.headers(i)))
    producer.flush(60)
    for f in futures:
        f.get(timeout=10)


def assign_steps():
    topic = prefix + "-data"
    produce(topic, 0, n)
    w.summary["produced"] = n
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    tps = [TopicPartition(topic, p) for p in range(nparts)]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    got = Assigned(w)
    while got.consumed < n:
        w.check_deadline("assign consume (%d of %d)" % (got.consumed, n))
        for records in c.poll(timeout_ms=1000).values():
            for r in records:
                got.add(r.partition, r.key, r.value, r.headers)
    c.close()
    w.summary["assigned"] = got.result()


class Member(threading.Thread):
    """A group member polling in its own thread until told to stop; each
    poll's records are committed before the next poll."""

    def __init__(self, name, tally, lock, topic, group):
        super().__init__(daemon=True)
        self.member, self.tally, self.lock = name, tally, lock
        self.stop = threading.Event()
        self.error = None
        # The topic's metadata before subscribing: a member that joins
        # without it gets no partitions and rejoins at once when it comes,
        # and in that extra rebalance kafka-python 3.0.12 can leave a member
        # for good in its rebalancing state (the JoinGroup/SyncGroup task
        # completes after a poll timed out and is never finished: no
        # heartbeats, and the broker rightly drops it after the session
        # timeout).
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                      auto_offset_reset="earliest", enable_auto_commit=False,
                                      session_timeout_ms=6000, heartbeat_interval_ms=500)
        if not self.consumer.partitions_for_topic(topic):
            w.fail("no metadata for " + topic)
        self.consumer.subscribe([topic])
        self.parts = []

    def run(self):
        try:
            while not self.stop.is_set():
                batch = self.consumer.poll(timeout_ms=1000)
                with self.lock:
                    self.parts = sorted(tp.partition for tp in self.consumer.assignment())
                    for records in batch.values():
                        for r in records:
                            self.tally.add(self.member, self.parts, r.partition, r.offset, r.value)
                if batch:
                    self.consumer.commit()
        except Exception as e:  # noqa: BLE001
            self.error = e

    def assignment(self):
        if self.error:
            w.fail("member %s: %r" % (self.member, self.error))
        with self.lock:
            return list(self.parts)

    def finish(self):
        self.stop.set()
        self.join(30)
        if self.error or self.is_alive():
            w.fail("member %s: %r" % (self.member, self.error or "still polling"))


def group_steps():
    topic, group = prefix + "-group", prefix + "-grp"
    half = n // 2
    tally, lock = Group(), threading.Lock()
    a = Member("a", tally, lock, topic, group)
    b = Member("b", tally, lock, topic, group)
    a.start()
    b.start()

    def wait_until(cond, what):
        while True:
            for m in (a, b):
                m.assignment()  # fails if the member's thread failed
            with lock:
                if cond():
                    return
            w.check_deadline(what)
            time.sleep(0.05)

    wait_until(lambda: w.shared(a.parts, b.parts), "the two members' first assignment")
    pa = a.assignment()
    tally.g["first"] = {"a": pa, "b": b.assignment()}
    produce(topic, 0, half)
    wait_until(lambda: len(tally) >= half, "group consume, phase 1")
    a.finish()  # its last poll's records are committed before run returns
    tally.g["committed_a"] = {str(p): a.consumer.committed(TopicPartition(topic, p)) for p in pa}
    a.consumer.close()
    wait_until(lambda: b.parts == list(range(nparts)), "b taking over a's partitions")
    with lock:
        tally.g["after_leave"] = list(b.parts)
        tally.after_leave = True
    produce(topic, half, n)
    wait_until(lambda: len(tally) >= n, "group consume, phase 2")
    b.finish()
    b.consumer.close()
    w.summary["group"] = tally.g


admin_steps()
assign_steps()
group_steps()
producer.close()
w.done()
