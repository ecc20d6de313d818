/*
 * Private to src/config: the key table's row type and the loading context
 * shared by the files of the configuration module.
 *
 *   keys.c    the one table of keys (config_props[]) and lookups in it
 *   pos.c     key paths, line:column of a value in the file, error messages
 *   values.c  typed values (strings, enums, durations, ...) and kafka properties
 *   rules.c   event slots and the rule compiler
 *   load.c    jd_config_load: file, -X overrides, cross-key checks; destroy, dump
 *   doc.c     the Markdown key reference (`check-config --keys`)
 *
 * Functions here return 0 or -1; on -1 ctx->err holds the message.
 */
#ifndef JOURNEYD_CONFIG_PRIVATE_H
#define JOURNEYD_CONFIG_PRIVATE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "journeyd/config.h"
#include "journeyd/event.h"

typedef enum {
    CONFIG_T_KAFKA,     /* object of librdkafka properties, merged over the default */
    CONFIG_T_STRING,    /* non-empty string -> char * */
    CONFIG_T_STRLIST,   /* non-empty list of non-empty strings -> char ** + count */
    CONFIG_T_ENUM,      /* one of enums -> its index */
    CONFIG_T_CHAR,      /* one byte; "\\t" accepted for tab */
    CONFIG_T_BOOL,
    CONFIG_T_TIMEFMT,   /* auto | epoch_s | epoch_ms | strftime pattern */
    CONFIG_T_DURATION,  /* "250ms".."7d" or integer ms -> int64_t ms, at most
                           JD_CONFIG_DURATION_MAX_MS, at least min (0 or 1) */
    CONFIG_T_INT,
    CONFIG_T_RULES,
} config_type_t;

typedef struct config_prop {
    const char *path;          /* dotted key path, as -X and the docs name it */
    config_type_t type;
    const char *dflt;          /* default as JSON text; NULL = unset */
    int64_t min, max;          /* CONFIG_T_INT bounds; CONFIG_T_DURATION: min only */
    int off;                   /* CONFIG_T_DURATION: also "off", stored as 0 */
    const char *const *enums;  /* CONFIG_T_ENUM, NULL-terminated */
    const char *(*check)(const json_t *v); /* extra rule: NULL or "expected ..." */
    size_t offset, size;       /* destination in jd_config_t */
    size_t count_offset;       /* CONFIG_T_STRLIST: where the length goes */
    const char *desc;
} config_prop_t;

/* keys.c: the table, in section 1a order (the effective config and the docs
 * follow it); the last row is "rules". */
extern const config_prop_t config_props[];
extern const size_t config_nprops;
/* JD_SLOT_* -> JD_FIELD_*: the canonical fields rules may filter and group on. */
extern const int config_slot_fields[JD_SLOT__CANON];

/* 1 if path names a key of the table, 2 if a section above keys, else 0. */
int config_classify(const char *path);
/* Row of path, or -1. */
int config_prop_index(const char *path);
/* The keys one level below prefix ("" = top level), comma-separated. With
 * dotted, each is written as -X spells it ("time.lateness", "input.csv.*"). */
void config_level_keys(const char *prefix, int dotted, char *buf, size_t bufsz);

#define CONFIG_MAX_DEPTH 16
#define CONFIG_BUILTIN "(built-in defaults)"

/* Error flags for config_fail. */
#define CONFIG_AT_KEY 1u   /* point at the key token rather than its value */
#define CONFIG_NO_PATH 2u  /* the message names the key path itself */

/* One step of a key path: an object key, or an array index when key is NULL. */
typedef struct config_comp {
    const char *key;
    size_t idx;
} config_comp_t;

/* What the command line and the file say about one row of the table. */
typedef struct config_src {
    const char *xarg;   /* the last -X that set the key, or NULL (borrowed) */
    json_t *xval;       /* its value converted to JSON (owned) */
    int in_file;        /* the file sets the key */
} config_src_t;

/* Where values come from while they are checked, so errors can say where. */
typedef struct config_ctx {
    jd_config_t *conf;
    jd_err_t *err;
    const char *file;       /* name for errors: the path, or CONFIG_BUILTIN */
    const char *text;       /* the document positions refer to, or NULL */
    size_t textlen;
    int skip;               /* leading path steps absent from text */
    const char *xarg;       /* the -X argument being applied, or NULL */
    config_comp_t path[CONFIG_MAX_DEPTH];
    int depth;
    config_src_t *src;      /* config_nprops entries */
} config_ctx_t;

