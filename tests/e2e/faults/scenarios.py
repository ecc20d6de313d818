"""The five fault scenarios of contract section 7 (see README.md here).

Each builds its load, injects its faults at points chosen from the group's
committed offsets (polled with deadlines), waits until the committed offsets
reach the end of the input, and compares the alert topic with `journeyd
replay` of the same events."""
import json
import os
import socket
import time

import kafkaio
import load
from procs import Broker, wait_until
from scenario import NPARTS, Scenario, say

EOS = ["-X", "processing.guarantee=exactly_once"]


def backlog_pace(ctx):
    """Consumer queue bound that makes a backlog take seconds, not a fraction
    of one, so faults land while input is still waiting. librdkafka refills
    a full queue about once a second; journeyd's default queue would fetch
    the whole input at once. FAULTS_PACE_KB=0 leaves journeyd's default."""
    kb = int(os.environ.get("FAULTS_PACE_KB", ctx.scale["pace_kb"]))
    # both thresholds: journeyd raises queued.min.messages to 1,000,000,
    # which keeps the fetcher going below the byte bound
    return ["-X", "kafka.queued.max.messages.kbytes=%d" % kb,
            "-X", "kafka.queued.min.messages=%d" % (kb * 4)] if kb > 0 else []


def done_deadline(sc):
    return 60 + sc.total // 1000


def backlog(sc, events):
    """The whole load (tail included) in the input topic before any start."""
    parts, tail = sc.make_load(events)
    sc.create_topics()
    sc.produce(parts + [tail])
    sc.check_tail()


def s0_control(sc):
    """No fault, journeyd's own consumer settings: the harness's control.
    A failure here is the harness's or the load's, not a fault's."""
    backlog(sc, sc.ctx.scale["control_events"])
    sc.start()
    sc.wait_done(done_deadline(sc))
    sc.stop_all()
    sc.measure()
    sc.judge(["lost", "duplicated", "new", "late"])


def s1_sigterm(sc):
    """SIGTERM under backlog, restart: nothing lost, invented or repeated."""
    backlog(sc, sc.ctx.scale["events"])
    sc.extra_args = backlog_pace(sc.ctx)
    a = sc.start()
    frac = sc.ctx.rng.uniform(0.15, 0.5)
    sc.wait_committed(frac, 60)
    at = sc.committed_total()
    rc = sc.term(a)
    sc.notes.append("SIGTERM at %s of %d messages committed: exit status %s" % (at, sc.total, rc))
    say(sc.notes[-1])
    sc.require_backlog(at, "the SIGTERM")
    sc.start()
    sc.wait_done(done_deadline(sc))
    sc.stop_all()
    sc.measure()
    sc.judge(["lost", "new", "duplicated"])


def s2_kills(sc, eos):
    """A series of kill -9 at random points, a restart after each."""
    ctx = sc.ctx
    backlog(sc, ctx.scale["kill_events"])
    # commits every 200 ms: the committed offsets the kills are timed by
    # move in small steps (a 1 s transaction can cover a third of the input)
    sc.extra_args = backlog_pace(ctx) + ["-X", "processing.commit_interval=200ms"] + \
        (EOS if eos else [])
    inst = sc.start()
    if eos:
        # a binary without transactions refuses the mode at start
        # joined the group (not the first commit: a transaction commits a
        # whole interval at once, which would leave little input to kill in)
        wait_until("exactly_once instance exits or joins", 60,
                   lambda: not inst.alive() or sc.joined(inst))
        if not inst.alive():
            why = inst.refused()
            if why:
                inst.stopped = True
                sc.skip(why)
                return
    kills = ctx.scale["kills"]
    mid = 0
    for i in range(kills):
        if ctx.rng.random() < 0.3:
            # a random instant after the start, progress or not: these land
            # in joining, restoring or the first fetches (a fault time, not a wait)
            time.sleep(ctx.rng.uniform(0.2, 3.0))
        else:
            # after this instance has itself committed 2-10% of what is left
            # of the input, so the series ends with input left however fast
            # the machine consumes
            base = (sc.committed_total() or 0) / sc.total
            sc.wait_committed(base + (1 - base) * ctx.rng.uniform(0.02, 0.1), 40)
        at = sc.committed_total()
        if sc.backlog_left(at):
            mid += 1
        sc.kill9(inst)
        say("kill -9 #%d (%s) at %s of %d committed" % (i + 1, inst.name, at, sc.total))
        inst = sc.start()
    sc.notes.append("%d kills, %d of them with at least 5%% of the input left" % (kills, mid))
    if mid < kills // 2:
        sc.failures.append("inconclusive: only %d of %d kills landed with input left" % (mid, kills))
    sc.wait_done(done_deadline(sc) + 30)
    sc.stop_all()
    sc.measure(read_committed=eos)
    sc.judge(["lost", "new"] + (["duplicated"] if eos else []))


