/* Unit tests for src/input/reader.c: NDJSON lines, RFC 4180 CSV, gzip (single and
 * concatenated members), record bounds, and the real shared datasets. */
#define _XOPEN_SOURCE 700
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>
#include "journeyd/reader.h"

static char tmpdir[256];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup_dir(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof(tmpdir), "%s/jd_reader_XXXXXX", base ? base : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
    (void)state;
    return nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Writes bytes to tmpdir/name; returns the path in a static buffer. */
static const char *write_file(const char *name, const char *data, size_t len)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return path;
}

/* Appends a gzip member holding data (mode "wb" truncates, "ab" appends a
 * second member, the way `cat a.gz b.gz` does). */
static const char *write_gz(const char *name, const char *mode, const char *data,
                            size_t len)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    gzFile gz = gzopen(path, mode);
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, data, (unsigned)len), (int)len);
    assert_int_equal(gzclose(gz), Z_OK);
    return path;
}

static jd_reader_t *open_ok(const char *path)
{
    jd_err_t err = {{0}};
    jd_reader_t *r = jd_reader_open(path, &err);
    if (!r)
        fail_msg("open %s: %s", path, err.msg);
    return r;
}

static void expect_line(jd_reader_t *r, const char *want, int64_t want_line)
{
    const char *line;
    size_t len;
    int64_t ln;
    jd_err_t err = {{0}};
    jd_read_status_t st = jd_reader_line(r, &line, &len, &ln, &err);
    if (st != JD_READ_OK)
        fail_msg("expected line \"%s\", got status %d (%s)", want, st, err.msg);
    if (len != strlen(want) || memcmp(line, want, len) != 0)
        fail_msg("expected \"%s\", got \"%.*s\"", want, (int)len, line);
    assert_int_equal(ln, want_line);
}

static void expect_eof(jd_reader_t *r)
{
    const char *line;
    size_t len;
    int64_t ln;
    assert_int_equal(jd_reader_line(r, &line, &len, &ln, NULL), JD_READ_EOF);
    assert_int_equal(jd_reader_line(r, &line, &len, &ln, NULL), JD_READ_EOF);
}

static void test_ndjson_lines(void **state)
{
    (void)state;
    const char data[] = "{\"a\":1}\n\n  \r\n{\"b\":2}\r\n\t\n{\"c\":3}";
    jd_reader_t *r = open_ok(write_file("a.ndjson", data, sizeof(data) - 1));
    assert_string_equal(jd_reader_path(r), jd_reader_path(r));
    assert_int_equal(jd_reader_size(r), sizeof(data) - 1);
    expect_line(r, "{\"a\":1}", 1);
    expect_line(r, "{\"b\":2}", 4);
    expect_line(r, "{\"c\":3}", 6); /* no final newline */
    expect_eof(r);
    assert_int_equal(jd_reader_offset(r), sizeof(data) - 1);
    jd_reader_close(r);
}

static void test_ndjson_bom(void **state)
{
    (void)state;
    const char data[] = "\xef\xbb\xbf{\"a\":1}\n\xef\xbb\xbf{\"b\":2}\n";
    jd_reader_t *r = open_ok(write_file("bom.ndjson", data, sizeof(data) - 1));
    expect_line(r, "{\"a\":1}", 1);
    expect_line(r, "\xef\xbb\xbf{\"b\":2}", 2); /* only at the start of the file */
    expect_eof(r);
    jd_reader_close(r);
}

static void test_ndjson_empty_and_missing(void **state)
{
    (void)state;
    jd_reader_t *r = open_ok(write_file("empty.ndjson", "", 0));
    expect_eof(r);
    jd_reader_close(r);
    r = open_ok(write_file("blank.ndjson", "\n\n\r\n", 4));
    expect_eof(r);
    jd_reader_close(r);

    jd_err_t err = {{0}};
    char path[512];
    snprintf(path, sizeof(path), "%s/nope.ndjson", tmpdir);
    assert_null(jd_reader_open(path, &err));
    assert_non_null(strstr(err.msg, "cannot open "));
    assert_non_null(strstr(err.msg, "nope.ndjson: No such file or directory"));
    assert_null(jd_reader_open(tmpdir, &err));
    assert_non_null(strstr(err.msg, "Is a directory"));
    jd_reader_close(NULL);
}

