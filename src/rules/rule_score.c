/*
 * score: a decaying per-customer score fed by events and other rules'
 * alerts (contract section 5a). score(t) = sum of points * 2^(-(t - t_i) /
 * half_life). A contribution that lifts the score to `threshold` or above
 * while the rule is armed alerts and disarms it; a later contribution that
 * finds the score below half the threshold (before adding itself) re-arms
 * it, and may fire at once.
 *
 * Contributions are kept, oldest first, while they weigh at least 1% of
 * their points: those are the alert's evidence. Older ones are folded into
 * one decayed residual (value at resid_ts), so the score stays exact while
 * the list stays short; journey.max_groups bounds the list too (beyond it
 * the oldest is folded early, counted as groups_evicted).
 *
 * An event takes the points of the first contribution whose filter it
 * matches; an alert those of the first contribution naming its rule.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "journeyd/rule.h"
#include "journeyd/timeutil.h"

typedef struct score_contrib {
    double points;
    jd_evid_t ev;          /* ev.rule != NULL: another rule's alert */
} score_contrib_t;

typedef struct score_state {
    int disarmed;          /* 0 = armed (a new state is armed) */
    double resid;          /* decayed sum of folded contributions at resid_ts */
    int64_t resid_ts;
    uint32_t n, cap;
    score_contrib_t *c;    /* oldest first */
} score_state_t;

static uint64_t score_max(const jd_engine_t *e)
{
    uint64_t max = engine_conf(e)->max_groups;
    return max == 0 || max > UINT32_MAX / 2 ? UINT32_MAX / 2 : max;
}

/* 2^(-(t - ts) / half_life); the reference computes the same expression. */
static double score_weight(const jd_rule_t *r, int64_t t, int64_t ts)
{
    return pow(2.0, -((double)t - (double)ts) / (double)r->half_life_ms);
}

static double score_at(const jd_rule_t *r, const score_state_t *s, int64_t t)
{
    double sum = s->resid ? s->resid * score_weight(r, t, s->resid_ts) : 0.0;
    for (uint32_t i = 0; i < s->n; i++)
        sum += s->c[i].points * score_weight(r, t, s->c[i].ev.ts);
    return sum;
}

static void score_free(jd_engine_t *e, const jd_rule_t *r, void *state)
{
    score_state_t *s = state;
    (void)e; (void)r;
    for (uint32_t i = 0; i < s->n; i++)
        jd_evid_clear(&s->c[i].ev);
    free(s->c);
    free(s);
}

/* Folds the first k contributions into the residual, decayed to t. */
static void score_fold(const jd_rule_t *r, score_state_t *s, uint32_t k, int64_t t)
{
    if (k == 0)
        return;
    double v = s->resid ? s->resid * score_weight(r, t, s->resid_ts) : 0.0;
    for (uint32_t i = 0; i < k; i++) {
        v += s->c[i].points * score_weight(r, t, s->c[i].ev.ts);
        jd_evid_clear(&s->c[i].ev);
    }
    memmove(s->c, s->c + k, (s->n - k) * sizeof(*s->c));
    s->n -= k;
    s->resid = v;
    s->resid_ts = t;
}

/* Folds what weighs less than 1% at t (kept in time order, so a prefix
 * except after a merge: then it is at least the prefix). */
static void score_fold_faded(const jd_rule_t *r, score_state_t *s, int64_t t)
{
    uint32_t k = 0;
    while (k < s->n && score_weight(r, t, s->c[k].ev.ts) < 0.01)
        k++;
    score_fold(r, s, k, t);
}

/* Appends a contribution in time order (takes c->ev). */
static int score_push(jd_engine_t *e, const jd_rule_t *r, score_state_t *s,
                      const score_contrib_t *c)
{
    uint64_t max = score_max(e);
    if (s->n == s->cap && s->cap < max) {
        uint32_t cap = s->cap < 4 ? 4 : s->cap * 2;
        if (cap > max)
            cap = (uint32_t)max;
        score_contrib_t *g = realloc(s->c, cap * sizeof(*g));
        if (!g)
            return -1;
        s->c = g;
        s->cap = cap;
    }
    if (s->n == s->cap) {
        engine_group_evicted(e, 1);
        score_fold(r, s, 1, s->c[s->n - 1].ev.ts > c->ev.ts ? s->c[s->n - 1].ev.ts : c->ev.ts);
    }
    uint32_t i = s->n;
    while (i > 0 && s->c[i - 1].ev.ts > c->ev.ts)
        i--;
    memmove(s->c + i + 1, s->c + i, (s->n - i) * sizeof(*s->c));
    s->c[i] = *c;
    s->n++;
    return 0;
}

static void score_alert(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *j,
                        score_state_t *s, int64_t t, double score)
{
    jd_evid_t *evs = malloc((s->n + 1) * sizeof(*evs));
    jd_evid_t *alerts = malloc((s->n + 1) * sizeof(*alerts));
    size_t nev = 0, nal = 0;
    for (uint32_t i = 0; evs && alerts && i < s->n; i++) {
        if (s->c[i].ev.rule)
            alerts[nal++] = s->c[i].ev;
        else
            evs[nev++] = s->c[i].ev;
    }
    jd_alert_req_t req = {
        .rule = r, .journey = j, .ts = t, .evid = evs, .nevid = nev,
        .first = nal ? alerts : NULL, .nfirst = nal, .has_score = 1, .score = score,
    };
    engine_emit(e, &req, NULL);
    free(evs);
    free(alerts);
}

