/* Rule language, second edition (contract section 5a): filter operators,
 * ignore, and the absence, pattern and score kinds at their boundaries,
 * across identity stitching and the changelog. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "journeyd/config.h"
#include "journeyd/decode.h"
#include "journeyd/engine.h"
#include "journeyd/intern.h"

#define MAX_ALERTS 64
#define T0 1795341600000LL /* 2026-11-22T10:00:00Z */

typedef struct sink {
    char *alerts[MAX_ALERTS];
    int n;
} sink_t;

static void sink_alert(void *opaque, const char *key, size_t keylen,
                       const char *json, size_t len, int64_t ts)
{
    sink_t *s = opaque;
    (void)key; (void)keylen; (void)ts;
    if (s->n < MAX_ALERTS)
        s->alerts[s->n++] = strndup(json, len);
}

typedef struct fixture {
    jd_config_t *conf;
    jd_decoder_t *dec;
    jd_engine_t *eng;
    sink_t sink;
} fixture_t;

static jd_config_t *load_text(const char *text)
{
    char path[] = "/tmp/jd-test-5a-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    jd_err_t err;
    jd_config_t *c = jd_config_load(path, NULL, 0, &err);
    unlink(path);
    if (!c)
        fail_msg("config: %s", err.msg);
    return c;
}

/* A config error for text, or "" when it loads. */
static const char *load_error(const char *text, char *buf, size_t bufsz)
{
    char path[] = "/tmp/jd-test-5a-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    jd_err_t err;
    jd_config_t *c = jd_config_load(path, NULL, 0, &err);
    unlink(path);
    snprintf(buf, bufsz, "%s", c ? "" : err.msg);
    jd_config_destroy(c);
    return buf;
}

static void fx_engine(fixture_t *fx, int track)
{
    jd_err_t err;
    jd_engine_opts_t o = {.on_alert = sink_alert, .opaque = &fx->sink, .auto_watermark = 1,
                          .fixed_emitted_at = T0, .track_changes = track};
    fx->eng = jd_engine_new(fx->conf, &o, &err);
    assert_non_null(fx->eng);
}

static void fx_open(fixture_t *fx, const char *cfg, int track)
{
    memset(fx, 0, sizeof(*fx));
    jd_err_t err;
    fx->conf = load_text(cfg);
    fx->dec = jd_decoder_new(fx->conf, &err);
    assert_non_null(fx->dec);
    fx_engine(fx, track);
}

static void fx_close(fixture_t *fx)
{
    for (int i = 0; i < fx->sink.n; i++)
        free(fx->sink.alerts[i]);
    jd_engine_destroy(fx->eng);
    jd_decoder_destroy(fx->dec);
    /* Every interner reference was given back (events, rule states,
     * restores): only the pinned strings outlive a sweep. */
    jd_intern_sweep(fx->conf->intern);
    assert_int_equal(jd_intern_count(fx->conf->intern), jd_intern_pinned(fx->conf->intern));
    jd_config_destroy(fx->conf);
}

/* Pushes {"ts": T0 + ms, <body>}. */
static void ev(fixture_t *fx, int64_t ms, const char *body)
{
    char buf[1024];
    snprintf(buf, sizeof(buf), "{\"ts\":%lld,%s}", (long long)(T0 + ms), body);
    jd_event_t *e = NULL;
    char detail[256];
    if (jd_decode_json(fx->dec, buf, strlen(buf), &e, detail, sizeof(detail)) != JD_DL_NONE)
        fail_msg("decode %s: %s", buf, detail);
    jd_engine_push(fx->eng, e);
    /* Unreferenced strings go at once: a value a rule state kept without
     * its reference is freed here, and reading it later is caught by ASan
     * and valgrind (and a reused address would compare equal). */
    jd_intern_sweep(fx->conf->intern);
}

