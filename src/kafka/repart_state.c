/*
 * input.keyed_by=any: a task's repartition state at a checkpoint and back
 * at a restore (repart.h): markers written, waits and forwarding entries
 * as changelog records of their own, the rest (the marker table, the
 * engine's watermark, idleness) as chunked "t:x:<i>" records.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "journeyd/timeutil.h"
#include "runner_priv.h"
#include "repart.h"
#include "repart_codec.h"
#include "repart_priv.h"

/* ---- checkpoint ---------------------------------------------------------- */

static int xrec_put(void *opaque, const char *key, size_t klen, const char *val, size_t vlen)
{
    return jd_task_rec_add(opaque, key, klen, val, vlen);
}

int jd_repart_checkpoint(jd_runner_t *r, jd_task_t *t)
{
    jd_xtask_t *x = t->x;
    jd_strbuf_t *sb = &x->sb;
    int64_t mr, mf;
    if (jd_xtask_size(x, r->rp_parts)) {
        jd_xtask_fatal(r, t, __LINE__);
        return -1;
    }
    mr = t->wm;
    mf = jd_xtask_router_wm(x);
    JD_LOG(JD_LOG_DEBUG, "task %" PRId32 ": router wm %" PRId64 ", forward bound %" PRId64
           ", engine wm %" PRId64 " (markers %" PRId64 "), %zu holds, %zu early hand-overs, "
           "%zu notices, %zu frozen, %zu forwarding", t->partition, mr, mf,
           jd_engine_watermark(t->engine), jd_xtask_markers_wm(x), x->holds.n, x->tokens.n,
           x->notices.n, jd_engine_frozen_count(t->engine), (size_t)x->fwd.count);
    if (!x->sent || mr != x->sent_r || mf != x->sent_f || x->idle != x->sent_idle) {
        for (int32_t q = 0; q < x->n; q++) {
            jd_strbuf_reset(sb);
            jd_strbuf_putc(sb, 'M');
            put_u32(sb, (uint32_t)t->partition);
            put_i64(sb, mr);
            put_i64(sb, mf);
            jd_strbuf_putc(sb, (char)x->idle);
            if (jd_xtask_produce(r, t, q, NULL, sb))
                return -1;
        }
        x->sent = 1;
        x->sent_idle = x->idle;
        x->sent_r = mr;
        x->sent_f = mf;
    }
    jd_xtask_prune_buffered(x, jd_engine_watermark(t->engine));
    if (jd_xwaits_flush(&x->holds, xrec_put, t) || jd_xwaits_flush(&x->tokens, xrec_put, t) ||
        jd_xwaits_flush(&x->notices, xrec_put, t)) {
        jd_xtask_fatal(r, t, __LINE__);
        return -1;
    }
    /* forwarding entries: changed ones to the changelog; those unused for
     * longer than the retention go (as the link they stand for does) */
    int64_t limit = jd_time_sub(jd_engine_watermark(t->engine), r->conf->retention_ms);
    for (size_t b = 0; b < x->fwd.nbuckets; b++) {
        jd_map_node_t *nd = x->fwd.buckets[b], *next;
        for (; nd; nd = next) {
            jd_xfwd_t *f = (jd_xfwd_t *)nd;
            int gone = f->last < limit && jd_engine_watermark(t->engine) != INT64_MIN;
            next = nd->next;
            if (!f->dirty && !gone)
                continue;
            jd_strbuf_reset(sb);
            jd_strbuf_puts(sb, "f:");
            jd_strbuf_puts(sb, f->anon);
            size_t kl = sb->len;
            if (!gone)
                jd_strbuf_printf(sb, "{\"p\":%" PRId32 ",\"s\":%" PRId64 ",\"l\":%" PRId64 "}",
                                 f->dest, f->since, f->last);
            if (sb->oom || jd_task_rec_add(t, sb->data, kl, gone ? NULL : sb->data + kl,
                                           sb->len - kl)) {
                jd_xtask_fatal(r, t, __LINE__);
                return -1;
            }
            f->dirty = 0;
            if (gone) {
                jd_map_del(&x->fwd, nd);
                free(f);
            }
        }
    }
    return 0;
}

static json_t *repart_meta(const jd_task_t *t)
{
    const jd_xtask_t *x = t->x;
    json_t *o = json_object(), *mk = json_array();
    for (int32_t i = 0; mk && i < x->n; i++)
        json_array_append_new(mk, x->mseen[i] ? json_pack("[I,I]", (json_int_t)x->mr[i],
                                                          (json_int_t)x->mf[i])
                                              : json_null());
    json_object_set_new(o, "ewm", json_integer(jd_engine_watermark(t->engine)));
    json_object_set_new(o, "mk", mk);
    json_object_set_new(o, "idle", json_boolean(x->idle));
    return o;
}

static void repart_meta_parse(jd_task_t *t, json_t *o)
{
    jd_xtask_t *x = t->x;
    json_t *mk = json_object_get(o, "mk"), *e;
    size_t i;
    if (!json_is_object(o))
        return;
    x->restore_ewm = json_integer_value(json_object_get(o, "ewm"));
    if (jd_xtask_size(x, (int32_t)json_array_size(mk)))
        return;
    json_array_foreach(mk, i, e) {
        if (!json_is_array(e))
            continue;
        x->mseen[i] = 1;
        x->mr[i] = json_integer_value(json_array_get(e, 0));
        x->mf[i] = json_integer_value(json_array_get(e, 1));
    }
    x->idle = json_is_true(json_object_get(o, "idle"));
}

