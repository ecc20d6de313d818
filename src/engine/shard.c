/*
 * The sharded engine (see journeyd/shard.h for the model).
 *
 * The router releases events in the single engine's order and appends each
 * to its shard's lane of the epoch being filled. A full epoch is published
 * to every shard at once; a shard evaluates its lane in order, fires its
 * timeouts up to the epoch's bound, and files its alerts, each tagged with
 * its step. The router merges an epoch's alerts by step once every shard
 * is done with it. A ring of epochs keeps the shards busy while the router
 * fills the next one, and bounds what is in flight.
 *
 * Why the result equals one engine's: each shard sees its customers'
 * events in the global order, and nothing a rule does reads another
 * customer's state. What one engine did globally is either decided per
 * journey (retention at a timeout's deadline) or replayed where it matters
 * (retention before a stitch's export, and at the end with the final
 * watermark). Timeout ties break on keys from the scheduling step, not on
 * a per-engine counter, and the router keeps its own copy of the links so
 * it knows, as one engine would at that point, where each identity lives.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include "journeyd/identity.h"
#include "journeyd/shard.h"
#include "journeyd/strbuf.h"
#include "journeyd/timeutil.h"
#include "engine_priv.h"

/* Events per epoch: large enough that the per-epoch hand-offs (one lock
 * round per shard) vanish in the work, small enough to keep alerts close
 * to their events and memory flat. */
#define SHARD_EPOCH_EVENTS 4096
#define SHARD_RING 8
/* How many events ahead each prefetch stage runs (jd_engine_prefetch
 * stages 0, 1, 2, then jd_engine_prefetch_next): a stage must trail the
 * one before by an event or more, or it stalls on the line it reads. */
#define PF_EVENT 16
static const unsigned pf_ahead[3] = {12, 7, 4};
#define PF_NEXT 2
#define PF_FREE 8      /* events ahead of the router's frees */

enum { MSG_EVENT, MSG_EXPORT, MSG_IMPORT };

/* An anonymous identity moving between shards: the exporting shard fills
 * parcel and sets ready; the importing shard waits for it, then frees it. */
typedef struct handoff {
    atomic_int ready;
    int64_t now;
    jd_engine_parcel_t *parcel;
    char anon[];
} handoff_t;

typedef struct shard_msg {
    int kind;
    jd_event_t *ev;
    handoff_t *h;
    uint64_t eid_hash;      /* MSG_EVENT: engine_eid_hash(ev), by the router */
    uint64_t anon_hash;     /* MSG_EVENT: jd_identity_hash(ev->anonymous_id), or 0 */
} shard_msg_t;

typedef struct shard_alert {
    jd_step_t step;
    size_t koff, klen, joff, jlen;
    int64_t ts;
} shard_alert_t;

/* One shard's part of one epoch: its messages in, its alerts out. */
typedef struct shard_lane {
    shard_msg_t *msg;
    size_t n, cap;
    shard_alert_t *al;
    size_t nal, alcap;
    jd_strbuf_t bytes;
    uint64_t customers;     /* journeys held at the end of the epoch */
} shard_lane_t;

typedef struct epoch {
    uint64_t no;
    int published;
    int64_t bound;          /* fire timeouts with a deadline before this */
    int final, flush;
    int64_t final_ts;       /* final: the watermark of the end of input */
    unsigned ndone;
    shard_lane_t *lane;     /* one per shard */
} epoch_t;

typedef struct shard {
    jd_shards_t *s;
    unsigned id;
    int started;
    pthread_t thread;
    jd_engine_t *eng;
    shard_lane_t *out;      /* where alerts go now */
} shard_t;

struct jd_shards {
    const jd_config_t *conf;
    jd_engine_opts_t opts;
    unsigned n;
    shard_t *sh;
    epoch_t ring[SHARD_RING];
    uint64_t filling, collected;
    size_t in_epoch;
    int finished;
    int quit;               /* destroy before finish: stop between epochs */
    pthread_mutex_t mu;
    pthread_cond_t work, done, handoff;

