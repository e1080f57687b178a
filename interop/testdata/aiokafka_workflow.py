"""The whole client workflow through merlin-broker with aiokafka, run by
the venv of interop/clients/install.

Usage: aiokafka_workflow.py BOOTSTRAP PREFIX N P

As confluent2_workflow.py: AIOKafkaAdminClient creates PREFIX-admin with 2
partitions, creates partitions up to P, notes the error codes of creating
it again, of shrinking it and of deleting a missing topic, describes its
configs, alters retention.ms with AlterConfigs (aiokafka has no
IncrementalAlterConfigs) and reads it back, deletes it, and creates
PREFIX-data and PREFIX-group; N records with keys and headers go to
PREFIX-data (record i to partition i % P) through an idempotent
AIOKafkaProducer and come back through an AIOKafkaConsumer assigned every
partition; members a and b (two AIOKafkaConsumer tasks) share PREFIX-group
in group PREFIX-grp, commit each getmany's records, a leaves and b takes
over from a's commits.

Prints one line of JSON (see interop/clients_test.go); exits non-zero with
a message on stderr at the first problem it cannot report.
"""
import asyncio

import aiokafka
import aiokafka.errors
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from workflow import Assigned, Group, Workflow

w = Workflow("aiokafka", "aiokafka %s" % aiokafka.__version__)
bootstrap, prefix, n, nparts = w.bootstrap, w.prefix, w.n, w.nparts


def codes(resp):
    """The non-zero error codes anywhere in resp (a Response or a list of them)."""
    found = []

    def walk(o):
        if isinstance(o, dict):
            for k, v in o.items():
                if k == "error_code" and v:
                    found.append(v)
                walk(v)
        elif isinstance(o, (list, tuple)):
            for v in o:
                walk(v)
    for r in resp if isinstance(resp, list) else [resp]:
        walk(r.to_object())
    return found


def check_codes(what, resp):
    if codes(resp):
        w.fail("%s: error codes %s in %r" % (what, codes(resp), [r.to_object() for r in (resp if isinstance(resp, list) else [resp])]))


async def error_code(aw):
    """The first error code of the response that awaiting aw returns, or of
    the error it raises; 0 if none."""
    try:
        resp = await aw
    except aiokafka.errors.BrokerResponseError as e:
        return e.errno
    return (codes(resp) or [0])[0]


async def wait_until(cond, what):
    while not cond():
        w.check_deadline(what)
        await asyncio.sleep(0.05)


async def admin_steps():
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    t = prefix + "-admin"
    check_codes("create_topics", await admin.create_topics([NewTopic(t, 2, 1)], timeout_ms=10000))
    check_codes("create_partitions", await admin.create_partitions({t: NewPartitions(nparts)}, timeout_ms=10000))
    md = await admin.describe_topics([t])
    out = {"partitions": len(md[0]["partitions"]), "altered": [], "errors": {
        "create_existing": await error_code(admin.create_topics([NewTopic(t, 2, 1)], timeout_ms=10000)),
        "shrink_partitions": await error_code(admin.create_partitions({t: NewPartitions(1)}, timeout_ms=10000)),
        "delete_missing": await error_code(admin.delete_topics([prefix + "-missing"], timeout_ms=10000)),
    }}

    async def retention():
        resps = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t)])
        check_codes("describe_configs", resps)
        for r in resps:
            for res in r.to_object()["resources"]:
                for e in res["config_entries"]:
                    if e["config_names"] == "retention.ms":
                        return e["config_value"]
        w.fail("describe_configs: no retention.ms in %r" % [r.to_object() for r in resps])

    out["retention_before"] = await retention()
    check_codes("alter_configs", await admin.alter_configs(
        [ConfigResource(ConfigResourceType.TOPIC, t, {"retention.ms": "3600000"})]))
    out["altered"].append({"api": "AlterConfigs", "set": "3600000", "read": await retention()})
    check_codes("delete_topics", await admin.delete_topics([t], timeout_ms=10000))
    while t in await admin.list_topics():
        w.check_deadline("waiting for the deleted topic to go")
        await asyncio.sleep(0.1)
    out["deleted"] = True
    check_codes("create_topics", await admin.create_topics(
        [NewTopic(prefix + "-data", nparts, 1), NewTopic(prefix + "-group", nparts, 1)], timeout_ms=10000))
    await admin.close()
    w.summary["admin"] = out


