/* Engine semantics: rule edges, event-time order, stitching, state. */
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
#include "journeyd/timeutil.h"
#include "engine/idset.h"

#define MAX_ALERTS 256
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

static void sink_clear(sink_t *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->alerts[i]);
    s->n = 0;
}

/* Field of an alert as a string (top-level string values only). */
static const char *alert_str(const char *alert, const char *key, char *buf, size_t bufsz)
{
    json_t *o = json_loads(alert, 0, NULL);
    assert_non_null(o);
    const char *v = json_string_value(json_object_get(o, key));
    snprintf(buf, bufsz, "%s", v ? v : "");
    json_decref(o);
    return buf;
}

typedef struct fixture {
    jd_config_t *conf;
    jd_decoder_t *dec;
    jd_engine_t *eng;
    sink_t sink;
} fixture_t;

static jd_config_t *load_config_text(const char *text, const char *const *xs, size_t nx)
{
    char path[] = "/tmp/jd-test-engine-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    jd_err_t err;
    jd_config_t *c = jd_config_load(path, xs, nx, &err);
    unlink(path);
    if (!c)
        fail_msg("config: %s", err.msg);
    return c;
}

static void fx_open(fixture_t *fx, const char *config_text, const char *const *xs, size_t nx)
{
    memset(fx, 0, sizeof(*fx));
    jd_err_t err;
    fx->conf = config_text ? load_config_text(config_text, xs, nx) : jd_config_load(NULL, xs, nx, &err);
    assert_non_null(fx->conf);
    fx->dec = jd_decoder_new(fx->conf, &err);
    assert_non_null(fx->dec);
    jd_engine_opts_t o = {.on_alert = sink_alert, .opaque = &fx->sink,
                          .auto_watermark = 1, .fixed_emitted_at = T0};
    fx->eng = jd_engine_new(fx->conf, &o, &err);
    assert_non_null(fx->eng);
}

static void fx_close(fixture_t *fx)
{
    sink_clear(&fx->sink);
    jd_engine_destroy(fx->eng);
    jd_decoder_destroy(fx->dec);
    /* Every interner reference was given back (events, history, rule
     * states, restores): only the pinned strings outlive a sweep. */
    jd_intern_sweep(fx->conf->intern);
    assert_int_equal(jd_intern_count(fx->conf->intern), jd_intern_pinned(fx->conf->intern));
    jd_config_destroy(fx->conf);
}

