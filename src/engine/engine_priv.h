/*
 * Private to src/engine/: the engine's struct and the functions its files
 * share. The engine is split by concept, one file each:
 *   engine.c     the event-time loop, services for the rule kinds, shard hooks
 *   timers.c     the timer heap and the order of evaluation steps
 *   journey.c    journeys: store, LRU, retention and eviction, history ring,
 *                de-duplication, identity merge, change tracking
 *   identity.c   anonymous -> customer links (journeyd/identity.h)
 *   idset.c      a customer's event ids beyond its history (idset.h)
 *   changelog.c  journey and link records: save, restore, drain, drop
 *   stats.c      counters and their JSON
 *   alert.c      alert rendering; evheap.c the event heap; shard.c the shards
 * Rule kinds (src/rules/) see only journeyd/rule.h, never this header.
 */
#ifndef JOURNEYD_ENGINE_PRIV_H
#define JOURNEYD_ENGINE_PRIV_H

#include <stdint.h>
#include <sys/queue.h>
#include "journeyd/identity.h"
#include "journeyd/rule.h"
#include "evheap.h"

TAILQ_HEAD(journey_list, jd_journey);

/* A key that left durable state, waiting for the next drain. */
typedef struct engine_tomb {
    int32_t tag;
    char *key;
} engine_tomb_t;

struct jd_engine {
    const jd_config_t *conf;
    jd_engine_opts_t opts;
    /* per rule: "name~hash of its definition", the key of its state in a
     * changelog record (changelog.c) */
    char **rule_key;
    jd_engine_stats_t st;
    const jd_rule_ops_t **ops;   /* per rule */
    uint32_t *pf_rules;          /* the rules whose kind has a prefetch op */
    uint32_t npf_rules;
    uint32_t **listeners;        /* per rule: rules fed by its alerts (ops->on_alert) */
    uint32_t *nlisteners;

    jd_evheap_t evh;             /* buffered events */
    uint64_t evseq;
    uint64_t pf_hash[2];         /* journey keys of the last pushes, being prefetched */
    jd_timer_t **th;             /* timer heap */
    size_t tn, tcap;
    uint64_t restore_seq;        /* scheduling order of restored timers */
    jd_step_t step;              /* the step being evaluated (alerts carry it) */
    uint32_t step_sub;           /* timers scheduled in this step so far */
    uint64_t max_customers;      /* opts.max_customers or the config's */

    jd_map_t journeys;
    jd_map_t frozen;             /* freeze.c: customers waiting for a hand-over */
    jd_map_t frozen_alias;       /* freeze.c: their anonymous ids */
    struct journey_list lru;     /* by last activity, oldest first */
    jd_identity_t ids;           /* anonymous -> customer links */

    /* change tracking (opts.track_changes): oldest change first, so a
     * partial drain takes the journeys least likely to change again */
    struct journey_list dirty;
    size_t ndirty;
    engine_tomb_t *tombs;
    size_t ntombs, tombcap;

    int32_t *cd_slot;            /* per rule: index into last_alert, -1 = no cooldown */
    uint32_t ncd;
    jd_strbuf_t out;             /* alert rendering scratch */
    jd_strbuf_t save;            /* changelog record scratch */
    uint32_t *save_tab;          /* 3 * history: a record's string table */
    jd_hist_t *merge_scratch;    /* 2 * history records */
};

/* engine.c */
/* The hash de-duplication keys on: of ev->event_id, 0 when it has none. */
uint64_t engine_eid_hash(const jd_event_t *ev);
/* jd_engine_eval with eid_hash = engine_eid_hash(ev) and anon_hash =
 * jd_identity_hash(ev->anonymous_id) (or 0) already computed (a router
 * does it, off the thread that evaluates). */
void engine_eval_hashed(jd_engine_t *e, jd_event_t *ev, uint64_t eid_hash, uint64_t anon_hash);

/* timers.c */
/* Puts t (keys already set) into the heap; 0, or -1 when out of memory. */
int engine_timer_insert(jd_engine_t *e, jd_timer_t *t);
/* Takes t, which is in the heap, out of it. */
void engine_timer_remove(jd_engine_t *e, jd_timer_t *t);
/* The timer with the earliest (deadline, scheduling order), or NULL. */
static inline jd_timer_t *engine_timer_top(const jd_engine_t *e)
{
    return e->tn ? e->th[0] : NULL;
}

