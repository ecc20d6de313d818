"""Offline checks of docker/ (no Docker engine needed): compose file, Dockerfile
health check, Prometheus scrape target, Grafana provisioning, and that every
metric the dashboard queries is one journeyd serves.

usage: check_docker.py ROOT METRICS_DUMP RULES_OUT
  METRICS_DUMP  a /metrics rendering with every metric populated
                (JD_METRICS_DUMP=FILE build/tests/test_metrics)
  RULES_OUT     where to write the dashboard's queries as a Prometheus rule
                file, for `promtool check rules` (syntax of every query)
Prints one line per failure; exit 1 if any.
"""
import json
import re
import sys

import yaml

root, dump_path, rules_out = sys.argv[1:4]
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)


def load_yaml(rel):
    with open(f"{root}/{rel}") as f:
        return yaml.safe_load(f)


# compose: the four services, journeyd built from docker/Dockerfile and
# serving http on the port Prometheus scrapes
compose = load_yaml("docker/compose.yml")
services = compose.get("services", {})
for name in ("kafka", "journeyd", "prometheus", "grafana"):
    check(name in services, f"compose.yml: service {name} missing")
kafka = services.get("kafka", {})
check(str(kafka.get("image", "")).startswith("apache/kafka:"), "compose.yml: kafka is not the official apache/kafka image")
env = kafka.get("environment", {})
check("controller" in str(env.get("KAFKA_PROCESS_ROLES", "")), "compose.yml: kafka is not in KRaft mode (process.roles)")
jd = services.get("journeyd", {})
check(jd.get("build", {}).get("dockerfile") == "docker/Dockerfile", "compose.yml: journeyd not built from docker/Dockerfile")
cmd = jd.get("command", [])
listen = [a.split("=", 1)[1] for a in cmd if isinstance(a, str) and a.startswith("http.listen=")]
check(listen and listen[0].startswith("0.0.0.0:"), "compose.yml: journeyd must listen on 0.0.0.0 for Prometheus")
port = listen[0].rsplit(":", 1)[1] if listen else "?"
boot = [a for a in cmd if isinstance(a, str) and a.startswith("kafka.bootstrap.servers=")]
check(boot == ["kafka.bootstrap.servers=kafka:19092"], f"compose.yml: journeyd bootstrap {boot} is not the kafka service's listener")
check("PLAINTEXT://kafka:19092" in str(env.get("KAFKA_ADVERTISED_LISTENERS", "")), "compose.yml: kafka does not advertise kafka:19092")
graf = services.get("grafana", {})
vols = " ".join(graf.get("volumes", []))
check("./grafana/provisioning:/etc/grafana/provisioning" in vols, "compose.yml: grafana provisioning not mounted")
check("./grafana/journeyd.json:" in vols, "compose.yml: dashboard not mounted")
check("./prometheus.yml:/etc/prometheus/prometheus.yml" in " ".join(services.get("prometheus", {}).get("volumes", [])),
      "compose.yml: prometheus.yml not mounted")

# Dockerfile: runtime library for libmicrohttpd, a HEALTHCHECK on /healthz
# with a tool the slim image has (bash), the port the image listens on
with open(f"{root}/docker/Dockerfile") as f:
    dockerfile = f.read()
check("libmicrohttpd-dev" in dockerfile and "libmicrohttpd12" in dockerfile, "Dockerfile: libmicrohttpd build/runtime package missing")
hc = [l for l in dockerfile.splitlines() if "/healthz" in l]
check(bool(re.search(r"^HEALTHCHECK ", dockerfile, re.M)) and hc, "Dockerfile: no HEALTHCHECK on /healthz")
check(not any(t in " ".join(hc) for t in ("curl", "wget")), "Dockerfile: health check uses a tool the slim image lacks")
check(f"JOURNEYD_HTTP_PORT={port}" in dockerfile, f"Dockerfile: health check port is not {port}")

# Prometheus scrapes journeyd at that port
prom = load_yaml("docker/prometheus.yml")
targets = [t for sc in prom.get("scrape_configs", []) for s in sc.get("static_configs", []) for t in s.get("targets", [])]
check(f"journeyd:{port}" in targets, f"prometheus.yml: no target journeyd:{port} ({targets})")

# Grafana: the provisioned data source is the one the dashboard names
ds = load_yaml("docker/grafana/provisioning/datasources/prometheus.yml")["datasources"]
uids = {d.get("uid") for d in ds}
prov = load_yaml("docker/grafana/provisioning/dashboards/journeyd.yml")["providers"]
check(prov and prov[0]["options"]["path"] == "/var/lib/grafana/dashboards", "grafana: dashboard provider path differs from the mount")
with open(f"{root}/docker/grafana/journeyd.json") as f:
    dash = json.load(f)
exprs = []
for p in dash.get("panels", []):
    check(p.get("datasource", {}).get("uid") in uids, f"dashboard panel {p.get('title')}: data source not provisioned")
    for t in p.get("targets", []):
        exprs.append((p.get("title"), t["expr"]))
check(len(exprs) >= 8, "dashboard: too few queries")

# every journeyd_* name in a query is a sample name /metrics serves
served = set()
with open(dump_path) as f:
    for line in f:
        if line.strip() and not line.startswith("#"):
            served.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))
check("journeyd_build_info" in served, f"{dump_path}: not a metrics rendering")
# docs/operations.md lists every metric of the table
with open(f"{root}/docs/operations.md") as f:
    ops_doc = f.read()
with open(dump_path) as f:
    typed = [l.split()[2] for l in f if l.startswith("# TYPE ")]
for name in typed:
    check(f"| `{name}` |" in ops_doc, f"docs/operations.md: metric {name} is not in the table")
used = set()
for title, e in exprs:
    for name in re.findall(r"\bjourneyd_[a-zA-Z0-9_:]*", e):
        used.add(name)
        check(name in served, f"dashboard panel \"{title}\": {name} is not a metric journeyd serves")
for must in ("journeyd_alerts_total", "journeyd_dead_letters_total", "journeyd_consumer_lag",
             "journeyd_watermark_delay_seconds", "journeyd_checkpoint_duration_seconds_bucket", "journeyd_rule_info"):
    check(must in used, f"dashboard: no panel queries {must}")

# the queries as recording rules, for promtool's parser
with open(rules_out, "w") as f:
    yaml.safe_dump({"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:q{i}", "expr": e.replace("$__rate_interval", "1m")}
        for i, (_, e) in enumerate(exprs)]}]}, f)

for msg in failures:
    print("FAIL " + msg)
print(f"{len(exprs)} dashboard queries, {len(used)} metric names, {len(failures)} failures")
sys.exit(1 if failures else 0)
