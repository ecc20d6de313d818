/*
 * `journeyd produce`: load a captured dataset (NDJSON or CSV, plain or gzip)
 * into a topic, one message per record.
 *
 * Key: the record's resolved customer identity: customer_id when present,
 * else the customer an earlier record of the input linked its anonymous_id
 * to, else the anonymous_id. Value: the record's original bytes. For CSV
 * the value is the record alone (no line terminator) and the file's header
 * record travels with every message as the Kafka header
 * "journeyd.csv.header", so `run` with input.format=csv can decode it.
 *
 * Records the decoder rejects are counted per reason and reported on stderr,
 * not produced. Pacing: --speed X replays event time X times faster than
 * real time (relative to the first record); --rate N sends N records per
 * second; neither = as fast as the broker takes them.
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "journeyd/cmd.h"
#include "journeyd/config.h"
#include "journeyd/decode.h"
#include "journeyd/reader.h"
#include "journeyd/timeutil.h"
#include "journeyd/kafka.h"
#include "journeyd/identity.h"

typedef struct jd_producer {
    const jd_config_t *conf;
    const char *topic;
    rd_kafka_t *rk;
    jd_decoder_t *dec;
    jd_identity_t links;        /* anonymous -> customer, as the engine links them */
    rd_kafka_headers_t *csv_hdrs;
    double speed;
    double rate;
    int tty;
    uint64_t produced, acked, failed, records;
    uint64_t dl[JD_DL__COUNT];
    int64_t t0_ts, t0_mono;
    int started;
    int64_t last_progress;
} jd_producer_t;

static volatile sig_atomic_t produce_stop;

static void on_signal(int sig)
{
    (void)sig;
    produce_stop = 1;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    jd_producer_t *p = opaque;
    (void)rk;
    if (m->err) {
        if (!p->failed)
            JD_LOG(JD_LOG_ERR, "delivery to %s failed: %s", rd_kafka_topic_name(m->rkt),
                   rd_kafka_err2str(m->err));
        p->failed++;
    } else {
        p->acked++;
    }
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    (void)opaque;
    JD_LOG(JD_LOG_WARN, "kafka: %s: %s", rd_kafka_err2name(err), reason);
}

/* The customer the engine will file ev under (journeyd/identity.h): links
 * idle for longer than journey.retention are forgotten, as the engine
 * forgets them. */
static const char *identity(jd_producer_t *p, const jd_event_t *ev)
{
    jd_identity_expire(&p->links, jd_time_sub(ev->ts, p->conf->retention_ms), NULL, NULL);
    const char *c = jd_identity_resolve(&p->links, ev->customer_id, ev->anonymous_id, ev->ts, -1);
    return c ? c : ev->anonymous_id ? ev->anonymous_id : "";
}

static void progress(jd_producer_t *p, jd_reader_t *rd, int force)
{
    int64_t now = jd_mono_ms();
    uint64_t size, off;
    if (!p->tty || (!force && now - p->last_progress < 200))
        return;
    p->last_progress = now;
    size = jd_reader_size(rd);
    off = jd_reader_offset(rd);
    fprintf(stderr, "\rjourneyd produce: %s: %" PRIu64 " sent, %" PRIu64 " acked, %" PRIu64
            " dead letters", jd_reader_path(rd), p->produced, p->acked,
            p->records - p->produced);
    if (size)
        fprintf(stderr, ", %3.0f%%", 100.0 * (double)off / (double)size);
    fprintf(stderr, "\033[K");
}

/* Sleep (serving delivery reports) until the record's send time. */
static void pace(jd_producer_t *p, int64_t ts)
{
    int64_t target, now = jd_mono_ms();
    if (!p->started) {
        p->started = 1;
        p->t0_ts = ts;
        p->t0_mono = now;
        return;
    }
    if (p->speed > 0)
        target = p->t0_mono + (int64_t)((double)(ts - p->t0_ts) / p->speed);
    else if (p->rate > 0)
        target = p->t0_mono + (int64_t)((double)p->records * 1000.0 / p->rate);
    else
        return;
    while (!produce_stop && (now = jd_mono_ms()) < target) {
        int64_t d = target - now;
        rd_kafka_poll(p->rk, d > 100 ? 100 : (int)d);
    }
}

