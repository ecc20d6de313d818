/*
 * Identity resolution (contract section 3): the table of anonymous id ->
 * customer id links made by events that carry both, and the one rule that
 * turns an event's identities into the customer it belongs to. The engine
 * (its journeys), the shard router (which shard holds a journey) and
 * `journeyd produce` (the Kafka key) all resolve through it, so they
 * cannot disagree.
 *
 * Links live in an LRU ordered by last use in event time; jd_identity_expire
 * drops those idle for longer than journey.retention, which is what bounds
 * the table (as journeys are bounded). Optionally the table remembers
 * changed links for the changelog, and anonymous identities seen without a
 * link (the router needs to know where such a journey may live).
 *
 * Not thread-safe: one table per thread.
 */
#ifndef JOURNEYD_IDENTITY_H
#define JOURNEYD_IDENTITY_H

#include <stdint.h>
#include <sys/queue.h>
#include "journeyd/map.h"

/* One anonymous identity. Read freely; change only through the functions
 * below. */
typedef struct jd_link {
    jd_map_node_t node;          /* key: the anonymous id (anon[]) */
    TAILQ_ENTRY(jd_link) lru;    /* by last use, oldest first */
    TAILQ_ENTRY(jd_link) dirtyq; /* changed since the last jd_identity_pop_dirty */
    int64_t last_ts;             /* latest event time that used it */
    int32_t source_tag;          /* input partition of the latest link event */
    uint8_t dirty;
    char *customer;              /* owned; NULL = seen, not linked (JD_IDENTITY_ANON) */
    char anon[];
} jd_link_t;

TAILQ_HEAD(jd_link_list, jd_link);

typedef struct jd_identity {
    jd_map_t map;
    struct jd_link_list lru;
    struct jd_link_list dirty;
    unsigned flags;
    uint64_t made;               /* links made: new, or re-pointed to another customer */
} jd_identity_t;

enum {
    /* remember changed links for jd_identity_pop_dirty (changelog) */
    JD_IDENTITY_TRACK = 1,
    /* remember anonymous identities seen without a link (customer NULL) */
    JD_IDENTITY_ANON = 2,
};

/* 0, or -1 when out of memory. */
int jd_identity_init(jd_identity_t *t, unsigned flags);
/* Frees every link. NULL-safe. */
void jd_identity_free(jd_identity_t *t);

/* The entry for anon, or NULL. Borrowed. */
jd_link_t *jd_identity_get(const jd_identity_t *t, const char *anon);
/* The hash the table files anon under, for the _h variants below: a
 * router thread computes it once, off the thread that evaluates. */
uint64_t jd_identity_hash(const char *anon);
/* jd_identity_get with h = jd_identity_hash(anon), or 0 (computed here). */
jd_link_t *jd_identity_get_h(const jd_identity_t *t, const char *anon, uint64_t h);
/* A hint that anon (h = jd_identity_hash(anon), nonzero) is resolved
 * soon: stage 0 fetches its bucket, stage 1 (a few lookups later) its
 * entry. */
void jd_identity_prefetch(const jd_identity_t *t, uint64_t h, int stage);

/* Resolves one event's identities at event time ts and learns from it:
 * customer and anon both set: links anon to customer (the newest link
 * wins) and returns customer; customer only: returns customer; anon only:
 * returns the customer anon is linked to, or NULL when it is not linked
 * (the event is its own anonymous identity). tag is recorded on a link the
 * event makes. Out of memory a link may not be kept; the answer for this
 * event is still right. The result is borrowed from the arguments or the
 * table (valid until the link changes or is expired). */
const char *jd_identity_resolve(jd_identity_t *t, const char *customer, const char *anon,
                                int64_t ts, int32_t tag);
/* The same with ah = jd_identity_hash(anon), or 0 (computed here). */
const char *jd_identity_resolve_h(jd_identity_t *t, const char *customer, const char *anon,
                                  uint64_t ah, int64_t ts, int32_t tag);

/* Sets the link anon -> customer as a changelog record restores it: not
 * counted as made, not marked changed. NULL when out of memory. */
jd_link_t *jd_identity_restore(jd_identity_t *t, const char *anon, const char *customer,
                               int64_t ts, int32_t tag);

/* Forgets every entry idle since before limit, oldest first; gone (may be
 * NULL) sees each before it is freed. */
void jd_identity_expire(jd_identity_t *t, int64_t limit,
                        void (*gone)(void *opaque, const jd_link_t *l), void *opaque);
/* Forgets one entry. */
void jd_identity_forget(jd_identity_t *t, jd_link_t *l);

/* The most recently changed link, no longer marked changed, or NULL. */
jd_link_t *jd_identity_pop_dirty(jd_identity_t *t);

/* Moving an identity to another table (a stitch across shards): take
 * removes l from t and gives it to the caller; put inserts a taken link
 * into t (replacing an entry for the same anon) at its place by last use,
 * marked changed. Put takes l in every case (frees it on failure). */
void jd_identity_take(jd_identity_t *t, jd_link_t *l);
void jd_identity_put(jd_identity_t *t, jd_link_t *l);
/* Queue l for the next changelog drain (change tracking only). */
void jd_identity_mark_dirty(jd_identity_t *t, jd_link_t *l);
/* Frees a taken link. NULL-safe. */
void jd_link_free(jd_link_t *l);

#endif
