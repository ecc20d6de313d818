/*
 * The rule compiler, second edition (contract section 5a): the `ignore`
 * filter every rule may carry, and the absence, pattern and score kinds.
 * rules.c compiles the rest and calls in here; the compiled fields are
 * described in journeyd/config.h.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "config_private.h"

int config_rule_keys(config_ctx_t *ctx, const json_t *obj, const char *const *allowed,
                     const char *what, jd_rule_t *r)
{
    const char *all[16];
    size_t n = 0;
    while (allowed[n] && n < 14) {
        all[n] = allowed[n];
        n++;
    }
    all[n++] = "ignore";
    all[n] = NULL;
    if (config_only_keys(ctx, obj, all, what) != 0)
        return -1;
    const json_t *v = json_object_get(obj, "ignore");
    if (!v)
        return 0;
    config_push(ctx, "ignore", 0);
    r->has_ignore = 1;
    int rc = config_match(ctx, v, &r->ignore);
    config_pop(ctx);
    return rc;
}

static int config_rule_start(config_ctx_t *ctx, const json_t *v, jd_rule_t *r)
{
    return config_match(ctx, v, &r->start);
}

static int config_rule_expect(config_ctx_t *ctx, const json_t *v, jd_rule_t *r)
{
    return config_match(ctx, v, &r->expect);
}

static int config_rule_scope(config_ctx_t *ctx, const json_t *v, jd_rule_t *r)
{
    r->has_scope = 1;
    return config_match(ctx, v, &r->scope);
}

static int config_rule_contiguous(config_ctx_t *ctx, const json_t *v, jd_rule_t *r)
{
    if (!json_is_boolean(v))
        return config_fail(ctx, 0, v, "expected true or false");
    r->contiguous = json_is_true(v);
    return 0;
}

static int config_rule_half_life(config_ctx_t *ctx, const json_t *v, jd_rule_t *r)
{
    return config_duration(ctx, v, 1, 0, &r->half_life_ms);
}

/* A positive finite number (threshold, points). */
static int config_positive(config_ctx_t *ctx, const json_t *v, double *out)
{
    if (!json_is_number(v) || !(json_number_value(v) > 0) || !isfinite(json_number_value(v)))
        return config_fail(ctx, 0, v, "expected a positive number");
    *out = json_number_value(v);
    return 0;
}

static int config_rule_threshold(config_ctx_t *ctx, const json_t *v, jd_rule_t *r)
{
    return config_positive(ctx, v, &r->threshold);
}

/* A step's "bind": {"var": "field", ...}; each variable bound once per rule. */
static int config_bind(config_ctx_t *ctx, const json_t *v, jd_rule_t *r, jd_pattern_step_t *st)
{
    const char *var;
    const json_t *f;
    size_t n = json_object_size(v);
    if (!json_is_object(v) || n == 0)
        return config_fail(ctx, 0, v, "expected an object {\"variable\": \"field\", ...}");
    char **vars = realloc(r->vars, (r->nvars + n) * sizeof(*vars));
    if (!vars)
        return config_oom(ctx);
    r->vars = vars;
    if (!(st->bind_var = calloc(n, sizeof(uint32_t))) || !(st->bind_slot = calloc(n, sizeof(uint32_t))))
        return config_oom(ctx);
    json_object_foreach((json_t *)v, var, f) {
        int rc = 0;
        config_push(ctx, var, 0);
        for (uint32_t i = 0; i < r->nvars && rc == 0; i++)
            if (strcmp(r->vars[i], var) == 0)
                rc = config_fail(ctx, CONFIG_AT_KEY, NULL, "variable \"%s\" is bound twice", var);
        if (rc == 0 && !json_is_string(f))
            rc = config_fail(ctx, 0, f, "expected a field name");
        if (rc == 0)
            rc = config_field_name(ctx, json_string_value(f), &st->bind_slot[st->nbind], 0);
        if (rc == 0 && !(r->vars[r->nvars] = strdup(var)))
            rc = config_oom(ctx);
        config_pop(ctx);
        if (rc != 0)
            return rc;
        st->bind_var[st->nbind++] = r->nvars++;
    }
    return 0;
}

