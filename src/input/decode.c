/*
 * Decoder: a JSON object or a CSV record -> jd_event_t, or a dead-letter
 * reason with a human detail.
 *
 * Every field source is resolved once, in jd_decoder_new (a JSON Pointer is
 * split and unescaped into tokens; a CSV column name becomes an index in
 * jd_decoder_csv_header), so decoding a record only walks the parsed JSON
 * or indexes the CSV fields.
 *
 * JSON has two paths with the same results. When every source is a
 * top-level key (the usual case) the text goes through jsonscan.c, which
 * validates it exactly as jansson would and picks out the wanted values
 * without building a tree; its only allocation per event is jd_event_new.
 * A JSON Pointer source needs the tree, so such configs parse with jansson;
 * so do texts the scanner rejects or cannot judge, which keeps jansson's
 * error message (line, column) as the dead-letter detail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "journeyd/decode.h"
#include "journeyd/timeutil.h"
#include "jsonscan.h"

/* Enough for any stringified JSON number or boolean. */
#define DECODE_NUMSZ 64
/* How much of an offending value a detail quotes. */
#define DECODE_QUOTE_MAX 80

enum { SRC_NONE = 0, SRC_KEY, SRC_POINTER };

typedef struct decode_tok {
    const char *s;   /* unescaped reference token (inside decode_src.tokbuf) */
    size_t len;
    long idx;        /* array index, or -1 if the token cannot index an array */
} decode_tok_t;

typedef struct decode_src {
    const char *name;     /* borrowed from the config: key, pointer or column */
    int kind;
    size_t ntok;
    decode_tok_t *tok;    /* owned */
    char *tokbuf;         /* owned */
    long col;             /* CSV column index, -1 if the header lacks it */
    int key;              /* index in jd_decoder.vals (fast path), or -1 */
} decode_src_t;

/* The identity-like fields, read but not kept as slots. */
enum { ID_TS = 0, ID_CUSTOMER, ID_ANONYMOUS, ID_EVENT, ID__COUNT };
static const int decode_id_field[ID__COUNT] = {
    JD_FIELD_TS, JD_FIELD_CUSTOMER_ID, JD_FIELD_ANONYMOUS_ID, JD_FIELD_EVENT_ID};

struct jd_decoder {
    const jd_config_t *conf;        /* borrowed */
    decode_src_t id[ID__COUNT];
    const char *id_dflt[ID__COUNT]; /* borrowed from conf, or NULL */
    uint32_t nslots;
    decode_src_t *slot;             /* owned, nslots entries */
    const char **slot_dflt;         /* interned in conf->intern, or NULL */
    long ncols;                     /* CSV header width, -1 before a header */
    char fmtname[96];               /* the time format as details name it */
    jd_intern_cache_t *icache;      /* owned; all interning goes through it */
    /* Fast JSON path (keys is NULL when a source is a JSON Pointer). */
    jd_jsonscan_keys_t *keys;       /* owned: the distinct top-level keys */
    jd_jsonscan_val_t *vals;        /* owned, one per key */
    char *scratch;                  /* owned: unescaped strings of one event */
    size_t scratchsz;
    /* time.max_future: the clock and its last reading (epoch ms). */
    jd_decode_clock_fn *clock;
    void *clock_opaque;
    int64_t now;
};

static int64_t decode_wall_clock(void *opaque)
{
    (void)opaque;
    return jd_now_ms();
}

void jd_decoder_set_clock(jd_decoder_t *d, jd_decode_clock_fn *fn, void *opaque)
{
    if (!d)
        return;
    d->clock = fn ? fn : decode_wall_clock;
    d->clock_opaque = fn ? opaque : NULL;
    d->now = d->clock(d->clock_opaque);
}

/* ------------------------------------------------------------------ */
/* Construction                                                       */
/* ------------------------------------------------------------------ */

