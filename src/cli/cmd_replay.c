/*
 * `journeyd replay` and `journeyd check-config`: files in, alerts out, the
 * same engine as `run` with the watermark following the data.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "journeyd/cmd.h"
#include "journeyd/config.h"
#include "journeyd/decode.h"
#include "journeyd/decode_pool.h"
#include "journeyd/engine.h"
#include "journeyd/shard.h"
#include "journeyd/reader.h"
#include "journeyd/records.h"
#include "journeyd/report.h"
#include "journeyd/timeutil.h"
#include "options.h"

/* Rule fields are looked for in this many first records before warning
 * that one is never present. */
#define REPLAY_PEEK 1000
/* Bytes of the first record kept to tell whether the input looks like CSV. */
#define REPLAY_SAMPLE 256
/* Exit status when most records were dead letters (README, --help). */
#define REPLAY_EXIT_REJECTED 3

typedef struct replay {
    const jd_config_t *conf;
    jd_decoder_t *dec;
    jd_decode_pool_t *pool;    /* processing.threads > 1, NDJSON input */
    jd_engine_t *eng;          /* processing.threads == 1 */
    jd_shards_t *shards;       /* processing.threads > 1 */
    FILE *out;
    FILE *dlf;                 /* --dead-letter, or NULL */
    uint64_t records;          /* records read, good or bad */
    uint64_t dl[JD_DL__COUNT];
    int progress;              /* stderr is a terminal */
    int64_t started_mono, last_progress;
    int write_error;
    const jd_opts_t *opts;
    unsigned char *seen;       /* per slot: present in one of the first
                                  REPLAY_PEEK records; NULL once warned */
    char sample[REPLAY_SAMPLE]; /* the start of the first record */
    size_t samplelen;
    jd_report_t *report;       /* --report, or NULL */
    jd_dropoffs_t *dropoffs;   /* --dropoffs-csv, or NULL */
} replay_t;

static void replay_on_alert(void *opaque, const char *key, size_t keylen,
                            const char *json, size_t len, int64_t ts)
{
    replay_t *rp = opaque;
    (void)key; (void)keylen; (void)ts;
    if (fwrite(json, 1, len, rp->out) != len || putc('\n', rp->out) == EOF)
        rp->write_error = 1;
    if (rp->report || rp->dropoffs) {
        json_t *a = json_loadb(json, len, 0, NULL);
        if (a && rp->report)
            jd_report_alert(rp->report, key, keylen, a, ts);
        if (a && rp->dropoffs && jd_dropoffs_alert(rp->dropoffs, a) != 0)
            rp->write_error = 1;
        json_decref(a);
    }
}

/* volatile: only ever written, and the stores must stay */
static void *volatile replay_left_at_exit[2];

/* One engine or its sharded twin: the same contract, the same output. */
static const jd_engine_stats_t *replay_stats(replay_t *rp)
{
    return rp->shards ? jd_shards_stats(rp->shards) : jd_engine_stats(rp->eng);
}

static int replay_dead_letter(void *opaque, jd_dl_reason_t reason, const char *detail,
                              const jd_source_pos_t *pos, const char *payload, size_t len)
{
    replay_t *rp = opaque;
    rp->dl[reason]++;
    if (!rp->dlf)
        return 0;
    size_t n;
    char *s = jd_deadletter_format(reason, detail, pos, payload, len, &n);
    if (!s)
        return 0;
    if (fwrite(s, 1, n, rp->dlf) != n || putc('\n', rp->dlf) == EOF)
        rp->write_error = 1;
    free(s);
    return 0;
}

static void replay_progress(replay_t *rp, int final)
{
    int64_t now = jd_mono_ms();
    if (!rp->progress || (!final && now - rp->last_progress < 500))
        return;
    rp->last_progress = now;
    const jd_engine_stats_t *st = replay_stats(rp);
    double secs = (double)(now - rp->started_mono) / 1000.0;
    char tbuf[JD_TIME_BUFSZ] = "-";
    if (st->max_ts != INT64_MIN)
        jd_time_format_rfc3339(st->max_ts, tbuf);
    fprintf(stderr, "\r\033[Kjourneyd replay: %" PRIu64 " events, %.0f events/s, event time %s, %" PRIu64 " alerts%s",
            rp->records, secs > 0 ? (double)rp->records / secs : 0.0, tbuf, st->alerts,
            final ? "\n" : "");
}

