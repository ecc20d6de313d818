/*
 * Journeys: one per (stitched) customer, in a hash map and an LRU list
 * ordered by last activity, which makes retention expiry and max_customers
 * eviction O(1) per journey. A journey keeps a small ring of recent events
 * (alert context, de-duplication) and its rule states; merging an
 * anonymous journey into its customer's interleaves both by event time.
 * Changed journeys and dropped keys are remembered for the changelog.
 */
#include <stdlib.h>
#include <string.h>
#include "journeyd/timeutil.h"
#include "engine_priv.h"
#include "idset.h"

void engine_tomb(jd_engine_t *e, int32_t tag, const char *key)
{
    if (!e->opts.track_changes)
        return;
    if (e->ntombs == e->tombcap) {
        size_t ncap = e->tombcap ? e->tombcap * 2 : 64;
        engine_tomb_t *n = realloc(e->tombs, ncap * sizeof(*n));
        if (!n)
            return;
        e->tombs = n;
        e->tombcap = ncap;
    }
    char *k = strdup(key);
    if (!k)
        return;
    e->tombs[e->ntombs].tag = tag;
    e->tombs[e->ntombs].key = k;
    e->ntombs++;
}

void journey_mark_dirty(jd_engine_t *e, jd_journey_t *j)
{
    if (!e->opts.track_changes || j->dirty)
        return;
    j->dirty = 1;
    TAILQ_INSERT_TAIL(&e->dirty, j, dirtyq);
    e->ndirty++;
}

void journey_unmark_dirty(jd_engine_t *e, jd_journey_t *j)
{
    if (!j->dirty)
        return;
    TAILQ_REMOVE(&e->dirty, j, dirtyq);
    e->ndirty--;
    j->dirty = 0;
}

static void lru_unlink(jd_engine_t *e, jd_journey_t *j)
{
    TAILQ_REMOVE(&e->lru, j, lru);
}

static void lru_append(jd_engine_t *e, jd_journey_t *j)
{
    TAILQ_INSERT_TAIL(&e->lru, j, lru);
}

/* Keeps the LRU ordered by activity when a journey arrives from outside
 * (restored, or handed over by another shard): one older than the current
 * tail goes to the head side. */
static void lru_insert_sorted(jd_engine_t *e, jd_journey_t *j)
{
    jd_journey_t *p = TAILQ_LAST(&e->lru, journey_list);
    while (p && p->last_ts > j->last_ts)
        p = TAILQ_PREV(p, journey_list, lru);
    if (p)
        TAILQ_INSERT_AFTER(&e->lru, p, j, lru);
    else
        TAILQ_INSERT_HEAD(&e->lru, j, lru);
}

static jd_journey_t *journey_get_h(jd_engine_t *e, char kind, const char *id, uint64_t h)
{
    char stackkey[256];
    size_t idlen = strlen(id);
    if (idlen + 3 > sizeof(stackkey)) {
        /* Rare long ids: compare against a heap copy of the key. */
        char *k = malloc(idlen + 3);
        if (!k)
            return NULL;
        k[0] = kind;
        k[1] = ':';
        memcpy(k + 2, id, idlen + 1);
        jd_map_node_t *n = jd_map_get(&e->journeys, k, idlen + 2);
        free(k);
        return (jd_journey_t *)n;
    }
    stackkey[0] = kind;
    stackkey[1] = ':';
    memcpy(stackkey + 2, id, idlen + 1);
    return (jd_journey_t *)(h ? jd_map_get_h(&e->journeys, stackkey, idlen + 2, h)
                              : jd_map_get(&e->journeys, stackkey, idlen + 2));
}

jd_journey_t *journey_get(jd_engine_t *e, char kind, const char *id)
{
    return journey_get_h(e, kind, id, 0);
}

/* One allocation: struct, history ring, rule states, cooldown marks, key.
 * The struct comes first so the map node at offset 0 casts back to it. */
