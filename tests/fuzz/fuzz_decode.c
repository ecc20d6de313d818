/*
 * libFuzzer target for everything that touches untrusted input bytes: the
 * JSON decoder, the in-memory CSV parser + CSV decoder, the file readers
 * (NDJSON and CSV, plain or gzip), time parsing and dead-letter rendering.
 *
 * It is also a differential test of the decoder's two JSON paths: the
 * tree-free scanner (src/input/jsonscan.c, taken when every source is a top-level
 * key) must agree with jansson on every input. Each input is
 *  - scanned directly and compared with jd_json_load_lenient (json_loadb,
 *    numbers out of jansson's range read as their text): same verdict,
 *    same top-level type, and every wanted key's value as
 *    jd_json_scalar_str renders jansson's value;
 *  - decoded by two configs that differ only in spelling each source as a
 *    key ("type", fast path) or as a JSON Pointer ("/type", jansson path):
 *    same dead-letter reason and detail, ts, identities, event_id and slots.
 * Any difference aborts.
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
#include "journeyd/records.h"
#include "journeyd/timeutil.h"
#include "input/jsonscan.h"

typedef struct fuzz_conf {
    jd_config_t c;
    jd_slot_t slots[10];
} fuzz_conf_t;

static const int fuzz_canon[JD_SLOT__CANON] = {
    JD_FIELD_TYPE, JD_FIELD_CHANNEL, JD_FIELD_SESSION_ID, JD_FIELD_PAGE, JD_FIELD_ELEMENT};

static void fuzz_conf_init(fuzz_conf_t *f, const char *const *fields, jd_time_kind_t kind,
                           const char *pattern, const char *const *extra, size_t nextra)
{
    if (nextra > sizeof(f->slots) / sizeof(f->slots[0]) - JD_SLOT__CANON)
        abort();
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

/* Differential pairs: [0] reads top-level keys (fast path), [1] the same
 * keys as JSON Pointers (jansson path). */
#define FUZZ_NPAIRS 2
static fuzz_conf_t fz_pair[FUZZ_NPAIRS][2];
static jd_decoder_t *dec_pair[FUZZ_NPAIRS][2];
static char *pair_strs[FUZZ_NPAIRS][JD_FIELD__COUNT + 6];

/* Keys scanned directly; "" and a non-ASCII key on purpose. */
static const char *const scan_keys[] = {"ts", "type", "price", "a/b", "", "\xc3\xa9", "k"};
#define FUZZ_NSCAN (sizeof(scan_keys) / sizeof(scan_keys[0]))
static jd_jsonscan_keys_t *scan_set;
static int scan_idx[FUZZ_NSCAN];
static jd_jsonscan_val_t scan_vals[FUZZ_NSCAN];
static char *scan_scratch;
static size_t scan_scratchsz;

/* RFC 6901 spelling of a top-level key as a pointer. */
static char *fuzz_pointer(const char *key)
{
    char *p = malloc(2 * strlen(key) + 2), *o = p;
    if (!p)
        abort();
    *o++ = '/';
    for (; *key; key++) {
        if (*key == '~' || *key == '/') {
            *o++ = '~';
            *o++ = *key == '~' ? '0' : '1';
        } else {
            *o++ = *key;
        }
    }
    *o = '\0';
    return p;
}

