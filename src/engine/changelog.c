/*
 * Durable state (contract section 7): each journey and each anonymous ->
 * customer link is one changelog record keyed by its identity key ("c:",
 * "a:" or "l:" + id). Saving writes the records of what changed since the
 * last drain (and tombstones for keys that went); restoring rebuilds a
 * journey or link from its record, older record formats included. Rule
 * states are saved by their kind's ops, keyed by rule name.
 */
#include <stdlib.h>
#include <string.h>
#include "journeyd/timeutil.h"
#include "engine_priv.h"
#include "idset.h"

/* A journey record: {"t":last_ts,"h":[[ts,type,channel,page,"eidhash"],..],
 * "a":{rule:last_alert_ts,..},"r":{rule:<kind state>,..}}. Rule states are
 * keyed by rule name so a config change that reorders rules still restores. */
/* A rule's state is saved under "name~hhhhhhhh", h the hash of the rule's
 * definition (its effective JSON): a rule changed by a reload (SIGHUP) or a
 * restart with another config starts empty instead of reading state it no
 * longer understands. Records of older versions ("name" alone) still
 * restore. */
int changelog_rule_keys(jd_engine_t *e)
{
    const jd_config_t *c = e->conf;
    json_t *defs = c->effective ? json_object_get(c->effective, "rules") : NULL;
    e->rule_key = calloc(c->nrules ? c->nrules : 1, sizeof(*e->rule_key));
    if (!e->rule_key)
        return -1;
    for (uint32_t i = 0; i < c->nrules; i++) {
        char *def = json_dumps(json_array_get(defs, i), JSON_COMPACT | JSON_SORT_KEYS);
        uint32_t h = 2166136261u;
        for (const char *p = def ? def : ""; *p; p++)
            h = (h ^ (uint8_t)*p) * 16777619u;
        free(def);
        size_t n = strlen(c->rules[i].name) + 10;
        if (!(e->rule_key[i] = malloc(n)))
            return -1;
        snprintf(e->rule_key[i], n, "%s~%08x", c->rules[i].name, h);
    }
    return 0;
}

/* The rule a saved state belongs to: NULL when no rule has that name, or
 * the state was saved under another definition of it. */
static const jd_rule_t *changelog_state_rule(const jd_engine_t *e, const char *key)
{
    const char *tilde = strrchr(key, '~');
    if (tilde && strlen(tilde + 1) == 8 && strspn(tilde + 1, "0123456789abcdef") == 8) {
        char name[512];
        size_t n = (size_t)(tilde - key);
        if (n >= sizeof(name))
            return NULL;
        memcpy(name, key, n);
        name[n] = '\0';
        const jd_rule_t *r = jd_config_rule(e->conf, name);
        return r && !strcmp(e->rule_key[r->index], key) ? r : NULL;
    }
    return jd_config_rule(e->conf, key);
}

/* Position of id in a record's string table, ntab when absent. The table
 * holds the distinct strings of one journey: a handful, a linear scan. */
static uint32_t save_tab_index(const uint32_t *tab, uint32_t ntab, uint32_t id)
{
    uint32_t k = 0;
    while (k < ntab && tab[k] != id)
        k++;
    return k;
}

