/*
 * Private to src/engine/: a customer's recent event ids for
 * de-duplication (contract section 2), independent of journey.history.
 * A ring of 64-bit event-id hashes, oldest first, grown lazily (4, 8, ...)
 * up to journey.dedupe_ids; when full the oldest id goes. Past a few ids an
 * open-addressing index (linear probing, swept rather than deleted from:
 * see idset.c) answers lookups in O(1). One
 * allocation; a customer with no event ids holds none (NULL is the empty
 * set).
 */
#ifndef JOURNEYD_IDSET_H
#define JOURNEYD_IDSET_H

#include <stdint.h>

typedef struct jd_idset {
    uint32_t cap;       /* ring slots */
    uint32_t n;         /* ids held */
    uint32_t head;      /* ring position of the oldest */
    uint32_t used;      /* index entries, the stale ones included */
    uint64_t h[];       /* cap hashes, then the index: icap uint32 slots
                           (see idset.c; icap follows from cap, and is 0
                           when lookups scan; each slot holds ring pos + 1 and
                           a tag of the hash, see idset.c; 0 = free) */
} jd_idset_t;

/* 1 when s (NULL = empty) holds hash h (nonzero). */
int jd_idset_has(const jd_idset_t *s, uint64_t h);
/* Starts fetching the index slot where a lookup or an addition of h
 * begins (s may be NULL). */
void jd_idset_prefetch(const jd_idset_t *s, uint64_t h);
/* Adds h (nonzero; if already held, it is held twice), dropping the
 * oldest when bound ids are held. May move the set (hence **sp). 0, or -1 when out of memory (h is then
 * not remembered). */
int jd_idset_add(jd_idset_t **sp, uint64_t h, uint32_t bound);
/* Hash i, 0 = oldest; i < s->n. */
static inline uint64_t jd_idset_at(const jd_idset_t *s, uint32_t i)
{
    uint32_t p = s->head + i;
    return s->h[p >= s->cap ? p - s->cap : p];
}
/* Folds src into *dst (identity merge): src's ids count as older than
 * dst's; at most bound are kept, the newest. src is freed. */
void jd_idset_merge(jd_idset_t **dst, jd_idset_t *src, uint32_t bound);
/* NULL-safe. */
void jd_idset_free(jd_idset_t *s);

#endif