jd_journey_t *journey_new(jd_engine_t *e, char kind, const char *id)
{
    const jd_config_t *c = e->conf;
    size_t idlen = strlen(id);
    size_t sz = sizeof(jd_journey_t) + c->nrules * sizeof(void *) +
                e->ncd * sizeof(int64_t) + idlen + 3;
    jd_journey_t *j = jd_zalloc(sz);
    if (!j)
        return NULL;
    char *p = (char *)(j + 1);
    j->rstate = (void **)p;
    p += c->nrules * sizeof(void *);
    j->last_alert = (int64_t *)p;
    p += e->ncd * sizeof(int64_t);
    j->key = p;
    j->key[0] = kind;
    j->key[1] = ':';
    memcpy(j->key + 2, id, idlen + 1);
    for (uint32_t i = 0; i < e->ncd; i++)
        j->last_alert[i] = INT64_MIN;
    j->source_tag = -1;
    j->last_ts = INT64_MIN;
    j->node.key = j->key;
    j->node.keylen = idlen + 2;
    if (jd_map_put(&e->journeys, &j->node) != 0) {
        free(j);
        return NULL;
    }
    lru_append(e, j);
    e->st.customers++;
    e->st.customers_total++;
    if (e->st.customers > e->st.customers_peak)
        e->st.customers_peak = e->st.customers;
    return j;
}

jd_journey_t *journey_get_or_new(jd_engine_t *e, char kind, const char *id, uint64_t h)
{
    jd_journey_t *j = journey_get_h(e, kind, id, h);
    return j ? j : journey_new(e, kind, id);
}

/* A history record holds one interner reference per string id. */
static void hist_release(const jd_engine_t *e, const jd_hist_t *h)
{
    jd_intern_unref_id(e->conf->intern, h->type);
    jd_intern_unref_id(e->conf->intern, h->channel);
    jd_intern_unref_id(e->conf->intern, h->page);
}

void journey_destroy(jd_engine_t *e, jd_journey_t *j, int tombstone)
{
    const jd_config_t *c = e->conf;
    for (uint32_t i = 0; i < c->nrules; i++)
        if (j->rstate[i])
            e->ops[i]->free_state(e, &c->rules[i], j->rstate[i]);
    jd_map_del(&e->journeys, &j->node);
    lru_unlink(e, j);
    journey_unmark_dirty(e, j);
    if (tombstone)
        engine_tomb(e, j->source_tag, j->key);
    e->st.customers--;
    for (uint32_t i = 0; i < j->hist_len; i++)
        hist_release(e, jd_journey_hist(j, i));
    free(j->hist);
    jd_idset_free(j->seen);
    free(j);
}

/* Makes room for n records (at most conf->history), keeping order and
 * re-basing the ring at 0. Light customers keep a small ring, and it grows
 * by a quarter (at least 2 records) rather than doubling: with a million
 * customers between two sizes, the unused part of a doubled ring is tens
 * of MB, while the extra copies are a few per customer's lifetime. */
int journey_hist_reserve(jd_engine_t *e, jd_journey_t *j, uint32_t n)
{
    uint32_t max = e->conf->history;
    if (n > max)
        n = max;
    if (n <= j->hist_cap)
        return 0;
    uint32_t cap = j->hist_cap ? j->hist_cap : 4;
    while (cap < n)
        cap += cap / 4 > 2 ? cap / 4 : 2;
    if (cap > max)
        cap = max;
    jd_hist_t *h = malloc(cap * sizeof(*h));
    if (!h)
        return -1;
    for (uint32_t i = 0; i < j->hist_len; i++)
        h[i] = *jd_journey_hist(j, i);
    free(j->hist);
    j->hist = h;
    j->hist_cap = (uint16_t)cap;
    j->hist_head = 0;
    return 0;
}

/* Event ids beyond the history: the history holds the newest ones, the id
 * set those that left it, so together they hold the last
 * max(journey.history, journey.dedupe_ids) and a customer with no more
 * events than the history allocates no set at all. */
static uint32_t seen_bound(const jd_config_t *c)
{
    return c->dedupe_ids > c->history ? c->dedupe_ids - c->history : 0;
}

