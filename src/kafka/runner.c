/*
 * The stream runner of `journeyd run`: consumer group -> decoder -> engine -> alerts, at least once.
 *
 * One thread drives everything: rd_kafka_consumer_poll, the engine, the
 * producers' delivery reports and the rebalance callback, so the engine
 * needs no locks.
 *
 * Watermarks (contract section 4). Each assigned partition p keeps
 * wm(p) = max ts seen on p - time.lateness, never lowered. An event with
 * ts < wm(p) is late (dead letter "late"). The engine is advanced to the
 * minimum wm(p) over assigned partitions. time.idle_advance: once p has had
 * no message for idle_advance of wall-clock time, wm(p) becomes
 * (max ts - lateness) + wall time elapsed since p's last message, so it
 * follows the wall clock from there and drop-offs fire on quiet partitions.
 * A partition that has had no message at all holds the watermark back until
 * it has been idle for idle_advance, then stops counting.
 *
 * At-least-once (contract section 7). Per partition we keep the (offset, ts)
 * of pushed events the engine has not yet evaluated (ts > engine watermark).
 * The committable offset is the smallest such offset, else last offset + 1.
 * A commit cycle takes the same three steps in the same order:
 *   1. every alert and dead letter produced so far acknowledged;
 *   2. the engine's changed journeys written to the changelog topic and
 *      acknowledged;
 *   3. only if no delivery failed: commit the committable offsets.
 * On revoke and at shutdown the cycle is synchronous (flush, drain, flush,
 * commit). Every processing.commit_interval it is a pipelined checkpoint,
 * so consumption never waits for acknowledgements: at the checkpoint the
 * committable offsets are computed and the changed journeys drained into a
 * buffer, and the produced alerts and dead letters are closed into an
 * epoch (carried in each message's opaque). The buffered changelog is
 * produced only once every message of the closed epochs is acknowledged:
 * the changelog must never hold the effect of an event whose alert could
 * still fail, or a restart would restore that state, see the event again
 * and not alert. The offsets are committed once the changelog records are
 * acknowledged. One checkpoint is in flight at a time; while it is, the
 * next one waits (the engine keeps collecting changes), so commits become
 * less frequent under back-pressure, never early.
 * A failed delivery is fatal: nothing more is committed, the run loop ends
 * and `run` exits 1, so the uncommitted input is read again on restart.
 * Changelog records are written before the commit, so after a crash between
 * the two a restart may see an event twice (an alert may repeat with the
 * same alert_id; it is never lost).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "journeyd/cmd.h"
#include "journeyd/config.h"
#include "journeyd/decode.h"
#include "journeyd/deadletter.h"
#include "journeyd/engine.h"
#include "journeyd/reader.h"
#include "journeyd/timeutil.h"
#include "journeyd/kafka.h"

#define RESTORE_TIMEOUT_MS 120000
#define ADMIN_TIMEOUT_MS 30000

typedef struct jd_pend {
    int64_t offset;
    int64_t ts;
} jd_pend_t;

typedef struct jd_part {
    char *topic;
    int32_t partition;
    int32_t tag;            /* index in jd_runner.parts; engine source_tag */
    int assigned;
    int eof;
    int has_events;
    int64_t next_offset;    /* last consumed + 1; -1 before the first message */
    int64_t committed;      /* last offset we committed; -1 = none yet */
    int64_t max_ts;
    int64_t wm;
    int64_t last_mono;      /* wall clock (monotonic) of the last message */
    jd_pend_t *pend;        /* unevaluated pushed events, in offset order */
    size_t npend, cappend;
} jd_part_t;

/* Delivery report kinds, in the low 2 bits of the message opaque; the rest
 * is the epoch of an alert or dead letter (see the top of this file). */
enum { DR_ALERT = 1, DR_DEADLETTER, DR_CHANGELOG };
#define DR_KIND_BITS 2

/* Messages handled per wake-up before the watermark, the producer's
 * delivery reports and the checkpoint are looked at: per message, reading
 * the clock and scanning the partitions cost as much as decoding. */
#define CONSUME_BATCH 1000

/* A changelog record drained at a checkpoint, waiting in the arena until
 * the alerts of its epoch are acknowledged. */
typedef struct jd_clrec {
    int32_t tag;
    int32_t partition;
    int tomb;
    size_t koff, klen, voff, vlen;
} jd_clrec_t;

enum { CKPT_NONE = 0, CKPT_WAIT_ALERTS, CKPT_PRODUCING, CKPT_WAIT_CHANGELOG };

/* Serialised changelog records waiting to be produced. */
typedef struct jd_clbuf {
    char *arena;                /* kept across checkpoints: no malloc per record */
    size_t alen, acap;
    jd_clrec_t *recs;
    size_t nrecs, caprecs;
    size_t next;                /* first record not yet produced */
} jd_clbuf_t;

typedef struct jd_ckpt {
    int state;
    uint64_t alerts_produced;   /* at the checkpoint: for opts.on_commit */
    uint64_t alerts_acked;      /* of those, acknowledged so far */
    rd_kafka_topic_partition_list_t *offs;
    jd_clbuf_t buf;
} jd_ckpt_t;

struct jd_runner {
    const jd_config_t *conf;
    jd_runner_opts_t opts;
    const char *cmd;
    rd_kafka_t *consumer;
    rd_kafka_t *producer;   /* alerts and dead letters */
    rd_kafka_t *clprod;     /* changelog: its own connection, so a commit
                             * interval's worth of state records does not
                             * queue in front of the alerts */
    rd_kafka_t *restore;
    jd_engine_t *engine;
    jd_decoder_t *dec;
    jd_csv_parser_t *csvp;
    char *csv_hdr;          /* raw header currently set on the decoder */
    size_t csv_hdr_len;
    char changelog[300];
    int changelog_ready;
    int changelog_created;  /* by this process: nothing to restore yet */
    int32_t changelog_parts;
    jd_part_t *parts;
    size_t nparts, capparts;
    int64_t wm;             /* last watermark given to the engine */
    int finished;           /* engine finished: everything evaluated */
    uint64_t consumed, dead_letters, late, alerts_produced, alerts_acked;
    uint64_t delivery_failed;
    int fatal;
    int64_t last_commit_mono;
    int64_t last_data_mono;
    uint64_t epoch;         /* epoch of alerts and dead letters produced now */
    uint64_t out_cur;       /* unacknowledged alerts/dead letters of epoch */
    uint64_t out_old;       /* ... of earlier epochs (the checkpoint's) */
    uint64_t cl_inflight;   /* unacknowledged changelog records */
    uint64_t empty_polls;   /* consumer polls that timed out (debug log) */
    jd_ckpt_t ck;
    /* Changed journeys serialised ahead of the next checkpoint, a share
     * per loop, so that the checkpoint itself has little left to do and
     * events are not held up behind one long serialisation. They join the
     * next checkpoint's records (so they wait for its alerts like those). */
    jd_clbuf_t ahead;
    jd_clbuf_t *fill;       /* where on_state_buffer puts records */
    int64_t last_ahead_mono;
};

