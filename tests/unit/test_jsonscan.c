/* Unit tests for src/input/jsonscan.c, the decoder's tree-free JSON path. Every
 * case is also given to jansson (jd_json_load_lenient: json_loadb with the
 * decoder's flags, numbers out of jansson's range read as strings), and
 * the scanner must agree with it: same verdict, same top-level type, same
 * values; plain json_loadb must agree too except on such numbers. The expected verdict is written down too, so a change in either
 * side shows up as a named case. The last tests check the decoder's two
 * paths against each other and that the fast one never calls jansson. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>
#include "journeyd/decode.h"
#include "input/jsonscan.h"

/* Expected verdicts. */
enum { OBJ = 0, NOTOBJ, BAD };

typedef struct scase {
    const char *json;
    size_t len;      /* 0: strlen(json) */
    int want;
} scase_t;

static const char *const test_keys[] = {"ts", "type", "price", "k", "", "\xc3\xa9", "a/b"};
#define NKEYS (sizeof(test_keys) / sizeof(test_keys[0]))

typedef struct scanner {
    jd_jsonscan_keys_t *keys;
    int idx[NKEYS];
    jd_jsonscan_val_t vals[NKEYS];
    char *scratch;   /* of the last scan, which vals may point into */
} scanner_t;

static void scanner_init(scanner_t *s)
{
    s->scratch = NULL;
    s->keys = jd_jsonscan_keys_new();
    assert_non_null(s->keys);
    for (size_t i = 0; i < NKEYS; i++) {
        s->idx[i] = jd_jsonscan_keys_add(s->keys, test_keys[i]);
        assert_true(s->idx[i] >= 0);
    }
    /* Adding a key twice gives its first index. */
    assert_int_equal(jd_jsonscan_keys_add(s->keys, "type"), s->idx[1]);
    assert_int_equal(jd_jsonscan_keys_count(s->keys), NKEYS);
}

/* Scans json and compares everything with jansson; returns the rc. */
static jd_jsonscan_rc_t scan_vs_jansson(scanner_t *s, const char *json, size_t len)
{
    free(s->scratch);
    char *scratch = s->scratch = malloc(len + 1);
    assert_non_null(scratch);
    jd_jsonscan_type_t type = JD_JSONSCAN_T_OBJECT;
    jd_jsonscan_rc_t rc = jd_jsonscan(s->keys, json, len, scratch, s->vals, &type);
    json_error_t jerr;
    json_t *root = jd_json_load_lenient(json, len, &jerr);
    json_t *plain = json_loadb(json, len, JSON_DECODE_ANY, &jerr);
    /* The lenient loader parts from jansson only on range overflow. */
    if (!plain && root)
        assert_int_equal(json_error_code(&jerr), json_error_numeric_overflow);
    if (plain && !root)
        fail_msg("%.*s: jansson accepts, the lenient loader rejects", (int)len, json);
    json_decref(plain);
    if (rc == JD_JSONSCAN_UNSURE) {
        json_decref(root);
        return rc;
    }
    if ((rc == JD_JSONSCAN_INVALID) != !root)
        fail_msg("%.*s: scanner says %s, jansson says %s", (int)(len > 200 ? 200 : len), json,
                 rc == JD_JSONSCAN_INVALID ? "invalid" : "valid",
                 root ? "valid" : jerr.text);
    if (root) {
        assert_int_equal(rc == JD_JSONSCAN_OBJECT, json_is_object(root));
        switch (json_typeof(root)) {
        case JSON_OBJECT: assert_int_equal(type, JD_JSONSCAN_T_OBJECT); break;
        case JSON_ARRAY: assert_int_equal(type, JD_JSONSCAN_T_ARRAY); break;
        case JSON_STRING: assert_int_equal(type, JD_JSONSCAN_T_STRING); break;
        case JSON_INTEGER:
        case JSON_REAL: assert_int_equal(type, JD_JSONSCAN_T_NUMBER); break;
        case JSON_TRUE:
        case JSON_FALSE: assert_int_equal(type, JD_JSONSCAN_T_BOOL); break;
        default: assert_int_equal(type, JD_JSONSCAN_T_NULL); break;
        }
    }
    if (rc == JD_JSONSCAN_OBJECT) {
        for (size_t i = 0; i < NKEYS; i++) {
            const jd_jsonscan_val_t *v = &s->vals[s->idx[i]];
            json_t *jv = json_object_get(root, test_keys[i]);
            char buf[JD_JSONSCAN_NUMSZ];
            if (!jv || json_is_null(jv) || json_is_object(jv) || json_is_array(jv)) {
                assert_int_equal(v->kind, JD_JSONSCAN_ABSENT);
                continue;
            }
            if (json_is_string(jv)) {
                assert_int_equal(v->kind, JD_JSONSCAN_STRING);
                assert_int_equal(v->len, json_string_length(jv));
                assert_memory_equal(v->s, json_string_value(jv), v->len);
                continue;
            }
            if (json_is_integer(jv)) {
                assert_int_equal(v->kind, JD_JSONSCAN_INTEGER);
                assert_true(v->i == json_integer_value(jv));
            } else if (json_is_real(jv)) {
                assert_int_equal(v->kind, JD_JSONSCAN_REAL);
                assert_true(memcmp(&v->d, &(double){json_real_value(jv)}, sizeof(double)) == 0);
            } else {
                assert_int_equal(v->kind, JD_JSONSCAN_BOOL);
            }
            int n = jd_json_scalar_str(jv, buf, sizeof(buf));
            assert_true(n > 0);
            assert_int_equal(v->len, (size_t)n);
            assert_memory_equal(v->s, buf, v->len);
        }
    }
    json_decref(root);
    return rc;
}

