/* The report's collector and its fixed-size summaries: counts, top-k,
 * histogram percentiles, the bounded flow table, and the two writers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "journeyd/decode.h"
#include "journeyd/report.h"
#include "report/report_int.h"

/* ---- sketches ----------------------------------------------------------- */

static void test_hist_exact_small_values(void **st)
{
    (void)st;
    jd_rhist_t h;
    jd_rhist_init(&h);
    assert_int_equal(jd_rhist_quantile(&h, 0.5), 0);
    for (int v = 100; v >= 1; v--)   /* order must not matter */
        jd_rhist_add(&h, v);
    assert_int_equal(h.n, 100);
    assert_int_equal(jd_rhist_quantile(&h, 0.5), 50);   /* rank 50 */
    assert_int_equal(jd_rhist_quantile(&h, 0.9), 90);   /* rank 90: 90 = 45 * 2, a bucket bound */
    assert_int_equal(jd_rhist_quantile(&h, 0.0), 1);    /* rank 1 at least */
    assert_int_equal(jd_rhist_quantile(&h, 1.0), 100);
    assert_int_equal(jd_rhist_quantile(&h, 0.505), 51); /* ceil(50.5) */
}

static void test_hist_large_values(void **st)
{
    (void)st;
    jd_rhist_t h;
    jd_rhist_init(&h);
    for (int i = 0; i < 9; i++)
        jd_rhist_add(&h, 1000);
    jd_rhist_add(&h, 60000);
    /* 1000's bucket starts at 992; clamped to the exact minimum */
    assert_int_equal(jd_rhist_quantile(&h, 0.5), 1000);
    assert_int_equal(jd_rhist_quantile(&h, 0.9), 1000);
    assert_int_equal(jd_rhist_quantile(&h, 0.99), 60000);   /* the last rank is the max */
    for (int i = 0; i < 9; i++)
        jd_rhist_add(&h, 60000);
    jd_rhist_add(&h, 120000);
    /* rank 19 of 20: 60000's bucket starts at 58 << 10 = 59392, 1/32 below at most */
    assert_int_equal(jd_rhist_quantile(&h, 0.9), 59392);
    /* powers of two and their 1/32 steps are exact */
    jd_rhist_init(&h);
    jd_rhist_add(&h, 1800000);     /* 30 min: the maximum is exact */
    jd_rhist_add(&h, 65536);
    jd_rhist_add(&h, 65536 + 2048);
    assert_int_equal(jd_rhist_quantile(&h, 0.5), 65536 + 2048);
    assert_int_equal(jd_rhist_quantile(&h, 1.0), 1800000);
    jd_rhist_add(&h, -5);          /* negative durations count as 0 */
    assert_int_equal(jd_rhist_quantile(&h, 0.1), 0);
    /* the documented bound holds over a spread of values */
    jd_rhist_init(&h);
    uint64_t x = 88172645463325252ull;
    int64_t vals[2000];
    for (int i = 0; i < 2000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        vals[i] = (int64_t)(x % 86400000);
        jd_rhist_add(&h, vals[i]);
    }
    for (int i = 1; i < 2000; i++)   /* insertion sort: exact ranks */
        for (int k = i; k > 0 && vals[k] < vals[k - 1]; k--) {
            int64_t t = vals[k];
            vals[k] = vals[k - 1];
            vals[k - 1] = t;
        }
    int64_t p90 = jd_rhist_quantile(&h, 0.9), exact = vals[1799];
    assert_true(p90 <= exact);
    assert_true((double)(exact - p90) <= (double)exact / 32.0);
}

