"""What the *_workflow.py scripts share: their command line, deadline and
summary, the records' keys and headers, and the tallies of what was
consumed (see confluent2_workflow.py for the workflow itself and
interop/clients_test.go for the summary).

Usage of a script: SCRIPT BOOTSTRAP PREFIX N P
"""
import json
import sys
import time


class Workflow:
    """One run of a workflow script."""

    def __init__(self, name, client):
        self.name = name
        self.bootstrap, self.prefix = sys.argv[1], sys.argv[2]
        self.n, self.nparts = int(sys.argv[3]), int(sys.argv[4])
        self.deadline = time.time() + 150
        self.summary = {"client": client}

    def fail(self, msg):
        print("%s: %s" % (self.name, msg), file=sys.stderr, flush=True)
        sys.exit(1)

    def check_deadline(self, what):
        if time.time() > self.deadline:
            self.fail("deadline passed during " + what)

    def headers(self, i):
        return [("idx", str(i).encode()), ("origin", self.name.encode())]

    def record(self, i):
        """Record i: its key, value and partition."""
        return b"key-%d" % i, b"%d" % i, i % self.nparts

    def shared(self, pa, pb):
        """Whether members with partitions pa and pb share them all, apart."""
        return bool(pa) and bool(pb) and not set(pa) & set(pb) and len(pa) + len(pb) == self.nparts

    def done(self):
        print(json.dumps(self.summary))


class Assigned:
    """Tally of the records read back by assignment."""

    def __init__(self, w):
        self.w = w
        self.consumed = self.intact = 0
        self.per = [0] * w.nparts

    def add(self, partition, key, value, headers):
        i = int(value)
        self.consumed += 1
        self.per[partition] += 1
        if (key, value, partition) == self.w.record(i) and list(headers) == self.w.headers(i):
            self.intact += 1

    def result(self):
        return {"consumed": self.consumed, "intact": self.intact, "partitions": self.per}


class Group:
    """Tally of the records consumed by the group's members a and b."""

    def __init__(self):
        self.seen = {}
        self.after_leave = False
        self.g = {"duplicates": 0, "foreign": 0, "consumed_a": 0, "consumed_b": 0, "resumed_b": {}}

    def add(self, member, mine, partition, offset, value):
        """Counts a record that member, assigned the partitions mine, got."""
        i = int(value)
        if i in self.seen:
            self.g["duplicates"] += 1
        self.seen[i] = member
        if partition not in mine:
            self.g["foreign"] += 1
        self.g["consumed_" + member] += 1
        if self.after_leave and str(partition) not in self.g["resumed_b"]:
            self.g["resumed_b"][str(partition)] = offset

    def __len__(self):
        return len(self.seen)
