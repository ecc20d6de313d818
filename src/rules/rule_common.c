/* Match filters and evidence records shared by the rule kinds. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "journeyd/rule.h"

int jd_match_event(const jd_match_t *m, const jd_event_t *ev)
{
    for (uint32_t i = 0; i < m->nconds; i++) {
        const jd_match_cond_t *c = &m->conds[i];
        const char *v = c->slot < ev->nslots ? ev->slot[c->slot] : NULL;
        if (!v)
            return 0;
        uint32_t k = 0;
        /* Values are interned in the same table as event slots, so
         * pointer equality is string equality. */
        while (k < c->nvalues && c->values[k] != v)
            k++;
        if (k == c->nvalues)
            return 0;
    }
    return 1;
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