void journey_remember_id(jd_engine_t *e, jd_journey_t *j, uint64_t h)
{
    if (h && !jd_idset_has(j->seen, h))
        jd_idset_add(&j->seen, h, seen_bound(e->conf)); /* OOM: forgotten */
}

/* Moves the id of a history record that is being dropped into the set.
 * No lookup first: the id was not held when its event was evaluated, and
 * only a merge can have brought it in since, where a second copy is
 * harmless. The lookup would be a cache miss on every event of a busy
 * customer. */
static void journey_forget_hist(jd_engine_t *e, jd_journey_t *j, const jd_hist_t *h)
{
    if (h->eid_hash)
        jd_idset_add(&j->seen, h->eid_hash, seen_bound(e->conf)); /* OOM: forgotten */
}

static void journey_append(jd_engine_t *e, jd_journey_t *j, const jd_event_t *ev,
                           uint64_t eid_hash)
{
    jd_hist_t *h;
    /* a ring at journey.history (most events) needs no call to stay so */
    if (j->hist_len == j->hist_cap && j->hist_cap < e->conf->history &&
        journey_hist_reserve(e, j, j->hist_len + 1u) != 0 && j->hist_cap == 0)
        return; /* out of memory before the first record: no context kept */
    if (j->hist_len < j->hist_cap) {
        uint32_t at = (uint32_t)j->hist_head + j->hist_len;
        h = &j->hist[at >= j->hist_cap ? at - j->hist_cap : at];
        j->hist_len++;
    } else {
        h = &j->hist[j->hist_head];
        journey_forget_hist(e, j, h);
        hist_release(e, h);
        j->hist_head = (uint16_t)(j->hist_head + 1u == j->hist_cap ? 0 : j->hist_head + 1u);
    }
    h->ts = ev->ts;
    h->type = jd_intern_id(jd_intern_ref(ev->slot[JD_SLOT_TYPE]));
    h->channel = jd_intern_id(jd_intern_ref(ev->slot[JD_SLOT_CHANNEL]));
    h->page = jd_intern_id(jd_intern_ref(ev->slot[JD_SLOT_PAGE]));
    h->eid_hash = eid_hash;
}

/* De-duplication (contract section 2): the event ids of the history and
 * of the set of those that left it (see seen_bound). */
int journey_seen(const jd_engine_t *e, const jd_journey_t *j, uint64_t h)
{
    (void)e;
    /* Membership needs no order: the ring's records are at most two
     * contiguous runs, scanned without a division per record (this runs
     * for every event). */
    uint32_t first = j->hist_cap - j->hist_head;
    if (first > j->hist_len)
        first = j->hist_len;
    for (uint32_t i = 0; i < first; i++)
        if (j->hist[j->hist_head + i].eid_hash == h)
            return 1;
    for (uint32_t i = 0; i < j->hist_len - first; i++)
        if (j->hist[i].eid_hash == h)
            return 1;
    return jd_idset_has(j->seen, h);
}

/* Folds anonymous journey a into customer journey j (contract section 3):
 * histories interleave by event time, rule states combine per kind. */
