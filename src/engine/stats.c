/*
 * The engine's counters: the snapshot jd_engine_stats hands out, its JSON
 * (the "engine" object of replay's --summary-json), and the per-rule
 * arrays that engines and the shard router allocate and sum. Step counts
 * (jd_funnel_stats_t) exist for the rule kinds whose ops ask for them.
 */
#include <stdlib.h>
#include <string.h>
#include "journeyd/timeutil.h"
#include "engine_priv.h"

static int rule_has_steps(const jd_rule_t *r)
{
    return jd_rule_ops_for(r->kind)->step_stats;
}

static int seg_alloc(jd_funnel_seg_t *s, uint32_t nsteps)
{
    s->reached = calloc(nsteps, sizeof(uint64_t));
    s->dropped = calloc(nsteps, sizeof(uint64_t));
    return s->reached && s->dropped ? 0 : -1;
}

static void seg_free(jd_funnel_seg_t *s)
{
    free(s->reached);
    free(s->dropped);
}

/* The segment of value, added while fewer than limit are held. */
static jd_funnel_seg_t *seg_get(jd_funnel_stats_t *fs, uint32_t nsteps,
                                const char *value, uint32_t limit)
{
    /* Values are interned: pointer equality is string equality. */
    for (uint32_t i = 0; i < fs->nsegs; i++)
        if (fs->segs[i].value == value)
            return &fs->segs[i];
    if (fs->nsegs >= limit || !fs->other.reached)
        return &fs->other;
    if (fs->nsegs == fs->segcap) {
        uint32_t cap = fs->segcap ? 2 * fs->segcap : 8;
        jd_funnel_seg_t *n = realloc(fs->segs, cap * sizeof(*n));
        if (!n)
            return &fs->other;
        fs->segs = n;
        fs->segcap = cap;
    }
    jd_funnel_seg_t *sg = &fs->segs[fs->nsegs];
    *sg = (jd_funnel_seg_t){ .value = value };
    if (seg_alloc(sg, nsteps) != 0) {
        seg_free(sg);
        return &fs->other;
    }
    fs->nsegs++;
    return sg;
}

jd_funnel_seg_t *jd_funnel_seg(jd_funnel_stats_t *fs, uint32_t nsteps,
                               const char *value, int admit)
{
    return seg_get(fs, nsteps, value, admit ? JD_FUNNEL_SEGMENTS_MAX : 0);
}

uint64_t jd_funnel_seg_pending(const jd_funnel_seg_t *s, uint32_t nsteps)
{
    uint64_t done = s->completed;
    for (uint32_t k = 0; k < nsteps; k++)
        done += s->dropped[k];
    /* Below zero only when an attempt started on another shard, under a
     * value this one keeps under "(other)" (see README, funnel segments). */
    return s->attempts > done ? s->attempts - done : 0;
}

void jd_funnel_seg_add(jd_funnel_seg_t *acc, const jd_funnel_seg_t *s, uint32_t nsteps)
{
    acc->attempts += s->attempts;
    acc->completed += s->completed;
    for (uint32_t k = 0; k < nsteps; k++) {
        acc->reached[k] += s->reached[k];
        acc->dropped[k] += s->dropped[k];
    }
}

static int seg_cmp(const void *pa, const void *pb)
{
    const jd_funnel_seg_t *a = *(const jd_funnel_seg_t *const *)pa;
    const jd_funnel_seg_t *b = *(const jd_funnel_seg_t *const *)pb;
    if (a->attempts != b->attempts)
        return a->attempts > b->attempts ? -1 : 1;
    if (!a->value || !b->value)
        return !a->value ? (b->value ? -1 : 0) : 1;
    return strcmp(a->value, b->value);
}

uint32_t jd_funnel_segs_sorted(const jd_funnel_stats_t *fs, const jd_funnel_seg_t **out)
{
    for (uint32_t i = 0; i < fs->nsegs; i++)
        out[i] = &fs->segs[i];
    if (fs->nsegs > 1)
        qsort(out, fs->nsegs, sizeof(*out), seg_cmp);
    return fs->nsegs;
}

int engine_stats_alloc(const jd_config_t *c, jd_engine_stats_t *st)
{
    uint32_t n = c->nrules ? c->nrules : 1;
    if (!(st->alerts_by_rule = calloc(n, sizeof(uint64_t))) ||
        !(st->funnels = calloc(n, sizeof(jd_funnel_stats_t))))
        return -1;
    for (uint32_t r = 0; r < c->nrules; r++) {
        if (!rule_has_steps(&c->rules[r]))
            continue;
        jd_funnel_stats_t *f = &st->funnels[r];
        if (!(f->reached = calloc(c->rules[r].nsteps, sizeof(uint64_t))) ||
            !(f->dropped = calloc(c->rules[r].nsteps, sizeof(uint64_t))))
            return -1;
        if (c->rules[r].has_breakdown && seg_alloc(&f->other, c->rules[r].nsteps) != 0)
            return -1;
    }
    return 0;
}

