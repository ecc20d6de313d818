/*
 * sequence: a `first` occurrence (an event filter or another rule's alert)
 * followed by a `then` event within `within`. One alert per `then`, which
 * consumes every unconsumed first occurrence in the window.
 *
 * The occurrences are exact (contract section 5): one is forgotten only when
 * it lies more than `within` before the event being evaluated, so no later
 * `then` can reach it. journey.max_groups bounds them against a customer
 * who errors endlessly without ever calling: beyond it the least recently
 * active (the oldest) occurrence is dropped and counted (groups_evicted).
 *
 * They sit in a ring, oldest first: expiry and eviction take from the front
 * and new occurrences go to the back, both O(1) however many are held.
 */
#include <stdlib.h>
#include <string.h>
#include "journeyd/rule.h"
#include "journeyd/timeutil.h"

typedef struct seq_state {
    uint32_t head, n, cap;        /* occurrence i (0 = oldest) at (head + i) % cap */
    jd_evid_t occ[];              /* cap slots; grows by doubling up to max_groups */
} seq_state_t;

static jd_evid_t *seq_at(seq_state_t *s, uint32_t i)
{
    uint32_t k = s->head + i;
    return &s->occ[k >= s->cap ? k - s->cap : k];
}

/* journey.max_groups, kept where ring arithmetic on uint32_t cannot wrap. */
static uint32_t seq_max(const jd_engine_t *e)
{
    uint64_t max = engine_conf(e)->max_groups;
    return max == 0 || max > UINT32_MAX / 2 ? UINT32_MAX / 2 : (uint32_t)max;
}

static seq_state_t *seq_alloc(uint32_t cap)
{
    seq_state_t *s = calloc(1, sizeof(*s) + (size_t)cap * sizeof(jd_evid_t));
    if (s)
        s->cap = cap;
    return s;
}

static void seq_drop_front(seq_state_t *s, uint32_t k)
{
    for (uint32_t i = 0; i < k; i++)
        jd_evid_clear(seq_at(s, i));
    s->n -= k;
    s->head = s->n ? (uint32_t)(((uint64_t)s->head + k) % s->cap) : 0;
}

static int seq_idle(const jd_rule_t *r, void *state, int64_t now)
{
    seq_state_t *s = state;
    uint32_t k = 0;
    while (k < s->n && now > jd_time_add(seq_at(s, k)->ts, r->within_ms))
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

/* A copy of s with room for cap occurrences (cap >= s->n), or NULL. s is
 * freed when the copy succeeds; its occurrences move. */
static seq_state_t *seq_regrow(seq_state_t *s, uint32_t cap)
{
    seq_state_t *g = seq_alloc(cap);
    if (!g)
        return NULL;
    for (uint32_t i = 0; i < s->n; i++)
        g->occ[i] = *seq_at(s, i);
    g->n = s->n;
    free(s);
    return g;
}

/* Adds an occurrence (takes ownership of occ->id). At max_groups the oldest
 * of the held ones and occ goes, counted. */
static void seq_add(jd_engine_t *e, void **state, const jd_evid_t *occ)
{
    seq_state_t *s = *state;
    uint32_t max = seq_max(e);
    if (!s || (s->n == s->cap && s->cap < max)) {
        uint32_t cap = !s || s->cap < 2 ? 2 : s->cap > max / 2 ? max : s->cap * 2;
        if (cap > max)
            cap = max;
        seq_state_t *g = !s ? seq_alloc(cap) : seq_regrow(s, cap);
        if (!g) {
            jd_evid_drop(occ); /* out of memory: this occurrence is lost */
            return;
        }
        s = *state = g;
    }
    if (s->n == s->cap) {
        engine_group_evicted(e, 1);
        if (occ->ts < seq_at(s, 0)->ts) {
            jd_evid_drop(occ); /* older than all it would displace */
            return;
        }
        seq_drop_front(s, 1);
    }
    /* Occurrences arrive in event-time order except for merges and restores;
     * one of equal ts goes after those already held. */
    uint32_t i = s->n;
    for (; i > 0 && seq_at(s, i - 1)->ts > occ->ts; i--)
        *seq_at(s, i) = *seq_at(s, i - 1);
    *seq_at(s, i) = *occ;
    s->n++;
}

/* Reverses a[lo, hi). */
static void seq_reverse(jd_evid_t *a, uint32_t lo, uint32_t hi)
{
    while (hi - lo > 1) {
        jd_evid_t t = a[lo];
        a[lo++] = a[--hi];
        a[hi] = t;
    }
}

/* The occurrences, oldest first, as one array (the alert renders a list):
 * a wrapped ring is rotated in place, which needs no memory. */
static const jd_evid_t *seq_linear(seq_state_t *s)
{
    if ((uint64_t)s->head + s->n <= s->cap)
        return s->occ + s->head;
    seq_reverse(s->occ, 0, s->head);
    seq_reverse(s->occ, s->head, s->cap);
    seq_reverse(s->occ, 0, s->cap);
    s->head = 0;
    return s->occ;
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
            .first = seq_linear(s), .nfirst = s->n,
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
            seq_add(e, state, &occ);
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
    (void)r; (void)j;
    jd_evid_t occ;
    jd_evid_copy(&occ, alert);
    seq_add(e, state, &occ);
}

static void seq_on_timer(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *j,
                         void **state, jd_timer_t *t)
{
    (void)e; (void)r; (void)j; (void)state; (void)t; /* sequences set no timers */
}

/* Identity merge: both sides' occurrences, interleaved by time (dst's
 * first on a tie), filled from the newest; beyond max_groups the oldest
 * are dropped and counted. Out of memory dst keeps its own. */
static void seq_merge(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *dst,
                      void **dst_state, void **src_state)
{
    (void)dst;
    seq_state_t *src = *src_state, *d = *dst_state;
    *src_state = NULL;
    if (!d) {
        *dst_state = src;
        return;
    }
    uint64_t total = (uint64_t)d->n + src->n, max = seq_max(e);
    uint32_t keep = (uint32_t)(total < max ? total : max);
    seq_state_t *m = seq_alloc(keep);
    if (!m) {
        seq_free(e, r, src);
        return;
    }
    uint32_t a = d->n, b = src->n;
    for (uint32_t k = keep; k > 0; k--) {
        int from_src = b > 0 && (a == 0 || seq_at(src, b - 1)->ts >= seq_at(d, a - 1)->ts);
        m->occ[k - 1] = from_src ? *seq_at(src, --b) : *seq_at(d, --a);
    }
    m->n = keep;
    if (a + b > 0)
        engine_group_evicted(e, a + b);
    d->n = a;   /* what is left of either side is the oldest: dropped */
    src->n = b;
    seq_free(e, r, d);
    seq_free(e, r, src);
    *dst_state = m;
}

static void seq_save(const jd_rule_t *r, const void *state, jd_strbuf_t *sb)
{
    seq_state_t *s = (seq_state_t *)state; /* seq_at only reads */
    (void)r;
    jd_strbuf_putc(sb, '[');
    for (uint32_t i = 0; i < s->n; i++) {
        if (i)
            jd_strbuf_putc(sb, ',');
        jd_evid_save(seq_at(s, i), sb);
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
            seq_add(e, state, &occ);
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
