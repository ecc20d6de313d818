/*
 * burst: `count` matching events of one customer (per "same" group), either
 * chained by `gap` or inside a sliding `within` window. Firing consumes the
 * events, so the next alert needs `count` new ones.
 *
 * Group state is exact (contract section 5): a group is forgotten only when
 * none of its events can still chain, i.e. its newest event is more than
 * `gap` (or `within`) before now. Groups sit in a list ordered by their
 * newest event, oldest first, so the dead ones are always a prefix of it
 * and go in O(1) each; a hash index finds a group by its values once a
 * customer has more than a few. journey.max_groups bounds the live groups
 * against hostile key spaces: beyond it the least recently active group is
 * dropped and counted (groups_evicted).
 *
 * Most customers hold one or two small groups, so the structs are lean: a
 * circular list with one head pointer, and each group's values and events
 * in the group's own allocation, found by offset rather than by pointer.
 */
#include <stdlib.h>
#include <string.h>
#include "journeyd/rule.h"
#include "journeyd/timeutil.h"

/* Up to this many groups a lookup scans the list; beyond it the index. */
#define BURST_SCAN 8

/* Followed in the same allocation by nsame interned values (NULL =
 * absent) and room for rule->count events, oldest first. */
typedef struct burst_group {
    struct burst_group *next, *prev;  /* circular, by newest event */
    uint32_t n;                       /* pending events */
} burst_group_t;

typedef struct burst_state {
    burst_group_t *head;           /* least recently active; head->prev the most */
    uint32_t ngroups;
    uint32_t icap;                 /* index slots, a power of two; 0 = none yet */
    burst_group_t **index;         /* open addressing, linear probing */
} burst_state_t;

static const char **g_vals(const burst_group_t *g)
{
    return (const char **)(g + 1);
}

static jd_evid_t *g_ev(const jd_rule_t *r, const burst_group_t *g)
{
    return (jd_evid_t *)(g_vals(g) + r->nsame);
}

/* The list: first, last, next and previous, NULL past either end. */
static burst_group_t *l_first(const burst_state_t *s)
{
    return s->head;
}

static burst_group_t *l_last(const burst_state_t *s)
{
    return s->head ? s->head->prev : NULL;
}

static burst_group_t *l_next(const burst_state_t *s, const burst_group_t *g)
{
    return g->next == s->head ? NULL : g->next;
}

static burst_group_t *l_prev(const burst_state_t *s, const burst_group_t *g)
{
    return g == s->head ? NULL : g->prev;
}

static void l_remove(burst_state_t *s, burst_group_t *g)
{
    if (g->next == g) {
        s->head = NULL;
        return;
    }
    g->prev->next = g->next;
    g->next->prev = g->prev;
    if (s->head == g)
        s->head = g->next;
}

/* Inserts g after q, or at the head when q is NULL. */
static void l_insert_after(burst_state_t *s, burst_group_t *q, burst_group_t *g)
{
    if (!s->head) {
        g->next = g->prev = g;
        s->head = g;
        return;
    }
    burst_group_t *after = q ? q : s->head->prev;
    g->prev = after;
    g->next = after->next;
    after->next->prev = g;
    after->next = g;
    if (!q)
        s->head = g;
}

/* The most time between an event and a later one it can still chain with. */
static int64_t burst_window(const jd_rule_t *r)
{
    return r->gap_ms > 0 ? r->gap_ms : r->within_ms;
}

static int64_t group_last_ts(const jd_rule_t *r, const burst_group_t *g)
{
    return g_ev(r, g)[g->n - 1].ts;
}

/* Values are interned: pointer equality is string equality, and a hash of
 * the pointers only ever serves lookups, never an order. */
