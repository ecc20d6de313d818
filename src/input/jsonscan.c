/*
 * Tree-free JSON scanner (see jsonscan.h). One forward pass, no allocation:
 * wanted values point into the input (or the caller's scratch when a string
 * has escapes), everything else is validated and skipped.
 *
 * The reference is jansson 2.14's load.c, including one behaviour a plain
 * RFC 8259 reader would not have: jansson reads one byte past a number or
 * a literal and pushes it back, and a pushed-back NUL byte is lost, so
 * "1\0" and "[true\0]" are valid. Where we part from jansson on purpose:
 * integers outside int64 and reals that overflow a double are valid here
 * (contract section 2: a number journeyd does not read never invalidates an
 * event); a wanted one is reported as a string of its text.
 * jd_json_load_lenient (jsonlenient.c) gives the jansson tree with the same
 * verdicts.
 * Any other NUL, raw control character or byte >= 0x80 outside a valid
 * UTF-8 sequence in a string makes the text invalid.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include "journeyd/config.h"
#include "jsonscan.h"

/* jansson counts the top-level value as depth 1 (jansson_config.h). */
#define SCAN_MAX_DEPTH JSON_PARSER_MAX_DEPTH
/* Numbers are copied here for strtod; a longer one is left to jansson. */
#define SCAN_NUMBUF 128

struct jd_jsonscan_keys {
    size_t n, cap;
    const char **name;
    size_t *len;
    size_t maxlen;
    uint32_t mask;     /* tab has mask + 1 entries */
    uint32_t *tab;     /* key index + 1, 0 = empty; open addressing */
};

typedef struct scan {
    const char *end;
    char *scratch;
    size_t used;       /* scratch bytes holding reported values */
    int unsure;
} scan_t;

/* ------------------------------------------------------------------ */
/* Key set                                                            */
/* ------------------------------------------------------------------ */

static uint32_t scan_key_hash(const char *s, size_t len)
{
    uint32_t h = (uint32_t)len * 2654435761u;
    if (len)
        h ^= (uint32_t)(unsigned char)s[0] * 0x01000193u ^
             (uint32_t)(unsigned char)s[len - 1] * 0x045d9f3bu;
    return h ^ (h >> 15);
}

jd_jsonscan_keys_t *jd_jsonscan_keys_new(void)
{
    return calloc(1, sizeof(jd_jsonscan_keys_t));
}

void jd_jsonscan_keys_destroy(jd_jsonscan_keys_t *k)
{
    if (!k)
        return;
    free(k->name);
    free(k->len);
    free(k->tab);
    free(k);
}

size_t jd_jsonscan_keys_count(const jd_jsonscan_keys_t *k)
{
    return k ? k->n : 0;
}