/* "rule identity ts [event ids] score" of alert i, for assertions. */
static const char *summary(const fixture_t *fx, int i, char *buf, size_t bufsz)
{
    json_t *o = json_loads(fx->sink.alerts[i], 0, NULL);
    assert_non_null(o);
    json_t *evd = json_object_get(o, "evidence");
    const char *id = json_string_value(json_object_get(o, "customer_id"));
    int off = snprintf(buf, bufsz, "%s %s %s [", json_string_value(json_object_get(o, "rule")),
                       id ? id : json_string_value(json_object_get(o, "anonymous_id")),
                       json_string_value(json_object_get(o, "ts")) + 11);
    json_t *ids = json_object_get(evd, "event_ids"), *x;
    size_t k;
    json_array_foreach(ids, k, x)
        off += snprintf(buf + off, bufsz - off, "%s%s", k ? "," : "", json_string_value(x));
    json_t *first = json_object_get(evd, "first");
    json_array_foreach(first, k, x)
        off += snprintf(buf + off, bufsz - off, "%s", k || json_array_size(ids) ? ",+" : "+");
    off += snprintf(buf + off, bufsz - off, "]");
    if (json_object_get(evd, "score"))
        snprintf(buf + off, bufsz - off, " %.3f", json_number_value(json_object_get(evd, "score")));
    json_decref(o);
    return buf;
}

#define ASSERT_ALERT(fx, i, want) do { char b_[512]; \
    assert_string_equal(summary((fx), (i), b_, sizeof(b_)), (want)); } while (0)

/* ------------------------------------------------------------------ */

static void test_filter_operators(void **st)
{
    (void)st;
    fixture_t fx;
    fx_open(&fx,
        "{\"rules\":["
        "{\"name\":\"not_a\",\"kind\":\"burst\",\"match\":{\"type\":\"x\",\"page\":{\"not\":\"/a\"}},\"count\":1,\"within\":\"1s\"},"
        "{\"name\":\"prefix\",\"kind\":\"burst\",\"match\":{\"page\":{\"prefix\":\"/checkout\"}},\"count\":1,\"within\":\"1s\"},"
        "{\"name\":\"gte4\",\"kind\":\"burst\",\"match\":{\"csat\":{\"gte\":4}},\"count\":1,\"within\":\"1s\"},"
        "{\"name\":\"lt2\",\"kind\":\"burst\",\"match\":{\"csat\":{\"lt\":\"2\"}},\"count\":1,\"within\":\"1s\"},"
        "{\"name\":\"no_csat\",\"kind\":\"burst\",\"match\":{\"type\":\"y\",\"csat\":{\"exists\":false}},\"count\":1,\"within\":\"1s\"},"
        "{\"name\":\"one_or_big\",\"kind\":\"burst\",\"match\":{\"csat\":[1,{\"gt\":9}]},\"count\":1,\"within\":\"1s\"},"
        "{\"name\":\"ign\",\"kind\":\"burst\",\"match\":{\"type\":\"x\"},\"ignore\":{\"page\":[\"/skip\",{\"prefix\":\"/tmp\"}]},\"count\":1,\"within\":\"1s\"}"
        "]}", 0);
    ev(&fx, 0, "\"customer_id\":\"a\",\"type\":\"x\",\"page\":\"/a\"");            /* ign */
    ev(&fx, 1, "\"customer_id\":\"b\",\"type\":\"x\"");                            /* not_a (absent), ign */
    ev(&fx, 2, "\"customer_id\":\"c\",\"type\":\"x\",\"page\":\"/checkout/2\",\"csat\":4"); /* not_a, prefix, gte4, ign */
    ev(&fx, 3, "\"customer_id\":\"d\",\"type\":\"y\",\"page\":\"/check\",\"csat\":\"1.5\""); /* lt2 */
    ev(&fx, 4, "\"customer_id\":\"e\",\"type\":\"y\"");                            /* no_csat */
    ev(&fx, 5, "\"customer_id\":\"f\",\"type\":\"y\",\"csat\":1");                 /* lt2, one_or_big */
    ev(&fx, 6, "\"customer_id\":\"g\",\"type\":\"y\",\"csat\":\"10\"");            /* gte4, one_or_big */
    ev(&fx, 7, "\"customer_id\":\"h\",\"type\":\"y\",\"csat\":\"ten\"");           /* none */
    ev(&fx, 8, "\"customer_id\":\"i\",\"type\":\"x\",\"page\":\"/tmp/1\"");        /* not_a */
    ev(&fx, 9, "\"customer_id\":\"j\",\"type\":\"x\",\"page\":\"/skip\"");         /* not_a */
    jd_engine_finish(fx.eng, 0);
    const char *want[] = {
        "ign a 10:00:00.000Z [] ", "not_a b", "ign b", "not_a c", "prefix c", "gte4 c", "ign c",
        "lt2 d", "no_csat e", "lt2 f", "one_or_big f", "gte4 g", "one_or_big g", "not_a i",
        "not_a j",
    };
    size_t n = sizeof(want) / sizeof(want[0]);
    assert_int_equal(fx.sink.n, (int)n);
    for (size_t i = 0; i < n; i++) {
        char b[512], w[64];
        summary(&fx, (int)i, b, sizeof(b));
        snprintf(w, sizeof(w), "%s", want[i]);
        /* compare "rule identity" */
        char *sp = strchr(b, ' ');
        sp = strchr(sp + 1, ' ');
        *sp = '\0';
        char *wsp = strchr(w, ' ');
        wsp = strchr(wsp + 1, ' ');
        if (wsp)
            *wsp = '\0';
        assert_string_equal(b, w);
    }
    fx_close(&fx);
}

