/*
 * Open-addressing string interner with reference counts. Each string is
 * its own allocation, preceded by its count and its 4-byte id, so the id
 * of a pointer is one load and a reference one atomic add. Ids index a
 * two-level table whose pages never move, so id -> string lookups need no
 * lock; ids of freed strings are reused.
 *
 * Strings whose count drops to 0 stay in the table (a later intern of the
 * same value revives them, under the lock) until a sweep frees them; the
 * sweep runs under the lock, and a count only rises from 0 under the lock,
 * so nobody can take a reference to a string being freed.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "journeyd/intern.h"

#define INTERN_PAGE_BITS 12
#define INTERN_PAGE (1u << INTERN_PAGE_BITS)
#define INTERN_MAX_PAGES 16384          /* 64M live strings */
#define INTERN_MIN_CAP 256
#define INTERN_SWEEP_MIN 16384          /* no sweep below this many strings */
#define INTERN_PIN JD_INTERN_HDR_PIN    /* count bit: never freed, not counted */
#define INTERN_PIN_AT 0x40000000u       /* a count this high pins (no overflow) */

typedef struct intern_rec {
    _Atomic uint32_t refs;
    uint32_t id;
    uint32_t len;
    char s[];
} intern_rec_t;

/* intern.h reads the same fields through jd_intern_hdr_t */
_Static_assert(offsetof(intern_rec_t, s) == sizeof(jd_intern_hdr_t), "record header");
_Static_assert(offsetof(intern_rec_t, refs) == offsetof(jd_intern_hdr_t, refs), "refs");
_Static_assert(offsetof(intern_rec_t, id) == offsetof(jd_intern_hdr_t, id), "id");

struct jd_intern {
    pthread_mutex_t lock;
    intern_rec_t **slots;     /* power-of-two table */
    uint32_t *hashes;         /* beside it, so probes need not chase pointers */
    size_t cap, count, bytes, sweep_at;
    uint32_t next_id;         /* highest id handed out */
    uint32_t *free_ids;       /* ids of swept strings, reused first */
    size_t nfree, free_cap;
    size_t npinned, nauto;    /* all pinned / pinned by a cache */
    const char **pages[INTERN_MAX_PAGES];
    /* per id, beside pages: how often a cache missed on the string and found
     * it in the table, or FINDS_PINNED. Written under the lock; the pinned
     * mark is read without it, so giving back a history record's pinned
     * value (by id) touches neither the page nor the string. */
    _Atomic uint8_t *finds[INTERN_MAX_PAGES];
};

#define FINDS_PINNED 255
_Static_assert(JD_INTERN_HOT_HITS < FINDS_PINNED, "finds are counted in a byte");

static _Atomic uint8_t *finds_of(const jd_intern_t *in, uint32_t id)
{
    return &in->finds[id >> INTERN_PAGE_BITS][id & (INTERN_PAGE - 1)];
}

/* One entry per lookup's cache line, rather than three parallel arrays. */
typedef struct cache_ent {
    const char *s;            /* holds a reference */
    uint32_t hash;
    uint32_t hits;
} cache_ent_t;

struct jd_intern_cache {
    jd_intern_t *in;
    cache_ent_t ent[JD_INTERN_CACHE_SIZE];
};

static intern_rec_t *rec_of(const char *s)
{
    return (intern_rec_t *)(uintptr_t)(s - offsetof(intern_rec_t, s));
}

static uint32_t intern_hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h ? h : 1;
}

jd_intern_t *jd_intern_new(void)
{
    jd_intern_t *in = calloc(1, sizeof(*in));
    if (!in)
        return NULL;
    pthread_mutex_init(&in->lock, NULL);
    in->cap = INTERN_MIN_CAP;
    in->sweep_at = INTERN_SWEEP_MIN;
    in->slots = calloc(in->cap, sizeof(*in->slots));
    in->hashes = calloc(in->cap, sizeof(*in->hashes));
    if (!in->slots || !in->hashes) {
        jd_intern_destroy(in);
        return NULL;
    }
    return in;
}