    jd_evheap_t heap;
    uint64_t seq;
    /* The router's own copy of the links, kept by the same code the engines
     * keep theirs with (journeyd/identity.h), so it resolves an event as one
     * engine would at that point. It also remembers anonymous identities
     * seen without a link (events of them went to their own shard since,
     * so an anonymous journey may be there, expiring at the same limit);
     * an identity with no entry has no state anywhere, and a stitch of it
     * needs no hand-over. */
    jd_identity_t ids;
    jd_engine_stats_t st;
};

/* ------------------------------------------------------------------ */
/* Shard side                                                         */

static void lane_alert(void *opaque, const char *key, size_t keylen,
                       const char *json, size_t jsonlen, int64_t ts)
{
    shard_t *sh = opaque;
    shard_lane_t *ln = sh->out;
    if (ln->nal == ln->alcap) {
        size_t ncap = ln->alcap ? ln->alcap * 2 : 64;
        shard_alert_t *a = realloc(ln->al, ncap * sizeof(*a));
        if (!a)
            return; /* out of memory: the alert cannot be kept */
        ln->al = a;
        ln->alcap = ncap;
    }
    shard_alert_t *a = &ln->al[ln->nal];
    a->step = *jd_engine_step(sh->eng);
    a->ts = ts;
    a->koff = ln->bytes.len;
    a->klen = keylen;
    jd_strbuf_append(&ln->bytes, key, keylen);
    a->joff = ln->bytes.len;
    a->jlen = jsonlen;
    jd_strbuf_append(&ln->bytes, json, jsonlen);
    if (!ln->bytes.oom)
        ln->nal++;
}

static void handoff_publish(jd_shards_t *s, handoff_t *h, jd_engine_parcel_t *p)
{
    h->parcel = p;
    pthread_mutex_lock(&s->mu);
    atomic_store_explicit(&h->ready, 1, memory_order_release);
    pthread_cond_broadcast(&s->handoff);
    pthread_mutex_unlock(&s->mu);
}

static void handoff_wait(jd_shards_t *s, handoff_t *h)
{
    /* The exporter is normally a few messages ahead: spin briefly first. */
    for (int i = 0; i < 4096; i++) {
        if (atomic_load_explicit(&h->ready, memory_order_acquire))
            return;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#else
        sched_yield();
#endif
    }
    pthread_mutex_lock(&s->mu);
    while (!atomic_load_explicit(&h->ready, memory_order_acquire))
        pthread_cond_wait(&s->handoff, &s->mu);
    pthread_mutex_unlock(&s->mu);
}

static void shard_run_epoch(shard_t *sh, epoch_t *ep)
{
    jd_shards_t *s = sh->s;
    shard_lane_t *ln = &ep->lane[sh->id];
    sh->out = ln;
    for (size_t i = 0; i < ln->n; i++) {
        shard_msg_t *m = &ln->msg[i];
        /* Journeys are spread over far more memory than the caches hold:
         * start fetching the ones of the next events while this one runs,
         * each stage reading what the one before brought in. */
        if (i + PF_EVENT < ln->n) {
            /* the event itself was last written on another core */
            const char *ev = (const char *)ln->msg[i + PF_EVENT].ev;
            if (ev) {
                __builtin_prefetch(ev);
                __builtin_prefetch(ev + 64);
            }
        }
        for (int st = 0; st < 3; st++) {
            const shard_msg_t *p = i + pf_ahead[st] < ln->n ? &ln->msg[i + pf_ahead[st]] : NULL;
            if (p && p->kind == MSG_EVENT)
                jd_engine_prefetch(sh->eng, p->ev, p->anon_hash, st);
        }
        if (i + PF_NEXT < ln->n && ln->msg[i + PF_NEXT].kind == MSG_EVENT)
            jd_engine_prefetch_next(sh->eng, ln->msg[i + PF_NEXT].ev, ln->msg[i + PF_NEXT].eid_hash);
        switch (m->kind) {
        case MSG_EVENT:
            engine_eval_hashed(sh->eng, m->ev, m->eid_hash, m->anon_hash);
            break;
        case MSG_EXPORT:
            handoff_publish(s, m->h, jd_engine_export_anon(sh->eng, m->h->anon, m->h->now));
            break;
        case MSG_IMPORT:
            handoff_wait(s, m->h);
            jd_engine_import(sh->eng, m->h->parcel);
            free(m->h);
            m->h = NULL;
            break;
        }
    }
    if (ep->bound != INT64_MIN)
        jd_engine_advance(sh->eng, ep->bound);
    if (ep->final) {
        if (ep->final_ts != INT64_MIN) {
            jd_engine_advance(sh->eng, ep->final_ts);
            /* One engine expired last at its last event, at the final ts. */
            jd_engine_expire(sh->eng, ep->final_ts);
        }
        jd_engine_finish(sh->eng, ep->flush);
    }
    ln->customers = jd_engine_stats(sh->eng)->customers;
}