static void test_topk_exact_and_heavy_hitters(void **st)
{
    (void)st;
    jd_topk_t *t = jd_topk_new(8);
    int rep;
    /* fewer keys than counters: exact */
    for (int i = 0; i < 5; i++)
        jd_topk_add(t, "page=/a", 7, &rep);
    jd_topk_add(t, "page=/b", 7, &rep);
    assert_int_equal(rep, 0);
    const jd_topk_item_t *s[8];
    jd_topk_sorted(t, s);
    assert_int_equal(t->n, 2);
    assert_string_equal(s[0]->key, "page=/a");
    assert_int_equal(s[0]->count, 5);
    assert_int_equal(s[0]->err, 0);
    /* heavy hitters survive 200 one-off keys */
    char key[32];
    for (int i = 0; i < 200; i++) {
        jd_topk_add(t, "hot", 3, &rep);
        if (i % 2 == 0)
            jd_topk_add(t, "warm", 4, &rep);
        snprintf(key, sizeof(key), "cold-%d", i);
        jd_topk_add(t, key, strlen(key), &rep);
    }
    assert_int_equal(t->total, 6 + 200 + 100 + 200);
    jd_topk_sorted(t, s);
    assert_string_equal(s[0]->key, "hot");
    assert_true(s[0]->count - s[0]->err <= 200 && 200 <= s[0]->count);
    assert_string_equal(s[1]->key, "warm");
    assert_true(s[1]->count - s[1]->err <= 100 && 100 <= s[1]->count);
    /* long keys are cut, still found again */
    char lng[200];
    memset(lng, 'x', sizeof(lng));
    jd_topk_item_t *a = jd_topk_add(t, lng, sizeof(lng), &rep);
    jd_topk_item_t *b = jd_topk_add(t, lng, sizeof(lng), &rep);
    assert_ptr_equal(a, b);
    assert_int_equal(strlen(a->key), JD_TOPK_KEYLEN - 1);
    jd_topk_destroy(t);
    jd_topk_destroy(NULL);
}

/* Random Zipf-ish stream with constant replacement: the space-saving
 * guarantees hold for every held key, checked against exact counts. */
static void test_topk_against_exact_counts(void **st)
{
    (void)st;
    enum { KEYS = 500, ADDS = 20000 };
    static uint64_t exact[KEYS];
    memset(exact, 0, sizeof(exact));
    jd_topk_t *t = jd_topk_new(16);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    char key[16];
    int rep;
    for (int i = 0; i < ADDS; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        unsigned k = (unsigned)((x % 1000) * (x % 1000) / 2000);   /* small keys are frequent */
        exact[k]++;
        snprintf(key, sizeof(key), "k%u", k);
        jd_topk_add(t, key, strlen(key), &rep);
    }
    uint64_t sum = 0;
    for (size_t i = 0; i < t->n; i++) {
        const jd_topk_item_t *it = &t->items[i];
        unsigned k = (unsigned)atoi(it->key + 1);
        assert_true(it->count - it->err <= exact[k]);
        assert_true(exact[k] <= it->count);
        sum += it->count;
        /* the index still finds it */
        jd_topk_item_t *again = jd_topk_add(t, it->key, strlen(it->key), &rep);
        assert_ptr_equal(again, it);
        assert_int_equal(rep, 0);
        again->count--, t->total--;
    }
    assert_int_equal(sum, ADDS);   /* space-saving keeps the total */
    for (unsigned k = 0; k < KEYS; k++)
        if (exact[k] > ADDS / 16) {   /* every key above n/k is held */
            snprintf(key, sizeof(key), "k%u", k);
            int held = 0;
            for (size_t i = 0; i < t->n; i++)
                held |= strcmp(t->items[i].key, key) == 0;
            assert_true(held);
        }
    jd_topk_destroy(t);
}

static void test_hll_counts(void **st)
{
    (void)st;
    jd_hll_t *h = calloc(1, sizeof(*h));
    char k[32];
    for (int i = 0; i < 10; i++) {
        snprintf(k, sizeof(k), "c-%d", i);
        jd_hll_add(h, jd_report_hash(k, strlen(k), 3));
        jd_hll_add(h, jd_report_hash(k, strlen(k), 3));   /* repeats do not count */
    }
    assert_int_equal(jd_hll_count(h), 10);
    for (int i = 10; i < 20000; i++) {
        snprintf(k, sizeof(k), "c-%d", i);
        jd_hll_add(h, jd_report_hash(k, strlen(k), 3));
    }
    uint64_t n = jd_hll_count(h);
    assert_true(n > 19000 && n < 21000);   /* 5%: three standard errors */
    free(h);
}

