/*
 * Logging: see include/journeyd/log.h. No allocation and no stdio on the
 * emit path: a line is formatted into a stack buffer and written with one
 * write(2), which is what keeps concurrent lines whole.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <jansson.h>
#include "journeyd/log.h"
#include "journeyd/timeutil.h"

int jd_log_level = JD_LOG_INFO;
const char *jd_log_prefix = "journeyd";

static jd_log_format_t log_format = JD_LOGFMT_TEXT;
static int log_fd = 2;

/* A JSON line: the message can grow 6x when escaped (\u00XX), which is
 * bounded by cutting the escaped form, not the line. */
#define LOG_LINE_MAX (JD_LOG_MSG_MAX + 1024)

static const char *const log_names[] = { "error", "warn", "info", "debug" };

int jd_log_level_parse(const char *s)
{
    for (int i = 0; s && i < 4; i++)
        if (!strcasecmp(s, log_names[i]))
            return i;
    return -1;
}

const char *jd_log_level_name(int level)
{
    if (level < 0)
        level = 0;
    return log_names[level > JD_LOG_DEBUG ? JD_LOG_DEBUG : level];
}

void jd_log_set_format(jd_log_format_t fmt) { log_format = fmt; }
void jd_log_set_fd(int fd) { log_fd = fd; }

void jd_log_init(const char *prefix)
{
    int lvl = jd_log_level_parse(getenv("JOURNEYD_LOG"));
    /* the format stays: `demo` calls this again after its nested `produce` */
    jd_log_prefix = prefix ? prefix : "journeyd";
    if (lvl >= 0)
        jd_log_level = lvl;
}

int jd_log_configure(const jd_config_t *conf, jd_err_t *err)
{
    const char *env = getenv("JOURNEYD_LOG");
    int lvl = conf ? conf->log_level : JD_LOG_INFO;

    log_format = conf ? conf->log_format : JD_LOGFMT_TEXT;
    if (env && *env) {
        int e = jd_log_level_parse(env);
        if (e < 0)
            return jd_err_set(err, "JOURNEYD_LOG=%.64s: expected error, warn, info or debug", env);
        lvl = e;
    }
    jd_log_level = lvl < JD_LOG_ERR ? JD_LOG_ERR : lvl > JD_LOG_DEBUG ? JD_LOG_DEBUG : lvl;
    return 0;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid.
 * Strict as JSON decoders are: no overlongs, surrogates or > U+10FFFF. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t len;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

/* Appends s as the body of a JSON string to out[*pos..cap), stopping before
 * an escape that would not fit. */
static void json_escape(char *out, size_t *pos, size_t cap, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), i = 0, o = *pos;
    while (i < n) {
        char esc[8];
        const char *src = esc;
        size_t len, adv = 1;
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            esc[0] = '\\'; esc[1] = (char)c; len = 2;
        } else if (c == '\n') {
            memcpy(esc, "\\n", 2); len = 2;
        } else if (c == '\t') {
            memcpy(esc, "\\t", 2); len = 2;
        } else if (c < 0x20 || c == 0x7F) {
            snprintf(esc, sizeof(esc), "\\u%04x", c); len = 6;
        } else if (c < 0x80) {
            esc[0] = (char)c; len = 1;
        } else if ((adv = utf8_len(p + i, n - i)) != 0) {
            src = (const char *)p + i; len = adv;
        } else {
            memcpy(esc, "\\ufffd", 6); len = 6; adv = 1;
        }
        if (o + len >= cap)
            break;
        memcpy(out + o, src, len);
        o += len;
        i += adv;
    }
    *pos = o;
}

static void append(char *out, size_t *pos, size_t cap, const char *s)
{
    size_t len = strlen(s);
    if (*pos + len >= cap)
        len = *pos + 1 < cap ? cap - *pos - 1 : 0;
    memcpy(out + *pos, s, len);
    *pos += len;
}

/* Writes one line. extra: pre-rendered JSON members (",\"k\":v...") added
 * to JSON lines only, or NULL. */
