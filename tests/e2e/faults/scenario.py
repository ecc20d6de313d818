"""One scenario run: its topics and group, its load, its journeyd instances,
and the measurement against `journeyd replay` of the same events."""
import os
import subprocess
import time

import kafkaio
import load
from procs import Instance, wait_until

NPARTS = 6


class Ctx:
    """What every scenario shares: binary, paths, scale, seed, broker."""

    def __init__(self, journeyd, root, work, scale, seed, rng, cluster, stamp):
        self.journeyd = journeyd
        self.root = root
        self.work = work
        self.scale = scale
        self.seed = seed
        self.rng = rng
        self.cluster = cluster
        self.stamp = stamp
        self.gen = load.build_gen(root, work)


def say(msg):
    print("   %s %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


class Scenario:
    def __init__(self, ctx, key, title, cluster=None):
        self.ctx = ctx
        self.key = key
        self.title = title
        self.cluster = cluster or ctx.cluster
        self.id = "faults-%s-%s" % (ctx.stamp, key)
        self.topic = self.id + ".in"
        self.alerts = self.id + ".alerts"
        self.dlq = self.id + ".dlq"
        self.group = self.id
        # input.keyed_by=any: run re-keys through this topic (the group's)
        self.repartition = self.group + "-journeyd-repartition"
        self.link_alerts = None  # replay's alert ids that need a link (anykeyed.py)
        self.story_of = {}       # replay's alert id -> the generator's story
        self.dir = os.path.join(ctx.work, key)
        os.makedirs(self.dir, exist_ok=True)
        self.instances = []
        self.seq = 0
        self.notes = []
        self.failures = []      # requirement not met, beyond the counts
        self.result = None      # measured counts
        self.verdict = None     # PASS / FAIL / SKIP
        self.supervise = False  # restart an instance that exits by itself
        self.restarts = 0
        self.max_restarts = 20
        self.expected = set()
        self.total = 0          # input messages, tail included
        self.extra_args = []
        self.required = ()
        print("\n== %s  [%s]" % (title, self.id), flush=True)

    # ---- load ------------------------------------------------------------

    def make_load(self, events, cuts=()):
        """Generates events, cut into len(cuts)+1 consecutive files, plus the
        tail file. Sets the expected alert ids; returns (parts, tail)."""
        base = os.path.join(self.dir, "load")
        seed = self.ctx.seed + sum(map(ord, self.key))
        summary = load.generate(self.ctx.gen, base + ".ndjson", events,
                                max(100, events // 10), seed)
        parts = load.split(base + ".ndjson", list(cuts), base)
        tail = base + ".tail.ndjson"
        self.tail_keys = load.write_tail(tail, load.max_ts(base + ".ndjson"), NPARTS)
        self.expected = load.replay(self.ctx.journeyd, parts + [tail],
                                    os.path.join(self.dir, "replay.ndjson"),
                                    os.path.join(self.dir, "replay.log"))
        say("load: %s" % summary.replace("gen: ", ""))
        say("replay: %d alerts expected" % len(self.expected))
        if len(self.expected) < 50:
            raise RuntimeError("replay gave only %d alerts: the load cannot show a loss"
                               % len(self.expected))
        return parts, tail

    def create_topics(self, input_config=None):
        self.cluster.create_topics([(self.topic, NPARTS, input_config or {}),
                                    (self.alerts, 3, {}), (self.dlq, 3, {})])

    def produce(self, files, key_by=None):
        """`journeyd produce` of files, keyed by customer (or --key-by
        key_by); waits for it."""
        cmd = [*self.ctx.journeyd, "produce", "-X", "kafka.bootstrap.servers=" + self.cluster.bootstrap,
               "--topic", self.topic]
        if key_by:
            cmd += ["--key-by", key_by]
        for f in files:
            cmd += ["-i", f]
        log = os.path.join(self.dir, "produce.log")
        with open(log, "ab") as out:
            rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT).returncode
        if rc != 0:
            raise RuntimeError("journeyd produce exited %d (see %s)" % (rc, log))

    def check_tail(self):
        """Every partition ends with its tail event (else the partitioner
        differs from Kafka's murmur2 and some watermark never closes)."""
        end = self.cluster.end_offsets(self.topic, NPARTS)
        for p in range(NPARTS):
            k = self.cluster.last_key(self.topic, p, end[p])
            if k != self.tail_keys[p]:
                raise RuntimeError("partition %d ends with key %r, not its tail %r"
                                   % (p, k, self.tail_keys[p]))
        self.total = sum(end.values())
        say("input: %d messages in %d partitions %s" % (self.total, NPARTS,
                                                        [end[p] for p in range(NPARTS)]))

    # ---- instances ----------------------------------------------------------

    def args(self):
        return ["-X", "kafka.bootstrap.servers=" + self.cluster.bootstrap,
                "-X", "input.topics=" + self.topic,
                "-X", "output.alerts_topic=" + self.alerts,
                "-X", "output.dead_letter_topic=" + self.dlq,
                "-X", "kafka.group.id=" + self.group,
                # the tail is evaluated ~6 s after the input ends
                "-X", "time.idle_advance=1s",
                # a killed member's partitions move after 6 s (the broker's minimum)
                "-X", "kafka.session.timeout.ms=6000",
                # several instances run side by side: each takes a free port
                "-X", "http.listen=127.0.0.1:0",
                # JD_RUN_ARGS: more options for every instance (processing.threads=2)
                *os.environ.get("JD_RUN_ARGS", "").split(),
                *self.extra_args]

    def start(self, more=()):
        self.seq += 1
        name = "i%d" % self.seq
        # a client.id per instance: the group's member list then says
        # which instances have joined
        inst = Instance(self.ctx.journeyd, self.args() + list(more) +
                        ["-X", "kafka.client.id=%s-%s" % (self.id, name)],
                        os.path.join(self.dir, name + ".log"), name)
        inst.client_id = "%s-%s" % (self.id, name)
        self.instances.append(inst)
        return inst

    def alive(self):
        return [i for i in self.instances if i.alive() and not getattr(i, "stopped", False)]

    def check_instances(self):
        """An instance that exited without being told to: noted, and
        restarted when the scenario supervises (as an orchestrator would)."""
        for inst in list(self.instances):
            if getattr(inst, "stopped", False) or inst.alive():
                continue
            inst.stopped = True
            rc = inst.proc.returncode
            msg = "%s exited by itself (status %s): %s" % (inst.name, rc, inst.exit_reason())
            if not self.supervise:
                self.failures.append(msg)
                raise RuntimeError(msg)
            self.restarts += 1
            if self.restarts == 1 or self.restarts == self.max_restarts:
                self.notes.append(msg)
            if self.restarts >= self.max_restarts:
                raise RuntimeError("crash loop: instances exited by themselves %d times"
                                   % self.restarts)
            self.start()

    def kill9(self, inst):
        inst.stopped = True
        inst.kill9()

    def joined(self, inst):
        m = self.cluster.members(self.group)
        if not m:
            return False
        if any(c.startswith(self.id) for c in m):
            return inst.client_id in m
        # a binary that sets its own client.id: count members instead
        return len(m) >= len(self.alive())

    def term(self, inst, deadline_s=60):
        """SIGTERM once the instance is a member of the group (a signal
        before journeyd has set up its handlers would test nothing), then
        its exit status must be 0."""
        if inst.alive() and not self.joined(inst):
            try:
                self.poll("%s joins the group" % inst.name, 60, lambda: self.joined(inst))
            except TimeoutError:
                self.notes.append("%s was not a member of the group within 60 s; SIGTERM anyway"
                                  % inst.name)
        inst.stopped = True
        rc = inst.term(deadline_s)
        if rc != 0:
            self.failures.append("%s: SIGTERM gave exit status %s, not 0" % (inst.name, rc))
        return rc

    def stop_all(self):
        for inst in self.alive():
            self.term(inst)

    # ---- progress -----------------------------------------------------------

    def committed(self):
        c = self.cluster.committed(self.group, self.topic, NPARTS)
        if c is None:
            return None
        return {p: max(0, o) for p, o in c.items()}

    def backlog_left(self, at):
        """At least 5% of the input still to commit (the tail alone, which
        waits for idle_advance, is no backlog)."""
        return at is not None and at <= self.total * 0.95

    def require_backlog(self, at, fault):
        if not self.backlog_left(at):
            self.failures.append("inconclusive: %s came at %s of %d committed, with no "
                                 "backlog left" % (fault, at, self.total))

    def committed_total(self):
        c = self.committed()
        return None if c is None else sum(c.values())

    def poll(self, what, deadline_s, cond):
        """wait_until with supervision of the instances between polls."""
        def step():
            self.check_instances()
            return cond()
        return wait_until(what, deadline_s, step, every=0.1)

    def wait_committed(self, frac, deadline_s):
        """Until the group has committed frac of the input. False (noted) on
        the deadline: the caller then injects its fault anyway."""
        want = int(self.total * min(frac, 1.0))
        try:
            self.poll("committed >= %d" % want, deadline_s,
                      lambda: (self.committed_total() or 0) >= want)
            return True
        except TimeoutError:
            self.notes.append("committed offsets did not reach %.0f%% of the input within %ds"
                              % (frac * 100, deadline_s))
            return False

    def wait_done(self, deadline_s):
        """Until the committed offsets are the end offsets of every input
        partition: everything is evaluated, its alerts acknowledged."""
        end = self.cluster.end_offsets(self.topic, NPARTS)

        # keyed_by=any: the committed repartition offsets trail by the
        # markers (repartition_behind's slack), which a small scenario's
        # events fit in too; so also wait until the alert topic has been
        # still for 5 s (the engines wait for markers, a commit interval
        # or two, and idle routers after time.idle_advance).
        still = {"end": None, "since": 0.0}

        def alerts_still():
            if not self.cluster.partitions(self.repartition):
                return True
            a = self.cluster.end_offsets(self.alerts, 3)
            now = time.monotonic()
            if a != still["end"]:
                still["end"], still["since"] = a, now
            return now - still["since"] >= 5.0

        def done():
            c = self.committed()
            return c is not None and all(c[p] >= end[p] for p in range(NPARTS)) and \
                not self.repartition_behind() and alerts_still()
        try:
            self.poll("committed offsets at the end offsets", deadline_s, done)
            say("all input committed")
            return True
        except TimeoutError:
            c = self.committed() or {}
            behind = {p: end[p] - c.get(p, 0) for p in range(NPARTS) if c.get(p, 0) < end[p]}
            self.failures.append("committed offsets did not reach the end within %ds "
                                 "(partition: messages behind) %s%s" % (
                                     deadline_s, behind,
                                     "; %s: %s" % (self.repartition, self.repartition_behind())
                                     if self.repartition_behind() else ""))
            say("NOT done: %s" % self.failures[-1])
            return False

    def repartition_behind(self):
        """{partition: messages} of the repartition topic (when it exists)
        not yet committed by the group: a re-keyed event is evaluated only
        once it is read back from there, so the input alone being committed
        is not the end. {} when there is no such topic or nothing is behind."""
        n = self.cluster.partitions(self.repartition)
        if not n:
            return {}
        end = self.cluster.end_offsets(self.repartition, n) or {}
        c = self.cluster.committed(self.group, self.repartition, n) or {}
        # Every checkpoint writes a watermark marker per task to every
        # partition (and its transaction marker takes an offset too): while
        # an idle watermark follows the clock they keep coming, so a few
        # dozen records past the committed offset are those, not work.
        slack = 64
        return {p: end[p] - max(0, c.get(p, 0)) for p in end
                if end[p] > 0 and max(0, c.get(p, 0)) + slack < end[p]}

    # ---- measurement ----------------------------------------------------------

    def measure(self, read_committed=False):
        if read_committed:
            try:
                wait_until("no open transaction on the alert topic", 90,
                           lambda: self.cluster.stable(self.alerts, 3), every=0.5)
            except TimeoutError as e:
                self.notes.append(str(e))
        ra = kafkaio.TopicReader(self.cluster, self.alerts, 3, read_committed)
        rd = kafkaio.TopicReader(self.cluster, self.dlq, 3, read_committed)
        try:
            self.alert_values = ra.drain()
            ids = kafkaio.alert_ids(self.alert_values)
            reasons, late_parts = kafkaio.dead_letter_reasons(rd.drain())
        finally:
            ra.close()
            rd.close()
        got = set(ids)
        self.got_ids = ids
        self.result = {
            "lost": len(self.expected - got),
            "duplicated": sum(1 for n in ids.values() if n > 1),
            "copies": sum(n - 1 for n in ids.values() if n > 1),
            "new": len(got - self.expected),
            "late": reasons.get("late", 0),
            "alerts": sum(ids.values()),
            "expected": len(self.expected),
            "reasons": dict(reasons),
            "late_parts": dict(late_parts),
        }
        return self.result

    def judge(self, zero):
        """PASS when every count named in zero is 0 and nothing else failed."""
        r = self.result
        bad = [k for k in zero if r[k] != 0]
        for k in bad:
            self.failures.append("%s = %d (must be 0)" % (k, r[k]))
        self.verdict = "FAIL" if self.failures else "PASS"
        self.required = zero
        self.print_table()

    def skip(self, why):
        self.verdict = "SKIP"
        self.notes.append("skipped-not-implemented: " + why)
        self.print_table()

    def print_table(self):
        r = self.result
        print("   +--------+------------+--------+--------+----------+")
        print("   |   lost | duplicated |    new |   late | result   |")
        print("   +--------+------------+--------+--------+----------+")
        if r is None:
            print("   | %6s | %10s | %6s | %6s | %-8s |" % ("-", "-", "-", "-", self.verdict))
        else:
            print("   | %6d | %10d | %6d | %6d | %-8s |" % (r["lost"], r["duplicated"], r["new"],
                                                          r["late"], self.verdict))
        print("   +--------+------------+--------+--------+----------+")
        if r is not None:
            print("   alerts read %d (expected %d distinct, %d extra copies); dead letters %s%s" % (
                r["alerts"], r["expected"], r["copies"], r["reasons"] or "none",
                ("; late by partition %s" % r["late_parts"]) if r["late_parts"] else ""))
            print("   required 0: %s" % ", ".join(self.required))
        for n in self.notes:
            print("   note: %s" % n)
        for f in self.failures:
            print("   FAILED: %s" % f)
        if self.verdict == "FAIL":
            for inst in self.instances[-2:]:
                print("   --- last lines of %s" % inst.log)
                for line in inst.tail(8):
                    print("       " + line)
        print(flush=True)
