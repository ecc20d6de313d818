"""Load generator with many identity stitches, keyed as a web tracker keys
(input.keyed_by=any). Deterministic: same arguments (seed, base date),
same bytes.

    python3 anygen.py -n EVENTS -s SEED -o FILE [--truth FILE] [--base YYYY-MM-DD]

Users, each a story chosen by the seed:
  - known (15%): a customer who is logged in from the start: a drop-off,
    a completed checkout, payment_failed then a call, or two contacts;
  - anonymous (25%): a device that never logs in: a rage click, a page
    loop, a drop-off or plain browsing;
  - stitched (60%): a customer with 1-3 devices (anonymous ids). Every
    device starts anonymous, logs in (one event with both ids) and goes on
    as the customer. Each device plays one stitched story, a different one
    per device, 40+ minutes apart:
      s_complete   anon add_to_cart, anon checkout_start, login, purchase:
                   no alert (without the link the anonymous funnel drops off)
      s_dropoff    anon add_to_cart, login, checkout_start: checkout_dropoff
                   of the customer
      s_escalation anon app error, login, support_contact by call:
                   channel_escalation of the customer
      s_burst      2 anon errors, login, 1 error: error_burst of the customer
      s_burst_late anon error, login, an error carrying only the anonymous id
                   (after the link), 1 error: error_burst of the customer
    Every alert of a stitched customer needs its link: its evidence holds
    events of an anonymous id.
Background page views and clicks (pages and elements unique per user, no
error or commerce event) cannot fire a default rule.

File order is event time plus U[0, 1900) ms of jitter: less than 2 s of
disorder, inside the default time.lateness of 5 s.

The truth file has one line per expected alert of the default rules:
{"rule", "identity": "customer"|"anonymous", "id", "link": true|false,
"story"}; a stitched customer's alerts are the ones with "link": true.
"""
import argparse
import datetime
import json
import random

SPAN_MS = 6 * 3600 * 1000
GAP_MS = 40 * 60 * 1000  # between two stories of one customer (> the funnel's 30 m)

KNOWN = ["k_dropoff", "k_complete", "k_escalation", "k_repeat"]
ANON = ["a_rage", "a_loop", "a_dropoff", "a_browse"]
STITCHED = ["s_complete", "s_dropoff", "s_escalation", "s_burst", "s_burst_late"]
STITCHED_W = [25, 25, 20, 20, 10]

# story -> the default rule its alert comes from (None: no alert)
ALERT = {
    "k_dropoff": "checkout_dropoff", "k_complete": None, "k_escalation": "channel_escalation",
    "k_repeat": "repeat_contact",
    "a_rage": "rage_click", "a_loop": "page_loop", "a_dropoff": "checkout_dropoff",
    "a_browse": None,
    "s_complete": None, "s_dropoff": "checkout_dropoff", "s_escalation": "channel_escalation",
    "s_burst": "error_burst", "s_burst_late": "error_burst",
}


def fmt(ms):
    t = datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=ms)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % (ms % 1000)


def default_base():
    """Midnight UTC three days ago: the load (6 h) and the harness's tail (a
    day after the last event) both lie in the past (time.max_future)."""
    d = datetime.datetime.now(datetime.timezone.utc).date() - datetime.timedelta(days=3)
    return d.isoformat()


