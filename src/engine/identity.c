/*
 * Identity resolution: the anonymous -> customer link table behind
 * journeyd/identity.h. One implementation for the engine, the shard router
 * and `produce`, so a journey, the shard that holds it and the Kafka key of
 * its events always name the same customer.
 *
 * Links are ordered by last use (event time) in an LRU list, which makes
 * retention expiry stop at the first live one. A link taken from another
 * table goes to its place by last use, not to the tail.
 */
#include <stdlib.h>
#include <string.h>
#include "journeyd/common.h"
#include "journeyd/identity.h"

int jd_identity_init(jd_identity_t *t, unsigned flags)
{
    memset(t, 0, sizeof(*t));
    TAILQ_INIT(&t->lru);
    TAILQ_INIT(&t->dirty);
    t->flags = flags;
    return jd_map_init(&t->map);
}

void jd_link_free(jd_link_t *l)
{
    if (!l)
        return;
    free(l->customer);
    free(l);
}

void jd_identity_free(jd_identity_t *t)
{
    if (!t)
        return;
    jd_link_t *l;
    while ((l = TAILQ_FIRST(&t->lru))) {
        jd_identity_take(t, l);
        jd_link_free(l);
    }
    jd_map_free(&t->map);
}

jd_link_t *jd_identity_get(const jd_identity_t *t, const char *anon)
{
    return (jd_link_t *)jd_map_get(&t->map, anon, strlen(anon));
}

uint64_t jd_identity_hash(const char *anon)
{
    return jd_map_hash(anon, strlen(anon)); /* a hash of 0 is computed again */
}

jd_link_t *jd_identity_get_h(const jd_identity_t *t, const char *anon, uint64_t h)
{
    if (!h)
        return jd_identity_get(t, anon);
    return (jd_link_t *)jd_map_get_h(&t->map, anon, strlen(anon), h);
}

void jd_identity_prefetch(const jd_identity_t *t, uint64_t h, int stage)
{
    if (stage == 0)
        jd_map_prefetch_bucket(&t->map, h);
    else
        jd_map_prefetch_node(&t->map, h);
}

static void link_mark_dirty(jd_identity_t *t, jd_link_t *l)
{
    if (!(t->flags & JD_IDENTITY_TRACK) || l->dirty)
        return;
    l->dirty = 1;
    /* newest change first, the order changelog records have always had */
    TAILQ_INSERT_HEAD(&t->dirty, l, dirtyq);
}

static void link_unmark_dirty(jd_identity_t *t, jd_link_t *l)
{
    if (!l->dirty)
        return;
    TAILQ_REMOVE(&t->dirty, l, dirtyq);
    l->dirty = 0;
}

static void link_touch(jd_identity_t *t, jd_link_t *l, int64_t ts)
{
    if (ts <= l->last_ts)
        return;
    l->last_ts = ts;
    TAILQ_REMOVE(&t->lru, l, lru);
    TAILQ_INSERT_TAIL(&t->lru, l, lru);
}

/* A new entry for anon (customer may be NULL), last used at ts. */
static jd_link_t *link_new(jd_identity_t *t, const char *anon, const char *customer,
                           int64_t ts, int32_t tag)
{
    size_t alen = strlen(anon);
    jd_link_t *l = jd_zalloc(sizeof(*l) + alen + 1);
    if (!l)
        return NULL;
    memcpy(l->anon, anon, alen + 1);
    l->customer = customer ? strdup(customer) : NULL;
    l->node.key = l->anon;
    l->node.keylen = alen;
    l->last_ts = ts;
    l->source_tag = tag;
    if ((customer && !l->customer) || jd_map_put(&t->map, &l->node) != 0) {
        jd_link_free(l);
        return NULL;
    }
    TAILQ_INSERT_TAIL(&t->lru, l, lru);
    return l;
}

/* Records anon -> customer (the newest link wins); NULL on OOM. made:
 * count a new or changed link. */
