/* Funnel breakdown_by segments and drop-off evidence.struggles (contract 5a). */
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
#include "journeyd/timeutil.h"

#define MAX_ALERTS 512
#define T0 1795341600000LL /* 2026-11-22T10:00:00Z */
#define MIN 60000LL

/* A 3-step funnel split by brand, within 10m, and a one-event "oops" alert
 * on every error (cooldown-free), so struggles are easy to place. */
static const char *const CFG =
    "{\"rules\":["
    "{\"name\":\"oops\",\"kind\":\"burst\",\"match\":{\"type\":\"error\"},\"count\":1,\"within\":\"1s\"},"
    "{\"name\":\"buy\",\"kind\":\"funnel\",\"within\":\"10m\",\"breakdown_by\":\"brand\",\"steps\":["
    "{\"name\":\"view\",\"match\":{\"type\":\"view\"}},"
    "{\"name\":\"cart\",\"match\":{\"type\":\"cart\"}},"
    "{\"name\":\"paid\",\"match\":{\"type\":\"paid\"}}]}]}";

typedef struct fixture {
    jd_config_t *conf;
    jd_decoder_t *dec;
    jd_engine_t *eng;
    char *alerts[MAX_ALERTS];
    int n;
} fixture_t;

static void sink_alert(void *opaque, const char *key, size_t keylen,
                       const char *json, size_t len, int64_t ts)
{
    fixture_t *fx = opaque;
    (void)key; (void)keylen; (void)ts;
    if (fx->n < MAX_ALERTS)
        fx->alerts[fx->n++] = strndup(json, len);
}

static void fx_open(fixture_t *fx, int track)
{
    memset(fx, 0, sizeof(*fx));
    char path[] = "/tmp/jd-test-funnel-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, CFG, strlen(CFG)), (ssize_t)strlen(CFG));
    close(fd);
    jd_err_t err;
    fx->conf = jd_config_load(path, NULL, 0, &err);
    unlink(path);
    if (!fx->conf)
        fail_msg("config: %s", err.msg);
    assert_non_null(fx->dec = jd_decoder_new(fx->conf, &err));
    jd_engine_opts_t o = {.on_alert = sink_alert, .opaque = fx, .auto_watermark = !track,
                          .track_changes = track, .fixed_emitted_at = T0};
    assert_non_null(fx->eng = jd_engine_new(fx->conf, &o, &err));
}

static void fx_close(fixture_t *fx)
{
    for (int i = 0; i < fx->n; i++)
        free(fx->alerts[i]);
    jd_engine_destroy(fx->eng);
    jd_decoder_destroy(fx->dec);
    /* every interner reference given back (attempts hold their segment
     * value; the segment counters pin theirs) */
    jd_intern_sweep(fx->conf->intern);
    assert_int_equal(jd_intern_count(fx->conf->intern), jd_intern_pinned(fx->conf->intern));
    jd_config_destroy(fx->conf);
}

/* One event: who is "c:<id>" (customer), "a:<id>" (anonymous) or
 * "b:<anon>:<cust>" (both: a stitch); brand NULL = no brand field. */
static void ev(fixture_t *fx, const char *who, int64_t ms, const char *type, const char *brand)
{
    char buf[512], id[128], b[96] = "";
    if (who[0] == 'b') {
        const char *colon = strchr(who + 2, ':');
        snprintf(id, sizeof(id), "\"anonymous_id\":\"%.*s\",\"customer_id\":\"%s\"",
                 (int)(colon - who - 2), who + 2, colon + 1);
    } else {
        snprintf(id, sizeof(id), "\"%s\":\"%s\"", who[0] == 'c' ? "customer_id" : "anonymous_id",
                 who + 2);
    }
    if (brand)
        snprintf(b, sizeof(b), ",\"brand\":\"%s\"", brand);
    snprintf(buf, sizeof(buf), "{\"ts\":%lld,%s,\"type\":\"%s\"%s}", (long long)(T0 + ms), id,
             type, b);
    jd_event_t *e = NULL;
    char detail[256];
    if (jd_decode_json(fx->dec, buf, strlen(buf), &e, detail, sizeof(detail)) != JD_DL_NONE)
        fail_msg("decode %s: %s", buf, detail);
    assert_int_equal(jd_engine_push(fx->eng, e), JD_DL_NONE);
}

