/*
 * pattern: ordered steps with variables (contract section 5a). Every
 * step-1 event starts a partial match; each scoped event is offered to the
 * partial matches in start order; the first to complete alerts (evidence =
 * its events, one per step) and clears every partial match, since all of
 * them started at or before its last event, and the completing event
 * starts none.
 *
 * An event outside `scope` is invisible to the rule: it neither starts,
 * advances nor breaks a partial match. A partial match whose time limit
 * (the rule's `within` from its first event, or the next step's `within`
 * from its last) has passed is dropped at the next scoped event. No timers:
 * a pattern alerts only on an event.
 *
 * journey.max_groups bounds the partial matches per customer; beyond it the
 * oldest is dropped and counted (groups_evicted).
 */
#include <stdlib.h>
#include <string.h>
#include "journeyd/rule.h"
#include "journeyd/timeutil.h"

/* Event ids up to this long are kept inside the partial match: most
 * partial matches die at the next scoped event, and a copy on the heap per
 * step would cost more than the matching. */
#define PAT_ID_INLINE 32
/* Freed partial matches kept per state for the next step-1 event: one is
 * enough for a contiguous pattern (one ends, one starts per scoped event)
 * and costs little memory per idle customer. */
#define PAT_SPARE 1

/* One partial match; followed in the same allocation by its nsteps
 * evidence records, nvars bound values (interned, NULL = unbound) and
 * nsteps inline id buffers. An evidence id points into its buffer or, when
 * longer, to its own heap copy. The match holds one interner reference per
 * evidence channel and per bound value (pm_clear gives them back). */
typedef struct pat_pm {
    int64_t start, last;
    uint32_t k;               /* steps matched (1..nsteps-1) */
} pat_pm_t;

typedef struct pat_state {
    uint32_t n, cap;
    pat_pm_t **pm;            /* in start order */
    uint32_t nspare;
    pat_pm_t *spare[PAT_SPARE];
} pat_state_t;

static jd_evid_t *pm_ev(pat_pm_t *p)
{
    return (jd_evid_t *)(p + 1);
}

static const char **pm_vars(const jd_rule_t *r, pat_pm_t *p)
{
    return (const char **)(pm_ev(p) + r->npsteps);
}

static char *pm_idbuf(const jd_rule_t *r, pat_pm_t *p, uint32_t k)
{
    return (char *)(pm_vars(r, p) + r->nvars) + (size_t)k * PAT_ID_INLINE;
}

static size_t pm_size(const jd_rule_t *r)
{
    return sizeof(pat_pm_t) + r->npsteps * (sizeof(jd_evid_t) + PAT_ID_INLINE) +
           r->nvars * sizeof(char *);
}

static pat_pm_t *pm_new(const jd_rule_t *r, pat_state_t *s)
{
    if (s && s->nspare) {
        pat_pm_t *p = s->spare[--s->nspare];
        memset(p, 0, pm_size(r) - r->npsteps * PAT_ID_INLINE);
        return p;
    }
    return calloc(1, pm_size(r));
}

static void pm_clear(const jd_rule_t *r, pat_pm_t *p)
{
    for (uint32_t i = 0; i < p->k; i++) {
        if (pm_ev(p)[i].id != pm_idbuf(r, p, i))
            free(pm_ev(p)[i].id);
        jd_intern_unref(pm_ev(p)[i].channel);
        pm_ev(p)[i].channel = NULL;
    }
    for (uint32_t v = 0; v < r->nvars; v++) {
        jd_intern_unref(pm_vars(r, p)[v]);
        pm_vars(r, p)[v] = NULL;
    }
    p->k = 0;
}

static void pm_free(const jd_rule_t *r, pat_pm_t *p)
{
    pm_clear(r, p);
    free(p);
}

/* Frees p, or keeps it as a spare of s. */
static void pm_release(const jd_rule_t *r, pat_state_t *s, pat_pm_t *p)
{
    pm_clear(r, p);
    if (s->nspare < PAT_SPARE)
        s->spare[s->nspare++] = p;
    else
        free(p);
}

static uint64_t pat_max(const jd_engine_t *e)
{
    uint64_t max = engine_conf(e)->max_groups;
    return max == 0 || max > UINT32_MAX / 2 ? UINT32_MAX / 2 : max;
}

static void pat_free(jd_engine_t *e, const jd_rule_t *r, void *state)
{
    pat_state_t *s = state;
    (void)e;
    for (uint32_t i = 0; i < s->n; i++)
        pm_free(r, s->pm[i]);
    for (uint32_t i = 0; i < s->nspare; i++)
        free(s->spare[i]);
    free(s->pm);
    free(s);
}

