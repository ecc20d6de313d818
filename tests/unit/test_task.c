/* The task's meta record (src/kafka/task.c): what a snapshot says about
 * where reading resumes (C) and what was read (N), per input partition and
 * the repartition topic. A restore reads [C, N) again and skips what the
 * snapshot already holds, so N must survive a checkpoint taken before the
 * restored task reads anything (a task restored, then revoked or killed at
 * once): losing it made the next restore apply a link's hold twice, and
 * the customer stayed frozen (kafka_anykeyed.sh scenario 8). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>
#include "journeyd/config.h"
#include "kafka/task.h"

#define REPART "g-journeyd-repartition"

static jd_config_t *conf_any(void)
{
    const char *xs[] = { "input.keyed_by=any", "kafka.group.id=g", "input.topics=in" };
    jd_err_t err;
    jd_config_t *c = jd_config_load(NULL, xs, 3, &err);
    if (!c)
        fail_msg("config: %s", err.msg);
    return c;
}

/* "c" and "n" of topic in a rendered meta record are c and n. */
static void assert_pos(const char *meta, const char *topic, int64_t c, int64_t n)
{
    assert_non_null(meta);
    json_t *o = json_loads(meta, 0, NULL), *e;
    size_t i;
    int64_t gc = -2, gn = -2;
    assert_non_null(o);
    json_array_foreach(json_object_get(o, "tps"), i, e) {
        if (strcmp(json_string_value(json_object_get(e, "t")), topic))
            continue;
        gc = json_integer_value(json_object_get(e, "c"));
        gn = json_integer_value(json_object_get(e, "n"));
    }
    json_decref(o);
    assert_int_equal(gc, c);
    assert_int_equal(gn, n);
}

static void test_unread_partitions_keep_the_snapshot(void **state)
{
    (void)state;
    jd_config_t *conf = conf_any();
    jd_task_t *t = jd_task_new(conf, 4);
    jd_err_t err;
    const char *snap = "{\"v\":1,\"wm\":1000,\"max\":6000,\"has\":1,\"xn\":1,\"tps\":["
                       "{\"t\":\"in\",\"c\":9622,\"n\":9622},"
                       "{\"t\":\"" REPART "\",\"c\":12,\"n\":396}]}";
    int64_t committed[2] = { -1, -1 };
    size_t len;
    assert_non_null(t);
    assert_int_equal(t->ntps, 2);
    assert_int_equal(jd_task_meta_parse(t, conf, snap, strlen(snap), &err), 0);
    assert_int_equal(t->tps[1].restore_next, 396);

    /* restored, nothing read yet: a checkpoint (a revoke, the commit
     * interval) writes the restored positions again */
    char *meta = jd_task_meta_render(t, conf, committed, &len);
    assert_pos(meta, REPART, 12, 396);
    assert_pos(meta, "in", 9622, 9622);
    free(meta);

    /* once read, the partition's own positions count */
    t->tps[1].next_offset = 400;
    t->tps[1].restore_next = -1;
    committed[1] = 14;
    meta = jd_task_meta_render(t, conf, committed, &len);
    assert_pos(meta, REPART, 14, 400);
    assert_pos(meta, "in", 9622, 9622);
    free(meta);

    /* a fresh task (no snapshot): nothing to keep */
    jd_task_reset(t);
    committed[1] = -1;
    meta = jd_task_meta_render(t, conf, committed, &len);
    assert_pos(meta, REPART, -1, -1);
    free(meta);

    jd_task_destroy(t);
    jd_config_destroy(conf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unread_partitions_keep_the_snapshot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
