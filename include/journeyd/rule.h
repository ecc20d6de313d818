/*
 * Private to the engine and its rule kinds: journeys, timers, evidence and
 * the per-kind rule interface. Shared by src/engine/ and src/rules/ only.
 *
 * A rule kind is one file in src/rules/ that defines a jd_rule_ops_t, plus
 * one row in the kind table (src/rules/rule_kinds.c). The engine reaches
 * every kind through its ops and names none (docs/adding-a-rule-kind.md).
 */
#ifndef JOURNEYD_ENGINE_INT_H
#define JOURNEYD_ENGINE_INT_H

#include <stdint.h>
#include <sys/queue.h>
#include "journeyd/engine.h"
#include "journeyd/map.h"
#include "journeyd/strbuf.h"

typedef struct jd_journey jd_journey_t;

/* A timeout owned by a rule state. The engine's timer heap points at it, so
 * the owner must cancel it (engine_timer_cancel) before freeing it. */
typedef struct jd_timer {
    int64_t deadline;
    /* Scheduling order, for ties on the deadline: the event step that set
     * the timer (its ts and arrival seq), then the order within that step. */
    int64_t sched_ts;
    uint64_t seq;
    uint32_t sub;
    uint32_t rule;
    jd_journey_t *journey;
    size_t heap_idx;       /* position in the heap; SIZE_MAX when idle */
} jd_timer_t;

/* One piece of evidence: an event (id = its event_id, or NULL) or, for
 * sequences, another rule's alert (id = alert_id, rule = its rule name). */
typedef struct jd_evid {
    int64_t ts;
    const char *channel;   /* interned, one reference owned */
    char *id;              /* owned copy, or NULL */
    const char *rule;      /* borrowed rule name when the evidence is an alert */
} jd_evid_t;

/* A compact history record (32 bytes): enough for alert context and
 * de-duplication. Strings are interner ids (jd_intern_get). */
typedef struct jd_hist {
    int64_t ts;
    uint64_t eid_hash;                   /* 0 when the event had no event_id */
    uint32_t type, channel, page;        /* interner ids, 0 = absent */
} jd_hist_t;

struct jd_journey {
    jd_map_node_t node;     /* key: "c:<customer_id>" or "a:<anonymous_id>" */
    TAILQ_ENTRY(jd_journey) lru;        /* by last activity, oldest first */
    TAILQ_ENTRY(jd_journey) dirtyq;     /* changed since the last drain */
    int64_t last_ts;
    int32_t source_tag;
    uint8_t dirty;
    uint16_t hist_head, hist_len; /* ring: oldest record at hist_head */
    uint16_t hist_cap;      /* grows 4, 8, ... up to conf->history */
    jd_hist_t *hist;        /* ring of hist_cap records (own allocation) */
    struct jd_idset *seen;  /* recent event-id hashes (journey.dedupe_ids),
                               own allocation, NULL until the first id */
    void **rstate;          /* per rule, lazily created, NULL when idle */
    int64_t *last_alert;    /* per rule WITH a cooldown (engine cooldown
                               slots); INT64_MIN = never */
    char *key;              /* "c:<id>" / "a:<id>", in the same allocation */
};

/* What a rule emits; the engine renders it. */
typedef struct jd_alert_req {
    const jd_rule_t *rule;
    jd_journey_t *journey;
    int64_t ts;
    const jd_evid_t *evid;   /* evidence events/alerts, oldest first */
    size_t nevid;
    const jd_evid_t *first;  /* non-NULL: the alert carries evidence.first
                                (a sequence's "first" occurrences) */
    size_t nfirst;
    int has_score;           /* score: evidence.score = score (not hashed) */
    double score;
    const char *const *group_names;  /* burst "same": names and values */
    const char *const *group_values;
    size_t ngroup;
    int funnel_last_step;    /* funnel drop-off: 1-based last step; else 0 */
    /* funnel drop-off: evidence.struggles, the other alerts of the customer
     * during the attempt (id = alert_id, rule = its rule), oldest first,
     * and how many more there were; not part of the alert_id */
    const jd_evid_t *struggles;
    size_t nstruggles;
    uint64_t struggles_omitted;
    /* funnel drop-off with breakdown_by: 1, and its segment value
     * (interned; NULL = the step-1 event lacked the field) */
    int has_segment;
    const char *segment;
} jd_alert_req_t;

