/*
 * Configuration: the one table of keys (config_props[]), JSON loading with
 * positions, -X overrides, validation and rule compilation.
 *
 * Everything a user can set is a row of config_props[]: validation, -X,
 * the effective config printed by check-config and the Markdown reference
 * (jd_config_doc) are all derived from it, so adding a key is one row.
 *
 * jansson keeps no positions for values, so semantic errors are located by
 * re-walking the (already valid) document text along the key path of the
 * offending value (config_locate).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <librdkafka/rdkafka.h>
#include "journeyd/config.h"
#include "journeyd/event.h"

const char *const jd_field_names[JD_FIELD__COUNT] = {
    "ts", "customer_id", "anonymous_id", "type", "channel",
    "event_id", "session_id", "page", "element",
};

/* JD_SLOT_* -> JD_FIELD_*: the canonical fields rules may filter and group on. */
static const int config_slot_fields[JD_SLOT__CANON] = {
    JD_FIELD_TYPE, JD_FIELD_CHANNEL, JD_FIELD_SESSION_ID, JD_FIELD_PAGE, JD_FIELD_ELEMENT,
};

static const char *const config_format_names[] = { "ndjson", "csv", NULL };
static const char *const config_guarantee_names[] = { "at_least_once", "exactly_once", NULL };
static const char *const config_keyed_by_names[] = { "customer", "any", NULL };
static const char *const config_log_format_names[] = { "text", "json", NULL };
static const char *const config_log_level_names[] = { "error", "warn", "info", "debug", NULL };
static const char *const config_severity_names[] = { "low", "medium", "high", NULL };
static const char *const config_kind_names[] = { "burst", "funnel", "sequence", NULL };

/* Contract appendix, verbatim: the rules used when the config has none. */
static const char config_default_rules[] =
    "[\n"
    "  {\"name\": \"rage_click\", \"kind\": \"burst\", \"severity\": \"medium\",\n"
    "   \"match\": {\"type\": \"click\"}, \"same\": [\"page\", \"element\"], \"count\": 3, \"gap\": \"1s\"},\n"
    "  {\"name\": \"error_burst\", \"kind\": \"burst\", \"severity\": \"medium\",\n"
    "   \"match\": {\"type\": \"error\"}, \"count\": 3, \"within\": \"60s\"},\n"
    "  {\"name\": \"login_failures\", \"kind\": \"burst\", \"severity\": \"medium\",\n"
    "   \"match\": {\"type\": \"login_failed\"}, \"count\": 3, \"within\": \"10m\"},\n"
    "  {\"name\": \"page_loop\", \"kind\": \"burst\", \"severity\": \"low\",\n"
    "   \"match\": {\"type\": \"page_view\"}, \"same\": [\"page\"], \"count\": 3, \"within\": \"15s\"},\n"
    "  {\"name\": \"checkout_dropoff\", \"kind\": \"funnel\", \"severity\": \"high\", \"within\": \"30m\",\n"
    "   \"steps\": [{\"name\": \"add_to_cart\",    \"match\": {\"type\": \"add_to_cart\"}},\n"
    "             {\"name\": \"checkout_start\", \"match\": {\"type\": \"checkout_start\"}},\n"
    "             {\"name\": \"purchase\",       \"match\": {\"type\": \"purchase\"}}]},\n"
    "  {\"name\": \"channel_escalation\", \"kind\": \"sequence\", \"severity\": \"high\", \"within\": \"24h\",\n"
    "   \"first\": [{\"type\": [\"error\", \"payment_failed\", \"login_failed\"]},\n"
    "             {\"alert\": [\"rage_click\", \"error_burst\", \"login_failures\", \"checkout_dropoff\"]}],\n"
    "   \"then\": {\"type\": \"support_contact\", \"channel\": [\"call\", \"chat\", \"email\"]}},\n"
    "  {\"name\": \"repeat_contact\", \"kind\": \"burst\", \"severity\": \"medium\",\n"
    "   \"match\": {\"type\": \"support_contact\"}, \"count\": 2, \"within\": \"7d\"}\n"
    "]\n";

typedef enum {
    CONFIG_T_KAFKA,     /* object of librdkafka properties, merged over the default */
    CONFIG_T_STRING,    /* non-empty string -> char * */
    CONFIG_T_STRLIST,   /* non-empty list of non-empty strings -> char ** + count */
    CONFIG_T_ENUM,      /* one of enums -> its index */
    CONFIG_T_CHAR,      /* one byte; "\\t" accepted for tab */
    CONFIG_T_BOOL,
    CONFIG_T_TIMEFMT,   /* auto | epoch_s | epoch_ms | strftime pattern */
    CONFIG_T_DURATION,  /* "250ms".."7d" or integer ms -> int64_t ms */
    CONFIG_T_INT,
    CONFIG_T_RULES,
} config_type_t;

typedef struct config_prop {
    const char *path;          /* dotted key path, as -X and the docs name it */
    config_type_t type;
    const char *dflt;          /* default as JSON text; NULL = unset */
    int64_t min, max;          /* CONFIG_T_INT and CONFIG_T_DURATION bounds */
    const char *const *enums;  /* CONFIG_T_ENUM, NULL-terminated */
    const char *(*check)(const json_t *v); /* extra rule: NULL or "expected ..." */
    size_t offset, size;       /* destination in jd_config_t */
    size_t count_offset;       /* CONFIG_T_STRLIST: where the length goes */
    const char *desc;
} config_prop_t;

static const char *config_check_header(const json_t *v)
{
    return json_is_true(v) ? NULL
        : "expected true (only CSV input with a header row is supported)";
}

#define CONFIG_AT(m) .offset = offsetof(jd_config_t, m), .size = sizeof(((jd_config_t *)0)->m)
#define CONFIG_AT_ELEM(m, i) \
    .offset = offsetof(jd_config_t, m) + (i) * sizeof(char *), .size = sizeof(char *)
#define CONFIG_FIELD(i, n) \
    { .path = "fields." n, .type = CONFIG_T_STRING, .dflt = "\"" n "\"", CONFIG_AT_ELEM(fields, i), \
      .desc = "Where `" n "` is read from: a top-level key, a JSON Pointer (`/a/b`) or a CSV column" }
#define CONFIG_DEFAULT(i, n, d) \
    { .path = "defaults." n, .type = CONFIG_T_STRING, .dflt = d, CONFIG_AT_ELEM(defaults, i), \
      .desc = "Constant `" n "` for events that lack one" }