/* ---- partitions ------------------------------------------------------- */

static jd_part_t *part_find(jd_runner_t *r, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < r->nparts; i++)
        if (r->parts[i].partition == partition && !strcmp(r->parts[i].topic, topic))
            return &r->parts[i];
    return NULL;
}

static jd_part_t *part_by_tag(jd_runner_t *r, int32_t tag)
{
    return tag >= 0 && (size_t)tag < r->nparts ? &r->parts[tag] : NULL;
}

/* Tags are stable for the life of the process: a partition that comes back
 * after a revoke gets its old tag. */
static jd_part_t *part_get(jd_runner_t *r, const char *topic, int32_t partition)
{
    jd_part_t *p = part_find(r, topic, partition);
    if (p)
        return p;
    if (r->nparts == r->capparts) {
        size_t cap = r->capparts ? r->capparts * 2 : 16;
        jd_part_t *np = realloc(r->parts, cap * sizeof(*np));
        if (!np)
            return NULL;
        r->parts = np;
        r->capparts = cap;
    }
    p = &r->parts[r->nparts];
    memset(p, 0, sizeof(*p));
    p->topic = strdup(topic);
    if (!p->topic)
        return NULL;
    p->partition = partition;
    p->tag = (int32_t)r->nparts++;
    return p;
}

static void part_reset(jd_part_t *p)
{
    p->eof = 0;
    p->has_events = 0;
    p->next_offset = -1;
    p->committed = -1;
    p->max_ts = INT64_MIN;
    p->wm = INT64_MIN;
    p->last_mono = jd_mono_ms();
    p->npend = 0;
}

static int pend_push(jd_part_t *p, int64_t offset, int64_t ts)
{
    if (p->npend == p->cappend) {
        size_t cap = p->cappend ? p->cappend * 2 : 256;
        jd_pend_t *np = realloc(p->pend, cap * sizeof(*np));
        if (!np)
            return -1;
        p->pend = np;
        p->cappend = cap;
    }
    p->pend[p->npend].offset = offset;
    p->pend[p->npend].ts = ts;
    p->npend++;
    return 0;
}

/* Drop what the engine has evaluated (ts <= wm) and return the smallest
 * offset still unevaluated, else next_offset. */
static int64_t part_committable(jd_runner_t *r, jd_part_t *p)
{
    size_t i, j = 0;
    for (i = 0; i < p->npend; i++)
        if (!r->finished && p->pend[i].ts > r->wm)
            p->pend[j++] = p->pend[i];
    p->npend = j;
    return j ? p->pend[0].offset : p->next_offset;
}

/* ---- producer side ---------------------------------------------------- */

static void *dr_opaque(jd_runner_t *r, int kind)
{
    return (void *)(uintptr_t)((r->epoch << DR_KIND_BITS) | (uint64_t)kind);
}

static void on_alert(void *opaque, const char *key, size_t keylen,
                     const char *json, size_t jsonlen, int64_t ts)
{
    jd_runner_t *r = opaque;
    rd_kafka_resp_err_t e;
    (void)ts;
    e = jd_kafka_produce(r->producer, r->conf->alerts_topic, RD_KAFKA_PARTITION_UA,
                         key, keylen, json, jsonlen, NULL, dr_opaque(r, DR_ALERT));
    if (!e) {
        r->alerts_produced++;
        r->out_cur++;
    } else {
        JD_LOG(JD_LOG_ERR, "cannot produce alert to %s: %s", r->conf->alerts_topic,
               rd_kafka_err2str(e));
        r->fatal = 1;
    }
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    jd_runner_t *r = opaque;
    uintptr_t v = (uintptr_t)m->_private;
    int kind = (int)(v & ((1u << DR_KIND_BITS) - 1));
    uint64_t epoch = (uint64_t)v >> DR_KIND_BITS;
    int old = epoch < r->epoch;
    (void)rk;
    if (kind == DR_CHANGELOG) {
        if (r->cl_inflight)
            r->cl_inflight--;
    } else if (old) {
        if (r->out_old)
            r->out_old--;
    } else if (r->out_cur) {
        r->out_cur--;
    }
    if (m->err) {
        r->delivery_failed++;
        JD_LOG(JD_LOG_ERR, "delivery to %s [%" PRId32 "] failed: %s",
               rd_kafka_topic_name(m->rkt), m->partition, rd_kafka_err2str(m->err));
        return;
    }
    if (kind == DR_ALERT) {
        r->alerts_acked++;
        if (old && r->ck.state != CKPT_NONE)
            r->ck.alerts_acked++;
        if (r->opts.on_alert_acked)
            r->opts.on_alert_acked(r->opts.opaque, m->key, m->key_len, m->payload, m->len);
    }
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    jd_runner_t *r = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof(buf));
        JD_LOG(JD_LOG_ERR, "fatal Kafka error: %s: %s", rd_kafka_err2name(orig), buf);
        r->fatal = 1;
        return;
    }
    /* transient (broker down, transport): librdkafka retries by itself */
    JD_LOG(JD_LOG_WARN, "kafka: %s: %s", rd_kafka_err2name(err), reason);
}

