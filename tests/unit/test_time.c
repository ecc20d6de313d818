/* Unit tests for src/lib/timeutil.c: every time format, range validation,
 * RFC 3339 formatting and durations. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>
#include "journeyd/timeutil.h"

#define T_2026_11_22_10 INT64_C(1795341600000) /* 2026-11-22T10:00:00Z */

static const jd_time_format_t fmt_auto = {JD_TIME_AUTO, NULL};
static const jd_time_format_t fmt_s = {JD_TIME_EPOCH_S, NULL};
static const jd_time_format_t fmt_ms = {JD_TIME_EPOCH_MS, NULL};

static int parse(const jd_time_format_t *f, const char *s, int64_t *out)
{
    *out = INT64_MIN;
    return jd_time_parse(f, s, strlen(s), out);
}

static void assert_parses(const jd_time_format_t *f, const char *s, int64_t want)
{
    int64_t got;
    if (parse(f, s, &got) != 0)
        fail_msg("\"%s\" did not parse", s);
    if (got != want)
        fail_msg("\"%s\" -> %lld, want %lld", s, (long long)got, (long long)want);
}

static void assert_rejects(const jd_time_format_t *f, const char *s)
{
    int64_t got;
    if (parse(f, s, &got) == 0)
        fail_msg("\"%s\" was accepted as %lld", s, (long long)got);
    assert_int_equal(got, INT64_MIN); /* *out untouched on failure */
}

static void test_rfc3339_basic(void **state)
{
    (void)state;
    assert_parses(&fmt_auto, "2026-11-22T10:00:00Z", T_2026_11_22_10);
    assert_parses(&fmt_auto, "2026-11-22T10:00:00.123Z", T_2026_11_22_10 + 123);
    assert_parses(&fmt_auto, "2026-11-22t10:00:00z", T_2026_11_22_10);
    assert_parses(&fmt_auto, "2026-11-22 10:00:00Z", T_2026_11_22_10);
    assert_parses(&fmt_auto, "1970-01-01T00:00:00Z", 0);
    assert_parses(&fmt_auto, "1969-12-31T23:59:59.999Z", -1);
    assert_parses(&fmt_auto, "2024-02-29T23:59:59Z", INT64_C(1709251199000));
    assert_parses(&fmt_auto, "9999-12-31T23:59:59Z", INT64_C(253402300799000));
    assert_parses(&fmt_auto, "0001-01-01T00:00:00Z", INT64_C(-62135596800000));
}

static void test_rfc3339_offsets(void **state)
{
    (void)state;
    assert_parses(&fmt_auto, "2026-11-22T12:00:00+02:00", T_2026_11_22_10);
    assert_parses(&fmt_auto, "2026-11-22T04:30:00-05:30", T_2026_11_22_10);
    assert_parses(&fmt_auto, "2026-11-22T10:00:00+00:00", T_2026_11_22_10);
    assert_parses(&fmt_auto, "2026-11-22T10:00:00-00:00", T_2026_11_22_10);
    /* An offset can move the instant to another day. */
    assert_parses(&fmt_auto, "2026-11-23T00:30:00.5+14:30", T_2026_11_22_10 + 500);
    assert_rejects(&fmt_auto, "2026-11-22T10:00:00+24:00");
    assert_rejects(&fmt_auto, "2026-11-22T10:00:00+02:60");
    assert_rejects(&fmt_auto, "2026-11-22T10:00:00+0200");
    assert_rejects(&fmt_auto, "2026-11-22T10:00:00+02");
}

static void test_rfc3339_fractions(void **state)
{
    (void)state;
    assert_parses(&fmt_auto, "2026-11-22T10:00:00.1Z", T_2026_11_22_10 + 100);
    assert_parses(&fmt_auto, "2026-11-22T10:00:00.12Z", T_2026_11_22_10 + 120);
    /* Sub-millisecond digits are truncated, never rounded up. */
    assert_parses(&fmt_auto, "2026-11-22T10:00:00.123999999Z", T_2026_11_22_10 + 123);
    assert_parses(&fmt_auto, "2026-11-22T10:00:00.000000000000000000001Z",
                  T_2026_11_22_10);
    assert_rejects(&fmt_auto, "2026-11-22T10:00:00.Z");
}