static void scanner_free(scanner_t *s)
{
    jd_jsonscan_keys_destroy(s->keys);
    free(s->scratch);
}

static void run_cases(const scase_t *cases, size_t n)
{
    scanner_t s;
    scanner_init(&s);
    for (size_t i = 0; i < n; i++) {
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].json);
        jd_jsonscan_rc_t rc = scan_vs_jansson(&s, cases[i].json, len);
        jd_jsonscan_rc_t want = cases[i].want == OBJ      ? JD_JSONSCAN_OBJECT
                                : cases[i].want == NOTOBJ ? JD_JSONSCAN_NOT_OBJECT
                                                          : JD_JSONSCAN_INVALID;
        if (rc != want)
            fail_msg("case %zu %.*s: rc %d, want %d", i, (int)len, cases[i].json, rc, want);
    }
    scanner_free(&s);
}

#define RUN(cases) run_cases(cases, sizeof(cases) / sizeof(cases[0]))

static void test_utf8(void **state)
{
    (void)state;
    static const scase_t cases[] = {
        {"{\"k\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}", 0, OBJ},
        {"{\"k\":\"\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf4\x8f\xbf\xbf\"}", 0, OBJ}, /* edges */
        {"{\"\xc3\xa9\":\"x\"}", 0, OBJ},                    /* non-ASCII key */
        {"{\"k\":\"\x7f\"}", 0, OBJ},                        /* DEL is no control */
        {"{\"k\":\"\xc0\xaf\"}", 0, BAD},                    /* overlong '/' */
        {"{\"k\":\"\xc1\xbf\"}", 0, BAD},
        {"{\"k\":\"\xe0\x80\xaf\"}", 0, BAD},                /* overlong, 3 bytes */
        {"{\"k\":\"\xe0\x9f\xbf\"}", 0, BAD},
        {"{\"k\":\"\xf0\x80\x80\xaf\"}", 0, BAD},            /* overlong, 4 bytes */
        {"{\"k\":\"\xf0\x8f\xbf\xbf\"}", 0, BAD},
        {"{\"k\":\"\xed\xa0\x80\"}", 0, BAD},                /* UTF-8 surrogate */
        {"{\"k\":\"\xed\xbf\xbf\"}", 0, BAD},
        {"{\"k\":\"\xf4\x90\x80\x80\"}", 0, BAD},            /* above U+10FFFF */
        {"{\"k\":\"\xf5\x80\x80\x80\"}", 0, BAD},
        {"{\"k\":\"\xff\"}", 0, BAD},
        {"{\"k\":\"\x80\"}", 0, BAD},                        /* lone continuation */
        {"{\"k\":\"\xc3\"}", 0, BAD},                        /* truncated by the quote */
        {"{\"k\":\"\xe2\x82\"}", 0, BAD},
        {"{\"k\":\"\xc3", 0, BAD},                           /* truncated by the end */
        {"{\"k\":\"\xc3\xa9", 0, BAD},
        {"{\"\xff\":1}", 0, BAD},                            /* in a key */
        {"{\"x\":[\"\xed\xa0\x80\"]}", 0, BAD},              /* in a skipped value */
        {"{\"k\":1}\xc3\xa9", 0, BAD},                       /* outside strings */
        {"\xef\xbb\xbf{}", 0, BAD},                          /* a BOM is no whitespace */
        {"{\"k\":\xc2\xa0 1}", 0, BAD},
    };
    RUN(cases);
}