static void test_tseries_grows_without_loss(void **st)
{
    (void)st;
    jd_tseries_t *t = jd_tseries_new(2, 60000);
    int64_t t0 = 1763805600000;   /* 2025-11-22T10:00:00Z */
    jd_tseries_add(t, 0, t0);
    jd_tseries_add(t, 0, t0 + 59999);
    jd_tseries_add(t, 1, t0 + 60000);
    assert_int_equal(t->width, 60000);
    assert_int_equal(jd_tseries_at(t, 0, 0), 2);
    assert_int_equal(jd_tseries_at(t, 1, 1), 1);
    /* a day later and an hour earlier: the width doubles until both fit */
    jd_tseries_add(t, 1, t0 + 86400000);
    jd_tseries_add(t, 0, t0 - 3600000);
    assert_true(t->width >= 86400000 / JD_TSERIES_BUCKETS);
    assert_true(t->origin <= t0 - 3600000);
    assert_true(t->origin + t->width * JD_TSERIES_BUCKETS > t0 + 86400000);
    uint64_t sum[2] = {0, 0};
    for (int b = 0; b < JD_TSERIES_BUCKETS; b++) {
        sum[0] += jd_tseries_at(t, 0, b);
        sum[1] += jd_tseries_at(t, 1, b);
    }
    assert_int_equal(sum[0], 3);
    assert_int_equal(sum[1], 2);
    jd_tseries_add(t, 5, t0);   /* no such series: ignored */
    jd_tseries_destroy(t);
}

/* ---- the collector ------------------------------------------------------ */

typedef struct fx {
    jd_config_t *conf;
    jd_decoder_t *dec;
    jd_report_t *r;
} fx_t;

static void fx_init(fx_t *fx, uint64_t flow_customers)
{
    jd_err_t err;
    fx->conf = jd_config_load(NULL, NULL, 0, &err);
    assert_non_null(fx->conf);
    fx->dec = jd_decoder_new(fx->conf, &err);
    assert_non_null(fx->dec);
    jd_report_opts_t o = {.flow_customers = flow_customers};
    fx->r = jd_report_new(fx->conf, &o, &err);
    assert_non_null(fx->r);
}

static void fx_free(fx_t *fx)
{
    jd_report_destroy(fx->r);
    jd_report_destroy(NULL);
    jd_decoder_destroy(fx->dec);
    jd_config_destroy(fx->conf);
}

static void fx_event(fx_t *fx, const char *json)
{
    jd_event_t *ev = NULL;
    char detail[256];
    assert_int_equal(jd_decode_json(fx->dec, json, strlen(json), &ev, detail, sizeof(detail)),
                     JD_DL_NONE);
    jd_report_obs_t obs;
    jd_report_observe(fx->r, ev, &obs);
    jd_event_free(ev);   /* obs must not need the event any more */
    jd_report_event(fx->r, &obs);
}

#define C1 "\"customer_id\":\"c-1\""
#define EV(ts, who, type, chan) \
    "{\"ts\":\"2026-11-22T10:" ts "Z\"," who ",\"type\":\"" type "\",\"channel\":\"" chan "\"}"

static unsigned chan_idx(const jd_report_t *r, const char *name)
{
    for (unsigned c = 0; c < r->nchan; c++)
        if (strcmp(r->chan_name[c], name) == 0)
            return c;
    fail_msg("no channel %s", name);
    return 0;
}

