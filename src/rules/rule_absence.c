/*
 * absence: a `start` event not followed by an `expect` event (with the same
 * `same` values) within `within`. Every start opens its own window; an
 * expect at or before a window's deadline closes every window of its group
 * opened before it; a window still open when the watermark passes start +
 * within alerts (ts = that deadline, evidence = the start event).
 *
 * The windows of one customer sit in one array in opening order, which is
 * deadline order (one `within` per rule), so the state needs one timer: the
 * first window's deadline. journey.max_groups bounds the open windows;
 * beyond it the oldest is dropped unalerted and counted (groups_evicted).
 */
#include <stdlib.h>
#include <string.h>
#include "journeyd/rule.h"
#include "journeyd/timeutil.h"

#define ABS_MAX_SAME 16

/* Event ids up to this long stay inside the window: most windows close
 * within seconds, and a heap copy per start event would cost more than the
 * matching. */
#define ABS_ID_INLINE 24

typedef struct abs_win {
    int64_t start;
    const char *channel;            /* of the start event, interned, one reference */
    char *id_heap;                  /* its event_id when too long for inline */
    char id_inline[ABS_ID_INLINE];
    uint8_t has_id;
    const char *vals[ABS_MAX_SAME]; /* "same" values, interned (NULL = absent),
                                       one reference each for the first nsame */
} abs_win_t;

static void win_set_id(abs_win_t *w, const char *id)
{
    w->has_id = id != NULL;
    w->id_heap = NULL;
    if (!id)
        return;
    size_t len = strlen(id);
    if (len < ABS_ID_INLINE)
        memcpy(w->id_inline, id, len + 1);
    else if (!(w->id_heap = strdup(id)))
        w->has_id = 0; /* out of memory: evidence without its id */
}

/* Gives back what w owns: its id copy and its interner references. */
static void win_clear(abs_win_t *w, uint32_t ns)
{
    free(w->id_heap);
    w->id_heap = NULL;
    jd_intern_unref(w->channel);
    w->channel = NULL;
    for (uint32_t k = 0; k < ns; k++) {
        jd_intern_unref(w->vals[k]);
        w->vals[k] = NULL;
    }
}

/* The window's evidence record; its id is borrowed from w. */
static jd_evid_t win_evid(abs_win_t *w)
{
    jd_evid_t x = { .ts = w->start, .channel = w->channel, .rule = NULL };
    x.id = !w->has_id ? NULL : w->id_heap ? w->id_heap : w->id_inline;
    return x;
}

typedef struct abs_state {
    jd_timer_t timer;     /* deadline of w[0]; the heap points here */
    uint32_t n, cap;
    abs_win_t *w;         /* own allocation: it moves when it grows */
} abs_state_t;

static uint32_t abs_nsame(const jd_rule_t *r)
{
    return r->nsame < ABS_MAX_SAME ? r->nsame : ABS_MAX_SAME;
}

static uint64_t abs_max(const jd_engine_t *e)
{
    uint64_t max = engine_conf(e)->max_groups;
    return max == 0 || max > UINT32_MAX / 2 ? UINT32_MAX / 2 : max;
}

static abs_state_t *abs_new(void)
{
    abs_state_t *s = calloc(1, sizeof(*s));
    if (s)
        s->timer.heap_idx = SIZE_MAX;
    return s;
}

static void abs_free(jd_engine_t *e, const jd_rule_t *r, void *state)
{
    abs_state_t *s = state;
    engine_timer_cancel(e, &s->timer);
    for (uint32_t i = 0; i < s->n; i++)
        win_clear(&s->w[i], abs_nsame(r));
    free(s->w);
    free(s);
}

/* After the windows changed: the timer follows the first window (set again
 * only when its deadline moves, so the tie order of timers stays that of
 * the step that opened the window); an empty state is freed. */
static void abs_settle(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *j, void **state)
{
    abs_state_t *s = *state;
    if (s->n == 0) {
        abs_free(e, r, s);
        *state = NULL;
        return;
    }
    int64_t dl = jd_time_add(s->w[0].start, r->within_ms);
    if (s->timer.heap_idx == SIZE_MAX || s->timer.deadline != dl || s->timer.journey != j)
        engine_timer_set(e, &s->timer, j, r->index, dl);
}

/* Inserts a window (taking its id and references) in start order, after
 * windows of the same start. At max_groups the oldest goes, counted. On
 * failure w still owns them. */
static int abs_insert(jd_engine_t *e, const jd_rule_t *r, abs_state_t *s, const abs_win_t *w)
{
    uint64_t max = abs_max(e);
    if (s->n == s->cap && s->cap < max) {
        uint32_t cap = s->cap < 4 ? 4 : s->cap * 2;
        if (cap > max)
            cap = (uint32_t)max;
        abs_win_t *g = realloc(s->w, cap * sizeof(*g));
        if (!g)
            return -1;
        s->w = g;
        s->cap = cap;
    }
    if (s->n == s->cap) {
        engine_group_evicted(e, 1);
        if (w->start < s->w[0].start)
            return -1; /* older than every window it would displace */
        win_clear(&s->w[0], abs_nsame(r));
        memmove(s->w, s->w + 1, (s->n - 1) * sizeof(*s->w));
        s->n--;
    }
    uint32_t i = s->n;
    while (i > 0 && s->w[i - 1].start > w->start)
        i--;
    memmove(s->w + i + 1, s->w + i, (s->n - i) * sizeof(*s->w));
    s->w[i] = *w;
    s->n++;
    return 0;
}

