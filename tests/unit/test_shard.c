/* Sharded engine: the same alerts, in the same order, and the same counters
 * as one engine, whatever the number of shards. Random streams exercise
 * stitching (first links, relinks to another customer, anonymous events
 * before and after the link, out of order within the lateness), late
 * events, duplicates, cooldown, funnels whose windows outlive the
 * retention, expiry, and the end of input with and without flush. */
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
#include "journeyd/shard.h"

#define T0 1795341600000LL /* 2026-11-22T10:00:00Z */

typedef struct sink {
    char **v;
    size_t n, cap;
} sink_t;

static void sink_alert(void *opaque, const char *key, size_t keylen,
                       const char *json, size_t len, int64_t ts)
{
    sink_t *s = opaque;
    (void)ts;
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->v = realloc(s->v, s->cap * sizeof(*s->v));
        assert_non_null(s->v);
    }
    /* the key rides along: it is part of what a Kafka sink sees */
    size_t sz = keylen + 1 + len + 1;
    char *a = malloc(sz);
    assert_non_null(a);
    snprintf(a, sz, "%.*s|%.*s", (int)keylen, key, (int)len, json);
    s->v[s->n++] = a;
}

static void sink_free(sink_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof(*s));
}

static uint64_t rnd(uint64_t *st)
{
    *st = *st * 6364136223846793005ULL + 1442695040888963407ULL;
    return *st >> 33;
}

/* A random multi-channel stream as NDJSON lines (one string each). */
static char **gen_stream(uint64_t seed, size_t n)
{
    static const char *types[] = {
        "click", "click", "click", "error", "login_failed", "page_view", "page_view",
        "add_to_cart", "checkout_start", "purchase", "support_contact", "payment_failed",
    };
    static const char *channels[] = {"web", "app", "call", "chat", "email"};
    static const char *pages[] = {"/a", "/b", "/c"};
    char **lines = calloc(n, sizeof(*lines));
    assert_non_null(lines);
    uint64_t st = seed * 7919 + 1;
    int64_t base = T0;
    for (size_t i = 0; i < n; i++) {
        base += (int64_t)(rnd(&st) % 900);
        int64_t ts = base - (int64_t)(rnd(&st) % 4500);   /* within lateness */
        if (rnd(&st) % 50 == 0)
            ts = base - 20000;                             /* late */
        char who[96];
        unsigned r = (unsigned)(rnd(&st) % 100);
        unsigned c = (unsigned)(rnd(&st) % 12), a = (unsigned)(rnd(&st) % 16);
        if (r < 45)
            snprintf(who, sizeof who, "\"customer_id\":\"c%u\"", c);
        else if (r < 80)
            snprintf(who, sizeof who, "\"anonymous_id\":\"a%u\"", a);
        else  /* a link; the same anonymous id meets several customers */
            snprintf(who, sizeof who, "\"customer_id\":\"c%u\",\"anonymous_id\":\"a%u\"", c, a);
        char eid[32];
        if (i > 10 && rnd(&st) % 30 == 0)
            snprintf(eid, sizeof eid, "e%zu", i - 1 - (size_t)(rnd(&st) % 10)); /* duplicate */
        else
            snprintf(eid, sizeof eid, "e%zu", i);
        const char *type = types[rnd(&st) % (sizeof types / sizeof *types)];
        char buf[512];
        snprintf(buf, sizeof buf,
                 "{\"event_id\":\"%s\",\"ts\":%lld,%s,\"type\":\"%s\",\"channel\":\"%s\","
                 "\"page\":\"%s\",\"element\":\"#b%u\"}",
                 eid, (long long)ts, who, type, channels[rnd(&st) % 5], pages[rnd(&st) % 3],
                 (unsigned)(rnd(&st) % 2));
        lines[i] = strdup(buf);
        assert_non_null(lines[i]);
    }
    return lines;
}

typedef struct outcome {
    sink_t alerts;
    jd_engine_stats_t st;
    uint64_t by_rule[16];
    uint64_t funnel[16][3];     /* attempts, completed, pending */
    uint64_t steps[16][8];      /* reached, then dropped */
    int late[4096];
} outcome_t;

