/* Unit tests for src/lib/log.c: text and JSON lines, levels and the
 * JOURNEYD_LOG override, escaping and cutting, whole lines under threads,
 * the start-up banner. Lines go to a temporary file read back here. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>
#include "journeyd/log.h"

static FILE *logf_;

static int setup(void **state)
{
    (void)state;
    unsetenv("JOURNEYD_LOG");
    jd_log_init("journeyd test");
    logf_ = tmpfile();
    assert_non_null(logf_);
    jd_log_set_fd(fileno(logf_));
    jd_log_level = JD_LOG_INFO;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    jd_log_set_fd(2);
    jd_log_set_format(JD_LOGFMT_TEXT);
    fclose(logf_);
    unsetenv("JOURNEYD_LOG");
    return 0;
}

/* Everything written so far; caller frees. */
static char *slurp(void)
{
    long n;
    char *buf;
    fflush(logf_);
    n = lseek(fileno(logf_), 0, SEEK_END);
    buf = calloc(1, (size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(pread(fileno(logf_), buf, (size_t)n, 0), n);
    return buf;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* "2026-11-30T13:44:31.123Z" */
static void assert_rfc3339_ms(const char *ts)
{
    assert_int_equal(strlen(ts), 24);
    assert_int_equal(ts[4], '-');
    assert_int_equal(ts[10], 'T');
    assert_int_equal(ts[19], '.');
    assert_int_equal(ts[23], 'Z');
}

static void test_text_line(void **state)
{
    char *out, ts[32];
    (void)state;
    JD_LOG(JD_LOG_WARN, "queue %d%% full", 90);
    JD_LOG(JD_LOG_DEBUG, "dropped: above the level");
    out = slurp();
    assert_int_equal(count_lines(out), 1);
    assert_int_equal(sscanf(out, "%31s", ts), 1);
    assert_rfc3339_ms(ts);
    assert_string_equal(out + 25, "warn journeyd test: queue 90% full\n");
    free(out);
}

static void test_text_newlines_flattened(void **state)
{
    char *out;
    (void)state;
    JD_LOG(JD_LOG_ERR, "a\nb\r\nc");
    out = slurp();
    assert_int_equal(count_lines(out), 1);
    assert_non_null(strstr(out, "error journeyd test: a b  c\n"));
    free(out);
}

static json_t *parse_line(const char *line, size_t len)
{
    json_error_t e;
    json_t *j = json_loadb(line, len, 0, &e);
    if (!j)
        fail_msg("not JSON (%s): %.*s", e.text, (int)len, line);
    return j;
}

static void test_json_line_and_escaping(void **state)
{
    char *out;
    json_t *j;
    (void)state;
    jd_log_set_format(JD_LOGFMT_JSON);
    /* quotes, backslash, control bytes, valid UTF-8, a stray 0xff */
    JD_LOG(JD_LOG_INFO, "say \"hi\" \\ \x01\ttab caf\xc3\xa9 bad\xff end");
    out = slurp();
    assert_int_equal(count_lines(out), 1);
    j = parse_line(out, strlen(out) - 1);
    assert_rfc3339_ms(json_string_value(json_object_get(j, "ts")));
    assert_string_equal(json_string_value(json_object_get(j, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(j, "cmd")), "test");
    assert_string_equal(json_string_value(json_object_get(j, "msg")),
                        "say \"hi\" \\ \x01\ttab caf\xc3\xa9 bad\xef\xbf\xbd end");
    json_decref(j);
    free(out);
}

static void test_json_long_message_cut_valid(void **state)
{
    char *big = malloc(3 * JD_LOG_MSG_MAX), *out;
    json_t *j;
    (void)state;
    assert_non_null(big);
    /* every byte escapes to 6: the escaped form overflows the line */
    memset(big, '\x01', 3 * JD_LOG_MSG_MAX - 1);
    big[3 * JD_LOG_MSG_MAX - 1] = '\0';
    jd_log_set_format(JD_LOGFMT_JSON);
    JD_LOG(JD_LOG_ERR, "%s", big);
    out = slurp();
    assert_int_equal(count_lines(out), 1);
    j = parse_line(out, strlen(out) - 1);
    assert_true(strlen(json_string_value(json_object_get(j, "msg"))) > 100);
    assert_true(strlen(json_string_value(json_object_get(j, "msg"))) < JD_LOG_MSG_MAX);
    json_decref(j);
    free(out);
    free(big);
}

static void test_levels_and_env(void **state)
{
    jd_config_t conf = { 0 };
    jd_err_t err = { "" };
    (void)state;
    conf.log_level = JD_LOG_WARN;
    conf.log_format = JD_LOGFMT_JSON;
    assert_int_equal(jd_log_configure(&conf, &err), 0);
    assert_int_equal(jd_log_level, JD_LOG_WARN);

    setenv("JOURNEYD_LOG", "DEBUG", 1);
    assert_int_equal(jd_log_configure(&conf, &err), 0);
    assert_int_equal(jd_log_level, JD_LOG_DEBUG);

    setenv("JOURNEYD_LOG", "verbose", 1);
    assert_int_equal(jd_log_configure(&conf, &err), -1);
    assert_string_equal(err.msg, "JOURNEYD_LOG=verbose: expected error, warn, info or debug");

    unsetenv("JOURNEYD_LOG");
    assert_int_equal(jd_log_configure(NULL, &err), 0);
    assert_int_equal(jd_log_level, JD_LOG_INFO);
    assert_int_equal(jd_log_level_parse("Warn"), JD_LOG_WARN);
    assert_int_equal(jd_log_level_parse("warning"), -1);
    assert_int_equal(jd_log_level_parse(NULL), -1);
    assert_string_equal(jd_log_level_name(JD_LOG_ERR), "error");
}

/* `demo` re-inits after its nested `produce`: the prefix changes, the
 * configured format stays */
static void test_reinit_keeps_format(void **state)
{
    jd_config_t conf = { 0 };
    char *out;
    json_t *j;
    (void)state;
    conf.log_format = JD_LOGFMT_JSON;
    conf.log_level = JD_LOG_INFO;
    assert_int_equal(jd_log_configure(&conf, NULL), 0);
    jd_log_init("journeyd demo");
    JD_LOG(JD_LOG_INFO, "after");
    out = slurp();
    j = parse_line(out, strlen(out) - 1);
    assert_string_equal(json_string_value(json_object_get(j, "cmd")), "demo");
    json_decref(j);
    free(out);
}

#define NTHREADS 4
#define NLINES 300

static void *spam(void *arg)
{
    for (int i = 0; i < NLINES; i++)
        JD_LOG(JD_LOG_INFO, "thread %d line %d %s", (int)(intptr_t)arg, i,
               "padding padding padding padding padding padding padding padding");
    return NULL;
}

static void test_threads_whole_lines(void **state)
{
    pthread_t t[NTHREADS];
    char *out, *line, *save = NULL;
    size_t n = 0;
    (void)state;
    jd_log_set_format(JD_LOGFMT_JSON);
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, spam, (void *)(intptr_t)i), 0);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    out = slurp();
    for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *j = parse_line(line, strlen(line));
        assert_non_null(strstr(json_string_value(json_object_get(j, "msg")), "padding"));
        json_decref(j);
        n++;
    }
    assert_int_equal(n, NTHREADS * NLINES);
    free(out);
}

static void test_banner(void **state)
{
    static const char *ov[] = { "http.listen=0.0.0.0:9999", "input.topics=a,b",
                                "kafka.bootstrap.servers=k1:9092", "log.format=json" };
    jd_err_t err;
    jd_config_t *conf = jd_config_load(NULL, ov, 4, &err);
    char *out;
    json_t *j;
    (void)state;
    assert_non_null(conf);
    assert_int_equal(jd_log_configure(conf, &err), 0);
    jd_log_banner(conf, "run", "1.2.3");
    out = slurp();
    assert_int_equal(count_lines(out), 1);
    j = parse_line(out, strlen(out) - 1);
    assert_string_equal(json_string_value(json_object_get(j, "version")), "1.2.3");
    assert_string_equal(json_string_value(json_object_get(j, "brokers")), "k1:9092");
    assert_string_equal(json_string_value(json_object_get(j, "group")), "journeyd");
    assert_int_equal(json_array_size(json_object_get(j, "topics")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "topics"), 1)), "b");
    assert_int_equal(json_integer_value(json_object_get(j, "rules")), conf->nrules);
    assert_true(conf->nrules > 0);
    assert_string_equal(json_string_value(json_object_get(j, "http")), "0.0.0.0:9999");
    assert_non_null(strstr(json_string_value(json_object_get(j, "msg")),
                           "journeyd 1.2.3 starting run: brokers=k1:9092 group=journeyd "
                           "topics=a,b rules="));
    json_decref(j);
    free(out);
    jd_config_destroy(conf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_text_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_newlines_flattened, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_line_and_escaping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_long_message_cut_valid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_levels_and_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reinit_keeps_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads_whole_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_banner, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
