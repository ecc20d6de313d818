/*
 * Frozen journeys (`run` with input.keyed_by=any, see src/kafka/repart.h).
 *
 * A customer's link event at L is waiting for the anonymous journey another
 * task hands over. Holding the whole engine at L would make every customer
 * wait for that round trip; only this journey's order matters, since no
 * rule reads another customer's state. So the customer is frozen at L: its
 * events at L or later (the link event included, and anonymous events that
 * resolve to it) are parked as they are released, and its timeouts due at
 * L or later are set aside, while every other journey goes on. Thawing
 * (once the hand-over is imported) evaluates the parked events and the
 * set-aside timeouts in the one order the engine would have used, up to the
 * watermark; what lies beyond goes back to the buffer and the heap.
 */
#include <stdlib.h>
#include <string.h>
#include "engine_priv.h"

typedef struct engine_frozen {
    jd_map_node_t node;
    int64_t at;             /* frozen from this ts on: the least of ats */
    int64_t *ats;           /* one per link waiting for its hand-over */
    size_t nats, capats;
    struct frozen_alias *aliases;
    jd_event_t **ev;        /* parked events, in release order */
    size_t nev, evcap;
    jd_timer_t **tm;        /* set-aside timers (heap_idx JD_TIMER_DEFERRED) */
    size_t ntm, tmcap;
    char customer[];
} engine_frozen_t;

/* An anonymous id whose link to a frozen customer is parked: its own
 * events from the link on belong to the customer too. */
typedef struct frozen_alias {
    jd_map_node_t node;
    struct frozen_alias *next;
    char *customer;
    int64_t at;
    char anon[];
} frozen_alias_t;

static engine_frozen_t *frozen_get(const jd_engine_t *e, const char *customer)
{
    return (engine_frozen_t *)jd_map_get(&e->frozen, customer, strlen(customer));
}

static int grow(void **v, size_t *cap, size_t n, size_t sz)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 8;
    void *nv = realloc(*v, nc * sz);
    if (!nv)
        return -1;
    *v = nv;
    *cap = nc;
    return 0;
}

static int frozen_alias_add(jd_engine_t *e, engine_frozen_t *f, const char *anon, int64_t at)
{
    if (jd_map_get(&e->frozen_alias, anon, strlen(anon)))
        return 0;
    size_t n = strlen(anon);
    frozen_alias_t *a = calloc(1, sizeof(*a) + n + 1);
    if (!a)
        return -1;
    memcpy(a->anon, anon, n + 1);
    a->node.key = a->anon;
    a->node.keylen = n;
    a->customer = f->customer;
    a->at = at;
    if (jd_map_put(&e->frozen_alias, &a->node)) {
        free(a);
        return -1;
    }
    a->next = f->aliases;
    f->aliases = a;
    return 0;
}

int jd_engine_freeze(jd_engine_t *e, const char *customer, int64_t at, const char *anon)
{
    engine_frozen_t *f = frozen_get(e, customer);
    if (!f) {
        size_t n = strlen(customer);
        if (!(f = calloc(1, sizeof(*f) + n + 1)))
            return -1;
        memcpy(f->customer, customer, n + 1);
        f->node.key = f->customer;
        f->node.keylen = n;
        f->at = at;
        if (jd_map_put(&e->frozen, &f->node)) {
            free(f);
            return -1;
        }
    }
    if (grow((void **)&f->ats, &f->capats, f->nats, sizeof(*f->ats)))
        return -1;
    f->ats[f->nats++] = at;
    if (at < f->at)
        f->at = at;
    return anon ? frozen_alias_add(e, f, anon, at) : 0;
}

/* The customer an event resolves to right now, or NULL. */
static const char *event_customer(const jd_engine_t *e, const jd_event_t *ev)
{
    if (ev->customer_id)
        return ev->customer_id;
    if (!ev->anonymous_id)
        return NULL;
    frozen_alias_t *a = (frozen_alias_t *)jd_map_get(&e->frozen_alias, ev->anonymous_id,
                                                     strlen(ev->anonymous_id));
    if (a && ev->ts >= a->at)
        return a->customer;
    jd_link_t *l = jd_identity_get(&e->ids, ev->anonymous_id);
    return l ? l->customer : NULL;
}

int engine_frozen_park(jd_engine_t *e, jd_event_t *ev)
{
    const char *c = event_customer(e, ev);
    engine_frozen_t *f = c ? frozen_get(e, c) : NULL;
    if (!f || ev->ts < f->at)
        return 0;
    if (grow((void **)&f->ev, &f->evcap, f->nev, sizeof(*f->ev)))
        return 0; /* out of memory: evaluated now rather than lost */
    f->ev[f->nev++] = ev;
    /* a link parked with it: from its ts on, that anonymous journey (here
     * already, or handed over later) waits with the customer */
    if (ev->customer_id && ev->anonymous_id)
        frozen_alias_add(e, f, ev->anonymous_id, ev->ts);
    return 1;
}

int engine_frozen_defer(jd_engine_t *e, jd_timer_t *t)
{
    const jd_journey_t *j = t->journey;
    engine_frozen_t *f = NULL;
    int64_t at = INT64_MAX;
    if (!j)
        return 0;
    if (j->key[0] == 'c') {
        if ((f = frozen_get(e, j->key + 2)))
            at = f->at;
    } else if (j->key[0] == 'a' && e->frozen_alias.count) {
        /* an anonymous journey handed over, whose link waits: its
         * timeouts after the link are the customer's */
        const frozen_alias_t *a = (const frozen_alias_t *)jd_map_get(
            &e->frozen_alias, j->key + 2, j->node.keylen - 2);
        if (a && (f = frozen_get(e, a->customer)))
            at = a->at;
    }
    if (!f || t->deadline < at || grow((void **)&f->tm, &f->tmcap, f->ntm, sizeof(*f->tm)))
        return 0;
    engine_timer_remove(e, t);
    t->heap_idx = JD_TIMER_DEFERRED;
    f->tm[f->ntm++] = t;
    return 1;
}