static uint64_t vals_hash(const char *const *vals, uint32_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (uint32_t i = 0; i < n; i++)
        h = (h ^ (uint64_t)(uintptr_t)vals[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static uint64_t group_hash(const jd_rule_t *r, const burst_group_t *g)
{
    return vals_hash(g_vals(g), r->nsame);
}

static int group_is(const burst_group_t *g, const jd_rule_t *r, const char *const *vals)
{
    return memcmp(g_vals(g), vals, r->nsame * sizeof(char *)) == 0;
}

/* ------------------------------------------------------------------ */
/* The index                                                          */

static size_t idx_slot(const burst_state_t *s, const jd_rule_t *r, const char *const *vals,
                       uint64_t h)
{
    size_t mask = s->icap - 1, i = h & mask;
    while (s->index[i] && !group_is(s->index[i], r, vals))
        i = (i + 1) & mask;
    return i;
}

static void idx_put(burst_state_t *s, const jd_rule_t *r, burst_group_t *g)
{
    size_t mask = s->icap - 1, i = group_hash(r, g) & mask;
    while (s->index[i])
        i = (i + 1) & mask;
    s->index[i] = g;
}

/* Backward-shift deletion keeps every probe chain unbroken. */
static void idx_del(burst_state_t *s, const jd_rule_t *r, const burst_group_t *g)
{
    size_t mask = s->icap - 1, i = group_hash(r, g) & mask;
    while (s->index[i] != g)
        i = (i + 1) & mask;
    for (size_t j = (i + 1) & mask; s->index[j]; j = (j + 1) & mask) {
        size_t home = group_hash(r, s->index[j]) & mask;
        /* j's entry may move to the hole at i unless its home lies in (i, j] */
        if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
            s->index[i] = s->index[j];
            i = j;
        }
    }
    s->index[i] = NULL;
}

/* Keeps the index at most half full once groups outgrow a scan; -1 when out
 * of memory (the lookup then scans). */
static int idx_reserve(burst_state_t *s, const jd_rule_t *r, uint32_t ngroups)
{
    if (ngroups <= BURST_SCAN || (s->icap && 2 * (size_t)ngroups <= s->icap))
        return 0;
    uint32_t cap = s->icap ? s->icap : 4 * BURST_SCAN;
    while (2 * (size_t)ngroups > cap)
        cap *= 2;
    burst_group_t **n = calloc(cap, sizeof(*n));
    if (!n)
        return -1;
    free(s->index);
    s->index = n;
    s->icap = cap;
    for (burst_group_t *g = l_first(s); g; g = l_next(s, g))
        idx_put(s, r, g);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Groups                                                             */

/* A group for vals: spare (an expired group of the same rule, without
 * events or value references) when there is one, else a new allocation. */
static burst_group_t *group_new(const jd_rule_t *r, const char *const *vals,
                                burst_group_t *spare)
{
    burst_group_t *g = spare;
    if (g)
        g->n = 0;
    else if (!(g = jd_zalloc(sizeof(*g) + r->nsame * sizeof(char *) +
                             r->count * sizeof(jd_evid_t))))
        return NULL;
    memcpy(g_vals(g), vals, r->nsame * sizeof(char *));
    for (uint32_t i = 0; i < r->nsame; i++)
        jd_intern_ref(vals[i]);   /* the group holds its values */
    return g;
}

static void group_unref_vals(const jd_rule_t *r, burst_group_t *g)
{
    for (uint32_t i = 0; i < r->nsame; i++)
        jd_intern_unref(g_vals(g)[i]);
}

/* Frees g (already without events) and its values' references. */
static void group_free(const jd_rule_t *r, burst_group_t *g)
{
    group_unref_vals(r, g);
    free(g);
}

static void group_drop_front(const jd_rule_t *r, burst_group_t *g, uint32_t k)
{
    jd_evid_t *ev = g_ev(r, g);
    for (uint32_t i = 0; i < k; i++)
        jd_evid_clear(&ev[i]);
    memmove(ev, ev + k, (g->n - k) * sizeof(jd_evid_t));
    g->n -= k;
}

/* Drops pending events that can no longer be part of a burst at `now`. */
static void group_prune(const jd_rule_t *r, burst_group_t *g, int64_t now)
{
    if (g->n == 0)
        return;
    if (r->gap_ms > 0) {
        if (now > jd_time_add(group_last_ts(r, g), r->gap_ms))
            group_drop_front(r, g, g->n);
        return;
    }
    const jd_evid_t *ev = g_ev(r, g);
    uint32_t k = 0;
    while (k < g->n && now > jd_time_add(ev[k].ts, r->within_ms))
        k++;
    group_drop_front(r, g, k);
}

static burst_group_t *state_find(const burst_state_t *s, const jd_rule_t *r,
                                 const char *const *vals)
{
    if (s->icap)
        return s->index[idx_slot(s, r, vals, vals_hash(vals, r->nsame))];
    for (burst_group_t *g = l_first(s); g; g = l_next(s, g))
        if (group_is(g, r, vals))
            return g;
    return NULL;
}

/* Takes g out of s (list and index), keeping it. */
static void state_unlink(burst_state_t *s, const jd_rule_t *r, burst_group_t *g)
{
    if (s->icap)
        idx_del(s, r, g);
    l_remove(s, g);
    s->ngroups--;
}

/* Takes g out of s and frees it. */
static void state_remove(burst_state_t *s, const jd_rule_t *r, burst_group_t *g)
{
    state_unlink(s, r, g);
    group_drop_front(r, g, g->n);
    group_free(r, g);
}

/* Puts g into s at its place by newest event (from the tail: usually it
 * is the newest), then drops the least recently active beyond the bound. */
static void state_insert(jd_engine_t *e, const jd_rule_t *r, burst_state_t *s,
                         burst_group_t *g)
{
    burst_group_t *q = l_last(s);
    while (q && group_last_ts(r, q) > group_last_ts(r, g))
        q = l_prev(s, q);
    l_insert_after(s, q, g);
    s->ngroups++;
    if (idx_reserve(s, r, s->ngroups) != 0) {
        free(s->index); /* out of memory: back to scanning */
        s->index = NULL;
        s->icap = 0;
    } else if (s->icap && s->index[idx_slot(s, r, g_vals(g), group_hash(r, g))] != g) {
        idx_put(s, r, g);
    }
    uint64_t max = engine_conf(e)->max_groups;
    while (max && s->ngroups > max) {
        state_remove(s, r, l_first(s));
        engine_group_evicted(e, 1);
    }
}

/* Forgets the groups none of whose events can chain at now: a prefix of
 * the list, which is ordered by newest event. With spare, the first one
 * forgotten is kept there, emptied, rather than freed: a customer moving on
 * from one page to the next expires one group and makes another on most
 * events, and one allocation can serve both. */
static void state_expire(const jd_rule_t *r, burst_state_t *s, int64_t now,
                         burst_group_t **spare)
{
    burst_group_t *g;
    while ((g = l_first(s)) && now > jd_time_add(group_last_ts(r, g), burst_window(r))) {
        if (!spare || *spare) {
            state_remove(s, r, g);
            continue;
        }
        state_unlink(s, r, g);
        group_drop_front(r, g, g->n);
        group_unref_vals(r, g);
        *spare = g;
    }
}

static void burst_free(jd_engine_t *e, const jd_rule_t *r, void *state)
{
    burst_state_t *s = state;
    (void)e;
    while (s->head)
        state_remove(s, r, s->head);
    free(s->index);
    free(s);
}

static int burst_idle(const jd_rule_t *r, void *state, int64_t now)
{
    burst_state_t *s = state;
    state_expire(r, s, now, NULL);
    return s->ngroups == 0;
}

/* The next event first expires groups from the head (the least recently
 * active), reading the newest event at the end of the group's allocation,
 * then looks its own group up: through the index past a few groups. */
static void burst_prefetch(const jd_rule_t *r, const void *state)
{
    const burst_state_t *s = state;
    const burst_group_t *g = s->head;
    if (!g)
        return;
    const char *end = (const char *)(g_ev(r, g) + r->count);
    for (const char *p = (const char *)g; p < end; p += 64)
        __builtin_prefetch(p);
    if (s->icap)
        __builtin_prefetch(s->index);
}

/* ------------------------------------------------------------------ */
/* Evaluation                                                         */

static void burst_fire(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *j,
                       burst_group_t *g, int64_t ts)
{
    const jd_config_t *c = engine_conf(e);
    const char *names[16];
    size_t ng = r->nsame < 16 ? r->nsame : 16;
    for (size_t i = 0; i < ng; i++)
        names[i] = c->slots[r->same[i]].name;
    jd_alert_req_t req = {
        .rule = r, .journey = j, .ts = ts, .evid = g_ev(r, g), .nevid = g->n,
        .group_names = names, .group_values = (const char *const *)g_vals(g), .ngroup = ng,
    };
    engine_emit(e, &req, NULL);
}

static void burst_on_event(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *j,
                           void **state, const jd_event_t *ev)
{
    if (!jd_match_event(&r->match, ev))
        return;
    burst_state_t *s = *state;
    if (!s && !(s = *state = jd_zalloc(sizeof(*s))))
        return;
    burst_group_t *spare = NULL;
    state_expire(r, s, ev->ts, &spare);
    const char *vals[16] = {0};
    for (uint32_t i = 0; i < r->nsame && i < 16; i++)
        vals[i] = ev->slot[r->same[i]];
    burst_group_t *g = state_find(s, r, vals);
    if (g) {
        group_prune(r, g, ev->ts);
        jd_evid_from_event(&g_ev(r, g)[g->n++], ev);
        /* now the most recently active: to the tail */
        l_remove(s, g);
        l_insert_after(s, l_last(s), g);
    } else if ((g = group_new(r, vals, spare))) {
        spare = NULL;
        jd_evid_from_event(&g_ev(r, g)[g->n++], ev);
        state_insert(e, r, s, g); /* the newest: at the tail, never evicted */
    }
    free(spare);
    if (g && g->n >= r->count) {
        /* Firing consumes g's events, which leaves g empty. */
        burst_fire(e, r, j, g, ev->ts);
        state_remove(s, r, g);
    }
    if (s->ngroups == 0) {
        burst_free(e, r, s);
        *state = NULL;
    }
}

static void burst_on_timer(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *j,
                           void **state, jd_timer_t *t)
{
    (void)e; (void)r; (void)j; (void)state; (void)t; /* bursts set no timers */
}

/* Pending events of equal groups interleave by time; then only the events
 * that can still chain with the newest are kept, at most count-1 of them,
 * so a merge never fires by itself. Out of memory dg keeps its own events.
 * sg's events move to dg or are cleared either way. */
static void group_combine(const jd_rule_t *r, burst_group_t *dg, burst_group_t *sg)
{
    jd_evid_t *de = g_ev(r, dg), *se = g_ev(r, sg);
    jd_evid_t *all = malloc((dg->n + sg->n) * sizeof(jd_evid_t));
    if (!all) {
        group_drop_front(r, sg, sg->n);
        return;
    }
    uint32_t n = 0, a = 0, b = 0;
    while (a < dg->n || b < sg->n) {
        if (a < dg->n && (b >= sg->n || de[a].ts <= se[b].ts))
            all[n++] = de[a++];
        else
            all[n++] = se[b++];
    }
    /* keep the tail that still forms a valid chain/window */
    uint32_t start = n ? n - 1 : 0;
    while (start > 0) {
        int64_t from = r->gap_ms > 0 ? all[start].ts : all[n - 1].ts;
        if (from > jd_time_add(all[start - 1].ts, burst_window(r)))
            break;
        start--;
    }
    if (n - start > r->count - 1)
        start = n - (r->count - 1);
    for (uint32_t i = 0; i < start; i++)
        jd_evid_clear(&all[i]);
    dg->n = n - start;
    memcpy(de, all + start, dg->n * sizeof(jd_evid_t));
    sg->n = 0;
    free(all);
}

/* Identity merge: src's groups move into dst; equal groups combine. */
static void burst_merge(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *dst,
                        void **dst_state, void **src_state)
{
    (void)dst;
    burst_state_t *src = *src_state, *d = *dst_state;
    *src_state = NULL;
    if (!d) {
        *dst_state = src;
        return;
    }
    burst_group_t *sg;
    while ((sg = l_first(src))) {
        state_unlink(src, r, sg);
        burst_group_t *dg = state_find(d, r, (const char *const *)g_vals(sg));
        if (!dg) {
            state_insert(e, r, d, sg);
            continue;
        }
        group_combine(r, dg, sg);
        group_free(r, sg);
        /* dg's newest event may have changed: back to its place */
        state_unlink(d, r, dg);
        state_insert(e, r, d, dg);
    }
    burst_free(e, r, src);
}

/* ------------------------------------------------------------------ */
/* Changelog                                                          */

/* [{"v":[values],"e":[evidence]}, ...], least recently active first. */
static void burst_save(const jd_rule_t *r, const void *state, jd_strbuf_t *sb)
{
    const burst_state_t *s = state;
    jd_strbuf_putc(sb, '[');
    for (const burst_group_t *g = l_first(s); g; g = l_next(s, g)) {
        const char *const *vals = (const char *const *)g_vals(g);
        const jd_evid_t *ev = g_ev(r, g);
        jd_strbuf_puts(sb, g == l_first(s) ? "{\"v\":[" : ",{\"v\":[");
        for (uint32_t k = 0; k < r->nsame; k++) {
            if (k)
                jd_strbuf_putc(sb, ',');
            jd_strbuf_json_str(sb, vals[k]);
        }
        jd_strbuf_puts(sb, "],\"e\":[");
        for (uint32_t k = 0; k < g->n; k++) {
            if (k)
                jd_strbuf_putc(sb, ',');
            jd_evid_save(&ev[k], sb);
        }
        jd_strbuf_puts(sb, "]}");
    }
    jd_strbuf_putc(sb, ']');
}

static int burst_load(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *j,
                      void **state, json_t *v)
{
    (void)j;
    const jd_config_t *c = engine_conf(e);
    if (!json_is_array(v))
        return -1;
    burst_state_t *s = calloc(1, sizeof(*s));
    if (!s)
        return -1;
    size_t i;
    json_t *gv;
    json_array_foreach(v, i, gv) {
        json_t *vals = json_object_get(gv, "v"), *evs = json_object_get(gv, "e");
        if (!json_is_array(vals) || json_array_size(vals) != r->nsame || !json_is_array(evs) ||
            r->nsame > 16)
            continue;
        const char *gvals[16] = {0};
        for (uint32_t k = 0; k < r->nsame; k++) {
            const char *sv = json_string_value(json_array_get(vals, k));
            gvals[k] = sv ? jd_intern_str(c->intern, sv) : NULL;
        }
        burst_group_t *g = state_find(s, r, gvals) ? NULL : group_new(r, gvals, NULL);
        for (uint32_t k = 0; k < r->nsame; k++)
            jd_intern_unref(gvals[k]); /* group_new took its own */
        if (!g)
            continue; /* a record never holds a group twice; or out of memory */
        for (size_t k = 0; k < json_array_size(evs) && g->n < r->count; k++)
            if (jd_evid_load(&g_ev(r, g)[g->n], json_array_get(evs, k), c) == 0)
                g->n++;
        if (g->n == 0) {
            group_free(r, g);
            continue;
        }
        state_insert(e, r, s, g);
    }
    *state = s;
    return 0;
}

const jd_rule_ops_t jd_rule_burst_ops = {
    .name = "burst",
    .on_event = burst_on_event,
    .on_timer = burst_on_timer,
    .merge = burst_merge,
    .free_state = burst_free,
    .idle = burst_idle,
    .prefetch = burst_prefetch,
    .save = burst_save,
    .load = burst_load,
};