static void dead_letter(jd_runner_t *r, const rd_kafka_message_t *m,
                        jd_dl_reason_t reason, const char *detail)
{
    jd_source_pos_t pos = { 0 };
    size_t len = 0;
    char *s;
    rd_kafka_resp_err_t e;

    r->dead_letters++;
    if (reason == JD_DL_LATE)
        r->late++;
    pos.topic = rd_kafka_topic_name(m->rkt);
    pos.partition = m->partition;
    pos.offset = m->offset;
    JD_LOG(JD_LOG_DEBUG, "dead letter %s [%" PRId32 "] @%" PRId64 ": %s: %s", pos.topic,
           pos.partition, pos.offset, jd_dl_reason_name(reason), detail);
    if (!r->conf->dead_letter_topic || !*r->conf->dead_letter_topic)
        return;
    s = jd_deadletter_format(reason, detail, &pos, m->payload, m->len, &len);
    if (!s) {
        JD_LOG(JD_LOG_ERR, "out of memory formatting a dead letter");
        r->fatal = 1;
        return;
    }
    e = jd_kafka_produce(r->producer, r->conf->dead_letter_topic, RD_KAFKA_PARTITION_UA,
                         m->key, m->key_len, s, len, NULL, dr_opaque(r, DR_DEADLETTER));
    free(s);
    if (!e)
        r->out_cur++;
    if (e) {
        JD_LOG(JD_LOG_ERR, "cannot produce dead letter to %s: %s",
               r->conf->dead_letter_topic, rd_kafka_err2str(e));
        r->fatal = 1;
    }
}

static int produce_state(jd_runner_t *r, int32_t partition, const char *key, size_t keylen,
                         const void *val, size_t vallen)
{
    rd_kafka_resp_err_t e;
    e = jd_kafka_produce(r->clprod, r->changelog, partition, key, keylen,
                         val, val ? vallen : 0, NULL, dr_opaque(r, DR_CHANGELOG));
    if (e) {
        JD_LOG(JD_LOG_ERR, "cannot produce to changelog %s: %s", r->changelog,
               rd_kafka_err2str(e));
        r->fatal = 1;
        return -1;
    }
    r->cl_inflight++;
    return 0;
}

/* The changelog partition of a journey from source tag, or -1. */
static int32_t state_partition(jd_runner_t *r, int32_t tag)
{
    jd_part_t *p = part_by_tag(r, tag);
    if (!p || p->partition >= r->changelog_parts) {
        JD_LOG(JD_LOG_WARN, "changelog record for unknown source %" PRId32 " skipped", tag);
        return -1;
    }
    return p->partition;
}

/* Synchronous cycle: produce at once (the alerts are already flushed). */
static void on_state(void *opaque, int32_t tag, const char *key, size_t keylen,
                     const void *val, size_t vallen)
{
    jd_runner_t *r = opaque;
    int32_t part = state_partition(r, tag);
    if (part >= 0 && !r->fatal)
        produce_state(r, part, key, keylen, val, vallen);
}

static int arena_put(jd_clbuf_t *ck, const void *data, size_t len, size_t *off)
{
    if (ck->alen + len > ck->acap) {
        size_t cap = ck->acap ? ck->acap : 1 << 20;
        char *na;
        while (cap < ck->alen + len)
            cap *= 2;
        if (!(na = realloc(ck->arena, cap)))
            return -1;
        ck->arena = na;
        ck->acap = cap;
    }
    if (len)
        memcpy(ck->arena + ck->alen, data, len);
    *off = ck->alen;
    ck->alen += len;
    return 0;
}

/* Pipelined checkpoint: keep the record until the epoch's alerts are
 * acknowledged (see the top of this file). */
static void on_state_buffer(void *opaque, int32_t tag, const char *key, size_t keylen,
                            const void *val, size_t vallen)
{
    jd_runner_t *r = opaque;
    jd_clbuf_t *ck = r->fill;
    int32_t part = state_partition(r, tag);
    jd_clrec_t *rec;
    if (part < 0 || r->fatal)
        return;
    if (ck->nrecs == ck->caprecs) {
        size_t cap = ck->caprecs ? ck->caprecs * 2 : 4096;
        jd_clrec_t *nr = realloc(ck->recs, cap * sizeof(*nr));
        if (!nr)
            goto oom;
        ck->recs = nr;
        ck->caprecs = cap;
    }
    rec = &ck->recs[ck->nrecs];
    rec->tag = tag;
    rec->partition = part;
    rec->tomb = val == NULL;
    rec->klen = keylen;
    rec->vlen = val ? vallen : 0;
    if (arena_put(ck, key, keylen, &rec->koff) ||
        arena_put(ck, val, rec->vlen, &rec->voff))
        goto oom;
    ck->nrecs++;
    return;
oom:
    JD_LOG(JD_LOG_ERR, "out of memory buffering changelog records");
    r->fatal = 1;
}

/* Produce the checkpoint's buffered records, skipping partitions no longer
 * ours (a lost assignment: the new owner's state must not be overwritten).
 * Unless wait, stop when the producer's queue is full and return 1: the
 * main loop goes on consuming and calls again. */
static int ckpt_produce_changelog(jd_runner_t *r, jd_clbuf_t *ck, int wait)
{
    for (; ck->next < ck->nrecs && !r->fatal; ck->next++) {
        const jd_clrec_t *rec = &ck->recs[ck->next];
        const jd_part_t *p = part_by_tag(r, rec->tag);
        const char *val = rec->tomb ? NULL : ck->arena + rec->voff;
        rd_kafka_resp_err_t e;
        if (!p || !p->assigned)
            continue;
        if (wait) {
            produce_state(r, rec->partition, ck->arena + rec->koff, rec->klen, val, rec->vlen);
            continue;
        }
        e = jd_kafka_try_produce(r->clprod, r->changelog, rec->partition,
                                 ck->arena + rec->koff, rec->klen, val, val ? rec->vlen : 0,
                                 dr_opaque(r, DR_CHANGELOG));
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            return 1;
        if (e) {
            JD_LOG(JD_LOG_ERR, "cannot produce to changelog %s: %s", r->changelog,
                   rd_kafka_err2str(e));
            r->fatal = 1;
            break;
        }
        r->cl_inflight++;
    }
    ck->nrecs = ck->next = 0;
    ck->alen = 0;
    return 0;
}

static int check_deliveries(jd_runner_t *r)
{
    if (r->delivery_failed && !r->fatal) {
        JD_LOG(JD_LOG_ERR, "%" PRIu64 " deliveries failed: not committing input offsets "
               "(a restart reads them again)", r->delivery_failed);
        r->fatal = 1;
    }
    return r->fatal ? -1 : 0;
}

/* Wait until every produced message is acknowledged or failed. */
static int flush_all(jd_runner_t *r)
{
    for (;;) {
        rd_kafka_t *rk = rd_kafka_outq_len(r->producer) > 0 ? r->producer
                       : rd_kafka_outq_len(r->clprod) > 0 ? r->clprod : NULL;
        if (!rk || r->fatal)
            break;
        rd_kafka_flush(rk, 500);
    }
    return check_deliveries(r);
}