/* Marks the rule fields ev carries; after REPLAY_PEEK records, warns about
 * those no record had (jd_opts_warn_fields). ev is NULL for a dead letter. */
static void replay_peek(replay_t *rp, const jd_event_t *ev)
{
    for (uint32_t s = JD_SLOT__CANON; ev && s < ev->nslots && s < rp->conf->nslots; s++)
        if (ev->slot[s])
            rp->seen[s] = 1;
    if (rp->records >= REPLAY_PEEK) {
        jd_opts_warn_fields(rp->opts, rp->conf, rp->seen, rp->records);
        free(rp->seen);
        rp->seen = NULL;
    }
}

/* Counts a record read (good or bad), keeping the start of the first one,
 * the rule fields of the first REPLAY_PEEK (ev is NULL for a dead letter),
 * and a progress line now and then. Called before the engine takes ev. */
static void replay_count(replay_t *rp, const jd_event_t *ev, const char *payload, size_t len)
{
    if (rp->records++ == 0) {
        rp->samplelen = len < sizeof(rp->sample) ? len : sizeof(rp->sample);
        memcpy(rp->sample, payload, rp->samplelen);
    }
    if (rp->seen)
        replay_peek(rp, ev);
    if ((rp->records & 0x3fff) == 0)
        replay_progress(rp, 0);
}

static int replay_on_dead_letter(void *opaque, jd_dl_reason_t reason, const char *detail,
                                 const jd_source_pos_t *pos, const char *payload, size_t len)
{
    replay_count(opaque, NULL, payload, len);
    return replay_dead_letter(opaque, reason, detail, pos, payload, len);
}

/* Hands one event to the engine, dead-lettering what it rejects. */
static int replay_on_event(void *opaque, jd_event_t *ev, const jd_source_pos_t *pos,
                           const char *payload, size_t len)
{
    replay_t *rp = opaque;
    jd_report_obs_t obs;
    replay_count(rp, ev, payload, len);
    if (rp->report)   /* read before the engine takes ev */
        jd_report_observe(rp->report, ev, &obs);
    jd_dl_reason_t reason = rp->shards ? jd_shards_push(rp->shards, ev)
                                       : jd_engine_push(rp->eng, ev);
    if (rp->report && reason == JD_DL_NONE)
        jd_report_event(rp->report, &obs);
    else if (rp->report)
        jd_report_obs_done(&obs);
    if (reason != JD_DL_NONE)
        replay_dead_letter(rp, reason,
                           "event time is older than the watermark (max ts - time.lateness)",
                           pos, payload, len);
    return 0;
}

static const jd_records_ops_t replay_ops = {
    .on_event = replay_on_event,
    .on_dead_letter = replay_on_dead_letter,
};

static json_t *replay_summary_json(replay_t *rp, double secs)
{
    json_t *o = json_object();
    json_object_set_new(o, "events_read", json_integer((json_int_t)rp->records));
    json_object_set_new(o, "seconds", json_real(secs));
    json_object_set_new(o, "events_per_second",
                        json_real(secs > 0 ? (double)rp->records / secs : 0.0));
    json_t *dl = json_object();
    uint64_t total = 0;
    for (int i = 1; i < JD_DL__COUNT; i++) {
        total += rp->dl[i];
        if (rp->dl[i])
            json_object_set_new(dl, jd_dl_reason_name((jd_dl_reason_t)i),
                                json_integer((json_int_t)rp->dl[i]));
    }
    json_object_set_new(o, "dead_letters", json_integer((json_int_t)total));
    json_object_set_new(o, "dead_letters_by_reason", dl);
    json_object_set_new(o, "engine", rp->shards ? jd_shards_stats_json(rp->shards)
                                                : jd_engine_stats_json(rp->eng));
    return o;
}

/* Segments shown per funnel in the text summary; --summary-json and the
 * report have up to JD_FUNNEL_SEGMENTS_MAX. */
#define REPLAY_SUMMARY_SEGMENTS 10

