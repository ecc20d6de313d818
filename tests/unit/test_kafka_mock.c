/* Integration tests of the Kafka runner (src/kafka/runner.c) on librdkafka's
 * embedded mock cluster: consume -> alert -> produce, dead-letter routing,
 * and broker errors injected with rd_kafka_mock_push_request_errors
 * (retried produce failures lose no alert; a permanent one stops the
 * runner without committing past the unacknowledged alert). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "journeyd/config.h"
#include "journeyd/kafka.h"
#include <librdkafka/rdkafka_mock.h>

#define IN "cx.events"
#define ALERTS "cx.alerts"
#define DLQ "cx.events.dlq"
#define GROUP "jd-test"
#define API_PRODUCE 0   /* Kafka protocol ApiKey of Produce */
#define API_ADD_PARTITIONS_TO_TXN 24

typedef struct fixture {
    rd_kafka_t *host;          /* hosts the mock cluster */
    rd_kafka_mock_cluster_t *mc;
    char bootstrap[256];
    /* observed through the runner's hooks */
    uint64_t acked;
    uint64_t commits;
    uint64_t commits_with_unacked;
    int64_t committed0;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    char errstr[256];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    char changelog[300];

    jd_log_level = getenv("JD_TEST_DEBUG") ? JD_LOG_DEBUG : JD_LOG_ERR;
    assert_int_equal(rd_kafka_conf_set(kc, "log_level", "2", errstr, sizeof(errstr)),
                     RD_KAFKA_CONF_OK);
    f->host = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof(errstr));
    assert_non_null(f->host);
    f->mc = rd_kafka_mock_cluster_new(f->host, 1);
    assert_non_null(f->mc);
    snprintf(f->bootstrap, sizeof(f->bootstrap), "%s", rd_kafka_mock_cluster_bootstraps(f->mc));
    f->committed0 = -1;
    assert_int_equal(rd_kafka_mock_topic_create(f->mc, IN, 2, 1), 0);
    snprintf(changelog, sizeof(changelog), "%s-journeyd-changelog", GROUP);
    assert_int_equal(rd_kafka_mock_topic_create(f->mc, changelog, 2, 1), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    rd_kafka_mock_cluster_destroy(f->mc);
    rd_kafka_destroy(f->host);
    free(f);
    return 0;
}

static jd_config_t *load_config(fixture_t *f, const char *extra)
{
    char bs[300];
    const char *ov[12];
    size_t n = 0;
    jd_err_t err;
    jd_config_t *conf;

    snprintf(bs, sizeof(bs), "kafka.bootstrap.servers=%s", f->bootstrap);
    ov[n++] = bs;
    ov[n++] = "kafka.group.id=" GROUP;
    ov[n++] = "input.topics=" IN;
    ov[n++] = "output.alerts_topic=" ALERTS;
    ov[n++] = "output.dead_letter_topic=" DLQ;
    ov[n++] = "processing.commit_interval=100ms";
    /* the mock cluster keeps a member that failed until its session
     * times out; keep that short for the restart test */
    ov[n++] = "kafka.session.timeout.ms=6000";
    ov[n++] = "http.listen=off";
    if (extra)
        ov[n++] = extra;
    conf = jd_config_load(NULL, ov, n, &err);
    if (!conf)
        fail_msg("config: %s", err.msg);
    return conf;
}

/* Produce records (key, value) to IN, all acknowledged before returning. */
static void load_input(fixture_t *f, const char *const *recs, size_t n)
{
    char errstr[256];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    rd_kafka_t *p;
    assert_int_equal(rd_kafka_conf_set(kc, "bootstrap.servers", f->bootstrap, errstr,
                                       sizeof(errstr)), RD_KAFKA_CONF_OK);
    p = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof(errstr));
    assert_non_null(p);
    for (size_t i = 0; i < n; i += 2)
        assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC(IN), RD_KAFKA_V_PARTITION(0),
                                           RD_KAFKA_V_KEY(recs[i], strlen(recs[i])),
                                           RD_KAFKA_V_VALUE((void *)recs[i + 1],
                                                            strlen(recs[i + 1])),
                                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                           RD_KAFKA_V_END), 0);
    assert_int_equal(rd_kafka_flush(p, 10000), 0);
    rd_kafka_destroy(p);
}

