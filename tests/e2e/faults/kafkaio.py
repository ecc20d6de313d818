"""Kafka access for the fault harness: topics, offsets, readers, raw produce.

Everything here observes journeyd from outside, through the broker only
(topic contents and the consumer group's committed offsets), so the harness
works against any `journeyd` binary whatever it logs.
"""
import json
import time
import uuid
from collections import Counter

from confluent_kafka import (Consumer, KafkaError, KafkaException, Producer,
                             TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic

# librdkafka's "no committed offset" (RD_KAFKA_OFFSET_INVALID)
NO_OFFSET = -1001


class Cluster:
    """One bootstrap address; short-lived clients made on demand."""

    def __init__(self, bootstrap):
        self.bootstrap = bootstrap
        self._meta = None
        self._admin = None
        self._groups = {}

    def _conf(self, **extra):
        c = {"bootstrap.servers": self.bootstrap, "log_level": 0,
             "socket.timeout.ms": 5000}
        c.update(extra)
        return c

    def meta(self):
        if self._meta is None:
            # read_uncommitted: its watermark queries return high watermarks
            # (librdkafka's default, read_committed, returns stable offsets)
            self._meta = Consumer(self._conf(**{"group.id": "faults-meta-" + uuid.uuid4().hex,
                                               "enable.auto.commit": False,
                                               "isolation.level": "read_uncommitted"}))
        return self._meta

    def close(self):
        for c in [self._meta, *self._groups.values()]:
            if c is not None:
                try:
                    c.close()
                except Exception:
                    pass
        self._meta = None
        self._admin = None
        self._groups = {}

    def answers(self, timeout=3.0):
        try:
            md = AdminClient(self._conf()).list_topics(timeout=timeout)
            return len(md.brokers) > 0
        except KafkaException:
            return False

    def create_topics(self, specs, timeout=30):
        """specs: [(name, partitions, {config})]. Waits until each exists."""
        admin = AdminClient(self._conf())
        new = [NewTopic(n, num_partitions=p, replication_factor=1, config=c or {})
               for n, p, c in specs]
        for name, fut in admin.create_topics(new, operation_timeout=timeout).items():
            try:
                fut.result()
            except KafkaException as e:
                if e.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
        deadline = time.monotonic() + timeout
        for n, p, _ in specs:
            while self.partitions(n) != p:
                if time.monotonic() > deadline:
                    raise RuntimeError("topic %s: not visible with %d partitions" % (n, p))
                time.sleep(0.1)

    def partitions(self, topic):
        try:
            md = self.meta().list_topics(topic, timeout=5)
        except KafkaException:
            return 0
        t = md.topics.get(topic)
        if t is None or t.error is not None:
            return 0
        return len(t.partitions)

    def end_offsets(self, topic, nparts):
        """{partition: high watermark}; None when the broker does not answer."""
        out = {}
        try:
            for p in range(nparts):
                _, hi = self.meta().get_watermark_offsets(TopicPartition(topic, p), timeout=5)
                out[p] = hi
        except KafkaException:
            return None
        return out

    def committed(self, group, topic, nparts):
        """{partition: committed offset or NO_OFFSET}; None when unanswered.
        A consumer that never subscribes only sends OffsetFetch: it does not
        join the group it asks about."""
        c = self._groups.get(group)
        if c is None:
            c = Consumer(self._conf(**{"group.id": group, "enable.auto.commit": False}))
            self._groups[group] = c
        try:
            tps = c.committed([TopicPartition(topic, p) for p in range(nparts)], timeout=5)
        except KafkaException:
            return None
        return {tp.partition: tp.offset for tp in tps}

    def last_key(self, topic, partition, end):
        """Key of the message at offset end-1 of a partition."""
        c = Consumer(self._conf(**{"group.id": "faults-peek-" + uuid.uuid4().hex,
                                   "enable.auto.commit": False}))
        try:
            c.assign([TopicPartition(topic, partition, end - 1)])
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                m = c.poll(0.5)
                if m is not None and m.error() is None:
                    return (m.key() or b"").decode(errors="replace")
            return None
        finally:
            c.close()

    def stable(self, topic, nparts):
        """True when no transaction is open on the topic: the last stable
        offset (what a read_committed reader's watermark query returns)
        equals the high watermark of every partition."""
        rc = Consumer(self._conf(**{"group.id": "faults-lso-" + uuid.uuid4().hex,
                                    "isolation.level": "read_committed"}))
        try:
            for p in range(nparts):
                tp = TopicPartition(topic, p)
                _, lso = rc.get_watermark_offsets(tp, timeout=5)
                _, hw = self.meta().get_watermark_offsets(tp, timeout=5)
                if lso != hw:
                    return False
            return True
        except KafkaException:
            return False
        finally:
            rc.close()

    def members(self, group):
        """client.id of each member of the group; None when unanswered."""
        if self._admin is None:
            self._admin = AdminClient(self._conf())
        try:
            gs = self._admin.list_groups(group, timeout=5)
        except KafkaException:
            return None
        return {m.client_id for g in gs if g.id == group for m in g.members}

    def produce_raw(self, topic, records, max_bytes=8 << 20):
        """records: [(partition, key bytes, value bytes)]; all acknowledged or raise."""
        p = Producer(self._conf(**{"enable.idempotence": True, "acks": "all",
                                   "message.max.bytes": max_bytes}))
        errors = []

        def dr(err, msg):
            if err is not None:
                errors.append(str(err))
        for part, key, value in records:
            p.produce(topic, value=value, key=key, partition=part, on_delivery=dr)
        left = p.flush(60)
        if left or errors:
            raise RuntimeError("produce to %s: %d undelivered, errors %s" % (topic, left, errors))


class TopicReader:
    """Reads a topic from its beginning, incrementally: each drain() returns
    once every partition has reached its current end (its EOF for a
    read_committed reader: the last stable offset)."""

    def __init__(self, cluster, topic, nparts, read_committed=False):
        self.topic = topic
        self.nparts = nparts
        self.values = []
        self._eof = {p: False for p in range(nparts)}
        self._c = Consumer(cluster._conf(**{
            "group.id": "faults-reader-" + uuid.uuid4().hex,
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed" if read_committed else "read_uncommitted",
            "fetch.wait.max.ms": 50,
        }))
        self._c.assign([TopicPartition(topic, p, 0) for p in range(nparts)])

    def drain(self, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            batch = self._c.consume(10000, timeout=0.2)
            for m in batch:
                if m.error() is not None:
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        self._eof[m.partition()] = True
                        continue
                    raise RuntimeError("reading %s: %s" % (self.topic, m.error()))
                self._eof[m.partition()] = False
                self.values.append(m.value())
            if not batch and all(self._eof.values()):
                return self.values
            if time.monotonic() > deadline:
                raise RuntimeError("reading %s: no end within %ds" % (self.topic, timeout))

    def close(self):
        self._c.close()


def alert_ids(values):
    """Counter of alert_id over alert messages."""
    ids = Counter()
    for v in values:
        ids[json.loads(v)["alert_id"]] += 1
    return ids


def dead_letter_reasons(values):
    """(Counter of error reason, Counter of source partition of `late` ones)."""
    reasons, late_parts = Counter(), Counter()
    for v in values:
        d = json.loads(v)
        reasons[d.get("error")] += 1
        if d.get("error") == "late":
            late_parts[d.get("source", {}).get("partition")] += 1
    return reasons, late_parts


def decode_assignment(data):
    """{topic: [partitions]} from a consumer-protocol MemberAssignment (any
    version: they share this prefix); {} for an empty or unreadable one."""
    out = {}
    try:
        if not data:
            return out
        pos = 2  # int16 version

        def i32():
            nonlocal pos
            v = int.from_bytes(data[pos:pos + 4], "big", signed=True)
            pos += 4
            return v
        for _ in range(i32()):
            n = int.from_bytes(data[pos:pos + 2], "big", signed=True)
            pos += 2
            topic = data[pos:pos + n].decode()
            pos += n
            out[topic] = sorted(i32() for _ in range(i32()))
    except Exception:
        return {}
    return out


def assignments(cluster, group):
    """{client.id: {topic: [partitions]}} of a group's members, from the
    group coordinator (None when unanswered or while it rebalances)."""
    if cluster._admin is None:
        cluster._admin = AdminClient(cluster._conf())
    try:
        gs = cluster._admin.list_groups(group, timeout=5)
    except KafkaException:
        return None
    for g in gs:
        if g.id == group:
            if g.state != "Stable":
                return None
            return {m.client_id: decode_assignment(m.assignment) for m in g.members}
    return None
