/* Unit tests for src/input/deadletter.c: reason names and the exact dead-letter
 * line, including payloads that are not valid UTF-8. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>
#include "journeyd/deadletter.h"

static void test_reason_names(void **state)
{
    (void)state;
    static const char *const want[JD_DL__COUNT] = {
        "none", "invalid_json", "not_an_object", "missing_ts", "bad_ts",
        "missing_type", "missing_identity", "bad_csv", "too_large", "late", "future_ts"};
    for (int r = 0; r < JD_DL__COUNT; r++)
        assert_string_equal(jd_dl_reason_name((jd_dl_reason_t)r), want[r]);
    assert_string_equal(jd_dl_reason_name(JD_DL__COUNT), "unknown");
    assert_string_equal(jd_dl_reason_name((jd_dl_reason_t)-1), "unknown");
}

static void test_format_file(void **state)
{
    (void)state;
    jd_source_pos_t pos = {.file = "in.ndjson", .line = 3};
    const char *payload = "{\"ts\":\"yesterday\"}";
    size_t len = 0;
    char *s = jd_deadletter_format(JD_DL_BAD_TS, "ts \"yesterday\" does not match format auto",
                                   &pos, payload, strlen(payload), &len);
    assert_non_null(s);
    assert_string_equal(
        s, "{\"error\":\"bad_ts\",\"detail\":\"ts \\\"yesterday\\\" does not match format "
           "auto\",\"source\":{\"file\":\"in.ndjson\",\"line\":3},"
           "\"payload\":\"{\\\"ts\\\":\\\"yesterday\\\"}\"}");
    assert_int_equal(len, strlen(s));
    assert_null(strchr(s, '\n'));
    free(s);
}

static void test_format_kafka(void **state)
{
    (void)state;
    jd_source_pos_t pos = {.topic = "cx.events", .partition = 2, .offset = 123456789012LL};
    char *s = jd_deadletter_format(JD_DL_LATE, NULL, &pos, "x", 1, NULL);
    assert_non_null(s);
    assert_string_equal(s, "{\"error\":\"late\",\"source\":{\"topic\":\"cx.events\","
                           "\"partition\":2,\"offset\":123456789012},\"payload\":\"x\"}");
    free(s);

    /* No position and an empty detail: both keys are left out. */
    s = jd_deadletter_format(JD_DL_INVALID_JSON, "", NULL, "", 0, NULL);
    assert_string_equal(s, "{\"error\":\"invalid_json\",\"payload\":\"\"}");
    free(s);
    s = jd_deadletter_format(JD_DL_INVALID_JSON, NULL, NULL, NULL, 5, NULL);
    assert_string_equal(s, "{\"error\":\"invalid_json\",\"payload\":\"\"}");
    free(s);
}

/* Formats payload and returns the payload string as parsed back. */
static char *payload_round_trip(const char *payload, size_t len, size_t *outlen)
{
    jd_source_pos_t pos = {.file = "-", .line = 1};
    char *s = jd_deadletter_format(JD_DL_INVALID_JSON, "bad", &pos, payload, len, NULL);
    assert_non_null(s);
    json_error_t jerr;
    json_t *j = json_loads(s, JSON_ALLOW_NUL, &jerr);
    if (!j)
        fail_msg("dead letter is not JSON: %s (%s)", s, jerr.text);
    free(s);
    json_t *p = json_object_get(j, "payload");
    assert_true(json_is_string(p));
    *outlen = json_string_length(p);
    char *copy = malloc(*outlen + 1);
    memcpy(copy, json_string_value(p), *outlen + 1);
    json_decref(j);
    return copy;
}

#define FFFD "\xef\xbf\xbd"

static void expect_payload(const char *in, size_t inlen, const char *want, size_t wantlen)
{
    size_t got_len;
    char *got = payload_round_trip(in, inlen, &got_len);
    assert_int_equal(got_len, wantlen);
    assert_memory_equal(got, want, wantlen);
    free(got);
}

#define EXPECT(in, want) expect_payload(in, sizeof(in) - 1, want, sizeof(want) - 1)

