/*
 * bench/gen.c — deterministic load generator for `make bench`.
 *
 *   gen -n EVENTS -c CUSTOMERS -s SEED -o FILE --truth TRUTHFILE
 *       [--span-h HOURS] [--pattern-pct P] [--zipf S] [--cap N]
 *
 * Writes EVENTS NDJSON lines in the canonical schema (contract section 2)
 * for CUSTOMERS customers over HOURS of event time (default 6), and the
 * truth file: one JSON line per alert the default rules (contract section 5)
 * must emit, plus "expect":0 lines for negative controls (completed
 * checkouts). Same arguments, same bytes: the only randomness is a
 * splitmix64 stream per (seed, customer, purpose).
 *
 * Background traffic cannot trigger a default rule, by construction:
 *   - it has no error, login_failed, payment_failed, support_contact,
 *     add_to_cart, checkout_start or purchase events, so error_burst,
 *     login_failures, checkout_dropoff, channel_escalation and
 *     repeat_contact have nothing to count;
 *   - two background events of one customer (all identities of it
 *     together) are always more than 4 s apart in event time, so no two
 *     clicks are within rage_click's 1 s gap;
 *   - two consecutive background page_views of one customer are on
 *     different pages, so three page_views on one page are at least four
 *     gaps (> 16 s) apart, outside page_loop's 15 s.
 * Injected patterns use pages, elements and event types the background
 * never uses, so they cannot combine with background events.
 *
 * File order is event-time order with jitter: each event is written at
 * sort key ts + U[0, 1900) ms, so an event can precede one up to 1.9 s
 * older — inside the default 5 s lateness, never late.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- PRNG: splitmix64 ------------------------------------------------- */

typedef struct { uint64_t s; } rng_t;

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rng_next(rng_t *r)
{
    r->s += 0x9e3779b97f4a7c15ULL;
    return mix64(r->s);
}

/* One independent stream per (seed, customer, purpose). */
static rng_t rng_for(uint64_t seed, uint64_t k, uint64_t purpose)
{
    rng_t r = { mix64(seed ^ mix64(k * 0x100000001b3ULL + purpose * 0x9e3779b97f4a7c15ULL)) };
    return r;
}

static double rng_unit(rng_t *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }
static uint64_t rng_below(rng_t *r, uint64_t n) { return n ? rng_next(r) % n : 0; }
static int64_t rng_range(rng_t *r, int64_t lo, int64_t hi) /* [lo, hi] */
{
    return lo + (int64_t)rng_below(r, (uint64_t)(hi - lo + 1));
}

/* The anonymous id of customer k: a bijection on 32 bits (xor-shift and
 * odd multiplies), so two customers never share one. */
static unsigned anon_id(uint32_t k)
{
    uint32_t h = k ^ 0xa5a5a5a5u;
    h ^= h >> 16;
    h *= 0x7feb352du;
    h ^= h >> 15;
    h *= 0x846ca68bu;
    h ^= h >> 16;
    return h;
}

/* ---- vocabulary ------------------------------------------------------- */

enum {
    T_PAGE_VIEW, T_CLICK, T_SEARCH, T_LOGIN, T_EMAIL_OPEN, T_EMAIL_CLICK,
    T_NOTIFICATION_OPEN, T_SMS_DELIVERED, T_STORE_VISIT, T_SURVEY,
    /* pattern-only types from here */
    T_ERROR, T_LOGIN_FAILED, T_PAYMENT_FAILED, T_ADD_TO_CART,
    T_CHECKOUT_START, T_PURCHASE, T_SUPPORT_CONTACT, T__COUNT
};
static const char *const type_names[T__COUNT] = {
    "page_view", "click", "search", "login", "email_open", "email_click",
    "notification_open", "sms_delivered", "store_visit", "survey",
    "error", "login_failed", "payment_failed", "add_to_cart",
    "checkout_start", "purchase", "support_contact",
};

enum { CH_WEB, CH_APP, CH_EMAIL, CH_SMS, CH_STORE, CH_CHAT, CH_CALL, CH__COUNT };
static const char *const chan_names[CH__COUNT] = {
    "web", "app", "email", "sms", "store", "chat", "call",
};

/* Background page catalog: page index p < NPAGES_BG is rendered from the
 * section table; the pattern pages come after. */