/* The offsets to commit now: the committable offset of every assigned
 * partition that moved since its last commit. NULL if none or no memory. */
static rd_kafka_topic_partition_list_t *committable_offsets(jd_runner_t *r)
{
    rd_kafka_topic_partition_list_t *offs =
        rd_kafka_topic_partition_list_new((int)r->nparts + 1);
    for (size_t i = 0; i < r->nparts; i++) {
        jd_part_t *p = &r->parts[i];
        int64_t off;
        if (!p->assigned || p->next_offset < 0)
            continue;
        off = part_committable(r, p);
        if (off > p->committed)
            rd_kafka_topic_partition_list_add(offs, p->topic, p->partition)->offset = off;
    }
    if (offs->cnt == 0) {
        rd_kafka_topic_partition_list_destroy(offs);
        return NULL;
    }
    return offs;
}

/* Commit offs (everything they cover is acknowledged); takes it over.
 * Partitions revoked since offs was computed are left out: they are no
 * longer ours to commit. */
static void commit_offsets(jd_runner_t *r, rd_kafka_topic_partition_list_t *offs,
                           uint64_t produced, uint64_t acked)
{
    rd_kafka_resp_err_t e;
    int j = 0;

    if (!offs)
        return;
    for (int i = 0; i < offs->cnt; i++) {
        jd_part_t *p = part_find(r, offs->elems[i].topic, offs->elems[i].partition);
        if (p && p->assigned && offs->elems[i].offset > p->committed)
            j++;
        else
            offs->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
    }
    if (j < offs->cnt) {
        rd_kafka_topic_partition_list_t *keep = rd_kafka_topic_partition_list_new(j + 1);
        for (int i = 0; i < offs->cnt; i++)
            if (offs->elems[i].offset != RD_KAFKA_OFFSET_INVALID)
                rd_kafka_topic_partition_list_add(keep, offs->elems[i].topic,
                                                  offs->elems[i].partition)->offset =
                    offs->elems[i].offset;
        rd_kafka_topic_partition_list_destroy(offs);
        offs = keep;
    }
    if (offs->cnt == 0)
        goto done;
    e = rd_kafka_commit(r->consumer, offs, 0);
    if (e) {
        /* not fatal: the next cycle commits again */
        JD_LOG(JD_LOG_WARN, "offset commit failed: %s", rd_kafka_err2str(e));
        goto done;
    }
    for (int i = 0; i < offs->cnt; i++) {
        jd_part_t *p = part_find(r, offs->elems[i].topic, offs->elems[i].partition);
        if (offs->elems[i].err) {
            JD_LOG(JD_LOG_WARN, "offset commit %s [%" PRId32 "] failed: %s",
                   offs->elems[i].topic, offs->elems[i].partition,
                   rd_kafka_err2str(offs->elems[i].err));
            continue;
        }
        if (p)
            p->committed = offs->elems[i].offset;
        JD_LOG(JD_LOG_DEBUG, "committed %s [%" PRId32 "] at offset %" PRId64,
               offs->elems[i].topic, offs->elems[i].partition, offs->elems[i].offset);
    }
    if (r->opts.on_commit)
        r->opts.on_commit(r->opts.opaque, offs, produced, acked);
done:
    rd_kafka_topic_partition_list_destroy(offs);
}

static void ckpt_clear(jd_ckpt_t *ck)
{
    if (ck->offs)
        rd_kafka_topic_partition_list_destroy(ck->offs);
    ck->offs = NULL;
    ck->buf.nrecs = ck->buf.next = 0;
    ck->buf.alen = 0;
    ck->state = CKPT_NONE;
}

/* Move the pipelined checkpoint on as far as acknowledgements allow;
 * never waits. */
static void ckpt_progress(jd_runner_t *r)
{
    jd_ckpt_t *ck = &r->ck;
    if (ck->state == CKPT_NONE || r->fatal)
        return;
    if (check_deliveries(r))
        return;
    if (ck->state == CKPT_WAIT_ALERTS) {
        if (r->out_old)
            return;
        ck->state = CKPT_PRODUCING;
    }
    if (ck->state == CKPT_PRODUCING) {
        if (ckpt_produce_changelog(r, &ck->buf, 0) || r->fatal)
            return;
        ck->state = CKPT_WAIT_CHANGELOG;
    }
    if (r->cl_inflight || check_deliveries(r))
        return;
    commit_offsets(r, ck->offs, ck->alerts_produced, ck->alerts_acked);
    ck->offs = NULL;
    ckpt_clear(ck);
}

/* Serialise a share of the changed journeys now: as many as keep pace
 * with the time left until the checkpoint is due. Journeys changed longest
 * ago go first; one that changes again is serialised again later. That
 * costs more in all than one pass at the checkpoint (at full speed, 35%
 * more records), so it is done only while input is keeping up (backlog:
 * the last poll filled a whole batch): then latency is what counts, and
 * short passes keep events from waiting behind a long one. */
static void serialise_ahead(jd_runner_t *r, int64_t now, int64_t interval, int backlog)
{
    int64_t dt = now - r->last_ahead_mono;
    if (!r->changelog_ready || r->fatal || dt < 1)
        return;
    if (backlog) {
        r->last_ahead_mono = now;
        return;
    }
    r->last_ahead_mono = now;
    size_t pending = jd_engine_changes_pending(r->engine);
    if (!pending)
        return;
    int64_t left = r->last_commit_mono + interval - now;
    size_t n = left <= dt ? pending : (size_t)((double)pending * (double)dt / (double)left) + 1;
    r->fill = &r->ahead;
    jd_engine_drain_some(r->engine, on_state_buffer, r, n);
}

