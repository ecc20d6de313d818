/* Unit tests for src/ops/metrics.c: the exposition text of every metric
 * type, labels and their escaping, partition removal, the series bound, a
 * writer thread against a reader.
 *
 * With JD_METRICS_DUMP=FILE set it also writes a rendering with every
 * metric populated to FILE: tests/e2e/t_docker.sh checks the Grafana
 * dashboard's queries against those names. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "journeyd/metrics.h"

static char *render(jd_metrics_t *m)
{
    size_t len = 0;
    char *out = jd_metrics_render(m, &len);
    assert_non_null(out);
    assert_int_equal(strlen(out), len);
    return out;
}

static void assert_has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)); p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return;
    fail_msg("line \"%s\" missing from:\n%s", line, text);
}

static void assert_no_line_starting(const char *text, const char *prefix)
{
    for (const char *p = text; (p = strstr(p, prefix)); p++)
        if (p == text || p[-1] == '\n')
            fail_msg("unexpected line starting \"%s\" in:\n%s", prefix, text);
}

static void test_new_and_defaults(void **state)
{
    jd_metrics_t *m = jd_metrics_new("9.8.7");
    char *out;
    (void)state;
    assert_non_null(m);
    out = render(m);
    assert_has_line(out, "# HELP journeyd_build_info Always 1; the version label says which journeyd is running");
    assert_has_line(out, "# TYPE journeyd_build_info gauge");
    assert_has_line(out, "journeyd_build_info{version=\"9.8.7\"} 1");
    assert_has_line(out, "# TYPE journeyd_events_consumed_total counter");
    assert_has_line(out, "journeyd_events_evaluated_total 0");
    assert_has_line(out, "journeyd_customers_active 0");
    assert_has_line(out, "# TYPE journeyd_checkpoint_duration_seconds histogram");
    assert_has_line(out, "journeyd_checkpoint_duration_seconds_bucket{le=\"+Inf\"} 0");
    assert_has_line(out, "journeyd_checkpoint_duration_seconds_count 0");
    /* labelled metrics have no series before their first update */
    assert_no_line_starting(out, "journeyd_events_consumed_total{");
    free(out);
    jd_metrics_destroy(m);
    jd_metrics_destroy(NULL);
}

static void test_every_contract_metric_defined(void **state)
{
    static const char *const want[] = {
        "journeyd_build_info", "journeyd_events_consumed_total", "journeyd_events_evaluated_total",
        "journeyd_dead_letters_total", "journeyd_alerts_total", "journeyd_duplicates_total",
        "journeyd_consumer_lag", "journeyd_watermark_delay_seconds", "journeyd_customers_active",
        "journeyd_checkpoints_total", "journeyd_checkpoint_duration_seconds",
        "journeyd_forced_advances_total", "journeyd_groups_evicted_total", "journeyd_tasks_assigned",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        int found = 0;
        for (int id = 0; id < JD_M__COUNT; id++)
            found |= !strcmp(jd_metric_def((jd_metric_id_t)id)->name, want[i]);
        if (!found)
            fail_msg("%s is not in the metric table", want[i]);
    }
    assert_null(jd_metric_def(JD_M__COUNT));
    assert_string_equal(jd_metric_def(JD_M_ALERTS)->labels[1], "severity");
}

