/*
 * The HTML report: one file, inline CSS and SVG, no script and no URL, so it
 * opens offline, prints, and can be mailed. Every number a test or a
 * spreadsheet may want sits in a data-* attribute beside its text.
 *
 * #only-<section> in the URL shows that section alone (a CSS :target rule,
 * no script): the e2e test screenshots each section that way.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "journeyd/deadletter.h"
#include "journeyd/timeutil.h"
#include "report_int.h"

#define SHOW_TOP 10

static const char *const sections[][2] = {
    {"overview", "Overview"},
    {"journey-map", "Journey map"},
    {"funnels", "Funnels"},
    {"struggles", "Struggles"},
    {"alerts", "Alerts over time"},
};
#define NSECTIONS (sizeof(sections) / sizeof(sections[0]))

void jd_report_html_text(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: putc(*s, f);
        }
    }
}

void jd_report_fmt_count(char *buf, size_t n, uint64_t v)
{
    char raw[32];
    int len = snprintf(raw, sizeof(raw), "%" PRIu64, v);
    size_t o = 0;
    for (int i = 0; i < len && o + 2 < n; i++) {
        if (i && (len - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = raw[i];
    }
    buf[o] = '\0';
}

void jd_report_fmt_dur(char *buf, size_t n, int64_t ms)
{
    if (ms < 1000)
        snprintf(buf, n, "%" PRId64 " ms", ms);
    else if (ms < 60000)
        snprintf(buf, n, "%.1f s", (double)ms / 1000.0);
    else if (ms < 3600000 && ms / 1000 % 60)
        snprintf(buf, n, "%" PRId64 " min %02" PRId64 " s", ms / 60000, ms / 1000 % 60);
    else if (ms < 3600000)
        snprintf(buf, n, "%" PRId64 " min", ms / 60000);
    else if (ms < 86400000 && ms / 60000 % 60)
        snprintf(buf, n, "%" PRId64 " h %02" PRId64 " min", ms / 3600000, ms / 60000 % 60);
    else if (ms < 86400000)
        snprintf(buf, n, "%" PRId64 " h", ms / 3600000);
    else if (ms / 3600000 % 24)
        snprintf(buf, n, "%" PRId64 " d %02" PRId64 " h", ms / 86400000, ms / 3600000 % 24);
    else
        snprintf(buf, n, "%" PRId64 " d", ms / 86400000);
}

static double pct(uint64_t a, uint64_t b)
{
    return b ? 100.0 * (double)a / (double)b : 0.0;
}

static void css(FILE *f)
{
    fputs("<style>\n"
          "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;"
          "color:#1d2733;margin:0;background:#f5f6f8}\n"
          "header{background:#1d2733;color:#fff;padding:18px 28px}\n"
          "header h1{margin:0;font-size:22px}header p{margin:4px 0 0;color:#c5ccd6}\n"
          "nav{padding:8px 28px;background:#e8ebef}nav a{margin-right:18px;color:#1d2733}\n"
          "main{padding:8px 28px 40px;max-width:1320px}\n"
          "section{background:#fff;border-radius:8px;padding:16px 22px;margin:18px 0;"
          "box-shadow:0 1px 3px rgba(0,0,0,.08)}\n"
          "h2{margin:0 0 10px;font-size:19px}h3{margin:18px 0 6px;font-size:15px}"
          "h4{margin:12px 0 4px;font-size:13.5px}td small{color:#4a5665}\n"
          ".lead{color:#4a5665;margin:0 0 12px;max-width:980px}\n"
          ".kpis{display:flex;flex-wrap:wrap;gap:12px;margin:8px 0 14px}\n"
          ".kpi{background:#f5f6f8;border-radius:6px;padding:8px 14px;min-width:120px}\n"
          ".kpi b{display:block;font-size:22px}.kpi span{color:#4a5665;font-size:12px}\n"
          "table{border-collapse:collapse;margin:6px 0 10px}\n"
          "th,td{padding:4px 10px;text-align:right;border-bottom:1px solid #e3e6ea}\n"
          "th:first-child,td:first-child,td.l,th.l{text-align:left}\n"
          "th{font-weight:600;color:#4a5665;font-size:12px}\n"
          ".bar{display:inline-block;height:11px;background:#4e79a7;border-radius:2px;"
          "vertical-align:middle}\n"
          ".bar.drop{background:#e15759}.bar.dl{background:#bab0ac}\n"
          ".note{color:#4a5665;font-size:12.5px;max-width:980px}\n"
          ".warn{background:#fff4e5;border-left:4px solid #f28e2b;padding:8px 12px;margin:8px 0}\n"
          ".empty{background:#f5f6f8;border-left:4px solid #bab0ac;padding:10px 14px}\n"
          ".cols{display:flex;flex-wrap:wrap;gap:28px}\n"
          "svg text{font-family:inherit}\n"
          "body:has(.only:target) section{display:none}\n", f);
    for (size_t i = 0; i < NSECTIONS; i++)
        fprintf(f, "body:has(#only-%s:target) section#%s{display:block}\n",
                sections[i][0], sections[i][0]);
    fputs("body:has(.only:target) nav{display:none}\n"
          "@media print{body{background:#fff}nav{display:none}"
          "section{box-shadow:none;break-inside:avoid;border:1px solid #ddd}}\n"
          "</style>\n", f);
}

static uint64_t dl_total(const jd_report_run_t *run)
{
    uint64_t t = 0;
    for (int i = 1; i < JD_DL__COUNT; i++)
        t += run->dead_letters[i];
    return t;
}

static const char *dl_hint(jd_dl_reason_t reason)
{
    switch (reason) {
    case JD_DL_LATE:
        return "events arrive further out of time order than <code>time.lateness</code> allows: "
               "raise it (e.g. <code>-X time.lateness=24h</code> for a file grouped by session)";
    case JD_DL_BAD_TS:
    case JD_DL_MISSING_TS:
        return "check <code>fields.ts</code> and <code>time.format</code> against the input's "
               "timestamps";
    case JD_DL_MISSING_TYPE:
        return "map the event type with <code>fields.type</code>, or set <code>defaults.type</code>";
    case JD_DL_MISSING_IDENTITY:
        return "map <code>fields.customer_id</code> or <code>fields.anonymous_id</code> onto the "
               "input's user or session column";
    case JD_DL_INVALID_JSON:
    case JD_DL_NOT_OBJECT:
    case JD_DL_BAD_CSV:
        return "the input is not in the configured format: check <code>--format</code> / "
               "<code>input.format</code> and <code>input.csv.delimiter</code>";
    default:
        return "write them with <code>--dead-letter FILE</code> to see each record and its reason";
    }
}

static void kpi(FILE *f, const char *attr, uint64_t v, const char *label)
{
    char b[32];
    jd_report_fmt_count(b, sizeof(b), v);
    fprintf(f, "<div class=\"kpi\"><b data-kpi-%s=\"%" PRIu64 "\">%s</b><span>%s</span></div>\n",
            attr, v, b, label);
}

static void dead_letters(FILE *f, const jd_report_run_t *run)
{
    uint64_t total = dl_total(run);
    char b[32];
    if (!total) {
        fputs("<p class=\"note\">No record was rejected.</p>\n", f);
        return;
    }
    jd_dl_reason_t top = JD_DL_NONE;
    fputs("<h3>Rejected records (dead letters) by reason</h3>\n"
          "<table><tr><th>reason</th><th>records</th><th>of read</th><th></th></tr>\n", f);
    for (int i = 1; i < JD_DL__COUNT; i++) {
        uint64_t n = run->dead_letters[i];
        if (!n)
            continue;
        if (top == JD_DL_NONE || n > run->dead_letters[top])
            top = (jd_dl_reason_t)i;
        jd_report_fmt_count(b, sizeof(b), n);
        fprintf(f, "<tr data-reason=\"%s\" data-count=\"%" PRIu64 "\"><td>%s</td><td>%s</td>"
                   "<td>%.1f%%</td><td class=\"l\"><span class=\"bar dl\" style=\"width:%.0fpx\">"
                   "</span></td></tr>\n", jd_dl_reason_name((jd_dl_reason_t)i), n,
                jd_dl_reason_name((jd_dl_reason_t)i), b, pct(n, run->records),
                2.0 * pct(n, run->records) + 1.0);
    }
    fputs("</table>\n", f);
    if (pct(total, run->records) >= 10.0)
        fprintf(f, "<p class=\"warn\" data-hint=\"%s\"><b>%.1f%% of the records were rejected</b>, "
                   "most as <code>%s</code>: %s. Everything below describes only the accepted "
                   "events.</p>\n", jd_dl_reason_name(top), pct(total, run->records),
                jd_dl_reason_name(top), dl_hint(top));
}

static void overview(const jd_report_t *r, const jd_report_run_t *run, FILE *f)
{
    const jd_engine_stats_t *st = run->stats;
    fputs("<section id=\"overview\"><h2>Overview</h2>\n<div class=\"kpis\">\n", f);
    kpi(f, "events-read", run->records, "records read");
    kpi(f, "events-evaluated", st->events_evaluated, "events evaluated");
    kpi(f, "customers", st->customers_total, "customers (journeys)");
    kpi(f, "alerts", st->alerts, "alerts");
    kpi(f, "dead-letters", dl_total(run), "rejected records");
    fputs("</div>\n", f);
    if (r->events == 0) {
        fprintf(f, "<p class=\"empty\" data-empty=\"1\"><b>No event was accepted</b>: %s. "
                   "There is nothing to chart.</p>\n",
                run->records ? "every record read was rejected (see the reasons below)"
                             : "the input holds no record");
        dead_letters(f, run);
        fputs("</section>\n", f);
        return;
    }
    char t0[JD_TIME_BUFSZ], t1[JD_TIME_BUFSZ], span[48];
    jd_report_fmt_dur(span, sizeof(span), r->max_ts - r->min_ts);
    fprintf(f, "<p>Event time from <b>%s</b> to <b>%s</b> (%s). %" PRIu64 " duplicates "
               "skipped%s.</p>\n", jd_time_format_rfc3339(r->min_ts, t0),
            jd_time_format_rfc3339(r->max_ts, t1), span, st->duplicates,
            run->flushed ? "; open funnel attempts were flushed at the end (--flush-at-end)" : "");
    fputs("<div class=\"cols\"><div><h3>Channels</h3><table>"
          "<tr><th>channel</th><th>events</th><th>share</th><th></th></tr>\n", f);
    for (unsigned c = 0; c <= JD_REPORT_CHANNELS; c++) {
        if (!r->chan_events[c])
            continue;
        char b[32];
        jd_report_fmt_count(b, sizeof(b), r->chan_events[c]);
        fprintf(f, "<tr data-channel=\"");
        jd_report_html_text(f, jd_report_chan_label(r, c));
        fprintf(f, "\" data-events=\"%" PRIu64 "\"><td>", r->chan_events[c]);
        jd_report_html_text(f, jd_report_chan_label(r, c));
        fprintf(f, "</td><td>%s</td><td>%.1f%%</td><td class=\"l\"><span class=\"bar\" "
                   "style=\"width:%.0fpx\"></span></td></tr>\n", b, pct(r->chan_events[c], r->events),
                2.4 * pct(r->chan_events[c], r->events) + 1.0);
    }
    fputs("</table></div><div><h3>Stages</h3><table><tr><th>stage</th><th>events</th>"
          "<th>share</th></tr>\n", f);
    for (int s = 0; s < JD_STAGE__COUNT; s++)
        if (r->stage_events[s])
            fprintf(f, "<tr data-stage=\"%s\" data-events=\"%" PRIu64 "\"><td>%s</td><td>%" PRIu64
                       "</td><td>%.1f%%</td></tr>\n", jd_report_stage_name(s), r->stage_events[s],
                    jd_report_stage_name(s), r->stage_events[s], pct(r->stage_events[s], r->events));
    fputs("</table></div></div>\n", f);
    dead_letters(f, run);
    fputs("</section>\n", f);
}

static void funnel_one(const jd_report_t *r, const jd_report_run_t *run, uint32_t ri, FILE *f)
{
    const jd_rule_t *rule = &r->conf->rules[ri];
    const jd_funnel_stats_t *fs = &run->stats->funnels[ri];
    char w[48];
    jd_report_fmt_dur(w, sizeof(w), rule->within_ms);
    fprintf(f, "<div class=\"funnel\" data-funnel=\"");
    jd_report_html_text(f, rule->name);
    fprintf(f, "\" data-attempts=\"%" PRIu64 "\" data-completed=\"%" PRIu64 "\" data-pending=\"%"
               PRIu64 "\" data-conversion=\"%.6f\"><h3>", fs->attempts, fs->completed,
            fs->pending, fs->attempts ? (double)fs->completed / (double)fs->attempts : 0.0);
    jd_report_html_text(f, rule->name);
    fprintf(f, "</h3><p>%" PRIu64 " attempts, <b>%" PRIu64 " converted (%.1f%%)</b>, %" PRIu64
               " still open at the end of the input (within %s of their start).</p>\n",
            fs->attempts, fs->completed, pct(fs->completed, fs->attempts), fs->pending, w);
    fputs("<table><tr><th>#</th><th class=\"l\">step</th><th>reached</th><th>of start</th>"
          "<th>of previous</th><th>dropped here</th><th class=\"l\"></th></tr>\n", f);
    for (uint32_t k = 0; k < rule->nsteps; k++) {
        uint64_t reached = fs->reached[k], prev = k ? fs->reached[k - 1] : fs->attempts;
        double from_start = fs->attempts ? (double)reached / (double)fs->attempts : 0.0;
        double from_prev = k == 0 ? 1.0 : prev ? (double)reached / (double)prev : 0.0;
        fprintf(f, "<tr data-step=\"");
        jd_report_html_text(f, rule->steps[k].name);
        fprintf(f, "\" data-reached=\"%" PRIu64 "\" data-dropped=\"%" PRIu64 "\" "
                   "data-rate-from-start=\"%.6f\" data-rate-from-previous=\"%.6f\"><td>%u</td>"
                   "<td class=\"l\">", reached, fs->dropped[k], from_start, from_prev, k + 1);
        jd_report_html_text(f, rule->steps[k].name);
        /* the bar is the step's reached: went on (blue), dropped here
         * (red), still open at the end (grey) */
        uint64_t went_on = k + 1 < rule->nsteps ? fs->reached[k + 1] : reached;
        uint64_t open = reached > went_on + fs->dropped[k] ? reached - went_on - fs->dropped[k] : 0;
        fprintf(f, "</td><td>%" PRIu64 "</td><td>%.1f%%</td><td>%.1f%%</td><td>%" PRIu64 "</td>"
                   "<td class=\"l\"><span class=\"bar\" style=\"width:%.1fpx\"></span>"
                   "<span class=\"bar drop\" style=\"width:%.1fpx\"></span>"
                   "<span class=\"bar dl\" style=\"width:%.1fpx\"></span></td></tr>\n",
                reached, 100.0 * from_start, 100.0 * from_prev, fs->dropped[k],
                3.0 * pct(went_on, fs->attempts), 3.0 * pct(fs->dropped[k], fs->attempts),
                3.0 * pct(open, fs->attempts));
    }
    fputs("</table>\n", f);
    if (rule->has_breakdown)
        jd_report_render_segments(r, run, ri, f);
    for (uint32_t fi = 0; fi < r->nfun; fi++) {
        if (r->fun_rule[fi] != ri)
            continue;
        const jd_rhist_t *h = &r->ttc[fi];
        if (!h->n) {
            fputs("<p class=\"note\">Time to convert: no conversion seen.</p>\n", f);
            break;
        }
        char med[48], p90[48];
        int64_t m = jd_rhist_quantile(h, 0.5), p = jd_rhist_quantile(h, 0.9);
        jd_report_fmt_dur(med, sizeof(med), m);
        jd_report_fmt_dur(p90, sizeof(p90), p);
        fprintf(f, "<p data-ttc-n=\"%" PRIu64 "\" data-ttc-median-ms=\"%" PRId64 "\" "
                   "data-ttc-p90-ms=\"%" PRId64 "\">Time to convert (step 1 to the last step): "
                   "<b>median %s</b>, <b>90th percentile %s</b>, over %" PRIu64
                   " conversions.</p>\n", h->n, m, p, med, p90, h->n);
    }
}