static void ckpt_begin(jd_runner_t *r, int64_t now)
{
    jd_ckpt_t *ck = &r->ck;
    r->last_commit_mono = now;
    if (check_deliveries(r))
        return;
    ck->offs = committable_offsets(r);
    ck->alerts_produced = r->alerts_produced;
    ck->alerts_acked = r->alerts_acked;
    /* close the epoch: what was produced so far must be acknowledged
     * before the changelog drained now is written */
    r->out_old += r->out_cur;
    r->out_cur = 0;
    r->epoch++;
    /* the records serialised ahead become this checkpoint's, then the
     * journeys changed since join them */
    jd_clbuf_t spare = ck->buf;
    ck->buf = r->ahead;
    r->ahead = spare;
    r->ahead.nrecs = r->ahead.next = 0;
    r->ahead.alen = 0;
    size_t early = ck->buf.nrecs;
    ck->state = CKPT_WAIT_ALERTS;
    if (r->changelog_ready) {
        r->fill = &ck->buf;
        jd_engine_drain_changes(r->engine, on_state_buffer, r);
    }
    JD_LOG(JD_LOG_DEBUG, "checkpoint: %" PRIu64 " messages consumed, %zu changelog records "
           "(%zu serialised ahead, %zu bytes), the rest drained in %" PRId64 " ms, %" PRIu64
           " deliveries to wait for, %" PRIu64 " empty polls", r->consumed, ck->buf.nrecs, early,
           ck->buf.alen, jd_mono_ms() - now, r->out_old, r->empty_polls);
    ckpt_progress(r);
}

/* Complete the pipelined checkpoint now, without committing its offsets
 * (the caller commits newer ones, or none after a lost assignment). */
static int ckpt_finish(jd_runner_t *r)
{
    if (r->ck.state == CKPT_NONE)
        return r->fatal ? -1 : 0;
    if (flush_all(r))
        return -1;
    if (r->ck.state == CKPT_WAIT_ALERTS || r->ck.state == CKPT_PRODUCING)
        ckpt_produce_changelog(r, &r->ck.buf, 1);
    ckpt_clear(&r->ck);
    return flush_all(r);
}

static void commit_cycle(jd_runner_t *r)
{
    r->last_commit_mono = jd_mono_ms();
    if (ckpt_finish(r))
        return;
    if (flush_all(r))
        return;
    /* records serialised ahead are older than what is drained now */
    ckpt_produce_changelog(r, &r->ahead, 1);
    if (r->changelog_ready)
        jd_engine_drain_changes(r->engine, on_state, r);
    if (flush_all(r))
        return;
    commit_offsets(r, committable_offsets(r), r->alerts_produced, r->alerts_acked);
}

/* ---- rebalance: changelog topic and restore ----------------------------- */

static int32_t topic_partitions(const rd_kafka_metadata_t *md, const char *topic, int *found)
{
    for (int i = 0; i < md->topic_cnt; i++)
        if (!strcmp(md->topics[i].topic, topic)) {
            *found = md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR;
            return md->topics[i].partition_cnt;
        }
    *found = 0;
    return 0;
}

static int create_changelog(jd_runner_t *r, int32_t nparts)
{
    char errstr[512];
    rd_kafka_NewTopic_t *nt;
    rd_kafka_AdminOptions_t *ao = NULL;
    rd_kafka_queue_t *q = NULL;
    rd_kafka_event_t *ev = NULL;
    int rc = -1;

    nt = rd_kafka_NewTopic_new(r->changelog, nparts, -1, errstr, sizeof(errstr));
    if (!nt) {
        JD_LOG(JD_LOG_ERR, "changelog %s: %s", r->changelog, errstr);
        return -1;
    }
    if (rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact")) {
        JD_LOG(JD_LOG_ERR, "changelog %s: cannot set cleanup.policy", r->changelog);
        goto out;
    }
    q = rd_kafka_queue_new(r->producer);
    ao = rd_kafka_AdminOptions_new(r->producer, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(ao, ADMIN_TIMEOUT_MS, errstr, sizeof(errstr));
    rd_kafka_CreateTopics(r->producer, &nt, 1, ao, q);
    ev = rd_kafka_queue_poll(q, ADMIN_TIMEOUT_MS + 5000);
    if (!ev) {
        JD_LOG(JD_LOG_ERR, "changelog %s: CreateTopics timed out", r->changelog);
        goto out;
    }
    if (rd_kafka_event_error(ev)) {
        JD_LOG(JD_LOG_ERR, "changelog %s: CreateTopics: %s", r->changelog,
               rd_kafka_event_error_string(ev));
        goto out;
    } else {
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        size_t n = 0;
        const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &n);
        for (size_t i = 0; i < n; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
            if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                JD_LOG(JD_LOG_ERR, "changelog %s: CreateTopics: %s", r->changelog,
                       rd_kafka_topic_result_error_string(tr[i]));
                goto out;
            }
        }
    }
    JD_LOG(JD_LOG_INFO, "created changelog topic %s (%" PRId32 " partitions, compacted)",
           r->changelog, nparts);
    rc = 0;
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(ao);
    if (q)
        rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

/* The changelog needs as many partitions as the widest input topic, since a
 * journey's records go to the partition number of its input partition. */
static int ensure_changelog(jd_runner_t *r)
{
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_resp_err_t e;
    int32_t need = 0, have;
    int found, rc = -1;

    if (r->changelog_ready)
        return 0;
    /* all-topics metadata from the consumer: a producer metadata request for
     * one topic could auto-create it, uncompacted */
    e = rd_kafka_metadata(r->consumer, 1, NULL, &md, ADMIN_TIMEOUT_MS);
    if (e) {
        JD_LOG(JD_LOG_ERR, "metadata request failed: %s", rd_kafka_err2str(e));
        return -1;
    }
    for (size_t i = 0; i < r->conf->ntopics; i++) {
        int32_t n = topic_partitions(md, r->conf->topics[i], &found);
        if (found && n > need)
            need = n;
    }
    for (size_t i = 0; i < r->nparts; i++)
        if (r->parts[i].partition + 1 > need)
            need = r->parts[i].partition + 1;
    have = topic_partitions(md, r->changelog, &found);
    if (found) {
        if (have < need) {
            JD_LOG(JD_LOG_ERR, "changelog topic %s has %" PRId32 " partitions; the input "
                   "topics need %" PRId32, r->changelog, have, need);
            goto out;
        }
        r->changelog_parts = have;
    } else {
        if (create_changelog(r, need))
            goto out;
        r->changelog_parts = need;
        r->changelog_created = 1;
    }
    r->changelog_ready = 1;
    rc = 0;
out:
    rd_kafka_metadata_destroy(md);
    return rc;
}

/* Read each assigned partition's changelog partition from the beginning to
 * its high watermark into the engine, before any input is consumed. */
