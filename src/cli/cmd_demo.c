/*
 * `journeyd demo`: the whole Kafka path with nothing installed. It starts
 * librdkafka's embedded mock cluster, loads the shipped multi-channel sample
 * into its input topic with `produce`, then runs the same runner as `run`
 * against it and prints each alert as NDJSON on stdout when the broker has
 * acknowledged it. It stops by itself once the input is drained and idle;
 * at that point the engine finishes as at the end of a replay (the
 * watermark becomes the largest ts seen), so drop-offs inside the sample
 * fire too.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "journeyd/cmd.h"
#include "journeyd/config.h"
#include "journeyd/kafka.h"
#include "options.h"
/* after rdkafka.h (from kafka.h), as it requires */
#include <librdkafka/rdkafka_mock.h>

#define DEMO_SAMPLE "tests/data/demo.ndjson"
#define DEMO_PARTITIONS 3

typedef struct jd_demo {
    uint64_t alerts;
} jd_demo_t;

static volatile sig_atomic_t demo_stop;


static void print_alert(void *opaque, const char *key, size_t keylen,
                        const char *json, size_t jsonlen)
{
    jd_demo_t *d = opaque;
    (void)key;
    (void)keylen;
    d->alerts++;
    fwrite(json, 1, jsonlen, stdout);
    fputc('\n', stdout);
    fflush(stdout);
}

static void usage(FILE *f)
{
    fputs("usage: journeyd demo [-c CONFIG] [-X key=value ...] [-i FILE]\n"
          "  runs the Kafka path on librdkafka's embedded mock cluster with the sample\n"
          "  " DEMO_SAMPLE " (or FILE) and prints the alerts as NDJSON\n"
          "  -i, --input FILE     the sample to load\n", f);
    jd_opts_usage_common(f, 0);
    fputs("exit status: 0 success, 1 runtime failure, 2 usage or configuration error\n", f);
}

int jd_cmd_demo(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "input", required_argument, NULL, 'i' },
        { NULL, 0, NULL, 0 },
    };
    const char *input = DEMO_SAMPLE;
    jd_opts_t o;
    char bootstrap_ov[512], changelog[300];
    char **pargv = NULL;
    int pargc = 0;
    rd_kafka_t *host = NULL;
    rd_kafka_mock_cluster_t *mc = NULL;
    jd_config_t *conf = NULL;
    jd_runner_t *r = NULL;
    jd_runner_opts_t ro = { 0 };
    jd_demo_t d = { 0 };
    rd_kafka_conf_t *kc;
    jd_err_t err;
    char errstr[512];
    int c, rc = 2;

    jd_log_init("journeyd demo");
    if (jd_opts_init(&o, "demo", 0, "i:", longopts, usage) != 0)
        return 1;
    while ((c = jd_opts_next(&o, argc, argv)) != JD_OPTS_END) {
        if (c != 'i') {
            rc = o.status;
            goto out;
        }
        input = o.arg;
    }
    if (access(input, R_OK)) {
        fprintf(stderr, "journeyd demo: cannot read the sample %s (run from the repository "
                        "root, or give -i FILE)\n", input);
        goto out;
    }

    /* The mock cluster lives inside a librdkafka instance of its own. */
    rc = 1;
    kc = rd_kafka_conf_new();
    if (rd_kafka_conf_set(kc, "log_level", "3", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "journeyd demo: kafka.log_level: %s\n", errstr);
        rd_kafka_conf_destroy(kc);
        goto out;
    }
    if (!(host = jd_kafka_new(RD_KAFKA_PRODUCER, kc, &err)) ||
        !(mc = rd_kafka_mock_cluster_new(host, 1))) {
        fprintf(stderr, "journeyd demo: cannot start the mock cluster: %s\n",
                host ? "rd_kafka_mock_cluster_new failed" : err.msg);
        goto out;
    }
    snprintf(bootstrap_ov, sizeof(bootstrap_ov), "kafka.bootstrap.servers=%s",
             rd_kafka_mock_cluster_bootstraps(mc));
    if (jd_opts_add_x(&o, bootstrap_ov) != 0) {
        fprintf(stderr, "journeyd demo: out of memory\n");
        goto out;
    }
    if (!(conf = jd_opts_load(&o))) {
        rc = 2;
        goto out;
    }
    rd_kafka_mock_topic_create(mc, conf->topics[0], DEMO_PARTITIONS, 1);
    /* the mock cluster has no CreateTopics: make the changelog here */
    jd_kafka_changelog_topic(conf, changelog, sizeof(changelog));
    rd_kafka_mock_topic_create(mc, changelog, DEMO_PARTITIONS, 1);
    fprintf(stderr, "journeyd demo: mock Kafka cluster at %s, loading %s into %s\n",
            rd_kafka_mock_cluster_bootstraps(mc), input, conf->topics[0]);

    /* load the sample with the real `produce` */
    if (!(pargv = calloc(2 * o.nx + 8, sizeof(*pargv)))) {
        fprintf(stderr, "journeyd demo: out of memory\n");
        goto out;
    }
    pargv[pargc++] = "produce";
    if (o.config) {
        pargv[pargc++] = "-c";
        pargv[pargc++] = (char *)o.config;
    }
    for (size_t i = 0; i < o.nx; i++) {
        pargv[pargc++] = "-X";
        pargv[pargc++] = (char *)o.xs[i];
    }
    pargv[pargc++] = "-i";
    pargv[pargc++] = (char *)input;
    pargv[pargc++] = "--topic";
    pargv[pargc++] = conf->topics[0];
    pargv[pargc] = NULL;
    if ((rc = jd_cmd_produce(pargc, pargv)) != 0)
        goto out;
    jd_log_init("journeyd demo");

    ro.cmd = "demo";
    ro.stop = &demo_stop;
    ro.stop_when_drained = 1;
    ro.drain_idle_ms = 500;
    ro.on_alert_acked = print_alert;
    ro.opaque = &d;
    if (!(r = jd_runner_new(conf, &ro, &err))) {
        fprintf(stderr, "journeyd demo: %s\n", err.msg);
        rc = 2;
        goto out;
    }
    jd_kafka_stop_on_signals(&demo_stop);
    rc = jd_runner_run(r);
    fprintf(stderr, "journeyd demo: %" PRIu64 " alerts written to %s and acknowledged\n",
            d.alerts, conf->alerts_topic);
out:
    jd_runner_destroy(r);
    jd_config_destroy(conf);
    if (mc)
        rd_kafka_mock_cluster_destroy(mc);
    if (host)
        rd_kafka_destroy(host);
    jd_opts_free(&o);
    free(pargv);
    return rc;
}