/* In section 1a order: the effective config and the docs follow this order. */
static const config_prop_t config_props[] = {
    { .path = "kafka", .type = CONFIG_T_KAFKA,
      .dflt = "{\"bootstrap.servers\": \"127.0.0.1:9092\", \"group.id\": \"journeyd\"}",
      CONFIG_AT(kafka),
      .desc = "librdkafka properties, passed as is (numbers and booleans become strings); "
              "`-X kafka.<property>=value`" },
    { .path = "input.topics", .type = CONFIG_T_STRLIST, .dflt = "[\"cx.events\"]",
      CONFIG_AT(topics), .count_offset = offsetof(jd_config_t, ntopics),
      .desc = "Topics consumed by `run`; `-X` takes a comma-separated list" },
    { .path = "input.format", .type = CONFIG_T_ENUM, .dflt = "\"ndjson\"",
      .enums = config_format_names, CONFIG_AT(input_csv),
      .desc = "One JSON object per message or line, or CSV records" },
    { .path = "input.csv.delimiter", .type = CONFIG_T_CHAR, .dflt = "\",\"",
      CONFIG_AT(csv_delimiter),
      .desc = "CSV field delimiter, one character (`\\t` for tab)" },
    { .path = "input.csv.header", .type = CONFIG_T_BOOL, .dflt = "true",
      .check = config_check_header, CONFIG_AT(csv_header),
      .desc = "The first CSV record names the columns (only `true` is supported)" },
    { .path = "input.keyed_by", .type = CONFIG_T_ENUM, .dflt = "\"customer\"",
      .enums = config_keyed_by_names, CONFIG_AT(keyed_by),
      .desc = "`run`: how the input is keyed: `customer` (one customer's events, anonymous ones "
              "included, share a partition) or `any` (anonymous events keyed by device)" },
    { .path = "output.alerts_topic", .type = CONFIG_T_STRING, .dflt = "\"cx.alerts\"",
      CONFIG_AT(alerts_topic), .desc = "Topic `run` writes alerts to" },
    { .path = "output.dead_letter_topic", .type = CONFIG_T_STRING, .dflt = "\"cx.events.dlq\"",
      CONFIG_AT(dead_letter_topic), .desc = "Topic `run` writes dead letters to" },
    CONFIG_FIELD(JD_FIELD_TS, "ts"),
    CONFIG_FIELD(JD_FIELD_CUSTOMER_ID, "customer_id"),
    CONFIG_FIELD(JD_FIELD_ANONYMOUS_ID, "anonymous_id"),
    CONFIG_FIELD(JD_FIELD_TYPE, "type"),
    CONFIG_FIELD(JD_FIELD_CHANNEL, "channel"),
    CONFIG_FIELD(JD_FIELD_EVENT_ID, "event_id"),
    CONFIG_FIELD(JD_FIELD_SESSION_ID, "session_id"),
    CONFIG_FIELD(JD_FIELD_PAGE, "page"),
    CONFIG_FIELD(JD_FIELD_ELEMENT, "element"),
    CONFIG_DEFAULT(JD_FIELD_TS, "ts", NULL),
    CONFIG_DEFAULT(JD_FIELD_CUSTOMER_ID, "customer_id", NULL),
    CONFIG_DEFAULT(JD_FIELD_ANONYMOUS_ID, "anonymous_id", NULL),
    CONFIG_DEFAULT(JD_FIELD_TYPE, "type", NULL),
    CONFIG_DEFAULT(JD_FIELD_CHANNEL, "channel", "\"unknown\""),
    CONFIG_DEFAULT(JD_FIELD_EVENT_ID, "event_id", NULL),
    CONFIG_DEFAULT(JD_FIELD_SESSION_ID, "session_id", NULL),
    CONFIG_DEFAULT(JD_FIELD_PAGE, "page", NULL),
    CONFIG_DEFAULT(JD_FIELD_ELEMENT, "element", NULL),
    { .path = "time.format", .type = CONFIG_T_TIMEFMT, .dflt = "\"auto\"",
      CONFIG_AT(time_format),
      .desc = "How `ts` is read: `auto` (RFC 3339 or epoch ms), `epoch_s`, `epoch_ms`, "
              "or a strftime pattern such as `%Y-%m-%d %H:%M:%S UTC`" },
    { .path = "time.lateness", .type = CONFIG_T_DURATION, .dflt = "\"5s\"",
      .min = 0, .max = INT64_MAX, CONFIG_AT(lateness_ms),
      .desc = "How far out of order events may arrive; older ones are `late` dead letters" },
    { .path = "time.idle_advance", .type = CONFIG_T_DURATION, .dflt = "\"30s\"",
      .min = 0, .max = INT64_MAX, CONFIG_AT(idle_advance_ms),
      .desc = "`run`: after this long without input, a partition's watermark follows the wall clock" },
    { .path = "time.max_future", .type = CONFIG_T_DURATION, .dflt = "\"1h\"",
      .min = 0, .max = INT64_MAX, CONFIG_AT(max_future_ms),
      .desc = "Events dated more than this ahead of the wall clock are `future_ts` dead letters" },
    { .path = "time.max_buffered", .type = CONFIG_T_INT, .dflt = "1000000",
      .min = 1, .max = INT64_MAX, CONFIG_AT(max_buffered),
      .desc = "Events waiting for the watermark per engine; beyond it the watermark is forced forward (counted)" },
    { .path = "journey.retention", .type = CONFIG_T_DURATION, .dflt = "\"7d\"",
      .min = 1, .max = INT64_MAX, CONFIG_AT(retention_ms),
      .desc = "How long a journey and its identity links outlive its last event (event time)" },
    { .path = "journey.history", .type = CONFIG_T_INT, .dflt = "16",
      .min = 1, .max = 1024, CONFIG_AT(history),
      .desc = "Events kept per customer" },
    { .path = "journey.alert_context", .type = CONFIG_T_INT, .dflt = "10",
      .min = 0, .max = 1024, CONFIG_AT(alert_context),
      .desc = "Most recent events listed in an alert's `journey` (at most `journey.history`)" },
    { .path = "journey.max_customers", .type = CONFIG_T_INT, .dflt = "1000000",
      .min = 1, .max = INT64_MAX, CONFIG_AT(max_customers),
      .desc = "Journeys kept in memory; beyond it the least recently active is evicted" },
    { .path = "journey.max_groups", .type = CONFIG_T_INT, .dflt = "4096",
      .min = 1, .max = INT64_MAX, CONFIG_AT(max_groups),
      .desc = "Live groups (burst), first occurrences (sequence), open windows (absence) or partial "
              "matches (pattern) per customer per rule; beyond it the least recently active is "
              "dropped (`groups_evicted`)" },
    { .path = "journey.dedupe_ids", .type = CONFIG_T_INT, .dflt = "1024",
      .min = 0, .max = 1048576, CONFIG_AT(dedupe_ids),
      .desc = "Recent event ids remembered per customer for de-duplication, whatever `journey.history` is" },
    { .path = "processing.guarantee", .type = CONFIG_T_ENUM, .dflt = "\"at_least_once\"",
      .enums = config_guarantee_names, CONFIG_AT(guarantee),
      .desc = "`run`: `at_least_once` commits after alerts are acknowledged; "
              "`exactly_once` (Kafka transactions) is not supported yet and is refused at start" },
    { .path = "processing.threads", .type = CONFIG_T_INT, .dflt = "1",
      .min = 1, .max = 64, CONFIG_AT(threads),
      .desc = "`replay`: worker threads, half decoding NDJSON (rounded up), half evaluating with customers sharded by identity (rounded down); alerts and counters are identical for any count. `run` uses one engine thread" },
    { .path = "processing.commit_interval", .type = CONFIG_T_DURATION, .dflt = "\"1s\"",
      .min = 1, .max = INT64_MAX, CONFIG_AT(commit_interval_ms),
      .desc = "`run`: how often input offsets are committed" },
    { .path = "http.listen", .type = CONFIG_T_STRING, .dflt = "\"127.0.0.1:9646\"",
      CONFIG_AT(http_listen),
      .desc = "`run`: address of `/metrics`, `/healthz` and `/readyz` (`host:port`), or `off`" },
    { .path = "log.format", .type = CONFIG_T_ENUM, .dflt = "\"text\"",
      .enums = config_log_format_names, CONFIG_AT(log_format),
      .desc = "Log lines on stderr: `text` or `json` (one object per line)" },
    { .path = "log.level", .type = CONFIG_T_ENUM, .dflt = "\"info\"",
      .enums = config_log_level_names, CONFIG_AT(log_level),
      .desc = "Least severe level logged: `error`, `warn`, `info` or `debug`" },
    { .path = "rules", .type = CONFIG_T_RULES, .dflt = config_default_rules,
      .desc = "Detection rules (`burst`, `funnel`, `sequence`); not settable with `-X`" },
};

#define CONFIG_NPROPS (sizeof(config_props) / sizeof(config_props[0]))
#define CONFIG_MAX_DEPTH 16
#define CONFIG_MAX_FILE (16u << 20)
#define CONFIG_BUILTIN "(built-in defaults)"

/* Error flags for config_fail. */
#define CONFIG_AT_KEY 1u   /* point at the key token rather than its value */
#define CONFIG_NO_PATH 2u  /* the message names the key path itself */

/* One step of a key path: an object key, or an array index when key is NULL. */
typedef struct config_comp {
    const char *key;
    size_t idx;
} config_comp_t;

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
    const char *xargs[CONFIG_NPROPS]; /* last -X that set each key */
    json_t *xvals[CONFIG_NPROPS];     /* its value, converted to JSON */
    unsigned char in_file[CONFIG_NPROPS];
} config_ctx_t;

/* ---- key paths and positions ------------------------------------------ */

static void config_push(config_ctx_t *ctx, const char *key, size_t idx)
{
    if (ctx->depth < CONFIG_MAX_DEPTH) {
        ctx->path[ctx->depth].key = key;
        ctx->path[ctx->depth].idx = idx;
    }
    ctx->depth++;
}

static void config_pop(config_ctx_t *ctx)
{
    ctx->depth--;
}

static int config_depth(const config_ctx_t *ctx)
{
    return ctx->depth < CONFIG_MAX_DEPTH ? ctx->depth : CONFIG_MAX_DEPTH;
}

/* "rules[2].match.type" */
static void config_path_str(const config_ctx_t *ctx, char *buf, size_t bufsz)
{
    size_t off = 0;
    buf[0] = '\0';
    for (int i = 0; i < config_depth(ctx) && off < bufsz; i++) {
        const config_comp_t *c = &ctx->path[i];
        int n = c->key ? snprintf(buf + off, bufsz - off, "%s%s", i ? "." : "", c->key)
                       : snprintf(buf + off, bufsz - off, "[%zu]", c->idx);
        if (n < 0)
            break;
        off += (size_t)n;
    }
}

static const char *config_skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* p at the opening quote; returns the position after the closing one. */
static const char *config_skip_string(const char *p, const char *end)
{
    for (p++; p < end && *p != '"'; p++)
        if (*p == '\\')
            p++;
    return p < end ? p + 1 : end;
}

static const char *config_skip_value(const char *p, const char *end)
{
    int depth = 0;
    while (p < end) {
        if (*p == '"') {
            p = config_skip_string(p, end);
            if (!depth)
                return p;
            continue;
        }
        if (*p == '{' || *p == '[') {
            depth++;
        } else if (*p == '}' || *p == ']') {
            if (!depth)
                return p;
            if (--depth == 0)
                return p + 1;
        } else if (!depth && (*p == ',' || *p == ' ' || *p == '\t' ||
                              *p == '\n' || *p == '\r')) {
            return p;
        }
        p++;
    }
    return p;
}

