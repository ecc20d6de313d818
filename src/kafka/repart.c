/*
 * input.keyed_by=any: routing through the repartition topic, markers,
 * notices, hand-overs and forwarding (repart.h has the model). The record
 * formats are in repart_codec.c, the durable state in repart_state.c.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "journeyd/intern.h"
#include "journeyd/timeutil.h"
#include "runner_priv.h"
#include "repart.h"
#include "repart_codec.h"
#include "repart_priv.h"

/* ---- the per-task state ----------------------------------------------- */

/* The events of one anonymous id alone pushed into this task's engine, so
 * a hand-over finds the ones still buffered without scanning the buffer.
 * An entry with ts above the engine's watermark is still buffered (advance
 * releases everything at or below it); others may be freed: never read. */
typedef struct xpend {
    jd_event_t *ev;
    int64_t ts;
} xpend_t;

typedef struct xlast {
    jd_map_node_t node;
    xpend_t *v;
    size_t n, cap;
    char anon[];
} xlast_t;

static void xlast_free(void *p)
{
    xlast_t *l = p;
    free(l->v);
    free(l);
}

static void anon_last_note(jd_xtask_t *x, jd_event_t *ev)
{
    const char *anon = ev->anonymous_id;
    size_t n = strlen(anon);
    xlast_t *l = (xlast_t *)jd_map_get(&x->anon_last, anon, n);
    if (!l) {
        if (!(l = calloc(1, sizeof(*l) + n + 1)))
            return;
        memcpy(l->anon, anon, n + 1);
        l->node.key = l->anon;
        l->node.keylen = n;
        if (jd_map_put(&x->anon_last, &l->node)) {
            free(l);
            return;
        }
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        xpend_t *nv = realloc(l->v, cap * sizeof(*nv));
        if (!nv)
            return;
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n].ev = ev;
    l->v[l->n].ts = ev->ts;
    l->n++;
}

/* Entries at or below the engine's watermark are about released events. */
void jd_xtask_prune_buffered(jd_xtask_t *x, int64_t wm)
{
    for (size_t b = 0; b < x->anon_last.nbuckets; b++) {
        jd_map_node_t *n = x->anon_last.buckets[b], *next;
        for (; n; n = next) {
            xlast_t *l = (xlast_t *)n;
            size_t k = 0;
            next = n->next;
            for (size_t i = 0; i < l->n; i++)
                if (l->v[i].ts > wm)
                    l->v[k++] = l->v[i];
            l->n = k;
            if (!k) {
                jd_map_del(&x->anon_last, n);
                xlast_free(l);
            }
        }
    }
}

jd_xtask_t *jd_xtask_new(int32_t partition)
{
    jd_xtask_t *x = calloc(1, sizeof(*x));
    if (!x)
        return NULL;
    x->partition = partition;
    jd_strbuf_init(&x->sb);
    if (jd_map_init(&x->fwd) || jd_map_init(&x->links) || jd_map_init(&x->anon_last) ||
        jd_xwaits_init(&x->holds, 'h') || jd_xwaits_init(&x->tokens, 'k') ||
        jd_xwaits_init(&x->notices, 'n')) {
        jd_xtask_destroy(x);
        return NULL;
    }
    jd_xtask_reset(x);
    return x;
}

static void map_free_all(jd_map_t *m, void (*fr)(void *))
{
    for (size_t b = 0; m->buckets && b < m->nbuckets; b++) {
        jd_map_node_t *n = m->buckets[b];
        while (n) {
            jd_map_node_t *next = n->next;
            fr(n);
            n = next;
        }
        m->buckets[b] = NULL;
    }
    m->count = 0;
}

static void xlink_free(void *p)
{
    jd_xlink_t *l = p;
    free(l->customer);
    free(l);
}

