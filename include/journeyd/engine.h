/*
 * The event-time engine: re-orders events within time.lateness, keeps one
 * journey per (stitched) customer, fires timeouts and events in one
 * event-time order, evaluates the rules and hands rendered alerts to a sink
 * callback. It knows nothing of Kafka or files.
 *
 * Order (contract section 4): an event at time t is evaluated after every
 * timeout whose deadline is before t and before timeouts whose deadline is
 * t or later; ties between events keep arrival order. Events with ts <= the
 * watermark are released; timeouts fire when the watermark exceeds their
 * deadline. Not thread-safe: one engine per thread; journeyd/shard.h runs
 * several, each holding the customers routed to it.
 */
#ifndef JOURNEYD_ENGINE_H
#define JOURNEYD_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include "journeyd/common.h"
#include "journeyd/config.h"
#include "journeyd/deadletter.h"
#include "journeyd/event.h"

typedef struct jd_engine jd_engine_t;

/* Called once per alert, in deterministic order. key = the customer
 * identity (customer_id, else anonymous_id); json = one alert object, no
 * newline. Both borrowed for the duration of the call. ts = alert event time. */
typedef void (jd_alert_fn)(void *opaque, const char *key, size_t keylen,
                           const char *json, size_t jsonlen, int64_t ts);

typedef struct jd_engine_opts {
    jd_alert_fn *on_alert;
    void *opaque;
    /* 1 (replay): the watermark follows max ts - lateness automatically on
     * every push. 0 (run): the caller drives it with jd_engine_advance. */
    int auto_watermark;
    /* Fixed value for "emitted_at" (ms) to make test output byte-stable;
     * 0 = wall clock. */
    int64_t fixed_emitted_at;
    /* 1: remember which journeys changed, for jd_engine_drain_changes
     * (run mode). 0 (replay): no change tracking cost. */
    int track_changes;
    /* Journeys held before the least recently active is evicted; 0 = the
     * config's journey.max_customers (a shard gets its share). */
    uint64_t max_customers;
    /* 1: events given to jd_engine_eval stay the caller's (a router frees
     * them on the thread that allocated them, which malloc prefers). */
    int borrow_events;
} jd_engine_opts_t;

/* The evaluation step an alert came from. Steps order as the contract
 * orders evaluation: by time (event ts or timeout deadline); at one time
 * events before timeouts; events by arrival (seq); timeouts by the event
 * step that scheduled them, then by scheduling order within it. Every step
 * key is unique, so alerts from several shards merge into one order. */
typedef struct jd_step {
    int64_t time;
    int kind;            /* 0 = event, 1 = timeout */
    int64_t sched_ts;    /* event: its ts; timeout: the scheduling event's ts */
    uint64_t seq;        /* event: its seq; timeout: the scheduling event's seq */
    uint32_t sub;        /* timeout: n-th timer scheduled in that step */
} jd_step_t;
int jd_step_cmp(const jd_step_t *a, const jd_step_t *b);

/* Funnel counters for the summary: attempts started, how many reached each
 * step (reached[0] == attempts), completions, drop-offs by last step
 * reached (dropped[i] = dropped after reaching step i+1), still open. */
/* The same counters for one value of the funnel's breakdown_by field on
 * the attempts' step-1 events; pending = attempts - completed - dropped. */
typedef struct jd_funnel_seg {
    const char *value;   /* interned; NULL = the event lacked the field */
    uint64_t attempts;
    uint64_t completed;
    uint64_t *reached;   /* nsteps entries */
    uint64_t *dropped;   /* nsteps entries */
} jd_funnel_seg_t;

/* Distinct breakdown_by values one engine counts per funnel: the first
 * ones seen on step-1 events; attempts of later values count under
 * "(other)". Shards' sums keep the JD_FUNNEL_SEGMENTS_MAX with the most
 * attempts (then by value) and add the rest to "(other)". */
#define JD_FUNNEL_SEGMENTS_MAX 256

typedef struct jd_funnel_stats {
    uint64_t attempts;
    uint64_t completed;
    uint64_t pending;
    uint64_t *reached;   /* nsteps entries */
    uint64_t *dropped;   /* nsteps entries */
    /* breakdown_by only (else nsegs = 0 and other's arrays NULL) */
    jd_funnel_seg_t *segs;
    uint32_t nsegs, segcap;
    jd_funnel_seg_t other;
} jd_funnel_stats_t;

/* The segment of value in fs (a funnel with nsteps steps and breakdown_by):
 * found, or added when admit and fewer than JD_FUNNEL_SEGMENTS_MAX are
 * held, else fs->other (also when out of memory). Never NULL. */
jd_funnel_seg_t *jd_funnel_seg(jd_funnel_stats_t *fs, uint32_t nsteps,
                               const char *value, int admit);
/* Attempts of s neither completed nor dropped yet. */
uint64_t jd_funnel_seg_pending(const jd_funnel_seg_t *s, uint32_t nsteps);
/* The segments of fs in display order: attempts descending, then value
 * (absent first, then byte order). out must hold fs->nsegs pointers;
 * returns fs->nsegs. */
