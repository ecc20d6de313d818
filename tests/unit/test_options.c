/* Unit tests for src/cli/options.c: the options every command shares. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "cli/options.h"

/* Parses argv (NULL-terminated, argv[0] the command) to the end; returns
 * the last jd_opts_next result and collects the command's own options. */
static int parse(jd_opts_t *o, unsigned flags, const char *shortopts, char **argv,
                 char *own, size_t ownsz)
{
    int argc = 0, c;
    size_t n = 0;
    while (argv[argc])
        argc++;
    assert_int_equal(jd_opts_init(o, "test", flags, shortopts, NULL, NULL), 0);
    while ((c = jd_opts_next(o, argc, argv)) != JD_OPTS_END && c != JD_OPTS_EXIT)
        if (n + 1 < ownsz)
            own[n++] = (char)c;
    own[n] = '\0';
    return c;
}

static void test_shared_in_order(void **state)
{
    char *argv[] = { "run", "-c", "my.json", "-X", "time.lateness=1s", "-b", "h:1",
                     "-t", "a,b", "-X", "kafka.bootstrap.servers=h:2", NULL };
    char own[8];
    jd_opts_t o;
    assert_int_equal(parse(&o, JD_OPT_BROKERS | JD_OPT_TOPICS, "", argv, own, sizeof(own)),
                     JD_OPTS_END);
    assert_string_equal(o.config, "my.json");
    assert_int_equal(o.nx, 4);
    assert_string_equal(o.xs[0], "time.lateness=1s");
    assert_string_equal(o.xs[1], "kafka.bootstrap.servers=h:1");
    assert_string_equal(o.xs[2], "input.topics=a,b");
    assert_string_equal(o.xs[3], "kafka.bootstrap.servers=h:2");
    assert_string_equal(own, "");
    jd_opts_free(&o);
}

/* --format wins over -X input.format wherever it stands. */
static void test_format_last(void **state)
{
    char *argv[] = { "replay", "--format", "ndjson", "-X", "input.format=csv",
                     "-X", "time.lateness=2s", NULL };
    char own[8];
    jd_opts_t o;
    assert_int_equal(parse(&o, JD_OPT_FORMAT, "", argv, own, sizeof(own)), JD_OPTS_END);
    jd_config_t *conf = jd_opts_load(&o);
    assert_non_null(conf);
    assert_int_equal(conf->input_csv, 0);
    assert_int_equal(conf->lateness_ms, 2000);
    assert_string_equal(o.xs[o.nx - 1], "input.format=ndjson");
    jd_config_destroy(conf);
    jd_opts_free(&o);

    char *bad[] = { "replay", "--format", "xml", NULL };
    assert_int_equal(parse(&o, JD_OPT_FORMAT, "", bad, own, sizeof(own)), JD_OPTS_EXIT);
    assert_int_equal(o.status, 2);
    jd_opts_free(&o);
    /* without JD_OPT_FORMAT, --format is unknown */
    char *noformat[] = { "run", "--format", "csv", NULL };
    assert_int_equal(parse(&o, 0, "", noformat, own, sizeof(own)), JD_OPTS_EXIT);
    assert_int_equal(o.status, 2);
    jd_opts_free(&o);
}

/* No fixed limit on -X (check-config used to drop those after the 256th). */
static void test_many_overrides(void **state)
{
    enum { N = 1000 };
    char **argv = calloc(2 * N + 2, sizeof(*argv));
    char own[8];
    jd_opts_t o;
    assert_non_null(argv);
    argv[0] = "check-config";
    for (int i = 0; i < N; i++) {
        argv[1 + 2 * i] = "-X";
        argv[2 + 2 * i] = i == N - 1 ? "journey.history=33" : "journey.history=20";
    }
    assert_int_equal(parse(&o, 0, "", argv, own, sizeof(own)), JD_OPTS_END);
    assert_int_equal(o.nx, N);
    jd_config_t *conf = jd_opts_load(&o);
    assert_non_null(conf);
    assert_int_equal(conf->history, 33);
    jd_config_destroy(conf);
    jd_opts_free(&o);
    free(argv);
}

/* A command's own -t (produce's topic) when JD_OPT_TOPICS is not asked for;
 * -b only with JD_OPT_BROKERS. */
static void test_own_options(void **state)
{
    char *argv[] = { "produce", "-i", "x", "-t", "topic", "-b", "h:1", NULL };
    char own[8];
    jd_opts_t o;
    assert_int_equal(parse(&o, JD_OPT_BROKERS, "i:t:", argv, own, sizeof(own)), JD_OPTS_END);
    assert_string_equal(own, "it");
    assert_int_equal(o.nx, 1);
    assert_string_equal(o.xs[0], "kafka.bootstrap.servers=h:1");
    jd_opts_free(&o);

    char *nob[] = { "check-config", "-b", "h:1", NULL };
    assert_int_equal(parse(&o, 0, "", nob, own, sizeof(own)), JD_OPTS_EXIT);
    assert_int_equal(o.status, 2);
    jd_opts_free(&o);
}

static void test_usage_errors(void **state)
{
    char own[8];
    jd_opts_t o;
    char *stray[] = { "run", "stray", NULL };
    assert_int_equal(parse(&o, 0, "", stray, own, sizeof(own)), JD_OPTS_EXIT);
    assert_int_equal(o.status, 2);
    jd_opts_free(&o);
    char *noarg[] = { "run", "-c", NULL };
    assert_int_equal(parse(&o, 0, "", noarg, own, sizeof(own)), JD_OPTS_EXIT);
    assert_int_equal(o.status, 2);
    jd_opts_free(&o);
    char *help[] = { "run", "-X", "a=b", "--help", NULL };
    assert_int_equal(parse(&o, 0, "", help, own, sizeof(own)), JD_OPTS_EXIT);
    assert_int_equal(o.status, 0);
    jd_opts_free(&o);
}

/* jd_opts_load reports a config error and returns NULL. */
static void test_load_error(void **state)
{
    char *argv[] = { "run", "-X", "time.lateness=\xff", NULL };
    char own[8];
    jd_opts_t o;
    assert_int_equal(parse(&o, 0, "", argv, own, sizeof(own)), JD_OPTS_END);
    assert_null(jd_opts_load(&o));
    jd_opts_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_in_order),
        cmocka_unit_test(test_format_last),
        cmocka_unit_test(test_many_overrides),
        cmocka_unit_test(test_own_options),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_load_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
