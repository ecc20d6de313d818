/*
 * `journeyd produce`: load a captured dataset (NDJSON or CSV, plain or gzip)
 * into a topic, one message per record.
 *
 * Key (--key-by resolved, the default): the record's resolved customer
 * identity: customer_id when present, else the customer a record of the
 * input links its anonymous_id to (a first pass over the files learns the
 * links, so pre-login events share their customer's partition, as `run`
 * with input.keyed_by=customer needs; stdin is read once: links seen so
 * far), else the anonymous_id. --key-by raw: customer_id, else
 * anonymous_id, as a web tracker keys. Value: the record's original bytes. For CSV
 * the value is the record alone (no line terminator) and the file's header
 * record travels with every message as the Kafka header
 * "journeyd.csv.header", so `run` with input.format=csv can decode it.
 *
 * Records the decoder rejects are counted per reason and reported on stderr,
 * not produced. Pacing: --speed X replays event time X times faster than
 * real time (relative to the first record); --rate N sends N records per
 * second; neither = as fast as the broker takes them.
 */
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
#include "journeyd/records.h"
#include "journeyd/timeutil.h"
#include "journeyd/kafka.h"
#include "journeyd/identity.h"
#include "options.h"

typedef struct jd_producer {
    const jd_config_t *conf;
    const char *topic;
    rd_kafka_t *rk;
    jd_decoder_t *dec;
    jd_identity_t links;        /* anonymous -> customer, as the engine links them */
    rd_kafka_headers_t *csv_hdrs;
    double speed;
    double rate;
    int key_raw;          /* --key-by raw: customer_id, else anonymous_id */
    int scanning;         /* the first pass: links only, nothing sent */
    int brokers_down;     /* an outage was reported (jd_kafka_broker_error) */
    int tty;
    uint64_t produced, acked, failed, records;
    uint64_t dl[JD_DL__COUNT];
    int64_t t0_ts, t0_mono;
    int started;
    int64_t last_progress;
    jd_reader_t *rd;      /* the input being read, for progress lines */
} jd_producer_t;

static volatile sig_atomic_t produce_stop;

/* After SIGINT/SIGTERM, how long acknowledgements are still awaited. */
#define PRODUCE_STOP_GRACE_MS 2000

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
        jd_kafka_broker_up(&p->brokers_down);
    }
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    jd_producer_t *p = opaque;
    (void)rk;
    jd_kafka_broker_error(&p->brokers_down, p->conf, err, reason);
}

/* The customer the engine will file ev under (journeyd/identity.h): links
 * idle for longer than journey.retention are forgotten, as the engine
 * forgets them. */