static void test_counters_gauges_partitions(void **state)
{
    jd_metrics_t *m = jd_metrics_new("1");
    char *out;
    (void)state;
    jd_metrics_set_partition(m, "cx.events", 0, 120, 5, 2.5);
    jd_metrics_set_partition(m, "cx.events", 1, 7, -1, NAN);   /* lag, delay unknown */
    jd_metrics_set_partition(m, "cx.events", 0, 130, 0, 0.25);
    jd_metrics_alert(m, "rage_click", "medium", 2);
    jd_metrics_alert(m, "rage_click", "medium", 1);
    jd_metrics_dead_letter(m, "invalid_json", 4);
    jd_metrics_add(m, JD_M_EVENTS_EVALUATED, NULL, 1000);
    jd_metrics_add(m, JD_M_EVENTS_EVALUATED, NULL, 24);
    jd_metrics_set(m, JD_M_CUSTOMERS_ACTIVE, NULL, 321);
    jd_metrics_set(m, JD_M_TASKS_ASSIGNED, NULL, 2);
    /* wrong type: ignored */
    jd_metrics_add(m, JD_M_CUSTOMERS_ACTIVE, NULL, 5);
    jd_metrics_observe(m, JD_M_CHECKPOINTS, NULL, 1);
    out = render(m);
    assert_has_line(out, "journeyd_events_consumed_total{topic=\"cx.events\",partition=\"0\"} 130");
    assert_has_line(out, "journeyd_events_consumed_total{topic=\"cx.events\",partition=\"1\"} 7");
    assert_has_line(out, "journeyd_consumer_lag{topic=\"cx.events\",partition=\"0\"} 0");
    assert_no_line_starting(out, "journeyd_consumer_lag{topic=\"cx.events\",partition=\"1\"}");
    assert_has_line(out, "journeyd_watermark_delay_seconds{topic=\"cx.events\",partition=\"0\"} 0.25");
    assert_has_line(out, "journeyd_alerts_total{rule=\"rage_click\",severity=\"medium\"} 3");
    assert_has_line(out, "journeyd_dead_letters_total{reason=\"invalid_json\"} 4");
    assert_has_line(out, "journeyd_events_evaluated_total 1024");
    assert_has_line(out, "journeyd_customers_active 321");
    assert_has_line(out, "journeyd_tasks_assigned 2");
    assert_has_line(out, "journeyd_checkpoints_total 0");
    free(out);

    jd_metrics_remove_partition(m, "cx.events", 0);
    out = render(m);
    assert_no_line_starting(out, "journeyd_events_consumed_total{topic=\"cx.events\",partition=\"0\"}");
    assert_no_line_starting(out, "journeyd_consumer_lag{topic=\"cx.events\",partition=\"0\"}");
    assert_no_line_starting(out, "journeyd_watermark_delay_seconds{topic=\"cx.events\",partition=\"0\"}");
    assert_has_line(out, "journeyd_events_consumed_total{topic=\"cx.events\",partition=\"1\"} 7");
    free(out);
    assert_int_equal(jd_metrics_remove(m, JD_M_EVENTS_CONSUMED, (const char *[]){ "cx.events", "1" }), 1);
    assert_int_equal(jd_metrics_remove(m, JD_M_EVENTS_CONSUMED, (const char *[]){ "cx.events", "1" }), 0);
    jd_metrics_destroy(m);
}

static void test_histogram(void **state)
{
    jd_metrics_t *m = jd_metrics_new("1");
    char *out;
    (void)state;
    jd_metrics_checkpoint(m, 0.004);
    jd_metrics_checkpoint(m, 0.2);
    jd_metrics_checkpoint(m, 0.25);  /* le is inclusive */
    jd_metrics_checkpoint(m, 100);   /* above every bound */
    out = render(m);
    assert_has_line(out, "journeyd_checkpoints_total 4");
    assert_has_line(out, "journeyd_checkpoint_duration_seconds_bucket{le=\"0.005\"} 1");
    assert_has_line(out, "journeyd_checkpoint_duration_seconds_bucket{le=\"0.1\"} 1");
    assert_has_line(out, "journeyd_checkpoint_duration_seconds_bucket{le=\"0.25\"} 3");
    assert_has_line(out, "journeyd_checkpoint_duration_seconds_bucket{le=\"30\"} 3");
    assert_has_line(out, "journeyd_checkpoint_duration_seconds_bucket{le=\"+Inf\"} 4");
    assert_has_line(out, "journeyd_checkpoint_duration_seconds_sum 100.454");
    assert_has_line(out, "journeyd_checkpoint_duration_seconds_count 4");
    free(out);
    jd_metrics_destroy(m);
}

static void test_label_escaping(void **state)
{
    jd_metrics_t *m = jd_metrics_new("a\"b\\c\nd");
    char *out;
    (void)state;
    out = render(m);
    assert_has_line(out, "journeyd_build_info{version=\"a\\\"b\\\\c\\nd\"} 1");
    free(out);
    jd_metrics_destroy(m);
}

