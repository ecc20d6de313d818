/*
 * Metrics registry: see include/journeyd/metrics.h. The table below is the
 * only place a metric is defined; docs/operations.md lists the same names
 * and tests/e2e/t_docker.sh fails when the Grafana dashboard queries a name
 * the rendering does not contain.
 *
 * Storage: one series per (metric, label values), found through a hash map
 * keyed by the metric's index byte followed by the NUL-terminated label
 * values, and linked per metric in creation order so the rendering is stable.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>
#include <sys/queue.h>
#include "journeyd/map.h"
#include "journeyd/metrics.h"
#include "journeyd/strbuf.h"

static const double checkpoint_buckets[] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
};

#define L(...) { __VA_ARGS__ }
static const jd_metric_def_t metric_defs[JD_M__COUNT] = {
    [JD_M_BUILD_INFO] = { "journeyd_build_info", JD_MT_GAUGE,
        "Always 1; the version label says which journeyd is running", L("version") },
    [JD_M_RULE_INFO] = { "journeyd_rule_info", JD_MT_GAUGE,
        "Always 1 per configured rule; join on rule to group alerts by kind", L("rule", "kind", "severity") },
    [JD_M_EVENTS_CONSUMED] = { "journeyd_events_consumed_total", JD_MT_COUNTER,
        "Input messages consumed, per assigned partition", L("topic", "partition") },
    [JD_M_EVENTS_EVALUATED] = { "journeyd_events_evaluated_total", JD_MT_COUNTER,
        "Events the engine evaluated against the rules (released by the watermark)", L(NULL) },
    [JD_M_DEAD_LETTERS] = { "journeyd_dead_letters_total", JD_MT_COUNTER,
        "Input records dead-lettered, by reason", L("reason") },
    [JD_M_ALERTS] = { "journeyd_alerts_total", JD_MT_COUNTER,
        "Alerts emitted, by rule and severity", L("rule", "severity") },
    [JD_M_DUPLICATES] = { "journeyd_duplicates_total", JD_MT_COUNTER,
        "Events dropped as duplicates of an event_id already seen for the customer", L(NULL) },
    [JD_M_CONSUMER_LAG] = { "journeyd_consumer_lag", JD_MT_GAUGE,
        "Messages between the partition's high watermark and the consumer's position", L("topic", "partition") },
    [JD_M_WATERMARK_DELAY] = { "journeyd_watermark_delay_seconds", JD_MT_GAUGE,
        "Wall clock minus the partition's event-time watermark, in seconds", L("topic", "partition") },
    [JD_M_CUSTOMERS_ACTIVE] = { "journeyd_customers_active", JD_MT_GAUGE,
        "Customers with a journey in memory", L(NULL) },
    [JD_M_CHECKPOINTS] = { "journeyd_checkpoints_total", JD_MT_COUNTER,
        "Checkpoints completed (alerts acknowledged, changelog durable, offsets committed)", L(NULL) },
    [JD_M_CHECKPOINT_DURATION] = { "journeyd_checkpoint_duration_seconds", JD_MT_HISTOGRAM,
        "Time from a checkpoint's start to its offset commit", L(NULL),
        checkpoint_buckets, sizeof(checkpoint_buckets) / sizeof(checkpoint_buckets[0]) },
    [JD_M_FORCED_ADVANCES] = { "journeyd_forced_advances_total", JD_MT_COUNTER,
        "Watermark advances forced by time.max_buffered (events released early)", L(NULL) },
    [JD_M_GROUPS_EVICTED] = { "journeyd_groups_evicted_total", JD_MT_COUNTER,
        "Per-customer rule groups evicted by journey.max_groups", L(NULL) },
    [JD_M_TASKS_ASSIGNED] = { "journeyd_tasks_assigned", JD_MT_GAUGE,
        "Tasks (input partitions) assigned to this instance", L(NULL) },
    [JD_M_SERIES_DROPPED] = { "journeyd_metrics_series_dropped_total", JD_MT_COUNTER,
        "Metric updates dropped because JD_METRICS_MAX_SERIES series exist", L(NULL) },
    [JD_M_REPARTITIONED] = { "journeyd_repartitioned_events_total", JD_MT_COUNTER,
        "input.keyed_by=any: events re-keyed by resolved identity into the repartition topic",
        L(NULL) },
    [JD_M_LINK_NOTICES] = { "journeyd_link_notices_total", JD_MT_COUNTER,
        "input.keyed_by=any: links announced to the task holding the anonymous journey", L(NULL) },
    [JD_M_HANDOVERS_SENT] = { "journeyd_handovers_sent_total", JD_MT_COUNTER,
        "input.keyed_by=any: anonymous journeys handed to their customer's task", L(NULL) },
    [JD_M_HANDOVERS_RECEIVED] = { "journeyd_handovers_received_total", JD_MT_COUNTER,
        "input.keyed_by=any: hand-overs merged here", L(NULL) },
    [JD_M_FORWARDED] = { "journeyd_forwarded_events_total", JD_MT_COUNTER,
        "input.keyed_by=any: anonymous events passed on to the task their journey moved to",
        L(NULL) },
    [JD_M_CUSTOMERS_FROZEN] = { "journeyd_customers_frozen", JD_MT_GAUGE,
        "input.keyed_by=any: customers whose link waits for a hand-over", L(NULL) },
};

typedef struct series {
    jd_map_node_t node;         /* node.key = key */
    TAILQ_ENTRY(series) link;
    char *key;                  /* id byte, then each label value + NUL */
    const char *labels[JD_METRICS_MAX_LABELS]; /* into key */
    double value;               /* counter or gauge */
    double sum;                 /* histogram */
    uint64_t count;
    uint64_t buckets[];         /* histogram: per bucket (not cumulative) */
} series_t;

