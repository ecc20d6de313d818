/*
 * A customer's recent event-id hashes (see idset.h): the ring keeps their
 * order, so the oldest can go when the bound is reached; the index, built
 * once the ring outgrows a short scan, finds a hash without walking it.
 *
 * The index never deletes. An entry names a ring position, and it answers
 * for a hash only while that position still holds the hash, so the id that
 * leaves a full ring (its position is overwritten by the id that enters)
 * drops out of the index by itself. Stale entries are swept by rebuilding
 * the index from the ring once live and stale entries fill three quarters
 * of it: a sequential pass every cap/2 additions or so, where deleting
 * each oldest id would cost a random probe (a cache miss on the sets of
 * busy customers) on every event.
 */
#include <stdlib.h>
#include <string.h>
#include "journeyd/common.h"
#include "idset.h"

/* Up to this many ids a lookup scans the ring. */
#define IDSET_SCAN 16

/* Index slots for a ring of cap: at most half full after a sweep, a power
 * of two; none for a ring short enough to scan. Derived rather than
 * stored: it would be 4 bytes more on every customer's set, and a flood
 * of customers is what time.max_buffered's memory bound is measured on. */
static uint32_t icap_for(uint32_t cap)
{
    if (cap <= IDSET_SCAN)
        return 0; /* cap > 16 below: 2 * cap - 1 >= 33, the result >= 64 */
    return 1u << (32 - __builtin_clz(2 * cap - 1));
}

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
 * ring. */
static uint32_t idx_tag(uint64_t h, uint32_t mask)
{
    return (uint32_t)(h >> 32) & ~mask;
}

static void idx_put(jd_idset_t *s, uint32_t pos)
{
    uint32_t *ix = idx_of(s), mask = icap_for(s->cap) - 1, i = (uint32_t)s->h[pos] & mask;
    while (ix[i])
        i = (i + 1) & mask;
    ix[i] = idx_tag(s->h[pos], mask) | (pos + 1);
    s->used++;
}

static void idx_rebuild(jd_idset_t *s)
{
    memset(idx_of(s), 0, icap_for(s->cap) * sizeof(uint32_t));
    s->used = 0;
    for (uint32_t i = 0; i < s->n; i++)
        idx_put(s, ring_pos(s, i));
}

int jd_idset_has(const jd_idset_t *s, uint64_t h)
{
    if (!s)
        return 0;
    uint32_t icap = icap_for(s->cap);
    if (!icap) {
        for (uint32_t i = 0; i < s->n; i++)
            if (jd_idset_at(s, i) == h)
                return 1;
        return 0;
    }
    const uint32_t *ix = idx_of(s);
    uint32_t mask = icap - 1, tag = idx_tag(h, mask);
    for (uint32_t i = (uint32_t)h & mask; ix[i]; i = (i + 1) & mask)
        if ((ix[i] & ~mask) == tag && s->h[(ix[i] & mask) - 1] == h)
            return 1;
    return 0;
}

void jd_idset_prefetch(const jd_idset_t *s, uint64_t h)
{
    uint32_t icap = s ? icap_for(s->cap) : 0;
    if (icap)
        __builtin_prefetch(idx_of(s) + ((uint32_t)h & (icap - 1)));
}

/* A set of cap slots holding s's ids in order (s may be NULL). */
static jd_idset_t *idset_resize(const jd_idset_t *s, uint32_t cap)
{
    uint32_t icap = icap_for(cap);
    jd_idset_t *n = jd_zalloc(sizeof(*n) + cap * sizeof(uint64_t) + icap * sizeof(uint32_t));
    if (!n)
        return NULL;
    n->cap = cap;
    for (uint32_t i = 0; s && i < s->n; i++)
        n->h[i] = jd_idset_at(s, i);
    n->n = s ? s->n : 0;
    if (icap)
        idx_rebuild(n);
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
        /* full at the bound: the oldest id goes (its position is reused
         * below, which retires its index entry) */
        s->head = s->head + 1 == s->cap ? 0 : s->head + 1;
        s->n--;
    }
    uint32_t pos = ring_pos(s, s->n);
    s->h[pos] = h;
    s->n++;
    uint32_t icap = icap_for(s->cap);
    if (icap) {
        if (4 * (s->used + 1) > 3 * icap)
            idx_rebuild(s); /* s->n entries, at most half of icap */
        else
            idx_put(s, pos);
    }
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
