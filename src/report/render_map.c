/*
 * The two drawings of the report, as inline SVG: the journey map (channels
 * as rows, stages as columns, customer moves between touchpoints as
 * Sankey-like bands, alerts as red circles sized by customers affected) and
 * the small per-customer timelines of the journeys with the most alerts.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "journeyd/timeutil.h"
#include "report_int.h"

#define MAP_LEFT 130
#define MAP_TOP 104
#define MAP_WIDTH 1160   /* columns widen to fill it when there are few stages */
#define MAP_COLW_MIN 168
#define MAP_COLW_MAX 300
#define MAP_ROWH 100
#define MAP_NODEW 100
#define MAP_FLOWS 30      /* the busiest moves drawn; the rest are counted */
#define MAP_LOWPOINTS 10

static const char *const stage_color[JD_STAGE__COUNT] = {
    "#9c6fb6", "#4e79a7", "#59a5a0", "#f28e2b", "#d4a21b", "#59a14f", "#b07aa1", "#a39a95"};
#define COLOR_ALERT "#e15759"
#define COLOR_SAME "#9aa5b1"
#define COLOR_CROSS "#2c7fb8"

typedef struct map_layout {
    int ncols, nrows;
    int colw;
    int col_of_stage[JD_STAGE__COUNT];           /* -1 = not drawn */
    int row_of_chan[JD_REPORT_CHANNELS + 1];     /* -1 = not drawn */
    int stage_of_col[JD_STAGE__COUNT];
    unsigned chan_of_row[JD_REPORT_CHANNELS + 1];
    uint64_t max_events, max_customers;
    double node_h[JD_REPORT_TP];
    uint64_t customers[JD_REPORT_TP];            /* affected by alerts */
} map_layout_t;

static int tp_used(const jd_report_t *r, unsigned tp)
{
    return r->tp_events[tp] || r->tp_alerts[tp];
}

static void map_layout(const jd_report_t *r, map_layout_t *L)
{
    memset(L, 0, sizeof(*L));
    for (int s = 0; s < JD_STAGE__COUNT; s++) {
        L->col_of_stage[s] = -1;
        for (unsigned c = 0; c <= JD_REPORT_CHANNELS; c++)
            if (tp_used(r, jd_report_tp(c, (unsigned)s))) {
                L->stage_of_col[L->ncols] = s;
                L->col_of_stage[s] = L->ncols++;
                break;
            }
    }
    /* rows by events, busiest channel on top */
    uint64_t ev[JD_REPORT_CHANNELS + 1];
    for (unsigned c = 0; c <= JD_REPORT_CHANNELS; c++) {
        L->row_of_chan[c] = -1;
        ev[c] = 0;
        int used = 0;
        for (unsigned s = 0; s < JD_STAGE__COUNT; s++) {
            ev[c] += r->tp_events[jd_report_tp(c, s)];
            used |= tp_used(r, jd_report_tp(c, s));
        }
        if (used)
            L->chan_of_row[L->nrows++] = c;
    }
    for (int i = 1; i < L->nrows; i++)
        for (int k = i; k > 0 && ev[L->chan_of_row[k]] > ev[L->chan_of_row[k - 1]]; k--) {
            unsigned t = L->chan_of_row[k];
            L->chan_of_row[k] = L->chan_of_row[k - 1];
            L->chan_of_row[k - 1] = t;
        }
    for (int i = 0; i < L->nrows; i++)
        L->row_of_chan[L->chan_of_row[i]] = i;
    for (unsigned tp = 0; tp < JD_REPORT_TP; tp++) {
        if (r->tp_events[tp] > L->max_events)
            L->max_events = r->tp_events[tp];
        if (r->tp_customers[tp]) {
            L->customers[tp] = jd_hll_count(r->tp_customers[tp]);
            /* an alert means someone; and no more customers than alerts
             * (the sketch may overestimate by a few percent) */
            if (L->customers[tp] == 0)
                L->customers[tp] = 1;
            if (L->customers[tp] > r->tp_alerts[tp])
                L->customers[tp] = r->tp_alerts[tp];
        }
        if (L->customers[tp] > L->max_customers)
            L->max_customers = L->customers[tp];
    }
    L->colw = L->ncols ? (MAP_WIDTH - MAP_LEFT - 20) / L->ncols : MAP_COLW_MIN;
    L->colw = L->colw < MAP_COLW_MIN ? MAP_COLW_MIN : L->colw > MAP_COLW_MAX ? MAP_COLW_MAX : L->colw;
    for (unsigned tp = 0; tp < JD_REPORT_TP; tp++)
        L->node_h[tp] = 18.0 + 46.0 * sqrt((double)r->tp_events[tp] /
                                           (double)(L->max_events ? L->max_events : 1));
}

