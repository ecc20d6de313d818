/*
 * Configuration: one JSON file (or the built-in defaults), -X overrides,
 * validation with precise errors, and the compiled form the rest of the
 * daemon reads. Every key is defined once, in the table in src/config/keys.c,
 * from which `check-config`, the README's key list and validation come.
 *
 * A jd_config_t is immutable after jd_config_load and owns everything it
 * points to, including the string interner used for event slot values.
 */
#ifndef JOURNEYD_CONFIG_H
#define JOURNEYD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "journeyd/common.h"
#include "journeyd/intern.h"
#include "journeyd/timeutil.h"

/* Canonical input fields (contract section 2), in the order of the
 * "fields" config object. */
enum {
    JD_FIELD_TS = 0,
    JD_FIELD_CUSTOMER_ID,
    JD_FIELD_ANONYMOUS_ID,
    JD_FIELD_TYPE,
    JD_FIELD_CHANNEL,
    JD_FIELD_EVENT_ID,
    JD_FIELD_SESSION_ID,
    JD_FIELD_PAGE,
    JD_FIELD_ELEMENT,
    JD_FIELD__COUNT
};
/* "ts", "customer_id", ... indexed by JD_FIELD_*. */
extern const char *const jd_field_names[JD_FIELD__COUNT];

/* One value slot of jd_event_t. Slots 0..JD_SLOT__CANON-1 are type, channel,
 * session_id, page, element (canonical, read through "fields" and
 * "defaults"); further slots are extra fields named by rule filters. */
typedef struct jd_slot {
    const char *name;    /* as written in rules: "type", "price", "/properties/page" */
    const char *source;  /* what the decoder reads: top-level key, JSON Pointer
                            (starts with '/') or CSV column name */
    int field;           /* JD_FIELD_* for canonical slots, -1 for extra ones */
    const char *dflt;    /* interned default when absent, or NULL */
    int unused;          /* no rule reads it (session_id/element by default):
                            the decoder leaves it NULL instead of interning
                            a high-cardinality value nobody looks at */
} jd_slot_t;

typedef enum { JD_SEV_LOW = 0, JD_SEV_MEDIUM, JD_SEV_HIGH } jd_severity_t;
typedef enum {
    JD_RULE_BURST = 0, JD_RULE_FUNNEL, JD_RULE_SEQUENCE,
    JD_RULE_ABSENCE, JD_RULE_PATTERN, JD_RULE_SCORE
} jd_rule_kind_t;

/* Operators of a filter value (contract section 5a). */
typedef enum {
    JD_MOP_NOT = 0,  /* not: the inner value set does not hold (absent: holds) */
    JD_MOP_PREFIX,   /* the value starts with str */
    JD_MOP_GT, JD_MOP_GTE, JD_MOP_LT, JD_MOP_LTE, /* numeric against num */
    JD_MOP_EXISTS,   /* present (exists = 1) or absent (exists = 0) */
    JD_MOP_VAR       /* equal to the pattern variable var (bound earlier) */
} jd_match_opkind_t;

struct jd_match_cond;

typedef struct jd_match_op {
    jd_match_opkind_t kind;
    double num;                 /* GT..LTE */
    const char *str;            /* PREFIX (interned) */
    size_t len;                 /* strlen(str) */
    int exists;                 /* EXISTS */
    uint32_t var;               /* VAR: index into jd_rule_t.vars */
    struct jd_match_cond *inner; /* NOT: owned; its slot is the outer one */
} jd_match_op_t;

/* A match filter: all conditions must hold; a condition holds when the
 * event's slot value equals one of values (interned, compared by pointer)
 * or satisfies one of ops. Scalars in config are stringified the way the
 * decoder stringifies event values: integers "%lld", reals shortest
 * round-trip "%.17g"-trimmed, true/false as words, so numeric operators
 * parse the slot's text as a double. An empty filter matches every event. */
typedef struct jd_match_cond {
    uint32_t slot;
    uint32_t nvalues;
    const char **values;
    uint32_t nops;
    jd_match_op_t *ops;
} jd_match_cond_t;

typedef struct jd_match {
    uint32_t nconds;
    uint32_t plain;             /* 1: no condition has ops (values only), which
                                   jd_match_event checks in a tighter loop;
                                   0 is always correct */
    jd_match_cond_t *conds;
} jd_match_t;