static jd_link_t *link_set(jd_identity_t *t, const char *anon, uint64_t ah,
                           const char *customer, int64_t ts, int32_t tag, int made)
{
    jd_link_t *l = jd_identity_get_h(t, anon, ah);
    if (!l) {
        if (!(l = link_new(t, anon, customer, ts, tag)))
            return NULL;
        t->made += made;
    } else if (!l->customer || strcmp(l->customer, customer) != 0) {
        char *c = strdup(customer);
        if (!c)
            return l;
        if (!l->customer) {
            /* seen unlinked until now: a new link, used from now on */
            l->last_ts = ts;
            TAILQ_REMOVE(&t->lru, l, lru);
            TAILQ_INSERT_TAIL(&t->lru, l, lru);
        }
        free(l->customer);
        l->customer = c;
        t->made += made;
    }
    link_touch(t, l, ts);
    l->source_tag = tag;
    return l;
}

const char *jd_identity_resolve(jd_identity_t *t, const char *customer, const char *anon,
                                int64_t ts, int32_t tag)
{
    return jd_identity_resolve_h(t, customer, anon, 0, ts, tag);
}

const char *jd_identity_resolve_h(jd_identity_t *t, const char *customer, const char *anon,
                                  uint64_t ah, int64_t ts, int32_t tag)
{
    if (customer) {
        jd_link_t *l = anon ? link_set(t, anon, ah, customer, ts, tag, 1) : NULL;
        if (l)
            link_mark_dirty(t, l);
        return customer;
    }
    if (!anon)
        return NULL;
    jd_link_t *l = jd_identity_get_h(t, anon, ah);
    if (!l && (t->flags & JD_IDENTITY_ANON))
        l = link_new(t, anon, NULL, ts, -1);
    if (!l)
        return NULL;
    link_touch(t, l, ts);
    return l->customer;
}

/* A link arriving from outside (restored, or from another table) goes to
 * its place by last use, so expiry still stops at the first live one. */
static void lru_insert_sorted(jd_identity_t *t, jd_link_t *l)
{
    jd_link_t *q = TAILQ_LAST(&t->lru, jd_link_list);
    while (q && q->last_ts > l->last_ts)
        q = TAILQ_PREV(q, jd_link_list, lru);
    if (q)
        TAILQ_INSERT_AFTER(&t->lru, q, l, lru);
    else
        TAILQ_INSERT_HEAD(&t->lru, l, lru);
}

jd_link_t *jd_identity_restore(jd_identity_t *t, const char *anon, const char *customer,
                               int64_t ts, int32_t tag)
{
    jd_link_t *l = link_set(t, anon, 0, customer, ts, tag, 0);
    if (l) {
        link_unmark_dirty(t, l);
        TAILQ_REMOVE(&t->lru, l, lru);
        lru_insert_sorted(t, l);
    }
    return l;
}

void jd_identity_forget(jd_identity_t *t, jd_link_t *l)
{
    jd_identity_take(t, l);
    jd_link_free(l);
}

void jd_identity_expire(jd_identity_t *t, int64_t limit,
                        void (*gone)(void *opaque, const jd_link_t *l), void *opaque)
{
    jd_link_t *l;
    while ((l = TAILQ_FIRST(&t->lru)) && l->last_ts < limit) {
        if (gone)
            gone(opaque, l);
        jd_identity_forget(t, l);
    }
}

jd_link_t *jd_identity_pop_dirty(jd_identity_t *t)
{
    jd_link_t *l = TAILQ_FIRST(&t->dirty);
    if (l)
        link_unmark_dirty(t, l);
    return l;
}

void jd_identity_take(jd_identity_t *t, jd_link_t *l)
{
    jd_map_del(&t->map, &l->node);
    TAILQ_REMOVE(&t->lru, l, lru);
    link_unmark_dirty(t, l);
}

void jd_identity_put(jd_identity_t *t, jd_link_t *l)
{
    jd_link_t *old = jd_identity_get(t, l->anon);
    if (old)
        jd_identity_forget(t, old);
    if (jd_map_put(&t->map, &l->node) != 0) {
        jd_link_free(l);
        return;
    }
    lru_insert_sorted(t, l);
    l->dirty = 0;
    link_mark_dirty(t, l);
}

void jd_identity_mark_dirty(jd_identity_t *t, jd_link_t *l)
{
    link_mark_dirty(t, l);
}