static double node_x(const map_layout_t *L, unsigned tp)
{
    return MAP_LEFT + L->col_of_stage[tp % JD_STAGE__COUNT] * L->colw + L->colw / 2.0;
}

static double node_y(const map_layout_t *L, unsigned tp)
{
    return MAP_TOP + L->row_of_chan[tp / JD_STAGE__COUNT] * MAP_ROWH + MAP_ROWH / 2.0;
}

static void tp_label(const jd_report_t *r, unsigned tp, FILE *f)
{
    jd_report_html_text(f, jd_report_chan_label(r, tp / JD_STAGE__COUNT));
    fprintf(f, " &middot; %s", jd_report_stage_name((int)(tp % JD_STAGE__COUNT)));
}

typedef struct flow_ref {
    uint64_t n;
    uint32_t from, to;
} flow_ref_t;

static int flow_cmp(const void *a, const void *b)
{
    const flow_ref_t *x = a, *y = b;
    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    return x->from != y->from ? (x->from < y->from ? -1 : 1) : (x->to < y->to ? -1 : 1);
}

/* The busiest MAP_FLOWS moves, into top (sorted); returns how many. */
static size_t top_flows(const jd_report_t *r, flow_ref_t *top)
{
    size_t n = 0;
    for (uint32_t a = 0; a < JD_REPORT_TP; a++)
        for (uint32_t b = 0; b < JD_REPORT_TP; b++) {
            uint64_t c = r->flow[(size_t)a * JD_REPORT_TP + b];
            if (!c)
                continue;
            flow_ref_t fr = {c, a, b};
            if (n < MAP_FLOWS) {
                top[n++] = fr;
                qsort(top, n, sizeof(*top), flow_cmp);
            } else if (flow_cmp(&fr, &top[n - 1]) < 0) {
                top[n - 1] = fr;
                qsort(top, n, sizeof(*top), flow_cmp);
            }
        }
    return n;
}

static void map_flows(const jd_report_t *r, const map_layout_t *L, const flow_ref_t *fl,
                      size_t nfl, FILE *f)
{
    double half = MAP_NODEW / 2.0;
    for (size_t i = nfl; i-- > 0;) {   /* thin ones first, thick on top */
        unsigned a = fl[i].from, b = fl[i].to;
        int cross = a / JD_STAGE__COUNT != b / JD_STAGE__COUNT;
        double xa = node_x(L, a), ya = node_y(L, a), xb = node_x(L, b), yb = node_y(L, b);
        double w = 1.5 + 16.0 * (double)fl[i].n / (double)fl[0].n;
        int ca = L->col_of_stage[a % JD_STAGE__COUNT], cb = L->col_of_stage[b % JD_STAGE__COUNT];
        /* going back to an earlier stage is dashed and fainter, so the
         * forward journey reads first */
        fprintf(f, "<path class=\"flow\" data-from=\"%u\" data-to=\"%u\" data-moves=\"%" PRIu64 "\" "
                   "fill=\"none\" stroke=\"%s\" stroke-opacity=\"%s\" stroke-width=\"%.1f\"%s "
                   "marker-end=\"url(#arrow-%s)\" d=\"", a, b, fl[i].n,
                cross ? COLOR_CROSS : COLOR_SAME, ca > cb ? ".35" : cross ? ".55" : ".6", w,
                ca > cb ? " stroke-dasharray=\"7 5\"" : "", cross ? "cross" : "same");
        if (ca < cb) {
            double x0 = xa + half, x1 = xb - half - 6, mid = (x0 + x1) / 2;
            fprintf(f, "M%.1f %.1fC%.1f %.1f %.1f %.1f %.1f %.1f", x0, ya, mid, ya, mid, yb, x1, yb);
        } else if (ca == cb) {
            double x0 = xa + half, x1 = xb + half + 6, bulge = x0 + 46;
            fprintf(f, "M%.1f %.1fC%.1f %.1f %.1f %.1f %.1f %.1f", x0, ya + 8, bulge, ya + 8,
                    bulge, yb - 8, x1, yb - 8);
        } else {
            double x0 = xa - half, x1 = xb + half + 6, dip = MAP_ROWH * 0.46;
            fprintf(f, "M%.1f %.1fC%.1f %.1f %.1f %.1f %.1f %.1f", x0, ya + 10, x0 - 50, ya + dip,
                    x1 + 50, yb + dip, x1, yb + 10);
        }
        fprintf(f, "\"><title>");
        tp_label(r, a, f);
        fputs(" &#8594; ", f);
        tp_label(r, b, f);
        fprintf(f, ": %" PRIu64 " moves</title></path>\n", fl[i].n);
    }
}

