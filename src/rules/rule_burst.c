/*
 * burst: `count` matching events of one customer (per "same" group), either
 * chained by `gap` or inside a sliding `within` window. Firing consumes the
 * events, so the next alert needs `count` new ones.
 */
#include <stdlib.h>
#include <string.h>
#include "journeyd/rule.h"

/* A customer rarely has more than a handful of live groups; the bound
 * keeps a pathological stream of distinct pages from growing state. */
#define BURST_MAX_GROUPS 32

typedef struct burst_group {
    uint32_t n;            /* pending events */
    const char **vals;     /* nsame interned values (NULL = absent) */
    jd_evid_t *ev;         /* capacity rule->count */
} burst_group_t;

typedef struct burst_state {
    uint32_t ngroups, cap;
    burst_group_t *groups[];  /* grows up to BURST_MAX_GROUPS */
} burst_state_t;

static burst_state_t *state_new(void)
{
    burst_state_t *s = calloc(1, sizeof(*s) + 2 * sizeof(burst_group_t *));
    if (s)
        s->cap = 2;
    return s;
}

/* Room for one more group; may move the state (hence **sp). */
static int state_reserve(burst_state_t **sp)
{
    burst_state_t *s = *sp;
    if (s->ngroups < s->cap || s->cap == BURST_MAX_GROUPS)
        return 0;
    uint32_t cap = s->cap * 2 > BURST_MAX_GROUPS ? BURST_MAX_GROUPS : s->cap * 2;
    burst_state_t *g = realloc(s, sizeof(*s) + cap * sizeof(burst_group_t *));
    if (!g)
        return -1;
    g->cap = cap;
    *sp = g;
    return 0;
}

static burst_group_t *group_new(const jd_rule_t *r)
{
    burst_group_t *g = calloc(1, sizeof(*g) + r->nsame * sizeof(char *) +
                                 r->count * sizeof(jd_evid_t));
    if (!g)
        return NULL;
    g->vals = (const char **)(g + 1);
    g->ev = (jd_evid_t *)(g->vals + r->nsame);
    return g;
}

static void group_drop_front(burst_group_t *g, uint32_t k)
{
    for (uint32_t i = 0; i < k; i++)
        jd_evid_clear(&g->ev[i]);
    memmove(g->ev, g->ev + k, (g->n - k) * sizeof(jd_evid_t));
    g->n -= k;
}

/* Drops pending events that can no longer be part of a burst at `now`. */
static void group_prune(const jd_rule_t *r, burst_group_t *g, int64_t now)
{
    if (g->n == 0)
        return;
    if (r->gap_ms > 0) {
        if (now - g->ev[g->n - 1].ts > r->gap_ms)
            group_drop_front(g, g->n);
        return;
    }
    uint32_t k = 0;
    while (k < g->n && now - g->ev[k].ts > r->within_ms)
        k++;
    group_drop_front(g, k);
}

static void state_remove_group(burst_state_t *s, uint32_t i)
{
    free(s->groups[i]);
    s->groups[i] = s->groups[--s->ngroups];
    s->groups[s->ngroups] = NULL;
}

static int burst_idle(const jd_rule_t *r, void *state, int64_t now)
{
    burst_state_t *s = state;
    for (uint32_t i = 0; i < s->ngroups;) {
        group_prune(r, s->groups[i], now);
        if (s->groups[i]->n == 0)
            state_remove_group(s, i);
        else
            i++;
    }
    return s->ngroups == 0;
}

static burst_group_t *state_group(burst_state_t **sp, const jd_rule_t *r,
                                  const char *const *vals)
{
    burst_state_t *s = *sp;
    for (uint32_t i = 0; i < s->ngroups; i++)
        if (memcmp(s->groups[i]->vals, vals, r->nsame * sizeof(char *)) == 0)
            return s->groups[i];
    if (state_reserve(sp) != 0)
        return NULL;
    s = *sp;
    if (s->ngroups == s->cap) {
        /* Make room by dropping the group whose newest event is oldest. */
        uint32_t victim = 0;
        for (uint32_t i = 1; i < s->ngroups; i++)
            if (s->groups[i]->ev[s->groups[i]->n - 1].ts <
                s->groups[victim]->ev[s->groups[victim]->n - 1].ts)
                victim = i;
        group_drop_front(s->groups[victim], s->groups[victim]->n);
        state_remove_group(s, victim);
    }
    burst_group_t *g = group_new(r);
    if (!g)
        return NULL;
    memcpy(g->vals, vals, r->nsame * sizeof(char *));
    s->groups[s->ngroups++] = g;
    return g;
}

static void burst_fire(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *j,
                       burst_group_t *g, int64_t ts)
{
    const jd_config_t *c = engine_conf(e);
    const char *names[16];
    size_t ng = r->nsame < 16 ? r->nsame : 16;
    for (size_t i = 0; i < ng; i++)
        names[i] = c->slots[r->same[i]].name;
    jd_alert_req_t req = {
        .rule = r, .journey = j, .ts = ts, .evid = g->ev, .nevid = g->n,
        .group_names = names, .group_values = g->vals, .ngroup = ng,
    };
    engine_emit(e, &req, NULL);
    group_drop_front(g, g->n);
}

