/*
 * Private: a min-heap of events ordered by (ts, seq) — the contract's
 * evaluation order for events. The engine buffers events in one; the
 * sharded front (shard.c) orders events in one before routing them.
 */
#ifndef JOURNEYD_EVHEAP_H
#define JOURNEYD_EVHEAP_H

#include <stddef.h>
#include "journeyd/event.h"

typedef struct jd_evheap {
    jd_event_t **v;
    size_t n, cap;
} jd_evheap_t;

static inline int jd_ev_before(const jd_event_t *a, const jd_event_t *b)
{
    return a->ts < b->ts || (a->ts == b->ts && a->seq < b->seq);
}

/* Adds ev (borrowed until popped). -1 when out of memory (ev not added). */
int jd_evheap_push(jd_evheap_t *h, jd_event_t *ev);
/* Removes and returns the earliest event; h must not be empty. */
jd_event_t *jd_evheap_pop(jd_evheap_t *h);
/* The earliest event, or NULL. */
static inline jd_event_t *jd_evheap_top(const jd_evheap_t *h)
{
    return h->n ? h->v[0] : NULL;
}
/* Keeps the events for which keep() returns 1, frees the others. */
void jd_evheap_filter(jd_evheap_t *h, int (*keep)(const jd_event_t *, void *), void *opaque);
/* Frees the buffered events and the array. NULL-safe. */
void jd_evheap_free(jd_evheap_t *h);

#endif