void jd_intern_destroy(jd_intern_t *in)
{
    if (!in)
        return;
    for (size_t i = 0; in->slots && i < in->cap; i++)
        free(in->slots[i]);
    for (size_t i = 0; i < INTERN_MAX_PAGES; i++) {
        free(in->pages[i]);
        free(in->finds[i]);
    }
    free(in->slots);
    free(in->hashes);
    free(in->free_ids);
    pthread_mutex_destroy(&in->lock);
    free(in);
}

/* Re-hashes the table into ncap slots, leaving out (and freeing) the
 * unreferenced strings when sweep is set. -1 when out of memory (nothing
 * changed). */
static int intern_rehash(jd_intern_t *in, size_t ncap, int sweep)
{
    intern_rec_t **ns = calloc(ncap, sizeof(*ns));
    uint32_t *nh = calloc(ncap, sizeof(*nh));
    if (!ns || !nh) {
        free(ns);
        free(nh);
        return -1;
    }
    for (size_t i = 0; i < in->cap; i++) {
        intern_rec_t *r = in->slots[i];
        if (!r)
            continue;
        if (sweep && atomic_load_explicit(&r->refs, memory_order_acquire) == 0) {
            in->pages[r->id >> INTERN_PAGE_BITS][r->id & (INTERN_PAGE - 1)] = NULL;
            /* free_ids has room for every id handed out (intern_new_id) */
            in->free_ids[in->nfree++] = r->id;
            in->count--;
            in->bytes -= r->len + 1;
            free(r);
            continue;
        }
        size_t j = in->hashes[i] & (ncap - 1);
        while (ns[j])
            j = (j + 1) & (ncap - 1);
        ns[j] = r;
        nh[j] = in->hashes[i];
    }
    free(in->slots);
    free(in->hashes);
    in->slots = ns;
    in->hashes = nh;
    in->cap = ncap;
    return 0;
}

/* One pass over the table (each string's count is read once), then a
 * cheap shrink over the survivors alone when they left it sparse. */
static size_t intern_sweep_locked(jd_intern_t *in)
{
    size_t before = in->count;
    if (intern_rehash(in, in->cap, 1) != 0)
        return 0;
    size_t ncap = in->cap;
    while (ncap > INTERN_MIN_CAP && in->count * 8 < ncap)
        ncap /= 2;
    if (ncap != in->cap)
        intern_rehash(in, ncap, 0); /* out of memory: stays larger */
    in->sweep_at = in->count * 2 > INTERN_SWEEP_MIN ? in->count * 2 : INTERN_SWEEP_MIN;
    return before - in->count;
}

size_t jd_intern_sweep(jd_intern_t *in)
{
    if (!in)
        return 0;
    pthread_mutex_lock(&in->lock);
    size_t n = intern_sweep_locked(in);
    pthread_mutex_unlock(&in->lock);
    return n;
}

/* The slot holding s, or the empty slot where it would go. */
static size_t intern_lookup(const jd_intern_t *in, const char *s, size_t len, uint32_t h)
{
    size_t i = h & (in->cap - 1);
    intern_rec_t *r;
    while ((r = in->slots[i])) {
        if (in->hashes[i] == h && r->len == len && memcmp(r->s, s, len) == 0)
            break;
        i = (i + 1) & (in->cap - 1);
    }
    return i;
}

/* A free id (a swept one first), its page allocated; 0 when none. */
static uint32_t intern_new_id(jd_intern_t *in)
{
    if (in->nfree)
        return in->free_ids[--in->nfree];
    uint32_t id = in->next_id + 1;
    uint32_t page = id >> INTERN_PAGE_BITS;
    if (page >= INTERN_MAX_PAGES)
        return 0;
    if (!in->pages[page] && !(in->pages[page] = calloc(INTERN_PAGE, sizeof(char *))))
        return 0;
    if (!in->finds[page] && !(in->finds[page] = calloc(INTERN_PAGE, 1)))
        return 0;
    if (in->free_cap < id) {
        /* every id may one day be free at once: reserve its place now so
         * a sweep never needs memory */
        size_t ncap = in->free_cap ? in->free_cap * 2 : INTERN_PAGE;
        uint32_t *n = realloc(in->free_ids, ncap * sizeof(*n));
        if (!n)
            return 0;
        in->free_ids = n;
        in->free_cap = ncap;
    }
    in->next_id = id;
    return id;
}

