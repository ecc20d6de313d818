/* Unit tests for src/input/decode.c: field mapping (keys, JSON Pointers, CSV
 * columns), defaults, identity forms, every dead-letter class, and the real
 * REES46 and YooChoose datasets decoded end to end. The configs are built by
 * hand: jd_config_t is a public struct and this test must not depend on the
 * config loader. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "journeyd/decode.h"

/* The field names, spelled out here so the test does not need config.c. */
static const char *field_name(int f)
{
    static const char *const names[JD_FIELD__COUNT] = {
        "ts", "customer_id", "anonymous_id", "type", "channel",
        "event_id", "session_id", "page", "element"};
    return names[f];
}

/* A hand-built config; the strings are literals the config never frees. */
typedef struct tconf {
    jd_config_t c;
    jd_slot_t slots[12];
} tconf_t;

static const int canon_field[JD_SLOT__CANON] = {
    JD_FIELD_TYPE, JD_FIELD_CHANNEL, JD_FIELD_SESSION_ID, JD_FIELD_PAGE, JD_FIELD_ELEMENT};

static void tconf_init(tconf_t *t)
{
    memset(t, 0, sizeof(*t));
    t->c.intern = jd_intern_new();
    assert_non_null(t->c.intern);
    for (int f = 0; f < JD_FIELD__COUNT; f++)
        t->c.fields[f] = (char *)field_name(f);
    t->c.defaults[JD_FIELD_CHANNEL] = (char *)"unknown";
    t->c.time_format.kind = JD_TIME_AUTO;
    t->c.csv_delimiter = ',';
    t->c.slots = t->slots;
    t->c.nslots = JD_SLOT__CANON;
}

/* Fills slots 0..4 from fields/defaults (what the config compiler does)
 * and appends extra slots named by their source. */
static void tconf_slots(tconf_t *t, const char *const *extra, size_t nextra)
{
    for (int i = 0; i < JD_SLOT__CANON; i++) {
        int f = canon_field[i];
        t->slots[i].name = field_name(f);
        t->slots[i].source = t->c.fields[f];
        t->slots[i].field = f;
        t->slots[i].dflt = t->c.defaults[f] ? jd_intern_str(t->c.intern, t->c.defaults[f])
                                             : NULL;
    }
    for (size_t i = 0; i < nextra; i++) {
        t->slots[JD_SLOT__CANON + i].name = extra[i];
        t->slots[JD_SLOT__CANON + i].source = extra[i];
        t->slots[JD_SLOT__CANON + i].field = -1;
    }
    t->c.nslots = JD_SLOT__CANON + (uint32_t)nextra;
}

static void tconf_free(tconf_t *t)
{
    jd_intern_destroy(t->c.intern);
}

static jd_decoder_t *decoder_ok(tconf_t *t)
{
    jd_err_t err = {{0}};
    jd_decoder_t *d = jd_decoder_new(&t->c, &err);
    if (!d)
        fail_msg("jd_decoder_new: %s", err.msg);
    return d;
}

static jd_event_t *decode_ok(jd_decoder_t *d, const char *json)
{
    jd_event_t *ev = NULL;
    char detail[256] = "";
    jd_dl_reason_t r = jd_decode_json(d, json, strlen(json), &ev, detail, sizeof(detail));
    if (r != JD_DL_NONE || !ev)
        fail_msg("%s -> %s (%s)", json, jd_dl_reason_name(r), detail);
    return ev;
}

static void decode_dl(jd_decoder_t *d, const char *json, size_t len, jd_dl_reason_t want,
                      const char *want_detail)
{
    jd_event_t *ev = (jd_event_t *)1;
    char detail[256] = "x";
    jd_dl_reason_t r = jd_decode_json(d, json, len, &ev, detail, sizeof(detail));
    if (r != want)
        fail_msg("%.*s -> %s (%s), want %s", (int)len, json, jd_dl_reason_name(r), detail,
                 jd_dl_reason_name(want));
    assert_null(ev);
    if (want_detail && !strstr(detail, want_detail))
        fail_msg("%.*s: detail \"%s\" lacks \"%s\"", (int)len, json, detail, want_detail);
    assert_true(detail[0] != '\0');
}

#define DL(d, json, want, detail) decode_dl(d, json, strlen(json), want, detail)

