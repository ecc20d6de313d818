#!/usr/bin/env python3
"""`journeyd run` throughput with input.keyed_by=any against keyed_by=customer.

On the real broker (make kafka-up). The same input file is produced twice
into topics of PARTITIONS partitions: keyed by resolved customer (`produce
--key-by resolved`, for keyed_by=customer) and keyed as a tracker keys it
(`--key-by raw`, for keyed_by=any). `replay` of the file gives the expected
alert count N. Each mode then runs in a fresh group until its alert topic
holds N alerts; events/s = input events / that wall time (which includes
joining the group and restoring the empty tasks, the same for both). For
keyed_by=any the hand-overs are read from the run's stop log.

  /usr/bin/python3 bench/keyed_modes.py --journeyd build/journeyd --input FILE \\
      [--partitions 6] [--instances 1]
The input must end with events in every partition that close the windows
(tests/e2e/faults/anygen.py writes such loads). Prints one JSON object."""
import argparse
import json
import os
import re
import subprocess
import sys
import time

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

ap = argparse.ArgumentParser()
ap.add_argument("--journeyd", required=True)
ap.add_argument("--input", required=True)
ap.add_argument("--partitions", type=int, default=6)
ap.add_argument("--instances", type=int, default=1)
ap.add_argument("--broker", default=os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
ap.add_argument("--timeout", type=int, default=900)
a = ap.parse_args()
rid = "keyed-%d-%d" % (time.time(), os.getpid())
admin = AdminClient({"bootstrap.servers": a.broker})

expected = sum(1 for _ in subprocess.run(
    [a.journeyd, "replay", "-i", a.input], check=True, capture_output=True, text=True
).stdout.splitlines())


def alerts_in(topic):
    c = Consumer({"bootstrap.servers": a.broker, "group.id": rid + "-probe"})
    try:
        md = c.list_topics(topic, timeout=10)
        if topic not in md.topics or md.topics[topic].error:
            return 0
        return sum(c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                   for p in md.topics[topic].partitions)
    finally:
        c.close()


def run(mode, key_by):
    topic = "%s-%s.in" % (rid, mode)
    admin.create_topics([NewTopic(topic, a.partitions, 1)])[topic].result()
    subprocess.run([a.journeyd, "produce", "-b", a.broker, "-i", a.input, "-t", topic,
                    "--key-by", key_by], check=True, stderr=subprocess.DEVNULL)
    c = Consumer({"bootstrap.servers": a.broker, "group.id": rid + "-ends"})
    events = sum(c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                 for p in range(a.partitions))
    c.close()
    group = "%s-%s" % (rid, mode)
    alerts = group + ".alerts"
    cmd = [a.journeyd, "run", "-b", a.broker, "-t", topic, "-X", "kafka.group.id=" + group,
           "-X", "output.alerts_topic=" + alerts, "-X", "output.dead_letter_topic=" + group + ".dlq",
           "-X", "http.listen=off", "-X", "time.idle_advance=1s", "-X", "input.keyed_by=" + mode]
    logs = [open("/tmp/%s-%d.log" % (group, i), "w+") for i in range(a.instances)]
    t0 = time.monotonic()
    procs = [subprocess.Popen(cmd, stderr=logs[i]) for i in range(a.instances)]
    deadline = t0 + a.timeout
    got = 0
    while time.monotonic() < deadline:
        got = alerts_in(alerts)
        if got >= expected:
            break
        time.sleep(0.25)
    wall = time.monotonic() - t0
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(timeout=120)
    handovers = 0
    for f in logs:
        f.seek(0)
        m = re.findall(r"(\d+) hand-overs sent", f.read())
        handovers += int(m[-1]) if m else 0
        f.close()
    return {"events": events, "alerts": got, "wall_s": round(wall, 2),
            "events_per_s": round(events / wall), "handovers": handovers,
            "handovers_per_s": round(handovers / wall, 1)}


out = {"input": a.input, "partitions": a.partitions, "instances": a.instances,
       "expected_alerts": expected}
out["customer"] = run("customer", "resolved")
out["any"] = run("any", "raw")
out["ratio_any_to_customer"] = round(out["any"]["events_per_s"] / out["customer"]["events_per_s"], 2)
json.dump(out, sys.stdout, indent=1)
print()
