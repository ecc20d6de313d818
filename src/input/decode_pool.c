/*
 * Decoder threads. Batches cycle through a fixed ring: the reader fills the
 * batch whose turn it is, workers decode queued batches in any order, and
 * the reader consumes them in ring (= input) order. A batch is refilled only
 * after it was consumed, so the ring bounds memory and keeps order.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "journeyd/decode_pool.h"

#define POOL_BATCH_LINES 1024
#define POOL_BATCH_BYTES (1u << 20)
#define POOL_DETAIL 200

enum { BATCH_FREE = 0, BATCH_QUEUED, BATCH_BUSY, BATCH_DONE };

typedef struct pool_batch {
    int state;
    size_t n;
    const char *file;
    char *buf;
    size_t used, cap;
    size_t off[POOL_BATCH_LINES], len[POOL_BATCH_LINES];
    int64_t lineno[POOL_BATCH_LINES];
    /* Dead letters the reader already decided (too_large), else NONE. */
    jd_dl_reason_t pre[POOL_BATCH_LINES];
    const char *pre_detail[POOL_BATCH_LINES];
    jd_event_t *ev[POOL_BATCH_LINES];
    jd_dl_reason_t reason[POOL_BATCH_LINES];
    char detail[POOL_BATCH_LINES][POOL_DETAIL];
} pool_batch_t;

struct jd_decode_pool {
    const jd_config_t *conf;
    unsigned nworkers, nbatches;
    pthread_t *threads;
    jd_decoder_t **dec;
    pool_batch_t *batches;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    int stop;
    unsigned started;
};

typedef struct pool_worker_arg {
    jd_decode_pool_t *p;
    unsigned id;
} pool_worker_arg_t;

static void batch_decode(jd_decoder_t *d, pool_batch_t *b)
{
    for (size_t i = 0; i < b->n; i++) {
        b->ev[i] = NULL;
        if (b->pre[i] != JD_DL_NONE) {
            b->reason[i] = b->pre[i];
            snprintf(b->detail[i], POOL_DETAIL, "%s", b->pre_detail[i]);
            continue;
        }
        b->reason[i] = jd_decode_json(d, b->buf + b->off[i], b->len[i], &b->ev[i],
                                      b->detail[i], POOL_DETAIL);
        /* here rather than on the router, the busier thread */
        if (b->ev[i])
            jd_event_key_hash(b->ev[i]);
    }
}

