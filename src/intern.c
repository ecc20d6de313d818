/*
 * Open-addressing string interner. Strings are stored in large chunks so
 * interning a new value costs one copy and no per-string malloc.
 */
#include <stdlib.h>
#include <string.h>
#include "journeyd/intern.h"

#define INTERN_CHUNK (64 * 1024)

typedef struct intern_chunk {
    struct intern_chunk *next;
    size_t used, cap;
    char data[];
} intern_chunk_t;

struct jd_intern {
    const char **slots;   /* power-of-two table of interned pointers */
    uint32_t *hashes;
    size_t cap, count, bytes;
    intern_chunk_t *chunks;
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
    free(in->slots);
    free(in->hashes);
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

static char *intern_store(jd_intern_t *in, const char *s, size_t len)
{
    intern_chunk_t *c = in->chunks;
    if (!c || c->cap - c->used < len + 1) {
        size_t cap = len + 1 > INTERN_CHUNK ? len + 1 : INTERN_CHUNK;
        c = malloc(sizeof(*c) + cap);
        if (!c)
            return NULL;
        c->used = 0;
        c->cap = cap;
        c->next = in->chunks;
        in->chunks = c;
    }
    char *dst = c->data + c->used;
    memcpy(dst, s, len);
    dst[len] = '\0';
    c->used += len + 1;
    return dst;
}

const char *jd_intern(jd_intern_t *in, const char *s, size_t len)
{
    uint32_t h = intern_hash(s, len);
    size_t i = h & (in->cap - 1);
    while (in->slots[i]) {
        if (in->hashes[i] == h && strncmp(in->slots[i], s, len) == 0 &&
            in->slots[i][len] == '\0')
            return in->slots[i];
        i = (i + 1) & (in->cap - 1);
    }
    if ((in->count + 1) * 4 > in->cap * 3) {
        if (intern_grow(in) != 0)
            return NULL;
        i = h & (in->cap - 1);
        while (in->slots[i])
            i = (i + 1) & (in->cap - 1);
    }
    char *copy = intern_store(in, s, len);
    if (!copy)
        return NULL;
    in->slots[i] = copy;
    in->hashes[i] = h;
    in->count++;
    in->bytes += len + 1;
    return copy;
}

const char *jd_intern_str(jd_intern_t *in, const char *s)
{
    return jd_intern(in, s, strlen(s));
}

size_t jd_intern_count(const jd_intern_t *in)
{
    return in ? in->count : 0;
}

size_t jd_intern_bytes(const jd_intern_t *in)
{
    return in ? in->bytes : 0;
}
