/*
 * A set of waits keyed by (anonymous id, link ts), for input.keyed_by=any
 * (repart.h): link events waiting for their hand-over ("holds"), hand-overs
 * that came before their link event ("tokens"), and journeys to hand over
 * ("notices"). Thousands can be in flight under a backlog, so lookups are
 * hashed and the changelog gets only what changed: one record per wait,
 * "w:<tag>:<ts>:<anon>" -> {"c":customer,"d":dest}, a tombstone when it goes.
 * Private to src/kafka/.
 */
#ifndef JOURNEYD_KAFKA_XWAITS_H
#define JOURNEYD_KAFKA_XWAITS_H

#include <stddef.h>
#include <stdint.h>
#include "journeyd/map.h"
#include "journeyd/strbuf.h"

typedef struct jd_xwait {
    jd_map_node_t node;     /* key: "<ts>:<anon>" (key[]) */
    const char *anon;       /* inside key[] */
    char *customer;         /* owned, or NULL */
    int64_t ts;             /* the link's ts L */
    int32_t dest;           /* notices: the partition the journey goes to */
    size_t idx;             /* position in the set's heap */
    uint8_t persisted;      /* a record of it is in the changelog */
    uint8_t dirty;          /* not written yet */
    char key[];
} jd_xwait_t;

typedef struct jd_xwaits {
    char tag;               /* 'h', 'k' or 'n' in the record keys */
    jd_xwait_t **v;         /* a min-heap on ts: v[0] is the earliest */
    size_t n, cap;
    jd_map_t idx;
    jd_strbuf_t tombs;      /* keys of deleted persisted waits, NUL-separated */
} jd_xwaits_t;

int jd_xwaits_init(jd_xwaits_t *w, char tag);
void jd_xwaits_free(jd_xwaits_t *w);
/* Forget every wait (a task restarting: no tombstones). */
void jd_xwaits_clear(jd_xwaits_t *w);
/* A new wait (customer copied, may be NULL); NULL when out of memory. */
jd_xwait_t *jd_xwaits_add(jd_xwaits_t *w, const char *anon, const char *customer, int64_t ts,
                          int32_t dest);
jd_xwait_t *jd_xwaits_find(const jd_xwaits_t *w, const char *anon, int64_t ts);
/* Frees e (a tombstone follows at the next flush when it was written). */
void jd_xwaits_del(jd_xwaits_t *w, jd_xwait_t *e);
/* The least ts, INT64_MAX when empty; the earliest wait is w->v[0]. */
int64_t jd_xwaits_min(const jd_xwaits_t *w);
/* The changes since the last flush as records for put; 0 or -1. */
int jd_xwaits_flush(jd_xwaits_t *w,
                    int (*put)(void *opaque, const char *key, size_t klen, const char *val,
                               size_t vlen),
                    void *opaque);
/* Restore one record whose key starts "w:<w->tag>:"; returns the wait
 * restored (NULL for a tombstone or a bad record). */
jd_xwait_t *jd_xwaits_restore(jd_xwaits_t *w, const char *key, size_t klen, const void *val,
                              size_t vlen);

#endif