void jd_xtask_reset(jd_xtask_t *x)
{
    if (!x)
        return;
    free(x->mr);
    free(x->mf);
    free(x->mseen);
    free(x->midle);
    x->mr = x->mf = NULL;
    x->mseen = x->midle = NULL;
    x->n = 0;
    x->sent = 0;
    x->idle = 0;
    x->restore_ewm = INT64_MIN;
    jd_xwaits_clear(&x->holds);
    jd_xwaits_clear(&x->tokens);
    jd_xwaits_clear(&x->notices);
    map_free_all(&x->fwd, free);
    map_free_all(&x->links, xlink_free);
    map_free_all(&x->anon_last, xlast_free);
    x->nlinks = 0;
    for (uint32_t i = 0; i < x->capchunks; i++) {
        free(x->chunks[i]);
        x->chunks[i] = NULL;
    }
    x->restore_nchunks = 0;
}

void jd_xtask_destroy(jd_xtask_t *x)
{
    if (!x)
        return;
    jd_xtask_reset(x);
    jd_xwaits_free(&x->holds);
    jd_xwaits_free(&x->tokens);
    jd_xwaits_free(&x->notices);
    jd_map_free(&x->fwd);
    jd_map_free(&x->links);
    jd_map_free(&x->anon_last);
    jd_strbuf_free(&x->sb);
    free(x->chunks);
    free(x->chunklen);
    free(x);
}

/* The marker table sized for n tasks (known once the topics are). */
int jd_xtask_size(jd_xtask_t *x, int32_t n)
{
    if (x->n == n)
        return 0;
    free(x->mr);
    free(x->mf);
    free(x->mseen);
    free(x->midle);
    x->mr = calloc((size_t)n, sizeof(*x->mr));
    x->mf = calloc((size_t)n, sizeof(*x->mf));
    x->mseen = calloc((size_t)n, 1);
    x->midle = calloc((size_t)n, 1);
    if (!x->mr || !x->mf || !x->mseen || !x->midle) {
        x->n = 0;
        return -1;
    }
    x->n = n;
    return 0;
}

static int32_t home_of(const char *id, int32_t n)
{
    return (int32_t)(jd_map_hash(id, strlen(id)) % (uint64_t)n);
}

jd_xfwd_t *jd_xtask_fwd_get(const jd_xtask_t *x, const char *anon)
{
    return (jd_xfwd_t *)jd_map_get(&x->fwd, anon, strlen(anon));
}

jd_xfwd_t *jd_xtask_fwd_set(jd_xtask_t *x, const char *anon, int32_t dest, int64_t since)
{
    jd_xfwd_t *f = jd_xtask_fwd_get(x, anon);
    if (!f) {
        size_t n = strlen(anon);
        if (!(f = calloc(1, sizeof(*f) + n + 1)))
            return NULL;
        memcpy(f->anon, anon, n + 1);
        f->node.key = f->anon;
        f->node.keylen = n;
        if (jd_map_put(&x->fwd, &f->node)) {
            free(f);
            return NULL;
        }
    }
    f->dest = dest;
    f->since = since;
    if (since > f->last)
        f->last = since;
    f->dirty = 1;
    return f;
}

/* ---- producing ---------------------------------------------------------- */

/* Out of memory keeping the hand-over state: nothing more is committed
 * and `run` stops (a restart reads the input again). */
void jd_xtask_fatal(jd_runner_t *r, const jd_task_t *t, int where)
{
    JD_LOG(JD_LOG_ERR, "task %" PRId32 ": out of memory in the repartition state (%d)",
           t->partition, where);
    r->fatal = 1;
}

int jd_xtask_produce(jd_runner_t *r, jd_task_t *t, int32_t dest, const char *key,
                    const jd_strbuf_t *sb)
{
    if (sb->oom) {
        JD_LOG(JD_LOG_ERR, "out of memory writing to %s", r->repart);
        r->fatal = 1;
        return -1;
    }
    if (!t->txn_open && jd_ckpt_txn_begin(r, t))
        return -1;
    if (jd_kafka_produce(t->txp, r->repart, dest, key, key ? strlen(key) : 0, sb->data,
                         sb->len, NULL, NULL)) {
        JD_LOG(JD_LOG_ERR, "cannot produce to %s [%" PRId32 "]", r->repart, dest);
        r->fatal = 1;
        return -1;
    }
    t->x->produced++;
    return 0;
}

/* ---- router ------------------------------------------------------------- */

