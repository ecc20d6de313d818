/*
 * The event-time engine. Two min-heaps drive everything: buffered events
 * ordered by (ts, arrival) and rule timers ordered by (deadline, scheduling
 * order). The release loop interleaves them so that a timer whose deadline
 * is before an event's ts fires first, and one whose deadline equals it
 * fires after (contract section 4). Journeys live in a hash map and an LRU
 * list ordered by last activity, which makes retention expiry and
 * max_customers eviction O(1) per journey.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "journeyd/timeutil.h"
#include "journeyd/rule.h"
#include "evheap.h"

/* Anonymous id -> customer id, from an event that carried both. */
typedef struct jd_link {
    jd_map_node_t node;          /* key: the anonymous id */
    TAILQ_ENTRY(jd_link) lru;    /* by last use, oldest first */
    TAILQ_ENTRY(jd_link) dirtyq;
    int64_t last_ts;
    int32_t source_tag;
    uint8_t dirty;
    char *customer;              /* owned */
    char keybuf[];
} jd_link_t;

TAILQ_HEAD(journey_list, jd_journey);
TAILQ_HEAD(link_list, jd_link);

typedef struct engine_tomb {
    int32_t tag;
    char *key;
} engine_tomb_t;

struct jd_engine {
    const jd_config_t *conf;
    jd_engine_opts_t opts;
    jd_engine_stats_t st;
    const jd_rule_ops_t **ops;   /* per rule */
    uint32_t **listeners;        /* per rule: sequence rules fed by its alerts */
    uint32_t *nlisteners;

    jd_evheap_t evh;             /* buffered events */
    uint64_t evseq;
    jd_timer_t **th;             /* timer heap */
    size_t tn, tcap;
    uint64_t restore_seq;        /* scheduling order of restored timers */
    jd_step_t step;              /* the step being evaluated (alerts carry it) */
    uint32_t step_sub;           /* timers scheduled in this step so far */
    uint64_t max_customers;      /* opts.max_customers or the config's */

    jd_map_t journeys;
    struct journey_list lru;
    jd_map_t links;
    struct link_list link_lru;

    /* change tracking (opts.track_changes): oldest change first, so a
     * partial drain takes the journeys least likely to change again */
    struct journey_list dirty;
    size_t ndirty;
    struct link_list dirty_links;
    engine_tomb_t *tombs;
    size_t ntombs, tombcap;

    int32_t *cd_slot;            /* per rule: index into last_alert, -1 = no cooldown */
    uint32_t ncd;
    jd_strbuf_t out;             /* alert rendering scratch */
    jd_strbuf_t save;            /* changelog record scratch */
    uint32_t *save_tab;          /* 3 * history: a record's string table */
    jd_hist_t *merge_scratch;    /* 2 * history records */
};

/* ------------------------------------------------------------------ */
/* Heaps                                                              */

/* Deadline, then the order in which the timers were scheduled: by the
 * event step that scheduled them, then within that step. Keys rather than
 * a counter, so that shards running parts of the stream agree on it. */
static int timer_before(const jd_timer_t *a, const jd_timer_t *b)
{
    if (a->deadline != b->deadline)
        return a->deadline < b->deadline;
    if (a->sched_ts != b->sched_ts)
        return a->sched_ts < b->sched_ts;
    if (a->seq != b->seq)
        return a->seq < b->seq;
    return a->sub < b->sub;
}

int jd_step_cmp(const jd_step_t *a, const jd_step_t *b)
{
    if (a->time != b->time)
        return a->time < b->time ? -1 : 1;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    if (a->sched_ts != b->sched_ts)
        return a->sched_ts < b->sched_ts ? -1 : 1;
    if (a->seq != b->seq)
        return a->seq < b->seq ? -1 : 1;
    if (a->sub != b->sub)
        return a->sub < b->sub ? -1 : 1;
    return 0;
}

static void theap_place(jd_engine_t *e, size_t i, jd_timer_t *t)
{
    e->th[i] = t;
    t->heap_idx = i;
}

static void theap_up(jd_engine_t *e, size_t i)
{
    jd_timer_t *x = e->th[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!timer_before(x, e->th[p]))
            break;
        theap_place(e, i, e->th[p]);
        i = p;
    }
    theap_place(e, i, x);
}

static void theap_down(jd_engine_t *e, size_t i)
{
    jd_timer_t *x = e->th[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= e->tn)
            break;
        if (c + 1 < e->tn && timer_before(e->th[c + 1], e->th[c]))
            c++;
        if (!timer_before(e->th[c], x))
            break;
        theap_place(e, i, e->th[c]);
        i = c;
    }
    theap_place(e, i, x);
}

static void theap_remove(jd_engine_t *e, size_t i)
{
    jd_timer_t *t = e->th[i];
    t->heap_idx = SIZE_MAX;
    e->tn--;
    if (i == e->tn)
        return;
    theap_place(e, i, e->th[e->tn]);
    theap_down(e, i);
    theap_up(e, e->th[i]->heap_idx);
}

/* Puts t (keys already set) into the heap; 0, or -1 when out of memory. */
static int theap_insert(jd_engine_t *e, jd_timer_t *t)
{
    if (e->tn == e->tcap) {
        size_t ncap = e->tcap ? e->tcap * 2 : 1024;
        jd_timer_t **n = realloc(e->th, ncap * sizeof(*n));
        if (!n)
            return -1;
        e->th = n;
        e->tcap = ncap;
    }
    theap_place(e, e->tn++, t);
    theap_up(e, e->tn - 1);
    return 0;
}

void engine_timer_set(jd_engine_t *e, jd_timer_t *t, jd_journey_t *j,
                      uint32_t rule, int64_t deadline)
{
    if (t->heap_idx != SIZE_MAX && t->heap_idx < e->tn && e->th[t->heap_idx] == t)
        theap_remove(e, t->heap_idx);
    t->deadline = deadline;
    t->sched_ts = e->step.sched_ts;
    t->seq = e->step.seq;
    t->sub = e->step_sub++;
    t->journey = j;
    t->rule = rule;
    /* Out of memory: the attempt stays open without a deadline (pending). */
    if (theap_insert(e, t) != 0)
        t->heap_idx = SIZE_MAX;
}

