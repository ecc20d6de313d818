/*
 * journeyd — shared error type and small helpers used by every module.
 *
 * Errors follow the librdkafka/jansson habit: a function returns a status
 * and fills a caller-owned jd_err_t with a human-readable reason that names
 * the file, position or config key at fault.
 */
#ifndef JOURNEYD_COMMON_H
#define JOURNEYD_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define JD_VERSION "0.1.0"

/* calloc(1, n) for the small objects the engine makes and frees per event
 * (burst groups, rule states, journeys). glibc's calloc (2.36) skips the
 * per-thread cache that malloc serves them from, and its slow path was a
 * tenth of the evaluating thread's instructions. NULL when out of memory. */
static inline void *jd_zalloc(size_t n)
{
    void *p = malloc(n);
    if (p) {
        /* hides p's origin, or GCC turns malloc + memset back into calloc */
        __asm__("" : "+r"(p));
        memset(p, 0, n);
    }
    return p;
}

typedef struct jd_err {
    char msg[512];
} jd_err_t;

/* printf-style; NULL-safe on err. Always returns -1 so callers can
 * `return jd_err_set(err, ...);`. */
int jd_err_set(jd_err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Where an input record came from, for dead letters and error messages.
 * Strings are borrowed. For Kafka: topic/partition/offset; for files:
 * file/line (line of the record's first byte, 1-based). */
typedef struct jd_source_pos {
    const char *topic;      /* NULL for file input */
    int32_t partition;
    int64_t offset;
    const char *file;       /* "-" for stdin; NULL for Kafka */
    int64_t line;
} jd_source_pos_t;

#endif