static void funnels(const jd_report_t *r, const jd_report_run_t *run, FILE *f)
{
    fputs("<section id=\"funnels\"><h2>Funnels</h2>\n"
          "<p class=\"lead\">Each funnel attempt starts at step 1 and must reach the steps in "
          "order within the funnel's window. Each bar is the attempts that reached the step: "
          "blue went on to the next step (or converted), red stopped here (a drop-off alert "
          "each), grey was still open when the input ended.</p>\n", f);
    uint32_t n = 0;
    for (uint32_t i = 0; i < r->conf->nrules; i++)
        if (r->conf->rules[i].kind == JD_RULE_FUNNEL) {
            funnel_one(r, run, i, f);
            n++;
        }
    if (!n)
        fputs("<p class=\"empty\">The configuration has no funnel rule.</p>\n", f);
    fputs("<p class=\"note\">Counts are the engine's (the same as <code>--summary-json</code>). "
          "Time to convert comes from the report's own tracker of each customer's open attempt, "
          "in arrival order, in a log-linear histogram (within 3.1%); it is not kept for "
          "customers the flow table forgot. A funnel with <code>breakdown_by</code> shows its "
          "counts by the field's value on each attempt's step-1 event; the share of its "
          "drop-offs that had a struggle alert during the attempt is under Struggles.</p>\n"
          "</section>\n", f);
}