static int send_record(jd_producer_t *p, jd_event_t *ev, const char *val, size_t len,
                       rd_kafka_headers_t *hdrs)
{
    const char *key = identity(p, ev);
    rd_kafka_resp_err_t e;
    pace(p, ev->ts);
    e = jd_kafka_produce(p->rk, p->topic, RD_KAFKA_PARTITION_UA, key, strlen(key), val, len,
                         hdrs, NULL);
    if (e) {
        JD_LOG(JD_LOG_ERR, "cannot produce to %s: %s", p->topic, rd_kafka_err2str(e));
        return -1;
    }
    p->produced++;
    rd_kafka_poll(p->rk, 0);
    return 0;
}

static size_t chomp(const char *s, size_t len)
{
    while (len && (s[len - 1] == '\n' || s[len - 1] == '\r'))
        len--;
    return len;
}

static int produce_file(jd_producer_t *p, const char *path)
{
    jd_reader_t *rd;
    jd_err_t err;
    char detail[256];
    int rc = -1, have_header = 0;

    if (!(rd = jd_reader_open(path, &err))) {
        JD_LOG(JD_LOG_ERR, "%s", err.msg);
        return -1;
    }
    while (!produce_stop) {
        jd_event_t *ev = NULL;
        jd_dl_reason_t reason;
        jd_read_status_t st;
        const char *val;
        size_t len;

        if (!p->conf->input_csv) {
            int64_t lineno;
            st = jd_reader_line(rd, &val, &len, &lineno, &err);
            if (st == JD_READ_OK)
                reason = jd_decode_json(p->dec, val, len, &ev, detail, sizeof(detail));
            else
                reason = JD_DL_TOO_LARGE;
        } else {
            jd_csv_record_t rec;
            st = jd_reader_csv(rd, p->conf->csv_delimiter, &rec, &err);
            val = rec.raw;
            len = st > 0 ? chomp(rec.raw, rec.rawlen) : 0;
            if (st == JD_READ_OK && !have_header) {
                if (jd_decoder_csv_header(p->dec, &rec, &err)) {
                    JD_LOG(JD_LOG_ERR, "%s: %s", path, err.msg);
                    goto out;
                }
                if (p->csv_hdrs)
                    rd_kafka_headers_destroy(p->csv_hdrs);
                p->csv_hdrs = rd_kafka_headers_new(1);
                rd_kafka_header_add(p->csv_hdrs, JD_KAFKA_CSV_HEADER, -1, val, (ssize_t)len);
                have_header = 1;
                continue;
            }
            if (st == JD_READ_OK)
                reason = jd_decode_csv(p->dec, &rec, &ev, detail, sizeof(detail));
            else
                reason = st == JD_READ_MALFORMED ? JD_DL_BAD_CSV : JD_DL_TOO_LARGE;
        }
        if (st == JD_READ_EOF)
            break;
        if (st == JD_READ_ERROR) {
            JD_LOG(JD_LOG_ERR, "%s", err.msg);
            goto out;
        }
        p->records++;
        if (reason != JD_DL_NONE) {
            p->dl[reason]++;
            JD_LOG(JD_LOG_DEBUG, "%s: dead letter %s: %s", path, jd_dl_reason_name(reason),
                   detail);
        } else {
            int e = send_record(p, ev, val, len, p->conf->input_csv ? p->csv_hdrs : NULL);
            jd_event_free(ev);
            if (e)
                goto out;
        }
        progress(p, rd, 0);
    }
    progress(p, rd, 1);
    rc = 0;
out:
    jd_reader_close(rd);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: journeyd produce [-c CONFIG] [-X key=value ...] -i FILE|- [-i FILE ...]\n"
               "                        --topic T [--speed X | --rate N] [--format ndjson|csv]\n"
               "  --speed X  pace by event time, X times real time (60 = one hour per minute)\n"
               "  --rate N   N records per second\n");
}