static void *pool_worker(void *arg)
{
    jd_decode_pool_t *p = ((pool_worker_arg_t *)arg)->p;
    unsigned id = ((pool_worker_arg_t *)arg)->id;
    free(arg);
    pthread_mutex_lock(&p->mu);
    for (;;) {
        pool_batch_t *b = NULL;
        for (unsigned i = 0; i < p->nbatches && !b; i++)
            if (p->batches[i].state == BATCH_QUEUED)
                b = &p->batches[i];
        if (!b) {
            if (p->stop)
                break;
            pthread_cond_wait(&p->work, &p->mu);
            continue;
        }
        b->state = BATCH_BUSY;
        pthread_mutex_unlock(&p->mu);
        batch_decode(p->dec[id], b);
        pthread_mutex_lock(&p->mu);
        b->state = BATCH_DONE;
        pthread_cond_broadcast(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

jd_decode_pool_t *jd_decode_pool_new(const jd_config_t *conf, unsigned nworkers,
                                     jd_err_t *err)
{
    jd_decode_pool_t *p = calloc(1, sizeof(*p));
    if (!p) {
        jd_err_set(err, "out of memory creating the decoder pool");
        return NULL;
    }
    p->conf = conf;
    p->nworkers = nworkers ? nworkers : 1;
    p->nbatches = 4 * p->nworkers + 4;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    p->threads = calloc(p->nworkers, sizeof(*p->threads));
    p->dec = calloc(p->nworkers, sizeof(*p->dec));
    p->batches = calloc(p->nbatches, sizeof(*p->batches));
    if (!p->threads || !p->dec || !p->batches) {
        jd_err_set(err, "out of memory creating the decoder pool");
        goto fail;
    }
    for (unsigned i = 0; i < p->nworkers; i++)
        if (!(p->dec[i] = jd_decoder_new(conf, err)))
            goto fail;
    for (unsigned i = 0; i < p->nworkers; i++) {
        pool_worker_arg_t *a = malloc(sizeof(*a));
        if (a) {
            a->p = p;
            a->id = i;
        }
        if (!a || pthread_create(&p->threads[i], NULL, pool_worker, a) != 0) {
            free(a);
            jd_err_set(err, "cannot start decoder thread %u", i);
            goto fail;
        }
        p->started++;
    }
    return p;
fail:
    jd_decode_pool_destroy(p);
    return NULL;
}

void jd_decode_pool_destroy(jd_decode_pool_t *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->started; i++)
        pthread_join(p->threads[i], NULL);
    if (p->dec)
        for (unsigned i = 0; i < p->nworkers; i++)
            jd_decoder_destroy(p->dec[i]);
    if (p->batches)
        for (unsigned i = 0; i < p->nbatches; i++) {
            for (size_t k = 0; k < p->batches[i].n; k++)
                if (p->batches[i].state == BATCH_DONE)
                    jd_event_free(p->batches[i].ev[k]);
            free(p->batches[i].buf);
        }
    free(p->batches);
    free(p->dec);
    free(p->threads);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* Copies lines into b until it is full (returns JD_READ_OK) or the input
 * ends (the reader's status: EOF, CORRUPT or ERROR). */
static jd_read_status_t batch_fill(pool_batch_t *b, jd_reader_t *r, jd_err_t *err)
{
    b->n = 0;
    b->used = 0;
    b->file = jd_reader_path(r);
    while (b->n < POOL_BATCH_LINES && b->used < POOL_BATCH_BYTES) {
        const char *line, *why;
        size_t len;
        int64_t lineno;
        jd_dl_reason_t pre;
        jd_read_status_t st = jd_records_next_line(r, &line, &len, &lineno, &pre, &why, err);
        if (st != JD_READ_OK)
            return st;
        if (b->used + len > b->cap) {
            size_t ncap = b->cap ? b->cap : POOL_BATCH_BYTES;
            while (ncap < b->used + len)
                ncap *= 2;
            char *nb = realloc(b->buf, ncap);
            if (!nb) {
                jd_err_set(err, "out of memory reading %s", b->file);
                return JD_READ_ERROR;
            }
            b->buf = nb;
            b->cap = ncap;
        }
        memcpy(b->buf + b->used, line, len);
        b->off[b->n] = b->used;
        b->len[b->n] = len;
        b->lineno[b->n] = lineno;
        b->pre[b->n] = pre;
        b->pre_detail[b->n] = why;
        b->used += len;
        b->n++;
    }
    return JD_READ_OK;
}

/* Hands b's records to ops in order; once a callback asks to stop, the
 * rest are freed instead. Returns 1 if stopped. */
static int batch_deliver(pool_batch_t *b, const jd_records_ops_t *ops, void *opaque,
                         int stopped)
{
    jd_source_pos_t pos = {.partition = -1, .offset = -1, .file = b->file};
    for (size_t i = 0; i < b->n; i++) {
        pos.line = b->lineno[i];
        if (stopped)
            jd_event_free(b->ev[i]);
        else
            stopped = jd_records_deliver(ops, opaque, b->reason[i], b->ev[i], b->detail[i],
                                         &pos, b->buf + b->off[i], b->len[i]) != 0;
        b->ev[i] = NULL;
    }
    b->n = 0;
    return stopped;
}

jd_records_rc_t jd_decode_pool_run(jd_decode_pool_t *p, jd_reader_t *r,
                                   const jd_records_ops_t *ops, void *opaque, jd_err_t *err)
{
    uint64_t filled = 0, consumed = 0;
    int eof = 0, stopped = 0;
    jd_records_rc_t rc = JD_RECORDS_EOF;
    while (!eof || consumed < filled) {
        /* Fill every free batch whose turn it is. */
        while (!eof && filled - consumed < p->nbatches) {
            pool_batch_t *b = &p->batches[filled % p->nbatches];
            jd_read_status_t st = batch_fill(b, r, err);
            if (st != JD_READ_OK) {
                eof = 1;
                rc = st == JD_READ_EOF       ? JD_RECORDS_EOF
                     : st == JD_READ_CORRUPT ? JD_RECORDS_CORRUPT
                                             : JD_RECORDS_ERROR;
            }
            if (b->n == 0)
                break;
            pthread_mutex_lock(&p->mu);
            b->state = BATCH_QUEUED;
            pthread_cond_signal(&p->work);
            pthread_mutex_unlock(&p->mu);
            filled++;
        }
        if (consumed == filled)
            continue;
        pool_batch_t *b = &p->batches[consumed % p->nbatches];
        pthread_mutex_lock(&p->mu);
        while (b->state != BATCH_DONE)
            pthread_cond_wait(&p->done, &p->mu);
        pthread_mutex_unlock(&p->mu);
        if (batch_deliver(b, ops, opaque, stopped) && !stopped) {
            /* Read no further; what is in flight is drained and freed. */
            stopped = 1;
            eof = 1;
        }
        pthread_mutex_lock(&p->mu); /* workers scan states under the lock */
        b->state = BATCH_FREE;
        pthread_mutex_unlock(&p->mu);
        consumed++;
    }
    return stopped ? JD_RECORDS_STOPPED : rc;
}