void engine_timer_cancel(jd_engine_t *e, jd_timer_t *t)
{
    if (t->heap_idx != SIZE_MAX && t->heap_idx < e->tn && e->th[t->heap_idx] == t)
        theap_remove(e, t->heap_idx);
    t->heap_idx = SIZE_MAX;
}

/* ------------------------------------------------------------------ */
/* Change tracking                                                    */

static void engine_tomb(jd_engine_t *e, int32_t tag, const char *key)
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

static void journey_mark_dirty(jd_engine_t *e, jd_journey_t *j)
{
    if (!e->opts.track_changes || j->dirty)
        return;
    j->dirty = 1;
    TAILQ_INSERT_TAIL(&e->dirty, j, dirtyq);
    e->ndirty++;
}

static void journey_unmark_dirty(jd_engine_t *e, jd_journey_t *j)
{
    if (!j->dirty)
        return;
    TAILQ_REMOVE(&e->dirty, j, dirtyq);
    e->ndirty--;
    j->dirty = 0;
}

static void link_mark_dirty(jd_engine_t *e, jd_link_t *l)
{
    if (!e->opts.track_changes || l->dirty)
        return;
    l->dirty = 1;
    TAILQ_INSERT_HEAD(&e->dirty_links, l, dirtyq);
}

static void link_unmark_dirty(jd_engine_t *e, jd_link_t *l)
{
    if (!l->dirty)
        return;
    TAILQ_REMOVE(&e->dirty_links, l, dirtyq);
    l->dirty = 0;
}

/* ------------------------------------------------------------------ */
/* Journeys                                                           */

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

/* h: jd_map_hash of the key when the caller knows it, else 0. */
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

static jd_journey_t *journey_get(jd_engine_t *e, char kind, const char *id)
{
    return journey_get_h(e, kind, id, 0);
}

/* One allocation: struct, history ring, rule states, cooldown marks, key.
 * The struct comes first so the map node at offset 0 casts back to it. */
static jd_journey_t *journey_new(jd_engine_t *e, char kind, const char *id)
{
    const jd_config_t *c = e->conf;
    size_t idlen = strlen(id);
    size_t sz = sizeof(jd_journey_t) + c->nrules * sizeof(void *) +
                e->ncd * sizeof(int64_t) + idlen + 3;
    jd_journey_t *j = calloc(1, sz);
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

static jd_journey_t *journey_get_or_new(jd_engine_t *e, char kind, const char *id, uint64_t h)
{
    jd_journey_t *j = journey_get_h(e, kind, id, h);
    return j ? j : journey_new(e, kind, id);
}

/* Frees j and its rule states. tombstone: the key leaves durable state. */
static void journey_destroy(jd_engine_t *e, jd_journey_t *j, int tombstone)
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
    free(j->hist);
    free(j);
}

/* Makes room for n records (at most conf->history), keeping order and
 * re-basing the ring at 0. Light customers keep a small ring. */
