/*
 * `journeyd run`: the command line of the stream runner (src/kafka/).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include "journeyd/cmd.h"
#include "journeyd/config.h"
#include "journeyd/kafka.h"


static volatile sig_atomic_t run_stop;


static void usage(FILE *f)
{
    fprintf(f, "usage: journeyd run [-c CONFIG] [-X key=value ...]\n"
               "  consume input.topics, emit alerts to output.alerts_topic until SIGTERM/SIGINT\n"
               "  -X kafka.<prop>=<value> sets any librdkafka property\n"
               "  JOURNEYD_LOG=error|warn|info|debug sets the log level (default info)\n");
}

int jd_cmd_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *path = NULL;
    const char **ov = NULL;
    size_t nov = 0;
    jd_config_t *conf = NULL;
    jd_runner_t *r = NULL;
    jd_runner_opts_t ro = { 0 };
    jd_err_t err;
    int c, rc = 2;

    jd_log_init("journeyd run");
    ov = calloc((size_t)argc + 1, sizeof(*ov));
    if (!ov) {
        fprintf(stderr, "journeyd run: out of memory\n");
        return 1;
    }
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "c:X:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': path = optarg; break;
        case 'X': ov[nov++] = optarg; break;
        case 'h': usage(stdout); rc = 0; goto out;
        default:
            fprintf(stderr, "journeyd run: unknown or incomplete option '%s'\n",
                    argv[optind - 1]);
            usage(stderr);
            goto out;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "journeyd run: unexpected argument '%s'\n", argv[optind]);
        goto out;
    }
    if (!(conf = jd_config_load(path, ov, nov, &err))) {
        fprintf(stderr, "journeyd run: %s\n", err.msg);
        goto out;
    }
    ro.cmd = "run";
    ro.stop = &run_stop;
    if (!(r = jd_runner_new(conf, &ro, &err))) {
        fprintf(stderr, "journeyd run: %s\n", err.msg);
        goto out;
    }
    jd_kafka_stop_on_signals(&run_stop);
    rc = jd_runner_run(r);
out:
    jd_runner_destroy(r);
    jd_config_destroy(conf);
    free(ov);
    return rc;
}