/* Pushes one event given as printf-style JSON; returns the engine verdict. */
static jd_dl_reason_t fx_push(fixture_t *fx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static jd_dl_reason_t fx_push(fixture_t *fx, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    jd_event_t *ev = NULL;
    char detail[256];
    jd_dl_reason_t r = jd_decode_json(fx->dec, buf, strlen(buf), &ev, detail, sizeof(detail));
    if (r != JD_DL_NONE)
        fail_msg("decode %s: %s", buf, detail);
    return jd_engine_push(fx->eng, ev);
}

static void click(fixture_t *fx, const char *id, int64_t ms, const char *el)
{
    fx_push(fx, "{\"ts\":%lld,\"customer_id\":\"%s\",\"type\":\"click\",\"page\":\"/p\",\"element\":\"%s\"}",
            (long long)(T0 + ms), id, el);
}

/* burst gap: exactly `gap` apart chains; 1 ms more breaks the chain. */
static void test_burst_gap_edges(void **st)
{
    (void)st;
    fixture_t fx;
    fx_open(&fx, NULL, NULL, 0);
    click(&fx, "c1", 0, "#a");
    click(&fx, "c1", 1000, "#a");
    click(&fx, "c1", 2000, "#a");
    click(&fx, "c2", 0, "#a");
    click(&fx, "c2", 1001, "#a");
    click(&fx, "c2", 2002, "#a");
    jd_engine_finish(fx.eng, 0);
    assert_int_equal(fx.sink.n, 1);
    char b[64];
    assert_string_equal(alert_str(fx.sink.alerts[0], "customer_id", b, sizeof(b)), "c1");
    assert_string_equal(alert_str(fx.sink.alerts[0], "rule", b, sizeof(b)), "rage_click");
    fx_close(&fx);
}

/* burst within: last - first == within fires; events are consumed. */
static void test_burst_within_consumes(void **st)
{
    (void)st;
    fixture_t fx;
    fx_open(&fx, NULL, NULL, 0);
    for (int i = 0; i < 6; i++)
        fx_push(&fx, "{\"ts\":%lld,\"customer_id\":\"c1\",\"type\":\"error\",\"event_id\":\"e%d\"}",
                (long long)(T0 + i * 30000), i);
    jd_engine_finish(fx.eng, 0);
    /* errors at 0,30,60 -> alert; 90,120,150 -> second alert */
    assert_int_equal(fx.sink.n, 2);
    json_t *a = json_loads(fx.sink.alerts[1], 0, NULL);
    json_t *ids = json_object_get(json_object_get(a, "evidence"), "event_ids");
    assert_int_equal(json_array_size(ids), 3);
    assert_string_equal(json_string_value(json_array_get(ids, 0)), "e3");
    json_decref(a);
    fx_close(&fx);
}

/* A timeout whose deadline equals an event's ts fires after that event;
 * one whose deadline is before it fires first. */
static void test_funnel_deadline_order(void **st)
{
    (void)st;
    fixture_t fx;
    fx_open(&fx, NULL, NULL, 0);
    int64_t w = 30 * 60000;
    fx_push(&fx, "{\"ts\":%lld,\"customer_id\":\"a\",\"type\":\"add_to_cart\"}", (long long)T0);
    fx_push(&fx, "{\"ts\":%lld,\"customer_id\":\"b\",\"type\":\"add_to_cart\"}", (long long)(T0 + 2));
    fx_push(&fx, "{\"ts\":%lld,\"customer_id\":\"a\",\"type\":\"checkout_start\"}", (long long)(T0 + 1000));
    fx_push(&fx, "{\"ts\":%lld,\"customer_id\":\"a\",\"type\":\"purchase\"}", (long long)(T0 + w));
    fx_push(&fx, "{\"ts\":%lld,\"customer_id\":\"b\",\"type\":\"purchase\"}", (long long)(T0 + 2 + w + 1));
    fx_push(&fx, "{\"ts\":%lld,\"customer_id\":\"z\",\"type\":\"page_view\"}", (long long)(T0 + 2 * w));
    jd_engine_finish(fx.eng, 0);
    assert_int_equal(fx.sink.n, 1);
    char b[64];
    assert_string_equal(alert_str(fx.sink.alerts[0], "customer_id", b, sizeof(b)), "b");
    assert_string_equal(alert_str(fx.sink.alerts[0], "ts", b, sizeof(b)), "2026-11-22T10:30:00.002Z");
    const jd_engine_stats_t *s = jd_engine_stats(fx.eng);
    uint32_t fr = jd_config_rule(fx.conf, "checkout_dropoff")->index;
    assert_int_equal(s->funnels[fr].attempts, 2);
    assert_int_equal(s->funnels[fr].completed, 1);
    assert_int_equal(s->funnels[fr].dropped[0], 1);
    fx_close(&fx);
}

/* At the end of a replay open windows are pending unless flushed. */
static void test_finish_pending_and_flush(void **st)
{
    (void)st;
    for (int flush = 0; flush < 2; flush++) {
        fixture_t fx;
        fx_open(&fx, NULL, NULL, 0);
        fx_push(&fx, "{\"ts\":%lld,\"customer_id\":\"a\",\"type\":\"add_to_cart\"}", (long long)T0);
        jd_engine_finish(fx.eng, flush);
        uint32_t fr = jd_config_rule(fx.conf, "checkout_dropoff")->index;
        assert_int_equal(fx.sink.n, flush);
        assert_int_equal(jd_engine_stats(fx.eng)->funnels[fr].pending, flush ? 0 : 1);
        fx_close(&fx);
    }
}

/* Anonymous clicks and a logged-in click stitch into one rage click. */
static void test_identity_merge_burst(void **st)
{
    (void)st;
    fixture_t fx;
    fx_open(&fx, NULL, NULL, 0);
    fx_push(&fx, "{\"ts\":%lld,\"anonymous_id\":\"d1\",\"type\":\"click\",\"page\":\"/p\",\"element\":\"#x\",\"event_id\":\"1\"}", (long long)T0);
    fx_push(&fx, "{\"ts\":%lld,\"anonymous_id\":\"d1\",\"type\":\"click\",\"page\":\"/p\",\"element\":\"#x\",\"event_id\":\"2\"}", (long long)(T0 + 300));
    fx_push(&fx, "{\"ts\":%lld,\"anonymous_id\":\"d1\",\"customer_id\":\"c9\",\"type\":\"click\",\"page\":\"/p\",\"element\":\"#x\",\"event_id\":\"3\"}", (long long)(T0 + 600));
    fx_push(&fx, "{\"ts\":%lld,\"anonymous_id\":\"d1\",\"type\":\"page_view\",\"page\":\"/q\"}", (long long)(T0 + 900));
    jd_engine_finish(fx.eng, 0);
    assert_int_equal(fx.sink.n, 1);
    char b[64];
    assert_string_equal(alert_str(fx.sink.alerts[0], "customer_id", b, sizeof(b)), "c9");
    assert_string_equal(alert_str(fx.sink.alerts[0], "identity", b, sizeof(b)), "customer");
    const jd_engine_stats_t *s = jd_engine_stats(fx.eng);
    assert_int_equal(s->merges, 1);
    assert_int_equal(s->customers, 1); /* the later anonymous page_view went to c9 */
    fx_close(&fx);
}

/* An anonymous funnel completed after login is not a drop-off. */
static void test_identity_merge_funnel(void **st)
{
    (void)st;
    fixture_t fx;
    fx_open(&fx, NULL, NULL, 0);
    fx_push(&fx, "{\"ts\":%lld,\"anonymous_id\":\"d1\",\"type\":\"add_to_cart\"}", (long long)T0);
    fx_push(&fx, "{\"ts\":%lld,\"anonymous_id\":\"d1\",\"type\":\"checkout_start\"}", (long long)(T0 + 1000));
    fx_push(&fx, "{\"ts\":%lld,\"anonymous_id\":\"d1\",\"customer_id\":\"c1\",\"type\":\"purchase\"}", (long long)(T0 + 2000));
    fx_push(&fx, "{\"ts\":%lld,\"customer_id\":\"z\",\"type\":\"page_view\"}", (long long)(T0 + 3600000));
    jd_engine_finish(fx.eng, 1);
    assert_int_equal(fx.sink.n, 0);
    uint32_t fr = jd_config_rule(fx.conf, "checkout_dropoff")->index;
    assert_int_equal(jd_engine_stats(fx.eng)->funnels[fr].completed, 1);
    fx_close(&fx);
}

/* Reordering within time.lateness does not change the output. */
static void test_deterministic_under_reorder(void **st)
{
    (void)st;
    static const char *ev[] = {
        "{\"ts\":%lld,\"customer_id\":\"c1\",\"type\":\"click\",\"page\":\"/p\",\"element\":\"#a\",\"event_id\":\"a1\"}",
        "{\"ts\":%lld,\"customer_id\":\"c1\",\"type\":\"click\",\"page\":\"/p\",\"element\":\"#a\",\"event_id\":\"a2\"}",
        "{\"ts\":%lld,\"customer_id\":\"c1\",\"type\":\"error\",\"event_id\":\"a3\"}",
        "{\"ts\":%lld,\"customer_id\":\"c1\",\"type\":\"click\",\"page\":\"/p\",\"element\":\"#a\",\"event_id\":\"a4\"}",
        "{\"ts\":%lld,\"customer_id\":\"c1\",\"type\":\"support_contact\",\"channel\":\"call\",\"event_id\":\"a5\"}",
        "{\"ts\":%lld,\"customer_id\":\"c2\",\"type\":\"add_to_cart\",\"event_id\":\"b1\"}",
        "{\"ts\":%lld,\"customer_id\":\"c2\",\"type\":\"page_view\",\"page\":\"/x\",\"event_id\":\"b2\"}",
    };
    static const int64_t at[] = {0, 400, 500, 800, 3000, 100, 4000};
    static const int orders[3][7] = {
        {0, 1, 2, 3, 4, 5, 6}, {6, 4, 3, 2, 1, 0, 5}, {5, 3, 1, 6, 0, 4, 2}};
    char *first[16] = {0};
    int nfirst = -1;
    for (int o = 0; o < 3; o++) {
        fixture_t fx;
        fx_open(&fx, NULL, NULL, 0);
        for (int i = 0; i < 7; i++) {
            int k = orders[o][i];
            assert_int_equal(fx_push(&fx, ev[k], (long long)(T0 + at[k])), JD_DL_NONE);
        }
        jd_engine_finish(fx.eng, 1);
        if (nfirst < 0) {
            nfirst = fx.sink.n;
            assert_true(nfirst >= 3); /* rage_click, escalation, drop-off */
            for (int i = 0; i < nfirst; i++)
                first[i] = strdup(fx.sink.alerts[i]);
        } else {
            assert_int_equal(fx.sink.n, nfirst);
            for (int i = 0; i < nfirst; i++)
                assert_string_equal(fx.sink.alerts[i], first[i]);
        }
        fx_close(&fx);
    }
    for (int i = 0; i < nfirst; i++)
        free(first[i]);
}

/* Same rule + identity + evidence => same alert_id. */
static void test_alert_id_stable(void **st)
{
    (void)st;
    char ids[2][32];
    for (int run = 0; run < 2; run++) {
        fixture_t fx;
        fx_open(&fx, NULL, NULL, 0);
        if (run) /* unrelated traffic must not change the id */
            click(&fx, "other", 0, "#z");
        click(&fx, "c1", 0, "#a");
        click(&fx, "c1", 10, "#a");
        click(&fx, "c1", 20, "#a");
        jd_engine_finish(fx.eng, 0);
        assert_int_equal(fx.sink.n, 1);
        alert_str(fx.sink.alerts[0], "alert_id", ids[run], sizeof(ids[run]));
        assert_int_equal(strlen(ids[run]), 16);
        assert_int_equal(strspn(ids[run], "0123456789abcdef"), 16);
        fx_close(&fx);
    }
    assert_string_equal(ids[0], ids[1]);
}

static void test_cooldown(void **st)
{
    (void)st;
    const char *cfg =
        "{\"rules\":[{\"name\":\"errs\",\"kind\":\"burst\",\"match\":{\"type\":\"error\"},"
        "\"count\":1,\"within\":\"1s\",\"cooldown\":\"10s\"}]}";
    fixture_t fx;
    fx_open(&fx, cfg, NULL, 0);
    int64_t at[] = {0, 5000, 9999, 10000, 15000, 20001};
    for (int i = 0; i < 6; i++)
        fx_push(&fx, "{\"ts\":%lld,\"customer_id\":\"c\",\"type\":\"error\"}", (long long)(T0 + at[i]));
    jd_engine_finish(fx.eng, 0);
    /* 0 fires; 5000, 9999 suppressed; 10000 fires; 15000 suppressed; 20001 fires */
    assert_int_equal(fx.sink.n, 3);
    assert_int_equal(jd_engine_stats(fx.eng)->suppressed, 3);
    fx_close(&fx);
}

static void test_late_and_duplicates(void **st)
{
    (void)st;
    fixture_t fx;
    fx_open(&fx, NULL, NULL, 0);
    assert_int_equal(fx_push(&fx, "{\"ts\":%lld,\"customer_id\":\"c\",\"type\":\"x\",\"event_id\":\"1\"}", (long long)(T0 + 10000)), JD_DL_NONE);
    /* watermark is now T0+5000: 5000 is on it (accepted), 4999 is late */
    assert_int_equal(fx_push(&fx, "{\"ts\":%lld,\"customer_id\":\"c\",\"type\":\"x\",\"event_id\":\"2\"}", (long long)(T0 + 5000)), JD_DL_NONE);
    assert_int_equal(fx_push(&fx, "{\"ts\":%lld,\"customer_id\":\"c\",\"type\":\"x\"}", (long long)(T0 + 4999)), JD_DL_LATE);
    fx_push(&fx, "{\"ts\":%lld,\"customer_id\":\"c\",\"type\":\"x\",\"event_id\":\"1\"}", (long long)(T0 + 10000));
    jd_engine_finish(fx.eng, 0);
    const jd_engine_stats_t *s = jd_engine_stats(fx.eng);
    assert_int_equal(s->late, 1);
    assert_int_equal(s->duplicates, 1);
    assert_int_equal(s->events_evaluated, 2);
    fx_close(&fx);
}

static void test_retention_and_eviction(void **st)
{
    (void)st;
    const char *xs[] = {"journey.retention=1m", "journey.max_customers=2"};
    fixture_t fx;
    fx_open(&fx, NULL, xs, 2);
    fx_push(&fx, "{\"ts\":%lld,\"customer_id\":\"a\",\"type\":\"x\"}", (long long)T0);
    fx_push(&fx, "{\"ts\":%lld,\"customer_id\":\"b\",\"type\":\"x\"}", (long long)(T0 + 1));
    fx_push(&fx, "{\"ts\":%lld,\"customer_id\":\"c\",\"type\":\"x\"}", (long long)(T0 + 2));
    fx_push(&fx, "{\"ts\":%lld,\"customer_id\":\"d\",\"type\":\"x\"}", (long long)(T0 + 120000));
    jd_engine_finish(fx.eng, 0);
    const jd_engine_stats_t *s = jd_engine_stats(fx.eng);
    assert_int_equal(s->evicted, 1);   /* a, when c arrived */
    assert_int_equal(s->expired, 2);   /* b and c, 2 min later */
    assert_int_equal(s->customers, 1);
    fx_close(&fx);
}

/* A funnel window longer than journey.retention: at its deadline the
 * journey has been idle longer than the retention, so it has expired and
 * no drop-off is raised. Decided per journey, so the answer does not depend
 * on whether other customers' events happened to come by in between (which
 * is what lets shards agree with one engine). */
static void test_window_outlives_retention(void **st)
{
    (void)st;
    const char *xs[] = {"journey.retention=1m"};
    for (int traffic = 0; traffic <= 1; traffic++) {
        fixture_t fx;
        fx_open(&fx, NULL, xs, 1);
        fx_push(&fx, "{\"ts\":%lld,\"customer_id\":\"a\",\"type\":\"add_to_cart\"}",
                (long long)T0);
        if (traffic)
            fx_push(&fx, "{\"ts\":%lld,\"customer_id\":\"b\",\"type\":\"x\"}",
                    (long long)(T0 + 40 * 60000));
        jd_engine_finish(fx.eng, 1);
        const jd_engine_stats_t *s = jd_engine_stats(fx.eng);
        assert_int_equal(fx.sink.n, 0);
        assert_int_equal(s->expired, 1);
        assert_int_equal(s->funnels[4].attempts, 1);
        assert_int_equal(s->funnels[4].dropped[0], 0);
        fx_close(&fx);
    }
}

/* A sequence fed by another rule's alert. */
static void test_sequence_from_alert(void **st)
{
    (void)st;
    fixture_t fx;
    fx_open(&fx, NULL, NULL, 0);
    for (int i = 0; i < 3; i++)
        fx_push(&fx, "{\"ts\":%lld,\"customer_id\":\"c\",\"type\":\"login_failed\",\"channel\":\"app\"}",
                (long long)(T0 + i * 60000));
    fx_push(&fx, "{\"ts\":%lld,\"customer_id\":\"c\",\"type\":\"support_contact\",\"channel\":\"chat\",\"event_id\":\"s\"}",
            (long long)(T0 + 3600000));
    jd_engine_finish(fx.eng, 0);
    assert_int_equal(fx.sink.n, 2);
    json_t *a = json_loads(fx.sink.alerts[1], 0, NULL);
    assert_string_equal(json_string_value(json_object_get(a, "rule")), "channel_escalation");
    json_t *first = json_object_get(json_object_get(a, "evidence"), "first");
    /* three login_failed events and the login_failures alert */
    assert_int_equal(json_array_size(first), 4);
    int alerts = 0;
    for (size_t i = 0; i < json_array_size(first); i++) {
        const char *rule = json_string_value(json_object_get(json_array_get(first, i), "rule"));
        if (rule && !strcmp(rule, "login_failures"))
            alerts++;
    }
    assert_int_equal(alerts, 1);
    json_decref(a);
    fx_close(&fx);
}

/* Changelog: state drained from one engine and restored into another
 * continues exactly where it left off. */
typedef struct kv {
    char *key[64];
    char *val[64];
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
    assert_true(kv->n < 64);
    kv->key[kv->n] = strndup(key, keylen);
    kv->val[kv->n++] = val ? strndup(val, vallen) : NULL;
}

static void test_changelog_roundtrip(void **st)
{
    (void)st;
    fixture_t a, b;
    kv_t kv = {0};
    fx_open(&a, NULL, NULL, 0);
    jd_engine_destroy(a.eng);
    jd_err_t err;
    jd_engine_opts_t o = {.on_alert = sink_alert, .opaque = &a.sink, .track_changes = 1,
                          .fixed_emitted_at = T0};
    a.eng = jd_engine_new(a.conf, &o, &err);
    fx_push(&a, "{\"ts\":%lld,\"anonymous_id\":\"d\",\"customer_id\":\"c\",\"type\":\"add_to_cart\",\"event_id\":\"1\"}", (long long)T0);
    fx_push(&a, "{\"ts\":%lld,\"customer_id\":\"c\",\"type\":\"error\",\"event_id\":\"2\"}", (long long)(T0 + 1000));
    fx_push(&a, "{\"ts\":%lld,\"customer_id\":\"c\",\"type\":\"click\",\"page\":\"/p\",\"element\":\"#b\",\"event_id\":\"3\"}", (long long)(T0 + 2000));
    jd_engine_advance(a.eng, T0 + 2000);
    jd_engine_drain_changes(a.eng, kv_put, &kv);
    assert_int_equal(kv.n, 2); /* journey c:c and link l:d */

    fx_open(&b, NULL, NULL, 0);
    for (int i = 0; i < kv.n; i++)
        assert_int_equal(jd_engine_restore(b.eng, 0, kv.key[i], strlen(kv.key[i]), kv.val[i],
                                           kv.val[i] ? strlen(kv.val[i]) : 0, &err), 0);
    /* duplicate of event 3 is recognised; two more clicks make a rage click;
     * a call escalates the earlier error; the funnel drops off on time. */
    fx_push(&b, "{\"ts\":%lld,\"customer_id\":\"c\",\"type\":\"click\",\"page\":\"/p\",\"element\":\"#b\",\"event_id\":\"3\"}", (long long)(T0 + 2000));
    fx_push(&b, "{\"ts\":%lld,\"anonymous_id\":\"d\",\"type\":\"click\",\"page\":\"/p\",\"element\":\"#b\",\"event_id\":\"4\"}", (long long)(T0 + 2500));
    fx_push(&b, "{\"ts\":%lld,\"customer_id\":\"c\",\"type\":\"click\",\"page\":\"/p\",\"element\":\"#b\",\"event_id\":\"5\"}", (long long)(T0 + 3000));
    fx_push(&b, "{\"ts\":%lld,\"customer_id\":\"c\",\"type\":\"support_contact\",\"channel\":\"call\",\"event_id\":\"6\"}", (long long)(T0 + 60000));
    fx_push(&b, "{\"ts\":%lld,\"customer_id\":\"z\",\"type\":\"x\"}", (long long)(T0 + 3600000));
    jd_engine_finish(b.eng, 0);
    assert_int_equal(jd_engine_stats(b.eng)->duplicates, 1);
    char r[64];
    assert_int_equal(b.sink.n, 3);
    assert_string_equal(alert_str(b.sink.alerts[0], "rule", r, sizeof(r)), "rage_click");
    assert_string_equal(alert_str(b.sink.alerts[1], "rule", r, sizeof(r)), "channel_escalation");
    assert_string_equal(alert_str(b.sink.alerts[2], "rule", r, sizeof(r)), "checkout_dropoff");
    assert_string_equal(alert_str(b.sink.alerts[2], "ts", r, sizeof(r)), "2026-11-22T10:30:00.000Z");
    for (int i = 0; i < kv.n; i++) {
        free(kv.key[i]);
        free(kv.val[i]);
    }
    fx_close(&a);
    fx_close(&b);
}

/* Numbers compare by value: 100, 100.0 and 1e2 match one another. */
uint64_t jd_map_hash(const char *key, size_t len); /* src/map.h: event id hashes */

/* Records written before the string table ("s") and time deltas came in
 * still restore: history, de-duplication and page context intact. */
static void test_changelog_reads_spelled_out_records(void **st)
{
    (void)st;
    fixture_t b;
    jd_err_t err;
    char rec[512];
    snprintf(rec, sizeof rec,
             "{\"t\":%lld,\"h\":[[%lld,\"click\",\"web\",\"/p\",\"%016llx\"],"
             "[%lld,\"click\",\"web\",\"/p\",\"0000000000000000\"]],\"a\":{},\"r\":{}}",
             (long long)T0 + 500, (long long)T0, (unsigned long long)jd_map_hash("e3", 2),
             (long long)T0 + 500);
    fx_open(&b, NULL, NULL, 0);
    assert_int_equal(jd_engine_restore(b.eng, 0, "c:c", 3, rec, strlen(rec), &err), 0);
    fx_push(&b, "{\"ts\":%lld,\"customer_id\":\"c\",\"type\":\"click\",\"page\":\"/p\",\"event_id\":\"e3\"}",
            (long long)T0);
    fx_push(&b, "{\"ts\":%lld,\"customer_id\":\"c\",\"type\":\"page_view\",\"page\":\"/q\",\"event_id\":\"e4\"}",
            (long long)T0 + 900);
    jd_engine_finish(b.eng, 0);
    assert_int_equal(jd_engine_stats(b.eng)->duplicates, 1);
    /* the journey kept both restored entries and the new one (its channel
     * the configured default), in order, written with the string table */
    kv_t kv = {0};
    jd_engine_destroy(b.eng);
    jd_engine_opts_t o = {.track_changes = 1};
    b.eng = jd_engine_new(b.conf, &o, &err);
    assert_int_equal(jd_engine_restore(b.eng, 0, "c:c", 3, rec, strlen(rec), &err), 0);
    fx_push(&b, "{\"ts\":%lld,\"customer_id\":\"c\",\"type\":\"page_view\",\"page\":\"/q\",\"event_id\":\"e4\"}",
            (long long)T0 + 900);
    jd_engine_advance(b.eng, T0 + 900);
    jd_engine_drain_changes(b.eng, kv_put, &kv);
    assert_int_equal(kv.n, 1);
    snprintf(rec, sizeof rec, "\"s\":[\"click\",\"web\",\"/p\",\"page_view\",\"unknown\",\"/q\"],"
             "\"h\":[[%lld,0,1,2,\"%016llx\"],[500,0,1,2,0],[400,3,4,5,",
             (long long)T0, (unsigned long long)jd_map_hash("e3", 2));
    if (!strstr(kv.val[0], rec))
        fail_msg("record %s\n lacks %s", kv.val[0], rec);
    free(kv.key[0]);
    free(kv.val[0]);
    fx_close(&b);
}

/* A partial drain takes the journeys changed longest ago; a journey that
 * changes again after its record was taken is drained again; draining the
 * rest leaves nothing behind. */
static void test_changelog_partial_drain(void **st)
{
    (void)st;
    fixture_t a;
    kv_t kv = {0};
    fx_open(&a, NULL, NULL, 0);
    jd_engine_destroy(a.eng);
    jd_err_t err;
    jd_engine_opts_t o = {.on_alert = sink_alert, .opaque = &a.sink, .track_changes = 1,
                          .auto_watermark = 1, .fixed_emitted_at = T0};
    a.eng = jd_engine_new(a.conf, &o, &err);
    jd_engine_advance(a.eng, T0 - 1);
    for (int i = 0; i < 3; i++)
        fx_push(&a, "{\"ts\":%lld,\"customer_id\":\"k%d\",\"type\":\"x\"}",
                (long long)T0 + i, i);
    jd_engine_advance(a.eng, T0 + 10);
    assert_int_equal(jd_engine_changes_pending(a.eng), 3);
    assert_int_equal(jd_engine_drain_some(a.eng, kv_put, &kv, 2), 2);
    assert_int_equal(kv.n, 2);
    assert_string_equal(kv.key[0], "c:k0");
    assert_string_equal(kv.key[1], "c:k1");
    assert_int_equal(jd_engine_changes_pending(a.eng), 1);
    fx_push(&a, "{\"ts\":%lld,\"customer_id\":\"k0\",\"type\":\"y\"}", (long long)T0 + 20);
    jd_engine_advance(a.eng, T0 + 30);
    assert_int_equal(jd_engine_changes_pending(a.eng), 2);
    jd_engine_drain_changes(a.eng, kv_put, &kv);
    assert_int_equal(jd_engine_changes_pending(a.eng), 0);
    assert_int_equal(kv.n, 3);
    assert_non_null(strstr(kv.val[0], "\"y\"")); /* k0 again, with its new event */
    for (int i = 0; i < kv.n; i++) {
        free(kv.key[i]);
        free(kv.val[i]);
    }
    fx_close(&a);
}

/* ------------------------------------------------------------------ */
/* Exact under heavy customers                                        */

static uint64_t stat_of(jd_engine_t *e, const char *key)
{
    json_t *o = jd_engine_stats_json(e);
    uint64_t v = (uint64_t)json_integer_value(json_object_get(o, key));
    json_decref(o);
    return v;
}

static void view(fixture_t *fx, const char *who, const char *idkey, int64_t ms, int page)
{
    fx_push(fx, "{\"ts\":%lld,\"%s\":\"%s\",\"type\":\"page_view\",\"page\":\"/p%d\"}",
            (long long)(T0 + ms), idkey, who, page);
}

/* page_loop (count 3 within 15s, same page) on one customer who loops over
 * 40 pages: every page fires, however many groups are live at once (the
 * old 32-group cap dropped the oldest and lost nearly all of them). */
static void test_burst_many_groups_exact(void **st)
{
    (void)st;
    fixture_t fx;
    fx_open(&fx, NULL, NULL, 0);
    for (int round = 0; round < 3; round++)
        for (int p = 0; p < 40; p++)
            view(&fx, "c", "customer_id", round * 1000 + p * 10, p);
    /* rage_click (gap 1s, same page+element) over 40 elements */
    for (int round = 0; round < 3; round++)
        for (int k = 0; k < 40; k++) {
            char el[16];
            snprintf(el, sizeof el, "#e%d", k);
            click(&fx, "c", 5000 + round * 500 + k * 10, el);
        }
    jd_engine_finish(fx.eng, 0);
    const jd_engine_stats_t *s = jd_engine_stats(fx.eng);
    assert_int_equal(s->alerts_by_rule[jd_config_rule(fx.conf, "page_loop")->index], 40);
    assert_int_equal(s->alerts_by_rule[jd_config_rule(fx.conf, "rage_click")->index], 40);
    assert_int_equal(stat_of(fx.eng, "groups_evicted"), 0);
    fx_close(&fx);
}

/* journey.max_groups bounds live groups: the least recently active goes
 * and is counted; below the bound nothing is lost. */
static void test_burst_max_groups_evicts(void **st)
{
    (void)st;
    for (int bounded = 0; bounded <= 1; bounded++) {
        const char *xs[] = {"journey.max_groups=4"};
        fixture_t fx;
        fx_open(&fx, NULL, xs, bounded ? 1 : 0);
        for (int p = 0; p < 5; p++) /* /p4 drops /p0 when bounded */
            view(&fx, "c", "customer_id", p, p);
        view(&fx, "c", "customer_id", 5, 0); /* /p0 again: drops /p1 */
        view(&fx, "c", "customer_id", 6, 0);
        jd_engine_finish(fx.eng, 0);
        assert_int_equal(fx.sink.n, bounded ? 0 : 1);
        assert_int_equal(stat_of(fx.eng, "groups_evicted"), bounded ? 2 : 0);
        fx_close(&fx);
    }
}

/* A group is forgotten only when none of its events can still chain:
 * within 15s, a view 14s after the previous keeps the group alive (its
 * first event can no longer count, the second still can). */
static void test_burst_group_kept_while_chainable(void **st)
{
    (void)st;
    fixture_t fx;
    fx_open(&fx, NULL, NULL, 0);
    view(&fx, "c", "customer_id", 0, 1);
    view(&fx, "c", "customer_id", 14000, 1);
    for (int p = 2; p < 50; p++) /* many other groups in between */
        view(&fx, "c", "customer_id", 14000 + p, p);
    view(&fx, "c", "customer_id", 16000, 1); /* /p1 at 0 is out, 14s and 16s in */
    view(&fx, "c", "customer_id", 17000, 1); /* 14, 16, 17: fires */
    jd_engine_finish(fx.eng, 0);
    assert_int_equal(fx.sink.n, 1);
    json_t *a = json_loads(fx.sink.alerts[0], 0, NULL);
    assert_string_equal(json_string_value(json_object_get(a, "first_ts")),
                        "2026-11-22T10:00:14.000Z");
    json_decref(a);
    fx_close(&fx);
}

/* Burst groups survive stitching and the changelog, all of them. */
static void test_burst_many_groups_merge_and_restore(void **st)
{
    (void)st;
    fixture_t a, b;
    kv_t kv = {0};
    jd_err_t err;
    fx_open(&a, NULL, NULL, 0);
    jd_engine_destroy(a.eng);
    jd_engine_opts_t o = {.on_alert = sink_alert, .opaque = &a.sink, .track_changes = 1,
                          .fixed_emitted_at = T0};
    a.eng = jd_engine_new(a.conf, &o, &err);
    for (int p = 0; p < 40; p++) /* one anonymous view of 40 pages */
        view(&a, "d", "anonymous_id", p * 10, p);
    fx_push(&a, "{\"ts\":%lld,\"anonymous_id\":\"d\",\"customer_id\":\"c\",\"type\":\"login\"}",
            (long long)(T0 + 500));
    for (int p = 0; p < 40; p++) /* a second one, now as the customer */
        view(&a, "c", "customer_id", 1000 + p * 10, p);
    jd_engine_advance(a.eng, T0 + 2000);
    jd_engine_drain_changes(a.eng, kv_put, &kv);
    assert_int_equal(a.sink.n, 0);

    fx_open(&b, NULL, NULL, 0);
    for (int i = 0; i < kv.n; i++)
        assert_int_equal(jd_engine_restore(b.eng, 0, kv.key[i], strlen(kv.key[i]), kv.val[i],
                                           kv.val[i] ? strlen(kv.val[i]) : 0, &err), 0);
    for (int p = 0; p < 40; p++) /* the third view fires every page */
        view(&b, "d", "anonymous_id", 3000 + p * 10, p);
    jd_engine_finish(b.eng, 0);
    assert_int_equal(jd_engine_stats(b.eng)->alerts_by_rule[
                         jd_config_rule(b.conf, "page_loop")->index], 40);
    for (int i = 0; i < kv.n; i++) {
        free(kv.key[i]);
        free(kv.val[i]);
    }
    fx_close(&a);
    fx_close(&b);
}

static void payment_failed(fixture_t *fx, const char *who, const char *idkey, int64_t ms, int k)
{
    fx_push(fx, "{\"ts\":%lld,\"%s\":\"%s\",\"type\":\"payment_failed\",\"event_id\":\"f%d\"}",
            (long long)(T0 + ms), idkey, who, k);
}

static void call(fixture_t *fx, const char *who, int64_t ms)
{
    fx_push(fx, "{\"ts\":%lld,\"customer_id\":\"%s\",\"type\":\"support_contact\","
            "\"channel\":\"call\",\"event_id\":\"call\"}", (long long)(T0 + ms), who);
}

/* The one channel_escalation alert: asserts its evidence.first event ids
 * are f<from>..f<to-1> in order, and its first_ts. */
static void assert_escalation(const fixture_t *fx, int from, int to, const char *first_ts)
{
    assert_int_equal(fx->sink.n, 1);
    json_t *a = json_loads(fx->sink.alerts[0], 0, NULL);
    assert_non_null(a);
    assert_string_equal(json_string_value(json_object_get(a, "rule")), "channel_escalation");
    assert_string_equal(json_string_value(json_object_get(a, "first_ts")), first_ts);
    json_t *first = json_object_get(json_object_get(a, "evidence"), "first");
    assert_int_equal(json_array_size(first), to - from);
    for (int k = from; k < to; k++) {
        char want[16];
        snprintf(want, sizeof want, "f%d", k);
        assert_string_equal(json_string_value(json_object_get(json_array_get(first, k - from),
                                                              "event_id")), want);
    }
    json_decref(a);
}

/* channel_escalation (within 24h) after 40 payment failures: the call
 * consumes all 40 and names every one in evidence.first (the old 32-cap
 * dropped the oldest 8, and with them first_ts and the alert_id); one
 * failure 1 ms more than 24h before the call can never fire and is not. */
static void test_sequence_many_firsts_exact(void **st)
{
    (void)st;
    fixture_t fx;
    fx_open(&fx, NULL, NULL, 0);
    int64_t call_at = 86400000 + 60000;
    payment_failed(&fx, "c", "customer_id", call_at - 86400001, 99);
    for (int k = 0; k < 40; k++)
        payment_failed(&fx, "c", "customer_id", call_at - 86400000 + k * 1000, k);
    call(&fx, "c", call_at);
    jd_engine_finish(fx.eng, 0);
    assert_escalation(&fx, 0, 40, "2026-11-22T10:01:00.000Z");
    assert_int_equal(stat_of(fx.eng, "groups_evicted"), 0);
    fx_close(&fx);
}

/* journey.max_groups bounds the first occurrences: the oldest go, counted;
 * the ring wraps and still renders oldest first. */
static void test_sequence_max_groups_evicts(void **st)
{
    (void)st;
    const char *xs[] = {"journey.max_groups=4"};
    fixture_t fx;
    fx_open(&fx, NULL, xs, 1);
    for (int k = 0; k < 7; k++)
        payment_failed(&fx, "c", "customer_id", k * 1000, k);
    call(&fx, "c", 60000);
    jd_engine_finish(fx.eng, 0);
    assert_escalation(&fx, 3, 7, "2026-11-22T10:00:03.000Z");
    assert_int_equal(stat_of(fx.eng, "groups_evicted"), 3);
    fx_close(&fx);
}

/* First occurrences on both sides of a stitch interleave by time, and all
 * of them survive the changelog; with journey.max_groups=16 each side
 * drops its 4 oldest, then the merge keeps the newest 16 of the 32. */
static void test_sequence_firsts_merge_and_restore(void **st)
{
    (void)st;
    for (int bounded = 0; bounded <= 1; bounded++) {
        const char *xs[] = {"journey.max_groups=16"};
        size_t nx = bounded ? 1 : 0;
        fixture_t a, b;
        kv_t kv = {0};
        jd_err_t err;
        fx_open(&a, NULL, xs, nx);
        jd_engine_destroy(a.eng);
        jd_engine_opts_t o = {.on_alert = sink_alert, .opaque = &a.sink, .track_changes = 1,
                              .fixed_emitted_at = T0};
        a.eng = jd_engine_new(a.conf, &o, &err);
        for (int k = 0; k < 40; k++) /* even ones anonymous, odd ones the customer's */
            payment_failed(&a, k % 2 ? "c" : "d", k % 2 ? "customer_id" : "anonymous_id",
                           k * 10, k);
        fx_push(&a, "{\"ts\":%lld,\"anonymous_id\":\"d\",\"customer_id\":\"c\",\"type\":\"login\"}",
                (long long)(T0 + 500));
        jd_engine_advance(a.eng, T0 + 1000);
        assert_int_equal(stat_of(a.eng, "groups_evicted"), bounded ? 24 : 0);
        jd_engine_drain_changes(a.eng, kv_put, &kv);
        assert_int_equal(a.sink.n, 0);

        fx_open(&b, NULL, xs, nx);
        for (int i = 0; i < kv.n; i++)
            assert_int_equal(jd_engine_restore(b.eng, 0, kv.key[i], strlen(kv.key[i]), kv.val[i],
                                               kv.val[i] ? strlen(kv.val[i]) : 0, &err), 0);
        call(&b, "c", 60000);
        jd_engine_finish(b.eng, 0);
        if (bounded)
            assert_escalation(&b, 24, 40, "2026-11-22T10:00:00.240Z");
        else
            assert_escalation(&b, 0, 40, "2026-11-22T10:00:00.000Z");
        assert_int_equal(stat_of(b.eng, "groups_evicted"), 0);
        for (int i = 0; i < kv.n; i++) {
            free(kv.key[i]);
            free(kv.val[i]);
        }
        fx_close(&a);
        fx_close(&b);
    }
}

static void typed(fixture_t *fx, const char *idkey, const char *who, int64_t ms, const char *eid)
{
    fx_push(fx, "{\"ts\":%lld,\"%s\":\"%s\",\"type\":\"x\",\"event_id\":\"%s\"}",
            (long long)(T0 + ms), idkey, who, eid);
}

/* An event id re-sent after more events than journey.history is still a
 * duplicate (journey.dedupe_ids); with dedupe_ids 0 only history counts. */
static void test_dedupe_beyond_history(void **st)
{
    (void)st;
    for (int ids = 0; ids <= 1; ids++) {
        const char *xs[] = {"journey.dedupe_ids=0"};
        fixture_t fx;
        fx_open(&fx, NULL, xs, ids ? 0 : 1);
        typed(&fx, "customer_id", "c", 0, "first");
        for (int i = 0; i < 20; i++) {
            char eid[16];
            snprintf(eid, sizeof eid, "e%d", i);
            typed(&fx, "customer_id", "c", 1 + i, eid);
        }
        typed(&fx, "customer_id", "c", 100, "first");
        typed(&fx, "customer_id", "c", 101, "e19"); /* in history either way */
        jd_engine_finish(fx.eng, 0);
        assert_int_equal(jd_engine_stats(fx.eng)->duplicates, ids ? 2 : 1);
        fx_close(&fx);
    }
}

/* The ids are bounded: the oldest go once dedupe_ids are held. */
static void test_dedupe_bound(void **st)
{
    (void)st;
    const char *xs[] = {"journey.dedupe_ids=40", "journey.history=10"};
    fixture_t fx;
    fx_open(&fx, NULL, xs, 2);
    for (int i = 0; i < 50; i++) {
        char eid[16];
        snprintf(eid, sizeof eid, "e%d", i);
        typed(&fx, "customer_id", "c", i, eid);
    }
    typed(&fx, "customer_id", "c", 100, "e10"); /* the 40th newest: remembered */
    typed(&fx, "customer_id", "c", 101, "e9");  /* the 41st: forgotten */
    jd_engine_finish(fx.eng, 0);
    assert_int_equal(jd_engine_stats(fx.eng)->duplicates, 1);
    assert_int_equal(jd_engine_stats(fx.eng)->events_evaluated, 51);
    fx_close(&fx);
}

/* De-duplication ids survive stitching and the changelog. */
static void test_dedupe_merge_and_restore(void **st)
{
    (void)st;
    fixture_t a, b;
    kv_t kv = {0};
    jd_err_t err;
    fx_open(&a, NULL, NULL, 0);
    jd_engine_destroy(a.eng);
    jd_engine_opts_t o = {.track_changes = 1};
    a.eng = jd_engine_new(a.conf, &o, &err);
    typed(&a, "anonymous_id", "d", 0, "anon-1");
    for (int i = 0; i < 20; i++) {
        char eid[16];
        snprintf(eid, sizeof eid, "c%d", i);
        typed(&a, "customer_id", "c", 1 + i, eid);
    }
    fx_push(&a, "{\"ts\":%lld,\"anonymous_id\":\"d\",\"customer_id\":\"c\",\"type\":\"login\"}",
            (long long)(T0 + 30));
    for (int i = 0; i < 20; i++) {
        char eid[16];
        snprintf(eid, sizeof eid, "k%d", i);
        typed(&a, "customer_id", "c", 40 + i, eid);
    }
    typed(&a, "customer_id", "c", 70, "anon-1"); /* merged in from d */
    jd_engine_advance(a.eng, T0 + 1000);
    assert_int_equal(jd_engine_stats(a.eng)->duplicates, 1);
    jd_engine_drain_changes(a.eng, kv_put, &kv);

    fx_open(&b, NULL, NULL, 0);
    for (int i = 0; i < kv.n; i++)
        assert_int_equal(jd_engine_restore(b.eng, 0, kv.key[i], strlen(kv.key[i]), kv.val[i],
                                           kv.val[i] ? strlen(kv.val[i]) : 0, &err), 0);
    typed(&b, "customer_id", "c", 2000, "c0");
    typed(&b, "anonymous_id", "d", 2001, "anon-1");
    typed(&b, "customer_id", "c", 2002, "new");
    jd_engine_finish(b.eng, 0);
    assert_int_equal(jd_engine_stats(b.eng)->duplicates, 2);
    assert_int_equal(jd_engine_stats(b.eng)->events_evaluated, 1);
    for (int i = 0; i < kv.n; i++) {
        free(kv.key[i]);
        free(kv.val[i]);
    }
    fx_close(&a);
    fx_close(&b);
}

/* Event time plus a duration saturates: a funnel attempt (restored from a
 * changelog record) started near the end of int64 time has its deadline at
 * the end of time, not wrapped into the past, where it fired at once. */
static void test_time_arithmetic_saturates(void **st)
{
    (void)st;
    assert_true(jd_time_add(INT64_MAX - 5, 10) == INT64_MAX);
    assert_true(jd_time_add(INT64_MIN + 5, -10) == INT64_MIN);
    assert_true(jd_time_sub(INT64_MIN + 5, 10) == INT64_MIN);
    assert_true(jd_time_sub(INT64_MAX - 5, -10) == INT64_MAX);
    assert_int_equal(jd_time_add(1000, 10), 1010);
    fixture_t fx;
    jd_err_t err;
    char rec[512];
    long long big = INT64_MAX - 1000;
    snprintf(rec, sizeof rec, "{\"t\":%lld,\"h\":[],\"a\":{},\"r\":{\"checkout_dropoff\":"
             "{\"s\":%lld,\"e\":[[%lld,\"web\",null,null]]}}}", big, big, big);
    fx_open(&fx, NULL, NULL, 0);
    assert_int_equal(jd_engine_restore(fx.eng, 0, "c:a", 3, rec, strlen(rec), &err), 0);
    fx_push(&fx, "{\"ts\":%lld,\"customer_id\":\"b\",\"type\":\"x\"}", (long long)T0);
    fx_push(&fx, "{\"ts\":%lld,\"customer_id\":\"b\",\"type\":\"x\"}", (long long)T0 + 60000);
    jd_engine_finish(fx.eng, 0);
    uint32_t fr = jd_config_rule(fx.conf, "checkout_dropoff")->index;
    assert_int_equal(fx.sink.n, 0);
    assert_int_equal(jd_engine_stats(fx.eng)->funnels[fr].pending, 1);
    fx_close(&fx);
}

/* time.max_buffered: beyond it the watermark moves just enough to release
 * the oldest event; each such advance is counted; nothing is dropped. */
static void test_max_buffered_forces_watermark(void **st)
{
    (void)st;
    const char *xs[] = {"time.max_buffered=3", "time.lateness=1h"};
    fixture_t fx;
    fx_open(&fx, NULL, xs, 2);
    for (int i = 0; i < 5; i++)
        assert_int_equal(fx_push(&fx, "{\"ts\":%lld,\"customer_id\":\"c%d\",\"type\":\"x\"}",
                                 (long long)(T0 + i * 1000), i), JD_DL_NONE);
    const jd_engine_stats_t *s = jd_engine_stats(fx.eng);
    assert_int_equal(s->events_evaluated, 2); /* the 4th and 5th pushes each released one */
    assert_int_equal(s->buffered, 3);
    assert_int_equal(s->watermark, T0 + 1000);
    assert_int_equal(stat_of(fx.eng, "forced_advances"), 2);
    /* older than the forced watermark: late, as any event behind it */
    assert_int_equal(fx_push(&fx, "{\"ts\":%lld,\"customer_id\":\"z\",\"type\":\"x\"}",
                             (long long)(T0 + 999)), JD_DL_LATE);
    jd_engine_finish(fx.eng, 0);
    assert_int_equal(jd_engine_stats(fx.eng)->events_evaluated, 5);
    fx_close(&fx);
}

static void test_numeric_match(void **st)
{
    (void)st;
    const char *cfg =
        "{\"rules\":[{\"name\":\"big\",\"kind\":\"burst\",\"match\":{\"amount\":100,\"price\":35.79},"
        "\"count\":1,\"within\":\"1s\"}]}";
    fixture_t fx;
    fx_open(&fx, cfg, NULL, 0);
    fx_push(&fx, "{\"ts\":%lld,\"customer_id\":\"a\",\"type\":\"x\",\"amount\":100.0,\"price\":35.79}", (long long)T0);
    fx_push(&fx, "{\"ts\":%lld,\"customer_id\":\"b\",\"type\":\"x\",\"amount\":1e2,\"price\":\"35.79\"}", (long long)T0);
    fx_push(&fx, "{\"ts\":%lld,\"customer_id\":\"c\",\"type\":\"x\",\"amount\":101,\"price\":35.79}", (long long)T0);
    jd_engine_finish(fx.eng, 0);
    assert_int_equal(fx.sink.n, 2);
    fx_close(&fx);
}

/* keyed_by=any hand-over (src/engine/freeze.c): a customer frozen at its
 * link waits for the anonymous journey from another engine while the
 * watermark goes on; after import and thaw the stitched journey is
 * evaluated in one engine's order: the anonymous cart and the logged-in
 * purchase make one completed funnel, no drop-off. Without the freeze the
 * purchase is evaluated before the merge and the imported funnel drops
 * off. */
static void handover_fixture(fixture_t *fx)
{
    jd_err_t err;
    fx_open(fx, NULL, NULL, 0);
    jd_engine_destroy(fx->eng);
    jd_engine_opts_t o = {.on_alert = sink_alert, .opaque = &fx->sink, .track_changes = 1,
                          .fixed_emitted_at = T0};
    fx->eng = jd_engine_new(fx->conf, &o, &err);
    assert_non_null(fx->eng);
}

static void handover_run(int freeze)
{
    fixture_t a, c;
    kv_t kv = {0};
    jd_err_t err;
    const int64_t L = T0 + 5 * 60000; /* the link, 5 min after the cart */
    handover_fixture(&a);
    handover_fixture(&c);
    /* the anonymous journey, at its home engine */
    fx_push(&a, "{\"ts\":%lld,\"anonymous_id\":\"d\",\"type\":\"add_to_cart\"}", (long long)T0);
    fx_push(&a, "{\"ts\":%lld,\"anonymous_id\":\"d\",\"type\":\"checkout_start\"}",
            (long long)(T0 + 1000));
    jd_engine_advance(a.eng, L - 1);
    /* the customer's engine reads the link and the purchase long before
     * the hand-over arrives, and its watermark passes the cart's window */
    fx_push(&c, "{\"ts\":%lld,\"anonymous_id\":\"d\",\"customer_id\":\"c\",\"type\":\"login\"}",
            (long long)L);
    if (freeze)
        assert_int_equal(jd_engine_freeze(c.eng, "c", L, "d"), 0);
    fx_push(&c, "{\"ts\":%lld,\"customer_id\":\"c\",\"type\":\"purchase\"}", (long long)(L + 1000));
    fx_push(&c, "{\"ts\":%lld,\"customer_id\":\"x\",\"type\":\"page_view\",\"page\":\"/\"}",
            (long long)(T0 + 3600000));
    jd_engine_advance(c.eng, T0 + 3600000);
    assert_int_equal(jd_engine_frozen_count(c.eng), (size_t)freeze);
    /* the hand-over */
    assert_int_equal(jd_engine_export_records(a.eng, "d", L - 1, kv_put, &kv), 1);
    assert_string_equal(kv.key[0], "a:d");
    for (int i = 0; i < kv.n; i++)
        assert_int_equal(jd_engine_import_record(c.eng, 1, kv.key[i], strlen(kv.key[i]), kv.val[i],
                                                 strlen(kv.val[i]), &err), 0);
    if (freeze)
        jd_engine_thaw(c.eng, "c", L);
    jd_engine_advance(c.eng, T0 + 3600000);
    assert_int_equal(jd_engine_frozen_count(c.eng), 0);
    const jd_rule_t *f = jd_config_rule(c.conf, "checkout_dropoff");
    assert_non_null(f);
    const jd_engine_stats_t *st = jd_engine_stats(c.eng);
    int drops = 0;
    char b[64];
    for (int i = 0; i < c.sink.n; i++)
        drops += !strcmp(alert_str(c.sink.alerts[i], "rule", b, sizeof(b)), "checkout_dropoff");
    if (freeze) {
        assert_int_equal(st->funnels[f->index].completed, 1);
        assert_int_equal(drops, 0);
    } else {
        assert_int_equal(st->funnels[f->index].completed, 0);
        assert_int_equal(drops, 1);
    }
    /* the anonymous journey left its home: a tombstone for its key */
    kv_t gone = {0};
    jd_engine_drain_changes(a.eng, kv_put, &gone);
    int tomb = 0;
    for (int i = 0; i < gone.n; i++)
        tomb += !strcmp(gone.key[i], "a:d") && !gone.val[i];
    assert_int_equal(tomb, 1);
    for (int i = 0; i < kv.n; i++) {
        free(kv.key[i]);
        free(kv.val[i]);
    }
    for (int i = 0; i < gone.n; i++) {
        free(gone.key[i]);
        free(gone.val[i]);
    }
    fx_close(&a);
    fx_close(&c);
}

static void test_handover_frozen_customer(void **st)
{
    (void)st;
    handover_run(1);
}

static void test_handover_unfrozen_drops_off(void **st)
{
    (void)st;
    handover_run(0);
}

/* The de-duplication set against a plain model: after any number of
 * additions it holds exactly the last `bound` ids, across ring wraps and
 * the index sweeps that retire the ids leaving it (idset.c never deletes
 * from its index). Ids are drawn from a small space so that the same id
 * comes back, both while still held and after it has left. */
static void test_idset_window(void **state)
{
    (void)state;
    const uint32_t bounds[] = {3, 16, 17, 100, 1008};
    for (size_t b = 0; b < sizeof(bounds) / sizeof(bounds[0]); b++) {
        uint32_t bound = bounds[b];
        jd_idset_t *s = NULL;
        uint64_t *model = calloc(bound, sizeof(uint64_t));
        assert_non_null(model);
        uint32_t mn = 0, mhead = 0;
        uint64_t x = 88172645463325252ull;
        for (uint32_t step = 0; step < 20000; step++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            /* ids 1..3*bound, spread over the hash bits the index uses */
            uint64_t id = (x % (3 * (uint64_t)bound) + 1) * 0x9E3779B97F4A7C15ull;
            int held = 0;
            for (uint32_t i = 0; i < mn; i++)
                held |= model[(mhead + i) % bound] == id;
            assert_int_equal(jd_idset_has(s, id), held);
            if (held)
                continue; /* the engine adds only ids it has not seen */
            assert_int_equal(jd_idset_add(&s, id, bound), 0);
            if (mn == bound)
                mhead = (mhead + 1) % bound, mn--;
            model[(mhead + mn++) % bound] = id;
            assert_int_equal(s->n, mn);
        }
        /* every id the model dropped is gone, every one it holds is there */
        for (uint64_t k = 1; k <= 3 * (uint64_t)bound; k++) {
            uint64_t id = k * 0x9E3779B97F4A7C15ull;
            int held = 0;
            for (uint32_t i = 0; i < mn; i++)
                held |= model[(mhead + i) % bound] == id;
            assert_int_equal(jd_idset_has(s, id), held);
        }
        jd_idset_free(s);
        free(model);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_gap_edges),
        cmocka_unit_test(test_burst_within_consumes),
        cmocka_unit_test(test_funnel_deadline_order),
        cmocka_unit_test(test_finish_pending_and_flush),
        cmocka_unit_test(test_identity_merge_burst),
        cmocka_unit_test(test_identity_merge_funnel),
        cmocka_unit_test(test_deterministic_under_reorder),
        cmocka_unit_test(test_alert_id_stable),
        cmocka_unit_test(test_cooldown),
        cmocka_unit_test(test_late_and_duplicates),
        cmocka_unit_test(test_retention_and_eviction),
        cmocka_unit_test(test_window_outlives_retention),
        cmocka_unit_test(test_sequence_from_alert),
        cmocka_unit_test(test_changelog_roundtrip),
        cmocka_unit_test(test_changelog_partial_drain),
        cmocka_unit_test(test_changelog_reads_spelled_out_records),
        cmocka_unit_test(test_numeric_match),
        cmocka_unit_test(test_burst_many_groups_exact),
        cmocka_unit_test(test_burst_max_groups_evicts),
        cmocka_unit_test(test_burst_group_kept_while_chainable),
        cmocka_unit_test(test_burst_many_groups_merge_and_restore),
        cmocka_unit_test(test_sequence_many_firsts_exact),
        cmocka_unit_test(test_sequence_max_groups_evicts),
        cmocka_unit_test(test_sequence_firsts_merge_and_restore),
        cmocka_unit_test(test_dedupe_beyond_history),
        cmocka_unit_test(test_dedupe_bound),
        cmocka_unit_test(test_dedupe_merge_and_restore),
        cmocka_unit_test(test_time_arithmetic_saturates),
        cmocka_unit_test(test_max_buffered_forces_watermark),
        cmocka_unit_test(test_handover_frozen_customer),
        cmocka_unit_test(test_handover_unfrozen_drops_off),
        cmocka_unit_test(test_idset_window),
    };
    return cmocka_run_group_tests_name("engine", tests, NULL, NULL);
}