/* pos.c: the current key path and errors located by it. */
void config_push(config_ctx_t *ctx, const char *key, size_t idx);
void config_pop(config_ctx_t *ctx);
int config_depth(const config_ctx_t *ctx);
/* "rules[2].match.type" */
void config_path_str(const config_ctx_t *ctx, char *buf, size_t bufsz);
/* Sets ctx->path to the steps of a table path; buf holds their text. */
void config_set_path(config_ctx_t *ctx, const char *path, char *buf, size_t bufsz);
/* The value at ctx->path in root (objects only), borrowed, or NULL. */
json_t *config_lookup(json_t *root, const config_ctx_t *ctx);
/* Stores v (stolen) at ctx->path in obj, creating sections in order. */
int config_put(json_t *obj, const config_ctx_t *ctx, json_t *v);
/* Reports a bad value at the current path:
 *   "FILE:LINE:COL: PATH: MESSAGE, got GOT"   (value from a file)
 *   "-X ARG: MESSAGE"                         (value from -X)
 * Always returns -1. */
int config_fail(const config_ctx_t *ctx, unsigned flags, const json_t *got,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int config_oom(const config_ctx_t *ctx);

/* values.c: typed values; each reports its own error at the current path. */
/* A JSON scalar as match and kafka values see it; NULL for other types.
 * Caller frees. */
char *config_scalar_dup(const json_t *v);
void config_enum_list(const char *const *names, char *buf, size_t bufsz);
int config_enum(const config_ctx_t *ctx, const json_t *v, const char *const *names, int *out);
/* A duration >= min (0 or 1) and <= JD_CONFIG_DURATION_MAX_MS; with off,
 * "off" too, stored as 0. */
int config_duration(const config_ctx_t *ctx, const json_t *v, int64_t min, int off, int64_t *out);
int config_int(const config_ctx_t *ctx, const json_t *v, int64_t min, int64_t max, int64_t *out);
/* Checks v against prop and stores it in the config; *norm receives the
 * value for the effective config (new reference). */
int config_set(config_ctx_t *ctx, const config_prop_t *prop, json_t *v, json_t **norm);
/* The kafka object: built-in default, then the file's, then -X kafka.*. */
int config_apply_kafka(config_ctx_t *ctx, const config_prop_t *prop, json_t *root,
                       const char *const *ov, size_t nov);

/* rules.c */
/* s interned and pinned: the config's strings live as long as it (every
 * interned config string goes through this; NULL on OOM). */
const char *config_intern(jd_config_t *conf, const char *s);
int config_canon_slots(config_ctx_t *ctx);
/* The file's rules, or the built-in ones when it has none. */
int config_apply_rules(config_ctx_t *ctx, const config_prop_t *prop, json_t *root);
void config_rule_free(jd_rule_t *r);
/* Shared with the compilers of the newer kinds (rules_ext.c). */
typedef int (config_key_fn)(config_ctx_t *ctx, const json_t *v, jd_rule_t *r);
/* Runs fn on obj[key] with the path at it; a missing required key fails. */
int config_key(config_ctx_t *ctx, const json_t *obj, const char *key, int required,
               config_key_fn *fn, jd_rule_t *r);
/* Fails on a key of obj not in allowed (NULL-terminated). */
int config_only_keys(config_ctx_t *ctx, const json_t *obj, const char *const *allowed,
                     const char *what);
int config_rule_within(config_ctx_t *ctx, const json_t *v, jd_rule_t *r);
int config_rule_same(config_ctx_t *ctx, const json_t *v, jd_rule_t *r);
/* A rule name in {"alert": [...]}: any rule of the config but r itself. */
int config_alert_ref(config_ctx_t *ctx, const json_t *name, const jd_rule_t *r, uint32_t *out);

/* filter.c: filters (section 5a operators) into jd_match_t. */
/* The variables a pattern step may compare with: names[0..nbound). */
typedef struct config_vars {
    char *const *names;
    uint32_t nbound;
} config_vars_t;
/* A field named in a rule: its slot (created for a new extra field). */
int config_field_name(config_ctx_t *ctx, const char *name, uint32_t *slot, unsigned flags);
/* A filter object at the current path; vars NULL outside pattern steps
 * (then {"var": ...} is an error). */
int config_match_vars(config_ctx_t *ctx, const json_t *obj, jd_match_t *m,
                      const config_vars_t *vars);
int config_match(config_ctx_t *ctx, const json_t *obj, jd_match_t *m);
void config_match_free(jd_match_t *m);
int config_match_uses(const jd_match_t *m, uint32_t slot);

/* rules_ext.c: "ignore" on every rule, and the absence, pattern and score
 * kinds. */
/* config_only_keys with "ignore" allowed too, which it compiles. */
int config_rule_keys(config_ctx_t *ctx, const json_t *obj, const char *const *allowed,
                     const char *what, jd_rule_t *r);
int config_rule_ext(config_ctx_t *ctx, const json_t *obj, jd_rule_t *r);
void config_rule_ext_free(jd_rule_t *r);
int config_rule_ext_uses(const jd_rule_t *r, uint32_t slot);

#endif