static void map_nodes(const jd_report_t *r, const map_layout_t *L, FILE *f)
{
    for (unsigned tp = 0; tp < JD_REPORT_TP; tp++) {
        if (!tp_used(r, tp))
            continue;
        int stage = (int)(tp % JD_STAGE__COUNT);
        double x = node_x(L, tp), y = node_y(L, tp), h = L->node_h[tp];
        char b[32];
        jd_report_fmt_count(b, sizeof(b), r->tp_events[tp]);
        fprintf(f, "<g class=\"tp\" data-tp=\"%u\" data-channel=\"", tp);
        jd_report_html_text(f, jd_report_chan_label(r, tp / JD_STAGE__COUNT));
        /* an opaque white box under the tint: bands pass behind boxes */
        fprintf(f, "\" data-stage=\"%s\" data-events=\"%" PRIu64 "\"><rect x=\"%.1f\" y=\"%.1f\" "
                   "width=\"%d\" height=\"%.1f\" rx=\"6\" fill=\"#fff\"/><rect x=\"%.1f\" "
                   "y=\"%.1f\" width=\"%d\" height=\"%.1f\" rx=\"6\" fill=\"%s\" "
                   "fill-opacity=\".22\" stroke=\"%s\" stroke-width=\"1.5\"/><text x=\"%.1f\" "
                   "y=\"%.1f\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"600\">%s</text>"
                   "<title>", jd_report_stage_name(stage), r->tp_events[tp], x - MAP_NODEW / 2.0,
                y - h / 2, MAP_NODEW, h, x - MAP_NODEW / 2.0, y - h / 2, MAP_NODEW, h,
                stage_color[stage], stage_color[stage], x, y + 4.5, b);
        tp_label(r, tp, f);
        fprintf(f, ": %" PRIu64 " events; %" PRIu64 " customers first seen here</title></g>\n",
                r->tp_events[tp], r->tp_entries[tp]);
    }
}

/* The rule that fired most at tp. */
static uint32_t top_rule(const jd_report_t *r, unsigned tp)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < r->nrules; i++)
        if (r->tp_rule_alerts[(size_t)tp * r->nrules + i] >
            r->tp_rule_alerts[(size_t)tp * r->nrules + best])
            best = i;
    return best;
}

static void map_lowpoints(const jd_report_t *r, const map_layout_t *L, FILE *f)
{
    for (unsigned tp = 0; tp < JD_REPORT_TP; tp++) {
        if (!r->tp_alerts[tp])
            continue;
        double x = node_x(L, tp) + MAP_NODEW / 2.0 - 4, y = node_y(L, tp) - L->node_h[tp] / 2;
        double rad = 9.0 + 17.0 * sqrt((double)L->customers[tp] / (double)L->max_customers);
        char b[32];
        jd_report_fmt_count(b, sizeof(b), L->customers[tp]);
        fprintf(f, "<g class=\"lowpoint\" data-tp=\"%u\" data-alerts=\"%" PRIu64 "\" "
                   "data-customers=\"%" PRIu64 "\"><circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" "
                   "fill=\"" COLOR_ALERT "\" fill-opacity=\".9\" stroke=\"#fff\" stroke-width=\"2\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"%d\" "
                   "font-weight=\"700\" fill=\"#fff\">%s</text>"
                   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"11\" "
                   "fill=\"#b8323a\">", tp, r->tp_alerts[tp], L->customers[tp], x, y, rad, x,
                y + 4, rad < 12 ? 10 : 12, b, node_x(L, tp), node_y(L, tp) + L->node_h[tp] / 2 + 14);
        jd_report_html_text(f, r->conf->rules[top_rule(r, tp)].name);
        fprintf(f, "</text><title>%s customers affected, %" PRIu64 " alerts at ", b, r->tp_alerts[tp]);
        tp_label(r, tp, f);
        for (uint32_t i = 0; i < r->nrules; i++) {
            uint64_t n = r->tp_rule_alerts[(size_t)tp * r->nrules + i];
            if (!n)
                continue;
            fputs("\n", f);
            jd_report_html_text(f, r->conf->rules[i].name);
            fprintf(f, ": %" PRIu64, n);
        }
        fputs("</title></g>\n", f);
    }
}