static void summary_segment_row(FILE *f, const jd_rule_t *r, const char *label,
                                const jd_funnel_seg_t *sg)
{
    fprintf(f, "      %-24.24s %9" PRIu64 " %9" PRIu64 " %6.1f%% %8" PRIu64 "  ", label,
            sg->attempts, sg->completed,
            sg->attempts ? 100.0 * (double)sg->completed / (double)sg->attempts : 0.0,
            jd_funnel_seg_pending(sg, r->nsteps));
    for (uint32_t k = 0; k < r->nsteps; k++)
        fprintf(f, "%s%" PRIu64, k ? "/" : "", sg->reached[k]);
    fputs("  ", f);
    for (uint32_t k = 0; k + 1 < r->nsteps; k++)
        fprintf(f, "%s%" PRIu64, k ? "/" : "", sg->dropped[k]);
    fputc('\n', f);
}

/* The funnel split by breakdown_by: the top segments, then the rest and
 * "(other)" (values beyond the bound) summed, one row each. */
static void summary_segments(FILE *f, const jd_config_t *c, const jd_rule_t *r,
                             const jd_funnel_stats_t *fs)
{
    const jd_funnel_seg_t **order = malloc((fs->nsegs ? fs->nsegs : 1) * sizeof(*order));
    uint64_t *buf = calloc(2 * (size_t)r->nsteps, sizeof(uint64_t));
    if (!order || !buf) {
        free(order);
        free(buf);
        return;
    }
    uint32_t n = jd_funnel_segs_sorted(fs, order);
    fprintf(f, "    by %s (%u segments):\n", c->slots[r->breakdown_slot].name, n);
    fprintf(f, "      %-24s %9s %9s %7s %8s  %s\n", "segment", "attempts", "completed", "conv",
            "pending", "reached per step  dropped after step");
    jd_funnel_seg_t rest = { .reached = buf, .dropped = buf + r->nsteps };
    for (uint32_t i = 0; i < n; i++) {
        if (i < REPLAY_SUMMARY_SEGMENTS)
            summary_segment_row(f, r, order[i]->value ? order[i]->value : "(none)", order[i]);
        else
            jd_funnel_seg_add(&rest, order[i], r->nsteps);
    }
    if (n > REPLAY_SUMMARY_SEGMENTS) {
        char label[48];
        snprintf(label, sizeof(label), "(%u more segments)", n - REPLAY_SUMMARY_SEGMENTS);
        summary_segment_row(f, r, label, &rest);
    }
    if (fs->other.reached && fs->other.attempts)
        summary_segment_row(f, r, "(other)", &fs->other);
    free(order);
    free(buf);
}

static void replay_print_summary(replay_t *rp, json_t *sum)
{
    const jd_engine_stats_t *st = replay_stats(rp);
    const jd_config_t *c = rp->conf;
    FILE *f = stderr;
    fprintf(f, "\nreplay summary\n");
    fprintf(f, "  events read        %12" PRIu64 "  (%.0f events/s)\n", rp->records,
            json_real_value(json_object_get(sum, "events_per_second")));
    fprintf(f, "  events evaluated   %12" PRIu64 "\n", st->events_evaluated);
    fprintf(f, "  duplicates         %12" PRIu64 "\n", st->duplicates);
    fprintf(f, "  late               %12" PRIu64 "\n", st->late);
    fprintf(f, "  dead letters       %12" PRIu64 "\n",
            (uint64_t)json_integer_value(json_object_get(sum, "dead_letters")));
    for (int i = 1; i < JD_DL__COUNT; i++)
        if (rp->dl[i])
            fprintf(f, "    %-17s%12" PRIu64 "\n", jd_dl_reason_name((jd_dl_reason_t)i), rp->dl[i]);
    fprintf(f, "  customers          %12" PRIu64 "  (peak active %" PRIu64 ", linked %" PRIu64
               ", merged %" PRIu64 ")\n", st->customers_total, st->customers_peak,
            st->links, st->merges);
    fprintf(f, "  groups evicted     %12" PRIu64 "  (forced watermark advances %" PRIu64 ")\n",
            st->groups_evicted, st->forced_advances);
    fprintf(f, "  alerts             %12" PRIu64 "\n", st->alerts);
    for (uint32_t i = 0; i < c->nrules; i++)
        fprintf(f, "    %-17s%12" PRIu64 "\n", c->rules[i].name, st->alerts_by_rule[i]);
    for (uint32_t i = 0; i < c->nrules; i++) {
        const jd_rule_t *r = &c->rules[i];
        if (r->kind != JD_RULE_FUNNEL)
            continue;
        const jd_funnel_stats_t *fs = &st->funnels[i];
        fprintf(f, "  funnel %s: %" PRIu64 " attempts, %" PRIu64 " completed (%.1f%%), %"
                   PRIu64 " pending at end\n", r->name, fs->attempts, fs->completed,
                fs->attempts ? 100.0 * (double)fs->completed / (double)fs->attempts : 0.0,
                fs->pending);
        fprintf(f, "    %-3s %-20s %10s %9s %9s %12s\n", "#", "step", "reached", "of start",
                "of prev", "dropped here");
        for (uint32_t k = 0; k < r->nsteps; k++)
            fprintf(f, "    %-3u %-20s %10" PRIu64 " %8.1f%% %8.1f%% %12" PRIu64 "\n", k + 1,
                    r->steps[k].name, fs->reached[k],
                    fs->attempts ? 100.0 * (double)fs->reached[k] / (double)fs->attempts : 0.0,
                    k == 0 ? 100.0 : fs->reached[k - 1] ?
                        100.0 * (double)fs->reached[k] / (double)fs->reached[k - 1] : 0.0,
                    fs->dropped[k]);
        if (r->has_breakdown)
            summary_segments(f, c, r, fs);
    }
}