static inline uint64_t scan_load8(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint32_t scan_load4(const char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Keys are short, so a call to memcmp costs more than the compare:
 * two overlapping loads cover 4..16 bytes, and no load leaves [0, len). */
static inline int scan_key_eq(const char *a, const char *b, size_t len)
{
    if (len >= 8) {
        size_t i = 0;
        for (; i + 8 < len; i += 8)
            if (scan_load8(a + i) != scan_load8(b + i))
                return 0;
        return scan_load8(a + len - 8) == scan_load8(b + len - 8);
    }
    if (len >= 4)
        return scan_load4(a) == scan_load4(b) &&
               scan_load4(a + len - 4) == scan_load4(b + len - 4);
    for (size_t i = 0; i < len; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

static inline int scan_key_find(const jd_jsonscan_keys_t *k, const char *s, size_t len)
{
    if (!k->tab || len > k->maxlen)
        return -1;
    for (uint32_t h = scan_key_hash(s, len) & k->mask;; h = (h + 1) & k->mask) {
        uint32_t e = k->tab[h];
        if (!e)
            return -1;
        if (k->len[e - 1] == len && scan_key_eq(k->name[e - 1], s, len))
            return (int)(e - 1);
    }
}

/* Keeps the table at most a quarter full so a miss (the common case for
 * unwanted keys) ends after a probe or two. */
static int scan_key_rehash(jd_jsonscan_keys_t *k)
{
    uint32_t size = 16;
    while (size < 4 * k->n)
        size *= 2;
    uint32_t *tab = calloc(size, sizeof(*tab));
    if (!tab)
        return -1;
    free(k->tab);
    k->tab = tab;
    k->mask = size - 1;
    for (size_t i = 0; i < k->n; i++) {
        uint32_t h = scan_key_hash(k->name[i], k->len[i]) & k->mask;
        while (tab[h])
            h = (h + 1) & k->mask;
        tab[h] = (uint32_t)i + 1;
    }
    return 0;
}

int jd_jsonscan_keys_add(jd_jsonscan_keys_t *k, const char *name)
{
    if (!k || !name)
        return -1;
    size_t len = strlen(name);
    int found = scan_key_find(k, name, len);
    if (found >= 0)
        return found;
    if (k->n == k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 16;
        const char **nn = realloc(k->name, cap * sizeof(*nn));
        if (!nn)
            return -1;
        k->name = nn;
        size_t *nl = realloc(k->len, cap * sizeof(*nl));
        if (!nl)
            return -1;
        k->len = nl;
        k->cap = cap;
    }
    k->name[k->n] = name;
    k->len[k->n] = len;
    k->n++;
    if (scan_key_rehash(k)) {
        k->n--;
        return -1;
    }
    if (len > k->maxlen)
        k->maxlen = len;
    return (int)(k->n - 1);
}

/* ------------------------------------------------------------------ */
/* Lexical pieces                                                     */
/* ------------------------------------------------------------------ */

static inline int scan_is_ws(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static inline const char *scan_ws(const char *p, const char *end)
{
    /* Compact JSON has no whitespace: one test in the common case. */
    if (p < end && (unsigned char)*p > ' ')
        return p;
    while (p < end && scan_is_ws(*p))
        p++;
    return p;
}

static inline int scan_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* See the file comment: a NUL right after a number or literal vanishes. */
static inline const char *scan_eat_nul(const char *p, const char *end)
{
    return (p < end && *p == '\0') ? p + 1 : p;
}

static int32_t scan_hex4(const char *p, const char *end)
{
    if (end - p < 4)
        return -1;
    int32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v += c - '0';
        else if (c >= 'a' && c <= 'f')
            v += c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v += c - 'A' + 10;
        else
            return -1;
    }
    return v;
}

/* p is just after a backslash. jansson accepts the eight short escapes and
 * \uXXXX, where a high surrogate must be followed at once by an escaped low
 * one, a lone low surrogate is an error, and U+0000 is refused because
 * JSON_ALLOW_NUL is off (for keys it is refused outright). */
static const char *scan_escape(const char *p, const char *end)
{
    if (p >= end)
        return NULL;
    switch (*p) {
    case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
        return p + 1;
    case 'u':
        break;
    default:
        return NULL;
    }
    int32_t cp = scan_hex4(p + 1, end);
    if (cp <= 0)
        return NULL;
    p += 5;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (end - p < 2 || p[0] != '\\' || p[1] != 'u')
            return NULL;
        int32_t lo = scan_hex4(p + 2, end);
        if (lo < 0xDC00 || lo > 0xDFFF)
            return NULL;
        return p + 6;
    }
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return NULL;
    return p;
}

/* One UTF-8 sequence at p (a byte >= 0x80), checked like jansson's
 * utf8_check_first/utf8_check_full: no overlong forms, no surrogates,
 * nothing above U+10FFFF. */
static const char *scan_utf8(const char *p, const char *end)
{
    unsigned char u = (unsigned char)*p;
    size_t n;
    uint32_t v;
    if (u >= 0xC2 && u <= 0xDF) {
        n = 2;
        v = u & 0x1F;
    } else if (u >= 0xE0 && u <= 0xEF) {
        n = 3;
        v = u & 0x0F;
    } else if (u >= 0xF0 && u <= 0xF4) {
        n = 4;
        v = u & 0x07;
    } else {
        return NULL;
    }
    if ((size_t)(end - p) < n)
        return NULL;
    for (size_t i = 1; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x80 || c > 0xBF)
            return NULL;
        v = (v << 6) | (c & 0x3F);
    }
    if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) || (n == 3 && v < 0x800) ||
        (n == 4 && v < 0x10000))
        return NULL;
    return p + n;
}

/* Bytes a string's fast loop must stop at: '"', '\\', control characters
 * and anything non-ASCII. */
static inline int scan_str_special(unsigned char c)
{
    return c == '"' || c == '\\' || c < 0x20 || c >= 0x80;
}

/* p is just after the opening quote. Returns the byte after the closing
 * quote, or NULL if the string is invalid; *esc is set if it has escapes. */
