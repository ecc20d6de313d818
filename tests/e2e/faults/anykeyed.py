"""Scenarios of input.keyed_by=any (issue 12): input keyed as a web tracker
keys it (anonymous events by anonymous_id, logged-in ones by customer_id),
which `journeyd run -X input.keyed_by=any` re-keys by resolved identity
through `<group.id>-journeyd-repartition`. Entry point:
tests/e2e/kafka_anykeyed.sh; see README.md here.

Every scenario compares the alert topic with `journeyd replay` of the same
events by alert_id, and counts apart the alerts that need a link (the
stitched stories of anygen.py): a lost link alert is a stitch that `run`
did not make.

ANYKEYED_KEYED_BY (default any) and ANYKEYED_KEY_BY (default raw) replace
the keyed_by / --key-by of scenarios 6.x, 6r, 7, 8 and 8x: with
customer/resolved they check the harness itself on a binary without
keyed_by=any (they must pass)."""
import collections
import datetime
import json
import os
import subprocess
import time

import anygen
import kafkaio
import load
from procs import wait_until
from scenario import NPARTS, say
from scenarios import EOS, backlog_pace, done_deadline


def mode():
    return (os.environ.get("ANYKEYED_KEYED_BY", "any"), os.environ.get("ANYKEYED_KEY_BY", "raw"))


def keyed(keyed_by):
    return ["-X", "input.keyed_by=" + keyed_by]


# ---- the load ------------------------------------------------------------------


class AnyLoad:
    """One anygen load, its tail and replay's reference, shared by the
    scenarios that ask for the same size (generated and replayed once)."""

    def __init__(self, ctx, events, config=None):
        self.dir = os.path.join(ctx.work, "anyload-%d" % events)
        os.makedirs(self.dir, exist_ok=True)
        self.file = os.path.join(self.dir, "load.ndjson")
        truth = os.path.join(self.dir, "truth.ndjson")
        self.summary = anygen.generate(self.file, events, ctx.seed + events, truth=truth)
        self.tail = os.path.join(self.dir, "tail.ndjson")
        self.tail_keys = load.write_tail(self.tail, load.max_ts(self.file), NPARTS)
        self.replay = os.path.join(self.dir, "replay.ndjson")
        self.expected = load.replay(ctx.journeyd, [self.file, self.tail], self.replay,
                                    os.path.join(self.dir, "replay.log"))
        self.story_of, self.link_ids, mismatch = classify(self.replay, self.summary["truth"])
        s = self.summary
        self.line = ("%d events, %d users, %d links (events with both ids); stories %s; "
                     "replay: %d alerts, %d of them need a link" % (
                         s["events"], s["users"], s["links"],
                         " ".join("%s=%d" % kv for kv in s["stories"].items()),
                         len(self.expected), len(self.link_ids)))
        self.mismatch = mismatch


def classify(replay_out, truth):
    """Maps replay's alert ids to the generator's stories by (rule,
    identity). Returns (story by id, ids that need a link, a line when
    replay and the generator's construction disagree, else None)."""
    want = collections.defaultdict(list)
    for t in truth:
        want[(t["rule"], t["identity"], t["id"])].append(t)
    got = collections.Counter()
    story_of, link = {}, set()
    with open(replay_out) as f:
        for line in f:
            a = json.loads(line)
            k = (a["rule"], a["identity"], a.get("customer_id") or a.get("anonymous_id"))
            got[k] += 1
            ts = want.get(k)
            if ts:
                story_of[a["alert_id"]] = "/".join(sorted({t["story"] for t in ts}))
                if any(t["link"] for t in ts):
                    link.add(a["alert_id"])
            else:
                story_of[a["alert_id"]] = "unplanned"
    wantc = collections.Counter({k: len(v) for k, v in want.items()})
    if got != wantc:
        return story_of, link, "replay gives %d alerts, the generator's construction %d " \
            "(%d keys differ)" % (sum(got.values()), sum(wantc.values()),
                                  len(set((got - wantc)) | set(wantc - got)))
    return story_of, link, None