typedef struct jd_funnel_step {
    char *name;
    jd_match_t match;
} jd_funnel_step_t;

/* One alternative of a sequence's "first": an event filter, or a set of
 * rules whose alerts on the same customer count as a first occurrence. */
typedef struct jd_seq_first {
    int is_alert;
    jd_match_t match;       /* when !is_alert */
    uint32_t nrules;        /* when is_alert: indices into jd_config_t.rules */
    uint32_t *rules;
} jd_seq_first_t;

/* One step of a pattern: a filter, the variables it binds (bind_var[i] <-
 * the event's slot bind_slot[i]) and the most time since the previous
 * step's event (0 = no limit). */
typedef struct jd_pattern_step {
    jd_match_t match;
    uint32_t nbind;
    uint32_t *bind_var;     /* indices into jd_rule_t.vars */
    uint32_t *bind_slot;
    int64_t within_ms;
} jd_pattern_step_t;

/* One contribution of a score: an event filter or other rules' alerts. */
typedef struct jd_score_contrib {
    int is_alert;
    jd_match_t match;       /* when !is_alert */
    uint32_t nrules;        /* when is_alert: indices into jd_config_t.rules */
    uint32_t *rules;
    double points;
} jd_score_contrib_t;

typedef struct jd_rule {
    char *name;
    uint32_t index;         /* position in jd_config_t.rules */
    jd_rule_kind_t kind;
    jd_severity_t severity; /* default medium */
    int64_t cooldown_ms;    /* 0 = none (no "cooldown" key) */
    int64_t within_ms;      /* burst (0 when gap is used), funnel, sequence */
    /* burst */
    jd_match_t match;
    uint32_t nsame;
    uint32_t *same;         /* slot indices of the "same" fields */
    uint32_t count;
    int64_t gap_ms;         /* 0 when within is used */
    /* funnel */
    uint32_t nsteps;
    jd_funnel_step_t *steps;
    int has_breakdown;      /* "breakdown_by" given: counts split by the value */
    uint32_t breakdown_slot;/* of this slot on the attempt's step-1 event */
    /* sequence */
    uint32_t nfirst;
    jd_seq_first_t *first;
    uint32_t nthen;         /* "then" is one filter or a list of alternatives */
    jd_match_t *then;
    /* every kind: events matching ignore never reach the rule */
    int has_ignore;
    jd_match_t ignore;
    /* absence (also within_ms and same) */
    jd_match_t start;
    jd_match_t expect;
    /* pattern (within_ms: overall limit, 0 = none) */
    uint32_t npsteps;
    jd_pattern_step_t *psteps;
    uint32_t nvars;
    char **vars;            /* variable names, in binding order */
    int has_scope;
    jd_match_t scope;
    int contiguous;
    /* score */
    uint32_t ncontribs;
    jd_score_contrib_t *contribs;
    int64_t half_life_ms;
    double threshold;
} jd_rule_t;

typedef enum { JD_GUARANTEE_AT_LEAST_ONCE = 0, JD_GUARANTEE_EXACTLY_ONCE } jd_guarantee_t;
typedef enum { JD_KEYED_BY_CUSTOMER = 0, JD_KEYED_BY_ANY } jd_keyed_by_t;
typedef enum { JD_LOGFMT_TEXT = 0, JD_LOGFMT_JSON } jd_log_format_t;

/* Every duration key and rule duration (within, gap, cooldown) is at most
 * this (100 years: 36525 days), so arithmetic on event times (epoch ms)
 * plus a duration cannot overflow. Durations are above 0 except
 * time.lateness and time.idle_advance, which accept 0, and
 * time.max_future, whose "off" is stored as 0. */
#define JD_CONFIG_DURATION_MAX_MS (36525LL * 86400000LL)