static void test_rfc3339_rejects(void **state)
{
    (void)state;
    assert_rejects(&fmt_auto, "");
    assert_rejects(&fmt_auto, "yesterday");
    assert_rejects(&fmt_auto, "2026-11-22");
    assert_rejects(&fmt_auto, "2026-11-22T10:00:00");       /* no zone */
    assert_rejects(&fmt_auto, "2026-11-22T10:00:00ZZ");     /* trailing garbage */
    assert_rejects(&fmt_auto, "2026-11-22T10:00:00Z ");     /* trailing space */
    assert_rejects(&fmt_auto, " 2026-11-22T10:00:00Z");     /* leading space */
    assert_rejects(&fmt_auto, "2026-13-01T10:00:00Z");
    assert_rejects(&fmt_auto, "2026-00-01T10:00:00Z");
    assert_rejects(&fmt_auto, "2026-02-29T10:00:00Z");      /* not a leap year */
    assert_rejects(&fmt_auto, "2100-02-29T10:00:00Z");      /* century rule */
    assert_rejects(&fmt_auto, "2026-04-31T10:00:00Z");
    assert_rejects(&fmt_auto, "2026-11-00T10:00:00Z");
    assert_rejects(&fmt_auto, "2026-11-22T24:00:00Z");
    assert_rejects(&fmt_auto, "2026-11-22T10:60:00Z");
    assert_rejects(&fmt_auto, "2026-11-22T10:00:61Z");
    assert_rejects(&fmt_auto, "2026-11-22X10:00:00Z");
    assert_rejects(&fmt_auto, "2026-1-22T10:00:00Z");
    assert_rejects(&fmt_auto, "+026-11-22T10:00:00Z");
    /* The length bounds the parse: a NUL-free prefix is not enough. */
    int64_t v;
    assert_int_equal(jd_time_parse(&fmt_auto, "2026-11-22T10:00:00Z", 19, &v), -1);
    assert_int_equal(jd_time_parse(&fmt_auto, "2026-11-22T10:00:00Z\0x", 22, &v), -1);
    assert_int_equal(jd_time_parse(NULL, "1", 1, &v), -1);
}

static void test_auto_epoch_ms(void **state)
{
    (void)state;
    assert_parses(&fmt_auto, "1795341600000", T_2026_11_22_10);
    assert_parses(&fmt_auto, "0", 0);
    assert_parses(&fmt_auto, "-1000", -1000);
    assert_rejects(&fmt_auto, "1795341600000.5"); /* auto: integer ms only */
    assert_rejects(&fmt_auto, "+1000");
    assert_rejects(&fmt_auto, "1e12");
    assert_rejects(&fmt_auto, "-");
    assert_rejects(&fmt_auto, "99999999999999999999999");
}

static void test_epoch_s(void **state)
{
    (void)state;
    assert_parses(&fmt_s, "1396437466.94", INT64_C(1396437466940));
    assert_parses(&fmt_s, "1396437466", INT64_C(1396437466000));
    assert_parses(&fmt_s, "1396437466.9999", INT64_C(1396437466999));
    assert_parses(&fmt_s, "1396766998.728", INT64_C(1396766998728));
    assert_parses(&fmt_s, "0.001", 1);
    assert_parses(&fmt_s, "-1.5", -1500);
    assert_rejects(&fmt_s, "1396437466.");
    assert_rejects(&fmt_s, ".5");
    assert_rejects(&fmt_s, "1396437466.94s");
    assert_rejects(&fmt_s, "2026-11-22T10:00:00Z");
    assert_rejects(&fmt_s, "9999999999999999999");
}