void engine_stats_free(const jd_config_t *c, jd_engine_stats_t *st)
{
    if (st->funnels)
        for (uint32_t r = 0; r < c->nrules; r++) {
            jd_funnel_stats_t *f = &st->funnels[r];
            free(f->reached);
            free(f->dropped);
            for (uint32_t i = 0; i < f->nsegs; i++)
                seg_free(&f->segs[i]);
            free(f->segs);
            seg_free(&f->other);
        }
    free(st->funnels);
    free(st->alerts_by_rule);
    st->funnels = NULL;
    st->alerts_by_rule = NULL;
}

void engine_stats_add(const jd_config_t *c, jd_engine_stats_t *sum, const jd_engine_stats_t *x)
{
    sum->events_evaluated += x->events_evaluated;
    sum->duplicates += x->duplicates;
    sum->suppressed += x->suppressed;
    sum->customers += x->customers;
    sum->customers_total += x->customers_total;
    sum->evicted += x->evicted;
    sum->expired += x->expired;
    sum->groups_evicted += x->groups_evicted;
    sum->forced_advances += x->forced_advances;
    sum->links += x->links;
    sum->merges += x->merges;
    sum->timers += x->timers;
    for (uint32_t r = 0; r < c->nrules; r++) {
        sum->alerts_by_rule[r] += x->alerts_by_rule[r];
        jd_funnel_stats_t *f = &sum->funnels[r];
        const jd_funnel_stats_t *g = &x->funnels[r];
        f->attempts += g->attempts;
        f->completed += g->completed;
        f->pending += g->pending;
        for (uint32_t k = 0; rule_has_steps(&c->rules[r]) && k < c->rules[r].nsteps; k++) {
            f->reached[k] += g->reached[k];
            f->dropped[k] += g->dropped[k];
        }
        /* Every shard's segments, unbounded here (at most shards x the
         * bound); the JSON and the report show the top ones. */
        for (uint32_t i = 0; f->other.reached && i < g->nsegs; i++)
            jd_funnel_seg_add(seg_get(f, c->rules[r].nsteps, g->segs[i].value, UINT32_MAX),
                              &g->segs[i], c->rules[r].nsteps);
        if (f->other.reached && g->other.reached)
            jd_funnel_seg_add(&f->other, &g->other, c->rules[r].nsteps);
    }
}

const jd_engine_stats_t *jd_engine_stats(jd_engine_t *e)
{
    e->st.buffered = e->evh.n;
    e->st.timers = e->tn;
    e->st.links = e->ids.made;
    return &e->st;
}

json_t *jd_engine_stats_json(jd_engine_t *e)
{
    return jd_engine_stats_to_json(e->conf, jd_engine_stats(e));
}

static json_t *seg_json(const jd_rule_t *r, const jd_funnel_seg_t *sg)
{
    json_t *o = json_object();
    json_object_set_new(o, "attempts", json_integer((json_int_t)sg->attempts));
    json_object_set_new(o, "completed", json_integer((json_int_t)sg->completed));
    json_object_set_new(o, "pending", json_integer((json_int_t)jd_funnel_seg_pending(sg, r->nsteps)));
    json_object_set_new(o, "conversion", json_real(sg->attempts ?
                        (double)sg->completed / (double)sg->attempts : 0.0));
    json_t *steps = json_array();
    for (uint32_t k = 0; k < r->nsteps; k++) {
        json_t *so = json_object();
        json_object_set_new(so, "name", json_string(r->steps[k].name));
        json_object_set_new(so, "reached", json_integer((json_int_t)sg->reached[k]));
        json_object_set_new(so, "dropped_after", json_integer((json_int_t)sg->dropped[k]));
        json_array_append_new(steps, so);
    }
    json_object_set_new(o, "steps", steps);
    return o;
}

/* "breakdown_by", "segments" (display order, at most the bound; value null
 * = the field was absent) and "other_segments" (what the bound folded). */
