/*
 * Private: a growable byte buffer with JSON string escaping, used to render
 * alerts and changelog records without building jansson trees on the hot path.
 */
#ifndef JOURNEYD_STRBUF_H
#define JOURNEYD_STRBUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct jd_strbuf {
    char *data;
    size_t len, cap;
    int oom;   /* sticky: set when an append could not allocate */
} jd_strbuf_t;

void jd_strbuf_init(jd_strbuf_t *sb);
void jd_strbuf_free(jd_strbuf_t *sb);
void jd_strbuf_reset(jd_strbuf_t *sb);
void jd_strbuf_append(jd_strbuf_t *sb, const char *s, size_t len);
void jd_strbuf_puts(jd_strbuf_t *sb, const char *s);
void jd_strbuf_putc(jd_strbuf_t *sb, char c);
void jd_strbuf_printf(jd_strbuf_t *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends s as a quoted JSON string; NULL appends null. */
void jd_strbuf_json_str(jd_strbuf_t *sb, const char *s);
void jd_strbuf_json_time(jd_strbuf_t *sb, int64_t ms);
/* Decimal, and 16 lower-case hex digits: hot paths (changelog records)
 * without printf's cost. */
void jd_strbuf_i64(jd_strbuf_t *sb, int64_t v);
void jd_strbuf_hex64(jd_strbuf_t *sb, uint64_t v);

#endif