static void keep_stats(outcome_t *o, const jd_config_t *c, const jd_engine_stats_t *st)
{
    o->st = *st;
    o->st.alerts_by_rule = NULL;
    o->st.funnels = NULL;
    for (uint32_t r = 0; r < c->nrules && r < 16; r++) {
        o->by_rule[r] = st->alerts_by_rule[r];
        o->funnel[r][0] = st->funnels[r].attempts;
        o->funnel[r][1] = st->funnels[r].completed;
        o->funnel[r][2] = st->funnels[r].pending;
        for (uint32_t k = 0; c->rules[r].kind == JD_RULE_FUNNEL && k < c->rules[r].nsteps && k < 4; k++) {
            o->steps[r][k] = st->funnels[r].reached[k];
            o->steps[r][4 + k] = st->funnels[r].dropped[k];
        }
    }
}

/* nshards 0 = one plain engine. */
static void run(const jd_config_t *conf, char **lines, size_t n, unsigned nshards, int flush,
                outcome_t *o)
{
    memset(o, 0, sizeof(*o));
    jd_err_t err;
    jd_decoder_t *dec = jd_decoder_new(conf, &err);
    assert_non_null(dec);
    jd_engine_opts_t eo = {.on_alert = sink_alert, .opaque = &o->alerts,
                           .auto_watermark = 1, .fixed_emitted_at = T0};
    jd_engine_t *eng = NULL;
    jd_shards_t *sh = NULL;
    if (nshards)
        assert_non_null(sh = jd_shards_new(conf, nshards, &eo, &err));
    else
        assert_non_null(eng = jd_engine_new(conf, &eo, &err));
    for (size_t i = 0; i < n; i++) {
        jd_event_t *ev = NULL;
        char detail[128];
        assert_int_equal(jd_decode_json(dec, lines[i], strlen(lines[i]), &ev, detail,
                                        sizeof detail), JD_DL_NONE);
        jd_dl_reason_t r = sh ? jd_shards_push(sh, ev) : jd_engine_push(eng, ev);
        if (i < 4096)
            o->late[i] = r == JD_DL_LATE;
    }
    if (sh) {
        jd_shards_finish(sh, flush);
        keep_stats(o, conf, jd_shards_stats(sh));
    } else {
        jd_engine_finish(eng, flush);
        keep_stats(o, conf, jd_engine_stats(eng));
    }
    jd_shards_destroy(sh);
    jd_engine_destroy(eng);
    jd_decoder_destroy(dec);
    /* every interner reference given back, whatever thread took it */
    jd_intern_sweep(conf->intern);
    assert_int_equal(jd_intern_count(conf->intern), jd_intern_pinned(conf->intern));
}

static void assert_same(const outcome_t *a, const outcome_t *b, const char *what)
{
    if (a->alerts.n != b->alerts.n)
        fail_msg("%s: %zu alerts, one engine %zu", what, b->alerts.n, a->alerts.n);
    for (size_t i = 0; i < a->alerts.n; i++)
        if (strcmp(a->alerts.v[i], b->alerts.v[i]) != 0)
            fail_msg("%s: alert %zu differs:\n  one engine %s\n  sharded    %s", what, i,
                     a->alerts.v[i], b->alerts.v[i]);
    const jd_engine_stats_t *x = &a->st, *y = &b->st;
#define SAME(f) do { if (x->f != y->f) \
        fail_msg("%s: " #f " %lld, one engine %lld", what, (long long)y->f, (long long)x->f); \
    } while (0)
    SAME(events_in); SAME(events_evaluated); SAME(late); SAME(duplicates); SAME(alerts);
    SAME(suppressed); SAME(customers); SAME(customers_total); SAME(evicted); SAME(expired);
    SAME(links); SAME(merges); SAME(timers); SAME(watermark); SAME(max_ts); SAME(buffered);
    SAME(groups_evicted); SAME(forced_advances);
#undef SAME
    assert_memory_equal(a->by_rule, b->by_rule, sizeof a->by_rule);
    assert_memory_equal(a->funnel, b->funnel, sizeof a->funnel);
    assert_memory_equal(a->steps, b->steps, sizeof a->steps);
    assert_memory_equal(a->late, b->late, sizeof a->late);
}

/* expect: what the streams must also exercise, 'x' expiry, 'b' bounds
 * (forced advances, evicted groups). */
/* Alerts per rule over the last differential run, one engine. */
static uint64_t diff_by_rule[16];