class Gen:
    def __init__(self, seed, base_ms):
        self.r = random.Random(seed)
        self.base = base_ms
        self.events = []   # (sort key, ts, dict)
        self.truth = []
        self.nev = 0
        self.counts = {}
        self.links = 0

    def ev(self, ts, typ, cid=None, aid=None, channel="web", **more):
        self.nev += 1
        e = {"event_id": "e%d" % self.nev, "ts": fmt(self.base + ts)}
        if cid is not None:
            e["customer_id"] = cid
        if aid is not None:
            e["anonymous_id"] = aid
        e["type"] = typ
        e["channel"] = channel
        e.update(more)
        self.events.append((ts + self.r.randrange(1900), e))
        if cid is not None and aid is not None:
            self.links += 1

    def background(self, t0, t1, cid, aid, user, n, channel):
        """n page views / clicks in [t0, t1], on pages and elements of this
        user only, each distinct."""
        for i in range(n):
            k = self.bg_seq = getattr(self, "bg_seq", 0) + 1
            t = self.r.randint(t0, t1) if t1 > t0 else t0
            if self.r.random() < 0.3:
                self.ev(t, "click", cid, aid, channel, page="/u%d/p%d" % (user, k),
                        element="#u%d-%d" % (user, k))
            else:
                self.ev(t, "page_view", cid, aid, channel, page="/u%d/p%d" % (user, k))

    def expect(self, story, rule, kind, ident, link):
        self.counts[story] = self.counts.get(story, 0) + 1
        if rule:
            self.truth.append({"rule": rule, "identity": kind, "id": ident, "link": link,
                               "story": story})

    # ---- stories: each returns its duration in ms -------------------------

    def known(self, user, t):
        r = self.r
        c = "c-%06d" % user
        story = r.choice(KNOWN)
        self.background(t - 120000, t - 5000, c, None, user, r.randint(1, 3), "web")
        if story in ("k_dropoff", "k_complete"):
            self.ev(t, "add_to_cart", c, page="/cart")
            t2 = t + r.randint(60000, 180000)
            self.ev(t2, "checkout_start", c, page="/checkout")
            end = t2
            if story == "k_complete":
                end = t2 + r.randint(60000, 600000)
                self.ev(end, "purchase", c, page="/confirm")
        elif story == "k_escalation":
            self.ev(t, "payment_failed", c, page="/pay")
            end = t + r.randint(300000, 3000000)
            self.ev(end, "support_contact", c, channel=r.choice(["call", "chat"]))
        else:
            self.ev(t, "support_contact", c, channel="chat")
            end = t + r.randint(600000, 5400000)
            self.ev(end, "support_contact", c, channel="call")
        self.expect(story, ALERT[story], "customer", c, False)
        return end - t

    def anonymous(self, user, t):
        r = self.r
        a = "a-%06d-0" % user
        dev = r.choice(["web", "app"])
        story = r.choice(ANON)
        self.background(t - 120000, t - 5000, None, a, user, r.randint(1, 4), dev)
        end = t
        if story == "a_rage":
            self.ev(t, "page_view", None, a, dev, page="/rage")
            for i in range(3):  # 3 clicks ~300 ms apart (gap 1 s)
                end = t + 2000 + i * 300 + r.randint(-40, 40)
                self.ev(end, "click", None, a, dev, page="/rage", element="#buy")
        elif story == "a_loop":
            for dt in (0, r.randint(4000, 6000), r.randint(9000, 12000)):
                end = t + dt
                self.ev(end, "page_view", None, a, dev, page="/loop")
        elif story == "a_dropoff":
            self.ev(t, "add_to_cart", None, a, dev, page="/cart")
            end = t + r.randint(60000, 180000)
            self.ev(end, "checkout_start", None, a, dev, page="/checkout")
        self.expect(story, ALERT[story], "anonymous", a, False)
        self.background(end + 5000, end + 120000, None, a, user, r.randint(0, 3), dev)
        return end - t + 120000

    def stitched_device(self, user, dev_no, story, t):
        r = self.r
        c = "c-%06d" % user
        a = "a-%06d-%d" % (user, dev_no)
        dev = r.choice(["web", "app"])
        self.background(t - 120000, t - 5000, None, a, user, r.randint(1, 3), dev)
        if story == "s_complete":
            self.ev(t, "add_to_cart", None, a, dev, page="/cart")
            t2 = t + r.randint(60000, 180000)
            self.ev(t2, "checkout_start", None, a, dev, page="/checkout")
            t3 = t2 + r.randint(20000, 60000)
            self.ev(t3, "login", c, a, dev, page="/login")
            end = t3 + r.randint(60000, 400000)
            self.ev(end, "purchase", c, None, dev, page="/confirm")
        elif story == "s_dropoff":
            self.ev(t, "add_to_cart", None, a, dev, page="/cart")
            t2 = t + r.randint(60000, 120000)
            self.ev(t2, "login", c, a, dev, page="/login")
            end = t2 + r.randint(60000, 180000)
            self.ev(end, "checkout_start", c, None, dev, page="/checkout")
        elif story == "s_escalation":
            self.ev(t, "error", None, a, "app", page="/pay")
            t2 = t + r.randint(30000, 90000)
            self.ev(t2, "login", c, a, dev, page="/login")
            end = t2 + r.randint(300000, 3000000)
            self.ev(end, "support_contact", c, None, "call")
        elif story == "s_burst":
            self.ev(t, "error", None, a, dev, page="/pay")
            self.ev(t + r.randint(8000, 15000), "error", None, a, dev, page="/pay")
            t3 = t + r.randint(20000, 25000)
            self.ev(t3, "login", c, a, dev, page="/login")
            end = t + r.randint(30000, 45000)
            self.ev(end, "error", c, None, dev, page="/pay")
        else:  # s_burst_late
            self.ev(t, "error", None, a, dev, page="/pay")
            self.ev(t + r.randint(10000, 15000), "login", c, a, dev, page="/login")
            self.ev(t + r.randint(20000, 28000), "error", None, a, dev, page="/pay")
            end = t + r.randint(35000, 45000)
            self.ev(end, "error", c, None, dev, page="/pay")
        self.expect(story, ALERT[story], "customer", c, True)
        self.background(end + 5000, end + 120000, c, None, user, r.randint(1, 3), dev)
        return end - t + 120000

    def stitched(self, user, t):
        r = self.r
        ndev = r.choices([1, 2, 3], [50, 35, 15])[0]
        stories, pool, w = [], list(STITCHED), list(STITCHED_W)
        for _ in range(ndev):
            s = r.choices(pool, w)[0]
            i = pool.index(s)
            pool.pop(i)
            w.pop(i)
            stories.append(s)
        start = t
        for d, s in enumerate(stories):
            t += self.stitched_device(user, d, s, t) + GAP_MS + r.randint(0, 600000)
        return t - start

    def user(self, i):
        r = self.r
        kind = r.choices(["known", "anon", "stitched"], [15, 25, 60])[0]
        # leave room for 3 stitched stories (~3 x 100 min) after the start
        t = 300000 + r.randint(0, SPAN_MS - 5 * 3600 * 1000)
        getattr(self, {"known": "known", "anon": "anonymous", "stitched": "stitched"}[kind])(i, t)

    def write(self, path):
        self.events.sort(key=lambda x: x[0])
        with open(path, "w") as out:
            for _, e in self.events:
                out.write(json.dumps(e, separators=(",", ":")) + "\n")


def generate(path, events, seed, base=None, truth=None):
    """Writes about `events` events (whole users); returns a summary dict."""
    base = base or default_base()
    d = datetime.datetime.strptime(base, "%Y-%m-%d")
    base_ms = int((d - datetime.datetime(1970, 1, 1)).total_seconds() * 1000)
    g = Gen(seed, base_ms)
    users = 0
    while len(g.events) < events:
        g.user(users)
        users += 1
    g.write(path)
    if truth:
        with open(truth, "w") as out:
            for t in g.truth:
                out.write(json.dumps(t, separators=(",", ":")) + "\n")
    return {"events": len(g.events), "users": users, "links": g.links,
            "alerts": len(g.truth), "link_alerts": sum(1 for t in g.truth if t["link"]),
            "stories": dict(sorted(g.counts.items())), "truth": g.truth}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=30000)
    ap.add_argument("-s", type=int, default=1)
    ap.add_argument("-o", required=True)
    ap.add_argument("--truth")
    ap.add_argument("--base", help="first day, YYYY-MM-DD (default: three days ago)")
    a = ap.parse_args()
    s = generate(a.o, a.n, a.s, a.base, a.truth)
    s.pop("truth")
    print(json.dumps(s))


if __name__ == "__main__":
    main()
