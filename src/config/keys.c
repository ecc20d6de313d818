/*
 * The one table of configuration keys (config_props[]) and lookups in it.
 *
 * Everything a user can set is a row: validation, -X, the effective config
 * printed by check-config and the Markdown reference (doc.c) are all derived
 * from it, so adding a key is one row.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config_private.h"

const char *const jd_field_names[JD_FIELD__COUNT] = {
    "ts", "customer_id", "anonymous_id", "type", "channel",
    "event_id", "session_id", "page", "element",
};

const int config_slot_fields[JD_SLOT__CANON] = {
    JD_FIELD_TYPE, JD_FIELD_CHANNEL, JD_FIELD_SESSION_ID, JD_FIELD_PAGE, JD_FIELD_ELEMENT,
};

static const char *const config_format_names[] = { "ndjson", "csv", NULL };
static const char *const config_guarantee_names[] = { "at_least_once", "exactly_once", NULL };
static const char *const config_keyed_by_names[] = { "customer", "any", NULL };
static const char *const config_log_format_names[] = { "text", "json", NULL };
static const char *const config_log_level_names[] = { "error", "warn", "info", "debug", NULL };

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
static const char *config_check_header(const json_t *v)
{
    return json_is_true(v) ? NULL
        : "expected true (only CSV input with a header row is supported)";
}

/* "off", or "host:port" with a port in 0..65535 ("[::1]:9646" for IPv6;
 * port 0 = any free port, for instances side by side). */
static const char *config_check_listen(const json_t *v)
{
    const char *s = json_string_value(v), *colon = s ? strrchr(s, ':') : NULL;
    char *end;
    if (s && strcmp(s, "off") == 0)
        return NULL;
    if (!colon || colon == s || !colon[1] || colon[1] < '0' || colon[1] > '9')
        return "expected host:port (127.0.0.1:9646, 0.0.0.0:9646, [::1]:9646) or off";
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return "expected host:port with a port in 0..65535, or off";
    return NULL;
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
const config_prop_t config_props[] = {
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
      .min = 0, CONFIG_AT(lateness_ms),
      .desc = "How far out of order events may arrive; older ones are `late` dead letters "
              "(0: input must be in time order)" },
    { .path = "time.idle_advance", .type = CONFIG_T_DURATION, .dflt = "\"30s\"",
      .min = 0, CONFIG_AT(idle_advance_ms),
      .desc = "`run`: after this long without input, a partition's watermark follows the wall clock "
              "(0: never)" },
    { .path = "time.max_future", .type = CONFIG_T_DURATION, .dflt = "\"1h\"",
      .min = 1, .off = 1, CONFIG_AT(max_future_ms),
      .desc = "Events dated more than this ahead of the wall clock are `future_ts` dead letters; "
              "`off` accepts any future date" },
    { .path = "time.max_buffered", .type = CONFIG_T_INT, .dflt = "1000000",
      .min = 1, .max = INT64_MAX, CONFIG_AT(max_buffered),
      .desc = "Events waiting for the watermark per engine; beyond it the watermark is forced forward (counted)" },
    { .path = "journey.retention", .type = CONFIG_T_DURATION, .dflt = "\"7d\"",
      .min = 1, CONFIG_AT(retention_ms),
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
      .desc = "`run`: `at_least_once` writes a task's state and offsets in one transaction once its alerts are "
              "acknowledged; `exactly_once` puts the alerts and dead letters in that transaction too" },
    { .path = "processing.threads", .type = CONFIG_T_INT, .dflt = "1",
      .min = 1, .max = 64, CONFIG_AT(threads),
      .desc = "`replay`: worker threads, half decoding NDJSON (rounded up), half evaluating with customers sharded by identity (rounded down); alerts and counters are identical for any count. `run`: N threads run the tasks (task p on thread p mod N)" },
    { .path = "processing.commit_interval", .type = CONFIG_T_DURATION, .dflt = "\"1s\"",
      .min = 1, CONFIG_AT(commit_interval_ms),
      .desc = "`run`: how often input offsets are committed" },
    { .path = "http.listen", .type = CONFIG_T_STRING, .dflt = "\"127.0.0.1:9646\"",
      .check = config_check_listen, CONFIG_AT(http_listen),
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

const size_t config_nprops = sizeof(config_props) / sizeof(config_props[0]);

int config_classify(const char *path)
{
    size_t len = strlen(path);
    int kind = 0;
    for (size_t i = 0; i < config_nprops && kind != 1; i++) {
        const char *p = config_props[i].path;
        if (strcmp(p, path) == 0)
            kind = 1;
        else if (strncmp(p, path, len) == 0 && p[len] == '.')
            kind = 2;
    }
    return kind;
}

int config_prop_index(const char *path)
{
    for (size_t i = 0; i < config_nprops; i++)
        if (strcmp(config_props[i].path, path) == 0)
            return (int)i;
    return -1;
}

void config_level_keys(const char *prefix, int dotted, char *buf, size_t bufsz)
{
    size_t plen = strlen(prefix), off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < config_nprops; i++) {
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

