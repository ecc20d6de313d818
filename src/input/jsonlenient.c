/*
 * jd_json_load_lenient (see jsonscan.h): jansson's tree with the scanner's
 * verdicts. jansson refuses numbers out of its range (integers beyond
 * int64, reals that overflow a double) and has no flag to accept them, so
 * a text it refuses for that reason alone is parsed again from a copy in
 * which those number tokens are rewritten. The rewrite is lexical, which
 * is enough because the copy's verdict comes from jansson itself.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "jsonscan.h"

/* Numbers shorter than this are copied to the stack for strtod. */
#define LENIENT_NUMBUF 128

static int lenient_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Would jansson refuse the number token t[0..n) (grammatical) for its
 * range? Integers must fit int64, reals must not overflow a double. */
static int lenient_out_of_range(const char *t, size_t n)
{
    int real = memchr(t, '.', n) || memchr(t, 'e', n) || memchr(t, 'E', n);
    if (!real) {
        size_t digits = n - (t[0] == '-');
        if (digits != 19)
            return digits > 19;
        /* 19 digits compare as text with the limit. */
        const char *lim = t[0] == '-' ? "9223372036854775808" : "9223372036854775807";
        return memcmp(t + (t[0] == '-'), lim, 19) > 0;
    }
    char stack[LENIENT_NUMBUF], *tmp = n < sizeof(stack) ? stack : malloc(n + 1);
    if (!tmp)
        return 0; /* jansson will say what it says */
    memcpy(tmp, t, n);
    tmp[n] = '\0';
    errno = 0;
    double d = strtod(tmp, NULL);
    int over = (d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE;
    if (tmp != stack)
        free(tmp);
    return over;
}

/* Length of the grammatical number token at t (a '-' or a digit), or 0 if
 * it is malformed (left for jansson to report as it would). */
static size_t lenient_number_token(const char *t, const char *end)
{
    const char *p = t;
    if (*p == '-')
        p++;
    if (p >= end || !lenient_is_digit(*p))
        return 0;
    if (*p == '0') {
        if (++p < end && lenient_is_digit(*p))
            return 0;
    } else {
        while (p < end && lenient_is_digit(*p))
            p++;
    }
    if (p < end && *p == '.') {
        if (++p >= end || !lenient_is_digit(*p))
            return 0;
        while (p < end && lenient_is_digit(*p))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        if (++p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || !lenient_is_digit(*p))
            return 0;
        while (p < end && lenient_is_digit(*p))
            p++;
    }
    return (size_t)(p - t);
}

/* Copies buf to out rewriting every out-of-range number token: quoted
 * (its text as a string value, quote = 1; out needs 2 * len + 2 bytes) or
 * as "0" or "-0" padded with spaces to its length (quote = 0: every other byte
 * keeps its position, so jansson's error positions stay true). A NUL right
 * after such a token goes too, as jansson would have dropped it. Strings
 * are copied untouched. Returns the length written. */
static size_t lenient_rewrite(const char *buf, size_t len, char *out, int quote)
{
    const char *p = buf, *end = buf + len;
    char *o = out;
    while (p < end) {
        char c = *p;
        if (c == '"') {
            *o++ = *p++;
            while (p < end && *p != '"') {
                if (*p == '\\' && p + 1 < end)
                    *o++ = *p++;
                *o++ = *p++;
            }
            if (p < end)
                *o++ = *p++;
            continue;
        }
        size_t n = (c == '-' || lenient_is_digit(c)) ? lenient_number_token(p, end) : 0;
        if (n == 0) {
            *o++ = *p++;
            continue;
        }
        if (!lenient_out_of_range(p, n)) {
            memcpy(o, p, n);
            o += n;
            p += n;
            continue;
        }
        if (quote) {
            *o++ = '"';
            memcpy(o, p, n);
            o += n;
            *o++ = '"';
        } else {
            /* The sign stays: "7-1e400" must not become the number "70". */
            size_t k = 0;
            if (*p == '-')
                o[k++] = '-';
            o[k++] = '0';
            memset(o + k, ' ', n - k);
            o += n;
        }
        p += n;
        if (p < end && *p == '\0') {
            p++;
            if (!quote)
                *o++ = ' ';
        }
    }
    return (size_t)(o - out);
}

json_t *jd_json_load_lenient(const char *buf, size_t len, json_error_t *jerr)
{
    json_t *root = json_loadb(buf, len, JSON_DECODE_ANY, jerr);
    if (root || json_error_code(jerr) != json_error_numeric_overflow)
        return root;
    char *tmp = malloc(2 * len + 2);
    if (!tmp)
        return NULL; /* jerr keeps jansson's word */
    /* First the verdict, on the text with the numbers neutralised: an
     * invalid text gets jansson's error for its real fault, where it is.
     * (The quoted text alone would not do: a number in a key's place
     * becomes a valid key once quoted.) */
    size_t n = lenient_rewrite(buf, len, tmp, 0);
    json_error_t verr;
    json_t *valid = json_loadb(tmp, n, JSON_DECODE_ANY, &verr);
    if (!valid) {
        *jerr = verr;
    } else if (!json_is_object(valid) && !json_is_array(valid)) {
        /* A bare number: it stays a number (its value is nobody's). */
        root = valid;
    } else {
        json_decref(valid);
        /* Then the values, with the numbers as strings of their text. */
        n = lenient_rewrite(buf, len, tmp, 1);
        root = json_loadb(tmp, n, JSON_DECODE_ANY, &verr);
    }
    free(tmp);
    return root;
}