static void test_payload_utf8(void **state)
{
    (void)state;
    EXPECT("caf\xc3\xa9 \xf0\x9f\x98\x80", "caf\xc3\xa9 \xf0\x9f\x98\x80"); /* valid */
    EXPECT("a\xff" "b", "a" FFFD "b");
    EXPECT("\xe2\x82", FFFD);                      /* truncated: one maximal subpart */
    EXPECT("\xe2\x82x", FFFD "x");
    EXPECT("\xc0\xaf", FFFD FFFD);                 /* overlong lead, stray continuation */
    EXPECT("\xed\xa0\x80", FFFD FFFD FFFD);        /* surrogate */
    EXPECT("\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD); /* above U+10FFFF */
    EXPECT("\xf0\x9f\x98", FFFD);
    EXPECT("x\x80\x80y", "x" FFFD FFFD "y");
    /* NUL is valid UTF-8 and survives as \u0000. */
    expect_payload("a\0b", 3, "a\0b", 3);
    jd_source_pos_t pos = {.file = "f", .line = 9};
    char *s = jd_deadletter_format(JD_DL_NOT_OBJECT, NULL, &pos, "a\0b", 3, NULL);
    assert_non_null(strstr(s, "\"payload\":\"a\\u0000b\""));
    free(s);
    /* Detail and file names from outside are cleaned the same way. */
    jd_source_pos_t bad = {.file = "f\xff.csv", .line = 1};
    s = jd_deadletter_format(JD_DL_BAD_CSV, "near '\xfe'", &bad, "", 0, NULL);
    assert_string_equal(s, "{\"error\":\"bad_csv\",\"detail\":\"near '" FFFD "'\","
                           "\"source\":{\"file\":\"f" FFFD ".csv\",\"line\":1},"
                           "\"payload\":\"\"}");
    free(s);
}

/* A dead letter for a sink with a size limit: the payload is cut at a
 * character boundary, never inside a UTF-8 sequence or an escape, and
 * "truncated":true says so; the record fits exactly when it can. */
static void test_format_max(void **state)
{
    (void)state;
    jd_source_pos_t pos = {.topic = "cx.events", .partition = 1, .offset = 7};
    /* 2000 bytes: 'a', then a 2-byte, 3-byte and 4-byte character, a quote
     * (escaped to 2 bytes) and a control byte (escaped to 6), repeated. */
    static const char unit[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"\x01";
    char payload[2000];
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = unit[i % (sizeof(unit) - 1)];
    size_t full_len = 0;
    int truncated = -1;
    char *full = jd_deadletter_format_max(JD_DL_TOO_LARGE, "too big", &pos, payload,
                                          sizeof(payload), 0, &full_len, &truncated);
    assert_non_null(full);
    assert_int_equal(truncated, 0);
    assert_null(strstr(full, "truncated"));
    /* A bound the record meets changes nothing. */
    size_t len = 0;
    char *same = jd_deadletter_format_max(JD_DL_TOO_LARGE, "too big", &pos, payload,
                                          sizeof(payload), full_len, &len, &truncated);
    assert_string_equal(same, full);
    assert_int_equal(truncated, 0);
    free(same);
    /* Every bound from a little above the empty-payload record to the
     * whole: at most max bytes, valid JSON, a prefix of the payload, and
     * no character lost that would have fitted. */
    size_t prev_plen = 0;
    for (size_t max = 140; max < full_len; max += 7) {
        char *s = jd_deadletter_format_max(JD_DL_TOO_LARGE, "too big", &pos, payload,
                                           sizeof(payload), max, &len, &truncated);
        assert_non_null(s);
        assert_int_equal(len, strlen(s));
        if (len > max)
            fail_msg("max %zu: %zu bytes", max, len);
        assert_int_equal(truncated, 1);
        json_error_t jerr;
        json_t *j = json_loads(s, 0, &jerr);
        if (!j)
            fail_msg("max %zu: not JSON: %s", max, jerr.text);
        assert_true(json_is_true(json_object_get(j, "truncated")));
        assert_string_equal(json_string_value(json_object_get(j, "error")), "too_large");
        assert_string_equal(json_string_value(json_object_get(j, "detail")), "too big");
        json_t *pl = json_object_get(j, "payload");
        size_t plen = json_string_length(pl);
        assert_true(plen < sizeof(payload));
        assert_memory_equal(json_string_value(pl), payload, plen);
        assert_true(plen >= prev_plen);
        /* The next character (at most 4 bytes, 6 escaped) did not fit. */
        assert_true(len + 6 > max);
        prev_plen = plen;
        json_decref(j);
        free(s);
    }
    assert_true(prev_plen > 1500);
    /* Too small for even an empty payload: the detail is cut as well, and
     * a record that cannot fit at all is still returned whole. */
    char detail[300];
    memset(detail, 'd', sizeof(detail) - 1);
    detail[sizeof(detail) - 1] = '\0';
    char *s = jd_deadletter_format_max(JD_DL_TOO_LARGE, detail, &pos, payload, 10, 200, &len,
                                       &truncated);
    assert_true(len <= 200);
    assert_non_null(strstr(s, "\"payload\":\"\",\"truncated\":true"));
    free(s);
    s = jd_deadletter_format_max(JD_DL_TOO_LARGE, detail, &pos, payload, 10, 20, &len,
                                 &truncated);
    assert_non_null(s);
    assert_true(len > 20);
    assert_int_equal(truncated, 1);
    free(s);
    free(full);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reason_names),
        cmocka_unit_test(test_format_file),
        cmocka_unit_test(test_format_kafka),
        cmocka_unit_test(test_payload_utf8),
        cmocka_unit_test(test_format_max),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
