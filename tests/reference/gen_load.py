#!/usr/bin/env python3
"""gen_load.py — a production-like, deterministic load for the reference check.

    gen_load.py -n EVENTS [-s SEED] [--span-h HOURS] [--heavy-share F]
                [--heavy-h HOURS] [--heavy-pages N] [--dup-pct P] [--late-pct P] -o FILE

Unlike bench/gen.c, whose background can never fire a rule (so its truth
file is exact), this load fires every default rule often and leaves the
expected alerts to tests/reference/journeyd_ref.py. Same arguments, same
bytes (random.Random(seed) only). What it contains:

  * one heavy customer, customer_id "unknown" (a kiosk / catch-all id), with
    --heavy-share of the events (default half) at millisecond times over
    --heavy-pages pages (default 300, Zipf-popular) and many clicks on four
    elements — many live burst groups at once, thousands of alerts — and,
    every 2 minutes of its activity, a 2 s crawl of 300 events over random
    pages (more than 32 rage_click groups chaining at once);
  * the other events over regular customers (Pareto-sized, 1 to 300
    events, in sessions), times on a 250 ms grid so gaps of exactly 1 s,
    windows of exactly 15 s and equal timestamps are common: 65 % known,
    25 % stitched (anonymous events, then a `login` carrying both ids, then
    customer_id events with one in five still anonymous-only), 10 % never
    known; stitched customers have no own event before their link, where
    every reading of how rule states merge agrees;
  * boundary pairs: add_to_cart then, exactly 30 m later, a purchase after a
    checkout_start, or a support_contact at the drop-off's deadline
    (event before timeout) or 1 ms after it (timeout first); and some
    add_to_cart events in the last 20 minutes, pending at the end (or
    dropped with --flush-at-end);
  * arrival order = ts + U[0, 2 s) jitter (re-ordered within the default
    5 s lateness); --late-pct of events arrive 8-90 s behind (late);
    as many again at the lateness boundary (4.5-5.5 s behind); --dup-pct
    are sent twice, the copy 1-3 s later: half the same bytes, half a retry
    re-stamped 1-4 s later (for the heavy customer that is tens of its
    events later in ts order: more than journey.history, fewer than
    journey.dedupe_ids);
  * 95 % RFC 3339 "Z" times, 3 % epoch-ms integers, 2 % "+02:00" offsets;
    1 % of events carry no event_id (never duplicated).
"""
import argparse
import datetime
import json
import random
import sys

T0 = int(datetime.datetime(2026, 11, 22, 6, tzinfo=datetime.timezone.utc).timestamp() * 1000)
ELEMENTS = ["#buy", "#next", "#close", "button.submit", "a.more", "#menu"]
HEAVY_ELEMENTS = ["#start", "#next", "#print", "#help"]
CONTACT_CHANNELS = ["call", "chat", "email", "store", "web"]
REG_TYPES = [  # type, weight
    ("page_view", 40), ("click", 30), ("error", 5), ("login_failed", 3),
    ("payment_failed", 2), ("add_to_cart", 5), ("checkout_start", 4), ("purchase", 3),
    ("support_contact", 2), ("search", 3), ("email_open", 3),
]
HEAVY_TYPES = [
    ("page_view", 500), ("click", 440), ("error", 20), ("login_failed", 5),
    ("add_to_cart", 15), ("checkout_start", 10), ("purchase", 7), ("support_contact", 3),
]


def fmt_ts(rng, t):
    u = rng.random()
    if u < 0.03:
        return t
    if u < 0.05:
        d = datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=t + 7200000)
        return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03d+02:00" % (t % 1000)
    d = datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=t)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t % 1000)


def weighted(rng, table):
    names = [n for n, _ in table]
    weights = [w for _, w in table]
    return lambda: rng.choices(names, weights)[0]


def zipf_pick(rng, n, s=1.1):
    w = [1.0 / (i + 1) ** s for i in range(n)]
    return lambda: rng.choices(range(n), w)[0]