/* *created (if given) tells whether s was new to the table. */
static const char *intern_locked(jd_intern_t *in, const char *s, size_t len, uint32_t h,
                                 int *created)
{
    size_t slot = intern_lookup(in, s, len, h);
    intern_rec_t *found = in->slots[slot];
    if (created)
        *created = !found;
    if (found)
        return jd_intern_ref(found->s);
    if (len > UINT32_MAX - 1)
        return NULL;
    if (in->count >= in->sweep_at) {
        intern_sweep_locked(in);
        slot = intern_lookup(in, s, len, h);
    }
    if ((in->count + 1) * 4 > in->cap * 3) {
        if (intern_rehash(in, in->cap * 2, 0) != 0)
            return NULL;
        slot = intern_lookup(in, s, len, h);
    }
    intern_rec_t *r = malloc(sizeof(*r) + len + 1);
    if (!r)
        return NULL;
    uint32_t id = intern_new_id(in);
    if (!id) {
        free(r);
        return NULL;
    }
    atomic_init(&r->refs, 1);
    r->id = id;
    r->len = (uint32_t)len;
    memcpy(r->s, s, len);
    r->s[len] = '\0';
    in->pages[id >> INTERN_PAGE_BITS][id & (INTERN_PAGE - 1)] = r->s;
    atomic_store_explicit(finds_of(in, id), 0, memory_order_relaxed);
    in->slots[slot] = r;
    in->hashes[slot] = h;
    in->count++;
    in->bytes += len + 1;
    return r->s;
}

const char *jd_intern(jd_intern_t *in, const char *s, size_t len)
{
    uint32_t h = intern_hash(s, len);
    pthread_mutex_lock(&in->lock);
    const char *r = intern_locked(in, s, len, h, NULL);
    pthread_mutex_unlock(&in->lock);
    return r;
}

const char *jd_intern_str(jd_intern_t *in, const char *s)
{
    return jd_intern(in, s, strlen(s));
}

void jd_intern_ref_counted(const char *s)
{
    intern_rec_t *r = rec_of(s);
    /* A count this high is a bug or an attack: keep the string instead of
     * letting the count wrap. */
    if (atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed) + 1 >= INTERN_PIN_AT)
        atomic_fetch_or_explicit(&r->refs, INTERN_PIN, memory_order_relaxed);
}

void jd_intern_unref_counted(const char *s)
{
    intern_rec_t *r = rec_of(s);
    /* It may have been pinned since the caller looked. */
    if (atomic_load_explicit(&r->refs, memory_order_relaxed) & INTERN_PIN)
        return;
    /* release: the holder's last reads happen before a sweep frees it */
    atomic_fetch_sub_explicit(&r->refs, 1, memory_order_release);
}

/* A pinned id stays pinned (its string is never freed, the id never
 * reused), so a stale "not pinned" only means the slower way. */
static int id_pinned(const jd_intern_t *in, uint32_t id)
{
    return atomic_load_explicit(finds_of(in, id), memory_order_relaxed) == FINDS_PINNED;
}

void jd_intern_ref_id(const jd_intern_t *in, uint32_t id)
{
    if (id && !id_pinned(in, id))
        jd_intern_ref(jd_intern_get(in, id));
}

void jd_intern_unref_id(const jd_intern_t *in, uint32_t id)
{
    if (id && !id_pinned(in, id))
        jd_intern_unref(jd_intern_get(in, id));
}

static void intern_pin_locked(jd_intern_t *in, const char *s)
{
    intern_rec_t *r = rec_of(s);
    if (atomic_fetch_or_explicit(&r->refs, INTERN_PIN, memory_order_relaxed) & INTERN_PIN)
        return;
    atomic_store_explicit(finds_of(in, r->id), FINDS_PINNED, memory_order_relaxed);
    in->npinned++;
}