static void test_epoch_ms(void **state)
{
    (void)state;
    assert_parses(&fmt_ms, "1795341600000", T_2026_11_22_10);
    assert_parses(&fmt_ms, "1795341600000.9", T_2026_11_22_10); /* truncated */
    assert_rejects(&fmt_ms, "1795341600000x");
    assert_rejects(&fmt_ms, "");
}

static void test_strftime(void **state)
{
    (void)state;
    const jd_time_format_t rees = {JD_TIME_STRFTIME, "%Y-%m-%d %H:%M:%S UTC"};
    assert_parses(&rees, "2019-10-01 00:00:00 UTC", INT64_C(1569888000000));
    assert_parses(&rees, "2019-10-01 00:00:07 UTC", INT64_C(1569888007000));
    assert_rejects(&rees, "2019-10-01 00:00:00");
    assert_rejects(&rees, "2019-10-01 00:00:00 UTC trailing");
    assert_rejects(&rees, "2019-02-30 00:00:00 UTC"); /* strptime allows day 30 */
    assert_rejects(&rees, "2019-10-01T00:00:00Z");
    assert_rejects(&rees, " 2019-10-01 00:00:00 UTC");

    /* %z moves the instant to UTC. */
    const jd_time_format_t z = {JD_TIME_STRFTIME, "%Y-%m-%dT%H:%M:%S%z"};
    assert_parses(&z, "2026-11-22T12:00:00+0200", T_2026_11_22_10);
    assert_parses(&z, "2026-11-22T05:00:00-0500", T_2026_11_22_10);

    /* Without a day in the pattern the day is the 1st (not day 0). */
    const jd_time_format_t ym = {JD_TIME_STRFTIME, "%Y/%m"};
    assert_parses(&ym, "2019/10", INT64_C(1569888000000));

    /* The process time zone is never consulted. */
    const jd_time_format_t d = {JD_TIME_STRFTIME, "%d.%m.%Y %H:%M"};
    assert_parses(&d, "22.11.2026 10:00", T_2026_11_22_10);

    const jd_time_format_t none = {JD_TIME_STRFTIME, NULL};
    int64_t v;
    assert_int_equal(parse(&none, "2019", &v), -1);
}

static void test_from_number(void **state)
{
    (void)state;
    int64_t v = 0;
    assert_int_equal(jd_time_from_number(&fmt_s, 1396437466.94, 0, 0, &v), 0);
    assert_int_equal(v, INT64_C(1396437466940));
    assert_int_equal(jd_time_from_number(&fmt_s, 1396766998.728, 0, 0, &v), 0);
    assert_int_equal(v, INT64_C(1396766998728));
    assert_int_equal(jd_time_from_number(&fmt_s, 0, 1, 1396437466, &v), 0);
    assert_int_equal(v, INT64_C(1396437466000));
    assert_int_equal(jd_time_from_number(&fmt_auto, 0, 1, T_2026_11_22_10, &v), 0);
    assert_int_equal(v, T_2026_11_22_10);
    assert_int_equal(jd_time_from_number(&fmt_ms, 1795341600000.75, 0, 0, &v), 0);
    assert_int_equal(v, T_2026_11_22_10);
    const jd_time_format_t rees = {JD_TIME_STRFTIME, "%Y"};
    assert_int_equal(jd_time_from_number(&rees, 0, 1, 2019, &v), -1);
    assert_int_equal(jd_time_from_number(&fmt_s, 0, 1, INT64_MAX, &v), -1);
    assert_int_equal(jd_time_from_number(&fmt_s, 1e300, 0, 0, &v), -1);
    assert_int_equal(jd_time_from_number(&fmt_ms, __builtin_nan(""), 0, 0, &v), -1);
}