static void test_escapes(void **state)
{
    (void)state;
    static const scase_t cases[] = {
        {"{\"k\":\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\"}", 0, OBJ},
        {"{\"k\":\"\\u00e9\\u00E9\\u20AC\\u0001\\u001f\\u007f\"}", 0, OBJ},
        {"{\"k\":\"\\ud83d\\ude00\"}", 0, OBJ},              /* surrogate pair */
        {"{\"k\":\"\\uDBFF\\uDFFF\"}", 0, OBJ},
        {"{\"t\\u0079pe\":\"escaped key\"}", 0, OBJ},
        {"{\"\\u00e9\":\"x\"}", 0, OBJ},                     /* escaped non-ASCII key */
        {"{\"a\\/b\":\"x\"}", 0, OBJ},
        {"{\"k\":\"\\a\"}", 0, BAD},
        {"{\"k\":\"\\x41\"}", 0, BAD},
        {"{\"k\":\"\\U00e9\"}", 0, BAD},
        {"{\"k\":\"\\u00g9\"}", 0, BAD},
        {"{\"k\":\"\\u00e\"}", 0, BAD},                      /* short */
        {"{\"k\":\"\\u00e", 0, BAD},
        {"{\"k\":\"\\", 0, BAD},
        {"{\"k\":\"\\ud83d\"}", 0, BAD},                     /* lone high */
        {"{\"k\":\"\\ud83dx\"}", 0, BAD},
        {"{\"k\":\"\\ud83d\\n\"}", 0, BAD},
        {"{\"k\":\"\\ud83d\\u0041\"}", 0, BAD},              /* high + non-low */
        {"{\"k\":\"\\ud83d\\ud83d\"}", 0, BAD},
        {"{\"k\":\"\\ude00\"}", 0, BAD},                     /* lone low */
        {"{\"k\":\"\\ude00\\ud83d\"}", 0, BAD},              /* reversed */
        {"{\"k\":\"\\u0000\"}", 0, BAD},                     /* NUL in a value */
        {"{\"k\\u0000\":1}", 0, BAD},                        /* NUL in a key */
        {"{\"x\":[\"a\\u0000\"]}", 0, BAD},                  /* in a skipped value */
        {"\"\\u0000\"", 0, BAD},
        {"\"\\ud83d\\ude00\"", 0, NOTOBJ},
    };
    RUN(cases);
}

static void test_control_characters(void **state)
{
    (void)state;
    static const scase_t cases[] = {
        {"{\"k\":\"a\nb\"}", 0, BAD},
        {"{\"k\":\"a\tb\"}", 0, BAD},
        {"{\"k\":\"a\rb\"}", 0, BAD},
        {"{\"k\":\"\x01\"}", 0, BAD},
        {"{\"k\":\"\x1f\"}", 0, BAD},
        {"{\"k\":\"a\0b\"}", 10, BAD},
        {"{\"k\x01\":1}", 0, BAD},
        {"{\"k\":\" \"}", 0, OBJ},
    };
    RUN(cases);
}

