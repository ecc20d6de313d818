/*
 * Alert rendering (contract section 6). Written by hand, not through a
 * jansson tree, so key order is fixed and output is byte-identical across
 * replays; alert_id hashes only rule, identity and evidence.
 */
#include <inttypes.h>
#include <string.h>
#include "journeyd/rule.h"

static const char *const alert_sev_names[] = {"low", "medium", "high"};

typedef struct alert_hash {
    uint64_t h;
} alert_hash_t;

static void ah_bytes(alert_hash_t *a, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        a->h = (a->h ^ (unsigned char)s[i]) * 1099511628211ull;
    a->h = (a->h ^ 0xff) * 1099511628211ull; /* field separator */
}

static void ah_str(alert_hash_t *a, const char *s)
{
    ah_bytes(a, s ? s : "", s ? strlen(s) : 0);
}

static void ah_evid(alert_hash_t *a, const jd_evid_t *ev)
{
    /* Evidence without an event_id is identified by its event time. */
    if (ev->id) {
        ah_str(a, ev->id);
    } else {
        char buf[32];
        int n = snprintf(buf, sizeof(buf), "@%" PRId64, ev->ts);
        ah_bytes(a, buf, (size_t)n);
    }
}

static uint64_t ah_final(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static void alert_channels(const jd_alert_req_t *req, jd_strbuf_t *out)
{
    const char *seen[64];
    size_t nseen = 0;
    jd_strbuf_puts(out, ",\"channels\":[");
    for (int pass = 0; pass < 2; pass++) {
        const jd_evid_t *list = pass == 0 ? req->first : req->evid;
        size_t n = pass == 0 ? req->nfirst : req->nevid;
        for (size_t i = 0; i < n; i++) {
            const char *ch = list[i].channel;
            size_t k = 0;
            while (k < nseen && seen[k] != ch)
                k++;
            if (!ch || k < nseen || nseen == 64)
                continue;
            if (nseen)
                jd_strbuf_putc(out, ',');
            seen[nseen++] = ch;
            jd_strbuf_json_str(out, ch);
        }
    }
    jd_strbuf_putc(out, ']');
}

static void alert_journey(const jd_config_t *conf, const jd_journey_t *j,
                          jd_strbuf_t *out)
{
    uint32_t n = j->hist_len < conf->alert_context ? j->hist_len : conf->alert_context;
    jd_strbuf_puts(out, ",\"journey\":[");
    for (uint32_t i = j->hist_len - n; i < j->hist_len; i++) {
        const jd_hist_t *h = jd_journey_hist(j, i);
        if (i != j->hist_len - n)
            jd_strbuf_putc(out, ',');
        jd_strbuf_puts(out, "{\"ts\":");
        jd_strbuf_json_time(out, h->ts);
        jd_strbuf_puts(out, ",\"channel\":");
        jd_strbuf_json_str(out, jd_intern_get(conf->intern, h->channel));
        jd_strbuf_puts(out, ",\"type\":");
        jd_strbuf_json_str(out, jd_intern_get(conf->intern, h->type));
        if (h->page) {
            jd_strbuf_puts(out, ",\"page\":");
            jd_strbuf_json_str(out, jd_intern_get(conf->intern, h->page));
        }
        jd_strbuf_putc(out, '}');
    }
    jd_strbuf_putc(out, ']');
}

/* A drop-off's evidence.struggles (always present, maybe empty). */
static void alert_struggles(const jd_alert_req_t *req, jd_strbuf_t *out)
{
    jd_strbuf_puts(out, ",\"struggles\":[");
    for (size_t i = 0; i < req->nstruggles; i++) {
        const jd_evid_t *a = &req->struggles[i];
        jd_strbuf_puts(out, i ? ",{\"rule\":" : "{\"rule\":");
        jd_strbuf_json_str(out, a->rule);
        jd_strbuf_puts(out, ",\"alert_id\":");
        jd_strbuf_json_str(out, a->id);
        jd_strbuf_puts(out, ",\"ts\":");
        jd_strbuf_json_time(out, a->ts);
        jd_strbuf_putc(out, '}');
    }
    jd_strbuf_putc(out, ']');
    if (req->struggles_omitted)
        jd_strbuf_printf(out, ",\"struggles_omitted\":%" PRIu64, req->struggles_omitted);
}

void jd_alert_render(const jd_config_t *conf, const jd_alert_req_t *req,
                     int64_t emitted_at, jd_strbuf_t *out, char alert_id[17])
{
    const jd_rule_t *r = req->rule;
    const jd_journey_t *j = req->journey;
    int anonymous = j->key[0] == 'a';
    const char *identity = j->key + 2;

    alert_hash_t ah = {1469598103934665603ull};
    ah_str(&ah, r->name);
    ah_bytes(&ah, j->key, 1);
    ah_str(&ah, identity);
    for (size_t i = 0; i < req->nevid; i++)
        ah_evid(&ah, &req->evid[i]);
    for (size_t i = 0; i < req->nfirst; i++)
        ah_evid(&ah, &req->first[i]);
    snprintf(alert_id, 17, "%016" PRIx64, ah_final(ah.h));

    int64_t first_ts = req->ts;
    for (size_t i = 0; i < req->nevid; i++)
        if (req->evid[i].ts < first_ts)
            first_ts = req->evid[i].ts;
    for (size_t i = 0; i < req->nfirst; i++)
        if (req->first[i].ts < first_ts)
            first_ts = req->first[i].ts;

    jd_strbuf_puts(out, "{\"alert_id\":\"");
    jd_strbuf_puts(out, alert_id);
    jd_strbuf_puts(out, "\",\"rule\":");
    jd_strbuf_json_str(out, r->name);
    jd_strbuf_puts(out, ",\"kind\":\"");
    jd_strbuf_puts(out, jd_rule_ops_for(r->kind)->name);
    jd_strbuf_puts(out, "\",\"severity\":\"");
    jd_strbuf_puts(out, alert_sev_names[r->severity]);
    jd_strbuf_puts(out, anonymous ? "\",\"anonymous_id\":" : "\",\"customer_id\":");
    jd_strbuf_json_str(out, identity);
    jd_strbuf_puts(out, anonymous ? ",\"identity\":\"anonymous\"" : ",\"identity\":\"customer\"");
    jd_strbuf_puts(out, ",\"ts\":");
    jd_strbuf_json_time(out, req->ts);
    jd_strbuf_puts(out, ",\"first_ts\":");
    jd_strbuf_json_time(out, first_ts);
    alert_channels(req, out);

    jd_strbuf_puts(out, ",\"evidence\":{\"event_ids\":[");
    for (size_t i = 0; i < req->nevid; i++) {
        if (i)
            jd_strbuf_putc(out, ',');
        jd_strbuf_json_str(out, req->evid[i].id);
    }
    jd_strbuf_printf(out, "],\"count\":%zu", req->nevid);
    if (req->ngroup) {
        jd_strbuf_puts(out, ",\"group\":{");
        for (size_t i = 0; i < req->ngroup; i++) {
            if (i)
                jd_strbuf_putc(out, ',');
            jd_strbuf_json_str(out, req->group_names[i]);
            jd_strbuf_putc(out, ':');
            jd_strbuf_json_str(out, req->group_values[i]);
        }
        jd_strbuf_putc(out, '}');
    }
    if (req->has_score)
        jd_strbuf_printf(out, ",\"score\":%.3f", req->score);
    if (req->first) {
        jd_strbuf_puts(out, ",\"first\":[");
        for (size_t i = 0; i < req->nfirst; i++) {
            const jd_evid_t *f = &req->first[i];
            jd_strbuf_puts(out, i ? ",{\"ts\":" : "{\"ts\":");
            jd_strbuf_json_time(out, f->ts);
            if (f->rule) {
                jd_strbuf_puts(out, ",\"alert_id\":");
                jd_strbuf_json_str(out, f->id);
                jd_strbuf_puts(out, ",\"rule\":");
                jd_strbuf_json_str(out, f->rule);
            } else {
                jd_strbuf_puts(out, ",\"event_id\":");
                jd_strbuf_json_str(out, f->id);
            }
            jd_strbuf_putc(out, '}');
        }
        jd_strbuf_putc(out, ']');
    }
    if (req->funnel_last_step > 0)
        alert_struggles(req, out);
    jd_strbuf_putc(out, '}');
    if (req->funnel_last_step > 0) {
        jd_strbuf_printf(out, ",\"funnel\":{\"steps\":%u,\"last_step\":%d,\"last_step_name\":",
                         r->nsteps, req->funnel_last_step);
        jd_strbuf_json_str(out, r->steps[req->funnel_last_step - 1].name);
        if (req->has_segment) {
            jd_strbuf_puts(out, ",\"segment\":");
            jd_strbuf_json_str(out, req->segment);
        }
        jd_strbuf_putc(out, '}');
    }
    alert_journey(conf, j, out);
    jd_strbuf_puts(out, ",\"emitted_at\":");
    jd_strbuf_json_time(out, emitted_at);
    jd_strbuf_putc(out, '}');
}
