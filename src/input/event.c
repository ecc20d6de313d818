/*
 * Events. With processing.threads > 1 a decoder thread allocates them and
 * the router's thread frees them, which costs the freeing thread malloc's
 * cross-thread path (and its arena lock, against the decoder's
 * allocations) on the thread that is the bottleneck, while the decoders
 * have time to spare. So a thread that never allocates events hands their
 * memory back instead: in batches, through one lock-free list, to the next
 * thread that allocates, which frees it as its own. Their interned values
 * are given back at once, so what waits in the list is plain memory, safe
 * to outlive the interner (a reload's old config).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "journeyd/event.h"
#include "journeyd/intern.h"
#include "journeyd/map.h"

#define EV_RETURN_BATCH 256   /* events a freeing thread hands back at once */
#define EV_COLLECT_EVERY 64   /* allocations between looks at the list */

/* A handed-back event is linked through its khash, which nobody reads
 * any more (nor anything else in it but the link). */
static jd_event_t *ret_next(const jd_event_t *ev)
{
    return (jd_event_t *)(uintptr_t)ev->khash;
}

static void ret_link(jd_event_t *ev, jd_event_t *next)
{
    ev->khash = (uint64_t)(uintptr_t)next;
}

static _Atomic(jd_event_t *) returned;        /* batches waiting for an allocator */
static _Thread_local int tl_allocates;        /* this thread allocates events */
static _Thread_local unsigned tl_since;       /* allocations since the last look */
static _Thread_local jd_event_t *tl_head, *tl_tail;
static _Thread_local unsigned tl_n;
static pthread_key_t tl_key;
static pthread_once_t tl_once = PTHREAD_ONCE_INIT;

static void ret_push(jd_event_t *head, jd_event_t *tail)
{
    jd_event_t *old = atomic_load_explicit(&returned, memory_order_relaxed);
    do
        ret_link(tail, old);
    while (!atomic_compare_exchange_weak_explicit(&returned, &old, head, memory_order_release,
                                                  memory_order_relaxed));
}

/* A thread's partial batch goes back when it exits. */
static void tl_exit(void *unused)
{
    (void)unused;
    if (tl_head)
        ret_push(tl_head, tl_tail);
    tl_head = tl_tail = NULL;
    tl_n = 0;
}

static void tl_key_init(void)
{
    pthread_key_create(&tl_key, tl_exit);
}

static void ret_give(jd_event_t *r)
{
    if (!tl_head) {
        if (!tl_n) {
            pthread_once(&tl_once, tl_key_init);
            pthread_setspecific(tl_key, &tl_n); /* any non-NULL value: run tl_exit */
        }
        tl_tail = r;
    }
    ret_link(r, tl_head);
    tl_head = r;
    if (++tl_n % EV_RETURN_BATCH == 0) {
        ret_push(tl_head, tl_tail);
        tl_head = tl_tail = NULL;
    }
}

/* Frees what other threads handed back, as this thread's own memory. */
static void ret_collect(void)
{
    if (!atomic_load_explicit(&returned, memory_order_relaxed))
        return;
    jd_event_t *r = atomic_exchange_explicit(&returned, NULL, memory_order_acquire);
    while (r) {
        jd_event_t *next = ret_next(r);
        free(r);
        r = next;
    }
}

/* Copies s into *cursor and advances it; returns the copy or NULL. */
static const char *event_put(char **cursor, const char *s, size_t len)
{
    if (!s)
        return NULL;
    char *dst = *cursor;
    memcpy(dst, s, len);
    dst[len] = '\0';
    *cursor = dst + len + 1;
    return dst;
}

jd_event_t *jd_event_new(uint32_t nslots,
                         const char *customer_id, size_t customer_len,
                         const char *anonymous_id, size_t anonymous_len,
                         const char *event_id, size_t event_id_len)
{
    size_t ids = (customer_id ? customer_len + 1 : 0) +
                 (anonymous_id ? anonymous_len + 1 : 0) +
                 (event_id ? event_id_len + 1 : 0);
    size_t head = sizeof(jd_event_t) + (size_t)nslots * sizeof(const char *);
    tl_allocates = 1;
    if (++tl_since == EV_COLLECT_EVERY) {
        tl_since = 0;
        ret_collect();
    }
    jd_event_t *ev = calloc(1, head + ids);
    if (!ev)
        return NULL;
    ev->nslots = nslots;
    ev->source_tag = -1;
    char *cursor = (char *)ev + head;
    ev->customer_id = event_put(&cursor, customer_id, customer_len);
    ev->anonymous_id = event_put(&cursor, anonymous_id, anonymous_len);
    ev->event_id = event_put(&cursor, event_id, event_id_len);
    return ev;
}

void jd_event_free(jd_event_t *ev)
{
    if (!ev)
        return;
    for (uint32_t i = 0; i < ev->nslots; i++)
        jd_intern_unref(ev->slot[i]);
    if (tl_allocates)
        free(ev);
    else
        ret_give(ev);
}

void jd_event_key_hash(jd_event_t *ev)
{
    if (ev->khash)
        return;
    const char *id = ev->customer_id ? ev->customer_id : ev->anonymous_id;
    char key[128];
    size_t len = strlen(id);
    if (len + 2 > sizeof(key))
        return; /* rare long ids: looked up the slow way */
    key[0] = ev->customer_id ? 'c' : 'a';
    key[1] = ':';
    memcpy(key + 2, id, len);
    /* a hash of 0 means "not computed": such an event is looked up the
     * slow way, as it would be anyway */
    ev->khash = jd_map_hash(key, len + 2);
}
