/*
 * `journeyd replay` and `journeyd check-config`: files in, alerts out, the
 * same engine as `run` with the watermark following the data.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "journeyd/cmd.h"
#include "journeyd/config.h"
#include "journeyd/decode.h"
#include "journeyd/decode_pool.h"
#include "journeyd/engine.h"
#include "journeyd/shard.h"
#include "journeyd/reader.h"
#include "journeyd/timeutil.h"

#define REPLAY_MAX_INPUTS 256
#define REPLAY_MAX_X 256

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
} replay_t;

static void replay_on_alert(void *opaque, const char *key, size_t keylen,
                            const char *json, size_t len, int64_t ts)
{
    replay_t *rp = opaque;
    (void)key; (void)keylen; (void)ts;
    if (fwrite(json, 1, len, rp->out) != len || putc('\n', rp->out) == EOF)
        rp->write_error = 1;
}

/* volatile: only ever written, and the stores must stay */
static void *volatile replay_left_at_exit[2];

/* One engine or its sharded twin: the same contract, the same output. */
static const jd_engine_stats_t *replay_stats(replay_t *rp)
{
    return rp->shards ? jd_shards_stats(rp->shards) : jd_engine_stats(rp->eng);
}

static void replay_dead_letter(replay_t *rp, jd_dl_reason_t reason, const char *detail,
                               const char *file, int64_t line,
                               const char *payload, size_t len)
{
    rp->dl[reason]++;
    if (!rp->dlf)
        return;
    jd_source_pos_t pos = {.partition = -1, .offset = -1, .file = file, .line = line};
    size_t n;
    char *s = jd_deadletter_format(reason, detail, &pos, payload, len, &n);
    if (!s)
        return;
    if (fwrite(s, 1, n, rp->dlf) != n || putc('\n', rp->dlf) == EOF)
        rp->write_error = 1;
    free(s);
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

/* Hands one decoded record to the engine, dead-lettering what it rejects.
 * A jd_pool_record_fn, so the decoder pool delivers straight into it. */
static void replay_offer(void *opaque, jd_dl_reason_t reason, jd_event_t *ev,
                         const char *detail, const char *file, int64_t line,
                         const char *payload, size_t len)
{
    replay_t *rp = opaque;
    rp->records++;
    if (reason == JD_DL_NONE && !ev) {
        /* The decoder ran out of memory: the record is kept as a dead
         * letter rather than lost. */
        reason = JD_DL_TOO_LARGE;
        detail = "out of memory decoding the record";
    } else if (reason == JD_DL_NONE) {
        reason = rp->shards ? jd_shards_push(rp->shards, ev) : jd_engine_push(rp->eng, ev);
        detail = "event time is older than the watermark (max ts - time.lateness)";
    }
    if (reason != JD_DL_NONE)
        replay_dead_letter(rp, reason, detail, file, line, payload, len);
    if ((rp->records & 0x3fff) == 0)
        replay_progress(rp, 0);
}

static int replay_ndjson(replay_t *rp, jd_reader_t *r, const char *path, jd_err_t *err)
{
    if (rp->pool)
        return jd_decode_pool_run(rp->pool, r, path, replay_offer, rp, err);
    const char *line;
    size_t len;
    int64_t lineno;
    char detail[256];
    for (;;) {
        jd_read_status_t st = jd_reader_line(r, &line, &len, &lineno, err);
        if (st == JD_READ_EOF)
            return 0;
        if (st == JD_READ_ERROR)
            return -1;
        jd_event_t *ev = NULL;
        jd_dl_reason_t reason;
        if (st == JD_READ_TOO_LARGE) {
            reason = JD_DL_TOO_LARGE;
            snprintf(detail, sizeof(detail), "%s", JD_READER_TOO_LARGE_DETAIL);
        } else {
            reason = jd_decode_json(rp->dec, line, len, &ev, detail, sizeof(detail));
        }
        replay_offer(rp, reason, ev, detail, path, lineno, line, len);
    }
}

static int replay_csv(replay_t *rp, jd_reader_t *r, const char *path, jd_err_t *err)
{
    jd_csv_record_t rec;
    char detail[256];
    jd_read_status_t st = jd_reader_csv(r, rp->conf->csv_delimiter, &rec, err);
    if (st == JD_READ_EOF)
        return 0;
    if (st != JD_READ_OK) {
        if (st != JD_READ_ERROR)
            jd_err_set(err, "%s:1: the CSV header row is malformed", path);
        return -1;
    }
    jd_err_t herr;
    if (jd_decoder_csv_header(rp->dec, &rec, &herr) != 0)
        return jd_err_set(err, "%s:%" PRId64 ": %s", path, rec.line, herr.msg);
    for (;;) {
        st = jd_reader_csv(r, rp->conf->csv_delimiter, &rec, err);
        if (st == JD_READ_EOF)
            return 0;
        if (st == JD_READ_ERROR)
            return -1;
        jd_event_t *ev = NULL;
        jd_dl_reason_t reason;
        if (st == JD_READ_MALFORMED) {
            reason = JD_DL_BAD_CSV;
            snprintf(detail, sizeof(detail), "malformed quoting: a quote left open, or text after a closing quote");
        } else if (st == JD_READ_TOO_LARGE) {
            reason = JD_DL_TOO_LARGE;
            snprintf(detail, sizeof(detail), "%s", JD_READER_TOO_LARGE_DETAIL);
        } else {
            reason = jd_decode_csv(rp->dec, &rec, &ev, detail, sizeof(detail));
        }
        replay_offer(rp, reason, ev, detail, path, rec.line, rec.raw, rec.rawlen);
    }
}

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
    }
}