static const jd_funnel_stats_t *fstats(fixture_t *fx)
{
    return &jd_engine_stats(fx->eng)->funnels[jd_config_rule(fx->conf, "buy")->index];
}

/* The "segments" entry of funnel buy with value v (NULL: the absent one)
 * in the engine's JSON; new reference, NULL if none. */
static json_t *seg_json(fixture_t *fx, const char *v)
{
    json_t *o = jd_engine_stats_json(fx->eng);
    json_t *segs = json_object_get(json_object_get(json_object_get(o, "funnels"), "buy"), "segments");
    json_t *found = NULL;
    for (size_t i = 0; i < json_array_size(segs); i++) {
        json_t *s = json_array_get(segs, i), *val = json_object_get(s, "value");
        if (v ? json_is_string(val) && !strcmp(json_string_value(val), v) : json_is_null(val))
            found = json_incref(s);
    }
    json_decref(o);
    return found;
}

static json_int_t jint(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static json_int_t step_int(json_t *seg, size_t k, const char *key)
{
    return jint(json_array_get(json_object_get(seg, "steps"), k), key);
}

/* Every count split by the step-1 event's brand; later events' brands do
 * not move an attempt; an absent brand is its own segment (value null). */
static void test_segments_exact(void **st)
{
    (void)st;
    fixture_t fx;
    fx_open(&fx, 0);
    ev(&fx, "c:1", 0, "view", "acme");          /* acme: completes */
    ev(&fx, "c:1", 1000, "cart", "zeta");       /* brand of a later step: ignored */
    ev(&fx, "c:1", 2000, "paid", NULL);
    ev(&fx, "c:2", 0, "view", "acme");          /* acme: drops after cart */
    ev(&fx, "c:2", 1000, "cart", "acme");
    ev(&fx, "c:3", 0, "view", "zeta");          /* zeta: drops after view */
    ev(&fx, "c:4", 0, "view", NULL);            /* (none): pending at the end */
    ev(&fx, "c:4", 15 * MIN, "cart", NULL);     /* c:4's first attempt dropped; */
    ev(&fx, "c:4", 16 * MIN, "view", NULL);     /* a second one stays open */
    jd_engine_finish(fx.eng, 0);
    const jd_funnel_stats_t *f = fstats(&fx);
    assert_int_equal(f->attempts, 5);
    assert_int_equal(f->nsegs, 3);
    json_t *acme = seg_json(&fx, "acme"), *zeta = seg_json(&fx, "zeta"), *none = seg_json(&fx, NULL);
    assert_non_null(acme);
    assert_non_null(zeta);
    assert_non_null(none);
    assert_int_equal(jint(acme, "attempts"), 2);
    assert_int_equal(jint(acme, "completed"), 1);
    assert_int_equal(jint(acme, "pending"), 0);
    assert_int_equal(step_int(acme, 0, "reached"), 2);
    assert_int_equal(step_int(acme, 1, "reached"), 2);
    assert_int_equal(step_int(acme, 2, "reached"), 1);
    assert_int_equal(step_int(acme, 1, "dropped_after"), 1);
    assert_int_equal(jint(zeta, "attempts"), 1);
    assert_int_equal(step_int(zeta, 0, "dropped_after"), 1);
    assert_int_equal(step_int(zeta, 1, "reached"), 0);
    assert_int_equal(jint(none, "attempts"), 2);
    assert_int_equal(step_int(none, 0, "dropped_after"), 1);
    assert_int_equal(jint(none, "pending"), 1);
    /* display order: most attempts first, ties by value with absent first */
    json_t *o = jd_engine_stats_json(fx.eng);
    json_t *fo = json_object_get(json_object_get(o, "funnels"), "buy");
    json_t *segs = json_object_get(fo, "segments");
    assert_int_equal(json_array_size(segs), 3);
    assert_true(json_is_null(json_object_get(json_array_get(segs, 0), "value")));
    assert_string_equal(json_string_value(json_object_get(json_array_get(segs, 1), "value")), "acme");
    assert_string_equal(json_string_value(json_object_get(fo, "breakdown_by")), "brand");
    assert_int_equal(jint(json_object_get(fo, "other_segments"), "attempts"), 0);
    json_decref(o);
    json_decref(acme);
    json_decref(zeta);
    json_decref(none);
    fx_close(&fx);
}

/* The first JD_FUNNEL_SEGMENTS_MAX values get a segment; attempts of later
 * values are counted under "(other)", through to their end. */
static void test_segments_bound(void **st)
{
    (void)st;
    fixture_t fx;
    fx_open(&fx, 0);
    int n = JD_FUNNEL_SEGMENTS_MAX + 44;
    char who[32], brand[32];
    for (int i = 0; i < n; i++) {
        snprintf(who, sizeof(who), "c:%d", i);
        snprintf(brand, sizeof(brand), "b%03d", i);
        ev(&fx, who, i, "view", brand);
        if (i % 2)
            ev(&fx, who, 1000 + i, "cart", NULL);
    }
    ev(&fx, "c:x", 30 * MIN, "noise", NULL);
    jd_engine_finish(fx.eng, 0);
    const jd_funnel_stats_t *f = fstats(&fx);
    assert_int_equal(f->nsegs, JD_FUNNEL_SEGMENTS_MAX);
    assert_int_equal(f->other.attempts, 44);
    assert_int_equal(f->other.reached[1], 22);
    assert_int_equal(f->other.dropped[0], 22);
    assert_int_equal(f->other.dropped[1], 22);
    for (uint32_t i = 0; i < f->nsegs; i++) {
        assert_int_equal(f->segs[i].attempts, 1);
        assert_int_equal(jd_funnel_seg_pending(&f->segs[i], 3), 0);
    }
    json_t *o = jd_engine_stats_json(fx.eng);
    json_t *fo = json_object_get(json_object_get(o, "funnels"), "buy");
    assert_int_equal(json_array_size(json_object_get(fo, "segments")), JD_FUNNEL_SEGMENTS_MAX);
    assert_int_equal(jint(json_object_get(fo, "other_segments"), "attempts"), 44);
    assert_int_equal(jint(fo, "segments_max"), JD_FUNNEL_SEGMENTS_MAX);
    json_decref(o);
    json_t *last = seg_json(&fx, "b255"), *first_out = seg_json(&fx, "b256");
    assert_non_null(last);
    assert_null(first_out);
    json_decref(last);
    fx_close(&fx);
}

/* A stitch keeps the attempt furthest along with its step-1 segment; the
 * other one leaves its segment's counts as if it never started. */
static void test_segment_survives_merge(void **st)
{
    (void)st;
    fixture_t fx;
    fx_open(&fx, 0);
    ev(&fx, "a:d", 0, "view", "anon-brand");
    ev(&fx, "a:d", 1000, "cart", NULL);
    ev(&fx, "c:u", 2000, "view", "cust-brand");
    ev(&fx, "b:d:u", 3000, "login", NULL);
    ev(&fx, "c:u", 4000, "paid", "cust-brand");
    jd_engine_finish(fx.eng, 0);
    json_t *anon = seg_json(&fx, "anon-brand"), *cust = seg_json(&fx, "cust-brand");
    assert_int_equal(jint(anon, "attempts"), 1);
    assert_int_equal(jint(anon, "completed"), 1);
    assert_int_equal(step_int(anon, 2, "reached"), 1);
    assert_int_equal(jint(cust, "attempts"), 0);
    assert_int_equal(jint(cust, "pending"), 0);
    assert_int_equal(fstats(&fx)->attempts, 1);
    json_decref(anon);
    json_decref(cust);
    fx_close(&fx);
}

typedef struct kv {
    char *key[16], *val[16];
    int n;
} kv_t;

static void kv_put(void *opaque, int32_t tag, const char *key, size_t keylen,
                   const void *val, size_t vallen)
{
    kv_t *kv = opaque;
    (void)tag;
    assert_true(kv->n < 16);
    kv->key[kv->n] = strndup(key, keylen);
    kv->val[kv->n++] = val ? strndup(val, vallen) : NULL;
}

/* The changelog record carries the segment and the struggles so far: a
 * restored attempt completes under its segment, drops off listing them. */
static void test_segment_and_struggles_survive_restore(void **st)
{
    (void)st;
    fixture_t a, b;
    kv_t kv = {0};
    jd_err_t err;
    fx_open(&a, 1);
    ev(&a, "c:1", 0, "view", "acme");
    ev(&a, "c:2", 0, "view", "zeta");
    ev(&a, "c:2", 1000, "error", NULL);
    jd_engine_advance(a.eng, T0 + 1000);
    assert_int_equal(a.n, 1);
    char oops_id[17];
    memcpy(oops_id, a.alerts[0] + strlen("{\"alert_id\":\""), 16);
    oops_id[16] = 0;
    jd_engine_drain_changes(a.eng, kv_put, &kv);
    assert_int_equal(kv.n, 2);

    fx_open(&b, 0);
    for (int i = 0; i < kv.n; i++)
        assert_int_equal(jd_engine_restore(b.eng, 0, kv.key[i], strlen(kv.key[i]), kv.val[i],
                                           strlen(kv.val[i]), &err), 0);
    ev(&b, "c:1", 2000, "cart", NULL);
    ev(&b, "c:1", 3000, "paid", NULL);
    ev(&b, "c:x", 20 * MIN, "noise", NULL);
    jd_engine_finish(b.eng, 0);
    const jd_funnel_stats_t *f = fstats(&b);
    assert_int_equal(f->other.completed, 0);
    json_t *acme = seg_json(&b, "acme"), *zeta = seg_json(&b, "zeta");
    assert_non_null(acme);
    assert_non_null(zeta);
    assert_int_equal(jint(acme, "completed"), 1);
    assert_int_equal(step_int(acme, 1, "reached"), 1);
    assert_int_equal(step_int(zeta, 0, "dropped_after"), 1);
    json_decref(acme);
    json_decref(zeta);
    assert_int_equal(b.n, 1);
    json_t *al = json_loads(b.alerts[0], 0, NULL);
    json_t *strs = json_object_get(json_object_get(al, "evidence"), "struggles");
    assert_int_equal(json_array_size(strs), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(strs, 0), "alert_id")), oops_id);
    assert_string_equal(json_string_value(json_object_get(json_object_get(al, "funnel"), "segment")), "zeta");
    json_decref(al);
    for (int i = 0; i < kv.n; i++) {
        free(kv.key[i]);
        free(kv.val[i]);
    }
    fx_close(&a);
    fx_close(&b);
}

