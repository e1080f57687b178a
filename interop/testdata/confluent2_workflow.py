"""The whole client workflow through merlin-broker with confluent-kafka 2.x
(its bundled librdkafka 2.x), run by the venv of interop/clients/install.

Usage: confluent2_workflow.py BOOTSTRAP PREFIX N P

  admin   AdminClient: create PREFIX-admin with 2 partitions, create
          partitions up to P; the error codes of creating it again, of
          shrinking it to 1 partition and of deleting a missing topic;
          describe its configs, AlterConfigs and then
          IncrementalAlterConfigs of retention.ms (each read back with
          DescribeConfigs), delete it; create PREFIX-data and PREFIX-group
          with P partitions.
  produce N records to PREFIX-data, record i to partition i % P, with a key
          and two headers, idempotent, acks=all.
  assign  a consumer assigned every partition from offset 0 reads them all
          back, checking keys and headers.
  group   members a and b subscribe to PREFIX-group in group PREFIX-grp
          (classic protocol) and share its partitions; N/2 records are
          produced and consumed, each poll's records committed
          synchronously; a leaves; b takes over a's partitions, N/2 more are
          produced and b consumes them, starting at a's commits.

Prints one line of JSON (see interop/clients_test.go); exits non-zero with
a message on stderr at the first problem it cannot report.
"""
import time
import warnings

import confluent_kafka
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import (AdminClient, AlterConfigOpType,
                                   ConfigEntry, ConfigResource, NewPartitions,
                                   NewTopic, ResourceType)

from workflow import Assigned, Group, Workflow

# AlterConfigs is deprecated for IncrementalAlterConfigs; both are tested.
warnings.filterwarnings("ignore", "alter_configs has been deprecated", DeprecationWarning)
w = Workflow("confluent2", "confluent-kafka %s, librdkafka %s" % (confluent_kafka.version(),
                                                                  confluent_kafka.libversion()[0]))
bootstrap, prefix, n, nparts = w.bootstrap, w.prefix, w.n, w.nparts


def wait_all(futures, what):
    for k, f in futures.items():
        try:
            f.result(timeout=30)
        except Exception as e:  # noqa: BLE001
            w.fail("%s %s: %s" % (what, k, e))


def error_code(futures):
    """The Kafka error code that the one future of futures failed with, 0 if none."""
    (f,) = futures.values()
    try:
        f.result(timeout=30)
    except confluent_kafka.KafkaException as e:
        return e.args[0].code()
    return 0


def admin_steps():
    admin = AdminClient({"bootstrap.servers": bootstrap})
    t = prefix + "-admin"
    wait_all(admin.create_topics([NewTopic(t, 2, 1)], operation_timeout=10), "create_topics")
    wait_all(admin.create_partitions([NewPartitions(t, nparts)], operation_timeout=10), "create_partitions")
    md = admin.list_topics(t, timeout=10)
    errors = {
        "create_existing": error_code(admin.create_topics([NewTopic(t, 2, 1)], operation_timeout=10)),
        "shrink_partitions": error_code(admin.create_partitions([NewPartitions(t, 1)], operation_timeout=10)),
        "delete_missing": error_code(admin.delete_topics([prefix + "-missing"], operation_timeout=10)),
    }

    def retention():
        (f,) = admin.describe_configs([ConfigResource(ResourceType.TOPIC, t)]).values()
        return f.result(timeout=30)["retention.ms"].value

    out = {"partitions": len(md.topics[t].partitions), "errors": errors, "retention_before": retention(),
           "altered": []}
    res = ConfigResource(ResourceType.TOPIC, t, set_config={"retention.ms": "3600000"})
    wait_all(admin.alter_configs([res]), "alter_configs")
    out["altered"].append({"api": "AlterConfigs", "set": "3600000", "read": retention()})
    res = ConfigResource(ResourceType.TOPIC, t, incremental_configs=[
        ConfigEntry("retention.ms", "7200000", incremental_operation=AlterConfigOpType.SET)])
    wait_all(admin.incremental_alter_configs([res]), "incremental_alter_configs")
    out["altered"].append({"api": "IncrementalAlterConfigs", "set": "7200000", "read": retention()})
    wait_all(admin.delete_topics([t], operation_timeout=10), "delete_topics")
    while t in admin.list_topics(timeout=10).topics:
        w.check_deadline("waiting for the deleted topic to go")
        time.sleep(0.1)
    out["deleted"] = True
    wait_all(admin.create_topics([NewTopic(prefix + "-data", nparts, 1), NewTopic(prefix + "-group", nparts, 1)],
                                 operation_timeout=10), "create_topics")
    w.summary["admin"] = out


producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 5})


def produce(topic, lo, hi):
    errors = []
    for i in range(lo, hi):
        key, value, partition = w.record(i)
        producer.produce(topic, key=key, value=value, partition=partition, headers=w.headers(i),
                         on_delivery=lambda err, msg: err and errors.append(err))
        producer.poll(0)
    if producer.flush(60) != 0 or errors:
        w.fail("produce to %s: %d undelivered, errors %s" % (topic, len(producer), errors[:3]))


def assign_steps():
    topic = prefix + "-data"
    produce(topic, 0, n)
    w.summary["produced"] = n
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": prefix + "-assign", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, p, 0) for p in range(nparts)])
    got = Assigned(w)
    while got.consumed < n:
        w.check_deadline("assign consume (%d of %d)" % (got.consumed, n))
        msg = c.poll(1.0)
        if msg is None:
            continue
        if msg.error():
            w.fail("assign consume: %s" % msg.error())
        got.add(msg.partition(), msg.key(), msg.value(), msg.headers())
    c.close()
    w.summary["assigned"] = got.result()


def group_steps():
    topic, group = prefix + "-group", prefix + "-grp"
    half = n // 2

    def member():
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "group.protocol": "classic",
                      "auto.offset.reset": "earliest", "enable.auto.commit": False,
                      "session.timeout.ms": 6000, "heartbeat.interval.ms": 500})
        c.subscribe([topic])
        return c

    # One thread polls both members in turn: librdkafka's own threads keep
    # them in the group between polls.
    a, b = member(), member()
    tally = Group()

    def parts(c):
        return sorted(tp.partition for tp in c.assignment())

    def poll(name, c):
        msgs = c.consume(100, 0.2)
        mine = set(parts(c))
        for m in msgs:
            if m.error():
                w.fail("group consume (%s): %s" % (name, m.error()))
            tally.add(name, mine, m.partition(), m.offset(), m.value())
        if msgs:
            c.commit(asynchronous=False)

    # Both members in, sharing every partition, before anything is produced.
    while not w.shared(parts(a), parts(b)):
        w.check_deadline("the two members' first assignment")
        poll("a", a)
        poll("b", b)
    pa = parts(a)
    tally.g["first"] = {"a": pa, "b": parts(b)}
    produce(topic, 0, half)
    while len(tally) < half:
        w.check_deadline("group consume, phase 1 (%d of %d)" % (len(tally), half))
        poll("a", a)
        poll("b", b)
    committed = a.committed([TopicPartition(topic, p) for p in pa], timeout=10)
    tally.g["committed_a"] = {str(tp.partition): tp.offset for tp in committed}
    a.close()
    while parts(b) != list(range(nparts)):
        w.check_deadline("b taking over a's partitions")
        poll("b", b)
    tally.g["after_leave"] = parts(b)
    tally.after_leave = True
    produce(topic, half, n)
    while len(tally) < n:
        w.check_deadline("group consume, phase 2 (%d of %d)" % (len(tally), n))
        poll("b", b)
    b.close()
    w.summary["group"] = tally.g


admin_steps()
assign_steps()
group_steps()
w.done()