/* RFC 6901: "/a/b~1c/0" -> "a", "b/c", "0". "~" must be followed by 0 or 1. */
static int decode_src_init(decode_src_t *src, const char *name, jd_err_t *err)
{
    memset(src, 0, sizeof(*src));
    src->name = name;
    src->col = -1;
    src->key = -1;
    if (!name || !*name)
        return 0;
    if (name[0] != '/') {
        src->kind = SRC_KEY;
        return 0;
    }
    src->kind = SRC_POINTER;
    size_t n = strlen(name), ntok = 0;
    for (size_t i = 0; i < n; i++)
        ntok += name[i] == '/';
    src->tok = calloc(ntok, sizeof(*src->tok));
    src->tokbuf = malloc(n + 1);
    if (!src->tok || !src->tokbuf)
        return jd_err_set(err, "out of memory");
    char *o = src->tokbuf;
    const char *p = name + 1;
    for (size_t t = 0; t < ntok; t++) {
        decode_tok_t *tok = &src->tok[t];
        tok->s = o;
        while (*p && *p != '/') {
            if (*p == '~') {
                if (p[1] == '0')
                    *o++ = '~';
                else if (p[1] == '1')
                    *o++ = '/';
                else
                    return jd_err_set(err, "field \"%s\": invalid JSON Pointer escape "
                                           "(\"~\" must be followed by 0 or 1)", name);
                p += 2;
            } else {
                *o++ = *p++;
            }
        }
        tok->len = (size_t)(o - tok->s);
        *o++ = '\0';
        if (*p == '/')
            p++;
        /* Array indices are "0" or digits without a leading zero. */
        tok->idx = -1;
        if (tok->len > 0 && tok->len < 10 && (tok->s[0] != '0' || tok->len == 1)) {
            long v = 0;
            size_t i;
            for (i = 0; i < tok->len && tok->s[i] >= '0' && tok->s[i] <= '9'; i++)
                v = v * 10 + (tok->s[i] - '0');
            if (i == tok->len)
                tok->idx = v;
        }
    }
    src->ntok = ntok;
    return 0;
}

static void decode_src_free(decode_src_t *src)
{
    free(src->tok);
    free(src->tokbuf);
}

/* Sets up the scanner path if every source is a top-level key (or
 * unmapped); otherwise leaves d->keys NULL. -1 on allocation failure. */
static int decode_fast_init(jd_decoder_t *d)
{
    for (int i = 0; i < ID__COUNT; i++)
        if (d->id[i].kind == SRC_POINTER)
            return 0;
    for (uint32_t i = 0; i < d->nslots; i++)
        if (d->slot[i].kind == SRC_POINTER)
            return 0;
    d->keys = jd_jsonscan_keys_new();
    if (!d->keys)
        return -1;
    for (int i = 0; i < ID__COUNT + (int)d->nslots; i++) {
        decode_src_t *src = i < ID__COUNT ? &d->id[i] : &d->slot[i - ID__COUNT];
        if (src->kind == SRC_KEY && (src->key = jd_jsonscan_keys_add(d->keys, src->name)) < 0)
            return -1;
    }
    d->vals = calloc(jd_jsonscan_keys_count(d->keys) + 1, sizeof(*d->vals));
    d->scratchsz = 4096;
    d->scratch = malloc(d->scratchsz);
    return d->vals && d->scratch ? 0 : -1;
}