static void fuzz_pair_init(int i, const char *const *fields, jd_time_kind_t kind,
                           const char *const *extra, size_t nextra, const char *type_dflt)
{
    static const char *const names[JD_FIELD__COUNT] = {
        "ts", "customer_id", "anonymous_id", "type", "channel",
        "event_id", "session_id", "page", "element"};
    const char *ptr_fields[JD_FIELD__COUNT];
    const char *ptr_extra[6];
    size_t n = 0;
    for (int f = 0; f < JD_FIELD__COUNT; f++)
        ptr_fields[f] = pair_strs[i][n++] = fuzz_pointer(fields && fields[f] ? fields[f]
                                                                            : names[f]);
    for (size_t e = 0; e < nextra; e++)
        ptr_extra[e] = pair_strs[i][n++] = fuzz_pointer(extra[e]);
    fuzz_conf_init(&fz_pair[i][0], fields, kind, NULL, extra, nextra);
    fuzz_conf_init(&fz_pair[i][1], ptr_fields, kind, NULL, ptr_extra, nextra);
    for (int k = 0; k < 2; k++) {
        jd_config_t *c = &fz_pair[i][k].c;
        if (type_dflt) {
            c->defaults[JD_FIELD_TYPE] = (char *)type_dflt;
            fz_pair[i][k].slots[JD_SLOT_TYPE].dflt = jd_intern_str(c->intern, type_dflt);
        }
        /* Extra slots keep the same names, whatever they read. */
        for (size_t e = 0; e < nextra; e++)
            fz_pair[i][k].slots[JD_SLOT__CANON + e].name = extra[e];
        jd_err_t err;
        dec_pair[i][k] = jd_decoder_new(c, &err);
        if (!dec_pair[i][k])
            abort();
    }
}
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
    static const char *const pair_extra[] = {"price", "a/b", "k~", "\xc3\xa9", "qty"};
    fuzz_pair_init(0, NULL, JD_TIME_AUTO, pair_extra, 5, NULL);
    static const char *const pair_fields[JD_FIELD__COUNT] = {
        "t", "k", "price", "ts", "type", "k", NULL, "a/b", NULL};
    static const char *const pair_extra2[] = {"customer_id", "ts"};
    fuzz_pair_init(1, pair_fields, JD_TIME_EPOCH_S, pair_extra2, 2, "message");
    scan_set = jd_jsonscan_keys_new();
    if (!scan_set)
        abort();
    for (size_t i = 0; i < FUZZ_NSCAN; i++)
        if ((scan_idx[i] = jd_jsonscan_keys_add(scan_set, scan_keys[i])) < 0)
            abort();
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

/* A bounded dead letter is valid JSON, within its bound when it can be,
 * and its payload a prefix of the whole one's. */
static void fuzz_dl_max(jd_dl_reason_t r, const char *detail, const uint8_t *data, size_t size)
{
    jd_source_pos_t pos = {.topic = "t", .partition = 0, .offset = 1};
    size_t max = 64 + (size ? data[0] : 0) * 3, len = 0, whole_len = 0;
    int cut = 0;
    char *whole = jd_deadletter_format(r, detail, &pos, (const char *)data, size, &whole_len);
    char *s = jd_deadletter_format_max(r, detail, &pos, (const char *)data, size, max, &len,
                                       &cut);
    if (!s || !whole)
        abort();
    json_error_t jerr;
    json_t *a = json_loads(s, JSON_ALLOW_NUL, &jerr), *b = json_loads(whole, JSON_ALLOW_NUL, &jerr);
    if (!a || !b || cut != (whole_len > max) || (!cut && strcmp(s, whole)))
        abort();
    json_t *pa = json_object_get(a, "payload"), *pb = json_object_get(b, "payload");
    /* Over the bound only when even an empty payload does not fit. */
    if ((cut && len > max && json_string_length(pa) != 0) ||
        json_string_length(pa) > json_string_length(pb) ||
        memcmp(json_string_value(pa), json_string_value(pb), json_string_length(pa)))
        abort();
    json_decref(a);
    json_decref(b);
    free(s);
    free(whole);
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
        fuzz_dl_max(r, detail, data, size);
    }
}

static int fuzz_str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void fuzz_differ(const char *what, const uint8_t *data, size_t size)
{
    fprintf(stderr, "fast and jansson paths differ (%s) on %zu bytes: %.*s\n", what, size,
            (int)(size > 500 ? 500 : size), (const char *)data);
    abort();
}