/* Has this router announced anon -> customer at L or before? Remembers
 * it when not (a bounded memory: forgetting only costs a repeated
 * notice, which the anonymous id's home answers at once). */
static int router_knows(jd_runner_t *r, jd_xtask_t *x, const char *anon, const char *customer,
                        int64_t ts)
{
    jd_xlink_t *l = (jd_xlink_t *)jd_map_get(&x->links, anon, strlen(anon));
    if (l && l->ts <= ts && !strcmp(l->customer, customer))
        return 1;
    if (!l) {
        size_t n = strlen(anon);
        if (x->nlinks >= r->conf->max_customers) {
            map_free_all(&x->links, xlink_free);
            x->nlinks = 0;
        }
        if (!(l = calloc(1, sizeof(*l) + n + 1)))
            return 0;
        memcpy(l->anon, anon, n + 1);
        l->node.key = l->anon;
        l->node.keylen = n;
        if (jd_map_put(&x->links, &l->node)) {
            free(l);
            return 0;
        }
        x->nlinks++;
    } else if (strcmp(l->customer, customer) != 0 && ts < l->ts) {
        return 0; /* an older link to someone else: announce it, keep the newer */
    }
    char *c = strdup(customer);
    if (c) {
        free(l->customer);
        l->customer = c;
        l->ts = ts;
    }
    return 0;
}

int jd_repart_route(jd_runner_t *r, jd_task_t *t, jd_event_t *ev)
{
    jd_xtask_t *x = t->x;
    jd_strbuf_t *sb = &x->sb;
    int32_t n = r->rp_parts, dest;
    int expect = 0;
    const char *key = ev->customer_id ? ev->customer_id : ev->anonymous_id;
    int rc = -1;

    if (!key || n <= 0) {
        JD_LOG(JD_LOG_ERR, "task %" PRId32 ": %s", t->partition,
               n <= 0 ? "the repartition topic's partition count is unknown"
                      : "an event without identity reached the router");
        goto out;
    }
    dest = home_of(key, n);
    if (ev->customer_id && ev->anonymous_id) {
        int32_t ah = home_of(ev->anonymous_id, n);
        if (ah != dest && !router_knows(r, x, ev->anonymous_id, ev->customer_id, ev->ts)) {
            jd_strbuf_reset(sb);
            jd_strbuf_putc(sb, 'N');
            put_i64(sb, ev->ts);
            put_u32(sb, (uint32_t)dest);
            put_cstr(sb, ev->anonymous_id);
            if (jd_xtask_produce(r, t, ah, ev->anonymous_id, sb))
                goto out;
            r->rp_notices++;
            expect = 1;
        }
    }
    jd_strbuf_reset(sb);
    jd_strbuf_putc(sb, 'E');
    jd_strbuf_putc(sb, (char)expect);
    put_event(sb, ev);
    if (jd_xtask_produce(r, t, dest, key, sb))
        goto out;
    r->rp_routed++;
    rc = 0;
out:
    jd_event_free(ev);
    return rc;
}

/* Over the markers of every task (INT64_MIN until it has heard from all):
 * the least router watermark r of the routers that are not idle, and with
 * with_f the least forward bound f too; when that leaves nothing (every
 * router idle: all caught up and quiet), the largest r, as replay's last
 * watermark is its largest ts. Without f: the router watermark this task
 * goes by (its own forward bound, and where an idle router comes back).
 * With f: the engine's watermark. */
static int64_t marker_floor(const jd_xtask_t *x, int with_f)
{
    int64_t m = INT64_MAX, hi = INT64_MIN;
    if (!x->n)
        return INT64_MIN;
    for (int32_t i = 0; i < x->n; i++) {
        if (!x->mseen[i])
            return INT64_MIN;
        if (x->mr[i] > hi)
            hi = x->mr[i];
        if (!x->midle[i] && x->mr[i] < m)
            m = x->mr[i];
        if (with_f && x->mf[i] < m)
            m = x->mf[i];
    }
    return m == INT64_MAX ? hi : m;
}

int64_t jd_xtask_router_wm(const jd_xtask_t *x)
{
    return marker_floor(x, 0);
}