def shared_load(sc, events):
    cache = sc.ctx.__dict__.setdefault("anyloads", {})
    if events not in cache:
        t0 = time.monotonic()
        cache[events] = AnyLoad(sc.ctx, events)
        say("anygen load (%.1f s): %s" % (time.monotonic() - t0, cache[events].line))
        if cache[events].mismatch:
            say("WARNING: %s" % cache[events].mismatch)
    ld = cache[events]
    sc.expected = set(ld.expected)
    sc.story_of = ld.story_of
    sc.link_alerts = ld.link_ids
    sc.tail_keys = ld.tail_keys
    if ld.mismatch:
        sc.failures.append("generator: %s" % ld.mismatch)
    return ld


def backlog_any(sc, events, key_by, instances=0, live=True):
    """Topics, the load and its tail produced with --key-by key_by, and
    `instances` instances. live: the instances are all in the group, with
    input partitions each, before the input is produced (none reads it
    alone; they read it as it comes). Otherwise the input is a backlog when
    they start, all at once, so a consumer queue bound (backlog_pace) makes
    it last and faults land while input is left. Returns the instances."""
    ld = shared_load(sc, events)
    sc.create_topics()
    live_insts = []
    if live:
        live_insts = [sc.start() for _ in range(instances)]
        for inst in live_insts:
            joined_or_exit(sc, inst)
        if instances > 1:
            own = owners(sc, instances)
            say("assignment before the input: %s" % {
                n: sorted(p for p in own if own[p] == n) for n in sorted(set(own.values()))})
    sc.produce([ld.file, ld.tail], key_by)
    sc.check_tail()
    sc.notes.append("input produced with --key-by %s%s" % (
        key_by, " while the instances were running" if live else " before the instances started"))
    if not live:
        live_insts = [sc.start() for _ in range(instances)]
        for inst in live_insts:
            joined_or_exit(sc, inst)
    return live_insts


def slow_pace(ctx):
    """backlog_pace, and fetches of at most 64 KB per partition: with the
    whole backlog there at the start, a fetch of 1 MB per partition (the
    default) refills a small queue with thousands of events at once, and two
    instances read 60k events in a few seconds."""
    pace = backlog_pace(ctx)
    return pace + ["-X", "kafka.max.partition.fetch.bytes=65536"] if pace else []


# ---- instances ---------------------------------------------------------------


def joined_or_exit(sc, inst):
    """Waits until inst is a member of the group. An instance that exits
    first (e.g. exit 2 on an unknown config value) fails the scenario with
    its last log lines, instead of a crash of the harness."""
    try:
        wait_until("%s exits or joins" % inst.name, 60,
                   lambda: not inst.alive() or sc.joined(inst))
    except TimeoutError:
        sc.notes.append("%s not a member of the group within 60 s" % inst.name)
    if not inst.alive():
        inst.stopped = True
        raise RuntimeError("%s exited at start (status %s): %s" % (
            inst.name, inst.proc.returncode, inst.exit_reason()))
    return inst


def start_checked(sc, more=()):
    return joined_or_exit(sc, sc.start(more))


def owners(sc, nmembers):
    """{input partition: instance name} once the group is stable with
    nmembers members that all own input partitions, covering all of them."""
    def stable():
        a = kafkaio.assignments(sc.cluster, sc.group)
        if not a or len(a) != nmembers:
            return None
        own = {}
        for cid, topics in a.items():
            ps = topics.get(sc.topic, [])
            if not ps:
                return None
            for p in ps:
                own[p] = cid[len(sc.id) + 1:] if cid.startswith(sc.id + "-") else cid
        return own if len(own) == NPARTS else None
    return sc.poll("a stable assignment of %d partitions to %d instances" % (NPARTS, nmembers),
                   60, stable)


# ---- measurement -----------------------------------------------------------------


