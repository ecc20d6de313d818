/* Match filters and evidence records shared by the rule kinds. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "journeyd/rule.h"

/* Numeric value of a slot's text: the whole text must be a finite number. */
static int match_num(const char *v, double *out)
{
    char *end;
    if (!*v)
        return 0;
    double d = strtod(v, &end);
    if (*end || !isfinite(d))
        return 0;
    *out = d;
    return 1;
}

static int match_cond(const jd_match_cond_t *c, const char *v, const char *const *vars);

static int match_op(const jd_match_op_t *o, const char *v, const char *const *vars)
{
    double d;
    switch (o->kind) {
    case JD_MOP_NOT:
        return !match_cond(o->inner, v, vars);
    case JD_MOP_EXISTS:
        return o->exists == (v != NULL);
    case JD_MOP_PREFIX:
        return v && strncmp(v, o->str, o->len) == 0;
    case JD_MOP_VAR:
        /* interned in the same table: pointer equality; an unbound
         * variable (vars == NULL) equals nothing */
        return v && vars && vars[o->var] == v;
    case JD_MOP_GT:
        return v && match_num(v, &d) && d > o->num;
    case JD_MOP_GTE:
        return v && match_num(v, &d) && d >= o->num;
    case JD_MOP_LT:
        return v && match_num(v, &d) && d < o->num;
    case JD_MOP_LTE:
        return v && match_num(v, &d) && d <= o->num;
    }
    return 0;
}

/* Whether value v (NULL = absent) satisfies one of c's alternatives. */
static int match_cond(const jd_match_cond_t *c, const char *v, const char *const *vars)
{
    /* Values are interned in the same table as event slots, so
     * pointer equality is string equality. */
    for (uint32_t k = 0; v && k < c->nvalues; k++)
        if (c->values[k] == v)
            return 1;
    for (uint32_t k = 0; k < c->nops; k++)
        if (match_op(&c->ops[k], v, vars))
            return 1;
    return 0;
}

int jd_match_event_vars(const jd_match_t *m, const jd_event_t *ev, const char *const *vars)
{
    for (uint32_t i = 0; i < m->nconds; i++) {
        const jd_match_cond_t *c = &m->conds[i];
        const char *v = c->slot < ev->nslots ? ev->slot[c->slot] : NULL;
        if (!v && !c->nops)
            return 0;
        if (!match_cond(c, v, vars))
            return 0;
    }
    return 1;
}

int jd_match_event(const jd_match_t *m, const jd_event_t *ev)
{
    /* The hot path of every rule on every event (a tenth of the evaluating
     * thread's instructions): filters of values only, the usual kind, take
     * the shortest loop; operators only for conditions that have them. */
    if (m->plain) {
        for (uint32_t i = 0; i < m->nconds; i++) {
            const jd_match_cond_t *c = &m->conds[i];
            const char *v = c->slot < ev->nslots ? ev->slot[c->slot] : NULL;
            uint32_t k = 0;
            if (!v)
                return 0;
            while (k < c->nvalues && c->values[k] != v)
                k++;
            if (k == c->nvalues)
                return 0;
        }
        return 1;
    }
    for (uint32_t i = 0; i < m->nconds; i++) {
        const jd_match_cond_t *c = &m->conds[i];
        const char *v = c->slot < ev->nslots ? ev->slot[c->slot] : NULL;
        uint32_t k = 0;
        if (v)
            while (k < c->nvalues && c->values[k] != v)
                k++;
        if (v && k < c->nvalues)
            continue;
        if (!c->nops || !match_cond(c, v, NULL))
            return 0;
    }
    return 1;
}

int jd_rule_ignores(const jd_rule_t *r, const jd_event_t *ev)
{
    return r->has_ignore && jd_match_event(&r->ignore, ev);
}

void jd_evid_from_event(jd_evid_t *out, const jd_event_t *ev)
{
    out->ts = ev->ts;
    out->channel = jd_intern_ref(ev->slot[JD_SLOT_CHANNEL]);
    out->id = ev->event_id ? strdup(ev->event_id) : NULL;
    out->rule = NULL;
}

void jd_evid_clear(jd_evid_t *ev)
{
    free(ev->id);
    ev->id = NULL;
    jd_intern_unref(ev->channel);
    ev->channel = NULL;
}

void jd_evid_drop(const jd_evid_t *ev)
{
    free(ev->id);
    jd_intern_unref(ev->channel);
}

void jd_evid_copy(jd_evid_t *out, const jd_evid_t *in)
{
    *out = *in;
    out->id = in->id ? strdup(in->id) : NULL;
    jd_intern_ref(out->channel);
}

void jd_evid_save(const jd_evid_t *ev, jd_strbuf_t *sb)
{
    jd_strbuf_putc(sb, '[');
    jd_strbuf_i64(sb, ev->ts);
    jd_strbuf_putc(sb, ',');
    jd_strbuf_json_str(sb, ev->channel);
    jd_strbuf_putc(sb, ',');
    jd_strbuf_json_str(sb, ev->id);
    jd_strbuf_putc(sb, ',');
    jd_strbuf_json_str(sb, ev->rule);
    jd_strbuf_putc(sb, ']');
}

int jd_evid_load(jd_evid_t *out, json_t *v, const jd_config_t *conf)
{
    memset(out, 0, sizeof(*out));
    if (!json_is_array(v) || json_array_size(v) != 4 ||
        !json_is_integer(json_array_get(v, 0)))
        return -1;
    out->ts = json_integer_value(json_array_get(v, 0));
    const char *ch = json_string_value(json_array_get(v, 1));
    const char *id = json_string_value(json_array_get(v, 2));
    const char *rule = json_string_value(json_array_get(v, 3));
    out->channel = ch ? jd_intern_str(conf->intern, ch) : NULL;
    out->id = id ? strdup(id) : NULL;
    if (rule) {
        const jd_rule_t *r = jd_config_rule(conf, rule);
        out->rule = r ? r->name : NULL;
    }
    return 0;
}
