/* Fixed-size summaries for the report: see sketch.h for their guarantees. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "sketch.h"

/* ---- histogram -------------------------------------------------------- */

void jd_rhist_init(jd_rhist_t *h)
{
    memset(h, 0, sizeof(*h));
    h->min = INT64_MAX;
    h->max = INT64_MIN;
}

static unsigned rhist_index(uint64_t v)
{
    if (v < 64)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);     /* 6..63 */
    unsigned sub = (unsigned)(v >> (e - JD_HIST_SUB_BITS)); /* 32..63 */
    unsigned i = 64u + (e - 6u) * 32u + (sub - 32u);
    return i < JD_HIST_BUCKETS ? i : JD_HIST_BUCKETS - 1;
}

static int64_t rhist_lowest(unsigned i)
{
    if (i < 64)
        return (int64_t)i;
    unsigned e = (i - 64u) / 32u + 6u, sub = (i - 64u) % 32u + 32u;
    return (int64_t)((uint64_t)sub << (e - JD_HIST_SUB_BITS));
}

void jd_rhist_add(jd_rhist_t *h, int64_t v)
{
    if (v < 0)
        v = 0;
    h->count[rhist_index((uint64_t)v)]++;
    h->n++;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

int64_t jd_rhist_quantile(const jd_rhist_t *h, double q)
{
    if (h->n == 0)
        return 0;
    double r = ceil(q * (double)h->n);
    uint64_t rank = r < 1.0 ? 1 : r > (double)h->n ? h->n : (uint64_t)r;
    if (rank == 1)
        return h->min;
    if (rank == h->n)
        return h->max;
    uint64_t seen = 0;
    for (unsigned i = 0; i < JD_HIST_BUCKETS; i++) {
        seen += h->count[i];
        if (seen >= rank) {
            int64_t v = rhist_lowest(i);
            return v < h->min ? h->min : v > h->max ? h->max : v;
        }
    }
    return h->max;
}

/* ---- space-saving top-k ------------------------------------------------ */

jd_topk_t *jd_topk_new(size_t k)
{
    if (k == 0)
        k = 1;
    jd_topk_t *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->k = k;
    t->nidx = 4;
    while (t->nidx < 2 * k)
        t->nidx <<= 1;
    if (!(t->items = calloc(k, sizeof(*t->items))) || !(t->heap = calloc(k, sizeof(uint32_t))) ||
        !(t->hpos = calloc(k, sizeof(uint32_t))) || !(t->index = calloc(t->nidx, sizeof(uint32_t)))) {
        jd_topk_destroy(t);
        return NULL;
    }
    return t;
}

void jd_topk_destroy(jd_topk_t *t)
{
    if (!t)
        return;
    free(t->items);
    free(t->heap);
    free(t->hpos);
    free(t->index);
    free(t);
}

static void heap_swap(jd_topk_t *t, size_t a, size_t b)
{
    uint32_t x = t->heap[a];
    t->heap[a] = t->heap[b];
    t->heap[b] = x;
    t->hpos[t->heap[a]] = (uint32_t)a;
    t->hpos[t->heap[b]] = (uint32_t)b;
}

#define HCOUNT(t, p) ((t)->items[(t)->heap[p]].count)

static void heap_up(jd_topk_t *t, size_t p)
{
    while (p > 0 && HCOUNT(t, (p - 1) / 2) > HCOUNT(t, p)) {
        heap_swap(t, p, (p - 1) / 2);
        p = (p - 1) / 2;
    }
}

static void heap_down(jd_topk_t *t, size_t p)
{
    for (;;) {
        size_t l = 2 * p + 1, m = p;
        if (l < t->n && HCOUNT(t, l) < HCOUNT(t, m))
            m = l;
        if (l + 1 < t->n && HCOUNT(t, l + 1) < HCOUNT(t, m))
            m = l + 1;
        if (m == p)
            return;
        heap_swap(t, p, m);
        p = m;
    }
}

/* Removes item i from the key index (backward-shift deletion). */
static void index_remove(jd_topk_t *t, uint32_t i)
{
    size_t mask = t->nidx - 1, j = (size_t)(t->items[i].hash & mask);
    while (t->index[j] != i + 1)
        j = (j + 1) & mask;
    for (size_t k = j;;) {
        t->index[j] = 0;
        for (;;) {
            k = (k + 1) & mask;
            if (!t->index[k])
                return;
            size_t home = (size_t)(t->items[t->index[k] - 1].hash & mask);
            /* stays if its home lies cyclically in (j, k] */
            if (j < k ? (j < home && home <= k) : (j < home || home <= k))
                continue;
            t->index[j] = t->index[k];
            j = k;
            break;
        }
    }
}

static void index_put(jd_topk_t *t, uint32_t i)
{
    size_t mask = t->nidx - 1, j = (size_t)(t->items[i].hash & mask);
    while (t->index[j])
        j = (j + 1) & mask;
    t->index[j] = i + 1;
}

jd_topk_item_t *jd_topk_add(jd_topk_t *t, const char *key, size_t len, int *replaced)
{
    if (len >= JD_TOPK_KEYLEN) {
        len = JD_TOPK_KEYLEN - 1;
        while (len > 0 && ((unsigned char)key[len] & 0xC0) == 0x80)
            len--;   /* do not split a UTF-8 sequence */
    }
    uint64_t h = jd_report_hash(key, len, 0);
    *replaced = 0;
    t->total++;
    size_t mask = t->nidx - 1;
    for (size_t j = (size_t)(h & mask); t->index[j]; j = (j + 1) & mask) {
        uint32_t i = t->index[j] - 1;
        jd_topk_item_t *it = &t->items[i];
        if (it->hash == h && strlen(it->key) == len && memcmp(it->key, key, len) == 0) {
            it->count++;
            heap_down(t, t->hpos[i]);
            return it;
        }
    }
    uint32_t i;
    if (t->n < t->k) {
        i = (uint32_t)t->n++;
        t->items[i].count = 0;
        t->items[i].err = 0;
        t->heap[i] = i;
        t->hpos[i] = i;
    } else {
        i = t->heap[0];   /* the smallest count: its key is dropped */
        index_remove(t, i);
        t->items[i].err = t->items[i].count;
        *replaced = 1;
    }
    jd_topk_item_t *it = &t->items[i];
    it->hash = h;
    memcpy(it->key, key, len);
    it->key[len] = '\0';
    it->count++;
    index_put(t, i);
    heap_up(t, t->hpos[i]);
    heap_down(t, t->hpos[i]);
    return it;
}

static int topk_cmp(const void *a, const void *b)
{
    const jd_topk_item_t *x = *(const jd_topk_item_t *const *)a;
    const jd_topk_item_t *y = *(const jd_topk_item_t *const *)b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->key, y->key);
}

