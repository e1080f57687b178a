"""What the Python client scripts of package interop share.

Each script takes BOOTSTRAP TOPIC N, prints one line of JSON with what it
did and exits non-zero with a message on stderr at the first problem.
"""
import json
import os
import sys
import time


def fail(msg):
    name = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    print(name + ": " + msg, file=sys.stderr)
    sys.exit(1)


def args():
    """BOOTSTRAP, TOPIC and N from the command line."""
    return sys.argv[1], sys.argv[2], int(sys.argv[3])


def summary(n, consumed, partitions):
    print(json.dumps({"produced": n, "consumed": consumed, "partitions": partitions}))


def key(i):
    return ("key-%d" % (i % 97)).encode()


def value(i):
    return ("value-%06d-" % i).encode() + b"x" * (i % 64)


def headers(i):
    # No header with a None value: confluent-kafka 1.7 (Debian bookworm)
    # crashes the interpreter reading one back ("deallocating None").
    return [("i", str(i).encode()), ("empty", b"")]


class Consumed:
    """The records consumed so far, each at most once, and their partitions."""

    def __init__(self, n, deadline):
        self.n, self.deadline = n, deadline
        self.seen = set()
        self.partitions = set()

    def check_time(self):
        if time.time() > self.deadline:
            fail("consumed %d of %d before the deadline" % (len(self.seen), self.n))

    def add(self, i, partition):
        if i in self.seen:
            fail("record %d consumed twice" % i)
        self.seen.add(i)
        self.partitions.add(partition)


class RoundTrip(Consumed):
    """Checks each record consumed against the one produced as i (key, value,
    headers) and against where it was acknowledged, and that each partition
    is read in offset order without a gap."""

    def __init__(self, n, deadline, acked, partitions):
        super().__init__(n, deadline)
        self.acked = acked
        self.next_offset = {p: 0 for p in partitions}
        self.last = {}

    def more(self):
        self.check_time()
        return len(self.seen) < self.n

    def check(self, p, off, k, v, hs):
        try:
            i = int(dict(hs)["i"])
        except (KeyError, ValueError):
            fail("record without header i: %r" % (hs,))
        self.add(i, p)
        if k != key(i) or v != value(i):
            fail("record %d: key %r value %r" % (i, k, v))
        if hs != headers(i):
            fail("record %d: headers %r, want %r" % (i, hs, headers(i)))
        if (p, off) != self.acked[i]:
            fail("record %d at %d/%d, acknowledged at %d/%d" % ((i, p, off) + self.acked[i]))
        if off != self.next_offset[p]:
            fail("partition %d: offset %d, want %d" % (p, off, self.next_offset[p]))
        self.next_offset[p] += 1
        if p in self.last and i < self.last[p]:
            fail("partition %d: record %d after %d" % (p, i, self.last[p]))
        self.last[p] = i


def in_two_halves(n, produce, consume, consumed):
    """Produces and consumes the first half of N records, then the second,
    and prints the summary: the group scripts' two consumers, the second of
    which must start at the first one's commits."""
    half = n // 2
    produce(0, half)
    got = consume(half)
    produce(half, n)
    got += consume(n - half)
    summary(n, got, len(consumed.partitions))