/* Many lines of varying length cross every buffer boundary. */
static void test_ndjson_many_lines(void **state)
{
    (void)state;
    size_t n = 60000, cap = n * 64, len = 0;
    char *data = malloc(cap);
    assert_non_null(data);
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(data + len, cap - len, "{\"i\":%zu,\"pad\":\"%.*s\"}\n",
                                i, (int)(i % 23), "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    const char *path = write_file("many.ndjson", data, len);
    for (int gz = 0; gz < 2; gz++) {
        jd_reader_t *r = open_ok(gz ? write_gz("many.ndjson.gz", "wb", data, len) : path);
        char want[128];
        for (size_t i = 0; i < n; i++) {
            snprintf(want, sizeof(want), "{\"i\":%zu,\"pad\":\"%.*s\"}", i, (int)(i % 23),
                     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
            expect_line(r, want, (int64_t)i + 1);
        }
        expect_eof(r);
        if (gz)
            assert_true(jd_reader_offset(r) < len); /* compressed bytes */
        else
            assert_int_equal(jd_reader_offset(r), len);
        jd_reader_close(r);
    }
    free(data);
}

static void test_ndjson_too_large(void **state)
{
    (void)state;
    size_t big = JD_READER_MAX_RECORD + 1000;
    size_t len = big + 64;
    char *data = malloc(len);
    assert_non_null(data);
    size_t o = (size_t)sprintf(data, "{\"first\":1}\n");
    memset(data + o, 'a', big);
    o += big;
    o += (size_t)sprintf(data + o, "\n{\"after\":2}\n");
    jd_reader_t *r = open_ok(write_file("big.ndjson", data, o));
    expect_line(r, "{\"first\":1}", 1);
    const char *line;
    size_t l;
    int64_t ln;
    assert_int_equal(jd_reader_line(r, &line, &l, &ln, NULL), JD_READ_TOO_LARGE);
    assert_int_equal(l, JD_READER_TOO_LARGE_PREFIX);
    assert_int_equal(ln, 2);
    assert_int_equal(line[0], 'a');
    assert_int_equal(line[l - 1], 'a');
    expect_line(r, "{\"after\":2}", 3);
    expect_eof(r);
    jd_reader_close(r);

    /* Too large and last, without a newline. */
    r = open_ok(write_file("big2.ndjson", data + 12, big));
    assert_int_equal(jd_reader_line(r, &line, &l, &ln, NULL), JD_READ_TOO_LARGE);
    assert_int_equal(ln, 1);
    expect_eof(r);
    jd_reader_close(r);
    free(data);
}

static void test_gzip_members(void **state)
{
    (void)state;
    const char *path = write_gz("two.ndjson.gz", "wb", "{\"m\":1}\n{\"m\":2}\n", 16);
    write_gz("two.ndjson.gz", "ab", "{\"m\":3}\n", 8);
    jd_reader_t *r = open_ok(path);
    expect_line(r, "{\"m\":1}", 1);
    expect_line(r, "{\"m\":2}", 2);
    expect_line(r, "{\"m\":3}", 3);
    expect_eof(r);
    jd_reader_close(r);
}

static void test_gzip_corrupt(void **state)
{
    (void)state;
    /* A whole stream, then cut short: the error names the file. */
    char data[4000];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (i % 50 == 49) ? '\n' : (char)('a' + (i * 7) % 26);
    const char *path = write_gz("cut.gz", "wb", data, sizeof(data));
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char gz[8192];
    size_t n = fread(gz, 1, sizeof(gz), f);
    fclose(f);
    assert_true(n > 40);
    jd_reader_t *r = open_ok(write_file("cut.gz", (const char *)gz, n / 2));
    const char *line;
    size_t l;
    int64_t ln;
    jd_err_t err = {{0}};
    jd_read_status_t st;
    int64_t lines = 0;
    /* Every whole line before the cut is read, each one complete, then the
     * input ends with its own status (not EOF, not an I/O error), and stays
     * ended. */
    while ((st = jd_reader_line(r, &line, &l, &ln, &err)) == JD_READ_OK) {
        assert_int_equal(l, 49);
        assert_int_equal(ln, ++lines);
    }
    assert_int_equal(st, JD_READ_CORRUPT);
    assert_true(lines > 0 && lines < 80);
    assert_non_null(strstr(err.msg, "cut.gz: truncated gzip stream: input ends at line"));
    assert_int_equal(jd_reader_line(r, &line, &l, &ln, &err), JD_READ_EOF);
    jd_reader_close(r);

    /* The same for CSV records. */
    r = open_ok(write_file("cut.gz", (const char *)gz, n / 2));
    jd_csv_record_t rec;
    lines = 0;
    while ((st = jd_reader_csv(r, ',', &rec, &err)) == JD_READ_OK)
        assert_int_equal(rec.rawlen, 49);
    assert_int_equal(st, JD_READ_CORRUPT);
    assert_int_equal(jd_reader_csv(r, ',', &rec, &err), JD_READ_EOF);
    jd_reader_close(r);

    /* Flipped bytes in the deflate data. */
    for (size_t i = 20; i < 30; i++)
        gz[i] ^= 0x5a;
    r = open_ok(write_file("bad.gz", (const char *)gz, n));
    while ((st = jd_reader_line(r, &line, &l, &ln, &err)) == JD_READ_OK)
        ;
    assert_int_equal(st, JD_READ_CORRUPT);
    assert_non_null(strstr(err.msg, "bad.gz: "));
    jd_reader_close(r);

    /* One byte file: too short to be gzip, read as text. */
    r = open_ok(write_file("one", "\x1f", 1));
    assert_int_equal(jd_reader_line(r, &line, &l, &ln, NULL), JD_READ_OK);
    assert_int_equal(l, 1);
    jd_reader_close(r);
}

/* ---------------- CSV ---------------- */

static void expect_csv(jd_reader_t *r, char delim, int64_t line, size_t n, ...)
{
    jd_csv_record_t rec;
    jd_err_t err = {{0}};
    jd_read_status_t st = jd_reader_csv(r, delim, &rec, &err);
    if (st != JD_READ_OK)
        fail_msg("expected a record at line %lld, got %d (%s)", (long long)line, st,
                 err.msg);
    assert_int_equal(rec.line, line);
    assert_int_equal(rec.nfields, n);
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++) {
        const char *want = va_arg(ap, const char *);
        if (rec.len[i] != strlen(want) || memcmp(rec.field[i], want, rec.len[i]) != 0)
            fail_msg("line %lld field %zu: want \"%s\", got \"%s\"", (long long)line, i,
                     want, rec.field[i]);
        assert_int_equal(rec.field[i][rec.len[i]], '\0');
    }
    va_end(ap);
}

static void expect_csv_status(jd_reader_t *r, char delim, jd_read_status_t want,
                              int64_t line, const char *raw)
{
    jd_csv_record_t rec;
    jd_read_status_t st = jd_reader_csv(r, delim, &rec, NULL);
    assert_int_equal(st, want);
    if (want == JD_READ_EOF)
        return;
    assert_int_equal(rec.line, line);
    if (raw) {
        if (rec.rawlen != strlen(raw) || memcmp(rec.raw, raw, rec.rawlen) != 0)
            fail_msg("raw: want \"%s\", got \"%.*s\"", raw, (int)rec.rawlen, rec.raw);
    }
}

static void test_csv_quoting(void **state)
{
    (void)state;
    const char data[] =
        "a,b,c\n"
        "1,\"x,y\",\"say \"\"hi\"\"\"\r\n"
        "\n"
        "2,\"multi\nline\r\nvalue\",end\n"
        "3,,\n"
        "4,12\" screen,\"\"\n"
        "\"\",\"\",\"\"\n"
        "5,\"q\"\"\",z";
    jd_reader_t *r = open_ok(write_file("q.csv", data, sizeof(data) - 1));
    expect_csv(r, ',', 1, 3, "a", "b", "c");
    expect_csv(r, ',', 2, 3, "1", "x,y", "say \"hi\"");
    expect_csv(r, ',', 4, 3, "2", "multi\nline\r\nvalue", "end");
    expect_csv(r, ',', 7, 3, "3", "", "");
    expect_csv(r, ',', 8, 3, "4", "12\" screen", "");
    expect_csv(r, ',', 9, 3, "", "", "");
    expect_csv(r, ',', 10, 3, "5", "q\"", "z");
    expect_csv_status(r, ',', JD_READ_EOF, 0, NULL);
    jd_reader_close(r);
}

/* Old Mac and Excel exports end lines with a lone CR; CRLF and LF files
 * read the same, mixed too, and quoted line breaks of every kind count as
 * lines. */
static void test_csv_line_ends(void **state)
{
    (void)state;
    static const char *const eols[] = {"\n", "\r\n", "\r"};
    for (size_t k = 0; k < 3; k++) {
        char data[256];
        const char *e = eols[k];
        int n = snprintf(data, sizeof(data), "ts,customer_id,x%s1,c1,\"a%sb\"%s%s2,c2,z%s", e, e,
                         e, e, e);
        jd_reader_t *r = open_ok(write_file("eol.csv", data, (size_t)n));
        expect_csv(r, ',', 1, 3, "ts", "customer_id", "x");
        char want[8];
        snprintf(want, sizeof(want), "a%sb", e);
        expect_csv(r, ',', 2, 3, "1", "c1", want);
        expect_csv(r, ',', 5, 3, "2", "c2", "z"); /* a blank line between */
        expect_csv_status(r, ',', JD_READ_EOF, 0, NULL);
        jd_reader_close(r);
    }
    /* Mixed, and a CR at the very end. */
    const char mixed[] = "a,b\r1,2\r\n3,4\n5,6\r";
    jd_reader_t *r = open_ok(write_file("mixed.csv", mixed, sizeof(mixed) - 1));
    expect_csv(r, ',', 1, 2, "a", "b");
    expect_csv(r, ',', 2, 2, "1", "2");
    expect_csv(r, ',', 3, 2, "3", "4");
    expect_csv(r, ',', 4, 2, "5", "6");
    expect_csv_status(r, ',', JD_READ_EOF, 0, NULL);
    jd_reader_close(r);
    /* A CRLF split over two reads: the reader's first read takes 128 KiB,
     * so the CR is its last byte and the LF the first of the next. */
    size_t first = 128 * 1024;
    char *split = malloc(first + 16);
    assert_non_null(split);
    memcpy(split, "a\r\n", 3);
    memset(split + 3, 'b', first - 4);
    memcpy(split + first - 1, "\r\nc\r\n", 5);
    r = open_ok(write_file("split.csv", split, first + 4));
    expect_csv(r, ',', 1, 1, "a");
    jd_csv_record_t rec;
    assert_int_equal(jd_reader_csv(r, ',', &rec, NULL), JD_READ_OK);
    assert_int_equal(rec.rawlen, first - 4);
    expect_csv(r, ',', 3, 1, "c");
    expect_csv_status(r, ',', JD_READ_EOF, 0, NULL);
    jd_reader_close(r);
    free(split);
    /* Many CRLF records through gzip, which refills at other offsets. */
    size_t big = 200000, o = 0;
    char *data = malloc(big + 64);
    assert_non_null(data);
    int64_t nrec = 0;
    while (o < big) {
        o += (size_t)sprintf(data + o, "%lld,%s\r\n", (long long)nrec, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        nrec++;
    }
    r = open_ok(write_gz("crlf.csv.gz", "wb", data, o));
    for (int64_t i = 0; i < nrec; i++) {
        assert_int_equal(jd_reader_csv(r, ',', &rec, NULL), JD_READ_OK);
        assert_int_equal(rec.line, i + 1);
        assert_int_equal(rec.nfields, 2);
    }
    expect_csv_status(r, ',', JD_READ_EOF, 0, NULL);
    jd_reader_close(r);
    free(data);
}

static void test_csv_raw_of_multiline(void **state)
{
    (void)state;
    const char data[] = "1,\"a\nb\"\r\n2,c\n";
    jd_reader_t *r = open_ok(write_file("raw.csv", data, sizeof(data) - 1));
    jd_csv_record_t rec;
    assert_int_equal(jd_reader_csv(r, ',', &rec, NULL), JD_READ_OK);
    assert_int_equal(rec.rawlen, 7);
    assert_memory_equal(rec.raw, "1,\"a\nb\"", 7);
    expect_csv(r, ',', 3, 2, "2", "c");
    jd_reader_close(r);
}

static void test_csv_delimiters(void **state)
{
    (void)state;
    const char tsv[] = "SessionId\tItemId\tTime\n8\t214838855\t1396766998.728\n"
                       "9\t\"a\tb\"\t,;\n";
    jd_reader_t *r = open_ok(write_file("t.tsv", tsv, sizeof(tsv) - 1));
    expect_csv(r, '\t', 1, 3, "SessionId", "ItemId", "Time");
    expect_csv(r, '\t', 2, 3, "8", "214838855", "1396766998.728");
    expect_csv(r, '\t', 3, 3, "9", "a\tb", ",;");
    jd_reader_close(r);

    const char semi[] = "a;b\n\"1;2\";3,5\n";
    r = open_ok(write_file("s.csv", semi, sizeof(semi) - 1));
    expect_csv(r, ';', 1, 2, "a", "b");
    expect_csv(r, ';', 2, 2, "1;2", "3,5");
    jd_reader_close(r);

    r = open_ok(write_file("s.csv", semi, sizeof(semi) - 1));
    jd_csv_record_t rec;
    jd_err_t err = {{0}};
    assert_int_equal(jd_reader_csv(r, '"', &rec, &err), JD_READ_ERROR);
    assert_non_null(strstr(err.msg, "delimiter"));
    jd_reader_close(r);
}

static void test_csv_malformed(void **state)
{
    (void)state;
    const char data[] = "a,b\n"
                        "1,\"x\"y\n"     /* text after a closing quote */
                        "2,ok\n"
                        "3,\"open\nnever closed\n";
    jd_reader_t *r = open_ok(write_file("m.csv", data, sizeof(data) - 1));
    expect_csv(r, ',', 1, 2, "a", "b");
    expect_csv_status(r, ',', JD_READ_MALFORMED, 2, "1,\"x\"y");
    expect_csv(r, ',', 3, 2, "2", "ok");
    expect_csv_status(r, ',', JD_READ_MALFORMED, 4, "3,\"open\nnever closed\n");
    expect_csv_status(r, ',', JD_READ_EOF, 0, NULL);
    jd_reader_close(r);
}

static void test_csv_too_large(void **state)
{
    (void)state;
    size_t big = JD_READER_MAX_RECORD + 10;
    char *data = malloc(big + 64);
    assert_non_null(data);
    size_t o = (size_t)sprintf(data, "h\n\"");
    /* A quoted field with newlines inside: line numbers must still count
     * them while the record is skipped. */
    for (size_t i = 0; i < big; i++)
        data[o + i] = i % 1000 == 999 ? '\n' : 'q';
    o += big;
    o += (size_t)sprintf(data + o, "\"\nnext\n");
    jd_reader_t *r = open_ok(write_gz("big.csv.gz", "wb", data, o));
    expect_csv(r, ',', 1, 1, "h");
    jd_csv_record_t rec;
    assert_int_equal(jd_reader_csv(r, ',', &rec, NULL), JD_READ_TOO_LARGE);
    assert_int_equal(rec.line, 2);
    assert_int_equal(rec.rawlen, JD_READER_TOO_LARGE_PREFIX);
    assert_int_equal(rec.raw[0], '"');
    expect_csv(r, ',', 2 + (int64_t)(big / 1000) + 1, 1, "next");
    expect_csv_status(r, ',', JD_READ_EOF, 0, NULL);
    jd_reader_close(r);
    free(data);
}

static void test_csv_parser(void **state)
{
    (void)state;
    jd_csv_parser_t *p = jd_csv_parser_new();
    assert_non_null(p);
    jd_csv_record_t rec;
    const char *v = "2019-10-01 00:00:00 UTC,view,\"a,b\",,\"x\ny\"\r\n";
    assert_int_equal(jd_csv_parse(p, v, strlen(v), ',', &rec), JD_READ_OK);
    assert_int_equal(rec.nfields, 5);
    assert_string_equal(rec.field[0], "2019-10-01 00:00:00 UTC");
    assert_string_equal(rec.field[2], "a,b");
    assert_int_equal(rec.len[3], 0);
    assert_string_equal(rec.field[4], "x\ny");
    assert_ptr_equal(rec.raw, v);
    assert_int_equal(rec.rawlen, strlen(v));

    assert_int_equal(jd_csv_parse(p, "a;b", 3, ';', &rec), JD_READ_OK);
    assert_int_equal(rec.nfields, 2);
    assert_string_equal(rec.field[1], "b");

    assert_int_equal(jd_csv_parse(p, "a,\"b", 4, ',', &rec), JD_READ_MALFORMED);
    assert_int_equal(rec.nfields, 0);
    assert_int_equal(rec.rawlen, 4);
    /* Two records in one message. */
    assert_int_equal(jd_csv_parse(p, "a,b\nc,d", 7, ',', &rec), JD_READ_MALFORMED);
    assert_int_equal(jd_csv_parse(p, "a,b\rc,d", 7, ',', &rec), JD_READ_MALFORMED);
    /* A lone CR ends a value as LF and CRLF do. */
    assert_int_equal(jd_csv_parse(p, "a,b\r", 4, ',', &rec), JD_READ_OK);
    assert_int_equal(rec.nfields, 2);
    assert_string_equal(rec.field[1], "b");
    assert_int_equal(jd_csv_parse(p, "a,\"b\rc\"\r", 8, ',', &rec), JD_READ_OK);
    assert_string_equal(rec.field[1], "b\rc");
    assert_int_equal(jd_csv_parse(p, "", 0, ',', &rec), JD_READ_OK);
    assert_int_equal(rec.nfields, 0);
    assert_int_equal(jd_csv_parse(p, "a,", 2, ',', &rec), JD_READ_OK);
    assert_int_equal(rec.nfields, 2);
    assert_int_equal(rec.len[1], 0);

    /* Many fields grow the arrays. */
    char wide[4001];
    for (int i = 0; i < 2000; i++) {
        wide[2 * i] = 'x';
        wide[2 * i + 1] = ',';
    }
    wide[3999] = 'x';
    assert_int_equal(jd_csv_parse(p, wide, 4000, ',', &rec), JD_READ_OK);
    assert_int_equal(rec.nfields, 2000);
    assert_string_equal(rec.field[1999], "xx");
    jd_csv_parser_destroy(p);
    jd_csv_parser_destroy(NULL);
}

/* ---------------- real datasets ---------------- */

static const char *shared_data(const char *rel)
{
    static char path[512];
    const char *roots[] = {"../shared/data", "/work/shared/data"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "%s/%s", roots[i], rel);
        if (access(path, R_OK) == 0)
            return path;
    }
    return NULL;
}

static void test_rees46_dataset(void **state)
{
    (void)state;
    const char *path = shared_data("rees46-oct2019/2019-Oct-first-8700.csv");
    if (!path)
        skip();
    jd_reader_t *r = open_ok(path);
    expect_csv(r, ',', 1, 9, "event_time", "event_type", "product_id", "category_id",
               "category_code", "brand", "price", "user_id", "user_session");
    expect_csv(r, ',', 2, 9, "2019-10-01 00:00:00 UTC", "view", "44600062",
               "2103807459595387724", "", "shiseido", "35.79", "541312140",
               "72d76fde-8bb3-4e00-8c23-a032dfed738c");
    jd_csv_record_t rec;
    size_t n = 2;
    jd_read_status_t st;
    char last[64] = "";
    while ((st = jd_reader_csv(r, ',', &rec, NULL)) == JD_READ_OK) {
        assert_int_equal(rec.nfields, 9);
        n++;
        assert_int_equal(rec.line, (int64_t)n);
        snprintf(last, sizeof(last), "%s", rec.field[8]);
    }
    assert_int_equal(st, JD_READ_EOF);
    assert_int_equal(n, 8701);
    assert_string_equal(last, "6f2515d8-cedc-4e85-b5ae-914640c1e465");
    jd_reader_close(r);
}

static void test_yoochoose_dataset(void **state)
{
    (void)state;
    const char *path = shared_data("yoochoose-clicks/clicks-16k.tsv");
    if (!path)
        skip();
    jd_reader_t *r = open_ok(path);
    jd_csv_record_t rec;
    size_t n = 0;
    jd_read_status_t st;
    while ((st = jd_reader_csv(r, '\t', &rec, NULL)) == JD_READ_OK) {
        assert_int_equal(rec.nfields, 3);
        if (++n == 2)
            assert_string_equal(rec.field[2], "1396766998.728");
    }
    assert_int_equal(st, JD_READ_EOF);
    assert_int_equal(n, 16540);
    assert_int_equal(jd_reader_offset(r), jd_reader_size(r));
    jd_reader_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ndjson_lines),
        cmocka_unit_test(test_ndjson_bom),
        cmocka_unit_test(test_ndjson_empty_and_missing),
        cmocka_unit_test(test_ndjson_many_lines),
        cmocka_unit_test(test_ndjson_too_large),
        cmocka_unit_test(test_gzip_members),
        cmocka_unit_test(test_gzip_corrupt),
        cmocka_unit_test(test_csv_quoting),
        cmocka_unit_test(test_csv_line_ends),
        cmocka_unit_test(test_csv_raw_of_multiline),
        cmocka_unit_test(test_csv_delimiters),
        cmocka_unit_test(test_csv_malformed),
        cmocka_unit_test(test_csv_too_large),
        cmocka_unit_test(test_csv_parser),
        cmocka_unit_test(test_rees46_dataset),
        cmocka_unit_test(test_yoochoose_dataset),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
