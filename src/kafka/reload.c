/*
 * SIGHUP for `journeyd run`: reload the rules from the same -c/-X while
 * running, as Vector and Fluent Bit do (runner.c calls jd_runner_reload
 * when the flag the signal handler sets is up, with every worker paused).
 */
#include <inttypes.h>
#include <stdlib.h>
#include "runner_priv.h"

/* 1 when a and b differ only in their rules. */
static int runner_only_rules_differ(const jd_config_t *a, const jd_config_t *b)
{
    json_t *x = json_deep_copy(a->effective), *y = json_deep_copy(b->effective);
    int same;
    json_object_del(x, "rules");
    json_object_del(y, "rules");
    same = json_equal(x, y);
    json_decref(x);
    json_decref(y);
    return same;
}

/* As Vector and Fluent Bit do: a new configuration that validates replaces
 * the rules; one that does not is logged and the current rules stay. Every
 * task is checkpointed, then rebuilt from the changelog with the new rules:
 * a rule whose definition is unchanged keeps its state (states are saved
 * under the hash of the rule's definition, src/engine/changelog.c); a new
 * or changed one starts empty. */
void jd_runner_reload(jd_runner_t *r)
{
    jd_err_t err;
    jd_config_t *nc = r->opts.load_config ? r->opts.load_config(r->opts.load_opaque, &err) : NULL;
    jd_decoder_t **nds = NULL;
    uint64_t *ra = NULL, *rp = NULL;

    if (!r->opts.load_config)
        return;
    if (!nc) {
        JD_LOG(JD_LOG_WARN, "SIGHUP: the configuration does not validate, the current rules "
               "stay: %s", err.msg);
        return;
    }
    if (!runner_only_rules_differ(r->conf, nc)) {
        JD_LOG(JD_LOG_WARN, "SIGHUP: only `rules` can be reloaded; other keys changed (restart "
               "to apply them), the current rules stay");
        goto drop;
    }
    if (!(nds = calloc(r->ndx, sizeof(*nds))) ||
        !(ra = calloc(nc->nrules + 1, sizeof(*ra))) || !(rp = calloc(nc->nrules + 1, sizeof(*rp)))) {
        JD_LOG(JD_LOG_WARN, "SIGHUP: out of memory; the current rules stay");
        goto drop;
    }
    for (uint32_t i = 0; i < r->ndx; i++)
        if (!(nds[i] = jd_decoder_new(nc, &err))) {
            JD_LOG(JD_LOG_WARN, "SIGHUP: %s; the current rules stay", err.msg);
            goto drop;
        }
    /* everything evaluated so far durable, under the old rules */
    if (jd_ckpt_sync(r, NULL, 0))
        goto drop;
    for (int32_t p = 0; p < r->ntasks; p++)
        if (r->tasks[p] && r->tasks[p]->engine) {
            jd_runner_metrics_retire(r, r->tasks[p]);
            jd_engine_destroy(r->tasks[p]->engine);
            r->tasks[p]->engine = NULL;
        }
    for (uint32_t i = 0; i < r->ndx; i++) {
        jd_decoder_destroy(r->dx[i].dec);
        r->dx[i].dec = nds[i];
        free(r->dx[i].csv_hdr);
        r->dx[i].csv_hdr = NULL;
    }
    free(nds);
    free(r->ret_alerts);
    free(r->rep_alerts);
    r->ret_alerts = ra;
    r->rep_alerts = rp;
    r->conf = nc;
    jd_config_destroy(r->owned_conf);
    r->owned_conf = nc;
    jd_metrics_declare_rules(r->metrics, nc);
    for (int32_t p = 0; p < r->ntasks && !r->fatal; p++)
        if (r->tasks[p] && r->tasks[p]->state == JD_TASK_RUNNING)
            jd_runner_task_rewind(r, r->tasks[p]);
    JD_LOG(JD_LOG_INFO, "SIGHUP: %" PRIu32 " rules loaded; unchanged rules kept their state",
           nc->nrules);
    return;
drop:
    for (uint32_t i = 0; nds && i < r->ndx; i++)
        jd_decoder_destroy(nds[i]);
    free(nds);
    free(ra);
    free(rp);
    jd_config_destroy(nc);
}

