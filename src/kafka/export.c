/*
 * What the runner exports to /metrics (contract section 8): per partition
 * the messages consumed, the lag behind the partition's end (from the
 * consumer's cached watermarks: no broker request) and the watermark delay;
 * and the engines' counters summed over tasks. A task's engine is destroyed
 * when the task leaves or rewinds, so its counters are kept ("retired")
 * first: the exported counters only ever grow.
 */
#include <math.h>
#include <time.h>
#include "runner_priv.h"

enum { EX_EVALUATED = 0, EX_DUPLICATES, EX_FORCED, EX_EVICTED };
static const jd_metric_id_t ex_ids[4] = {
    JD_M_EVENTS_EVALUATED, JD_M_DUPLICATES, JD_M_FORCED_ADVANCES, JD_M_GROUPS_EVICTED,
};
static const char *const ex_sev[] = { "low", "medium", "high" };

static void ex_counts(const jd_engine_stats_t *s, uint64_t out[4])
{
    out[EX_EVALUATED] = s->events_evaluated;
    out[EX_DUPLICATES] = s->duplicates;
    out[EX_FORCED] = s->forced_advances;
    out[EX_EVICTED] = s->groups_evicted;
}

void jd_runner_metrics_retire(jd_runner_t *r, jd_task_t *t)
{
    const jd_engine_stats_t *s;
    uint64_t c[4];
    if (!t->engine)
        return;
    s = jd_engine_stats(t->engine);
    ex_counts(s, c);
    for (int i = 0; i < 4; i++)
        r->ret[i] += c[i];
    for (uint32_t i = 0; r->ret_alerts && i < r->conf->nrules; i++)
        r->ret_alerts[i] += s->alerts_by_rule[i];
}

static int64_t ex_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void jd_runner_metrics(jd_runner_t *r, int64_t now, int force)
{
    uint64_t tot[4], customers = 0, tasks = 0, frozen = 0;
    int64_t wall = ex_wall_ms();
    uint32_t nrules = r->conf->nrules;

    if (!r->metrics || (!force && now - r->last_metrics_mono < 1000))
        return;
    r->last_metrics_mono = now;
    for (int i = 0; i < 4; i++)
        tot[i] = r->ret[i];
    uint64_t *alerts = calloc(nrules ? nrules : 1, sizeof(*alerts));
    for (uint32_t i = 0; alerts && i < nrules; i++)
        alerts[i] = r->ret_alerts ? r->ret_alerts[i] : 0;
    for (int32_t p = 0; p < r->ntasks; p++) {
        jd_task_t *t = r->tasks[p];
        const jd_engine_stats_t *s;
        uint64_t c[4];
        if (!t || t->state != JD_TASK_RUNNING || !t->engine)
            continue;
        tasks++;
        s = jd_engine_stats(t->engine);
        ex_counts(s, c);
        for (int i = 0; i < 4; i++)
            tot[i] += c[i];
        for (uint32_t i = 0; alerts && i < nrules; i++)
            alerts[i] += s->alerts_by_rule[i];
        customers += s->customers;
        frozen += jd_engine_frozen_count(t->engine);
        for (size_t k = 0; k < t->ntps; k++) {
            jd_task_tp_t *tp = &t->tps[k];
            int64_t lo = -1, hi = -1, lag = -1;
            if (!tp->assigned)
                continue;
            if (!rd_kafka_get_watermark_offsets(r->consumer, tp->topic, p, &lo, &hi) &&
                hi >= 0 && tp->next_offset >= 0)
                lag = hi > tp->next_offset ? hi - tp->next_offset : 0;
            jd_metrics_set_partition(r->metrics, tp->topic, p, tp->consumed, lag,
                                     t->has_events ? (double)(wall - t->wm) / 1000.0 : NAN);
        }
    }
    for (int i = 0; i < 4; i++) {
        if (tot[i] > r->rep[i])
            jd_metrics_add(r->metrics, ex_ids[i], NULL, tot[i] - r->rep[i]);
        r->rep[i] = tot[i];
    }
    for (uint32_t i = 0; alerts && r->rep_alerts && i < nrules; i++) {
        if (alerts[i] > r->rep_alerts[i])
            jd_metrics_alert(r->metrics, r->conf->rules[i].name,
                             ex_sev[r->conf->rules[i].severity], alerts[i] - r->rep_alerts[i]);
        r->rep_alerts[i] = alerts[i];
    }
    free(alerts);
    for (int i = 1; i < JD_DL__COUNT; i++)
        if (r->dl_by_reason[i] > r->dl_reported[i]) {
            jd_metrics_dead_letter(r->metrics, jd_dl_reason_name((jd_dl_reason_t)i),
                                   r->dl_by_reason[i] - r->dl_reported[i]);
            r->dl_reported[i] = r->dl_by_reason[i];
        }
    jd_metrics_set(r->metrics, JD_M_CUSTOMERS_ACTIVE, NULL, (double)customers);
    jd_metrics_set(r->metrics, JD_M_TASKS_ASSIGNED, NULL, (double)tasks);
    if (r->keyed_any) {
        static const jd_metric_id_t ids[5] = {JD_M_REPARTITIONED, JD_M_LINK_NOTICES,
                                              JD_M_HANDOVERS_SENT, JD_M_HANDOVERS_RECEIVED,
                                              JD_M_FORWARDED};
        const uint64_t now_v[5] = {r->rp_routed, r->rp_notices, r->rp_handovers_out,
                                   r->rp_handovers_in, r->rp_forwarded};
        for (int i = 0; i < 5; i++) {
            if (now_v[i] > r->rp_reported[i])
                jd_metrics_add(r->metrics, ids[i], NULL, now_v[i] - r->rp_reported[i]);
            r->rp_reported[i] = now_v[i];
        }
        jd_metrics_set(r->metrics, JD_M_CUSTOMERS_FROZEN, NULL, (double)frozen);
    }
}