static int config_pstep(config_ctx_t *ctx, const json_t *step, jd_rule_t *r, size_t i)
{
    static const char *const step_keys[] = { "name", "match", "bind", "within", NULL };
    jd_pattern_step_t *st = &r->psteps[i];
    const json_t *match = json_object_get(step, "match");
    const json_t *bind = json_object_get(step, "bind"), *within = json_object_get(step, "within");
    config_vars_t vars = { r->vars, r->nvars };
    int depth = ctx->depth, rc = 0;
    if (!json_is_object(step))
        return config_fail(ctx, 0, step, "expected a step ({\"match\": {...}, \"bind\": ..., \"within\": ...})");
    if (config_only_keys(ctx, step, step_keys, " in a pattern step") != 0)
        return -1;
    if (!match)
        return config_fail(ctx, 0, NULL, "missing required key \"match\"");
    config_push(ctx, "match", 0);
    rc = config_match_vars(ctx, match, &st->match, &vars);
    ctx->depth = depth;
    if (rc == 0 && within) {
        config_push(ctx, "within", 0);
        rc = i == 0 ? config_fail(ctx, CONFIG_AT_KEY, NULL, "the first step has no previous step "
                                  "to be \"within\" of (use the rule's \"within\")")
                    : config_duration(ctx, within, 1, 0, &st->within_ms);
        ctx->depth = depth;
    }
    if (rc == 0 && bind) {
        config_push(ctx, "bind", 0);
        rc = config_bind(ctx, bind, r, st);
        ctx->depth = depth;
    }
    return rc;
}

