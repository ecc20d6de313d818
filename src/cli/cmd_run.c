/*
 * `journeyd run`: the command line of the stream runner (src/kafka/).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "journeyd/cmd.h"
#include "journeyd/config.h"
#include "journeyd/kafka.h"
#include "options.h"


static volatile sig_atomic_t run_stop;
static volatile sig_atomic_t run_reload;

static void run_on_hup(int sig)
{
    (void)sig;
    run_reload = 1;
}

/* SIGHUP: the same -c and -X again (the runner keeps only new rules). */
static jd_config_t *run_load_again(void *opaque, jd_err_t *err)
{
    jd_opts_t *o = opaque;
    jd_config_t *conf = jd_config_load(o->config, o->xs, o->nx, err);
    return conf;
}

static void usage(FILE *f)
{
    fputs("usage: journeyd run [-c CONFIG] [-X key=value ...] [-b BROKERS] [-t TOPICS]\n"
          "  consume input.topics, emit alerts to output.alerts_topic until SIGTERM/SIGINT;\n"
          "  SIGHUP reloads the rules from the same -c/-X (an invalid file is logged, the\n"
          "  current rules stay; unchanged rules keep their state)\n", f);
    jd_opts_usage_common(f, JD_OPT_BROKERS | JD_OPT_TOPICS);
    fputs("  JOURNEYD_LOG=error|warn|info|debug sets the log level (default info)\n"
          "exit status: 0 success, 1 runtime failure, 2 usage or configuration error\n", f);
}

int jd_cmd_run(int argc, char **argv)
{
    jd_opts_t o;
    jd_config_t *conf = NULL;
    jd_runner_t *r = NULL;
    jd_runner_opts_t ro = { 0 };
    jd_err_t err;
    int c, rc = 2;

    jd_log_init("journeyd run");
    if (jd_opts_init(&o, "run", JD_OPT_BROKERS | JD_OPT_TOPICS, "", NULL, usage) != 0)
        return 1;
    while ((c = jd_opts_next(&o, argc, argv)) != JD_OPTS_END) {
        if (c != JD_OPTS_EXIT)
            jd_opts_usage_error(&o, "unhandled option %d", c);
        rc = o.status;
        goto out;
    }
    if (!(conf = jd_opts_load(&o)))
        goto out;
    jd_log_banner(conf, "run", JD_VERSION);
    ro.cmd = "run";
    ro.stop = &run_stop;
    ro.reload = &run_reload;
    ro.load_config = run_load_again;
    ro.load_opaque = &o;
    if (!(r = jd_runner_new(conf, &ro, &err))) {
        fprintf(stderr, "journeyd run: %s\n", err.msg);
        goto out;
    }
    jd_kafka_stop_on_signals(&run_stop);
    {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = run_on_hup;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGHUP, &sa, NULL);
    }
    rc = jd_runner_run(r);
out:
    jd_runner_destroy(r);
    jd_config_destroy(conf);
    jd_opts_free(&o);
    return rc;
}
