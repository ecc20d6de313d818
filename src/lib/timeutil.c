/*
 * Event-time parsing and formatting (int64 epoch ms, UTC).
 *
 * Everything is done on integers with our own civil-date arithmetic so the
 * result never depends on the process time zone, and fractional seconds are
 * parsed digit by digit (a double cannot hold "1396437466.94" exactly).
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <math.h>
#include "journeyd/timeutil.h"

/* Largest |ms| we accept: keeps every intermediate sum far from overflow and
 * covers years -292 million .. +292 million, far beyond any event time. */
#define TIME_MS_LIMIT (INT64_MAX / 4)

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil); valid for any int64 year we can reach. */
static int64_t time_days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void time_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int time_is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int time_days_in_month(int64_t y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && time_is_leap(y) ? 29 : dim[m - 1];
}

/* Validates the civil fields and converts to ms. sec may be 60 (a leap
 * second as RFC 3339 allows); it then reads as the next minute's :00. */
static int time_civil_to_ms(int64_t y, int mon, int day, int h, int mi, int sec,
                            int64_t frac_ms, int64_t *out)
{
    if (y < -9999 || y > 99999 || mon < 1 || mon > 12 || day < 1 ||
        day > time_days_in_month(y, mon) || h < 0 || h > 23 || mi < 0 ||
        mi > 59 || sec < 0 || sec > 60)
        return -1;
    int64_t days = time_days_from_civil(y, mon, day);
    *out = ((days * 24 + h) * 60 + mi) * 60000 + (int64_t)sec * 1000 + frac_ms;
    return 0;
}

/* Exactly n ASCII digits at p into *v. */
static int time_digits(const char *p, size_t n, int *v)
{
    int x = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        x = x * 10 + (p[i] - '0');
    }
    *v = x;
    return 0;
}

/* Optional '-', then digits, optionally '.' and more digits (frac_ok only).
 * Result is value * 10^scale_digits with the fraction truncated toward zero,
 * e.g. scale 3: "1396437466.94" -> 1396437466940. No sign '+', no spaces,
 * at least one integer digit, no exponent. */
static int time_parse_decimal(const char *s, size_t len, int scale, int frac_ok,
                              int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (i < len && s[i] == '-') {
        neg = 1;
        i++;
    }
    size_t start = i;
    int64_t v = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        if (v > (TIME_MS_LIMIT - (s[i] - '0')) / 10)
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (i == start)
        return -1;
    for (int k = 0; k < scale; k++) {
        if (v > TIME_MS_LIMIT / 10)
            return -1;
        v *= 10;
    }
    if (i < len && s[i] == '.') {
        if (!frac_ok)
            return -1;
        i++;
        size_t fstart = i;
        int64_t unit = 1;
        for (int k = 0; k < scale; k++)
            unit *= 10;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            unit /= 10;
            v += (s[i] - '0') * unit; /* digits beyond the scale add 0 */
        }
        if (i == fstart)
            return -1;
    }
    if (i != len)
        return -1;
    *out = neg ? -v : v;
    return 0;
}

/* RFC 3339: YYYY-MM-DD('T'|'t'|' ')HH:MM:SS[.frac](Z|z|+hh:mm|-hh:mm). */
static int time_parse_rfc3339(const char *s, size_t len, int64_t *out)
{
    int y, mo, d, h, mi, se;
    if (len < 20 || time_digits(s, 4, &y) || s[4] != '-' ||
        time_digits(s + 5, 2, &mo) || s[7] != '-' || time_digits(s + 8, 2, &d) ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        time_digits(s + 11, 2, &h) || s[13] != ':' || time_digits(s + 14, 2, &mi) ||
        s[16] != ':' || time_digits(s + 17, 2, &se))
        return -1;
    size_t i = 19;
    int64_t frac = 0;
    if (s[i] == '.') {
        i++;
        size_t fstart = i;
        int64_t unit = 100;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            frac += (s[i] - '0') * unit;
            unit /= 10;
        }
        if (i == fstart)
            return -1;
    }
    if (i >= len)
        return -1;
    int64_t off_min = 0;
    if (s[i] == 'Z' || s[i] == 'z') {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        int oh, om;
        if (len - i < 6 || time_digits(s + i + 1, 2, &oh) || s[i + 3] != ':' ||
            time_digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return -1;
        off_min = (int64_t)oh * 60 + om;
        if (s[i] == '-')
            off_min = -off_min;
        i += 6;
    } else {
        return -1;
    }
    if (i != len)
        return -1;
    int64_t ms;
    if (time_civil_to_ms(y, mo, d, h, mi, se, frac, &ms))
        return -1;
    /* Local time = UTC + offset, so UTC = local - offset. */
    *out = ms - off_min * 60000;
    return 0;
}

/* Upper bound on text handed to strptime (it needs a NUL-terminated copy). */
#define TIME_STRPTIME_MAX 256

