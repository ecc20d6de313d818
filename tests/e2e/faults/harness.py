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

import kafkaio  # noqa: E402
import scenarios  # noqa: E402
from procs import wait_until  # noqa: E402
from scenario import Ctx  # noqa: E402

# control_events: scenario 0; events: scenarios 1, 3, 4; kill_events and kills: 2; poison_events: 5;
# pace_kb: the consumer queue bound that makes the backlog last (scenarios.backlog_pace)
SCALES = {
    "check": {"control_events": 20000, "events": 40000, "kill_events": 200000, "kills": 10, "poison_events": 20000,
              "pace_kb": 256},
    "soak": {"control_events": 100000, "events": 600000, "kill_events": 600000, "kills": 20, "poison_events": 200000,
             "pace_kb": 1024},
}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scale", choices=sorted(SCALES), default=os.environ.get("FAULTS_SCALE", "check"))
    ap.add_argument("--only", default=os.environ.get("FAULTS_ONLY", ""),
                    help="comma-separated scenario keys: 0,1,2,2x,3,4,5 (default: all)")
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
    wanted = [k for k in args.only.split(",") if k] or [k for k, _, _ in scenarios.SCENARIOS]
    print("journeyd fault harness: scale %s, seed %d (FAULTS_SEED=%d repeats the loads and "
          "fault points), binary %s, broker %s, work %s" % (args.scale, seed, seed, jd, bootstrap, work),
          flush=True)

    t0 = time.monotonic()
    done = []
    for key, title, body in scenarios.SCENARIOS:
        if key in wanted:
            s0 = time.monotonic()
            sc = scenarios.run(ctx, key, title, body)
            sc.seconds = time.monotonic() - s0
            done.append(sc)
    cluster.close()

    print("== summary: scale %s, seed %d, %.0f s" % (args.scale, seed, time.monotonic() - t0))
    print("   %-52s %7s %10s %7s %7s  %s" % ("scenario", "lost", "duplicated", "new", "late", "result"))
    for sc in done:
        r = sc.result
        cells = ("-",) * 4 if r is None else (r["lost"], r["duplicated"], r["new"], r["late"])
        print("   %-52s %7s %10s %7s %7s  %s (%.0f s)" % ((sc.title,) + cells + (sc.verdict, sc.seconds)))
    failed = [sc for sc in done if sc.verdict == "FAIL"]
    skipped = [sc for sc in done if sc.verdict == "SKIP"]
    if skipped:
        print("   SKIPPED (not implemented by this binary, not passed): %s"
              % ", ".join(sc.title.split(".")[0] for sc in skipped))
    if failed or keep:
        print("   logs and loads kept in %s" % work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    if failed:
        print("kafka faults: %d of %d scenarios FAILED" % (len(failed), len(done)))
        return 1
    print("kafka faults: %d passed, %d skipped" % (len(done) - len(skipped), len(skipped)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
