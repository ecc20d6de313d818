/*
 * Key paths and positions: the path of the value being checked
 * ("rules[2].match.type"), where that value sits in the file (line:column),
 * and the error message that names both.
 *
 * jansson keeps no positions for values, so semantic errors are located by
 * re-walking the (already valid) document text along the key path of the
 * offending value (config_locate): a small JSON skipper, not a parser.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config_private.h"

void config_push(config_ctx_t *ctx, const char *key, size_t idx)
{
    if (ctx->depth < CONFIG_MAX_DEPTH) {
        ctx->path[ctx->depth].key = key;
        ctx->path[ctx->depth].idx = idx;
    }
    ctx->depth++;
}

void config_pop(config_ctx_t *ctx)
{
    ctx->depth--;
}

int config_depth(const config_ctx_t *ctx)
{
    return ctx->depth < CONFIG_MAX_DEPTH ? ctx->depth : CONFIG_MAX_DEPTH;
}

void config_path_str(const config_ctx_t *ctx, char *buf, size_t bufsz)
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
int config_fail(const config_ctx_t *ctx, unsigned flags, const json_t *got,
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

int config_oom(const config_ctx_t *ctx)
{
    return jd_err_set(ctx->err, "out of memory while loading the configuration");
}
void config_set_path(config_ctx_t *ctx, const char *path, char *buf, size_t bufsz)
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

json_t *config_lookup(json_t *root, const config_ctx_t *ctx)
{
    json_t *v = root;
    for (int i = 0; i < config_depth(ctx) && v; i++)
        v = json_is_object(v) ? json_object_get(v, ctx->path[i].key) : NULL;
    return v;
}

int config_put(json_t *obj, const config_ctx_t *ctx, json_t *v)
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