static void test_filter_config_errors(void **st)
{
    (void)st;
    char b[512];
    assert_non_null(strstr(load_error("{\"rules\":[{\"name\":\"r\",\"kind\":\"burst\",\"match\":"
        "{\"page\":{\"var\":\"p\"}},\"count\":1,\"within\":\"1s\"}]}", b, sizeof(b)),
        "rules[0].match.page.var: variables are only allowed in pattern steps"));
    assert_non_null(strstr(load_error("{\"rules\":[{\"name\":\"r\",\"kind\":\"pattern\",\"steps\":["
        "{\"match\":{\"page\":{\"var\":\"p\"}},\"bind\":{\"p\":\"page\"}},{\"match\":{}}]}]}", b, sizeof(b)),
        "variable \"p\" is not bound by an earlier step"));
    assert_non_null(strstr(load_error("{\"rules\":[{\"name\":\"r\",\"kind\":\"burst\",\"match\":"
        "{\"csat\":{\"gte\":\"four\"}},\"count\":1,\"within\":\"1s\"}]}", b, sizeof(b)),
        "rules[0].match.csat.gte: expected a number"));
    assert_non_null(strstr(load_error("{\"rules\":[{\"name\":\"r\",\"kind\":\"score\",\"contributions\":"
        "[{\"alert\":[\"r\"],\"points\":1}],\"half_life\":\"1m\",\"threshold\":3}]}", b, sizeof(b)),
        "a score cannot follow its own alerts"));
    assert_string_equal(load_error("{\"rules\":[{\"name\":\"r\",\"kind\":\"absence\",\"start\":{\"type\":\"a\"},"
        "\"expect\":{\"type\":{\"not\":[\"a\",{\"prefix\":\"z\"}]}},\"within\":\"1s\",\"same\":[\"session_id\"]}]}",
        b, sizeof(b)), "");
}

/* ------------------------------------------------------------------ */

static const char *dead_click_cfg =
    "{\"rules\":[{\"name\":\"dead_click\",\"kind\":\"absence\",\"start\":{\"type\":\"click\"},"
    "\"expect\":{\"type\":[\"page_view\",\"dom_change\",\"network_response\"]},"
    "\"within\":\"2500ms\",\"same\":[\"session_id\"]}]}";