int jd_cmd_produce(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' },
        { "input", required_argument, NULL, 'i' },
        { "topic", required_argument, NULL, 't' },
        { "speed", required_argument, NULL, 's' },
        { "rate", required_argument, NULL, 'r' },
        { "format", required_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *path = NULL, *format = NULL;
    const char **ov = NULL, **inputs = NULL;
    size_t nov = 0, nin = 0;
    jd_config_t *conf = NULL;
    jd_producer_t p;
    rd_kafka_conf_t *kc;
    struct sigaction sa;
    jd_err_t err;
    char *end;
    int c, rc = 2;

    memset(&p, 0, sizeof(p));
    jd_log_init("journeyd produce");
    ov = calloc((size_t)argc + 1, sizeof(*ov));
    inputs = calloc((size_t)argc + 1, sizeof(*inputs));
    if (!ov || !inputs || jd_identity_init(&p.links, 0)) {
        fprintf(stderr, "journeyd produce: out of memory\n");
        rc = 1;
        goto out;
    }
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "c:X:i:t:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': path = optarg; break;
        case 'X': ov[nov++] = optarg; break;
        case 'i': inputs[nin++] = optarg; break;
        case 't': p.topic = optarg; break;
        case 'f': format = optarg; break;
        case 's':
        case 'r': {
            double v = strtod(optarg, &end);
            if (end == optarg || *end || !(v > 0)) {
                fprintf(stderr, "journeyd produce: --%s %s: expected a positive number\n",
                        c == 's' ? "speed" : "rate", optarg);
                goto out;
            }
            if (c == 's')
                p.speed = v;
            else
                p.rate = v;
            break;
        }
        case 'h': usage(stdout); rc = 0; goto out;
        default:
            fprintf(stderr, "journeyd produce: unknown or incomplete option '%s'\n",
                    argv[optind - 1]);
            usage(stderr);
            goto out;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "journeyd produce: unexpected argument '%s'\n", argv[optind]);
        goto out;
    }
    if (!nin || !p.topic || !*p.topic) {
        fprintf(stderr, "journeyd produce: %s is required\n", !nin ? "-i FILE" : "--topic T");
        usage(stderr);
        goto out;
    }
    if (p.speed > 0 && p.rate > 0) {
        fprintf(stderr, "journeyd produce: --speed and --rate are mutually exclusive\n");
        goto out;
    }
    if (format) {
        if (strcmp(format, "ndjson") && strcmp(format, "csv")) {
            fprintf(stderr, "journeyd produce: --format %s: expected ndjson or csv\n", format);
            goto out;
        }
        ov[nov++] = !strcmp(format, "csv") ? "input.format=csv" : "input.format=ndjson";
    }
    if (!(conf = jd_config_load(path, ov, nov, &err))) {
        fprintf(stderr, "journeyd produce: %s\n", err.msg);
        goto out;
    }
    p.conf = conf;
    if (!(kc = jd_kafka_conf_new(conf, JD_KROLE_PRODUCER, &err))) {
        fprintf(stderr, "journeyd produce: %s\n", err.msg);
        goto out;
    }
    rd_kafka_conf_set_opaque(kc, &p);
    rd_kafka_conf_set_dr_msg_cb(kc, dr_cb);
    rd_kafka_conf_set_error_cb(kc, error_cb);
    if (!(p.rk = jd_kafka_new(RD_KAFKA_PRODUCER, kc, &err)) ||
        !(p.dec = jd_decoder_new(conf, &err))) {
        fprintf(stderr, "journeyd produce: %s\n", err.msg);
        goto out;
    }
    p.tty = isatty(2);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    rc = 0;
    for (size_t i = 0; i < nin && !rc && !produce_stop; i++)
        if (produce_file(&p, inputs[i]))
            rc = 1;
    /* everything sent must be acknowledged before we report success */
    while (rd_kafka_outq_len(p.rk) > 0)
        rd_kafka_flush(p.rk, 500);
    if (p.tty)
        fputc('\n', stderr);
    fprintf(stderr, "journeyd produce: %" PRIu64 " records, %" PRIu64 " messages to %s "
            "(%" PRIu64 " acknowledged, %" PRIu64 " failed)", p.records, p.produced, p.topic,
            p.acked, p.failed);
    if (p.records > p.produced) {
        const char *sep = "";
        fprintf(stderr, ", dead letters not produced:");
        for (int r = 1; r < JD_DL__COUNT; r++)
            if (p.dl[r]) {
                fprintf(stderr, "%s %s=%" PRIu64, sep, jd_dl_reason_name((jd_dl_reason_t)r),
                        p.dl[r]);
                sep = ",";
            }
    }
    fputc('\n', stderr);
    if (p.failed || produce_stop)
        rc = 1;
out:
    if (p.csv_hdrs)
        rd_kafka_headers_destroy(p.csv_hdrs);
    if (p.rk)
        rd_kafka_destroy(p.rk);
    jd_decoder_destroy(p.dec);
    jd_identity_free(&p.links);
    jd_config_destroy(conf);
    free(ov);
    free(inputs);
    return rc;
}