static void test_basic_event(void **state)
{
    (void)state;
    tconf_t t;
    tconf_init(&t);
    tconf_slots(&t, NULL, 0);
    jd_decoder_t *d = decoder_ok(&t);
    jd_event_t *ev = decode_ok(d, "{\"ts\":\"2026-11-22T12:00:03.120+02:00\","
                                  "\"customer_id\":\"c-17\",\"anonymous_id\":\"dev-1\","
                                  "\"type\":\"click\",\"channel\":\"web\",\"event_id\":\"e-1\","
                                  "\"session_id\":\"s1\",\"page\":\"/checkout\","
                                  "\"element\":\"#pay\",\"other\":{\"x\":1}}");
    assert_int_equal(ev->ts, INT64_C(1795341603120));
    assert_string_equal(ev->customer_id, "c-17");
    assert_string_equal(ev->anonymous_id, "dev-1");
    assert_string_equal(ev->event_id, "e-1");
    assert_int_equal(ev->nslots, JD_SLOT__CANON);
    assert_string_equal(ev->slot[JD_SLOT_TYPE], "click");
    assert_string_equal(ev->slot[JD_SLOT_CHANNEL], "web");
    assert_string_equal(ev->slot[JD_SLOT_SESSION], "s1");
    assert_string_equal(ev->slot[JD_SLOT_PAGE], "/checkout");
    assert_string_equal(ev->slot[JD_SLOT_ELEMENT], "#pay");
    /* Slot values are interned: comparable by pointer with config values. */
    assert_ptr_equal(ev->slot[JD_SLOT_TYPE], jd_intern_str(t.c.intern, "click"));
    jd_event_t *ev2 = decode_ok(d, "{\"ts\":0,\"anonymous_id\":\"a\",\"type\":\"click\"}");
    assert_ptr_equal(ev2->slot[JD_SLOT_TYPE], ev->slot[JD_SLOT_TYPE]);
    assert_null(ev2->customer_id);
    assert_null(ev2->event_id);
    assert_int_equal(ev2->ts, 0);
    /* Absent optional slots are NULL; channel falls back to its default. */
    assert_null(ev2->slot[JD_SLOT_PAGE]);
    assert_string_equal(ev2->slot[JD_SLOT_CHANNEL], "unknown");
    jd_event_free(ev);
    jd_event_free(ev2);
    jd_decoder_destroy(d);
    jd_decoder_destroy(NULL);
    tconf_free(&t);
}

