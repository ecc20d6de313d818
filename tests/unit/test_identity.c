/* Identity resolution: the link table the engine, the shard router and
 * `produce` share. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "journeyd/identity.h"

/* customer + anon links; anon alone then resolves to the customer; the
 * newest link wins; a plain customer or an unknown anon is itself. */
static void test_resolve_and_relink(void **st)
{
    (void)st;
    jd_identity_t t;
    assert_int_equal(jd_identity_init(&t, 0), 0);
    assert_null(jd_identity_resolve(&t, NULL, "d1", 10, -1));
    assert_string_equal(jd_identity_resolve(&t, "c1", NULL, 11, -1), "c1");
    assert_null(jd_identity_get(&t, "d1")); /* no entry without JD_IDENTITY_ANON */
    assert_string_equal(jd_identity_resolve(&t, "c1", "d1", 12, 3), "c1");
    assert_string_equal(jd_identity_resolve(&t, NULL, "d1", 13, -1), "c1");
    assert_int_equal(t.made, 1);
    jd_identity_resolve(&t, "c1", "d1", 14, 3); /* same link again: not a new one */
    assert_int_equal(t.made, 1);
    jd_identity_resolve(&t, "c2", "d1", 15, 4);
    assert_int_equal(t.made, 2);
    assert_string_equal(jd_identity_resolve(&t, NULL, "d1", 16, -1), "c2");
    jd_link_t *l = jd_identity_get(&t, "d1");
    assert_non_null(l);
    assert_int_equal(l->last_ts, 16);
    assert_int_equal(l->source_tag, 4);
    jd_identity_free(&t);
}

static void gone(void *opaque, const jd_link_t *l)
{
    int *n = opaque;
    (void)l;
    (*n)++;
}

/* Expiry goes by last use and stops at the first live link. */
static void test_expire_by_last_use(void **st)
{
    (void)st;
    jd_identity_t t;
    int n = 0;
    assert_int_equal(jd_identity_init(&t, 0), 0);
    jd_identity_resolve(&t, "c1", "a", 100, -1);
    jd_identity_resolve(&t, "c2", "b", 200, -1);
    jd_identity_resolve(&t, NULL, "a", 300, -1); /* a used again: now the newest */
    jd_identity_expire(&t, 250, gone, &n);
    assert_int_equal(n, 1);
    assert_null(jd_identity_get(&t, "b"));
    assert_non_null(jd_identity_get(&t, "a"));
    jd_identity_expire(&t, 300, gone, &n); /* strictly before the limit */
    assert_int_equal(n, 1);
    jd_identity_free(&t);
}

/* The router's table also remembers anonymous identities without a link;
 * a link replaces the entry and starts its last use afresh. */
static void test_anon_entries(void **st)
{
    (void)st;
    jd_identity_t t;
    assert_int_equal(jd_identity_init(&t, JD_IDENTITY_ANON), 0);
    assert_null(jd_identity_resolve(&t, NULL, "d", 500, -1));
    jd_link_t *l = jd_identity_get(&t, "d");
    assert_non_null(l);
    assert_null(l->customer);
    assert_int_equal(l->last_ts, 500);
    jd_identity_resolve(&t, "c", "d", 400, -1);
    l = jd_identity_get(&t, "d");
    assert_string_equal(l->customer, "c");
    assert_int_equal(l->last_ts, 400);
    assert_int_equal(t.made, 1);
    jd_identity_free(&t);
}

/* Change tracking, restore (neither new nor changed), and moving a link to
 * another table at its place by last use. */
static void test_track_restore_move(void **st)
{
    (void)st;
    jd_identity_t a, b;
    assert_int_equal(jd_identity_init(&a, JD_IDENTITY_TRACK), 0);
    assert_int_equal(jd_identity_init(&b, JD_IDENTITY_TRACK), 0);
    jd_identity_resolve(&a, "c1", "x", 10, 0);
    jd_identity_resolve(&a, "c2", "y", 20, 0);
    jd_link_t *l = jd_identity_pop_dirty(&a);
    assert_string_equal(l->anon, "y"); /* newest change first */
    assert_string_equal(jd_identity_pop_dirty(&a)->anon, "x");
    assert_null(jd_identity_pop_dirty(&a));

    assert_non_null(jd_identity_restore(&b, "z", "c3", 30, 1));
    assert_null(jd_identity_pop_dirty(&b));
    assert_int_equal(b.made, 0);
    assert_non_null(jd_identity_restore(&b, "w", "c4", 5, 1));

    l = jd_identity_get(&a, "x");
    jd_identity_take(&a, l);
    assert_null(jd_identity_get(&a, "x"));
    jd_identity_put(&b, l);
    assert_ptr_equal(jd_identity_pop_dirty(&b), l);
    /* LRU of b: w (5), x (10), z (30) */
    assert_string_equal(TAILQ_FIRST(&b.lru)->anon, "w");
    assert_string_equal(TAILQ_NEXT(TAILQ_FIRST(&b.lru), lru)->anon, "x");
    assert_string_equal(TAILQ_LAST(&b.lru, jd_link_list)->anon, "z");
    jd_identity_free(&a);
    jd_identity_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resolve_and_relink),
        cmocka_unit_test(test_expire_by_last_use),
        cmocka_unit_test(test_anon_entries),
        cmocka_unit_test(test_track_restore_move),
    };
    return cmocka_run_group_tests_name("identity", tests, NULL, NULL);
}