/* 1 when p can no longer take its next step at or after now. */
static int pm_expired(const jd_rule_t *r, const pat_pm_t *p, int64_t now)
{
    int64_t step_within = r->psteps[p->k].within_ms;
    return (r->within_ms && now > jd_time_add(p->start, r->within_ms)) ||
           (step_within && now > jd_time_add(p->last, step_within));
}

/* Whether ev takes step k of a match with bindings vars: the filter holds
 * and every field the step binds is present. */
static int pat_step_matches(const jd_rule_t *r, uint32_t k, const jd_event_t *ev,
                            const char *const *vars)
{
    const jd_pattern_step_t *st = &r->psteps[k];
    if (!jd_match_event_vars(&st->match, ev, vars))
        return 0;
    for (uint32_t b = 0; b < st->nbind; b++)
        if (st->bind_slot[b] >= ev->nslots || !ev->slot[st->bind_slot[b]])
            return 0;
    return 1;
}

static void pm_take(const jd_rule_t *r, pat_pm_t *p, const jd_event_t *ev)
{
    const jd_pattern_step_t *st = &r->psteps[p->k];
    for (uint32_t b = 0; b < st->nbind; b++) {
        const char **var = &pm_vars(r, p)[st->bind_var[b]];
        jd_intern_unref(*var); /* NULL unless a later step binds it again */
        *var = jd_intern_ref(ev->slot[st->bind_slot[b]]);
    }
    jd_evid_t *x = &pm_ev(p)[p->k];
    x->ts = ev->ts;
    x->channel = jd_intern_ref(ev->slot[JD_SLOT_CHANNEL]);
    x->rule = NULL;
    x->id = NULL;
    if (ev->event_id) {
        size_t len = strlen(ev->event_id);
        x->id = len < PAT_ID_INLINE ? memcpy(pm_idbuf(r, p, p->k), ev->event_id, len + 1)
                                    : strdup(ev->event_id);
    }
    p->last = ev->ts;
    p->k++;
}

/* Adds p in start order (after those of the same start). At max_groups
 * the oldest goes, counted. Takes p (freed when it cannot be held). */
static void pat_add(jd_engine_t *e, const jd_rule_t *r, pat_state_t *s, pat_pm_t *p)
{
    uint64_t max = pat_max(e);
    if (s->n == s->cap && s->cap < max) {
        uint32_t cap = s->cap < 4 ? 4 : s->cap * 2;
        if (cap > max)
            cap = (uint32_t)max;
        pat_pm_t **g = realloc(s->pm, cap * sizeof(*g));
        if (!g) {
            pm_free(r, p);
            return;
        }
        s->pm = g;
        s->cap = cap;
    }
    if (s->n == s->cap) {
        engine_group_evicted(e, 1);
        if (p->start < s->pm[0]->start) {
            pm_free(r, p);
            return;
        }
        pm_free(r, s->pm[0]);
        memmove(s->pm, s->pm + 1, (s->n - 1) * sizeof(*s->pm));
        s->n--;
    }
    uint32_t i = s->n;
    while (i > 0 && s->pm[i - 1]->start > p->start)
        i--;
    memmove(s->pm + i + 1, s->pm + i, (s->n - i) * sizeof(*s->pm));
    s->pm[i] = p;
    s->n++;
}

/* Offers ev to every partial match in start order; returns the one that
 * completed (removed from s), or NULL. */
static pat_pm_t *pat_advance(const jd_rule_t *r, pat_state_t *s, const jd_event_t *ev)
{
    uint32_t keep = 0;
    pat_pm_t *done = NULL;
    for (uint32_t i = 0; i < s->n; i++) {
        pat_pm_t *p = s->pm[i];
        if (done || pm_expired(r, p, ev->ts)) {
            if (!done)
                pm_release(r, s, p);
            else
                s->pm[keep++] = p;
            continue;
        }
        if (pat_step_matches(r, p->k, ev, pm_vars(r, p))) {
            pm_take(r, p, ev);
            if (p->k == r->npsteps) {
                done = p;
                continue;
            }
        } else if (r->contiguous) {
            pm_release(r, s, p);
            continue;
        }
        s->pm[keep++] = p;
    }
    s->n = keep;
    return done;
}

static void pat_on_event(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *j,
                         void **state, const jd_event_t *ev)
{
    pat_state_t *s = *state;
    if (r->has_scope && !jd_match_event(&r->scope, ev))
        return;
    pat_pm_t *done = s ? pat_advance(r, s, ev) : NULL;
    if (done) {
        jd_alert_req_t req = {
            .rule = r, .journey = j, .ts = ev->ts, .evid = pm_ev(done), .nevid = r->npsteps,
        };
        engine_emit(e, &req, NULL);
        pm_free(r, done);
        pat_free(e, r, s);
        *state = NULL;
        return;
    }
    if (pat_step_matches(r, 0, ev, NULL)) {
        if (!s)
            s = *state = calloc(1, sizeof(*s));
        pat_pm_t *p = s ? pm_new(r, s) : NULL;
        if (p) {
            p->start = ev->ts;
            pm_take(r, p, ev);
            pat_add(e, r, s, p);
        }
    }
    if (s && s->n == 0) {
        pat_free(e, r, s);
        *state = NULL;
    }
}