static void *shard_main(void *arg)
{
    shard_t *sh = arg;
    jd_shards_t *s = sh->s;
    for (uint64_t k = 0;; k++) {
        epoch_t *ep = &s->ring[k % SHARD_RING];
        pthread_mutex_lock(&s->mu);
        while (!(ep->published && ep->no == k)) {
            /* Every shard runs every published epoch (a stitch may wait on
             * another shard's part); quitting happens only between them. */
            if (s->quit) {
                pthread_mutex_unlock(&s->mu);
                return NULL;
            }
            pthread_cond_wait(&s->work, &s->mu);
        }
        pthread_mutex_unlock(&s->mu);
        shard_run_epoch(sh, ep);
        int final = ep->final;
        pthread_mutex_lock(&s->mu);
        if (final && s->st.alerts_by_rule && s->st.funnels)
            engine_stats_add(s->conf, &s->st, jd_engine_stats(sh->eng));
        if (++ep->ndone == s->n)
            pthread_cond_broadcast(&s->done);
        pthread_mutex_unlock(&s->mu);
        if (final)
            break;
    }
    /* Finished: wait for destroy, then free the journeys here, on the
     * thread that allocated them, in parallel with the other shards (from
     * another thread malloc takes its slow path for every block). */
    pthread_mutex_lock(&s->mu);
    while (!s->quit)
        pthread_cond_wait(&s->work, &s->mu);
    pthread_mutex_unlock(&s->mu);
    jd_engine_destroy(sh->eng);
    sh->eng = NULL;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Router side: epochs                                                */

static epoch_t *epoch_filling(jd_shards_t *s)
{
    return &s->ring[s->filling % SHARD_RING];
}

/* Waits for epoch `collected` and hands its alerts on in step order. */
static void epoch_collect(jd_shards_t *s)
{
    epoch_t *ep = &s->ring[s->collected % SHARD_RING];
    pthread_mutex_lock(&s->mu);
    while (ep->ndone < s->n)
        pthread_cond_wait(&s->done, &s->mu);
    pthread_mutex_unlock(&s->mu);

    size_t pos[s->n];
    uint64_t customers = 0;
    for (unsigned i = 0; i < s->n; i++) {
        pos[i] = 0;
        customers += ep->lane[i].customers;
    }
    if (customers > s->st.customers_peak)
        s->st.customers_peak = customers;
    for (;;) {
        int best = -1;
        for (unsigned i = 0; i < s->n; i++) {
            shard_lane_t *ln = &ep->lane[i];
            if (pos[i] < ln->nal &&
                (best < 0 || jd_step_cmp(&ln->al[pos[i]].step,
                                         &ep->lane[best].al[pos[best]].step) < 0))
                best = (int)i;
        }
        if (best < 0)
            break;
        shard_lane_t *ln = &ep->lane[best];
        const shard_alert_t *a = &ln->al[pos[best]++];
        s->st.alerts++;
        if (s->opts.on_alert && !s->finished)
            s->opts.on_alert(s->opts.opaque, ln->bytes.data + a->koff, a->klen,
                             ln->bytes.data + a->joff, a->jlen, a->ts);
    }
    for (unsigned i = 0; i < s->n; i++) {
        shard_lane_t *ln = &ep->lane[i];
        for (size_t m = 0; m < ln->n; m++) {
            /* an epoch ago, the event was last in this core's cache; a
             * free reads its slots */
            if (m + PF_FREE < ln->n && ln->msg[m + PF_FREE].kind == MSG_EVENT) {
                const char *ev = (const char *)ln->msg[m + PF_FREE].ev;
                __builtin_prefetch(ev);
                __builtin_prefetch(ev + 64);
            }
            if (ln->msg[m].kind == MSG_EVENT)
                jd_event_free(ln->msg[m].ev);
        }
        ln->n = 0;
        ln->nal = 0;
        jd_strbuf_reset(&ln->bytes);
    }
    pthread_mutex_lock(&s->mu); /* shards read the slot's state under it */
    ep->published = 0;
    ep->ndone = 0;
    pthread_mutex_unlock(&s->mu);
    s->collected++;
}

/* Publishes the epoch being filled and makes the next ring slot free. */
static void epoch_close(jd_shards_t *s, int final, int flush)
{
    epoch_t *ep = epoch_filling(s);
    jd_event_t *top = jd_evheap_top(&s->heap);
    /* Events still buffered at or below the watermark come in the next
     * epoch: timeouts may fire only up to the first of them. */
    pthread_mutex_lock(&s->mu);
    ep->bound = top && top->ts <= s->st.watermark ? top->ts : s->st.watermark;
    ep->final = final;
    ep->flush = flush;
    ep->final_ts = s->st.max_ts;
    ep->no = s->filling;
    ep->published = 1;
    pthread_cond_broadcast(&s->work);
    pthread_mutex_unlock(&s->mu);
    s->filling++;
    s->in_epoch = 0;
    if (s->filling - s->collected >= SHARD_RING)
        epoch_collect(s);
}

/* Room for one more message; -1 when out of memory. */
static int lane_reserve(shard_lane_t *ln)
{
    if (ln->n < ln->cap)
        return 0;
    size_t ncap = ln->cap ? ln->cap * 2 : 256;
    shard_msg_t *m = realloc(ln->msg, ncap * sizeof(*m));
    if (!m)
        return -1;
    ln->msg = m;
    ln->cap = ncap;
    return 0;
}

static int lane_push(shard_lane_t *ln, int kind, jd_event_t *ev, handoff_t *h, uint64_t ah)
{
    if (lane_reserve(ln) != 0)
        return -1;
    ln->msg[ln->n++] = (shard_msg_t){.kind = kind, .ev = ev, .h = h,
                                     .eid_hash = ev ? engine_eid_hash(ev) : 0,
                                     .anon_hash = ah};
    return 0;
}

/* ------------------------------------------------------------------ */
/* Router side: identities                                            */

static unsigned shard_of(const jd_shards_t *s, const char *id)
{
    return (unsigned)(jd_map_hash(id, strlen(id)) % s->n);
}

/* Where an identity's state lives: its customer's shard once linked, its
 * own shard before. */
static unsigned shard_of_link(const jd_shards_t *s, const jd_link_t *l)
{
    return shard_of(s, l->customer ? l->customer : l->anon);
}

/* Queues the move of ev's anonymous identity from shard `from` to `to`.
 * Both messages or neither: an import without its export would wait
 * forever. Out of memory, the identity's earlier state stays behind. */
static void route_handover(jd_shards_t *s, epoch_t *ep, const jd_event_t *ev,
                           unsigned from, unsigned to)
{
    (void)s;
    size_t alen = strlen(ev->anonymous_id);
    handoff_t *h = malloc(sizeof(*h) + alen + 1);
    if (!h || lane_reserve(&ep->lane[from]) != 0 || lane_reserve(&ep->lane[to]) != 0) {
        free(h);
        return;
    }
    atomic_init(&h->ready, 0);
    h->now = ev->ts;
    h->parcel = NULL;
    memcpy(h->anon, ev->anonymous_id, alen + 1);
    lane_push(&ep->lane[from], MSG_EXPORT, NULL, h, 0);
    lane_push(&ep->lane[to], MSG_IMPORT, NULL, h, 0);
}

/* The shard that holds ev's journey at this point of the evaluation order,
 * queueing the move of its anonymous identity first when a stitch joins it
 * to a customer held elsewhere. */
static unsigned route_identity(jd_shards_t *s, epoch_t *ep, const jd_event_t *ev, uint64_t ah)
{
    jd_identity_expire(&s->ids, jd_time_sub(ev->ts, s->conf->retention_ms), NULL, NULL);
    if (ev->customer_id) {
        unsigned to = shard_of(s, ev->customer_id);
        jd_link_t *l = ev->anonymous_id ? jd_identity_get_h(&s->ids, ev->anonymous_id, ah) : NULL;
        if (l && shard_of_link(s, l) != to)
            route_handover(s, ep, ev, shard_of_link(s, l), to);
        jd_identity_resolve_h(&s->ids, ev->customer_id, ev->anonymous_id, ah, ev->ts, -1);
        return to;
    }
    /* out of memory the entry may be missing: hand-overs may miss it */
    const char *cust = jd_identity_resolve_h(&s->ids, NULL, ev->anonymous_id, ah, ev->ts, -1);
    return shard_of(s, cust ? cust : ev->anonymous_id);
}

/* Sends a released event to the shard that holds its journey. */
static void route(jd_shards_t *s, jd_event_t *ev)
{
    epoch_t *ep = epoch_filling(s);
    /* here, where ev is in cache, not on the shard */
    jd_event_key_hash(ev);
    uint64_t ah = ev->anonymous_id ? jd_identity_hash(ev->anonymous_id) : 0;
    /* one engine holds everyone: no identity to track */
    unsigned to = s->n == 1 ? 0 : route_identity(s, ep, ev, ah);
    if (lane_push(&ep->lane[to], MSG_EVENT, ev, NULL, ah) != 0) {
        jd_event_free(ev); /* out of memory: cannot be placed, as in the engine */
        return;
    }
    if (++s->in_epoch >= SHARD_EPOCH_EVENTS)
        epoch_close(s, 0, 0);
}

static void release(jd_shards_t *s)
{
    for (;;) {
        jd_event_t *top = jd_evheap_top(&s->heap);
        if (!top || top->ts > s->st.watermark)
            break;
        route(s, jd_evheap_pop(&s->heap));
    }
}

/* ------------------------------------------------------------------ */
/* Public API                                                         */

jd_shards_t *jd_shards_new(const jd_config_t *conf, unsigned nshards,
                           const jd_engine_opts_t *opts, jd_err_t *err)
{
    jd_shards_t *s = calloc(1, sizeof(*s));
    if (!s) {
        jd_err_set(err, "out of memory creating the shards");
        return NULL;
    }
    s->conf = conf;
    if (opts)
        s->opts = *opts;
    s->n = nshards ? nshards : 1;
    s->st.watermark = INT64_MIN;
    s->st.max_ts = INT64_MIN;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->work, NULL);
    pthread_cond_init(&s->done, NULL);
    pthread_cond_init(&s->handoff, NULL);
    s->sh = calloc(s->n, sizeof(*s->sh));
    int ok = s->sh && jd_identity_init(&s->ids, JD_IDENTITY_ANON) == 0;
    for (unsigned k = 0; ok && k < SHARD_RING; k++) {
        s->ring[k].lane = calloc(s->n, sizeof(shard_lane_t));
        ok = s->ring[k].lane != NULL;
        for (unsigned i = 0; ok && i < s->n; i++)
            jd_strbuf_init(&s->ring[k].lane[i].bytes);
    }
    if (!ok) {
        jd_err_set(err, "out of memory creating the shards");
        goto fail;
    }
    jd_engine_opts_t eo = {
        .on_alert = lane_alert,
        .fixed_emitted_at = s->opts.fixed_emitted_at,
        .max_customers = (conf->max_customers + s->n - 1) / s->n,
        .borrow_events = 1,
    };
    for (unsigned i = 0; i < s->n; i++) {
        shard_t *sh = &s->sh[i];
        sh->s = s;
        sh->id = i;
        eo.opaque = sh;
        if (!(sh->eng = jd_engine_new(conf, &eo, err)))
            goto fail;
    }
    for (unsigned i = 0; i < s->n; i++) {
        if (pthread_create(&s->sh[i].thread, NULL, shard_main, &s->sh[i]) != 0) {
            jd_err_set(err, "cannot start shard thread %u", i);
            goto fail;
        }
        s->sh[i].started = 1;
    }
    return s;
fail:
    jd_shards_destroy(s);
    return NULL;
}