def link_report(sc):
    """Notes how many of replay's alerts need a link and how many of those
    were lost; lost and new alerts by the generator's story."""
    r = sc.result
    got = set(sc.got_ids)
    lost = sc.expected - got
    r["link_alerts"] = len(sc.link_alerts)
    r["link_lost"] = len(lost & sc.link_alerts)
    sc.notes.append("link alerts (a stitched story's, by construction): %d of replay's %d; "
                    "lost %d" % (r["link_alerts"], len(sc.expected), r["link_lost"]))
    if lost:
        by = collections.Counter(sc.story_of.get(i, "?") for i in lost)
        sc.notes.append("lost by story: %s" % dict(sorted(by.items())))
    new = got - sc.expected
    if new:
        by = collections.Counter()
        for v in sc.alert_values:
            a = json.loads(v)
            if a["alert_id"] in new:
                by["%s/%s" % (a["rule"], a["identity"])] += 1
        sc.notes.append("new alerts by rule/identity (copies counted): %s" % dict(sorted(by.items())))


def measure(sc, read_committed=False):
    """sc.measure() plus the link report, and a hint when alerts repeat."""
    sc.measure(read_committed)
    if sc.link_alerts is not None:
        link_report(sc)
    if sc.result["duplicated"] and not read_committed:
        rewound = [i.name for i in sc.instances if any(
            "aborting the transaction" in line for line in i.tail(10 ** 6))]
        if rewound:
            sc.notes.append("%s aborted a checkpoint transaction and rewound (its log says "
                            "why, e.g. ILLEGAL_GENERATION in a rebalance): at_least_once "
                            "then repeats the alerts it re-reads" % ", ".join(rewound))
    return sc.result


def check_repartition(sc):
    """keyed_by=any: the repartition topic exists with the input's
    partition count (the issue's contract)."""
    n = sc.cluster.partitions(sc.repartition)
    if n != NPARTS:
        sc.failures.append("repartition topic %s: %s (want %d partitions, as the input)"
                           % (sc.repartition, "%d partitions" % n if n else "absent", NPARTS))
    else:
        end = sc.cluster.end_offsets(sc.repartition, NPARTS) or {}
        sc.notes.append("repartition topic %s: %d partitions, %d messages"
                        % (sc.repartition, n, sum(end.values())))


# ---- scenarios -------------------------------------------------------------------


def s6_instances(sc, n, keyed_by=None, key_by=None):
    """Tracker-keyed input read by n instances of run -X input.keyed_by=any:
    the alert ids equal replay's (nothing lost, new or repeated, no late)."""
    kb, ky = mode()
    keyed_by, key_by = keyed_by or kb, key_by or ky
    sc.extra_args = keyed(keyed_by)
    backlog_any(sc, sc.ctx.scale["any_events"], key_by, n)
    sc.wait_done(done_deadline(sc))
    sc.stop_all()
    measure(sc)
    if keyed_by == "any":
        check_repartition(sc)
    sc.judge(["lost", "new", "duplicated", "late"])


def s6_rebalance(sc):
    """2 instances; a third joins at 25% committed, one of the first two
    leaves (SIGTERM) at 55%: both while input is being read."""
    keyed_by, key_by = mode()
    sc.extra_args = keyed(keyed_by) + slow_pace(sc.ctx)
    a, _ = backlog_any(sc, sc.ctx.scale["any_events"], key_by, 2, live=False)
    sc.wait_committed(0.25, 60)
    at = sc.committed_total()
    sc.require_backlog(at, "the join")
    c = sc.start()
    say("%s joins at %s of %d committed" % (c.name, at, sc.total))
    sc.wait_committed(0.55, 60)
    at = sc.committed_total()
    sc.require_backlog(at, "the leave")
    sc.term(a)
    say("%s left (SIGTERM) at %s of %d committed" % (a.name, at, sc.total))
    sc.notes.append("%s joined, then %s left at %s of %d committed" % (c.name, a.name, at, sc.total))
    sc.wait_done(done_deadline(sc))
    sc.stop_all()
    measure(sc)
    if keyed_by == "any":
        check_repartition(sc)
    sc.judge(["lost", "new", "duplicated", "late"])