uint32_t jd_funnel_segs_sorted(const jd_funnel_stats_t *fs, const jd_funnel_seg_t **out);
/* Adds s's counters into acc (both of a funnel with nsteps steps). */
void jd_funnel_seg_add(jd_funnel_seg_t *acc, const jd_funnel_seg_t *s, uint32_t nsteps);

typedef struct jd_engine_stats {
    uint64_t events_in;       /* accepted by push (not late) */
    uint64_t events_evaluated;
    uint64_t late;
    uint64_t duplicates;
    uint64_t alerts;
    uint64_t suppressed;      /* alerts held back by a rule's cooldown */
    uint64_t customers;       /* journeys alive now */
    uint64_t customers_peak;
    uint64_t customers_total; /* journeys ever created */
    uint64_t evicted;         /* by journey.max_customers */
    uint64_t expired;         /* by journey.retention */
    uint64_t groups_evicted;  /* rule groups dropped by journey.max_groups */
    uint64_t links;           /* anonymous -> customer links made */
    uint64_t merges;          /* anonymous journeys merged into customers */
    uint64_t buffered;        /* events waiting for the watermark */
    uint64_t forced_advances; /* watermark advances forced by time.max_buffered */
    uint64_t timers;          /* timeouts scheduled and not yet fired */
    int64_t watermark;        /* INT64_MIN before any event */
    int64_t max_ts;           /* INT64_MIN before any event */
    uint64_t *alerts_by_rule; /* conf->nrules entries */
    jd_funnel_stats_t *funnels; /* conf->nrules entries; zero for non-funnels */
} jd_engine_stats_t;

/* conf is borrowed and must outlive the engine. NULL with err on failure. */
jd_engine_t *jd_engine_new(const jd_config_t *conf, const jd_engine_opts_t *opts,
                           jd_err_t *err);
/* NULL-safe. Drops buffered events and open windows without alerting. */
void jd_engine_destroy(jd_engine_t *e);

/* Offer an event; the engine takes ownership of ev in every case.
 * Returns JD_DL_NONE when accepted, JD_DL_LATE when ev->ts is older than
 * the watermark (ev is freed; the caller dead-letters the raw payload). */
jd_dl_reason_t jd_engine_push(jd_engine_t *e, jd_event_t *ev);

/* Raise the watermark to wm (never lowers it) and process everything it
 * releases: every buffered event with ts <= wm, every timeout with a
 * deadline < wm. Called with the current watermark, it releases the events
 * pushed at exactly that time since. */
void jd_engine_advance(jd_engine_t *e, int64_t wm);

/* End of a finite input: the watermark becomes the largest ts seen and
 * every buffered event is evaluated. With flush, every open window
 * (funnel attempts) then fires as if its deadline had passed; without,
 * they are counted as pending. */
void jd_engine_finish(jd_engine_t *e, int flush);

/* Current counters; pointers inside stay owned by the engine and valid
 * until the next call on it. */
const jd_engine_stats_t *jd_engine_stats(jd_engine_t *e);

/* Render the stats (and per-rule / per-funnel counters) as a JSON object;
 * new reference. */
json_t *jd_engine_stats_json(jd_engine_t *e);
json_t *jd_engine_stats_to_json(const jd_config_t *conf, const jd_engine_stats_t *s);

/*
 * Running as one shard behind a router that orders events itself
 * (journeyd/shard.h). The router pushes nothing with jd_engine_push.
 */
/* Fires timeouts with a deadline before ev->ts, then evaluates ev now.
 * ev->seq must hold the global arrival order; the engine takes ev. */
void jd_engine_eval(jd_engine_t *e, jd_event_t *ev);
/* Computes ev->khash, the hash of the journey key ev names ("c:" +
 * customer_id, else "a:" + anonymous_id), so a router thread can take that
 * work off the thread that evaluates. The engine uses it when it looks that
 * journey up. */
void jd_event_key_hash(jd_event_t *ev);
/* A hint that ev is evaluated soon: stage 0 fetches its journey's hash
 * bucket into cache, stage 1 (a few events later) the journey itself,
 * stage 2 (just before) its history and rule states, so the memory waits
 * of several events overlap. With ah = jd_identity_hash(anonymous_id)
 * (0: none or unknown), stages 0 and 1 fetch the identity table entry
 * too, which resolving the id reads before the journey. */
void jd_engine_prefetch(const jd_engine_t *e, jd_event_t *ev, uint64_t ah, int stage);
/* The last stage, two events ahead, once the journey and its rule states
 * are cached (eid_hash as jd_engine_eval would compute it): what
 * evaluation reaches through the journey, its de-duplication set's index
 * and the rule kinds' own structures (jd_rule_ops_t.prefetch). */
