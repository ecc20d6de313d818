/*
 * The event-time engine's loop. Two min-heaps drive everything: buffered
 * events ordered by (ts, arrival) and rule timers ordered by (deadline,
 * scheduling order). The release loop interleaves them so that a timer
 * whose deadline is before an event's ts fires first, and one whose
 * deadline equals it fires after (contract section 4). Each event is
 * resolved to its stitched journey and handed to every rule through its
 * kind's ops table; this file names no rule kind. Also here: the services
 * rule kinds call (emit, timers), and the hooks the shard router drives.
 * What each other file holds: see engine_priv.h.
 */
#include <stdlib.h>
#include <string.h>
#include "journeyd/timeutil.h"
#include "engine_priv.h"
#include "idset.h"

/* ------------------------------------------------------------------ */
/* Evaluation                                                         */

static void engine_prefetch_hash(const jd_engine_t *e, uint64_t khash, int stage);

/* The journey ev belongs to (contract section 3), merging the anonymous
 * journey of an identity ev links into its customer's. */
/* ah: jd_identity_hash(ev->anonymous_id) when the caller knows it, else 0 */
static jd_journey_t *engine_resolve(jd_engine_t *e, const jd_event_t *ev, uint64_t ah)
{
    if (ev->customer_id) {
        jd_journey_t *j = journey_get_or_new(e, 'c', ev->customer_id, ev->khash);
        if (!j || !ev->anonymous_id)
            return j;
        jd_identity_resolve_h(&e->ids, ev->customer_id, ev->anonymous_id, ah, ev->ts,
                              ev->source_tag);
        jd_journey_t *a = journey_get(e, 'a', ev->anonymous_id);
        if (a)
            journey_merge(e, j, a);
        return j;
    }
    const char *cust = jd_identity_resolve_h(&e->ids, NULL, ev->anonymous_id, ah, ev->ts, -1);
    if (cust)
        return journey_get_or_new(e, 'c', cust, 0);
    return journey_get_or_new(e, 'a', ev->anonymous_id, ev->khash);
}

uint64_t engine_eid_hash(const jd_event_t *ev)
{
    if (!ev->event_id)
        return 0;
    uint64_t h = jd_map_hash(ev->event_id, strlen(ev->event_id));
    return h ? h : 1;
}

/* h: engine_eid_hash(ev), computed by the caller (a router, off this
 * thread) or just before. */
static void engine_evaluate_h(jd_engine_t *e, jd_event_t *ev, uint64_t h, uint64_t ah)
{
    const jd_config_t *c = e->conf;
    if (ev->source_tag == JD_EVENT_SHIPPED) {
        jd_event_free(ev); /* handed over with its anonymous journey */
        return;
    }
    if (e->frozen.count && engine_frozen_park(e, ev))
        return;
    e->step = (jd_step_t){.time = ev->ts, .kind = 0, .sched_ts = ev->ts, .seq = ev->seq};
    e->step_sub = 0;
    engine_expire(e, ev->ts);
    jd_journey_t *j = engine_resolve(e, ev, ah);
    if (!j)
        goto out; /* out of memory: the event cannot be placed */
    if (h && journey_seen(e, j, h)) {
        e->st.duplicates++;
        goto out;
    }
    journey_record(e, j, ev, h);
    for (uint32_t i = 0; i < c->nrules; i++)
        if (!c->rules[i].has_ignore || !jd_rule_ignores(&c->rules[i], ev))
            e->ops[i]->on_event(e, &c->rules[i], j, &j->rstate[i], ev);
    e->st.events_evaluated++;
    engine_evict(e, j);
out:
    if (!e->opts.borrow_events)
        jd_event_free(ev);
}

static void engine_evaluate(jd_engine_t *e, jd_event_t *ev)
{
    engine_evaluate_h(e, ev, engine_eid_hash(ev), 0);
}

void engine_evaluate_now(jd_engine_t *e, jd_event_t *ev)
{
    engine_evaluate(e, ev);
}