#define CLICK(id, s) "\"customer_id\":\"" id "\",\"type\":\"click\",\"session_id\":\"" s "\",\"event_id\":"

static void test_absence_boundaries(void **st)
{
    (void)st;
    fixture_t fx;
    fx_open(&fx, dead_click_cfg, 0);
    /* a: a response at exactly 2.5 s closes the window */
    ev(&fx, 0, CLICK("a", "s") "\"a1\"");
    ev(&fx, 2500, "\"customer_id\":\"a\",\"type\":\"dom_change\",\"session_id\":\"s\"");
    /* b: 1 ms later is too late; the other session's response never counts */
    ev(&fx, 0, CLICK("b", "s") "\"b1\"");
    ev(&fx, 100, "\"customer_id\":\"b\",\"type\":\"page_view\",\"session_id\":\"other\"");
    ev(&fx, 2501, "\"customer_id\":\"b\",\"type\":\"page_view\",\"session_id\":\"s\"");
    /* c: three unanswered clicks are three alerts; a response before a
     * click does not answer it */
    ev(&fx, 10000, "\"customer_id\":\"c\",\"type\":\"page_view\",\"session_id\":\"s\"");
    ev(&fx, 10000, CLICK("c", "s") "\"c1\"");
    ev(&fx, 10400, CLICK("c", "s") "\"c2\"");
    ev(&fx, 10800, CLICK("c", "s") "\"c3\"");
    /* d: one response closes every window of its group open before it */
    ev(&fx, 20000, CLICK("d", "s") "\"d1\"");
    ev(&fx, 20100, CLICK("d", "s") "\"d2\"");
    ev(&fx, 20200, "\"customer_id\":\"d\",\"type\":\"network_response\",\"session_id\":\"s\"");
    ev(&fx, 20300, CLICK("d", "s") "\"d3\"");
    ev(&fx, 60000, "\"customer_id\":\"z\",\"type\":\"x\"");
    jd_engine_finish(fx.eng, 0);
    assert_int_equal(fx.sink.n, 5);
    ASSERT_ALERT(&fx, 0, "dead_click b 10:00:02.500Z [b1]");
    ASSERT_ALERT(&fx, 1, "dead_click c 10:00:12.500Z [c1]");
    ASSERT_ALERT(&fx, 2, "dead_click c 10:00:12.900Z [c2]");
    ASSERT_ALERT(&fx, 3, "dead_click c 10:00:13.300Z [c3]");
    ASSERT_ALERT(&fx, 4, "dead_click d 10:00:22.800Z [d3]");
    fx_close(&fx);
}

/* ------------------------------------------------------------------ */

static const char *quick_back_cfg =
    "{\"rules\":[{\"name\":\"quick_back\",\"kind\":\"pattern\",\"scope\":{\"type\":\"page_view\"},"
    "\"contiguous\":true,\"steps\":["
    "{\"match\":{\"type\":\"page_view\"},\"bind\":{\"p\":\"page\"}},"
    "{\"match\":{\"type\":\"page_view\",\"page\":{\"not\":{\"var\":\"p\"}}}},"
    "{\"match\":{\"type\":\"page_view\",\"page\":{\"var\":\"p\"}},\"within\":\"5s\"}]}]}";

#define PV(id, page) "\"customer_id\":\"" id "\",\"type\":\"page_view\",\"page\":\"" page "\",\"event_id\":"