void jd_repart_restore_wait(jd_task_t *t, const char *key, size_t keylen, const void *val,
                            size_t vallen)
{
    jd_xtask_t *x = t->x;
    jd_xwaits_t *w = key[2] == 'h' ? &x->holds : key[2] == 'k' ? &x->tokens
                   : key[2] == 'n' ? &x->notices : NULL;
    if (w && keylen > 4 && key[3] == ':')
        jd_xwaits_restore(w, key, keylen, val, vallen);
}

void jd_repart_restore_fwd(jd_task_t *t, const char *key, size_t keylen, const void *val,
                           size_t vallen)
{
    jd_xtask_t *x = t->x;
    char *anon = strndup(key + 2, keylen - 2);
    if (!anon)
        return;
    if (!val) {
        jd_xfwd_t *f = jd_xtask_fwd_get(x, anon);
        if (f) {
            jd_map_del(&x->fwd, &f->node);
            free(f);
        }
    } else {
        json_t *o = json_loadb(val, vallen, 0, NULL);
        jd_xfwd_t *f = json_is_object(o)
                           ? jd_xtask_fwd_set(x, anon, (int32_t)json_integer_value(json_object_get(o, "p")),
                                     json_integer_value(json_object_get(o, "s")))
                           : NULL;
        if (f) {
            f->last = json_integer_value(json_object_get(o, "l"));
            f->dirty = 0;
        }
        json_decref(o);
    }
    free(anon);
}

int jd_repart_state_records(jd_task_t *t)
{
    jd_xtask_t *x = t->x;
    json_t *o = repart_meta(t);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    char key[32];
    uint32_t n = 0;
    int rc = -1;
    json_decref(o);
    if (!s)
        return -1;
    size_t len = strlen(s);
    uint64_t h = jd_map_hash(s, len);
    if (x->nchunks && h == x->state_hash) {
        rc = (int)x->nchunks; /* unchanged: an idle task writes nothing */
        goto out;
    }
    x->state_hash = h;
    for (size_t off = 0; off < len || n == 0; off += JD_XSTATE_CHUNK, n++) {
        size_t k = len - off < JD_XSTATE_CHUNK ? len - off : JD_XSTATE_CHUNK;
        int kl = snprintf(key, sizeof(key), "t:x:%" PRIu32, n);
        if (jd_task_rec_add(t, key, (size_t)kl, s + off, k))
            goto out;
        if (len == 0)
            break;
    }
    if (len == 0)
        n = 1;
    for (uint32_t i = n; i < x->nchunks; i++) {
        int kl = snprintf(key, sizeof(key), "t:x:%" PRIu32, i);
        if (jd_task_rec_add(t, key, (size_t)kl, NULL, 0))
            goto out;
    }
    x->nchunks = n;
    rc = (int)n;
out:
    free(s);
    return rc;
}

void jd_repart_restore_chunk(jd_task_t *t, const char *key, size_t keylen, const void *val,
                             size_t vallen)
{
    jd_xtask_t *x = t->x;
    char num[16];
    size_t nl = keylen - 4 < sizeof(num) - 1 ? keylen - 4 : sizeof(num) - 1;
    memcpy(num, key + 4, nl);
    num[nl] = '\0';
    unsigned long i = strtoul(num, NULL, 10);
    if (i >= 4096)
        return;
    if (i >= x->capchunks) {
        uint32_t cap = (uint32_t)i + 8;
        char **nc = realloc(x->chunks, cap * sizeof(*nc));
        size_t *nlen = nc ? realloc(x->chunklen, cap * sizeof(*nlen)) : NULL;
        if (nc)
            x->chunks = nc;
        if (!nc || !nlen)
            return;
        x->chunklen = nlen;
        for (uint32_t k = x->capchunks; k < cap; k++) {
            x->chunks[k] = NULL;
            x->chunklen[k] = 0;
        }
        x->capchunks = cap;
    }
    free(x->chunks[i]);
    x->chunks[i] = NULL;
    x->chunklen[i] = 0;
    if (val && (x->chunks[i] = malloc(vallen ? vallen : 1))) {
        memcpy(x->chunks[i], val, vallen);
        x->chunklen[i] = vallen;
    }
}

void jd_repart_restore_finish(jd_task_t *t)
{
    jd_xtask_t *x = t->x;
    for (size_t k = 0; k < x->holds.n; k++)
        if (x->holds.v[k]->customer)
            jd_engine_freeze(t->engine, x->holds.v[k]->customer, x->holds.v[k]->ts,
                             x->holds.v[k]->anon);
    jd_strbuf_t sb;
    jd_strbuf_init(&sb);
    if (x->restore_nchunks > 0 && (uint64_t)x->restore_nchunks <= x->capchunks) {
        for (int64_t i = 0; i < x->restore_nchunks; i++)
            if (x->chunks[i])
                jd_strbuf_append(&sb, x->chunks[i], x->chunklen[i]);
        json_t *o = sb.oom ? NULL : json_loadb(sb.data ? sb.data : "", sb.len, 0, NULL);
        if (o)
            repart_meta_parse(t, o);
        else
            JD_LOG(JD_LOG_WARN, "task %" PRId32 ": the repartition state in the changelog "
                   "does not parse; starting without it", t->partition);
        json_decref(o);
    }
    x->nchunks = x->restore_nchunks > 0 ? (uint32_t)x->restore_nchunks : 0;
    for (uint32_t i = 0; i < x->capchunks; i++) {
        free(x->chunks[i]);
        x->chunks[i] = NULL;
    }
    jd_strbuf_free(&sb);
}