static void test_numbers(void **state)
{
    (void)state;
    static const scase_t cases[] = {
        {"{\"k\":0,\"ts\":-0,\"price\":-0.0,\"type\":0e5}", 0, OBJ},
        {"{\"k\":1.5,\"ts\":1e5,\"price\":1E+5,\"type\":-1e-5}", 0, OBJ},
        {"{\"k\":100.0,\"ts\":1e15,\"price\":999999999999999.0,\"type\":1e300}", 0, OBJ},
        {"{\"k\":0.1,\"ts\":35.79,\"price\":1e-7,\"type\":-123456.789e3}", 0, OBJ},
        {"{\"k\":9223372036854775807,\"ts\":-9223372036854775808}", 0, OBJ},
        /* Out of jansson's range: valid, a wanted one is its text. */
        {"{\"k\":9223372036854775808}", 0, OBJ},
        {"{\"k\":-9223372036854775809}", 0, OBJ},
        {"{\"k\":99999999999999999999}", 0, OBJ},
        {"{\"x\":[12345678901234567890,{\"y\":-1e400}],\"ts\":1e400}", 0, OBJ},
        {"{\"k\":12345678901234567890\0}", 27, OBJ},       /* NUL after it: gone */
        {"{12345678901234567890:1}", 0, BAD},                /* no key, quoted or not */
        {"[1e400 x]", 0, BAD},
        {"7-92233720368547758090", 0, BAD},                  /* found by the fuzzer */
        {"[7-1e400]", 0, BAD},
        {"{\"k\":1e400,}", 0, BAD},
        {"99999999999999999999", 0, NOTOBJ},
        {"{\"k\":9223372036854775808.0}", 0, OBJ},          /* as a real it fits */
        {"{\"k\":1.7976931348623157e308,\"ts\":-1.7976931348623157e308}", 0, OBJ},
        {"{\"k\":1e308,\"ts\":1.79769313486231580e308}", 0, OBJ},
        {"{\"k\":1e309}", 0, OBJ},                          /* real number overflow */
        {"{\"k\":-1e309}", 0, OBJ},
        {"{\"k\":1.8e308}", 0, OBJ},
        {"{\"x\":1.8e308}", 0, OBJ},
        {"{\"x\":[0.0000018e314]}", 0, OBJ},
        {"{\"x\":0.0000017e314}", 0, OBJ},
        {"{\"x\":1e99999999999999999999}", 0, OBJ},
        {"{\"x\":1e-99999999999999999999,\"k\":1e-400}", 0, OBJ}, /* underflow is fine */
        {"{\"x\":0e99999999999999999999,\"k\":0.000e400}", 0, OBJ},
        {"{\"k\":01}", 0, BAD},
        {"{\"k\":-01}", 0, BAD},
        {"{\"k\":00}", 0, BAD},
        {"{\"k\":1.}", 0, BAD},
        {"{\"k\":.5}", 0, BAD},
        {"{\"k\":-}", 0, BAD},
        {"{\"k\":-a}", 0, BAD},
        {"{\"k\":+1}", 0, BAD},
        {"{\"k\":1e}", 0, BAD},
        {"{\"k\":1e+}", 0, BAD},
        {"{\"k\":1e+-1}", 0, BAD},
        {"{\"k\":1.5.2}", 0, BAD},
        {"{\"k\":0x10}", 0, BAD},
        {"{\"k\":1_000}", 0, BAD},
        {"{\"k\":NaN}", 0, BAD},
        {"{\"k\":Infinity}", 0, BAD},
        {"{\"k\":-Infinity}", 0, BAD},
        {"-0", 0, NOTOBJ},
        {"12.5e-3", 0, NOTOBJ},
        {"1 2", 0, BAD},
    };
    RUN(cases);
}

/* Numbers longer than the scanner's stack buffer: an unwanted one needs
 * only its grammar, a wanted integer is judged by its digits, and only a
 * wanted long real is left to jansson (UNSURE). */
static void test_long_numbers(void **state)
{
    (void)state;
    scanner_t s;
    scanner_init(&s);
    char buf[1024];
    /* 300-digit integer: out of range, valid. */
    int n = snprintf(buf, sizeof(buf), "{\"x\":1%0300d}", 0);
    assert_int_equal(scan_vs_jansson(&s, buf, (size_t)n), JD_JSONSCAN_OBJECT);
    /* Wanted, it is its text. */
    n = snprintf(buf, sizeof(buf), "{\"k\":-1%0300d}", 0);
    assert_int_equal(scan_vs_jansson(&s, buf, (size_t)n), JD_JSONSCAN_OBJECT);
    assert_int_equal(s.vals[s.idx[3]].kind, JD_JSONSCAN_STRING);
    assert_int_equal(s.vals[s.idx[3]].len, 302);
    /* 1.000...: long but small. */
    n = snprintf(buf, sizeof(buf), "{\"x\":1.%0300d1}", 0);
    assert_int_equal(scan_vs_jansson(&s, buf, (size_t)n), JD_JSONSCAN_OBJECT);
    /* 0.000...1e300: tiny mantissa, so no overflow despite the exponent. */
    n = snprintf(buf, sizeof(buf), "{\"x\":0.%0300d1e300}", 0);
    assert_int_equal(scan_vs_jansson(&s, buf, (size_t)n), JD_JSONSCAN_OBJECT);
    /* 310 digits before the point: overflows, valid all the same. */
    n = snprintf(buf, sizeof(buf), "{\"x\":1%0310d.5}", 0);
    assert_int_equal(scan_vs_jansson(&s, buf, (size_t)n), JD_JSONSCAN_OBJECT);
    /* A wanted long real needs its value: UNSURE, and the lenient loader
     * reads it, overflowing or not. */
    n = snprintf(buf, sizeof(buf), "{\"k\":1.%0200d1}", 0);
    assert_int_equal(scan_vs_jansson(&s, buf, (size_t)n), JD_JSONSCAN_UNSURE);
    n = snprintf(buf, sizeof(buf), "{\"k\":1%0400d.5}", 0);
    assert_int_equal(scan_vs_jansson(&s, buf, (size_t)n), JD_JSONSCAN_UNSURE);
    json_error_t jerr;
    json_t *j = jd_json_load_lenient(buf, (size_t)n, &jerr);
    assert_non_null(j);
    assert_true(json_is_string(json_object_get(j, "k")));
    assert_int_equal(json_string_length(json_object_get(j, "k")), (size_t)n - 6);
    json_decref(j);
    scanner_free(&s);
}