int64_t jd_repart_router_resume(jd_task_t *t)
{
    jd_xtask_t *x = t->x;
    if (!x->idle)
        return t->wm;
    /* idle, it stopped holding the others back: it comes back at their
     * watermark, and what is older is late */
    x->idle = 0;
    int64_t f = jd_xtask_router_wm(x);
    return f > t->wm ? f : t->wm;
}

/* ---- engine side -------------------------------------------------------- */

static void xdead(jd_runner_t *r, jd_task_t *t, const rd_kafka_message_t *m, const char *why)
{
    jd_collector_dead_letter(r, t, m, JD_DL_INVALID_JSON, why);
}

static int xpush(jd_runner_t *r, jd_task_t *t, jd_task_tp_t *tp, const rd_kafka_message_t *m,
                 jd_event_t *ev)
{
    int64_t ts = ev->ts;
    ev->source_tag = t->partition;
    if (jd_engine_push(t->engine, ev) == JD_DL_LATE) {
        char a[JD_TIME_BUFSZ], detail[128];
        snprintf(detail, sizeof(detail), "ts %s is older than the task's watermark "
                 "(repartitioned)", jd_time_format_rfc3339(ts, a));
        jd_collector_dead_letter(r, t, m, JD_DL_LATE, detail);
        return 1;
    }
    if (jd_task_pend_push(tp, m->offset, ts)) {
        JD_LOG(JD_LOG_ERR, "out of memory");
        jd_xtask_fatal(r, t, __LINE__);
        return -1;
    }
    return 0;
}

/* Does anon's forwarding entry take an event at ts? */
static jd_xfwd_t *fwd_for(const jd_xtask_t *x, const jd_event_t *ev)
{
    if (ev->customer_id || !ev->anonymous_id || !x->fwd.count)
        return NULL;
    jd_xfwd_t *f = jd_xtask_fwd_get(x, ev->anonymous_id);
    return f && ev->ts >= f->since ? f : NULL;
}

static void receive_event(jd_runner_t *r, jd_decode_ctx_t *dx, jd_task_t *t, jd_task_tp_t *tp,
                          const rd_kafka_message_t *m, cur_t *c, int replay)
{
    jd_xtask_t *x = t->x;
    char flags = 0;
    get_raw(c, &flags, 1);
    jd_event_t *ev = get_event(c, r->conf, dx->ic);
    if (!ev) {
        xdead(r, t, m, "repartition record: cannot decode its event");
        return;
    }
    jd_xfwd_t *f = fwd_for(x, ev);
    if (f) {
        /* handed over from here: forwarded now, in arrival order (which
         * is what the forward bound f of this task's markers promises) */
        if (!replay) {
            if (ev->ts > f->last)
                f->last = ev->ts;
            if (jd_xtask_produce(r, t, f->dest, ev->anonymous_id,
                         &(jd_strbuf_t){.data = m->payload, .len = m->len}) == 0)
                r->rp_forwarded++;
        }
        jd_event_free(ev);
        return;
    }
    /* re-read: evaluated unless it still waited (for the watermark, or
     * parked with its frozen customer) */
    if (replay && ev->ts <= x->restore_ewm && !jd_engine_would_park(t->engine, ev)) {
        jd_event_free(ev);
        r->skipped++;
        return;
    }
    if ((flags & 1) && !replay && ev->customer_id && ev->anonymous_id) {
        jd_xwait_t *k = jd_xwaits_find(&x->tokens, ev->anonymous_id, ev->ts);
        if (k)
            jd_xwaits_del(&x->tokens, k);
        /* a hold is one per (anon, L): a second freeze at L would outlive
         * the one hand-over that thaws it */
        else if (!jd_xwaits_find(&x->holds, ev->anonymous_id, ev->ts) &&
                 (!jd_xwaits_add(&x->holds, ev->anonymous_id, ev->customer_id, ev->ts, -1) ||
                  jd_engine_freeze(t->engine, ev->customer_id, ev->ts, ev->anonymous_id)))
            jd_xtask_fatal(r, t, __LINE__);
        JD_LOG(JD_LOG_DEBUG, "task %" PRId32 ": link %s -> %s at %" PRId64 " %s", t->partition,
               ev->anonymous_id, ev->customer_id, ev->ts, k ? "(its hand-over came first)"
                                                          : "waits for its hand-over");
    }
    if (ev->customer_id && ev->anonymous_id && x->fwd.count) {
        /* linked again, and this time to a customer whose home is here */
        jd_xfwd_t *g = jd_xtask_fwd_get(x, ev->anonymous_id);
        if (g && g->since <= ev->ts && home_of(ev->anonymous_id, x->n) == t->partition)
            jd_xtask_fwd_set(x, ev->anonymous_id, t->partition, ev->ts);
    }
    jd_event_t *keep = !ev->customer_id && ev->anonymous_id ? ev : NULL;
    if (xpush(r, t, tp, m, ev) == 0 && keep)
        anon_last_note(x, keep);
}

