/*
 * Private: the Kafka side of journeyd, shared by `run`, `produce` and `demo`.
 *
 *  - librdkafka's log routed to journeyd/log.h;
 *  - rd_kafka_conf_t construction from conf->kafka, with every
 *    rd_kafka_conf_set checked and librdkafka's own message reported;
 *  - the stream runner (src/kafka/runner.c): consumer group -> decoder -> engine
 *    -> alerts / dead letters / changelog, at-least-once.
 */
#ifndef JOURNEYD_KAFKA_H
#define JOURNEYD_KAFKA_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <librdkafka/rdkafka.h>
#include "journeyd/common.h"
#include "journeyd/config.h"
#include "journeyd/log.h"

/* Logging (JD_LOG, jd_log_*) lives in journeyd/log.h. */

/* ---- configuration ---------------------------------------------------- */

typedef enum {
    JD_KROLE_CONSUMER = 0,  /* group consumer of input.topics */
    JD_KROLE_PRODUCER,      /* dead letters, changelog, `produce` */
    JD_KROLE_ALERTS,        /* alerts: a producer that does not linger */
    JD_KROLE_RESTORE,       /* group-less consumer reading the changelog */
    JD_KROLE_TXN            /* a task's transactional producer (the caller
                               sets transactional.id) */
} jd_krole_t;

/* A new conf for role: journeyd's defaults for that role first, then every
 * property of conf->kafka (so the user's always win), then the log callback.
 * Returns NULL with err "kafka.<prop>: <librdkafka's message>" when a
 * property is unknown or its value invalid. The caller owns the result
 * (rd_kafka_new takes it over on success). */
rd_kafka_conf_t *jd_kafka_conf_new(const jd_config_t *conf, jd_krole_t role,
                                   jd_err_t *err);

/* Set one property, or fill err as above. 0 / -1. */
int jd_kafka_conf_set(rd_kafka_conf_t *kc, const char *name, const char *value,
                      jd_err_t *err);

/* rd_kafka_new wrapper: takes over kc in every case (destroyed on failure),
 * NULL with err on failure. */
rd_kafka_t *jd_kafka_new(rd_kafka_type_t type, rd_kafka_conf_t *kc, jd_err_t *err);

/* Poll-and-retry produce for a full local queue. Copies key and value
 * (value NULL = tombstone). opaque is passed to the delivery report.
 * Returns RD_KAFKA_RESP_ERR_NO_ERROR or the error that stopped it. */
rd_kafka_resp_err_t jd_kafka_produce(rd_kafka_t *rk, const char *topic, int32_t partition,
                                     const void *key, size_t keylen,
                                     const void *val, size_t vallen,
                                     rd_kafka_headers_t *hdrs, void *opaque);

/* One produce attempt (copies key and value; value NULL = tombstone), for
 * a caller that has other work to do rather than wait for room:
 * RD_KAFKA_RESP_ERR__QUEUE_FULL when the local queue is full. */
rd_kafka_resp_err_t jd_kafka_try_produce(rd_kafka_t *rk, const char *topic, int32_t partition,
                                         const void *key, size_t keylen,
                                         const void *val, size_t vallen, void *opaque);

/* An error from librdkafka's error callback, other than a fatal one: an
 * outage (all brokers down) is reported once, as such, with the broker
 * list; connection failures during it only at debug level. *down is the
 * caller's flag; jd_kafka_broker_up clears it and says the brokers answer
 * again (call it when a broker has answered: a message, a commit). */
void jd_kafka_broker_error(int *down, const jd_config_t *conf, int err, const char *reason);
void jd_kafka_broker_up(int *down);

/* Name of the changelog topic for group id: "<group.id>-journeyd-changelog". */
int jd_kafka_changelog_topic(const jd_config_t *conf, char *buf, size_t bufsz);
/* "<group.id>-journeyd-repartition": input.keyed_by=any re-keys events by
 * resolved identity through it (src/kafka/repart.c). Same contract. */
int jd_kafka_repartition_topic(const jd_config_t *conf, char *buf, size_t bufsz);

/* Name of the CSV header message header: `produce` attaches the file's raw
 * header record to every CSV message so `run` can decode the value. */
#define JD_KAFKA_CSV_HEADER "journeyd.csv.header"

/* ---- the stream runner (src/kafka/runner.c) --------------------------------- */

typedef struct jd_runner jd_runner_t;

/* Called for each alert once the broker acknowledged it (from the
 * producer's delivery report, on the runner's thread). */
typedef void (jd_acked_alert_fn)(void *opaque, const char *key, size_t keylen,
                                 const char *json, size_t jsonlen);

/* Called right after every successful offset commit, with the offsets
 * committed and how many alerts had been produced / acknowledged so far
 * (tests check they are equal: nothing committed past an unacked alert). */
typedef void (jd_commit_fn)(void *opaque, const rd_kafka_topic_partition_list_t *offsets,
                            uint64_t alerts_produced, uint64_t alerts_acked);

typedef struct jd_runner_opts {
    const char *cmd;                    /* "run", "demo": for messages */
    volatile sig_atomic_t *stop;        /* set (by a signal handler) to leave the loop */
    /* Stop on its own once every assigned partition is at its end, nothing
     * is in flight and the input was idle for drain_idle_ms; then finish
     * the engine (every buffered event evaluated, as at the end of a
     * replay) before the final commit. For `demo` and tests. */
    int stop_when_drained;
    int flush_at_end;                   /* with stop_when_drained: jd_engine_finish(flush) */
    int64_t drain_idle_ms;
    int64_t fixed_emitted_at;           /* for byte-stable tests; 0 = wall clock */
    /* SIGHUP: when *reload is set, load_config(load_opaque) gives the new
     * configuration (the runner owns it); only its rules may differ. May be
     * NULL: no reload. */
    volatile sig_atomic_t *reload;
    jd_config_t *(*load_config)(void *load_opaque, jd_err_t *err);
    void *load_opaque;
    jd_acked_alert_fn *on_alert_acked;
    jd_commit_fn *on_commit;
    void *opaque;
} jd_runner_opts_t;

/* Builds the consumer and producer (bad kafka.* properties fail here with
 * librdkafka's message) and the engine; conf is borrowed and must outlive
 * the runner. NULL with err. */
jd_runner_t *jd_runner_new(const jd_config_t *conf, const jd_runner_opts_t *opts,
                           jd_err_t *err);

/* Subscribe and run until *opts->stop, drained (when asked), or a fatal
 * error; then finish in-flight work, flush, commit and close the consumer.
 * Returns 0 on a clean stop, 1 on a runtime failure (logged). */
int jd_runner_run(jd_runner_t *r);

/* NULL-safe. */
void jd_runner_destroy(jd_runner_t *r);

/* Installs SIGTERM/SIGINT handlers that only set *flag (kcat's order:
 * the poll loop notices it and shuts down cleanly). */
void jd_kafka_stop_on_signals(volatile sig_atomic_t *flag);

#endif