/* Where text with an out-of-range number is invalid for another reason,
 * the error is jansson's for that reason, at its true position: the same
 * as jansson's on a twin text whose numbers are in range. */
static void test_lenient_errors(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"{\"a\":12345678901234567890,\"b\":tru}", "{\"a\":1234567890123456.789,\"b\":tru}"},
        {"{\"a\":1e400 \"b\":1}", "{\"a\":1e100 \"b\":1}"},
        {"[1e400,\"\xc3\xa9\",1e400,", "[1e100,\"\xc3\xa9\",1e100,"},
        {"{\"a\":\"s\"}\n[99999999999999999999]", "{\"a\":\"s\"}\n[99999999999999999.99]"},
        {"{\"a\":\n-1e999\n}x", "{\"a\":\n-1e299\n}x"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_error_t got, want;
        json_t *j = jd_json_load_lenient(cases[i][0], strlen(cases[i][0]), &got);
        assert_null(j);
        assert_null(json_loadb(cases[i][1], strlen(cases[i][1]), JSON_DECODE_ANY, &want));
        if (strcmp(got.text, want.text) || got.line != want.line ||
            got.column != want.column || got.position != want.position)
            fail_msg("%s: \"%s\" at %d:%d (%d), want \"%s\" at %d:%d (%d)", cases[i][0],
                     got.text, got.line, got.column, got.position, want.text, want.line,
                     want.column, want.position);
    }
}

/* jansson reads one byte past a number or literal and pushes it back; a
 * pushed-back NUL is lost, so these are valid. Any other NUL is not. */
static void test_nul_bytes(void **state)
{
    (void)state;
    static const scase_t cases[] = {
        {"1\0", 2, NOTOBJ},
        {"1\0 ", 3, NOTOBJ},
        {"true\0", 5, NOTOBJ},
        {"[1.5\0]", 6, NOTOBJ},
        {"[null\0,false\0]", 14, NOTOBJ},
        {"{\"k\":1\0}", 8, OBJ},
        {"{\"k\":-2e3\0,\"ts\":true\0}", 22, OBJ},
        {"1\0\0", 3, BAD},
        {"1 \0", 3, BAD},
        {"\0", 1, BAD},
        {"\0{}", 3, BAD},
        {"{\"k\":\"x\"\0}", 10, BAD},
        {"{\"k\":1}\0", 8, BAD},
        {"{\0\"k\":1}", 8, BAD},
        {"{\"k\":nul\0l}", 11, BAD},
    };
    RUN(cases);
}

static void test_depth(void **state)
{
    (void)state;
    scanner_t s;
    scanner_init(&s);
    size_t cap = 6 * JSON_PARSER_MAX_DEPTH + 64;
    char *buf = malloc(cap);
    assert_non_null(buf);
    /* d nested arrays, optionally around a scalar, optionally inside an
     * object member (which adds one level). */
    for (int inobj = 0; inobj < 2; inobj++) {
        for (int scalar = 0; scalar < 2; scalar++) {
            for (int d = JSON_PARSER_MAX_DEPTH - 2; d <= JSON_PARSER_MAX_DEPTH + 1; d++) {
                size_t n = 0;
                if (inobj)
                    n += (size_t)sprintf(buf, "{\"x\":");
                for (int i = 0; i < d; i++)
                    buf[n++] = '[';
                if (scalar)
                    buf[n++] = '1';
                for (int i = 0; i < d; i++)
                    buf[n++] = ']';
                if (inobj)
                    buf[n++] = '}';
                int depth = d + inobj + scalar; /* of the deepest value */
                jd_jsonscan_rc_t want = depth > JSON_PARSER_MAX_DEPTH ? JD_JSONSCAN_INVALID
                                        : inobj ? JD_JSONSCAN_OBJECT
                                                : JD_JSONSCAN_NOT_OBJECT;
                assert_int_equal(scan_vs_jansson(&s, buf, n), want);
            }
        }
    }
    /* Objects nest the same way. */
    size_t n = 0;
    for (int i = 0; i < JSON_PARSER_MAX_DEPTH; i++)
        n += (size_t)sprintf(buf + n, "{\"a\":");
    buf[n++] = '1';
    for (int i = 0; i < JSON_PARSER_MAX_DEPTH; i++)
        buf[n++] = '}';
    assert_int_equal(scan_vs_jansson(&s, buf, n), JD_JSONSCAN_INVALID);
    free(buf);
    scanner_free(&s);
}

