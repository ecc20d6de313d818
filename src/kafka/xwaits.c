/*
 * Hashed, incrementally persisted sets of waits (xwaits.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "xwaits.h"

int jd_xwaits_init(jd_xwaits_t *w, char tag)
{
    memset(w, 0, sizeof(*w));
    w->tag = tag;
    jd_strbuf_init(&w->tombs);
    return jd_map_init(&w->idx);
}

static void wait_free(jd_xwait_t *e)
{
    free(e->customer);
    free(e);
}

void jd_xwaits_clear(jd_xwaits_t *w)
{
    for (size_t i = 0; i < w->n; i++) {
        jd_map_del(&w->idx, &w->v[i]->node);
        wait_free(w->v[i]);
    }
    w->n = 0;
    jd_strbuf_reset(&w->tombs);
}

void jd_xwaits_free(jd_xwaits_t *w)
{
    jd_xwaits_clear(w);
    free(w->v);
    jd_map_free(&w->idx);
    jd_strbuf_free(&w->tombs);
}

/* The array is a binary min-heap on ts: the earliest wait is v[0]. */
static void heap_set(jd_xwaits_t *w, size_t i, jd_xwait_t *e)
{
    w->v[i] = e;
    e->idx = i;
}

static void heap_up(jd_xwaits_t *w, size_t i)
{
    jd_xwait_t *e = w->v[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (w->v[p]->ts <= e->ts)
            break;
        heap_set(w, i, w->v[p]);
        i = p;
    }
    heap_set(w, i, e);
}

static void heap_down(jd_xwaits_t *w, size_t i)
{
    jd_xwait_t *e = w->v[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= w->n)
            break;
        if (c + 1 < w->n && w->v[c + 1]->ts < w->v[c]->ts)
            c++;
        if (w->v[c]->ts >= e->ts)
            break;
        heap_set(w, i, w->v[c]);
        i = c;
    }
    heap_set(w, i, e);
}

static int wait_key(char *buf, size_t sz, const char *anon, int64_t ts)
{
    return snprintf(buf, sz, "%" PRId64 ":%s", ts, anon);
}

jd_xwait_t *jd_xwaits_add(jd_xwaits_t *w, const char *anon, const char *customer, int64_t ts,
                          int32_t dest)
{
    size_t alen = strlen(anon);
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        jd_xwait_t **nv = realloc(w->v, cap * sizeof(*nv));
        if (!nv)
            return NULL;
        w->v = nv;
        w->cap = cap;
    }
    jd_xwait_t *e = calloc(1, sizeof(*e) + alen + 24);
    if (!e)
        return NULL;
    int kl = wait_key(e->key, alen + 24, anon, ts);
    e->node.key = e->key;
    e->node.keylen = (size_t)kl;
    e->anon = strchr(e->key, ':') + 1;
    e->ts = ts;
    e->dest = dest;
    e->dirty = 1;
    if ((customer && !(e->customer = strdup(customer))) || jd_map_put(&w->idx, &e->node)) {
        wait_free(e);
        return NULL;
    }
    w->v[w->n++] = e;
    heap_up(w, w->n - 1);
    return e;
}

jd_xwait_t *jd_xwaits_find(const jd_xwaits_t *w, const char *anon, int64_t ts)
{
    char buf[512];
    size_t alen = strlen(anon);
    char *k = alen + 24 <= sizeof(buf) ? buf : malloc(alen + 24);
    if (!k)
        return NULL;
    int kl = wait_key(k, alen + 24, anon, ts);
    jd_xwait_t *e = (jd_xwait_t *)jd_map_get(&w->idx, k, (size_t)kl);
    if (k != buf)
        free(k);
    return e;
}

void jd_xwaits_del(jd_xwaits_t *w, jd_xwait_t *e)
{
    size_t i = e->idx;
    if (e->persisted) {
        jd_strbuf_append(&w->tombs, e->key, e->node.keylen);
        jd_strbuf_putc(&w->tombs, '\0');
    }
    jd_map_del(&w->idx, &e->node);
    jd_xwait_t *last = w->v[--w->n];
    if (i < w->n) {
        heap_set(w, i, last);
        heap_up(w, i);
        heap_down(w, last->idx);
    }
    wait_free(e);
}

int64_t jd_xwaits_min(const jd_xwaits_t *w)
{
    return w->n ? w->v[0]->ts : INT64_MAX;
}

int jd_xwaits_flush(jd_xwaits_t *w,
                    int (*put)(void *opaque, const char *key, size_t klen, const char *val,
                               size_t vlen),
                    void *opaque)
{
    jd_strbuf_t sb;
    int rc = 0;
    jd_strbuf_init(&sb);
    for (size_t off = 0; off < w->tombs.len && !rc;) {
        const char *k = w->tombs.data + off;
        size_t kl = strlen(k);
        jd_strbuf_reset(&sb);
        jd_strbuf_printf(&sb, "w:%c:", w->tag);
        jd_strbuf_append(&sb, k, kl);
        rc = sb.oom || put(opaque, sb.data, sb.len, NULL, 0);
        off += kl + 1;
    }
    jd_strbuf_reset(&w->tombs);
    for (size_t i = 0; i < w->n && !rc; i++) {
        jd_xwait_t *e = w->v[i];
        if (!e->dirty)
            continue;
        jd_strbuf_reset(&sb);
        jd_strbuf_printf(&sb, "w:%c:", w->tag);
        jd_strbuf_append(&sb, e->key, e->node.keylen);
        size_t kl = sb.len;
        jd_strbuf_puts(&sb, "{\"c\":");
        if (e->customer)
            jd_strbuf_json_str(&sb, e->customer);
        else
            jd_strbuf_puts(&sb, "null");
        jd_strbuf_printf(&sb, ",\"d\":%" PRId32 "}", e->dest);
        rc = sb.oom || put(opaque, sb.data, kl, sb.data + kl, sb.len - kl);
        e->dirty = 0;
        e->persisted = 1;
    }
    jd_strbuf_free(&sb);
    return rc ? -1 : 0;
}

jd_xwait_t *jd_xwaits_restore(jd_xwaits_t *w, const char *key, size_t klen, const void *val,
                              size_t vlen)
{
    char *k = klen > 4 ? strndup(key + 4, klen - 4) : NULL; /* "<ts>:<anon>" */
    char *colon = k ? strchr(k, ':') : NULL;
    jd_xwait_t *e = NULL;
    if (!colon)
        goto out;
    *colon = '\0';
    int64_t ts = strtoll(k, NULL, 10);
    jd_xwait_t *old = jd_xwaits_find(w, colon + 1, ts);
    if (old) {
        old->persisted = 0; /* replaced or gone: no tombstone of ours */
        jd_xwaits_del(w, old);
    }
    if (!val)
        goto out;
    json_t *o = json_loadb(val, vlen, 0, NULL);
    if (json_is_object(o)) {
        e = jd_xwaits_add(w, colon + 1, json_string_value(json_object_get(o, "c")), ts,
                          (int32_t)json_integer_value(json_object_get(o, "d")));
        if (e) {
            e->dirty = 0;
            e->persisted = 1;
        }
    }
    json_decref(o);
out:
    free(k);
    return e;
}