static void test_pattern_binding_and_contiguity(void **st)
{
    (void)st;
    fixture_t fx;
    fx_open(&fx, quick_back_cfg, 0);
    /* a: A B A, with an out-of-scope click between: a quick back */
    ev(&fx, 0, PV("a", "/A") "\"a1\"");
    ev(&fx, 1000, PV("a", "/B") "\"a2\"");
    ev(&fx, 1500, "\"customer_id\":\"a\",\"type\":\"click\",\"page\":\"/B\"");
    ev(&fx, 6000, PV("a", "/A") "\"a3\"");  /* exactly 5 s after /B */
    /* b: A B C A: the scoped C breaks A's match (contiguous) */
    ev(&fx, 100000, PV("b", "/A") "\"b1\"");
    ev(&fx, 101000, PV("b", "/B") "\"b2\"");
    ev(&fx, 102000, PV("b", "/C") "\"b3\"");
    ev(&fx, 103000, PV("b", "/A") "\"b4\"");
    /* c: A B A 1 ms too late; then B comes back in time for B A B */
    ev(&fx, 200000, PV("c", "/A") "\"c1\"");
    ev(&fx, 201000, PV("c", "/B") "\"c2\"");
    ev(&fx, 206001, PV("c", "/A") "\"c3\"");
    ev(&fx, 207000, PV("c", "/B") "\"c4\"");
    /* d: A A A: the second step needs another page */
    ev(&fx, 300000, PV("d", "/A") "\"d1\"");
    ev(&fx, 300100, PV("d", "/A") "\"d2\"");
    ev(&fx, 300200, PV("d", "/A") "\"d3\"");
    jd_engine_finish(fx.eng, 0);
    assert_int_equal(fx.sink.n, 2);
    ASSERT_ALERT(&fx, 0, "quick_back a 10:00:06.000Z [a1,a2,a3]");
    ASSERT_ALERT(&fx, 1, "quick_back c 10:03:27.000Z [c2,c3,c4]");
    fx_close(&fx);
}

/* Non-contiguous, overall within: the first partial match to complete wins
 * and clears the others. */
static void test_pattern_first_complete_clears(void **st)
{
    (void)st;
    fixture_t fx;
    fx_open(&fx,
        "{\"rules\":[{\"name\":\"err_then_call\",\"kind\":\"pattern\",\"within\":\"10s\",\"steps\":["
        "{\"match\":{\"type\":\"error\"},\"bind\":{\"s\":\"session_id\"}},"
        "{\"match\":{\"type\":\"retry\",\"session_id\":{\"var\":\"s\"}}},"
        "{\"match\":{\"type\":\"call\"}}]}]}", 0);
    ev(&fx, 0, "\"customer_id\":\"a\",\"type\":\"error\",\"session_id\":\"s1\",\"event_id\":\"e1\"");
    ev(&fx, 1000, "\"customer_id\":\"a\",\"type\":\"error\",\"session_id\":\"s2\",\"event_id\":\"e2\"");
    ev(&fx, 2000, "\"customer_id\":\"a\",\"type\":\"retry\",\"session_id\":\"s2\",\"event_id\":\"r2\"");
    ev(&fx, 3000, "\"customer_id\":\"a\",\"type\":\"retry\",\"session_id\":\"s1\",\"event_id\":\"r1\"");
    ev(&fx, 4000, "\"customer_id\":\"a\",\"type\":\"call\",\"event_id\":\"k1\"");
    ev(&fx, 5000, "\"customer_id\":\"a\",\"type\":\"call\",\"event_id\":\"k2\"");
    /* b: the call comes 1 ms after the overall within */
    ev(&fx, 100000, "\"customer_id\":\"b\",\"type\":\"error\",\"session_id\":\"s1\",\"event_id\":\"e1\"");
    ev(&fx, 101000, "\"customer_id\":\"b\",\"type\":\"retry\",\"session_id\":\"s1\",\"event_id\":\"r1\"");
    ev(&fx, 110001, "\"customer_id\":\"b\",\"type\":\"call\",\"event_id\":\"k1\"");
    jd_engine_finish(fx.eng, 0);
    assert_int_equal(fx.sink.n, 1);
    ASSERT_ALERT(&fx, 0, "err_then_call a 10:00:04.000Z [e1,r1,k1]");
    fx_close(&fx);
}