const char *jd_intern_pin(jd_intern_t *in, const char *s)
{
    if (!in || !s)
        return s;
    pthread_mutex_lock(&in->lock);
    intern_pin_locked(in, s);
    pthread_mutex_unlock(&in->lock);
    return s;
}

const char *jd_intern_get(const jd_intern_t *in, uint32_t id)
{
    if (id == 0)
        return NULL;
    const char **page = in->pages[id >> INTERN_PAGE_BITS];
    return page ? page[id & (INTERN_PAGE - 1)] : NULL;
}

jd_intern_cache_t *jd_intern_cache_new(jd_intern_t *in)
{
    jd_intern_cache_t *c = calloc(1, sizeof(*c));
    if (c)
        c->in = in;
    return c;
}

void jd_intern_cache_destroy(jd_intern_cache_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < JD_INTERN_CACHE_SIZE; i++)
        jd_intern_unref(c->ent[i].s);
    free(c);
}

/* A value served this often is pinned, within the table's budget, so its
 * count stops bouncing between the threads that decode and evaluate it. */
static void hot_locked(jd_intern_t *in, const char *s)
{
    if (rec_of(s)->len > JD_INTERN_PIN_LEN || in->nauto >= JD_INTERN_PIN_MAX)
        return;
    size_t before = in->npinned;
    intern_pin_locked(in, s);
    in->nauto += in->npinned - before;
}

static void cache_hot(jd_intern_cache_t *c, const char *s)
{
    if (rec_of(s)->len > JD_INTERN_PIN_LEN ||
        (atomic_load_explicit(&rec_of(s)->refs, memory_order_relaxed) & INTERN_PIN))
        return;
    pthread_mutex_lock(&c->in->lock);
    hot_locked(c->in, s);
    pthread_mutex_unlock(&c->in->lock);
}

const char *jd_intern_cached(jd_intern_cache_t *c, const char *s, size_t len)
{
    uint32_t h = intern_hash(s, len);
    size_t i = h & (JD_INTERN_CACHE_SIZE - 1);
    cache_ent_t *ce = &c->ent[i];
    const char *hit = ce->s;
    if (hit && ce->hash == h && rec_of(hit)->len == len && memcmp(hit, s, len) == 0) {
        if (ce->hits < JD_INTERN_HOT_HITS && ++ce->hits == JD_INTERN_HOT_HITS)
            cache_hot(c, hit);
        return jd_intern_ref(hit);
    }
    int created;
    pthread_mutex_lock(&c->in->lock);
    const char *r = intern_locked(c->in, s, len, h, &created);
    if (r && !created) {
        /* Hits alone miss a hot value whose slot it shares with another
         * hot one: each evicts the other before either is served often.
         * Counting its finds in the table catches it too. */
        _Atomic uint8_t *f = finds_of(c->in, rec_of(r)->id);
        uint8_t n = atomic_load_explicit(f, memory_order_relaxed);
        if (n < JD_INTERN_HOT_HITS) {
            atomic_store_explicit(f, (uint8_t)(n + 1), memory_order_relaxed);
            if (n + 1 == JD_INTERN_HOT_HITS)
                hot_locked(c->in, r);
        }
    }
    pthread_mutex_unlock(&c->in->lock);
    /* Only a value seen before is cached: a unique one (a session id)
     * would evict a hot value and, held by the cache, make this thread
     * write its count once more long after the engine is done with it. */
    if (r && !created) {
        /* Direct-mapped: a colliding value simply replaces the old one. */
        jd_intern_unref(ce->s);
        ce->s = jd_intern_ref(r);
        ce->hash = h;
        ce->hits = 0;
    }
    return r;
}

size_t jd_intern_count(const jd_intern_t *in)
{
    return in ? in->count : 0;
}

size_t jd_intern_bytes(const jd_intern_t *in)
{
    return in ? in->bytes : 0;
}

size_t jd_intern_pinned(const jd_intern_t *in)
{
    return in ? in->npinned : 0;
}