void jd_engine_prefetch_next(const jd_engine_t *e, const jd_event_t *ev, uint64_t eid_hash);
/* Retention expiry as evaluating an event at now would do it. */
void jd_engine_expire(jd_engine_t *e, int64_t now);
/* The step being evaluated; meaningful inside the alert callback. */
const jd_step_t *jd_engine_step(const jd_engine_t *e);

/* An anonymous identity's state (its link and its journey, timers
 * included) moving from one engine to another when a stitch joins it to a
 * customer held elsewhere. Export first does what evaluating an event at
 * now would do first (fire earlier timeouts, expire); it returns NULL when
 * the engine holds nothing for anon. Import takes the parcel (NULL-safe);
 * every exported parcel must be imported somewhere. */
typedef struct jd_engine_parcel jd_engine_parcel_t;
jd_engine_parcel_t *jd_engine_export_anon(jd_engine_t *e, const char *anon, int64_t now);
void jd_engine_import(jd_engine_t *e, jd_engine_parcel_t *p);

/*
 * Durable state (contract section 7). Each journey (and each anonymous ->
 * customer link) is one changelog record keyed by its identity key. The
 * Kafka layer drains the records changed since the last drain before it
 * commits input offsets, and replays them into a fresh engine on partition
 * assignment.
 *
 * fn receives: the journey's source_tag (from its latest event), the key,
 * and the serialized state; val == NULL means the key was deleted (expired,
 * evicted or merged away) and should be written as a tombstone.
 * All pointers are borrowed for the duration of the call.
 */
typedef void (jd_state_fn)(void *opaque, int32_t source_tag,
                           const char *key, size_t keylen,
                           const void *val, size_t vallen);
void jd_engine_drain_changes(jd_engine_t *e, jd_state_fn *fn, void *opaque);
/* The same for at most max changed journeys, those changed longest ago
 * first (every tombstone and link goes too), so a caller can spread the
 * serialisation over an interval instead of stalling at its end. Returns
 * the number of records handed to fn. */
size_t jd_engine_drain_some(jd_engine_t *e, jd_state_fn *fn, void *opaque, size_t max);
/* Journeys changed and not drained yet. */
size_t jd_engine_changes_pending(const jd_engine_t *e);

/* Restore one changelog record (val NULL = tombstone: forget the key).
 * Returns 0, or -1 with err if the record cannot be decoded (the caller
 * logs it and goes on: a bad record must not stop the daemon). */
int jd_engine_restore(jd_engine_t *e, int32_t source_tag,
                      const char *key, size_t keylen,
                      const void *val, size_t vallen, jd_err_t *err);

/* Forget every journey whose source_tag is tag (its partition was revoked
 * and moves to another instance, which restores it from the changelog).
 * Buffered events from that tag are dropped too: their offsets were not
 * committed, so the new owner reads them again. */
void jd_engine_drop_source(jd_engine_t *e, int32_t tag);

/*
 * Moving an anonymous identity between tasks of `run` (input.keyed_by=any):
 * the engine-to-engine parcel above, as changelog-format records that can
 * travel through Kafka.
 *
 * jd_engine_export_records: what evaluating an event at now would do first
 * (fire earlier timeouts, expire), then hands anon's journey ("a:" key) and
 * link ("l:" key) to fn and forgets them here (tombstones for this engine's
 * changelog). The anonymous id's events still buffered are the caller's
 * to ship (mark them with jd_event_ship). Returns the number of records
 * handed to fn.
 *
 * jd_engine_import_record: one such record into this engine, with
 * source_tag, and marked changed so the next drain writes it to this
 * engine's changelog. 0, or -1 with err.
 */
int jd_engine_export_records(jd_engine_t *e, const char *anon, int64_t now,
                             jd_state_fn *fn, void *opaque);
int jd_engine_import_record(jd_engine_t *e, int32_t source_tag, const char *key,
                            size_t keylen, const void *val, size_t vallen, jd_err_t *err);
/*
 * Freezing one customer (freeze.c): from at on, its events are parked and
 * its timeouts set aside as they come due, while the rest of the engine
 * goes on. A customer can be frozen at several links; thaw ends the one at
 * done, moves the freeze to the next (if any) and evaluates, in the
 * engine's own order up to the watermark, what was parked before it.
 * anon (or NULL): the anonymous id whose link is parked; its own events
 * from at on count as the customer's. freeze: 0, or -1 when out of memory.
 */
int jd_engine_freeze(jd_engine_t *e, const char *customer, int64_t at, const char *anon);
void jd_engine_thaw(jd_engine_t *e, const char *customer, int64_t done);
/* 1 when ev, released now, would be parked (a re-read event of a frozen
 * customer was waiting, whatever the watermark). */
int jd_engine_would_park(const jd_engine_t *e, const jd_event_t *ev);
size_t jd_engine_frozen_count(const jd_engine_t *e);
/* The engine's watermark (INT64_MIN before the first advance). */
int64_t jd_engine_watermark(const jd_engine_t *e);

#endif