static inline __attribute__((always_inline)) const char *scan_string(const char *p,
                                                                   const char *end, int *esc)
{
    for (;;) {
#ifdef __SSE2__
        /* Signed compare: bytes >= 0x80 are negative, so "< 0x20" catches
         * control characters and non-ASCII at once. */
        const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'),
                      space = _mm_set1_epi8(0x20);
        while (end - p >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
            __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote),
                                                  _mm_cmpeq_epi8(v, bslash)),
                                     _mm_cmplt_epi8(v, space));
            int bits = _mm_movemask_epi8(m);
            if (bits) {
                p += __builtin_ctz((unsigned)bits);
                goto special;
            }
            p += 16;
        }
#endif
        while (p < end && !scan_str_special((unsigned char)*p))
            p++;
        if (p >= end)
            return NULL;
#ifdef __SSE2__
    special:
#endif
        switch (*p) {
        case '"':
            return p + 1;
        case '\\':
            *esc = 1;
            p = scan_escape(p + 1, end);
            break;
        default:
            p = (unsigned char)*p >= 0x80 ? scan_utf8(p, end) : NULL;
            break;
        }
        if (!p)
            return NULL;
    }
}

static void scan_put_utf8(char **o, int32_t cp)
{
    char *t = *o;
    if (cp < 0x80) {
        *t++ = (char)cp;
    } else if (cp < 0x800) {
        *t++ = (char)(0xC0 | (cp >> 6));
        *t++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *t++ = (char)(0xE0 | (cp >> 12));
        *t++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *t++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *t++ = (char)(0xF0 | (cp >> 18));
        *t++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *t++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *t++ = (char)(0x80 | (cp & 0x3F));
    }
    *o = t;
}

/* Unescapes s[0..len), which scan_string has already accepted, into out
 * (never longer than the source). Returns the unescaped length. */
static size_t scan_unescape(const char *s, size_t len, char *out)
{
    const char *end = s + len;
    char *o = out;
    while (s < end) {
        if (*s != '\\') {
            *o++ = *s++;
            continue;
        }
        s++;
        switch (*s++) {
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            int32_t cp = scan_hex4(s, end);
            s += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                int32_t lo = scan_hex4(s + 2, end);
                s += 6;
                cp = ((cp - 0xD800) << 10) + (lo - 0xDC00) + 0x10000;
            }
            scan_put_utf8(&o, cp);
            break;
        }
        default: /* '"', '\\', '/' */
            *o++ = s[-1];
            break;
        }
    }
    return (size_t)(o - out);
}

/* "%" PRId64 without snprintf's cost. */
static size_t scan_int_str(int64_t v, char *buf)
{
    char tmp[24];
    size_t n = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    size_t o = 0;
    if (v < 0)
        buf[o++] = '-';
    while (n)
        buf[o++] = tmp[--n];
    buf[o] = '\0';
    return o;
}

/* A number at p ('-' or a digit), in jansson's grammar: -?(0|[1-9][0-9]*)
 * (.[0-9]+)?([eE][+-]?[0-9]+)?; without fraction or exponent it is an
 * integer if it fits int64 (strtoll), else a real if it does not overflow
 * (strtod). Any other grammatical number is valid too and, when wanted,
 * reported as a string of its text (see the file comment). v (NULL when
 * the value is not wanted) receives the value and its text. */