static void engine_state_save_journey(jd_engine_t *e, const jd_journey_t *j,
                                      jd_strbuf_t *sb)
{
    const jd_config_t *c = e->conf;
    /* History strings repeat (a journey's types, channels, pages), so each
     * distinct one is written once in "s" and entries index it; entry
     * times are deltas from the previous entry. About half the bytes of
     * spelling every entry out, for the broker and for us. */
    uint32_t *tab = e->save_tab, ntab = 0;
    uint32_t idx[3];
    jd_strbuf_puts(sb, "{\"t\":");
    jd_strbuf_i64(sb, j->last_ts);
    jd_strbuf_puts(sb, ",\"s\":[");
    for (uint32_t i = 0; i < j->hist_len; i++) {
        const jd_hist_t *h = jd_journey_hist(j, i);
        const uint32_t ids[3] = {h->type, h->channel, h->page};
        for (int f = 0; f < 3; f++) {
            if (!ids[f] || save_tab_index(tab, ntab, ids[f]) < ntab)
                continue;
            if (ntab)
                jd_strbuf_putc(sb, ',');
            jd_strbuf_json_str(sb, jd_intern_get(c->intern, ids[f]));
            tab[ntab++] = ids[f];
        }
    }
    jd_strbuf_puts(sb, "],\"h\":[");
    int64_t prev = 0;
    for (uint32_t i = 0; i < j->hist_len; i++) {
        const jd_hist_t *h = jd_journey_hist(j, i);
        idx[0] = h->type ? save_tab_index(tab, ntab, h->type) : UINT32_MAX;
        idx[1] = h->channel ? save_tab_index(tab, ntab, h->channel) : UINT32_MAX;
        idx[2] = h->page ? save_tab_index(tab, ntab, h->page) : UINT32_MAX;
        jd_strbuf_puts(sb, i ? ",[" : "[");
        /* modular: the exact inverse of restore's sum, whatever the times */
        jd_strbuf_i64(sb, (int64_t)((uint64_t)h->ts - (uint64_t)prev));
        prev = h->ts;
        for (int f = 0; f < 3; f++) {
            jd_strbuf_putc(sb, ',');
            jd_strbuf_i64(sb, idx[f] == UINT32_MAX ? -1 : (int64_t)idx[f]);
        }
        if (h->eid_hash) {
            jd_strbuf_puts(sb, ",\"");
            jd_strbuf_hex64(sb, h->eid_hash);
            jd_strbuf_puts(sb, "\"]");
        } else {
            jd_strbuf_puts(sb, ",0]");
        }
    }
    jd_strbuf_putc(sb, ']');
    if (j->seen && j->seen->n) {
        /* the de-duplication ids, oldest first, 16 hex digits each */
        jd_strbuf_puts(sb, ",\"d\":\"");
        for (uint32_t i = 0; i < j->seen->n; i++)
            jd_strbuf_hex64(sb, jd_idset_at(j->seen, i));
        jd_strbuf_putc(sb, '"');
    }
    jd_strbuf_puts(sb, ",\"a\":{");
    int first = 1;
    for (uint32_t i = 0; i < c->nrules; i++) {
        int32_t cd = e->cd_slot[i];
        if (cd < 0 || j->last_alert[cd] == INT64_MIN)
            continue;
        if (!first)
            jd_strbuf_putc(sb, ',');
        first = 0;
        jd_strbuf_json_str(sb, c->rules[i].name);
        jd_strbuf_putc(sb, ':');
        jd_strbuf_i64(sb, j->last_alert[cd]);
    }
    jd_strbuf_puts(sb, "},\"r\":{");
    first = 1;
    for (uint32_t i = 0; i < c->nrules; i++) {
        if (!j->rstate[i])
            continue;
        if (!first)
            jd_strbuf_putc(sb, ',');
        first = 0;
        jd_strbuf_json_str(sb, e->rule_key[i]);
        jd_strbuf_putc(sb, ':');
        e->ops[i]->save(&c->rules[i], j->rstate[i], sb);
    }
    jd_strbuf_puts(sb, "}}");
}

static const char *intern_or_null(const jd_config_t *c, json_t *v)
{
    const char *s = json_string_value(v);
    return s ? jd_intern_str(c->intern, s) : NULL;
}

/* The de-duplication ids beyond the history ("d", oldest first). */
static void restore_seen(jd_engine_t *e, jd_journey_t *j, json_t *d)
{
    const char *hex = json_string_value(d);
    char buf[17];
    buf[16] = 0;
    for (size_t len = hex ? strlen(hex) : 0; len >= 16; len -= 16, hex += 16) {
        memcpy(buf, hex, 16);
        journey_remember_id(e, j, strtoull(buf, NULL, 16));
    }
}