static const char *const sections[] = {
    "/products/shoes", "/products/jackets", "/products/bags", "/products/watches",
    "/products/shirts", "/products/accessories", "/collections/winter-sale",
    "/collections/new-arrivals", "/help/articles", "/blog/posts",
    "/account/orders", "/stores/locations",
};
#define NSECTIONS (sizeof sections / sizeof sections[0])
#define NPAGES_BG 4800
static const char *const fixed_pages[] = { "/", "/search", "/cart", "/account" };
#define NFIXED (sizeof fixed_pages / sizeof fixed_pages[0])
enum { PG_RAGE = NPAGES_BG, PG_LOOP, PG_CART, PG_CHECKOUT, PG_CONFIRM, PG_LOGIN,
       PG_PAYMENT_ERR, PG_NONE };
static const char *const pattern_pages[] = {
    "/checkout/payment", "/orders/status", "/cart/items", "/checkout/shipping",
    "/checkout/confirmation", "/login", "/checkout/payment/error",
};

static int render_page(char *buf, size_t n, unsigned p)
{
    if (p >= NPAGES_BG)
        return snprintf(buf, n, "%s", pattern_pages[p - NPAGES_BG]);
    if (p < NFIXED)
        return snprintf(buf, n, "%s", fixed_pages[p]);
    return snprintf(buf, n, "%s/item-%05u", sections[p % NSECTIONS], 10007 + p * 7);
}

static const char *const elements[] = {
    "#add-to-wishlist", "#size-selector", "nav.main-menu a.sale", "#image-gallery-next",
    "button.filter-apply", "#reviews-tab", "a.product-card", "#newsletter-close",
    "button.share", "#color-swatch-2", "a.breadcrumb", "#sort-by-price",
    /* pattern-only */
    "#place-order",
};
#define NELEM_BG 12
#define EL_RAGE 12
#define EL_NONE 255

/* ---- events ----------------------------------------------------------- */

enum { ID_CUST = 0, ID_ANON = 1, ID_BOTH = 2 };

typedef struct ev {
    int64_t ts;
    int64_t key;      /* sort key: ts + jitter */
    uint32_t cust;
    uint32_t pat;     /* pattern index + 1, 0 for background */
    uint32_t seq;     /* generation order, tie-break */
    uint16_t page;    /* PG_NONE = no page */
    uint16_t sess;
    uint8_t type, chan, elem, idm;
} ev_t;

static ev_t *evs;
static size_t nevs, capevs;

static ev_t *ev_add(void)
{
    if (nevs == capevs) {
        fprintf(stderr, "gen: internal error: event array overflow\n");
        exit(1);
    }
    ev_t *e = &evs[nevs];
    memset(e, 0, sizeof *e);
    e->seq = (uint32_t)nevs;
    e->page = PG_NONE;
    e->elem = EL_NONE;
    nevs++;
    return e;
}

/* ---- patterns --------------------------------------------------------- */

enum {
    P_RAGE, P_ERROR_BURST, P_LOGIN_FAIL, P_PAGE_LOOP, P_DROPOFF, P_COMPLETE,
    P_ESCALATION, P_REPEAT,
    /* anonymous-class customers */
    P_RAGE_ANON, P_PAGE_LOOP_ANON, P_ERROR_BURST_STITCHED, P_DROPOFF_STITCHED,
    P_COMPLETE_STITCHED, P__COUNT
};
static const char *const pat_names[P__COUNT] = {
    "rage_click", "error_burst", "login_failures", "page_loop", "checkout_dropoff",
    "checkout_complete", "channel_escalation", "repeat_contact",
    "rage_click_anonymous", "page_loop_anonymous", "error_burst_stitched",
    "checkout_dropoff_stitched", "checkout_complete_stitched",
};
/* The rule each pattern must fire (the control patterns name the rule that
 * must NOT fire) and whether the alert names the anonymous identity. */
static const char *const pat_rule[P__COUNT] = {
    "rage_click", "error_burst", "login_failures", "page_loop", "checkout_dropoff",
    "checkout_dropoff", "channel_escalation", "repeat_contact",
    "rage_click", "page_loop", "error_burst", "checkout_dropoff", "checkout_dropoff",
};
static const int pat_expect[P__COUNT] = { 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 0 };
static const int pat_anon_alert[P__COUNT] = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0 };
/* Events per pattern (checkout_dropoff: +1 when it reaches checkout_start). */
static const int pat_events[P__COUNT] = { 4, 3, 3, 3, 1, 3, 2, 2, 4, 3, 4, 3, 4 };