static void replay_usage(FILE *f)
{
    fputs("usage: journeyd replay [-c CONFIG] [-X key=value ...] -i FILE|- [-i FILE ...]\n"
          "                       [-o FILE|-] [--format ndjson|csv] [--flush-at-end]\n"
          "                       [--dead-letter FILE|-] [--summary] [--summary-json FILE|-]\n"
          "                       [--progress|--no-progress]\n"
          "                       [--report FILE.html] [--dropoffs-csv FILE]\n"
          "  replay captured files (plain or gzip) and write alerts as NDJSON\n"
          "  -i, --input FILE     input file, - for stdin; several are read in order as one stream\n"
          "  -o, --output FILE    alerts (default stdout); opened only once every input has opened\n"
          "  --flush-at-end       close every open window at the end (drop-offs fire)\n"
          "  --dead-letter FILE   dead letters as NDJSON (default: counts on stderr)\n"
          "  --summary            counters, alerts per rule and funnel steps on stderr\n"
          "  --summary-json FILE  the same as JSON (- = stdout, when alerts go to a file)\n"
          "  --progress, --no-progress   progress line on stderr (default: when a terminal)\n"
          "  --report FILE.html   the analyst's report: one self-contained HTML file\n"
          "  --dropoffs-csv FILE  one CSV row per funnel drop-off alert\n", f);
    jd_opts_usage_common(f, JD_OPT_FORMAT);
    fputs("exit status: 0 success, 1 runtime failure, 2 usage or configuration error,\n"
          "             3 ran, but most input was rejected (more than half dead letters)\n", f);
}

typedef struct replay_args {
    jd_opts_t o;
    const char **inputs;       /* borrowed from argv */
    size_t ninputs;
    const char *output, *dlpath, *sumjson;
    const char *report, *dropoffs;  /* --report, --dropoffs-csv, or NULL */
    int flush, summary, progress;
} replay_args_t;

/* Outputs that may be "-": at most one of them can have stdout. */
static int replay_check_stdout(replay_args_t *a)
{
    const char *names[3] = { "-o", "--dead-letter", "--summary-json" };
    const char *paths[3] = { a->output ? a->output : "-", a->dlpath, a->sumjson };
    int first = -1;
    for (int i = 0; i < 3; i++) {
        if (!paths[i] || strcmp(paths[i], "-") != 0)
            continue;
        if (first >= 0)
            return jd_opts_usage_error(&a->o, "%s - and %s%s both write to stdout; give one "
                                       "of them a file", names[i], names[first],
                                       first == 0 && a->output == NULL ? " (the default)" : " -");
        first = i;
    }
    return 0;
}