static void test_numeric_and_empty_values(void **state)
{
    (void)state;
    tconf_t t;
    tconf_init(&t);
    tconf_slots(&t, (const char *const[]){"price", "flag"}, 2);
    jd_decoder_t *d = decoder_ok(&t);
    jd_event_t *ev = decode_ok(d, "{\"ts\":1795341600000,\"customer_id\":541312140,"
                                  "\"anonymous_id\":\"\",\"event_id\":-7,\"type\":\"view\","
                                  "\"page\":null,\"element\":\"\",\"session_id\":[1],"
                                  "\"price\":35.79,\"flag\":true}");
    assert_int_equal(ev->ts, INT64_C(1795341600000));
    assert_string_equal(ev->customer_id, "541312140");
    assert_null(ev->anonymous_id); /* "" is absent */
    assert_string_equal(ev->event_id, "-7");
    assert_null(ev->slot[JD_SLOT_PAGE]);
    assert_null(ev->slot[JD_SLOT_ELEMENT]);
    assert_null(ev->slot[JD_SLOT_SESSION]); /* arrays are absent */
    assert_string_equal(ev->slot[5], "35.79");
    assert_string_equal(ev->slot[6], "true");
    jd_event_free(ev);

    /* A numeric type is stringified and interned like any other. */
    ev = decode_ok(d, "{\"ts\":1,\"anonymous_id\":12.5,\"type\":404,\"price\":404}");
    assert_string_equal(ev->anonymous_id, "12.5");
    assert_string_equal(ev->slot[JD_SLOT_TYPE], "404");
    assert_ptr_equal(ev->slot[5], ev->slot[JD_SLOT_TYPE]);
    jd_event_free(ev);

    /* Values longer than any scratch buffer are kept whole. */
    char big[2000], json[4200];
    memset(big, 'p', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    snprintf(json, sizeof(json), "{\"ts\":1,\"customer_id\":\"%s\",\"type\":\"v\","
                                 "\"page\":\"%s\"}", big, big);
    ev = decode_ok(d, json);
    assert_string_equal(ev->customer_id, big);
    assert_string_equal(ev->slot[JD_SLOT_PAGE], big);
    jd_event_free(ev);
    jd_decoder_destroy(d);
    tconf_free(&t);
}

static void test_json_pointer_fields(void **state)
{
    (void)state;
    tconf_t t;
    tconf_init(&t);
    t.c.fields[JD_FIELD_TS] = (char *)"/meta/time";
    t.c.fields[JD_FIELD_CUSTOMER_ID] = (char *)"/user/id";
    t.c.fields[JD_FIELD_TYPE] = (char *)"/event/type";
    t.c.fields[JD_FIELD_PAGE] = (char *)"/properties/page";
    t.c.fields[JD_FIELD_ELEMENT] = (char *)"/items/1/sku";
    t.c.fields[JD_FIELD_SESSION_ID] = (char *)"/a~1b/c~0d";
    tconf_slots(&t, (const char *const[]){"/items/01/sku", "/items/-", "/", "/items/0"}, 4);
    jd_decoder_t *d = decoder_ok(&t);
    jd_event_t *ev = decode_ok(
        d, "{\"meta\":{\"time\":\"2026-11-22T10:00:00Z\"},\"user\":{\"id\":42},"
           "\"event\":{\"type\":\"add_to_cart\"},\"properties\":{\"page\":\"/cart\"},"
           "\"items\":[{\"sku\":\"A\"},{\"sku\":\"B\"}],\"a/b\":{\"c~d\":\"esc\"},"
           "\"\":\"empty-key\",\"type\":\"top-level-ignored\"}");
    assert_int_equal(ev->ts, INT64_C(1795341600000));
    assert_string_equal(ev->customer_id, "42");
    assert_string_equal(ev->slot[JD_SLOT_TYPE], "add_to_cart");
    assert_string_equal(ev->slot[JD_SLOT_PAGE], "/cart");
    assert_string_equal(ev->slot[JD_SLOT_ELEMENT], "B");
    assert_string_equal(ev->slot[JD_SLOT_SESSION], "esc");
    assert_null(ev->slot[5]);                      /* leading zero: not an index */
    assert_null(ev->slot[6]);                      /* "-" is past the end */
    assert_string_equal(ev->slot[7], "empty-key"); /* "/" is the key "" */
    assert_null(ev->slot[8]);                      /* an object is absent */
    jd_event_free(ev);

    /* A pointer through a scalar or a missing key is absent, not a crash. */
    DL(d, "{\"meta\":\"str\",\"user\":{\"id\":1},\"event\":{\"type\":\"x\"}}",
       JD_DL_MISSING_TS, "/meta/time");
    DL(d, "{\"meta\":{\"time\":1},\"user\":{\"id\":1},\"event\":[\"x\"]}",
       JD_DL_MISSING_TYPE, "/event/type");
    jd_decoder_destroy(d);

    /* A bad escape is a construction error naming the field. */
    t.c.fields[JD_FIELD_PAGE] = (char *)"/properties/~2";
    tconf_slots(&t, NULL, 0);
    jd_err_t err = {{0}};
    assert_null(jd_decoder_new(&t.c, &err));
    assert_non_null(strstr(err.msg, "/properties/~2"));
    tconf_free(&t);
}

static void test_defaults(void **state)
{
    (void)state;
    tconf_t t;
    tconf_init(&t);
    t.c.defaults[JD_FIELD_TYPE] = (char *)"message";
    t.c.defaults[JD_FIELD_CHANNEL] = (char *)"web";
    tconf_slots(&t, NULL, 0);
    jd_decoder_t *d = decoder_ok(&t);
    jd_event_t *ev = decode_ok(d, "{\"ts\":5,\"anonymous_id\":\"a\"}");
    assert_string_equal(ev->slot[JD_SLOT_TYPE], "message");
    assert_string_equal(ev->slot[JD_SLOT_CHANNEL], "web");
    jd_event_free(ev);
    ev = decode_ok(d, "{\"ts\":5,\"anonymous_id\":\"a\",\"type\":\"\",\"channel\":\"sms\"}");
    assert_string_equal(ev->slot[JD_SLOT_TYPE], "message"); /* "" is absent */
    assert_string_equal(ev->slot[JD_SLOT_CHANNEL], "sms");
    jd_event_free(ev);
    jd_decoder_destroy(d);

    /* A config that leaves slot dflt unset still gets defaults[] applied,
     * and channel falls back to "unknown" (contract section 2). */
    t.c.defaults[JD_FIELD_CHANNEL] = NULL;
    for (int i = 0; i < JD_SLOT__CANON; i++)
        t.slots[i].dflt = NULL;
    d = decoder_ok(&t);
    ev = decode_ok(d, "{\"ts\":5,\"anonymous_id\":\"a\"}");
    assert_string_equal(ev->slot[JD_SLOT_TYPE], "message");
    assert_string_equal(ev->slot[JD_SLOT_CHANNEL], "unknown");
    jd_event_free(ev);
    jd_decoder_destroy(d);
    tconf_free(&t);
}

static void test_time_formats(void **state)
{
    (void)state;
    tconf_t t;
    tconf_init(&t);
    t.c.time_format.kind = JD_TIME_EPOCH_S;
    tconf_slots(&t, NULL, 0);
    jd_decoder_t *d = decoder_ok(&t);
    jd_event_t *ev = decode_ok(d, "{\"ts\":1396437466.94,\"anonymous_id\":8,\"type\":\"c\"}");
    assert_int_equal(ev->ts, INT64_C(1396437466940));
    jd_event_free(ev);
    ev = decode_ok(d, "{\"ts\":\"1396437466.94\",\"anonymous_id\":8,\"type\":\"c\"}");
    assert_int_equal(ev->ts, INT64_C(1396437466940));
    jd_event_free(ev);
    ev = decode_ok(d, "{\"ts\":1396437466,\"anonymous_id\":8,\"type\":\"c\"}");
    assert_int_equal(ev->ts, INT64_C(1396437466000));
    jd_event_free(ev);
    DL(d, "{\"ts\":\"2026-11-22T10:00:00Z\",\"anonymous_id\":8,\"type\":\"c\"}",
       JD_DL_BAD_TS, "ts \"2026-11-22T10:00:00Z\" does not match format epoch_s");
    DL(d, "{\"ts\":1e300,\"anonymous_id\":8,\"type\":\"c\"}", JD_DL_BAD_TS,
       "ts 1e+300 does not match format epoch_s");
    jd_decoder_destroy(d);

    t.c.time_format.kind = JD_TIME_STRFTIME;
    t.c.time_format.pattern = "%Y-%m-%d %H:%M:%S UTC";
    d = decoder_ok(&t);
    ev = decode_ok(d, "{\"ts\":\"2019-10-01 00:00:00 UTC\",\"anonymous_id\":8,\"type\":\"c\"}");
    assert_int_equal(ev->ts, INT64_C(1569888000000));
    jd_event_free(ev);
    DL(d, "{\"ts\":1569888000000,\"anonymous_id\":8,\"type\":\"c\"}", JD_DL_BAD_TS,
       "format \"%Y-%m-%d %H:%M:%S UTC\"");
    jd_decoder_destroy(d);
    tconf_free(&t);
}

static void test_dead_letters(void **state)
{
    (void)state;
    tconf_t t;
    tconf_init(&t);
    tconf_slots(&t, NULL, 0);
    jd_decoder_t *d = decoder_ok(&t);

    DL(d, "{\"ts\":1,", JD_DL_INVALID_JSON, "at line 1 column");
    DL(d, "{\"ts\":1}}", JD_DL_INVALID_JSON, "end of file expected");
    DL(d, "", JD_DL_INVALID_JSON, "line 1");
    DL(d, "{\"ts\":1,\"type\":\"a\xff\",\"anonymous_id\":\"x\"}", JD_DL_INVALID_JSON, NULL);
    DL(d, "{\"ts\":1,\"type\":\"a\\u0000b\",\"anonymous_id\":\"x\"}", JD_DL_INVALID_JSON,
       NULL);
    decode_dl(d, "{\"ts\":1,\0}", 10, JD_DL_INVALID_JSON, NULL);

    DL(d, "[1,2]", JD_DL_NOT_OBJECT, "got an array");
    DL(d, "\"str\"", JD_DL_NOT_OBJECT, "got a string");
    DL(d, "42", JD_DL_NOT_OBJECT, "got a number");
    DL(d, "null", JD_DL_NOT_OBJECT, "got null");

    DL(d, "{\"type\":\"click\",\"customer_id\":\"c\"}", JD_DL_MISSING_TS,
       "ts (field \"ts\") is missing");
    DL(d, "{\"ts\":null,\"type\":\"click\",\"customer_id\":\"c\"}", JD_DL_MISSING_TS, NULL);
    DL(d, "{\"ts\":\"\",\"type\":\"click\",\"customer_id\":\"c\"}", JD_DL_MISSING_TS, NULL);
    DL(d, "{\"ts\":{},\"type\":\"click\",\"customer_id\":\"c\"}", JD_DL_MISSING_TS, NULL);

    DL(d, "{\"ts\":\"yesterday\",\"type\":\"click\",\"customer_id\":\"c\"}", JD_DL_BAD_TS,
       "ts \"yesterday\" does not match format auto");
    DL(d, "{\"ts\":true,\"type\":\"click\",\"customer_id\":\"c\"}", JD_DL_BAD_TS,
       "ts \"true\"");
    DL(d, "{\"ts\":\"2026-02-30T00:00:00Z\",\"type\":\"click\",\"customer_id\":\"c\"}",
       JD_DL_BAD_TS, NULL);
    DL(d, "{\"ts\":\"a\\\"b\\u00e9\\n\",\"type\":\"click\",\"customer_id\":\"c\"}",
       JD_DL_BAD_TS, "ts \"a\\\"b\\xc3\\xa9\\x0a\"");

    DL(d, "{\"ts\":1,\"customer_id\":\"c\"}", JD_DL_MISSING_TYPE,
       "type (field \"type\") is missing or empty and has no default");
    DL(d, "{\"ts\":1,\"type\":null,\"customer_id\":\"c\"}", JD_DL_MISSING_TYPE, NULL);

    DL(d, "{\"ts\":1,\"type\":\"click\"}", JD_DL_MISSING_IDENTITY,
       "neither customer_id (field \"customer_id\") nor anonymous_id");
    DL(d, "{\"ts\":1,\"type\":\"click\",\"customer_id\":\"\",\"anonymous_id\":null}",
       JD_DL_MISSING_IDENTITY, NULL);

    /* Order: the earliest failing check names the reason. */
    DL(d, "{\"ts\":\"bad\"}", JD_DL_BAD_TS, NULL);
    DL(d, "{\"ts\":1}", JD_DL_MISSING_TYPE, NULL);

    /* A NULL detail buffer is allowed; bad arguments do not crash. */
    jd_event_t *ev = NULL;
    assert_int_equal(jd_decode_json(d, "[]", 2, &ev, NULL, 0), JD_DL_NOT_OBJECT);
    assert_int_equal(jd_decode_json(NULL, "{}", 2, &ev, NULL, 0), JD_DL_INVALID_JSON);
    assert_null(ev);
    /* Bad records leave no trace in the interner. */
    size_t before = jd_intern_count(t.c.intern);
    DL(d, "{\"ts\":1,\"type\":\"never-interned\"}", JD_DL_MISSING_IDENTITY, NULL);
    assert_int_equal(jd_intern_count(t.c.intern), before);
    jd_decoder_destroy(d);
    tconf_free(&t);
}

/* The injected wall clock of the future_ts tests. */
static int64_t test_clock_ms;
static int test_clock_reads;
static int64_t test_clock(void *opaque)
{
    (void)opaque;
    test_clock_reads++;
    return test_clock_ms;
}

/* time.max_future (contract section 4): ts more than max_future ahead of
 * the decoder's clock is future_ts, with a hint when the unit is wrong. */
static void test_future_ts(void **state)
{
    (void)state;
    tconf_t t;
    tconf_init(&t);
    tconf_slots(&t, NULL, 0);
    t.c.max_future_ms = 3600000;
    jd_decoder_t *d = decoder_ok(&t);
    test_clock_ms = INT64_C(1764504000000); /* 2025-11-30T12:00:00Z */
    jd_decoder_set_clock(d, test_clock, NULL);
    char json[256];
#define TS_EVENT(ts) (snprintf(json, sizeof(json), \
        "{\"ts\":%s,\"type\":\"click\",\"customer_id\":\"c\"}", ts), json)

    /* Exactly max_future ahead is fine, one ms more is not. */
    jd_event_t *ev = decode_ok(d, TS_EVENT("1764507600000"));
    assert_int_equal(ev->ts, INT64_C(1764507600000));
    jd_event_free(ev);
    DL(d, TS_EVENT("1764507600001"), JD_DL_FUTURE_TS,
       "ts 1764507600001 is 1.0 hours ahead of the wall clock (time.max_future 1.0 hours)");
    DL(d, TS_EVENT("\"2999-01-01T00:00:00Z\""), JD_DL_FUTURE_TS,
       "ts \"2999-01-01T00:00:00Z\" is 973.1 years ahead");
    /* A 16-digit integer read as ms is epoch microseconds; 19 digits are
     * nanoseconds. */
    DL(d, TS_EVENT("1764503000000000"), JD_DL_FUTURE_TS,
       "looks like epoch microseconds, not milliseconds");
    DL(d, TS_EVENT("\"1764503000000000123\""), JD_DL_FUTURE_TS, NULL);
    DL(d, TS_EVENT("1764503000000000123"), JD_DL_FUTURE_TS,
       "looks like epoch nanoseconds, not milliseconds");
    /* The past and the bad are what they were. */
    ev = decode_ok(d, TS_EVENT("\"2019-10-01T00:00:00Z\""));
    jd_event_free(ev);
    DL(d, TS_EVENT("\"tomorrow\""), JD_DL_BAD_TS, NULL);

    /* The clock moves: what was future is accepted later. A cached
     * reading serves events that are not ahead of it. */
    test_clock_ms += 3600000;
    ev = decode_ok(d, TS_EVENT("1764507600001"));
    jd_event_free(ev);
    test_clock_reads = 0;
    for (int i = 0; i < 100; i++) {
        ev = decode_ok(d, TS_EVENT("1764500000000"));
        jd_event_free(ev);
    }
    assert_int_equal(test_clock_reads, 0);
    jd_decoder_destroy(d);

    /* epoch_s with milliseconds in it. */
    t.c.time_format.kind = JD_TIME_EPOCH_S;
    d = decoder_ok(&t);
    jd_decoder_set_clock(d, test_clock, NULL);
    DL(d, TS_EVENT("1764503000000"), JD_DL_FUTURE_TS,
       "looks like epoch milliseconds (time.format epoch_ms)");
    ev = decode_ok(d, TS_EVENT("1764503000"));
    jd_event_free(ev);
    jd_decoder_destroy(d);

    /* 0 = off: nothing is too far ahead. */
    t.c.time_format.kind = JD_TIME_AUTO;
    t.c.max_future_ms = 0;
    d = decoder_ok(&t);
    jd_decoder_set_clock(d, test_clock, NULL);
    ev = decode_ok(d, TS_EVENT("\"2999-01-01T00:00:00Z\""));
    jd_event_free(ev);
    jd_decoder_destroy(d);
