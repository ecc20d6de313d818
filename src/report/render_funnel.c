/*
 * The funnel parts of the report that contract 5a added: a funnel's counts
 * split by its breakdown_by segments (the engine's counters, the same as
 * --summary-json's "segments"), and how many drop-offs had a struggle
 * alert during the attempt (from the drop-off alerts' evidence.struggles).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include "report_int.h"

/* Segments shown per funnel; the rest share one row. */
#define REPORT_SEGMENTS 12

static double share(uint64_t a, uint64_t b)
{
    return b ? (double)a / (double)b : 0.0;
}

/* One row: data-seg-* carry the numbers (reached/dropped as
 * slash-separated lists by step), the bar the outcome of the segment's
 * attempts as shares, so segments of any size compare: converted,
 * dropped, still open. */
static void seg_row(FILE *f, const jd_rule_t *rule, const char *attr, const char *label,
                    const jd_funnel_seg_t *sg)
{
    uint64_t pending = jd_funnel_seg_pending(sg, rule->nsteps), dropped = 0;
    fprintf(f, "<tr %s=\"", attr);
    jd_report_html_text(f, label);
    fprintf(f, "\" data-seg-attempts=\"%" PRIu64 "\" data-seg-completed=\"%" PRIu64
               "\" data-seg-pending=\"%" PRIu64 "\" data-seg-reached=\"", sg->attempts,
            sg->completed, pending);
    for (uint32_t k = 0; k < rule->nsteps; k++)
        fprintf(f, "%s%" PRIu64, k ? "/" : "", sg->reached[k]);
    fputs("\" data-seg-dropped=\"", f);
    for (uint32_t k = 0; k < rule->nsteps; k++) {
        fprintf(f, "%s%" PRIu64, k ? "/" : "", sg->dropped[k]);
        dropped += sg->dropped[k];
    }
    fputs("\"><td class=\"l\">", f);
    jd_report_html_text(f, label);
    fprintf(f, "</td><td>%" PRIu64 "</td>", sg->attempts);
    for (uint32_t k = 1; k < rule->nsteps; k++)
        fprintf(f, "<td>%" PRIu64 " <small>(%.0f%%)</small></td>", sg->reached[k],
                100.0 * share(sg->reached[k], sg->attempts));
    fputs("<td>", f);
    for (uint32_t k = 0; k + 1 < rule->nsteps; k++)
        fprintf(f, "%s%" PRIu64, k ? " / " : "", sg->dropped[k]);
    double scale = sg->attempts ? 200.0 / (double)sg->attempts : 0.0;
    fprintf(f, "</td><td><b>%.1f%%</b></td><td>%" PRIu64 "</td><td class=\"l\">"
               "<span class=\"bar\" style=\"width:%.1fpx\"></span>"
               "<span class=\"bar drop\" style=\"width:%.1fpx\"></span>"
               "<span class=\"bar dl\" style=\"width:%.1fpx\"></span></td></tr>\n",
            100.0 * share(sg->completed, sg->attempts), pending,
            scale * (double)sg->completed, scale * (double)dropped, scale * (double)pending);
}

