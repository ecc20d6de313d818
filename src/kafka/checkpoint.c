/*
 * Consistent checkpoints (contract section 7).
 *
 * A checkpoint snapshots every running task at one moment (task.h says what
 * a snapshot holds), then writes the snapshot and commits the task's input
 * offsets in ONE Kafka transaction of the task's producer: the changed
 * journeys, the meta record, and the offsets (send_offsets_to_transaction
 * with the consumer's group metadata, KIP-447). Restore reads the changelog
 * read_committed, so the restored state always matches the committed
 * offsets, whatever instant a process dies at.
 *
 * at_least_once: alerts and dead letters go through a separate idempotent
 * producer without a transaction (so they are not delayed by the commit
 * interval). A snapshot must never hold the effect of an event whose
 * alert could still fail: the checkpoint closes an epoch at the snapshot
 * and writes its transaction only once every message of the closed epochs
 * is acknowledged. Meanwhile the loop goes on consuming (the snapshot's
 * records are already serialised). A failed delivery is fatal: nothing
 * more is committed and `run` exits 1 (the input is read again on restart).
 * A crash may repeat alerts (same alert_id), never lose one.
 *
 * exactly_once: alerts and dead letters are in the task's open transaction
 * too, so the snapshot is written and committed at once, and a
 * read_committed reader of the alert topic sees each alert exactly once.
 * An aborted transaction rewinds the task to its last committed state
 * (runner.c restores it again and seeks back); a fenced producer (another
 * instance owns the task now) or a fatal error stops the runner.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runner_priv.h"
#include "repart.h"

static void ckpt_on_state(void *opaque, int32_t tag, const char *key, size_t keylen,
                          const void *val, size_t vallen)
{
    jd_task_t *t = opaque;
    (void)tag;
    if (jd_task_rec_add(t, key, keylen, val, vallen)) {
        JD_LOG(JD_LOG_ERR, "out of memory buffering changelog records");
        ((jd_runner_t *)t->owner)->fatal = 1;
    }
}

static int ckpt_offsets_moved(const jd_task_t *t)
{
    for (int i = 0; i < t->offs->cnt; i++) {
        int k = -1;
        for (size_t j = 0; j < t->ntps; j++)
            if (!strcmp(t->tps[j].topic, t->offs->elems[i].topic))
                k = (int)j;
        if (k < 0 || t->offs->elems[i].offset != t->tps[k].committed)
            return 1;
    }
    return 0;
}

/* Everything task t evaluated so far, as records and offsets. */
static int ckpt_snapshot(jd_runner_t *r, jd_task_t *t)
{
    int64_t committed[64];
    rd_kafka_topic_partition_list_t *offs;

    jd_task_recs_clear(t);
    /* events at exactly the watermark may still wait in the engine: the
     * snapshot's rule is "ts <= wm was handled" (task.h) */
    if (t->x) {
        jd_repart_advance(r, t, jd_mono_ms());
        if (jd_repart_checkpoint(r, t) || jd_repart_state_records(t) < 0) {
            JD_LOG(JD_LOG_ERR, "task %" PRId32 ": out of memory writing the repartition state",
                   t->partition);
            r->fatal = 1;
            return -1;
        }
    } else if (t->has_events) {
        jd_engine_advance(t->engine, t->wm);
    }
    offs = rd_kafka_topic_partition_list_new((int)t->ntps);
    for (size_t i = 0; i < t->ntps && i < 64; i++) {
        jd_task_tp_t *tp = &t->tps[i];
        committed[i] = -1;
        if (!tp->assigned || tp->next_offset < 0)
            continue;
        committed[i] = jd_task_committable(tp, i >= t->ninput ? jd_repart_handled_wm(t) : t->wm,
                                           r->finished);
        rd_kafka_topic_partition_list_add(offs, tp->topic, t->partition)->offset =
            committed[i];
    }
    t->offs = offs;
    t->meta = jd_task_meta_render(t, r->conf, committed, &t->metalen);
    if (!t->meta) {
        JD_LOG(JD_LOG_ERR, "out of memory");
        r->fatal = 1;
        return -1;
    }
    jd_engine_drain_changes(t->engine, ckpt_on_state, t);
    if (!t->nrecs && !ckpt_offsets_moved(t) && !(t->x && t->x->produced)) {
        /* nothing to make durable: no transaction */
        jd_task_recs_clear(t);
    }
    return r->fatal ? -1 : 0;
}

/* An error from a transactional call: abort and rewind the task when the
 * transaction can be aborted, else stop. */