#undef TS_EVENT
    tconf_free(&t);
}

/* Contract section 2: a number journeyd does not read never invalidates an
 * event (a 20-digit order id, 1e400), on the scanner path and on the
 * jansson path (a JSON Pointer source) alike; one it reads is its text. */
static void test_out_of_range_numbers(void **state)
{
    (void)state;
    for (int ptr = 0; ptr < 2; ptr++) {
        tconf_t t;
        tconf_init(&t);
        if (ptr)
            t.c.fields[JD_FIELD_PAGE] = (char *)"/props/page";
        tconf_slots(&t, (const char *const[]){"order_id"}, 1);
        jd_decoder_t *d = decoder_ok(&t);
        jd_event_t *ev = decode_ok(d,
            "{\"ts\":1,\"type\":\"purchase\",\"customer_id\":\"c1\",\"x\":12345678901234567890,"
            "\"props\":{\"page\":\"/p\",\"total\":1e400,\"n\":[-99999999999999999999,1]},"
            "\"y\":-1.5e99999}");
        assert_string_equal(ev->customer_id, "c1");
        assert_null(ev->slot[JD_SLOT__CANON]);
        if (ptr)
            assert_string_equal(ev->slot[JD_SLOT_PAGE], "/p");
        jd_event_free(ev);
        /* Read fields keep the number's text. */
        ev = decode_ok(d, "{\"ts\":1,\"type\":\"purchase\",\"customer_id\":123456789012345678901,"
                          "\"order_id\":1e400,\"props\":{\"page\":\"/p\"}}");
        assert_string_equal(ev->customer_id, "123456789012345678901");
        assert_string_equal(ev->slot[JD_SLOT__CANON], "1e400");
        jd_event_free(ev);
        /* A ts out of range is a bad ts, not bad JSON. */
        DL(d, "{\"ts\":12345678901234567890,\"type\":\"a\",\"customer_id\":\"c\"}", JD_DL_BAD_TS,
           "ts \"12345678901234567890\" does not match format auto");
        /* Invalid for another reason: still invalid_json, with jansson's
         * error for that reason. */
        DL(d, "{\"ts\":1,\"x\":1e400,\"type\":tru}", JD_DL_INVALID_JSON,
           "invalid token near 'tru' at line 1 column 28");
        DL(d, "{12345678901234567890:1}", JD_DL_INVALID_JSON, NULL);
        DL(d, "12345678901234567890", JD_DL_NOT_OBJECT, "got a number");
        jd_decoder_destroy(d);
        tconf_free(&t);
    }
}

