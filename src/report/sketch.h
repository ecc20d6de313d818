/*
 * Fixed-size summaries for the report's collector: each structure's memory
 * is set when it is created and never grows with the input, so a report of
 * a billion events costs what a report of a thousand does. Private to
 * src/report/ (and its unit test).
 *
 *   jd_rhist_t    log-linear histogram of non-negative integers (durations
 *                 in ms): exact below 64, then 32 buckets per power of two
 *                 (a value is reported as its bucket's lowest value, at most
 *                 1/32 = 3.1% below the truth), clamped to the exact min/max.
 *   jd_topk_t     space-saving top-k (Metwally et al. 2005) over string keys:
 *                 k counters; a key not held replaces the smallest, which
 *                 then counts as that key's possible overestimate (err).
 *                 Any key with true count > n/k is held; count - err <=
 *                 true count <= count.
 *   jd_hll_t      HyperLogLog distinct counter with 2^12 one-byte registers
 *                 (4 KiB, standard error 1.6%; linear counting below 2.5m,
 *                 so small counts are exact unless two hashes collide).
 *   jd_tseries_t  counts per time bucket for several series over a fixed
 *                 number of buckets; when a time falls outside the range the
 *                 bucket width doubles (pairs merge), so the whole span always
 *                 fits and no count is lost.
 */
#ifndef JOURNEYD_REPORT_SKETCH_H
#define JOURNEYD_REPORT_SKETCH_H

#include <stddef.h>
#include <stdint.h>

/* ---- histogram -------------------------------------------------------- */

#define JD_HIST_SUB_BITS 5
#define JD_HIST_BUCKETS (64 + (63 - 6) * 32)

typedef struct jd_rhist {
    uint64_t n;
    int64_t min, max;
    uint64_t count[JD_HIST_BUCKETS];
} jd_rhist_t;

void jd_rhist_init(jd_rhist_t *h);
/* Negative values count as 0. */
void jd_rhist_add(jd_rhist_t *h, int64_t v);
/* Nearest-rank quantile (q in [0,1]): the value of rank ceil(q*n) (at least
 * 1) in sorted order, as its bucket's lowest value clamped to [min, max];
 * the first and last ranks are the exact min and max. 0 when empty. */
int64_t jd_rhist_quantile(const jd_rhist_t *h, double q);

/* ---- space-saving top-k ------------------------------------------------ */

#define JD_TOPK_KEYLEN 96   /* longer keys are cut (on a UTF-8 boundary) */

typedef struct jd_topk_item {
    uint64_t hash;
    uint64_t count;
    uint64_t err;           /* count may exceed the truth by at most err */
    char key[JD_TOPK_KEYLEN];
} jd_topk_item_t;

typedef struct jd_topk {
    size_t k, n;
    uint64_t total;         /* every add, held or not */
    jd_topk_item_t *items;  /* n held, in no order */
    /* The smallest count is found in O(log k) (a min-heap over item
     * indexes) and a key in O(1) (open addressing over item indexes), so
     * a flat stream that replaces on every add stays cheap at any k. */
    uint32_t *heap, *hpos;
    uint32_t *index;        /* item + 1, 0 = empty; nidx a power of two >= 2k */
    size_t nidx;
} jd_topk_t;

/* NULL on allocation failure; free with jd_topk_destroy (NULL-safe). */
jd_topk_t *jd_topk_new(size_t k);
void jd_topk_destroy(jd_topk_t *t);
/* Counts one occurrence of key[0..len). Returns the item now holding it;
 * *replaced is set to 1 when that item held another key before (what the
 * caller keeps beside items[i] belongs to that key and must be reset). */
jd_topk_item_t *jd_topk_add(jd_topk_t *t, const char *key, size_t len, int *replaced);
/* The held items sorted by count (descending, then key); out has t->n
 * entries. Borrowed pointers into t. */
void jd_topk_sorted(const jd_topk_t *t, const jd_topk_item_t **out);

/* ---- HyperLogLog ------------------------------------------------------- */

#define JD_HLL_P 12
#define JD_HLL_M (1u << JD_HLL_P)

typedef struct jd_hll {
    uint8_t reg[JD_HLL_M];
} jd_hll_t;

void jd_hll_add(jd_hll_t *h, uint64_t hash);
uint64_t jd_hll_count(const jd_hll_t *h);

/* ---- time series ------------------------------------------------------- */

#define JD_TSERIES_BUCKETS 96

typedef struct jd_tseries {
    uint32_t nseries;
    int64_t origin;         /* start of bucket 0 (a multiple of width) */
    int64_t width;          /* ms; 0 before the first add */
    int64_t min_width;
    uint64_t *count;        /* nseries x JD_TSERIES_BUCKETS */
} jd_tseries_t;

/* min_width: the first (smallest) bucket width in ms. NULL on OOM. */
jd_tseries_t *jd_tseries_new(uint32_t nseries, int64_t min_width);
void jd_tseries_destroy(jd_tseries_t *t);
void jd_tseries_add(jd_tseries_t *t, uint32_t series, int64_t ts);
static inline uint64_t jd_tseries_at(const jd_tseries_t *t, uint32_t s, int b)
{
    return t->count[(size_t)s * JD_TSERIES_BUCKETS + (size_t)b];
}

/* 64-bit FNV-1a with a final mix: keys for the collector's tables. */
uint64_t jd_report_hash(const char *s, size_t len, uint64_t seed);

#endif