static const char *identity(jd_producer_t *p, const jd_event_t *ev)
{
    if (p->key_raw)
        return ev->customer_id ? ev->customer_id : ev->anonymous_id ? ev->anonymous_id : "";
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

static int produce_on_csv_header(void *opaque, const jd_csv_record_t *hdr)
{
    jd_producer_t *p = opaque;
    if (p->csv_hdrs)
        rd_kafka_headers_destroy(p->csv_hdrs);
    p->csv_hdrs = rd_kafka_headers_new(1);
    rd_kafka_header_add(p->csv_hdrs, JD_KAFKA_CSV_HEADER, -1, hdr->raw,
                        (ssize_t)chomp(hdr->raw, hdr->rawlen));
    return 0;
}

static int produce_on_event(void *opaque, jd_event_t *ev, const jd_source_pos_t *pos,
                            const char *payload, size_t len)
{
    jd_producer_t *p = opaque;
    (void)pos;
    if (p->scanning) {
        identity(p, ev);
        jd_event_free(ev);
        return produce_stop;
    }
    p->records++;
    if (p->conf->input_csv)
        len = chomp(payload, len);
    int e = send_record(p, ev, payload, len, p->conf->input_csv ? p->csv_hdrs : NULL);
    jd_event_free(ev);
    progress(p, p->rd, 0);
    return e || produce_stop;
}

static int produce_on_dead_letter(void *opaque, jd_dl_reason_t reason, const char *detail,
                                  const jd_source_pos_t *pos, const char *payload, size_t len)
{
    jd_producer_t *p = opaque;
    (void)payload;
    (void)len;
    if (p->scanning)
        return produce_stop;
    p->records++;
    p->dl[reason]++;
    JD_LOG(JD_LOG_DEBUG, "%s:%" PRId64 ": dead letter %s: %s", pos->file, pos->line,
           jd_dl_reason_name(reason), detail);
    progress(p, p->rd, 0);
    return produce_stop;
}

static const jd_records_ops_t produce_ops = {
    .on_event = produce_on_event,
    .on_dead_letter = produce_on_dead_letter,
    .on_csv_header = produce_on_csv_header,
};

static int produce_file(jd_producer_t *p, const char *path)
{
    jd_err_t err;
    if (!(p->rd = jd_reader_open(path, &err))) {
        JD_LOG(JD_LOG_ERR, "%s", err.msg);
        return -1;
    }
    jd_records_rc_t rc = jd_records_run(p->rd, p->conf, p->dec, NULL, &produce_ops, p, &err);
    /* Stopped: by a signal (reported by the caller) or a failed send
     * (already logged). */
    if (rc == JD_RECORDS_ERROR || rc == JD_RECORDS_CORRUPT)
        JD_LOG(JD_LOG_ERR, "%s", err.msg);
    else if (!p->scanning)
        progress(p, p->rd, 1);
    jd_reader_close(p->rd);
    p->rd = NULL;
    return rc == JD_RECORDS_EOF || (rc == JD_RECORDS_STOPPED && produce_stop) ? 0 : -1;
}

static void usage(FILE *f)
{
    fputs("usage: journeyd produce [-c CONFIG] [-X key=value ...] [-b BROKERS] -i FILE|- [-i FILE ...]\n"
          "                        -t|--topic T [--speed X | --rate N] [--format ndjson|csv]\n"
          "  load a captured dataset into Kafka, one message per record, keyed by customer identity\n"
          "  -i, --input FILE     input file (plain or gzip), - for stdin\n"
          "  -t, --topic T        the topic to write to\n"
          "  --speed X            pace by event time, X times real time (60 = one hour per minute)\n"
          "  --rate N             N records per second\n"
          "  --key-by resolved    (default) key by the customer the anonymous id is linked to\n"
          "                       anywhere in the input files (read twice; stdin: links seen so\n"
          "                       far), so one customer's events share a partition\n"
          "                       (input.keyed_by=customer)\n"
          "  --key-by raw         customer_id, else anonymous_id, as a web tracker keys\n"
          "                       (input.keyed_by=any)\n", f);
    jd_opts_usage_common(f, JD_OPT_BROKERS | JD_OPT_FORMAT);
    fputs("  JOURNEYD_LOG=error|warn|info|debug sets the log level (default info)\n"
          "exit status: 0 success, 1 runtime failure, 2 usage or configuration error\n", f);
}

/* --speed X / --rate N: a positive number. */
static int produce_pace_arg(jd_opts_t *o, int c, double *out)
{
    char *end;
    double v = strtod(o->arg, &end);
    if (end == o->arg || *end || !(v > 0))
        return jd_opts_usage_error(o, "--%s %s: expected a positive number",
                                   c == 's' ? "speed" : "rate", o->arg);
    *out = v;
    return 0;
}

/* JD_OPTS_END when the command line is complete, else JD_OPTS_EXIT. */
static int produce_args(jd_opts_t *o, jd_producer_t *p, const char **inputs, size_t *nin,
                        int argc, char **argv)
{
    static const struct option longopts[] = {
        { "input", required_argument, NULL, 'i' },
        { "topic", required_argument, NULL, 't' },
        { "speed", required_argument, NULL, 's' },
        { "rate", required_argument, NULL, 'r' },
        { "key-by", required_argument, NULL, 'k' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    if (jd_opts_init(o, "produce", JD_OPT_BROKERS | JD_OPT_FORMAT, "i:t:", longopts, usage) != 0) {
        o->status = 1;
        return JD_OPTS_EXIT;
    }
    while ((c = jd_opts_next(o, argc, argv)) != JD_OPTS_END) {
        switch (c) {
        case 'i': inputs[(*nin)++] = o->arg; break;
        case 't': p->topic = o->arg; break;
        case 's':
            if (produce_pace_arg(o, c, &p->speed) != 0)
                return JD_OPTS_EXIT;
            break;
        case 'r':
            if (produce_pace_arg(o, c, &p->rate) != 0)
                return JD_OPTS_EXIT;
            break;
        case 'k':
            if (strcmp(o->arg, "resolved") && strcmp(o->arg, "raw"))
                return jd_opts_usage_error(o, "--key-by %s: expected resolved or raw", o->arg);
            p->key_raw = !strcmp(o->arg, "raw");
            break;
        default: return JD_OPTS_EXIT;
        }
    }
    if (!*nin || !p->topic || !*p->topic)
        return jd_opts_usage_error(o, "%s is required", !*nin ? "-i FILE" : "--topic T");
    if (p->speed > 0 && p->rate > 0)
        return jd_opts_usage_error(o, "--speed and --rate are mutually exclusive");
    return JD_OPTS_END;
}

int jd_cmd_produce(int argc, char **argv)
{
    const char **inputs = NULL;
    size_t nin = 0;
    jd_opts_t o = { 0 };
    jd_config_t *conf = NULL;
    jd_producer_t p;
    rd_kafka_conf_t *kc;
    struct sigaction sa;
    jd_err_t err;
    int rc = 2;

    memset(&p, 0, sizeof(p));
    jd_log_init("journeyd produce");
    inputs = calloc((size_t)argc + 1, sizeof(*inputs));
    if (!inputs || jd_identity_init(&p.links, 0)) {
        fprintf(stderr, "journeyd produce: out of memory\n");
        rc = 1;
        goto out;
    }
    if (produce_args(&o, &p, inputs, &nin, argc, argv) != JD_OPTS_END) {
        rc = o.status;
        goto out;
    }
    if (!(conf = jd_opts_load(&o)))
        goto out;
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
    /* --key-by resolved: a first pass over the files learns every link, so
     * anonymous events before their customer's login are keyed by it too */
    p.scanning = !p.key_raw;
    for (size_t i = 0; i < nin && !rc && !produce_stop && p.scanning; i++)
        if (strcmp(inputs[i], "-") && produce_file(&p, inputs[i]))
            rc = 1;
    p.scanning = 0;
    for (size_t i = 0; i < nin && !rc && !produce_stop; i++)
        if (produce_file(&p, inputs[i]))
            rc = 1;
    /* everything sent must be acknowledged before we report success; a
     * SIGINT/SIGTERM gives the broker PRODUCE_STOP_GRACE_MS more, then what
     * is still queued is purged (counted as failed): with a broker down,
     * librdkafka would otherwise retry for message.timeout.ms (300 s) */
    int64_t stop_deadline = -1;
    while (rd_kafka_outq_len(p.rk) > 0) {
        if (produce_stop && stop_deadline < 0)
            stop_deadline = jd_mono_ms() + PRODUCE_STOP_GRACE_MS;
        if (stop_deadline >= 0 && jd_mono_ms() >= stop_deadline) {
            rd_kafka_purge(p.rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            rd_kafka_poll(p.rk, 100); /* their delivery reports: failed */
            break;
        }
        rd_kafka_flush(p.rk, 200);
    }
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
    jd_opts_free(&o);
    free(inputs);
    return rc;
}