static void test_collect_events_flows_and_funnel(void **st)
{
    (void)st;
    fx_t fx;
    fx_init(&fx, 0);
    fx_event(&fx, EV("00:00.000", "\"anonymous_id\":\"a-1\"", "page_view", "web"));
    fx_event(&fx, EV("00:10.000", "\"anonymous_id\":\"a-1\",\"customer_id\":\"c-1\"", "add_to_cart", "web"));
    fx_event(&fx, EV("01:00.000", "\"customer_id\":\"c-1\"", "checkout_start", "app"));
    fx_event(&fx, EV("01:05.000", C1, "checkout_start", "app"));
    fx_event(&fx, EV("02:10.000", C1, "purchase", "app"));
    fx_event(&fx, EV("03:00.000", "\"customer_id\":\"c-2\"", "support_contact", "call"));
    fx_event(&fx, EV("03:30.000", "\"customer_id\":\"c-2\"", "mystery", "call"));
    const jd_report_t *r = fx.r;
    unsigned web = chan_idx(r, "web"), app = chan_idx(r, "app"), call = chan_idx(r, "call");
    assert_int_equal(r->events, 7);
    assert_int_equal(r->chan_events[web], 2);
    assert_int_equal(r->chan_events[app], 3);
    assert_int_equal(r->chan_events[call], 2);
    assert_int_equal(r->stage_events[JD_STAGE_CHECKOUT], 2);
    assert_int_equal(r->stage_events[JD_STAGE_OTHER], 1);
    assert_int_equal(r->tp_events[jd_report_tp(app, JD_STAGE_CHECKOUT)], 2);
    /* a-1 then c-1 are one customer (the stitching event links them):
     * browse -> cart -> checkout(app) -> (stay) -> purchase(app) */
    assert_int_equal(r->tp_entries[jd_report_tp(web, JD_STAGE_BROWSE)], 1);
    assert_int_equal(r->tp_entries[jd_report_tp(call, JD_STAGE_SUPPORT)], 1);
    assert_int_equal(r->flow[jd_report_tp(web, JD_STAGE_BROWSE) * JD_REPORT_TP +
                             jd_report_tp(web, JD_STAGE_CART)], 1);
    assert_int_equal(r->flow[jd_report_tp(web, JD_STAGE_CART) * JD_REPORT_TP +
                             jd_report_tp(app, JD_STAGE_CHECKOUT)], 1);
    assert_int_equal(r->flow[jd_report_tp(call, JD_STAGE_SUPPORT) * JD_REPORT_TP +
                             jd_report_tp(call, JD_STAGE_OTHER)], 1);
    assert_int_equal(r->moves, 4);
    assert_int_equal(r->stays, 1);
    assert_int_equal(r->flow_forgotten, 0);
    /* checkout_dropoff: add_to_cart at 00:10, purchase at 02:10 */
    assert_int_equal(r->nfun, 1);
    assert_int_equal(r->ttc[0].n, 1);
    assert_int_equal(jd_rhist_quantile(&r->ttc[0], 0.5), 120000);
    assert_int_equal(r->min_ts + 210000, r->max_ts);
    fx_free(&fx);
}

static void test_collect_funnel_timeout_restarts(void **st)
{
    (void)st;
    fx_t fx;
    fx_init(&fx, 0);
    /* the first attempt times out (30m), the second converts in 90s */
    fx_event(&fx, "{\"ts\":\"2026-11-22T10:00:00Z\",\"customer_id\":\"c-9\",\"type\":\"add_to_cart\"}");
    fx_event(&fx, "{\"ts\":\"2026-11-22T10:31:00Z\",\"customer_id\":\"c-9\",\"type\":\"checkout_start\"}");
    fx_event(&fx, "{\"ts\":\"2026-11-22T10:40:00Z\",\"customer_id\":\"c-9\",\"type\":\"add_to_cart\"}");
    fx_event(&fx, "{\"ts\":\"2026-11-22T10:41:00Z\",\"customer_id\":\"c-9\",\"type\":\"checkout_start\"}");
    fx_event(&fx, "{\"ts\":\"2026-11-22T10:41:30Z\",\"customer_id\":\"c-9\",\"type\":\"purchase\"}");
    assert_int_equal(fx.r->ttc[0].n, 1);
    assert_int_equal(jd_rhist_quantile(&fx.r->ttc[0], 0.9), 90000);
    /* no identity at all is counted, not tracked */
    jd_report_obs_t obs = {.ts = 0, .channel = NULL, .type = NULL};
    jd_report_event(fx.r, &obs);
    assert_int_equal(fx.r->no_identity, 1);
    fx_free(&fx);
}

static void test_flow_table_is_bounded(void **st)
{
    (void)st;
    fx_t fx;
    fx_init(&fx, 4);   /* one set of 4 ways */
    assert_int_equal(fx.r->nbuckets, 1);
    char ev[256];
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 5; i++) {
            snprintf(ev, sizeof(ev), "{\"ts\":\"2026-11-22T10:00:0%dZ\",\"customer_id\":\"c-%d\","
                                     "\"type\":\"%s\",\"channel\":\"web\"}", i, i,
                     round ? "add_to_cart" : "page_view");
            fx_event(&fx, ev);
        }
    /* 5 customers in 4 slots, visited round robin: every newcomer evicts
     * the least recently seen, so none is found again */
    assert_int_equal(fx.r->flow_forgotten, 6);
    assert_int_equal(fx.r->moves, 0);
    assert_int_equal(fx.r->tp_entries[jd_report_tp(0, JD_STAGE_CART)], 5);
    fx_free(&fx);
}