void journey_merge(jd_engine_t *e, jd_journey_t *j, jd_journey_t *a)
{
    const jd_config_t *c = e->conf;
    uint32_t cap = c->history, n = 0, ia = 0, ij = 0;
    jd_hist_t *tmp = e->merge_scratch;
    while (ia < a->hist_len || ij < j->hist_len) {
        const jd_hist_t *ha = ia < a->hist_len ? jd_journey_hist(a, ia) : NULL;
        const jd_hist_t *hj = ij < j->hist_len ? jd_journey_hist(j, ij) : NULL;
        if (ha && (!hj || ha->ts <= hj->ts)) {
            tmp[n++] = *ha;
            ia++;
        } else {
            tmp[n++] = *hj;
            ij++;
        }
    }
    uint32_t skip = n > cap ? n - cap : 0;
    jd_idset_merge(&j->seen, a->seen, seen_bound(c));
    a->seen = NULL;
    for (uint32_t i = 0; i < skip; i++)
        journey_remember_id(e, j, tmp[i].eid_hash);
    if (journey_hist_reserve(e, j, n - skip) == 0) {
        /* the records (and their references) move to j; the oldest go */
        for (uint32_t i = 0; i < skip; i++)
            hist_release(e, &tmp[i]);
        for (uint32_t i = skip; i < n; i++)
            j->hist[i - skip] = tmp[i];
        j->hist_head = 0;
        j->hist_len = (uint16_t)(n - skip);
        a->hist_len = 0;
    }

    for (uint32_t i = 0; i < c->nrules; i++) {
        if (a->rstate[i]) {
            e->ops[i]->merge(e, &c->rules[i], j, &j->rstate[i], &a->rstate[i]);
            if (a->rstate[i]) {
                e->ops[i]->free_state(e, &c->rules[i], a->rstate[i]);
                a->rstate[i] = NULL;
            }
        }
    }
    for (uint32_t i = 0; i < e->ncd; i++)
        if (a->last_alert[i] > j->last_alert[i])
            j->last_alert[i] = a->last_alert[i];
    if (a->last_ts > j->last_ts)
        j->last_ts = a->last_ts;
    e->st.merges++;
    journey_destroy(e, a, 1);
}

void journey_record(jd_engine_t *e, jd_journey_t *j, const jd_event_t *ev, uint64_t eid_hash)
{
    journey_append(e, j, ev, eid_hash);
    if (ev->ts >= j->last_ts) {
        j->last_ts = ev->ts;
        lru_unlink(e, j);
        lru_append(e, j);
    }
    if (ev->source_tag >= 0)
        j->source_tag = ev->source_tag;
    journey_mark_dirty(e, j);
}

void journey_lru_resort(jd_engine_t *e, jd_journey_t *j)
{
    lru_unlink(e, j);
    lru_insert_sorted(e, j);
}

void journey_detach(jd_engine_t *e, jd_journey_t *j)
{
    jd_map_del(&e->journeys, &j->node);
    lru_unlink(e, j);
    journey_unmark_dirty(e, j);
    e->st.customers--;
}

int journey_attach(jd_engine_t *e, jd_journey_t *j)
{
    lru_append(e, j);
    e->st.customers++;
    if (jd_map_put(&e->journeys, &j->node) != 0) {
        /* freed through this engine: the caller took its timers out of
         * every heap */
        journey_destroy(e, j, 0);
        return -1;
    }
    journey_mark_dirty(e, j);
    if (e->st.customers > e->st.customers_peak)
        e->st.customers_peak = e->st.customers;
    return 0;
}

static void engine_link_gone(void *opaque, const jd_link_t *l)
{
    jd_engine_t *e = opaque;
    if (!e->opts.track_changes)
        return;
    size_t n = strlen(l->anon);
    char *k = malloc(n + 3);
    if (k) {
        k[0] = 'l';
        k[1] = ':';
        memcpy(k + 2, l->anon, n + 1);
        engine_tomb(e, l->source_tag, k);
        free(k);
    }
}

/* Journeys and links idle for longer than journey.retention of event time
 * go; the LRU lists are ordered by last activity so this stops at the
 * first one still alive. */
void engine_expire(jd_engine_t *e, int64_t now)
{
    int64_t limit = jd_time_sub(now, e->conf->retention_ms);
    jd_journey_t *j;
    while ((j = TAILQ_FIRST(&e->lru)) && j->last_ts < limit) {
        e->st.expired++;
        journey_destroy(e, j, 1);
    }
    /* runs for every event: the call only when a link is due */
    const jd_link_t *l = TAILQ_FIRST(&e->ids.lru);
    if (l && l->last_ts < limit)
        jd_identity_expire(&e->ids, limit, engine_link_gone, e);
}

/* Evicts only after an event's evaluation, so the journey being evaluated
 * (now the newest) and an anonymous journey about to merge are never the
 * victims. */
void engine_evict(jd_engine_t *e, const jd_journey_t *keep)
{
    while (e->st.customers > e->max_customers && TAILQ_FIRST(&e->lru) != keep) {
        e->st.evicted++;
        journey_destroy(e, TAILQ_FIRST(&e->lru), 1);
    }
}
