/*
 * Private: a string-keyed hash map with intrusive chaining. Entries are
 * embedded in the caller's structs (jd_map_node_t as a member), so lookups
 * and inserts do not allocate beyond the occasional table resize.
 */
#ifndef JOURNEYD_MAP_H
#define JOURNEYD_MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct jd_map_node {
    struct jd_map_node *next;
    const char *key;      /* borrowed from the containing struct */
    size_t keylen;
    uint64_t hash;
} jd_map_node_t;

typedef struct jd_map {
    jd_map_node_t **buckets;
    size_t nbuckets;      /* power of two */
    size_t count;
} jd_map_t;

int jd_map_init(jd_map_t *m);
/* Frees the table only; entries belong to the caller. */
void jd_map_free(jd_map_t *m);
uint64_t jd_map_hash(const char *key, size_t len);
jd_map_node_t *jd_map_get(const jd_map_t *m, const char *key, size_t len);
/* The same with h = jd_map_hash(key, len) already known. */
jd_map_node_t *jd_map_get_h(const jd_map_t *m, const char *key, size_t len, uint64_t h);
/* Prefetching for a caller that knows its next lookups ahead: first the
 * bucket of hash h, a few lookups later (the bucket now cached) the first
 * node in it and the line after (where containing structs keep their
 * pointers). Hints only: nothing is read that could fault. */
static inline void jd_map_prefetch_bucket(const jd_map_t *m, uint64_t h)
{
    __builtin_prefetch(&m->buckets[h & (m->nbuckets - 1)]);
}
static inline void jd_map_prefetch_node(const jd_map_t *m, uint64_t h)
{
    const jd_map_node_t *n = m->buckets[h & (m->nbuckets - 1)];
    if (n) {
        __builtin_prefetch(n);
        __builtin_prefetch((const char *)n + 64);
    }
}

/* The node whose hash is h, without comparing keys: good enough for a
 * prefetch, never for a lookup. */
static inline jd_map_node_t *jd_map_peek_hash(const jd_map_t *m, uint64_t h)
{
    jd_map_node_t *n = m->buckets[h & (m->nbuckets - 1)];
    while (n && n->hash != h)
        n = n->next;
    return n;
}

/* node->key/keylen must be set; the key must not be present. -1 on OOM. */
int jd_map_put(jd_map_t *m, jd_map_node_t *node);
void jd_map_del(jd_map_t *m, jd_map_node_t *node);

#endif