static void receive_handover(jd_runner_t *r, jd_decode_ctx_t *dx, jd_task_t *t,
                             jd_task_tp_t *tp, const rd_kafka_message_t *m, cur_t *c,
                             int replay)
{
    jd_xtask_t *x = t->x;
    int64_t ts = get_i64(c);
    char *anon = get_strdup(c);
    uint32_t nrec = get_u32(c);
    jd_err_t err;
    if (c->bad || !anon) {
        free(anon);
        xdead(r, t, m, "repartition record: malformed hand-over");
        return;
    }
    for (uint32_t i = 0; i < nrec && !c->bad; i++) {
        size_t kl, vl;
        const char *k = get_str(c, &kl), *v = get_str(c, &vl);
        if (!replay && k && v &&
            jd_engine_import_record(t->engine, t->partition, k, kl, v, vl, &err))
            JD_LOG(JD_LOG_WARN, "task %" PRId32 ": hand-over of %s: %s", t->partition, anon,
                   err.msg);
    }
    uint32_t nev = get_u32(c);
    for (uint32_t i = 0; i < nev && !c->bad; i++) {
        jd_event_t *ev = get_event(c, r->conf, dx->ic);
        if (!ev)
            break;
        if (replay && ev->ts <= x->restore_ewm && !jd_engine_would_park(t->engine, ev)) {
            jd_event_free(ev);
            continue;
        }
        if (xpush(r, t, tp, m, ev) < 0)
            break;
    }
    if (c->bad)
        JD_LOG(JD_LOG_WARN, "task %" PRId32 ": hand-over of %s: truncated record", t->partition,
               anon);
    if (!replay) {
        jd_xwait_t *k = jd_xwaits_find(&x->holds, anon, ts);
        if (k) {
            char *cust = k->customer;
            k->customer = NULL;
            jd_xwaits_del(&x->holds, k);
            JD_LOG(JD_LOG_DEBUG, "task %" PRId32 ": hand-over of %s at %" PRId64 " for %s",
                   t->partition, anon, ts, cust ? cust : "?");
            if (cust)
                jd_engine_thaw(t->engine, cust, ts);
            free(cust);
        } else if (!jd_xwaits_find(&x->tokens, anon, ts) &&
                   !jd_xwaits_add(&x->tokens, anon, NULL, ts, -1)) {
            jd_xtask_fatal(r, t, __LINE__);
        }
        r->rp_handovers_in++;
    }
    free(anon);
}

static void handover_now(jd_runner_t *r, jd_task_t *t, const jd_xwait_t *n);

static void receive_notice(jd_runner_t *r, jd_task_t *t, const rd_kafka_message_t *m, cur_t *c)
{
    jd_xtask_t *x = t->x;
    int64_t ts = get_i64(c);
    int32_t dest = (int32_t)get_u32(c);
    char *anon = get_strdup(c);
    if (c->bad || !anon || dest < 0 || dest >= x->n) {
        free(anon);
        xdead(r, t, m, "repartition record: malformed notice");
        return;
    }
    jd_xfwd_t *f = jd_xtask_fwd_get(x, anon);
    if (f && f->since <= ts) {
        jd_xwait_t w = {.anon = anon, .ts = ts, .dest = dest};
        handover_now(r, t, &w);
    } else if (!jd_xwaits_add(&x->notices, anon, NULL, ts, dest)) {
        jd_xtask_fatal(r, t, __LINE__);
    }
    free(anon);
}

