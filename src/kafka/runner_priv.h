/*
 * Private to the stream runner (src/kafka/): the runner's state, shared by
 * runner.c (the poll loop and rebalances, Kafka Streams' StreamThread),
 * collector.c (producing alerts and dead letters, delivery reports:
 * RecordCollector), checkpoint.c (consistent checkpoints) and changelog.c
 * (the changelog topic and restoring a task: StoreChangelogReader).
 */
#ifndef JOURNEYD_KAFKA_RUNNER_PRIV_H
#define JOURNEYD_KAFKA_RUNNER_PRIV_H

#include <stdint.h>
#include "journeyd/decode.h"
#include "journeyd/http.h"
#include "journeyd/metrics.h"
#include "journeyd/deadletter.h"
#include "journeyd/kafka.h"
#include "journeyd/intern.h"
#include "journeyd/reader.h"
#include "task.h"

#define JD_RESTORE_TIMEOUT_MS 120000
#define JD_ADMIN_TIMEOUT_MS 30000
#define JD_TXN_TIMEOUT_MS 60000

/* Delivery report kinds, in the low 2 bits of the message opaque; the rest
 * is the epoch of an alert or dead letter (checkpoint.c). */
enum { JD_DR_ALERT = 1, JD_DR_DEADLETTER };
#define JD_DR_KIND_BITS 2

enum { JD_CKPT_NONE = 0, JD_CKPT_WAIT_ALERTS };

typedef struct jd_runner {
    const jd_config_t *conf;
    jd_config_t *owned_conf;    /* the last reloaded configuration, or NULL */
    jd_runner_opts_t opts;
    int eos;                /* processing.guarantee=exactly_once */
    rd_kafka_t *consumer;
    rd_kafka_t *producer;   /* at_least_once: alerts and dead letters */
    rd_kafka_t *restore;
    /* decoding: one context per worker thread (index 0 serves the main
     * thread when processing.threads=1) */
    struct jd_decode_ctx *dx;
    uint32_t ndx;
    struct jd_workers *workers;  /* NULL when processing.threads=1 */
    char changelog[300];
    int changelog_ready;
    int32_t changelog_parts;
    /* input.keyed_by=any (repart.h): the repartition topic, its partition
     * count (the input's), and what went through it */
    int keyed_any;
    char repart[300];
    int32_t rp_parts;
    _Atomic uint64_t rp_routed, rp_notices, rp_handovers_out, rp_handovers_in, rp_forwarded;
    uint64_t rp_reported[5];
    jd_task_t **tasks;      /* by partition number; NULL = never assigned */
    int32_t ntasks;
    int finished;           /* engines finished: everything evaluated */
    /* Counters and flags that worker threads and delivery reports (which
     * run in whichever thread polls a producer) update: atomic. */
    _Atomic uint64_t consumed, dead_letters, late, skipped, alerts_produced, alerts_acked;
    uint64_t checkpoints;
    _Atomic uint64_t delivery_failed;
    _Atomic int fatal;
    int64_t last_commit_mono;
    _Atomic int64_t last_data_mono;
    uint64_t epoch;         /* epoch of alerts and dead letters produced now;
                               changes only while workers are paused */
    _Atomic uint64_t out_cur;   /* unacknowledged alerts/dead letters of epoch */
    _Atomic uint64_t out_old;   /* ... of earlier epochs (the checkpoint's) */
    int ckpt_state;
    uint64_t ckpt_alerts_produced;
    /* operations (metrics.c of this folder) */
    jd_metrics_t *metrics;
    jd_http_t *http;
    int brokers_down;       /* reported once; cleared when one answers */
    int64_t last_metrics_mono;
    _Atomic uint64_t dl_by_reason[JD_DL__COUNT];
    uint64_t dl_reported[JD_DL__COUNT];
    /* engine counters: of engines already destroyed (retired) and as last
     * reported, so the exported counters never go back */
    uint64_t ret[4], rep[4];
    uint64_t *ret_alerts, *rep_alerts;   /* per rule */
} jd_runner_t;