static void test_construction_errors(void **state)
{
    (void)state;
    tconf_t t;
    tconf_init(&t);
    jd_err_t err = {{0}};
    t.c.nslots = 2; /* fewer than the canonical slots */
    assert_null(jd_decoder_new(&t.c, &err));
    assert_non_null(strstr(err.msg, "slots"));
    assert_null(jd_decoder_new(NULL, &err));
    tconf_free(&t);
}

/* ---------------- CSV ---------------- */

static void csv_rec(jd_csv_parser_t *p, const char *line, jd_csv_record_t *rec)
{
    assert_int_equal(jd_csv_parse(p, line, strlen(line), ',', rec), JD_READ_OK);
}

static void rees46_conf(tconf_t *t)
{
    tconf_init(t);
    t->c.input_csv = 1;
    t->c.fields[JD_FIELD_TS] = (char *)"event_time";
    t->c.fields[JD_FIELD_TYPE] = (char *)"event_type";
    t->c.fields[JD_FIELD_CUSTOMER_ID] = (char *)"user_id";
    t->c.fields[JD_FIELD_SESSION_ID] = (char *)"user_session";
    t->c.defaults[JD_FIELD_CHANNEL] = (char *)"web";
    t->c.time_format.kind = JD_TIME_STRFTIME;
    t->c.time_format.pattern = "%Y-%m-%d %H:%M:%S UTC";
    tconf_slots(t, (const char *const[]){"brand", "category_code", "price", "not_a_column"},
                4);
}