static int restore(jd_runner_t *r, const rd_kafka_topic_partition_list_t *assigned)
{
    rd_kafka_topic_partition_list_t *tl = NULL;
    int32_t *tag_of = NULL;
    int64_t *hi_of = NULL;
    int remaining = 0, rc = -1;
    uint64_t nrec = 0;
    int64_t deadline;
    jd_err_t err;

    if (!r->restore) {
        rd_kafka_conf_t *kc = jd_kafka_conf_new(r->conf, JD_KROLE_RESTORE, &err);
        if (!kc || !(r->restore = jd_kafka_new(RD_KAFKA_CONSUMER, kc, &err))) {
            JD_LOG(JD_LOG_ERR, "restore consumer: %s", err.msg);
            return -1;
        }
    }
    tag_of = calloc((size_t)r->changelog_parts, sizeof(*tag_of));
    hi_of = calloc((size_t)r->changelog_parts, sizeof(*hi_of));
    tl = rd_kafka_topic_partition_list_new(assigned->cnt + 1);
    if (!tag_of || !hi_of)
        goto out;
    for (int32_t i = 0; i < r->changelog_parts; i++)
        tag_of[i] = -1;
    for (int i = 0; i < assigned->cnt; i++) {
        jd_part_t *p = part_find(r, assigned->elems[i].topic, assigned->elems[i].partition);
        int64_t lo = 0, hi = 0;
        rd_kafka_resp_err_t e;
        if (!p || p->partition >= r->changelog_parts || tag_of[p->partition] >= 0)
            continue;
        tag_of[p->partition] = p->tag;
        if (r->changelog_created)
            continue; /* we just created it: empty */
        deadline = jd_mono_ms() + ADMIN_TIMEOUT_MS;
        do {
            e = rd_kafka_query_watermark_offsets(r->restore, r->changelog, p->partition,
                                                 &lo, &hi, ADMIN_TIMEOUT_MS);
            /* leadership may still be settling after a broker restart */
            if (e != RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION &&
                e != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE &&
                e != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
                break;
            rd_kafka_poll(r->restore, 200);
        } while (jd_mono_ms() < deadline);
        if (e) {
            JD_LOG(JD_LOG_ERR, "changelog %s [%" PRId32 "]: %s", r->changelog, p->partition,
                   rd_kafka_err2str(e));
            goto out;
        }
        if (hi <= lo)
            continue;
        hi_of[p->partition] = hi;
        rd_kafka_topic_partition_list_add(tl, r->changelog, p->partition)->offset = lo;
        remaining++;
    }
    if (!remaining) {
        rc = 0;
        goto out;
    }
    if (rd_kafka_assign(r->restore, tl)) {
        JD_LOG(JD_LOG_ERR, "changelog %s: assign failed", r->changelog);
        goto out;
    }
    deadline = jd_mono_ms() + RESTORE_TIMEOUT_MS;
    while (remaining > 0) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->restore, 200);
        int32_t cp;
        if (!m) {
            if (jd_mono_ms() > deadline) {
                JD_LOG(JD_LOG_ERR, "changelog %s: restore did not finish within %ds",
                       r->changelog, RESTORE_TIMEOUT_MS / 1000);
                break;
            }
            continue;
        }
        cp = m->partition;
        if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            JD_LOG(JD_LOG_WARN, "changelog %s: %s", r->changelog, rd_kafka_message_errstr(m));
        } else if (cp >= 0 && cp < r->changelog_parts && hi_of[cp] > 0) {
            if (!m->err && m->key) {
                if (jd_engine_restore(r->engine, tag_of[cp], m->key, m->key_len,
                                      m->payload, m->payload ? m->len : 0, &err))
                    JD_LOG(JD_LOG_WARN, "changelog %s [%" PRId32 "] @%" PRId64 ": %s",
                           r->changelog, cp, m->offset, err.msg);
                nrec++;
            }
            /* EOF carries the next offset; a record its own */
            if ((m->err ? m->offset : m->offset + 1) >= hi_of[cp]) {
                hi_of[cp] = 0;
                remaining--;
            }
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(r->restore, NULL);
    if (remaining)
        goto out;
    JD_LOG(JD_LOG_INFO, "restored %" PRIu64 " changelog records from %s", nrec, r->changelog);
    rc = 0;
out:
    rd_kafka_topic_partition_list_destroy(tl);
    free(tag_of);
    free(hi_of);
    return rc;
}

static void log_committed(jd_runner_t *r, const rd_kafka_topic_partition_list_t *parts)
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

static void on_assign(jd_runner_t *r, rd_kafka_topic_partition_list_t *parts)
{
    for (int i = 0; i < parts->cnt; i++) {
        jd_part_t *p = part_get(r, parts->elems[i].topic, parts->elems[i].partition);
        if (!p) {
            JD_LOG(JD_LOG_ERR, "out of memory");
            r->fatal = 1;
            return;
        }
        part_reset(p);
        p->assigned = 1;
    }
    if (ensure_changelog(r) || restore(r, parts)) {
        r->fatal = 1;
        return;
    }
    log_committed(r, parts);
}