jd_dl_reason_t jd_shards_push(jd_shards_t *s, jd_event_t *ev)
{
    if (s->st.watermark != INT64_MIN && ev->ts < s->st.watermark) {
        s->st.late++;
        jd_event_free(ev);
        return JD_DL_LATE;
    }
    ev->seq = s->seq++;
    s->st.events_in++;
    if (ev->ts > s->st.max_ts)
        s->st.max_ts = ev->ts;
    if (jd_evheap_push(&s->heap, ev) != 0) {
        route(s, ev); /* no room to re-order: evaluate now rather than lose it */
        return JD_DL_NONE;
    }
    if (jd_time_sub(s->st.max_ts, s->conf->lateness_ms) > s->st.watermark) {
        s->st.watermark = jd_time_sub(s->st.max_ts, s->conf->lateness_ms);
        release(s);
    }
    /* time.max_buffered, as in jd_engine_push: the router is what buffers */
    uint64_t max = s->conf->max_buffered;
    while (max && s->heap.n > max) {
        int64_t ts = jd_evheap_top(&s->heap)->ts;
        s->st.forced_advances++;
        if (ts > s->st.watermark)
            s->st.watermark = ts;
        release(s);
    }
    return JD_DL_NONE;
}

/* Runs one last epoch, final, and collects every epoch. The threads then
 * wait for jd_shards_destroy. */