/* journey.c */
jd_journey_t *journey_get(jd_engine_t *e, char kind, const char *id);
/* h: jd_map_hash of the key when the caller knows it, else 0. */
jd_journey_t *journey_get_or_new(jd_engine_t *e, char kind, const char *id, uint64_t h);
jd_journey_t *journey_new(jd_engine_t *e, char kind, const char *id);
/* Frees j and its rule states. tombstone: the key leaves durable state. */
void journey_destroy(jd_engine_t *e, jd_journey_t *j, int tombstone);
/* Makes room for n history records (at most conf->history). */
int journey_hist_reserve(jd_engine_t *e, jd_journey_t *j, uint32_t n);
/* Records ev as j's newest event (history, activity, change). */
void journey_record(jd_engine_t *e, jd_journey_t *j, const jd_event_t *ev, uint64_t eid_hash);
/* Adds event-id hash h to the ids j remembers beyond its history. */
void journey_remember_id(jd_engine_t *e, jd_journey_t *j, uint64_t h);
/* 1 when j has seen an event whose event_id hashes to h. */
int journey_seen(const jd_engine_t *e, const jd_journey_t *j, uint64_t h);
/* Folds anonymous journey a into j and frees a. */
void journey_merge(jd_engine_t *e, jd_journey_t *j, jd_journey_t *a);
/* Puts j (its last_ts changed from outside) at its place in the LRU. */
void journey_lru_resort(jd_engine_t *e, jd_journey_t *j);
/* Takes j out of the store (map, LRU, change list, count) / puts it back
 * at the LRU tail, changed: a journey moving between engines. Attach
 * frees j when it cannot be stored (its timers must be in no heap). */
void journey_detach(jd_engine_t *e, jd_journey_t *j);
int journey_attach(jd_engine_t *e, jd_journey_t *j);
void journey_mark_dirty(jd_engine_t *e, jd_journey_t *j);
void journey_unmark_dirty(jd_engine_t *e, jd_journey_t *j);
/* engine.c: fires every timeout with a deadline before t; evaluates ev
 * now (taking it). */
void engine_fire_before(jd_engine_t *e, int64_t t);
void engine_evaluate_now(jd_engine_t *e, jd_event_t *ev);

/* freeze.c: a timer set aside for a frozen journey is in no heap. */
#define JD_TIMER_DEFERRED (SIZE_MAX - 1)
/* 1 when ev (released now) belongs to a frozen customer: it is parked. */
int engine_frozen_park(jd_engine_t *e, jd_event_t *ev);
/* 1 when t (due now) belongs to a frozen customer: it is set aside. */
int engine_frozen_defer(jd_engine_t *e, jd_timer_t *t);
/* A set-aside timer cancelled or set again by its rule. */
void engine_frozen_undefer(jd_engine_t *e, jd_timer_t *t);
void engine_frozen_free_all(jd_engine_t *e);
/* Queues a tombstone for key (change tracking only). */
void engine_tomb(jd_engine_t *e, int32_t tag, const char *key);
/* Journeys and links idle for longer than journey.retention before now. */
void engine_expire(jd_engine_t *e, int64_t now);
/* Evicts the least recently active journeys beyond max_customers, never keep. */
void engine_evict(jd_engine_t *e, const jd_journey_t *keep);

/* stats.c */
/* Per-rule counters of st for conf (alerts_by_rule, funnels); 0 or -1. */
int engine_stats_alloc(const jd_config_t *conf, jd_engine_stats_t *st);
void engine_stats_free(const jd_config_t *conf, jd_engine_stats_t *st);
/* Adds x's counters into sum (the shards' totals). */
void engine_stats_add(const jd_config_t *conf, jd_engine_stats_t *sum,
                      const jd_engine_stats_t *x);

/* changelog.c: the rules' state keys (engine_new). 0 / -1 (OOM). */
int changelog_rule_keys(jd_engine_t *e);

#endif