static void engine_fire(jd_engine_t *e, jd_timer_t *t)
{
    if (e->frozen.count && engine_frozen_defer(e, t))
        return;
    engine_timer_remove(e, t);
    jd_journey_t *j = t->journey;
    uint32_t r = t->rule;
    /* A journey idle for longer than the retention at the deadline has
     * expired, whether or not other customers' events came by to notice:
     * decided per journey, so shards and a single engine agree. */
    if (j->last_ts < jd_time_sub(t->deadline, e->conf->retention_ms)) {
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
        jd_timer_t *t = engine_timer_top(e);
        if (t && t->deadline >= wm)
            t = NULL;
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

void engine_group_evicted(jd_engine_t *e, uint64_t n)
{
    e->st.groups_evicted += n;
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
        if (last != INT64_MIN && req->ts < jd_time_add(last, r->cooldown_ms)) {
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

    /* Rules that take this rule's alerts as input (a sequence's "first")
     * see it as an occurrence on the same journey. */
    jd_evid_t occ = {.ts = req->ts, .channel = req->nevid ? req->evid[0].channel : NULL,
                     .id = id, .rule = r->name};
    for (uint32_t i = 0; i < e->nlisteners[r->index]; i++) {
        uint32_t s = e->listeners[r->index][i];
        e->ops[s]->on_alert(e, &e->conf->rules[s], j, &j->rstate[s], &occ);
    }
    return 1;
}

/* ------------------------------------------------------------------ */
/* Public API                                                         */

/* listeners[src] = the rules whose kind takes src's alerts as input. */
static int engine_listeners_init(jd_engine_t *e)
{
    const jd_config_t *c = e->conf;
    for (uint32_t i = 0; i < c->nrules; i++) {
        const jd_rule_ops_t *ops = e->ops[i];
        if (!ops->on_alert || !ops->listens_to)
            continue;
        for (uint32_t src = 0; src < c->nrules; src++) {
            if (!ops->listens_to(&c->rules[i], src))
                continue;
            uint32_t *l = realloc(e->listeners[src], (e->nlisteners[src] + 1) * sizeof(uint32_t));
            if (!l)
                return -1;
            l[e->nlisteners[src]++] = i;
            e->listeners[src] = l;
        }
    }
    return 0;
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
    TAILQ_INIT(&e->dirty);
    uint32_t n = conf->nrules;
    e->ops = calloc(n ? n : 1, sizeof(*e->ops));
    e->listeners = calloc(n ? n : 1, sizeof(*e->listeners));
    e->nlisteners = calloc(n ? n : 1, sizeof(*e->nlisteners));
    e->merge_scratch = calloc(2 * (size_t)conf->history, sizeof(jd_hist_t));
    e->save_tab = calloc(3 * (size_t)conf->history + 1, sizeof(uint32_t));
    e->cd_slot = calloc(n ? n : 1, sizeof(int32_t));
    e->pf_rules = calloc(n ? n : 1, sizeof(uint32_t));
    if (jd_map_init(&e->journeys) != 0 || jd_map_init(&e->frozen) != 0 ||
        jd_map_init(&e->frozen_alias) != 0 ||
        jd_identity_init(&e->ids, e->opts.track_changes ? JD_IDENTITY_TRACK : 0) != 0 ||
        !e->ops || !e->listeners || !e->nlisteners || !e->merge_scratch || !e->save_tab ||
        !e->cd_slot || !e->pf_rules || engine_stats_alloc(conf, &e->st) != 0)
        goto oom;
    for (uint32_t i = 0; i < n; i++) {
        e->cd_slot[i] = conf->rules[i].cooldown_ms > 0 ? (int32_t)e->ncd++ : -1;
        e->ops[i] = jd_rule_ops_for(conf->rules[i].kind);
        if (e->ops[i]->prefetch)
            e->pf_rules[e->npf_rules++] = i;
    }
    if (engine_listeners_init(e) != 0 || changelog_rule_keys(e) != 0)
        goto oom;
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
    engine_frozen_free_all(e); /* first: it touches the journeys' timers */
    while (!TAILQ_EMPTY(&e->lru))
        journey_destroy(e, TAILQ_FIRST(&e->lru), 0);
    jd_identity_free(&e->ids);
    jd_evheap_free(&e->evh);
    for (size_t i = 0; i < e->ntombs; i++)
        free(e->tombs[i].key);
    free(e->tombs);
    free(e->th);
    jd_map_free(&e->journeys);
    if (e->listeners)
        for (uint32_t i = 0; i < e->conf->nrules; i++)
            free(e->listeners[i]);
    engine_stats_free(e->conf, &e->st);
    free(e->listeners);
    free(e->nlisteners);
    free(e->ops);
    free(e->merge_scratch);
    free(e->save_tab);
    free(e->cd_slot);
    free(e->pf_rules);
    for (uint32_t i = 0; e->rule_key && i < e->conf->nrules; i++)
        free(e->rule_key[i]);
    free(e->rule_key);
    jd_strbuf_free(&e->out);
    jd_strbuf_free(&e->save);
    free(e);
}

jd_dl_reason_t jd_engine_push(jd_engine_t *e, jd_event_t *ev)
{
    if (e->st.watermark != INT64_MIN && ev->ts < e->st.watermark) {
        /* a frozen customer's event is not late: its journey waits */
        if (e->frozen.count) {
            ev->seq = e->evseq++;
            if (engine_frozen_park(e, ev)) {
                e->st.events_in++;
                return JD_DL_NONE;
            }
        }
        e->st.late++;
        jd_event_free(ev);
        return JD_DL_LATE;
    }
    ev->seq = e->evseq++;
    e->st.events_in++;
    /* An event waits in the heap for the watermark, so its journey can be
     * fetched while later events are decoded: one stage per push, each
     * needing the line the previous one brought in. Hashes, not events, are
     * kept, since an event may be evaluated (and freed) in between. */
    jd_event_key_hash(ev);
    engine_prefetch_hash(e, e->pf_hash[1], 2);
    engine_prefetch_hash(e, e->pf_hash[0], 1);
    engine_prefetch_hash(e, ev->khash, 0);
    e->pf_hash[1] = e->pf_hash[0];
    e->pf_hash[0] = ev->khash;
    if (jd_evheap_push(&e->evh, ev) != 0) {
        /* No room to re-order: evaluate now rather than lose it. */
        engine_evaluate(e, ev);
        return JD_DL_NONE;
    }
    if (ev->ts > e->st.max_ts)
        e->st.max_ts = ev->ts;
    int64_t wm = jd_time_sub(e->st.max_ts, e->conf->lateness_ms);
    if (e->opts.auto_watermark && wm > e->st.watermark)
        jd_engine_advance(e, wm);
    /* time.max_buffered: rather than hold more, move the watermark just far
     * enough to release the oldest event (contract section 4). Nothing is
     * dropped; later events older than the new watermark are late. */
    uint64_t max = e->conf->max_buffered;
    while (max && e->evh.n > max) {
        int64_t ts = jd_evheap_top(&e->evh)->ts;
        e->st.forced_advances++;
        if (ts > e->st.watermark)
            e->st.watermark = ts;
        engine_release(e);
    }
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
        if (e->ops[e->th[i]->rule]->step_stats)
            e->st.funnels[e->th[i]->rule].pending++;
}

/* ------------------------------------------------------------------ */
/* Running as one shard of several (shard.c)                          */

void engine_fire_before(jd_engine_t *e, int64_t t)
{
    while (e->tn && e->th[0]->deadline < t)
        engine_fire(e, e->th[0]);
}

void engine_eval_hashed(jd_engine_t *e, jd_event_t *ev, uint64_t eid_hash, uint64_t anon_hash)
{
    engine_fire_before(e, ev->ts);
    e->st.events_in++;
    if (ev->ts > e->st.max_ts)
        e->st.max_ts = ev->ts;
    engine_evaluate_h(e, ev, eid_hash, anon_hash);
}

void jd_engine_eval(jd_engine_t *e, jd_event_t *ev)
{
    engine_eval_hashed(e, ev, engine_eid_hash(ev), 0);
}

void jd_engine_expire(jd_engine_t *e, int64_t now)
{
    engine_expire(e, now);
}

static void engine_prefetch_hash(const jd_engine_t *e, uint64_t khash, int stage)
{
    if (!khash)
        return;
    if (stage == 0) {
        jd_map_prefetch_bucket(&e->journeys, khash);
    } else if (stage == 1) {
        jd_map_prefetch_node(&e->journeys, khash);
        /* the node starts the journey; its rule-state pointers follow the
         * struct, past the two lines the map fetches */
        const jd_map_node_t *n = e->journeys.buckets[khash & (e->journeys.nbuckets - 1)];
        if (n)
            __builtin_prefetch((const char *)n + sizeof(jd_journey_t));
    } else {
        /* the journey is cached by now: fetch what the rules will read */
        const jd_journey_t *j = (const jd_journey_t *)jd_map_peek_hash(&e->journeys, khash);
        if (!j)
            return;
        /* de-duplication reads every record of the ring */
        for (size_t off = 0; off < j->hist_cap * sizeof(jd_hist_t); off += 64)
            __builtin_prefetch((const char *)j->hist + off);
        __builtin_prefetch(j->seen);
        for (uint32_t i = 0; i < e->conf->nrules; i++)
            if (j->rstate[i])
                __builtin_prefetch(j->rstate[i]);
    }
}

void jd_engine_prefetch(const jd_engine_t *e, jd_event_t *ev, uint64_t ah, int stage)
{
    jd_event_key_hash(ev);
    engine_prefetch_hash(e, ev->khash, stage);
    if (ah && stage < 2)
        jd_identity_prefetch(&e->ids, ah, stage);
    if (stage == 1) {
        /* the ids sit past the slots, beyond the lines of the event that
         * were fetched first: the journey lookup and the evidence copy
         * read them */
        __builtin_prefetch(ev->customer_id ? ev->customer_id : ev->anonymous_id);
        if (ev->event_id)
            __builtin_prefetch(ev->event_id);
    }
}

void jd_engine_prefetch_next(const jd_engine_t *e, const jd_event_t *ev, uint64_t eid_hash)
{
    if (!ev->khash)
        return;
    const jd_journey_t *j = (const jd_journey_t *)jd_map_peek_hash(&e->journeys, ev->khash);
    if (!j)
        return;
    if (j->seen) {
        jd_idset_prefetch(j->seen, eid_hash);
        /* a full ring hands its oldest id to the set */
        if (j->hist_len && j->hist_len == j->hist_cap)
            jd_idset_prefetch(j->seen, j->hist[j->hist_head].eid_hash);
    }
    for (uint32_t k = 0; k < e->npf_rules; k++) {
        uint32_t i = e->pf_rules[k];
        if (j->rstate[i])
            e->ops[i]->prefetch(&e->conf->rules[i], j->rstate[i]);
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
    jd_link_t *l = jd_identity_get(&e->ids, anon);
    jd_journey_t *j = journey_get(e, 'a', anon);
    if (!l && !j)
        return NULL;
    jd_engine_parcel_t *p = calloc(1, sizeof(*p) + e->conf->nrules * sizeof(jd_timer_t *));
    if (!p)
        return NULL; /* the state stays here and is lost to the stitch */
    if (l) {
        jd_identity_take(&e->ids, l);
        p->link = l;
    }
    if (j) {
        for (uint32_t i = 0; i < e->conf->nrules; i++) {
            jd_timer_t *t = j->rstate[i] && e->ops[i]->timer ? e->ops[i]->timer(j->rstate[i])
                                                            : NULL;
            if (t && t->heap_idx != SIZE_MAX) {
                engine_timer_remove(e, t);
                p->timers[p->ntimers++] = t;
            }
        }
        journey_detach(e, j);
        p->journey = j;
    }
    return p;
}

void jd_engine_import(jd_engine_t *e, jd_engine_parcel_t *p)
{
    if (!p)
        return;
    if (p->link)
        jd_identity_put(&e->ids, p->link);
    jd_journey_t *j = p->journey;
    if (j) {
        jd_journey_t *old = (jd_journey_t *)jd_map_get(&e->journeys, j->key, j->node.keylen);
        if (old)
            journey_destroy(e, old, 0);
        /* At the tail, not in last_ts order: walking the LRU to its place
         * costs more than the whole stitch, and the journey is merged into
         * its customer's by the very next event (the one that caused the
         * move). */
        if (journey_attach(e, j) == 0)
            for (uint32_t i = 0; i < p->ntimers; i++)
                if (engine_timer_insert(e, p->timers[i]) != 0)
                    p->timers[i]->heap_idx = SIZE_MAX;
    }
    free(p);
}
