/*
 * funnel: ordered steps within `within` of the first. A step-1 event opens
 * an attempt; the deadline timer turns an attempt still open when the
 * watermark passes start + within into a drop-off naming the last step.
 *
 * breakdown_by: the attempt remembers its step-1 event's value of the field
 * and counts every step under that segment (jd_funnel_seg), through merges
 * and changelog restores. Struggles: a funnel listens to every other rule's
 * alerts on the journey and keeps those inside its open attempt; the
 * drop-off lists them as evidence.struggles.
 */
#include <stdlib.h>
#include <string.h>
#include "journeyd/rule.h"
#include "journeyd/timeutil.h"

/* Struggles a drop-off lists (the oldest); later ones are only counted
 * (evidence.struggles_omitted). */
#define FUNNEL_STRUGGLES_MAX 16

typedef struct funnel_state {
    jd_timer_t timer;      /* deadline = start + within; first member */
    int64_t start;
    uint32_t step;         /* steps reached so far (1..nsteps-1) */
    uint32_t nstr;         /* struggles kept in str */
    uint64_t str_omitted;  /* struggles beyond FUNNEL_STRUGGLES_MAX */
    const char *seg;       /* breakdown_by value (interned, one reference),
                              NULL = absent */
    jd_evid_t *str;        /* FUNNEL_STRUGGLES_MAX, allocated on the first */
    jd_evid_t ev[];        /* one per reached step */
} funnel_state_t;

static funnel_state_t *funnel_new(const jd_rule_t *r)
{
    funnel_state_t *s = jd_zalloc(sizeof(*s) + r->nsteps * sizeof(jd_evid_t));
    if (s)
        s->timer.heap_idx = SIZE_MAX;
    return s;
}

static void funnel_str_clear(funnel_state_t *s)
{
    for (uint32_t i = 0; i < s->nstr; i++)
        jd_evid_clear(&s->str[i]);
    free(s->str);
    s->str = NULL;
    s->nstr = 0;
}

static void funnel_free(jd_engine_t *e, const jd_rule_t *r, void *state)
{
    funnel_state_t *s = state;
    (void)r;
    engine_timer_cancel(e, &s->timer);
    for (uint32_t i = 0; i < s->step; i++)
        jd_evid_clear(&s->ev[i]);
    funnel_str_clear(s);
    jd_intern_unref(s->seg);
    free(s);
}

/* The attempt's segment counters; NULL without breakdown_by. An attempt
 * refused a segment at its start finds none later either (an engine's
 * table only grows), so all its counts go to "(other)" alike. */
static jd_funnel_seg_t *funnel_seg(jd_engine_t *e, const jd_rule_t *r,
                                   const funnel_state_t *s, int admit)
{
    if (!r->has_breakdown)
        return NULL;
    jd_funnel_stats_t *fs = engine_funnel_stats(e, r->index);
    uint32_t had = fs->nsegs;
    jd_funnel_seg_t *sg = jd_funnel_seg(fs, r->nsteps, s->seg, admit);
    /* The counters outlive the events (summary, shard sums, report): a
     * segment's value is pinned when it is added (JD_FUNNEL_SEGMENTS_MAX
     * per funnel and engine at most). */
    if (fs->nsegs > had)
        jd_intern_pin(engine_conf(e)->intern, sg->value);
    return sg;
}

static void funnel_on_event(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *j,
                            void **state, const jd_event_t *ev)
{
    funnel_state_t *s = *state;
    jd_funnel_stats_t *fs = engine_funnel_stats(e, r->index);
    jd_funnel_seg_t *sg;
    if (!s) {
        if (!jd_match_event(&r->steps[0].match, ev))
            return;
        if (!(s = *state = funnel_new(r)))
            return;
        s->start = ev->ts;
        s->step = 1;
        if (r->has_breakdown && r->breakdown_slot < ev->nslots)
            s->seg = jd_intern_ref(ev->slot[r->breakdown_slot]);
        jd_evid_from_event(&s->ev[0], ev);
        engine_timer_set(e, &s->timer, j, r->index, jd_time_add(ev->ts, r->within_ms));
        fs->attempts++;
        fs->reached[0]++;
        if ((sg = funnel_seg(e, r, s, 1))) {
            sg->attempts++;
            sg->reached[0]++;
        }
        return;
    }
    if (!jd_match_event(&r->steps[s->step].match, ev))
        return;
    jd_evid_from_event(&s->ev[s->step], ev);
    fs->reached[s->step]++;
    sg = funnel_seg(e, r, s, 0);
    if (sg)
        sg->reached[s->step]++;
    s->step++;
    if (s->step == r->nsteps) {
        fs->completed++;
        if (sg)
            sg->completed++;
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
        .struggles = s->str, .nstruggles = s->nstr, .struggles_omitted = s->str_omitted,
        .has_segment = r->has_breakdown, .segment = s->seg,
    };
    engine_emit(e, &req, NULL);
    engine_funnel_stats(e, r->index)->dropped[s->step - 1]++;
    jd_funnel_seg_t *sg = funnel_seg(e, r, s, 0);
    if (sg)
        sg->dropped[s->step - 1]++;
    funnel_free(e, r, s);
    *state = NULL;
}

/* Every other rule's alerts: those inside an open attempt are its
 * struggles. */
static int funnel_listens_to(const jd_rule_t *r, uint32_t src)
{
    return src != r->index;
}

/* Keeps a (copied) in s when it falls in [start, deadline]; 1 if kept or
 * counted, 0 when outside. */