/* Compares the raw JSON string body [p, q) with key. Only the escapes a
 * config key plausibly uses are decoded; anything else simply mismatches. */
static int config_key_eq(const char *p, const char *q, const char *key)
{
    while (p < q) {
        char c = *p++;
        if (c == '\\' && p < q) {
            char e = *p++;
            c = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e == 'b' ? '\b'
              : e == 'f' ? '\f' : e;
            if (e == 'u')
                return 0;
        }
        if (*key++ != c)
            return 0;
    }
    return *key == '\0';
}

/* Finds the value (or, with at_key, the key token) at ctx->path in
 * ctx->text. The text is known to be valid JSON, jansson having parsed it. */
static const char *config_locate(const config_ctx_t *ctx, int at_key)
{
    const char *p = ctx->text, *end = ctx->text + ctx->textlen, *keypos = NULL;
    p = config_skip_ws(p, end);
    for (int i = ctx->skip; i < config_depth(ctx); i++) {
        const config_comp_t *c = &ctx->path[i];
        int found = 0;
        if (c->key) {
            if (p >= end || *p != '{')
                return NULL;
            p = config_skip_ws(p + 1, end);
            while (!found && p < end && *p == '"') {
                const char *k = p;
                p = config_skip_string(p, end);
                found = config_key_eq(k + 1, p - 1, c->key);
                p = config_skip_ws(p, end);
                if (p >= end || *p != ':')
                    return NULL;
                p = config_skip_ws(p + 1, end);
                if (found) {
                    keypos = k;
                } else {
                    p = config_skip_ws(config_skip_value(p, end), end);
                    if (p < end && *p == ',')
                        p = config_skip_ws(p + 1, end);
                }
            }
        } else {
            if (p >= end || *p != '[')
                return NULL;
            p = config_skip_ws(p + 1, end);
            for (size_t n = 0; n < c->idx && p < end && *p != ']'; n++) {
                p = config_skip_ws(config_skip_value(p, end), end);
                if (p < end && *p == ',')
                    p = config_skip_ws(p + 1, end);
            }
            found = p < end && *p != ']';
            keypos = p;
        }
        if (!found)
            return NULL;
    }
    return at_key && keypos ? keypos : p;
}

/* Line and column (in characters, as jansson counts them), both 1-based. */
static void config_line_col(const char *text, const char *pos, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (const char *p = text; p < pos; p++) {
        if (*p == '\n') {
            (*line)++;
            *col = 1;
        } else if (((unsigned char)*p & 0xC0) != 0x80) {
            (*col)++;
        }
    }
}

/* Reports a bad value at the current path:
 *   "FILE:LINE:COL: PATH: MESSAGE, got GOT"   (value from a file)
 *   "-X ARG: MESSAGE"                         (value from -X)
 * Always returns -1. */
static int config_fail(const config_ctx_t *ctx, unsigned flags, const json_t *got,
                       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int config_fail(const config_ctx_t *ctx, unsigned flags, const json_t *got,
                       const char *fmt, ...)
{
    char where[300] = "", path[200] = "", msg[400], gotbuf[96] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    if (ctx->xarg) {
        snprintf(where, sizeof(where), "-X %s: ", ctx->xarg);
    } else {
        const char *pos = ctx->text ? config_locate(ctx, (flags & CONFIG_AT_KEY) != 0) : NULL;
        if (pos) {
            int line, col;
            config_line_col(ctx->text, pos, &line, &col);
            snprintf(where, sizeof(where), "%s:%d:%d: ", ctx->file, line, col);
        } else if (ctx->file) {
            snprintf(where, sizeof(where), "%s: ", ctx->file);
        }
        if (!(flags & CONFIG_NO_PATH) && ctx->depth > 0) {
            config_path_str(ctx, path, sizeof(path) - 2);
            strcat(path, ": ");
        }
        if (got) {
            char *s = json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT);
            if (s && strlen(s) > 60)
                strcpy(s + 57, "...");
            snprintf(gotbuf, sizeof(gotbuf), ", got %s", s ? s : "?");
            free(s);
        }
    }
    return jd_err_set(ctx->err, "%s%s%s%s", where, path, msg, gotbuf);
}

static int config_oom(const config_ctx_t *ctx)
{
    return jd_err_set(ctx->err, "out of memory while loading the configuration");
}

/* ---- the key table ------------------------------------------------------ */

/* 1 if path names a key of the table, 2 if a section above keys, else 0. */
static int config_classify(const char *path)
{
    size_t len = strlen(path);
    int kind = 0;
    for (size_t i = 0; i < CONFIG_NPROPS && kind != 1; i++) {
        const char *p = config_props[i].path;
        if (strcmp(p, path) == 0)
            kind = 1;
        else if (strncmp(p, path, len) == 0 && p[len] == '.')
            kind = 2;
    }
    return kind;
}

static int config_prop_index(const char *path)
{
    for (size_t i = 0; i < CONFIG_NPROPS; i++)
        if (strcmp(config_props[i].path, path) == 0)
            return (int)i;
    return -1;
}

/* The keys one level below prefix ("" = top level), comma-separated. With
 * dotted, each is written as -X spells it ("time.lateness", "input.csv.*"). */
static void config_level_keys(const char *prefix, int dotted, char *buf, size_t bufsz)
{
    size_t plen = strlen(prefix), off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < CONFIG_NPROPS; i++) {
        const config_prop_t *prop = &config_props[i];
        const char *p = prop->path;
        if (plen && (strncmp(p, prefix, plen) != 0 || p[plen] != '.'))
            continue;
        if (dotted && prop->type == CONFIG_T_RULES)
            continue;
        const char *name = plen ? p + plen + 1 : p;
        size_t nlen = strcspn(name, ".");
        int dup = 0;
        for (size_t j = 0; j < i && !dup; j++) {
            const char *q = config_props[j].path;
            if (plen && (strncmp(q, prefix, plen) != 0 || q[plen] != '.'))
                continue;
            const char *qn = plen ? q + plen + 1 : q;
            dup = strncmp(qn, name, nlen) == 0 && (qn[nlen] == '.' || qn[nlen] == '\0');
        }
        if (dup)
            continue;
        int n;
        if (!dotted)
            n = snprintf(buf + off, bufsz - off, "%s%.*s", off ? ", " : "", (int)nlen, name);
        else if (prop->type == CONFIG_T_KAFKA)
            n = snprintf(buf + off, bufsz - off, "%skafka.<property>", off ? ", " : "");
        else
            n = snprintf(buf + off, bufsz - off, "%s%s%s%.*s%s", off ? ", " : "",
                         prefix, plen ? "." : "", (int)nlen, name, name[nlen] ? ".*" : "");
        if (n < 0 || (size_t)n >= bufsz - off)
            break;
        off += (size_t)n;
    }
}

/* Unknown keys are errors: walk the document's sections against the table. */
static int config_check_keys(config_ctx_t *ctx, const json_t *obj, const char *prefix)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        char full[256], path[200], valid[400];
        int rc = 0;
        snprintf(full, sizeof(full), "%s%s%s", prefix, *prefix ? "." : "", key);
        config_push(ctx, key, 0);
        int kind = strlen(key) < 100 && !strchr(key, '.') ? config_classify(full) : 0;
        if (kind == 0) {
            config_path_str(ctx, path, sizeof(path));
            config_level_keys(prefix, 0, valid, sizeof(valid));
            rc = config_fail(ctx, CONFIG_AT_KEY | CONFIG_NO_PATH, NULL,
                             "unknown key \"%s\" (expected one of: %s)", path, valid);
        } else if (kind == 2) {
            rc = json_is_object(v) ? config_check_keys(ctx, v, full)
                                   : config_fail(ctx, 0, v, "expected an object");
        } else {
            ctx->in_file[config_prop_index(full)] = 1;
        }
        config_pop(ctx);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Sets ctx->path to the steps of a table path; buf holds their text. */
static void config_set_path(config_ctx_t *ctx, const char *path, char *buf, size_t bufsz)
{
    snprintf(buf, bufsz, "%s", path);
    ctx->depth = 0;
    for (char *p = buf; p; ) {
        char *dot = strchr(p, '.');
        if (dot)
            *dot = '\0';
        config_push(ctx, p, 0);
        p = dot ? dot + 1 : NULL;
    }
}

/* The value at ctx->path in root (objects only), borrowed, or NULL. */
static json_t *config_lookup(json_t *root, const config_ctx_t *ctx)
{
    json_t *v = root;
    for (int i = 0; i < config_depth(ctx) && v; i++)
        v = json_is_object(v) ? json_object_get(v, ctx->path[i].key) : NULL;
    return v;
}

