"""Fault harness for `journeyd run` (contract section 7). Entry point:
tests/e2e/kafka_faults.sh. See README.md in this folder."""
import argparse
import os
import random
import shlex
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import anykeyed  # noqa: E402
import kafkaio  # noqa: E402
import scenarios  # noqa: E402
from procs import wait_until  # noqa: E402
from scenario import Ctx  # noqa: E402

# control_events: scenario 0; events: scenarios 1, 3, 4; kill_events and kills: 2; poison_events: 5;
# pace_kb: the consumer queue bound that makes the backlog last (scenarios.backlog_pace);
# any_events: scenarios 6.x (one shared anygen load); any_kill_events and any_kills: 8, 8x
SCALES = {
    "check": {"control_events": 20000, "events": 40000, "kill_events": 200000, "kills": 10, "poison_events": 20000,
              "pace_kb": 256, "any_events": 30000, "any_kill_events": 60000, "any_kills": 5},
    "soak": {"control_events": 100000, "events": 600000, "kill_events": 600000, "kills": 20, "poison_events": 200000,
             "pace_kb": 1024, "any_events": 200000, "any_kill_events": 400000, "any_kills": 12},
}
# --suite: faults (tests/e2e/kafka_faults.sh) or anykeyed (tests/e2e/kafka_anykeyed.sh)
SUITES = {"faults": scenarios.SCENARIOS, "anykeyed": anykeyed.SCENARIOS}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scale", choices=sorted(SCALES), default=os.environ.get("FAULTS_SCALE", "check"))
    ap.add_argument("--suite", choices=sorted(SUITES), default="faults")
    ap.add_argument("--only", default=os.environ.get("FAULTS_ONLY", ""),
                    help="comma-separated scenario keys: 0,1,2,2x,3,4,5 (faults), "
                         "6.1,6.2,6.3,6r,6p,6n,7,8,8x (anykeyed; 6 = all 6.x); default: the suite's")
    args = ap.parse_args()

    jd = os.environ.get("JOURNEYD")
    if not jd:
        sys.exit("set JOURNEYD to the journeyd binary")
    journeyd = shlex.split(jd)
    if os.path.exists(journeyd[-1]):
        journeyd[-1] = os.path.abspath(journeyd[-1])
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    seed = int(os.environ.get("FAULTS_SEED") or random.SystemRandom().randrange(1 << 30))
    root = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
    work = tempfile.mkdtemp(prefix="jd-faults.", dir=os.environ.get("TMPDIR"))
    keep = os.environ.get("FAULTS_KEEP") == "1"

    cluster = kafkaio.Cluster(bootstrap)
    try:
        wait_until("broker at " + bootstrap, 20, cluster.answers, every=0.5)
    except TimeoutError:
        sys.exit("no Kafka broker answers at %s (run: make kafka-up)" % bootstrap)

    ctx = Ctx(journeyd, root, work, SCALES[args.scale], seed, random.Random(seed), cluster,
              "%d-%d" % (int(time.time()), os.getpid()))
    ctx.keep = keep
    ctx.private_port = int(os.environ.get("FAULTS_BROKER_PORT", "19092"))
    every = scenarios.SCENARIOS + anykeyed.SCENARIOS
    only = [k for k in args.only.split(",") if k]
    wanted = [k for k, _, _ in every if any(k == w or k.startswith(w + ".") for w in only)] \
        if only else [k for k, _, _ in SUITES[args.suite]]
    print("journeyd fault harness: suite %s, scale %s, seed %d (FAULTS_SEED=%d repeats the loads and "
          "fault points), binary %s, broker %s, work %s" % (args.suite, args.scale, seed, seed, jd,
                                                            bootstrap, work), flush=True)
    if args.suite == "anykeyed" or any(k in wanted for k, _, _ in anykeyed.SCENARIOS):
        kb, ky = anykeyed.mode()
        print("anykeyed: keyed_by=%s, --key-by %s for 6.x, 6r, 7, 8, 8x (ANYKEYED_KEYED_BY, "
              "ANYKEYED_KEY_BY)" % (kb, ky), flush=True)

    t0 = time.monotonic()
    done = []
    for key, title, body in every:
        if key in wanted:
            s0 = time.monotonic()
            sc = scenarios.run(ctx, key, title, body)
            sc.seconds = time.monotonic() - s0
            done.append(sc)
    cluster.close()

    print("== summary: scale %s, seed %d, %.0f s" % (args.scale, seed, time.monotonic() - t0))
    links = any(sc.link_alerts is not None for sc in done)
    print("   %-52s %7s %10s %7s %7s %s %s" % ("scenario", "lost", "duplicated", "new", "late",
                                              " link lost/all" if links else "", "result"))
    for sc in done:
        r = sc.result
        cells = ("-",) * 4 if r is None else (r["lost"], r["duplicated"], r["new"], r["late"])
        lk = ""
        if links:
            lk = "%14s " % ("%d/%d" % (r["link_lost"], r["link_alerts"])
                            if r is not None and "link_lost" in r else "-")
        print("   %-52s %7s %10s %7s %7s %s %s (%.0f s)" % ((sc.title,) + cells + (lk, sc.verdict, sc.seconds)))
    failed = [sc for sc in done if sc.verdict == "FAIL"]
    skipped = [sc for sc in done if sc.verdict == "SKIP"]
    xfail = [sc for sc in done if sc.verdict == "XFAIL"]
    if xfail:
        print("   EXPECTED FAILURES (baselines that must lose, and did): %s"
              % ", ".join(sc.key[1:] for sc in xfail))
    if skipped:
        print("   SKIPPED (not implemented by this binary, not passed): %s"
              % ", ".join(sc.key[1:] for sc in skipped))
    if failed or keep:
        print("   logs and loads kept in %s" % work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    if failed:
        print("kafka %s: %d of %d scenarios FAILED" % (args.suite, len(failed), len(done)))
        return 1
    print("kafka %s: %d passed, %d skipped%s" % (
        args.suite, len(done) - len(skipped) - len(xfail), len(skipped),
        ", %d failed as expected" % len(xfail) if xfail else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
