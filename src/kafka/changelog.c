/*
 * The changelog (Kafka Streams' StoreChangelogReader): the compacted topic
 * "<group.id>-journeyd-changelog" with one partition per task, and the
 * restore of a task from its partition before the task's input is read.
 * Records are read read_committed: only checkpoints whose transaction
 * committed count (checkpoint.c).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runner_priv.h"
#include "repart.h"

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

/* Creates topic with nparts partitions and the given cleanup.policy. */
static int create_topic(jd_runner_t *r, const char *topic, int32_t nparts, const char *policy)
{
    char errstr[512];
    rd_kafka_NewTopic_t *nt;
    rd_kafka_AdminOptions_t *ao = NULL;
    rd_kafka_queue_t *q = NULL;
    rd_kafka_event_t *ev = NULL;
    int rc = -1;

    nt = rd_kafka_NewTopic_new(topic, nparts, -1, errstr, sizeof(errstr));
    if (!nt) {
        JD_LOG(JD_LOG_ERR, "topic %s: %s", topic, errstr);
        return -1;
    }
    if (rd_kafka_NewTopic_set_config(nt, "cleanup.policy", policy)) {
        JD_LOG(JD_LOG_ERR, "topic %s: cannot set cleanup.policy", topic);
        goto out;
    }
    q = rd_kafka_queue_new(r->consumer);
    ao = rd_kafka_AdminOptions_new(r->consumer, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(ao, JD_ADMIN_TIMEOUT_MS, errstr, sizeof(errstr));
    rd_kafka_CreateTopics(r->consumer, &nt, 1, ao, q);
    ev = rd_kafka_queue_poll(q, JD_ADMIN_TIMEOUT_MS + 5000);
    if (!ev) {
        JD_LOG(JD_LOG_ERR, "topic %s: CreateTopics timed out", topic);
        goto out;
    }
    if (rd_kafka_event_error(ev)) {
        JD_LOG(JD_LOG_ERR, "topic %s: CreateTopics: %s", topic,
               rd_kafka_event_error_string(ev));
        goto out;
    } else {
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        size_t n = 0;
        const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &n);
        for (size_t i = 0; i < n; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
            if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                JD_LOG(JD_LOG_ERR, "topic %s: CreateTopics: %s", topic,
                       rd_kafka_topic_result_error_string(tr[i]));
                goto out;
            }
        }
    }
    JD_LOG(JD_LOG_INFO, "created topic %s (%" PRId32 " partitions, cleanup.policy=%s)", topic,
           nparts, policy);
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
int jd_changelog_ensure(jd_runner_t *r)
{
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_resp_err_t e;
    int32_t need = 0, have;
    int found, rc = -1;

    if (r->changelog_ready)
        return 0;
    /* all-topics metadata from the consumer: a producer metadata request for
     * one topic could auto-create it, uncompacted */
    e = rd_kafka_metadata(r->consumer, 1, NULL, &md, JD_ADMIN_TIMEOUT_MS);
    if (e) {
        JD_LOG(JD_LOG_ERR, "metadata request failed: %s", rd_kafka_err2str(e));
        return -1;
    }
    for (size_t i = 0; i < r->conf->ntopics; i++) {
        int32_t n = topic_partitions(md, r->conf->topics[i], &found);
        if (found && n > need)
            need = n;
    }
    if (r->keyed_any) {
        /* partition q of the repartition topic is task q's: exactly as
         * many as the input has */
        have = topic_partitions(md, r->repart, &found);
        if (found && have != need) {
            JD_LOG(JD_LOG_ERR, "repartition topic %s has %" PRId32 " partitions; the input "
                   "topics have %" PRId32 " (delete it, or use another group.id)", r->repart,
                   have, need);
            goto out;
        }
        if (need <= 0) {
            JD_LOG(JD_LOG_ERR, "input topics not found: input.keyed_by=any needs their "
                   "partition count");
            goto out;
        }
        if (!found && create_topic(r, r->repart, need, "delete"))
            goto out;
        r->rp_parts = need;
    }
    if (r->ntasks > need)
        need = r->ntasks;
    have = topic_partitions(md, r->changelog, &found);
    if (found) {
        if (have < need) {
            JD_LOG(JD_LOG_ERR, "changelog topic %s has %" PRId32 " partitions; the input "
                   "topics need %" PRId32, r->changelog, have, need);
            goto out;
        }
        r->changelog_parts = have;
    } else {
        if (create_topic(r, r->changelog, need, "compact"))
            goto out;
        r->changelog_parts = need;
    }
    r->changelog_ready = 1;
    rc = 0;
out:
    rd_kafka_metadata_destroy(md);
    return rc;
}


/* Read task t's changelog partition from its start to its end (the last
 * stable offset: read_committed) into t's engine; the meta record gives
 * the task's watermark and where its snapshot ends (task.h). */
