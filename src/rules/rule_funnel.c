/*
 * funnel: ordered steps within `within` of the first. A step-1 event opens
 * an attempt; the deadline timer turns an attempt still open when the
 * watermark passes start + within into a drop-off naming the last step.
 */
#include <stdlib.h>
#include <string.h>
#include "journeyd/rule.h"
#include "journeyd/timeutil.h"

typedef struct funnel_state {
    jd_timer_t timer;      /* deadline = start + within */
    int64_t start;
    uint32_t step;         /* steps reached so far (1..nsteps-1) */
    jd_evid_t ev[];        /* one per reached step */
} funnel_state_t;

static funnel_state_t *funnel_new(const jd_rule_t *r)
{
    funnel_state_t *s = calloc(1, sizeof(*s) + r->nsteps * sizeof(jd_evid_t));
    if (s)
        s->timer.heap_idx = SIZE_MAX;
    return s;
}

static void funnel_free(jd_engine_t *e, const jd_rule_t *r, void *state)
{
    funnel_state_t *s = state;
    (void)r;
    engine_timer_cancel(e, &s->timer);
    for (uint32_t i = 0; i < s->step; i++)
        jd_evid_clear(&s->ev[i]);
    free(s);
}

static void funnel_on_event(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *j,
                            void **state, const jd_event_t *ev)
{
    funnel_state_t *s = *state;
    jd_funnel_stats_t *fs = engine_funnel_stats(e, r->index);
    if (!s) {
        if (!jd_match_event(&r->steps[0].match, ev))
            return;
        if (!(s = *state = funnel_new(r)))
            return;
        s->start = ev->ts;
        s->step = 1;
        jd_evid_from_event(&s->ev[0], ev);
        engine_timer_set(e, &s->timer, j, r->index, jd_time_add(ev->ts, r->within_ms));
        fs->attempts++;
        fs->reached[0]++;
        return;
    }
    if (!jd_match_event(&r->steps[s->step].match, ev))
        return;
    jd_evid_from_event(&s->ev[s->step], ev);
    fs->reached[s->step]++;
    s->step++;
    if (s->step == r->nsteps) {
        fs->completed++;
        funnel_free(e, r, s);
        *state = NULL;
    }
}

static void funnel_on_timer(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *j,
                            void **state, jd_timer_t *t)
{
    funnel_state_t *s = *state;
    if (!s || &s->timer != t)
        return;
    jd_alert_req_t req = {
        .rule = r, .journey = j, .ts = t->deadline, .evid = s->ev,
        .nevid = s->step, .funnel_last_step = (int)s->step,
    };
    engine_emit(e, &req, NULL);
    engine_funnel_stats(e, r->index)->dropped[s->step - 1]++;
    funnel_free(e, r, s);
    *state = NULL;
}

/* Identity merge: one attempt survives, the one furthest along (earlier
 * start on a tie); the other is forgotten as if it never started, so
 * attempts = completed + dropped + pending still holds. */
static void funnel_merge(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *dst,
                         void **dst_state, void **src_state)
{
    funnel_state_t *a = *src_state, *d = *dst_state;
    jd_funnel_stats_t *fs = engine_funnel_stats(e, r->index);
    funnel_state_t *keep = a, *drop = d;
    if (d && (d->step > a->step || (d->step == a->step && d->start <= a->start))) {
        keep = d;
        drop = a;
    }
    if (drop) {
        fs->attempts--;
        for (uint32_t i = 0; i < drop->step; i++)
            fs->reached[i]--;
        funnel_free(e, r, drop);
    }
    if (keep == a)
        engine_timer_set(e, &a->timer, dst, r->index, jd_time_add(a->start, r->within_ms));
    *dst_state = keep;
    *src_state = NULL;
}

static int funnel_idle(const jd_rule_t *r, void *state, int64_t now)
{
    (void)r; (void)state; (void)now;
    return 0; /* an open attempt ends only by completion or its timer */
}

static void funnel_save(const jd_rule_t *r, const void *state, jd_strbuf_t *sb)
{
    const funnel_state_t *s = state;
    (void)r;
    jd_strbuf_puts(sb, "{\"s\":");
    jd_strbuf_i64(sb, s->start);
    jd_strbuf_puts(sb, ",\"e\":[");
    for (uint32_t i = 0; i < s->step; i++) {
        if (i)
            jd_strbuf_putc(sb, ',');
        jd_evid_save(&s->ev[i], sb);
    }
    jd_strbuf_puts(sb, "]}");
}

static int funnel_load(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *j,
                       void **state, json_t *v)
{
    json_t *start = json_object_get(v, "s"), *evs = json_object_get(v, "e");
    if (!json_is_integer(start) || !json_is_array(evs) || json_array_size(evs) < 1 ||
        json_array_size(evs) >= r->nsteps)
        return -1;
    funnel_state_t *s = funnel_new(r);
    if (!s)
        return -1;
    s->start = json_integer_value(start);
    for (size_t i = 0; i < json_array_size(evs); i++)
        if (jd_evid_load(&s->ev[s->step], json_array_get(evs, i), engine_conf(e)) == 0)
            s->step++;
    if (s->step == 0) {
        free(s);
        return -1;
    }
    engine_timer_set(e, &s->timer, j, r->index, jd_time_add(s->start, r->within_ms));
    *state = s;
    return 0;
}

static jd_timer_t *funnel_timer(void *state)
{
    return &((funnel_state_t *)state)->timer;
}

const jd_rule_ops_t jd_rule_funnel_ops = {
    .name = "funnel",
    .step_stats = 1,
    .timer = funnel_timer,
    .on_event = funnel_on_event,
    .on_timer = funnel_on_timer,
    .merge = funnel_merge,
    .free_state = funnel_free,
    .idle = funnel_idle,
    .save = funnel_save,
    .load = funnel_load,
};
