/*
 * The report's collector: counts events and alerts as they stream past, in
 * structures sized once at creation (report_int.h).
 *
 * Flow between touchpoints. A move is counted from a customer's previous
 * touchpoint to the current one, both as seen in arrival order. The previous
 * touchpoint lives in a 4-way set-associative table of opts.flow_customers
 * slots keyed by a hash of the identity (customer_id, else anonymous_id).
 * When a set is full its least recently seen customer is forgotten
 * (flow_forgotten); that customer's next event then starts afresh, so the
 * map misses one move rather than invent one. An event carrying both ids
 * hands the anonymous slot's touchpoint to the customer, as stitching does.
 * Alerts' `journey` context was the alternative, but it only exists for
 * customers with alerts, and the map is meant to show everyone.
 *
 * Time to convert. The table also holds, per funnel, the open attempt's
 * start and step, advanced with the funnel's own step filters (read from
 * the rule config, matched with jd_match_event) in arrival order. The
 * engine's funnel counters stay the source of reached/dropped/conversion;
 * this tracker only feeds the duration histogram.
 */
#include <stdlib.h>
#include <string.h>
#include "journeyd/rule.h"
#include "journeyd/timeutil.h"
#include "report_int.h"

/* Event type -> stage. Exact names; anything else is "other". */
const jd_report_stage_map_t jd_report_stage_map[] = {
    {"email_open", JD_STAGE_ENGAGE},     {"email_click", JD_STAGE_ENGAGE},
    {"notification_open", JD_STAGE_ENGAGE}, {"push_open", JD_STAGE_ENGAGE},
    {"sms_delivered", JD_STAGE_ENGAGE},  {"sms_click", JD_STAGE_ENGAGE},
    {"page_view", JD_STAGE_BROWSE},      {"view", JD_STAGE_BROWSE},
    {"screen_view", JD_STAGE_BROWSE},    {"click", JD_STAGE_BROWSE},
    {"search", JD_STAGE_BROWSE},         {"store_visit", JD_STAGE_BROWSE},
    {"login", JD_STAGE_ACCOUNT},         {"login_failed", JD_STAGE_ACCOUNT},
    {"logout", JD_STAGE_ACCOUNT},        {"signup", JD_STAGE_ACCOUNT},
    {"password_reset", JD_STAGE_ACCOUNT},
    {"add_to_cart", JD_STAGE_CART},      {"cart", JD_STAGE_CART},
    {"remove_from_cart", JD_STAGE_CART},
    {"checkout_start", JD_STAGE_CHECKOUT}, {"checkout", JD_STAGE_CHECKOUT},
    {"payment_failed", JD_STAGE_CHECKOUT},
    {"purchase", JD_STAGE_PURCHASE},     {"order", JD_STAGE_PURCHASE},
    {"support_contact", JD_STAGE_SUPPORT}, {"chat", JD_STAGE_SUPPORT},
    {"call", JD_STAGE_SUPPORT},          {"survey", JD_STAGE_SUPPORT},
    {"complaint", JD_STAGE_SUPPORT},
    {NULL, 0},
};

const char *jd_report_stage_name(int stage)
{
    static const char *const names[JD_STAGE__COUNT] = {
        "engage", "browse", "account", "cart", "checkout", "purchase", "support", "other"};
    return stage >= 0 && stage < JD_STAGE__COUNT ? names[stage] : "other";
}

int jd_report_stage_of(const char *type)
{
    if (!type)
        return JD_STAGE_OTHER;
    for (const jd_report_stage_map_t *m = jd_report_stage_map; m->type; m++)
        if (strcmp(m->type, type) == 0)
            return m->stage;
    return JD_STAGE_OTHER;
}

static int stage_cached(jd_report_t *r, const char *type)
{
    if (!type)
        return JD_STAGE_OTHER;
    unsigned i = (unsigned)(((uintptr_t)type >> 4) % JD_REPORT_TCACHE);
    if (r->tcache_type[i] != type) {
        /* cached pointers hold references, so no freed string's address
         * can come back as another type */
        jd_intern_unref(r->tcache_type[i]);
        r->tcache_type[i] = jd_intern_ref(type);
        r->tcache_stage[i] = (uint8_t)jd_report_stage_of(type);
    }
    return r->tcache_stage[i];
}