static void struggles(const jd_report_t *r, FILE *f)
{
    fprintf(f, "<section id=\"struggles\"><h2>Struggles</h2>\n<p class=\"lead\">Where each "
               "rule fired most: the page, element or product of the alert's group (as the rule's "
               "<code>same</code> names it), else the page the customer was on. Top %d per rule "
               "from %d space-saving counters: a count is at most the shown &plusmn; too high.</p>\n"
               "<div class=\"cols\">\n", SHOW_TOP, JD_REPORT_STRUGGLE_K);
    int any = 0;
    for (uint32_t i = 0; i < r->nrules; i++) {
        const jd_topk_t *t = r->struggles[i];
        if (!t->n)
            continue;
        any = 1;
        const jd_topk_item_t *sorted[JD_REPORT_STRUGGLE_K];
        jd_topk_sorted(t, sorted);
        fputs("<div><h3>", f);
        jd_report_html_text(f, r->conf->rules[i].name);
        fprintf(f, "</h3><table data-struggles=\"");
        jd_report_html_text(f, r->conf->rules[i].name);
        fputs("\"><tr><th class=\"l\">where</th><th>alerts</th><th>&plusmn;</th></tr>\n", f);
        for (size_t k = 0; k < t->n && k < SHOW_TOP; k++) {
            fprintf(f, "<tr data-key=\"");
            jd_report_html_text(f, sorted[k]->key);
            fprintf(f, "\" data-count=\"%" PRIu64 "\"><td class=\"l\">", sorted[k]->count);
            jd_report_html_text(f, sorted[k]->key);
            fprintf(f, "</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td></tr>\n", sorted[k]->count,
                    sorted[k]->err);
        }
        fputs("</table></div>\n", f);
    }
    fputs("</div>\n", f);
    if (!any)
        fputs("<p class=\"empty\">No alert fired.</p>\n", f);
    if (r->nfun) {
        fputs("<p class=\"lead\">How many drop-offs had a struggle: another rule's alert on the "
              "same customer between the attempt's start and its deadline (the drop-off's "
              "<code>evidence.struggles</code>), by the last step reached.</p>\n"
              "<div class=\"cols\">\n", f);
        jd_report_render_dropoff_struggles(r, f);
        fputs("</div>\n", f);
    }
    fputs("</section>\n", f);
}

