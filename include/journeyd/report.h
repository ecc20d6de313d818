/*
 * The analyst's report of a replay (`journeyd replay --report FILE.html`)
 * and the drop-off list (`--dropoffs-csv FILE`).
 *
 * The collector watches the stream as it passes: every event the engine
 * accepted, then every alert. Its memory is fixed when it is created, never
 * proportional to events, alerts or customers: counters per touchpoint
 * (channel x stage), a table of the last touchpoint of at most
 * opts.flow_customers customers (the least recently seen is forgotten and
 * counted), histograms and top-k sketches (src/report/sketch.h). At the end
 * it renders one self-contained HTML file (inline CSS and SVG, no script,
 * no network) from what it saw plus the engine's counters.
 *
 * It knows nothing of files or Kafka beyond the path it writes. Not
 * thread-safe: replay calls it from the thread that pushes events and
 * receives alerts (one thread for the engine and the shard router alike).
 */
#ifndef JOURNEYD_REPORT_H
#define JOURNEYD_REPORT_H

#include <stdint.h>
#include <jansson.h>
#include "journeyd/common.h"
#include "journeyd/config.h"
#include "journeyd/engine.h"
#include "journeyd/event.h"

/* Funnels whose time to convert is measured (the rest are still counted
 * from the engine's stats). */
#define JD_REPORT_MAX_FUNNELS 8

typedef struct jd_report jd_report_t;

typedef struct jd_report_opts {
    /* Customers whose last touchpoint is remembered to draw the flow
     * between touchpoints and to time funnel conversions; 0 = 262144
     * (8 bytes each, plus 9 per funnel: 4.25 MiB with one funnel).
     * Rounded up to a power of two. */
    uint64_t flow_customers;
} jd_report_opts_t;

/* conf is borrowed and must outlive the collector; opts may be NULL.
 * NULL with err on allocation failure. */
jd_report_t *jd_report_new(const jd_config_t *conf, const jd_report_opts_t *opts,
                           jd_err_t *err);
/* NULL-safe. */
void jd_report_destroy(jd_report_t *r);

/* What the collector needs of one event, read before the engine takes it
 * (the engine owns and may free the event once pushed). */
typedef struct jd_report_obs {
    int64_t ts;
    const char *channel, *type;          /* interned (a reference each), or NULL */
    uint64_t cust, anon;                 /* identity hashes, 0 = absent */
    uint64_t step_mask[JD_REPORT_MAX_FUNNELS]; /* bit k: matches step k+1 */
} jd_report_obs_t;

/* Fills obs from ev (borrowed, not kept). obs holds interner references
 * until jd_report_event or jd_report_obs_done gives them back. */
void jd_report_observe(const jd_report_t *r, const jd_event_t *ev, jd_report_obs_t *obs);
/* Counts an observed event the engine accepted (late ones are dead
 * letters, not events: jd_report_obs_done). Call in arrival order. */
void jd_report_event(jd_report_t *r, const jd_report_obs_t *obs);
/* Gives back obs's references (an observed event not counted). */
void jd_report_obs_done(const jd_report_obs_t *obs);
/* Counts one alert: key = its identity (the engine's on_alert key),
 * alert = the parsed alert object (borrowed), ts its event time. */
void jd_report_alert(jd_report_t *r, const char *key, size_t keylen,
                     const json_t *alert, int64_t ts);

/* The run's outcome, borrowed for the call. */
typedef struct jd_report_run {
    uint64_t records;                 /* records read, good or bad */
    const uint64_t *dead_letters;     /* JD_DL__COUNT entries, by reason */
    const jd_engine_stats_t *stats;   /* the engine's (or shards') counters */
    const char *const *inputs;        /* -i paths */
    size_t ninputs;
    int flushed;                      /* --flush-at-end */
} jd_report_run_t;

/* Writes the HTML report to path (through path.tmp, renamed at the end, so
 * a failed write leaves no half file). 0, or -1 with err. */
int jd_report_write_html(const jd_report_t *r, const jd_report_run_t *run,
                         const char *path, jd_err_t *err);

/*
 * --dropoffs-csv: one row per funnel drop-off alert, written as alerts
 * come (nothing is kept). Columns: rule, alert_id, customer, identity,
 * start (the attempt's step-1 time), deadline, last_step, last_step_name,
 * segment (the funnel's breakdown_by value on the step-1 event; empty
 * without breakdown_by, "(none)" when the event lacked the field),
 * struggles (evidence.struggles as rule:alert_id;... then +N when N more
 * were omitted; empty when none).
 */
typedef struct jd_dropoffs jd_dropoffs_t;
/* Opens path.tmp and writes the header row. NULL with err. */
jd_dropoffs_t *jd_dropoffs_open(const char *path, jd_err_t *err);
/* Writes a row when alert (borrowed) is a funnel drop-off; 0, -1 on a
 * write error (remembered for close). */
int jd_dropoffs_alert(jd_dropoffs_t *d, const json_t *alert);
/* NULL-safe. ok: rename path.tmp to path; !ok (the replay failed): remove
 * it. Returns 0, or -1 with err when a write failed (the file is removed). */
int jd_dropoffs_close(jd_dropoffs_t *d, int ok, jd_err_t *err);

#endif
