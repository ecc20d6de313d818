#!/usr/bin/env python3
"""explain_bounds.py — journeyd_ref.py plus the bounds journeyd 86b2ac9 has.

A diagnostic, not a reference: same command line as journeyd_ref.py, but the
model is bent to reproduce three limits read from journeyd's source, so that

    compare.py --model tests/reference/explain_bounds.py LOAD

passing shows those limits explain every difference compare.py reports
with the real reference (nothing else is wrong):

  burst     at most 32 groups per customer per rule (src/rules/rule_burst.c
            BURST_MAX_GROUPS): every matching event first prunes all
            groups, a 33rd group evicts the one whose newest event is
            oldest (the first in journeyd's swap-remove array on a tie;
            groups a merge brings in are appended, an approximation);
  sequence  at most 32 first occurrences (src/rules/rule_sequence.c
            SEQ_MAX_OCC), pruned to `within` on every event, the oldest
            dropped when full;
  dedupe    only the last journey.history (16) evaluated events are checked
            (src/engine/engine.c journey_seen); a merge interleaves both
            histories by ts (anonymous first on ties) and keeps the last 16.

Each can be switched off (--no-burst-cap, --no-sequence-cap,
--no-dedupe-history) to see which difference which limit explains.
"""
import sys
from collections import deque

import journeyd_ref as ref

CAP_GROUPS, CAP_FIRSTS, HISTORY = 32, 32, 16


def _swap_remove(order, i):
    order[i] = order[-1]
    order.pop()


def burst_on_event(self, eng, j, ev):
    """Mirrors the group array: swap-remove, first oldest-newest victim."""
    if not self.match(ev):
        return
    groups = j.bursts[self.name]
    order = ORDER.setdefault((id(j), self.name), [])
    if len(order) != len(groups) or any(k not in groups for k in order):
        order[:] = [k for k in order if k in groups] + [k for k in groups if k not in order]
    t = ev["_t"]
    i = 0
    while i < len(order):
        g = groups[order[i]]
        if self.gap is not None:
            if t - g[-1]["_t"] > self.gap:
                g.clear()
        else:
            while g and t - g[0]["_t"] > self.within:
                g.pop(0)
        if not g:
            del groups[order[i]]
            _swap_remove(order, i)
        else:
            i += 1
    key = tuple(ev.get(f) for f in self.same)
    if key not in groups:
        if len(order) >= CAP_GROUPS:
            v = 0
            for i in range(1, len(order)):
                if groups[order[i]][-1]["_t"] < groups[order[v]][-1]["_t"]:
                    v = i
            del groups[order[v]]
            _swap_remove(order, v)
        order.append(key)
    ORIG_BURST(self, eng, j, ev)
    if key not in groups:                       # fired: its group goes
        _swap_remove(order, order.index(key))


def seq_prune_add(self, j, occ):
    firsts = j.firsts[self.name]
    if len(firsts) >= CAP_FIRSTS:
        firsts.pop(0)
    i = len(firsts)
    while i > 0 and firsts[i - 1]["t"] > occ["t"]:
        i -= 1
    firsts.insert(i, occ)


def seq_on_event(self, eng, j, ev):
    t = ev["_t"]
    firsts = j.firsts[self.name]
    while firsts and t - firsts[0]["t"] > self.within:
        firsts.pop(0)
    if any(f(ev) for f in self.then_filters) and firsts:
        live = list(firsts)
        firsts.clear()
        eng.emit(j, self, t, [ev], {"first": live})
    if any(f(ev) for f in self.first_filters):
        seq_prune_add(self, j, {"t": t, "n": ev["_n"], "event_id": ev.get("event_id")})


def seq_on_alert(self, j, rule_name, t):
    if rule_name in self.first_alerts:
        seq_prune_add(self, j, {"t": t, "rule": rule_name})


def evaluate(self, ev):
    t = ev["_t"]
    self.fire_before(t)
    j = self.journey_of(ev)
    hist = HISTS.setdefault(id(j), deque(maxlen=HISTORY))
    eid = ev.get("event_id")
    if eid is not None and any(h[1] == eid for h in hist):
        self.stats["duplicates"] += 1
        return
    hist.append((t, eid))
    self.stats["evaluated"] += 1
    for r in self.rules:
        r.on_event(self, j, ev)


def link(self, a, c, cj):
    aj = self.anons.get(a)
    if aj is not None and aj.merged_into is None:
        ha = HISTS.get(id(aj), deque())
        hj = HISTS.setdefault(id(cj), deque(maxlen=HISTORY))
        both = sorted([(h[0], 0, i, h) for i, h in enumerate(ha)] +
                      [(h[0], 1, i, h) for i, h in enumerate(hj)])
        hj.clear()
        hj.extend(x[3] for x in both)
    ORIG_LINK(self, a, c, cj)


HISTS, ORDER = {}, {}
ORIG_BURST = ref.Burst.on_event
ORIG_LINK = ref.Engine.link

if __name__ == "__main__":
    argv = sys.argv[1:]
    if "--no-burst-cap" in argv:
        argv.remove("--no-burst-cap")
    else:
        ref.Burst.on_event = burst_on_event
    if "--no-sequence-cap" in argv:
        argv.remove("--no-sequence-cap")
    else:
        ref.Sequence.on_event = seq_on_event
        ref.Sequence.on_alert = seq_on_alert
    if "--no-dedupe-history" in argv:
        argv.remove("--no-dedupe-history")
    else:
        ref.Engine.evaluate = evaluate
        ref.Engine.link = link
    sys.exit(ref.main(argv))
