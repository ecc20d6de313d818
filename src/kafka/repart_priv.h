/*
 * What repart.c and repart_state.c share of a task's repartition state
 * (repart.h). Private to src/kafka/.
 */
#ifndef JOURNEYD_KAFKA_REPART_PRIV_H
#define JOURNEYD_KAFKA_REPART_PRIV_H

#include "runner_priv.h"
#include "repart.h"

/* Out of memory keeping the state: logged with where, and fatal. */
void jd_xtask_fatal(jd_runner_t *r, const jd_task_t *t, int where);
/* sb as one record to repartition partition dest, in t's transaction;
 * 0, or -1 (fatal). */
int jd_xtask_produce(jd_runner_t *r, jd_task_t *t, int32_t dest, const char *key,
                     const jd_strbuf_t *sb);
/* The marker table sized for n tasks; 0 / -1 (OOM). */
int jd_xtask_size(jd_xtask_t *x, int32_t n);
/* From the markers: the router watermark this task goes by, and the
 * engine's (see marker_floor in repart.c). */
int64_t jd_xtask_router_wm(const jd_xtask_t *x);
int64_t jd_xtask_markers_wm(const jd_xtask_t *x);
/* Forget the buffered-event index at or below the engine's watermark. */
void jd_xtask_prune_buffered(jd_xtask_t *x, int64_t wm);
/* Forwarding entries of handed-over anonymous ids. */
jd_xfwd_t *jd_xtask_fwd_get(const jd_xtask_t *x, const char *anon);
jd_xfwd_t *jd_xtask_fwd_set(jd_xtask_t *x, const char *anon, int32_t dest, int64_t since);

#endif
