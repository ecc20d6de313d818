/*
 * The record collector (Kafka Streams' RecordCollector): where alerts and
 * dead letters go, and what their delivery reports mean.
 *
 * at_least_once: one idempotent producer serves every task; each message
 * carries the epoch it was produced in (checkpoint.c waits for a closed
 * epoch to be acknowledged before it writes the state that follows it).
 * exactly_once: each task's transactional producer sends its alerts and
 * dead letters inside the task's open transaction, with its changelog
 * records and offsets (checkpoint.c commits it).
 *
 * A dead letter too large for its topic would fail on every restart (a
 * crash loop): it is cut to JD_DL_MAX_RECORD bytes (the payload first) and
 * says "truncated":true.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runner_priv.h"

/* Under the default message.max.bytes (1,000,000) of producer and broker,
 * with room for the key and the record overhead. */
#define JD_DL_MAX_RECORD (900u * 1000u)

static void *dr_opaque(jd_runner_t *r, int kind)
{
    return (void *)(uintptr_t)((r->epoch << JD_DR_KIND_BITS) | (uint64_t)kind);
}

static rd_kafka_resp_err_t collector_send(jd_runner_t *r, jd_task_t *t, const char *topic,
                                          const void *key, size_t keylen,
                                          const void *val, size_t vallen, int kind)
{
    rd_kafka_t *rk = r->eos ? t->txp : r->producer;
    rd_kafka_resp_err_t e;
    e = jd_kafka_produce(rk, topic, RD_KAFKA_PARTITION_UA, key, keylen, val, vallen, NULL,
                         dr_opaque(r, kind));
    if (!e)
        r->out_cur++;
    return e;
}

void jd_collector_on_alert(void *opaque, const char *key, size_t keylen,
                           const char *json, size_t jsonlen, int64_t ts)
{
    jd_task_t *t = opaque;
    jd_runner_t *r = t->owner;
    rd_kafka_resp_err_t e;
    (void)ts;
    e = collector_send(r, t, r->conf->alerts_topic, key, keylen, json, jsonlen, JD_DR_ALERT);
    if (!e) {
        r->alerts_produced++;
    } else {
        JD_LOG(JD_LOG_ERR, "cannot produce alert to %s: %s", r->conf->alerts_topic,
               rd_kafka_err2str(e));
        r->fatal = 1;
    }
}

/* Delivery reports run in whichever thread polls the producer. */
static void collector_dec(_Atomic uint64_t *x)
{
    uint64_t v = atomic_load(x);
    while (v > 0 && !atomic_compare_exchange_weak(x, &v, v - 1))
        ;
}

void jd_collector_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    jd_runner_t *r = opaque;
    uintptr_t v = (uintptr_t)m->_private;
    int kind = (int)(v & ((1u << JD_DR_KIND_BITS) - 1));
    uint64_t epoch = (uint64_t)v >> JD_DR_KIND_BITS;
    (void)rk;
    if (kind == 0)
        return; /* a changelog record: its transaction reports for it */
    if (epoch < r->epoch)
        collector_dec(&r->out_old);
    else
        collector_dec(&r->out_cur);
    if (m->err) {
        /* in a transaction, the commit fails and the task rewinds */
        if (!r->eos)
            r->delivery_failed++;
        JD_LOG(JD_LOG_ERR, "delivery to %s [%" PRId32 "] failed: %s",
               rd_kafka_topic_name(m->rkt), m->partition, rd_kafka_err2str(m->err));
        return;
    }
    if (kind == JD_DR_ALERT) {
        r->alerts_acked++;
        if (r->opts.on_alert_acked)
            r->opts.on_alert_acked(r->opts.opaque, m->key, m->key_len, m->payload, m->len);
    }
}

void jd_collector_dead_letter(jd_runner_t *r, jd_task_t *t, const rd_kafka_message_t *m,
                              jd_dl_reason_t reason, const char *detail)
{
    jd_source_pos_t pos = { 0 };
    const char *payload = m->payload ? (const char *)m->payload : "";
    size_t len = 0;
    char *s;
    rd_kafka_resp_err_t e;

    r->dead_letters++;
    r->dl_by_reason[reason]++;
    if (reason == JD_DL_LATE)
        r->late++;
    pos.topic = rd_kafka_topic_name(m->rkt);
    pos.partition = m->partition;
    pos.offset = m->offset;
    JD_LOG(JD_LOG_DEBUG, "dead letter %s [%" PRId32 "] @%" PRId64 ": %s: %s", pos.topic,
           pos.partition, pos.offset, jd_dl_reason_name(reason), detail);
    if (!r->conf->dead_letter_topic || !*r->conf->dead_letter_topic)
        return;
    s = jd_deadletter_format_max(reason, detail, &pos, payload, m->len, JD_DL_MAX_RECORD,
                                 &len, NULL);
    if (!s) {
        JD_LOG(JD_LOG_ERR, "out of memory formatting a dead letter");
        r->fatal = 1;
        return;
    }
    e = collector_send(r, t, r->conf->dead_letter_topic, m->key,
                       m->key_len > 4096 ? 0 : m->key_len, s, len,
                       JD_DR_DEADLETTER);
    free(s);
    if (e) {
        JD_LOG(JD_LOG_ERR, "cannot produce dead letter to %s: %s",
               r->conf->dead_letter_topic, rd_kafka_err2str(e));
        r->fatal = 1;
    }
}

void jd_collector_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    jd_runner_t *r = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof(buf));
        JD_LOG(JD_LOG_ERR, "fatal Kafka error: %s: %s", rd_kafka_err2name(orig), buf);
        r->fatal = 1;
        return;
    }
    /* librdkafka retries by itself */
    jd_kafka_broker_error(&r->brokers_down, r->conf, err, reason);
}

/* The task's transactional producer: transactional.id is
 * "<group.id>-journeyd-<partition>", so a new owner of the task (another
 * instance, or this one restarted) fences the old one and aborts its open
 * transaction at once, as Kafka Streams' producer-per-task does; nothing
 * read_committed waits for a dead process's transaction to time out. */
int jd_collector_task_start(jd_runner_t *r, jd_task_t *t, jd_err_t *err)
{
    char tid[400];
    rd_kafka_conf_t *kc;
    rd_kafka_error_t *error;
    const char *group = json_string_value(json_object_get(r->conf->kafka, "group.id"));

    if (t->txp)
        return 0;
    snprintf(tid, sizeof(tid), "%s-journeyd-%" PRId32, group, t->partition);
    if (!(kc = jd_kafka_conf_new(r->conf, JD_KROLE_TXN, err)))
        return -1;
    rd_kafka_conf_set_opaque(kc, r);
    rd_kafka_conf_set_dr_msg_cb(kc, jd_collector_dr_cb);
    rd_kafka_conf_set_error_cb(kc, jd_collector_error_cb);
    if (jd_kafka_conf_set(kc, "transactional.id", tid, err)) {
        rd_kafka_conf_destroy(kc);
        return -1;
    }
    if (!(t->txp = jd_kafka_new(RD_KAFKA_PRODUCER, kc, err)))
        return -1;
    error = rd_kafka_init_transactions(t->txp, JD_TXN_TIMEOUT_MS);
    if (error) {
        jd_err_set(err, "task %" PRId32 ": init_transactions: %s", t->partition,
                   rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        rd_kafka_destroy(t->txp);
        t->txp = NULL;
        return -1;
    }
    return 0;
}