static void shards_stop(jd_shards_t *s, int flush)
{
    epoch_close(s, 1, flush);
    while (s->collected < s->filling)
        epoch_collect(s);
}

void jd_shards_finish(jd_shards_t *s, int flush)
{
    if (s->finished)
        return;
    if (s->st.max_ts != INT64_MIN && s->st.max_ts > s->st.watermark)
        s->st.watermark = s->st.max_ts;
    release(s);

    /* Room for the sums, which each shard adds in after its last epoch
     * (then frees its engine). */
    if (engine_stats_alloc(s->conf, &s->st) != 0)
        engine_stats_free(s->conf, &s->st); /* stats_json then reports nothing */
    s->st.buffered = 0;
    shards_stop(s, flush);
    s->finished = 1;
    if (s->st.customers > s->st.customers_peak)
        s->st.customers_peak = s->st.customers;
}

const jd_engine_stats_t *jd_shards_stats(jd_shards_t *s)
{
    if (!s->finished)
        s->st.buffered = s->heap.n;
    return &s->st;
}

json_t *jd_shards_stats_json(jd_shards_t *s)
{
    if (!s->st.alerts_by_rule || !s->st.funnels)
        return json_object(); /* before finish, or out of memory summing */
    return jd_engine_stats_to_json(s->conf, jd_shards_stats(s));
}