static void funnel_segments_json(const jd_config_t *c, const jd_rule_t *r,
                                 const jd_funnel_stats_t *f, json_t *fo)
{
    json_object_set_new(fo, "breakdown_by", json_string(c->slots[r->breakdown_slot].name));
    json_object_set_new(fo, "segments_max", json_integer(JD_FUNNEL_SEGMENTS_MAX));
    const jd_funnel_seg_t **order = malloc((f->nsegs ? f->nsegs : 1) * sizeof(*order));
    uint64_t *buf = calloc(2 * (size_t)r->nsteps, sizeof(uint64_t));
    if (!order || !buf) {
        free(order);
        free(buf);
        return;
    }
    jd_funnel_seg_t other = { .reached = buf, .dropped = buf + r->nsteps };
    if (f->other.reached)
        jd_funnel_seg_add(&other, &f->other, r->nsteps);
    uint32_t n = jd_funnel_segs_sorted(f, order), folded = 0;
    json_t *segs = json_array();
    for (uint32_t i = 0; i < n; i++) {
        if (i >= JD_FUNNEL_SEGMENTS_MAX) {
            jd_funnel_seg_add(&other, order[i], r->nsteps);
            folded++;
            continue;
        }
        json_t *so = seg_json(r, order[i]);
        json_object_set_new(so, "value", order[i]->value ? json_string(order[i]->value) : json_null());
        json_array_append_new(segs, so);
    }
    json_object_set_new(fo, "segments", segs);
    json_t *oo = seg_json(r, &other);
    json_object_set_new(oo, "folded_segments", json_integer(folded));
    json_object_set_new(fo, "other_segments", oo);
    free(order);
    free(buf);
}

json_t *jd_engine_stats_to_json(const jd_config_t *c, const jd_engine_stats_t *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "events_in", json_integer((json_int_t)s->events_in));
    json_object_set_new(o, "events_evaluated", json_integer((json_int_t)s->events_evaluated));
    json_object_set_new(o, "late", json_integer((json_int_t)s->late));
    json_object_set_new(o, "duplicates", json_integer((json_int_t)s->duplicates));
    json_object_set_new(o, "alerts", json_integer((json_int_t)s->alerts));
    json_object_set_new(o, "suppressed_by_cooldown", json_integer((json_int_t)s->suppressed));
    json_object_set_new(o, "customers_active", json_integer((json_int_t)s->customers));
    json_object_set_new(o, "customers_peak", json_integer((json_int_t)s->customers_peak));
    json_object_set_new(o, "customers_total", json_integer((json_int_t)s->customers_total));
    json_object_set_new(o, "evicted", json_integer((json_int_t)s->evicted));
    json_object_set_new(o, "expired", json_integer((json_int_t)s->expired));
    json_object_set_new(o, "groups_evicted", json_integer((json_int_t)s->groups_evicted));
    json_object_set_new(o, "links", json_integer((json_int_t)s->links));
    json_object_set_new(o, "merges", json_integer((json_int_t)s->merges));
    json_object_set_new(o, "buffered", json_integer((json_int_t)s->buffered));
    json_object_set_new(o, "forced_advances", json_integer((json_int_t)s->forced_advances));
    char buf[JD_TIME_BUFSZ];
    json_object_set_new(o, "watermark", s->watermark == INT64_MIN ? json_null() :
                        json_string(jd_time_format_rfc3339(s->watermark, buf)));
    json_object_set_new(o, "max_ts", s->max_ts == INT64_MIN ? json_null() :
                        json_string(jd_time_format_rfc3339(s->max_ts, buf)));
    json_t *rules = json_object();
    json_t *funnels = json_object();
    for (uint32_t i = 0; i < c->nrules; i++) {
        const jd_rule_t *r = &c->rules[i];
        json_object_set_new(rules, r->name, json_integer((json_int_t)s->alerts_by_rule[i]));
        if (!rule_has_steps(r))
            continue;
        const jd_funnel_stats_t *f = &s->funnels[i];
        json_t *fo = json_object();
        json_object_set_new(fo, "attempts", json_integer((json_int_t)f->attempts));
        json_object_set_new(fo, "completed", json_integer((json_int_t)f->completed));
        json_object_set_new(fo, "pending", json_integer((json_int_t)f->pending));
        json_object_set_new(fo, "conversion", json_real(f->attempts ?
                            (double)f->completed / (double)f->attempts : 0.0));
        json_t *steps = json_array();
        for (uint32_t k = 0; k < r->nsteps; k++) {
            json_t *so = json_object();
            json_object_set_new(so, "name", json_string(r->steps[k].name));
            json_object_set_new(so, "reached", json_integer((json_int_t)f->reached[k]));
            json_object_set_new(so, "dropped_after", json_integer((json_int_t)f->dropped[k]));
            json_object_set_new(so, "rate_from_start", json_real(f->attempts ?
                                (double)f->reached[k] / (double)f->attempts : 0.0));
            json_object_set_new(so, "rate_from_previous", json_real(k == 0 ? 1.0 :
                                f->reached[k - 1] ? (double)f->reached[k] /
                                (double)f->reached[k - 1] : 0.0));
            json_array_append_new(steps, so);
        }
        json_object_set_new(fo, "steps", steps);
        if (r->has_breakdown)
            funnel_segments_json(c, r, f, fo);
        json_object_set_new(funnels, r->name, fo);
    }
    json_object_set_new(o, "alerts_by_rule", rules);
    json_object_set_new(o, "funnels", funnels);
    return o;
}