static int engine_restore_journey(jd_engine_t *e, int32_t tag, const char *key,
                                  size_t keylen, json_t *o, jd_err_t *err)
{
    const jd_config_t *c = e->conf;
    char *id = strndup(key + 2, keylen - 2);
    if (!id)
        return jd_err_set(err, "out of memory");
    jd_journey_t *old = journey_get(e, key[0], id);
    if (old)
        journey_destroy(e, old, 0);
    jd_journey_t *j = journey_new(e, key[0], id);
    free(id);
    if (!j)
        return jd_err_set(err, "out of memory");
    j->source_tag = tag;
    j->last_ts = json_integer_value(json_object_get(o, "t"));
    restore_seen(e, j, json_object_get(o, "d"));
    json_t *hist = json_object_get(o, "h");
    size_t n = json_array_size(hist);
    size_t skip = n > c->history ? n - c->history : 0;
    if (journey_hist_reserve(e, j, (uint32_t)(n - skip)) != 0)
        n = skip;
    /* "s" present: strings by index into it, times as deltas (what
     * engine_state_save_journey writes); absent: every entry spelled out
     * with absolute times (records of earlier versions). */
    json_t *tab = json_object_get(o, "s");
    int64_t ts = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *h = json_array_get(hist, i);
        ts = tab ? (int64_t)((uint64_t)ts + (uint64_t)json_integer_value(json_array_get(h, 0)))
                 : json_integer_value(json_array_get(h, 0));
        if (i < skip) {
            /* a longer history than this config keeps: its ids move on */
            const char *hx = json_string_value(json_array_get(h, 4));
            journey_remember_id(e, j, hx ? strtoull(hx, NULL, 16) : 0);
            continue;
        }
        jd_hist_t *dst = &j->hist[j->hist_len++];
        uint32_t ids[3];
        for (int f = 0; f < 3; f++) {
            json_t *v = json_array_get(h, (size_t)f + 1);
            if (tab && json_is_integer(v))
                v = json_integer_value(v) < 0 ? NULL
                                              : json_array_get(tab, (size_t)json_integer_value(v));
            ids[f] = jd_intern_id(intern_or_null(c, v));
        }
        dst->ts = ts;
        dst->type = ids[0];
        dst->channel = ids[1];
        dst->page = ids[2];
        const char *hx = json_string_value(json_array_get(h, 4));
        dst->eid_hash = hx ? strtoull(hx, NULL, 16) : 0;
    }
    const char *name;
    json_t *v;
    json_object_foreach(json_object_get(o, "a"), name, v) {
        const jd_rule_t *r = jd_config_rule(c, name);
        if (r && json_is_integer(v) && e->cd_slot[r->index] >= 0)
            j->last_alert[e->cd_slot[r->index]] = json_integer_value(v);
    }
    json_object_foreach(json_object_get(o, "r"), name, v) {
        const jd_rule_t *r = changelog_state_rule(e, name);
        if (r && e->ops[r->index]->load(e, r, j, &j->rstate[r->index], v) != 0)
            j->rstate[r->index] = NULL; /* a rule's state that no longer fits is dropped */
    }
    journey_lru_resort(e, j);
    return 0;
}

int jd_engine_restore(jd_engine_t *e, int32_t source_tag, const char *key,
                      size_t keylen, const void *val, size_t vallen, jd_err_t *err)
{
    if (keylen < 3 || key[1] != ':' || (key[0] != 'c' && key[0] != 'a' && key[0] != 'l'))
        return jd_err_set(err, "changelog key \"%.*s\" is not a journeyd state key",
                          (int)(keylen > 64 ? 64 : keylen), key);
    if (!val) {
        if (key[0] == 'l') {
            char *anon = strndup(key + 2, keylen - 2);
            jd_link_t *l = anon ? jd_identity_get(&e->ids, anon) : NULL;
            free(anon);
            if (l)
                jd_identity_forget(&e->ids, l);
        } else {
            char *id = strndup(key + 2, keylen - 2);
            jd_journey_t *j = id ? journey_get(e, key[0], id) : NULL;
            free(id);
            if (j)
                journey_destroy(e, j, 0);
        }
        return 0;
    }
    /* Restored timers order among themselves by restore order. */
    e->step = (jd_step_t){.time = INT64_MIN, .sched_ts = INT64_MIN, .seq = e->restore_seq++};
    e->step_sub = 0;
    json_error_t jerr;
    json_t *o = json_loadb(val, vallen, 0, &jerr);
    if (!json_is_object(o)) {
        json_decref(o);
        return jd_err_set(err, "changelog record %.*s: %s", (int)(keylen > 64 ? 64 : keylen),
                          key, jerr.text);
    }
    int rc = 0;
    if (key[0] == 'l') {
        char *anon = strndup(key + 2, keylen - 2);
        const char *cust = json_string_value(json_object_get(o, "c"));
        if (anon && cust)
            jd_identity_restore(&e->ids, anon, cust, json_integer_value(json_object_get(o, "t")),
                                source_tag);
        free(anon);
    } else {
        rc = engine_restore_journey(e, source_tag, key, keylen, o, err);
    }
    json_decref(o);
    return rc;
}

static int event_not_from(const jd_event_t *ev, void *tag)
{
    return ev->source_tag != *(int32_t *)tag;
}

void jd_engine_drop_source(jd_engine_t *e, int32_t tag)
{
    for (jd_journey_t *j = TAILQ_FIRST(&e->lru), *next; j; j = next) {
        next = TAILQ_NEXT(j, lru);
        if (j->source_tag == tag)
            journey_destroy(e, j, 0);
    }
    for (jd_link_t *l = TAILQ_FIRST(&e->ids.lru), *next; l; l = next) {
        next = TAILQ_NEXT(l, lru);
        if (l->source_tag == tag)
            jd_identity_forget(&e->ids, l);
    }
    jd_evheap_filter(&e->evh, event_not_from, &tag);
}