static int time_parse_strftime(const char *pattern, const char *s, size_t len,
                               int64_t *out)
{
    char buf[TIME_STRPTIME_MAX];
    if (!pattern || len >= sizeof(buf) || memchr(s, '\0', len))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_mday = 1; /* a pattern without %d means the 1st, not day 0 */
    tm.tm_year = 70;
    const char *end = strptime(buf, pattern, &tm);
    if (!end || end != buf + len)
        return -1;
    int64_t ms;
    if (time_civil_to_ms((int64_t)tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                         tm.tm_hour, tm.tm_min, tm.tm_sec, 0, &ms))
        return -1;
    /* glibc stores a parsed %z in tm_gmtoff; it stays 0 otherwise (UTC). */
    *out = ms - (int64_t)tm.tm_gmtoff * 1000;
    return 0;
}

int jd_time_parse(const jd_time_format_t *fmt, const char *s, size_t len, int64_t *out)
{
    if (!fmt || !s || !out || len == 0)
        return -1;
    /* strptime skips leading blanks itself; the contract says no spaces. */
    if (isspace((unsigned char)s[0]) || isspace((unsigned char)s[len - 1]))
        return -1;
    int64_t v;
    int rc;
    switch (fmt->kind) {
    case JD_TIME_AUTO:
        if (len >= 20 && s[4] == '-')
            rc = time_parse_rfc3339(s, len, &v);
        else
            rc = time_parse_decimal(s, len, 0, 0, &v);
        break;
    case JD_TIME_EPOCH_S:
        rc = time_parse_decimal(s, len, 3, 1, &v);
        break;
    case JD_TIME_EPOCH_MS:
        rc = time_parse_decimal(s, len, 0, 1, &v);
        break;
    case JD_TIME_STRFTIME:
        rc = time_parse_strftime(fmt->pattern, s, len, &v);
        break;
    default:
        rc = -1;
    }
    if (rc || v > TIME_MS_LIMIT || v < -TIME_MS_LIMIT)
        return -1;
    *out = v;
    return 0;
}

int jd_time_from_number(const jd_time_format_t *fmt, double v, int is_integer,
                        int64_t iv, int64_t *out)
{
    if (!fmt || !out)
        return -1;
    int seconds;
    switch (fmt->kind) {
    case JD_TIME_AUTO:
    case JD_TIME_EPOCH_MS:
        seconds = 0;
        break;
    case JD_TIME_EPOCH_S:
        seconds = 1;
        break;
    default:
        return -1;
    }
    int64_t ms;
    if (is_integer) {
        if (iv > TIME_MS_LIMIT / 1000 * (seconds ? 1 : 1000) ||
            iv < -TIME_MS_LIMIT / 1000 * (seconds ? 1 : 1000))
            return -1;
        ms = seconds ? iv * 1000 : iv;
    } else {
        if (!isfinite(v))
            return -1;
        if (seconds) {
            /* 1396437466.94 is stored as ...66.9399999; rounding to whole
             * microseconds first recovers the written digits (a double has
             * sub-microsecond resolution for any plausible epoch), then the
             * fraction below 1 ms is truncated like the string form. */
            if (fabs(v) > 9.0e12)
                return -1;
            int64_t us = llround(v * 1e6);
            ms = us / 1000;
        } else {
            if (fabs(v) > (double)TIME_MS_LIMIT)
                return -1;
            ms = (int64_t)v; /* truncates toward zero */
        }
    }
    *out = ms;
    return 0;
}

char *jd_time_format_rfc3339(int64_t ms, char *buf)
{
    int64_t days = ms / 86400000;
    int64_t rem = ms % 86400000;
    if (rem < 0) {
        rem += 86400000;
        days--;
    }
    int64_t y;
    int m, d;
    time_civil_from_days(days, &y, &m, &d);
    int h = (int)(rem / 3600000);
    int mi = (int)(rem / 60000 % 60);
    int s = (int)(rem / 1000 % 60);
    int f = (int)(rem % 1000);
    /* Years outside 0000..9999 are not RFC 3339; print them plainly rather
     * than truncate, the buffer holds any int64 input. */
    snprintf(buf, JD_TIME_BUFSZ, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ",
             (long long)y, m, d, h, mi, s, f);
    return buf;
}

int jd_duration_parse(const char *s, int64_t *out_ms)
{
    if (!s || !out_ms)
        return -1;
    const char *p = s;
    int64_t v = 0;
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (INT64_MAX - (*p - '0')) / 10)
            return -1;
        v = v * 10 + (*p - '0');
    }
    int64_t mult;
    if (*p == '\0' || strcmp(p, "ms") == 0)
        mult = 1;
    else if (strcmp(p, "s") == 0)
        mult = 1000;
    else if (strcmp(p, "m") == 0)
        mult = 60000;
    else if (strcmp(p, "h") == 0)
        mult = 3600000;
    else if (strcmp(p, "d") == 0)
        mult = 86400000;
    else
        return -1;
    if (v > INT64_MAX / mult)
        return -1;
    *out_ms = v * mult;
    return 0;
}

int64_t jd_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t jd_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
