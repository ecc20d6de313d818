/*
 * Metrics: the registry behind `/metrics`, rendered in the Prometheus text
 * exposition format (version 0.0.4, with # HELP and # TYPE).
 *
 * Every metric journeyd exports is defined once, in the table at the top of
 * src/ops/metrics.c (name, type, help, label names, buckets); the enum below
 * indexes it. The module knows nothing of Kafka or the engine: the stream
 * runner pushes numbers in, the HTTP thread renders them.
 *
 * Threads: one mutex guards the registry. Writers (the runner's threads)
 * hold it for a hash lookup and an add; jd_metrics_render holds it while it
 * formats (a few microseconds for a few hundred series). So any number of
 * writer threads and the HTTP thread may call in concurrently; call the
 * writers per poll batch or per checkpoint, not per event.
 *
 * Bound: at most JD_METRICS_MAX_SERIES labelled series in all (labels come
 * from assigned partitions, configured rules and dead-letter reasons, so the
 * bound is only reached by a bug or a huge assignment). An update that would
 * create a series beyond it is dropped and counted in
 * journeyd_metrics_series_dropped_total.
 */
#ifndef JOURNEYD_METRICS_H
#define JOURNEYD_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include "journeyd/common.h"
#include "journeyd/config.h"

#define JD_METRICS_MAX_SERIES 10000
#define JD_METRICS_MAX_LABELS 3

typedef enum { JD_MT_COUNTER = 0, JD_MT_GAUGE, JD_MT_HISTOGRAM } jd_metric_type_t;

/* Indexes of the table in src/ops/metrics.c (same order). */
typedef enum {
    JD_M_BUILD_INFO = 0,        /* gauge 1 {version} */
    JD_M_RULE_INFO,             /* gauge 1 {rule,kind,severity}: joins alerts to rule kinds */
    JD_M_EVENTS_CONSUMED,       /* counter {topic,partition} */
    JD_M_EVENTS_EVALUATED,      /* counter */
    JD_M_DEAD_LETTERS,          /* counter {reason} */
    JD_M_ALERTS,                /* counter {rule,severity} */
    JD_M_DUPLICATES,            /* counter */
    JD_M_CONSUMER_LAG,          /* gauge {topic,partition} */
    JD_M_WATERMARK_DELAY,       /* gauge {topic,partition}, seconds */
    JD_M_CUSTOMERS_ACTIVE,      /* gauge */
    JD_M_CHECKPOINTS,           /* counter */
    JD_M_CHECKPOINT_DURATION,   /* histogram, seconds */
    JD_M_FORCED_ADVANCES,       /* counter */
    JD_M_GROUPS_EVICTED,        /* counter */
    JD_M_TASKS_ASSIGNED,        /* gauge */
    JD_M_SERIES_DROPPED,        /* counter: updates dropped by the series bound */
    /* input.keyed_by=any (src/kafka/repart.h) */
    JD_M_REPARTITIONED,         /* counter: events written to the repartition topic */
    JD_M_LINK_NOTICES,          /* counter: links announced to another task */
    JD_M_HANDOVERS_SENT,        /* counter: anonymous journeys handed to another task */
    JD_M_HANDOVERS_RECEIVED,    /* counter */
    JD_M_FORWARDED,             /* counter: events passed on after a hand-over */
    JD_M_CUSTOMERS_FROZEN,      /* gauge: customers waiting for a hand-over */
    JD_M__COUNT
} jd_metric_id_t;

typedef struct jd_metric_def {
    const char *name;           /* "journeyd_alerts_total" */
    jd_metric_type_t type;
    const char *help;
    const char *labels[JD_METRICS_MAX_LABELS]; /* NULL-terminated when fewer */
    const double *buckets;      /* histograms: upper bounds, ascending */
    size_t nbuckets;
} jd_metric_def_t;

/* The table entry of id (static storage). */
const jd_metric_def_t *jd_metric_def(jd_metric_id_t id);

typedef struct jd_metrics jd_metrics_t;

/* A registry with journeyd_build_info{version} set to 1 and every unlabelled
 * metric at 0. version is copied. NULL on out of memory. */
jd_metrics_t *jd_metrics_new(const char *version);
/* NULL-safe. */
void jd_metrics_destroy(jd_metrics_t *m);

/* ---- generic updates (labels: as many values as the metric has label
 * names, in table order; NULL for an unlabelled metric). A call naming a
 * metric of another type, or m == NULL, does nothing. ---- */

/* Counter += n. */
void jd_metrics_add(jd_metrics_t *m, jd_metric_id_t id, const char *const *labels, uint64_t n);
/* Gauge = v; or a counter set to an absolute total kept by the caller. */
void jd_metrics_set(jd_metrics_t *m, jd_metric_id_t id, const char *const *labels, double v);
/* Histogram: one observation. */
void jd_metrics_observe(jd_metrics_t *m, jd_metric_id_t id, const char *const *labels, double v);
/* Drops one series (a revoked partition's, say). 1 if it existed, else 0. */
int jd_metrics_remove(jd_metrics_t *m, jd_metric_id_t id, const char *const *labels);

/* ---- what the stream runner calls ---- */

/* After config load: journeyd_rule_info{rule,kind,severity} 1 for every rule
 * and journeyd_alerts_total{rule,severity} 0 for each, so rate() and the
 * dashboard see every rule before its first alert. */
void jd_metrics_declare_rules(jd_metrics_t *m, const jd_config_t *conf);

/* Per task/partition, each loop or checkpoint:
 *   consumed  the partition's events consumed so far (a running total the
 *             caller keeps; it restarts when the partition is reassigned,
 *             which Prometheus' rate() treats as a counter reset);
 *   lag       high watermark minus position, < 0 = unknown (left as is);
 *   wm_delay  wall clock minus the partition's watermark in seconds, NaN =
 *             unknown (left as is). */
void jd_metrics_set_partition(jd_metrics_t *m, const char *topic, int32_t partition,
                              uint64_t consumed, int64_t lag, double wm_delay);
/* On revocation or loss: the partition's consumed/lag/watermark series go. */
void jd_metrics_remove_partition(jd_metrics_t *m, const char *topic, int32_t partition);

/* n alerts of rule (name) at severity ("low", "medium", "high"). */
void jd_metrics_alert(jd_metrics_t *m, const char *rule, const char *severity, uint64_t n);
/* n dead letters of reason (jd_dl_reason_name's string). */
void jd_metrics_dead_letter(jd_metrics_t *m, const char *reason, uint64_t n);
/* One completed checkpoint of the given duration: checkpoints_total += 1
 * and the duration histogram observes it. */
void jd_metrics_checkpoint(jd_metrics_t *m, double seconds);

/* Unlabelled counters (events evaluated, duplicates, forced advances,
 * groups evicted) and gauges (customers active, tasks assigned) use
 * jd_metrics_add / jd_metrics_set with labels NULL. */

/* ---- rendering ---- */

/* The exposition text of every metric, in table order, series in the order
 * they were first set. Caller frees. NULL on out of memory; *len = length. */
char *jd_metrics_render(jd_metrics_t *m, size_t *len);

/* Content-Type of the rendering. */
#define JD_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