#define REES46_HEADER                                                                  \
    "event_time,event_type,product_id,category_id,category_code,brand,price,user_id," \
    "user_session"

static void test_csv_rees46_mapping(void **state)
{
    (void)state;
    tconf_t t;
    rees46_conf(&t);
    jd_decoder_t *d = decoder_ok(&t);
    jd_csv_parser_t *p = jd_csv_parser_new();
    jd_csv_record_t rec;
    jd_event_t *ev = NULL;
    char detail[256];

    /* Before a header every record is bad_csv. */
    csv_rec(p, "a,b", &rec);
    assert_int_equal(jd_decode_csv(d, &rec, &ev, detail, sizeof(detail)), JD_DL_BAD_CSV);
    assert_non_null(strstr(detail, "header"));

    jd_err_t err = {{0}};
    csv_rec(p, "\xef\xbb\xbf" REES46_HEADER, &rec); /* with a byte order mark */
    assert_int_equal(jd_decoder_csv_header(d, &rec, &err), 0);

    csv_rec(p, "2019-10-01 00:00:00 UTC,view,44600062,2103807459595387724,,shiseido,"
               "35.79,541312140,72d76fde-8bb3-4e00-8c23-a032dfed738c", &rec);
    assert_int_equal(jd_decode_csv(d, &rec, &ev, detail, sizeof(detail)), JD_DL_NONE);
    assert_non_null(ev);
    assert_int_equal(ev->ts, INT64_C(1569888000000));
    assert_string_equal(ev->customer_id, "541312140");
    assert_null(ev->anonymous_id); /* no such column: absent, not an error */
    assert_null(ev->event_id);
    assert_string_equal(ev->slot[JD_SLOT_TYPE], "view");
    assert_string_equal(ev->slot[JD_SLOT_CHANNEL], "web");
    assert_string_equal(ev->slot[JD_SLOT_SESSION], "72d76fde-8bb3-4e00-8c23-a032dfed738c");
    assert_null(ev->slot[JD_SLOT_PAGE]);
    assert_string_equal(ev->slot[5], "shiseido");
    assert_null(ev->slot[6]); /* empty category_code */
    assert_string_equal(ev->slot[7], "35.79");
    assert_null(ev->slot[8]);
    jd_event_free(ev);

    csv_rec(p, "2019-10-01 00:00:00 UTC,view,1,2,,b,1.0,541312140", &rec);
    assert_int_equal(jd_decode_csv(d, &rec, &ev, detail, sizeof(detail)), JD_DL_BAD_CSV);
    assert_string_equal(detail, "record has 8 fields, the header has 9");
    assert_null(ev);
    csv_rec(p, "2019-10-01T00:00:00Z,view,1,2,,b,1.0,541312140,s", &rec);
    assert_int_equal(jd_decode_csv(d, &rec, &ev, detail, sizeof(detail)), JD_DL_BAD_TS);
    assert_string_equal(detail, "ts \"2019-10-01T00:00:00Z\" does not match format "
                                "\"%Y-%m-%d %H:%M:%S UTC\"");
    csv_rec(p, ",view,1,2,,b,1.0,541312140,s", &rec);
    assert_int_equal(jd_decode_csv(d, &rec, &ev, detail, sizeof(detail)), JD_DL_MISSING_TS);
    csv_rec(p, "2019-10-01 00:00:00 UTC,,1,2,,b,1.0,541312140,s", &rec);
    assert_int_equal(jd_decode_csv(d, &rec, &ev, detail, sizeof(detail)),
                     JD_DL_MISSING_TYPE);
    csv_rec(p, "2019-10-01 00:00:00 UTC,view,1,2,,b,1.0,,s", &rec);
    assert_int_equal(jd_decode_csv(d, &rec, &ev, detail, sizeof(detail)),
                     JD_DL_MISSING_IDENTITY);
    assert_null(ev);

    jd_csv_parser_destroy(p);
    jd_decoder_destroy(d);
    tconf_free(&t);
}