void jd_report_render_segments(const jd_report_t *r, const jd_report_run_t *run,
                               uint32_t ri, FILE *f)
{
    const jd_rule_t *rule = &r->conf->rules[ri];
    const jd_funnel_stats_t *fs = &run->stats->funnels[ri];
    const char *field = r->conf->slots[rule->breakdown_slot].name;
    const jd_funnel_seg_t **order = malloc((fs->nsegs ? fs->nsegs : 1) * sizeof(*order));
    uint64_t *buf = calloc(2 * (size_t)rule->nsteps, sizeof(uint64_t));
    if (!order || !buf) {
        free(order);
        free(buf);
        fputs("<p class=\"warn\">Out of memory drawing the segments.</p>\n", f);
        return;
    }
    uint32_t n = jd_funnel_segs_sorted(fs, order);
    jd_funnel_seg_t rest = { .reached = buf, .dropped = buf + rule->nsteps };
    for (uint32_t i = REPORT_SEGMENTS; i < n; i++)
        jd_funnel_seg_add(&rest, order[i], rule->nsteps);
    fprintf(f, "<h4>By <code>");
    jd_report_html_text(f, field);
    fprintf(f, "</code> of the step-1 event: %u segment%s</h4>\n<table data-segments=\"", n,
            n == 1 ? "" : "s");
    jd_report_html_text(f, rule->name);
    fprintf(f, "\" data-segment-count=\"%u\"><tr><th class=\"l\">", n);
    jd_report_html_text(f, field);
    fputs("</th><th>attempts</th>", f);
    for (uint32_t k = 1; k < rule->nsteps; k++) {
        fputs("<th>", f);
        jd_report_html_text(f, rule->steps[k].name);
        fputs("</th>", f);
    }
    fputs("<th>dropped after step", f);
    for (uint32_t k = 0; k + 1 < rule->nsteps; k++)
        fprintf(f, "%s%u", k ? " / " : " ", k + 1);
    fputs("</th><th>converted</th><th>open</th><th class=\"l\"></th></tr>\n", f);
    for (uint32_t i = 0; i < n && i < REPORT_SEGMENTS; i++)
        seg_row(f, rule, order[i]->value ? "data-segment" : "data-segment-none",
                order[i]->value ? order[i]->value : "(none)", order[i]);
    if (n > REPORT_SEGMENTS) {
        char label[48];
        snprintf(label, sizeof(label), "%u more segments", n - REPORT_SEGMENTS);
        seg_row(f, rule, "data-segment-rest", label, &rest);
    }
    if (fs->other.reached && fs->other.attempts)
        seg_row(f, rule, "data-segment-other", "(other)", &fs->other);
    fprintf(f, "</table>\n<p class=\"note\">The top %d segments by attempts; the rest share "
               "one row. Bars: the segment's attempts that converted (blue), dropped (red), "
               "were still open (grey). An engine keeps %d values per funnel (the first it sees); attempts of "
               "later values are counted under (other). (none): the step-1 event had no <code>",
            REPORT_SEGMENTS, JD_FUNNEL_SEGMENTS_MAX);
    jd_report_html_text(f, field);
    fputs("</code>.</p>\n", f);
    free(order);
    free(buf);
}

void jd_report_render_dropoff_struggles(const jd_report_t *r, FILE *f)
{
    for (uint32_t fi = 0; fi < r->nfun; fi++) {
        uint32_t ri = r->fun_rule[fi];
        const jd_rule_t *rule = &r->conf->rules[ri];
        const uint64_t *all = &r->fdrops[(size_t)fi * r->fmaxsteps];
        const uint64_t *hit = &r->fdrops_struggled[(size_t)fi * r->fmaxsteps];
        uint64_t tot = 0, tot_hit = 0;
        for (uint32_t k = 0; k < rule->nsteps; k++) {
            tot += all[k];
            tot_hit += hit[k];
        }
        fputs("<div><h3>Drop-offs of ", f);
        jd_report_html_text(f, rule->name);
        fprintf(f, " with a struggle</h3><table data-dropoff-struggles=\"");
        jd_report_html_text(f, rule->name);
        fprintf(f, "\" data-drops=\"%" PRIu64 "\" data-struggled=\"%" PRIu64 "\"><tr>"
                   "<th class=\"l\">dropped after</th><th>drop-offs</th><th>with a struggle</th>"
                   "<th>share</th><th class=\"l\"></th></tr>\n", tot, tot_hit);
        for (uint32_t k = 0; k + 1 < rule->nsteps; k++) {
            fprintf(f, "<tr data-drop-step=\"");
            jd_report_html_text(f, rule->steps[k].name);
            fprintf(f, "\" data-drops=\"%" PRIu64 "\" data-struggled=\"%" PRIu64 "\">"
                       "<td class=\"l\">%u. ", all[k], hit[k], k + 1);
            jd_report_html_text(f, rule->steps[k].name);
            fprintf(f, "</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td><td><b>%.1f%%</b></td>"
                       "<td class=\"l\"><span class=\"bar drop\" style=\"width:%.1fpx\"></span>"
                       "<span class=\"bar dl\" style=\"width:%.1fpx\"></span></td></tr>\n",
                    all[k], hit[k], 100.0 * share(hit[k], all[k]),
                    160.0 * share(hit[k], all[k]), 160.0 * share(all[k] - hit[k], all[k]));
        }
        fputs("</table>", f);
        int any = 0;
        for (uint32_t s = 0; s < r->nrules; s++) {
            uint64_t n = r->fdrops_by_rule[(size_t)fi * r->nrules + s];
            if (!n)
                continue;
            fputs(any ? ", " : "<p class=\"note\">Struggles listed: ", f);
            any = 1;
            fprintf(f, "<span data-struggle-rule=\"");
            jd_report_html_text(f, r->conf->rules[s].name);
            fprintf(f, "\" data-dropoffs=\"%" PRIu64 "\">", n);
            jd_report_html_text(f, r->conf->rules[s].name);
            fprintf(f, " in %" PRIu64 " drop-off%s</span>", n, n == 1 ? "" : "s");
        }
        fputs(any ? ".</p></div>\n" : "</div>\n", f);
    }
}