static int config_rule_psteps(config_ctx_t *ctx, const json_t *v, jd_rule_t *r)
{
    size_t n = json_array_size(v);
    if (!json_is_array(v) || n < 2)
        return config_fail(ctx, 0, v, "expected a list of at least 2 steps ({\"match\": {...}})");
    if (!(r->psteps = calloc(n, sizeof(*r->psteps))))
        return config_oom(ctx);
    r->npsteps = (uint32_t)n;
    for (size_t i = 0; i < n; i++) {
        config_push(ctx, NULL, i);
        int rc = config_pstep(ctx, json_array_get(v, i), r, i);
        config_pop(ctx);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int config_contrib_alert(config_ctx_t *ctx, const json_t *names, jd_rule_t *r,
                                jd_score_contrib_t *c)
{
    int is_list = json_is_array(names);
    size_t n = is_list ? json_array_size(names) : 1;
    int rc = 0;
    c->is_alert = 1;
    if (is_list ? n == 0 : !json_is_string(names))
        return config_fail(ctx, 0, names, "expected a rule name or a non-empty list of rule names");
    if (!(c->rules = calloc(n, sizeof(*c->rules))))
        return config_oom(ctx);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (is_list)
            config_push(ctx, NULL, i);
        rc = config_alert_ref(ctx, is_list ? json_array_get(names, i) : names, r, &c->rules[i]);
        if (is_list)
            config_pop(ctx);
        c->nrules += rc == 0;
    }
    return rc;
}

static int config_contrib(config_ctx_t *ctx, const json_t *obj, jd_rule_t *r,
                          jd_score_contrib_t *c)
{
    static const char *const keys[] = { "match", "alert", "points", NULL };
    const json_t *match = json_object_get(obj, "match"), *alert = json_object_get(obj, "alert");
    const json_t *points = json_object_get(obj, "points");
    int depth = ctx->depth, rc = 0;
    if (!json_is_object(obj))
        return config_fail(ctx, 0, obj, "expected {\"match\": {...}, \"points\": n} "
                                        "or {\"alert\": [rule names], \"points\": n}");
    if (config_only_keys(ctx, obj, keys, " in a score contribution") != 0)
        return -1;
    if (!match == !alert)
        return config_fail(ctx, 0, NULL, "expected exactly one of \"match\" or \"alert\", got %s",
                           match ? "both" : "neither");
    if (!points)
        return config_fail(ctx, 0, NULL, "missing required key \"points\"");
    config_push(ctx, match ? "match" : "alert", 0);
    rc = match ? config_match(ctx, match, &c->match) : config_contrib_alert(ctx, alert, r, c);
    ctx->depth = depth;
    if (rc == 0) {
        config_push(ctx, "points", 0);
        rc = config_positive(ctx, points, &c->points);
        ctx->depth = depth;
    }
    return rc;
}

static int config_rule_contribs(config_ctx_t *ctx, const json_t *v, jd_rule_t *r)
{
    size_t n = json_array_size(v);
    if (!json_is_array(v) || n == 0)
        return config_fail(ctx, 0, v, "expected a non-empty list of contributions");
    if (!(r->contribs = calloc(n, sizeof(*r->contribs))))
        return config_oom(ctx);
    r->ncontribs = (uint32_t)n;
    for (size_t i = 0; i < n; i++) {
        config_push(ctx, NULL, i);
        int rc = config_contrib(ctx, json_array_get(v, i), r, &r->contribs[i]);
        config_pop(ctx);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int config_rule_ext(config_ctx_t *ctx, const json_t *obj, jd_rule_t *r)
{
    switch (r->kind) {
    case JD_RULE_ABSENCE:
        if (config_key(ctx, obj, "start", 1, config_rule_start, r) != 0 ||
            config_key(ctx, obj, "expect", 1, config_rule_expect, r) != 0 ||
            config_key(ctx, obj, "within", 1, config_rule_within, r) != 0 ||
            config_key(ctx, obj, "same", 0, config_rule_same, r) != 0)
            return -1;
        /* a window keeps its group values inline (rule_absence.c) */
        if (r->nsame > 16) {
            config_push(ctx, "same", 0);
            config_fail(ctx, 0, NULL, "expected at most 16 fields, got %u", r->nsame);
            config_pop(ctx);
            return -1;
        }
        return 0;
    case JD_RULE_PATTERN:
        return config_key(ctx, obj, "steps", 1, config_rule_psteps, r) != 0 ||
               config_key(ctx, obj, "within", 0, config_rule_within, r) != 0 ||
               config_key(ctx, obj, "scope", 0, config_rule_scope, r) != 0 ||
               config_key(ctx, obj, "contiguous", 0, config_rule_contiguous, r) != 0 ? -1 : 0;
    case JD_RULE_SCORE:
        return config_key(ctx, obj, "contributions", 1, config_rule_contribs, r) != 0 ||
               config_key(ctx, obj, "half_life", 1, config_rule_half_life, r) != 0 ||
               config_key(ctx, obj, "threshold", 1, config_rule_threshold, r) != 0 ? -1 : 0;
    default:
        return 0;
    }
}

void config_rule_ext_free(jd_rule_t *r)
{
    config_match_free(&r->ignore);
    config_match_free(&r->start);
    config_match_free(&r->expect);
    config_match_free(&r->scope);
    for (uint32_t i = 0; r->psteps && i < r->npsteps; i++) {
        config_match_free(&r->psteps[i].match);
        free(r->psteps[i].bind_var);
        free(r->psteps[i].bind_slot);
    }
    free(r->psteps);
    for (uint32_t i = 0; r->vars && i < r->nvars; i++)
        free(r->vars[i]);
    free(r->vars);
    for (uint32_t i = 0; r->contribs && i < r->ncontribs; i++) {
        config_match_free(&r->contribs[i].match);
        free(r->contribs[i].rules);
    }
    free(r->contribs);
}

int config_rule_ext_uses(const jd_rule_t *r, uint32_t slot)
{
    if (config_match_uses(&r->ignore, slot) || config_match_uses(&r->start, slot) ||
        config_match_uses(&r->expect, slot) || config_match_uses(&r->scope, slot))
        return 1;
    for (uint32_t i = 0; i < r->npsteps; i++) {
        if (config_match_uses(&r->psteps[i].match, slot))
            return 1;
        for (uint32_t k = 0; k < r->psteps[i].nbind; k++)
            if (r->psteps[i].bind_slot[k] == slot)
                return 1;
    }
    for (uint32_t i = 0; i < r->ncontribs; i++)
        if (!r->contribs[i].is_alert && config_match_uses(&r->contribs[i].match, slot))
            return 1;
    return 0;
}