static void abs_on_event(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *j,
                         void **state, const jd_event_t *ev)
{
    abs_state_t *s = *state;
    int expect = s && jd_match_event(&r->expect, ev);
    int start = jd_match_event(&r->start, ev);
    if (!expect && !start)
        return;
    uint32_t ns = abs_nsame(r);
    const char *vals[ABS_MAX_SAME];
    for (uint32_t k = 0; k < ns; k++)
        vals[k] = r->same[k] < ev->nslots ? ev->slot[r->same[k]] : NULL;
    if (expect) {
        uint32_t keep = 0;
        for (uint32_t i = 0; i < s->n; i++) {
            abs_win_t *w = &s->w[i];
            if (ev->ts <= jd_time_add(w->start, r->within_ms) &&
                memcmp(w->vals, vals, ns * sizeof(char *)) == 0)
                win_clear(w, ns);
            else
                s->w[keep++] = *w;
        }
        s->n = keep;
        abs_settle(e, r, j, state);
        s = *state;
    }
    if (!start)
        return;
    if (!s && !(s = *state = abs_new()))
        return;
    abs_win_t w = { .start = ev->ts, .channel = jd_intern_ref(ev->slot[JD_SLOT_CHANNEL]) };
    for (uint32_t k = 0; k < ns; k++)
        w.vals[k] = jd_intern_ref(vals[k]);
    win_set_id(&w, ev->event_id);
    if (abs_insert(e, r, s, &w) != 0)
        win_clear(&w, ns);
    abs_settle(e, r, j, state);
}

static void abs_on_timer(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *j,
                         void **state, jd_timer_t *t)
{
    abs_state_t *s = *state;
    if (!s || &s->timer != t || s->n == 0)
        return;
    const jd_config_t *c = engine_conf(e);
    uint32_t ns = abs_nsame(r);
    const char *names[ABS_MAX_SAME];
    for (uint32_t k = 0; k < ns; k++)
        names[k] = c->slots[r->same[k]].name;
    abs_win_t w = s->w[0];
    memmove(s->w, s->w + 1, (s->n - 1) * sizeof(*s->w));
    s->n--;
    /* The engine took the timer out of its heap before calling: settle
     * sets it for the next window (or frees the state). */
    s->timer.heap_idx = SIZE_MAX;
    abs_settle(e, r, j, state);
    jd_evid_t x = win_evid(&w);
    jd_alert_req_t req = {
        .rule = r, .journey = j, .ts = jd_time_add(w.start, r->within_ms),
        .evid = &x, .nevid = 1, .group_names = names, .group_values = w.vals, .ngroup = ns,
    };
    engine_emit(e, &req, NULL);
    win_clear(&w, ns);
}

/* Identity merge: both sides' windows in start order (dst's first on a
 * tie); beyond max_groups the oldest are dropped and counted. */
static void abs_merge(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *dst,
                      void **dst_state, void **src_state)
{
    abs_state_t *src = *src_state;
    if (!*dst_state) {
        *dst_state = src;
        *src_state = NULL;
        engine_timer_cancel(e, &src->timer);
        abs_settle(e, r, dst, dst_state);
        return;
    }
    abs_state_t *d = *dst_state;
    for (uint32_t i = 0; i < src->n; i++)
        if (abs_insert(e, r, d, &src->w[i]) != 0)
            win_clear(&src->w[i], abs_nsame(r));
    src->n = 0;
    abs_settle(e, r, dst, dst_state);
}

static int abs_idle(const jd_rule_t *r, void *state, int64_t now)
{
    (void)r; (void)state; (void)now;
    return 0; /* a window ends by an expect or its timer */
}

static void abs_save(const jd_rule_t *r, const void *state, jd_strbuf_t *sb)
{
    abs_state_t *s = (abs_state_t *)state; /* win_evid only reads */
    uint32_t ns = abs_nsame(r);
    jd_strbuf_putc(sb, '[');
    for (uint32_t i = 0; i < s->n; i++) {
        jd_evid_t x = win_evid(&s->w[i]);
        jd_strbuf_puts(sb, i ? ",[" : "[");
        jd_evid_save(&x, sb);
        for (uint32_t k = 0; k < ns; k++) {
            jd_strbuf_putc(sb, ',');
            jd_strbuf_json_str(sb, s->w[i].vals[k]);
        }
        jd_strbuf_putc(sb, ']');
    }
    jd_strbuf_putc(sb, ']');
}

static int abs_load(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *j,
                    void **state, json_t *v)
{
    const jd_config_t *c = engine_conf(e);
    uint32_t ns = abs_nsame(r);
    if (!json_is_array(v))
        return -1;
    abs_state_t *s = *state ? *state : abs_new();
    if (!s)
        return -1;
    *state = s;
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *x = json_array_get(v, i);
        abs_win_t w = {0};
        jd_evid_t ev;
        if (!json_is_array(x) || json_array_size(x) != 1 + ns ||
            jd_evid_load(&ev, json_array_get(x, 0), c) != 0)
            continue;
        w.start = ev.ts;
        w.channel = ev.channel; /* its reference moves to w */
        ev.channel = NULL;
        win_set_id(&w, ev.id);
        jd_evid_clear(&ev);
        for (uint32_t k = 0; k < ns; k++) {
            const char *val = json_string_value(json_array_get(x, 1 + k));
            w.vals[k] = val ? jd_intern_str(c->intern, val) : NULL; /* a reference */
        }
        if (abs_insert(e, r, s, &w) != 0)
            win_clear(&w, ns);
    }
    abs_settle(e, r, j, state);
    return 0;
}

static jd_timer_t *abs_timer(void *state)
{
    return &((abs_state_t *)state)->timer;
}

const jd_rule_ops_t jd_rule_absence_ops = {
    .name = "absence",
    .timer = abs_timer,
    .on_event = abs_on_event,
    .on_timer = abs_on_timer,
    .merge = abs_merge,
    .free_state = abs_free,
    .idle = abs_idle,
    .save = abs_save,
    .load = abs_load,
};
