#!/usr/bin/env python3
"""bench/latency.py — alert latency of `journeyd run` on a real broker.

For each configuration (default: the default config, and time.lateness=0):

1. fresh topics lat.events.<tag> (the broker's default partition count, 3 for
   `make kafka-up`) and lat.alerts.<tag>, both switched to
   message.timestamp.type=LogAppendTime with kafka.admin.ConfigCommand (the
   jars of build/kafka/libs), so a message's timestamp is the broker's clock
   when it appended it;
2. `journeyd run` on them with a fresh group, waited for until it logs the
   assignment of every partition;
3. a paced generator (this script) pipes canonical events into
   `journeyd produce -i - --topic lat.events.<tag>` at RATE events/s, each
   event's `ts` being the wall clock when it is generated, so event time
   advances with wall time. Background: page views of a pool of customers that
   cannot raise any default rule. Injected, BURSTS per second from 0.5 s on:
   a page view then 3 clicks on one page+element 200 ms apart (a rage_click,
   triggered by the 3rd click) on a fresh customer; every 4th of them is
   followed 500 ms later by a support_contact on `call` (a channel_escalation
   sequence, triggered by that contact). Background traffic continues for
   time.lateness + 3 s after the last injection, so the watermark passes
   every trigger;
4. both topics are read back with kcat. Each alert is matched to its
   triggering event by evidence.event_ids[-1]; latency = alert LogAppendTime -
   triggering event LogAppendTime (same broker clock, 1 ms resolution).
   Bursts injected before the end of the warm-up (--warmup, 3 s) are matched
   but reported apart (warmup_latency_ms): the first alert pays for the
   producer's first request to the alerts topic. Also reported: the event's
   `ts` (generation) to its arrival at the broker (event_ts_to_arrival_ms),
   which is not part of the figure but shows host or broker hiccups, and the
   CPU time `journeyd run` used.

Writes a JSON report (--out) and prints a Markdown table. Exit 0 when every
configuration was measured, 1 otherwise. python3 stdlib + kcat + java.
"""
import argparse
import heapq
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

BROKER_DEFAULT = "127.0.0.1:9092"
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def log(msg):
    print(f"latency: {msg}", file=sys.stderr, flush=True)


class Fail(Exception):
    pass


# ---- broker helpers ----------------------------------------------------------

def kcat(args, timeout, **kw):
    return subprocess.run(["kcat"] + args, capture_output=True, text=True,
                          timeout=timeout, **kw)


def partitions(broker, topic, timeout=10):
    """Partition count of topic (0 while it does not exist). The metadata
    request for one topic also makes the broker auto-create it."""
    try:
        r = kcat(["-b", broker, "-L", "-t", topic, "-m", "5"], timeout)
    except subprocess.TimeoutExpired:
        return 0
    m = re.search(r'topic "%s" with (\d+) partitions' % re.escape(topic), r.stdout)
    return int(m.group(1)) if m else 0


def create_topic(broker, topic, deadline_s=30):
    t_end = time.monotonic() + deadline_s
    while time.monotonic() < t_end:
        n = partitions(broker, topic)
        if n > 0:
            return n
        time.sleep(0.3)
    raise Fail(f"topic {topic} not auto-created within {deadline_s}s "
               "(auto.create.topics.enable=false?)")


def set_log_append_time(broker, topics, jars, deadline_s=90):
    """ConfigCommand for each topic, in parallel. Returns None or an error."""
    procs = []
    for t in topics:
        cmd = ["java", "-cp", os.path.join(jars, "*"), "kafka.admin.ConfigCommand",
               "--bootstrap-server", broker, "--alter", "--entity-type", "topics",
               "--entity-name", t, "--add-config", "message.timestamp.type=LogAppendTime"]
        try:
            procs.append((t, subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                              stderr=subprocess.STDOUT, text=True)))
        except OSError as e:
            return f"cannot run java: {e}"
    err = None
    for t, p in procs:
        try:
            out, _ = p.communicate(timeout=deadline_s)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            err = err or f"ConfigCommand on {t} timed out"
            continue
        if p.returncode != 0 or "Completed updating config" not in out:
            err = err or f"ConfigCommand on {t} failed (exit {p.returncode}): " + \
                (out.strip().splitlines() or ["?"])[-1]
    return err