static void pat_on_timer(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *j,
                         void **state, jd_timer_t *t)
{
    (void)e; (void)r; (void)j; (void)state; (void)t; /* patterns set no timers */
}

/* Identity merge: both sides' partial matches in start order (dst's first
 * on a tie); beyond max_groups the oldest are dropped and counted. */
static void pat_merge(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *dst,
                      void **dst_state, void **src_state)
{
    (void)dst;
    pat_state_t *src = *src_state, *d = *dst_state;
    if (!d) {
        *dst_state = src;
        *src_state = NULL;
        return;
    }
    for (uint32_t i = 0; i < src->n; i++)
        pat_add(e, r, d, src->pm[i]);
    src->n = 0;
}

static int pat_idle(const jd_rule_t *r, void *state, int64_t now)
{
    pat_state_t *s = state;
    uint32_t keep = 0;
    for (uint32_t i = 0; i < s->n; i++) {
        if (pm_expired(r, s->pm[i], now))
            pm_free(r, s->pm[i]);
        else
            s->pm[keep++] = s->pm[i];
    }
    s->n = keep;
    return s->n == 0;
}

static void pat_save(const jd_rule_t *r, const void *state, jd_strbuf_t *sb)
{
    const pat_state_t *s = state;
    jd_strbuf_putc(sb, '[');
    for (uint32_t i = 0; i < s->n; i++) {
        pat_pm_t *p = s->pm[i];
        jd_strbuf_puts(sb, i ? ",[" : "[");
        jd_strbuf_i64(sb, p->start);
        jd_strbuf_putc(sb, ',');
        jd_strbuf_i64(sb, p->last);
        jd_strbuf_puts(sb, ",[");
        for (uint32_t k = 0; k < p->k; k++) {
            if (k)
                jd_strbuf_putc(sb, ',');
            jd_evid_save(&pm_ev(p)[k], sb);
        }
        jd_strbuf_puts(sb, "],[");
        for (uint32_t v = 0; v < r->nvars; v++) {
            if (v)
                jd_strbuf_putc(sb, ',');
            jd_strbuf_json_str(sb, pm_vars(r, p)[v]);
        }
        jd_strbuf_puts(sb, "]]");
    }
    jd_strbuf_putc(sb, ']');
}

static pat_pm_t *pat_load_pm(const jd_config_t *c, const jd_rule_t *r, json_t *x)
{
    json_t *evs = json_array_get(x, 2), *vars = json_array_get(x, 3);
    if (!json_is_array(x) || json_array_size(x) != 4 || !json_is_integer(json_array_get(x, 0)) ||
        !json_is_integer(json_array_get(x, 1)) || !json_is_array(evs) ||
        json_array_size(evs) < 1 || json_array_size(evs) >= r->npsteps ||
        !json_is_array(vars) || json_array_size(vars) != r->nvars)
        return NULL;
    pat_pm_t *p = pm_new(r, NULL);
    if (!p)
        return NULL;
    p->start = json_integer_value(json_array_get(x, 0));
    p->last = json_integer_value(json_array_get(x, 1));
    for (size_t k = 0; k < json_array_size(evs); k++)
        if (jd_evid_load(&pm_ev(p)[p->k], json_array_get(evs, k), c) == 0)
            p->k++;
    for (uint32_t v = 0; v < r->nvars; v++) {
        const char *val = json_string_value(json_array_get(vars, v));
        pm_vars(r, p)[v] = val ? jd_intern_str(c->intern, val) : NULL; /* a reference */
    }
    if (p->k != json_array_size(evs)) {
        pm_free(r, p);
        return NULL;
    }
    return p;
}

static int pat_load(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *j,
                    void **state, json_t *v)
{
    (void)j;
    if (!json_is_array(v))
        return -1;
    pat_state_t *s = *state ? *state : calloc(1, sizeof(*s));
    if (!s)
        return -1;
    *state = s;
    for (size_t i = 0; i < json_array_size(v); i++) {
        pat_pm_t *p = pat_load_pm(engine_conf(e), r, json_array_get(v, i));
        if (p)
            pat_add(e, r, s, p);
    }
    if (s->n == 0) {
        pat_free(e, r, s);
        *state = NULL;
    }
    return 0;
}

const jd_rule_ops_t jd_rule_pattern_ops = {
    .name = "pattern",
    .on_event = pat_on_event,
    .on_timer = pat_on_timer,
    .merge = pat_merge,
    .free_state = pat_free,
    .idle = pat_idle,
    .save = pat_save,
    .load = pat_load,
};