static void fx_alert(fx_t *fx, const char *key, const char *json, int64_t ts)
{
    json_error_t jerr;
    json_t *a = json_loads(json, 0, &jerr);
    assert_non_null(a);
    jd_report_alert(fx->r, key, strlen(key), a, ts);
    json_decref(a);
}

static void test_collect_alerts(void **st)
{
    (void)st;
    fx_t fx;
    fx_init(&fx, 0);
    const char *rage =
        "{\"rule\":\"rage_click\",\"customer_id\":\"c-1\",\"ts\":\"2026-11-22T10:00:03.000Z\","
        "\"channels\":[\"web\"],\"evidence\":{\"group\":{\"page\":\"/checkout\",\"element\":\"#pay\"}},"
        "\"journey\":[{\"ts\":\"2026-11-22T10:00:01.000Z\",\"channel\":\"web\",\"type\":\"click\"},"
        "{\"ts\":\"2026-11-22T10:00:03.000Z\",\"channel\":\"web\",\"type\":\"click\",\"page\":\"/checkout\"}]}";
    const char *drop =
        "{\"rule\":\"checkout_dropoff\",\"customer_id\":\"c-2\",\"ts\":\"2026-11-22T10:30:00.000Z\","
        "\"funnel\":{\"steps\":3,\"last_step\":2,\"last_step_name\":\"checkout_start\"},"
        "\"journey\":[{\"ts\":\"2026-11-22T10:00:00.000Z\",\"channel\":\"web\",\"type\":\"add_to_cart\"},"
        "{\"ts\":\"2026-11-22T10:01:00.000Z\",\"channel\":\"app\",\"type\":\"checkout_start\",\"page\":\"/pay\"},"
        "{\"ts\":\"2026-11-22T10:05:00.000Z\",\"channel\":\"email\",\"type\":\"email_open\"}]}";
    int64_t t = 1763805603000;
    fx_alert(&fx, "c-1", rage, t);
    fx_alert(&fx, "c-1", rage, t + 1000);
    fx_alert(&fx, "c-3", rage, t + 2000);
    fx_alert(&fx, "c-2", drop, t + 1800000);
    fx_alert(&fx, "c-2", "{\"rule\":\"no_such_rule\"}", t);
    const jd_report_t *r = fx.r;
    uint32_t ri = jd_config_rule(fx.conf, "rage_click")->index;
    uint32_t di = jd_config_rule(fx.conf, "checkout_dropoff")->index;
    assert_int_equal(r->alerts, 5);
    assert_int_equal(r->alerts_unknown_rule, 1);
    assert_int_equal(r->alerts_by_rule[ri], 3);
    assert_int_equal(r->alerts_by_rule[di], 1);
    /* rage clicks sit at web/browse, 2 customers; the drop-off where the
     * customer stopped (checkout on app), not at the later email */
    unsigned web = chan_idx(r, "web"), app = chan_idx(r, "app");
    unsigned tpw = jd_report_tp(web, JD_STAGE_BROWSE), tpa = jd_report_tp(app, JD_STAGE_CHECKOUT);
    assert_int_equal(r->tp_alerts[tpw], 3);
    assert_int_equal(jd_hll_count(r->tp_customers[tpw]), 2);
    assert_int_equal(r->tp_alerts[tpa], 1);
    assert_int_equal(r->tp_rule_alerts[(size_t)tpa * r->nrules + di], 1);
    /* struggles: the group, else the step and page */
    const jd_topk_item_t *s[JD_REPORT_STRUGGLE_K];
    jd_topk_sorted(r->struggles[ri], s);
    assert_string_equal(s[0]->key, "page=/checkout, element=#pay");
    assert_int_equal(s[0]->count, 3);
    jd_topk_sorted(r->struggles[di], s);
    assert_string_equal(s[0]->key, "after checkout_start on /pay");
    /* journeys: c-1 first with 2 alerts and the union of its contexts */
    const jd_topk_item_t *j[JD_REPORT_JOURNEY_K];
    jd_topk_sorted(r->journeys, j);
    assert_string_equal(j[0]->key, "c-1");
    assert_int_equal(j[0]->count, 2);
    const report_jrn_t *jr = &r->jrn[j[0] - r->journeys->items];
    assert_int_equal(jr->nev, 2);    /* same two events in both contexts */
    assert_int_equal(jr->nal, 2);
    assert_true(jr->ev[0].ts < jr->ev[1].ts);
    /* time series: 4 alerts with a known rule, all counted */
    uint64_t sum = 0;
    for (uint32_t i = 0; i < r->nrules; i++)
        for (int b = 0; b < JD_TSERIES_BUCKETS; b++)
            sum += jd_tseries_at(r->alert_time, i, b);
    assert_int_equal(sum, 4);
    fx_free(&fx);
}