jd_decoder_t *jd_decoder_new(const jd_config_t *conf, jd_err_t *err)
{
    if (!conf || !conf->intern || conf->nslots < JD_SLOT__CANON || !conf->slots) {
        jd_err_set(err, "decoder: config has no interner or fewer than %d slots",
                   JD_SLOT__CANON);
        return NULL;
    }
    jd_decoder_t *d = calloc(1, sizeof(*d));
    if (!d) {
        jd_err_set(err, "out of memory");
        return NULL;
    }
    d->conf = conf;
    d->ncols = -1;
    jd_decoder_set_clock(d, NULL, NULL);
    d->icache = jd_intern_cache_new(conf->intern);
    if (!d->icache) {
        jd_err_set(err, "out of memory");
        goto fail;
    }
    d->nslots = conf->nslots;
    d->slot = calloc(conf->nslots, sizeof(*d->slot));
    d->slot_dflt = calloc(conf->nslots, sizeof(*d->slot_dflt));
    if (!d->slot || !d->slot_dflt) {
        jd_err_set(err, "out of memory");
        goto fail;
    }
    for (int i = 0; i < ID__COUNT; i++) {
        int f = decode_id_field[i];
        if (decode_src_init(&d->id[i], conf->fields[f], err))
            goto fail;
        /* A constant ts makes no sense as event time; ids may have one. */
        if (i != ID_TS && conf->defaults[f] && conf->defaults[f][0])
            d->id_dflt[i] = conf->defaults[f];
    }
    for (uint32_t i = 0; i < conf->nslots; i++) {
        const jd_slot_t *s = &conf->slots[i];
        const char *source = s->source;
        int f = s->field;
        if (!source && f >= 0 && f < JD_FIELD__COUNT)
            source = conf->fields[f];
        if (decode_src_init(&d->slot[i], source, err))
            goto fail;
        const char *dflt = s->dflt;
        if (!dflt && f >= 0 && f < JD_FIELD__COUNT && conf->defaults[f] &&
            conf->defaults[f][0])
            dflt = conf->defaults[f];
        /* Contract section 2: channel defaults to "unknown" when the config
         * names no default of its own. */
        if (!dflt && i == JD_SLOT_CHANNEL)
            dflt = "unknown";
        if (dflt) {
            /* A default is a config constant: pinned, never reclaimed. */
            d->slot_dflt[i] = jd_intern_pin(conf->intern,
                                            jd_intern_cached(d->icache, dflt, strlen(dflt)));
            if (!d->slot_dflt[i]) {
                jd_err_set(err, "out of memory");
                goto fail;
            }
        }
    }
    if (decode_fast_init(d)) {
        jd_err_set(err, "out of memory");
        goto fail;
    }
    const jd_time_format_t *tf = &conf->time_format;
    switch (tf->kind) {
    case JD_TIME_AUTO:
        snprintf(d->fmtname, sizeof(d->fmtname), "auto");
        break;
    case JD_TIME_EPOCH_S:
        snprintf(d->fmtname, sizeof(d->fmtname), "epoch_s");
        break;
    case JD_TIME_EPOCH_MS:
        snprintf(d->fmtname, sizeof(d->fmtname), "epoch_ms");
        break;
    default:
        snprintf(d->fmtname, sizeof(d->fmtname), "\"%s\"",
                 tf->pattern ? tf->pattern : "");
        break;
    }
    return d;
fail:
    jd_decoder_destroy(d);
    return NULL;
}

void jd_decoder_destroy(jd_decoder_t *d)
{
    if (!d)
        return;
    for (int i = 0; i < ID__COUNT; i++)
        decode_src_free(&d->id[i]);
    if (d->slot)
        for (uint32_t i = 0; i < d->nslots; i++)
            decode_src_free(&d->slot[i]);
    free(d->slot);
    free(d->slot_dflt);
    jd_jsonscan_keys_destroy(d->keys);
    free(d->vals);
    free(d->scratch);
    jd_intern_cache_destroy(d->icache);
    free(d);
}

/* ------------------------------------------------------------------ */
/* Details                                                            */
/* ------------------------------------------------------------------ */

/* Writes s[0..len) as a double-quoted, ASCII-only excerpt so a detail is
 * readable and always valid UTF-8 whatever the input bytes were. */
static size_t decode_quote(char *dst, size_t dstsz, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (dstsz < 8)
        return 0;
    dst[o++] = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i >= DECODE_QUOTE_MAX || o + 8 >= dstsz) {
            memcpy(dst + o, "...", 3);
            o += 3;
            break;
        }
        if (c == '"' || c == '\\') {
            dst[o++] = '\\';
            dst[o++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            dst[o++] = '\\';
            dst[o++] = 'x';
            dst[o++] = hex[c >> 4];
            dst[o++] = hex[c & 15];
        } else {
            dst[o++] = (char)c;
        }
    }
    dst[o++] = '"';
    dst[o] = '\0';
    return o;
}

static const char *decode_json_type(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    default:
        return "an object";
    }
}

#define DECODE_DETAIL(...)                                                    \
    do {                                                                      \
        if (detail && detailsz)                                               \
            snprintf(detail, detailsz, __VA_ARGS__);                          \
    } while (0)

/* ------------------------------------------------------------------ */
/* Field access                                                       */
/* ------------------------------------------------------------------ */

static json_t *decode_lookup(const decode_src_t *src, json_t *root)
{
    if (src->kind == SRC_KEY)
        return json_object_get(root, src->name);
    if (src->kind != SRC_POINTER)
        return NULL;
    json_t *v = root;
    for (size_t i = 0; i < src->ntok && v; i++) {
        const decode_tok_t *t = &src->tok[i];
        if (json_is_object(v))
            v = json_object_getn(v, t->s, t->len);
        else if (json_is_array(v))
            v = t->idx >= 0 ? json_array_get(v, (size_t)t->idx) : NULL;
        else
            v = NULL;
    }
    return v;
}