def read_topic(broker, topic, fmt, timeout, grep=None):
    """All messages of topic, from the beginning to the current end, as lines.
    With grep, only lines containing that string (filtered by grep -F)."""
    args = ["kcat", "-C", "-b", broker, "-t", topic, "-o", "beginning", "-e", "-q"]
    args += ["-J"] if fmt == "json" else ["-f", fmt]
    k = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        if grep:
            g = subprocess.Popen(["grep", "-F", grep], stdin=k.stdout,
                                 stdout=subprocess.PIPE)
            k.stdout.close()
            out, _ = g.communicate(timeout=timeout)
        else:
            out, _ = k.communicate(timeout=timeout)
        k.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        k.kill()
        raise Fail(f"reading {topic} took more than {timeout}s")
    if k.returncode != 0:
        raise Fail(f"kcat -C {topic} exit {k.returncode}")
    return out.decode("utf-8", "replace").splitlines()


def count_messages(broker, topic):
    try:
        r = subprocess.run(["kcat", "-C", "-b", broker, "-t", topic, "-o", "beginning",
                            "-e", "-q", "-f", "x\n"], capture_output=True, timeout=30)
        return r.stdout.count(b"\n")
    except subprocess.TimeoutExpired:
        return -1


# ---- the generator -------------------------------------------------------------