/* ---- writers ------------------------------------------------------------ */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_html_empty_input_says_so(void **st)
{
    (void)st;
    fx_t fx;
    fx_init(&fx, 0);
    uint64_t dl[JD_DL__COUNT] = {0};
    dl[JD_DL_BAD_TS] = 3;
    jd_engine_stats_t stats;
    memset(&stats, 0, sizeof(stats));
    const char *in[] = {"bad.ndjson"};
    jd_report_run_t run = {.records = 3, .dead_letters = dl, .stats = &stats,
                           .inputs = in, .ninputs = 1};
    char path[] = "/tmp/jd-test-report-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    jd_err_t err;
    assert_int_equal(jd_report_write_html(fx.r, &run, path, &err), 0);
    const char *html = slurp(path);
    assert_non_null(strstr(html, "data-empty=\"1\""));
    assert_non_null(strstr(html, "No event was accepted"));
    assert_non_null(strstr(html, "data-reason=\"bad_ts\" data-count=\"3\""));
    assert_non_null(strstr(html, "100.0% of the records were rejected"));
    assert_null(strstr(html, "<svg class=\"map\""));
    assert_null(strstr(html, "http"));
    assert_null(strstr(html, "<script"));
    unlink(path);
    assert_int_equal(jd_report_write_html(fx.r, &run, "/nonexistent-dir/r.html", &err), -1);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/r.html.tmp"));
    fx_free(&fx);
}

static void engine_alert(void *opaque, const char *key, size_t keylen, const char *json,
                         size_t len, int64_t ts)
{
    json_t *a = json_loadb(json, len, 0, NULL);
    assert_non_null(a);
    jd_report_alert(opaque, key, keylen, a, ts);
    json_decref(a);
}

/* Channel names, pages and ids come from the input: a hostile one is text
 * in the report, never markup. With a real engine behind the collector. */
static void test_html_escapes_input(void **st)
{
    (void)st;
    fx_t fx;
    fx_init(&fx, 0);
    jd_err_t err;
    jd_engine_opts_t eo = {.on_alert = engine_alert, .opaque = fx.r, .auto_watermark = 1};
    jd_engine_t *e = jd_engine_new(fx.conf, &eo, &err);
    assert_non_null(e);
    char ev[512];
    for (int i = 0; i < 3; i++) {
        snprintf(ev, sizeof(ev), "{\"ts\":\"2026-11-22T10:00:0%dZ\",\"customer_id\":\"<b>c</b>\","
                 "\"type\":\"click\",\"channel\":\"<script>x()</script>\","
                 "\"page\":\"\\\"><img src=http://x.example/a>\",\"element\":\"#pay\"}", i);
        jd_event_t *evp = NULL;
        char detail[256];
        assert_int_equal(jd_decode_json(fx.dec, ev, strlen(ev), &evp, detail, sizeof(detail)),
                         JD_DL_NONE);
        jd_report_obs_t obs;
        jd_report_observe(fx.r, evp, &obs);
        assert_int_equal(jd_engine_push(e, evp), JD_DL_NONE);
        jd_report_event(fx.r, &obs);
    }
    jd_engine_finish(e, 0);
    assert_int_equal(fx.r->alerts, 1);   /* the rage click */
    uint64_t dl[JD_DL__COUNT] = {0};
    const char *in[] = {"<in>.ndjson"};
    jd_report_run_t run = {.records = 3, .dead_letters = dl, .stats = jd_engine_stats(e),
                           .inputs = in, .ninputs = 1};
    char path[] = "/tmp/jd-test-report-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(jd_report_write_html(fx.r, &run, path, &err), 0);
    const char *html = slurp(path);
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "<img"));
    assert_null(strstr(html, "<b>c</b>"));
    assert_null(strstr(html, "<in>"));
    assert_non_null(strstr(html, "&lt;script&gt;x()&lt;/script&gt;"));
    assert_non_null(strstr(html, "data-customer=\"&lt;b&gt;c&lt;/b&gt;\" data-alerts=\"1\""));
    assert_non_null(strstr(html, "<svg class=\"map\""));
    assert_non_null(strstr(html, "data-rule=\"rage_click\" data-alerts=\"1\""));
    unlink(path);
    jd_engine_destroy(e);
    fx_free(&fx);
}