static unsigned chan_register(jd_report_t *r, const char *name, const char *ptr)
{
    if (r->nchan == JD_REPORT_CHANNELS)
        return JD_REPORT_CHAN_OTHER;
    unsigned c = r->nchan++;
    r->chan_ptr[c] = jd_intern_ref(ptr);
    snprintf(r->chan_name[c], JD_REPORT_CHANLEN, "%s", name);
    return c;
}

unsigned jd_report_chan_by_name(jd_report_t *r, const char *name)
{
    if (!name)
        name = "unknown";
    for (unsigned c = 0; c < r->nchan; c++)
        if (strncmp(r->chan_name[c], name, JD_REPORT_CHANLEN - 1) == 0)
            return c;
    return chan_register(r, name, NULL);
}

static unsigned chan_of_event(jd_report_t *r, const char *ptr)
{
    if (!ptr)
        return jd_report_chan_by_name(r, "unknown");
    for (unsigned c = 0; c < r->nchan; c++)
        if (r->chan_ptr[c] == ptr)
            return c;
    for (unsigned c = 0; c < r->nchan; c++)   /* first seen in an alert */
        if (!r->chan_ptr[c] && strncmp(r->chan_name[c], ptr, JD_REPORT_CHANLEN - 1) == 0) {
            r->chan_ptr[c] = jd_intern_ref(ptr);
            return c;
        }
    return chan_register(r, ptr, ptr);
}

const char *jd_report_chan_label(const jd_report_t *r, unsigned chan)
{
    return chan < r->nchan ? r->chan_name[chan] : "other channels";
}

jd_report_t *jd_report_new(const jd_config_t *conf, const jd_report_opts_t *opts,
                           jd_err_t *err)
{
    jd_report_t *r = calloc(1, sizeof(*r));
    if (!r)
        goto oom;
    r->conf = conf;
    r->nrules = conf->nrules;
    r->min_ts = INT64_MAX;
    r->max_ts = INT64_MIN;
    uint64_t want = opts && opts->flow_customers ? opts->flow_customers : 262144;
    uint64_t nslots = JD_REPORT_WAYS;
    while (nslots < want && nslots < (UINT64_C(1) << 40))
        nslots <<= 1;
    r->nbuckets = nslots / JD_REPORT_WAYS;
    for (uint32_t i = 0; i < conf->nrules && r->nfun < JD_REPORT_MAX_FUNNELS; i++)
        if (conf->rules[i].kind == JD_RULE_FUNNEL) {
            r->fun_rule[r->nfun++] = i;
            if (conf->rules[i].nsteps > r->fmaxsteps)
                r->fmaxsteps = conf->rules[i].nsteps;
        }
    size_t nr = conf->nrules ? conf->nrules : 1;
    if (!(r->flow = calloc((size_t)JD_REPORT_TP * JD_REPORT_TP, sizeof(uint64_t))) ||
        !(r->cust = calloc(nslots, sizeof(*r->cust))) ||
        (r->nfun && !(r->fstart = calloc(nslots * r->nfun, sizeof(*r->fstart)))) ||
        (r->nfun && !(r->fstep = calloc(nslots * r->nfun, sizeof(*r->fstep)))) ||
        (r->nfun && !(r->ttc = malloc(r->nfun * sizeof(*r->ttc)))) ||
        (r->nfun && !(r->fdrops = calloc((size_t)r->nfun * r->fmaxsteps, sizeof(uint64_t)))) ||
        (r->nfun && !(r->fdrops_struggled = calloc((size_t)r->nfun * r->fmaxsteps,
                                                   sizeof(uint64_t)))) ||
        (r->nfun && !(r->fdrops_by_rule = calloc((size_t)r->nfun * nr, sizeof(uint64_t)))) ||
        !(r->alerts_by_rule = calloc(nr, sizeof(uint64_t))) ||
        !(r->tp_rule_alerts = calloc((size_t)JD_REPORT_TP * nr, sizeof(uint64_t))) ||
        !(r->struggles = calloc(nr, sizeof(*r->struggles))) ||
        !(r->alert_time = jd_tseries_new(conf->nrules, 60000)) ||
        !(r->journeys = jd_topk_new(JD_REPORT_JOURNEY_K)) ||
        !(r->jrn = calloc(JD_REPORT_JOURNEY_K, sizeof(*r->jrn))))
        goto oom;
    for (uint32_t f = 0; f < r->nfun; f++)
        jd_rhist_init(&r->ttc[f]);
    for (uint32_t i = 0; i < conf->nrules; i++)
        if (!(r->struggles[i] = jd_topk_new(JD_REPORT_STRUGGLE_K)))
            goto oom;
    return r;
oom:
    jd_report_destroy(r);
    jd_err_set(err, "out of memory creating the report collector");
    return NULL;
}