#define MAX_PAT_EV 6
typedef struct pattern {
    uint32_t cust;
    uint8_t kind;
    uint8_t variant;  /* checkout_dropoff: 1 = also reached checkout_start */
    uint8_t nev;
    int64_t t0;
    uint64_t file_idx[MAX_PAT_EV];
} pattern_t;

/* Identity classes. */
enum { CL_KNOWN, CL_STITCH, CL_ANON };

typedef struct cust {
    uint32_t nbg;     /* background events */
    int32_t pat;      /* pattern index or -1 */
    uint8_t cls;
    uint8_t device;   /* CH_WEB or CH_APP */
} cust_t;

/* ---- time formatting ---------------------------------------------------- */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int fmt_ts(char *buf, int64_t ms)
{
    int64_t days = ms / 86400000, rem = ms % 86400000;
    /* civil_from_days */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    return sprintf(buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", (int)y, m, d,
                   (int)(rem / 3600000), (int)(rem / 60000 % 60),
                   (int)(rem / 1000 % 60), (int)(rem % 1000));
}

/* ---- background generation --------------------------------------------- */

#define MIN_GAP_MS 4001  /* > 4 s between two background events of one customer */

static unsigned pick_page(rng_t *r)
{
    /* skewed popularity: a few hot pages, a long tail */
    double u = rng_unit(r);
    if (u < 0.10)
        return (unsigned)rng_below(r, NFIXED);
    unsigned p = (unsigned)(NFIXED + (NPAGES_BG - NFIXED) * pow(rng_unit(r), 3.0));
    return p < NPAGES_BG ? p : NPAGES_BG - 1;
}

static void gen_background(uint64_t seed, uint32_t k, const cust_t *c,
                           int64_t t_begin, int64_t span)
{
    uint32_t n = c->nbg;
    if (!n)
        return;
    rng_t r = rng_for(seed, k, 2);

    /* Gaps: MIN_GAP_MS + extra; extra is in-session think time or a
     * session break. Scale extras down if they do not fit the span. */
    static int64_t *extra;
    static uint8_t *brk;
    static uint32_t cap;
    if (n > cap) {
        cap = n * 2;
        extra = realloc(extra, cap * sizeof *extra);
        brk = realloc(brk, cap);
        if (!extra || !brk) {
            fprintf(stderr, "gen: out of memory\n");
            exit(1);
        }
    }
    double sum = 0;
    for (uint32_t i = 1; i < n; i++) {
        brk[i] = rng_unit(&r) < 0.12;
        if (brk[i])
            extra[i] = rng_range(&r, 10 * 60000, 90 * 60000);
        else {
            double x = -12000.0 * log(1.0 - rng_unit(&r));
            extra[i] = x > 120000 ? 120000 : (int64_t)x;
        }
        sum += (double)extra[i];
    }
    int64_t avail = span - (int64_t)(n - 1) * MIN_GAP_MS;
    double f = (sum > (double)avail) ? (double)avail / sum : 1.0;
    int64_t total = 0;
    for (uint32_t i = 1; i < n; i++) {
        extra[i] = (int64_t)((double)extra[i] * f);
        total += MIN_GAP_MS + extra[i];
    }
    int64_t t = t_begin + (int64_t)rng_below(&r, (uint64_t)(span - total + 1));

    uint32_t link_at = UINT32_MAX; /* CL_STITCH: index of the linking event */
    if (c->cls == CL_STITCH)
        link_at = n > 1 ? 1 + (uint32_t)rng_below(&r, n - 1 < 6 ? n - 1 : 6) : 0;
    unsigned last_pv = UINT32_MAX & 0xffff, cur_page = 0;
    uint16_t sess = 0;

    for (uint32_t i = 0; i < n; i++) {
        if (i) {
            t += MIN_GAP_MS + extra[i];
            if (brk[i])
                sess++;
        }
        ev_t *e = ev_add();
        e->ts = t;
        e->cust = k;
        e->sess = sess;
        uint8_t dev = rng_unit(&r) < 0.9 ? c->device : (uint8_t)(c->device ^ 1);

        switch (c->cls) {
        case CL_KNOWN: e->idm = ID_CUST; break;
        case CL_ANON:  e->idm = ID_ANON; break;
        default:
            e->idm = i < link_at ? ID_ANON : i == link_at ? ID_BOTH
                   : rng_unit(&r) < 0.2 ? ID_ANON : ID_CUST;
        }
        if (i == link_at) {
            e->type = T_LOGIN;
            e->chan = dev;
            e->page = PG_LOGIN;
            continue;
        }
        double u = rng_unit(&r);
        if (u < 0.55 || i == 0) {
            unsigned p = pick_page(&r);
            if (p == last_pv)
                p = (p + 1) % NPAGES_BG;
            e->type = T_PAGE_VIEW;
            e->chan = dev;
            e->page = (uint16_t)p;
            last_pv = cur_page = p;
        } else if (u < 0.80) {
            e->type = T_CLICK;
            e->chan = dev;
            e->page = (uint16_t)cur_page;
            e->elem = (uint8_t)rng_below(&r, NELEM_BG);
        } else if (u < 0.86) {
            e->type = T_SEARCH;
            e->chan = dev;
            e->page = 1; /* /search */
        } else if (u < 0.88) {
            e->type = T_LOGIN;
            e->chan = dev;
            e->page = PG_LOGIN;
        } else if (u < 0.92) {
            e->type = T_EMAIL_OPEN;
            e->chan = CH_EMAIL;
        } else if (u < 0.94) {
            e->type = T_EMAIL_CLICK;
            e->chan = CH_EMAIL;
        } else if (u < 0.97) {
            e->type = T_NOTIFICATION_OPEN;
            e->chan = CH_APP;
        } else if (u < 0.985) {
            e->type = T_SMS_DELIVERED;
            e->chan = CH_SMS;
        } else if (u < 0.993) {
            e->type = T_STORE_VISIT;
            e->chan = CH_STORE;
        } else {
            e->type = T_SURVEY;
            e->chan = CH_EMAIL;
        }
    }
}