def s6_baseline(sc, key_by, expect_loss):
    """keyed_by=customer (today's default) with 2 instances. On
    --key-by resolved input it must pass (the control). On tracker-keyed
    input (--key-by raw) it must lose link alerts: an expected failure
    (XFAIL), which shows the load has teeth; a pass there fails."""
    sc.extra_args = keyed("customer")
    backlog_any(sc, sc.ctx.scale["any_events"], key_by, 2)
    sc.wait_done(done_deadline(sc))
    sc.stop_all()
    r = measure(sc)
    if not expect_loss:
        sc.judge(["lost", "new", "duplicated", "late"])
        return
    sc.required = ("lost or new > 0 (expected failure)",)
    if sc.failures:
        sc.verdict = "FAIL"
    elif r["lost"] or r["new"]:
        sc.verdict = "XFAIL"
        sc.notes.append("expected failure: keyed_by=customer on tracker-keyed input lost %d "
                        "(%d of them link alerts) and invented %d alert ids"
                        % (r["lost"], r["link_lost"], r["new"]))
    else:
        sc.verdict = "FAIL"
        sc.failures.append("keyed_by=customer on tracker-keyed input lost nothing: the load "
                           "does not show what keyed_by=any is for")
    sc.print_table()


S7_CONFIG_RULE = {
    # the three funnel steps on one journey, as a pattern: it alerts exactly
    # when the funnel completes, so a completion shows on the alert topic
    "name": "cart_to_purchase", "kind": "pattern", "severity": "low", "within": "30m",
    "steps": [{"match": {"type": "add_to_cart"}}, {"match": {"type": "checkout_start"}},
              {"match": {"type": "purchase"}}]}


def s7_config(sc):
    with open(os.path.join(sc.ctx.root, "config", "journeyd.json")) as f:
        conf = json.load(f)
    conf["rules"].append(S7_CONFIG_RULE)
    path = os.path.join(sc.dir, "config.json")
    with open(path, "w") as f:
        json.dump(conf, f, indent=1)
    return path


def key_owned(prefix, parts):
    """A key (prefix-N) that the murmur2 partitioner sends to one of parts."""
    i = 0
    while load.partition_of("%s-%d" % (prefix, i), NPARTS) not in parts:
        i += 1
    return "%s-%d" % (prefix, i)