void jd_report_destroy(jd_report_t *r)
{
    if (!r)
        return;
    for (unsigned i = 0; i < JD_REPORT_TCACHE; i++)
        jd_intern_unref(r->tcache_type[i]);
    for (unsigned c = 0; c < r->nchan; c++)
        jd_intern_unref(r->chan_ptr[c]);
    free(r->flow);
    free(r->cust);
    free(r->fstart);
    free(r->fstep);
    free(r->ttc);
    free(r->fdrops);
    free(r->fdrops_struggled);
    free(r->fdrops_by_rule);
    free(r->alerts_by_rule);
    free(r->tp_rule_alerts);
    for (unsigned i = 0; i < JD_REPORT_TP; i++)
        free(r->tp_customers[i]);
    if (r->struggles)
        for (uint32_t i = 0; i < r->nrules; i++)
            jd_topk_destroy(r->struggles[i]);
    free(r->struggles);
    jd_tseries_destroy(r->alert_time);
    jd_topk_destroy(r->journeys);
    free(r->jrn);
    free(r);
}

void jd_report_observe(const jd_report_t *r, const jd_event_t *ev, jd_report_obs_t *obs)
{
    obs->ts = ev->ts;
    /* references: the engine may free ev before jd_report_event */
    obs->type = jd_intern_ref(ev->nslots > JD_SLOT_TYPE ? ev->slot[JD_SLOT_TYPE] : NULL);
    obs->channel = jd_intern_ref(ev->nslots > JD_SLOT_CHANNEL ? ev->slot[JD_SLOT_CHANNEL] : NULL);
    obs->cust = ev->customer_id ? jd_report_hash(ev->customer_id, strlen(ev->customer_id), 1) : 0;
    obs->anon = ev->anonymous_id ? jd_report_hash(ev->anonymous_id, strlen(ev->anonymous_id), 2) : 0;
    /* The customer's slot is a cache miss at any real scale; the engine's
     * push runs between this and jd_report_event, long enough to hide it. */
    uint64_t key = obs->cust ? obs->cust : obs->anon;
    if (key)
        __builtin_prefetch(&r->cust[(size_t)(key & (r->nbuckets - 1)) * JD_REPORT_WAYS]);
    for (uint32_t f = 0; f < r->nfun; f++) {
        const jd_rule_t *rule = &r->conf->rules[r->fun_rule[f]];
        uint64_t m = 0;
        for (uint32_t k = 0; k < rule->nsteps && k < 64; k++)
            if (jd_match_event(&rule->steps[k].match, ev))
                m |= UINT64_C(1) << k;
        obs->step_mask[f] = m;
    }
}

static inline uint64_t cs_tag(uint64_t e) { return e >> 24; }
static inline unsigned cs_tp(uint64_t e) { return (unsigned)(e >> 16) & 0xff; }
static inline uint16_t cs_stamp(uint64_t e) { return (uint16_t)e; }
static inline uint64_t cs_make(uint64_t tag, unsigned tp, uint16_t stamp)
{
    return tag << 24 | (uint64_t)(tp & 0xff) << 16 | stamp;
}
static inline uint64_t key_tag(uint64_t key)
{
    uint64_t t = key >> 24;
    return t ? t : 1;
}