static void test_csv_header_errors(void **state)
{
    (void)state;
    tconf_t t;
    rees46_conf(&t);
    jd_decoder_t *d = decoder_ok(&t);
    jd_csv_parser_t *p = jd_csv_parser_new();
    jd_csv_record_t rec;
    jd_err_t err = {{0}};

    csv_rec(p, "time,event_type,user_id", &rec);
    assert_int_equal(jd_decoder_csv_header(d, &rec, &err), -1);
    assert_string_equal(err.msg, "CSV header has no column \"event_time\" for ts");

    csv_rec(p, "event_time,kind,user_id", &rec);
    assert_int_equal(jd_decoder_csv_header(d, &rec, &err), -1);
    assert_non_null(strstr(err.msg, "no column \"event_type\" for type"));

    csv_rec(p, "event_time,event_type,user", &rec);
    assert_int_equal(jd_decoder_csv_header(d, &rec, &err), -1);
    assert_non_null(strstr(err.msg, "neither column \"user_id\""));

    /* After a failed header, data is still refused. */
    jd_event_t *ev = NULL;
    csv_rec(p, "1,2,3", &rec);
    assert_int_equal(jd_decode_csv(d, &rec, &ev, NULL, 0), JD_DL_BAD_CSV);

    /* The minimal header is enough; a type default covers a missing column. */
    csv_rec(p, "user_id,event_time,event_type", &rec);
    assert_int_equal(jd_decoder_csv_header(d, &rec, &err), 0);
    csv_rec(p, "u1,2019-10-01 00:00:01 UTC,cart", &rec);
    assert_int_equal(jd_decode_csv(d, &rec, &ev, NULL, 0), JD_DL_NONE);
    assert_int_equal(ev->ts, INT64_C(1569888001000));
    assert_string_equal(ev->slot[JD_SLOT_TYPE], "cart");
    jd_event_free(ev);
    jd_decoder_destroy(d);

    t.c.defaults[JD_FIELD_TYPE] = (char *)"click";
    tconf_slots(&t, NULL, 0);
    d = decoder_ok(&t);
    csv_rec(p, "event_time,user_id", &rec);
    assert_int_equal(jd_decoder_csv_header(d, &rec, &err), 0);
    jd_decoder_destroy(d);
    jd_csv_parser_destroy(p);
    tconf_free(&t);
}

static const char *shared_data(const char *rel)
{
    static char path[512];
    const char *roots[] = {"../shared/data", "/work/shared/data"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "%s/%s", roots[i], rel);
        if (access(path, R_OK) == 0)
            return path;
    }
    return NULL;
}

/* Reads a whole CSV file through the decoder; returns events decoded and
 * counts dead letters. */
static size_t decode_file(jd_decoder_t *d, const char *path, char delim, size_t *dead,
                          int64_t *first_ts, int64_t *last_ts)
{
    jd_err_t err = {{0}};
    jd_reader_t *r = jd_reader_open(path, &err);
    if (!r)
        fail_msg("%s", err.msg);
    jd_csv_record_t rec;
    assert_int_equal(jd_reader_csv(r, delim, &rec, &err), JD_READ_OK);
    if (jd_decoder_csv_header(d, &rec, &err))
        fail_msg("%s", err.msg);
    size_t n = 0;
    *dead = 0;
    jd_read_status_t st;
    while ((st = jd_reader_csv(r, delim, &rec, &err)) == JD_READ_OK) {
        jd_event_t *ev = NULL;
        char detail[256];
        if (jd_decode_csv(d, &rec, &ev, detail, sizeof(detail)) != JD_DL_NONE) {
            (*dead)++;
            continue;
        }
        if (n == 0)
            *first_ts = ev->ts;
        *last_ts = ev->ts;
        n++;
        jd_event_free(ev);
    }
    assert_int_equal(st, JD_READ_EOF);
    jd_reader_close(r);
    return n;
}