static const char *scan_number(scan_t *sc, const char *p, jd_jsonscan_val_t *v)
{
    const char *end = sc->end, *start = p;
    int neg = *p == '-';
    if (neg)
        p++;
    const char *ip = p;
    if (p >= end)
        return NULL;
    if (*p == '0') {
        p++;
        if (p < end && scan_is_digit(*p))
            return NULL;
    } else if (scan_is_digit(*p)) {
        while (p < end && scan_is_digit(*p))
            p++;
    } else {
        return NULL;
    }
    size_t nint = (size_t)(p - ip);
    if (p >= end || (*p != '.' && *p != 'e' && *p != 'E')) {
        if (!v)
            return scan_eat_nul(p, end);
        uint64_t u = 0;
        for (const char *q = ip; q < p && nint <= 19; q++)
            u = u * 10 + (uint64_t)(*q - '0');
        uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        if (nint > 19 || u > limit)
            goto text;
        v->kind = JD_JSONSCAN_INTEGER;
        v->i = !neg ? (int64_t)u : u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
        v->len = scan_int_str(v->i, v->num);
        v->s = v->num;
        return scan_eat_nul(p, end);
    }
    if (*p == '.') {
        p++;
        if (p >= end || !scan_is_digit(*p))
            return NULL;
        while (p < end && scan_is_digit(*p))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || !scan_is_digit(*p))
            return NULL;
        while (p < end && scan_is_digit(*p))
            p++;
    }
    if (!v)
        return scan_eat_nul(p, end);
    size_t n = (size_t)(p - start);
    if (n >= SCAN_NUMBUF) {
        sc->unsure = 1;
        return NULL;
    }
    char tmp[SCAN_NUMBUF];
    memcpy(tmp, start, n);
    tmp[n] = '\0';
    errno = 0;
    double d = strtod(tmp, NULL);
    if ((d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE)
        goto text;
    int len = jd_json_real_str(d, v->num, sizeof(v->num));
    v->kind = JD_JSONSCAN_REAL;
    v->d = d;
    v->s = v->num;
    v->len = len > 0 ? (size_t)len : 0;
    return scan_eat_nul(p, end);
text:
    v->kind = JD_JSONSCAN_STRING;
    v->s = start;
    v->len = (size_t)(p - start);
    return scan_eat_nul(p, end);
}

/* true, false or null at p. jansson reads a whole run of letters, so
 * "truex" is one bad token; the grammar rejects it here just the same
 * because no letter may follow a value. */
static const char *scan_literal(const char *p, const char *end, const char *word, size_t n)
{
    if ((size_t)(end - p) < n || memcmp(p, word, n) != 0)
        return NULL;
    return scan_eat_nul(p + n, end);
}

/* ------------------------------------------------------------------ */
/* Values                                                             */
/* ------------------------------------------------------------------ */

/* Validates the value at p, which sits at nesting depth `depth` (the
 * top-level value is 1), and returns the byte after it, or NULL. Iterative,
 * with one bit per open container, so deep input cannot exhaust the stack. */
static const char *scan_skip(scan_t *sc, const char *p, unsigned depth)
{
    const char *end = sc->end;
    unsigned char is_obj[SCAN_MAX_DEPTH / 8 + 1];
    unsigned level = 0;
    int esc;

value:
    if (depth + level > SCAN_MAX_DEPTH || p >= end)
        return NULL;
    switch (*p) {
    case '"':
        p = scan_string(p + 1, end, &esc);
        break;
    case '{':
    case '[': {
        char close = *p == '{' ? '}' : ']';
        p = scan_ws(p + 1, end);
        if (p < end && *p == close) {
            p++;
            break;
        }
        if (close == '}')
            is_obj[level / 8] |= (unsigned char)(1u << (level % 8));
        else
            is_obj[level / 8] &= (unsigned char)~(1u << (level % 8));
        level++;
        if (close == '}')
            goto key;
        goto value;
    }
    case 't':
        p = scan_literal(p, end, "true", 4);
        break;
    case 'f':
        p = scan_literal(p, end, "false", 5);
        break;
    case 'n':
        p = scan_literal(p, end, "null", 4);
        break;
    default:
        if (*p != '-' && !scan_is_digit(*p))
            return NULL;
        p = scan_number(sc, p, NULL);
        break;
    }
    if (!p)
        return NULL;
    /* After a value: close containers or go on to the next element. */
    while (level) {
        int obj = (is_obj[(level - 1) / 8] >> ((level - 1) % 8)) & 1;
        p = scan_ws(p, end);
        if (p >= end)
            return NULL;
        if (*p == ',') {
            p = scan_ws(p + 1, end);
            if (obj)
                goto key;
            goto value;
        }
        if (*p != (obj ? '}' : ']'))
            return NULL;
        p++;
        level--;
    }
    return p;

key:
    if (p >= end || *p != '"')
        return NULL;
    p = scan_string(p + 1, end, &esc);
    if (!p)
        return NULL;
    p = scan_ws(p, end);
    if (p >= end || *p != ':')
        return NULL;
    p = scan_ws(p + 1, end);
    goto value;
}

