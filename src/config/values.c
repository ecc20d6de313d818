/*
 * Typed values: each key type of the table (string, list, enum, character,
 * boolean, time format, duration, integer) checked and stored in
 * jd_config_t, and the kafka object, whose properties librdkafka itself
 * validates.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <librdkafka/rdkafka.h>
#include "config_private.h"

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

char *config_scalar_dup(const json_t *v)
{
    size_t sz = json_is_string(v) ? json_string_length(v) + 1 : 64;
    char *buf = malloc(sz);
    if (buf && jd_json_scalar_str(v, buf, sz) < 0) {
        free(buf);
        buf = NULL;
    }
    return buf;
}

void config_enum_list(const char *const *names, char *buf, size_t bufsz)
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

int config_enum(const config_ctx_t *ctx, const json_t *v, const char *const *names, int *out)
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

int config_duration(const config_ctx_t *ctx, const json_t *v, int64_t min, int off, int64_t *out)
{
    const char *s = json_string_value(v);
    int64_t ms = -1;
    if (off && s && strcmp(s, "off") == 0) {
        *out = 0;
        return 0;
    }
    if (s) {
        if (jd_duration_parse(s, &ms) != 0)
            ms = -1;
    } else if (json_is_integer(v)) {
        ms = json_integer_value(v);
    }
    if (ms >= min && ms >= 0 && ms <= JD_CONFIG_DURATION_MAX_MS) {
        *out = ms;
        return 0;
    }
    return config_fail(ctx, 0, v, "expected %sa duration from %s to 36525d (100 years), such as "
                       "250ms, 15s, 10m, 24h, 7d or integer ms", off ? "off or " : "",
                       min > 0 ? "1ms" : "0");
}

int config_int(const config_ctx_t *ctx, const json_t *v, int64_t min, int64_t max, int64_t *out)
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

int config_set(config_ctx_t *ctx, const config_prop_t *prop, json_t *v, json_t **norm)
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
        if (config_duration(ctx, v, prop->min, prop->off, &n) != 0)
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

int config_apply_kafka(config_ctx_t *ctx, const config_prop_t *prop, json_t *root,
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