static void burst_on_event(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *j,
                           void **state, const jd_event_t *ev)
{
    if (!jd_match_event(&r->match, ev))
        return;
    burst_state_t *s = *state;
    if (!s && !(s = *state = state_new()))
        return;
    burst_idle(r, s, ev->ts);
    const char *vals[16] = {0};
    for (uint32_t i = 0; i < r->nsame && i < 16; i++)
        vals[i] = ev->slot[r->same[i]];
    burst_group_t *g = state_group((burst_state_t **)state, r, vals);
    s = *state;
    if (!g)
        return;
    jd_evid_from_event(&g->ev[g->n++], ev);
    if (g->n < r->count)
        return;
    /* Firing consumes g's events; the other groups were pruned above, so
     * g is the only one that can be empty now. */
    burst_fire(e, r, j, g, ev->ts);
    for (uint32_t i = 0; i < s->ngroups; i++)
        if (s->groups[i] == g)
            state_remove_group(s, i);
    if (s->ngroups == 0) {
        free(s);
        *state = NULL;
    }
}

static void burst_on_timer(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *j,
                           void **state, jd_timer_t *t)
{
    (void)e; (void)r; (void)j; (void)state; (void)t; /* bursts set no timers */
}

static void burst_free(jd_engine_t *e, const jd_rule_t *r, void *state)
{
    burst_state_t *s = state;
    (void)e;
    for (uint32_t i = 0; i < s->ngroups; i++) {
        group_drop_front(s->groups[i], s->groups[i]->n);
        free(s->groups[i]);
    }
    (void)r;
    free(s);
}

/* Identity merge: pending events of equal groups interleave by time; then
 * only the events that can still chain with the newest are kept, at most
 * count-1 of them, so a merge never fires by itself. */
static void burst_merge(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *dst,
                        void **dst_state, void **src_state)
{
    (void)dst;
    burst_state_t *src = *src_state;
    if (!*dst_state) {
        *dst_state = src;
        *src_state = NULL;
        return;
    }
    burst_state_t *d = *dst_state;
    while (src->ngroups) {
        burst_group_t *sg = src->groups[src->ngroups - 1];
        src->groups[--src->ngroups] = NULL;
        burst_group_t *dg = NULL;
        for (uint32_t i = 0; i < d->ngroups && !dg; i++)
            if (memcmp(d->groups[i]->vals, sg->vals, r->nsame * sizeof(char *)) == 0)
                dg = d->groups[i];
        if (!dg) {
            int room = state_reserve((burst_state_t **)dst_state) == 0;
            d = *dst_state;
            if (room && d->ngroups < d->cap) {
                d->groups[d->ngroups++] = sg;
                continue;
            }
            group_drop_front(sg, sg->n);
            free(sg);
            continue;
        }
        jd_evid_t *all = malloc((dg->n + sg->n) * sizeof(jd_evid_t));
        if (!all) {
            group_drop_front(sg, sg->n);
            free(sg);
            continue;
        }
        uint32_t n = 0, a = 0, b = 0;
        while (a < dg->n || b < sg->n) {
            if (a < dg->n && (b >= sg->n || dg->ev[a].ts <= sg->ev[b].ts))
                all[n++] = dg->ev[a++];
            else
                all[n++] = sg->ev[b++];
        }
        /* keep the tail that still forms a valid chain/window */
        uint32_t start = n ? n - 1 : 0;
        while (start > 0) {
            int64_t span = r->gap_ms > 0 ? all[start].ts - all[start - 1].ts
                                         : all[n - 1].ts - all[start - 1].ts;
            if (span > (r->gap_ms > 0 ? r->gap_ms : r->within_ms))
                break;
            start--;
        }
        if (n - start > r->count - 1)
            start = n - (r->count - 1);
        for (uint32_t i = 0; i < start; i++)
            jd_evid_clear(&all[i]);
        dg->n = n - start;
        memcpy(dg->ev, all + start, dg->n * sizeof(jd_evid_t));
        free(all);
        free(sg);
    }
    free(src);
    *src_state = NULL;
    (void)e;
}

static void burst_save(const jd_rule_t *r, const void *state, jd_strbuf_t *sb)
{
    const burst_state_t *s = state;
    jd_strbuf_putc(sb, '[');
    for (uint32_t i = 0; i < s->ngroups; i++) {
        const burst_group_t *g = s->groups[i];
        jd_strbuf_puts(sb, i ? ",{\"v\":[" : "{\"v\":[");
        for (uint32_t k = 0; k < r->nsame; k++) {
            if (k)
                jd_strbuf_putc(sb, ',');
            jd_strbuf_json_str(sb, g->vals[k]);
        }
        jd_strbuf_puts(sb, "],\"e\":[");
        for (uint32_t k = 0; k < g->n; k++) {
            if (k)
                jd_strbuf_putc(sb, ',');
            jd_evid_save(&g->ev[k], sb);
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
    burst_state_t *s = state_new();
    if (!s)
        return -1;
    size_t i;
    json_t *gv;
    json_array_foreach(v, i, gv) {
        json_t *vals = json_object_get(gv, "v"), *evs = json_object_get(gv, "e");
        if (state_reserve(&s) != 0 || s->ngroups == s->cap || !json_is_array(vals) ||
            json_array_size(vals) != r->nsame || !json_is_array(evs))
            continue;
        burst_group_t *g = group_new(r);
        if (!g)
            break;
        for (uint32_t k = 0; k < r->nsame; k++) {
            const char *sv = json_string_value(json_array_get(vals, k));
            g->vals[k] = sv ? jd_intern_str(c->intern, sv) : NULL;
        }
        for (size_t k = 0; k < json_array_size(evs) && g->n < r->count; k++)
            if (jd_evid_load(&g->ev[g->n], json_array_get(evs, k), c) == 0)
                g->n++;
        s->groups[s->ngroups++] = g;
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
    .save = burst_save,
    .load = burst_load,
};