/* JD_OPTS_END when the command line is complete, else JD_OPTS_EXIT. */
static int replay_args(replay_args_t *a, int argc, char **argv)
{
    static const struct option opts[] = {
        {"input", required_argument, NULL, 'i'},
        {"output", required_argument, NULL, 'o'},
        {"flush-at-end", no_argument, NULL, 'F'},
        {"dead-letter", required_argument, NULL, 'd'},
        {"summary", no_argument, NULL, 's'},
        {"summary-json", required_argument, NULL, 'j'},
        {"progress", no_argument, NULL, 'p'},
        {"no-progress", no_argument, NULL, 'P'},
        {"report", required_argument, NULL, 'R'},
        {"dropoffs-csv", required_argument, NULL, 'D'},
        {NULL, 0, NULL, 0},
    };
    int c;
    a->progress = isatty(2);
    if (jd_opts_init(&a->o, "replay", JD_OPT_FORMAT, "i:o:", opts, replay_usage) != 0 ||
        !(a->inputs = calloc((size_t)argc + 1, sizeof(*a->inputs)))) {
        a->o.status = 1;
        return JD_OPTS_EXIT;
    }
    while ((c = jd_opts_next(&a->o, argc, argv)) != JD_OPTS_END) {
        switch (c) {
        case 'i': a->inputs[a->ninputs++] = a->o.arg; break;
        case 'o': a->output = a->o.arg; break;
        case 'F': a->flush = 1; break;
        case 'd': a->dlpath = a->o.arg; break;
        case 's': a->summary = 1; break;
        case 'j': a->sumjson = a->o.arg; break;
        case 'p': a->progress = 1; break;
        case 'P': a->progress = 0; break;
        case 'R': a->report = a->o.arg; break;
        case 'D': a->dropoffs = a->o.arg; break;
        default: return JD_OPTS_EXIT;
        }
    }
    if (a->ninputs == 0)
        return jd_opts_usage_error(&a->o, "no input: give -i FILE (or -i - for stdin)");
    if (replay_check_stdout(a) != 0)
        return JD_OPTS_EXIT;
    if (!a->output)
        a->output = "-";
    return JD_OPTS_END;
}

/* Every input must be there before an output is created or truncated, and
 * no output may be one of the inputs: a typo in a later -i, or -o naming an
 * input, must not destroy a file. Only stat(): opening a FIFO to check it
 * would disturb its writer. */
static int replay_check_paths(const replay_args_t *a)
{
    struct stat in, out;
    const char *outs[4] = { a->output, a->dlpath, a->report, a->dropoffs };
    const char *names[4] = { "-o", "--dead-letter", "--report", "--dropoffs-csv" };
    for (size_t i = 0; i < a->ninputs; i++) {
        const char *path = a->inputs[i];
        if (strcmp(path, "-") == 0)
            continue;
        int e = stat(path, &in) != 0 ? errno : S_ISDIR(in.st_mode) ? EISDIR
              : access(path, R_OK) != 0 ? errno : 0;
        if (e) {
            fprintf(stderr, "journeyd replay: cannot open %s: %s\n", path, strerror(e));
            return -1;
        }
        for (int k = 0; k < 4; k++) {
            if (!outs[k] || strcmp(outs[k], "-") == 0 || stat(outs[k], &out) != 0)
                continue;
            if (out.st_dev == in.st_dev && out.st_ino == in.st_ino && S_ISREG(out.st_mode)) {
                fprintf(stderr, "journeyd replay: %s %s is also input -i %s: refusing to "
                        "overwrite it\n", names[k], outs[k], path);
                return -1;
            }
        }
    }
    return 0;
}

static FILE *replay_open_out(const char *path)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "w") : stdout;
    if (!f)
        fprintf(stderr, "journeyd replay: cannot write %s: %s\n", path, strerror(errno));
    return f;
}

/* processing.threads > 1 splits the threads between decoding (half,
 * rounded up; CSV records need the reader's quoting state, so CSV decodes
 * on this thread) and evaluation (half, rounded down: one engine thread,
 * or customers sharded over several). This thread reads and routes events
 * in order. */