static int funnel_str_add(const jd_rule_t *r, funnel_state_t *s, const jd_evid_t *a)
{
    if (a->ts < s->start || a->ts > jd_time_add(s->start, r->within_ms))
        return 0;
    if (s->nstr == FUNNEL_STRUGGLES_MAX ||
        (!s->str && !(s->str = calloc(FUNNEL_STRUGGLES_MAX, sizeof(*s->str))))) {
        s->str_omitted++;
        return 1;
    }
    jd_evid_t *d = &s->str[s->nstr];
    *d = *a;
    d->id = a->id ? strdup(a->id) : NULL;
    s->nstr++;
    return 1;
}

/* An alert is emitted in the step that detects it, and steps run in event
 * time, so alerts arrive oldest first and every alert with ts <= deadline
 * has arrived before the drop-off fires (watermark > deadline). */
static void funnel_on_alert(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *j,
                            void **state, const jd_evid_t *alert)
{
    (void)e; (void)j;
    if (*state)
        funnel_str_add(r, *state, alert);
}

/* keep takes drop's struggles: both lists, by time, inside keep's window. */
static void funnel_str_merge(const jd_rule_t *r, funnel_state_t *keep, funnel_state_t *drop)
{
    jd_evid_t *a = keep->str, *b = drop->str;
    uint32_t na = keep->nstr, nb = drop->nstr, i = 0, k = 0;
    keep->str = NULL;
    keep->nstr = 0;
    keep->str_omitted += drop->str_omitted;
    while (i < na || k < nb) {
        jd_evid_t *x = k == nb || (i < na && a[i].ts <= b[k].ts) ? &a[i++] : &b[k++];
        funnel_str_add(r, keep, x);
    }
    for (i = 0; i < na; i++)
        jd_evid_clear(&a[i]);
    free(a);
}

/* Identity merge: one attempt survives, the one furthest along (earlier
 * start on a tie), with its own segment; the other is forgotten as if it
 * never started, so attempts = completed + dropped + pending still holds,
 * per segment too. */
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
        jd_funnel_seg_t *sg = funnel_seg(e, r, drop, 0);
        fs->attempts--;
        if (sg)
            sg->attempts--;
        for (uint32_t i = 0; i < drop->step; i++) {
            fs->reached[i]--;
            if (sg)
                sg->reached[i]--;
        }
        funnel_str_merge(r, keep, drop);
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

/* {"s": start, "e": [step evidence], "b": segment value (absent: the
 * field was), "t": [struggles], "o": struggles omitted} */
static void funnel_save(const jd_rule_t *r, const void *state, jd_strbuf_t *sb)
{
    const funnel_state_t *s = state;
    jd_strbuf_puts(sb, "{\"s\":");
    jd_strbuf_i64(sb, s->start);
    jd_strbuf_puts(sb, ",\"e\":[");
    for (uint32_t i = 0; i < s->step; i++) {
        if (i)
            jd_strbuf_putc(sb, ',');
        jd_evid_save(&s->ev[i], sb);
    }
    jd_strbuf_putc(sb, ']');
    if (r->has_breakdown && s->seg) {
        jd_strbuf_puts(sb, ",\"b\":");
        jd_strbuf_json_str(sb, s->seg);
    }
    if (s->nstr) {
        jd_strbuf_puts(sb, ",\"t\":[");
        for (uint32_t i = 0; i < s->nstr; i++) {
            if (i)
                jd_strbuf_putc(sb, ',');
            jd_evid_save(&s->str[i], sb);
        }
        jd_strbuf_putc(sb, ']');
    }
    if (s->str_omitted) {
        jd_strbuf_puts(sb, ",\"o\":");
        jd_strbuf_i64(sb, (int64_t)s->str_omitted);
    }
    jd_strbuf_putc(sb, '}');
}

static int funnel_load(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *j,
                       void **state, json_t *v)
{
    const jd_config_t *conf = engine_conf(e);
    json_t *start = json_object_get(v, "s"), *evs = json_object_get(v, "e");
    json_t *seg = json_object_get(v, "b"), *strs = json_object_get(v, "t");
    json_t *omitted = json_object_get(v, "o");
    if (!json_is_integer(start) || !json_is_array(evs) || json_array_size(evs) < 1 ||
        json_array_size(evs) >= r->nsteps || (seg && !json_is_string(seg)) ||
        (strs && !json_is_array(strs)) || (omitted && !json_is_integer(omitted)))
        return -1;
    funnel_state_t *s = funnel_new(r);
    if (!s)
        return -1;
    s->start = json_integer_value(start);
    for (size_t i = 0; i < json_array_size(evs); i++)
        if (jd_evid_load(&s->ev[s->step], json_array_get(evs, i), conf) == 0)
            s->step++;
    if (s->step == 0) {
        free(s);
        return -1;
    }
    if (seg && r->has_breakdown)
        s->seg = jd_intern_str(conf->intern, json_string_value(seg));
    /* A fresh engine learns the segment now, so the attempt's later steps
     * count under it rather than under "(other)". */
    funnel_seg(e, r, s, 1);
    for (size_t i = 0; i < json_array_size(strs); i++) {
        jd_evid_t a;
        if (jd_evid_load(&a, json_array_get(strs, i), conf) != 0)
            continue;
        funnel_str_add(r, s, &a);
        jd_evid_clear(&a);
    }
    if (omitted && json_integer_value(omitted) > 0)
        s->str_omitted += (uint64_t)json_integer_value(omitted);
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
    .listens_to = funnel_listens_to,
    .on_alert = funnel_on_alert,
};