static void on_revoke(jd_runner_t *r, rd_kafka_topic_partition_list_t *parts, int lost)
{
    /* Finish what can be finished and commit it before the partitions go;
     * a lost assignment may already belong to someone else: no commit, and
     * no changelog record for it. The pending checkpoint's records of
     * partitions still ours are written all the same: the engine no longer
     * counts those journeys as changed. */
    if (lost) {
        for (int i = 0; i < parts->cnt; i++) {
            jd_part_t *p = part_find(r, parts->elems[i].topic, parts->elems[i].partition);
            if (p)
                p->assigned = 0;
        }
        ckpt_finish(r);
    } else {
        commit_cycle(r);
    }
    for (int i = 0; i < parts->cnt; i++) {
        jd_part_t *p = part_find(r, parts->elems[i].topic, parts->elems[i].partition);
        if (!p)
            continue;
        jd_engine_drop_source(r->engine, p->tag);
        p->assigned = 0;
        p->npend = 0;
        JD_LOG(JD_LOG_INFO, "%s %s [%" PRId32 "]", lost ? "lost" : "revoked", p->topic,
               p->partition);
    }
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    jd_runner_t *r = opaque;
    int coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;

    switch (err) {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
        on_assign(r, parts);
        if (coop)
            error = rd_kafka_incremental_assign(rk, parts);
        else
            e = rd_kafka_assign(rk, parts);
        break;
    case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
        on_revoke(r, parts, rd_kafka_assignment_lost(rk));
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

static jd_dl_reason_t decode(jd_runner_t *r, const rd_kafka_message_t *m, jd_event_t **ev,
                             char *detail, size_t detailsz)
{
    jd_csv_record_t rec;
    const char *hdr;
    size_t hdrlen = 0;

    if (!r->conf->input_csv)
        return jd_decode_json(r->dec, m->payload ? m->payload : "", m->len, ev, detail,
                              detailsz);
    /* CSV values need their header: `produce` sends the file's header
     * record as a message header (see JD_KAFKA_CSV_HEADER). */
    hdr = msg_header(m, JD_KAFKA_CSV_HEADER, &hdrlen);
    if (!hdr) {
        snprintf(detail, detailsz, "CSV message without a %s header", JD_KAFKA_CSV_HEADER);
        return JD_DL_BAD_CSV;
    }
    if (!r->csv_hdr || r->csv_hdr_len != hdrlen || memcmp(r->csv_hdr, hdr, hdrlen)) {
        jd_err_t err;
        char *copy = malloc(hdrlen + 1);
        if (!copy) {
            snprintf(detail, detailsz, "out of memory");
            return JD_DL_TOO_LARGE;
        }
        memcpy(copy, hdr, hdrlen);
        copy[hdrlen] = '\0';
        free(r->csv_hdr);
        r->csv_hdr = copy;
        r->csv_hdr_len = hdrlen;
        if (jd_csv_parse(r->csvp, copy, hdrlen, r->conf->csv_delimiter, &rec) != JD_READ_OK)
            jd_err_set(&err, "malformed record");
        else if (!jd_decoder_csv_header(r->dec, &rec, &err))
            err.msg[0] = '\0';
        if (err.msg[0]) {
            free(r->csv_hdr);
            r->csv_hdr = NULL;
            snprintf(detail, detailsz, "bad %s header: %.400s", JD_KAFKA_CSV_HEADER, err.msg);
            return JD_DL_BAD_CSV;
        }
    }
    if (jd_csv_parse(r->csvp, m->payload ? m->payload : "", m->len, r->conf->csv_delimiter,
                     &rec) != JD_READ_OK) {
        snprintf(detail, detailsz, "malformed CSV record");
        return JD_DL_BAD_CSV;
    }
    return jd_decode_csv(r->dec, &rec, ev, detail, detailsz);
}

static void handle_message(jd_runner_t *r, const rd_kafka_message_t *m, int64_t now)
{
    char detail[512];
    jd_event_t *ev = NULL;
    jd_dl_reason_t reason;
    jd_part_t *p;
    int64_t ts;

    if (m->err) {
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            p = m->rkt ? part_find(r, rd_kafka_topic_name(m->rkt), m->partition) : NULL;
            if (p)
                p->eof = 1;
            return;
        }
        JD_LOG(JD_LOG_WARN, "consumer: %s", rd_kafka_message_errstr(m));
        return;
    }
    p = part_find(r, rd_kafka_topic_name(m->rkt), m->partition);
    if (!p || !p->assigned)
        return;
    r->consumed++;
    r->last_data_mono = p->last_mono = now;
    p->eof = 0;
    p->next_offset = m->offset + 1;

    detail[0] = '\0';
    reason = decode(r, m, &ev, detail, sizeof(detail));
    if (reason != JD_DL_NONE) {
        dead_letter(r, m, reason, detail);
        return;
    }
    ev->source_tag = p->tag;
    ts = ev->ts;
    if (p->has_events && ts < p->wm) {
        char a[JD_TIME_BUFSZ], b[JD_TIME_BUFSZ];
        jd_event_free(ev);
        snprintf(detail, sizeof(detail), "ts %s is older than the partition watermark %s",
                 jd_time_format_rfc3339(ts, a), jd_time_format_rfc3339(p->wm, b));
        dead_letter(r, m, JD_DL_LATE, detail);
        return;
    }
    if (!p->has_events || ts > p->max_ts)
        p->max_ts = ts;
    p->has_events = 1;
    if (p->max_ts - r->conf->lateness_ms > p->wm)
        p->wm = p->max_ts - r->conf->lateness_ms;
    if (jd_engine_push(r->engine, ev) == JD_DL_LATE) {
        char a[JD_TIME_BUFSZ], b[JD_TIME_BUFSZ];
        snprintf(detail, sizeof(detail), "ts %s is older than the watermark %s",
                 jd_time_format_rfc3339(ts, a), jd_time_format_rfc3339(r->wm, b));
        dead_letter(r, m, JD_DL_LATE, detail);
        return;
    }
    if (pend_push(p, m->offset, ts)) {
        JD_LOG(JD_LOG_ERR, "out of memory");
        r->fatal = 1;
    }
}

/* Minimum partition watermark (see the top of this file), or INT64_MIN when
 * some partition still holds it back. */
static int64_t global_watermark(jd_runner_t *r, int64_t now)
{
    int64_t g = INT64_MAX, idle = r->conf->idle_advance_ms;
    int any = 0;
    for (size_t i = 0; i < r->nparts; i++) {
        jd_part_t *p = &r->parts[i];
        int quiet = idle > 0 && now - p->last_mono >= idle;
        if (!p->assigned)
            continue;
        if (!p->has_events) {
            if (quiet)
                continue;
            return INT64_MIN;
        }
        if (quiet) {
            int64_t follow = p->max_ts - r->conf->lateness_ms + (now - p->last_mono);
            if (follow > p->wm)
                p->wm = follow;
        }
        if (p->wm < g)
            g = p->wm;
        any = 1;
    }
    return any ? g : INT64_MIN;
}

static int drained(jd_runner_t *r, int64_t now)
{
    int any = 0;
    for (size_t i = 0; i < r->nparts; i++) {
        if (!r->parts[i].assigned)
            continue;
        if (!r->parts[i].eof)
            return 0;
        any = 1;
    }
    return any && rd_kafka_outq_len(r->producer) == 0 && rd_kafka_outq_len(r->clprod) == 0 &&
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
    e = rd_kafka_subscribe(r->consumer, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (e) {
        JD_LOG(JD_LOG_ERR, "subscribe failed: %s", rd_kafka_err2str(e));
        return 1;
    }
    JD_LOG(JD_LOG_INFO, "consuming %s (group %s), alerts to %s", r->conf->topics[0],
           json_string_value(json_object_get(r->conf->kafka, "group.id")),
           r->conf->alerts_topic);
    r->last_commit_mono = r->last_data_mono = jd_mono_ms();

    while (!(r->opts.stop && *r->opts.stop) && !r->fatal) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->consumer, 100);
        int64_t now = jd_mono_ms(), wm;
        if (!m)
            r->empty_polls++;
        /* Take what is already queued before advancing the watermark: the
         * engine orders by event time whatever the batch, since no pushed
         * event is below the watermark (see handle_message). */
        int n = 0;
        while (m) {
            handle_message(r, m, now);
            rd_kafka_message_destroy(m);
            if (++n == CONSUME_BATCH || r->fatal || (r->opts.stop && *r->opts.stop))
                break;
            m = rd_kafka_consumer_poll(r->consumer, 0);
        }
        rd_kafka_poll(r->producer, 0);
        rd_kafka_poll(r->clprod, 0);
        now = jd_mono_ms();
        wm = global_watermark(r, now);
        if (wm > r->wm) {
            r->wm = wm;
            jd_engine_advance(r->engine, wm);
        }
        ckpt_progress(r);
        if (r->ck.state == CKPT_NONE && now - r->last_commit_mono >= interval)
            ckpt_begin(r, now);
        else
            serialise_ahead(r, now, interval, n == CONSUME_BATCH);
        if (r->opts.stop_when_drained && drained(r, now)) {
            stopped_drained = 1;
            break;
        }
    }

    /* Shutdown, in kcat's order: the loop is left; finish in-flight work
     * (no further watermark advance, except the demo's end-of-input
     * finish) and commit what was evaluated; close the consumer (its
     * revoke commits again, then drops the partitions); drain the
     * producer; destroy (jd_runner_destroy). */
    if (stopped_drained && !r->fatal) {
        jd_engine_finish(r->engine, r->opts.flush_at_end);
        r->finished = 1;
    }
    if (!r->fatal)
        commit_cycle(r);
    rd_kafka_consumer_close(r->consumer);
    if (!r->fatal)
        flush_all(r);
    else {
        /* nothing more is committed; do not wait out retries at exit */
        rd_kafka_purge(r->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_purge(r->clprod, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    }
    JD_LOG(JD_LOG_INFO, "stopped: %" PRIu64 " messages, %" PRIu64 " alerts (%" PRIu64
           " acknowledged), %" PRIu64 " dead letters (%" PRIu64 " late)", r->consumed,
           r->alerts_produced, r->alerts_acked, r->dead_letters, r->late);
    return r->fatal ? 1 : 0;
}

/* ---- construction ----------------------------------------------------- */

jd_runner_t *jd_runner_new(const jd_config_t *conf, const jd_runner_opts_t *opts,
                           jd_err_t *err)
{
    jd_runner_t *r = calloc(1, sizeof(*r));
    jd_engine_opts_t eo = { 0 };
    rd_kafka_conf_t *kc = NULL;
    json_t *gid;

    if (!r) {
        jd_err_set(err, "out of memory");
        return NULL;
    }
    r->conf = conf;
    r->opts = *opts;
    r->wm = INT64_MIN;
    r->epoch = 1;
    if (conf->guarantee == JD_GUARANTEE_EXACTLY_ONCE) {
        jd_err_set(err, "processing.guarantee=exactly_once: not supported yet (Kafka "
                        "transactions); use at_least_once");
        goto fail;
    }
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
    rd_kafka_conf_set_opaque(kc, r);
    rd_kafka_conf_set_rebalance_cb(kc, rebalance_cb);
    rd_kafka_conf_set_error_cb(kc, error_cb);
    if (!(r->consumer = jd_kafka_new(RD_KAFKA_CONSUMER, kc, err)))
        goto fail;
    /* rebalance and error events are served by rd_kafka_consumer_poll */
    rd_kafka_poll_set_consumer(r->consumer);

    if (!(kc = jd_kafka_conf_new(conf, JD_KROLE_ALERTS, err)))
        goto fail;
    rd_kafka_conf_set_opaque(kc, r);
    rd_kafka_conf_set_dr_msg_cb(kc, dr_cb);
    rd_kafka_conf_set_error_cb(kc, error_cb);
    if (!(r->producer = jd_kafka_new(RD_KAFKA_PRODUCER, kc, err)))
        goto fail;
    if (!(kc = jd_kafka_conf_new(conf, JD_KROLE_PRODUCER, err)))
        goto fail;
    rd_kafka_conf_set_opaque(kc, r);
    rd_kafka_conf_set_dr_msg_cb(kc, dr_cb);
    rd_kafka_conf_set_error_cb(kc, error_cb);
    if (!(r->clprod = jd_kafka_new(RD_KAFKA_PRODUCER, kc, err)))
        goto fail;

    if (!(r->dec = jd_decoder_new(conf, err)))
        goto fail;
    if (conf->input_csv && !(r->csvp = jd_csv_parser_new())) {
        jd_err_set(err, "out of memory");
        goto fail;
    }
    eo.on_alert = on_alert;
    eo.opaque = r;
    eo.auto_watermark = 0;
    /* the changelog (contract section 7) is drained from the engine */
    eo.track_changes = 1;
    eo.fixed_emitted_at = opts->fixed_emitted_at;
    if (!(r->engine = jd_engine_new(conf, &eo, err)))
        goto fail;
    return r;
fail:
    jd_runner_destroy(r);
    return NULL;
}

void jd_runner_destroy(jd_runner_t *r)
{
    if (!r)
        return;
    if (r->restore) {
        rd_kafka_consumer_close(r->restore);
        rd_kafka_destroy(r->restore);
    }
    if (r->consumer)
        rd_kafka_destroy(r->consumer);
    if (r->producer)
        rd_kafka_destroy(r->producer);
    if (r->clprod)
        rd_kafka_destroy(r->clprod);
    ckpt_clear(&r->ck);
    free(r->ck.buf.arena);
    free(r->ck.buf.recs);
    free(r->ahead.arena);
    free(r->ahead.recs);
    jd_engine_destroy(r->engine);
    jd_decoder_destroy(r->dec);
    jd_csv_parser_destroy(r->csvp);
    free(r->csv_hdr);
    for (size_t i = 0; i < r->nparts; i++) {
        free(r->parts[i].topic);
        free(r->parts[i].pend);
    }
    free(r->parts);
    free(r);
}