static void test_declare_rules(void **state)
{
    jd_err_t err;
    jd_config_t *conf = jd_config_load(NULL, NULL, 0, &err);
    jd_metrics_t *m = jd_metrics_new("1");
    char *out, line[256];
    (void)state;
    assert_non_null(conf);
    jd_metrics_declare_rules(m, conf);
    out = render(m);
    for (uint32_t i = 0; i < conf->nrules; i++) {
        static const char *const sev[] = { "low", "medium", "high" };
        static const char *const kind[] = { "burst", "funnel", "sequence" };
        const jd_rule_t *r = &conf->rules[i];
        snprintf(line, sizeof(line), "journeyd_alerts_total{rule=\"%s\",severity=\"%s\"} 0",
                 r->name, sev[r->severity]);
        assert_has_line(out, line);
        snprintf(line, sizeof(line), "journeyd_rule_info{rule=\"%s\",kind=\"%s\",severity=\"%s\"} 1",
                 r->name, kind[r->kind], sev[r->severity]);
        assert_has_line(out, line);
    }
    assert_non_null(strstr(out, "kind=\"funnel\""));
    free(out);
    jd_metrics_destroy(m);
    jd_config_destroy(conf);
}

static void test_series_bound(void **state)
{
    jd_metrics_t *m = jd_metrics_new("1");
    char *out;
    (void)state;
    for (int i = 0; i < JD_METRICS_MAX_SERIES + 5; i++) {
        char r[32];
        snprintf(r, sizeof(r), "reason%d", i);
        jd_metrics_dead_letter(m, r, 1);
    }
    out = render(m);
    /* build_info's series counts against the bound too */
    assert_has_line(out, "journeyd_metrics_series_dropped_total 6");
    assert_has_line(out, "journeyd_dead_letters_total{reason=\"reason9998\"} 1");
    assert_no_line_starting(out, "journeyd_dead_letters_total{reason=\"reason9999\"}");
    free(out);
    /* an existing series still updates at the bound */
    jd_metrics_dead_letter(m, "reason0", 1);
    out = render(m);
    assert_has_line(out, "journeyd_dead_letters_total{reason=\"reason0\"} 2");
    free(out);
    jd_metrics_destroy(m);
}

#define NWRITES 20000

static void *writer(void *arg)
{
    jd_metrics_t *m = arg;
    for (int i = 0; i < NWRITES; i++) {
        jd_metrics_set_partition(m, "t", i % 4, (uint64_t)i, i, 1.0);
        jd_metrics_add(m, JD_M_EVENTS_EVALUATED, NULL, 1);
        if (i % 7 == 0)
            jd_metrics_remove_partition(m, "t", i % 4);
    }
    return NULL;
}

static void test_writer_and_reader_threads(void **state)
{
    jd_metrics_t *m = jd_metrics_new("1");
    pthread_t t;
    char *out;
    int renders = 0;
    (void)state;
    assert_int_equal(pthread_create(&t, NULL, writer, m), 0);
    for (; renders < 200; renders++) {
        out = render(m);
        assert_non_null(strstr(out, "journeyd_events_evaluated_total "));
        free(out);
    }
    pthread_join(t, NULL);
    out = render(m);
    assert_has_line(out, "journeyd_events_evaluated_total 20000");
    free(out);
    jd_metrics_destroy(m);
}

/* Every metric with a series, for the dashboard check. */
static void dump_if_asked(void)
{
    const char *path = getenv("JD_METRICS_DUMP");
    jd_metrics_t *m;
    char *out;
    FILE *f;
    if (!path)
        return;
    m = jd_metrics_new("dump");
    jd_metrics_set_partition(m, "cx.events", 0, 1, 1, 1);
    jd_metrics_alert(m, "rule", "low", 1);
    jd_metrics_dead_letter(m, "late", 1);
    jd_metrics_set(m, JD_M_RULE_INFO, (const char *[]){ "rule", "burst", "low" }, 1);
    out = jd_metrics_render(m, NULL);
    if (!out || !(f = fopen(path, "w")) || fputs(out, f) < 0 || fclose(f)) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    free(out);
    jd_metrics_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_and_defaults),
        cmocka_unit_test(test_every_contract_metric_defined),
        cmocka_unit_test(test_counters_gauges_partitions),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_label_escaping),
        cmocka_unit_test(test_declare_rules),
        cmocka_unit_test(test_series_bound),
        cmocka_unit_test(test_writer_and_reader_threads),
    };
    dump_if_asked();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