/* The value of a wanted top-level key (depth 2). */
static const char *scan_wanted(scan_t *sc, const char *p, jd_jsonscan_val_t *v)
{
    const char *end = sc->end;
    v->kind = JD_JSONSCAN_ABSENT;
    if (p >= end)
        return NULL;
    switch (*p) {
    case '"': {
        int esc = 0;
        const char *s = p + 1;
        p = scan_string(s, end, &esc);
        if (!p)
            return NULL;
        size_t rawlen = (size_t)(p - 1 - s);
        v->kind = JD_JSONSCAN_STRING;
        if (!esc) {
            v->s = s;
            v->len = rawlen;
        } else {
            char *o = sc->scratch + sc->used;
            v->len = scan_unescape(s, rawlen, o);
            v->s = o;
            sc->used += v->len;
        }
        return p;
    }
    case 't':
        v->kind = JD_JSONSCAN_BOOL;
        v->s = "true";
        v->len = 4;
        return scan_literal(p, end, "true", 4);
    case 'f':
        v->kind = JD_JSONSCAN_BOOL;
        v->s = "false";
        v->len = 5;
        return scan_literal(p, end, "false", 5);
    case '-':
    case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        return scan_number(sc, p, v);
    default:
        /* null, objects and arrays are absent, but still validated. */
        return scan_skip(sc, p, 2);
    }
}

static jd_jsonscan_type_t scan_type_of(char c)
{
    switch (c) {
    case '[':
        return JD_JSONSCAN_T_ARRAY;
    case '"':
        return JD_JSONSCAN_T_STRING;
    case 't':
    case 'f':
        return JD_JSONSCAN_T_BOOL;
    case 'n':
        return JD_JSONSCAN_T_NULL;
    default:
        return JD_JSONSCAN_T_NUMBER;
    }
}

jd_jsonscan_rc_t jd_jsonscan(const jd_jsonscan_keys_t *keys, const char *buf, size_t len,
                             char *scratch, jd_jsonscan_val_t *vals,
                             jd_jsonscan_type_t *type)
{
    scan_t sc = {.end = buf + len, .scratch = scratch, .used = 0, .unsure = 0};
    const char *end = sc.end;
    size_t nkeys = jd_jsonscan_keys_count(keys);
    for (size_t i = 0; i < nkeys; i++)
        vals[i].kind = JD_JSONSCAN_ABSENT;

    const char *p = scan_ws(buf, end);
    if (p >= end)
        return JD_JSONSCAN_INVALID;
    if (*p != '{') {
        jd_jsonscan_type_t t = scan_type_of(*p);
        p = scan_skip(&sc, p, 1);
        if (!p)
            return sc.unsure ? JD_JSONSCAN_UNSURE : JD_JSONSCAN_INVALID;
        if (scan_ws(p, end) != end)
            return JD_JSONSCAN_INVALID;
        if (type)
            *type = t;
        return JD_JSONSCAN_NOT_OBJECT;
    }

    p = scan_ws(p + 1, end);
    if (p < end && *p == '}') {
        p++;
    } else {
        for (;;) {
            if (p >= end || *p != '"')
                return JD_JSONSCAN_INVALID;
            int esc = 0;
            const char *ks = p + 1;
            p = scan_string(ks, end, &esc);
            if (!p)
                return JD_JSONSCAN_INVALID;
            size_t klen = (size_t)(p - 1 - ks);
            int k;
            if (!esc) {
                k = scan_key_find(keys, ks, klen);
            } else {
                /* Compared unescaped, as jansson stores keys; the scratch
                 * past the reported values is free for this. */
                char *tmp = scratch + sc.used;
                k = scan_key_find(keys, tmp, scan_unescape(ks, klen, tmp));
            }
            p = scan_ws(p, end);
            if (p >= end || *p != ':')
                return JD_JSONSCAN_INVALID;
            p = scan_ws(p + 1, end);
            /* A repeated key overwrites: jansson keeps the last value. */
            p = k >= 0 ? scan_wanted(&sc, p, &vals[k]) : scan_skip(&sc, p, 2);
            if (!p)
                return sc.unsure ? JD_JSONSCAN_UNSURE : JD_JSONSCAN_INVALID;
            p = scan_ws(p, end);
            if (p < end && *p == ',') {
                p = scan_ws(p + 1, end);
                continue;
            }
            if (p < end && *p == '}') {
                p++;
                break;
            }
            return JD_JSONSCAN_INVALID;
        }
    }
    if (scan_ws(p, end) != end)
        return JD_JSONSCAN_INVALID;
    if (type)
        *type = JD_JSONSCAN_T_OBJECT;
    return JD_JSONSCAN_OBJECT;
}
