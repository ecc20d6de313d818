/*
 * The filter compiler: a rule's `match` (and `ignore`, `start`, `expect`,
 * `scope`, steps, contributions) becomes a jd_match_t over event slots.
 *
 * A filter is an object field -> value; a value is a scalar, an operator
 * object ({"not": V}, {"prefix": s}, {"gt"/"gte"/"lt"/"lte": n},
 * {"exists": bool}, {"var": name}) or a non-empty list of those (any of).
 * Scalars are interned so matching compares pointers; operators compile to
 * jd_match_op_t. Variables ({"var": ...}) exist only in pattern steps,
 * which pass the variables bound by their earlier steps.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "config_private.h"

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
    const char *iname = config_intern(conf, name);
    jd_slot_t *slots = iname ? realloc(conf->slots, (conf->nslots + 1) * sizeof(*slots)) : NULL;
    if (!slots)
        return config_oom(ctx);
    conf->slots = slots;
    slots[conf->nslots] = (jd_slot_t){ .name = iname, .source = iname, .field = -1, .dflt = NULL };
    *out = conf->nslots++;
    return 0;
}

int config_field_name(config_ctx_t *ctx, const char *name, uint32_t *slot, unsigned flags)
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
        rc = config_fail(ctx, 0, v, "expected a string, number, boolean or operator object");
    else if (!(*out = config_intern(ctx->conf, s)))
        rc = config_oom(ctx);
    free(s);
    return rc;
}

static int config_cond_value(config_ctx_t *ctx, const json_t *v, jd_match_cond_t *cond,
                             const config_vars_t *vars);

static const char *const config_op_names[] = {
    "not", "prefix", "gt", "gte", "lt", "lte", "exists", "var", NULL
};

/* The number of a numeric operator: a JSON number or a numeric string. */
static int config_op_number(config_ctx_t *ctx, const json_t *v, double *out)
{
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return 0;
    }
    if (json_is_string(v) && json_string_length(v) > 0) {
        char *end;
        double d = strtod(json_string_value(v), &end);
        if (!*end && isfinite(d)) {
            *out = d;
            return 0;
        }
    }
    return config_fail(ctx, 0, v, "expected a number");
}

static int config_op_var(config_ctx_t *ctx, const json_t *v, jd_match_op_t *op,
                         const config_vars_t *vars)
{
    if (!json_is_string(v))
        return config_fail(ctx, 0, v, "expected a variable name");
    if (!vars)
        return config_fail(ctx, 0, NULL, "variables are only allowed in pattern steps");
    for (uint32_t i = 0; i < vars->nbound; i++) {
        if (strcmp(vars->names[i], json_string_value(v)) == 0) {
            op->var = i;
            return 0;
        }
    }
    return config_fail(ctx, 0, NULL, "variable \"%s\" is not bound by an earlier step",
                       json_string_value(v));
}

/* One operator object at the current path. */
static int config_op(config_ctx_t *ctx, const json_t *obj, jd_match_op_t *op,
                     const config_vars_t *vars, uint32_t slot)
{
    const char *key = NULL;
    const json_t *v = NULL;
    char list[120];
    config_enum_list(config_op_names, list, sizeof(list));
    if (json_object_size(obj) != 1)
        return config_fail(ctx, 0, NULL, "expected an operator object with one key (%s)", list);
    json_object_foreach((json_t *)obj, key, v)
        break;
    int kind = -1;
    for (int i = 0; config_op_names[i]; i++)
        if (strcmp(config_op_names[i], key) == 0)
            kind = i;
    config_push(ctx, key, 0);
    int rc = 0;
    op->kind = (jd_match_opkind_t)kind;
    switch (kind) {
    case JD_MOP_NOT:
        if (!(op->inner = calloc(1, sizeof(*op->inner))))
            rc = config_oom(ctx);
        else {
            op->inner->slot = slot;
            rc = config_cond_value(ctx, v, op->inner, vars);
        }
        break;
    case JD_MOP_PREFIX:
        if (!json_is_string(v))
            rc = config_fail(ctx, 0, v, "expected a string");
        else if (!(op->str = config_intern(ctx->conf, json_string_value(v))))
            rc = config_oom(ctx);
        else
            op->len = strlen(op->str);
        break;
    case JD_MOP_GT: case JD_MOP_GTE: case JD_MOP_LT: case JD_MOP_LTE:
        rc = config_op_number(ctx, v, &op->num);
        break;
    case JD_MOP_EXISTS:
        if (!json_is_boolean(v))
            rc = config_fail(ctx, 0, v, "expected true or false");
        op->exists = json_is_true(v);
        break;
    case JD_MOP_VAR:
        rc = config_op_var(ctx, v, op, vars);
        break;
    default:
        rc = config_fail(ctx, CONFIG_AT_KEY, NULL, "unknown operator \"%s\" (expected one of: %s)",
                         key, list);
        op->kind = JD_MOP_EXISTS; /* freed as an operand-less operator */
    }
    config_pop(ctx);
    return rc;
}