static void log_write(int level, const char *msg, const char *extra)
{
    char line[LOG_LINE_MAX + 2], ts[JD_TIME_BUFSZ];
    size_t pos = 0;
    const char *cmd = strrchr(jd_log_prefix, ' ');

    jd_time_format_rfc3339(jd_now_ms(), ts);
    if (log_format == JD_LOGFMT_JSON) {
        append(line, &pos, LOG_LINE_MAX, "{\"ts\":\"");
        append(line, &pos, LOG_LINE_MAX, ts);
        append(line, &pos, LOG_LINE_MAX, "\",\"level\":\"");
        append(line, &pos, LOG_LINE_MAX, jd_log_level_name(level));
        append(line, &pos, LOG_LINE_MAX, "\",\"cmd\":\"");
        json_escape(line, &pos, LOG_LINE_MAX, cmd ? cmd + 1 : jd_log_prefix);
        append(line, &pos, LOG_LINE_MAX, "\",\"msg\":\"");
        /* leave room for the closing "} and the extra members */
        json_escape(line, &pos, LOG_LINE_MAX - 4 - (extra ? strlen(extra) : 0), msg);
        append(line, &pos, LOG_LINE_MAX, "\"");
        if (extra)
            append(line, &pos, LOG_LINE_MAX, extra);
        line[pos++] = '}';
    } else {
        int n = snprintf(line, LOG_LINE_MAX, "%s %s %s: %s", ts, jd_log_level_name(level),
                         jd_log_prefix, msg);
        pos = n < 0 ? 0 : (size_t)n >= LOG_LINE_MAX ? LOG_LINE_MAX - 1 : (size_t)n;
        /* a message spanning lines would break "one line per event" */
        for (size_t i = 0; i < pos; i++)
            if (line[i] == '\n' || line[i] == '\r')
                line[i] = ' ';
    }
    line[pos++] = '\n';
    for (size_t off = 0; off < pos;) {
        ssize_t w = write(log_fd, line + off, pos - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* nowhere to report a failing stderr */
        off += (size_t)w;
    }
}

void jd_log_emit(int level, const char *fmt, ...)
{
    char msg[JD_LOG_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_write(level, msg, NULL);
}

static const char *kafka_prop(const jd_config_t *conf, const char *name, const char *dflt)
{
    json_t *v = conf && conf->kafka ? json_object_get(conf->kafka, name) : NULL;
    return v && json_is_string(v) ? json_string_value(v) : dflt;
}

void jd_log_banner(const jd_config_t *conf, const char *cmd, const char *version)
{
    const char *brokers = kafka_prop(conf, "bootstrap.servers", "(librdkafka default)");
    const char *group = kafka_prop(conf, "group.id", "journeyd");
    const char *http = conf && conf->http_listen ? conf->http_listen : "off";
    char topics[512] = "", extra[1024], msg[JD_LOG_MSG_MAX];
    size_t tpos = 0, epos = 0;
    uint32_t nrules = conf ? conf->nrules : 0;

    if (JD_LOG_INFO > jd_log_level)
        return;
    append(extra, &epos, sizeof(extra), ",\"version\":\"");
    json_escape(extra, &epos, sizeof(extra) - 200, version);
    append(extra, &epos, sizeof(extra), "\",\"brokers\":\"");
    json_escape(extra, &epos, sizeof(extra) - 200, brokers);
    append(extra, &epos, sizeof(extra), "\",\"group\":\"");
    json_escape(extra, &epos, sizeof(extra) - 200, group);
    append(extra, &epos, sizeof(extra), "\",\"topics\":[");
    for (size_t i = 0; conf && i < conf->ntopics; i++) {
        if (epos > sizeof(extra) - 300)
            break; /* room for the members after the list */
        if (i) {
            append(topics, &tpos, sizeof(topics), ",");
            append(extra, &epos, sizeof(extra), ",");
        }
        append(topics, &tpos, sizeof(topics), conf->topics[i]);
        append(extra, &epos, sizeof(extra), "\"");
        json_escape(extra, &epos, sizeof(extra) - 120, conf->topics[i]);
        append(extra, &epos, sizeof(extra), "\"");
    }
    topics[tpos] = '\0';
    append(extra, &epos, sizeof(extra), "],\"rules\":");
    snprintf(msg, sizeof(msg), "%" PRIu32 ",\"http\":\"", nrules);
    append(extra, &epos, sizeof(extra), msg);
    json_escape(extra, &epos, sizeof(extra) - 3, http);
    append(extra, &epos, sizeof(extra), "\"");
    extra[epos] = '\0';
    snprintf(msg, sizeof(msg), "journeyd %s starting %s: brokers=%s group=%s topics=%s "
             "rules=%" PRIu32 " http=%s", version, cmd ? cmd : "", brokers, group, topics,
             nrules, http);
    log_write(JD_LOG_INFO, msg, extra);
}