/* All messages of topic (every partition), values concatenated with '\n'
 * into buf; returns the count. */
static int read_topic(fixture_t *f, const char *topic, char *buf, size_t bufsz)
{
    char errstr[256];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(2);
    rd_kafka_t *c;
    int n = 0, eofs = 0;
    size_t len = 0;
    int64_t deadline = jd_mono_ms() + 10000;
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_topic_t *rkt;
    int nparts = 1;

    buf[0] = '\0';
    assert_int_equal(rd_kafka_conf_set(kc, "bootstrap.servers", f->bootstrap, errstr,
                                       sizeof(errstr)), RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(kc, "enable.partition.eof", "true", errstr,
                                       sizeof(errstr)), RD_KAFKA_CONF_OK);
    /* librdkafka 2.0 wants a group.id even for assign(); never commit it */
    assert_int_equal(rd_kafka_conf_set(kc, "group.id", "jd-test-reader", errstr,
                                       sizeof(errstr)), RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(kc, "enable.auto.commit", "false", errstr,
                                       sizeof(errstr)), RD_KAFKA_CONF_OK);
    c = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, sizeof(errstr));
    assert_non_null(c);
    rkt = rd_kafka_topic_new(c, topic, NULL);
    if (!rd_kafka_metadata(c, 0, rkt, &md, 5000) && md->topic_cnt == 1 && !md->topics[0].err)
        nparts = md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    for (int p = 0; p < nparts; p++)
        rd_kafka_topic_partition_list_add(tl, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(c, tl), 0);
    while (eofs < nparts && jd_mono_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            eofs++;
        else if (!m->err && len + m->len + 2 < bufsz) {
            memcpy(buf + len, m->payload, m->len);
            len += m->len;
            buf[len++] = '\n';
            buf[len] = '\0';
            n++;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_topic_partition_list_destroy(tl);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return n;
}

/* The group's last committed offset of IN partition 0 (negative: none), as
 * the runner's commit hook saw it after a successful commit. */
static int64_t committed(fixture_t *f)
{
    return f->committed0;
}

static void on_acked(void *opaque, const char *key, size_t keylen, const char *json,
                     size_t jsonlen)
{
    fixture_t *f = opaque;
    (void)key; (void)keylen; (void)json; (void)jsonlen;
    f->acked++;
}

static void on_commit(void *opaque, const rd_kafka_topic_partition_list_t *offsets,
                      uint64_t produced, uint64_t acked)
{
    fixture_t *f = opaque;
    for (int i = 0; i < offsets->cnt; i++)
        if (offsets->elems[i].partition == 0 && !offsets->elems[i].err)
            f->committed0 = offsets->elems[i].offset;
    f->commits++;
    if (produced != acked)
        f->commits_with_unacked++;
}

static int run_runner(fixture_t *f, jd_config_t *conf)
{
    jd_runner_opts_t ro = { 0 };
    jd_runner_t *r;
    jd_err_t err;
    int rc;
    ro.cmd = "test";
    ro.stop_when_drained = 1;
    ro.drain_idle_ms = 300;
    ro.fixed_emitted_at = 1;
    ro.on_alert_acked = on_acked;
    ro.on_commit = on_commit;
    ro.opaque = f;
    r = jd_runner_new(conf, &ro, &err);
    if (!r)
        fail_msg("runner: %s", err.msg);
    rc = jd_runner_run(r);
    jd_runner_destroy(r);
    return rc;
}

/* c-1 rage-clicks: offsets 0, 1, 2 are the clicks, 3 a later page view. */
static const char *const rage[] = {
    "c-1", "{\"event_id\":\"e1\",\"ts\":\"2026-11-22T10:00:00.000Z\",\"customer_id\":\"c-1\","
           "\"type\":\"click\",\"page\":\"/checkout\",\"element\":\"#pay\"}",
    "c-1", "{\"event_id\":\"e2\",\"ts\":\"2026-11-22T10:00:00.400Z\",\"customer_id\":\"c-1\","
           "\"type\":\"click\",\"page\":\"/checkout\",\"element\":\"#pay\"}",
    "c-1", "{\"event_id\":\"e3\",\"ts\":\"2026-11-22T10:00:00.800Z\",\"customer_id\":\"c-1\","
           "\"type\":\"click\",\"page\":\"/checkout\",\"element\":\"#pay\"}",
    "c-1", "{\"event_id\":\"e4\",\"ts\":\"2026-11-22T10:00:30.000Z\",\"customer_id\":\"c-1\","
           "\"type\":\"page_view\",\"page\":\"/help\"}",
};

static void test_consume_alert_produce(void **state)
{
    fixture_t *f = *state;
    jd_config_t *conf = load_config(f, NULL);
    char buf[16384];

    load_input(f, rage, sizeof(rage) / sizeof(rage[0]));
    assert_int_equal(run_runner(f, conf), 0);
    assert_int_equal(read_topic(f, ALERTS, buf, sizeof(buf)), 1);
    assert_non_null(strstr(buf, "\"rule\":\"rage_click\""));
    assert_non_null(strstr(buf, "\"customer_id\":\"c-1\""));
    assert_int_equal(f->acked, 1);
    assert_true(f->commits >= 1);
    assert_int_equal(f->commits_with_unacked, 0);
    /* drained: everything evaluated and committed */
    assert_int_equal(committed(f), 4);
    jd_config_destroy(conf);
}

static void test_dead_letter_routing(void **state)
{
    fixture_t *f = *state;
    jd_config_t *conf = load_config(f, NULL);
    static const char *const bad[] = {
        "x", "not json at all",
        "y", "{\"ts\":\"2026-11-22T10:00:00.000Z\",\"type\":\"click\"}",
        "z", "{\"ts\":\"2026-11-22T10:00:00.000Z\",\"customer_id\":\"c-2\",\"type\":\"click\"}",
    };
    char buf[16384];

    load_input(f, bad, sizeof(bad) / sizeof(bad[0]));
    assert_int_equal(run_runner(f, conf), 0);
    assert_int_equal(read_topic(f, DLQ, buf, sizeof(buf)), 2);
    assert_non_null(strstr(buf, "\"error\":\"invalid_json\""));
    assert_non_null(strstr(buf, "\"error\":\"missing_identity\""));
    assert_non_null(strstr(buf, "\"topic\":\"" IN "\",\"partition\":0,\"offset\":0"));
    assert_non_null(strstr(buf, "\"topic\":\"" IN "\",\"partition\":0,\"offset\":1"));
    assert_non_null(strstr(buf, "\"payload\":\"not json at all\""));
    assert_int_equal(committed(f), 3);
    jd_config_destroy(conf);
}

/* exactly_once: the alert, the changelog and the offsets commit in one
 * transaction; a read_committed reader sees the alert once. */
static void test_exactly_once(void **state)
{
    fixture_t *f = *state;
    jd_config_t *conf = load_config(f, "processing.guarantee=exactly_once");
    char buf[16384];

    load_input(f, rage, sizeof(rage) / sizeof(rage[0]));
    assert_int_equal(run_runner(f, conf), 0);
    assert_int_equal(read_topic(f, ALERTS, buf, sizeof(buf)), 1);
    assert_non_null(strstr(buf, "\"rule\":\"rage_click\""));
    assert_int_equal(committed(f), 4);
    jd_config_destroy(conf);
}

/* An abortable transaction error (AddPartitionsToTxn refused once): the
 * transaction aborts, the task is restored and read again, and the
 * read_committed reader still sees the alert exactly once. */
static void test_exactly_once_abort_rewinds(void **state)
{
    fixture_t *f = *state;
    jd_config_t *conf = load_config(f, "processing.guarantee=exactly_once");
    char buf[16384];

    load_input(f, rage, sizeof(rage) / sizeof(rage[0]));
    rd_kafka_mock_push_request_errors(f->mc, API_ADD_PARTITIONS_TO_TXN, 1,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    assert_int_equal(run_runner(f, conf), 0);
    assert_int_equal(read_topic(f, ALERTS, buf, sizeof(buf)), 1);
    assert_non_null(strstr(buf, "\"rule\":\"rage_click\""));
    assert_int_equal(committed(f), 4);
    jd_config_destroy(conf);
}

/* Retriable produce errors: the idempotent producer retries, the alert
 * arrives once, no commit happens while it is unacknowledged. */
static void test_produce_errors_retried(void **state)
{
    fixture_t *f = *state;
    jd_config_t *conf = load_config(f, NULL);
    char buf[16384];

    load_input(f, rage, sizeof(rage) / sizeof(rage[0]));
    rd_kafka_mock_push_request_errors(f->mc, API_PRODUCE, 6,
                                      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                                      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                                      RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                                      RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
                                      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND);
    assert_int_equal(run_runner(f, conf), 0);
    assert_int_equal(f->acked, 1);
    assert_int_equal(f->commits_with_unacked, 0);
    assert_int_equal(read_topic(f, ALERTS, buf, sizeof(buf)), 1);
    assert_non_null(strstr(buf, "\"rule\":\"rage_click\""));
    assert_int_equal(committed(f), 4);
    jd_config_destroy(conf);
}

/* Produce keeps failing past message.timeout.ms: the alert is never
 * acknowledged, so the runner fails and the committed offset stays at or
 * before the event that caused the alert (offset 2), which a restart
 * reads again. */
static void test_permanent_produce_failure_no_commit(void **state)
{
    fixture_t *f = *state;
    jd_config_t *conf = load_config(f, "kafka.message.timeout.ms=1500");
    int64_t off;

    load_input(f, rage, sizeof(rage) / sizeof(rage[0]));
    for (int i = 0; i < 4; i++)
        rd_kafka_mock_push_request_errors(f->mc, API_PRODUCE, 10,
            RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
            RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
            RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
            RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
            RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS);
    assert_int_equal(run_runner(f, conf), 1);
    assert_int_equal(f->acked, 0);
    assert_int_equal(f->commits_with_unacked, 0);
    off = committed(f);
    assert_true(off <= 2);
    rd_kafka_mock_clear_request_errors(f->mc, API_PRODUCE);
    jd_config_destroy(conf);

    /* a restart delivers the alert: nothing was lost */
    f->acked = 0;
    conf = load_config(f, NULL);
    assert_int_equal(run_runner(f, conf), 0);
    assert_int_equal(f->acked, 1);
    assert_int_equal(committed(f), 4);
    jd_config_destroy(conf);
}

/* Bad librdkafka properties (unknown names, invalid values) fail at start
 * with librdkafka's own message, naming the kafka.<prop> key. */
static void test_invalid_property_rejected(void **state)
{
    const char *unknown[] = { "kafka.no.such.property=1" };
    const char *badval[] = { "kafka.acks=sometimes" };
    jd_config_t *conf;
    rd_kafka_conf_t *kc;
    jd_err_t err;
    (void)state;
    assert_null(jd_config_load(NULL, unknown, 1, &err));
    assert_non_null(strstr(err.msg, "kafka.no.such.property"));
    assert_non_null(strstr(err.msg, "No such configuration property"));
    assert_null(jd_config_load(NULL, badval, 1, &err));
    assert_non_null(strstr(err.msg, "Invalid value for configuration property"));

    /* the Kafka layer checks on its own too (a property valid for the
     * config layer but wrong in combination is reported by rd_kafka_new) */
    conf = jd_config_load(NULL, NULL, 0, &err);
    assert_non_null(conf);
    kc = jd_kafka_conf_new(conf, JD_KROLE_CONSUMER, &err);
    assert_non_null(kc);
    assert_int_equal(jd_kafka_conf_set(kc, "fetch.max.bytes", "x", &err), -1);
    assert_non_null(strstr(err.msg, "kafka.fetch.max.bytes: "));
    rd_kafka_conf_destroy(kc);
    jd_config_destroy(conf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_consume_alert_produce, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_letter_routing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exactly_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exactly_once_abort_rewinds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_produce_errors_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_permanent_produce_failure_no_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_property_rejected, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