/* The slot of key, or SIZE_MAX when absent and !create. */
static size_t cust_slot(jd_report_t *r, uint64_t key, int create)
{
    size_t base = (size_t)(key & (r->nbuckets - 1)) * JD_REPORT_WAYS, victim = base;
    uint64_t tag = key_tag(key);
    uint16_t now = (uint16_t)++r->clock;
    for (size_t w = base; w < base + JD_REPORT_WAYS; w++) {
        uint64_t e = r->cust[w];
        if (cs_tag(e) == tag) {
            r->cust[w] = cs_make(tag, cs_tp(e), now);
            return w;
        }
        /* oldest by age modulo 2^16: an approximate LRU is enough here */
        if (r->cust[victim] && (!e || (uint16_t)(now - cs_stamp(e)) >
                                          (uint16_t)(now - cs_stamp(r->cust[victim]))))
            victim = w;
    }
    if (!create)
        return SIZE_MAX;
    if (r->cust[victim])
        r->flow_forgotten++;
    r->cust[victim] = cs_make(tag, JD_REPORT_TP_NONE, now);
    for (uint32_t f = 0; f < r->nfun; f++)
        r->fstep[victim * r->nfun + f] = 0;
    return victim;
}

/* The anonymous slot's state goes to the customer's, as a stitch merges. */
static void cust_link(jd_report_t *r, size_t cs, uint64_t anon)
{
    size_t as = cust_slot(r, anon, 0);
    if (as == SIZE_MAX || as == cs)
        return;
    uint64_t c = r->cust[cs];
    if (cs_tp(c) == JD_REPORT_TP_NONE)
        r->cust[cs] = cs_make(cs_tag(c), cs_tp(r->cust[as]), cs_stamp(c));
    for (uint32_t f = 0; f < r->nfun; f++) {
        size_t ci = cs * r->nfun + f, ai = as * r->nfun + f;
        if (r->fstep[ci] == 0 && r->fstep[ai] != 0) {
            r->fstep[ci] = r->fstep[ai];
            r->fstart[ci] = r->fstart[ai];
        }
    }
    r->cust[as] = 0;
}

static void funnel_step(jd_report_t *r, size_t slot, const jd_report_obs_t *obs)
{
    for (uint32_t f = 0; f < r->nfun; f++) {
        const jd_rule_t *rule = &r->conf->rules[r->fun_rule[f]];
        uint8_t *st = &r->fstep[slot * r->nfun + f];
        int64_t *start = &r->fstart[slot * r->nfun + f];
        uint64_t m = obs->step_mask[f];
        if (!m)
            continue;   /* expiry can wait for the next matching event */
        if (*st && obs->ts > *start + rule->within_ms)
            *st = 0;   /* the attempt timed out: the engine drops it off */
        if (*st == 0) {
            if (!(m & 1))
                continue;
            *start = obs->ts;
            *st = 1;
        } else if (*st < 64 && (m >> *st) & 1) {
            (*st)++;
        } else {
            continue;
        }
        if (*st >= rule->nsteps) {
            jd_rhist_add(&r->ttc[f], obs->ts - *start);
            *st = 0;
        }
    }
}

void jd_report_obs_done(const jd_report_obs_t *obs)
{
    jd_intern_unref(obs->type);
    jd_intern_unref(obs->channel);
}

void jd_report_event(jd_report_t *r, const jd_report_obs_t *obs)
{
    r->events++;
    if (obs->ts < r->min_ts)
        r->min_ts = obs->ts;
    if (obs->ts > r->max_ts)
        r->max_ts = obs->ts;
    unsigned chan = chan_of_event(r, obs->channel);
    int stage = stage_cached(r, obs->type);
    jd_report_obs_done(obs);
    unsigned tp = jd_report_tp(chan, (unsigned)stage);
    r->chan_events[chan]++;
    r->stage_events[stage]++;
    r->tp_events[tp]++;
    uint64_t key = obs->cust ? obs->cust : obs->anon;
    if (!key) {
        r->no_identity++;
        return;
    }
    size_t slot = cust_slot(r, key, 1);
    if (obs->cust && obs->anon)
        cust_link(r, slot, obs->anon);
    unsigned prev = cs_tp(r->cust[slot]);
    if (prev == JD_REPORT_TP_NONE)
        r->tp_entries[tp]++;
    else if (prev == tp)
        r->stays++;
    else {
        r->flow[(size_t)prev * JD_REPORT_TP + tp]++;
        r->moves++;
    }
    r->cust[slot] = cs_make(cs_tag(r->cust[slot]), tp, cs_stamp(r->cust[slot]));
    if (r->nfun)
        funnel_step(r, slot, obs);
}