static int journey_hist_reserve(jd_engine_t *e, jd_journey_t *j, uint32_t n)
{
    uint32_t max = e->conf->history;
    if (n > max)
        n = max;
    if (n <= j->hist_cap)
        return 0;
    uint32_t cap = j->hist_cap ? j->hist_cap : 4;
    while (cap < n)
        cap *= 2;
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

static void journey_append(jd_engine_t *e, jd_journey_t *j, const jd_event_t *ev,
                           uint64_t eid_hash)
{
    jd_hist_t *h;
    if (j->hist_len == j->hist_cap && journey_hist_reserve(e, j, j->hist_len + 1u) != 0 &&
        j->hist_cap == 0)
        return; /* out of memory before the first record: no context kept */
    if (j->hist_len < j->hist_cap) {
        h = &j->hist[(j->hist_head + j->hist_len) % j->hist_cap];
        j->hist_len++;
    } else {
        h = &j->hist[j->hist_head];
        j->hist_head = (uint16_t)((j->hist_head + 1) % j->hist_cap);
    }
    h->ts = ev->ts;
    h->type = jd_intern_id(ev->slot[JD_SLOT_TYPE]);
    h->channel = jd_intern_id(ev->slot[JD_SLOT_CHANNEL]);
    h->page = jd_intern_id(ev->slot[JD_SLOT_PAGE]);
    h->eid_hash = eid_hash;
}

/* De-duplication looks at the customer's retained history: a redelivery or
 * a replayed file repeats an event close to the original. */
static int journey_seen(const jd_engine_t *e, const jd_journey_t *j, uint64_t h)
{
    (void)e;
    for (uint32_t i = 0; i < j->hist_len; i++)
        if (jd_journey_hist(j, i)->eid_hash == h)
            return 1;
    return 0;
}

/* Folds anonymous journey a into customer journey j (contract section 3):
 * histories interleave by event time, rule states combine per kind. */
static void journey_merge(jd_engine_t *e, jd_journey_t *j, jd_journey_t *a)
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
    if (journey_hist_reserve(e, j, n - skip) == 0) {
        for (uint32_t i = skip; i < n; i++)
            j->hist[i - skip] = tmp[i];
        j->hist_head = 0;
        j->hist_len = (uint16_t)(n - skip);
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

/* ------------------------------------------------------------------ */
/* Identity                                                           */

static void link_lru_unlink(jd_engine_t *e, jd_link_t *l)
{
    TAILQ_REMOVE(&e->link_lru, l, lru);
}

static void link_lru_append(jd_engine_t *e, jd_link_t *l)
{
    TAILQ_INSERT_TAIL(&e->link_lru, l, lru);
}

/* A link arriving from another shard goes to its place by last use. */
static void link_lru_insert_sorted(jd_engine_t *e, jd_link_t *l)
{
    jd_link_t *q = TAILQ_LAST(&e->link_lru, link_list);
    while (q && q->last_ts > l->last_ts)
        q = TAILQ_PREV(q, link_list, lru);
    if (q)
        TAILQ_INSERT_AFTER(&e->link_lru, q, l, lru);
    else
        TAILQ_INSERT_HEAD(&e->link_lru, l, lru);
}

static void link_destroy(jd_engine_t *e, jd_link_t *l, int tombstone)
{
    jd_map_del(&e->links, &l->node);
    link_lru_unlink(e, l);
    link_unmark_dirty(e, l);
    if (tombstone && e->opts.track_changes) {
        size_t n = strlen(l->keybuf);
        char *k = malloc(n + 3);
        if (k) {
            k[0] = 'l';
            k[1] = ':';
            memcpy(k + 2, l->keybuf, n + 1);
            engine_tomb(e, l->source_tag, k);
            free(k);
        }
    }
    free(l->customer);
    free(l);
}

/* Records anon -> customer; returns the link or NULL on OOM. */
static jd_link_t *link_set(jd_engine_t *e, const char *anon, const char *customer,
                           int64_t ts, int32_t tag)
{
    size_t alen = strlen(anon);
    jd_link_t *l = (jd_link_t *)jd_map_get(&e->links, anon, alen);
    if (l && strcmp(l->customer, customer) != 0) {
        char *c = strdup(customer);
        if (!c)
            return l;
        free(l->customer);
        l->customer = c;
        e->st.links++;
    } else if (!l) {
        l = calloc(1, sizeof(*l) + alen + 1);
        if (!l)
            return NULL;
        memcpy(l->keybuf, anon, alen + 1);
        l->customer = strdup(customer);
        l->node.key = l->keybuf;
        l->node.keylen = alen;
        if (!l->customer || jd_map_put(&e->links, &l->node) != 0) {
            free(l->customer);
            free(l);
            return NULL;
        }
        link_lru_append(e, l);
        e->st.links++;
    }
    if (ts > l->last_ts) {
        l->last_ts = ts;
        link_lru_unlink(e, l);
        link_lru_append(e, l);
    }
    l->source_tag = tag;
    link_mark_dirty(e, l);
    return l;
}

static jd_journey_t *engine_resolve(jd_engine_t *e, const jd_event_t *ev)
{
    if (ev->customer_id) {
        jd_journey_t *j = journey_get_or_new(e, 'c', ev->customer_id, ev->khash);
        if (!j || !ev->anonymous_id)
            return j;
        link_set(e, ev->anonymous_id, ev->customer_id, ev->ts, ev->source_tag);
        jd_journey_t *a = journey_get(e, 'a', ev->anonymous_id);
        if (a)
            journey_merge(e, j, a);
        return j;
    }
    jd_link_t *l = (jd_link_t *)jd_map_get(&e->links, ev->anonymous_id,
                                           strlen(ev->anonymous_id));
    if (l) {
        if (ev->ts > l->last_ts) {
            l->last_ts = ev->ts;
            link_lru_unlink(e, l);
            link_lru_append(e, l);
        }
        return journey_get_or_new(e, 'c', l->customer, 0);
    }
    return journey_get_or_new(e, 'a', ev->anonymous_id, ev->khash);
}

/* Journeys and links idle for longer than journey.retention of event time
 * go; the LRU lists are ordered by last activity so this stops at the
 * first one still alive. */
static void engine_expire(jd_engine_t *e, int64_t now)
{
    int64_t limit = now - e->conf->retention_ms;
    jd_journey_t *j;
    jd_link_t *l;
    while ((j = TAILQ_FIRST(&e->lru)) && j->last_ts < limit) {
        e->st.expired++;
        journey_destroy(e, j, 1);
    }
    while ((l = TAILQ_FIRST(&e->link_lru)) && l->last_ts < limit)
        link_destroy(e, l, 1);
}

/* ------------------------------------------------------------------ */
/* Evaluation                                                         */

static uint64_t eid_hash(const char *id)
{
    uint64_t h = jd_map_hash(id, strlen(id));
    return h ? h : 1;
}

static void engine_evaluate(jd_engine_t *e, jd_event_t *ev)
{
    const jd_config_t *c = e->conf;
    e->step = (jd_step_t){.time = ev->ts, .kind = 0, .sched_ts = ev->ts, .seq = ev->seq};
    e->step_sub = 0;
    engine_expire(e, ev->ts);
    jd_journey_t *j = engine_resolve(e, ev);
    if (!j)
        goto out; /* out of memory: the event cannot be placed */
    uint64_t h = ev->event_id ? eid_hash(ev->event_id) : 0;
    if (h && journey_seen(e, j, h)) {
        e->st.duplicates++;
        goto out;
    }
    journey_append(e, j, ev, h);
    if (ev->ts >= j->last_ts) {
        j->last_ts = ev->ts;
        lru_unlink(e, j);
        lru_append(e, j);
    }
    if (ev->source_tag >= 0)
        j->source_tag = ev->source_tag;
    journey_mark_dirty(e, j);
    for (uint32_t i = 0; i < c->nrules; i++)
        e->ops[i]->on_event(e, &c->rules[i], j, &j->rstate[i], ev);
    e->st.events_evaluated++;
    /* Evict only now, so the journey being evaluated (now the newest) and
     * an anonymous journey about to merge are never the victims. */
    while (e->st.customers > e->max_customers && TAILQ_FIRST(&e->lru) != j) {
        e->st.evicted++;
        journey_destroy(e, TAILQ_FIRST(&e->lru), 1);
    }
out:
    if (!e->opts.borrow_events)
        jd_event_free(ev);
}

static void engine_fire(jd_engine_t *e, jd_timer_t *t)
{
    theap_remove(e, t->heap_idx);
    jd_journey_t *j = t->journey;
    uint32_t r = t->rule;
    /* A journey idle for longer than the retention at the deadline has
     * expired, whether or not other customers' events came by to notice:
     * decided per journey, so shards and a single engine agree. */
    if (j->last_ts < t->deadline - e->conf->retention_ms) {
        e->st.expired++;
        journey_destroy(e, j, 1);
        return;
    }
    e->step = (jd_step_t){.time = t->deadline, .kind = 1, .sched_ts = t->sched_ts,
                          .seq = t->seq, .sub = t->sub};
    journey_mark_dirty(e, j);
    e->ops[r]->on_timer(e, &e->conf->rules[r], j, &j->rstate[r], t);
}

static void engine_release(jd_engine_t *e)
{
    int64_t wm = e->st.watermark;
    for (;;) {
        jd_event_t *ev = jd_evheap_top(&e->evh);
        if (ev && ev->ts > wm)
            ev = NULL;
        jd_timer_t *t = e->tn && e->th[0]->deadline < wm ? e->th[0] : NULL;
        if (t && (!ev || t->deadline < ev->ts))
            engine_fire(e, t);
        else if (ev)
            engine_evaluate(e, jd_evheap_pop(&e->evh));
        else
            break;
    }
}

/* ------------------------------------------------------------------ */
/* Services for the rule kinds                                        */

const jd_config_t *engine_conf(const jd_engine_t *e)
{
    return e->conf;
}

jd_funnel_stats_t *engine_funnel_stats(jd_engine_t *e, uint32_t rule)
{
    return &e->st.funnels[rule];
}

int engine_emit(jd_engine_t *e, const jd_alert_req_t *req, char *alert_id)
{
    const jd_rule_t *r = req->rule;
    jd_journey_t *j = req->journey;
    int32_t cd = e->cd_slot[r->index];
    if (cd >= 0) {
        int64_t last = j->last_alert[cd];
        if (last != INT64_MIN && req->ts - last < r->cooldown_ms) {
            e->st.suppressed++;
            return 0;
        }
        j->last_alert[cd] = req->ts;
    }
    char id[17];
    int64_t emitted = e->opts.fixed_emitted_at ? e->opts.fixed_emitted_at : jd_now_ms();
    jd_strbuf_reset(&e->out);
    jd_alert_render(e->conf, req, emitted, &e->out, id);
    if (alert_id)
        memcpy(alert_id, id, 17);
    e->st.alerts++;
    e->st.alerts_by_rule[r->index]++;
    if (e->opts.on_alert && !e->out.oom)
        e->opts.on_alert(e->opts.opaque, j->key + 2, j->node.keylen - 2,
                         e->out.data, e->out.len, req->ts);

    /* Sequences whose "first" names this rule see the alert as an
     * occurrence on the same journey. */
    jd_evid_t occ = {.ts = req->ts, .channel = req->nevid ? req->evid[0].channel : NULL,
                     .id = id, .rule = r->name};
    for (uint32_t i = 0; i < e->nlisteners[r->index]; i++) {
        uint32_t s = e->listeners[r->index][i];
        rule_sequence_on_alert(e, &e->conf->rules[s], j, &j->rstate[s], &occ);
    }
    return 1;
}

/* ------------------------------------------------------------------ */
/* Public API                                                         */

static const jd_rule_ops_t *engine_ops_for(jd_rule_kind_t k)
{
    switch (k) {
    case JD_RULE_BURST: return &jd_rule_burst_ops;
    case JD_RULE_FUNNEL: return &jd_rule_funnel_ops;
    case JD_RULE_SEQUENCE: return &jd_rule_sequence_ops;
    }
    return NULL;
}

jd_engine_t *jd_engine_new(const jd_config_t *conf, const jd_engine_opts_t *opts,
                           jd_err_t *err)
{
    jd_engine_t *e = calloc(1, sizeof(*e));
    if (!e) {
        jd_err_set(err, "out of memory creating the engine");
        return NULL;
    }
    e->conf = conf;
    if (opts)
        e->opts = *opts;
    e->st.watermark = INT64_MIN;
    e->st.max_ts = INT64_MIN;
    e->max_customers = e->opts.max_customers ? e->opts.max_customers : conf->max_customers;
    TAILQ_INIT(&e->lru);
    TAILQ_INIT(&e->link_lru);
    TAILQ_INIT(&e->dirty);
    TAILQ_INIT(&e->dirty_links);
    uint32_t n = conf->nrules;
    e->ops = calloc(n ? n : 1, sizeof(*e->ops));
    e->listeners = calloc(n ? n : 1, sizeof(*e->listeners));
    e->nlisteners = calloc(n ? n : 1, sizeof(*e->nlisteners));
    e->st.alerts_by_rule = calloc(n ? n : 1, sizeof(uint64_t));
    e->st.funnels = calloc(n ? n : 1, sizeof(jd_funnel_stats_t));
    e->merge_scratch = calloc(2 * (size_t)conf->history, sizeof(jd_hist_t));
    e->save_tab = calloc(3 * (size_t)conf->history + 1, sizeof(uint32_t));
    e->cd_slot = calloc(n ? n : 1, sizeof(int32_t));
    if (!e->cd_slot)
        goto oom;
    for (uint32_t i = 0; i < n; i++)
        e->cd_slot[i] = conf->rules[i].cooldown_ms > 0 ? (int32_t)e->ncd++ : -1;
    if (!e->ops || !e->listeners || !e->nlisteners || !e->st.alerts_by_rule ||
        !e->st.funnels || !e->merge_scratch || !e->save_tab ||
        jd_map_init(&e->journeys) != 0 || jd_map_init(&e->links) != 0)
        goto oom;
    for (uint32_t i = 0; i < n; i++) {
        const jd_rule_t *r = &conf->rules[i];
        e->ops[i] = engine_ops_for(r->kind);
        if (r->kind == JD_RULE_FUNNEL) {
            e->st.funnels[i].reached = calloc(r->nsteps, sizeof(uint64_t));
            e->st.funnels[i].dropped = calloc(r->nsteps, sizeof(uint64_t));
            if (!e->st.funnels[i].reached || !e->st.funnels[i].dropped)
                goto oom;
        }
        if (r->kind != JD_RULE_SEQUENCE)
            continue;
        for (uint32_t f = 0; f < r->nfirst; f++) {
            if (!r->first[f].is_alert)
                continue;
            for (uint32_t k = 0; k < r->first[f].nrules; k++) {
                uint32_t src = r->first[f].rules[k];
                uint32_t *l = realloc(e->listeners[src],
                                      (e->nlisteners[src] + 1) * sizeof(uint32_t));
                if (!l)
                    goto oom;
                l[e->nlisteners[src]++] = i;
                e->listeners[src] = l;
            }
        }
    }
    return e;
oom:
    jd_err_set(err, "out of memory creating the engine");
    jd_engine_destroy(e);
    return NULL;
}

void jd_engine_destroy(jd_engine_t *e)
{
    if (!e)
        return;
    while (!TAILQ_EMPTY(&e->lru))
        journey_destroy(e, TAILQ_FIRST(&e->lru), 0);
    while (!TAILQ_EMPTY(&e->link_lru))
        link_destroy(e, TAILQ_FIRST(&e->link_lru), 0);
    jd_evheap_free(&e->evh);
    for (size_t i = 0; i < e->ntombs; i++)
        free(e->tombs[i].key);
    free(e->tombs);
    free(e->th);
    jd_map_free(&e->journeys);
    jd_map_free(&e->links);
    if (e->listeners)
        for (uint32_t i = 0; i < e->conf->nrules; i++)
            free(e->listeners[i]);
    if (e->st.funnels)
        for (uint32_t i = 0; i < e->conf->nrules; i++) {
            free(e->st.funnels[i].reached);
            free(e->st.funnels[i].dropped);
        }
    free(e->listeners);
    free(e->nlisteners);
    free(e->ops);
    free(e->st.alerts_by_rule);
    free(e->st.funnels);
    free(e->merge_scratch);
    free(e->save_tab);
    free(e->cd_slot);
    jd_strbuf_free(&e->out);
    jd_strbuf_free(&e->save);
    free(e);
}

jd_dl_reason_t jd_engine_push(jd_engine_t *e, jd_event_t *ev)
{
    if (e->st.watermark != INT64_MIN && ev->ts < e->st.watermark) {
        e->st.late++;
        jd_event_free(ev);
        return JD_DL_LATE;
    }
    ev->seq = e->evseq++;
    e->st.events_in++;
    if (jd_evheap_push(&e->evh, ev) != 0) {
        /* No room to re-order: evaluate now rather than lose it. */
        engine_evaluate(e, ev);
        return JD_DL_NONE;
    }
    if (ev->ts > e->st.max_ts)
        e->st.max_ts = ev->ts;
    if (e->opts.auto_watermark && e->st.max_ts - e->conf->lateness_ms > e->st.watermark)
        jd_engine_advance(e, e->st.max_ts - e->conf->lateness_ms);
    return JD_DL_NONE;
}

void jd_engine_advance(jd_engine_t *e, int64_t wm)
{
    /* At the same watermark, events pushed since the last call at exactly
     * that time are released: a checkpoint relies on "ts <= wm was
     * evaluated" (src/kafka/task.h). */
    if (wm < e->st.watermark || wm == INT64_MIN)
        return;
    e->st.watermark = wm;
    engine_release(e);
}

void jd_engine_finish(jd_engine_t *e, int flush)
{
    if (e->st.max_ts != INT64_MIN)
        jd_engine_advance(e, e->st.max_ts);
    /* Events at exactly the final watermark are released by advance; with
     * flush every remaining window closes in deadline order. */
    if (flush)
        while (e->tn)
            engine_fire(e, e->th[0]);
    for (uint32_t i = 0; i < e->conf->nrules; i++)
        e->st.funnels[i].pending = 0;
    for (size_t i = 0; i < e->tn; i++)
        if (e->conf->rules[e->th[i]->rule].kind == JD_RULE_FUNNEL)
            e->st.funnels[e->th[i]->rule].pending++;
}

/* ------------------------------------------------------------------ */
/* Running as one shard of several (shard.c)                          */

static void engine_fire_before(jd_engine_t *e, int64_t t)
{
    while (e->tn && e->th[0]->deadline < t)
        engine_fire(e, e->th[0]);
}

void jd_engine_eval(jd_engine_t *e, jd_event_t *ev)
{
    engine_fire_before(e, ev->ts);
    e->st.events_in++;
    if (ev->ts > e->st.max_ts)
        e->st.max_ts = ev->ts;
    engine_evaluate(e, ev);
}

void jd_engine_expire(jd_engine_t *e, int64_t now)
{
    engine_expire(e, now);
}

void jd_event_key_hash(jd_event_t *ev)
{
    if (ev->khash)
        return;
    const char *id = ev->customer_id ? ev->customer_id : ev->anonymous_id;
    char key[128];
    size_t len = strlen(id);
    if (len + 2 > sizeof(key))
        return; /* rare long ids: looked up the slow way */
    key[0] = ev->customer_id ? 'c' : 'a';
    key[1] = ':';
    memcpy(key + 2, id, len);
    /* a hash of 0 means "not computed": such an event is looked up the
     * slow way, as it would be anyway */
    ev->khash = jd_map_hash(key, len + 2);
}

void jd_engine_prefetch(const jd_engine_t *e, jd_event_t *ev, int stage)
{
    jd_event_key_hash(ev);
    if (!ev->khash)
        return;
    if (stage == 0) {
        jd_map_prefetch_bucket(&e->journeys, ev->khash);
    } else if (stage == 1) {
        jd_map_prefetch_node(&e->journeys, ev->khash);
    } else {
        /* the journey is cached by now: fetch what the rules will read */
        const jd_journey_t *j = (const jd_journey_t *)jd_map_peek_hash(&e->journeys, ev->khash);
        if (!j)
            return;
        __builtin_prefetch(j->hist);
        for (uint32_t i = 0; i < e->conf->nrules; i++)
            if (j->rstate[i])
                __builtin_prefetch(j->rstate[i]);
    }
}

const jd_step_t *jd_engine_step(const jd_engine_t *e)
{
    return &e->step;
}

/* An anonymous identity's state in transit: its link and its journey, the
 * journey's pending timers taken out of the old engine's heap. */
struct jd_engine_parcel {
    jd_link_t *link;
    jd_journey_t *journey;
    uint32_t ntimers;
    jd_timer_t *timers[];
};

jd_engine_parcel_t *jd_engine_export_anon(jd_engine_t *e, const char *anon, int64_t now)
{
    /* Exactly what evaluating an event at now would have done first. */
    engine_fire_before(e, now);
    engine_expire(e, now);
    jd_link_t *l = (jd_link_t *)jd_map_get(&e->links, anon, strlen(anon));
    jd_journey_t *j = journey_get(e, 'a', anon);
    if (!l && !j)
        return NULL;
    jd_engine_parcel_t *p = calloc(1, sizeof(*p) + e->conf->nrules * sizeof(jd_timer_t *));
    if (!p)
        return NULL; /* the state stays here and is lost to the stitch */
    if (l) {
        jd_map_del(&e->links, &l->node);
        link_lru_unlink(e, l);
        link_unmark_dirty(e, l);
        p->link = l;
    }
    if (j) {
        for (uint32_t i = 0; i < e->conf->nrules; i++) {
            jd_timer_t *t = j->rstate[i] && e->ops[i]->timer ? e->ops[i]->timer(j->rstate[i])
                                                            : NULL;
            if (t && t->heap_idx != SIZE_MAX) {
                theap_remove(e, t->heap_idx);
                p->timers[p->ntimers++] = t;
            }
        }
        jd_map_del(&e->journeys, &j->node);
        lru_unlink(e, j);
        journey_unmark_dirty(e, j);
        e->st.customers--;
        p->journey = j;
    }
    return p;
}

void jd_engine_import(jd_engine_t *e, jd_engine_parcel_t *p)
{
    if (!p)
        return;
    if (p->link) {
        jd_link_t *old = (jd_link_t *)jd_map_get(&e->links, p->link->keybuf,
                                                  p->link->node.keylen);
        if (old)
            link_destroy(e, old, 0);
        if (jd_map_put(&e->links, &p->link->node) != 0) {
            free(p->link->customer);
            free(p->link);
        } else {
            link_lru_insert_sorted(e, p->link);
            link_mark_dirty(e, p->link);
        }
    }
    jd_journey_t *j = p->journey;
    if (j) {
        jd_journey_t *old = (jd_journey_t *)jd_map_get(&e->journeys, j->key, j->node.keylen);
        if (old)
            journey_destroy(e, old, 0);
        if (jd_map_put(&e->journeys, &j->node) != 0) {
            for (uint32_t i = 0; i < p->ntimers; i++)
                p->timers[i]->heap_idx = SIZE_MAX;
            p->ntimers = 0;
            /* free it through this engine: its timers are out of any heap */
            lru_append(e, j);
            e->st.customers++;
            journey_destroy(e, j, 0);
        } else {
            /* At the tail, not in last_ts order: walking the LRU to its
             * place costs more than the whole stitch, and the journey is
             * merged into its customer's by the very next event (the one
             * that caused the move). */
            lru_append(e, j);
            journey_mark_dirty(e, j);
            e->st.customers++;
            if (e->st.customers > e->st.customers_peak)
                e->st.customers_peak = e->st.customers;
            for (uint32_t i = 0; i < p->ntimers; i++)
                if (theap_insert(e, p->timers[i]) != 0)
                    p->timers[i]->heap_idx = SIZE_MAX;
        }
    }
    free(p);
}

const jd_engine_stats_t *jd_engine_stats(jd_engine_t *e)
{
    e->st.buffered = e->evh.n;
    e->st.timers = e->tn;
    return &e->st;
}

json_t *jd_engine_stats_json(jd_engine_t *e)
{
    return jd_engine_stats_to_json(e->conf, jd_engine_stats(e));
}

json_t *jd_engine_stats_to_json(const jd_config_t *c, const jd_engine_stats_t *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "events_in", json_integer((json_int_t)s->events_in));
    json_object_set_new(o, "events_evaluated", json_integer((json_int_t)s->events_evaluated));
    json_object_set_new(o, "late", json_integer((json_int_t)s->late));
    json_object_set_new(o, "duplicates", json_integer((json_int_t)s->duplicates));
    json_object_set_new(o, "alerts", json_integer((json_int_t)s->alerts));
    json_object_set_new(o, "suppressed_by_cooldown", json_integer((json_int_t)s->suppressed));
    json_object_set_new(o, "customers_active", json_integer((json_int_t)s->customers));
    json_object_set_new(o, "customers_peak", json_integer((json_int_t)s->customers_peak));
    json_object_set_new(o, "customers_total", json_integer((json_int_t)s->customers_total));
    json_object_set_new(o, "evicted", json_integer((json_int_t)s->evicted));
    json_object_set_new(o, "expired", json_integer((json_int_t)s->expired));
    json_object_set_new(o, "links", json_integer((json_int_t)s->links));
    json_object_set_new(o, "merges", json_integer((json_int_t)s->merges));
    json_object_set_new(o, "buffered", json_integer((json_int_t)s->buffered));
    char buf[JD_TIME_BUFSZ];
    json_object_set_new(o, "watermark", s->watermark == INT64_MIN ? json_null() :
                        json_string(jd_time_format_rfc3339(s->watermark, buf)));
    json_object_set_new(o, "max_ts", s->max_ts == INT64_MIN ? json_null() :
                        json_string(jd_time_format_rfc3339(s->max_ts, buf)));
    json_t *rules = json_object();
    json_t *funnels = json_object();
    for (uint32_t i = 0; i < c->nrules; i++) {
        const jd_rule_t *r = &c->rules[i];
        json_object_set_new(rules, r->name, json_integer((json_int_t)s->alerts_by_rule[i]));
        if (r->kind != JD_RULE_FUNNEL)
            continue;
        const jd_funnel_stats_t *f = &s->funnels[i];
        json_t *fo = json_object();
        json_object_set_new(fo, "attempts", json_integer((json_int_t)f->attempts));
        json_object_set_new(fo, "completed", json_integer((json_int_t)f->completed));
        json_object_set_new(fo, "pending", json_integer((json_int_t)f->pending));
        json_object_set_new(fo, "conversion", json_real(f->attempts ?
                            (double)f->completed / (double)f->attempts : 0.0));
        json_t *steps = json_array();
        for (uint32_t k = 0; k < r->nsteps; k++) {
            json_t *so = json_object();
            json_object_set_new(so, "name", json_string(r->steps[k].name));
            json_object_set_new(so, "reached", json_integer((json_int_t)f->reached[k]));
            json_object_set_new(so, "dropped_after", json_integer((json_int_t)f->dropped[k]));
            json_object_set_new(so, "rate_from_start", json_real(f->attempts ?
                                (double)f->reached[k] / (double)f->attempts : 0.0));
            json_object_set_new(so, "rate_from_previous", json_real(k == 0 ? 1.0 :
                                f->reached[k - 1] ? (double)f->reached[k] /
                                (double)f->reached[k - 1] : 0.0));
            json_array_append_new(steps, so);
        }
        json_object_set_new(fo, "steps", steps);
        json_object_set_new(funnels, r->name, fo);
    }
    json_object_set_new(o, "alerts_by_rule", rules);
    json_object_set_new(o, "funnels", funnels);
    return o;
}

/* ------------------------------------------------------------------ */
/* Durable state                                                      */

/* A journey record: {"t":last_ts,"h":[[ts,type,channel,page,"eidhash"],..],
 * "a":{rule:last_alert_ts,..},"r":{rule:<kind state>,..}}. Rule states are
 * keyed by rule name so a config change that reorders rules still restores. */
/* Position of id in a record's string table, ntab when absent. The table
 * holds the distinct strings of one journey: a handful, a linear scan. */
static uint32_t save_tab_index(const uint32_t *tab, uint32_t ntab, uint32_t id)
{
    uint32_t k = 0;
    while (k < ntab && tab[k] != id)
        k++;
    return k;
}

static void engine_state_save_journey(jd_engine_t *e, const jd_journey_t *j,
                                      jd_strbuf_t *sb)
{
    const jd_config_t *c = e->conf;
    /* History strings repeat (a journey's types, channels, pages), so each
     * distinct one is written once in "s" and entries index it; entry
     * times are deltas from the previous entry. About half the bytes of
     * spelling every entry out, for the broker and for us. */
    uint32_t *tab = e->save_tab, ntab = 0;
    uint32_t idx[3];
    jd_strbuf_puts(sb, "{\"t\":");
    jd_strbuf_i64(sb, j->last_ts);
    jd_strbuf_puts(sb, ",\"s\":[");
    for (uint32_t i = 0; i < j->hist_len; i++) {
        const jd_hist_t *h = jd_journey_hist(j, i);
        const uint32_t ids[3] = {h->type, h->channel, h->page};
        for (int f = 0; f < 3; f++) {
            if (!ids[f] || save_tab_index(tab, ntab, ids[f]) < ntab)
                continue;
            if (ntab)
                jd_strbuf_putc(sb, ',');
            jd_strbuf_json_str(sb, jd_intern_get(c->intern, ids[f]));
            tab[ntab++] = ids[f];
        }
    }
    jd_strbuf_puts(sb, "],\"h\":[");
    int64_t prev = 0;
    for (uint32_t i = 0; i < j->hist_len; i++) {
        const jd_hist_t *h = jd_journey_hist(j, i);
        idx[0] = h->type ? save_tab_index(tab, ntab, h->type) : UINT32_MAX;
        idx[1] = h->channel ? save_tab_index(tab, ntab, h->channel) : UINT32_MAX;
        idx[2] = h->page ? save_tab_index(tab, ntab, h->page) : UINT32_MAX;
        jd_strbuf_puts(sb, i ? ",[" : "[");
        jd_strbuf_i64(sb, h->ts - prev);
        prev = h->ts;
        for (int f = 0; f < 3; f++) {
            jd_strbuf_putc(sb, ',');
            jd_strbuf_i64(sb, idx[f] == UINT32_MAX ? -1 : (int64_t)idx[f]);
        }
        if (h->eid_hash) {
            jd_strbuf_puts(sb, ",\"");
            jd_strbuf_hex64(sb, h->eid_hash);
            jd_strbuf_puts(sb, "\"]");
        } else {
            jd_strbuf_puts(sb, ",0]");
        }
    }
    jd_strbuf_puts(sb, "],\"a\":{");
    int first = 1;
    for (uint32_t i = 0; i < c->nrules; i++) {
        int32_t cd = e->cd_slot[i];
        if (cd < 0 || j->last_alert[cd] == INT64_MIN)
            continue;
        if (!first)
            jd_strbuf_putc(sb, ',');
        first = 0;
        jd_strbuf_json_str(sb, c->rules[i].name);
        jd_strbuf_putc(sb, ':');
        jd_strbuf_i64(sb, j->last_alert[cd]);
    }
    jd_strbuf_puts(sb, "},\"r\":{");
    first = 1;
    for (uint32_t i = 0; i < c->nrules; i++) {
        if (!j->rstate[i])
            continue;
        if (!first)
            jd_strbuf_putc(sb, ',');
        first = 0;
        jd_strbuf_json_str(sb, c->rules[i].name);
        jd_strbuf_putc(sb, ':');
        e->ops[i]->save(&c->rules[i], j->rstate[i], sb);
    }
    jd_strbuf_puts(sb, "}}");
}

static const char *intern_or_null(const jd_config_t *c, json_t *v)
{
    const char *s = json_string_value(v);
    return s ? jd_intern_str(c->intern, s) : NULL;
}

static int engine_restore_journey(jd_engine_t *e, int32_t tag, const char *key,
                                  size_t keylen, json_t *o, jd_err_t *err)
{
    const jd_config_t *c = e->conf;
    char *id = strndup(key + 2, keylen - 2);
    if (!id)
        return jd_err_set(err, "out of memory");
    jd_journey_t *old = journey_get(e, key[0], id);
    if (old)
        journey_destroy(e, old, 0);
    jd_journey_t *j = journey_new(e, key[0], id);
    free(id);
    if (!j)
        return jd_err_set(err, "out of memory");
    j->source_tag = tag;
    j->last_ts = json_integer_value(json_object_get(o, "t"));
    json_t *hist = json_object_get(o, "h");
    size_t n = json_array_size(hist);
    size_t skip = n > c->history ? n - c->history : 0;
    if (journey_hist_reserve(e, j, (uint32_t)(n - skip)) != 0)
        n = skip;
    /* "s" present: strings by index into it, times as deltas (what
     * engine_state_save_journey writes); absent: every entry spelled out
     * with absolute times (records of earlier versions). */
    json_t *tab = json_object_get(o, "s");
    int64_t ts = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *h = json_array_get(hist, i);
        ts = tab ? ts + json_integer_value(json_array_get(h, 0))
                 : json_integer_value(json_array_get(h, 0));
        if (i < skip)
            continue;
        jd_hist_t *dst = &j->hist[j->hist_len++];
        uint32_t ids[3];
        for (int f = 0; f < 3; f++) {
            json_t *v = json_array_get(h, (size_t)f + 1);
            if (tab && json_is_integer(v))
                v = json_integer_value(v) < 0 ? NULL
                                              : json_array_get(tab, (size_t)json_integer_value(v));
            ids[f] = jd_intern_id(intern_or_null(c, v));
        }
        dst->ts = ts;
        dst->type = ids[0];
        dst->channel = ids[1];
        dst->page = ids[2];
        const char *hx = json_string_value(json_array_get(h, 4));
        dst->eid_hash = hx ? strtoull(hx, NULL, 16) : 0;
    }
    const char *name;
    json_t *v;
    json_object_foreach(json_object_get(o, "a"), name, v) {
        const jd_rule_t *r = jd_config_rule(c, name);
        if (r && json_is_integer(v) && e->cd_slot[r->index] >= 0)
            j->last_alert[e->cd_slot[r->index]] = json_integer_value(v);
    }
    json_object_foreach(json_object_get(o, "r"), name, v) {
        const jd_rule_t *r = jd_config_rule(c, name);
        if (r && e->ops[r->index]->load(e, r, j, &j->rstate[r->index], v) != 0)
            j->rstate[r->index] = NULL; /* a rule's state that no longer fits is dropped */
    }
    lru_unlink(e, j);
    lru_insert_sorted(e, j);
    return 0;
}

