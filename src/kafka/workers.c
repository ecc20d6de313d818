/*
 * processing.threads=N > 1 for `run`: N threads run the tasks, task p on
 * thread p mod N (Kafka Streams' StreamThreads over one consumer). The main
 * thread polls the consumer and hands each message to its task's thread
 * through a bounded queue (JD_WORKER_QUEUE messages; the main thread waits
 * while it is full, so the consumer's own queue is where a backlog waits).
 * A thread decodes with its own decoder, pushes into its tasks' engines and
 * moves their watermarks; alerts go straight to the producers, which are
 * thread-safe.
 *
 * Anything that touches several tasks, or the runner's task table, runs
 * on the main thread while every worker is paused: a worker acknowledges a
 * pause only once its queue is empty, so a snapshot holds every message
 * handed over before it. That is how checkpoints, rebalances, rewinds,
 * reloads and the metrics export see the tasks.
 */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include "runner_priv.h"

#define JD_WORKER_QUEUE 8192
/* How long an idle worker sleeps before it moves its tasks' watermarks
 * again (idle advance follows the wall clock). */
#define JD_WORKER_TICK_MS 100

typedef struct jd_worker {
    struct jd_workers *pool;
    uint32_t index;
    pthread_t th;
    int started;
    rd_kafka_message_t **ring;
    size_t head, n;
    int waiting;            /* parked for a pause */
} jd_worker_t;

struct jd_workers {
    jd_runner_t *r;
    uint32_t n;
    jd_worker_t *w;
    pthread_mutex_t mu;     /* guards every ring, pause and quit */
    pthread_cond_t work;    /* to workers: a message, a resume, quit */
    pthread_cond_t room;    /* to the main thread: room in a ring, a worker parked */
    int pause;              /* depth of nested pauses */
    int quit;
};

static void workers_step(jd_worker_t *w)
{
    jd_runner_t *r = w->pool->r;
    int64_t now = jd_mono_ms();
    for (int32_t p = (int32_t)w->index; p < r->ntasks; p += (int32_t)w->pool->n) {
        jd_task_t *t = r->tasks[p];
        if (t && t->state == JD_TASK_RUNNING && !t->rewind)
            jd_runner_task_advance(r, t, now);
    }
}

static void *workers_main(void *arg)
{
    jd_worker_t *w = arg;
    struct jd_workers *pool = w->pool;
    jd_runner_t *r = pool->r;
    jd_decode_ctx_t *dx = &r->dx[w->index];

    pthread_mutex_lock(&pool->mu);
    for (;;) {
        if (pool->quit)
            break;
        if (pool->pause && w->n == 0) {
            w->waiting = 1;
            pthread_cond_broadcast(&pool->room);
            while (pool->pause && !pool->quit)
                pthread_cond_wait(&pool->work, &pool->mu);
            w->waiting = 0;
            continue;
        }
        if (w->n == 0) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += JD_WORKER_TICK_MS * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            int rc = pthread_cond_timedwait(&pool->work, &pool->mu, &ts);
            if (rc && w->n == 0 && !pool->pause && !pool->quit) {
                pthread_mutex_unlock(&pool->mu);
                workers_step(w);
                pthread_mutex_lock(&pool->mu);
            }
            continue;
        }
        /* take a batch: the messages queued now, handled outside the lock */
        size_t k = w->n, head = w->head;
        pthread_mutex_unlock(&pool->mu);
        int64_t now = jd_mono_ms();
        for (size_t i = 0; i < k; i++) {
            rd_kafka_message_t *m = w->ring[(head + i) % JD_WORKER_QUEUE];
            jd_runner_handle_message(r, dx, m, now);
            rd_kafka_message_destroy(m);
        }
        workers_step(w);
        pthread_mutex_lock(&pool->mu);
        w->head = (head + k) % JD_WORKER_QUEUE;
        w->n -= k;
        pthread_cond_broadcast(&pool->room);
    }
    pthread_mutex_unlock(&pool->mu);
    return NULL;
}

jd_workers_t *jd_workers_new(jd_runner_t *r, uint32_t n, jd_err_t *err)
{
    jd_workers_t *pool = calloc(1, sizeof(*pool));
    if (!pool || !(pool->w = calloc(n, sizeof(*pool->w)))) {
        free(pool);
        jd_err_set(err, "out of memory");
        return NULL;
    }
    pool->r = r;
    pool->n = n;
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->work, NULL);
    pthread_cond_init(&pool->room, NULL);
    for (uint32_t i = 0; i < n; i++) {
        jd_worker_t *w = &pool->w[i];
        w->pool = pool;
        w->index = i;
        if (!(w->ring = calloc(JD_WORKER_QUEUE, sizeof(*w->ring)))) {
            jd_err_set(err, "out of memory");
            goto fail;
        }
        if (pthread_create(&w->th, NULL, workers_main, w)) {
            jd_err_set(err, "cannot start worker thread %u", i);
            goto fail;
        }
        w->started = 1;
    }
    return pool;
fail:
    jd_workers_destroy(pool);
    return NULL;
}

void jd_workers_destroy(jd_workers_t *pool)
{
    if (!pool)
        return;
    pthread_mutex_lock(&pool->mu);
    pool->quit = 1;
    pthread_cond_broadcast(&pool->work);
    pthread_mutex_unlock(&pool->mu);
    for (uint32_t i = 0; i < pool->n; i++) {
        jd_worker_t *w = &pool->w[i];
        if (w->started)
            pthread_join(w->th, NULL);
        for (size_t k = 0; k < w->n; k++)
            rd_kafka_message_destroy(w->ring[(w->head + k) % JD_WORKER_QUEUE]);
        free(w->ring);
    }
    pthread_cond_destroy(&pool->room);
    pthread_cond_destroy(&pool->work);
    pthread_mutex_destroy(&pool->mu);
    free(pool->w);
    free(pool);
}

void jd_workers_dispatch(jd_workers_t *pool, rd_kafka_message_t *m)
{
    jd_worker_t *w = &pool->w[(uint32_t)m->partition % pool->n];
    pthread_mutex_lock(&pool->mu);
    while (w->n == JD_WORKER_QUEUE && !pool->quit)
        pthread_cond_wait(&pool->room, &pool->mu);
    w->ring[(w->head + w->n) % JD_WORKER_QUEUE] = m;
    w->n++;
    pthread_cond_broadcast(&pool->work);
    pthread_mutex_unlock(&pool->mu);
}

void jd_workers_pause(jd_workers_t *pool)
{
    if (!pool)
        return;
    pthread_mutex_lock(&pool->mu);
    pool->pause++;
    pthread_cond_broadcast(&pool->work);
    for (;;) {
        uint32_t parked = 0;
        for (uint32_t i = 0; i < pool->n; i++)
            parked += pool->w[i].waiting;
        if (parked == pool->n)
            break;
        pthread_cond_wait(&pool->room, &pool->mu);
    }
    pthread_mutex_unlock(&pool->mu);
}

void jd_workers_resume(jd_workers_t *pool)
{
    if (!pool)
        return;
    pthread_mutex_lock(&pool->mu);
    if (pool->pause > 0 && --pool->pause == 0)
        pthread_cond_broadcast(&pool->work);
    pthread_mutex_unlock(&pool->mu);
}
