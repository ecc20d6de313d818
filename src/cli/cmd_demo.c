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
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "journeyd/cmd.h"
#include "journeyd/config.h"
#include "journeyd/kafka.h"
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
    fprintf(f, "usage: journeyd demo [-c CONFIG] [-X key=value ...] [-i FILE]\n"
               "  runs the Kafka path on librdkafka's embedded mock cluster with the sample\n"
               "  " DEMO_SAMPLE " (or FILE) and prints the alerts as NDJSON\n");
}

int jd_cmd_demo(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' },
        { "input", required_argument, NULL, 'i' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *path = NULL, *input = DEMO_SAMPLE;
    const char **ov = NULL;
    size_t nov = 0;
    char bootstrap_ov[512], changelog[300];
    char *pargv[64];
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
    ov = calloc((size_t)argc + 2, sizeof(*ov));
    if (!ov) {
        fprintf(stderr, "journeyd demo: out of memory\n");
        return 1;
    }
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "c:X:i:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': path = optarg; break;
        case 'X': ov[nov++] = optarg; break;
        case 'i': input = optarg; break;
        case 'h': usage(stdout); rc = 0; goto out;
        default:
            fprintf(stderr, "journeyd demo: unknown or incomplete option '%s'\n",
                    argv[optind - 1]);
            usage(stderr);
            goto out;
        }
    }
    if (optind < argc || nov > 24) {
        fprintf(stderr, "journeyd demo: unexpected argument '%s'\n", argv[optind]);
        goto out;
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
    ov[nov++] = bootstrap_ov;
    if (!(conf = jd_config_load(path, ov, nov, &err))) {
        fprintf(stderr, "journeyd demo: %s\n", err.msg);
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
    pargv[pargc++] = "produce";
    if (path) {
        pargv[pargc++] = "-c";
        pargv[pargc++] = (char *)path;
    }
    for (size_t i = 0; i < nov; i++) {
        pargv[pargc++] = "-X";
        pargv[pargc++] = (char *)ov[i];
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
    free(ov);
    return rc;
}