int jd_engine_restore(jd_engine_t *e, int32_t source_tag, const char *key,
                      size_t keylen, const void *val, size_t vallen, jd_err_t *err)
{
    if (keylen < 3 || key[1] != ':' || (key[0] != 'c' && key[0] != 'a' && key[0] != 'l'))
        return jd_err_set(err, "changelog key \"%.*s\" is not a journeyd state key",
                          (int)(keylen > 64 ? 64 : keylen), key);
    if (!val) {
        if (key[0] == 'l') {
            jd_link_t *l = (jd_link_t *)jd_map_get(&e->links, key + 2, keylen - 2);
            if (l)
                link_destroy(e, l, 0);
        } else {
            char *id = strndup(key + 2, keylen - 2);
            jd_journey_t *j = id ? journey_get(e, key[0], id) : NULL;
            free(id);
            if (j)
                journey_destroy(e, j, 0);
        }
        return 0;
    }
    /* Restored timers order among themselves by restore order. */
    e->step = (jd_step_t){.time = INT64_MIN, .sched_ts = INT64_MIN, .seq = e->restore_seq++};
    e->step_sub = 0;
    json_error_t jerr;
    json_t *o = json_loadb(val, vallen, 0, &jerr);
    if (!json_is_object(o)) {
        json_decref(o);
        return jd_err_set(err, "changelog record %.*s: %s", (int)(keylen > 64 ? 64 : keylen),
                          key, jerr.text);
    }
    int rc = 0;
    if (key[0] == 'l') {
        char *anon = strndup(key + 2, keylen - 2);
        const char *cust = json_string_value(json_object_get(o, "c"));
        if (anon && cust) {
            jd_link_t *l = link_set(e, anon, cust,
                                    json_integer_value(json_object_get(o, "t")), source_tag);
            if (l)
                link_unmark_dirty(e, l);
            e->st.links--; /* restoring is not a new link */
        }
        free(anon);
    } else {
        rc = engine_restore_journey(e, source_tag, key, keylen, o, err);
    }
    json_decref(o);
    return rc;
}