/* A value (scalar, operator or list of them) into cond's values and ops. */
static int config_cond_value(config_ctx_t *ctx, const json_t *v, jd_match_cond_t *cond,
                             const config_vars_t *vars)
{
    int is_list = json_is_array(v);
    size_t n = is_list ? json_array_size(v) : 1;
    if (is_list && n == 0)
        return config_fail(ctx, 0, v, "expected a value or a non-empty list of values");
    if (!(cond->values = calloc(n, sizeof(*cond->values))) ||
        !(cond->ops = calloc(n, sizeof(*cond->ops))))
        return config_oom(ctx);
    for (size_t i = 0; i < n; i++) {
        const json_t *x = is_list ? json_array_get(v, i) : v;
        int rc;
        if (is_list)
            config_push(ctx, NULL, i);
        if (json_is_object(x)) {
            cond->nops++;
            rc = config_op(ctx, x, &cond->ops[cond->nops - 1], vars, cond->slot);
        } else {
            rc = config_match_value(ctx, x, &cond->values[cond->nvalues]);
            cond->nvalues += rc == 0;
        }
        if (is_list)
            config_pop(ctx);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int config_match_vars(config_ctx_t *ctx, const json_t *obj, jd_match_t *m,
                      const config_vars_t *vars)
{
    const char *field;
    const json_t *v;
    if (!json_is_object(obj))
        return config_fail(ctx, 0, obj, "expected a filter object (field: value or list of values)");
    if (!(m->conds = calloc(json_object_size(obj) + 1, sizeof(*m->conds))))
        return config_oom(ctx);
    json_object_foreach((json_t *)obj, field, v) {
        jd_match_cond_t *c = &m->conds[m->nconds++];
        config_push(ctx, field, 0);
        int rc = config_field_name(ctx, field, &c->slot, CONFIG_AT_KEY);
        if (rc == 0)
            rc = config_cond_value(ctx, v, c, vars);
        config_pop(ctx);
        if (rc != 0)
            return rc;
    }
    m->plain = 1;
    for (uint32_t i = 0; i < m->nconds; i++)
        if (m->conds[i].nops)
            m->plain = 0;
    return 0;
}

int config_match(config_ctx_t *ctx, const json_t *obj, jd_match_t *m)
{
    return config_match_vars(ctx, obj, m, NULL);
}

static void config_cond_free(jd_match_cond_t *c)
{
    for (uint32_t k = 0; c->ops && k < c->nops; k++) {
        if (c->ops[k].kind == JD_MOP_NOT && c->ops[k].inner) {
            config_cond_free(c->ops[k].inner);
            free(c->ops[k].inner);
        }
    }
    free(c->ops);
    free(c->values);
}

void config_match_free(jd_match_t *m)
{
    for (uint32_t i = 0; m->conds && i < m->nconds; i++)
        config_cond_free(&m->conds[i]);
    free(m->conds);
    m->conds = NULL;
    m->nconds = 0;
}

int config_match_uses(const jd_match_t *m, uint32_t slot)
{
    for (uint32_t i = 0; i < m->nconds; i++)
        if (m->conds[i].slot == slot)
            return 1;
    return 0;
}