/* ------------------------------------------------------------------ */

static const char *score_cfg =
    "{\"rules\":[{\"name\":\"s\",\"kind\":\"score\",\"contributions\":["
    "{\"match\":{\"type\":\"error\"},\"points\":10},{\"match\":{\"type\":\"warn\"},\"points\":1}],"
    "\"half_life\":\"10s\",\"threshold\":10}]}";

static void test_score_rearm_at_half(void **st)
{
    (void)st;
    fixture_t fx;
    fx_open(&fx, score_cfg, 0);
    /* a: the score is exactly 5 (half) 10 s later: not below, no re-arm */
    ev(&fx, 0, "\"customer_id\":\"a\",\"type\":\"error\",\"event_id\":\"a1\"");
    ev(&fx, 10000, "\"customer_id\":\"a\",\"type\":\"error\",\"event_id\":\"a2\"");
    /* b: 1 ms later it is below half: re-armed, and the same contribution fires */
    ev(&fx, 100000, "\"customer_id\":\"b\",\"type\":\"error\",\"event_id\":\"b1\"");
    ev(&fx, 110001, "\"customer_id\":\"b\",\"type\":\"error\",\"event_id\":\"b2\"");
    /* c: small contributions add up; evidence drops what fell below 1% */
    ev(&fx, 300000, "\"customer_id\":\"c\",\"type\":\"warn\",\"event_id\":\"c0\"");
    for (int i = 1; i <= 10; i++) {
        char body[128];
        snprintf(body, sizeof(body), "\"customer_id\":\"c\",\"type\":\"warn\",\"event_id\":\"c%d\"", i);
        ev(&fx, 400000, body);
    }
    jd_engine_finish(fx.eng, 0);
    assert_int_equal(fx.sink.n, 4);
    ASSERT_ALERT(&fx, 0, "s a 10:00:00.000Z [a1] 10.000");
    ASSERT_ALERT(&fx, 1, "s b 10:01:40.000Z [b1] 10.000");
    ASSERT_ALERT(&fx, 2, "s b 10:01:50.001Z [b1,b2] 15.000");
    /* c0 (100 s old: weight 2^-10 < 1%) is folded: not evidence, still counted */
    ASSERT_ALERT(&fx, 3, "s c 10:06:40.000Z [c1,c2,c3,c4,c5,c6,c7,c8,c9,c10] 10.001");
    fx_close(&fx);
}

/* Alert contributions: a score fed by an absence rule's alerts. */
static void test_score_from_alerts(void **st)
{
    (void)st;
    fixture_t fx;
    fx_open(&fx,
        "{\"rules\":[{\"name\":\"dead\",\"kind\":\"absence\",\"start\":{\"type\":\"click\"},"
        "\"expect\":{\"type\":\"page_view\"},\"within\":\"1s\"},"
        "{\"name\":\"s\",\"kind\":\"score\",\"contributions\":[{\"alert\":\"dead\",\"points\":2},"
        "{\"match\":{\"type\":\"error\"},\"points\":1}],\"half_life\":\"1h\",\"threshold\":4.9}]}", 0);
    ev(&fx, 0, "\"customer_id\":\"a\",\"type\":\"click\",\"event_id\":\"k1\"");
    ev(&fx, 100, "\"customer_id\":\"a\",\"type\":\"click\",\"event_id\":\"k2\"");
    ev(&fx, 5000, "\"customer_id\":\"a\",\"type\":\"error\",\"event_id\":\"e1\"");
    ev(&fx, 60000, "\"customer_id\":\"z\",\"type\":\"x\"");
    jd_engine_finish(fx.eng, 0);
    assert_int_equal(fx.sink.n, 3);
    ASSERT_ALERT(&fx, 0, "dead a 10:00:01.000Z [k1]");
    ASSERT_ALERT(&fx, 1, "dead a 10:00:01.100Z [k2]");
    ASSERT_ALERT(&fx, 2, "s a 10:00:05.000Z [e1,+,+] 4.997");
    fx_close(&fx);
}