typedef struct jd_config {
    json_t *kafka;              /* object: librdkafka property -> string value */
    char **topics;              /* input.topics */
    size_t ntopics;
    int input_csv;              /* input.format: 0 ndjson, 1 csv */
    char csv_delimiter;         /* input.csv.delimiter (one byte; "\t" allowed) */
    int csv_header;             /* input.csv.header (only true is supported) */
    jd_keyed_by_t keyed_by;     /* input.keyed_by */
    char *alerts_topic;         /* output.alerts_topic */
    char *dead_letter_topic;    /* output.dead_letter_topic */
    char *fields[JD_FIELD__COUNT];   /* "fields": source of each canonical field */
    char *defaults[JD_FIELD__COUNT]; /* "defaults": constant or NULL */
    jd_time_format_t time_format;    /* time.format (pattern owned by config) */
    int64_t lateness_ms;        /* time.lateness; 0 = events must arrive in order */
    int64_t idle_advance_ms;    /* time.idle_advance; 0 = never advance on idleness */
    int64_t max_future_ms;      /* time.max_future; 0 = off (configured as "off") */
    uint64_t max_buffered;      /* time.max_buffered: events per engine */
    int64_t retention_ms;       /* journey.retention */
    uint32_t history;           /* journey.history: events kept per customer */
    uint32_t alert_context;     /* journey.alert_context: events in an alert */
    uint64_t max_customers;     /* journey.max_customers */
    uint64_t max_groups;        /* journey.max_groups: per customer per rule */
    uint32_t dedupe_ids;        /* journey.dedupe_ids: event ids per customer */
    jd_guarantee_t guarantee;   /* processing.guarantee */
    uint32_t threads;           /* processing.threads (worker threads) */
    int64_t commit_interval_ms; /* processing.commit_interval */
    char *http_listen;          /* http.listen: "host:port" (port checked to be
                                   1..65535), or the string "off" to disable;
                                   never NULL after jd_config_load */
    jd_log_format_t log_format; /* log.format */
    int log_level;              /* log.level: 0 error, 1 warn, 2 info, 3 debug */
    jd_rule_t *rules;
    uint32_t nrules;
    jd_slot_t *slots;           /* nslots >= JD_SLOT__CANON */
    uint32_t nslots;
    jd_intern_t *intern;        /* owns slot values, match values, defaults */
    json_t *effective;          /* the effective config as JSON (check-config) */
} jd_config_t;

/* Load path (NULL = the built-in defaults, identical to config/journeyd.json),
 * apply overrides ("key.path=value" strings, as given to -X), validate and
 * compile. Returns a new config the caller frees with jd_config_destroy, or
 * NULL with err->msg like
 *   "my.json:12:5: rules[2].count: expected a positive integer, got \"three\""
 *   "-X time.lateness=abc: expected a duration (250ms, 15s, 10m, 24h, 7d or integer ms)"
 *   "my.json:3:14: unknown key \"inptu\" (expected one of: kafka, input, ...)" */
jd_config_t *jd_config_load(const char *path, const char *const *overrides,
                            size_t noverrides, jd_err_t *err);

/* NULL-safe. */
void jd_config_destroy(jd_config_t *conf);

/* The effective config as pretty JSON (what check-config prints); the
 * caller frees the result with free(). */
char *jd_config_dump(const jd_config_t *conf);

/* Rule lookup by name; NULL if none. Borrowed. */
const jd_rule_t *jd_config_rule(const jd_config_t *conf, const char *name);

/* 1 when a slot's field is known from the config alone: a canonical field,
 * or a source some "fields" key maps ("event_type" with
 * fields.type = "event_type"). A slot that is not (a misspelt "typ", or a
 * field only some inputs carry) matches only events that have it; commands
 * warn about it unless the input shows it. */
int jd_config_slot_mapped(const jd_config_t *conf, uint32_t slot);

/* The first rule that filters or groups on slot, or NULL. Borrowed. */
const jd_rule_t *jd_config_slot_rule(const jd_config_t *conf, uint32_t slot);

/* Stringify a JSON scalar the way match values and slot values are compared
 * (see jd_match_t). Writes into buf (NUL-terminated), returns the length,
 * or -1 for null/object/array (treated as absent). */
int jd_json_scalar_str(const json_t *v, char *buf, size_t bufsz);
/* The real-number part of jd_json_scalar_str, for readers that decode JSON
 * numbers themselves (same text for the same double). */
int jd_json_real_str(double d, char *buf, size_t bufsz);

/* The key reference as Markdown (generated from the key table), for the
 * README and `journeyd --help-config`. Caller frees. */
char *jd_config_doc(void);

#endif
