/*
 * The stream runner of `journeyd run` (Kafka Streams' StreamThread): one
 * thread polls the consumer group, hands each message to its task (one
 * per input partition number: task.h), moves each task's watermark,
 * triggers checkpoints (checkpoint.c) and handles rebalances, restoring a
 * newly assigned task from the changelog (changelog.c) before its input is
 * read. Alerts and dead letters go through collector.c.
 *
 * Watermarks (contract sections 4 and 7) are per task: wm = max ts seen on
 * the task - time.lateness, never lowered; an event with ts < wm is late.
 * No event is ever late because of another partition or instance.
 * time.idle_advance: the watermark follows the wall clock only while the
 * task is confirmed caught up: the broker is asked (at most once a second)
 * for the partition's end and says the task's position is there; wall time
 * counts only between two such answers, so a broker outage never moves a
 * watermark. After idle_advance of such quiet time, wm = (max ts - lateness)
 * + the quiet time.
 *
 * Rebalances: cooperative (incremental) assignment. An assigned partition's
 * task is created, its transactional producer initialised (fencing any
 * previous owner), its state restored; consumption then starts at the
 * committed offset, which belongs to the same transaction as the restored
 * state. A revoked partition's task is checkpointed synchronously and
 * dropped; a lost one (session expired: someone else may own it) is
 * dropped without writing anything.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "journeyd/timeutil.h"
#include "runner_priv.h"
#include "repart.h"

/* Messages handled per wake-up before watermarks, delivery reports and the
 * checkpoint are looked at. */
#define CONSUME_BATCH 1000
/* How often an idle task asks the broker whether it is at the end. */
#define CAUGHT_UP_CHECK_MS 1000