static void test_format(void **state)
{
    (void)state;
    char buf[JD_TIME_BUFSZ];
    assert_string_equal(jd_time_format_rfc3339(0, buf), "1970-01-01T00:00:00.000Z");
    assert_string_equal(jd_time_format_rfc3339(-1, buf), "1969-12-31T23:59:59.999Z");
    assert_string_equal(jd_time_format_rfc3339(T_2026_11_22_10 + 3120, buf),
                        "2026-11-22T10:00:03.120Z");
    assert_string_equal(jd_time_format_rfc3339(INT64_C(253402300799999), buf),
                        "9999-12-31T23:59:59.999Z");
    assert_string_equal(jd_time_format_rfc3339(INT64_C(-62135596800000), buf),
                        "0001-01-01T00:00:00.000Z");
    assert_string_equal(jd_time_format_rfc3339(INT64_C(951782400000), buf),
                        "2000-02-29T00:00:00.000Z");
    /* Extreme inputs still fit the buffer. */
    assert_true(strlen(jd_time_format_rfc3339(INT64_MAX, buf)) < JD_TIME_BUFSZ);
    assert_true(strlen(jd_time_format_rfc3339(INT64_MIN, buf)) < JD_TIME_BUFSZ);
}

static void test_format_round_trip(void **state)
{
    (void)state;
    char buf[JD_TIME_BUFSZ];
    /* Every day of 400 years (a full Gregorian cycle) plus odd offsets. */
    int64_t start = INT64_C(-62135596800000); /* 0001-01-01 */
    for (int64_t day = 0; day < 146097 * 2 + 10; day += 7) {
        int64_t ms = start + day * 86400000 + (day * 7919) % 86400000;
        int64_t back;
        jd_time_format_rfc3339(ms, buf);
        if (jd_time_parse(&fmt_auto, buf, strlen(buf), &back) != 0 || back != ms)
            fail_msg("round trip of %lld via %s failed", (long long)ms, buf);
    }
}

static void test_duration(void **state)
{
    (void)state;
    int64_t v = -1;
    assert_int_equal(jd_duration_parse("250ms", &v), 0);
    assert_int_equal(v, 250);
    assert_int_equal(jd_duration_parse("15s", &v), 0);
    assert_int_equal(v, 15000);
    assert_int_equal(jd_duration_parse("10m", &v), 0);
    assert_int_equal(v, 600000);
    assert_int_equal(jd_duration_parse("24h", &v), 0);
    assert_int_equal(v, 86400000);
    assert_int_equal(jd_duration_parse("7d", &v), 0);
    assert_int_equal(v, 604800000);
    assert_int_equal(jd_duration_parse("1234", &v), 0);
    assert_int_equal(v, 1234);
    assert_int_equal(jd_duration_parse("0", &v), 0);
    assert_int_equal(v, 0);
    v = 42;
    const char *bad[] = {"", "-5s", "+5s", "5 s", " 5s", "5s ", "5x", "5sec",
                         "s", "1.5s", "5S", "99999999999999999999",
                         "9223372036854775807s", "106751991167301d"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (jd_duration_parse(bad[i], &v) != -1)
            fail_msg("duration \"%s\" accepted", bad[i]);
    assert_int_equal(v, 42);
    assert_int_equal(jd_duration_parse(NULL, &v), -1);
    assert_int_equal(jd_duration_parse("9223372036854775807", &v), 0);
    assert_int_equal(v, INT64_MAX);
}

static void test_clocks(void **state)
{
    (void)state;
    assert_true(jd_now_ms() > INT64_C(1577836800000)); /* after 2020 */
    int64_t a = jd_mono_ms(), b = jd_mono_ms();
    assert_true(b >= a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc3339_basic),
        cmocka_unit_test(test_rfc3339_offsets),
        cmocka_unit_test(test_rfc3339_fractions),
        cmocka_unit_test(test_rfc3339_rejects),
        cmocka_unit_test(test_auto_epoch_ms),
        cmocka_unit_test(test_epoch_s),
        cmocka_unit_test(test_epoch_ms),
        cmocka_unit_test(test_strftime),
        cmocka_unit_test(test_from_number),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_round_trip),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_clocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