static int event_not_from(const jd_event_t *ev, void *tag)
{
    return ev->source_tag != *(int32_t *)tag;
}

void jd_engine_drop_source(jd_engine_t *e, int32_t tag)
{
    for (jd_journey_t *j = TAILQ_FIRST(&e->lru), *next; j; j = next) {
        next = TAILQ_NEXT(j, lru);
        if (j->source_tag == tag)
            journey_destroy(e, j, 0);
    }
    for (jd_link_t *l = TAILQ_FIRST(&e->link_lru), *next; l; l = next) {
        next = TAILQ_NEXT(l, lru);
        if (l->source_tag == tag)
            link_destroy(e, l, 0);
    }
    jd_evheap_filter(&e->evh, event_not_from, &tag);
}

void jd_engine_drain_changes(jd_engine_t *e, jd_state_fn *fn, void *opaque)
{
    jd_engine_drain_some(e, fn, opaque, SIZE_MAX);
}

size_t jd_engine_changes_pending(const jd_engine_t *e)
{
    return e->ndirty;
}

size_t jd_engine_drain_some(jd_engine_t *e, jd_state_fn *fn, void *opaque, size_t max)
{
    size_t n = e->ntombs;
    for (size_t i = 0; i < e->ntombs; i++) {
        fn(opaque, e->tombs[i].tag, e->tombs[i].key, strlen(e->tombs[i].key), NULL, 0);
        free(e->tombs[i].key);
    }
    e->ntombs = 0;
    jd_strbuf_t *sb = &e->save;
    jd_journey_t *j;
    while ((j = TAILQ_FIRST(&e->dirty)) && max--) {
        n++;
        journey_unmark_dirty(e, j);
        jd_strbuf_reset(sb);
        engine_state_save_journey(e, j, sb);
        if (!sb->oom)
            fn(opaque, j->source_tag, j->key, j->node.keylen, sb->data, sb->len);
    }
    jd_link_t *l;
    while ((l = TAILQ_FIRST(&e->dirty_links))) {
        n++;
        link_unmark_dirty(e, l);
        jd_strbuf_reset(sb);
        jd_strbuf_puts(sb, "l:");
        jd_strbuf_puts(sb, l->keybuf);
        size_t klen = sb->len;
        jd_strbuf_puts(sb, "{\"c\":");
        jd_strbuf_json_str(sb, l->customer);
        jd_strbuf_puts(sb, ",\"t\":");
        jd_strbuf_i64(sb, l->last_ts);
        jd_strbuf_putc(sb, '}');
        if (!sb->oom)
            fn(opaque, l->source_tag, sb->data, klen, sb->data + klen, sb->len - klen);
    }
    return n;
}