def s7_cross_link(sc, pairs=16, controls=4):
    """Anonymous add_to_cart + checkout_start keyed by the anonymous id on a
    partition of one instance, evaluated (the funnel is open there); then
    the purchase carrying both ids keyed by the customer id, on a partition
    of the other instance. Each pair: exactly one completed funnel (the
    cart_to_purchase pattern alert, on the customer) and no checkout_dropoff.
    Control pairs log in (both ids) without a purchase: exactly one
    checkout_dropoff, on the customer, none on the anonymous id."""
    keyed_by, key_by = mode()
    conf = s7_config(sc)
    sc.extra_args = ["-c", conf] + keyed(keyed_by)
    sc.create_topics()
    start_checked(sc)
    start_checked(sc)
    own = owners(sc, 2)
    names = sorted(set(own.values()))
    by = {n: [p for p in range(NPARTS) if own[p] == n] for n in names}
    say("assignment: %s" % {n: by[n] for n in names})

    # in the past, as anygen's loads: the tail a day later is no future_ts
    t0 = datetime.datetime.strptime(anygen.default_base(), "%Y-%m-%d") + datetime.timedelta(hours=1)

    def ts(dt_s):
        return load.format_ts(t0 + datetime.timedelta(seconds=dt_s))

    def ev(eid, t, typ, cid=None, aid=None, **more):
        e = {"event_id": eid, "ts": ts(t)}
        if cid:
            e["customer_id"] = cid
        if aid:
            e["anonymous_id"] = aid
        e.update(type=typ, channel="web", **more)
        return e

    people, phase1, phase2 = [], [], []
    for i in range(pairs + controls):
        x, y = names[i % 2], names[1 - i % 2]
        a = key_owned("a-s7-%d" % i, by[x])
        c = key_owned("c-s7-%d" % i, by[y])
        ctrl = i >= pairs
        people.append((a, c, ctrl))
        phase1 += [ev("s7-%d-cart" % i, i, "add_to_cart", aid=a, page="/cart"),
                   ev("s7-%d-co" % i, 60 + i, "checkout_start", aid=a, page="/checkout")]
        if ctrl:
            phase2.append(ev("s7-%d-login" % i, 600 + i, "login", cid=c, aid=a, page="/login"))
        else:
            phase2.append(ev("s7-%d-buy" % i, 600 + i, "purchase", cid=c, aid=a, page="/confirm"))
    # one page view per partition at +90 s: every watermark passes the
    # anonymous events, which are then evaluated before any link exists
    push = [ev("s7-push-%d" % p, 90, "page_view", cid=load.key_on(p, NPARTS, "push"), page="/push")
            for p in range(NPARTS)]
    tail_t = (t0 + datetime.timedelta(days=1))
    tail = [dict(ev(k, 0, "page_view", cid=k, page="/tail"), ts=load.format_ts(tail_t))
            for k in (load.key_on(p, NPARTS, "tail") for p in range(NPARTS))]

    def key(e):
        if key_by == "resolved" and "customer_id" not in e:
            return next(c for a, c, _ in people if a == e["anonymous_id"])
        return e.get("customer_id") or e["anonymous_id"]

    def send(evs):
        sc.cluster.produce_raw(sc.topic, [
            (load.partition_of(key(e), NPARTS), key(e).encode(),
             json.dumps(e, separators=(",", ":")).encode()) for e in evs])

    # in time order, as a tracker sends them (pair i's checkout comes after
    # pair i+6's cart: far more than time.lateness apart)
    phase1 = sorted(phase1 + push, key=lambda e: e["ts"])
    files = []
    for name, evs in (("phase1", phase1), ("phase2", phase2), ("tail", tail)):
        files.append(os.path.join(sc.dir, name + ".ndjson"))
        with open(files[-1], "w") as f:
            for e in evs:
                f.write(json.dumps(e, separators=(",", ":")) + "\n")
    sc.expected = replay_with(sc, files, conf)

    send(phase1)
    end1 = sum(sc.cluster.end_offsets(sc.topic, NPARTS).values())
    sc.total = end1
    sc.poll("the anonymous events committed (input%s)" % (
        " and repartition" if keyed_by == "any" else ""), 60,
        lambda: (sc.committed_total() or 0) >= end1 and not sc.repartition_behind())
    say("phase 1 (%d anonymous events, %d pushers) committed" % (len(phase1) - len(push), len(push)))
    if owners(sc, 2) != own:
        sc.failures.append("inconclusive: the assignment changed during phase 1")
    send(phase2)
    say("phase 2: %d purchases and %d logins with both ids, keyed by %s" % (
        pairs, controls, "customer" if key_by == "raw" else "the resolved customer"))
    send(tail)
    sc.total = sum(sc.cluster.end_offsets(sc.topic, NPARTS).values())
    sc.wait_done(60)
    sc.stop_all()
    measure(sc)

    per = collections.Counter()
    for v in sc.alert_values:
        a = json.loads(v)
        per[(a["rule"], a.get("customer_id") or a.get("anonymous_id"))] += 1
    bad = []
    completed = 0
    for a, c, ctrl in people:
        if ctrl:
            if per[("checkout_dropoff", c)] != 1 or per[("checkout_dropoff", a)] != 0:
                bad.append("control %s/%s: checkout_dropoff on the customer %d, on the "
                           "anonymous id %d (want 1, 0)" % (a, c, per[("checkout_dropoff", c)],
                                                           per[("checkout_dropoff", a)]))
        else:
            done = per[("cart_to_purchase", c)]
            drop = per[("checkout_dropoff", c)] + per[("checkout_dropoff", a)]
            completed += done == 1
            if done != 1 or drop:
                bad.append("%s (p%d, %s) -> %s (p%d, %s): completed funnels %d (want 1), "
                           "checkout_dropoff alerts %d (want 0)" % (
                               a, load.partition_of(a, NPARTS), own[load.partition_of(a, NPARTS)],
                               c, load.partition_of(c, NPARTS), own[load.partition_of(c, NPARTS)],
                               done, drop))
    sc.notes.append("%d of %d cross-instance links completed their funnel exactly once with no "
                    "drop-off; %d controls" % (completed, pairs, controls))
    for b in bad[:6]:
        sc.failures.append(b)
    if len(bad) > 6:
        sc.failures.append("... %d pairs wrong in all" % len(bad))
    if keyed_by == "any":
        check_repartition(sc)
    sc.judge(["lost", "new", "duplicated", "late"])