/* One record being decoded: a jansson tree, the scanner's values of a JSON
 * object, or a CSV record. */
typedef struct decode_rec {
    json_t *root;
    const jd_jsonscan_val_t *vals;
    const jd_csv_record_t *csv;
} decode_rec_t;

/* What a value was in JSON, so ts can tell numbers from strings. */
enum { DECODE_TEXT = 0, DECODE_INT, DECODE_REAL };
typedef struct decode_num {
    int kind;
    int64_t i;
    double d;
} decode_num_t;

/* Reads src as text. Strings are returned in place; numbers and booleans
 * are stringified into scratch (DECODE_NUMSZ bytes). Returns 1 if present
 * and non-empty; null, objects, arrays and "" are absent. *num (if
 * non-NULL) says whether the JSON value was a number, and which. */
static int decode_get_slow(const decode_src_t *src, const decode_rec_t *r, char *scratch,
                           const char **s, size_t *len, decode_num_t *num);

/* The scanner's values need no work: kept small so it inlines. */
static inline int decode_get(const decode_src_t *src, const decode_rec_t *r, char *scratch,
                             const char **s, size_t *len, decode_num_t *num)
{
    if (!r->vals)
        return decode_get_slow(src, r, scratch, s, len, num);
    if (num)
        num->kind = DECODE_TEXT;
    if (src->key < 0)
        return 0;
    const jd_jsonscan_val_t *v = &r->vals[src->key];
    if (v->kind == JD_JSONSCAN_ABSENT)
        return 0;
    if (num && v->kind == JD_JSONSCAN_INTEGER) {
        num->kind = DECODE_INT;
        num->i = v->i;
    } else if (num && v->kind == JD_JSONSCAN_REAL) {
        num->kind = DECODE_REAL;
        num->d = v->d;
    }
    *s = v->s;
    *len = v->len;
    return *len > 0;
}

static int decode_get_slow(const decode_src_t *src, const decode_rec_t *r, char *scratch,
                           const char **s, size_t *len, decode_num_t *num)
{
    if (num)
        num->kind = DECODE_TEXT;
    if (r->csv) {
        if (src->col < 0 || (size_t)src->col >= r->csv->nfields)
            return 0;
        *s = r->csv->field[src->col];
        *len = r->csv->len[src->col];
        return *len > 0;
    }
    json_t *v = decode_lookup(src, r->root);
    if (!v)
        return 0;
    if (num && json_is_integer(v)) {
        num->kind = DECODE_INT;
        num->i = (int64_t)json_integer_value(v);
    } else if (num && json_is_real(v)) {
        num->kind = DECODE_REAL;
        num->d = json_real_value(v);
    }
    if (json_is_string(v)) {
        *s = json_string_value(v);
        *len = json_string_length(v);
        return *len > 0;
    }
    int n = jd_json_scalar_str(v, scratch, DECODE_NUMSZ);
    if (n <= 0)
        return 0;
    *s = scratch;
    *len = (size_t)n;
    return 1;
}

static const char *decode_src_name(const decode_src_t *src)
{
    return src->name ? src->name : "(unmapped)";
}