static int replay_setup(replay_t *rp, const jd_config_t *conf)
{
    jd_err_t err = {{0}};
    unsigned nshards = conf->threads / 2, ndecoders = conf->threads - nshards;
    rp->dec = jd_decoder_new(conf, &err);
    if (rp->dec && conf->threads > 1 && !conf->input_csv &&
        !(rp->pool = jd_decode_pool_new(conf, ndecoders, &err)))
        rp->dec = (jd_decoder_destroy(rp->dec), NULL);
    jd_engine_opts_t eo = {.on_alert = replay_on_alert, .opaque = rp, .auto_watermark = 1};
    if (rp->dec && conf->threads > 1)
        rp->shards = jd_shards_new(conf, nshards, &eo, &err);
    else if (rp->dec)
        rp->eng = jd_engine_new(conf, &eo, &err);
    if (!rp->eng && !rp->shards) {
        fprintf(stderr, "journeyd replay: %s\n", err.msg);
        return -1;
    }
    if (conf->nslots > JD_SLOT__CANON && !(rp->seen = calloc(conf->nslots, 1))) {
        fprintf(stderr, "journeyd replay: out of memory\n");
        return -1;
    }
    return 0;
}

static int replay_setup_report(replay_t *rp, const replay_args_t *a)
{
    jd_err_t err = {{0}};
    if ((a->report && !(rp->report = jd_report_new(rp->conf, NULL, &err))) ||
        (a->dropoffs && !(rp->dropoffs = jd_dropoffs_open(a->dropoffs, &err)))) {
        fprintf(stderr, "journeyd replay: %s\n", err.msg);
        return -1;
    }
    return 0;
}

/* --report, once the engine has finished. 0, or 1 when it cannot be written. */
static int replay_write_report(replay_t *rp, const replay_args_t *a)
{
    jd_err_t err = {{0}};
    jd_report_run_t run = {.records = rp->records, .dead_letters = rp->dl,
                           .stats = replay_stats(rp), .inputs = a->inputs,
                           .ninputs = a->ninputs, .flushed = a->flush};
    if (rp->report && jd_report_write_html(rp->report, &run, a->report, &err) != 0) {
        fprintf(stderr, "journeyd replay: %s\n", err.msg);
        return 1;
    }
    return 0;
}

/* 0, 1 when an input ended early (a cut or corrupt gzip: what was read is
 * still evaluated and summarised), -1 on an error that stops the replay. */
static int replay_inputs(replay_t *rp, const replay_args_t *a)
{
    jd_err_t err = {{0}};
    int cut_short = 0;
    for (size_t i = 0; i < a->ninputs; i++) {
        jd_reader_t *r = jd_reader_open(a->inputs[i], &err);
        if (!r) {
            fprintf(stderr, "journeyd replay: %s\n", err.msg);
            return -1;
        }
        jd_records_rc_t frc = jd_records_run(r, rp->conf, rp->dec, rp->pool, &replay_ops, rp,
                                             &err);
        jd_reader_close(r);
        if (frc == JD_RECORDS_CORRUPT) {
            fprintf(stderr, "journeyd replay: %s\n", err.msg);
            cut_short = 1;
        } else if (frc != JD_RECORDS_EOF) {
            fprintf(stderr, "journeyd replay: %s\n", err.msg);
            return -1;
        }
    }
    if (rp->seen) {
        /* fewer records than REPLAY_PEEK: look at what there was */
        jd_opts_warn_fields(rp->opts, rp->conf, rp->seen, rp->records);
        free(rp->seen);
        rp->seen = NULL;
    }
    if (rp->shards)
        jd_shards_finish(rp->shards, a->flush);
    else
        jd_engine_finish(rp->eng, a->flush);
    replay_progress(rp, 1);
    return cut_short;
}