/* ---- alerts ------------------------------------------------------------- */

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* "page=/checkout, element=#pay" from a burst's group; "" when none. */
static void group_key(const json_t *group, char *buf, size_t n)
{
    const char *k;
    json_t *v;
    size_t used = 0;
    buf[0] = '\0';
    json_object_foreach((json_t *)group, k, v) {
        char val[128];
        if (jd_json_scalar_str(v, val, sizeof(val)) < 0)
            snprintf(val, sizeof(val), "null");
        int w = snprintf(buf + used, n - used, "%s%s=%s", used ? ", " : "", k, val);
        if (w < 0 || (size_t)w >= n - used)
            break;
        used += (size_t)w;
    }
}

static void struggle_key(const json_t *alert, const json_t *last, char *buf, size_t n)
{
    const json_t *ev = json_object_get(alert, "evidence");
    const json_t *group = json_object_get(ev, "group");
    const json_t *fun = json_object_get(alert, "funnel");
    const char *page = jstr(last, "page");
    if (json_is_object(group) && json_object_size(group)) {
        group_key(group, buf, n);
    } else if (fun) {
        const char *step = jstr(fun, "last_step_name");
        snprintf(buf, n, "after %s%s%s", step ? step : "?", page ? " on " : "", page ? page : "");
    } else if (page) {
        snprintf(buf, n, "page=%s", page);
    } else {
        const char *ch = jstr(last, "channel");
        snprintf(buf, n, "channel=%s", ch ? ch : "unknown");
    }
}

/* The journey entry an alert is drawn at: the last one, except for a
 * drop-off, which belongs where the customer stopped: the latest entry of
 * the last step's stage (step names are usually event types), if any. */
static const json_t *lowpoint_entry(const json_t *alert, const json_t *jrn)
{
    size_t n = json_array_size(jrn);
    if (!n)
        return NULL;
    const char *step = jstr(json_object_get(alert, "funnel"), "last_step_name");
    if (step) {
        int stage = jd_report_stage_of(step);
        for (size_t i = n; stage != JD_STAGE_OTHER && i-- > 0;) {
            const json_t *e = json_array_get(jrn, i);
            if (jd_report_stage_of(jstr(e, "type")) == stage)
                return e;
        }
    }
    return json_array_get(jrn, n - 1);
}

static int64_t parse_ts(const char *s)
{
    static const jd_time_format_t auto_fmt = {JD_TIME_AUTO, NULL};
    int64_t v;
    return s && jd_time_parse(&auto_fmt, s, strlen(s), &v) == 0 ? v : INT64_MIN;
}

/* Merges one journey entry into j's events: sorted by time, unique, the
 * latest JD_REPORT_JRN_EVENTS kept. */
static void jrn_add_event(report_jrn_t *j, int64_t ts, unsigned chan, int stage, const char *type)
{
    uint32_t pos = j->nev;
    while (pos > 0 && j->ev[pos - 1].ts > ts)
        pos--;
    for (uint32_t i = pos; i > 0 && j->ev[i - 1].ts == ts; i--)
        if (j->ev[i - 1].chan == chan && strncmp(j->ev[i - 1].type, type, JD_REPORT_TYPELEN - 1) == 0)
            return;
    if (j->nev == JD_REPORT_JRN_EVENTS) {
        if (pos == 0)
            return;   /* older than everything kept */
        memmove(&j->ev[0], &j->ev[1], (pos - 1) * sizeof(j->ev[0]));
        pos--;
    } else {
        memmove(&j->ev[pos + 1], &j->ev[pos], (j->nev - pos) * sizeof(j->ev[0]));
        j->nev++;
    }
    report_jrn_ev_t *e = &j->ev[pos];
    e->ts = ts;
    e->chan = (uint8_t)chan;
    e->stage = (uint8_t)stage;
    snprintf(e->type, sizeof(e->type), "%s", type);
}

static void jrn_add_alert(report_jrn_t *j, int64_t ts, uint32_t rule, unsigned chan, int stage)
{
    if (j->nal == JD_REPORT_JRN_ALERTS) {
        memmove(&j->al[0], &j->al[1], (JD_REPORT_JRN_ALERTS - 1) * sizeof(j->al[0]));
        j->nal--;
        j->alerts_not_kept++;
    }
    j->al[j->nal++] = (report_jrn_al_t){.ts = ts, .rule = rule, .chan = (uint8_t)chan,
                                        .stage = (uint8_t)stage};
}