static void test_dropoffs_csv(void **st)
{
    (void)st;
    char path[] = "/tmp/jd-test-dropoffs-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    jd_err_t err;
    jd_dropoffs_t *d = jd_dropoffs_open(path, &err);
    assert_non_null(d);
    json_t *a = json_loads("{\"alert_id\":\"00ff\",\"rule\":\"checkout_dropoff\",\"anonymous_id\":"
                           "\"a,\\\"1\",\"identity\":\"anonymous\",\"ts\":\"T2\",\"first_ts\":\"T1\","
                           "\"funnel\":{\"steps\":3,\"last_step\":2,\"last_step_name\":\"checkout_start\"}}",
                           0, NULL);
    json_t *b = json_loads("{\"rule\":\"rage_click\",\"customer_id\":\"c\"}", 0, NULL);
    assert_int_equal(jd_dropoffs_alert(d, a), 0);
    assert_int_equal(jd_dropoffs_alert(d, b), 0);
    assert_int_equal(jd_dropoffs_close(d, 1, &err), 0);
    assert_string_equal(slurp(path),
                        "rule,alert_id,customer,identity,start,deadline,last_step,last_step_name,"
                        "segment,struggles\n"
                        "checkout_dropoff,00ff,\"a,\"\"1\",anonymous,T1,T2,2,checkout_start,,\n");
    /* a failed replay leaves no file behind */
    unlink(path);
    d = jd_dropoffs_open(path, &err);
    assert_int_equal(jd_dropoffs_alert(d, a), 0);
    assert_int_equal(jd_dropoffs_close(d, 0, &err), 0);
    assert_int_equal(access(path, F_OK), -1);
    assert_null(jd_dropoffs_open("/nonexistent-dir/x.csv", &err));
    assert_int_equal(jd_dropoffs_close(NULL, 1, &err), 0);
    json_decref(a);
    json_decref(b);
}

static void test_stage_map(void **st)
{
    (void)st;
    assert_int_equal(jd_report_stage_of("page_view"), JD_STAGE_BROWSE);
    assert_int_equal(jd_report_stage_of("view"), JD_STAGE_BROWSE);
    assert_int_equal(jd_report_stage_of("cart"), JD_STAGE_CART);
    assert_int_equal(jd_report_stage_of("payment_failed"), JD_STAGE_CHECKOUT);
    assert_int_equal(jd_report_stage_of("purchase"), JD_STAGE_PURCHASE);
    assert_int_equal(jd_report_stage_of("chat"), JD_STAGE_SUPPORT);
    assert_int_equal(jd_report_stage_of("error"), JD_STAGE_OTHER);
    assert_int_equal(jd_report_stage_of(NULL), JD_STAGE_OTHER);
    assert_string_equal(jd_report_stage_name(JD_STAGE_ENGAGE), "engage");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hist_exact_small_values),
        cmocka_unit_test(test_hist_large_values),
        cmocka_unit_test(test_topk_exact_and_heavy_hitters),
        cmocka_unit_test(test_topk_against_exact_counts),
        cmocka_unit_test(test_hll_counts),
        cmocka_unit_test(test_tseries_grows_without_loss),
        cmocka_unit_test(test_collect_events_flows_and_funnel),
        cmocka_unit_test(test_collect_funnel_timeout_restarts),
        cmocka_unit_test(test_flow_table_is_bounded),
        cmocka_unit_test(test_collect_alerts),
        cmocka_unit_test(test_html_empty_input_says_so),
        cmocka_unit_test(test_html_escapes_input),
        cmocka_unit_test(test_dropoffs_csv),
        cmocka_unit_test(test_stage_map),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
