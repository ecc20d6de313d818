/*
 * Shared Kafka helpers: librdkafka's log callback, configuration, produce with backpressure.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>
#include "journeyd/kafka.h"

/* librdkafka calls this from its own threads. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    int ours;
    (void)rk;
    /* We hand the same user properties to the consumer and the producer;
     * librdkafka warns that the other role's properties are ignored. That
     * is expected, so it is debug noise, not a warning. */
    if (!strcmp(fac, "CONFWARN") && strstr(buf, "will be ignored"))
        ours = JD_LOG_DEBUG;
    /* connection failures also reach the error callback, which reports an
     * outage once (jd_kafka_broker_error): here they would repeat it */
    else if (!strcmp(fac, "FAIL"))
        ours = JD_LOG_DEBUG;
    else if (level <= 3)
        ours = JD_LOG_ERR;
    else if (level == 4)
        ours = JD_LOG_WARN;
    else if (level <= 6)
        ours = JD_LOG_INFO;
    else
        ours = JD_LOG_DEBUG;
    JD_LOG(ours, "librdkafka %s: %s", fac, buf);
}

int jd_kafka_conf_set(rd_kafka_conf_t *kc, const char *name, const char *value,
                      jd_err_t *err)
{
    char errstr[512];
    if (rd_kafka_conf_set(kc, name, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
        return jd_err_set(err, "kafka.%s: %s", name, errstr);
    return 0;
}

rd_kafka_conf_t *jd_kafka_conf_new(const jd_config_t *conf, jd_krole_t role, jd_err_t *err)
{
    /* journeyd's defaults per role; user properties are applied after these
     * and so override them (contract 1a: kafka.* is passed as is). */
    static const char *const consumer_defaults[][2] = {
        { "partition.assignment.strategy", "cooperative-sticky" },
        { "auto.offset.reset", "earliest" },
        /* offsets are stored and committed by hand, after the alerts they
         * caused are acknowledged (at-least-once) */
        { "enable.auto.commit", "false" },
        { "enable.auto.offset.store", "false" },
        { "enable.partition.eof", "true" },
        /* librdkafka 2.0 stops fetching a partition once the local queue
         * passes these thresholds and looks again only when its broker
         * thread wakes, at most once a second (fetch.queue.backoff.ms came
         * in 2.4). A queue holding less than a second of consumption runs
         * dry in between: with the defaults (100000 messages, 64 MB) `run`
         * stood idle 0.6 s of every second. Room for ~2 s at 300k events/s
         * of ~200 bytes. */
        { "queued.min.messages", "1000000" },
        { "queued.max.messages.kbytes", "131072" },
    };
    static const char *const producer_defaults[][2] = {
        { "enable.idempotence", "true" },
        { "acks", "all" },
        /* same partitioner as the Java client, so journeyd and Kafka
         * Streams / Java producers agree on where a customer's key goes */
        { "partitioner", "murmur2_random" },
        { "linger.ms", "5" },
        /* `run` hands a commit interval's changed journeys (100k+ records
         * with 200k customers) to the changelog at once; at the default
         * 100000 messages the alerts produced meanwhile would wait for
         * room. Memory stays bounded by queue.buffering.max.kbytes. */
        { "queue.buffering.max.messages", "1000000" },
    };
    static const char *const restore_defaults[][2] = {
        { "enable.partition.eof", "true" },
        { "auto.offset.reset", "earliest" },
        /* a checkpoint's records count once its transaction commits */
        { "isolation.level", "read_committed" },
        /* a restore ends at the partition's end, which only a fetch that
         * finds nothing more tells; the broker holds such a fetch for this
         * long (500 ms by default: 0.5-1 s per task, paid task by task) */
        { "fetch.wait.max.ms", "10" },
    };
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    const char *const (*defs)[2];
    size_t ndefs, i;
    const char *key;
    json_t *val;

    if (!kc) {
        jd_err_set(err, "out of memory");
        return NULL;
    }
    switch (role) {
    case JD_KROLE_CONSUMER:
        defs = consumer_defaults;
        ndefs = sizeof(consumer_defaults) / sizeof(consumer_defaults[0]);
        break;
    case JD_KROLE_PRODUCER:
    case JD_KROLE_ALERTS:
    case JD_KROLE_TXN:
        defs = producer_defaults;
        ndefs = sizeof(producer_defaults) / sizeof(producer_defaults[0]);
        break;
    default:
        defs = restore_defaults;
        ndefs = sizeof(restore_defaults) / sizeof(restore_defaults[0]);
        break;
    }
    for (i = 0; i < ndefs; i++)
        if (jd_kafka_conf_set(kc, defs[i][0], defs[i][1], err))
            goto fail;
    /* Alerts are few and someone waits for each: batching them buys no
     * throughput and costs the linger in latency (5 ms of a ~7 ms p99).
     * A user's kafka.linger.ms, applied next, still wins. */
    if (role == JD_KROLE_ALERTS && jd_kafka_conf_set(kc, "linger.ms", "0", err))
        goto fail;

    if (conf && conf->kafka) {
        json_object_foreach(conf->kafka, key, val) {
            char buf[512];
            const char *s = buf;
            if (json_is_string(val))
                s = json_string_value(val);
            else if (jd_json_scalar_str(val, buf, sizeof(buf)) < 0) {
                jd_err_set(err, "kafka.%s: expected a string, number or boolean", key);
                goto fail;
            }
            if (jd_kafka_conf_set(kc, key, s, err))
                goto fail;
        }
    }
    if (role == JD_KROLE_RESTORE) {
        /* The restore consumer only assigns; it must never commit under
         * the user's group.id, whatever the user set. */
        if (jd_kafka_conf_set(kc, "enable.auto.commit", "false", err) ||
            jd_kafka_conf_set(kc, "enable.auto.offset.store", "false", err))
            goto fail;
    }
    rd_kafka_conf_set_log_cb(kc, log_cb);
    return kc;
fail:
    rd_kafka_conf_destroy(kc);
    return NULL;
}

rd_kafka_t *jd_kafka_new(rd_kafka_type_t type, rd_kafka_conf_t *kc, jd_err_t *err)
{
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(type, kc, errstr, sizeof(errstr));
    if (!rk) {
        rd_kafka_conf_destroy(kc);
        jd_err_set(err, "kafka: %s", errstr);
    }
    return rk;
}

rd_kafka_resp_err_t jd_kafka_produce(rd_kafka_t *rk, const char *topic, int32_t partition,
                                     const void *key, size_t keylen,
                                     const void *val, size_t vallen,
                                     rd_kafka_headers_t *hdrs, void *opaque)
{
    for (;;) {
        rd_kafka_resp_err_t e;
        rd_kafka_headers_t *h = hdrs ? rd_kafka_headers_copy(hdrs) : NULL;
        if (h)
            e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                                  RD_KAFKA_V_KEY(key, keylen), RD_KAFKA_V_VALUE((void *)val, vallen),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                  RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(opaque),
                                  RD_KAFKA_V_END);
        else
            e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                                  RD_KAFKA_V_KEY(key, keylen), RD_KAFKA_V_VALUE((void *)val, vallen),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                  RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
        /* the headers are ours again only when producev failed */
        if (e && h)
            rd_kafka_headers_destroy(h);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            return e;
        /* local queue full: serve delivery reports to make room */
        rd_kafka_poll(rk, 100);
    }
}

rd_kafka_resp_err_t jd_kafka_try_produce(rd_kafka_t *rk, const char *topic, int32_t partition,
                                         const void *key, size_t keylen,
                                         const void *val, size_t vallen, void *opaque)
{
    return rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                             RD_KAFKA_V_KEY(key, keylen), RD_KAFKA_V_VALUE((void *)val, vallen),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
}

/* "<group.id>-journeyd-<what>": the topics journeyd keeps for a group. */
static int kafka_group_topic(const jd_config_t *conf, const char *what, char *buf, size_t bufsz)
{
    const char *group = "journeyd";
    json_t *g = conf && conf->kafka ? json_object_get(conf->kafka, "group.id") : NULL;
    int n;
    if (g && json_is_string(g))
        group = json_string_value(g);
    n = snprintf(buf, bufsz, "%s-journeyd-%s", group, what);
    return n < 0 || (size_t)n >= bufsz ? -1 : 0;
}

int jd_kafka_changelog_topic(const jd_config_t *conf, char *buf, size_t bufsz)
{
    return kafka_group_topic(conf, "changelog", buf, bufsz);
}

int jd_kafka_repartition_topic(const jd_config_t *conf, char *buf, size_t bufsz)
{
    return kafka_group_topic(conf, "repartition", buf, bufsz);
}

/* Set before the handlers are installed, read only by them. */
static volatile sig_atomic_t *kafka_stop_flag;

static void kafka_on_signal(int sig)
{
    (void)sig;
    *kafka_stop_flag = 1;
}

void jd_kafka_stop_on_signals(volatile sig_atomic_t *flag)
{
    struct sigaction sa;
    kafka_stop_flag = flag;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = kafka_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

void jd_kafka_broker_error(int *down, const jd_config_t *conf, int err, const char *reason)
{
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        if (!*down) {
            json_t *bs = conf && conf->kafka ? json_object_get(conf->kafka, "bootstrap.servers")
                                             : NULL;
            JD_LOG(JD_LOG_WARN, "no broker of %s answers; retrying until one does",
                   bs && json_is_string(bs) ? json_string_value(bs) : "(librdkafka default)");
        }
        *down = 1;
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__RESOLVE ||
        (*down && err != RD_KAFKA_RESP_ERR__FATAL)) {
        JD_LOG(JD_LOG_DEBUG, "kafka: %s: %s", rd_kafka_err2name(err), reason);
        return;
    }
    JD_LOG(JD_LOG_WARN, "kafka: %s: %s", rd_kafka_err2name(err), reason);
}

void jd_kafka_broker_up(int *down)
{
    if (*down)
        JD_LOG(JD_LOG_INFO, "brokers answer again");
    *down = 0;
}