/* metrics.c (runner side): export the runner's numbers, at most once a
 * second unless force; keep a task's counters before its engine goes. */
void jd_runner_metrics(jd_runner_t *r, int64_t now, int force);
void jd_runner_metrics_retire(jd_runner_t *r, jd_task_t *t);

/* A worker's decoding state: decoders are not shared between threads. */
typedef struct jd_decode_ctx {
    jd_decoder_t *dec;
    jd_csv_parser_t *csvp;
    char *csv_hdr;          /* raw header currently set on the decoder */
    size_t csv_hdr_len;
    jd_intern_cache_t *ic;  /* input.keyed_by=any: repartitioned events */
} jd_decode_ctx_t;

/* runner.c, for the workers: one message of a running task (decoded with
 * dx), and one task's watermark step. Called by the thread owning the
 * task. */
void jd_runner_handle_message(jd_runner_t *r, jd_decode_ctx_t *dx,
                              const rd_kafka_message_t *m, int64_t now);
void jd_runner_task_advance(jd_runner_t *r, jd_task_t *t, int64_t now);
/* runner.c: back to the task's last committed state (restore, seek). */
void jd_runner_task_rewind(jd_runner_t *r, jd_task_t *t);
/* reload.c: SIGHUP. */
void jd_runner_reload(jd_runner_t *r);

/* workers.c: processing.threads=N > 1 threads run the tasks; task p
 * belongs to thread p mod N. The main thread polls the consumer and hands
 * each message to its task's thread (a bounded queue: the main thread
 * waits when it is full). Whatever touches more than one task (checkpoints,
 * rebalances, rewinds, reloads, metrics) runs on the main thread while
 * every worker is paused with an empty queue. */
typedef struct jd_workers jd_workers_t;
jd_workers_t *jd_workers_new(jd_runner_t *r, uint32_t n, jd_err_t *err);
void jd_workers_destroy(jd_workers_t *w);   /* NULL-safe; joins the threads */
/* Hand m over (the worker destroys it); waits while the queue is full. */
void jd_workers_dispatch(jd_workers_t *w, rd_kafka_message_t *m);
/* Pause: returns once every worker has handled its queue and waits.
 * Nested calls count; resume at the same depth lets them go. NULL-safe. */
void jd_workers_pause(jd_workers_t *w);
void jd_workers_resume(jd_workers_t *w);

/* collector.c */
void jd_collector_on_alert(void *opaque, const char *key, size_t keylen,
                           const char *json, size_t jsonlen, int64_t ts);
void jd_collector_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);
void jd_collector_dead_letter(jd_runner_t *r, jd_task_t *t, const rd_kafka_message_t *m,
                              jd_dl_reason_t reason, const char *detail);
/* A task's engine: alerts go through jd_collector_on_alert with the task
 * as opaque (its owner is r). */
int jd_collector_task_start(jd_runner_t *r, jd_task_t *t, jd_err_t *err);
/* Fatal errors stop the runner; transient ones (broker down) are logged:
 * librdkafka retries by itself. */
void jd_collector_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque);

/* checkpoint.c */
void jd_ckpt_begin(jd_runner_t *r, int64_t now);
void jd_ckpt_progress(jd_runner_t *r);
/* Synchronous: everything evaluated so far durable and committed, for
 * every running task (only: the tasks with partition in only[], when
 * nonly > 0). 0 / -1 (fatal). */
int jd_ckpt_sync(jd_runner_t *r, const int32_t *only, int nonly);
int jd_ckpt_flush_all(jd_runner_t *r);

/* Begin task t's transaction if none is open. 0 / -1. */
int jd_ckpt_txn_begin(jd_runner_t *r, jd_task_t *t);

/* changelog.c */
int jd_changelog_ensure(jd_runner_t *r);
/* Restore task t (engine already created) from its changelog partition. */
int jd_changelog_restore(jd_runner_t *r, jd_task_t *t);

#endif