/* Stores v (stolen) at ctx->path in obj, creating sections in order. */
static int config_put(json_t *obj, const config_ctx_t *ctx, json_t *v)
{
    for (int i = 0; i + 1 < config_depth(ctx) && obj; i++) {
        json_t *sub = json_object_get(obj, ctx->path[i].key);
        if (!sub) {
            sub = json_object();
            if (json_object_set_new(obj, ctx->path[i].key, sub) != 0)
                sub = NULL;
        }
        obj = sub;
    }
    if (!obj) {
        json_decref(v);
        return -1;
    }
    return json_object_set_new(obj, ctx->path[config_depth(ctx) - 1].key, v);
}

/* ---- typed values ------------------------------------------------------- */

static void config_store_int(void *dst, size_t size, int64_t v)
{
    if (size == 1) {
        char c = (char)v;
        memcpy(dst, &c, 1);
    } else if (size == sizeof(int32_t)) {
        int32_t x = (int32_t)v;
        memcpy(dst, &x, sizeof(x));
    } else {
        memcpy(dst, &v, sizeof(v));
    }
}

/* A JSON scalar as match and kafka values see it; NULL for other types.
 * Caller frees. */
static char *config_scalar_dup(const json_t *v)
{
    size_t sz = json_is_string(v) ? json_string_length(v) + 1 : 64;
    char *buf = malloc(sz);
    if (buf && jd_json_scalar_str(v, buf, sz) < 0) {
        free(buf);
        buf = NULL;
    }
    return buf;
}

static void config_enum_list(const char *const *names, char *buf, size_t bufsz)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; names[i]; i++) {
        int n = snprintf(buf + off, bufsz - off, "%s%s", i ? ", " : "", names[i]);
        if (n < 0 || (size_t)n >= bufsz - off)
            break;
        off += (size_t)n;
    }
}