void engine_frozen_undefer(jd_engine_t *e, jd_timer_t *t)
{
    for (size_t b = 0; b < e->frozen.nbuckets; b++)
        for (jd_map_node_t *n = e->frozen.buckets[b]; n; n = n->next) {
            engine_frozen_t *f = (engine_frozen_t *)n;
            for (size_t i = 0; i < f->ntm; i++)
                if (f->tm[i] == t) {
                    f->tm[i] = f->tm[--f->ntm];
                    t->heap_idx = SIZE_MAX;
                    return;
                }
        }
    t->heap_idx = SIZE_MAX;
}

static int ev_order(const void *a, const void *b)
{
    const jd_event_t *x = *(jd_event_t *const *)a, *y = *(jd_event_t *const *)b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void frozen_aliases_free(jd_engine_t *e, engine_frozen_t *f)
{
    while (f->aliases) {
        frozen_alias_t *a = f->aliases;
        f->aliases = a->next;
        jd_map_del(&e->frozen_alias, &a->node);
        free(a);
    }
}

static void frozen_free(jd_engine_t *e, engine_frozen_t *f)
{
    frozen_aliases_free(e, f);
    jd_map_del(&e->frozen, &f->node);
    free(f->ev);
    free(f->tm);
    free(f->ats);
    free(f);
}

void jd_engine_thaw(jd_engine_t *e, const char *customer, int64_t done)
{
    engine_frozen_t *f = frozen_get(e, customer);
    int64_t wm = e->st.watermark, at = INT64_MAX;
    if (!f)
        return;
    /* the link at done has its hand-over; frozen still at the next one */
    for (size_t i = 0; i < f->nats; i++)
        if (f->ats[i] == done) {
            f->ats[i] = f->ats[--f->nats];
            break;
        }
    for (size_t i = 0; i < f->nats; i++)
        if (f->ats[i] < at)
            at = f->ats[i];
    f->at = at;
    /* back into the heap: a timer still at or after the freeze is set
     * aside again when it comes due */
    size_t ntm = f->ntm;
    f->ntm = 0;
    for (size_t i = 0; i < ntm; i++) {
        f->tm[i]->heap_idx = SIZE_MAX;
        if (engine_timer_insert(e, f->tm[i]) != 0)
            f->tm[i]->heap_idx = SIZE_MAX;
    }
    qsort(f->ev, f->nev, sizeof(*f->ev), ev_order);
    size_t nev = f->nev, k = 0;
    jd_event_t **evs = f->ev;
    f->ev = NULL;
    f->nev = f->evcap = 0;
    for (size_t i = 0; i < nev; i++) {
        jd_event_t *ev = evs[i];
        if (ev->ts >= at) {
            evs[k++] = ev; /* frozen still (a later link of the same customer) */
        } else if (ev->ts <= wm) {
            /* what the release loop would have done: earlier timeouts
             * first (the only ones due are this journey's and the imported
             * journey's: every other was fired at its time) */
            engine_fire_before(e, ev->ts);
            engine_evaluate_now(e, ev);
        } else if (jd_evheap_push(&e->evh, ev) != 0) {
            engine_fire_before(e, ev->ts);
            engine_evaluate_now(e, ev);
        }
    }
    f = frozen_get(e, customer); /* evaluating may not free it, but re-read */
    if (f) {
        for (size_t i = 0; i < k; i++)
            if (!grow((void **)&f->ev, &f->evcap, f->nev, sizeof(*f->ev)))
                f->ev[f->nev++] = evs[i];
            else
                jd_event_free(evs[i]);
    }
    free(evs);
    engine_fire_before(e, wm);
    if (f && at == INT64_MAX && !f->nev && !f->ntm)
        frozen_free(e, f);
}

int jd_engine_would_park(const jd_engine_t *e, const jd_event_t *ev)
{
    if (!e->frozen.count)
        return 0;
    const char *c = event_customer(e, ev);
    const engine_frozen_t *f = c ? frozen_get(e, c) : NULL;
    return f && ev->ts >= f->at;
}

size_t jd_engine_frozen_count(const jd_engine_t *e)
{
    return e->frozen.count;
}

void engine_frozen_free_all(jd_engine_t *e)
{
    for (size_t b = 0; e->frozen.buckets && b < e->frozen.nbuckets; b++) {
        jd_map_node_t *n = e->frozen.buckets[b];
        while (n) {
            engine_frozen_t *f = (engine_frozen_t *)n;
            n = n->next;
            for (size_t i = 0; i < f->nev; i++)
                jd_event_free(f->ev[i]);
            for (size_t i = 0; i < f->ntm; i++)
                f->tm[i]->heap_idx = SIZE_MAX;
            frozen_aliases_free(e, f);
            free(f->ev);
            free(f->tm);
            free(f->ats);
            free(f);
        }
        e->frozen.buckets[b] = NULL;
    }
    e->frozen.count = 0;
    jd_map_free(&e->frozen);
    jd_map_free(&e->frozen_alias);
}