async def produce(producer, topic, lo, hi):
    futures = []
    for i in range(lo, hi):
        key, value, partition = w.record(i)
        futures.append(await producer.send(topic, key=key, value=value, partition=partition, headers=w.headers(i)))
    await producer.flush()
    for f in futures:
        await asyncio.wait_for(f, 10)


async def assign_steps(producer):
    topic = prefix + "-data"
    await produce(producer, topic, 0, n)
    w.summary["produced"] = n
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await c.start()
    tps = [TopicPartition(topic, p) for p in range(nparts)]
    c.assign(tps)
    await c.seek_to_beginning(*tps)
    got = Assigned(w)
    while got.consumed < n:
        w.check_deadline("assign consume (%d of %d)" % (got.consumed, n))
        for records in (await c.getmany(timeout_ms=1000)).values():
            for r in records:
                got.add(r.partition, r.key, r.value, r.headers)
    await c.stop()
    w.summary["assigned"] = got.result()


class Member:
    """A group member: a task that calls getmany until stopped, committing
    each batch before the next."""

    def __init__(self, name, tally, topic, group):
        self.name, self.tally = name, tally
        self.stopping = False
        self.consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                                         auto_offset_reset="earliest", enable_auto_commit=False,
                                         session_timeout_ms=6000, heartbeat_interval_ms=500)

    async def start(self):
        await self.consumer.start()
        self.task = asyncio.create_task(self.run())

    def parts(self):
        if self.task.done():
            self.task.result()  # raises what ended it
            w.fail("member %s stopped" % self.name)
        return sorted(tp.partition for tp in self.consumer.assignment())

    async def run(self):
        while not self.stopping:
            batch = await self.consumer.getmany(timeout_ms=200)
            mine = set(tp.partition for tp in self.consumer.assignment())
            for records in batch.values():
                for r in records:
                    self.tally.add(self.name, mine, r.partition, r.offset, r.value)
            if batch:
                await self.consumer.commit()

    async def finish(self):
        self.stopping = True
        await asyncio.wait_for(self.task, 30)


async def group_steps(producer):
    topic, group = prefix + "-group", prefix + "-grp"
    half = n // 2
    tally = Group()
    a = Member("a", tally, topic, group)
    b = Member("b", tally, topic, group)
    await a.start()
    await b.start()
    await wait_until(lambda: w.shared(a.parts(), b.parts()), "the two members' first assignment")
    pa = a.parts()
    tally.g["first"] = {"a": pa, "b": b.parts()}
    await produce(producer, topic, 0, half)
    await wait_until(lambda: len(tally) >= half and b.parts(), "group consume, phase 1")
    await a.finish()  # its last getmany's records are committed before run returns
    tally.g["committed_a"] = {str(p): await a.consumer.committed(TopicPartition(topic, p)) for p in pa}
    await a.consumer.stop()
    await wait_until(lambda: b.parts() == list(range(nparts)), "b taking over a's partitions")
    tally.g["after_leave"] = b.parts()
    tally.after_leave = True
    await produce(producer, topic, half, n)
    await wait_until(lambda: len(tally) >= n, "group consume, phase 2")
    await b.finish()
    await b.consumer.stop()
    w.summary["group"] = tally.g


async def main():
    await admin_steps()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    await assign_steps(producer)
    await group_steps(producer)
    await producer.stop()
    w.done()


asyncio.run(main())