/* ---- pattern generation ------------------------------------------------ */

static void pev(pattern_t *p, uint32_t pi, int64_t t, uint8_t type, uint8_t chan,
                uint16_t page, uint8_t elem, uint8_t idm)
{
    ev_t *e = ev_add();
    e->ts = t;
    e->cust = p->cust;
    e->pat = pi + 1;
    e->type = type;
    e->chan = chan;
    e->page = page;
    e->elem = elem;
    e->idm = idm;
    e->sess = 900 + (uint16_t)p->kind; /* a session of its own */
}

static void gen_pattern(uint64_t seed, pattern_t *p, uint32_t pi, uint8_t dev)
{
    rng_t r = rng_for(seed, p->cust, 3);
    int64_t t = p->t0;
    const uint8_t C = ID_CUST, A = ID_ANON, B = ID_BOTH;
    switch (p->kind) {
    case P_RAGE:
    case P_RAGE_ANON: {
        uint8_t id = p->kind == P_RAGE ? C : A;
        pev(p, pi, t - rng_range(&r, 2000, 8000), T_PAGE_VIEW, dev, PG_RAGE, EL_NONE, id);
        for (int i = 0; i < 3; i++) /* 3 clicks, ~300 ms apart (gap 1 s) */
            pev(p, pi, t + i * 300 + rng_range(&r, -40, 40), T_CLICK, dev, PG_RAGE, EL_RAGE, id);
        break;
    }
    case P_ERROR_BURST: /* 3 errors within 60 s (last - first <= 45 s) */
        pev(p, pi, t, T_ERROR, dev, PG_PAYMENT_ERR, EL_NONE, C);
        pev(p, pi, t + rng_range(&r, 5000, 15000), T_ERROR, dev, PG_PAYMENT_ERR, EL_NONE, C);
        pev(p, pi, t + rng_range(&r, 20000, 45000), T_ERROR, dev, PG_PAYMENT_ERR, EL_NONE, C);
        break;
    case P_ERROR_BURST_STITCHED: /* 2 anonymous errors, login links, 1 known error */
        pev(p, pi, t, T_ERROR, dev, PG_PAYMENT_ERR, EL_NONE, A);
        pev(p, pi, t + 10000, T_ERROR, dev, PG_PAYMENT_ERR, EL_NONE, A);
        pev(p, pi, t + 20000, T_LOGIN, dev, PG_LOGIN, EL_NONE, B);
        pev(p, pi, t + 30000, T_ERROR, dev, PG_PAYMENT_ERR, EL_NONE, C);
        break;
    case P_LOGIN_FAIL: /* 3 login_failed within 10 m (last - first <= 8 m) */
        pev(p, pi, t, T_LOGIN_FAILED, dev, PG_LOGIN, EL_NONE, C);
        pev(p, pi, t + rng_range(&r, 60000, 180000), T_LOGIN_FAILED, dev, PG_LOGIN, EL_NONE, C);
        pev(p, pi, t + rng_range(&r, 240000, 480000), T_LOGIN_FAILED, dev, PG_LOGIN, EL_NONE, C);
        break;
    case P_PAGE_LOOP:
    case P_PAGE_LOOP_ANON: { /* 3 page_views of one page within 15 s (<= 12 s) */
        uint8_t id = p->kind == P_PAGE_LOOP ? C : A;
        pev(p, pi, t, T_PAGE_VIEW, dev, PG_LOOP, EL_NONE, id);
        pev(p, pi, t + rng_range(&r, 4000, 6000), T_PAGE_VIEW, dev, PG_LOOP, EL_NONE, id);
        pev(p, pi, t + rng_range(&r, 9000, 12000), T_PAGE_VIEW, dev, PG_LOOP, EL_NONE, id);
        break;
    }
    case P_DROPOFF: /* add_to_cart [, checkout_start], then nothing */
        pev(p, pi, t, T_ADD_TO_CART, dev, PG_CART, EL_NONE, C);
        if (p->variant)
            pev(p, pi, t + rng_range(&r, 60000, 300000), T_CHECKOUT_START, dev,
                PG_CHECKOUT, EL_NONE, C);
        break;
    case P_DROPOFF_STITCHED: /* anonymous add_to_cart, login links, checkout_start */
        pev(p, pi, t, T_ADD_TO_CART, dev, PG_CART, EL_NONE, A);
        pev(p, pi, t + 60000, T_LOGIN, dev, PG_LOGIN, EL_NONE, B);
        pev(p, pi, t + 180000, T_CHECKOUT_START, dev, PG_CHECKOUT, EL_NONE, C);
        break;
    case P_COMPLETE: /* the whole funnel within 30 m: no alert */
        pev(p, pi, t, T_ADD_TO_CART, dev, PG_CART, EL_NONE, C);
        pev(p, pi, t + rng_range(&r, 120000, 300000), T_CHECKOUT_START, dev, PG_CHECKOUT, EL_NONE, C);
        pev(p, pi, t + rng_range(&r, 360000, 1200000), T_PURCHASE, dev, PG_CONFIRM, EL_NONE, C);
        break;
    case P_COMPLETE_STITCHED: /* anonymous cart + checkout, login, known purchase */
        pev(p, pi, t, T_ADD_TO_CART, dev, PG_CART, EL_NONE, A);
        pev(p, pi, t + 120000, T_CHECKOUT_START, dev, PG_CHECKOUT, EL_NONE, A);
        pev(p, pi, t + 180000, T_LOGIN, dev, PG_LOGIN, EL_NONE, B);
        pev(p, pi, t + 300000, T_PURCHASE, dev, PG_CONFIRM, EL_NONE, C);
        break;
    case P_ESCALATION: /* payment_failed, then a call within 24 h (<= 60 m) */
        pev(p, pi, t, T_PAYMENT_FAILED, dev, PG_PAYMENT_ERR, EL_NONE, C);
        pev(p, pi, t + rng_range(&r, 300000, 3600000), T_SUPPORT_CONTACT, CH_CALL,
            PG_NONE, EL_NONE, C);
        break;
    case P_REPEAT: /* 2 support contacts within 7 d (<= 90 m), no prior error */
        pev(p, pi, t, T_SUPPORT_CONTACT, CH_CHAT, PG_NONE, EL_NONE, C);
        pev(p, pi, t + rng_range(&r, 600000, 5400000), T_SUPPORT_CONTACT, CH_CALL,
            PG_NONE, EL_NONE, C);
        break;
    }
}

