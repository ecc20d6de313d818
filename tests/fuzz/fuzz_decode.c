/*
 * libFuzzer target for everything that touches untrusted input bytes: the
 * JSON decoder, the in-memory CSV parser + CSV decoder, the file readers
 * (NDJSON and CSV, plain or gzip), time parsing and dead-letter rendering.
 *
 * Configs are built by hand once (jd_config_t is a public struct) so the
 * target does not depend on the config loader and stays deterministic.
 *
 *   make fuzz && build/fuzz/fuzz_decode -max_total_time=60 tests/fuzz/corpus
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "journeyd/decode.h"
#include "journeyd/deadletter.h"
#include "journeyd/reader.h"
#include "journeyd/timeutil.h"

typedef struct fuzz_conf {
    jd_config_t c;
    jd_slot_t slots[10];
} fuzz_conf_t;

static const int fuzz_canon[JD_SLOT__CANON] = {
    JD_FIELD_TYPE, JD_FIELD_CHANNEL, JD_FIELD_SESSION_ID, JD_FIELD_PAGE, JD_FIELD_ELEMENT};

static void fuzz_conf_init(fuzz_conf_t *f, const char *const *fields, jd_time_kind_t kind,
                           const char *pattern, const char *const *extra, size_t nextra)
{
    static const char *const names[JD_FIELD__COUNT] = {
        "ts", "customer_id", "anonymous_id", "type", "channel",
        "event_id", "session_id", "page", "element"};
    memset(f, 0, sizeof(*f));
    f->c.intern = jd_intern_new();
    for (int i = 0; i < JD_FIELD__COUNT; i++)
        f->c.fields[i] = (char *)(fields && fields[i] ? fields[i] : names[i]);
    f->c.defaults[JD_FIELD_CHANNEL] = (char *)"unknown";
    f->c.time_format.kind = kind;
    f->c.time_format.pattern = pattern;
    f->c.csv_delimiter = ',';
    for (int i = 0; i < JD_SLOT__CANON; i++) {
        int fld = fuzz_canon[i];
        f->slots[i].name = names[fld];
        f->slots[i].source = f->c.fields[fld];
        f->slots[i].field = fld;
        f->slots[i].dflt = f->c.defaults[fld] ? jd_intern_str(f->c.intern, f->c.defaults[fld])
                                              : NULL;
    }
    for (size_t i = 0; i < nextra; i++) {
        f->slots[JD_SLOT__CANON + i].name = extra[i];
        f->slots[JD_SLOT__CANON + i].source = extra[i];
        f->slots[JD_SLOT__CANON + i].field = -1;
    }
    f->c.slots = f->slots;
    f->c.nslots = JD_SLOT__CANON + (uint32_t)nextra;
}

static fuzz_conf_t fz_json, fz_ptr, fz_csv;
static jd_decoder_t *dec_json, *dec_ptr, *dec_csv, *dec_hdr;
static jd_csv_parser_t *parser;
static int memfd = -1;
static char memfd_path[64];

static void fuzz_init(void)
{
    static const char *const extra[] = {"price", "/properties/page", "/items/0/sku", "/a~1b/~0"};
    fuzz_conf_init(&fz_json, NULL, JD_TIME_AUTO, NULL, extra, 4);
    static const char *const ptr_fields[JD_FIELD__COUNT] = {
        "/meta/ts", "/user/id", "/device/0", "/event/type", NULL, "/id", NULL, NULL, NULL};
    fuzz_conf_init(&fz_ptr, ptr_fields, JD_TIME_EPOCH_S, NULL, NULL, 0);
    static const char *const csv_fields[JD_FIELD__COUNT] = {
        "event_time", "user_id", NULL, "event_type", NULL, NULL, "user_session", NULL, NULL};
    static const char *const csv_extra[] = {"brand", "price"};
    fuzz_conf_init(&fz_csv, csv_fields, JD_TIME_STRFTIME, "%Y-%m-%d %H:%M:%S UTC",
                   csv_extra, 2);
    jd_err_t err;
    dec_json = jd_decoder_new(&fz_json.c, &err);
    dec_ptr = jd_decoder_new(&fz_ptr.c, &err);
    dec_csv = jd_decoder_new(&fz_csv.c, &err);
    dec_hdr = jd_decoder_new(&fz_csv.c, &err);
    parser = jd_csv_parser_new();
    if (!dec_json || !dec_ptr || !dec_csv || !dec_hdr || !parser)
        abort();
    jd_csv_record_t hdr;
    const char *h = "event_time,event_type,product_id,category_id,category_code,brand,"
                    "price,user_id,user_session";
    if (jd_csv_parse(parser, h, strlen(h), ',', &hdr) != JD_READ_OK ||
        jd_decoder_csv_header(dec_csv, &hdr, &err) != 0)
        abort();
    memfd = memfd_create("fuzz_decode", 0);
    if (memfd < 0)
        abort();
    snprintf(memfd_path, sizeof(memfd_path), "/proc/self/fd/%d", memfd);
}

static void fuzz_check_event(const jd_event_t *ev, uint32_t nslots)
{
    /* Touch everything so ASan sees any bad pointer. */
    if (ev->nslots != nslots || (!ev->customer_id && !ev->anonymous_id) ||
        !ev->slot[JD_SLOT_TYPE])
        abort();
    size_t sum = 0;
    if (ev->customer_id)
        sum += strlen(ev->customer_id);
    if (ev->anonymous_id)
        sum += strlen(ev->anonymous_id);
    if (ev->event_id)
        sum += strlen(ev->event_id);
    for (uint32_t i = 0; i < ev->nslots; i++)
        if (ev->slot[i])
            sum += strlen(ev->slot[i]);
    (void)sum;
}