/* ------------------------------------------------------------------ */
/* Stitching and the changelog: the same input gives the same alerts
 * whether the state is merged, or drained and restored half-way. */

static const char *all_kinds_cfg =
    "{\"rules\":["
    "{\"name\":\"dead\",\"kind\":\"absence\",\"start\":{\"type\":\"click\"},"
    "\"expect\":{\"type\":\"page_view\"},\"within\":\"2s\",\"same\":[\"session_id\"]},"
    "{\"name\":\"back\",\"kind\":\"pattern\",\"scope\":{\"type\":\"page_view\"},\"contiguous\":true,"
    "\"steps\":[{\"match\":{\"type\":\"page_view\"},\"bind\":{\"p\":\"page\"}},"
    "{\"match\":{\"page\":{\"not\":{\"var\":\"p\"}}}},{\"match\":{\"page\":{\"var\":\"p\"}},\"within\":\"5s\"}]},"
    "{\"name\":\"s\",\"kind\":\"score\",\"contributions\":[{\"alert\":[\"dead\",\"back\"],\"points\":2},"
    "{\"match\":{\"type\":\"error\"},\"points\":1}],\"half_life\":\"1m\",\"threshold\":4.5}]}";

/* The script: first half (anonymous "a", then linked), second half. */
static void script_first(fixture_t *fx)
{
    ev(fx, 0, "\"anonymous_id\":\"a\",\"type\":\"error\",\"event_id\":\"1\"");
    ev(fx, 100, "\"anonymous_id\":\"a\",\"type\":\"page_view\",\"page\":\"/x\",\"event_id\":\"2\"");
    ev(fx, 200, "\"anonymous_id\":\"a\",\"type\":\"page_view\",\"page\":\"/y\",\"event_id\":\"3\"");
    ev(fx, 300, "\"anonymous_id\":\"a\",\"type\":\"click\",\"session_id\":\"s\",\"event_id\":\"4\"");
    ev(fx, 400, "\"customer_id\":\"c\",\"type\":\"click\",\"session_id\":\"s\",\"event_id\":\"5\"");
    ev(fx, 500, "\"customer_id\":\"c\",\"anonymous_id\":\"a\",\"type\":\"login\",\"event_id\":\"6\"");
}

static void script_second(fixture_t *fx)
{
    ev(fx, 1500, "\"customer_id\":\"c\",\"type\":\"page_view\",\"page\":\"/x\",\"event_id\":\"7\"");
    ev(fx, 1600, "\"customer_id\":\"c\",\"type\":\"click\",\"session_id\":\"s\",\"event_id\":\"8\"");
    ev(fx, 9000, "\"customer_id\":\"c\",\"type\":\"error\",\"event_id\":\"9\"");
    ev(fx, 60000, "\"customer_id\":\"z\",\"type\":\"x\"");
    jd_engine_finish(fx->eng, 0);
}

static void expect_script_alerts(const fixture_t *fx)
{
    assert_int_equal(fx->sink.n, 5);
    /* /x /y (anonymous) then /x (customer): one pattern across the stitch */
    ASSERT_ALERT(fx, 0, "back c 10:00:01.500Z [2,3,7]");
    /* the anonymous click's window, carried over, is not answered: the
     * page_view at 1.5 s has no session_id */
    ASSERT_ALERT(fx, 1, "dead c 10:00:02.300Z [4]");
    /* 1 * 2^(-2.3/60) + 2 * 2^(-0.8/60) + 2 >= 4.5: the anonymous error counts */
    ASSERT_ALERT(fx, 2, "s c 10:00:02.300Z [1,+,+] 4.955");
    ASSERT_ALERT(fx, 3, "dead c 10:00:02.400Z [5]");
    ASSERT_ALERT(fx, 4, "dead c 10:00:03.600Z [8]");
}