/* The start of the first record is no JSON object but has a delimiter. */
static int replay_looks_csv(const replay_t *rp)
{
    size_t i = 0;
    if (rp->samplelen >= 3 && memcmp(rp->sample, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < rp->samplelen && (rp->sample[i] == ' ' || rp->sample[i] == '\t'))
        i++;
    if (i < rp->samplelen && (rp->sample[i] == '{' || rp->sample[i] == '['))
        return 0;
    return memchr(rp->sample, ',', rp->samplelen) || memchr(rp->sample, ';', rp->samplelen) ||
           memchr(rp->sample, '\t', rp->samplelen);
}

/* When more than half the records were dead letters, says why it probably
 * happened (by the most frequent reason) and returns REPLAY_EXIT_REJECTED. */
static int replay_rejected(const replay_t *rp, uint64_t ndl)
{
    int top = 0;
    if (rp->records == 0 || ndl <= rp->records / 2)
        return 0;
    for (int i = 1; i < JD_DL__COUNT; i++)
        if (!top || rp->dl[i] > rp->dl[top])
            top = i;
    const char *name = jd_dl_reason_name((jd_dl_reason_t)top), *hint;
    if (!strcmp(name, "invalid_json") || !strcmp(name, "not_an_object"))
        hint = !rp->conf->input_csv && replay_looks_csv(rp)
             ? "the input looks like CSV: use --format csv"
             : "check that the input is NDJSON, one JSON object per line";
    else if (!strcmp(name, "late"))
        hint = "input is not sorted: raise time.lateness (-X time.lateness=...)";
    else if (!strcmp(name, "bad_ts"))
        hint = "timestamps do not parse: check time.format (and fields.ts)";
    else if (!strcmp(name, "future_ts"))
        hint = "timestamps are ahead of the clock: check time.format, or time.max_future";
    else if (!strcmp(name, "missing_ts") || !strcmp(name, "missing_type") ||
             !strcmp(name, "missing_identity"))
        hint = "required fields are missing: map the input's names in \"fields\" "
               "(or give \"defaults\")";
    else if (!strcmp(name, "bad_csv"))
        hint = "CSV records do not split: check input.csv.delimiter";
    else
        hint = "see the dead letters (--dead-letter FILE)";
    fprintf(stderr, "journeyd replay: most input was rejected: %" PRIu64 " of %" PRIu64
            " records are dead letters, most of them %s (%" PRIu64 "); %s\n",
            ndl, rp->records, name, rp->dl[top], hint);
    return REPLAY_EXIT_REJECTED;
}

/* The end-of-replay lines, --summary and --summary-json. 0, 1 (cannot
 * write) or REPLAY_EXIT_REJECTED. */
static int replay_report(replay_t *rp, const replay_args_t *a)
{
    double secs = (double)(jd_mono_ms() - rp->started_mono) / 1000.0;
    json_t *sum = replay_summary_json(rp, secs);
    const jd_engine_stats_t *st = replay_stats(rp);
    uint64_t ndl = (uint64_t)json_integer_value(json_object_get(sum, "dead_letters"));
    uint64_t pending = 0;
    int rc = 0;
    for (uint32_t i = 0; i < rp->conf->nrules; i++)
        pending += st->funnels[i].pending;
    fprintf(stderr, "journeyd replay: %" PRIu64 " events, %" PRIu64 " alerts, %" PRIu64
                    " dead letters, %" PRIu64 " duplicates, %" PRIu64 " windows pending\n",
            rp->records, st->alerts, ndl, st->duplicates, pending);
    if (ndl && !rp->dlf) {
        fprintf(stderr, "journeyd replay: dead letters by reason:");
        for (int i = 1; i < JD_DL__COUNT; i++)
            if (rp->dl[i])
                fprintf(stderr, " %s=%" PRIu64, jd_dl_reason_name((jd_dl_reason_t)i), rp->dl[i]);
        fprintf(stderr, " (write them with --dead-letter FILE)\n");
    }
    if (a->summary)
        replay_print_summary(rp, sum);
    if (a->sumjson && strcmp(a->sumjson, "-") == 0) {
        if (json_dumpf(sum, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0 ||
            putchar('\n') == EOF)
            rp->write_error = 1;
    } else if (a->sumjson &&
               json_dump_file(sum, a->sumjson, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) {
        fprintf(stderr, "journeyd replay: cannot write %s\n", a->sumjson);
        rc = 1;
    }
    json_decref(sum);
    if (rc == 0)
        rc = replay_rejected(rp, ndl);
    return rc;
}

int jd_cmd_replay(int argc, char **argv)
{
    replay_args_t a = {0};
    replay_t rp = {0};
    jd_config_t *conf = NULL;
    int rc = 1, cut_short = 0, complete = 0;
    jd_err_t err = {{0}};

    if (replay_args(&a, argc, argv) != JD_OPTS_END) {
        rc = a.o.status;
        goto done;
    }
    if (!(conf = jd_opts_load(&a.o))) {
        rc = 2;
        goto done;
    }
    rp.conf = conf;
    rp.opts = &a.o;
    rp.progress = a.progress;
    rp.started_mono = rp.last_progress = jd_mono_ms();
    if (replay_check_paths(&a) != 0 || !(rp.out = replay_open_out(a.output)) ||
        (a.dlpath && !(rp.dlf = replay_open_out(a.dlpath))) ||
        replay_setup(&rp, conf) != 0 || replay_setup_report(&rp, &a) != 0 ||
        (cut_short = replay_inputs(&rp, &a)) < 0)
        goto done;
    rc = replay_report(&rp, &a);
    if (replay_write_report(&rp, &a) != 0)
        rc = 1;
    if (fflush(rp.out) != 0 || (rp.dlf && fflush(rp.dlf) != 0) || fflush(stdout) != 0 ||
        rp.write_error) {
        fprintf(stderr, "journeyd replay: write error: %s\n", strerror(errno));
        rc = 1;
    }
    /* Every output was written: the drop-off list is kept, also when most
     * input was rejected or an input was cut short (what was read is
     * complete, as its alerts and summary are). */
    complete = rc == 0 || rc == REPLAY_EXIT_REJECTED;
    if (cut_short)
        rc = 1;  /* an input ended early: a runtime failure, even if all else went well */
done:
    if (jd_dropoffs_close(rp.dropoffs, complete, &err) != 0 && complete) {
        fprintf(stderr, "journeyd replay: %s\n", err.msg);
        rc = 1;
    }
    jd_report_destroy(rp.report);
    jd_decode_pool_destroy(rp.pool);
    if (rc != 1 && rc != 2 && !getenv("JOURNEYD_FREE_AT_EXIT")) {
        /* The process ends next. Freeing every journey block by block
         * takes longer than the kernel dropping the pages (0.4 s of a
         * 1.8 s replay of 200k customers), so the engine is left to it,
         * still reachable for leak checkers. The valgrind run of the e2e
         * suite sets JOURNEYD_FREE_AT_EXIT, so teardown stays checked. */
        replay_left_at_exit[0] = rp.shards;
        replay_left_at_exit[1] = rp.eng;
    } else {
        jd_shards_destroy(rp.shards);
        jd_engine_destroy(rp.eng);
    }
    free(rp.seen);
    jd_decoder_destroy(rp.dec);
    if (rp.out && rp.out != stdout)
        fclose(rp.out);
    if (rp.dlf && rp.dlf != stdout)
        fclose(rp.dlf);
    jd_config_destroy(conf);
    jd_opts_free(&a.o);
    free(a.inputs);
    return rc;
}

static void check_usage(FILE *f)
{
    fputs("usage: journeyd check-config [-c CONFIG] [-X key=value ...]\n"
          "       journeyd check-config --keys\n"
          "  validate a config and print the effective config (defaults filled in, -X applied);\n"
          "  warn on stderr about rule fields that are neither canonical nor mapped in \"fields\"\n"
          "  --keys               the key reference (Markdown), generated from the key table\n", f);
    jd_opts_usage_common(f, 0);
    fputs("exit status: 0 valid, 1 runtime failure, 2 usage or configuration error\n", f);
}

int jd_cmd_check_config(int argc, char **argv)
{
    static const struct option opts[] = {
        {"keys", no_argument, NULL, 'k'},
        {NULL, 0, NULL, 0},
    };
    jd_opts_t o;
    jd_config_t *conf = NULL;
    int c, keys = 0, rc = 2;
    if (jd_opts_init(&o, "check-config", 0, "", opts, check_usage) != 0)
        return 1;
    while ((c = jd_opts_next(&o, argc, argv)) != JD_OPTS_END) {
        if (c != 'k') {
            rc = o.status;
            goto out;
        }
        keys = 1;
    }
    if (keys) {
        char *doc = jd_config_doc();
        rc = doc ? 0 : 1;
        if (doc)
            fputs(doc, stdout);
        free(doc);
    } else if ((conf = jd_opts_load(&o))) {
        char *dump = jd_config_dump(conf);
        rc = dump ? 0 : 1;
        if (dump)
            puts(dump);
        free(dump);
        jd_opts_warn_fields(&o, conf, NULL, 0);
    }
out:
    jd_config_destroy(conf);
    jd_opts_free(&o);
    return rc;
}