static int ckpt_txn_error(jd_runner_t *r, jd_task_t *t, rd_kafka_error_t *error,
                          const char *what)
{
    if (rd_kafka_error_txn_requires_abort(error)) {
        rd_kafka_error_t *ae;
        JD_LOG(JD_LOG_WARN, "task %" PRId32 ": %s: %s: aborting the transaction and "
               "restoring the task's last committed state", t->partition, what,
               rd_kafka_error_string(error));
        ae = rd_kafka_abort_transaction(t->txp, JD_TXN_TIMEOUT_MS);
        if (ae) {
            JD_LOG(JD_LOG_ERR, "task %" PRId32 ": abort_transaction: %s", t->partition,
                   rd_kafka_error_string(ae));
            rd_kafka_error_destroy(ae);
            r->fatal = 1;
        }
        t->txn_open = 0;
        t->rewind = 1;
    } else {
        JD_LOG(JD_LOG_ERR, "task %" PRId32 ": %s: %s%s", t->partition, what,
               rd_kafka_error_string(error),
               rd_kafka_error_is_fatal(error) ? " (fenced or fatal: another instance may own "
                                                "this task now)" : "");
        r->fatal = 1;
    }
    rd_kafka_error_destroy(error);
    jd_task_recs_clear(t);
    return -1;
}

int jd_ckpt_txn_begin(jd_runner_t *r, jd_task_t *t)
{
    rd_kafka_error_t *error;
    if (t->txn_open)
        return 0;
    if ((error = rd_kafka_begin_transaction(t->txp)))
        return ckpt_txn_error(r, t, error, "begin_transaction");
    t->txn_open = 1;
    return 0;
}

/* Write task t's snapshot and offsets into its transaction (the records
 * go out while the other tasks write theirs: ckpt_commit_all). */
static int ckpt_write_task(jd_runner_t *r, jd_task_t *t)
{
    rd_kafka_error_t *error;

    t->ckpt_t0 = jd_mono_ms();
    if (jd_ckpt_txn_begin(r, t))
        return -1;
    for (size_t i = 0; i < t->nrecs && !r->fatal; i++) {
        const jd_task_rec_t *rec = &t->recs[i];
        if (jd_kafka_produce(t->txp, r->changelog, t->partition, t->arena + rec->koff,
                             rec->klen, rec->tomb ? NULL : t->arena + rec->voff, rec->vlen,
                             NULL, NULL)) {
            JD_LOG(JD_LOG_ERR, "cannot produce to changelog %s", r->changelog);
            r->fatal = 1;
        }
    }
    if (!r->fatal && jd_kafka_produce(t->txp, r->changelog, t->partition, JD_TASK_META_KEY,
                                      JD_TASK_META_KEYLEN, t->meta, t->metalen, NULL, NULL)) {
        JD_LOG(JD_LOG_ERR, "cannot produce the meta record to changelog %s", r->changelog);
        r->fatal = 1;
    }
    if (r->fatal)
        return -1;
    if (t->offs->cnt > 0) {
        /* the group's current generation: a member that lost the task
         * since cannot commit for it (KIP-447 fencing) */
        rd_kafka_consumer_group_metadata_t *cgmd = rd_kafka_consumer_group_metadata(r->consumer);
        error = rd_kafka_send_offsets_to_transaction(t->txp, t->offs, cgmd, JD_TXN_TIMEOUT_MS);
        rd_kafka_consumer_group_metadata_destroy(cgmd);
        if (error)
            return ckpt_txn_error(r, t, error, "send_offsets_to_transaction");
    }
    return 0;
}