/* A NUL byte inside a CSV field would cut the value short once it is used
 * as a C string ("c1\0a" and "c1\0b" would be one customer): bad_csv. */
static void test_csv_nul_byte(void **state)
{
    (void)state;
    tconf_t t;
    rees46_conf(&t);
    jd_decoder_t *d = decoder_ok(&t);
    jd_csv_parser_t *p = jd_csv_parser_new();
    jd_csv_record_t rec;
    jd_err_t err = {{0}};
    static const char hdr[] = "event_time,event_type,user_id";
    static const char bad_hdr[] = "event_time,event_type,user_id\0x";
    assert_int_equal(jd_csv_parse(p, bad_hdr, sizeof(bad_hdr) - 1, ',', &rec), JD_READ_OK);
    assert_int_equal(jd_decoder_csv_header(d, &rec, &err), -1);
    assert_string_equal(err.msg, "CSV header column 3 holds a NUL byte");
    csv_rec(p, hdr, &rec);
    assert_int_equal(jd_decoder_csv_header(d, &rec, &err), 0);
    static const char data[] = "2019-10-01 00:00:01 UTC,cart,c1\0a";
    static const char quoted[] = "2019-10-01 00:00:01 UTC,\"ca\0rt\",c1";
    char detail[256];
    jd_event_t *ev = NULL;
    assert_int_equal(jd_csv_parse(p, data, sizeof(data) - 1, ',', &rec), JD_READ_OK);
    assert_int_equal(jd_decode_csv(d, &rec, &ev, detail, sizeof(detail)), JD_DL_BAD_CSV);
    assert_null(ev);
    assert_string_equal(detail, "field 3 holds a NUL byte (at byte 3 of the field)");
    assert_int_equal(jd_csv_parse(p, quoted, sizeof(quoted) - 1, ',', &rec), JD_READ_OK);
    assert_int_equal(jd_decode_csv(d, &rec, &ev, detail, sizeof(detail)), JD_DL_BAD_CSV);
    assert_string_equal(detail, "field 2 holds a NUL byte (at byte 3 of the field)");
    csv_rec(p, "2019-10-01 00:00:01 UTC,cart,c1", &rec);
    assert_int_equal(jd_decode_csv(d, &rec, &ev, detail, sizeof(detail)), JD_DL_NONE);
    assert_string_equal(ev->customer_id, "c1");
    jd_event_free(ev);
    jd_csv_parser_destroy(p);
    jd_decoder_destroy(d);
    tconf_free(&t);
}

static void test_rees46_dataset(void **state)
{
    (void)state;
    const char *path = shared_data("rees46-oct2019/2019-Oct-first-8700.csv");
    if (!path)
        skip();
    tconf_t t;
    rees46_conf(&t);
    jd_decoder_t *d = decoder_ok(&t);
    size_t dead;
    int64_t first = 0, last = 0;
    assert_int_equal(decode_file(d, path, ',', &dead, &first, &last), 8700);
    assert_int_equal(dead, 0);
    assert_int_equal(first, INT64_C(1569888000000));               /* 00:00:00 */
    assert_int_equal(last, INT64_C(1569888000000) + 9302 * 1000);  /* 02:35:02 */
    /* Three event types, two channels' worth of defaults: few interned. */
    assert_non_null(jd_intern_str(t.c.intern, "purchase"));
    jd_decoder_destroy(d);
    tconf_free(&t);
}

static void test_yoochoose_dataset(void **state)
{
    (void)state;
    const char *path = shared_data("yoochoose-clicks/clicks-16k.tsv");
    if (!path)
        skip();
    tconf_t t;
    tconf_init(&t);
    t.c.fields[JD_FIELD_TS] = (char *)"Time";
    t.c.fields[JD_FIELD_ANONYMOUS_ID] = (char *)"SessionId";
    t.c.defaults[JD_FIELD_TYPE] = (char *)"click";
    t.c.time_format.kind = JD_TIME_EPOCH_S;
    t.c.csv_delimiter = '\t';
    tconf_slots(&t, (const char *const[]){"ItemId"}, 1);
    jd_decoder_t *d = decoder_ok(&t);
    size_t dead;
    int64_t first = 0, last = 0;
    assert_int_equal(decode_file(d, path, '\t', &dead, &first, &last), 16539);
    assert_int_equal(dead, 0);
    assert_int_equal(first, INT64_C(1396766998728));
    assert_int_equal(last, INT64_C(1396768785373));
    jd_decoder_destroy(d);
    tconf_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_event),
        cmocka_unit_test(test_numeric_and_empty_values),
        cmocka_unit_test(test_json_pointer_fields),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_time_formats),
        cmocka_unit_test(test_dead_letters),
        cmocka_unit_test(test_future_ts),
        cmocka_unit_test(test_out_of_range_numbers),
        cmocka_unit_test(test_construction_errors),
        cmocka_unit_test(test_csv_rees46_mapping),
        cmocka_unit_test(test_csv_header_errors),
        cmocka_unit_test(test_csv_nul_byte),
        cmocka_unit_test(test_rees46_dataset),
        cmocka_unit_test(test_yoochoose_dataset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
