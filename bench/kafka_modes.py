#!/usr/bin/env python3
"""`journeyd run` throughput by processing.guarantee, and the restore time.

On the real broker (make kafka-up): one input file is produced into a topic
of PARTITIONS partitions; then `journeyd run` consumes it, once with
at_least_once and once with exactly_once (fresh groups), each until the
group's committed offsets reach the end offsets; events/s = events / that
wall time. Then the at_least_once group is started again: every task
restores its state from the changelog before reading, and the restore time
is the sum of the "task P: restored N changelog records in T ms" lines
(tasks restore one after another on one thread).

  /usr/bin/python3 bench/kafka_modes.py --journeyd build/bench/journeyd --input FILE \
      [--partitions 6] [--threads 1,2]
(Debian's python3, which has python3-confluent-kafka.) The wall time
includes joining the group and polling the committed offsets every 0.5 s.
Prints one JSON object."""
import argparse, json, os, re, subprocess, sys, tempfile, time
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

ap = argparse.ArgumentParser()
ap.add_argument("--journeyd", required=True)
ap.add_argument("--input", required=True)
ap.add_argument("--partitions", type=int, default=6)
ap.add_argument("--broker", default=os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
ap.add_argument("--timeout", type=int, default=900)
ap.add_argument("--threads", default="1", help="comma list of processing.threads to measure (at_least_once)")
a = ap.parse_args()
run_id = "modes-%d-%d" % (time.time(), os.getpid())
topic = run_id + ".in"
admin = AdminClient({"bootstrap.servers": a.broker})
admin.create_topics([NewTopic(topic, a.partitions, 1)])["%s" % topic].result()
t0 = time.monotonic()
subprocess.run([a.journeyd, "produce", "-b", a.broker, "-i", a.input, "-t", topic], check=True,
               stderr=subprocess.DEVNULL)
produce_s = time.monotonic() - t0
c = Consumer({"bootstrap.servers": a.broker, "group.id": run_id + "-probe", "enable.auto.commit": False})
ends = [c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(a.partitions)]
events = sum(ends)

def committed(group):
    g = Consumer({"bootstrap.servers": a.broker, "group.id": group, "enable.auto.commit": False})
    try:
        offs = g.committed([TopicPartition(topic, p) for p in range(a.partitions)], timeout=10)
        return [o.offset for o in offs]
    finally:
        g.close()

def run(mode, group, log, extra=()):
    cmd = [a.journeyd, "run", "-b", a.broker, "-t", topic, "-X", "kafka.group.id=" + group,
           "-X", "output.alerts_topic=%s.%s.alerts" % (run_id, mode),
           "-X", "output.dead_letter_topic=%s.dlq" % run_id, "-X", "http.listen=off",
           "-X", "processing.guarantee=" + mode, *extra]
    with open(log, "w") as err:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        while time.monotonic() - t0 < a.timeout:
            time.sleep(0.5)
            if p.poll() is not None:
                sys.exit("journeyd run exited: see " + log)
            if committed(group) == ends:
                break
        wall = time.monotonic() - t0
        p.terminate()
        p.wait(60)
    return wall

tmp = tempfile.mkdtemp()
out = {"events": events, "partitions": a.partitions, "produce_events_per_s": round(events / produce_s)}
for mode in ("at_least_once", "exactly_once"):
    wall = run(mode, run_id + "-" + mode, os.path.join(tmp, mode + ".log"))
    out[mode] = {"wall_s": round(wall, 2), "events_per_s": round(events / wall)}
out["exactly_once_vs_at_least_once"] = round(out["at_least_once"]["wall_s"] / out["exactly_once"]["wall_s"], 2)
for n in [int(x) for x in a.threads.split(",") if x.strip() and int(x) != 1]:
    key = "at_least_once_threads_%d" % n
    wall = run("at_least_once", run_id + "-t%d" % n, os.path.join(tmp, key + ".log"),
               ["-X", "processing.threads=%d" % n])
    out[key] = {"wall_s": round(wall, 2), "events_per_s": round(events / wall),
                "vs_1_thread": round(out["at_least_once"]["wall_s"] / wall, 2)}
# the restore: the same group again, nothing left to read
log = os.path.join(tmp, "restore.log")
run("at_least_once", run_id + "-at_least_once", log)
recs = ms = 0
for line in open(log):
    m = re.search(r"restored (\d+) changelog records in (\d+) ms", line)
    if m:
        recs += int(m.group(1)); ms += int(m.group(2))
out["restore"] = {"records": recs, "ms": ms}
print(json.dumps(out, indent=1))