/* The alert_id of every "oops" alert, in order, and the drop-off. */
static int collect(fixture_t *fx, char ids[][17], json_t **drop)
{
    int n = 0;
    *drop = NULL;
    for (int i = 0; i < fx->n; i++) {
        json_t *o = json_loads(fx->alerts[i], 0, NULL);
        assert_non_null(o);
        if (!strcmp(json_string_value(json_object_get(o, "rule")), "buy")) {
            assert_null(*drop);
            *drop = o;
            continue;
        }
        snprintf(ids[n++], 17, "%s", json_string_value(json_object_get(o, "alert_id")));
        json_decref(o);
    }
    assert_non_null(*drop);
    return n;
}

/* Struggles: exactly the other alerts with ts in [start, deadline], with
 * their ids and times, oldest first; not part of the drop-off's id. */
static void test_struggles_window(void **st)
{
    (void)st;
    fixture_t fx, quiet;
    fx_open(&fx, 0);
    ev(&fx, "c:1", -1, "error", NULL);          /* before the start: no */
    ev(&fx, "c:1", 0, "view", "acme");
    ev(&fx, "c:1", 0, "error", NULL);           /* at the start: yes */
    ev(&fx, "c:2", 5000, "error", NULL);        /* another customer: no */
    ev(&fx, "c:1", 5 * MIN, "error", NULL);     /* yes */
    ev(&fx, "c:1", 10 * MIN, "error", NULL);    /* at the deadline: yes */
    ev(&fx, "c:1", 10 * MIN + 1, "error", NULL);/* after: no */
    jd_engine_finish(fx.eng, 1);
    char ids[16][17];
    json_t *drop;
    assert_int_equal(collect(&fx, ids, &drop), 6);
    json_t *strs = json_object_get(json_object_get(drop, "evidence"), "struggles");
    assert_int_equal(json_array_size(strs), 3);
    const int want[3] = {1, 3, 4}; /* indices among the oops alerts */
    const char *ts[3] = {"2026-11-22T10:00:00.000Z", "2026-11-22T10:05:00.000Z",
                         "2026-11-22T10:10:00.000Z"};
    for (int i = 0; i < 3; i++) {
        json_t *s = json_array_get(strs, (size_t)i);
        assert_string_equal(json_string_value(json_object_get(s, "rule")), "oops");
        assert_string_equal(json_string_value(json_object_get(s, "alert_id")), ids[want[i]]);
        assert_string_equal(json_string_value(json_object_get(s, "ts")), ts[i]);
    }
    assert_null(json_object_get(json_object_get(drop, "evidence"), "struggles_omitted"));

    /* the same attempt without any struggle has the same alert_id */
    fx_open(&quiet, 0);
    ev(&quiet, "c:1", 0, "view", "acme");
    jd_engine_finish(quiet.eng, 1);
    assert_int_equal(quiet.n, 1);
    json_t *q = json_loads(quiet.alerts[0], 0, NULL);
    assert_string_equal(json_string_value(json_object_get(q, "alert_id")),
                        json_string_value(json_object_get(drop, "alert_id")));
    assert_int_equal(json_array_size(json_object_get(json_object_get(q, "evidence"), "struggles")), 0);
    json_decref(q);
    json_decref(drop);
    fx_close(&quiet);
    fx_close(&fx);
}

