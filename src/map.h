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
/* node->key/keylen must be set; the key must not be present. -1 on OOM. */
int jd_map_put(jd_map_t *m, jd_map_node_t *node);
void jd_map_del(jd_map_t *m, jd_map_node_t *node);

#endif