static void test_structure(void **state)
{
    (void)state;
    static const scase_t cases[] = {
        {"{}", 0, OBJ},
        {" \t\r\n{ \t\r\n\"k\" \t\r\n: \t\r\n1 \t\r\n, \"ts\" : [ ] , \"x\":{ } } \t\r\n", 0, OBJ},
        {"{\"x\":[1,\"a\",{\"b\":[true,false,null]},[],{}],\"k\":\"v\"}", 0, OBJ},
        {"", 0, BAD},
        {" \n", 0, BAD},
        {"{", 0, BAD},
        {"}", 0, BAD},
        {"{\"k\"}", 0, BAD},
        {"{\"k\":}", 0, BAD},
        {"{\"k\":1,}", 0, BAD},
        {"{,}", 0, BAD},
        {"{\"k\":1 \"ts\":2}", 0, BAD},
        {"{\"k\" 1}", 0, BAD},
        {"{'k':1}", 0, BAD},
        {"{k:1}", 0, BAD},
        {"{1:1}", 0, BAD},
        {"{\"k\":1]", 0, BAD},
        {"{\"x\":[1,]}", 0, BAD},
        {"{\"x\":[,1]}", 0, BAD},
        {"{\"x\":[1 2]}", 0, BAD},
        {"{\"x\":[1}", 0, BAD},
        {"{\"x\":{\"a\":1]}", 0, BAD},
        {"{\"x\":{\"a\"}}", 0, BAD},
        {"{\"x\":{,}}", 0, BAD},
        {"{\"k\":\"abc}", 0, BAD},
        {"{}x", 0, BAD},
        {"{} {}", 0, BAD},
        {"{},", 0, BAD},
        {"{}\f", 0, BAD},                                  /* only " \t\n\r" */
        {"\v{}", 0, BAD},
        {"{\"k\":tru}", 0, BAD},
        {"{\"k\":truex}", 0, BAD},
        {"{\"k\":True}", 0, BAD},
        {"{\"k\":nul}", 0, BAD},
        {"{\"k\":nulll}", 0, BAD},
        {"{\"k\":true1}", 0, BAD},
        {"{\"x\":fals}", 0, BAD},
        {"[]", 0, NOTOBJ},
        {" [1, {\"a\": 2}] ", 0, NOTOBJ},
        {"\"s\"", 0, NOTOBJ},
        {"true", 0, NOTOBJ},
        {"false", 0, NOTOBJ},
        {"null", 0, NOTOBJ},
        {"[", 0, BAD},
        {"[1,", 0, BAD},
        {"\"abc", 0, BAD},
    };
    RUN(cases);
}

/* Last value wins, null included; unwanted duplicates are fine. */
static void test_duplicates_and_values(void **state)
{
    (void)state;
    static const scase_t cases[] = {
        {"{\"type\":\"a\",\"type\":\"b\"}", 0, OBJ},
        {"{\"type\":\"a\",\"type\":null}", 0, OBJ},
        {"{\"type\":1,\"type\":\"x\\ny\",\"type\":2.5}", 0, OBJ},
        {"{\"type\":\"a\\tb\",\"k\":\"c\\u00e9\",\"type\":\"d\\\"e\",\"k\":{\"k\":1}}", 0, OBJ},
        {"{\"t\\u0079pe\":\"x\",\"type\":\"y\",\"typ\\u0065\":\"z\"}", 0, OBJ},
        {"{\"\":\"empty key\",\"a\\/b\":\"slash\",\"\\u00e9\":true}", 0, OBJ},
        {"{\"x\":1,\"x\":2,\"k\":false}", 0, OBJ},
        {"{\"type\":\"\",\"ts\":\"\",\"price\":[]}", 0, OBJ},
    };
    RUN(cases);
    /* The exact values, beyond agreeing with jansson. */
    scanner_t s;
    scanner_init(&s);
    const char *j = "{\"type\":\"a\",\"t\\u0079pe\":\"c\\u00e9\\ud83d\\ude00\",\"price\":-0.0,"
                    "\"ts\":1e15,\"k\":123,\"k\":null,\"\":2.50}";
    assert_int_equal(scan_vs_jansson(&s, j, strlen(j)), JD_JSONSCAN_OBJECT);
    const jd_jsonscan_val_t *v = &s.vals[s.idx[1]];
    assert_int_equal(v->kind, JD_JSONSCAN_STRING);
    assert_int_equal(v->len, 7);
    assert_memory_equal(v->s, "c\xc3\xa9\xf0\x9f\x98\x80", 7);
    v = &s.vals[s.idx[2]];
    assert_int_equal(v->kind, JD_JSONSCAN_REAL);
    assert_string_equal(v->s, "0");
    v = &s.vals[s.idx[0]];
    assert_string_equal(v->s, "1e+15");
    assert_int_equal(s.vals[s.idx[3]].kind, JD_JSONSCAN_ABSENT);
    assert_string_equal(s.vals[s.idx[4]].s, "2.5");
    scanner_free(&s);
}

