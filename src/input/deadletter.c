/*
 * Dead-letter records: one compact JSON object per bad input record, built
 * with jansson so quoting is never hand-rolled. Input bytes are arbitrary,
 * so every string taken from outside (payload, detail, file and topic names)
 * is made valid UTF-8 first: the line must stay parseable JSON whatever the
 * producer sent.
 */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "journeyd/deadletter.h"

static const char *const dl_names[JD_DL__COUNT] = {
    [JD_DL_NONE] = "none",
    [JD_DL_INVALID_JSON] = "invalid_json",
    [JD_DL_NOT_OBJECT] = "not_an_object",
    [JD_DL_MISSING_TS] = "missing_ts",
    [JD_DL_BAD_TS] = "bad_ts",
    [JD_DL_MISSING_TYPE] = "missing_type",
    [JD_DL_MISSING_IDENTITY] = "missing_identity",
    [JD_DL_BAD_CSV] = "bad_csv",
    [JD_DL_TOO_LARGE] = "too_large",
    [JD_DL_LATE] = "late",
    [JD_DL_FUTURE_TS] = "future_ts",
};

const char *jd_dl_reason_name(jd_dl_reason_t r)
{
    if ((unsigned)r >= JD_DL__COUNT || !dl_names[r])
        return "unknown";
    return dl_names[r];
}

/* Length of the well-formed UTF-8 sequence at s (1..4), or 0 if it is
 * ill-formed, with *bad = the length of its maximal subpart (>= 1), which
 * becomes one U+FFFD as Unicode recommends (chapter 3, "U+FFFD
 * substitution of maximal subparts"). */
static size_t dl_utf8_seq(const unsigned char *s, size_t n, size_t *bad)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t need;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
        need = 1;
    } else if (c == 0xe0) {
        need = 2;
        lo = 0xa0; /* no overlong forms */
    } else if (c == 0xed) {
        need = 2;
        hi = 0x9f; /* no surrogates */
    } else if (c >= 0xe1 && c <= 0xef) {
        need = 2;
    } else if (c == 0xf0) {
        need = 3;
        lo = 0x90;
    } else if (c >= 0xf1 && c <= 0xf3) {
        need = 3;
    } else if (c == 0xf4) {
        need = 3;
        hi = 0x8f; /* nothing above U+10FFFF */
    } else {
        *bad = 1;
        return 0;
    }
    size_t i;
    for (i = 1; i <= need && i < n; i++) {
        unsigned char b = s[i];
        if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf))
            break;
    }
    if (i == need + 1)
        return need + 1;
    *bad = i;
    return 0;
}

/* New JSON string of s[0..len) with ill-formed UTF-8 replaced by U+FFFD;
 * NUL bytes are kept (jansson escapes them as \u0000). NULL on OOM. */
static json_t *dl_string(const char *s, size_t len)
{
    if (!s)
        return json_stringn("", 0);
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, bad = 0;
    while (i < len) {
        size_t n = dl_utf8_seq(u + i, len - i, &bad);
        if (!n)
            break;
        i += n;
    }
    if (i == len)
        return json_stringn_nocheck(s, len);
    /* Each replaced byte run (>= 1 byte) grows to at most 3 bytes. */
    char *clean = malloc(3 * len + 1);
    if (!clean)
        return NULL;
    memcpy(clean, s, i);
    size_t o = i;
    while (i < len) {
        size_t n = dl_utf8_seq(u + i, len - i, &bad);
        if (n) {
            memcpy(clean + o, s + i, n);
            o += n;
            i += n;
        } else {
            memcpy(clean + o, "\xef\xbf\xbd", 3);
            o += 3;
            i += bad;
        }
    }
    json_t *j = json_stringn_nocheck(clean, o);
    free(clean);
    return j;
}

/* Bytes json_dumps(JSON_COMPACT) writes for the string byte c: '"', '\\'
 * and control characters are escaped, everything else (UTF-8 included) is
 * copied. */
static size_t dl_escaped_size(unsigned char c)
{
    if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' ||
        c == '\t')
        return 2;
    return c < 0x20 ? 6 : 1;
}

/* Length of the longest prefix of the valid UTF-8 string s[0..len) that
 * ends on a character boundary and takes at most budget bytes once
 * escaped. */
