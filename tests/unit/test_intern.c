/* Interner: pointer identity, ids, caches, and concurrent inserts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "journeyd/intern.h"

static void test_identity_and_ids(void **st)
{
    (void)st;
    jd_intern_t *in = jd_intern_new();
    const char *a = jd_intern_str(in, "click");
    const char *b = jd_intern(in, "click-and-more", 5);
    assert_ptr_equal(a, b);
    assert_string_equal(a, "click");
    const char *c = jd_intern_str(in, "");
    assert_string_equal(c, "");
    assert_int_not_equal(jd_intern_id(a), 0);
    assert_int_not_equal(jd_intern_id(a), jd_intern_id(c));
    assert_ptr_equal(jd_intern_get(in, jd_intern_id(a)), a);
    assert_int_equal(jd_intern_id(NULL), 0);
    assert_null(jd_intern_get(in, 0));
    assert_null(jd_intern_get(in, 999999));
    assert_int_equal(jd_intern_count(in), 2);
    jd_intern_destroy(in);
    jd_intern_destroy(NULL);
}

static void test_many_values_grow(void **st)
{
    (void)st;
    jd_intern_t *in = jd_intern_new();
    jd_intern_cache_t *cache = jd_intern_cache_new(in);
    char buf[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(buf, sizeof(buf), "/page/%d", i);
        const char *p = (i & 1) ? jd_intern_cached(cache, buf, strlen(buf)) : jd_intern_str(in, buf);
        assert_string_equal(p, buf);
        assert_ptr_equal(jd_intern_get(in, jd_intern_id(p)), p);
    }
    for (int i = 0; i < 20000; i += 997) {
        snprintf(buf, sizeof(buf), "/page/%d", i);
        assert_ptr_equal(jd_intern_cached(cache, buf, strlen(buf)), jd_intern_str(in, buf));
    }
    assert_int_equal(jd_intern_count(in), 20000);
    jd_intern_cache_destroy(cache);
    jd_intern_destroy(in);
}

typedef struct worker {
    jd_intern_t *in;
    const char *got[3000];
} worker_t;

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    jd_intern_cache_t *c = jd_intern_cache_new(w->in);
    char buf[32];
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 3000; i++) {
            snprintf(buf, sizeof(buf), "v%d", i);
            w->got[i] = jd_intern_cached(c, buf, strlen(buf));
        }
    jd_intern_cache_destroy(c);
    return NULL;
}

/* Two threads interning the same values get the same pointers. */
static void test_concurrent(void **st)
{
    (void)st;
    jd_intern_t *in = jd_intern_new();
    static worker_t w[2];
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        w[i].in = in;
        pthread_create(&t[i], NULL, worker_main, &w[i]);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 3000; i++)
        assert_ptr_equal(w[0].got[i], w[1].got[i]);
    assert_int_equal(jd_intern_count(in), 3000);
    jd_intern_destroy(in);
}

/* A string nobody references is freed by a sweep and its id reused; one
 * still referenced (or pinned) stays, at the same address. */
static void test_sweep_and_reuse(void **st)
{
    (void)st;
    jd_intern_t *in = jd_intern_new();
    const char *keep = jd_intern_str(in, "kept");
    const char *pin = jd_intern_pin(in, jd_intern_str(in, "pinned"));
    const char *gone = jd_intern_str(in, "gone");
    uint32_t gone_id = jd_intern_id(gone);
    assert_ptr_equal(jd_intern_ref(gone), gone);   /* two references now */
    jd_intern_unref(gone);
    assert_int_equal(jd_intern_sweep(in), 0);       /* one still held */
    jd_intern_unref(gone);
    jd_intern_unref(pin);                          /* no effect on a pinned one */
    jd_intern_unref(pin);
    assert_int_equal(jd_intern_sweep(in), 1);
    assert_int_equal(jd_intern_count(in), 2);
    assert_int_equal(jd_intern_pinned(in), 1);
    assert_null(jd_intern_get(in, gone_id));
    assert_ptr_equal(jd_intern_get(in, jd_intern_id(keep)), keep);
    assert_ptr_equal(jd_intern_str(in, "kept"), keep);
    assert_ptr_equal(jd_intern_str(in, "pinned"), pin);
    const char *next = jd_intern_str(in, "another");
    assert_int_equal(jd_intern_id(next), gone_id); /* the freed id comes back */
    assert_string_equal(jd_intern_get(in, gone_id), "another");
    jd_intern_unref(NULL);
    assert_null(jd_intern_ref(NULL));
    jd_intern_destroy(in);
}