/* ---- output ----------------------------------------------------------- */

static int cmp_ev(const void *a, const void *b)
{
    const ev_t *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void usage(void)
{
    fprintf(stderr,
        "usage: gen -n EVENTS -c CUSTOMERS -s SEED -o FILE --truth TRUTHFILE\n"
        "           [--span-h HOURS (6, >= 2)] [--pattern-pct P (2)] [--zipf S (1.0)] [--cap N (1000)]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    uint64_t n_events = 0, n_cust = 0, seed = 1;
    const char *out = NULL, *truth = NULL;
    double span_h = 6, pattern_pct = 2, zipf_s = 1.0;
    uint64_t cap_per = 1000;
    static const struct option lo[] = {
        { "truth", required_argument, NULL, 't' },
        { "span-h", required_argument, NULL, 'H' },
        { "pattern-pct", required_argument, NULL, 'p' },
        { "zipf", required_argument, NULL, 'z' },
        { "cap", required_argument, NULL, 'm' },
        { NULL, 0, NULL, 0 },
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "n:c:s:o:", lo, NULL)) != -1) {
        switch (opt) {
        case 'n': n_events = strtoull(optarg, NULL, 10); break;
        case 'c': n_cust = strtoull(optarg, NULL, 10); break;
        case 's': seed = strtoull(optarg, NULL, 10); break;
        case 'o': out = optarg; break;
        case 't': truth = optarg; break;
        case 'H': span_h = atof(optarg); break;
        case 'p': pattern_pct = atof(optarg); break;
        case 'z': zipf_s = atof(optarg); break;
        case 'm': cap_per = strtoull(optarg, NULL, 10); break;
        default: usage();
        }
    }
    if (!n_events || !n_cust || !out || !truth || optind != argc || span_h < 2 ||
        pattern_pct < 0 || pattern_pct > 50 || n_cust > UINT32_MAX / 2 || cap_per < 1)
        usage();

    const int64_t t_begin = days_from_civil(2026, 11, 22) * 86400000LL + 6 * 3600000LL;
    const int64_t span = (int64_t)(span_h * 3600000.0);
    /* At most one background event per MIN_GAP_MS, with room to spare. */
    uint64_t max_cap = (uint64_t)(span / MIN_GAP_MS) / 2;
    if (cap_per > max_cap)
        cap_per = max_cap;

    cust_t *cs = calloc(n_cust, sizeof *cs);
    pattern_t *pats = calloc(n_cust / 2 + 16, sizeof *pats);
    if (!cs || !pats) {
        fprintf(stderr, "gen: out of memory\n");
        return 1;
    }

    /* Pass 1: identity class, device, pattern per customer. */
    size_t npat = 0;
    uint64_t pat_ev_total = 0;
    for (uint32_t k = 0; k < n_cust; k++) {
        rng_t r = rng_for(seed, k, 1);
        double u = rng_unit(&r);
        cs[k].cls = u < 0.70 ? CL_KNOWN : u < 0.92 ? CL_STITCH : CL_ANON;
        cs[k].device = rng_unit(&r) < 0.6 ? CH_WEB : CH_APP;
        cs[k].pat = -1;
        if (rng_unit(&r) * 100.0 < pattern_pct && npat < n_cust / 2) {
            pattern_t *p = &pats[npat];
            p->cust = k;
            if (cs[k].cls == CL_ANON)
                p->kind = (uint8_t)(P_RAGE_ANON + rng_below(&r, P__COUNT - P_RAGE_ANON));
            else
                p->kind = (uint8_t)rng_below(&r, P_RAGE_ANON);
            p->variant = p->kind == P_DROPOFF && rng_unit(&r) < 0.5;
            p->nev = (uint8_t)(pat_events[p->kind] + p->variant);
            /* Patterns start between 5 % of the span and 100 m before its
             * end: a pattern lasts at most 90 m and a drop-off's 30 m
             * window must close (watermark = max ts - 5 s) before the end. */
            p->t0 = t_begin + span / 20 +
                    (int64_t)rng_below(&r, (uint64_t)(span - span / 20 - 100 * 60000));
            cs[k].pat = (int32_t)npat;
            pat_ev_total += p->nev;
            npat++;
        }
    }
    if (n_events < n_cust + pat_ev_total) {
        fprintf(stderr, "gen: -n %llu is too small: need at least %llu "
                "(one background event per customer plus %llu pattern events)\n",
                (unsigned long long)n_events,
                (unsigned long long)(n_cust + pat_ev_total),
                (unsigned long long)pat_ev_total);
        return 2;
    }
    if (n_cust * cap_per < n_events - pat_ev_total) {
        fprintf(stderr, "gen: %llu customers x cap %llu cannot hold %llu events\n",
                (unsigned long long)n_cust, (unsigned long long)cap_per,
                (unsigned long long)(n_events - pat_ev_total));
        return 2;
    }

    /* Pass 2: background events per customer — 1 each, the rest Zipf(s)
     * by a random rank, capped: extra(rank) = min(cap-1, floor(A / (rank+1)^s)),
     * A found by bisection so the total fits, remainder spread one by one. */
    uint64_t bg = n_events - pat_ev_total, extra_total = bg - n_cust;
    uint32_t *rank2cust = malloc(n_cust * sizeof *rank2cust);
    if (!rank2cust) {
        fprintf(stderr, "gen: out of memory\n");
        return 1;
    }
    for (uint32_t i = 0; i < n_cust; i++)
        rank2cust[i] = i;
    rng_t rr = rng_for(seed, 0, 4);
    for (uint32_t i = (uint32_t)n_cust - 1; i > 0; i--) {
        uint32_t j = (uint32_t)rng_below(&rr, (uint64_t)i + 1);
        uint32_t t = rank2cust[i]; rank2cust[i] = rank2cust[j]; rank2cust[j] = t;
    }
    double lo_a = 0, hi_a = (double)extra_total * 2 + 1;
    uint64_t ecap = cap_per - 1;
    for (int it = 0; it < 100; it++) {
        double a = (lo_a + hi_a) / 2;
        uint64_t s = 0;
        for (uint32_t i = 0; i < n_cust && s <= extra_total; i++) {
            double x = floor(a / pow(i + 1.0, zipf_s));
            if (x < 1)
                break;
            s += x > (double)ecap ? ecap : (uint64_t)x;
        }
        if (s <= extra_total)
            lo_a = a;
        else
            hi_a = a;
    }
    uint64_t assigned = 0;
    for (uint32_t i = 0; i < n_cust; i++) {
        double x = floor(lo_a / pow(i + 1.0, zipf_s));
        uint64_t e = x > (double)ecap ? ecap : (uint64_t)x;
        cs[rank2cust[i]].nbg = 1 + (uint32_t)e;
        assigned += e;
    }
    for (uint32_t i = 0; assigned < extra_total; i = (uint32_t)((i + 1) % n_cust)) {
        cust_t *c = &cs[rank2cust[i]];
        if (c->nbg < cap_per) {
            c->nbg++;
            assigned++;
        }
    }

    capevs = n_events;
    evs = malloc(capevs * sizeof *evs);
    if (!evs) {
        fprintf(stderr, "gen: out of memory\n");
        return 1;
    }
    for (uint32_t k = 0; k < n_cust; k++)
        gen_background(seed, k, &cs[k], t_begin, span);
    for (size_t i = 0; i < npat; i++)
        gen_pattern(seed, &pats[i], (uint32_t)i, cs[pats[i].cust].device);
    if (nevs != n_events) {
        fprintf(stderr, "gen: internal error: %zu events, expected %llu\n",
                nevs, (unsigned long long)n_events);
        return 1;
    }

    /* Jitter and sort. */
    rng_t rj = rng_for(seed, 0, 5);
    for (size_t i = 0; i < nevs; i++)
        evs[i].key = evs[i].ts + (int64_t)rng_below(&rj, 1900);
    qsort(evs, nevs, sizeof *evs, cmp_ev);

    FILE *fo = fopen(out, "w");
    if (!fo) {
        fprintf(stderr, "gen: %s: %s\n", out, strerror(errno));
        return 1;
    }
    static char obuf[1 << 20];
    setvbuf(fo, obuf, _IOFBF, sizeof obuf);
    uint64_t bytes = 0;
    char line[512], ts[40], page[128];
    for (size_t i = 0; i < nevs; i++) {
        const ev_t *e = &evs[i];
        if (e->pat) {
            pattern_t *p = &pats[e->pat - 1];
            for (int j = 0; j < MAX_PAT_EV; j++)
                if (!p->file_idx[j]) {
                    p->file_idx[j] = i + 1;
                    break;
                }
        }
        fmt_ts(ts, e->ts);
        int len = snprintf(line, sizeof line, "{\"event_id\":\"e-%zu\",\"ts\":\"%s\"", i, ts);
        if (e->idm != ID_ANON)
            len += snprintf(line + len, sizeof line - len, ",\"customer_id\":\"c-%u\"", e->cust);
        if (e->idm != ID_CUST)
            len += snprintf(line + len, sizeof line - len, ",\"anonymous_id\":\"a-%08x\"",
                            anon_id(e->cust));
        len += snprintf(line + len, sizeof line - len,
                        ",\"type\":\"%s\",\"channel\":\"%s\",\"session_id\":\"s-%015llx\"",
                        type_names[e->type], chan_names[e->chan],
                        (unsigned long long)(mix64(seed * 31 + ((uint64_t)e->cust << 16) + e->sess)
                                             & 0xfffffffffffffffULL));
        if (e->page != PG_NONE) {
            render_page(page, sizeof page, e->page);
            len += snprintf(line + len, sizeof line - len, ",\"page\":\"%s\"", page);
        }
        if (e->elem != EL_NONE)
            len += snprintf(line + len, sizeof line - len, ",\"element\":\"%s\"", elements[e->elem]);
        line[len++] = '}';
        line[len++] = '\n';
        fwrite(line, 1, (size_t)len, fo);
        bytes += (uint64_t)len;
    }
    if (fclose(fo) != 0) {
        fprintf(stderr, "gen: %s: write failed: %s\n", out, strerror(errno));
        return 1;
    }

    FILE *ft = fopen(truth, "w");
    if (!ft) {
        fprintf(stderr, "gen: %s: %s\n", truth, strerror(errno));
        return 1;
    }
    uint64_t expected = 0, controls = 0;
    for (size_t i = 0; i < npat; i++) {
        const pattern_t *p = &pats[i];
        char who[32];
        if (pat_anon_alert[p->kind])
            snprintf(who, sizeof who, "a-%08x", anon_id(p->cust));
        else
            snprintf(who, sizeof who, "c-%u", p->cust);
        fmt_ts(ts, p->t0);
        fprintf(ft, "{\"rule\":\"%s\",\"customer\":\"%s\"%s,\"pattern\":\"%s\",\"t0\":\"%s\",\"event_ids\":[",
                pat_rule[p->kind], who, pat_expect[p->kind] ? "" : ",\"expect\":0",
                pat_names[p->kind], ts);
        for (int j = 0; j < p->nev; j++)
            fprintf(ft, "%s\"e-%llu\"", j ? "," : "", (unsigned long long)(p->file_idx[j] - 1));
        fprintf(ft, "]}\n");
        if (pat_expect[p->kind])
            expected++;
        else
            controls++;
    }
    if (fclose(ft) != 0) {
        fprintf(stderr, "gen: %s: write failed: %s\n", truth, strerror(errno));
        return 1;
    }

    /* Stats on stderr: the activity skew and sizes. */
    uint32_t maxn = 0;
    for (uint32_t k = 0; k < n_cust; k++)
        if (cs[k].nbg > maxn)
            maxn = cs[k].nbg;
    uint64_t top = 0, ntop = n_cust / 100 ? n_cust / 100 : 1;
    for (uint64_t i = 0; i < ntop; i++)
        top += cs[rank2cust[i]].nbg;
    fprintf(stderr,
            "gen: %zu events (%llu background, %llu in %zu patterns: %llu expected alerts, "
            "%llu controls), %llu customers, %llu bytes (%.1f B/event), busiest customer "
            "%u events, top 1%% of customers %.1f%% of background\n",
            nevs, (unsigned long long)bg, (unsigned long long)pat_ev_total, npat,
            (unsigned long long)expected, (unsigned long long)controls,
            (unsigned long long)n_cust, (unsigned long long)bytes,
            (double)bytes / (double)nevs, maxn, 100.0 * (double)top / (double)bg);
    free(evs);
    free(cs);
    free(pats);
    free(rank2cust);
    return 0;
}
