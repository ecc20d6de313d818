/*
 * The engine's counters: the snapshot jd_engine_stats hands out, its JSON
 * (the "engine" object of replay's --summary-json), and the per-rule
 * arrays that engines and the shard router allocate and sum. Step counts
 * (jd_funnel_stats_t) exist for the rule kinds whose ops ask for them.
 */
#include <stdlib.h>
#include "journeyd/timeutil.h"
#include "engine_priv.h"

static int rule_has_steps(const jd_rule_t *r)
{
    return jd_rule_ops_for(r->kind)->step_stats;
}

int engine_stats_alloc(const jd_config_t *c, jd_engine_stats_t *st)
{
    uint32_t n = c->nrules ? c->nrules : 1;
    if (!(st->alerts_by_rule = calloc(n, sizeof(uint64_t))) ||
        !(st->funnels = calloc(n, sizeof(jd_funnel_stats_t))))
        return -1;
    for (uint32_t r = 0; r < c->nrules; r++) {
        if (!rule_has_steps(&c->rules[r]))
            continue;
        jd_funnel_stats_t *f = &st->funnels[r];
        if (!(f->reached = calloc(c->rules[r].nsteps, sizeof(uint64_t))) ||
            !(f->dropped = calloc(c->rules[r].nsteps, sizeof(uint64_t))))
            return -1;
    }
    return 0;
}

void engine_stats_free(const jd_config_t *c, jd_engine_stats_t *st)
{
    if (st->funnels)
        for (uint32_t r = 0; r < c->nrules; r++) {
            free(st->funnels[r].reached);
            free(st->funnels[r].dropped);
        }
    free(st->funnels);
    free(st->alerts_by_rule);
    st->funnels = NULL;
    st->alerts_by_rule = NULL;
}

void engine_stats_add(const jd_config_t *c, jd_engine_stats_t *sum, const jd_engine_stats_t *x)
{
    sum->events_evaluated += x->events_evaluated;
    sum->duplicates += x->duplicates;
    sum->suppressed += x->suppressed;
    sum->customers += x->customers;
    sum->customers_total += x->customers_total;
    sum->evicted += x->evicted;
    sum->expired += x->expired;
    sum->groups_evicted += x->groups_evicted;
    sum->forced_advances += x->forced_advances;
    sum->links += x->links;
    sum->merges += x->merges;
    sum->timers += x->timers;
    for (uint32_t r = 0; r < c->nrules; r++) {
        sum->alerts_by_rule[r] += x->alerts_by_rule[r];
        jd_funnel_stats_t *f = &sum->funnels[r];
        const jd_funnel_stats_t *g = &x->funnels[r];
        f->attempts += g->attempts;
        f->completed += g->completed;
        f->pending += g->pending;
        for (uint32_t k = 0; rule_has_steps(&c->rules[r]) && k < c->rules[r].nsteps; k++) {
            f->reached[k] += g->reached[k];
            f->dropped[k] += g->dropped[k];
        }
    }
}

const jd_engine_stats_t *jd_engine_stats(jd_engine_t *e)
{
    e->st.buffered = e->evh.n;
    e->st.timers = e->tn;
    e->st.links = e->ids.made;
    return &e->st;
}

json_t *jd_engine_stats_json(jd_engine_t *e)
{
    return jd_engine_stats_to_json(e->conf, jd_engine_stats(e));
}

json_t *jd_engine_stats_to_json(const jd_config_t *c, const jd_engine_stats_t *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "events_in", json_integer((json_int_t)s->events_in));
    json_object_set_new(o, "events_evaluated", json_integer((json_int_t)s->events_evaluated));
    json_object_set_new(o, "late", json_integer((json_int_t)s->late));
    json_object_set_new(o, "duplicates", json_integer((json_int_t)s->duplicates));
    json_object_set_new(o, "alerts", json_integer((json_int_t)s->alerts));
    json_object_set_new(o, "suppressed_by_cooldown", json_integer((json_int_t)s->suppressed));
    json_object_set_new(o, "customers_active", json_integer((json_int_t)s->customers));
    json_object_set_new(o, "customers_peak", json_integer((json_int_t)s->customers_peak));
    json_object_set_new(o, "customers_total", json_integer((json_int_t)s->customers_total));
    json_object_set_new(o, "evicted", json_integer((json_int_t)s->evicted));
    json_object_set_new(o, "expired", json_integer((json_int_t)s->expired));
    json_object_set_new(o, "groups_evicted", json_integer((json_int_t)s->groups_evicted));
    json_object_set_new(o, "links", json_integer((json_int_t)s->links));
    json_object_set_new(o, "merges", json_integer((json_int_t)s->merges));
    json_object_set_new(o, "buffered", json_integer((json_int_t)s->buffered));
    json_object_set_new(o, "forced_advances", json_integer((json_int_t)s->forced_advances));
    char buf[JD_TIME_BUFSZ];
    json_object_set_new(o, "watermark", s->watermark == INT64_MIN ? json_null() :
                        json_string(jd_time_format_rfc3339(s->watermark, buf)));
    json_object_set_new(o, "max_ts", s->max_ts == INT64_MIN ? json_null() :
                        json_string(jd_time_format_rfc3339(s->max_ts, buf)));
    json_t *rules = json_object();
    json_t *funnels = json_object();
    for (uint32_t i = 0; i < c->nrules; i++) {
        const jd_rule_t *r = &c->rules[i];
        json_object_set_new(rules, r->name, json_integer((json_int_t)s->alerts_by_rule[i]));
        if (!rule_has_steps(r))
            continue;
        const jd_funnel_stats_t *f = &s->funnels[i];
        json_t *fo = json_object();
        json_object_set_new(fo, "attempts", json_integer((json_int_t)f->attempts));
        json_object_set_new(fo, "completed", json_integer((json_int_t)f->completed));
        json_object_set_new(fo, "pending", json_integer((json_int_t)f->pending));
        json_object_set_new(fo, "conversion", json_real(f->attempts ?
                            (double)f->completed / (double)f->attempts : 0.0));
        json_t *steps = json_array();
        for (uint32_t k = 0; k < r->nsteps; k++) {
            json_t *so = json_object();
            json_object_set_new(so, "name", json_string(r->steps[k].name));
            json_object_set_new(so, "reached", json_integer((json_int_t)f->reached[k]));
            json_object_set_new(so, "dropped_after", json_integer((json_int_t)f->dropped[k]));
            json_object_set_new(so, "rate_from_start", json_real(f->attempts ?
                                (double)f->reached[k] / (double)f->attempts : 0.0));
            json_object_set_new(so, "rate_from_previous", json_real(k == 0 ? 1.0 :
                                f->reached[k - 1] ? (double)f->reached[k] /
                                (double)f->reached[k - 1] : 0.0));
            json_array_append_new(steps, so);
        }
        json_object_set_new(fo, "steps", steps);
        json_object_set_new(funnels, r->name, fo);
    }
    json_object_set_new(o, "alerts_by_rule", rules);
    json_object_set_new(o, "funnels", funnels);
    return o;
}