/* Unique values that are given back never pile up: the table sweeps
 * itself while inserting, and a cache keeps at most its slots alive. */
static void test_unique_values_stay_bounded(void **st)
{
    (void)st;
    jd_intern_t *in = jd_intern_new();
    jd_intern_cache_t *c = jd_intern_cache_new(in);
    char buf[32];
    size_t peak = 0;
    for (int i = 0; i < 300000; i++) {
        snprintf(buf, sizeof(buf), "/session/%d", i);
        const char *p = (i & 1) ? jd_intern_cached(c, buf, strlen(buf)) : jd_intern_str(in, buf);
        assert_string_equal(p, buf);
        jd_intern_unref(p);
        if (jd_intern_count(in) > peak)
            peak = jd_intern_count(in);
    }
    /* sweeps start at 16384 strings and run when the table doubles */
    assert_true(peak <= 2 * 16384 + JD_INTERN_CACHE_SIZE);
    jd_intern_cache_destroy(c);
    jd_intern_sweep(in);
    assert_int_equal(jd_intern_count(in), 0);
    jd_intern_destroy(in);
}

/* A cache pins a value served JD_INTERN_HOT_HITS times from it (it caches
 * a value from its second sighting): it then survives every reference
 * given back. A value seen once is not cached at all. */
static void test_hot_values_pinned(void **st)
{
    (void)st;
    jd_intern_t *in = jd_intern_new();
    jd_intern_cache_t *c = jd_intern_cache_new(in);
    jd_intern_unref(jd_intern_cached(c, "once", 4));
    assert_int_equal(jd_intern_sweep(in), 1);       /* the cache did not keep it */
    const char *p = NULL;
    for (int i = 0; i < JD_INTERN_HOT_HITS + 1; i++) {
        p = jd_intern_cached(c, "page_view", 9);
        jd_intern_unref(p);
    }
    assert_int_equal(jd_intern_pinned(in), 0);      /* one hit short */
    jd_intern_unref(jd_intern_cached(c, "page_view", 9));
    assert_int_equal(jd_intern_pinned(in), 1);
    jd_intern_cache_destroy(c);
    assert_int_equal(jd_intern_sweep(in), 0);
    assert_ptr_equal(jd_intern_str(in, "page_view"), p);
    jd_intern_destroy(in);
}

typedef struct churner {
    jd_intern_t *in;
    int tag, bad;
} churner_t;

static void *churn_main(void *arg)
{
    churner_t *w = arg;
    jd_intern_cache_t *c = jd_intern_cache_new(w->in);
    char buf[32];
    const char *held[64] = {0};
    for (int i = 0; i < 100000; i++) {
        /* unique values given back soon (sweeps run meanwhile), shared
         * values held for a while, some of them through the cache */
        snprintf(buf, sizeof(buf), "u%d-%d", w->tag, i);
        const char *u = jd_intern_cached(c, buf, strlen(buf));
        w->bad += !u || strcmp(u, buf) != 0;
        jd_intern_unref(u);
        snprintf(buf, sizeof(buf), "shared-%d", i % 500);
        const char *sh = (i & 1) ? jd_intern_cached(c, buf, strlen(buf)) : jd_intern_str(w->in, buf);
        w->bad += !sh || strcmp(sh, buf) != 0;
        jd_intern_unref(held[i % 64]);
        held[i % 64] = sh;
    }
    for (int i = 0; i < 64; i++)
        jd_intern_unref(held[i]);
    jd_intern_cache_destroy(c);
    return NULL;
}

/* Two threads interning, caching and giving back while the table sweeps:
 * every string read back is intact (ASan/valgrind see any use after a
 * sweep), and in the end nothing is left but pinned strings. */
static void test_concurrent_reclaim(void **st)
{
    (void)st;
    jd_intern_t *in = jd_intern_new();
    static churner_t w[2];
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        w[i] = (churner_t){.in = in, .tag = i};
        pthread_create(&t[i], NULL, churn_main, &w[i]);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(w[0].bad + w[1].bad, 0);
    jd_intern_sweep(in);
    assert_int_equal(jd_intern_count(in), jd_intern_pinned(in));
    assert_true(jd_intern_count(in) <= 500);
    jd_intern_destroy(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_and_ids),
        cmocka_unit_test(test_many_values_grow),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_sweep_and_reuse),
        cmocka_unit_test(test_unique_values_stay_bounded),
        cmocka_unit_test(test_hot_values_pinned),
        cmocka_unit_test(test_concurrent_reclaim),
    };
    return cmocka_run_group_tests_name("intern", tests, NULL, NULL);
}
