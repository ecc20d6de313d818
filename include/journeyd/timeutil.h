/*
 * Event-time parsing and formatting. All times are int64 epoch milliseconds, UTC.
 */
#ifndef JOURNEYD_TIMEUTIL_H
#define JOURNEYD_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    JD_TIME_AUTO = 0,   /* RFC 3339 (fractions, Z or +hh:mm offsets) or integer epoch ms */
    JD_TIME_EPOCH_S,    /* epoch seconds, integer or with a fraction ("1396437466.94") */
    JD_TIME_EPOCH_MS,   /* epoch milliseconds, integer (a fraction is truncated) */
    JD_TIME_STRFTIME    /* strptime-style pattern, interpreted as UTC unless %z is used */
} jd_time_kind_t;

typedef struct jd_time_format {
    jd_time_kind_t kind;
    const char *pattern;  /* borrowed; only for JD_TIME_STRFTIME */
} jd_time_format_t;

/* Parse s[0..len) (not necessarily NUL-terminated) into epoch ms.
 * Returns 0 and sets *out, or -1 if the text does not match the format.
 * Leading/trailing ASCII spaces are not accepted. */
int jd_time_parse(const jd_time_format_t *fmt, const char *s, size_t len, int64_t *out);

/* Parse a JSON number already decoded by jansson (integer or real) according
 * to fmt (auto/epoch_ms: ms; epoch_s: seconds). -1 for JD_TIME_STRFTIME. */
int jd_time_from_number(const jd_time_format_t *fmt, double v, int is_integer,
                        int64_t iv, int64_t *out);

/* Format ms as RFC 3339 UTC with exactly 3 fraction digits:
 * "2026-11-22T10:00:03.120Z". buf must hold JD_TIME_BUFSZ bytes.
 * Returns buf. Works for negative epochs and years 0000..9999. */
#define JD_TIME_BUFSZ 32
char *jd_time_format_rfc3339(int64_t ms, char *buf);

/* Durations: "250ms", "15s", "10m", "24h", "7d" or a bare non-negative
 * integer of milliseconds. 0 on success, -1 if malformed or overflowing. */
int jd_duration_parse(const char *s, int64_t *out_ms);

/* Event time plus/minus a duration, saturating at INT64_MAX / INT64_MIN
 * instead of wrapping: an extreme ts (epoch ms is any int64) must not turn
 * a deadline or a retention limit into its opposite. */
static inline int64_t jd_time_add(int64_t t, int64_t d)
{
    int64_t r;
    if (__builtin_add_overflow(t, d, &r))
        return d > 0 ? INT64_MAX : INT64_MIN;
    return r;
}
static inline int64_t jd_time_sub(int64_t t, int64_t d)
{
    int64_t r;
    if (__builtin_sub_overflow(t, d, &r))
        return d > 0 ? INT64_MIN : INT64_MAX;
    return r;
}

/* Wall clock in epoch ms (CLOCK_REALTIME) and a monotonic ms counter. */
int64_t jd_now_ms(void);
int64_t jd_mono_ms(void);

#endif