int jd_changelog_restore(jd_runner_t *r, jd_task_t *t)
{
    rd_kafka_topic_partition_list_t *tl = NULL;
    int64_t lo = 0, hi = 0, deadline, t0 = jd_mono_ms();
    rd_kafka_resp_err_t e;
    int rc = -1, done = 0;
    uint64_t nrec = 0;
    jd_err_t err;

    if (t->partition >= r->changelog_parts) {
        JD_LOG(JD_LOG_ERR, "changelog %s has %" PRId32 " partitions; task %" PRId32
               " needs more", r->changelog, r->changelog_parts, t->partition);
        return -1;
    }
    if (!r->restore) {
        rd_kafka_conf_t *kc = jd_kafka_conf_new(r->conf, JD_KROLE_RESTORE, &err);
        if (!kc || !(r->restore = jd_kafka_new(RD_KAFKA_CONSUMER, kc, &err))) {
            JD_LOG(JD_LOG_ERR, "restore consumer: %s", err.msg);
            return -1;
        }
    }
    deadline = jd_mono_ms() + JD_ADMIN_TIMEOUT_MS;
    do {
        e = rd_kafka_query_watermark_offsets(r->restore, r->changelog, t->partition, &lo, &hi,
                                             JD_ADMIN_TIMEOUT_MS);
        /* leadership may still be settling after a broker restart */
        if (e != RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION &&
            e != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE &&
            e != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART &&
            /* a topic just created: this client's metadata lags */
            e != RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION && e != RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)
            break;
        rd_kafka_poll(r->restore, 200);
    } while (jd_mono_ms() < deadline);
    if (e) {
        JD_LOG(JD_LOG_ERR, "changelog %s [%" PRId32 "]: %s", r->changelog, t->partition,
               rd_kafka_err2str(e));
        return -1;
    }
    if (hi <= lo)
        return 0;
    tl = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tl, r->changelog, t->partition)->offset = lo;
    if (rd_kafka_assign(r->restore, tl)) {
        JD_LOG(JD_LOG_ERR, "changelog %s: assign failed", r->changelog);
        goto out;
    }
    deadline = jd_mono_ms() + JD_RESTORE_TIMEOUT_MS;
    while (!done) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->restore, 200);
        if (!m) {
            if (jd_mono_ms() > deadline) {
                JD_LOG(JD_LOG_ERR, "changelog %s [%" PRId32 "]: restore did not finish "
                       "within %ds", r->changelog, t->partition, JD_RESTORE_TIMEOUT_MS / 1000);
                break;
            }
            continue;
        }
        if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            JD_LOG(JD_LOG_WARN, "changelog %s: %s", r->changelog, rd_kafka_message_errstr(m));
        } else if (m->partition == t->partition) {
            if (!m->err && m->key) {
                int bad;
                if (m->key_len == JD_TASK_META_KEYLEN &&
                    !memcmp(m->key, JD_TASK_META_KEY, JD_TASK_META_KEYLEN))
                    bad = m->payload && jd_task_meta_parse(t, r->conf, m->payload, m->len, &err);
                else if (t->x && m->key_len > 4 && !memcmp(m->key, "t:x:", 4))
                    jd_repart_restore_chunk(t, m->key, m->key_len, m->payload,
                                            m->payload ? m->len : 0), bad = 0;
                else if (t->x && m->key_len > 4 && !memcmp(m->key, "w:", 2))
                    jd_repart_restore_wait(t, m->key, m->key_len, m->payload,
                                           m->payload ? m->len : 0), bad = 0;
                else if (t->x && m->key_len > 2 && !memcmp(m->key, "f:", 2))
                    jd_repart_restore_fwd(t, m->key, m->key_len, m->payload,
                                          m->payload ? m->len : 0), bad = 0;
                else
                    bad = jd_engine_restore(t->engine, t->partition, m->key, m->key_len,
                                            m->payload, m->payload ? m->len : 0, &err);
                if (bad)
                    JD_LOG(JD_LOG_WARN, "changelog %s [%" PRId32 "] @%" PRId64 ": %s",
                           r->changelog, t->partition, m->offset, err.msg);
                nrec++;
            }
            /* EOF carries the next offset; a record its own. Transaction
             * markers occupy offsets too, so EOF is what ends it. */
            if (m->err || m->offset + 1 >= hi)
                done = 1;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(r->restore, NULL);
    if (!done)
        goto out;
    t->restored_records = nrec;
    if (t->x) {
        jd_repart_restore_finish(t);
        jd_engine_advance(t->engine, t->x->restore_ewm);
    }
    else if (t->has_events)
        jd_engine_advance(t->engine, t->wm);
    JD_LOG(JD_LOG_INFO, "task %" PRId32 ": restored %" PRIu64 " changelog records in %" PRId64
           " ms", t->partition, nrec, jd_mono_ms() - t0);
    rc = 0;
out:
    rd_kafka_topic_partition_list_destroy(tl);
    return rc;
}