static void fuzz_json(jd_decoder_t *d, const fuzz_conf_t *f, const uint8_t *data, size_t size)
{
    jd_event_t *ev = NULL;
    char detail[256];
    jd_dl_reason_t r = jd_decode_json(d, (const char *)data, size, &ev, detail, sizeof(detail));
    if (r == JD_DL_NONE) {
        fuzz_check_event(ev, f->c.nslots);
        jd_event_free(ev);
    } else {
        if (ev || r >= JD_DL__COUNT || strlen(detail) >= sizeof(detail))
            abort();
        char *s = jd_deadletter_format(r, detail, NULL, (const char *)data, size, NULL);
        free(s);
    }
}

static void fuzz_csv(const uint8_t *data, size_t size, char delim)
{
    jd_csv_record_t rec;
    if (jd_csv_parse(parser, (const char *)data, size, delim, &rec) != JD_READ_OK)
        return;
    for (size_t i = 0; i < rec.nfields; i++)
        if (rec.field[i][rec.len[i]] != '\0')
            abort();
    jd_event_t *ev = NULL;
    char detail[256];
    if (jd_decode_csv(dec_csv, &rec, &ev, detail, sizeof(detail)) == JD_DL_NONE) {
        fuzz_check_event(ev, fz_csv.c.nslots);
        jd_event_free(ev);
    }
    /* The same bytes as a header: must either map or fail cleanly. */
    jd_err_t err;
    if (jd_decoder_csv_header(dec_hdr, &rec, &err) == 0 &&
        jd_decode_csv(dec_hdr, &rec, &ev, detail, sizeof(detail)) == JD_DL_NONE)
        jd_event_free(ev);
}

static void fuzz_time(const uint8_t *data, size_t size)
{
    static const jd_time_format_t fmts[] = {
        {JD_TIME_AUTO, NULL}, {JD_TIME_EPOCH_S, NULL}, {JD_TIME_EPOCH_MS, NULL},
        {JD_TIME_STRFTIME, "%Y-%m-%dT%H:%M:%S%z"}};
    char buf[JD_TIME_BUFSZ];
    for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
        int64_t ms;
        /* Only years 0000..9999 have an RFC 3339 form to read back. */
        if (jd_time_parse(&fmts[i], (const char *)data, size, &ms) == 0 &&
            ms >= INT64_C(-62167219200000) && ms <= INT64_C(253402300799999)) {
            jd_time_format_rfc3339(ms, buf);
            /* Whatever parses formats and reads back to the same instant. */
            int64_t back;
            if (jd_time_parse(&fmts[0], buf, strlen(buf), &back) != 0 || back != ms)
                abort();
        }
    }
    char dur[64];
    if (size < sizeof(dur)) {
        memcpy(dur, data, size);
        dur[size] = '\0';
        int64_t v;
        if (jd_duration_parse(dur, &v) == 0 && v < 0)
            abort();
    }
}

/* The file readers over the same bytes (gzip if they start like gzip). */
static void fuzz_reader(const uint8_t *data, size_t size)
{
    if (ftruncate(memfd, 0) != 0 || pwrite(memfd, data, size, 0) != (ssize_t)size)
        return;
    for (int csv = 0; csv < 2; csv++) {
        jd_err_t err;
        jd_reader_t *r = jd_reader_open(memfd_path, &err);
        if (!r)
            return;
        for (int n = 0; n < 10000; n++) {
            jd_read_status_t st;
            if (csv) {
                jd_csv_record_t rec;
                st = jd_reader_csv(r, ';', &rec, &err);
                if (st == JD_READ_OK || st == JD_READ_MALFORMED)
                    if (rec.rawlen && (rec.raw[0] == 0x7f || rec.raw[rec.rawlen - 1] == 0x7f))
                        n++; /* touch the raw bytes */
            } else {
                const char *line;
                size_t len;
                int64_t ln;
                st = jd_reader_line(r, &line, &len, &ln, &err);
                if (st == JD_READ_OK && len)
                    fuzz_json(dec_json, &fz_json, (const uint8_t *)line, len);
            }
            if (st == JD_READ_EOF || st == JD_READ_ERROR)
                break;
        }
        jd_reader_close(r);
    }
}

/* Interned values live as long as their table; start over now and then so
 * a long run does not grow without bound. */
static void fuzz_fini(void)
{
    jd_decoder_destroy(dec_json);
    jd_decoder_destroy(dec_ptr);
    jd_decoder_destroy(dec_csv);
    jd_decoder_destroy(dec_hdr);
    jd_csv_parser_destroy(parser);
    parser = NULL;
    jd_intern_destroy(fz_json.c.intern);
    jd_intern_destroy(fz_ptr.c.intern);
    jd_intern_destroy(fz_csv.c.intern);
    close(memfd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (parser && jd_intern_bytes(fz_json.c.intern) + jd_intern_bytes(fz_ptr.c.intern) +
                          jd_intern_bytes(fz_csv.c.intern) > (64u << 20))
        fuzz_fini();
    if (!parser)
        fuzz_init();
    fuzz_json(dec_json, &fz_json, data, size);
    fuzz_json(dec_ptr, &fz_ptr, data, size);
    fuzz_csv(data, size, ',');
    fuzz_csv(data, size, '\t');
    fuzz_time(data, size);
    fuzz_reader(data, size);
    return 0;
}