typedef struct kv {
    char *key[16];
    char *val[16];
    int n;
} kv_t;

static void kv_put(void *opaque, int32_t tag, const char *key, size_t keylen,
                   const void *val, size_t vallen)
{
    kv_t *kv = opaque;
    (void)tag;
    for (int i = 0; i < kv->n; i++)
        if (strlen(kv->key[i]) == keylen && !memcmp(kv->key[i], key, keylen)) {
            free(kv->val[i]);
            kv->val[i] = val ? strndup(val, vallen) : NULL;
            return;
        }
    assert_true(kv->n < 16);
    kv->key[kv->n] = strndup(key, keylen);
    kv->val[kv->n++] = val ? strndup(val, vallen) : NULL;
}

static void test_kinds_merge_on_stitch(void **st)
{
    (void)st;
    fixture_t fx;
    fx_open(&fx, all_kinds_cfg, 0);
    script_first(&fx);
    script_second(&fx);
    expect_script_alerts(&fx);
    fx_close(&fx);
}

static void test_kinds_changelog_restore(void **st)
{
    (void)st;
    fixture_t a, b;
    kv_t kv = {0};
    jd_err_t err;
    fx_open(&a, all_kinds_cfg, 1);
    script_first(&a);
    jd_engine_advance(a.eng, T0 + 500);
    jd_engine_drain_changes(a.eng, kv_put, &kv);
    assert_int_equal(a.sink.n, 0);
    fx_open(&b, all_kinds_cfg, 0);
    for (int i = 0; i < kv.n; i++)
        assert_int_equal(jd_engine_restore(b.eng, 0, kv.key[i], strlen(kv.key[i]), kv.val[i],
                                           kv.val[i] ? strlen(kv.val[i]) : 0, &err), 0);
    script_second(&b);
    expect_script_alerts(&b);
    for (int i = 0; i < kv.n; i++) {
        free(kv.key[i]);
        free(kv.val[i]);
    }
    fx_close(&a);
    fx_close(&b);
}

/* journey.max_groups bounds windows and partial matches, counted. */
static void test_kinds_max_groups(void **st)
{
    (void)st;
    fixture_t fx;
    memset(&fx, 0, sizeof(fx));
    jd_err_t err;
    const char *xs[] = {"journey.max_groups=4"};
    char path[] = "/tmp/jd-test-5a-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, dead_click_cfg, strlen(dead_click_cfg)), (ssize_t)strlen(dead_click_cfg));
    close(fd);
    fx.conf = jd_config_load(path, xs, 1, &err);
    unlink(path);
    assert_non_null(fx.conf);
    fx.dec = jd_decoder_new(fx.conf, &err);
    fx_engine(&fx, 0);
    for (int i = 0; i < 6; i++) {
        char body[128];
        snprintf(body, sizeof(body), CLICK("a", "s") "\"k%d\"", i);
        ev(&fx, i, body);
    }
    ev(&fx, 60000, "\"customer_id\":\"z\",\"type\":\"x\"");
    jd_engine_finish(fx.eng, 0);
    assert_int_equal(fx.sink.n, 4);
    ASSERT_ALERT(&fx, 0, "dead_click a 10:00:02.502Z [k2]");
    assert_int_equal(jd_engine_stats(fx.eng)->groups_evicted, 2);
    fx_close(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter_operators),
        cmocka_unit_test(test_filter_config_errors),
        cmocka_unit_test(test_absence_boundaries),
        cmocka_unit_test(test_pattern_binding_and_contiguity),
        cmocka_unit_test(test_pattern_first_complete_clears),
        cmocka_unit_test(test_score_rearm_at_half),
        cmocka_unit_test(test_score_from_alerts),
        cmocka_unit_test(test_kinds_merge_on_stitch),
        cmocka_unit_test(test_kinds_changelog_restore),
        cmocka_unit_test(test_kinds_max_groups),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