/* The scanner against json_loadb, value by value. */
static void fuzz_scan(const uint8_t *data, size_t size)
{
    if (size + 1 > scan_scratchsz) {
        free(scan_scratch);
        scan_scratchsz = size + 1;
        scan_scratch = malloc(scan_scratchsz);
        if (!scan_scratch)
            abort();
    }
    jd_jsonscan_type_t type = JD_JSONSCAN_T_OBJECT;
    jd_jsonscan_rc_t rc = jd_jsonscan(scan_set, (const char *)data, size, scan_scratch,
                                      scan_vals, &type);
    json_error_t jerr;
    json_t *root = jd_json_load_lenient((const char *)data, size, &jerr);
    if (rc == JD_JSONSCAN_UNSURE) {
        json_decref(root);
        return;
    }
    if ((rc == JD_JSONSCAN_INVALID) != (root == NULL))
        fuzz_differ(root ? "scanner rejects, jansson accepts" : "scanner accepts, jansson rejects",
                    data, size);
    if (!root)
        return;
    static const json_type want_type[] = {JSON_OBJECT, JSON_ARRAY, JSON_STRING, JSON_INTEGER,
                                          JSON_TRUE, JSON_NULL};
    json_type jt = json_typeof(root);
    if (jt == JSON_REAL)
        jt = JSON_INTEGER;
    if (jt == JSON_FALSE)
        jt = JSON_TRUE;
    if ((rc == JD_JSONSCAN_OBJECT) != json_is_object(root) || want_type[type] != jt)
        fuzz_differ("top-level type", data, size);
    if (rc == JD_JSONSCAN_OBJECT) {
        for (size_t i = 0; i < FUZZ_NSCAN; i++) {
            const jd_jsonscan_val_t *v = &scan_vals[scan_idx[i]];
            json_t *jv = json_object_get(root, scan_keys[i]);
            char buf[JD_JSONSCAN_NUMSZ];
            int kind_ok;
            switch (jv ? json_typeof(jv) : JSON_NULL) {
            case JSON_STRING:
                kind_ok = v->kind == JD_JSONSCAN_STRING && v->len == json_string_length(jv) &&
                          memcmp(v->s, json_string_value(jv), v->len) == 0;
                break;
            case JSON_INTEGER:
                kind_ok = v->kind == JD_JSONSCAN_INTEGER && v->i == json_integer_value(jv);
                break;
            case JSON_REAL:
                kind_ok = v->kind == JD_JSONSCAN_REAL &&
                          memcmp(&v->d, &(double){json_real_value(jv)}, sizeof(double)) == 0;
                break;
            case JSON_TRUE:
            case JSON_FALSE:
                kind_ok = v->kind == JD_JSONSCAN_BOOL;
                break;
            default:
                kind_ok = v->kind == JD_JSONSCAN_ABSENT;
                break;
            }
            if (!kind_ok)
                fuzz_differ(scan_keys[i], data, size);
            if (jv && !json_is_string(jv)) {
                int n = jd_json_scalar_str(jv, buf, sizeof(buf));
                if (n >= 0 && (v->len != (size_t)n || memcmp(v->s, buf, v->len)))
                    fuzz_differ("number text", data, size);
            }
        }
    }
    json_decref(root);
}

/* Details that name fields agree once the pointer (field "/a~1b") is read
 * back as the key (field "a/b"). */
static int fuzz_detail_same(const char *fast, const char *tree)
{
    char norm[256];
    size_t o = 0;
    if (!strstr(tree, "(field \"/"))
        return 0;
    for (const char *p = tree; *p && o + 1 < sizeof(norm);) {
        if (strncmp(p, "(field \"/", 9) == 0) {
            memcpy(norm + o, "(field \"", 8);
            o += 8;
            p += 9;
            while (*p && *p != '"' && o + 1 < sizeof(norm)) {
                if (p[0] == '~' && (p[1] == '0' || p[1] == '1')) {
                    norm[o++] = p[1] == '0' ? '~' : '/';
                    p += 2;
                } else {
                    norm[o++] = *p++;
                }
            }
        } else {
            norm[o++] = *p++;
        }
    }
    norm[o] = '\0';
    return strcmp(fast, norm) == 0;
}

