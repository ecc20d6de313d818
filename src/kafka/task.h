/*
 * A task: one input partition number (partition p of every input topic),
 * with its own engine, watermark, positions and changelog partition p,
 * as in Kafka Streams (contract section 7). A task moves whole: on
 * assignment its state and watermark are restored from the changelog
 * before its input is read; on revocation it is dropped (its state lives
 * on in the changelog). Private to src/kafka/.
 *
 * Snapshots. A checkpoint takes, per task, the engine's changed journeys
 * and a meta record (key "t:task"): the watermark wm, the largest ts, and
 * per input topic the committed offset C (the smallest offset whose event
 * still waits for the watermark, else the next offset) and the next offset
 * N (everything below it was read); a partition not read since the task
 * was restored keeps the restored C and N. The records and the offsets C go to
 * Kafka in one transaction, so the restored state always matches the
 * committed offsets. Reading resumes at C; a record in [C, N) was already
 * handled unless it is an event with ts > wm (it was waiting: it is pushed
 * again). Everything else in [C, N) (evaluated, late, duplicate or a dead
 * letter) is skipped, so a restart repeats nothing.
 */
#ifndef JOURNEYD_KAFKA_TASK_H
#define JOURNEYD_KAFKA_TASK_H

#include <stddef.h>
#include <stdint.h>
#include <librdkafka/rdkafka.h>
#include "journeyd/config.h"
#include "journeyd/engine.h"

/* Key of a task's meta record in its changelog partition. Engine keys
 * start with "c:", "a:" or "l:". */
#define JD_TASK_META_KEY "t:task"
#define JD_TASK_META_KEYLEN 6

typedef struct jd_task_pend {
    int64_t offset;
    int64_t ts;
} jd_task_pend_t;

/* One input topic-partition of a task. */
typedef struct jd_task_tp {
    char *topic;
    int assigned;
    int eof;                /* at the partition's end (last fetch) */
    uint64_t consumed;      /* messages read since assigned (metrics) */
    int64_t next_offset;    /* last consumed + 1; -1 before the first message */
    int64_t committed;      /* last offset committed; -1 = none */
    int64_t restore_next;   /* from the snapshot: N (see above); -1 = none */
    jd_task_pend_t *pend;   /* pushed events still waiting, in offset order */
    size_t npend, cappend;
} jd_task_tp_t;

typedef enum { JD_TASK_IDLE = 0, JD_TASK_RUNNING } jd_task_state_t;

typedef struct jd_task {
    int32_t partition;
    void *owner;            /* the runner: the engine's alert callback */
    jd_task_state_t state;
    jd_engine_t *engine;
    jd_task_tp_t *tps;      /* one per input topic (conf->topics order), then
                               with input.keyed_by=any the repartition topic */
    size_t ntps;
    size_t ninput;          /* the input topics among tps (the first ones) */
    struct jd_xtask *x;     /* input.keyed_by=any: repart.h; else NULL */
    int has_events;
    int64_t max_ts;
    int64_t wm;             /* max_ts - lateness, or pushed by idle advance */
    int64_t restore_wm;     /* the snapshot's wm: see the top of this file */
    int64_t last_mono;      /* wall clock of the last message */
    int64_t quiet_ms;       /* wall time confirmed caught up since the last
                               message (broker asked; an outage never counts) */
    int64_t checked_mono;   /* last successful at-the-end answer; 0 = none */
    uint64_t consumed, skipped, restored_records;
    /* exactly_once / changelog: the task's transactional producer */
    rd_kafka_t *txp;
    int txn_open;
    _Atomic int rewind;     /* its transaction aborted: restore it again (set by
                               the main thread, read by the task's worker) */
    /* changelog records drained at the checkpoint, produced in its
     * transaction */
    char *arena;
    size_t alen, acap;
    struct jd_task_rec *recs;
    size_t nrecs, caprecs;
    char *meta;             /* the checkpoint's meta record (JSON) */
    size_t metalen;
    rd_kafka_topic_partition_list_t *offs; /* the checkpoint's offsets */
    int64_t ckpt_t0;        /* when its transaction began to be written */
} jd_task_t;

typedef struct jd_task_rec {
    int tomb;
    size_t koff, klen, voff, vlen;
} jd_task_rec_t;

/* A new idle task for partition over conf's input topics; NULL on OOM. */
jd_task_t *jd_task_new(const jd_config_t *conf, int32_t partition);
/* NULL-safe; destroys the engine and the producer. */
void jd_task_destroy(jd_task_t *t);
/* Index of topic in the task, or -1. */
int jd_task_tp_index(const jd_task_t *t, const char *topic);
/* Forget everything of a run (engine, positions, pending checkpoint);
 * the task becomes IDLE. */
void jd_task_reset(jd_task_t *t);

/* Record the event at offset waiting for the watermark. 0 / -1 (OOM). */
int jd_task_pend_push(jd_task_tp_t *tp, int64_t offset, int64_t ts);
/* The offset to commit for tp: the smallest offset still waiting (ts >
 * wm, and the engine not finished), else next_offset. Drops the rest. */
int64_t jd_task_committable(jd_task_tp_t *tp, int64_t wm, int finished);

/* Render / parse the meta record. render: malloc'd JSON, NULL on OOM.
 * parse: 0, or -1 with err (the record is ignored). */
char *jd_task_meta_render(const jd_task_t *t, const jd_config_t *conf,
                          const int64_t *committed, size_t *len);
int jd_task_meta_parse(jd_task_t *t, const jd_config_t *conf, const void *val,
                       size_t len, jd_err_t *err);

/* Buffer one changelog record for the checkpoint's transaction. */
int jd_task_rec_add(jd_task_t *t, const char *key, size_t klen, const void *val,
                    size_t vlen);
void jd_task_recs_clear(jd_task_t *t);

#endif