def s3_instances(sc):
    """Three instances; one stops (SIGTERM), one is killed, one joins."""
    backlog(sc, sc.ctx.scale["events"])
    sc.extra_args = backlog_pace(sc.ctx)
    a, b, c = sc.start(), sc.start(), sc.start()
    sc.wait_committed(0.25, 60)
    at = sc.committed_total()
    sc.term(b)
    sc.require_backlog(at, "the SIGTERM")
    say("SIGTERM %s at %s of %d committed" % (b.name, at, sc.total))
    sc.wait_committed(0.45, 60)
    sc.kill9(c)
    say("kill -9 %s at %s of %d committed" % (c.name, sc.committed_total(), sc.total))
    sc.wait_committed(0.6, 60)
    d = sc.start()
    say("%s joins at %s of %d committed" % (d.name, sc.committed_total(), sc.total))
    sc.wait_done(done_deadline(sc))
    sc.stop_all()
    sc.measure()
    sc.judge(["lost", "late"])


def s4_broker(sc, broker):
    """The broker is killed (SIGKILL) mid-stream and restarted."""
    backlog(sc, sc.ctx.scale["events"])
    sc.extra_args = backlog_pace(sc.ctx)
    # an instance that gives up on a dead broker is restarted, as an
    # orchestrator would; that is noted, not failed
    sc.supervise = True
    sc.start()
    sc.wait_committed(sc.ctx.rng.uniform(0.2, 0.4), 60)
    at = sc.committed_total()
    sc.require_backlog(at, "the broker crash")
    t0 = time.monotonic()
    broker.crash()
    if sc.cluster.answers(timeout=2):
        raise RuntimeError("the broker still answers after kafka.sh kill")
    broker.up()
    sc.notes.append("broker killed at %s of %d committed, answering again after %.1f s"
                    % (at, sc.total, time.monotonic() - t0))
    say(sc.notes[-1])
    sc.wait_done(done_deadline(sc) + 30)
    sc.stop_all()
    sc.measure()
    sc.judge(["lost", "late"])


def s5_poison(sc):
    """A 2 MB record, an event dated 9999 and garbage bytes on one partition,
    between two halves of the load."""
    ctx = sc.ctx
    parts, tail = sc.make_load(ctx.scale["poison_events"], cuts=[0.5])
    sc.create_topics({"max.message.bytes": str(8 << 20)})
    sc.produce([parts[0]])
    p = ctx.rng.randrange(NPARTS)
    key = load.key_on(p, NPARTS, "poison")
    mid_ts = load.max_ts(parts[0])

    def event(eid, ts, **more):
        e = {"event_id": eid, "ts": ts, "customer_id": key, "type": "page_view",
             "channel": "web", "page": "/poison"}
        e.update(more)
        return json.dumps(e, separators=(",", ":")).encode()
    big = event("poison-big", mid_ts, blob="x" * (2 << 20))
    poison = [
        big,                     # a valid 2 MB event
        big[:-2],                # 2 MB of invalid JSON: its dead letter exceeds the DLQ topic
        event("poison-9999", "9999-12-31T23:59:59.000Z"),
        bytes(ctx.rng.randrange(256) for _ in range(4096)),
    ]
    sc.cluster.produce_raw(sc.topic, [(p, key.encode(), v) for v in poison])
    sc.produce([parts[1], tail])
    sc.check_tail()
    sc.notes.append("poison on partition %d: a %d-byte event, the same cut short (invalid "
                    "JSON), an event dated 9999-12-31, 4096 random bytes" % (p, len(big)))
    sc.supervise = True
    sc.start()
    sc.wait_done(done_deadline(sc))
    end = sc.cluster.end_offsets(sc.topic, NPARTS)
    c = sc.committed() or {}
    if c.get(p, 0) < end[p]:
        sc.failures.append("partition %d: committed offset %s, end offset %d: it stopped committing"
                           % (p, c.get(p), end[p]))
    if sc.restarts:
        sc.notes.append("the instance exited by itself %d times (restarted each time)" % sc.restarts)
    sc.stop_all()
    sc.measure()
    sc.judge(["lost", "late"])