int jd_report_fun_index(const jd_report_t *r, uint32_t rule)
{
    for (uint32_t f = 0; f < r->nfun; f++)
        if (r->fun_rule[f] == rule)
            return (int)f;
    return -1;
}

/* A drop-off: by its last step, whether evidence.struggles has anything
 * (listed or omitted), and which rules it lists (each once). */
static void count_dropoff(jd_report_t *r, uint32_t ri, const json_t *alert)
{
    int f = jd_report_fun_index(r, ri);
    json_int_t step = json_integer_value(json_object_get(json_object_get(alert, "funnel"),
                                                         "last_step"));
    if (f < 0 || step < 1 || step > (json_int_t)r->conf->rules[ri].nsteps)
        return;
    size_t at = (size_t)f * r->fmaxsteps + (size_t)(step - 1);
    const json_t *ev = json_object_get(alert, "evidence");
    const json_t *strs = json_object_get(ev, "struggles");
    r->fdrops[at]++;
    if (json_array_size(strs) || json_integer_value(json_object_get(ev, "struggles_omitted")))
        r->fdrops_struggled[at]++;
    uint32_t seen[16], nseen = 0;
    for (size_t i = 0; i < json_array_size(strs); i++) {
        const jd_rule_t *sr = jd_config_rule(r->conf, jstr(json_array_get(strs, i), "rule"));
        uint32_t k = 0;
        while (sr && k < nseen && seen[k] != sr->index)
            k++;
        if (!sr || k < nseen)
            continue;
        if (nseen < 16)
            seen[nseen++] = sr->index;
        r->fdrops_by_rule[(size_t)f * r->nrules + sr->index]++;
    }
}

void jd_report_alert(jd_report_t *r, const char *key, size_t keylen,
                     const json_t *alert, int64_t ts)
{
    r->alerts++;
    const jd_rule_t *rule = jd_config_rule(r->conf, jstr(alert, "rule"));
    if (!rule) {
        r->alerts_unknown_rule++;
        return;
    }
    uint32_t ri = rule->index;
    r->alerts_by_rule[ri]++;
    jd_tseries_add(r->alert_time, ri, ts);
    if (json_is_object(json_object_get(alert, "funnel")))
        count_dropoff(r, ri, alert);

    /* The low point: where the customer was when the alert fired. */
    const json_t *jrn = json_object_get(alert, "journey");
    size_t njrn = json_array_size(jrn);
    const json_t *last = lowpoint_entry(alert, jrn);
    const char *chname = jstr(last, "channel");
    if (!chname) {
        const json_t *chs = json_object_get(alert, "channels");
        chname = json_string_value(json_array_get(chs, json_array_size(chs) - 1));
    }
    unsigned chan = jd_report_chan_by_name(r, chname);
    int stage = jd_report_stage_of(jstr(last, "type"));
    unsigned tp = jd_report_tp(chan, (unsigned)stage);
    r->tp_alerts[tp]++;
    r->tp_rule_alerts[(size_t)tp * r->nrules + ri]++;
    if (!r->tp_customers[tp])
        r->tp_customers[tp] = calloc(1, sizeof(jd_hll_t));
    if (r->tp_customers[tp])
        jd_hll_add(r->tp_customers[tp], jd_report_hash(key, keylen, 3));

    char skey[256];
    struggle_key(alert, last, skey, sizeof(skey));
    int replaced;
    jd_topk_add(r->struggles[ri], skey, strlen(skey), &replaced);

    jd_topk_item_t *it = jd_topk_add(r->journeys, key, keylen, &replaced);
    report_jrn_t *j = &r->jrn[it - r->journeys->items];
    if (replaced)
        memset(j, 0, sizeof(*j));
    for (size_t i = 0; i < njrn; i++) {
        const json_t *e = json_array_get(jrn, i);
        int64_t ets = parse_ts(jstr(e, "ts"));
        const char *type = jstr(e, "type");
        if (ets == INT64_MIN || !type)
            continue;
        jrn_add_event(j, ets, jd_report_chan_by_name(r, jstr(e, "channel")),
                      jd_report_stage_of(type), type);
    }
    jrn_add_alert(j, ts, ri, chan, stage);
}