def replay_with(sc, files, conf):
    out = os.path.join(sc.dir, "replay.ndjson")
    cmd = [*sc.ctx.journeyd, "replay", "-c", conf]
    for f in files:
        cmd += ["-i", f]
    with open(out, "wb") as o, open(os.path.join(sc.dir, "replay.log"), "wb") as e:
        subprocess.run(cmd, stdout=o, stderr=e, check=True)
    ids = kafkaio.alert_ids(open(out, "rb").read().splitlines())
    return set(ids)


def s8_kills(sc, eos):
    """2 instances on a load of many stitches; kill -9 of one of them
    (alternating) while input is being read, each followed by a restart:
    nothing lost or new vs replay (exactly_once: nothing repeated for a
    read_committed reader either)."""
    ctx = sc.ctx
    keyed_by, key_by = mode()
    pace = slow_pace(ctx)
    sc.extra_args = keyed(keyed_by) + pace + \
        ["-X", "processing.commit_interval=200ms"] + (EOS if eos else [])
    # the input first, then both instances at once (backlog_any)
    try:
        live = backlog_any(sc, ctx.scale["any_kill_events"], key_by, 2, live=False)
    except RuntimeError:
        # a binary without transactions refuses exactly_once at start
        why = eos and next((i.refused() for i in sc.instances if i.refused()), None)
        if not why:
            raise
        for i in sc.instances:
            sc.kill9(i)
        sc.skip(why)
        return
    kills, mid = ctx.scale["any_kills"], 0
    for i in range(kills):
        # after another 3-9% of what is left is committed, or 1-4 s after
        # the last restart, whichever comes first: two instances read fast,
        # and a kill right after a restart lands in a hand-over
        base = (sc.committed_total() or 0) / sc.total
        want = sc.total * (base + (1 - base) * ctx.rng.uniform(0.03, 0.09))
        until = time.monotonic() + ctx.rng.uniform(1.0, 4.0)
        sc.poll("committed >= %d or %.1f s" % (want, until - time.monotonic()), 60,
                lambda: time.monotonic() >= until or (sc.committed_total() or 0) >= want)
        at = sc.committed_total()
        if sc.backlog_left(at):
            mid += 1
        victim = live[i % 2]
        sc.kill9(victim)
        say("kill -9 #%d (%s) at %s of %d committed" % (i + 1, victim.name, at, sc.total))
        live[i % 2] = sc.start()
    sc.notes.append("%d kills, %d of them with at least 5%% of the input left" % (kills, mid))
    if mid < (kills + 1) // 2:
        sc.failures.append("inconclusive: only %d of %d kills landed with input left" % (mid, kills))
    sc.wait_done(done_deadline(sc) + 30)
    sc.stop_all()
    measure(sc, read_committed=eos)
    if keyed_by == "any":
        check_repartition(sc)
    sc.judge(["lost", "new"] + (["duplicated"] if eos else []))


SCENARIOS = [
    ("6.1", "6.1 keyed_by=any, tracker keys, 1 instance", lambda sc: s6_instances(sc, 1)),
    ("6.2", "6.2 keyed_by=any, tracker keys, 2 instances", lambda sc: s6_instances(sc, 2)),
    ("6.3", "6.3 keyed_by=any, tracker keys, 3 instances", lambda sc: s6_instances(sc, 3)),
    ("6r", "6r keyed_by=any, 2 instances, one joins, one leaves", s6_rebalance),
    ("6p", "6p control: keyed_by=customer, resolved keys, 2 inst", lambda sc: s6_baseline(sc, "resolved", False)),
    ("6n", "6n baseline: keyed_by=customer, tracker keys, 2 inst", lambda sc: s6_baseline(sc, "raw", True)),
    ("7", "7 cross-instance link closes an open funnel", s7_cross_link),
    ("8", "8 keyed_by=any, kill -9 series, 2 instances", lambda sc: s8_kills(sc, False)),
    ("8x", "8x keyed_by=any, kill -9 series, exactly_once", lambda sc: s8_kills(sc, True)),
]