def fmt_ts(ms):
    s, r = divmod(int(ms), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + ".%03dZ" % r


def generate(out, rate, warmup, duration, tail, bursts_per_s, customers, tag):
    """Writes events to the file object `out` at `rate` events/s (background
    plus injected) for warmup + duration + tail seconds. Returns stats and the
    list of injected patterns."""
    mono0 = time.monotonic()
    wall0_ms = time.time() * 1000.0
    t_inj_end = warmup + duration
    t_end = warmup + duration + tail
    sent = bg = 0
    heap = []          # (due_s, seq, line template with {ts})
    seq = 0
    nb = 0
    patterns = []      # (rule, trigger event_id)
    step = 1.0 / bursts_per_s
    first_burst = next_burst = min(0.5, warmup)   # warm-up bursts: reported apart
    max_lag = 0.0
    while True:
        now = time.monotonic() - mono0
        if now >= t_end:
            break
        ts = fmt_ts(wall0_ms + now * 1000.0)
        while next_burst <= now and next_burst < t_inj_end:
            cust = f"r{tag}-{nb}"
            base = '{"event_id":"k%d-%%d","ts":"%%s","customer_id":"%s",' % (nb, cust)
            pv = base + '"type":"page_view","channel":"web","page":"/checkout/payment"}\n'
            ck = base + ('"type":"click","channel":"web","page":"/checkout/payment",'
                         '"element":"#place-order"}\n')
            sc = base + '"type":"support_contact","channel":"call"}\n'
            evs = [(0.0, pv % (0, "%s")), (0.2, ck % (1, "%s")), (0.4, ck % (2, "%s")),
                   (0.6, ck % (3, "%s"))]
            warm = next_burst < warmup
            patterns.append(("rage_click", f"k{nb}-3", warm))
            if nb % 4 == 0:
                evs.append((1.1, sc % (4, "%s")))
                patterns.append(("channel_escalation", f"k{nb}-4", warm))
            for d, line in evs:
                heapq.heappush(heap, (next_burst + d, seq, line))
                seq += 1
            nb += 1
            next_burst = first_burst + nb * step
        lines = []
        want = int(rate * now) - sent
        if want > 0:
            # background: customer c = n mod customers, its page changes every
            # round of the pool, so no two views of one page within 15 s
            for n in range(bg, bg + want):
                c = n % customers
                lines.append('{"event_id":"b%d","ts":"%s","customer_id":"c%d",'
                             '"type":"page_view","channel":"web","page":"/p/%d"}\n'
                             % (n, ts, c, (n // customers) % 64))
            bg += want
        while heap and heap[0][0] <= now:
            _, _, line = heapq.heappop(heap)
            lines.append(line % ts)
        if lines:
            sent += len(lines)
            out.write("".join(lines).encode())
            out.flush()
        lag = time.monotonic() - mono0 - now
        if lag > max_lag:
            max_lag = lag
        time.sleep(0.001)
    elapsed = time.monotonic() - mono0
    return {"events": sent, "background": bg, "injected": sent - bg, "bursts": nb,
            "elapsed_s": round(elapsed, 3), "events_per_s": round(sent / elapsed),
            "max_write_stall_ms": round(max_lag * 1000, 1)}, patterns


def generator_capacity():
    """Lines per second this Python formats, to check the target rate."""
    t0 = time.perf_counter()
    n = 0
    while time.perf_counter() - t0 < 0.2:
        "".join('{"event_id":"b%d","ts":"%s","customer_id":"c%d","type":"page_view",'
                '"channel":"web","page":"/p/%d"}\n' % (i, "x", i, i) for i in range(n, n + 10000))
        n += 10000
    return n / (time.perf_counter() - t0)


# ---- statistics ------------------------------------------------------------------

def pct(sorted_vals, p):
    """Nearest-rank percentile."""
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, -(-len(sorted_vals) * p // 100) - 1))
    return sorted_vals[int(k)]


def summary(vals):
    v = sorted(vals)
    if not v:
        return {"count": 0}
    return {"count": len(v), "p50": pct(v, 50), "p90": pct(v, 90), "p99": pct(v, 99),
            "max": v[-1], "min": v[0], "mean": round(sum(v) / len(v), 1)}


# ---- one configuration ---------------------------------------------------------------

def stop(proc, deadline_s=30):
    """SIGTERM, wait; SIGKILL after the deadline. Returns (exit code, clean)."""
    if proc.poll() is not None:
        return proc.returncode, False
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=deadline_s), True
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None, False


def measure(a, name, options, rate, lateness_s, workdir):
    tag = f"{int(time.time())}-{os.getpid()}-{name}"
    T, A, G = f"lat.events.{tag}", f"lat.alerts.{tag}", f"lat-{tag}"
    res = {"config": name, "options": options, "events_topic": T, "alerts_topic": A,
           "group": G, "rate_target": rate}
    log(f"[{name}] topics {T} -> {A}, group {G}, options {' '.join(options) or '(none)'}")
    nparts = create_topic(a.broker, T)
    create_topic(a.broker, A)
    res["partitions"] = nparts
    err = set_log_append_time(a.broker, [T, A], a.kafka_libs)
    res["timestamps"] = "LogAppendTime" if err is None else "CreateTime"
    if err:
        res["timestamps_note"] = err
        log(f"[{name}] LogAppendTime not set ({err}): falling back to CreateTime")

    env = dict(os.environ, JOURNEYD_LOG="info")
    run_err = os.path.join(workdir, f"run-{name}.err")
    prod_err = os.path.join(workdir, f"produce-{name}.err")
    ropts = ["-X", f"kafka.bootstrap.servers={a.broker}", "-X", f"kafka.group.id={G}",
             "-X", f"input.topics={T}", "-X", f"output.alerts_topic={A}",
             "-X", f"output.dead_letter_topic={T}.dlq"]
    for o in options:
        ropts += ["-X", o]
    run = subprocess.Popen([a.journeyd, "run"] + ropts, stdout=subprocess.DEVNULL,
                           stderr=open(run_err, "w"), env=env)
    prod = None
    try:
        # joined = every partition of T assigned (and its changelog restored)
        t_end = time.monotonic() + a.join_timeout
        pat = re.compile(r"assigned %s \[(\d+)\]" % re.escape(T))
        while True:
            if run.poll() is not None:
                raise Fail(f"journeyd run exited {run.returncode} before joining: "
                           + tail_of(run_err))
            got = set(pat.findall(open(run_err, errors="replace").read()))
            if len(got) >= nparts:
                break
            if time.monotonic() > t_end:
                raise Fail(f"journeyd run: {len(got)}/{nparts} partitions assigned "
                           f"after {a.join_timeout}s: " + tail_of(run_err))
            time.sleep(0.2)
        log(f"[{name}] journeyd run joined; producing {rate} events/s for "
            f"{a.warmup}+{a.duration}+{lateness_s + 3:g} s")

        prod = subprocess.Popen([a.journeyd, "produce", "-i", "-", "--topic", T,
                                 "-X", f"kafka.bootstrap.servers={a.broker}"],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=open(prod_err, "w"))
        # a produce that stops reading would block the generator's writes:
        # kill it a minute after the input should have ended
        total = a.warmup + a.duration + lateness_s + 3.0
        watchdog = threading.Timer(total + 60, prod.kill)
        watchdog.start()
        try:
            gen, patterns = generate(prod.stdin, rate, a.warmup, a.duration,
                                     lateness_s + 3.0, a.bursts, a.customers,
                                     str(os.getpid()))
        except BrokenPipeError:
            raise Fail("journeyd produce closed its input: " + tail_of(prod_err))
        finally:
            watchdog.cancel()
        prod.stdin.close()
        try:
            prc = prod.wait(timeout=60)
        except subprocess.TimeoutExpired:
            prod.kill()
            raise Fail("journeyd produce did not finish within 60 s of end of input")
        if prc != 0:
            raise Fail(f"journeyd produce exit {prc}: " + tail_of(prod_err))
        res["generator"] = gen
        expected = len(patterns)
        log(f"[{name}] sent {gen['events']} events ({gen['events_per_s']}/s), "
            f"{gen['bursts']} bursts; waiting for {expected} alerts")

        t_end = time.monotonic() + a.alert_timeout
        n = 0
        while time.monotonic() < t_end:
            n = count_messages(a.broker, A)
            if n >= expected or run.poll() is not None:
                break
            time.sleep(1)
        if run.poll() is not None:
            raise Fail(f"journeyd run exited {run.returncode} while running: "
                       + tail_of(run_err))
        res["run_cpu_s"] = cpu_seconds(run.pid)
        res["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
        rc, clean = stop(run)
        res["run_exit_after_sigterm"] = rc
        if rc != 0:
            res["run_exit_note"] = ("journeyd run ignored SIGTERM for 30 s (killed)"
                                    if rc is None else f"exit {rc}: " + tail_of(run_err))
            log(f"[{name}] journeyd run after SIGTERM: {res['run_exit_note']}")
    finally:
        for p in (prod, run):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()

    # ---- read back and match
    alerts = {}
    tstypes = set()
    for line in read_topic(a.broker, A, "json", a.read_timeout):
        m = json.loads(line)
        tstypes.add(m.get("tstype"))
        al = json.loads(m["payload"])
        if al["alert_id"] in alerts:
            continue
        alerts[al["alert_id"]] = (m["ts"], al)
    trig = {}   # event_id -> (append ms, ts ms of the payload)
    for line in read_topic(a.broker, T, "%T %s\n", a.read_timeout, grep='"event_id":"k'):
        t, _, payload = line.partition(" ")
        ev = json.loads(payload)
        trig[ev["event_id"]] = (int(t), ev["ts"])
    want = {eid: rule for rule, eid, _ in patterns}
    warm = {eid for _, eid, w in patterns if w}
    warm_lat = []
    lat = {}
    lag = []
    unexpected = 0
    samples = []
    for t_alert, al in alerts.values():
        ids = al.get("evidence", {}).get("event_ids") or []
        eid = ids[-1] if ids else None
        if eid not in want or want[eid] != al["rule"] or eid not in trig:
            unexpected += 1
            continue
        t_ev, ts_ev = trig.pop(eid)
        del want[eid]
        if eid in warm:
            warm_lat.append(t_alert - t_ev)
            continue
        lat.setdefault(al["rule"], []).append(t_alert - t_ev)
        samples.append((t_ev, t_alert, al["rule"], eid))
        lag.append(t_ev - iso_ms(ts_ev))
    allv = [v for vs in lat.values() for v in vs]
    with open(os.path.join(workdir, f"samples-{name}.tsv"), "w") as f:
        f.write("event_append_ms\talert_append_ms\tlatency_ms\trule\tevent_id\n")
        for t_ev, t_al, rule, eid in sorted(samples):
            f.write(f"{t_ev}\t{t_al}\t{t_al - t_ev}\t{rule}\t{eid}\n")
    res["samples_file"] = os.path.join(workdir, f"samples-{name}.tsv")
    res.update({
        "alerts_expected": len(patterns) - len(warm), "alerts_matched": len(allv),
        # bursts injected during the warm-up (the first alert opens the
        # producer's connection to the alerts topic): matched, not counted
        "warmup_latency_ms": summary(warm_lat),
        "alerts_missing": len(want), "alerts_unexpected": unexpected,
        "alert_timestamp_types": sorted(x for x in tstypes if x),
        "latency_ms": summary(allv),
        "by_rule": {r: summary(v) for r, v in sorted(lat.items())},
        # producer side, not part of the figure: event ts (generation time,
        # this host's clock) to its arrival at the broker
        "event_ts_to_arrival_ms": summary(lag),
    })
    res["status"] = "ok" if not want and not unexpected else \
        f"{len(want)} alerts missing, {unexpected} unexpected"
    return res


def cpu_seconds(pid):
    """utime + stime of a live process (s), or None."""
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return round((int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK"), 2)
    except (OSError, IndexError, ValueError):
        return None


def iso_ms(s):
    # 2026-11-22T19:51:46.123Z
    import calendar
    return calendar.timegm(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")) * 1000 + int(s[20:23])


def tail_of(path, n=3):
    try:
        lines = [l for l in open(path, errors="replace").read().splitlines() if l.strip()]
    except OSError:
        return "(no log)"
    return " | ".join(lines[-n:]) or "(empty log)"


# ---- main --------------------------------------------------------------------------

CONFIGS = {
    "default": [],
    "lateness0": ["time.lateness=0"],
    "lateness0_linger0": ["time.lateness=0", "kafka.linger.ms=0"],
}
LATENESS_S = {"default": 5.0, "lateness0": 0.0, "lateness0_linger0": 0.0}


def on_sigterm(signum, frame):
    # unwinds through measure()'s finally, which kills journeyd run/produce
    raise KeyboardInterrupt


def main():
    signal.signal(signal.SIGTERM, on_sigterm)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--journeyd", default=os.path.join(ROOT, "build", "journeyd"))
    ap.add_argument("--broker", default=BROKER_DEFAULT)
    ap.add_argument("--rate", type=float, help="events/s (default: half of --max-rate)")
    ap.add_argument("--max-rate", type=float,
                    help="measured maximum run throughput (default: kafka.run.events_per_s "
                         "of --bench-json)")
    ap.add_argument("--bench-json", default=os.path.join(ROOT, "build", "bench.json"))
    ap.add_argument("--configs", default="default,lateness0",
                    help="comma-separated, of: " + ", ".join(CONFIGS) +
                         ", or NAME:key=value+key=value (-X options)")
    ap.add_argument("--duration", type=float, default=20, help="seconds of injection")
    ap.add_argument("--warmup", type=float, default=3, help="seconds before injecting")
    ap.add_argument("--bursts", type=float, default=100, help="injected bursts per second")
    ap.add_argument("--customers", type=int, default=100000, help="background customers")
    ap.add_argument("--join-timeout", type=float, default=60)
    ap.add_argument("--alert-timeout", type=float, default=60,
                    help="seconds to wait for the last alerts after the input ends")
    ap.add_argument("--read-timeout", type=float, default=120)
    ap.add_argument("--kafka-libs", default=os.path.join(ROOT, "build", "kafka", "libs"))
    ap.add_argument("--workdir", default=os.path.join(ROOT, "build", "bench", "latency"))
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench-latency.json"))
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)

    notes = []
    rep = {"broker": a.broker, "journeyd": a.journeyd, "notes": notes}
    try:
        import hashlib
        rep["journeyd_sha256"] = hashlib.sha256(open(a.journeyd, "rb").read()).hexdigest()
    except OSError as e:
        print(f"latency: {a.journeyd}: {e}", file=sys.stderr)
        return 2
    max_rate = a.max_rate
    if max_rate is None and a.rate is None:
        try:
            max_rate = float(json.load(open(a.bench_json))["kafka"]["run"]["events_per_s"])
            rep["max_rate_source"] = f"{a.bench_json}: kafka.run.events_per_s"
        except (OSError, ValueError, KeyError, TypeError):
            max_rate = None
    elif max_rate is not None:
        rep["max_rate_source"] = "--max-rate"
    cap = generator_capacity()
    rep["generator_capacity_events_per_s"] = round(cap)
    if a.rate is not None:
        rate = a.rate
        rep["rate_source"] = "--rate"
    elif max_rate:
        rate = max_rate / 2
        rep["rate_source"] = "half the measured maximum"
    else:
        rate = 10000
        rep["rate_source"] = "no measured maximum (no kafka.run in bench.json): 10000"
        notes.append("rate: no measured maximum, 10000 events/s used")
    if rate > cap / 4:
        notes.append(f"rate {rate:.0f} capped at a quarter of the generator's formatting "
                     f"capacity ({cap:.0f}/s)")
        rate = cap / 4
    rate = int(rate)
    rep["max_rate_events_per_s"] = max_rate
    rep["rate_events_per_s"] = rate
    rep["nproc"] = os.cpu_count()

    try:
        up = subprocess.run(["kcat", "-b", a.broker, "-L", "-m", "5"],
                            capture_output=True, timeout=15).returncode == 0
    except subprocess.TimeoutExpired:
        up = False
    if not up:
        print(f"latency: no broker at {a.broker}", file=sys.stderr)
        return 1

    ok = True
    names = []
    for c in [c for c in a.configs.split(",") if c]:
        # NAME:key=v+key=v defines a config on the command line
        name, sep, opts = c.partition(":")
        if sep:
            CONFIGS[name] = opts.split("+")
            LATENESS_S[name] = 5.0 if not any(o == "time.lateness=0" for o in CONFIGS[name]) else 0.0
            for o in CONFIGS[name]:
                if o.startswith("time.lateness=") and o != "time.lateness=0":
                    LATENESS_S[name] = 60.0   # unparsed duration: be generous
        names.append(name)
    for name in names:
        if name not in CONFIGS:
            print(f"latency: unknown config {name}", file=sys.stderr)
            return 2
        try:
            r = measure(a, name, CONFIGS[name], rate, LATENESS_S[name], a.workdir)
        except (Fail, subprocess.TimeoutExpired, OSError, ValueError) as e:
            r = {"config": name, "options": CONFIGS[name], "status": f"failed: {e}"}
            log(f"[{name}] FAILED: {e}")
        rep[name] = r
        if not str(r.get("status")).startswith("ok") or r.get("run_exit_after_sigterm") != 0:
            ok = False
        s = r.get("latency_ms", {})
        if s.get("count"):
            log(f"[{name}] {s['count']} alerts: p50 {s['p50']} ms, p99 {s['p99']} ms, "
                f"max {s['max']} ms")

    with open(a.out, "w") as f:
        json.dump(rep, f, indent=2)
        f.write("\n")
    print(f"alert latency, event arrival -> alert acknowledged (broker LogAppendTime), "
          f"{rate} events/s ({rep['rate_source']})\n")
    print("| config | partitions | alerts | p50 ms | p90 ms | p99 ms | max ms "
          "| ingest p99/max ms | warm-up max ms | run CPU s | status |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in names:
        r = rep[name]
        s = r.get("latency_ms", {})
        ing = r.get("event_ts_to_arrival_ms", {})
        opt = " ".join("-X " + o for o in r["options"]) or "defaults"
        print(f"| {name} ({opt}) | {r.get('partitions', 'n/a')} | "
              f"{s.get('count', 0)}/{r.get('alerts_expected', 'n/a')} | {s.get('p50', 'n/a')} | "
              f"{s.get('p90', 'n/a')} | {s.get('p99', 'n/a')} | {s.get('max', 'n/a')} | "
              f"{ing.get('p99', 'n/a')}/{ing.get('max', 'n/a')} | "
              f"{r.get('warmup_latency_ms', {}).get('max', 'n/a')} | {r.get('run_cpu_s', 'n/a')} | "
              f"{r.get('status')}, exit {r.get('run_exit_after_sigterm', 'n/a')} |")
    for n in notes:
        print(f"\nnote: {n}")
    print(f"\nwritten: {a.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("latency: interrupted (journeyd run/produce stopped)", file=sys.stderr)
        sys.exit(130)
