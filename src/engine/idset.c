/*
 * A customer's recent event-id hashes (see idset.h): the ring keeps their
 * order, so the oldest can go when the bound is reached; the index, built
 * once the ring outgrows a short scan, finds a hash without walking it.
 * Index deletion shifts entries back instead of leaving tombstones, so the
 * index never degrades however many ids pass through.
 */
#include <stdlib.h>
#include <string.h>
#include "idset.h"

/* Up to this many ids a lookup scans the ring. */
#define IDSET_SCAN 16

static uint32_t *idx_of(const jd_idset_t *s)
{
    return (uint32_t *)(s->h + s->cap);
}

static uint32_t ring_pos(const jd_idset_t *s, uint32_t i)
{
    uint32_t p = s->head + i;
    return p >= s->cap ? p - s->cap : p;
}

/* An index entry is ring position + 1 in the low bits (below icap, since
 * icap > cap) and, above them, the same bits of the hash's high word: a
 * probe rejects almost every other id without loading its hash from the
 * ring, a cache miss per probe on the sets of busy customers. */
static uint32_t idx_tag(uint64_t h, uint32_t mask)
{
    return (uint32_t)(h >> 32) & ~mask;
}

static void idx_put(jd_idset_t *s, uint32_t pos)
{
    uint32_t *ix = idx_of(s), mask = s->icap - 1, i = (uint32_t)s->h[pos] & mask;
    while (ix[i])
        i = (i + 1) & mask;
    ix[i] = idx_tag(s->h[pos], mask) | (pos + 1);
}

static void idx_del(jd_idset_t *s, uint32_t pos)
{
    uint32_t *ix = idx_of(s), mask = s->icap - 1, i = (uint32_t)s->h[pos] & mask;
    while ((ix[i] & mask) != pos + 1)
        i = (i + 1) & mask;
    for (uint32_t j = (i + 1) & mask; ix[j]; j = (j + 1) & mask) {
        uint32_t home = (uint32_t)s->h[(ix[j] & mask) - 1] & mask;
        if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
            ix[i] = ix[j];
            i = j;
        }
    }
    ix[i] = 0;
}

int jd_idset_has(const jd_idset_t *s, uint64_t h)
{
    if (!s)
        return 0;
    if (!s->icap) {
        for (uint32_t i = 0; i < s->n; i++)
            if (jd_idset_at(s, i) == h)
                return 1;
        return 0;
    }
    const uint32_t *ix = idx_of(s);
    uint32_t mask = s->icap - 1, tag = idx_tag(h, mask);
    for (uint32_t i = (uint32_t)h & mask; ix[i]; i = (i + 1) & mask)
        if ((ix[i] & ~mask) == tag && s->h[(ix[i] & mask) - 1] == h)
            return 1;
    return 0;
}

/* A set of cap slots holding s's ids in order (s may be NULL). */
static jd_idset_t *idset_resize(const jd_idset_t *s, uint32_t cap)
{
    uint32_t icap = 0;
    if (cap > IDSET_SCAN)
        for (icap = 2 * IDSET_SCAN; icap < 2 * cap; icap *= 2)
            ;
    jd_idset_t *n = calloc(1, sizeof(*n) + cap * sizeof(uint64_t) + icap * sizeof(uint32_t));
    if (!n)
        return NULL;
    n->cap = cap;
    n->icap = icap;
    for (uint32_t i = 0; s && i < s->n; i++)
        n->h[i] = jd_idset_at(s, i);
    n->n = s ? s->n : 0;
    for (uint32_t i = 0; icap && i < n->n; i++)
        idx_put(n, i);
    return n;
}

int jd_idset_add(jd_idset_t **sp, uint64_t h, uint32_t bound)
{
    jd_idset_t *s = *sp;
    if (!bound)
        return 0;
    if (!s || (s->n == s->cap && s->cap < bound)) {
        uint32_t cap = s ? s->cap * 2 : 4;
        jd_idset_t *n = idset_resize(s, cap < bound ? cap : bound);
        if (!n)
            return -1;
        free(s);
        s = *sp = n;
    }
    if (s->n == s->cap) {
        /* full at the bound: the oldest id goes */
        if (s->icap)
            idx_del(s, s->head);
        s->head = s->head + 1 == s->cap ? 0 : s->head + 1;
        s->n--;
    }
    uint32_t pos = ring_pos(s, s->n);
    s->h[pos] = h;
    s->n++;
    if (s->icap)
        idx_put(s, pos);
    return 0;
}

void jd_idset_merge(jd_idset_t **dst, jd_idset_t *src, uint32_t bound)
{
    jd_idset_t *d = *dst, *m = NULL;
    if (!src)
        return;
    if (!d) {
        *dst = src;
        return;
    }
    for (uint32_t i = 0; i < src->n; i++)
        if (!jd_idset_has(m, jd_idset_at(src, i)))
            jd_idset_add(&m, jd_idset_at(src, i), bound);
    for (uint32_t i = 0; i < d->n; i++)
        if (!jd_idset_has(m, jd_idset_at(d, i)))
            jd_idset_add(&m, jd_idset_at(d, i), bound);
    free(src);
    if (!m)
        return; /* out of memory: dst keeps its own ids */
    free(d);
    *dst = m;
}

void jd_idset_free(jd_idset_t *s)
{
    free(s);
}