/* A link's changelog record: key "l:<anon>", value {"c":customer,"t":last use}. */
static void changelog_link(jd_engine_t *e, const jd_link_t *l, jd_state_fn *fn, void *opaque)
{
    jd_strbuf_t *sb = &e->save;
    jd_strbuf_reset(sb);
    jd_strbuf_puts(sb, "l:");
    jd_strbuf_puts(sb, l->anon);
    size_t klen = sb->len;
    jd_strbuf_puts(sb, "{\"c\":");
    jd_strbuf_json_str(sb, l->customer);
    jd_strbuf_puts(sb, ",\"t\":");
    jd_strbuf_i64(sb, l->last_ts);
    jd_strbuf_putc(sb, '}');
    if (!sb->oom)
        fn(opaque, l->source_tag, sb->data, klen, sb->data + klen, sb->len - klen);
}

void jd_engine_drain_changes(jd_engine_t *e, jd_state_fn *fn, void *opaque)
{
    jd_engine_drain_some(e, fn, opaque, SIZE_MAX);
}

size_t jd_engine_changes_pending(const jd_engine_t *e)
{
    return e->ndirty;
}

size_t jd_engine_drain_some(jd_engine_t *e, jd_state_fn *fn, void *opaque, size_t max)
{
    size_t n = e->ntombs;
    for (size_t i = 0; i < e->ntombs; i++) {
        fn(opaque, e->tombs[i].tag, e->tombs[i].key, strlen(e->tombs[i].key), NULL, 0);
        free(e->tombs[i].key);
    }
    e->ntombs = 0;
    jd_strbuf_t *sb = &e->save;
    jd_journey_t *j;
    while ((j = TAILQ_FIRST(&e->dirty)) && max--) {
        n++;
        journey_unmark_dirty(e, j);
        jd_strbuf_reset(sb);
        engine_state_save_journey(e, j, sb);
        if (!sb->oom)
            fn(opaque, j->source_tag, j->key, j->node.keylen, sb->data, sb->len);
    }
    jd_link_t *l;
    while ((l = jd_identity_pop_dirty(&e->ids))) {
        n++;
        changelog_link(e, l, fn, opaque);
    }
    return n;
}

/* ---- hand-over between tasks (input.keyed_by=any) ---- */

int jd_engine_export_records(jd_engine_t *e, const char *anon, int64_t now,
                             jd_state_fn *fn, void *opaque)
{
    int n = 0;
    /* what evaluating an event at now would have done first */
    engine_fire_before(e, now);
    engine_expire(e, now);
    jd_journey_t *j = journey_get(e, 'a', anon);
    if (j) {
        jd_strbuf_t *sb = &e->save;
        jd_strbuf_reset(sb);
        engine_state_save_journey(e, j, sb);
        if (!sb->oom) {
            fn(opaque, j->source_tag, j->key, j->node.keylen, sb->data, sb->len);
            n++;
        }
        journey_destroy(e, j, 1);
    }
    jd_link_t *l = jd_identity_get(&e->ids, anon);
    if (l) {
        if (l->customer) {
            changelog_link(e, l, fn, opaque);
            n++;
        }
        char *key = malloc(strlen(anon) + 3);
        if (key) {
            key[0] = 'l';
            key[1] = ':';
            strcpy(key + 2, anon);
            engine_tomb(e, l->source_tag, key);
            free(key);
        }
        jd_identity_forget(&e->ids, l);
    }
    return n;
}

int jd_engine_import_record(jd_engine_t *e, int32_t source_tag, const char *key,
                            size_t keylen, const void *val, size_t vallen, jd_err_t *err)
{
    if (!val || keylen < 3)
        return jd_err_set(err, "hand-over record without a state");
    jd_step_t saved = e->step;
    uint32_t saved_sub = e->step_sub;
    int rc = jd_engine_restore(e, source_tag, key, keylen, val, vallen, err);
    e->step = saved;
    e->step_sub = saved_sub;
    if (rc)
        return rc;
    char *id = strndup(key + 2, keylen - 2);
    if (!id)
        return jd_err_set(err, "out of memory");
    if (key[0] == 'l') {
        jd_link_t *l = jd_identity_get(&e->ids, id);
        if (l)
            jd_identity_mark_dirty(&e->ids, l);
    } else {
        jd_journey_t *j = journey_get(e, key[0], id);
        if (j)
            journey_mark_dirty(e, j);
    }
    free(id);
    return 0;
}

int64_t jd_engine_watermark(const jd_engine_t *e)
{
    return e->st.watermark;
}