void jd_shards_destroy(jd_shards_t *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->quit = 1;
    pthread_cond_broadcast(&s->work);
    pthread_mutex_unlock(&s->mu);
    for (unsigned i = 0; s->sh && i < s->n; i++)
        if (s->sh[i].started)
            pthread_join(s->sh[i].thread, NULL);
    /* What was routed but never published is dropped: events, and each
     * hand-over once (through its import). */
    for (unsigned k = 0; k < SHARD_RING; k++) {
        epoch_t *ep = &s->ring[k];
        for (unsigned i = 0; ep->lane && i < s->n; i++) {
            shard_lane_t *ln = &ep->lane[i];
            for (size_t m = 0; m < ln->n; m++) {
                if (ln->msg[m].kind == MSG_EVENT)
                    jd_event_free(ln->msg[m].ev);
                else if (ln->msg[m].kind == MSG_IMPORT)
                    free(ln->msg[m].h);
            }
            ln->n = 0;
        }
    }
    jd_evheap_free(&s->heap);
    if (s->sh)
        for (unsigned i = 0; i < s->n; i++)
            jd_engine_destroy(s->sh[i].eng);
    for (unsigned k = 0; k < SHARD_RING; k++) {
        if (!s->ring[k].lane)
            continue;
        for (unsigned i = 0; i < s->n; i++) {
            shard_lane_t *ln = &s->ring[k].lane[i];
            free(ln->msg);
            free(ln->al);
            jd_strbuf_free(&ln->bytes);
        }
        free(s->ring[k].lane);
    }
    jd_identity_free(&s->ids);
    engine_stats_free(s->conf, &s->st);
    free(s->sh);
    pthread_cond_destroy(&s->work);
    pthread_cond_destroy(&s->done);
    pthread_cond_destroy(&s->handoff);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
