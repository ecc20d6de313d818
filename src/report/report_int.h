/*
 * Private to src/report/: the collector's state, shared by collect.c (which
 * fills it while the replay runs) and the renderers (which read it once at
 * the end). Every array here has a size fixed at creation.
 */
#ifndef JOURNEYD_REPORT_INT_H
#define JOURNEYD_REPORT_INT_H

#include <stdint.h>
#include <stdio.h>
#include "journeyd/report.h"
#include "sketch.h"

/* Stages of a journey, left to right on the map. An event type's stage comes
 * from the table jd_report_stage_map (collect.c); types not in it are
 * "other". */
enum {
    JD_STAGE_ENGAGE = 0,
    JD_STAGE_BROWSE,
    JD_STAGE_ACCOUNT,
    JD_STAGE_CART,
    JD_STAGE_CHECKOUT,
    JD_STAGE_PURCHASE,
    JD_STAGE_SUPPORT,
    JD_STAGE_OTHER,
    JD_STAGE__COUNT
};

typedef struct jd_report_stage_map {
    const char *type;
    int stage;
} jd_report_stage_map_t;
extern const jd_report_stage_map_t jd_report_stage_map[];
const char *jd_report_stage_name(int stage);
int jd_report_stage_of(const char *type);

/* Channels drawn as rows, in order of first appearance; later ones share
 * the last row, "other channels". */
#define JD_REPORT_CHANNELS 12
#define JD_REPORT_CHAN_OTHER JD_REPORT_CHANNELS
#define JD_REPORT_CHANLEN 32
#define JD_REPORT_TP ((JD_REPORT_CHANNELS + 1) * JD_STAGE__COUNT)
#define JD_REPORT_TP_NONE 0xff
_Static_assert(JD_REPORT_TP < JD_REPORT_TP_NONE, "a touchpoint fits the slot's 8 bits");
static inline unsigned jd_report_tp(unsigned chan, unsigned stage)
{
    return chan * JD_STAGE__COUNT + stage;
}

/* Struggles: space-saving counters per rule (documented k), top 10 shown. */
#define JD_REPORT_STRUGGLE_K 64
/* Journeys with the most alerts: space-saving over customers, top 10 shown,
 * ranked by alerts seen since the counter took the customer (count - err,
 * a lower bound of the truth and exactly what its timeline holds). With
 * fewer customers with alerts than this, every count is exact. */
#define JD_REPORT_JOURNEY_K 1024
#define JD_REPORT_JRN_EVENTS 24
#define JD_REPORT_JRN_ALERTS 16
#define JD_REPORT_TYPELEN 24

typedef struct report_jrn_ev {
    int64_t ts;
    uint8_t chan, stage;
    char type[JD_REPORT_TYPELEN];
} report_jrn_ev_t;

typedef struct report_jrn_al {
    int64_t ts;
    uint32_t rule;
    uint8_t chan, stage;
} report_jrn_al_t;

/* What the report keeps of one of the journeys with the most alerts: the
 * union of the alerts' journey context (latest JD_REPORT_JRN_EVENTS, by
 * time) and its latest JD_REPORT_JRN_ALERTS alerts. */
typedef struct report_jrn {
    uint32_t nev, nal;
    uint64_t alerts_not_kept;
    report_jrn_ev_t ev[JD_REPORT_JRN_EVENTS];
    report_jrn_al_t al[JD_REPORT_JRN_ALERTS];
} report_jrn_t;

/* One customer's slot in the set-associative flow table, packed in 8 bytes
 * so the table stays small in cache: bits 63..24 a 40-bit tag of the
 * identity hash (0 = free; the bucket index adds 16+ more bits), 23..16
 * the last touchpoint (JD_REPORT_TP_NONE = none yet), 15..0 the time of last
 * use, for replacement. */
#define JD_REPORT_WAYS 4

#define JD_REPORT_TCACHE 256

struct jd_report {
    const jd_config_t *conf;
    uint32_t nrules;

    /* overview */
    uint64_t events;
    int64_t min_ts, max_ts;
    uint32_t nchan;
    const char *chan_ptr[JD_REPORT_CHANNELS];   /* interned, or NULL */
    char chan_name[JD_REPORT_CHANNELS][JD_REPORT_CHANLEN];
    uint64_t chan_events[JD_REPORT_CHANNELS + 1];
    uint64_t stage_events[JD_STAGE__COUNT];

    /* type -> stage: a direct-mapped cache on the interned pointer */
    const char *tcache_type[JD_REPORT_TCACHE];
    uint8_t tcache_stage[JD_REPORT_TCACHE];

    /* touchpoints and the flow between them */
    uint64_t tp_events[JD_REPORT_TP];
    uint64_t tp_entries[JD_REPORT_TP];  /* first touchpoint seen of a customer */
    uint64_t *flow;                     /* JD_REPORT_TP x JD_REPORT_TP moves */
    uint64_t moves, stays;
    uint64_t flow_forgotten;            /* customers dropped from the table */
    uint64_t no_identity;
    uint64_t *cust;                     /* nbuckets x JD_REPORT_WAYS slots */
    uint64_t nbuckets;                  /* of JD_REPORT_WAYS slots each */
    uint32_t clock;

    /* funnels: time to convert, from a per-customer attempt tracker */
    uint32_t nfun;
    uint32_t fun_rule[JD_REPORT_MAX_FUNNELS];
    int64_t *fstart;                    /* slots x nfun */
    uint8_t *fstep;                     /* slots x nfun; 0 = no attempt */
    jd_rhist_t *ttc;                    /* nfun histograms */
    /* drop-off alerts of the measured funnels, by last step reached
     * (nfun x fmaxsteps): all, and those with evidence.struggles; and per
     * funnel the drop-offs whose struggles list a rule (nfun x nrules) */
    uint32_t fmaxsteps;
    uint64_t *fdrops, *fdrops_struggled, *fdrops_by_rule;

    /* alerts */
    uint64_t alerts, alerts_unknown_rule;
    uint64_t *alerts_by_rule;           /* nrules */
    uint64_t tp_alerts[JD_REPORT_TP];
    uint64_t *tp_rule_alerts;           /* JD_REPORT_TP x nrules */
    jd_hll_t *tp_customers[JD_REPORT_TP]; /* lazily, on a touchpoint's first alert */
    jd_topk_t **struggles;              /* nrules */
    jd_tseries_t *alert_time;           /* series = rule */
    jd_topk_t *journeys;
    report_jrn_t *jrn;                  /* JD_REPORT_JOURNEY_K payloads */
};

/* Channel index of a channel name (registering it while rows are free),
 * JD_REPORT_CHAN_OTHER when full. */
unsigned jd_report_chan_by_name(jd_report_t *r, const char *name);
const char *jd_report_chan_label(const jd_report_t *r, unsigned chan);

/* Renderers (render.c, render_map.c, render_funnel.c). */
void jd_report_render_segments(const jd_report_t *r, const jd_report_run_t *run,
                               uint32_t rule, FILE *f);
void jd_report_render_dropoff_struggles(const jd_report_t *r, FILE *f);
/* Index of funnel rule among the measured funnels, or -1. */
int jd_report_fun_index(const jd_report_t *r, uint32_t rule);
void jd_report_render_map(const jd_report_t *r, FILE *f);
void jd_report_render_journey(const jd_report_t *r, const report_jrn_t *j, FILE *f);
void jd_report_html_text(FILE *f, const char *s);
void jd_report_fmt_count(char *buf, size_t n, uint64_t v);
void jd_report_fmt_dur(char *buf, size_t n, int64_t ms);

#endif