/* Per-kind behaviour. state is a jd_journey_t.rstate[i] slot. */
typedef struct jd_rule_ops {
    /* the kind's name in alerts ("kind": "burst") */
    const char *name;
    /* 1: the engine keeps step counters (jd_funnel_stats_t, r->nsteps) for
     * rules of this kind and counts their pending timers at the end */
    int step_stats;
    /* event evaluated on journey j (already appended to its history) */
    void (*on_event)(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *j,
                     void **state, const jd_event_t *ev);
    /* a timer of this rule fired (deadline passed or flush) */
    void (*on_timer)(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *j,
                     void **state, jd_timer_t *t);
    /* move src's state into dst's (identity merge); src is freed after */
    void (*merge)(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *dst,
                  void **dst_state, void **src_state);
    /* free the state (cancelling its timers) */
    void (*free_state)(jd_engine_t *e, const jd_rule_t *r, void *state);
    /* drop expired parts; returns 1 when the state is now empty (freeable) */
    int (*idle)(const jd_rule_t *r, void *state, int64_t now);
    /* the state's pending timer, or NULL (kinds without timers: no op) */
    jd_timer_t *(*timer)(void *state);
    /* changelog: append the state as JSON / restore it */
    void (*save)(const jd_rule_t *r, const void *state, jd_strbuf_t *sb);
    int (*load)(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *j,
                void **state, json_t *v);
    /* Kinds fed by other rules' alerts (NULL otherwise): listens_to says
     * whether r takes the alerts of rule index src; on_alert then gets each
     * one on the same journey, after it is emitted (alert->id = alert_id,
     * alert->rule = the emitting rule's name; borrowed). */
    int (*listens_to)(const jd_rule_t *r, uint32_t src);
    void (*on_alert)(jd_engine_t *e, const jd_rule_t *r, jd_journey_t *j,
                     void **state, const jd_evid_t *alert);
    /* Optional hint that the journey holding state is evaluated soon
     * (two events ahead): start fetching what on_event reads beyond the
     * state struct itself, which is cached by then. Must not write, and
     * should read nothing but the state struct: a miss here stalls the
     * evaluation it is meant to speed up. */
    void (*prefetch)(const jd_rule_t *r, const void *state);
} jd_rule_ops_t;

/* The ops of a kind (src/rules/rule_kinds.c); never NULL for a kind the
 * config compiles. */
const jd_rule_ops_t *jd_rule_ops_for(jd_rule_kind_t kind);

/* Engine services for the rule kinds. */
const jd_config_t *engine_conf(const jd_engine_t *e);
/* Emits an alert (cooldown applied); returns 1 when emitted, 0 if suppressed.
 * The rendered alert_id is written to alert_id (17 bytes) when non-NULL. */
int engine_emit(jd_engine_t *e, const jd_alert_req_t *req, char *alert_id);
void engine_timer_set(jd_engine_t *e, jd_timer_t *t, jd_journey_t *j,
                      uint32_t rule, int64_t deadline);
void engine_timer_cancel(jd_engine_t *e, jd_timer_t *t);
/* Counts n groups (windows, partial matches) dropped at journey.max_groups. */
void engine_group_evicted(jd_engine_t *e, uint64_t n);
/* The step counters of a rule whose kind has step_stats. */
jd_funnel_stats_t *engine_funnel_stats(jd_engine_t *e, uint32_t rule);

/* Match helpers shared by the rule kinds. */
int jd_match_event(const jd_match_t *m, const jd_event_t *ev);
/* Same, with pattern variables bound (vars[i] = interned value of
 * jd_rule_t.vars[i], or NULL while unbound). */
int jd_match_event_vars(const jd_match_t *m, const jd_event_t *ev, const char *const *vars);
/* 1 when r's "ignore" filter takes ev away from the rule. */
int jd_rule_ignores(const jd_rule_t *r, const jd_event_t *ev);
/* Evidence from an event (copies event_id, references the channel). An
 * evidence record owns its id and channel reference: moving it (struct
 * copy, then forgetting the source) is fine, duplicating it needs
 * jd_evid_copy, and each one ends with jd_evid_clear or jd_evid_drop. */
void jd_evid_from_event(jd_evid_t *out, const jd_event_t *ev);
void jd_evid_clear(jd_evid_t *ev);
/* Gives up what a record owns without writing it (a const one given away). */
void jd_evid_drop(const jd_evid_t *ev);
/* A second record with its own id copy and channel reference. */
void jd_evid_copy(jd_evid_t *out, const jd_evid_t *in);
void jd_evid_save(const jd_evid_t *ev, jd_strbuf_t *sb);
int jd_evid_load(jd_evid_t *out, json_t *v, const jd_config_t *conf);

/* History record i (0 = oldest) of j. */
static inline const jd_hist_t *jd_journey_hist(const jd_journey_t *j, uint32_t i)
{
    return &j->hist[(j->hist_head + i) % j->hist_cap];
}

/* Alert rendering (alert.c). */
void jd_alert_render(const jd_config_t *conf, const jd_alert_req_t *req,
                     int64_t emitted_at, jd_strbuf_t *out, char alert_id[17]);

#endif
