/* Unit tests for src/input/records.c, the record loop of file input: the
 * same records become the same events and dead letters with one decoder or
 * the decoder pool, a callback can stop the loop, CSV headers are checked,
 * and a cut gzip ends the input with its own result. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>
#include "journeyd/decode.h"
#include "journeyd/decode_pool.h"
#include "journeyd/records.h"

/* What the callbacks saw, one line per record: "E <line> <customer>" or
 * "D <line> <reason> <payload>". */
typedef struct seen {
    char *text;
    size_t len, cap;
    size_t n, stop_after;
    int headers;
} seen_t;

static void seen_add(seen_t *s, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof(line));
    if (s->len + (size_t)n + 1 > s->cap) {
        s->cap = 2 * (s->len + (size_t)n + 1);
        s->text = realloc(s->text, s->cap);
        assert_non_null(s->text);
    }
    memcpy(s->text + s->len, line, (size_t)n + 1);
    s->len += (size_t)n;
}

static int on_event(void *opaque, jd_event_t *ev, const jd_source_pos_t *pos,
                    const char *payload, size_t len)
{
    seen_t *s = opaque;
    (void)payload;
    (void)len;
    seen_add(s, "E %lld %s\n", (long long)pos->line, ev->customer_id);
    jd_event_free(ev);
    return ++s->n == s->stop_after;
}

static int on_dead_letter(void *opaque, jd_dl_reason_t reason, const char *detail,
                          const jd_source_pos_t *pos, const char *payload, size_t len)
{
    seen_t *s = opaque;
    assert_non_null(detail);
    assert_true(detail[0] != '\0');
    seen_add(s, "D %lld %s %.*s\n", (long long)pos->line, jd_dl_reason_name(reason), (int)len,
             payload);
    return ++s->n == s->stop_after;
}

static int on_header(void *opaque, const jd_csv_record_t *hdr)
{
    seen_t *s = opaque;
    s->headers++;
    assert_true(hdr->nfields >= 3);
    return 0;
}

static const jd_records_ops_t ops = {on_event, on_dead_letter, on_header};

static char path[256];

static const char *write_tmp(const char *name, const char *data, size_t len, int gz)
{
    snprintf(path, sizeof(path), "%s/jd_records_%d_%s", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             (int)getpid(), name);
    if (gz) {
        gzFile g = gzopen(path, "wb");
        assert_non_null(g);
        assert_int_equal(gzwrite(g, data, (unsigned)len), (int)len);
        assert_int_equal(gzclose(g), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(data, 1, len, f), len);
        fclose(f);
    }
    return path;
}

static jd_config_t *conf_load(const char *x)
{
    jd_err_t err = {{0}};
    const char *xs[2] = {x, "time.max_future=off"};
    jd_config_t *c = x ? jd_config_load(NULL, xs, 2, &err) : jd_config_load(NULL, xs + 1, 1, &err);
    if (!c)
        fail_msg("config: %s", err.msg);
    return c;
}

/* Runs the loop over the file at p; returns its result, *s what it saw. */
static jd_records_rc_t run(const jd_config_t *c, const char *p, unsigned pool_threads,
                           seen_t *s, jd_err_t *err)
{
    /* CSV cases run once per file: the file goes when it was read. */
    int once = c->input_csv;
    jd_decoder_t *d = jd_decoder_new(c, err);
    assert_non_null(d);
    jd_decode_pool_t *pool = pool_threads ? jd_decode_pool_new(c, pool_threads, err) : NULL;
    jd_reader_t *r = jd_reader_open(p, err);
    assert_non_null(r);
    jd_records_rc_t rc = jd_records_run(r, c, d, pool, &ops, s, err);
    jd_reader_close(r);
    jd_decode_pool_destroy(pool);
    jd_decoder_destroy(d);
    if (once)
        unlink(p);
    return rc;
}

static char *ndjson_input(size_t n, size_t *len)
{
    char *data = malloc(n * 128);
    assert_non_null(data);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (i % 7 == 3)
            o += (size_t)sprintf(data + o, "{\"broken %zu\n", i);
        else if (i % 11 == 5)
            o += (size_t)sprintf(data + o, "{\"ts\":\"x\",\"type\":\"a\",\"customer_id\":\"c%zu\"}\n", i);
        else
            o += (size_t)sprintf(data + o, "{\"ts\":%zu,\"type\":\"a\",\"customer_id\":\"c%zu\"}\n",
                                 1000 + i, i);
    }
    *len = o;
    return data;
}

