#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "journeyd/timeutil.h"
#include "journeyd/strbuf.h"

void jd_strbuf_init(jd_strbuf_t *sb)
{
    memset(sb, 0, sizeof(*sb));
}

void jd_strbuf_free(jd_strbuf_t *sb)
{
    free(sb->data);
    jd_strbuf_init(sb);
}

void jd_strbuf_reset(jd_strbuf_t *sb)
{
    sb->len = 0;
    if (sb->data)
        sb->data[0] = '\0';
}

static int strbuf_reserve(jd_strbuf_t *sb, size_t extra)
{
    if (sb->oom)
        return -1;
    if (sb->len + extra + 1 <= sb->cap)
        return 0;
    size_t ncap = sb->cap ? sb->cap : 256;
    while (ncap < sb->len + extra + 1)
        ncap *= 2;
    char *d = realloc(sb->data, ncap);
    if (!d) {
        sb->oom = 1;
        return -1;
    }
    sb->data = d;
    sb->cap = ncap;
    return 0;
}

void jd_strbuf_append(jd_strbuf_t *sb, const char *s, size_t len)
{
    if (strbuf_reserve(sb, len) != 0)
        return;
    memcpy(sb->data + sb->len, s, len);
    sb->len += len;
    sb->data[sb->len] = '\0';
}

void jd_strbuf_puts(jd_strbuf_t *sb, const char *s)
{
    jd_strbuf_append(sb, s, strlen(s));
}

void jd_strbuf_putc(jd_strbuf_t *sb, char c)
{
    jd_strbuf_append(sb, &c, 1);
}

void jd_strbuf_printf(jd_strbuf_t *sb, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(tmp)) {
        jd_strbuf_append(sb, tmp, (size_t)n);
        return;
    }
    if (strbuf_reserve(sb, (size_t)n) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
}

void jd_strbuf_json_str(jd_strbuf_t *sb, const char *s)
{
    if (!s) {
        jd_strbuf_append(sb, "null", 4);
        return;
    }
    jd_strbuf_putc(sb, '"');
    const char *run = s;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        jd_strbuf_append(sb, run, (size_t)(p - run));
        switch (c) {
        case '"': jd_strbuf_append(sb, "\\\"", 2); break;
        case '\\': jd_strbuf_append(sb, "\\\\", 2); break;
        case '\n': jd_strbuf_append(sb, "\\n", 2); break;
        case '\r': jd_strbuf_append(sb, "\\r", 2); break;
        case '\t': jd_strbuf_append(sb, "\\t", 2); break;
        default: jd_strbuf_printf(sb, "\\u%04x", c); break;
        }
        run = p + 1;
    }
    jd_strbuf_append(sb, run, strlen(run));
    jd_strbuf_putc(sb, '"');
}

void jd_strbuf_json_time(jd_strbuf_t *sb, int64_t ms)
{
    char buf[JD_TIME_BUFSZ];
    jd_strbuf_putc(sb, '"');
    jd_strbuf_puts(sb, jd_time_format_rfc3339(ms, buf));
    jd_strbuf_putc(sb, '"');
}

void jd_strbuf_i64(jd_strbuf_t *sb, int64_t v)
{
    char tmp[24], *p = tmp + sizeof(tmp);
    /* through uint64 so that INT64_MIN negates without overflow */
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    jd_strbuf_append(sb, p, (size_t)(tmp + sizeof(tmp) - p));
}

void jd_strbuf_hex64(jd_strbuf_t *sb, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[16];
    for (int i = 15; i >= 0; i--, v >>= 4)
        tmp[i] = digits[v & 15];
    jd_strbuf_append(sb, tmp, sizeof(tmp));
}