/* "3.5 days": a span for a human, at least 1 ms. */
static void decode_span(int64_t ms, char *buf, size_t sz)
{
    static const struct { int64_t ms; const char *unit; } units[] = {
        {INT64_C(31557600000), "years"}, {86400000, "days"}, {3600000, "hours"},
        {60000, "minutes"}, {1000, "seconds"}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (ms >= units[i].ms) {
            snprintf(buf, sz, "%.1f %s", (double)ms / (double)units[i].ms, units[i].unit);
            return;
        }
    snprintf(buf, sz, "%lld ms", (long long)ms);
}

/* The future_ts detail: how far ahead, and a guess at the unit when the
 * value read in another unit would be a plausible recent time (a 16-digit
 * integer read as ms is epoch microseconds). */
static void decode_future_detail(const jd_decoder_t *d, int64_t ts, const char *q,
                                 char *detail, size_t detailsz)
{
    /* 2000-01-01: older "times" are no better a guess than the value. */
    const int64_t y2k = INT64_C(946684800000);
    int64_t lim = d->now + d->conf->max_future_ms;
    char ahead[32], maxf[32];
    decode_span(ts - d->now, ahead, sizeof(ahead));
    decode_span(d->conf->max_future_ms, maxf, sizeof(maxf));
    const char *hint = "";
    if (d->conf->time_format.kind == JD_TIME_EPOCH_S && ts / 1000 >= y2k && ts / 1000 <= lim)
        hint = "; the value looks like epoch milliseconds (time.format epoch_ms)";
    else if (d->conf->time_format.kind != JD_TIME_EPOCH_S && ts / 1000 >= y2k &&
             ts / 1000 <= lim)
        hint = "; the value looks like epoch microseconds, not milliseconds";
    else if (d->conf->time_format.kind != JD_TIME_EPOCH_S && ts / 1000000 >= y2k &&
             ts / 1000000 <= lim)
        hint = "; the value looks like epoch nanoseconds, not milliseconds";
    DECODE_DETAIL("ts %s is %s ahead of the wall clock (time.max_future %s)%s", q, ahead,
                  maxf, hint);
}

/* time.max_future. The cached reading only ever lags the clock, so an
 * event that passes against it passes against the clock too; only a
 * suspect one pays for a fresh reading. */
static int decode_is_future(jd_decoder_t *d, int64_t ts)
{
    int64_t maxf = d->conf->max_future_ms;
    if (maxf <= 0 || ts <= d->now || ts - d->now <= maxf)
        return 0;
    d->now = d->clock(d->clock_opaque);
    return ts > d->now && ts - d->now > maxf;
}

static jd_dl_reason_t decode_record(jd_decoder_t *d, const decode_rec_t *r,
                                    jd_event_t **out, char *detail, size_t detailsz)
{
    char scratch[ID__COUNT][DECODE_NUMSZ];
    const char *val[ID__COUNT] = {NULL};
    size_t len[ID__COUNT] = {0};
    decode_num_t tsn;

    if (!decode_get(&d->id[ID_TS], r, scratch[ID_TS], &val[ID_TS], &len[ID_TS], &tsn)) {
        DECODE_DETAIL("ts (field \"%s\") is missing or empty",
                      decode_src_name(&d->id[ID_TS]));
        return JD_DL_MISSING_TS;
    }
    int64_t ts;
    const jd_time_format_t *tf = &d->conf->time_format;
    int bad;
    if (tsn.kind == DECODE_INT)
        bad = jd_time_from_number(tf, 0, 1, tsn.i, &ts);
    else if (tsn.kind == DECODE_REAL)
        bad = jd_time_from_number(tf, tsn.d, 0, 0, &ts);
    else
        bad = jd_time_parse(tf, val[ID_TS], len[ID_TS], &ts);
    if (bad || decode_is_future(d, ts)) {
        char q[DECODE_QUOTE_MAX * 4 + 16];
        if (tsn.kind != DECODE_TEXT)
            snprintf(q, sizeof(q), "%.*s", (int)len[ID_TS], val[ID_TS]);
        else
            decode_quote(q, sizeof(q), val[ID_TS], len[ID_TS]);
        if (!bad) {
            decode_future_detail(d, ts, q, detail, detailsz);
            return JD_DL_FUTURE_TS;
        }
        DECODE_DETAIL("ts %s does not match format %s", q, d->fmtname);
        return JD_DL_BAD_TS;
    }

    const char *type = NULL;
    size_t type_len = 0;
    char slot_scratch[DECODE_NUMSZ];
    if (!decode_get(&d->slot[JD_SLOT_TYPE], r, slot_scratch, &type, &type_len, NULL))
        type = NULL;
    if (!type && !d->slot_dflt[JD_SLOT_TYPE]) {
        DECODE_DETAIL("type (field \"%s\") is missing or empty and has no default",
                      decode_src_name(&d->slot[JD_SLOT_TYPE]));
        return JD_DL_MISSING_TYPE;
    }

    for (int i = ID_CUSTOMER; i < ID__COUNT; i++) {
        if (decode_get(&d->id[i], r, scratch[i], &val[i], &len[i], NULL))
            continue;
        val[i] = d->id_dflt[i];
        len[i] = val[i] ? strlen(val[i]) : 0;
    }
    if (!val[ID_CUSTOMER] && !val[ID_ANONYMOUS]) {
        DECODE_DETAIL("neither customer_id (field \"%s\") nor anonymous_id "
                      "(field \"%s\") is present",
                      decode_src_name(&d->id[ID_CUSTOMER]),
                      decode_src_name(&d->id[ID_ANONYMOUS]));
        return JD_DL_MISSING_IDENTITY;
    }

    jd_event_t *ev = jd_event_new(d->nslots, val[ID_CUSTOMER], len[ID_CUSTOMER],
                                  val[ID_ANONYMOUS], len[ID_ANONYMOUS],
                                  val[ID_EVENT], len[ID_EVENT]);
    if (!ev)
        goto oom;
    ev->ts = ts;
    for (uint32_t i = 0; i < d->nslots; i++) {
        const char *s = type;
        size_t l = type_len;
        int have;
        /* The type was already located (its number form, if any, is still
         * in slot_scratch: slot 0 is interned before the scratch is reused). */
        if (i == JD_SLOT_TYPE)
            have = type != NULL;
        else if (d->conf->slots[i].unused)
            continue;
        else
            have = decode_get(&d->slot[i], r, slot_scratch, &s, &l, NULL);
        if (have) {
            ev->slot[i] = jd_intern_cached(d->icache, s, l);
            if (!ev->slot[i]) {
                jd_event_free(ev);
                goto oom;
            }
        } else {
            ev->slot[i] = jd_intern_ref(d->slot_dflt[i]);
        }
    }
    *out = ev;
    return JD_DL_NONE;
oom:
    /* Not the input's fault, so not a dead letter: the caller sees
     * JD_DL_NONE with no event. */
    DECODE_DETAIL("out of memory");
    return JD_DL_NONE;
}

static jd_dl_reason_t decode_json_tree(jd_decoder_t *d, const char *buf, size_t len,
                                      jd_event_t **out, char *detail, size_t detailsz)
{
    json_error_t jerr;
    /* DECODE_ANY so a bare scalar is reported as not_an_object rather than
     * as a syntax error; NUL escapes stay rejected (flag JSON_ALLOW_NUL off)
     * because every value is used as a C string. Lenient: a number out of
     * jansson's range is a string of its text, as in the scanner, so an
     * order id nobody reads cannot make the event invalid_json. */
    json_t *root = jd_json_load_lenient(buf ? buf : "", len, &jerr);
    if (!root) {
        DECODE_DETAIL("%s at line %d column %d", jerr.text, jerr.line, jerr.column);
        return JD_DL_INVALID_JSON;
    }
    if (!json_is_object(root)) {
        DECODE_DETAIL("expected a JSON object, got %s", decode_json_type(root));
        json_decref(root);
        return JD_DL_NOT_OBJECT;
    }
    decode_rec_t r = {.root = root};
    jd_dl_reason_t rc = decode_record(d, &r, out, detail, detailsz);
    json_decref(root);
    return rc;
}

static const char *decode_scan_type(jd_jsonscan_type_t t)
{
    switch (t) {
    case JD_JSONSCAN_T_ARRAY:
        return "an array";
    case JD_JSONSCAN_T_STRING:
        return "a string";
    case JD_JSONSCAN_T_NUMBER:
        return "a number";
    case JD_JSONSCAN_T_BOOL:
        return "a boolean";
    case JD_JSONSCAN_T_NULL:
        return "null";
    default:
        return "an object";
    }
}

jd_dl_reason_t jd_decode_json(jd_decoder_t *d, const char *buf, size_t len,
                              jd_event_t **out, char *detail, size_t detailsz)
{
    if (out)
        *out = NULL;
    if (detail && detailsz)
        detail[0] = '\0';
    if (!d || !out || (!buf && len)) {
        DECODE_DETAIL("no input");
        return JD_DL_INVALID_JSON;
    }
    if (!d->keys || !buf)
        return decode_json_tree(d, buf, len, out, detail, detailsz);
    if (len >= d->scratchsz) {
        /* Grows to the largest record seen, so steady state allocates
         * nothing here. */
        size_t sz = d->scratchsz * 2 > len ? d->scratchsz * 2 : len + 1;
        char *s = realloc(d->scratch, sz);
        if (!s) {
            DECODE_DETAIL("out of memory");
            return JD_DL_NONE;
        }
        d->scratch = s;
        d->scratchsz = sz;
    }
    jd_jsonscan_type_t type = JD_JSONSCAN_T_OBJECT;
    switch (jd_jsonscan(d->keys, buf, len, d->scratch, d->vals, &type)) {
    case JD_JSONSCAN_OBJECT: {
        decode_rec_t r = {.vals = d->vals};
        return decode_record(d, &r, out, detail, detailsz);
    }
    case JD_JSONSCAN_NOT_OBJECT:
        DECODE_DETAIL("expected a JSON object, got %s", decode_scan_type(type));
        return JD_DL_NOT_OBJECT;
    default:
        /* Rare: bad input (jansson words the detail) or a number too long
         * for the scanner to judge. */
        return decode_json_tree(d, buf, len, out, detail, detailsz);
    }
}

/* ------------------------------------------------------------------ */
/* CSV                                                                */
/* ------------------------------------------------------------------ */

static long decode_find_col(const jd_csv_record_t *hdr, const char *name)
{
    if (!name || !*name)
        return -1;
    size_t n = strlen(name);
    for (size_t c = 0; c < hdr->nfields; c++) {
        const char *f = hdr->field[c];
        size_t fl = hdr->len[c];
        /* Spreadsheet exports often start with a UTF-8 byte order mark. */
        if (c == 0 && fl >= 3 && memcmp(f, "\xef\xbb\xbf", 3) == 0) {
            f += 3;
            fl -= 3;
        }
        if (fl == n && memcmp(f, name, n) == 0)
            return (long)c;
    }
    return -1;
}

int jd_decoder_csv_header(jd_decoder_t *d, const jd_csv_record_t *hdr, jd_err_t *err)
{
    if (!d || !hdr)
        return jd_err_set(err, "CSV header: no decoder or record");
    if (hdr->nfields == 0)
        return jd_err_set(err, "CSV header is empty");
    for (size_t c = 0; c < hdr->nfields; c++)
        if (memchr(hdr->field[c], '\0', hdr->len[c]))
            return jd_err_set(err, "CSV header column %zu holds a NUL byte", c + 1);
    for (int i = 0; i < ID__COUNT; i++)
        d->id[i].col = decode_find_col(hdr, d->id[i].name);
    for (uint32_t i = 0; i < d->nslots; i++)
        d->slot[i].col = decode_find_col(hdr, d->slot[i].name);
    d->ncols = -1;
    if (d->id[ID_TS].col < 0)
        return jd_err_set(err, "CSV header has no column \"%s\" for ts",
                          decode_src_name(&d->id[ID_TS]));
    if (d->slot[JD_SLOT_TYPE].col < 0 && !d->slot_dflt[JD_SLOT_TYPE])
        return jd_err_set(err, "CSV header has no column \"%s\" for type, and "
                               "defaults has no type",
                          decode_src_name(&d->slot[JD_SLOT_TYPE]));
    if (d->id[ID_CUSTOMER].col < 0 && d->id[ID_ANONYMOUS].col < 0 &&
        !d->id_dflt[ID_CUSTOMER] && !d->id_dflt[ID_ANONYMOUS])
        return jd_err_set(err, "CSV header has neither column \"%s\" for "
                               "customer_id nor \"%s\" for anonymous_id",
                          decode_src_name(&d->id[ID_CUSTOMER]),
                          decode_src_name(&d->id[ID_ANONYMOUS]));
    d->ncols = (long)hdr->nfields;
    return 0;
}

jd_dl_reason_t jd_decode_csv(jd_decoder_t *d, const jd_csv_record_t *rec,
                             jd_event_t **out, char *detail, size_t detailsz)
{
    if (out)
        *out = NULL;
    if (detail && detailsz)
        detail[0] = '\0';
    if (!d || !rec || !out) {
        DECODE_DETAIL("no input");
        return JD_DL_BAD_CSV;
    }
    if (d->ncols < 0) {
        DECODE_DETAIL("no valid CSV header before this record");
        return JD_DL_BAD_CSV;
    }
    if ((long)rec->nfields != d->ncols) {
        DECODE_DETAIL("record has %zu fields, the header has %ld", rec->nfields,
                      d->ncols);
        return JD_DL_BAD_CSV;
    }
    /* Values are C strings from here on: a NUL would cut one short (two
     * customers "c1\0x" and "c1\0y" would become one). */
    for (size_t c = 0; c < rec->nfields; c++) {
        const char *nul = memchr(rec->field[c], '\0', rec->len[c]);
        if (nul) {
            DECODE_DETAIL("field %zu holds a NUL byte (at byte %zu of the field)", c + 1,
                          (size_t)(nul - rec->field[c]) + 1);
            return JD_DL_BAD_CSV;
        }
    }
    decode_rec_t r = {.csv = rec};
    return decode_record(d, &r, out, detail, detailsz);
}