static void differential_path(const char *path, const char *const *xs, size_t nx,
                              size_t nevents, int seeds, char expect)
{
    jd_err_t err;
    jd_config_t *conf = jd_config_load(path, xs, nx, &err);
    if (!conf)
        fail_msg("config: %s", err.msg);
    uint64_t total_alerts = 0, total_merges = 0, total_late = 0, total_expired = 0;
    uint64_t total_forced = 0, total_evicted = 0;
    for (int seed = 1; seed <= seeds; seed++) {
        char **lines = gen_stream((uint64_t)seed, nevents);
        for (int flush = 0; flush <= 1; flush++) {
            outcome_t *one = malloc(sizeof *one), *many = malloc(sizeof *many);
            assert_non_null(one);
            assert_non_null(many);
            run(conf, lines, nevents, 0, flush, one);
            total_alerts += one->alerts.n;
            total_merges += one->st.merges;
            total_late += one->st.late;
            total_expired += one->st.expired;
            total_forced += one->st.forced_advances;
            total_evicted += one->st.groups_evicted;
            for (int r = 0; r < 16; r++)
                diff_by_rule[r] += one->by_rule[r];
            for (unsigned k = 1; k <= 4; k++) {
                char what[96];
                snprintf(what, sizeof what, "seed %d, flush %d, %u shards", seed, flush, k);
                run(conf, lines, nevents, k, flush, many);
                assert_same(one, many, what);
                sink_free(&many->alerts);
            }
            sink_free(&one->alerts);
            free(one);
            free(many);
        }
        for (size_t i = 0; i < nevents; i++)
            free(lines[i]);
        free(lines);
    }
    /* The streams must exercise what they claim to. */
    assert_true(total_alerts > 100);
    assert_true(total_merges > 10);
    assert_true(total_late > 10);
    if (expect == 'x')
        assert_true(total_expired > 10);
    if (expect == 'b') {
        assert_true(total_forced > 10);
        assert_true(total_evicted > 10);
    }
    jd_config_destroy(conf);
}

static void differential(const char *const *xs, size_t nx, size_t nevents, int seeds,
                         char expect)
{
    differential_path(NULL, xs, nx, nevents, seeds, expect);
}

/* The second-edition kinds (absence, pattern, score fed by alerts, filter
 * operators, ignore) beside a burst and a funnel. */
static const char kinds_config[] =
    "{\"rules\":["
    "{\"name\":\"dead\",\"kind\":\"absence\",\"start\":{\"type\":\"click\"},"
    "\"expect\":{\"type\":[\"page_view\",\"purchase\"]},\"within\":\"2s\",\"same\":[\"page\"],"
    "\"ignore\":{\"element\":{\"prefix\":\"#b1\"}}},"
    "{\"name\":\"unanswered\",\"kind\":\"absence\",\"start\":{\"type\":\"support_contact\","
    "\"channel\":[\"call\",\"chat\"]},\"expect\":{\"type\":\"purchase\"},\"within\":\"30s\"},"
    "{\"name\":\"back\",\"kind\":\"pattern\",\"scope\":{\"type\":\"page_view\"},\"contiguous\":true,"
    "\"steps\":[{\"match\":{\"type\":\"page_view\"},\"bind\":{\"p\":\"page\"}},"
    "{\"match\":{\"page\":{\"not\":{\"var\":\"p\"}}}},"
    "{\"match\":{\"page\":{\"var\":\"p\"}},\"within\":\"5s\"}]},"
    "{\"name\":\"err_click_contact\",\"kind\":\"pattern\",\"within\":\"60s\",\"steps\":["
    "{\"match\":{\"type\":\"error\"},\"bind\":{\"pg\":\"page\"}},"
    "{\"match\":{\"type\":\"click\",\"page\":{\"var\":\"pg\"}}},"
    "{\"match\":{\"type\":\"support_contact\",\"channel\":{\"not\":\"web\"}}}]},"
    "{\"name\":\"score\",\"kind\":\"score\",\"half_life\":\"30s\",\"threshold\":6,\"contributions\":["
    "{\"alert\":[\"dead\",\"back\"],\"points\":2},{\"alert\":[\"unanswered\",\"err_click_contact\"],"
    "\"points\":3},{\"match\":{\"type\":[\"error\",\"payment_failed\"]},\"points\":1}]},"
    "{\"name\":\"rage\",\"kind\":\"burst\",\"match\":{\"type\":\"click\"},\"same\":[\"page\"],"
    "\"count\":3,\"gap\":\"30s\"},"
    "{\"name\":\"checkout\",\"kind\":\"funnel\",\"within\":\"1m\",\"steps\":["
    "{\"name\":\"cart\",\"match\":{\"type\":\"add_to_cart\"}},"
    "{\"name\":\"buy\",\"match\":{\"type\":\"purchase\"}}]}]}";