static int64_t runner_sat_add(int64_t a, int64_t b)
{
    return b > 0 && a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* ---- tasks ------------------------------------------------------------- */

static jd_task_t *runner_task(jd_runner_t *r, int32_t partition)
{
    if (partition < 0)
        return NULL;
    if (partition >= r->ntasks) {
        int32_t n = partition + 1;
        jd_task_t **nt = realloc(r->tasks, (size_t)n * sizeof(*nt));
        if (!nt)
            return NULL;
        for (int32_t i = r->ntasks; i < n; i++)
            nt[i] = NULL;
        r->tasks = nt;
        r->ntasks = n;
    }
    if (!r->tasks[partition]) {
        r->tasks[partition] = jd_task_new(r->conf, partition);
        if (r->tasks[partition])
            r->tasks[partition]->owner = r;
    }
    return r->tasks[partition];
}

static int runner_task_any_assigned(const jd_task_t *t)
{
    for (size_t i = 0; i < t->ntps; i++)
        if (t->tps[i].assigned)
            return 1;
    return 0;
}

/* A fresh engine for t, then its state from the changelog. */
static int runner_task_start(jd_runner_t *r, jd_task_t *t)
{
    jd_engine_opts_t eo = { 0 };
    jd_err_t err;

    eo.on_alert = jd_collector_on_alert;
    eo.opaque = t;
    eo.auto_watermark = 0;
    eo.track_changes = 1;
    eo.fixed_emitted_at = r->opts.fixed_emitted_at;
    jd_runner_metrics_retire(r, t);
    jd_engine_destroy(t->engine);
    t->engine = NULL;
    t->has_events = 0;
    t->max_ts = t->wm = t->restore_wm = INT64_MIN;
    t->quiet_ms = t->checked_mono = 0;
    t->last_mono = jd_mono_ms();
    t->rewind = 0;
    for (size_t i = 0; i < t->ntps; i++) {
        t->tps[i].next_offset = -1;
        t->tps[i].restore_next = -1;
        t->tps[i].npend = 0;
        t->tps[i].eof = 0;
    }
    jd_task_recs_clear(t);
    jd_xtask_reset(t->x);
    if (!(t->engine = jd_engine_new(r->conf, &eo, &err))) {
        JD_LOG(JD_LOG_ERR, "task %" PRId32 ": %s", t->partition, err.msg);
        return -1;
    }
    if (jd_collector_task_start(r, t, &err)) {
        JD_LOG(JD_LOG_ERR, "%s", err.msg);
        return -1;
    }
    if (jd_changelog_restore(r, t))
        return -1;
    if ((r->eos || r->keyed_any) && jd_ckpt_txn_begin(r, t))
        return -1;
    t->state = JD_TASK_RUNNING;
    return 0;
}

/* Drop t's in-memory state; with its producer when the task leaves. */
static void runner_task_stop(jd_runner_t *r, jd_task_t *t, int lost)
{
    if (t->txp && t->txn_open) {
        rd_kafka_error_t *e = rd_kafka_abort_transaction(t->txp, lost ? 5000 : JD_TXN_TIMEOUT_MS);
        if (e)
            rd_kafka_error_destroy(e);
        t->txn_open = 0;
    }
    if (t->txp) {
        rd_kafka_destroy(t->txp);
        t->txp = NULL;
    }
    jd_runner_metrics_retire(r, t);
    for (size_t i = 0; i < t->ntps; i++)
        if (!t->tps[i].assigned)
            jd_metrics_remove_partition(r->metrics, t->tps[i].topic, t->partition);
    jd_task_reset(t);
}

/* A task whose transaction aborted: back to its last committed state. */
void jd_runner_task_rewind(jd_runner_t *r, jd_task_t *t)
{
    rd_kafka_topic_partition_list_t *pos = rd_kafka_topic_partition_list_new((int)t->ntps);
    rd_kafka_error_t *error;
    if (runner_task_start(r, t)) {
        r->fatal = 1;
        goto out;
    }
    for (size_t i = 0; i < t->ntps; i++)
        if (t->tps[i].assigned)
            rd_kafka_topic_partition_list_add(pos, t->tps[i].topic, t->partition);
    if (rd_kafka_committed(r->consumer, pos, JD_ADMIN_TIMEOUT_MS)) {
        JD_LOG(JD_LOG_ERR, "task %" PRId32 ": cannot read committed offsets", t->partition);
        r->fatal = 1;
        goto out;
    }
    for (int i = 0; i < pos->cnt; i++)
        if (pos->elems[i].offset < 0)
            pos->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
    if ((error = rd_kafka_seek_partitions(r->consumer, pos, JD_ADMIN_TIMEOUT_MS))) {
        JD_LOG(JD_LOG_ERR, "task %" PRId32 ": seek: %s", t->partition,
               rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        r->fatal = 1;
    }
    JD_LOG(JD_LOG_INFO, "task %" PRId32 ": rewound to its last committed state", t->partition);
out:
    rd_kafka_topic_partition_list_destroy(pos);
}

/* ---- rebalance ---------------------------------------------------------- */

static void runner_log_committed(jd_runner_t *r, const rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *c;
    if (jd_log_level < JD_LOG_INFO)
        return;
    c = rd_kafka_topic_partition_list_copy(parts);
    if (!rd_kafka_committed(r->consumer, c, 10000))
        for (int i = 0; i < c->cnt; i++) {
            if (c->elems[i].offset >= 0)
                JD_LOG(JD_LOG_INFO, "assigned %s [%" PRId32 "], resuming at committed offset "
                       "%" PRId64, c->elems[i].topic, c->elems[i].partition, c->elems[i].offset);
            else
                JD_LOG(JD_LOG_INFO, "assigned %s [%" PRId32 "], no committed offset",
                       c->elems[i].topic, c->elems[i].partition);
        }
    rd_kafka_topic_partition_list_destroy(c);
}

static void runner_on_assign(jd_runner_t *r, rd_kafka_topic_partition_list_t *parts)
{
    for (int i = 0; i < parts->cnt; i++) {
        jd_task_t *t = runner_task(r, parts->elems[i].partition);
        int k = t ? jd_task_tp_index(t, parts->elems[i].topic) : -1;
        if (!t || k < 0) {
            JD_LOG(JD_LOG_ERR, "out of memory");
            r->fatal = 1;
            return;
        }
        t->tps[k].assigned = 1;
    }
    if (jd_changelog_ensure(r)) {
        r->fatal = 1;
        return;
    }
    for (int i = 0; i < parts->cnt && !r->fatal; i++) {
        jd_task_t *t = r->tasks[parts->elems[i].partition];
        char why[128];
        if (t->state == JD_TASK_RUNNING)
            continue; /* another topic of a task already running */
        snprintf(why, sizeof(why), "restoring task %" PRId32 " from the changelog", t->partition);
        jd_http_set_ready(r->http, 0, why);
        if (runner_task_start(r, t)) {
            r->fatal = 1;
            return;
        }
    }
    jd_http_set_ready(r->http, 1, NULL);
    runner_log_committed(r, parts);
}

static void runner_on_revoke(jd_runner_t *r, rd_kafka_topic_partition_list_t *parts, int lost)
{
    int32_t *only = calloc((size_t)parts->cnt + 1, sizeof(*only));
    int n = 0;
    for (int i = 0; i < parts->cnt && only; i++)
        only[n++] = parts->elems[i].partition;
    /* Commit what the revoked tasks evaluated before they go; a lost
     * assignment may already belong to someone else: nothing is written
     * for it (its producer is fenced by the new owner anyway). */
    if (!lost && !r->fatal)
        jd_ckpt_sync(r, only, n);
    free(only);
    for (int i = 0; i < parts->cnt; i++) {
        int32_t p = parts->elems[i].partition;
        jd_task_t *t = p < r->ntasks ? r->tasks[p] : NULL;
        int k = t ? jd_task_tp_index(t, parts->elems[i].topic) : -1;
        if (!t || k < 0)
            continue;
        t->tps[k].assigned = 0;
        if (!runner_task_any_assigned(t))
            runner_task_stop(r, t, lost);
        JD_LOG(JD_LOG_INFO, "%s %s [%" PRId32 "]", lost ? "lost" : "revoked",
               parts->elems[i].topic, p);
    }
}

static void runner_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    jd_runner_t *r = opaque;
    int coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;

    jd_workers_pause(r->workers);
    switch (err) {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
        runner_on_assign(r, parts);
        if (coop)
            error = rd_kafka_incremental_assign(rk, parts);
        else
            e = rd_kafka_assign(rk, parts);
        break;
    case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
        runner_on_revoke(r, parts, rd_kafka_assignment_lost(rk));
        if (coop)
            error = rd_kafka_incremental_unassign(rk, parts);
        else
            e = rd_kafka_assign(rk, NULL);
        break;
    default:
        JD_LOG(JD_LOG_ERR, "rebalance failed: %s", rd_kafka_err2str(err));
        e = rd_kafka_assign(rk, NULL);
        break;
    }
    if (error) {
        JD_LOG(JD_LOG_ERR, "incremental assignment failed: %s", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        r->fatal = 1;
    } else if (e) {
        JD_LOG(JD_LOG_ERR, "assignment failed: %s", rd_kafka_err2str(e));
        r->fatal = 1;
    }
    jd_workers_resume(r->workers);
}

/* ---- consuming -------------------------------------------------------- */

static const void *msg_header(const rd_kafka_message_t *m, const char *name, size_t *len)
{
    rd_kafka_headers_t *hdrs = NULL;
    const void *v = NULL;
    if (rd_kafka_message_headers(m, &hdrs) || !hdrs)
        return NULL;
    if (rd_kafka_header_get_last(hdrs, name, &v, len))
        return NULL;
    return v;
}

static jd_dl_reason_t runner_decode(jd_runner_t *r, jd_decode_ctx_t *dx, const rd_kafka_message_t *m, jd_event_t **ev,
                             char *detail, size_t detailsz)
{
    jd_csv_record_t rec;
    const char *hdr;
    size_t hdrlen = 0;

    if (!r->conf->input_csv)
        return jd_decode_json(dx->dec, m->payload ? m->payload : "", m->len, ev, detail,
                              detailsz);
    /* CSV values need their header: `produce` sends the file's header
     * record as a message header (see JD_KAFKA_CSV_HEADER). */
    hdr = msg_header(m, JD_KAFKA_CSV_HEADER, &hdrlen);
    if (!hdr) {
        snprintf(detail, detailsz, "CSV message without a %s header", JD_KAFKA_CSV_HEADER);
        return JD_DL_BAD_CSV;
    }
    if (!dx->csv_hdr || dx->csv_hdr_len != hdrlen || memcmp(dx->csv_hdr, hdr, hdrlen)) {
        jd_err_t err;
        char *copy = malloc(hdrlen + 1);
        if (!copy) {
            snprintf(detail, detailsz, "out of memory");
            return JD_DL_TOO_LARGE;
        }
        memcpy(copy, hdr, hdrlen);
        copy[hdrlen] = '\0';
        free(dx->csv_hdr);
        dx->csv_hdr = copy;
        dx->csv_hdr_len = hdrlen;
        if (jd_csv_parse(dx->csvp, copy, hdrlen, r->conf->csv_delimiter, &rec) != JD_READ_OK)
            jd_err_set(&err, "malformed record");
        else if (!jd_decoder_csv_header(dx->dec, &rec, &err))
            err.msg[0] = '\0';
        if (err.msg[0]) {
            free(dx->csv_hdr);
            dx->csv_hdr = NULL;
            snprintf(detail, detailsz, "bad %s header: %.400s", JD_KAFKA_CSV_HEADER, err.msg);
            return JD_DL_BAD_CSV;
        }
    }
    if (jd_csv_parse(dx->csvp, m->payload ? m->payload : "", m->len, r->conf->csv_delimiter,
                     &rec) != JD_READ_OK) {
        snprintf(detail, detailsz, "malformed CSV record");
        return JD_DL_BAD_CSV;
    }
    return jd_decode_csv(dx->dec, &rec, ev, detail, detailsz);
}


void jd_runner_handle_message(jd_runner_t *r, jd_decode_ctx_t *dx, const rd_kafka_message_t *m,
                              int64_t now)
{
    char detail[512];
    jd_event_t *ev = NULL;
    jd_dl_reason_t reason;
    jd_task_t *t;
    jd_task_tp_t *tp;
    int k;
    int64_t ts;

    if (m->err) {
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && m->rkt) {
            t = m->partition < r->ntasks ? r->tasks[m->partition] : NULL;
            k = t ? jd_task_tp_index(t, rd_kafka_topic_name(m->rkt)) : -1;
            if (t && k >= 0)
                t->tps[k].eof = 1;
            return;
        }
        JD_LOG(JD_LOG_WARN, "consumer: %s", rd_kafka_message_errstr(m));
        return;
    }
    t = m->partition < r->ntasks ? r->tasks[m->partition] : NULL;
    k = t ? jd_task_tp_index(t, rd_kafka_topic_name(m->rkt)) : -1;
    if (!t || k < 0 || t->state != JD_TASK_RUNNING || !t->tps[k].assigned || t->rewind)
        return;
    tp = &t->tps[k];
    r->consumed++;
    t->consumed++;
    tp->consumed++;
    jd_kafka_broker_up(&r->brokers_down);
    tp->eof = 0;
    tp->next_offset = m->offset + 1;
    if ((size_t)k >= t->ninput) {
        /* the repartition topic: its traffic (markers every checkpoint)
         * says nothing about the input being quiet */
        jd_repart_receive(r, dx, t, m);
        return;
    }
    r->last_data_mono = t->last_mono = now;
    t->quiet_ms = 0;

    detail[0] = '\0';
    if (m->len > JD_READER_MAX_RECORD) {
        reason = JD_DL_TOO_LARGE;
        snprintf(detail, sizeof(detail), "%s", JD_READER_TOO_LARGE_DETAIL);
    } else {
        reason = runner_decode(r, dx, m, &ev, detail, sizeof(detail));
    }
    /* Below the snapshot's next offset, only events that were waiting for
     * the watermark are new work (task.h). */
    if (tp->restore_next >= 0) {
        if (m->offset < tp->restore_next) {
            if (reason != JD_DL_NONE || ev->ts <= t->restore_wm) {
                jd_event_free(ev);
                r->skipped++;
                return;
            }
        } else {
            tp->restore_next = -1;
        }
    }
    if (reason != JD_DL_NONE) {
        jd_collector_dead_letter(r, t, m, reason, detail);
        return;
    }
    ev->source_tag = t->partition;
    ts = ev->ts;
    if (t->x)
        t->wm = jd_repart_router_resume(t);
    if ((t->has_events || t->x) && t->wm != INT64_MIN && ts < t->wm) {
        char a[JD_TIME_BUFSZ], b[JD_TIME_BUFSZ];
        jd_event_free(ev);
        snprintf(detail, sizeof(detail), "ts %s is older than the partition watermark %s",
                 jd_time_format_rfc3339(ts, a), jd_time_format_rfc3339(t->wm, b));
        jd_collector_dead_letter(r, t, m, JD_DL_LATE, detail);
        return;
    }
    if (!t->has_events || ts > t->max_ts)
        t->max_ts = ts;
    t->has_events = 1;
    if (t->max_ts - r->conf->lateness_ms > t->wm)
        t->wm = t->max_ts - r->conf->lateness_ms;
    if (t->x) {
        if (jd_repart_route(r, t, ev))
            r->fatal = 1;
        return;
    }
    if (jd_engine_push(t->engine, ev) == JD_DL_LATE) {
        char a[JD_TIME_BUFSZ];
        snprintf(detail, sizeof(detail), "ts %s is older than the task's watermark",
                 jd_time_format_rfc3339(ts, a));
        jd_collector_dead_letter(r, t, m, JD_DL_LATE, detail);
        return;
    }
    if (jd_task_pend_push(tp, m->offset, ts)) {
        JD_LOG(JD_LOG_ERR, "out of memory");
        r->fatal = 1;
    }
}

/* Is t at the end of every assigned partition, by the broker's own word?
 * Asked at most once a second; a failed question (broker down) resets the
 * quiet time, since no wall time counts until two answers in a row. */
static void runner_check_caught_up(jd_runner_t *r, jd_task_t *t, int64_t now)
{
    int at_end = 1;
    if (now - t->checked_mono < CAUGHT_UP_CHECK_MS && t->checked_mono)
        return;
    for (size_t i = 0; i < t->ninput && at_end; i++) {
        int64_t lo, hi;
        jd_task_tp_t *tp = &t->tps[i];
        if (!tp->assigned)
            continue;
        /* asked on the restore consumer's connections: the group consumer's
         * wait behind its own long-poll fetches (fetch.wait.max.ms) */
        if (rd_kafka_query_watermark_offsets(r->restore ? r->restore : r->consumer, tp->topic,
                                             t->partition, &lo, &hi, 500) ||
            (tp->next_offset < 0 ? hi > lo && tp->committed < hi : tp->next_offset < hi))
            at_end = 0;
    }
    now = jd_mono_ms();
    if (!at_end) {
        t->checked_mono = 0;
        t->quiet_ms = 0;
        return;
    }
    if (t->checked_mono)
        t->quiet_ms += now - t->checked_mono;
    t->checked_mono = now;
}

/* Move t's watermark (idle advance included) and its engine. */
void jd_runner_task_advance(jd_runner_t *r, jd_task_t *t, int64_t now)
{
    int64_t idle = r->conf->idle_advance_ms;
    if (t->x) {
        /* the router's watermark (markers), then the engine's */
        if (idle > 0 && now - t->last_mono >= idle) {
            runner_check_caught_up(r, t, now);
            if (t->quiet_ms >= idle) {
                t->x->idle = 1;
                if (t->has_events) {
                    int64_t follow = runner_sat_add(t->max_ts - r->conf->lateness_ms,
                                                    t->quiet_ms);
                    if (follow > t->wm)
                        t->wm = follow;
                }
            }
        }
        jd_repart_advance(r, t, now);
        return;
    }
    if (!t->has_events)
        return;
    if (idle > 0 && now - t->last_mono >= idle) {
        runner_check_caught_up(r, t, now);
        if (t->quiet_ms >= idle) {
            int64_t follow = runner_sat_add(t->max_ts - r->conf->lateness_ms, t->quiet_ms);
            if (follow > t->wm)
                t->wm = follow;
        }
    }
    jd_engine_advance(t->engine, t->wm);
}

/* Per loop: every task's watermark (its own thread's job when there are
 * workers), and the rewinds of aborted transactions (all workers paused). */
static void runner_tasks_step(jd_runner_t *r, int64_t now)
{
    int rewind = 0;
    for (int32_t p = 0; p < r->ntasks && !r->fatal; p++) {
        jd_task_t *t = r->tasks[p];
        if (!t || t->state != JD_TASK_RUNNING)
            continue;
        if (t->txp)
            rd_kafka_poll(t->txp, 0);
        if (t->rewind)
            rewind = 1;
        else if (!r->workers)
            jd_runner_task_advance(r, t, now);
    }
    if (!rewind)
        return;
    jd_workers_pause(r->workers);
    for (int32_t p = 0; p < r->ntasks && !r->fatal; p++)
        if (r->tasks[p] && r->tasks[p]->state == JD_TASK_RUNNING && r->tasks[p]->rewind)
            jd_runner_task_rewind(r, r->tasks[p]);
    jd_workers_resume(r->workers);
}

static int runner_drained(jd_runner_t *r, int64_t now)
{
    int any = 0;
    for (int32_t p = 0; p < r->ntasks; p++) {
        jd_task_t *t = r->tasks[p];
        if (!t || t->state != JD_TASK_RUNNING)
            continue;
        for (size_t i = 0; i < t->ntps; i++) {
            if (!t->tps[i].assigned)
                continue;
            if (!t->tps[i].eof)
                return 0;
            any = 1;
        }
    }
    return any && (r->eos || rd_kafka_outq_len(r->producer) == 0) &&
           now - r->last_data_mono >= r->opts.drain_idle_ms;
}

int jd_runner_run(jd_runner_t *r)
{
    rd_kafka_topic_partition_list_t *subs;
    rd_kafka_resp_err_t e;
    int64_t interval = r->conf->commit_interval_ms > 0 ? r->conf->commit_interval_ms : 1000;
    int stopped_drained = 0;

    subs = rd_kafka_topic_partition_list_new((int)r->conf->ntopics);
    for (size_t i = 0; i < r->conf->ntopics; i++)
        rd_kafka_topic_partition_list_add(subs, r->conf->topics[i], RD_KAFKA_PARTITION_UA);
    if (r->keyed_any) {
        /* the topic must exist before the subscription sees it */
        if (jd_changelog_ensure(r)) {
            rd_kafka_topic_partition_list_destroy(subs);
            return 1;
        }
        rd_kafka_topic_partition_list_add(subs, r->repart, RD_KAFKA_PARTITION_UA);
    }
    e = rd_kafka_subscribe(r->consumer, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (e) {
        JD_LOG(JD_LOG_ERR, "subscribe failed: %s", rd_kafka_err2str(e));
        return 1;
    }
    JD_LOG(JD_LOG_INFO, "consuming %s (group %s, %s), alerts to %s", r->conf->topics[0],
           json_string_value(json_object_get(r->conf->kafka, "group.id")),
           r->eos ? "exactly_once" : "at_least_once", r->conf->alerts_topic);
    r->last_commit_mono = jd_mono_ms();
    r->last_data_mono = r->last_commit_mono;

    while (!(r->opts.stop && *r->opts.stop) && !r->fatal) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->consumer, 100);
        int64_t now = jd_mono_ms();
        int n = 0;
        jd_http_heartbeat(r->http);
        if (r->opts.reload && *r->opts.reload) {
            *r->opts.reload = 0;
            jd_workers_pause(r->workers);
            jd_runner_reload(r);
            jd_workers_resume(r->workers);
        }
        /* Take what is already queued before advancing the watermarks: each
         * engine orders by event time whatever the batch. */
        while (m) {
            if (r->workers && m->rkt && m->partition >= 0) {
                jd_workers_dispatch(r->workers, m); /* the worker destroys it */
            } else {
                jd_runner_handle_message(r, &r->dx[0], m, now);
                rd_kafka_message_destroy(m);
            }
            if (++n == CONSUME_BATCH || r->fatal || (r->opts.stop && *r->opts.stop))
                break;
            m = rd_kafka_consumer_poll(r->consumer, 0);
        }
        if (!r->eos)
            rd_kafka_poll(r->producer, 0);
        now = jd_mono_ms();
        runner_tasks_step(r, now);
        jd_ckpt_progress(r);
        if (r->ckpt_state == JD_CKPT_NONE && now - r->last_commit_mono >= interval) {
            jd_workers_pause(r->workers);
            jd_ckpt_begin(r, now);
            jd_runner_metrics(r, now, 1);
            jd_workers_resume(r->workers);
        } else if (!r->workers) {
            jd_runner_metrics(r, now, 0);
        }
        if (r->opts.stop_when_drained) {
            jd_workers_pause(r->workers);
            stopped_drained = runner_drained(r, now);
            jd_workers_resume(r->workers);
            if (stopped_drained)
                break;
        }
    }

    /* Shutdown, in kcat's order: leave the loop; finish in-flight work and
     * commit what was evaluated (no watermark advance, except the demo's
     * end-of-input finish); close the consumer (its revoke commits again,
     * then drops the tasks); destroy (jd_runner_destroy). */
    /* the workers stay paused from here; the revoke callback of the
     * consumer's close pauses again (nested) */
    jd_workers_pause(r->workers);
    if (stopped_drained && !r->fatal) {
        for (int32_t p = 0; p < r->ntasks; p++)
            if (r->tasks[p] && r->tasks[p]->state == JD_TASK_RUNNING)
                jd_engine_finish(r->tasks[p]->engine, r->opts.flush_at_end);
        r->finished = 1;
    }
    if (!r->fatal)
        jd_ckpt_sync(r, NULL, 0);
    jd_runner_metrics(r, jd_mono_ms(), 1);
    jd_http_set_ready(r->http, 0, "stopping");
    rd_kafka_consumer_close(r->consumer);
    if (!r->fatal)
        jd_ckpt_flush_all(r);
    else if (r->producer)
        /* nothing more is committed; do not wait out retries at exit */
        rd_kafka_purge(r->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    if (r->keyed_any)
        JD_LOG(JD_LOG_INFO, "repartitioned %" PRIu64 " events, %" PRIu64 " link notices, %"
               PRIu64 " hand-overs sent, %" PRIu64 " received, %" PRIu64 " events forwarded",
               r->rp_routed, r->rp_notices, r->rp_handovers_out, r->rp_handovers_in,
               r->rp_forwarded);
    JD_LOG(JD_LOG_INFO, "stopped: %" PRIu64 " messages, %" PRIu64 " alerts (%" PRIu64
           " acknowledged), %" PRIu64 " dead letters (%" PRIu64 " late), %" PRIu64
           " re-read and already handled, %" PRIu64 " checkpoints", r->consumed,
           r->alerts_produced, r->alerts_acked, r->dead_letters, r->late, r->skipped,
           r->checkpoints);
    return r->fatal ? 1 : 0;
}

/* ---- construction ----------------------------------------------------- */

jd_runner_t *jd_runner_new(const jd_config_t *conf, const jd_runner_opts_t *opts,
                           jd_err_t *err)
{
    jd_runner_t *r = calloc(1, sizeof(*r));
    rd_kafka_conf_t *kc = NULL;
    json_t *gid;

    if (!r) {
        jd_err_set(err, "out of memory");
        return NULL;
    }
    r->conf = conf;
    r->opts = *opts;
    r->epoch = 1;
    r->eos = conf->guarantee == JD_GUARANTEE_EXACTLY_ONCE;
    r->metrics = jd_metrics_new(JD_VERSION);
    r->ret_alerts = calloc(conf->nrules + 1, sizeof(*r->ret_alerts));
    r->rep_alerts = calloc(conf->nrules + 1, sizeof(*r->rep_alerts));
    if (!r->metrics || !r->ret_alerts || !r->rep_alerts) {
        jd_err_set(err, "out of memory");
        goto fail;
    }
    jd_metrics_declare_rules(r->metrics, conf);
    if (conf->ntopics == 0) {
        jd_err_set(err, "input.topics: at least one topic is required");
        goto fail;
    }
    gid = conf->kafka ? json_object_get(conf->kafka, "group.id") : NULL;
    if (!gid || !json_is_string(gid) || !*json_string_value(gid)) {
        jd_err_set(err, "kafka.group.id: required by %s", opts->cmd ? opts->cmd : "run");
        goto fail;
    }
    if (jd_kafka_changelog_topic(conf, r->changelog, sizeof(r->changelog))) {
        jd_err_set(err, "kafka.group.id: too long");
        goto fail;
    }
    if (!(kc = jd_kafka_conf_new(conf, JD_KROLE_CONSUMER, err)))
        goto fail;
    /* Several input topics form co-partitioned tasks: the range assignor
     * gives partition p of every topic to the same member (cooperative-
     * sticky does not promise it). The user's own choice still wins. */
    r->keyed_any = conf->keyed_by == JD_KEYED_BY_ANY;
    if (r->keyed_any && jd_kafka_repartition_topic(conf, r->repart, sizeof(r->repart))) {
        jd_err_set(err, "kafka.group.id: too long");
        goto fail;
    }
    if ((conf->ntopics > 1 || r->keyed_any) &&
        !json_object_get(conf->kafka, "partition.assignment.strategy") &&
        jd_kafka_conf_set(kc, "partition.assignment.strategy", "range", err)) {
        rd_kafka_conf_destroy(kc);
        goto fail;
    }
    rd_kafka_conf_set_opaque(kc, r);
    rd_kafka_conf_set_rebalance_cb(kc, runner_rebalance_cb);
    rd_kafka_conf_set_error_cb(kc, jd_collector_error_cb);
    if (!(r->consumer = jd_kafka_new(RD_KAFKA_CONSUMER, kc, err)))
        goto fail;
    /* rebalance and error events are served by rd_kafka_consumer_poll */
    rd_kafka_poll_set_consumer(r->consumer);
    if (!r->eos) {
        if (!(kc = jd_kafka_conf_new(conf, JD_KROLE_ALERTS, err)))
            goto fail;
        rd_kafka_conf_set_opaque(kc, r);
        rd_kafka_conf_set_dr_msg_cb(kc, jd_collector_dr_cb);
        rd_kafka_conf_set_error_cb(kc, jd_collector_error_cb);
        if (!(r->producer = jd_kafka_new(RD_KAFKA_PRODUCER, kc, err)))
            goto fail;
    }
    /* a task's transactional producer is checked here, before any broker
     * is contacted, so a bad kafka.* property fails at start */
    if (!(kc = jd_kafka_conf_new(conf, JD_KROLE_TXN, err)))
        goto fail;
    rd_kafka_conf_destroy(kc);
    r->ndx = conf->threads > 1 ? conf->threads : 1;
    if (!(r->dx = calloc(r->ndx, sizeof(*r->dx)))) {
        jd_err_set(err, "out of memory");
        goto fail;
    }
    for (uint32_t i = 0; i < r->ndx; i++) {
        if (!(r->dx[i].dec = jd_decoder_new(conf, err)))
            goto fail;
        if (r->keyed_any && !(r->dx[i].ic = jd_intern_cache_new(conf->intern))) {
            jd_err_set(err, "out of memory");
            goto fail;
        }
        if (conf->input_csv && !(r->dx[i].csvp = jd_csv_parser_new())) {
            jd_err_set(err, "out of memory");
            goto fail;
        }
    }
    if (conf->threads > 1 && !(r->workers = jd_workers_new(r, conf->threads, err)))
        goto fail;
    /* last: a bad or busy http.listen fails start-up (exit 2) before any
     * broker is contacted */
    if (jd_http_start(conf->http_listen, r->metrics, &r->http, err))
        goto fail;
    jd_http_set_ready(r->http, 0, "waiting for a partition assignment");
    if (r->http)
        JD_LOG(JD_LOG_INFO, "http: /metrics, /healthz and /readyz on port %d (http.listen=%s)",
               jd_http_port(r->http), conf->http_listen);
    return r;
fail:
    jd_runner_destroy(r);
    return NULL;
}

void jd_runner_destroy(jd_runner_t *r)
{
    if (!r)
        return;
    jd_workers_destroy(r->workers);
    if (r->restore) {
        rd_kafka_consumer_close(r->restore);
        rd_kafka_destroy(r->restore);
    }
    for (int32_t p = 0; p < r->ntasks; p++)
        jd_task_destroy(r->tasks[p]);
    free(r->tasks);
    if (r->consumer)
        rd_kafka_destroy(r->consumer);
    if (r->producer)
        rd_kafka_destroy(r->producer);
    for (uint32_t i = 0; r->dx && i < r->ndx; i++) {
        jd_decoder_destroy(r->dx[i].dec);
        jd_csv_parser_destroy(r->dx[i].csvp);
        jd_intern_cache_destroy(r->dx[i].ic);
        free(r->dx[i].csv_hdr);
    }
    free(r->dx);
    jd_http_stop(r->http);
    jd_metrics_destroy(r->metrics);
    free(r->ret_alerts);
    free(r->rep_alerts);
    jd_config_destroy(r->owned_conf);
    free(r);
}