/* One config pair: the fast path and the jansson path must agree. */
static void fuzz_pair(int i, const uint8_t *data, size_t size)
{
    jd_event_t *ev[2] = {NULL, NULL};
    char detail[2][256];
    jd_dl_reason_t r[2];
    for (int k = 0; k < 2; k++)
        r[k] = jd_decode_json(dec_pair[i][k], (const char *)data, size, &ev[k], detail[k],
                              sizeof(detail[k]));
    if (r[0] != r[1])
        fuzz_differ("dead-letter reason", data, size);
    if (strcmp(detail[0], detail[1]) != 0 && !fuzz_detail_same(detail[0], detail[1]))
        fuzz_differ("detail", data, size);
    if (!ev[0] != !ev[1])
        fuzz_differ("event or not", data, size);
    if (ev[0]) {
        if (ev[0]->ts != ev[1]->ts)
            fuzz_differ("ts", data, size);
        if (!fuzz_str_eq(ev[0]->customer_id, ev[1]->customer_id) ||
            !fuzz_str_eq(ev[0]->anonymous_id, ev[1]->anonymous_id) ||
            !fuzz_str_eq(ev[0]->event_id, ev[1]->event_id))
            fuzz_differ("identity or event_id", data, size);
        if (ev[0]->nslots != ev[1]->nslots)
            fuzz_differ("slot count", data, size);
        for (uint32_t s = 0; s < ev[0]->nslots; s++)
            if (!fuzz_str_eq(ev[0]->slot[s], ev[1]->slot[s]))
                fuzz_differ(fz_pair[i][0].slots[s].name, data, size);
        fuzz_check_event(ev[0], fz_pair[i][0].c.nslots);
    }
    jd_event_free(ev[0]);
    jd_event_free(ev[1]);
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

static int fuzz_on_event(void *opaque, jd_event_t *ev, const jd_source_pos_t *pos,
                         const char *payload, size_t len)
{
    (void)opaque;
    if (!pos->file || (len && !payload))
        abort();
    jd_event_free(ev);
    return 0;
}

static int fuzz_on_dead_letter(void *opaque, jd_dl_reason_t reason, const char *detail,
                               const jd_source_pos_t *pos, const char *payload, size_t len)
{
    (void)opaque;
    if (reason == JD_DL_NONE || reason >= JD_DL__COUNT || !detail || !pos->file ||
        (len && !payload))
        abort();
    return 0;
}

/* The record loop over a reader, as replay and produce run it. */
static void fuzz_records(const fuzz_conf_t *f, jd_decoder_t *d)
{
    static const jd_records_ops_t ops = {.on_event = fuzz_on_event,
                                         .on_dead_letter = fuzz_on_dead_letter};
    jd_err_t err;
    jd_reader_t *r = jd_reader_open(memfd_path, &err);
    if (!r)
        return;
    jd_records_run(r, &f->c, d, NULL, &ops, NULL, &err);
    jd_reader_close(r);
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
    fuzz_records(&fz_json, dec_json);
    /* CSV: the header comes from the bytes, so use a decoder of its own. */
    fz_csv.c.input_csv = 1;
    fuzz_records(&fz_csv, dec_hdr);
    fz_csv.c.input_csv = 0;
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
    for (int i = 0; i < FUZZ_NPAIRS; i++) {
        for (int k = 0; k < 2; k++) {
            jd_decoder_destroy(dec_pair[i][k]);
            jd_intern_destroy(fz_pair[i][k].c.intern);
        }
        for (size_t n = 0; n < sizeof(pair_strs[i]) / sizeof(pair_strs[i][0]); n++) {
            free(pair_strs[i][n]);
            pair_strs[i][n] = NULL;
        }
    }
    jd_jsonscan_keys_destroy(scan_set);
    close(memfd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (parser && jd_intern_bytes(fz_json.c.intern) + jd_intern_bytes(fz_ptr.c.intern) +
                          jd_intern_bytes(fz_csv.c.intern) +
                          jd_intern_bytes(fz_pair[0][0].c.intern) +
                          jd_intern_bytes(fz_pair[1][0].c.intern) > (64u << 20))
        fuzz_fini();
    if (!parser)
        fuzz_init();
    fuzz_json(dec_json, &fz_json, data, size);
    fuzz_json(dec_ptr, &fz_ptr, data, size);
    fuzz_scan(data, size);
    for (int i = 0; i < FUZZ_NPAIRS; i++)
        fuzz_pair(i, data, size);
    fuzz_csv(data, size, ',');
    fuzz_csv(data, size, '\t');
    fuzz_time(data, size);
    fuzz_reader(data, size);
    return 0;
}