static int config_enum(const config_ctx_t *ctx, const json_t *v, const char *const *names, int *out)
{
    char list[200];
    for (int i = 0; json_is_string(v) && names[i]; i++) {
        if (strcmp(json_string_value(v), names[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    config_enum_list(names, list, sizeof(list));
    return config_fail(ctx, 0, v, "expected one of: %s", list);
}

static int config_duration(const config_ctx_t *ctx, const json_t *v, int64_t min, int64_t *out)
{
    int64_t ms = -1;
    if (json_is_string(v)) {
        if (jd_duration_parse(json_string_value(v), &ms) != 0)
            ms = -1;
    } else if (json_is_integer(v)) {
        ms = json_integer_value(v);
    }
    if (ms < min || ms < 0)
        return config_fail(ctx, 0, v, "expected a %sduration (250ms, 15s, 10m, 24h, 7d or integer ms)",
                           min > 0 ? "positive " : "");
    *out = ms;
    return 0;
}

static int config_int(const config_ctx_t *ctx, const json_t *v, int64_t min, int64_t max, int64_t *out)
{
    if (json_is_integer(v) && json_integer_value(v) >= min && json_integer_value(v) <= max) {
        *out = json_integer_value(v);
        return 0;
    }
    if (max == INT64_MAX || max == UINT32_MAX)
        return config_fail(ctx, 0, v, "expected a %s integer", min > 0 ? "positive" : "non-negative");
    return config_fail(ctx, 0, v, "expected an integer in %" PRId64 "..%" PRId64, min, max);
}

static int config_strlist(const config_ctx_t *ctx, const json_t *v, char ***out, size_t *nout)
{
    size_t n = json_array_size(v);
    int ok = json_is_array(v) && n > 0;
    for (size_t i = 0; ok && i < n; i++) {
        const json_t *s = json_array_get(v, i);
        ok = json_is_string(s) && json_string_length(s) > 0;
    }
    if (!ok)
        return config_fail(ctx, 0, v, "expected a non-empty list of non-empty strings");
    char **list = calloc(n, sizeof(*list));
    if (!list)
        return config_oom(ctx);
    for (size_t i = 0; i < *nout; i++)
        free((*out)[i]);
    free(*out);
    *out = list;
    *nout = n;
    for (size_t i = 0; i < n; i++)
        if (!(list[i] = strdup(json_string_value(json_array_get(v, i)))))
            return config_oom(ctx);
    return 0;
}

/* Checks v against prop and stores it in the config; *norm receives the
 * value for the effective config (new reference). */
static int config_set(config_ctx_t *ctx, const config_prop_t *prop, json_t *v, json_t **norm)
{
    jd_config_t *conf = ctx->conf;
    void *dst = (char *)conf + prop->offset;
    const char *why = NULL;
    int64_t n = 0;
    int idx = 0;
    *norm = NULL;
    switch (prop->type) {
    case CONFIG_T_STRING: {
        char **sp = dst;
        if (!json_is_string(v) || json_string_length(v) == 0 ||
            strlen(json_string_value(v)) != json_string_length(v))
            return config_fail(ctx, 0, v, "expected a non-empty string");
        free(*sp);
        if (!(*sp = strdup(json_string_value(v))))
            return config_oom(ctx);
        break;
    }
    case CONFIG_T_STRLIST:
        if (config_strlist(ctx, v, dst, (size_t *)(void *)((char *)conf + prop->count_offset)) != 0)
            return -1;
        break;
    case CONFIG_T_ENUM:
        if (config_enum(ctx, v, prop->enums, &idx) != 0)
            return -1;
        config_store_int(dst, prop->size, idx);
        break;
    case CONFIG_T_CHAR: {
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        char c = len == 1 ? s[0] : (len == 2 && s[0] == '\\' && s[1] == 't') ? '\t' : '\0';
        if (!json_is_string(v) || c == '\0' || c == '"' || c == '\n' || c == '\r')
            return config_fail(ctx, 0, v, "expected a single character (\"\\\\t\" for tab)");
        config_store_int(dst, prop->size, c);
        /* Normalised so the dump shows the tab itself, not "\\t". */
        if (!(*norm = json_stringn(&c, 1)))
            return config_oom(ctx);
        break;
    }
    case CONFIG_T_BOOL:
        if (!json_is_boolean(v))
            return config_fail(ctx, 0, v, "expected true or false");
        config_store_int(dst, prop->size, json_is_true(v));
        break;
    case CONFIG_T_TIMEFMT: {
        jd_time_format_t *tf = dst;
        const char *s = json_string_value(v);
        static const char *const kinds[] = { "auto", "epoch_s", "epoch_ms", NULL };
        int k = -1;
        for (int i = 0; s && kinds[i]; i++)
            if (strcmp(s, kinds[i]) == 0)
                k = i;
        if (!s || (k < 0 && !strchr(s, '%')))
            return config_fail(ctx, 0, v, "expected auto, epoch_s, epoch_ms or a strftime "
                                          "pattern containing '%%'");
        free((char *)tf->pattern);
        tf->pattern = NULL;
        tf->kind = k == 0 ? JD_TIME_AUTO : k == 1 ? JD_TIME_EPOCH_S
                 : k == 2 ? JD_TIME_EPOCH_MS : JD_TIME_STRFTIME;
        if (k < 0 && !(tf->pattern = strdup(s)))
            return config_oom(ctx);
        break;
    }
    case CONFIG_T_DURATION:
        if (config_duration(ctx, v, prop->min, &n) != 0)
            return -1;
        config_store_int(dst, prop->size, n);
        break;
    case CONFIG_T_INT:
        if (config_int(ctx, v, prop->min, prop->max, &n) != 0)
            return -1;
        config_store_int(dst, prop->size, n);
        break;
    case CONFIG_T_KAFKA:
    case CONFIG_T_RULES:
        return config_fail(ctx, 0, NULL, "internal error: %s has its own loader", prop->path);
    }
    if (prop->check && (why = prop->check(v))) {
        json_decref(*norm);
        *norm = NULL;
        return config_fail(ctx, 0, v, "%s", why);
    }
    if (!*norm)
        *norm = json_incref(v);
    return 0;
}

/* -X values arrive as text; turn them into the JSON a file would hold so
 * that one validator serves both. */
static json_t *config_x_value(const config_prop_t *prop, const char *s)
{
    json_t *v = NULL;
    if (prop->type == CONFIG_T_STRLIST) {
        v = json_array();
        for (const char *p = s; v && p; ) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            if (json_array_append_new(v, json_stringn(p, len)) != 0) {
                json_decref(v);
                v = NULL;
            }
            p = comma ? comma + 1 : NULL;
        }
    } else if (prop->type == CONFIG_T_BOOL && (!strcmp(s, "true") || !strcmp(s, "false"))) {
        v = json_boolean(!strcmp(s, "true"));
    } else if (prop->type == CONFIG_T_INT && *s) {
        char *end;
        errno = 0;
        long long n = strtoll(s, &end, 10);
        v = *end || errno ? json_string(s) : json_integer(n);
    } else {
        v = json_string(s);
    }
    return v;
}

static int config_is_rules_key(const char *key, size_t len)
{
    return len >= 5 && strncmp(key, "rules", 5) == 0 &&
           (len == 5 || key[5] == '.' || key[5] == '[');
}

/* Validates the form of every -X and converts table keys; kafka.* ones are
 * applied later, in order, on top of the file's kafka object. */
static int config_parse_overrides(config_ctx_t *ctx, const char *const *ov, size_t nov)
{
    for (size_t i = 0; i < nov; i++) {
        const char *eq = strchr(ov[i], '=');
        char key[256], valid[400];
        size_t klen = eq ? (size_t)(eq - ov[i]) : 0;
        ctx->xarg = ov[i];
        if (!eq || klen == 0 || klen >= sizeof(key))
            return config_fail(ctx, 0, NULL, "expected key=value (for example time.lateness=2s)");
        memcpy(key, ov[i], klen);
        key[klen] = '\0';
        if (strncmp(key, "kafka", 5) == 0 && (key[5] == '\0' || key[5] == '.')) {
            if (klen <= 6)
                return config_fail(ctx, 0, NULL, "expected kafka.<librdkafka property>=value");
            continue;
        }
        if (config_is_rules_key(key, klen))
            return config_fail(ctx, 0, NULL, "rules cannot be changed with -X; edit the config file");
        int p = config_prop_index(key);
        if (p < 0) {
            /* List what exists at the deepest level the user got right. */
            char prefix[256];
            snprintf(prefix, sizeof(prefix), "%s", key);
            char *dot;
            while (config_classify(prefix) != 2 && (dot = strrchr(prefix, '.')))
                *dot = '\0';
            if (config_classify(prefix) != 2)
                prefix[0] = '\0';
            config_level_keys(prefix, 1, valid, sizeof(valid));
            return config_fail(ctx, 0, NULL, "unknown key \"%s\" (expected one of: %s)", key, valid);
        }
        json_decref(ctx->xvals[p]);
        ctx->xvals[p] = config_x_value(&config_props[p], eq + 1);
        ctx->xargs[p] = ov[i];
        if (!ctx->xvals[p])
            return config_oom(ctx);
    }
    ctx->xarg = NULL;
    return 0;
}

/* ---- kafka -------------------------------------------------------------- */

/* Sets one librdkafka property, checked by librdkafka itself so a typo fails
 * at load time rather than when the client is created. */
static int config_kafka_set(config_ctx_t *ctx, rd_kafka_conf_t *rk, const char *name,
                            const json_t *v)
{
    char errstr[256];
    char *s = config_scalar_dup(v);
    int rc = -1;
    if (!*name)
        rc = config_fail(ctx, CONFIG_AT_KEY, NULL, "expected a librdkafka property name");
    else if (!s)
        rc = config_fail(ctx, 0, v, "expected a string, number or boolean");
    else if (rd_kafka_conf_set(rk, name, s, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
        rc = config_fail(ctx, 0, NULL, "%s", errstr);
    else if (json_object_set_new(ctx->conf->kafka, name, json_string(s)) != 0)
        rc = config_oom(ctx);
    else
        rc = 0;
    free(s);
    return rc;
}

static int config_apply_kafka(config_ctx_t *ctx, const config_prop_t *prop, json_t *root,
                              const char *const *ov, size_t nov)
{
    jd_config_t *conf = ctx->conf;
    rd_kafka_conf_t *rk = rd_kafka_conf_new();
    json_t *dflt = json_loads(prop->dflt, 0, NULL);
    json_t *file = config_lookup(root, ctx);
    const char *file_name = ctx->file, *text = ctx->text, *key;
    json_t *v;
    int rc = -1;

    conf->kafka = json_object();
    if (!rk || !dflt || !conf->kafka) {
        config_oom(ctx);
        goto out;
    }
    ctx->file = CONFIG_BUILTIN;
    ctx->text = NULL;
    json_object_foreach(dflt, key, v)
        if (config_kafka_set(ctx, rk, key, v) != 0)
            goto out;
    ctx->file = file_name;
    ctx->text = text;
    if (file && !json_is_object(file)) {
        config_fail(ctx, 0, file, "expected an object of librdkafka properties");
        goto out;
    }
    json_object_foreach(file, key, v) {
        config_push(ctx, key, 0);
        int failed = config_kafka_set(ctx, rk, key, v) != 0;
        config_pop(ctx);
        if (failed)
            goto out;
    }
    for (size_t i = 0; i < nov; i++) {
        const char *eq = strchr(ov[i], '=');
        if (strncmp(ov[i], "kafka.", 6) != 0 || !eq)
            continue;
        char name[256];
        snprintf(name, sizeof(name), "%.*s", (int)(eq - ov[i] - 6), ov[i] + 6);
        json_t *s = json_string(eq + 1);
        ctx->xarg = ov[i];
        int failed = !s ? config_oom(ctx) : config_kafka_set(ctx, rk, name, s);
        json_decref(s);
        ctx->xarg = NULL;
        if (failed)
            goto out;
    }
    rc = json_object_set_new(conf->effective, "kafka", json_deep_copy(conf->kafka)) == 0
         ? 0 : config_oom(ctx);
out:
    ctx->file = file_name;
    ctx->text = text;
    json_decref(dflt);
    if (rk)
        rd_kafka_conf_destroy(rk);
    return rc;
}

/* ---- table keys ---------------------------------------------------------- */

/* Each key from -X, else the file, else its default, in table order. */
static int config_apply_props(config_ctx_t *ctx, json_t *root, const char *const *ov, size_t nov)
{
    const char *file_name = ctx->file, *text = ctx->text;
    for (size_t i = 0; i < CONFIG_NPROPS; i++) {
        const config_prop_t *prop = &config_props[i];
        char buf[128];
        json_t *v = NULL, *norm = NULL;
        int rc = 0;
        if (prop->type == CONFIG_T_RULES)
            continue;
        config_set_path(ctx, prop->path, buf, sizeof(buf));
        if (prop->type == CONFIG_T_KAFKA) {
            rc = config_apply_kafka(ctx, prop, root, ov, nov);
        } else {
            if (ctx->xvals[i]) {
                v = json_incref(ctx->xvals[i]);
                ctx->xarg = ctx->xargs[i];
            } else if ((v = config_lookup(root, ctx))) {
                json_incref(v);
            } else if (prop->dflt) {
                v = json_loads(prop->dflt, JSON_DECODE_ANY, NULL);
                ctx->file = CONFIG_BUILTIN;
                ctx->text = NULL;
                if (!v)
                    rc = config_oom(ctx);
            }
            if (v && config_set(ctx, prop, v, &norm) != 0)
                rc = -1;
            else if (v && config_put(ctx->conf->effective, ctx, norm) != 0)
                rc = config_oom(ctx);
            json_decref(v);
        }
        ctx->xarg = NULL;
        ctx->file = file_name;
        ctx->text = text;
        ctx->depth = 0;
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Checks between keys. The key a user set is the one blamed. */
static int config_check_limits(config_ctx_t *ctx)
{
    const jd_config_t *conf = ctx->conf;
    char buf[64];
    int rc = 0;
    if (conf->alert_context > conf->history) {
        int ac = config_prop_index("journey.alert_context");
        int hi = config_prop_index("journey.history");
        int blame_history = !ctx->xargs[ac] && !ctx->in_file[ac];
        int p = blame_history ? hi : ac;
        json_t *got = json_integer(blame_history ? conf->history : conf->alert_context);
        config_set_path(ctx, config_props[p].path, buf, sizeof(buf));
        ctx->xarg = ctx->xargs[p];
        rc = blame_history
            ? config_fail(ctx, 0, got, "expected at least journey.alert_context (%" PRIu32 ")",
                          conf->alert_context)
            : config_fail(ctx, 0, got, "expected at most journey.history (%" PRIu32 ")",
                          conf->history);
        json_decref(got);
        ctx->xarg = NULL;
        ctx->depth = 0;
    }
    return rc;
}

static int config_canon_slots(config_ctx_t *ctx)
{
    jd_config_t *conf = ctx->conf;
    conf->slots = calloc(JD_SLOT__CANON, sizeof(*conf->slots));
    if (!conf->slots)
        return config_oom(ctx);
    conf->nslots = JD_SLOT__CANON;
    for (int s = 0; s < JD_SLOT__CANON; s++) {
        int f = config_slot_fields[s];
        jd_slot_t *slot = &conf->slots[s];
        slot->name = jd_field_names[f];
        slot->source = conf->fields[f];
        slot->field = f;
        /* History keeps type, channel and page; the others are read only
         * when a rule names them (config_slot clears the flag). */
        slot->unused = s == JD_SLOT_SESSION || s == JD_SLOT_ELEMENT;
        if (conf->defaults[f] && !(slot->dflt = jd_intern_str(conf->intern, conf->defaults[f])))
            return config_oom(ctx);
    }
    return 0;
}

/* ---- rules -------------------------------------------------------------- */

static int config_reserved_field(const char *name)
{
    return !strcmp(name, "ts") || !strcmp(name, "customer_id") ||
           !strcmp(name, "anonymous_id") || !strcmp(name, "event_id");
}

/* Slot of a field named in a rule: canonical ones first, then extras, one
 * slot per distinct name. */
static int config_slot(config_ctx_t *ctx, const char *name, uint32_t *out)
{
    jd_config_t *conf = ctx->conf;
    for (uint32_t s = 0; s < conf->nslots; s++) {
        if (strcmp(conf->slots[s].name, name) == 0) {
            conf->slots[s].unused = 0;
            *out = s;
            return 0;
        }
    }
    const char *iname = jd_intern_str(conf->intern, name);
    jd_slot_t *slots = iname ? realloc(conf->slots, (conf->nslots + 1) * sizeof(*slots)) : NULL;
    if (!slots)
        return config_oom(ctx);
    conf->slots = slots;
    slots[conf->nslots] = (jd_slot_t){ .name = iname, .source = iname, .field = -1, .dflt = NULL };
    *out = conf->nslots++;
    return 0;
}

/* A field name in a filter or "same": at the current path (its key). */
static int config_field_name(config_ctx_t *ctx, const char *name, uint32_t *slot, unsigned flags)
{
    if (!*name)
        return config_fail(ctx, flags, NULL, "expected a field name, got an empty one");
    if (config_reserved_field(name))
        return config_fail(ctx, flags, NULL, "rules cannot use \"%s\" (they may name type, channel, "
                           "session_id, page, element or any other event field)", name);
    return config_slot(ctx, name, slot);
}

static int config_match_value(config_ctx_t *ctx, const json_t *v, const char **out)
{
    char *s = config_scalar_dup(v);
    int rc = 0;
    if (!s && (json_is_string(v) || json_is_number(v) || json_is_boolean(v)))
        rc = config_oom(ctx);
    else if (!s)
        rc = config_fail(ctx, 0, v, "expected a string, number or boolean");
    else if (!(*out = jd_intern_str(ctx->conf->intern, s)))
        rc = config_oom(ctx);
    free(s);
    return rc;
}

static int config_match_cond(config_ctx_t *ctx, const char *field, const json_t *v,
                             jd_match_cond_t *cond)
{
    int is_list = json_is_array(v);
    size_t n = is_list ? json_array_size(v) : 1;
    if (config_field_name(ctx, field, &cond->slot, CONFIG_AT_KEY) != 0)
        return -1;
    if (is_list && n == 0)
        return config_fail(ctx, 0, v, "expected a value or a non-empty list of values");
    if (!(cond->values = calloc(n, sizeof(*cond->values))))
        return config_oom(ctx);
    cond->nvalues = (uint32_t)n;
    for (size_t i = 0; i < n; i++) {
        if (is_list)
            config_push(ctx, NULL, i);
        int rc = config_match_value(ctx, is_list ? json_array_get(v, i) : v, &cond->values[i]);
        if (is_list)
            config_pop(ctx);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Compiles a filter object (at the current path) into m. */
static int config_match(config_ctx_t *ctx, const json_t *obj, jd_match_t *m)
{
    const char *field;
    const json_t *v;
    uint32_t i = 0;
    if (!json_is_object(obj))
        return config_fail(ctx, 0, obj, "expected a filter object (field: value or list of values)");
    if (!(m->conds = calloc(json_object_size(obj) + 1, sizeof(*m->conds))))
        return config_oom(ctx);
    m->nconds = (uint32_t)json_object_size(obj);
    json_object_foreach((json_t *)obj, field, v) {
        config_push(ctx, field, 0);
        int rc = config_match_cond(ctx, field, v, &m->conds[i++]);
        config_pop(ctx);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Runs fn on the value of key in obj with the path pointing at it; a
 * missing required key is reported at obj. */
typedef int (config_key_fn)(config_ctx_t *ctx, const json_t *v, jd_rule_t *r);

static int config_key(config_ctx_t *ctx, const json_t *obj, const char *key, int required,
                      config_key_fn *fn, jd_rule_t *r)
{
    const json_t *v = json_object_get(obj, key);
    if (!v)
        return required ? config_fail(ctx, 0, NULL, "missing required key \"%s\"", key) : 0;
    config_push(ctx, key, 0);
    int rc = fn(ctx, v, r);
    config_pop(ctx);
    return rc;
}

/* Unknown keys in a rule or step: what is allowed depends on where. */
static int config_only_keys(config_ctx_t *ctx, const json_t *obj, const char *const *allowed,
                            const char *what)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        int ok = 0;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(allowed[i], key) == 0;
        if (!ok) {
            char path[200], list[300];
            config_push(ctx, key, 0);
            config_path_str(ctx, path, sizeof(path));
            config_enum_list(allowed, list, sizeof(list));
            config_fail(ctx, CONFIG_AT_KEY | CONFIG_NO_PATH, NULL,
                        "unknown key \"%s\"%s (expected one of: %s)", path, what, list);
            config_pop(ctx);
            return -1;
        }
    }
    return 0;
}

static int config_rule_severity(config_ctx_t *ctx, const json_t *v, jd_rule_t *r)
{
    int sev = 0;
    if (config_enum(ctx, v, config_severity_names, &sev) != 0)
        return -1;
    r->severity = (jd_severity_t)sev;
    return 0;
}

static int config_rule_cooldown(config_ctx_t *ctx, const json_t *v, jd_rule_t *r)
{
    return config_duration(ctx, v, 0, &r->cooldown_ms);
}

static int config_rule_within(config_ctx_t *ctx, const json_t *v, jd_rule_t *r)
{
    return config_duration(ctx, v, 1, &r->within_ms);
}

static int config_rule_gap(config_ctx_t *ctx, const json_t *v, jd_rule_t *r)
{
    return config_duration(ctx, v, 1, &r->gap_ms);
}

static int config_rule_count(config_ctx_t *ctx, const json_t *v, jd_rule_t *r)
{
    int64_t n = 0;
    if (config_int(ctx, v, 1, UINT32_MAX, &n) != 0)
        return -1;
    r->count = (uint32_t)n;
    return 0;
}

static int config_rule_match(config_ctx_t *ctx, const json_t *v, jd_rule_t *r)
{
    return config_match(ctx, v, &r->match);
}

static int config_rule_same(config_ctx_t *ctx, const json_t *v, jd_rule_t *r)
{
    size_t n = json_array_size(v);
    if (!json_is_array(v) || n == 0)
        return config_fail(ctx, 0, v, "expected a non-empty list of field names");
    if (!(r->same = calloc(n, sizeof(*r->same))))
        return config_oom(ctx);
    for (size_t i = 0; i < n; i++) {
        const json_t *f = json_array_get(v, i);
        int rc = 0;
        config_push(ctx, NULL, i);
        if (!json_is_string(f))
            rc = config_fail(ctx, 0, f, "expected a field name");
        else
            rc = config_field_name(ctx, json_string_value(f), &r->same[i], 0);
        for (size_t j = 0; rc == 0 && j < i; j++)
            if (r->same[j] == r->same[i])
                rc = config_fail(ctx, 0, f, "expected each field once");
        config_pop(ctx);
        if (rc != 0)
            return rc;
        r->nsame++;
    }
    return 0;
}


static int config_step(config_ctx_t *ctx, const json_t *step, jd_rule_t *r, size_t i)
{
    static const char *const step_keys[] = { "name", "match", NULL };
    jd_funnel_step_t *st = &r->steps[i];
    const json_t *name = json_object_get(step, "name"), *match = json_object_get(step, "match");
    int depth = ctx->depth, rc = 0;
    if (!json_is_object(step)) {
        rc = config_fail(ctx, 0, step, "expected a step ({\"name\": ..., \"match\": {...}})");
    } else if (config_only_keys(ctx, step, step_keys, " in a funnel step") != 0) {
        rc = -1;
    } else if (!name || !match) {
        rc = config_fail(ctx, 0, NULL, "missing required key \"%s\"", name ? "match" : "name");
    } else {
        config_push(ctx, "name", 0);
        if (!json_is_string(name) || json_string_length(name) == 0)
            rc = config_fail(ctx, 0, name, "expected a non-empty string");
        else if (!(st->name = strdup(json_string_value(name))))
            rc = config_oom(ctx);
        for (size_t j = 0; rc == 0 && j < i; j++)
            if (strcmp(r->steps[j].name, st->name) == 0)
                rc = config_fail(ctx, 0, NULL, "duplicate step name \"%s\" (also steps[%zu])",
                                 st->name, j);
        config_pop(ctx);
    }
    if (rc == 0) {
        config_push(ctx, "match", 0);
        rc = config_match(ctx, match, &st->match);
    }
    ctx->depth = depth;
    return rc;
}

static int config_rule_steps(config_ctx_t *ctx, const json_t *v, jd_rule_t *r)
{
    size_t n = json_array_size(v);
    if (!json_is_array(v) || n < 2)
        return config_fail(ctx, 0, v, "expected a list of at least 2 steps "
                                      "({\"name\": ..., \"match\": {...}})");
    if (!(r->steps = calloc(n, sizeof(*r->steps))))
        return config_oom(ctx);
    r->nsteps = (uint32_t)n;
    for (size_t i = 0; i < n; i++) {
        config_push(ctx, NULL, i);
        int rc = config_step(ctx, json_array_get(v, i), r, i);
        config_pop(ctx);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* A rule name in {"alert": [...]}: any rule of the config but r itself. */
static int config_alert_ref(config_ctx_t *ctx, const json_t *name, const jd_rule_t *r,
                            uint32_t *out)
{
    const jd_config_t *conf = ctx->conf;
    char list[300] = "";
    size_t off = 0;
    if (!json_is_string(name))
        return config_fail(ctx, 0, name, "expected a rule name");
    for (uint32_t k = 0; k < conf->nrules; k++) {
        if (strcmp(conf->rules[k].name, json_string_value(name)) != 0)
            continue;
        if (k == r->index)
            return config_fail(ctx, 0, NULL, "a sequence cannot follow its own alerts");
        *out = k;
        return 0;
    }
    for (uint32_t k = 0; k < conf->nrules && off < sizeof(list); k++) {
        if (k == r->index)
            continue;
        int n = snprintf(list + off, sizeof(list) - off, "%s%s", off ? ", " : "",
                         conf->rules[k].name);
        off += n > 0 ? (size_t)n : 0;
    }
    return config_fail(ctx, 0, NULL, "unknown rule \"%s\" (expected one of: %s)",
                       json_string_value(name), list);
}

/* One alternative of "first": a filter, or {"alert": name or [names]}. */
static int config_first_alt(config_ctx_t *ctx, const json_t *alt, const jd_rule_t *r,
                            jd_seq_first_t *f)
{
    const json_t *names = json_object_get(alt, "alert");
    int depth = ctx->depth, rc = 0;
    if (!json_is_object(alt)) {
        rc = config_fail(ctx, 0, alt, "expected a filter object or {\"alert\": [rule names]}");
    } else if (!names) {
        rc = config_match(ctx, alt, &f->match);
    } else if (json_object_size(alt) != 1) {
        rc = config_fail(ctx, 0, NULL, "expected {\"alert\": [rule names]} alone "
                         "(to match an event field named alert, write \"/alert\")");
    } else {
        int is_list = json_is_array(names);
        size_t n = is_list ? json_array_size(names) : 1;
        f->is_alert = 1;
        config_push(ctx, "alert", 0);
        if (is_list ? n == 0 : !json_is_string(names))
            rc = config_fail(ctx, 0, names, "expected a rule name or a non-empty list of rule names");
        else if (!(f->rules = calloc(n, sizeof(*f->rules))))
            rc = config_oom(ctx);
        for (size_t i = 0; rc == 0 && i < n; i++) {
            if (is_list)
                config_push(ctx, NULL, i);
            rc = config_alert_ref(ctx, is_list ? json_array_get(names, i) : names, r,
                                  &f->rules[i]);
            if (is_list)
                config_pop(ctx);
            f->nrules += rc == 0;
        }
    }
    ctx->depth = depth;
    return rc;
}

static int config_rule_first(config_ctx_t *ctx, const json_t *v, jd_rule_t *r)
{
    int is_list = json_is_array(v);
    size_t n = is_list ? json_array_size(v) : 1;
    if (is_list ? n == 0 : !json_is_object(v))
        return config_fail(ctx, 0, v, "expected a filter object, {\"alert\": [rule names]} "
                                      "or a non-empty list of them");
    if (!(r->first = calloc(n, sizeof(*r->first))))
        return config_oom(ctx);
    r->nfirst = (uint32_t)n;
    for (size_t i = 0; i < n; i++) {
        if (is_list)
            config_push(ctx, NULL, i);
        int rc = config_first_alt(ctx, is_list ? json_array_get(v, i) : v, r, &r->first[i]);
        if (is_list)
            config_pop(ctx);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int config_rule_then(config_ctx_t *ctx, const json_t *v, jd_rule_t *r)
{
    int is_list = json_is_array(v);
    size_t n = is_list ? json_array_size(v) : 1;
    if (is_list ? n == 0 : !json_is_object(v))
        return config_fail(ctx, 0, v, "expected a filter object or a non-empty list of them");
    if (!(r->then = calloc(n, sizeof(*r->then))))
        return config_oom(ctx);
    r->nthen = (uint32_t)n;
    for (size_t i = 0; i < n; i++) {
        const json_t *alt = is_list ? json_array_get(v, i) : v;
        int depth = ctx->depth, rc = 0;
        if (is_list)
            config_push(ctx, NULL, i);
        if (json_is_object(alt) && json_object_get(alt, "alert")) {
            config_push(ctx, "alert", 0);
            rc = config_fail(ctx, CONFIG_AT_KEY, NULL, "alert references are only allowed in "
                             "\"first\" (to match an event field named alert, write \"/alert\")");
        } else {
            rc = config_match(ctx, alt, &r->then[i]);
        }
        ctx->depth = depth;
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Compiles one rule whose name pass 0 already took. */
static int config_rule(config_ctx_t *ctx, const json_t *obj, jd_rule_t *r)
{
    static const char *const keys[][10] = {
        { "name", "kind", "severity", "cooldown", "match", "same", "count", "gap", "within", NULL },
        { "name", "kind", "severity", "cooldown", "steps", "within", NULL },
        { "name", "kind", "severity", "cooldown", "first", "then", "within", NULL },
    };
    const json_t *kv = json_object_get(obj, "kind");
    char what[32];
    int kind = 0;
    if (!kv)
        return config_fail(ctx, 0, NULL, "missing required key \"kind\"");
    config_push(ctx, "kind", 0);
    int rc = config_enum(ctx, kv, config_kind_names, &kind);
    config_pop(ctx);
    if (rc != 0)
        return rc;
    r->kind = (jd_rule_kind_t)kind;
    r->severity = JD_SEV_MEDIUM;
    snprintf(what, sizeof(what), " for a %s rule", config_kind_names[kind]);
    if (config_only_keys(ctx, obj, keys[kind], what) != 0 ||
        config_key(ctx, obj, "severity", 0, config_rule_severity, r) != 0 ||
        config_key(ctx, obj, "cooldown", 0, config_rule_cooldown, r) != 0)
        return -1;
    switch (r->kind) {
    case JD_RULE_BURST: {
        int has_gap = json_object_get(obj, "gap") != NULL;
        int has_within = json_object_get(obj, "within") != NULL;
        if (config_key(ctx, obj, "match", 1, config_rule_match, r) != 0 ||
            config_key(ctx, obj, "same", 0, config_rule_same, r) != 0 ||
            config_key(ctx, obj, "count", 1, config_rule_count, r) != 0)
            return -1;
        if (has_gap == has_within)
            return config_fail(ctx, 0, NULL, "expected exactly one of \"gap\" or \"within\", got %s",
                               has_gap ? "both" : "neither");
        return config_key(ctx, obj, "gap", 0, config_rule_gap, r) != 0 ||
               config_key(ctx, obj, "within", 0, config_rule_within, r) != 0 ? -1 : 0;
    }
    case JD_RULE_FUNNEL:
        return config_key(ctx, obj, "steps", 1, config_rule_steps, r) != 0 ||
               config_key(ctx, obj, "within", 1, config_rule_within, r) != 0 ? -1 : 0;
    case JD_RULE_SEQUENCE:
        return config_key(ctx, obj, "first", 1, config_rule_first, r) != 0 ||
               config_key(ctx, obj, "then", 1, config_rule_then, r) != 0 ||
               config_key(ctx, obj, "within", 1, config_rule_within, r) != 0 ? -1 : 0;
    }
    return 0;
}

/* Pass 0: names first, so alert references may point forward. */
static int config_rule_name(config_ctx_t *ctx, const json_t *obj, uint32_t i)
{
    jd_config_t *conf = ctx->conf;
    const json_t *name = json_object_get(obj, "name");
    int depth = ctx->depth, rc = 0;
    conf->rules[i].index = i;
    if (!json_is_object(obj)) {
        rc = config_fail(ctx, 0, obj, "expected a rule object ({\"name\": ..., \"kind\": ...})");
    } else if (!name) {
        rc = config_fail(ctx, 0, NULL, "missing required key \"name\"");
    } else {
        config_push(ctx, "name", 0);
        if (!json_is_string(name) || json_string_length(name) == 0)
            rc = config_fail(ctx, 0, name, "expected a non-empty string");
        for (uint32_t j = 0; rc == 0 && j < i; j++)
            if (strcmp(conf->rules[j].name, json_string_value(name)) == 0)
                rc = config_fail(ctx, 0, NULL, "duplicate rule name \"%s\" (also rules[%" PRIu32 "])",
                                 json_string_value(name), j);
        if (rc == 0 && !(conf->rules[i].name = strdup(json_string_value(name))))
            rc = config_oom(ctx);
    }
    ctx->depth = depth;
    return rc;
}

static int config_rules(config_ctx_t *ctx, const json_t *rules)
{
    jd_config_t *conf = ctx->conf;
    size_t n = json_array_size(rules);
    if (!json_is_array(rules))
        return config_fail(ctx, 0, rules, "expected a list of rules");
    if (!(conf->rules = calloc(n + 1, sizeof(*conf->rules))))
        return config_oom(ctx);
    conf->nrules = (uint32_t)n;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n; i++) {
            const json_t *obj = json_array_get(rules, i);
            config_push(ctx, NULL, i);
            int rc = pass == 0 ? config_rule_name(ctx, obj, (uint32_t)i)
                               : config_rule(ctx, obj, &conf->rules[i]);
            config_pop(ctx);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

/* The file's rules, or the built-in ones when it has none. */
static int config_apply_rules(config_ctx_t *ctx, const config_prop_t *prop, json_t *root)
{
    const char *file_name = ctx->file, *text = ctx->text;
    size_t textlen = ctx->textlen;
    json_error_t jerr;
    char buf[16];
    int rc;
    config_set_path(ctx, prop->path, buf, sizeof(buf));
    json_t *rules = json_incref(config_lookup(root, ctx));
    if (!rules) {
        rules = json_loads(prop->dflt, JSON_REJECT_DUPLICATES, &jerr);
        ctx->file = CONFIG_BUILTIN;
        ctx->text = prop->dflt;
        ctx->textlen = strlen(prop->dflt);
        ctx->skip = 1;
    }
    if (!rules)
        rc = jd_err_set(ctx->err, "%s:%d:%d: %s", CONFIG_BUILTIN, jerr.line, jerr.column, jerr.text);
    else
        rc = config_rules(ctx, rules);
    if (rc == 0 && json_object_set(ctx->conf->effective, "rules", rules) != 0)
        rc = config_oom(ctx);
    json_decref(rules);
    ctx->file = file_name;
    ctx->text = text;
    ctx->textlen = textlen;
    ctx->skip = 0;
    ctx->depth = 0;
    return rc;
}

/* ---- load, destroy, dump ------------------------------------------------ */

static int config_read_file(const char *path, char **text, size_t *len, jd_err_t *err)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int rc = -1;
    if (!f) {
        jd_err_set(err, "cannot open %s: %s", path, strerror(errno));
        goto out;
    }
    for (;;) {
        if (n == cap) {
            char *nb = cap < CONFIG_MAX_FILE ? realloc(buf, cap ? cap * 2 : 4096) : NULL;
            if (!nb) {
                jd_err_set(err, "%s: %s", path, cap < CONFIG_MAX_FILE ? "out of memory"
                           : "larger than 16 MiB, not a configuration file");
                goto out;
            }
            buf = nb;
            cap = cap ? cap * 2 : 4096;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        jd_err_set(err, "cannot read %s: %s", path, strerror(errno));
        goto out;
    }
    *text = buf;
    *len = n;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    if (f)
        fclose(f);
    return rc;
}

jd_config_t *jd_config_load(const char *path, const char *const *overrides,
                            size_t noverrides, jd_err_t *err)
{
    config_ctx_t ctx;
    json_error_t jerr;
    json_t *root = NULL;
    char *text = NULL;
    size_t textlen = 0;
    int ok = 0;
    jd_config_t *conf = calloc(1, sizeof(*conf));

    memset(&ctx, 0, sizeof(ctx));
    ctx.conf = conf;
    ctx.err = err;
    if (!conf || !(conf->intern = jd_intern_new()) || !(conf->effective = json_object())) {
        config_oom(&ctx);
        goto out;
    }
    if (path) {
        if (config_read_file(path, &text, &textlen, err) != 0)
            goto out;
        ctx.file = path;
        ctx.text = text;
        ctx.textlen = textlen;
        root = json_loadb(text, textlen, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
            jd_err_set(err, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
            goto out;
        }
        if (!json_is_object(root)) {
            config_fail(&ctx, 0, root, "expected a JSON object (the configuration)");
            goto out;
        }
    } else if (!(root = json_object())) {
        config_oom(&ctx);
        goto out;
    }
    if (config_check_keys(&ctx, root, "") != 0 ||
        config_parse_overrides(&ctx, overrides, noverrides) != 0 ||
        config_apply_props(&ctx, root, overrides, noverrides) != 0 ||
        config_check_limits(&ctx) != 0 ||
        config_canon_slots(&ctx) != 0 ||
        config_apply_rules(&ctx, &config_props[CONFIG_NPROPS - 1], root) != 0)
        goto out;
    ok = 1;
out:
    for (size_t i = 0; i < CONFIG_NPROPS; i++)
        json_decref(ctx.xvals[i]);
    json_decref(root);
    free(text);
    if (!ok) {
        jd_config_destroy(conf);
        conf = NULL;
    }
    return conf;
}

static void config_match_free(jd_match_t *m)
{
    for (uint32_t i = 0; m->conds && i < m->nconds; i++)
        free(m->conds[i].values);
    free(m->conds);
}

static void config_rule_free(jd_rule_t *r)
{
    free(r->name);
    config_match_free(&r->match);
    free(r->same);
    for (uint32_t i = 0; r->steps && i < r->nsteps; i++) {
        free(r->steps[i].name);
        config_match_free(&r->steps[i].match);
    }
    free(r->steps);
    for (uint32_t i = 0; r->first && i < r->nfirst; i++) {
        config_match_free(&r->first[i].match);
        free(r->first[i].rules);
    }
    free(r->first);
    for (uint32_t i = 0; r->then && i < r->nthen; i++)
        config_match_free(&r->then[i]);
    free(r->then);
}

void jd_config_destroy(jd_config_t *conf)
{
    if (!conf)
        return;
    json_decref(conf->kafka);
    for (size_t i = 0; conf->topics && i < conf->ntopics; i++)
        free(conf->topics[i]);
    free(conf->topics);
    free(conf->alerts_topic);
    free(conf->dead_letter_topic);
    free(conf->http_listen);
    for (int i = 0; i < JD_FIELD__COUNT; i++) {
        free(conf->fields[i]);
        free(conf->defaults[i]);
    }
    free((char *)conf->time_format.pattern);
    for (uint32_t i = 0; conf->rules && i < conf->nrules; i++)
        config_rule_free(&conf->rules[i]);
    free(conf->rules);
    free(conf->slots);
    jd_intern_destroy(conf->intern);
    json_decref(conf->effective);
    free(conf);
}

char *jd_config_dump(const jd_config_t *conf)
{
    return conf && conf->effective
        ? json_dumps(conf->effective, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
}

const jd_rule_t *jd_config_rule(const jd_config_t *conf, const char *name)
{
    for (uint32_t i = 0; conf && name && i < conf->nrules; i++)
        if (strcmp(conf->rules[i].name, name) == 0)
            return &conf->rules[i];
    return NULL;
}

/* ---- the key reference --------------------------------------------------- */

static void config_doc_type(FILE *f, const config_prop_t *prop)
{
    switch (prop->type) {
    case CONFIG_T_KAFKA:    fputs("object", f); break;
    case CONFIG_T_STRING:   fputs("string", f); break;
    case CONFIG_T_STRLIST:  fputs("list of strings", f); break;
    case CONFIG_T_CHAR:     fputs("character", f); break;
    case CONFIG_T_BOOL:     fputs("boolean", f); break;
    case CONFIG_T_TIMEFMT:  fputs("time format", f); break;
    case CONFIG_T_RULES:    fputs("list of rules", f); break;
    case CONFIG_T_DURATION: fputs(prop->min > 0 ? "duration > 0" : "duration", f); break;
    case CONFIG_T_ENUM:
        fputs("one of", f);
        for (size_t i = 0; prop->enums[i]; i++)
            fprintf(f, "%s `%s`", i ? "," : "", prop->enums[i]);
        break;
    case CONFIG_T_INT:
        if (prop->max == INT64_MAX)
            fprintf(f, "integer >= %" PRId64, prop->min);
        else
            fprintf(f, "integer %" PRId64 "..%" PRId64, prop->min, prop->max);
        break;
    }
}

static void config_doc_default(FILE *f, const config_prop_t *prop)
{
    if (prop->type == CONFIG_T_RULES) {
        fputs("the rules of contract section 5 (see `config/journeyd.json`)", f);
    } else if (prop->type == CONFIG_T_KAFKA) {
        json_t *obj = json_loads(prop->dflt, 0, NULL);
        const char *key;
        json_t *v;
        int first = 1;
        json_object_foreach(obj, key, v) {
            fprintf(f, "%s`%s=%s`", first ? "" : ", ", key, json_string_value(v));
            first = 0;
        }
        json_decref(obj);
    } else if (prop->dflt) {
        fprintf(f, "`%s`", prop->dflt);
    } else {
        fputs("(none)", f);
    }
}

char *jd_config_doc(void)
{
    char *doc = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&doc, &len);
    if (!f)
        return NULL;
    fputs("| key | type | default | description |\n|---|---|---|---|\n", f);
    for (size_t i = 0; i < CONFIG_NPROPS; i++) {
        const config_prop_t *prop = &config_props[i];
        fprintf(f, "| `%s` | ", prop->type == CONFIG_T_KAFKA ? "kafka.<property>" : prop->path);
        config_doc_type(f, prop);
        fputs(" | ", f);
        config_doc_default(f, prop);
        fprintf(f, " | %s |\n", prop->desc);
    }
    if (fclose(f) != 0) {
        free(doc);
        doc = NULL;
    }
    return doc;
}