static void receive_marker(jd_task_t *t, cur_t *c)
{
    jd_xtask_t *x = t->x;
    int32_t src = (int32_t)get_u32(c);
    int64_t mr = get_i64(c), mf = get_i64(c);
    char idle = 0;
    get_raw(c, &idle, 1);
    if (c->bad || src < 0 || src >= x->n)
        return;
    if (!x->mseen[src] || mr > x->mr[src])
        x->mr[src] = mr;
    if (!x->mseen[src] || mf > x->mf[src])
        x->mf[src] = mf;
    x->midle[src] = (uint8_t)idle;
    x->mseen[src] = 1;
}

void jd_repart_receive(jd_runner_t *r, jd_decode_ctx_t *dx, jd_task_t *t,
                       const rd_kafka_message_t *m)
{
    jd_task_tp_t *tp = &t->tps[t->ninput];
    cur_t c = {m->payload, (const char *)m->payload + m->len, 0};
    char kind = 0;
    int replay = 0;

    if (jd_xtask_size(t->x, r->rp_parts)) {
        jd_xtask_fatal(r, t, __LINE__);
        return;
    }
    /* Below the snapshot's next offset (task.h): markers apply again (they
     * only raise), notices and hand-overs were applied (their effect is in
     * the snapshot), events count only when still waiting. */
    if (tp->restore_next >= 0) {
        if (m->offset < tp->restore_next)
            replay = 1;
        else
            tp->restore_next = -1;
    }
    get_raw(&c, &kind, 1);
    switch (kind) {
    case 'E':
        receive_event(r, dx, t, tp, m, &c, replay);
        break;
    case 'M':
        receive_marker(t, &c);
        break;
    case 'N':
        if (!replay)
            receive_notice(r, t, m, &c);
        break;
    case 'H':
        receive_handover(r, dx, t, tp, m, &c, replay);
        break;
    default:
        xdead(r, t, m, "repartition record of an unknown kind");
        break;
    }
}

/* ---- hand-over ------------------------------------------------------------ */

/* One hand-over being built: the state part ('H' L anon nrec {key val}*),
 * then the anonymous id's buffered events. */
typedef struct xho {
    jd_strbuf_t rec, evs;
    uint32_t nrec, nev;
} xho_t;

static void ho_state(void *opaque, int32_t tag, const char *key, size_t keylen,
                     const void *val, size_t vallen)
{
    xho_t *h = opaque;
    (void)tag;
    put_str(&h->rec, key, keylen);
    put_str(&h->rec, val, vallen);
    h->nrec++;
}

/* The anonymous id's events still buffered here travel with its journey:
 * serialised into the hand-over, and marked so that the engine drops them
 * when it releases them. */
static void ho_ship(jd_xtask_t *x, const char *anon, int64_t wm, xho_t *h)
{
    xlast_t *l = (xlast_t *)jd_map_get(&x->anon_last, anon, strlen(anon));
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].ts > wm) {
            put_event(&h->evs, l->v[i].ev);
            h->nev++;
            jd_event_ship(l->v[i].ev);
        }
    jd_map_del(&x->anon_last, &l->node);
    xlast_free(l);
}

/* Start the hand-over answering notice n into h: the journey, its link and
 * its buffered events when they are still here (everything before L was
 * evaluated: the engine is at L-1), else nothing (it had moved already). */