/* One contribution at ev->ts (takes what ev owns: id, channel reference). */
static void score_add(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *j, void **state,
                      double points, const jd_evid_t *ev)
{
    score_state_t *s = *state;
    if (!s && !(s = *state = calloc(1, sizeof(*s)))) {
        jd_evid_drop(ev);
        return;
    }
    int64_t t = ev->ts;
    score_fold_faded(r, s, t);
    double before = score_at(r, s, t);
    if (s->disarmed && before < r->threshold / 2)
        s->disarmed = 0;
    score_contrib_t c = { .points = points, .ev = *ev };
    if (score_push(e, r, s, &c) != 0)
        jd_evid_drop(ev);
    double after = before + points;
    if (!s->disarmed && after >= r->threshold) {
        s->disarmed = 1;
        score_alert(e, r, j, s, t, after);
    }
}

static void score_on_event(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *j,
                           void **state, const jd_event_t *ev)
{
    for (uint32_t i = 0; i < r->ncontribs; i++) {
        const jd_score_contrib_t *c = &r->contribs[i];
        if (!c->is_alert && jd_match_event(&c->match, ev)) {
            jd_evid_t x;
            jd_evid_from_event(&x, ev);
            score_add(e, r, j, state, c->points, &x);
            return;
        }
    }
}

static int score_listens_to(const jd_rule_t *r, uint32_t src)
{
    for (uint32_t i = 0; i < r->ncontribs; i++)
        for (uint32_t k = 0; r->contribs[i].is_alert && k < r->contribs[i].nrules; k++)
            if (r->contribs[i].rules[k] == src)
                return 1;
    return 0;
}

static void score_on_alert(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *j,
                           void **state, const jd_evid_t *alert)
{
    const jd_config_t *conf = engine_conf(e);
    for (uint32_t i = 0; i < r->ncontribs; i++) {
        const jd_score_contrib_t *c = &r->contribs[i];
        for (uint32_t k = 0; c->is_alert && k < c->nrules; k++) {
            if (conf->rules[c->rules[k]].name != alert->rule)
                continue;
            jd_evid_t x;
            jd_evid_copy(&x, alert); /* alert is the engine's, borrowed */
            score_add(e, r, j, state, c->points, &x);
            return;
        }
    }
}

static void score_on_timer(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *j,
                           void **state, jd_timer_t *t)
{
    (void)e; (void)r; (void)j; (void)state; (void)t; /* scores set no timers */
}

/* Identity merge: contributions interleaved by time (dst's first on a tie),
 * residuals added at the later of their times; disarmed if either side
 * was (an alert already told about this customer). */
static void score_merge(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *dst,
                        void **dst_state, void **src_state)
{
    (void)dst;
    score_state_t *src = *src_state, *d = *dst_state;
    if (!d) {
        *dst_state = src;
        *src_state = NULL;
        return;
    }
    d->disarmed |= src->disarmed;
    if (src->resid) {
        int64_t t = d->resid_ts > src->resid_ts ? d->resid_ts : src->resid_ts;
        double a = d->resid ? d->resid * score_weight(r, t, d->resid_ts) : 0.0;
        d->resid = a + src->resid * score_weight(r, t, src->resid_ts);
        d->resid_ts = t;
    }
    for (uint32_t i = 0; i < src->n; i++)
        if (score_push(e, r, d, &src->c[i]) != 0)
            jd_evid_clear(&src->c[i].ev);
    src->n = 0;
}

static int score_idle(const jd_rule_t *r, void *state, int64_t now)
{
    (void)r; (void)state; (void)now;
    return 0; /* the residual and the arming outlive the evidence */
}

static void score_save(const jd_rule_t *r, const void *state, jd_strbuf_t *sb)
{
    const score_state_t *s = state;
    (void)r;
    jd_strbuf_printf(sb, "{\"d\":%d,\"r\":%.17g,\"rt\":", s->disarmed, s->resid);
    jd_strbuf_i64(sb, s->resid_ts);
    jd_strbuf_puts(sb, ",\"c\":[");
    for (uint32_t i = 0; i < s->n; i++) {
        jd_strbuf_printf(sb, "%s[%.17g,", i ? "," : "", s->c[i].points);
        jd_evid_save(&s->c[i].ev, sb);
        jd_strbuf_putc(sb, ']');
    }
    jd_strbuf_puts(sb, "]}");
}

static int score_load(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *j,
                      void **state, json_t *v)
{
    (void)j;
    json_t *d = json_object_get(v, "d"), *res = json_object_get(v, "r");
    json_t *rt = json_object_get(v, "rt"), *cs = json_object_get(v, "c");
    if (!json_is_integer(d) || !json_is_number(res) || !json_is_integer(rt) || !json_is_array(cs))
        return -1;
    score_state_t *s = calloc(1, sizeof(*s));
    if (!s)
        return -1;
    s->disarmed = json_integer_value(d) != 0;
    s->resid = json_number_value(res);
    s->resid_ts = json_integer_value(rt);
    for (size_t i = 0; i < json_array_size(cs); i++) {
        json_t *x = json_array_get(cs, i);
        score_contrib_t c = { .points = json_number_value(json_array_get(x, 0)) };
        if (!json_is_array(x) || json_array_size(x) != 2 ||
            jd_evid_load(&c.ev, json_array_get(x, 1), engine_conf(e)) != 0)
            continue;
        if (score_push(e, r, s, &c) != 0)
            jd_evid_clear(&c.ev);
    }
    if (*state)
        score_free(e, r, *state);
    *state = s;
    return 0;
}

const jd_rule_ops_t jd_rule_score_ops = {
    .name = "score",
    .listens_to = score_listens_to,
    .on_alert = score_on_alert,
    .on_event = score_on_event,
    .on_timer = score_on_timer,
    .merge = score_merge,
    .free_state = score_free,
    .idle = score_idle,
    .save = score_save,
    .load = score_load,
};