TAILQ_HEAD(series_list, series);

struct jd_metrics {
    pthread_mutex_t mu;
    jd_map_t map;
    struct series_list list[JD_M__COUNT];
    size_t nlabelled;           /* bounded by JD_METRICS_MAX_SERIES */
};

const jd_metric_def_t *jd_metric_def(jd_metric_id_t id)
{
    return (unsigned)id < JD_M__COUNT ? &metric_defs[id] : NULL;
}

static size_t nlabels(jd_metric_id_t id)
{
    size_t n = 0;
    while (n < JD_METRICS_MAX_LABELS && metric_defs[id].labels[n])
        n++;
    return n;
}

/* The map key of (id, labels) into buf; its length, 0 if it does not fit. */
static size_t make_key(jd_metric_id_t id, const char *const *labels, char *buf, size_t cap)
{
    size_t len = 1, n = nlabels(id);
    buf[0] = (char)('A' + id);
    for (size_t i = 0; i < n; i++) {
        const char *v = labels && labels[i] ? labels[i] : "";
        size_t l = strlen(v) + 1;
        if (len + l > cap)
            return 0;
        memcpy(buf + len, v, l);
        len += l;
    }
    return len;
}

/* The series of (id, labels), created at 0 when absent. Called locked.
 * NULL when the bound or memory stops a new series, or when the label
 * values together exceed the 1 KB key (no real topic, rule or reason does). */
static series_t *series_get(jd_metrics_t *m, jd_metric_id_t id, const char *const *labels)
{
    char kbuf[1024];
    size_t klen = make_key(id, labels, kbuf, sizeof(kbuf)), n = nlabels(id);
    size_t nb = metric_defs[id].type == JD_MT_HISTOGRAM ? metric_defs[id].nbuckets : 0;
    jd_map_node_t *node;
    series_t *s;
    const char *p;

    if (!klen)
        return NULL;
    if ((node = jd_map_get(&m->map, kbuf, klen)))
        return (series_t *)node;
    if (n && m->nlabelled >= JD_METRICS_MAX_SERIES)
        return NULL;
    if (!(s = calloc(1, sizeof(*s) + nb * sizeof(s->buckets[0]))) || !(s->key = malloc(klen))) {
        free(s);
        return NULL;
    }
    memcpy(s->key, kbuf, klen);
    for (size_t i = 0, off = 1; i < n; i++) {
        p = s->key + off;
        s->labels[i] = p;
        off += strlen(p) + 1;
    }
    s->node.key = s->key;
    s->node.keylen = klen;
    if (jd_map_put(&m->map, &s->node)) {
        free(s->key);
        free(s);
        return NULL;
    }
    TAILQ_INSERT_TAIL(&m->list[id], s, link);
    if (n)
        m->nlabelled++;
    return s;
}