static void map_frame(const jd_report_t *r, const map_layout_t *L, int width, FILE *f)
{
    fprintf(f, "<defs><marker id=\"arrow-same\" viewBox=\"0 0 10 10\" refX=\"1\" refY=\"5\" "
               "markerWidth=\"9\" markerHeight=\"9\" markerUnits=\"userSpaceOnUse\" orient=\"auto\">"
               "<path d=\"M0 0L10 5L0 10z\" fill=\"" COLOR_SAME "\"/></marker>"
               "<marker id=\"arrow-cross\" viewBox=\"0 0 10 10\" refX=\"1\" refY=\"5\" "
               "markerWidth=\"9\" markerHeight=\"9\" markerUnits=\"userSpaceOnUse\" orient=\"auto\">"
               "<path d=\"M0 0L10 5L0 10z\" fill=\"" COLOR_CROSS "\"/></marker></defs>\n");
    /* legend */
    fprintf(f, "<g font-size=\"12.5\" fill=\"#1d2733\">"
               "<rect x=\"0\" y=\"8\" width=\"26\" height=\"16\" rx=\"4\" fill=\"#4e79a7\" "
               "fill-opacity=\".22\" stroke=\"#4e79a7\"/><text x=\"32\" y=\"21\">touchpoint: "
               "number = events there</text>"
               "<path d=\"M290 16h34\" stroke=\"" COLOR_SAME "\" stroke-width=\"6\"/>"
               "<text x=\"332\" y=\"21\">customers moving on, same channel</text>"
               "<path d=\"M580 16h34\" stroke=\"" COLOR_CROSS "\" stroke-opacity=\".7\" "
               "stroke-width=\"6\"/><text x=\"622\" y=\"21\">customers switching channel</text>"
               "<path d=\"M830 16h34\" stroke=\"" COLOR_SAME "\" stroke-width=\"4\" "
               "stroke-dasharray=\"7 5\"/><text x=\"872\" y=\"21\">back to an earlier stage</text>"
               "<circle cx=\"9\" cy=\"44\" r=\"9\" fill=\"" COLOR_ALERT "\"/>"
               "<text x=\"26\" y=\"49\">low point: number = customers with alerts there; "
               "the rule that fired most is written below the box</text></g>\n");
    for (int c = 0; c < L->ncols; c++) {
        int s = L->stage_of_col[c];
        double x = MAP_LEFT + c * L->colw + L->colw / 2.0;
        fprintf(f, "<rect x=\"%.1f\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\" "
                   "fill-opacity=\".05\"/><text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" "
                   "font-size=\"14\" font-weight=\"700\" fill=\"%s\">%s</text>\n",
                x - L->colw / 2.0 + 4, MAP_TOP - 24, L->colw - 8, L->nrows * MAP_ROWH + 24,
                stage_color[s], x, MAP_TOP - 8, stage_color[s], jd_report_stage_name(s));
    }
    for (int i = 0; i < L->nrows; i++) {
        double y = MAP_TOP + i * MAP_ROWH + MAP_ROWH / 2.0;
        fprintf(f, "<line x1=\"0\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e3e6ea\"/>"
                   "<text x=\"4\" y=\"%.1f\" font-size=\"14\" font-weight=\"700\">",
                y, width, y, y + 5);
        jd_report_html_text(f, jd_report_chan_label(r, L->chan_of_row[i]));
        fputs("</text>\n", f);
    }
}

