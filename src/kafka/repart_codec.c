/*
 * The repartition topic's record formats (repart.h lists them): integers in
 * host byte order, strings as a u32 length and the bytes, and events with
 * every slot, so a task reads back exactly the event the router decoded.
 */
#include <stdlib.h>
#include <string.h>
#include "repart_codec.h"

#define XSTR_NONE UINT32_MAX


void put_u32(jd_strbuf_t *sb, uint32_t v)
{
    jd_strbuf_append(sb, (const char *)&v, sizeof(v));
}

void put_i64(jd_strbuf_t *sb, int64_t v)
{
    jd_strbuf_append(sb, (const char *)&v, sizeof(v));
}

void put_str(jd_strbuf_t *sb, const char *s, size_t len)
{
    put_u32(sb, s ? (uint32_t)len : XSTR_NONE);
    if (s)
        jd_strbuf_append(sb, s, len);
}

void put_cstr(jd_strbuf_t *sb, const char *s)
{
    put_str(sb, s, s ? strlen(s) : 0);
}

void put_event(jd_strbuf_t *sb, const jd_event_t *ev)
{
    put_i64(sb, ev->ts);
    put_cstr(sb, ev->customer_id);
    put_cstr(sb, ev->anonymous_id);
    put_cstr(sb, ev->event_id);
    put_u32(sb, ev->nslots);
    for (uint32_t i = 0; i < ev->nslots; i++)
        put_cstr(sb, ev->slot[i]);
}

int get_raw(cur_t *c, void *dst, size_t n)
{
    if (c->bad || (size_t)(c->end - c->p) < n) {
        c->bad = 1;
        memset(dst, 0, n);
        return -1;
    }
    memcpy(dst, c->p, n);
    c->p += n;
    return 0;
}

uint32_t get_u32(cur_t *c)
{
    uint32_t v;
    get_raw(c, &v, sizeof(v));
    return v;
}

int64_t get_i64(cur_t *c)
{
    int64_t v;
    get_raw(c, &v, sizeof(v));
    return v;
}

/* A string inside the record (not NUL-terminated): NULL when absent. */
const char *get_str(cur_t *c, size_t *len)
{
    uint32_t n = get_u32(c);
    const char *s = c->p;
    *len = 0;
    if (c->bad || n == XSTR_NONE)
        return NULL;
    if ((size_t)(c->end - c->p) < n) {
        c->bad = 1;
        return NULL;
    }
    c->p += n;
    *len = n;
    return s;
}

char *get_strdup(cur_t *c)
{
    size_t n;
    const char *s = get_str(c, &n);
    return s ? strndup(s, n) : NULL;
}

jd_event_t *get_event(cur_t *c, const jd_config_t *conf, jd_intern_cache_t *ic)
{
    size_t cl, al, el;
    int64_t ts = get_i64(c);
    const char *cu = get_str(c, &cl), *an = get_str(c, &al), *ei = get_str(c, &el);
    uint32_t ns = get_u32(c);
    if (c->bad || ns != conf->nslots) {
        c->bad = 1;
        return NULL;
    }
    jd_event_t *ev = jd_event_new(ns, cu, cl, an, al, ei, el);
    if (!ev) {
        c->bad = 1;
        return NULL;
    }
    ev->ts = ts;
    for (uint32_t i = 0; i < ns; i++) {
        size_t l;
        const char *s = get_str(c, &l);
        if (s)
            ev->slot[i] = jd_intern_cached(ic, s, l);
    }
    if (c->bad) {
        jd_event_free(ev);
        return NULL;
    }
    return ev;
}