/* series_get, counting an update the bound dropped. Called locked. */
static series_t *series_for_update(jd_metrics_t *m, jd_metric_id_t id, const char *const *labels)
{
    series_t *s = series_get(m, id, labels);
    if (!s) {
        series_t *d = series_get(m, JD_M_SERIES_DROPPED, NULL);
        if (d)
            d->value += 1;
    }
    return s;
}

static void series_free(series_t *s)
{
    free(s->key);
    free(s);
}

jd_metrics_t *jd_metrics_new(const char *version)
{
    jd_metrics_t *m = calloc(1, sizeof(*m));
    const char *lv[1] = { version ? version : "unknown" };
    if (!m)
        return NULL;
    for (int i = 0; i < JD_M__COUNT; i++)
        TAILQ_INIT(&m->list[i]);
    if (pthread_mutex_init(&m->mu, NULL)) {
        free(m);
        return NULL;
    }
    if (jd_map_init(&m->map))
        goto fail;
    for (int i = 0; i < JD_M__COUNT; i++)
        if (!nlabels((jd_metric_id_t)i) && !series_get(m, (jd_metric_id_t)i, NULL))
            goto fail;
    if (!series_get(m, JD_M_BUILD_INFO, lv))
        goto fail;
    TAILQ_FIRST(&m->list[JD_M_BUILD_INFO])->value = 1;
    return m;
fail:
    jd_metrics_destroy(m);
    return NULL;
}

