/*
 * The event heap (see evheap.h): a binary min-heap of event pointers by
 * (ts, arrival), used by the engine and by the shard router to release
 * events in the contract's evaluation order.
 */
#include <stdlib.h>
#include "evheap.h"

static void evheap_up(jd_evheap_t *h, size_t i)
{
    jd_event_t *x = h->v[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!jd_ev_before(x, h->v[p]))
            break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = x;
}

static void evheap_down(jd_evheap_t *h, size_t i)
{
    jd_event_t *x = h->v[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && jd_ev_before(h->v[c + 1], h->v[c]))
            c++;
        if (!jd_ev_before(h->v[c], x))
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    h->v[i] = x;
}

int jd_evheap_push(jd_evheap_t *h, jd_event_t *ev)
{
    if (h->n == h->cap) {
        size_t ncap = h->cap ? h->cap * 2 : 1024;
        jd_event_t **n = realloc(h->v, ncap * sizeof(*n));
        if (!n)
            return -1;
        h->v = n;
        h->cap = ncap;
    }
    h->v[h->n++] = ev;
    evheap_up(h, h->n - 1);
    return 0;
}

jd_event_t *jd_evheap_pop(jd_evheap_t *h)
{
    jd_event_t *top = h->v[0];
    if (--h->n > 0) {
        h->v[0] = h->v[h->n];
        evheap_down(h, 0);
    }
    return top;
}

void jd_evheap_filter(jd_evheap_t *h, int (*keep)(const jd_event_t *, void *), void *opaque)
{
    size_t k = 0;
    for (size_t i = 0; i < h->n; i++) {
        if (keep(h->v[i], opaque))
            h->v[k++] = h->v[i];
        else
            jd_event_free(h->v[i]);
    }
    h->n = k;
    for (size_t i = h->n / 2 + 1; i-- > 0;)
        if (i < h->n)
            evheap_down(h, i);
}

void jd_evheap_free(jd_evheap_t *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n; i++)
        jd_event_free(h->v[i]);
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}