/* At most 16 listed (the oldest), the rest counted. */
static void test_struggles_bound(void **st)
{
    (void)st;
    fixture_t fx;
    fx_open(&fx, 0);
    ev(&fx, "c:1", 0, "view", NULL);
    for (int i = 0; i < 21; i++)
        ev(&fx, "c:1", 1000 * (i + 1), "error", NULL);
    jd_engine_finish(fx.eng, 1);
    char ids[32][17];
    json_t *drop;
    assert_int_equal(collect(&fx, ids, &drop), 21);
    json_t *evd = json_object_get(drop, "evidence");
    json_t *strs = json_object_get(evd, "struggles");
    assert_int_equal(json_array_size(strs), 16);
    for (int i = 0; i < 16; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(strs, (size_t)i),
                                                              "alert_id")), ids[i]);
    assert_int_equal(jint(evd, "struggles_omitted"), 5);
    json_decref(drop);
    fx_close(&fx);
}

/* A stitch folds the anonymous attempt's struggles into the kept one. */
static void test_struggles_merge(void **st)
{
    (void)st;
    fixture_t fx;
    fx_open(&fx, 0);
    ev(&fx, "c:u", 0, "view", NULL);
    ev(&fx, "a:d", 1000, "view", NULL);
    ev(&fx, "a:d", 2000, "error", NULL);
    ev(&fx, "c:u", 3000, "error", NULL);
    ev(&fx, "b:d:u", 4000, "login", NULL);
    ev(&fx, "c:u", 5000, "error", NULL);
    jd_engine_finish(fx.eng, 1);
    char ids[8][17];
    json_t *drop;
    assert_int_equal(collect(&fx, ids, &drop), 3);
    json_t *strs = json_object_get(json_object_get(drop, "evidence"), "struggles");
    assert_int_equal(json_array_size(strs), 3);
    for (int i = 0; i < 3; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(strs, (size_t)i),
                                                              "alert_id")), ids[i]);
    json_decref(drop);
    fx_close(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_segments_exact),
        cmocka_unit_test(test_segments_bound),
        cmocka_unit_test(test_segment_survives_merge),
        cmocka_unit_test(test_segment_and_struggles_survive_restore),
        cmocka_unit_test(test_struggles_window),
        cmocka_unit_test(test_struggles_bound),
        cmocka_unit_test(test_struggles_merge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
