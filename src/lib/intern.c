/*
 * Open-addressing string interner. Strings live in large chunks, each
 * preceded by its 4-byte id, so interning a new value costs one copy and
 * the id of a pointer is one load. Ids index a two-level table whose pages
 * never move, so id -> string lookups need no lock.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "journeyd/intern.h"

#define INTERN_CHUNK (64 * 1024)
#define INTERN_PAGE_BITS 12
#define INTERN_PAGE (1u << INTERN_PAGE_BITS)
#define INTERN_MAX_PAGES 16384          /* 64M distinct strings */
#define INTERN_CACHE_SIZE 4096          /* per-thread cache slots (power of two) */

typedef struct intern_chunk {
    struct intern_chunk *next;
    size_t used, cap;
    _Alignas(8) char data[];
} intern_chunk_t;

struct jd_intern {
    pthread_mutex_t lock;
    const char **slots;   /* power-of-two table of interned pointers */
    uint32_t *hashes;
    size_t cap, count, bytes;
    intern_chunk_t *chunks;
    const char **pages[INTERN_MAX_PAGES];
};

struct jd_intern_cache {
    jd_intern_t *in;
    const char *slot[INTERN_CACHE_SIZE];
    uint32_t hash[INTERN_CACHE_SIZE];
};

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
    in->cap = 256;
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
    intern_chunk_t *c = in->chunks;
    while (c) {
        intern_chunk_t *next = c->next;
        free(c);
        c = next;
    }
    for (size_t i = 0; i < INTERN_MAX_PAGES && in->pages[i]; i++)
        free(in->pages[i]);
    free(in->slots);
    free(in->hashes);
    pthread_mutex_destroy(&in->lock);
    free(in);
}

static int intern_grow(jd_intern_t *in)
{
    size_t ncap = in->cap * 2;
    const char **ns = calloc(ncap, sizeof(*ns));
    uint32_t *nh = calloc(ncap, sizeof(*nh));
    if (!ns || !nh) {
        free(ns);
        free(nh);
        return -1;
    }
    for (size_t i = 0; i < in->cap; i++) {
        if (!in->slots[i])
            continue;
        size_t j = in->hashes[i] & (ncap - 1);
        while (ns[j])
            j = (j + 1) & (ncap - 1);
        ns[j] = in->slots[i];
        nh[j] = in->hashes[i];
    }
    free(in->slots);
    free(in->hashes);
    in->slots = ns;
    in->hashes = nh;
    in->cap = ncap;
    return 0;
}

/* Stores [id][bytes][NUL] 4-byte aligned; returns the bytes. */
static char *intern_store(jd_intern_t *in, const char *s, size_t len, uint32_t id)
{
    size_t need = (4 + len + 1 + 3) & ~(size_t)3;
    intern_chunk_t *c = in->chunks;
    if (!c || c->cap - c->used < need) {
        size_t cap = need > INTERN_CHUNK ? need : INTERN_CHUNK;
        c = malloc(sizeof(*c) + cap);
        if (!c)
            return NULL;
        c->used = 0;
        c->cap = cap;
        c->next = in->chunks;
        in->chunks = c;
    }
    char *rec = c->data + c->used;
    memcpy(rec, &id, 4);
    memcpy(rec + 4, s, len);
    rec[4 + len] = '\0';
    c->used += need;
    return rec + 4;
}

static const char *intern_lookup(const jd_intern_t *in, const char *s, size_t len,
                                 uint32_t h, size_t *slot)
{
    size_t i = h & (in->cap - 1);
    while (in->slots[i]) {
        if (in->hashes[i] == h && strncmp(in->slots[i], s, len) == 0 &&
            in->slots[i][len] == '\0')
            return in->slots[i];
        i = (i + 1) & (in->cap - 1);
    }
    *slot = i;
    return NULL;
}

static const char *intern_locked(jd_intern_t *in, const char *s, size_t len, uint32_t h)
{
    size_t i;
    const char *found = intern_lookup(in, s, len, h, &i);
    if (found)
        return found;
    uint32_t id = (uint32_t)in->count + 1;
    uint32_t page = id >> INTERN_PAGE_BITS;
    if (page >= INTERN_MAX_PAGES)
        return NULL;
    if (!in->pages[page] && !(in->pages[page] = calloc(INTERN_PAGE, sizeof(char *))))
        return NULL;
    if ((in->count + 1) * 4 > in->cap * 3) {
        if (intern_grow(in) != 0)
            return NULL;
        intern_lookup(in, s, len, h, &i);
    }
    char *copy = intern_store(in, s, len, id);
    if (!copy)
        return NULL;
    in->pages[page][id & (INTERN_PAGE - 1)] = copy;
    in->slots[i] = copy;
    in->hashes[i] = h;
    in->count++;
    in->bytes += len + 1;
    return copy;
}

const char *jd_intern(jd_intern_t *in, const char *s, size_t len)
{
    uint32_t h = intern_hash(s, len);
    pthread_mutex_lock(&in->lock);
    const char *r = intern_locked(in, s, len, h);
    pthread_mutex_unlock(&in->lock);
    return r;
}

const char *jd_intern_str(jd_intern_t *in, const char *s)
{
    return jd_intern(in, s, strlen(s));
}

uint32_t jd_intern_id(const char *interned)
{
    if (!interned)
        return 0;
    uint32_t id;
    memcpy(&id, interned - 4, 4);
    return id;
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
    free(c);
}

const char *jd_intern_cached(jd_intern_cache_t *c, const char *s, size_t len)
{
    uint32_t h = intern_hash(s, len);
    size_t i = h & (INTERN_CACHE_SIZE - 1);
    const char *hit = c->slot[i];
    if (hit && c->hash[i] == h && strncmp(hit, s, len) == 0 && hit[len] == '\0')
        return hit;
    pthread_mutex_lock(&c->in->lock);
    const char *r = intern_locked(c->in, s, len, h);
    pthread_mutex_unlock(&c->in->lock);
    if (r) {
        /* Direct-mapped: a colliding value simply replaces the old one. */
        c->slot[i] = r;
        c->hash[i] = h;
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
