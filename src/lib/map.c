#include <stdlib.h>
#include <string.h>
#include "journeyd/map.h"

uint64_t jd_map_hash(const char *key, size_t len)
{
    /* FNV-1a then a splitmix finalizer: cheap, and the low bits used for
     * bucket selection are well mixed even for "c-1", "c-2", ... */
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)key[i]) * 1099511628211ull;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h;
}

int jd_map_init(jd_map_t *m)
{
    m->nbuckets = 1024;
    m->count = 0;
    m->buckets = calloc(m->nbuckets, sizeof(*m->buckets));
    return m->buckets ? 0 : -1;
}

void jd_map_free(jd_map_t *m)
{
    free(m->buckets);
    m->buckets = NULL;
    m->nbuckets = m->count = 0;
}

jd_map_node_t *jd_map_get(const jd_map_t *m, const char *key, size_t len)
{
    return jd_map_get_h(m, key, len, jd_map_hash(key, len));
}

jd_map_node_t *jd_map_get_h(const jd_map_t *m, const char *key, size_t len, uint64_t h)
{
    for (jd_map_node_t *n = m->buckets[h & (m->nbuckets - 1)]; n; n = n->next)
        if (n->hash == h && n->keylen == len && memcmp(n->key, key, len) == 0)
            return n;
    return NULL;
}

static int map_grow(jd_map_t *m)
{
    size_t nb = m->nbuckets * 2;
    jd_map_node_t **b = calloc(nb, sizeof(*b));
    if (!b)
        return -1;
    for (size_t i = 0; i < m->nbuckets; i++) {
        jd_map_node_t *n = m->buckets[i];
        while (n) {
            jd_map_node_t *next = n->next;
            n->next = b[n->hash & (nb - 1)];
            b[n->hash & (nb - 1)] = n;
            n = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = nb;
    return 0;
}

int jd_map_put(jd_map_t *m, jd_map_node_t *node)
{
    if (m->count + 1 > m->nbuckets && map_grow(m) != 0)
        return -1;
    node->hash = jd_map_hash(node->key, node->keylen);
    jd_map_node_t **b = &m->buckets[node->hash & (m->nbuckets - 1)];
    node->next = *b;
    *b = node;
    m->count++;
    return 0;
}

void jd_map_del(jd_map_t *m, jd_map_node_t *node)
{
    jd_map_node_t **p = &m->buckets[node->hash & (m->nbuckets - 1)];
    while (*p && *p != node)
        p = &(*p)->next;
    if (*p) {
        *p = node->next;
        m->count--;
    }
}
