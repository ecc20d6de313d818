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
        "missing_type", "missing_identity", "bad_csv", "too_large", "late"};
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reason_names),
        cmocka_unit_test(test_format_file),
        cmocka_unit_test(test_format_kafka),
        cmocka_unit_test(test_payload_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