/* ------------------------------------------------------------------ */
/* The decoder's two paths                                            */
/* ------------------------------------------------------------------ */

typedef struct pconf {
    jd_config_t c;
    jd_slot_t slots[8];
} pconf_t;

/* ptr: spell every source as a JSON Pointer, which forces the jansson path. */
static void pconf_init(pconf_t *p, int ptr)
{
    static const char *const keys[JD_FIELD__COUNT] = {
        "ts", "customer_id", "anonymous_id", "type", "channel",
        "event_id", "session_id", "page", "element"};
    static const char *const ptrs[JD_FIELD__COUNT] = {
        "/ts", "/customer_id", "/anonymous_id", "/type", "/channel",
        "/event_id", "/session_id", "/page", "/element"};
    static const int canon[JD_SLOT__CANON] = {
        JD_FIELD_TYPE, JD_FIELD_CHANNEL, JD_FIELD_SESSION_ID, JD_FIELD_PAGE, JD_FIELD_ELEMENT};
    memset(p, 0, sizeof(*p));
    p->c.intern = jd_intern_new();
    assert_non_null(p->c.intern);
    for (int f = 0; f < JD_FIELD__COUNT; f++)
        p->c.fields[f] = (char *)(ptr ? ptrs[f] : keys[f]);
    p->c.defaults[JD_FIELD_CHANNEL] = (char *)"unknown";
    p->c.time_format.kind = JD_TIME_AUTO;
    for (int i = 0; i < JD_SLOT__CANON; i++) {
        p->slots[i].name = keys[canon[i]];
        p->slots[i].source = p->c.fields[canon[i]];
        p->slots[i].field = canon[i];
    }
    p->slots[JD_SLOT__CANON].name = "a/b";
    p->slots[JD_SLOT__CANON].source = ptr ? "/a~1b" : "a/b";
    p->slots[JD_SLOT__CANON].field = -1;
    p->slots[JD_SLOT__CANON + 1].name = "price";
    p->slots[JD_SLOT__CANON + 1].source = ptr ? "/price" : "price";
    p->slots[JD_SLOT__CANON + 1].field = -1;
    p->c.slots = p->slots;
    p->c.nslots = JD_SLOT__CANON + 2;
}

static int str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static size_t jansson_allocs;
static void *count_malloc(size_t n)
{
    jansson_allocs++;
    return malloc(n);
}