def port_free(port):
    """Nothing listens on 127.0.0.1:port nor on port+1 (the controller)."""
    for p in (port, port + 1):
        with socket.socket() as s:
            s.settimeout(1)
            if s.connect_ex(("127.0.0.1", p)) == 0:
                return False
    return True


def private_broker(ctx, key):
    """A broker of the harness's own (scenario 4 crashes it), on the first
    free port pair from FAULTS_BROKER_PORT: kafka.sh would use a broker it
    finds answering, and crashing that one would prove nothing."""
    kdir = os.path.join(ctx.work, key, "kafka")
    os.makedirs(os.path.dirname(kdir), exist_ok=True)
    port = next((p for p in range(ctx.private_port, ctx.private_port + 20, 2) if port_free(p)), None)
    if port is None:
        raise RuntimeError("no free port pair from %d for the private broker" % ctx.private_port)
    b = Broker(ctx.root, port, kdir)
    t0 = time.monotonic()
    b.up()
    say("private broker up on %s in %.1f s" % (b.bootstrap, time.monotonic() - t0))
    return b, kafkaio.Cluster(b.bootstrap)


SCENARIOS = [
    ("0", "0. control: no fault", lambda sc: s0_control(sc)),
    ("1", "1. SIGTERM under backlog + restart", lambda sc: s1_sigterm(sc)),
    ("2", "2. kill -9 series (at least once)", lambda sc: s2_kills(sc, False)),
    ("2x", "2x. kill -9 series, exactly_once, read_committed", lambda sc: s2_kills(sc, True)),
    ("3", "3. 3 instances: SIGTERM / kill -9 / join", lambda sc: s3_instances(sc)),
    ("4", "4. broker killed and restarted", None),
    ("5", "5. poison records on one partition", lambda sc: s5_poison(sc)),
]


def run(ctx, key, title, body):
    """Runs one scenario; an error fails it, with the counts still measured
    when the load got that far."""
    broker = None
    cluster = None
    if key == "4":
        try:
            broker, cluster = private_broker(ctx, "s4")
        except Exception as e:
            sc = Scenario(ctx, "s" + key, title)
            sc.failures.append("private broker: %s: %s" % (type(e).__name__, e))
            sc.verdict = "FAIL"
            sc.print_table()
            return sc
        body = lambda sc: s4_broker(sc, broker)  # noqa: E731
    sc = Scenario(ctx, "s" + key, title, cluster)
    try:
        body(sc)
    except Exception as e:  # the scenario fails; the harness goes on
        sc.failures.append("error: %s: %s" % (type(e).__name__, e))
        for inst in sc.instances:
            if inst.alive():
                inst.kill9()
        if sc.expected and sc.result is None:
            try:
                sc.measure()
            except Exception as e2:
                sc.notes.append("could not measure: %s" % e2)
        sc.verdict = "FAIL"
        sc.print_table()
    finally:
        for inst in sc.instances:
            if inst.alive():
                inst.kill9()
        # a failed scenario's topics are evidence (the repartition and
        # changelog records show what a task held): kept, and named
        if sc.verdict == "FAIL":
            print("   topics kept: %s*" % sc.id)
        elif not ctx.keep:
            delete_topics(sc)
        sc.cluster.close()
        if broker is not None:
            broker.down()
    return sc


def delete_topics(sc):
    try:
        from confluent_kafka.admin import AdminClient
        admin = AdminClient({"bootstrap.servers": sc.cluster.bootstrap})
        names = [t for t in admin.list_topics(timeout=10).topics if t.startswith(sc.id)]
        if names:
            for f in admin.delete_topics(names, operation_timeout=30).values():
                try:
                    f.result()
                except Exception:
                    pass
    except Exception:
        pass