static size_t dl_prefix(const char *s, size_t len, size_t budget)
{
    size_t used = 0, cut = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c & 0xc0) != 0x80)
            cut = i; /* a character starts here: everything before fits */
        used += dl_escaped_size(c);
        if (used > budget)
            return cut;
    }
    return len;
}

/* The record as text, or NULL on allocation failure. Takes no reference. */
static char *dl_dump(json_t *dl, size_t *outlen)
{
    char *text = json_dumps(dl, JSON_COMPACT);
    if (text)
        *outlen = strlen(text);
    return text;
}

/* Replaces the string at key by its first n bytes (n is a character
 * boundary of the current value). -1 on allocation failure. */
static int dl_cut(json_t *dl, const char *key, size_t n)
{
    json_t *v = json_object_get(dl, key);
    if (!v)
        return 0;
    return json_object_set_new(dl, key, json_stringn_nocheck(json_string_value(v), n));
}

/* Cuts key's string so that the record is at most max bytes, given that
 * it is `len` bytes now. Returns the new text or NULL (no memory); *fits
 * says whether the bound was met. */
static char *dl_shrink(json_t *dl, const char *key, size_t max, char *text, size_t *len,
                       int *fits)
{
    json_t *v = json_object_get(dl, key);
    *fits = 0;
    if (!v || !json_is_string(v))
        return text;
    const char *s = json_string_value(v);
    size_t slen = json_string_length(v), esc = 0;
    for (size_t i = 0; i < slen; i++)
        esc += dl_escaped_size((unsigned char)s[i]);
    /* The string contributes esc bytes to the record; what is left of it
     * after the rest of the record is the budget. */
    size_t rest = *len - esc;
    size_t budget = max > rest ? max - rest : 0;
    size_t keep = dl_prefix(s, slen, budget);
    if (dl_cut(dl, key, keep) != 0)
        return (free(text), NULL);
    free(text);
    text = dl_dump(dl, len);
    *fits = text && *len <= max;
    return text;
}

char *jd_deadletter_format_max(jd_dl_reason_t reason, const char *detail,
                               const jd_source_pos_t *pos,
                               const char *payload, size_t payload_len,
                               size_t max_len, size_t *outlen, int *truncated)
{
    size_t len = 0;
    if (truncated)
        *truncated = 0;
    json_t *source = NULL;
    if (pos && pos->topic)
        source = json_pack("{s:o,s:i,s:I}",
                           "topic", dl_string(pos->topic, strlen(pos->topic)),
                           "partition", (int)pos->partition,
                           "offset", (json_int_t)pos->offset);
    else if (pos)
        source = json_pack("{s:o,s:I}",
                           "file", dl_string(pos->file ? pos->file : "-",
                                             pos->file ? strlen(pos->file) : 1),
                           "line", (json_int_t)pos->line);
    if (pos && !source)
        return NULL;
    /* "o*" leaves a key out when its value is NULL: no detail, no source. */
    json_t *dl = json_pack("{s:s,s:o*,s:o*,s:o}",
                           "error", jd_dl_reason_name(reason),
                           "detail", detail && *detail ? dl_string(detail, strlen(detail))
                                                       : NULL,
                           "source", source,
                           "payload", dl_string(payload, payload ? payload_len : 0));
    if (!dl)
        return NULL;
    char *text = dl_dump(dl, &len);
    if (text && max_len && len > max_len) {
        if (truncated)
            *truncated = 1;
        int fits = 0;
        free(text);
        text = json_object_set_new(dl, "truncated", json_true()) == 0 ? dl_dump(dl, &len)
                                                                     : NULL;
        if (text)
            text = dl_shrink(dl, "payload", max_len, text, &len, &fits);
        if (text && !fits)
            text = dl_shrink(dl, "detail", max_len, text, &len, &fits);
    }
    json_decref(dl);
    if (text && outlen)
        *outlen = len;
    return text;
}

char *jd_deadletter_format(jd_dl_reason_t reason, const char *detail,
                           const jd_source_pos_t *pos,
                           const char *payload, size_t payload_len,
                           size_t *outlen)
{
    return jd_deadletter_format_max(reason, detail, pos, payload, payload_len, 0, outlen,
                                    NULL);
}