static void alert_series(const jd_report_t *r, FILE *f)
{
    const jd_tseries_t *ts = r->alert_time;
    uint64_t peak = 1;
    for (uint32_t i = 0; i < r->nrules; i++)
        for (int b = 0; b < JD_TSERIES_BUCKETS; b++)
            if (jd_tseries_at(ts, i, b) > peak)
                peak = jd_tseries_at(ts, i, b);
    char w[48], t0[JD_TIME_BUFSZ], t1[JD_TIME_BUFSZ];
    jd_report_fmt_dur(w, sizeof(w), ts->width);
    if (ts->width) {
        jd_time_format_rfc3339(ts->origin, t0);
        jd_time_format_rfc3339(ts->origin + ts->width * JD_TSERIES_BUCKETS, t1);
        fprintf(f, "<p class=\"note\">One bar = %s of event time, from %s to %s; bar heights "
                   "share one scale (tallest = %" PRIu64 " alerts).</p>\n", w, t0, t1, peak);
    }
    fputs("<table><tr><th class=\"l\">rule</th><th>severity</th><th>alerts</th>"
          "<th class=\"l\">over event time</th></tr>\n", f);
    static const char *const sev[] = {"low", "medium", "high"};
    for (uint32_t i = 0; i < r->nrules; i++) {
        fprintf(f, "<tr data-rule=\"");
        jd_report_html_text(f, r->conf->rules[i].name);
        fprintf(f, "\" data-alerts=\"%" PRIu64 "\"><td class=\"l\">", r->alerts_by_rule[i]);
        jd_report_html_text(f, r->conf->rules[i].name);
        fprintf(f, "</td><td>%s</td><td>%" PRIu64 "</td><td class=\"l\"><svg width=\"%d\" "
                   "height=\"26\" role=\"img\"><line x1=\"0\" y1=\"25.5\" x2=\"%d\" y2=\"25.5\" "
                   "stroke=\"#ccd\"/>", sev[r->conf->rules[i].severity], r->alerts_by_rule[i],
                JD_TSERIES_BUCKETS * 6, JD_TSERIES_BUCKETS * 6);
        for (int b = 0; b < JD_TSERIES_BUCKETS && ts->width; b++) {
            uint64_t n = jd_tseries_at(ts, i, b);
            if (!n)
                continue;
            double h = 1.0 + 24.0 * (double)n / (double)peak;
            fprintf(f, "<rect x=\"%d\" y=\"%.1f\" width=\"5\" height=\"%.1f\" fill=\"#e15759\">"
                       "<title>%" PRIu64 "</title></rect>", b * 6, 25.0 - h, h, n);
        }
        fputs("</svg></td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

static int by_lower_bound(const void *a, const void *b)
{
    const jd_topk_item_t *x = *(const jd_topk_item_t *const *)a;
    const jd_topk_item_t *y = *(const jd_topk_item_t *const *)b;
    uint64_t lx = x->count - x->err, ly = y->count - y->err;
    if (lx != ly)
        return lx > ly ? -1 : 1;
    return strcmp(x->key, y->key);
}

static void alerts(const jd_report_t *r, FILE *f)
{
    fputs("<section id=\"alerts\"><h2>Alerts over time</h2>\n", f);
    if (!r->alerts) {
        fputs("<p class=\"empty\">No alert fired.</p></section>\n", f);
        return;
    }
    alert_series(r, f);
    const jd_topk_t *t = r->journeys;
    const jd_topk_item_t **sorted = malloc(JD_REPORT_JOURNEY_K * sizeof(*sorted));
    if (!sorted) {
        fputs("</section>\n", f);
        return;
    }
    jd_topk_sorted(t, sorted);
    qsort(sorted, t->n, sizeof(*sorted), by_lower_bound);
    fprintf(f, "<h3>Journeys with the most alerts (top %d)</h3>\n<p class=\"note\">Each line is "
               "a channel; dots are the events in the alerts' journey context (colour = stage), "
               "numbered red marks are alerts. Ranked by %d space-saving counters over "
               "customers.</p>\n", SHOW_TOP, JD_REPORT_JOURNEY_K);
    if (t->n < SHOW_TOP)
        fprintf(f, "<p class=\"note\">Only %zu customers had alerts.</p>\n", t->n);
    for (size_t k = 0; k < t->n && k < SHOW_TOP; k++) {
        const jd_topk_item_t *it = sorted[k];
        fprintf(f, "<div class=\"journey\" data-customer=\"");
        jd_report_html_text(f, it->key);
        uint64_t seen = it->count - it->err;
        fprintf(f, "\" data-alerts=\"%" PRIu64 "\"><h3>%zu. ", seen, k + 1);
        jd_report_html_text(f, it->key);
        if (it->err)   /* tracked since its counter was taken over */
            fprintf(f, " &mdash; at least %" PRIu64 " alert%s</h3>\n", seen, seen == 1 ? "" : "s");
        else
            fprintf(f, " &mdash; %" PRIu64 " alert%s</h3>\n", seen, seen == 1 ? "" : "s");
        jd_report_render_journey(r, &r->jrn[it - t->items], f);
        fputs("</div>\n", f);
    }
    free(sorted);
    fputs("</section>\n", f);
}

static void header(const jd_report_run_t *run, FILE *f)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n"
          "<title>journeyd replay report</title>\n", f);
    css(f);
    fputs("</head><body>\n", f);
    for (size_t i = 0; i < NSECTIONS; i++)
        fprintf(f, "<span class=\"only\" id=\"only-%s\"></span>", sections[i][0]);
    fputs("\n<header><h1>Customer journeys: replay report</h1><p>", f);
    for (size_t i = 0; i < run->ninputs; i++) {
        fputs(i ? ", " : "Input: ", f);
        jd_report_html_text(f, run->inputs[i]);
    }
    fputs(" &middot; journeyd " JD_VERSION "</p></header>\n<nav>", f);
    for (size_t i = 0; i < NSECTIONS; i++)
        fprintf(f, "<a href=\"#%s\">%s</a>", sections[i][0], sections[i][1]);
    fputs("</nav>\n<main>\n", f);
}

static void nothing(const char *id, const char *title, FILE *f)
{
    fprintf(f, "<section id=\"%s\"><h2>%s</h2><p class=\"empty\">Nothing to show: no event was "
               "accepted.</p></section>\n", id, title);
}

int jd_report_write_html(const jd_report_t *r, const jd_report_run_t *run,
                         const char *path, jd_err_t *err)
{
    size_t n = strlen(path) + 5;
    char *tmp = malloc(n);
    if (!tmp)
        return jd_err_set(err, "out of memory");
    snprintf(tmp, n, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        jd_err_set(err, "cannot write %s: %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    header(run, f);
    overview(r, run, f);
    if (r->events) {
        jd_report_render_map(r, f);
        funnels(r, run, f);
        struggles(r, f);
        alerts(r, f);
    } else {
        for (size_t i = 1; i < NSECTIONS; i++)
            nothing(sections[i][0], sections[i][1], f);
    }
    fputs("</main></body></html>\n", f);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        jd_err_set(err, "write error on %s", tmp);
    } else if (rename(tmp, path) != 0) {
        jd_err_set(err, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    } else {
        free(tmp);
        return 0;
    }
    remove(tmp);
    free(tmp);
    return -1;
}