static void test_fast_path_matches_jansson_path(void **state)
{
    (void)state;
    static const char *const inputs[] = {
        "{\"ts\":\"2026-11-22T10:00:00Z\",\"customer_id\":\"c-1\",\"type\":\"click\","
        "\"channel\":\"web\",\"event_id\":\"e-1\",\"session_id\":\"s\",\"page\":\"/p\","
        "\"element\":\"#b\",\"a/b\":\"x\",\"price\":35.79}",
        "{\"ts\":1795341600000,\"customer_id\":541312140,\"type\":404,\"price\":1e3}",
        "{\"ts\":1795341600000.5,\"anonymous_id\":true,\"type\":false,\"channel\":null}",
        "{\"ts\":\"2026-11-22T10:00:00Z\",\"anonymous_id\":\"a\",\"type\":\"t\",\"type\":\"u\"}",
        "{\"t\\u0073\":\"2026-11-22T10:00:00Z\",\"customer_id\":\"\\u00e9\\n\",\"type\":\"x\"}",
        "{\"ts\":\"2026-11-22T10:00:00Z\",\"customer_id\":\"\",\"anonymous_id\":{},\"type\":\"t\"}",
        "{\"ts\":\"yesterday\",\"customer_id\":\"c\",\"type\":\"t\"}",
        "{\"ts\":-1e300,\"customer_id\":\"c\",\"type\":\"t\"}",
        "{\"ts\":\"2026-11-22T10:00:00Z\",\"customer_id\":\"c\",\"type\":\"\"}",
        "{\"ts\":\"2026-11-22T10:00:00Z\",\"type\":\"t\"}",
        "{\"ts\":null,\"customer_id\":\"c\",\"type\":\"t\"}",
        "{\"ts\":\"2026-11-22T10:00:00Z\",\"customer_id\":\"c\",\"type\":\"t\",}",
        "{\"ts\":\"2026-11-22T10:00:00Z\",\n\"customer_id\":\"c\\ud800\",\"type\":\"t\"}",
        "{\"ts\":1e999,\"customer_id\":\"c\",\"type\":\"t\"}",
        "[1,2]", "\"str\"", "12", "true", "null", "", "{", "{}",
    };
    pconf_t pc[2];
    jd_decoder_t *d[2];
    for (int k = 0; k < 2; k++) {
        pconf_init(&pc[k], k);
        jd_err_t err;
        d[k] = jd_decoder_new(&pc[k].c, &err);
        assert_non_null(d[k]);
    }
    json_set_alloc_funcs(count_malloc, free);
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        jd_event_t *ev[2];
        char detail[2][256];
        jd_dl_reason_t r[2];
        size_t allocs[2];
        for (int k = 0; k < 2; k++) {
            jansson_allocs = 0;
            r[k] = jd_decode_json(d[k], inputs[i], strlen(inputs[i]), &ev[k], detail[k],
                                  sizeof(detail[k]));
            allocs[k] = jansson_allocs;
        }
        if (r[0] != r[1])
            fail_msg("%s: reason %s vs %s", inputs[i], jd_dl_reason_name(r[0]),
                     jd_dl_reason_name(r[1]));
        /* Details name the field as configured ("ts" vs "/ts"); otherwise
         * (jansson's syntax errors, ts values) they are the same text. */
        if (!strstr(detail[1], "field \"/"))
            assert_string_equal(detail[0], detail[1]);
        /* The fast path calls jansson only for text it rejects. */
        if (r[0] != JD_DL_INVALID_JSON)
            assert_int_equal(allocs[0], 0);
        assert_true(allocs[1] > 0);
        assert_int_equal(!ev[0], !ev[1]);
        if (ev[0]) {
            assert_true(ev[0]->ts == ev[1]->ts);
            assert_true(str_eq(ev[0]->customer_id, ev[1]->customer_id));
            assert_true(str_eq(ev[0]->anonymous_id, ev[1]->anonymous_id));
            assert_true(str_eq(ev[0]->event_id, ev[1]->event_id));
            for (uint32_t s = 0; s < ev[0]->nslots; s++)
                if (!str_eq(ev[0]->slot[s], ev[1]->slot[s]))
                    fail_msg("%s: slot %u \"%s\" vs \"%s\"", inputs[i], s,
                             ev[0]->slot[s] ? ev[0]->slot[s] : "(null)",
                             ev[1]->slot[s] ? ev[1]->slot[s] : "(null)");
        }
        jd_event_free(ev[0]);
        jd_event_free(ev[1]);
    }
    json_set_alloc_funcs(malloc, free);
    for (int k = 0; k < 2; k++) {
        jd_decoder_destroy(d[k]);
        jd_intern_destroy(pc[k].c.intern);
    }
}

/* The scratch buffer grows with the record; a long escaped value survives. */
static void test_large_record(void **state)
{
    (void)state;
    pconf_t pc;
    pconf_init(&pc, 0);
    jd_err_t err;
    jd_decoder_t *d = jd_decoder_new(&pc.c, &err);
    assert_non_null(d);
    size_t n = 100000;
    char *buf = malloc(n + 200);
    assert_non_null(buf);
    size_t o = (size_t)sprintf(buf, "{\"ts\":\"2026-11-22T10:00:00Z\",\"customer_id\":\"c\","
                                    "\"type\":\"");
    for (size_t i = 0; i < n / 2; i++) {
        buf[o++] = '\\';
        buf[o++] = 't';
    }
    o += (size_t)sprintf(buf + o, "\"}");
    jd_event_t *ev = NULL;
    char detail[256];
    assert_int_equal(jd_decode_json(d, buf, o, &ev, detail, sizeof(detail)), JD_DL_NONE);
    assert_non_null(ev);
    assert_int_equal(strlen(ev->slot[JD_SLOT_TYPE]), n / 2);
    assert_int_equal(ev->slot[JD_SLOT_TYPE][n / 2 - 1], '\t');
    jd_event_free(ev);
    free(buf);
    jd_decoder_destroy(d);
    jd_intern_destroy(pc.c.intern);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_control_characters),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_long_numbers),
        cmocka_unit_test(test_lenient_errors),
        cmocka_unit_test(test_nul_bytes),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_structure),
        cmocka_unit_test(test_duplicates_and_values),
        cmocka_unit_test(test_fast_path_matches_jansson_path),
        cmocka_unit_test(test_large_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
