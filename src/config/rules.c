/*
 * The rule compiler: rules as written in the config become jd_rule_t with
 * filters over event slots. A slot is a value the decoder extracts for the
 * rules: the canonical type, channel, session_id, page and element, plus
 * one per other field a rule names (its name is where the decoder reads it).
 *
 * Rules compile in two passes, names first, so a sequence's {"alert": ...}
 * may name a rule defined after it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config_private.h"

static const char *const config_severity_names[] = { "low", "medium", "high", NULL };
static const char *const config_kind_names[] = {
    "burst", "funnel", "sequence", "absence", "pattern", "score", NULL
};

/* The config's strings live as long as it: pinned, never reclaimed. */
const char *config_intern(jd_config_t *conf, const char *s)
{
    return jd_intern_pin(conf->intern, jd_intern_str(conf->intern, s));
}

int config_canon_slots(config_ctx_t *ctx)
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
        if (conf->defaults[f] && !(slot->dflt = config_intern(conf, conf->defaults[f])))
            return config_oom(ctx);
    }
    return 0;
}

/* Runs fn on the value of key in obj with the path pointing at it; a
 * missing required key is reported at obj. */
int config_key(config_ctx_t *ctx, const json_t *obj, const char *key, int required,
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
int config_only_keys(config_ctx_t *ctx, const json_t *obj, const char *const *allowed,
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
    return config_duration(ctx, v, 1, 0, &r->cooldown_ms);
}

int config_rule_within(config_ctx_t *ctx, const json_t *v, jd_rule_t *r)
{
    return config_duration(ctx, v, 1, 0, &r->within_ms);
}

static int config_rule_gap(config_ctx_t *ctx, const json_t *v, jd_rule_t *r)
{
    return config_duration(ctx, v, 1, 0, &r->gap_ms);
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

int config_rule_same(config_ctx_t *ctx, const json_t *v, jd_rule_t *r)
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

/* funnel "breakdown_by": one field, named as filters name fields. */
static int config_rule_breakdown(config_ctx_t *ctx, const json_t *v, jd_rule_t *r)
{
    if (!json_is_string(v))
        return config_fail(ctx, 0, v, "expected a field name");
    if (config_field_name(ctx, json_string_value(v), &r->breakdown_slot, 0) != 0)
        return -1;
    r->has_breakdown = 1;
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
int config_alert_ref(config_ctx_t *ctx, const json_t *name, const jd_rule_t *r,
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
            return config_fail(ctx, 0, NULL, "a %s cannot follow its own alerts",
                               r->kind == JD_RULE_SCORE ? "score" : "sequence");
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
        { "name", "kind", "severity", "cooldown", "steps", "within", "breakdown_by", NULL },
        { "name", "kind", "severity", "cooldown", "first", "then", "within", NULL },
        { "name", "kind", "severity", "cooldown", "start", "expect", "within", "same", NULL },
        { "name", "kind", "severity", "cooldown", "steps", "within", "scope", "contiguous", NULL },
        { "name", "kind", "severity", "cooldown", "contributions", "half_life", "threshold", NULL },
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
    if (config_rule_keys(ctx, obj, keys[kind], what, r) != 0 ||
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
               config_key(ctx, obj, "within", 1, config_rule_within, r) != 0 ||
               config_key(ctx, obj, "breakdown_by", 0, config_rule_breakdown, r) != 0 ? -1 : 0;
    case JD_RULE_SEQUENCE:
        return config_key(ctx, obj, "first", 1, config_rule_first, r) != 0 ||
               config_key(ctx, obj, "then", 1, config_rule_then, r) != 0 ||
               config_key(ctx, obj, "within", 1, config_rule_within, r) != 0 ? -1 : 0;
    case JD_RULE_ABSENCE:
    case JD_RULE_PATTERN:
    case JD_RULE_SCORE:
        return config_rule_ext(ctx, obj, r);
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

int config_apply_rules(config_ctx_t *ctx, const config_prop_t *prop, json_t *root)
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

void config_rule_free(jd_rule_t *r)
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
    config_rule_ext_free(r);
}

int jd_config_slot_mapped(const jd_config_t *conf, uint32_t slot)
{
    if (!conf || slot >= conf->nslots)
        return 0;
    if (conf->slots[slot].field >= 0)
        return 1;
    for (int f = 0; f < JD_FIELD__COUNT; f++)
        if (conf->fields[f] && strcmp(conf->fields[f], conf->slots[slot].name) == 0)
            return 1;
    return 0;
}

static int config_rule_uses(const jd_rule_t *r, uint32_t slot)
{
    int uses = config_match_uses(&r->match, slot);
    for (uint32_t i = 0; !uses && i < r->nsame; i++)
        uses = r->same[i] == slot;
    uses = uses || (r->has_breakdown && r->breakdown_slot == slot);
    for (uint32_t i = 0; !uses && i < r->nsteps; i++)
        uses = config_match_uses(&r->steps[i].match, slot);
    for (uint32_t i = 0; !uses && i < r->nfirst; i++)
        uses = !r->first[i].is_alert && config_match_uses(&r->first[i].match, slot);
    for (uint32_t i = 0; !uses && i < r->nthen; i++)
        uses = config_match_uses(&r->then[i], slot);
    return uses || config_rule_ext_uses(r, slot);
}

const jd_rule_t *jd_config_slot_rule(const jd_config_t *conf, uint32_t slot)
{
    for (uint32_t i = 0; conf && i < conf->nrules; i++)
        if (config_rule_uses(&conf->rules[i], slot))
            return &conf->rules[i];
    return NULL;
}