/* Commit the transaction ckpt_write_task filled. */
static int ckpt_finish_task(jd_runner_t *r, jd_task_t *t)
{
    rd_kafka_error_t *error;
    int64_t t0 = t->ckpt_t0;
    for (;;) {
        error = rd_kafka_commit_transaction(t->txp, JD_TXN_TIMEOUT_MS);
        if (!error || !rd_kafka_error_is_retriable(error))
            break;
        JD_LOG(JD_LOG_WARN, "task %" PRId32 ": commit_transaction: %s (retrying)",
               t->partition, rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    }
    if (error)
        return ckpt_txn_error(r, t, error, "commit_transaction");
    t->txn_open = 0;
    for (int i = 0; i < t->offs->cnt; i++) {
        int k = jd_task_tp_index(t, t->offs->elems[i].topic);
        if (k >= 0)
            t->tps[k].committed = t->offs->elems[i].offset;
        JD_LOG(JD_LOG_DEBUG, "committed %s [%" PRId32 "] at offset %" PRId64,
               t->offs->elems[i].topic, t->partition, t->offs->elems[i].offset);
    }
    r->checkpoints++;
    jd_metrics_add(r->metrics, JD_M_CHECKPOINTS, NULL, 1);
    jd_metrics_observe(r->metrics, JD_M_CHECKPOINT_DURATION, NULL,
                       (double)(jd_mono_ms() - t0) / 1000.0);
    jd_kafka_broker_up(&r->brokers_down);
    if (r->opts.on_commit)
        r->opts.on_commit(r->opts.opaque, t->offs, r->ckpt_alerts_produced, r->alerts_acked);
    JD_LOG(JD_LOG_DEBUG, "task %" PRId32 ": checkpoint of %zu records committed in %" PRId64
           " ms", t->partition, t->nrecs, jd_mono_ms() - t0);
    jd_task_recs_clear(t);
    if (t->x)
        t->x->produced = 0;
    if (r->eos || r->keyed_any)
        return jd_ckpt_txn_begin(r, t);
    return 0;
}

/* Every task with a snapshot: all transactions written first, then each
 * committed, so the tasks' records travel at the same time. */
static void ckpt_commit_all(jd_runner_t *r)
{
    for (int32_t p = 0; p < r->ntasks && !r->fatal; p++) {
        jd_task_t *t = r->tasks[p];
        if (t && t->meta && ckpt_write_task(r, t))
            jd_task_recs_clear(t);
    }
    for (int32_t p = 0; p < r->ntasks && !r->fatal; p++) {
        jd_task_t *t = r->tasks[p];
        if (t && t->meta)
            ckpt_finish_task(r, t);
    }
}

static int ckpt_wanted(const int32_t *only, int nonly, int32_t p)
{
    if (nonly <= 0)
        return 1;
    for (int i = 0; i < nonly; i++)
        if (only[i] == p)
            return 1;
    return 0;
}

static int ckpt_check_deliveries(jd_runner_t *r)
{
    if (r->delivery_failed && !r->fatal) {
        JD_LOG(JD_LOG_ERR, "%" PRIu64 " deliveries failed: not committing input offsets "
               "(a restart reads them again)", r->delivery_failed);
        r->fatal = 1;
    }
    return r->fatal ? -1 : 0;
}

int jd_ckpt_flush_all(jd_runner_t *r)
{
    while (!r->fatal && !r->eos && rd_kafka_outq_len(r->producer) > 0)
        rd_kafka_flush(r->producer, 500);
    return ckpt_check_deliveries(r);
}

/* Close the epoch: what was produced so far must be acknowledged before
 * the state snapshotted now is written. */
static void ckpt_close_epoch(jd_runner_t *r)
{
    r->out_old += r->out_cur;
    r->out_cur = 0;
    r->epoch++;
    r->ckpt_alerts_produced = r->alerts_produced;
}

void jd_ckpt_progress(jd_runner_t *r)
{
    if (r->ckpt_state == JD_CKPT_NONE || r->fatal)
        return;
    if (ckpt_check_deliveries(r) || r->out_old)
        return;
    ckpt_commit_all(r);
    r->ckpt_state = JD_CKPT_NONE;
}

void jd_ckpt_begin(jd_runner_t *r, int64_t now)
{
    r->last_commit_mono = now;
    if (ckpt_check_deliveries(r))
        return;
    if (r->keyed_any && !r->eos) {
        /* the repartition records written since the last checkpoint are in
         * the open transaction: state, offsets and they commit together,
         * once the alerts are acknowledged */
        jd_ckpt_sync(r, NULL, 0);
        return;
    }
    for (int32_t p = 0; p < r->ntasks && !r->fatal; p++) {
        jd_task_t *t = r->tasks[p];
        if (!t || t->state != JD_TASK_RUNNING || t->rewind)
            continue;
        if (ckpt_snapshot(r, t))
            return;
    }
    if (r->eos) {
        ckpt_commit_all(r);
        return;
    }
    ckpt_close_epoch(r);
    r->ckpt_state = JD_CKPT_WAIT_ALERTS;
    jd_ckpt_progress(r);
}

int jd_ckpt_sync(jd_runner_t *r, const int32_t *only, int nonly)
{
    r->last_commit_mono = jd_mono_ms();
    if (r->ckpt_state != JD_CKPT_NONE) {
        if (jd_ckpt_flush_all(r))
            return -1;
        jd_ckpt_progress(r);
    }
    for (int32_t p = 0; p < r->ntasks && !r->fatal; p++) {
        jd_task_t *t = r->tasks[p];
        if (t && t->state == JD_TASK_RUNNING && !t->rewind && ckpt_wanted(only, nonly, p))
            ckpt_snapshot(r, t);
    }
    if (!r->eos) {
        ckpt_close_epoch(r);
        if (jd_ckpt_flush_all(r))
            return -1;
        r->out_old = 0;
    }
    ckpt_commit_all(r);
    return r->fatal ? -1 : 0;
}