static void test_pool_same_as_serial(void **state)
{
    (void)state;
    jd_config_t *c = conf_load(NULL);
    size_t len;
    char *data = ndjson_input(5000, &len);
    const char *p = write_tmp("a.ndjson", data, len, 0);
    seen_t serial = {0}, pooled = {0};
    jd_err_t err = {{0}};
    assert_int_equal(run(c, p, 0, &serial, &err), JD_RECORDS_EOF);
    assert_int_equal(run(c, p, 3, &pooled, &err), JD_RECORDS_EOF);
    assert_int_equal(serial.n, 5000);
    assert_string_equal(serial.text, pooled.text);
    assert_non_null(strstr(serial.text, "E 1 c0\nE 2 c1\nE 3 c2\nD 4 invalid_json {\"broken 3\n"));
    assert_non_null(strstr(serial.text, "D 6 bad_ts {\"ts\":\"x\",\"type\":\"a\",\"customer_id\":\"c5\"}\n"));
    /* A callback stops the loop, with or without the pool. */
    seen_t stop1 = {.stop_after = 1500}, stop2 = {.stop_after = 1500};
    assert_int_equal(run(c, p, 0, &stop1, &err), JD_RECORDS_STOPPED);
    assert_int_equal(run(c, p, 2, &stop2, &err), JD_RECORDS_STOPPED);
    assert_int_equal(stop1.n, 1500);
    assert_string_equal(stop1.text, stop2.text);
    /* A cut gzip: what came before is delivered, then CORRUPT. */
    unlink(p);
    p = write_tmp("a.ndjson.gz", data, len, 1);
    FILE *f = fopen(p, "rb");
    char gz[200000];
    size_t n = fread(gz, 1, sizeof(gz), f);
    fclose(f);
    unlink(p);
    p = write_tmp("cut.ndjson.gz", gz, n / 2, 0);
    for (unsigned t = 0; t < 3; t += 2) {
        seen_t cut = {0};
        assert_int_equal(run(c, p, t, &cut, &err), JD_RECORDS_CORRUPT);
        assert_non_null(strstr(err.msg, "truncated gzip stream"));
        assert_true(cut.n > 100 && cut.n < 5000);
        assert_memory_equal(cut.text, serial.text, cut.len);
        free(cut.text);
    }
    unlink(p);
    free(serial.text);
    free(pooled.text);
    free(stop1.text);
    free(stop2.text);
    free(data);
    jd_config_destroy(c);
}

static void test_csv(void **state)
{
    (void)state;
    jd_config_t *c = conf_load("input.format=csv");
    jd_err_t err = {{0}};
    seen_t s = {0};
    static const char good[] = "ts,customer_id,type\r1000,c1,a\r\"1001,c2,a\r1002,c3\r";
    assert_int_equal(run(c, write_tmp("a.csv", good, sizeof(good) - 1, 0), 0, &s, &err),
                     JD_RECORDS_EOF);
    assert_int_equal(s.headers, 1);
    assert_string_equal(s.text, "E 2 c1\nD 3 bad_csv \"1001,c2,a\r1002,c3\r\n");
    free(s.text);
    /* Header errors are errors, naming file and line. */
    static const char nots[] = "time,customer_id,type\n1,c,a\n";
    memset(&s, 0, sizeof(s));
    assert_int_equal(run(c, write_tmp("b.csv", nots, sizeof(nots) - 1, 0), 0, &s, &err),
                     JD_RECORDS_ERROR);
    assert_non_null(strstr(err.msg, "b.csv:1: CSV header has no column \"ts\" for ts"));
    assert_int_equal(s.n, 0);
    static const char badq[] = "ts,\"customer_id,type\n";
    assert_int_equal(run(c, write_tmp("c.csv", badq, sizeof(badq) - 1, 0), 0, &s, &err),
                     JD_RECORDS_ERROR);
    assert_non_null(strstr(err.msg, "c.csv:1: the CSV header row is malformed"));
    size_t wide = JD_RECORDS_MAX_CSV_HEADER + 10;
    char *w = malloc(wide + 32);
    assert_non_null(w);
    int o = sprintf(w, "ts,customer_id,type,");
    memset(w + o, 'x', wide - (size_t)o);
    memcpy(w + wide, "\n1,c,a,b\n", 9);
    assert_int_equal(run(c, write_tmp("d.csv", w, wide + 9, 0), 0, &s, &err), JD_RECORDS_ERROR);
    assert_non_null(strstr(err.msg, "d.csv:1: the CSV header row is longer than 65536 bytes"));
    assert_int_equal(s.n, 0);
    free(w);
    /* An empty file is no records and no error. */
    assert_int_equal(run(c, write_tmp("e.csv", "", 0, 0), 0, &s, &err), JD_RECORDS_EOF);
    jd_config_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_same_as_serial),
        cmocka_unit_test(test_csv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