void jd_topk_sorted(const jd_topk_t *t, const jd_topk_item_t **out)
{
    for (size_t i = 0; i < t->n; i++)
        out[i] = &t->items[i];
    qsort(out, t->n, sizeof(*out), topk_cmp);
}

/* ---- HyperLogLog ------------------------------------------------------- */

void jd_hll_add(jd_hll_t *h, uint64_t hash)
{
    uint32_t idx = (uint32_t)(hash >> (64 - JD_HLL_P));
    uint64_t rest = hash << JD_HLL_P;
    uint8_t rank = rest ? (uint8_t)(__builtin_clzll(rest) + 1) : (uint8_t)(64 - JD_HLL_P + 1);
    if (rank > h->reg[idx])
        h->reg[idx] = rank;
}

uint64_t jd_hll_count(const jd_hll_t *h)
{
    double m = (double)JD_HLL_M, sum = 0.0;
    unsigned zeros = 0;
    for (unsigned i = 0; i < JD_HLL_M; i++) {
        sum += ldexp(1.0, -(int)h->reg[i]);
        zeros += h->reg[i] == 0;
    }
    double est = (0.7213 / (1.0 + 1.079 / m)) * m * m / sum;
    if (est <= 2.5 * m && zeros > 0)
        est = m * log(m / (double)zeros);
    return (uint64_t)llround(est);
}

/* ---- time series ------------------------------------------------------- */

static int64_t floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

jd_tseries_t *jd_tseries_new(uint32_t nseries, int64_t min_width)
{
    jd_tseries_t *t = calloc(1, sizeof(*t));
    if (!t || !(t->count = calloc((size_t)(nseries ? nseries : 1) * JD_TSERIES_BUCKETS,
                                  sizeof(uint64_t)))) {
        free(t);
        return NULL;
    }
    t->nseries = nseries;
    t->min_width = min_width > 0 ? min_width : 1;
    return t;
}

void jd_tseries_destroy(jd_tseries_t *t)
{
    if (!t)
        return;
    free(t->count);
    free(t);
}

/* Doubles the width until [lo, hi] and every held bucket fit, merging. */
static void tseries_grow(jd_tseries_t *t, int64_t lo, int64_t hi)
{
    int64_t w = t->width, o = t->origin, nw = w, no;
    do {
        if (nw > INT64_MAX / (4 * JD_TSERIES_BUCKETS))
            return;   /* a span of ~10^14 years: not a real event time */
        nw *= 2;
        no = floordiv(lo, nw) * nw;
    } while (hi - no >= nw * JD_TSERIES_BUCKETS);
    for (uint32_t s = 0; s < t->nseries; s++) {
        uint64_t tmp[JD_TSERIES_BUCKETS] = {0};
        uint64_t *row = &t->count[(size_t)s * JD_TSERIES_BUCKETS];
        for (int b = 0; b < JD_TSERIES_BUCKETS; b++)
            if (row[b])
                tmp[(o + b * w - no) / nw] += row[b];
        memcpy(row, tmp, sizeof(tmp));
    }
    t->width = nw;
    t->origin = no;
}

void jd_tseries_add(jd_tseries_t *t, uint32_t series, int64_t ts)
{
    if (series >= t->nseries)
        return;
    if (t->width == 0) {
        t->width = t->min_width;
        t->origin = floordiv(ts, t->width) * t->width;
    }
    int64_t end = t->origin + t->width * JD_TSERIES_BUCKETS;
    if (ts < t->origin || ts >= end) {
        tseries_grow(t, ts < t->origin ? ts : t->origin, ts >= end ? ts : end - 1);
        end = t->origin + t->width * JD_TSERIES_BUCKETS;
        if (ts < t->origin || ts >= end)
            return;
    }
    t->count[(size_t)series * JD_TSERIES_BUCKETS + (size_t)((ts - t->origin) / t->width)]++;
}

uint64_t jd_report_hash(const char *s, size_t len, uint64_t seed)
{
    uint64_t h = 1469598103934665603ull ^ seed;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    /* splitmix64's finaliser: FNV's low bits are weak for table indexes */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}
