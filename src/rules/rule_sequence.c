/*
 * sequence: a `first` occurrence (an event filter or another rule's alert)
 * followed by a `then` event within `within`. One alert per `then`, which
 * consumes every unconsumed first occurrence in the window.
 */
#include <stdlib.h>
#include <string.h>
#include "journeyd/rule.h"
#include "journeyd/timeutil.h"

/* Occurrences older than `within` are useless; the cap bounds a customer
 * who errors thousands of times before calling. */
#define SEQ_MAX_OCC 32

typedef struct seq_state {
    uint32_t n, cap;
    jd_evid_t occ[];              /* oldest first; grows up to SEQ_MAX_OCC */
} seq_state_t;

static void seq_drop_front(seq_state_t *s, uint32_t k)
{
    for (uint32_t i = 0; i < k; i++)
        jd_evid_clear(&s->occ[i]);
    memmove(s->occ, s->occ + k, (s->n - k) * sizeof(jd_evid_t));
    s->n -= k;
}

static int seq_idle(const jd_rule_t *r, void *state, int64_t now)
{
    seq_state_t *s = state;
    uint32_t k = 0;
    while (k < s->n && now > jd_time_add(s->occ[k].ts, r->within_ms))
        k++;
    seq_drop_front(s, k);
    return s->n == 0;
}

static void seq_free(jd_engine_t *e, const jd_rule_t *r, void *state)
{
    (void)e; (void)r;
    seq_state_t *s = state;
    seq_drop_front(s, s->n);
    free(s);
}

/* Adds an occurrence (takes ownership of occ->id). */
static void seq_add(void **state, const jd_evid_t *occ)
{
    seq_state_t *s = *state;
    if (!s || (s->n == s->cap && s->cap < SEQ_MAX_OCC)) {
        uint32_t cap = s ? s->cap * 2 : 2;
        seq_state_t *g = realloc(s, sizeof(*s) + cap * sizeof(jd_evid_t));
        if (!g) {
            free(occ->id);
            return;
        }
        if (!s)
            g->n = 0;
        g->cap = cap;
        s = *state = g;
    }
    if (s->n == s->cap)
        seq_drop_front(s, 1);
    /* Occurrences arrive in event-time order except for merges. */
    uint32_t i = s->n;
    while (i > 0 && s->occ[i - 1].ts > occ->ts)
        i--;
    memmove(s->occ + i + 1, s->occ + i, (s->n - i) * sizeof(jd_evid_t));
    s->occ[i] = *occ;
    s->n++;
}

static int seq_matches_any(const jd_match_t *alts, uint32_t n, const jd_event_t *ev)
{
    for (uint32_t i = 0; i < n; i++)
        if (jd_match_event(&alts[i], ev))
            return 1;
    return 0;
}

static void seq_on_event(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *j,
                         void **state, const jd_event_t *ev)
{
    seq_state_t *s = *state;
    if (s && seq_idle(r, s, ev->ts)) {
        free(s);
        s = *state = NULL;
    }
    if (s && seq_matches_any(r->then, r->nthen, ev)) {
        jd_evid_t then;
        jd_evid_from_event(&then, ev);
        jd_alert_req_t req = {
            .rule = r, .journey = j, .ts = ev->ts, .evid = &then, .nevid = 1,
            .first = s->occ, .nfirst = s->n,
        };
        engine_emit(e, &req, NULL);
        jd_evid_clear(&then);
        seq_free(e, r, s);
        s = *state = NULL;
    }
    for (uint32_t i = 0; i < r->nfirst; i++) {
        const jd_seq_first_t *f = &r->first[i];
        if (!f->is_alert && jd_match_event(&f->match, ev)) {
            jd_evid_t occ;
            jd_evid_from_event(&occ, ev);
            seq_add(state, &occ);
            break;
        }
    }
}

static int seq_listens_to(const jd_rule_t *r, uint32_t src)
{
    for (uint32_t f = 0; f < r->nfirst; f++)
        for (uint32_t k = 0; r->first[f].is_alert && k < r->first[f].nrules; k++)
            if (r->first[f].rules[k] == src)
                return 1;
    return 0;
}

static void seq_on_alert(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *j,
                         void **state, const jd_evid_t *alert)
{
    (void)e; (void)r; (void)j;
    jd_evid_t occ = *alert;
    occ.id = alert->id ? strdup(alert->id) : NULL;
    seq_add(state, &occ);
}

static void seq_on_timer(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *j,
                         void **state, jd_timer_t *t)
{
    (void)e; (void)r; (void)j; (void)state; (void)t; /* sequences set no timers */
}

static void seq_merge(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *dst,
                      void **dst_state, void **src_state)
{
    (void)e; (void)r; (void)dst;
    seq_state_t *src = *src_state;
    for (uint32_t i = 0; i < src->n; i++)
        seq_add(dst_state, &src->occ[i]);   /* ids move to dst */
    free(src);
    *src_state = NULL;
}

static void seq_save(const jd_rule_t *r, const void *state, jd_strbuf_t *sb)
{
    const seq_state_t *s = state;
    (void)r;
    jd_strbuf_putc(sb, '[');
    for (uint32_t i = 0; i < s->n; i++) {
        if (i)
            jd_strbuf_putc(sb, ',');
        jd_evid_save(&s->occ[i], sb);
    }
    jd_strbuf_putc(sb, ']');
}

static int seq_load(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *j,
                    void **state, json_t *v)
{
    (void)r; (void)j;
    if (!json_is_array(v))
        return -1;
    for (size_t i = 0; i < json_array_size(v); i++) {
        jd_evid_t occ;
        if (jd_evid_load(&occ, json_array_get(v, i), engine_conf(e)) == 0)
            seq_add(state, &occ);
    }
    return 0;
}

const jd_rule_ops_t jd_rule_sequence_ops = {
    .name = "sequence",
    .listens_to = seq_listens_to,
    .on_alert = seq_on_alert,
    .on_event = seq_on_event,
    .on_timer = seq_on_timer,
    .merge = seq_merge,
    .free_state = seq_free,
    .idle = seq_idle,
    .save = seq_save,
    .load = seq_load,
};