static int handover_begin(jd_runner_t *r, jd_task_t *t, const jd_xwait_t *n, xho_t *h)
{
    jd_xtask_t *x = t->x;
    jd_xfwd_t *f = jd_xtask_fwd_get(x, n->anon);
    size_t at;
    jd_strbuf_putc(&h->rec, 'H');
    put_i64(&h->rec, n->ts);
    put_cstr(&h->rec, n->anon);
    at = h->rec.len;
    put_u32(&h->rec, 0);
    if (f && f->since <= n->ts) {
        if (f->dest != n->dest && n->ts > f->since)
            jd_xtask_fwd_set(x, n->anon, n->dest, n->ts); /* the newest link wins */
        return 0;
    }
    jd_engine_export_records(t->engine, n->anon, jd_time_sub(n->ts, 1), ho_state, h);
    if (!h->rec.oom)
        memcpy(h->rec.data + at, &h->nrec, sizeof(h->nrec));
    if (!jd_xtask_fwd_set(x, n->anon, n->dest, n->ts))
        jd_xtask_fatal(r, t, __LINE__);
    ho_ship(x, n->anon, jd_engine_watermark(t->engine), h);
    return 0;
}

static void handover_finish(jd_runner_t *r, jd_task_t *t, const jd_xwait_t *n, xho_t *h)
{
    put_u32(&h->rec, h->nev);
    jd_strbuf_append(&h->rec, h->evs.data ? h->evs.data : "", h->evs.len);
    h->rec.oom |= h->evs.oom;
    if (jd_xtask_produce(r, t, n->dest, n->anon, &h->rec) == 0)
        r->rp_handovers_out++;
    jd_strbuf_free(&h->rec);
    jd_strbuf_free(&h->evs);
}

/* Every notice whose L-1 the engine has reached, earliest first (a later
 * link of the same id then finds it handed over). Returns how many. */
static size_t handover_ready(jd_runner_t *r, jd_task_t *t, int64_t wm)
{
    jd_xwaits_t *w = &t->x->notices;
    size_t n = 0;
    if (wm == INT64_MIN)
        return 0;
    while (w->n && jd_time_sub(w->v[0]->ts, 1) <= wm && !r->fatal) {
        xho_t h = {0};
        jd_strbuf_init(&h.rec);
        jd_strbuf_init(&h.evs);
        handover_begin(r, t, w->v[0], &h);
        handover_finish(r, t, w->v[0], &h);
        jd_xwaits_del(w, w->v[0]);
        n++;
    }
    return n;
}

/* An answer at once: the journey had moved already. */
static void handover_now(jd_runner_t *r, jd_task_t *t, const jd_xwait_t *n)
{
    xho_t h = {0};
    jd_strbuf_init(&h.rec);
    jd_strbuf_init(&h.evs);
    handover_begin(r, t, n, &h);
    handover_finish(r, t, n, &h);
}

/* ---- watermark ------------------------------------------------------------ */

int64_t jd_xtask_markers_wm(const jd_xtask_t *x)
{
    return marker_floor(x, 1);
}

/* A journey to hand over at L keeps the engine at L-1 until it has gone
 * (which is as soon as the markers allow: no wait on another task). */
static int64_t caps(const jd_xtask_t *x)
{
    int64_t m = jd_xwaits_min(&x->notices);
    return m == INT64_MAX ? INT64_MAX : jd_time_sub(m, 1);
}

int64_t jd_repart_handled_wm(const jd_task_t *t)
{
    /* a frozen customer's events from its link on are parked, not
     * evaluated: their offsets stay uncommitted (and a restore tells them
     * apart with jd_engine_would_park) */
    int64_t wm = jd_engine_watermark(t->engine);
    int64_t h = jd_xwaits_min(&t->x->holds);
    return h != INT64_MAX && jd_time_sub(h, 1) < wm ? jd_time_sub(h, 1) : wm;
}

void jd_repart_advance(jd_runner_t *r, jd_task_t *t, int64_t now)
{
    jd_xtask_t *x = t->x;
    (void)now;
    if (jd_xtask_size(x, r->rp_parts)) {
        jd_xtask_fatal(r, t, __LINE__);
        return;
    }
    for (int rounds = 0; rounds < 1000 && !r->fatal; rounds++) {
        int64_t target = jd_xtask_markers_wm(x), cap = caps(x);
        if (cap < target)
            target = cap;
        if (target != INT64_MIN)
            jd_engine_advance(t->engine, target);
        if (!handover_ready(r, t, jd_engine_watermark(t->engine)))
            break;
    }
}