static void replay_usage(FILE *f)
{
    fputs("usage: journeyd replay [-c CONFIG] [-X key=value ...] -i FILE|- [-i FILE ...]\n"
          "                       [-o FILE|-] [--format ndjson|csv] [--flush-at-end]\n"
          "                       [--dead-letter FILE] [--summary] [--summary-json FILE]\n"
          "                       [--progress|--no-progress]\n", f);
}

int jd_cmd_replay(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"input", required_argument, NULL, 'i'},
        {"output", required_argument, NULL, 'o'},
        {"format", required_argument, NULL, 'f'},
        {"flush-at-end", no_argument, NULL, 'F'},
        {"dead-letter", required_argument, NULL, 'd'},
        {"summary", no_argument, NULL, 's'},
        {"summary-json", required_argument, NULL, 'j'},
        {"progress", no_argument, NULL, 'p'},
        {"no-progress", no_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *output = "-", *dlpath = NULL, *sumjson = NULL;
    const char *inputs[REPLAY_MAX_INPUTS];
    const char *xs[REPLAY_MAX_X + 1] = {0};
    char fmtx[64];
    size_t ninputs = 0, nx = 0;
    int flush = 0, summary = 0, progress = isatty(2);
    int opt, rc = 1;
    replay_t rp = {0};
    jd_err_t err = {{0}};
    jd_config_t *conf = NULL;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:X:i:o:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': config = optarg; break;
        case 'X':
            if (nx == REPLAY_MAX_X) {
                fprintf(stderr, "journeyd replay: too many -X options (max %d)\n", REPLAY_MAX_X);
                return 2;
            }
            xs[nx++] = optarg;
            break;
        case 'i':
            if (ninputs == REPLAY_MAX_INPUTS) {
                fprintf(stderr, "journeyd replay: too many -i files (max %d)\n", REPLAY_MAX_INPUTS);
                return 2;
            }
            inputs[ninputs++] = optarg;
            break;
        case 'o': output = optarg; break;
        case 'f':
            if (strcmp(optarg, "ndjson") && strcmp(optarg, "csv")) {
                fprintf(stderr, "journeyd replay: --format %s: expected ndjson or csv\n", optarg);
                return 2;
            }
            /* --format is input.format for this run; it goes last so it wins. */
            snprintf(fmtx, sizeof(fmtx), "input.format=%s", optarg);
            xs[REPLAY_MAX_X] = fmtx;
            break;
        case 'F': flush = 1; break;
        case 'd': dlpath = optarg; break;
        case 's': summary = 1; break;
        case 'j': sumjson = optarg; break;
        case 'p': progress = 1; break;
        case 'P': progress = 0; break;
        case 'h': replay_usage(stdout); return 0;
        default: replay_usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "journeyd replay: unexpected argument \"%s\"\n", argv[optind]);
        replay_usage(stderr);
        return 2;
    }
    if (ninputs == 0) {
        fprintf(stderr, "journeyd replay: no input: give -i FILE (or -i - for stdin)\n");
        replay_usage(stderr);
        return 2;
    }
    if (xs[REPLAY_MAX_X] == fmtx)
        xs[nx++] = fmtx;

    conf = jd_config_load(config, xs, nx, &err);
    if (!conf) {
        fprintf(stderr, "journeyd replay: %s\n", err.msg);
        return 2;
    }
    rp.conf = conf;
    rp.progress = progress;
    rp.started_mono = rp.last_progress = jd_mono_ms();
    rp.out = strcmp(output, "-") ? fopen(output, "w") : stdout;
    if (!rp.out) {
        fprintf(stderr, "journeyd replay: cannot write %s: %s\n", output, strerror(errno));
        goto done;
    }
    if (dlpath && !(rp.dlf = strcmp(dlpath, "-") ? fopen(dlpath, "w") : stdout)) {
        fprintf(stderr, "journeyd replay: cannot write %s: %s\n", dlpath, strerror(errno));
        goto done;
    }
    rp.dec = jd_decoder_new(conf, &err);
    /* processing.threads > 1 splits the threads between decoding (half,
     * rounded up; CSV records need the reader's quoting state, so CSV
     * decodes on this thread) and evaluation (half, rounded down: one
     * engine thread, or customers sharded over several). This thread reads
     * and routes events in order. */
    unsigned nshards = conf->threads / 2, ndecoders = conf->threads - nshards;
    if (rp.dec && conf->threads > 1 && !conf->input_csv &&
        !(rp.pool = jd_decode_pool_new(conf, ndecoders, &err)))
        rp.dec = (jd_decoder_destroy(rp.dec), NULL);
    jd_engine_opts_t eo = {.on_alert = replay_on_alert, .opaque = &rp, .auto_watermark = 1};
    if (rp.dec && conf->threads > 1)
        rp.shards = jd_shards_new(conf, nshards, &eo, &err);
    else if (rp.dec)
        rp.eng = jd_engine_new(conf, &eo, &err);
    if (!rp.eng && !rp.shards) {
        fprintf(stderr, "journeyd replay: %s\n", err.msg);
        goto done;
    }
    for (size_t i = 0; i < ninputs; i++) {
        jd_reader_t *r = jd_reader_open(inputs[i], &err);
        if (!r) {
            fprintf(stderr, "journeyd replay: %s\n", err.msg);
            goto done;
        }
        int frc = conf->input_csv ? replay_csv(&rp, r, inputs[i], &err)
                                  : replay_ndjson(&rp, r, inputs[i], &err);
        jd_reader_close(r);
        if (frc != 0) {
            fprintf(stderr, "journeyd replay: %s\n", err.msg);
            goto done;
        }
    }
    if (rp.shards)
        jd_shards_finish(rp.shards, flush);
    else
        jd_engine_finish(rp.eng, flush);
    replay_progress(&rp, 1);

    double secs = (double)(jd_mono_ms() - rp.started_mono) / 1000.0;
    json_t *sum = replay_summary_json(&rp, secs);
    const jd_engine_stats_t *st = replay_stats(&rp);
    uint64_t ndl = (uint64_t)json_integer_value(json_object_get(sum, "dead_letters"));
    uint64_t pending = 0;
    for (uint32_t i = 0; i < conf->nrules; i++)
        pending += st->funnels[i].pending;
    fprintf(stderr, "journeyd replay: %" PRIu64 " events, %" PRIu64 " alerts, %" PRIu64
                    " dead letters, %" PRIu64 " duplicates, %" PRIu64 " windows pending\n",
            rp.records, st->alerts, ndl, st->duplicates, pending);
    if (ndl && !rp.dlf) {
        fprintf(stderr, "journeyd replay: dead letters by reason:");
        for (int i = 1; i < JD_DL__COUNT; i++)
            if (rp.dl[i])
                fprintf(stderr, " %s=%" PRIu64, jd_dl_reason_name((jd_dl_reason_t)i), rp.dl[i]);
        fprintf(stderr, " (write them with --dead-letter FILE)\n");
    }
    if (summary)
        replay_print_summary(&rp, sum);
    rc = 0;
    if (sumjson && json_dump_file(sum, sumjson, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) {
        fprintf(stderr, "journeyd replay: cannot write %s\n", sumjson);
        rc = 1;
    }
    json_decref(sum);
    if (fflush(rp.out) != 0 || (rp.dlf && fflush(rp.dlf) != 0) || rp.write_error) {
        fprintf(stderr, "journeyd replay: write error: %s\n", strerror(errno));
        rc = 1;
    }
done:
    jd_decode_pool_destroy(rp.pool);
    if (rc == 0 && !getenv("JOURNEYD_FREE_AT_EXIT")) {
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
    jd_decoder_destroy(rp.dec);
    if (rp.out && rp.out != stdout)
        fclose(rp.out);
    if (rp.dlf && rp.dlf != stdout)
        fclose(rp.dlf);
    jd_config_destroy(conf);
    return rc;
}

int jd_cmd_check_config(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"keys", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL;
    int keys = 0;
    const char *xs[REPLAY_MAX_X];
    size_t nx = 0;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:X:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': config = optarg; break;
        case 'k': keys = 1; break;
        case 'X':
            if (nx < REPLAY_MAX_X)
                xs[nx++] = optarg;
            break;
        case 'h':
            puts("usage: journeyd check-config -c CONFIG [-X key=value ...]\n"
                 "       journeyd check-config --keys   (the key reference, Markdown)");
            return 0;
        default:
            fputs("usage: journeyd check-config -c CONFIG [-X key=value ...] | --keys\n", stderr);
            return 2;
        }
    }
    if (keys) {
        char *doc = jd_config_doc();
        if (!doc)
            return 1;
        fputs(doc, stdout);
        free(doc);
        return 0;
    }
    jd_err_t err = {{0}};
    jd_config_t *conf = jd_config_load(config, xs, nx, &err);
    if (!conf) {
        fprintf(stderr, "journeyd: %s\n", err.msg);
        return 2;
    }
    char *dump = jd_config_dump(conf);
    int rc = dump ? 0 : 1;
    if (dump)
        puts(dump);
    free(dump);
    jd_config_destroy(conf);
    return rc;
}