class Gen:
    def __init__(self, a):
        self.a = a
        self.rng = random.Random(a.seed)
        self.span = int(a.span_h * 3600000)
        self.evs = []       # (ts, fields dict)

    def add(self, t, **f):
        self.evs.append((t, f))

    def heavy(self, n):
        rng = self.rng
        pick_type = weighted(rng, HEAVY_TYPES)
        pick_page = zipf_pick(rng, self.a.heavy_pages)
        pick_el = zipf_pick(rng, len(HEAVY_ELEMENTS), 1.5)
        hspan = int(min(self.a.heavy_h or self.a.span_h, self.a.span_h) * 3600000)
        h0 = T0 + (self.span - hspan) // 2
        # Crawls: every 2 minutes, 300 events in 2 s over uniformly random
        # pages, so more than 32 click groups chain at once.
        crawls = [h0 + rng.randrange(hspan - 2000) for _ in range(min(n // 1200, hspan // 120000))]
        times = [(h0 + rng.randrange(hspan), False) for _ in range(n - 300 * len(crawls))]
        times += [(c + rng.randrange(2000), True) for c in crawls for _ in range(300)]
        times.sort()
        for t, crawl in times:
            if crawl:
                ty = "click" if rng.random() < 0.6 else "page_view"
                f = {"customer_id": "unknown", "type": ty, "channel": "store",
                     "session_id": "s-crawl", "page": "/kiosk/p-%03d" % rng.randrange(self.a.heavy_pages)}
                if ty == "click":
                    f["element"] = rng.choice(HEAVY_ELEMENTS)
                self.add(t, **f)
                continue
            ty = pick_type()
            f = {"customer_id": "unknown", "type": ty, "channel": "store",
                 "session_id": "s-kiosk-%d" % ((t - T0) // 600000)}
            if ty in ("page_view", "click"):
                f["page"] = "/kiosk/p-%03d" % pick_page()
            if ty == "click":
                f["element"] = HEAVY_ELEMENTS[pick_el()]
            if ty == "support_contact":
                f["channel"] = rng.choice(CONTACT_CHANNELS)
            self.add(t, **f)

    def regular(self, budget):
        rng = self.rng
        pick_type = weighted(rng, REG_TYPES)
        pick_page = zipf_pick(rng, 200, 1.0)
        k = 0
        while budget > 0:
            n = min(budget, 1 + min(299, int(rng.paretovariate(1.3) * 2)))
            budget -= n
            k += 1
            u = rng.random()
            cls = "known" if u < 0.65 else "stitch" if u < 0.90 else "anon"
            if cls == "stitch" and n < 2:
                cls = "known"
            cid, aid = "c-%d" % k, "a-%08x" % rng.getrandbits(32)
            device = rng.choice(["web", "app"])
            times = []
            while len(times) < n:
                t = T0 + rng.randrange(self.span - 2 * 3600000) // 250 * 250
                for _ in range(min(n - len(times), rng.randint(3, 20))):
                    times.append(t)
                    r = rng.random()
                    t += (0 if r < 0.05 else rng.randint(1, 4) * 250 if r < 0.25
                          else int(rng.expovariate(1 / 3000)) // 250 * 250 if r < 0.8
                          else rng.randint(10, 480) * 250)
            times.sort()
            link = rng.randint(1, min(n - 1, 8)) if cls == "stitch" else None
            page, el = None, None
            for i, t in enumerate(times):
                if link is not None and i > link:
                    t = times[i] = max(t, times[link] + 250)
                if cls == "known" or (link is not None and i > link and rng.random() < 0.8):
                    who = {"customer_id": cid}
                elif link is not None and i == link:
                    who = {"customer_id": cid, "anonymous_id": aid}
                else:
                    who = {"anonymous_id": aid}
                ty = "login" if link is not None and i == link else pick_type()
                f = dict(who, type=ty, channel=device, session_id="s-%d-%d" % (k, t // 1800000))
                if ty == "page_view":
                    if page is None or rng.random() > 0.3:
                        page = "/p/%d" % pick_page()
                    f["page"] = page
                elif ty == "click":
                    if page is None:
                        page = "/p/%d" % pick_page()
                    if el is None or rng.random() > 0.5:
                        el = rng.choice(ELEMENTS)
                    f["page"], f["element"] = page, el
                elif ty == "support_contact":
                    f["channel"] = rng.choice(CONTACT_CHANNELS)
                self.add(t, **f)
            if rng.random() < 0.03:
                self.boundary(cid, device, times[-1] + 3600000)
            elif rng.random() < 0.01:    # still open at the end: pending
                self.add(T0 + self.span - rng.randrange(1200000) // 250 * 250,
                         customer_id=cid, type="add_to_cart", channel=device)
        return k

    def boundary(self, cid, device, t):
        """Funnel deadline ties: exactly start + 30 m."""
        t = min(t, T0 + self.span - 3600000)
        c = {"customer_id": cid, "channel": device}
        self.add(t, type="add_to_cart", **c)
        v = self.rng.randrange(3)
        if v == 0:                       # completes at the deadline
            self.add(t + 60000, type="checkout_start", **c)
            self.add(t + 1800000, type="purchase", **c)
        else:                            # contact at / just after the deadline
            self.add(t - 1000, type="payment_failed", **c) if self.rng.random() < 0.3 else None
            self.add(t + 1800000 + (v - 1), type="support_contact",
                     **dict(c, channel="call"))

    def write(self, path):
        rng, a = self.rng, self.a
        out = []     # (arrival key, seq, line)
        seq = 0
        for i, (t, f) in enumerate(self.evs):
            d = {}
            has_id = rng.random() >= 0.01
            if has_id:
                d["event_id"] = "e-%d" % i
            d["ts"] = fmt_ts(rng, t)
            d.update(f)
            line = json.dumps(d, separators=(",", ":"))
            u = rng.random() * 100
            if u < a.late_pct:
                key = t + rng.randint(8000, 90000)
            elif u < 2 * a.late_pct:
                key = t + rng.randint(4500, 5500)      # at the lateness boundary
            else:
                key = t + rng.randrange(2000)
            out.append((key, seq, line))
            seq += 1
            if has_id and rng.random() * 100 < a.dup_pct:
                # Half are redeliveries of the same bytes. The others are
                # retries re-stamped 1-4 s later: evaluated in ts order, only
                # those sit many of the customer's events after the original.
                t2 = t
                if rng.random() < 0.5:
                    t2 = t + rng.randint(4, 16) * 250
                    line = line.replace(json.dumps(d["ts"]), json.dumps(fmt_ts(rng, t2)), 1)
                out.append((t2 + rng.randint(1000, 3000), seq, line))
                seq += 1
        out.sort()
        with open(path, "w") as fh:
            for _, _, line in out:
                fh.write(line + "\n")
        return len(out)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("-n", "--events", type=int, required=True)
    p.add_argument("-s", "--seed", type=int, default=1)
    p.add_argument("--span-h", type=float, default=6)
    p.add_argument("--heavy-share", type=float, default=0.5)
    p.add_argument("--heavy-h", type=float, help="hours the heavy customer is active "
                   "(centred in the span; default the whole span)")
    p.add_argument("--heavy-pages", type=int, default=300)
    p.add_argument("--dup-pct", type=float, default=0.5)
    p.add_argument("--late-pct", type=float, default=0.3)
    p.add_argument("-o", "--output", required=True)
    a = p.parse_args()
    if a.span_h < 3:
        p.error("--span-h must be at least 3")
    g = Gen(a)
    n_heavy = int(a.events * a.heavy_share)
    g.heavy(n_heavy)
    customers = g.regular(a.events - n_heavy)
    lines = g.write(a.output)
    print("gen_load: %d lines (%d events, %d of them the heavy customer's), %d regular "
          "customers, seed %d" % (lines, len(g.evs), n_heavy, customers, a.seed), file=sys.stderr)


if __name__ == "__main__":
    main()