static void differential_kinds(const char *const *xs, size_t nx, char expect)
{
    char path[] = "/tmp/jd-test-shard-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, kinds_config, strlen(kinds_config)), (ssize_t)strlen(kinds_config));
    close(fd);
    memset(diff_by_rule, 0, sizeof diff_by_rule);
    differential_path(path, xs, nx, 3000, 4, expect);
    unlink(path);
    /* Every rule fires, except where journey.max_groups=1 keeps a
     * quick back from ever holding its two partial matches. */
    for (int r = 0; r < 7 && expect != 'b'; r++)
        if (diff_by_rule[r] == 0)
            fail_msg("rule %d never fired", r);
}

static void test_same_with_new_kinds(void **st)
{
    (void)st;
    differential_kinds(NULL, 0, 0);
}

static void test_same_with_new_kinds_bounded(void **st)
{
    (void)st;
    static const char *const xs[] = {"time.max_buffered=3", "journey.max_groups=1",
                                     "journey.retention=90s"};
    differential_kinds(xs, 3, 'b');
}

static void test_same_as_one_engine(void **st)
{
    (void)st;
    differential(NULL, 0, 3000, 6, 0);
}

/* Retention shorter than the funnel window and than the stream: journeys
 * and links expire, some with a window still open. */
static void test_same_with_expiry(void **st)
{
    (void)st;
    static const char *const xs[] = {"journey.retention=90s"};
    differential(xs, 1, 3000, 6, 'x');
}

/* The bounds: time.max_buffered forces the watermark on, journey.max_groups
 * drops groups, journey.dedupe_ids forgets ids; the shards still agree. */
static void test_same_with_bounds(void **st)
{
    (void)st;
    static const char *const xs[] = {"time.max_buffered=3", "journey.max_groups=1",
                                     "journey.dedupe_ids=3", "journey.history=10"};
    differential(xs, 4, 3000, 4, 'b');
}

/* Destroy before finish: buffered and routed events are dropped, nothing
 * leaks (valgrind checks), no alert is delivered after destroy starts. */
static void test_destroy_unfinished(void **st)
{
    (void)st;
    jd_err_t err;
    jd_config_t *conf = jd_config_load(NULL, NULL, 0, &err);
    assert_non_null(conf);
    jd_decoder_t *dec = jd_decoder_new(conf, &err);
    char **lines = gen_stream(99, 20000);
    sink_t sink = {0};
    jd_engine_opts_t eo = {.on_alert = sink_alert, .opaque = &sink, .auto_watermark = 1};
    jd_shards_t *sh = jd_shards_new(conf, 3, &eo, &err);
    assert_non_null(sh);
    for (size_t i = 0; i < 20000; i++) {
        jd_event_t *ev = NULL;
        char detail[128];
        assert_int_equal(jd_decode_json(dec, lines[i], strlen(lines[i]), &ev, detail,
                                        sizeof detail), JD_DL_NONE);
        jd_shards_push(sh, ev);
    }
    const jd_engine_stats_t *s = jd_shards_stats(sh);
    assert_int_equal(s->events_in + s->late, 20000);
    size_t before = sink.n;
    jd_shards_destroy(sh);
    assert_int_equal(sink.n, before);
    sink_free(&sink);
    for (size_t i = 0; i < 20000; i++)
        free(lines[i]);
    free(lines);
    jd_decoder_destroy(dec);
    jd_intern_sweep(conf->intern);
    assert_int_equal(jd_intern_count(conf->intern), jd_intern_pinned(conf->intern));
    jd_config_destroy(conf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_as_one_engine),
        cmocka_unit_test(test_same_with_expiry),
        cmocka_unit_test(test_same_with_bounds),
        cmocka_unit_test(test_same_with_new_kinds),
        cmocka_unit_test(test_same_with_new_kinds_bounded),
        cmocka_unit_test(test_destroy_unfinished),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