static void map_lowpoint_table(const jd_report_t *r, const map_layout_t *L, FILE *f)
{
    unsigned order[JD_REPORT_TP], n = 0;
    for (unsigned tp = 0; tp < JD_REPORT_TP; tp++)
        if (r->tp_alerts[tp])
            order[n++] = tp;
    for (unsigned i = 1; i < n; i++)
        for (unsigned k = i; k > 0 && L->customers[order[k]] > L->customers[order[k - 1]]; k--) {
            unsigned t = order[k];
            order[k] = order[k - 1];
            order[k - 1] = t;
        }
    if (!n)
        return;
    fputs("<h3>Low points</h3><table><tr><th class=\"l\">touchpoint</th><th>customers</th>"
          "<th>alerts</th><th class=\"l\">rules (alerts)</th></tr>\n", f);
    for (unsigned i = 0; i < n && i < MAP_LOWPOINTS; i++) {
        unsigned tp = order[i];
        fprintf(f, "<tr><td class=\"l\">");
        tp_label(r, tp, f);
        fprintf(f, "</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td><td class=\"l\">",
                L->customers[tp], r->tp_alerts[tp]);
        int first = 1;
        for (uint32_t k = 0; k < r->nrules; k++) {
            uint64_t c = r->tp_rule_alerts[(size_t)tp * r->nrules + k];
            if (!c)
                continue;
            fputs(first ? "" : ", ", f);
            first = 0;
            jd_report_html_text(f, r->conf->rules[k].name);
            fprintf(f, " (%" PRIu64 ")", c);
        }
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

static void map_notes(const jd_report_t *r, size_t nfl, FILE *f)
{
    size_t total = 0;
    for (size_t i = 0; i < (size_t)JD_REPORT_TP * JD_REPORT_TP; i++)
        total += r->flow[i] != 0;
    fprintf(f, "<p class=\"note\" data-moves=\"%" PRIu64 "\" data-flow-forgotten=\"%" PRIu64 "\">"
               "A move is a customer's next event at another touchpoint (in arrival order); "
               "%" PRIu64 " moves and %" PRIu64 " repeats at the same touchpoint were counted. "
               "The %zu busiest of %zu distinct moves are drawn; hover a band or box for its count. "
               "The last touchpoint of up to %" PRIu64 " customers is remembered: %" PRIu64
               " were forgotten to make room, so their next move was not drawn.%s</p>\n",
            r->moves, r->flow_forgotten, r->moves, r->stays, nfl, total,
            r->nbuckets * JD_REPORT_WAYS, r->flow_forgotten,
            r->no_identity ? " Events without identity have no move." : "");
    fputs("<p class=\"note\">Stages come from the event type: ", f);
    for (int s = 0; s < JD_STAGE__COUNT - 1; s++) {
        fprintf(f, "%s<b>%s</b> (", s ? "; " : "", jd_report_stage_name(s));
        int first = 1;
        for (const jd_report_stage_map_t *m = jd_report_stage_map; m->type; m++)
            if (m->stage == s) {
                fprintf(f, "%s%s", first ? "" : ", ", m->type);
                first = 0;
            }
        fputs(")", f);
    }
    fputs("; any other type is <b>other</b>.</p>\n", f);
}

void jd_report_render_map(const jd_report_t *r, FILE *f)
{
    map_layout_t *L = malloc(sizeof(*L));
    flow_ref_t fl[MAP_FLOWS];
    if (!L)
        return;
    map_layout(r, L);
    size_t nfl = top_flows(r, fl);
    int width = MAP_LEFT + L->ncols * L->colw + 20;
    if (width < MAP_WIDTH)
        width = MAP_WIDTH;
    int height = MAP_TOP + L->nrows * MAP_ROWH + 10;
    fputs("<section id=\"journey-map\"><h2>Journey map</h2>\n<p class=\"lead\">Where customers "
          "go and where they struggle. Rows are channels, columns are stages of the journey; each "
          "box is a touchpoint. Bands show customers moving from one touchpoint to the next "
          "(thicker = more customers; blue = they switched channel). Red circles are the low "
          "points: alerts fired there, and the bigger the circle the more customers were "
          "affected.</p>\n", f);
    fprintf(f, "<svg class=\"map\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" "
               "aria-label=\"journey map\" style=\"max-width:100%%;height:auto\">\n",
            width, height, width, height);
    map_frame(r, L, width, f);
    map_flows(r, L, fl, nfl, f);
    map_nodes(r, L, f);
    map_lowpoints(r, L, f);
    fputs("</svg>\n", f);
    map_lowpoint_table(r, L, f);
    map_notes(r, nfl, f);
    fputs("</section>\n", f);
    free(L);
}

/* ---- per-journey timeline ---------------------------------------------- */

#define JRN_LEFT 96
#define JRN_W 980
#define JRN_ROWH 26

static void hhmmss(int64_t ts, char *out)
{
    char b[JD_TIME_BUFSZ];
    jd_time_format_rfc3339(ts, b);
    memcpy(out, b + 11, 8);
    out[8] = '\0';
}

void jd_report_render_journey(const jd_report_t *r, const report_jrn_t *j, FILE *f)
{
    int row_of[JD_REPORT_CHANNELS + 1], nrows = 0;
    unsigned chans[JD_REPORT_CHANNELS + 1];
    for (int c = 0; c <= JD_REPORT_CHANNELS; c++)
        row_of[c] = -1;
    int64_t t0 = INT64_MAX, t1 = INT64_MIN;
    for (uint32_t i = 0; i < j->nev + j->nal; i++) {
        unsigned c = i < j->nev ? j->ev[i].chan : j->al[i - j->nev].chan;
        int64_t ts = i < j->nev ? j->ev[i].ts : j->al[i - j->nev].ts;
        if (row_of[c] < 0) {
            chans[nrows] = c;
            row_of[c] = nrows++;
        }
        t0 = ts < t0 ? ts : t0;
        t1 = ts > t1 ? ts : t1;
    }
    if (!nrows)
        return;
    if (t1 <= t0)
        t1 = t0 + 1000;
    int h = 14 + nrows * JRN_ROWH + 22;
    double span = (double)(JRN_W - JRN_LEFT - 30);
#define JX(ts) (JRN_LEFT + 10 + span * (double)((ts) - t0) / (double)(t1 - t0))
#define JY(c) (14 + row_of[c] * JRN_ROWH + JRN_ROWH / 2.0)
    fprintf(f, "<svg width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" "
               "style=\"max-width:100%%;height:auto\">\n", JRN_W, h, JRN_W, h);
    for (int i = 0; i < nrows; i++) {
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e3e6ea\"/>"
                   "<text x=\"0\" y=\"%.1f\" font-size=\"12\">", JRN_LEFT, JY(chans[i]), JRN_W - 10,
                JY(chans[i]), JY(chans[i]) + 4);
        jd_report_html_text(f, jd_report_chan_label(r, chans[i]));
        fputs("</text>\n", f);
    }
    if (j->nev > 1) {
        fputs("<polyline fill=\"none\" stroke=\"#9aa5b1\" stroke-width=\"1.5\" points=\"", f);
        for (uint32_t i = 0; i < j->nev; i++)
            fprintf(f, "%.1f,%.1f ", JX(j->ev[i].ts), JY(j->ev[i].chan));
        fputs("\"/>\n", f);
    }
    char hm[16];
    for (uint32_t i = 0; i < j->nev; i++) {
        hhmmss(j->ev[i].ts, hm);
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\"><title>%s ",
                JX(j->ev[i].ts), JY(j->ev[i].chan), stage_color[j->ev[i].stage], hm);
        jd_report_html_text(f, j->ev[i].type);
        fprintf(f, " (%s)</title></circle>\n", jd_report_stage_name(j->ev[i].stage));
    }
    for (uint32_t i = 0; i < j->nal; i++) {
        double x = JX(j->al[i].ts), y = JY(j->al[i].chan) - 11;
        hhmmss(j->al[i].ts, hm);
        fprintf(f, "<path d=\"M%.1f %.1fl5 -8h-10z\" fill=\"" COLOR_ALERT "\"><title>%s ", x, y + 4, hm);
        jd_report_html_text(f, r->conf->rules[j->al[i].rule].name);
        fprintf(f, "</title></path><text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" "
                   "text-anchor=\"middle\" fill=\"#b8323a\">%u</text>\n", x, y - 6, i + 1);
    }
    char a[JD_TIME_BUFSZ], d[48];
    jd_time_format_rfc3339(t0, a);
    jd_report_fmt_dur(d, sizeof(d), t1 - t0);
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" fill=\"#4a5665\">%s</text>"
               "<text x=\"%d\" y=\"%d\" font-size=\"11\" fill=\"#4a5665\" text-anchor=\"end\">"
               "+%s</text></svg>\n<p class=\"note\">", JRN_LEFT, h - 4, a, JRN_W - 10, h - 4, d);
#undef JX
#undef JY
    for (uint32_t i = 0; i < j->nal; i++) {
        hhmmss(j->al[i].ts, hm);
        fprintf(f, "%s<b style=\"color:#b8323a\">%u</b> ", i ? " &middot; " : "Alerts: ", i + 1);
        jd_report_html_text(f, r->conf->rules[j->al[i].rule].name);
        fprintf(f, " %s", hm);
    }
    if (j->alerts_not_kept)
        fprintf(f, " (and %" PRIu64 " earlier alerts)", j->alerts_not_kept);
    fputs("</p>\n", f);
}