void jd_metrics_destroy(jd_metrics_t *m)
{
    if (!m)
        return;
    for (int i = 0; i < JD_M__COUNT; i++) {
        series_t *s;
        while ((s = TAILQ_FIRST(&m->list[i]))) {
            TAILQ_REMOVE(&m->list[i], s, link);
            series_free(s);
        }
    }
    jd_map_free(&m->map);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static int type_is(jd_metrics_t *m, jd_metric_id_t id, jd_metric_type_t t)
{
    return m && (unsigned)id < JD_M__COUNT && metric_defs[id].type == t;
}

void jd_metrics_add(jd_metrics_t *m, jd_metric_id_t id, const char *const *labels, uint64_t n)
{
    series_t *s;
    if (!type_is(m, id, JD_MT_COUNTER))
        return;
    pthread_mutex_lock(&m->mu);
    if ((s = series_for_update(m, id, labels)))
        s->value += (double)n;
    pthread_mutex_unlock(&m->mu);
}

void jd_metrics_set(jd_metrics_t *m, jd_metric_id_t id, const char *const *labels, double v)
{
    series_t *s;
    if (!m || (unsigned)id >= JD_M__COUNT || metric_defs[id].type == JD_MT_HISTOGRAM)
        return;
    pthread_mutex_lock(&m->mu);
    if ((s = series_for_update(m, id, labels)))
        s->value = v;
    pthread_mutex_unlock(&m->mu);
}

void jd_metrics_observe(jd_metrics_t *m, jd_metric_id_t id, const char *const *labels, double v)
{
    const jd_metric_def_t *d;
    series_t *s;
    if (!type_is(m, id, JD_MT_HISTOGRAM) || isnan(v))
        return;
    d = &metric_defs[id];
    pthread_mutex_lock(&m->mu);
    if ((s = series_for_update(m, id, labels))) {
        size_t b = 0;
        while (b < d->nbuckets && v > d->buckets[b])
            b++;
        if (b < d->nbuckets)
            s->buckets[b]++;
        s->sum += v;
        s->count++;
    }
    pthread_mutex_unlock(&m->mu);
}

int jd_metrics_remove(jd_metrics_t *m, jd_metric_id_t id, const char *const *labels)
{
    char kbuf[1024];
    size_t klen;
    jd_map_node_t *node;
    if (!m || (unsigned)id >= JD_M__COUNT || !nlabels(id))
        return 0;
    if (!(klen = make_key(id, labels, kbuf, sizeof(kbuf))))
        return 0;
    pthread_mutex_lock(&m->mu);
    if ((node = jd_map_get(&m->map, kbuf, klen))) {
        series_t *s = (series_t *)node;
        jd_map_del(&m->map, node);
        TAILQ_REMOVE(&m->list[id], s, link);
        series_free(s);
        m->nlabelled--;
    }
    pthread_mutex_unlock(&m->mu);
    return node != NULL;
}

static const char *const severity_names[] = { "low", "medium", "high" };
static const char *const kind_names[] = {
    "burst", "funnel", "sequence", "absence", "pattern", "score"
};

void jd_metrics_declare_rules(jd_metrics_t *m, const jd_config_t *conf)
{
    for (uint32_t i = 0; m && conf && i < conf->nrules; i++) {
        const jd_rule_t *r = &conf->rules[i];
        const char *sev = severity_names[(unsigned)r->severity % 3];
        const char *info[3] = { r->name, kind_names[(unsigned)r->kind % (sizeof(kind_names) / sizeof(kind_names[0]))], sev };
        const char *al[2] = { r->name, sev };
        jd_metrics_set(m, JD_M_RULE_INFO, info, 1);
        jd_metrics_add(m, JD_M_ALERTS, al, 0);
    }
}

void jd_metrics_set_partition(jd_metrics_t *m, const char *topic, int32_t partition,
                              uint64_t consumed, int64_t lag, double wm_delay)
{
    char p[16];
    const char *lv[2] = { topic, p };
    snprintf(p, sizeof(p), "%" PRId32, partition);
    jd_metrics_set(m, JD_M_EVENTS_CONSUMED, lv, (double)consumed);
    if (lag >= 0)
        jd_metrics_set(m, JD_M_CONSUMER_LAG, lv, (double)lag);
    if (!isnan(wm_delay))
        jd_metrics_set(m, JD_M_WATERMARK_DELAY, lv, wm_delay);
}

void jd_metrics_remove_partition(jd_metrics_t *m, const char *topic, int32_t partition)
{
    char p[16];
    const char *lv[2] = { topic, p };
    snprintf(p, sizeof(p), "%" PRId32, partition);
    jd_metrics_remove(m, JD_M_EVENTS_CONSUMED, lv);
    jd_metrics_remove(m, JD_M_CONSUMER_LAG, lv);
    jd_metrics_remove(m, JD_M_WATERMARK_DELAY, lv);
}

void jd_metrics_alert(jd_metrics_t *m, const char *rule, const char *severity, uint64_t n)
{
    const char *lv[2] = { rule, severity };
    jd_metrics_add(m, JD_M_ALERTS, lv, n);
}

void jd_metrics_dead_letter(jd_metrics_t *m, const char *reason, uint64_t n)
{
    const char *lv[1] = { reason };
    jd_metrics_add(m, JD_M_DEAD_LETTERS, lv, n);
}

void jd_metrics_checkpoint(jd_metrics_t *m, double seconds)
{
    jd_metrics_add(m, JD_M_CHECKPOINTS, NULL, 1);
    jd_metrics_observe(m, JD_M_CHECKPOINT_DURATION, NULL, seconds);
}

/* ---- rendering ---- */

/* Shortest text that reads back as v; Prometheus' spellings for the
 * non-finite ones. */
static void put_value(jd_strbuf_t *sb, double v)
{
    char buf[40];
    if (isnan(v)) {
        jd_strbuf_puts(sb, "NaN");
        return;
    }
    if (isinf(v)) {
        jd_strbuf_puts(sb, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        snprintf(buf, sizeof(buf), "%.0f", v); /* counters: never 2e+04 */
        jd_strbuf_puts(sb, buf);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    jd_strbuf_puts(sb, buf);
}

/* A label value with \, " and newline escaped, as the format requires. */
static void put_label_value(jd_strbuf_t *sb, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            jd_strbuf_putc(sb, '\\'), jd_strbuf_putc(sb, *v);
        else if (*v == '\n')
            jd_strbuf_puts(sb, "\\n");
        else
            jd_strbuf_putc(sb, *v);
    }
}

/* {a="x",b="y"} plus an optional le; nothing when there is no label. */
static void put_labels(jd_strbuf_t *sb, jd_metric_id_t id, const series_t *s, const char *le)
{
    size_t n = nlabels(id);
    if (!n && !le)
        return;
    jd_strbuf_putc(sb, '{');
    for (size_t i = 0; i < n; i++) {
        jd_strbuf_printf(sb, "%s%s=\"", i ? "," : "", metric_defs[id].labels[i]);
        put_label_value(sb, s->labels[i]);
        jd_strbuf_putc(sb, '"');
    }
    if (le)
        jd_strbuf_printf(sb, "%sle=\"%s\"", n ? "," : "", le);
    jd_strbuf_putc(sb, '}');
}

static void put_histogram(jd_strbuf_t *sb, jd_metric_id_t id, const series_t *s)
{
    const jd_metric_def_t *d = &metric_defs[id];
    uint64_t cum = 0;
    jd_strbuf_t le;
    jd_strbuf_init(&le);
    for (size_t b = 0; b <= d->nbuckets; b++) {
        jd_strbuf_reset(&le);
        if (b < d->nbuckets) {
            cum += s->buckets[b];
            put_value(&le, d->buckets[b]);
        } else
            jd_strbuf_puts(&le, "+Inf");
        jd_strbuf_putc(&le, '\0');
        jd_strbuf_printf(sb, "%s_bucket", d->name);
        put_labels(sb, id, s, le.oom ? "+Inf" : le.data);
        jd_strbuf_printf(sb, " %" PRIu64 "\n", b < d->nbuckets ? cum : s->count);
    }
    jd_strbuf_free(&le);
    jd_strbuf_printf(sb, "%s_sum", d->name);
    put_labels(sb, id, s, NULL);
    jd_strbuf_putc(sb, ' ');
    put_value(sb, s->sum);
    jd_strbuf_printf(sb, "\n%s_count", d->name);
    put_labels(sb, id, s, NULL);
    jd_strbuf_printf(sb, " %" PRIu64 "\n", s->count);
}

char *jd_metrics_render(jd_metrics_t *m, size_t *len)
{
    static const char *const type_names[] = { "counter", "gauge", "histogram" };
    jd_strbuf_t sb;
    if (!m)
        return NULL;
    jd_strbuf_init(&sb);
    pthread_mutex_lock(&m->mu);
    for (int i = 0; i < JD_M__COUNT; i++) {
        const jd_metric_def_t *d = &metric_defs[i];
        const series_t *s;
        jd_strbuf_printf(&sb, "# HELP %s %s\n# TYPE %s %s\n", d->name, d->help, d->name,
                         type_names[d->type]);
        TAILQ_FOREACH(s, &m->list[i], link) {
            if (d->type == JD_MT_HISTOGRAM) {
                put_histogram(&sb, (jd_metric_id_t)i, s);
                continue;
            }
            jd_strbuf_puts(&sb, d->name);
            put_labels(&sb, (jd_metric_id_t)i, s, NULL);
            jd_strbuf_putc(&sb, ' ');
            put_value(&sb, s->value);
            jd_strbuf_putc(&sb, '\n');
        }
    }
    pthread_mutex_unlock(&m->mu);
    jd_strbuf_putc(&sb, '\0');
    if (sb.oom) {
        jd_strbuf_free(&sb);
        return NULL;
    }
    if (len)
        *len = sb.len - 1;
    return sb.data;
}
