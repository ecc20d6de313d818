/*
 * The timer heap: rule timeouts ordered by (deadline, scheduling order),
 * and the order of evaluation steps that alerts carry. The order is made of
 * keys from the scheduling step, not of a per-engine counter, so shards
 * running parts of the stream agree on it with one engine.
 */
#include <stdlib.h>
#include "engine_priv.h"

/* Deadline, then the order in which the timers were scheduled: by the
 * event step that scheduled them, then within that step. Keys rather than
 * a counter, so that shards running parts of the stream agree on it. */
static int timer_before(const jd_timer_t *a, const jd_timer_t *b)
{
    if (a->deadline != b->deadline)
        return a->deadline < b->deadline;
    if (a->sched_ts != b->sched_ts)
        return a->sched_ts < b->sched_ts;
    if (a->seq != b->seq)
        return a->seq < b->seq;
    return a->sub < b->sub;
}

int jd_step_cmp(const jd_step_t *a, const jd_step_t *b)
{
    if (a->time != b->time)
        return a->time < b->time ? -1 : 1;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    if (a->sched_ts != b->sched_ts)
        return a->sched_ts < b->sched_ts ? -1 : 1;
    if (a->seq != b->seq)
        return a->seq < b->seq ? -1 : 1;
    if (a->sub != b->sub)
        return a->sub < b->sub ? -1 : 1;
    return 0;
}

static void theap_place(jd_engine_t *e, size_t i, jd_timer_t *t)
{
    e->th[i] = t;
    t->heap_idx = i;
}

static void theap_up(jd_engine_t *e, size_t i)
{
    jd_timer_t *x = e->th[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!timer_before(x, e->th[p]))
            break;
        theap_place(e, i, e->th[p]);
        i = p;
    }
    theap_place(e, i, x);
}

static void theap_down(jd_engine_t *e, size_t i)
{
    jd_timer_t *x = e->th[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= e->tn)
            break;
        if (c + 1 < e->tn && timer_before(e->th[c + 1], e->th[c]))
            c++;
        if (!timer_before(e->th[c], x))
            break;
        theap_place(e, i, e->th[c]);
        i = c;
    }
    theap_place(e, i, x);
}

static void theap_remove(jd_engine_t *e, size_t i)
{
    jd_timer_t *t = e->th[i];
    t->heap_idx = SIZE_MAX;
    e->tn--;
    if (i == e->tn)
        return;
    theap_place(e, i, e->th[e->tn]);
    theap_down(e, i);
    theap_up(e, e->th[i]->heap_idx);
}

int engine_timer_insert(jd_engine_t *e, jd_timer_t *t)
{
    if (e->tn == e->tcap) {
        size_t ncap = e->tcap ? e->tcap * 2 : 1024;
        jd_timer_t **n = realloc(e->th, ncap * sizeof(*n));
        if (!n)
            return -1;
        e->th = n;
        e->tcap = ncap;
    }
    theap_place(e, e->tn++, t);
    theap_up(e, e->tn - 1);
    return 0;
}

void engine_timer_remove(jd_engine_t *e, jd_timer_t *t)
{
    theap_remove(e, t->heap_idx);
}

void engine_timer_set(jd_engine_t *e, jd_timer_t *t, jd_journey_t *j,
                      uint32_t rule, int64_t deadline)
{
    if (t->heap_idx == JD_TIMER_DEFERRED)
        engine_frozen_undefer(e, t);
    if (t->heap_idx != SIZE_MAX && t->heap_idx < e->tn && e->th[t->heap_idx] == t)
        theap_remove(e, t->heap_idx);
    t->deadline = deadline;
    t->sched_ts = e->step.sched_ts;
    t->seq = e->step.seq;
    t->sub = e->step_sub++;
    t->journey = j;
    t->rule = rule;
    /* Out of memory: the attempt stays open without a deadline (pending). */
    if (engine_timer_insert(e, t) != 0)
        t->heap_idx = SIZE_MAX;
}

void engine_timer_cancel(jd_engine_t *e, jd_timer_t *t)
{
    if (t->heap_idx == JD_TIMER_DEFERRED)
        engine_frozen_undefer(e, t);
    if (t->heap_idx != SIZE_MAX && t->heap_idx < e->tn && e->th[t->heap_idx] == t)
        theap_remove(e, t->heap_idx);
    t->heap_idx = SIZE_MAX;
}
