/*
 * jd_config_load: read the file, check its keys against the table, parse
 * -X overrides, give every key its value (-X, else the file, else the
 * default), check limits between keys, compile the rules. Also destroy,
 * dump and rule lookup.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config_private.h"

#define CONFIG_MAX_FILE (16u << 20)

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
            ctx->src[config_prop_index(full)].in_file = 1;
        }
        config_pop(ctx);
        if (rc != 0)
            return rc;
    }
    return 0;
}

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

/* Strict UTF-8 (no overlongs, surrogates or code points above U+10FFFF),
 * which is what jansson accepts in a string. */
static int config_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p++;
        int n = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2
              : (c & 0xF8) == 0xF0 ? 3 : -1;
        unsigned cp = n == 1 ? c & 0x1F : n == 2 ? c & 0x0F : c & 0x07;
        if (n < 0 || end - p < n)
            return 0;
        for (int k = 0; k < n; k++, p++) {
            if ((*p & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (*p & 0x3F);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
    }
    return 1;
}

/* A -X the terminal cannot show is named by its key alone. */
static int config_x_utf8(const config_ctx_t *ctx, const char *x)
{
    const char *eq = strchr(x, '=');
    size_t klen = eq ? (size_t)(eq - x) : strlen(x);
    if (!config_utf8_valid(x, klen))
        return jd_err_set(ctx->err, "-X: the key is not valid UTF-8");
    if (eq && !config_utf8_valid(eq + 1, strlen(eq + 1)))
        return jd_err_set(ctx->err, "-X %.*s=...: value is not valid UTF-8", (int)klen, x);
    return 0;
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
        if (config_x_utf8(ctx, ov[i]) != 0)
            return -1;
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
        json_decref(ctx->src[p].xval);
        ctx->src[p].xval = config_x_value(&config_props[p], eq + 1);
        ctx->src[p].xarg = ov[i];
        if (!ctx->src[p].xval)
            return config_oom(ctx);
    }
    ctx->xarg = NULL;
    return 0;
}

/* Each key from -X, else the file, else its default, in table order. */
static int config_apply_props(config_ctx_t *ctx, json_t *root, const char *const *ov, size_t nov)
{
    const char *file_name = ctx->file, *text = ctx->text;
    for (size_t i = 0; i < config_nprops; i++) {
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
            if (ctx->src[i].xval) {
                v = json_incref(ctx->src[i].xval);
                ctx->xarg = ctx->src[i].xarg;
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
        int blame_history = !ctx->src[ac].xarg && !ctx->src[ac].in_file;
        int p = blame_history ? hi : ac;
        json_t *got = json_integer(blame_history ? conf->history : conf->alert_context);
        config_set_path(ctx, config_props[p].path, buf, sizeof(buf));
        ctx->xarg = ctx->src[p].xarg;
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
    ctx.src = calloc(config_nprops, sizeof(*ctx.src));
    if (!conf || !ctx.src || !(conf->intern = jd_intern_new()) ||
        !(conf->effective = json_object())) {
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
        config_apply_rules(&ctx, &config_props[config_nprops - 1], root) != 0)
        goto out;
    ok = 1;
out:
    for (size_t i = 0; ctx.src && i < config_nprops; i++)
        json_decref(ctx.src[i].xval);
    free(ctx.src);
    json_decref(root);
    free(text);
    if (!ok) {
        jd_config_destroy(conf);
        conf = NULL;
    }
    return conf;
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

