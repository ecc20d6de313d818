/*
 * A task's own state: positions, pending offsets, the snapshot meta record
 * and the changelog records of a checkpoint (see task.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "journeyd/kafka.h"
#include "repart.h"
#include "task.h"

jd_task_t *jd_task_new(const jd_config_t *conf, int32_t partition)
{
    jd_task_t *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->partition = partition;
    t->ntps = conf->ntopics + (conf->keyed_by == JD_KEYED_BY_ANY);
    t->tps = calloc(t->ntps, sizeof(*t->tps));
    if (!t->tps)
        goto fail;
    for (size_t i = 0; i < conf->ntopics; i++)
        if (!(t->tps[i].topic = strdup(conf->topics[i])))
            goto fail;
    if (conf->keyed_by == JD_KEYED_BY_ANY) {
        char name[300];
        if (jd_kafka_repartition_topic(conf, name, sizeof(name)) ||
            !(t->tps[conf->ntopics].topic = strdup(name)))
            goto fail;
        t->ninput = conf->ntopics;
        if (!(t->x = jd_xtask_new(partition)))
            goto fail;
    } else {
        t->ninput = t->ntps;
    }
    jd_task_reset(t);
    return t;
fail:
    jd_task_destroy(t);
    return NULL;
}

void jd_task_reset(jd_task_t *t)
{
    jd_engine_destroy(t->engine);
    t->engine = NULL;
    t->state = JD_TASK_IDLE;
    t->has_events = 0;
    t->max_ts = INT64_MIN;
    t->wm = INT64_MIN;
    t->restore_wm = INT64_MIN;
    t->quiet_ms = t->checked_mono = 0;
    t->rewind = 0;
    for (size_t i = 0; i < t->ntps; i++) {
        jd_task_tp_t *tp = &t->tps[i];
        tp->assigned = 0;
        tp->eof = 0;
        tp->next_offset = -1;
        tp->committed = -1;
        tp->restore_next = -1;
        tp->npend = 0;
    }
    jd_task_recs_clear(t);
}

void jd_task_destroy(jd_task_t *t)
{
    if (!t)
        return;
    jd_engine_destroy(t->engine);
    jd_xtask_destroy(t->x);
    if (t->txp)
        rd_kafka_destroy(t->txp);
    for (size_t i = 0; t->tps && i < t->ntps; i++) {
        free(t->tps[i].topic);
        free(t->tps[i].pend);
    }
    free(t->tps);
    jd_task_recs_clear(t);
    free(t->arena);
    free(t->recs);
    free(t);
}

int jd_task_tp_index(const jd_task_t *t, const char *topic)
{
    for (size_t i = 0; i < t->ntps; i++)
        if (!strcmp(t->tps[i].topic, topic))
            return (int)i;
    return -1;
}

int jd_task_pend_push(jd_task_tp_t *tp, int64_t offset, int64_t ts)
{
    if (tp->npend == tp->cappend) {
        size_t cap = tp->cappend ? tp->cappend * 2 : 256;
        jd_task_pend_t *np = realloc(tp->pend, cap * sizeof(*np));
        if (!np)
            return -1;
        tp->pend = np;
        tp->cappend = cap;
    }
    tp->pend[tp->npend].offset = offset;
    tp->pend[tp->npend].ts = ts;
    tp->npend++;
    return 0;
}

int64_t jd_task_committable(jd_task_tp_t *tp, int64_t wm, int finished)
{
    size_t i, j = 0;
    for (i = 0; i < tp->npend; i++)
        if (!finished && tp->pend[i].ts > wm)
            tp->pend[j++] = tp->pend[i];
    tp->npend = j;
    return j ? tp->pend[0].offset : tp->next_offset;
}

char *jd_task_meta_render(const jd_task_t *t, const jd_config_t *conf,
                          const int64_t *committed, size_t *len)
{
    json_t *o = json_object(), *tps = json_array();
    char *s = NULL;
    if (!o || !tps)
        goto out;
    json_object_set_new(o, "v", json_integer(1));
    json_object_set_new(o, "wm", json_integer(t->wm));
    json_object_set_new(o, "max", json_integer(t->max_ts));
    json_object_set_new(o, "has", json_integer(t->has_events));
    for (size_t i = 0; i < t->ntps; i++) {
        json_t *e = json_object();
        if (!e)
            goto out;
        const jd_task_tp_t *tp = &t->tps[i];
        int64_t c = committed[i], n = tp->next_offset;
        if (n < 0 && tp->restore_next >= 0) {
            /* not read since the restore: the restored snapshot's positions
             * still hold. Writing "none" would make the next restore take
             * what [C, N) already did (a link's hold, a notice) for new */
            c = tp->committed;
            n = tp->restore_next;
        }
        json_object_set_new(e, "t", json_string(tp->topic));
        json_object_set_new(e, "c", json_integer(c));
        json_object_set_new(e, "n", json_integer(n));
        json_array_append_new(tps, e);
    }
    json_object_set(o, "tps", tps);
    if (t->x)
        json_object_set_new(o, "xn", json_integer(t->x->nchunks));
    s = json_dumps(o, JSON_COMPACT);
    if (s)
        *len = strlen(s);
out:
    json_decref(tps);
    json_decref(o);
    return s;
}

int jd_task_meta_parse(jd_task_t *t, const jd_config_t *conf, const void *val,
                       size_t len, jd_err_t *err)
{
    json_error_t je;
    json_t *o = json_loadb(val, len, 0, &je), *tps, *e;
    size_t i;
    if (!json_is_object(o) || json_integer_value(json_object_get(o, "v")) != 1) {
        json_decref(o);
        return jd_err_set(err, "task meta record: not a version 1 object");
    }
    t->wm = t->restore_wm = json_integer_value(json_object_get(o, "wm"));
    t->max_ts = json_integer_value(json_object_get(o, "max"));
    t->has_events = (int)json_integer_value(json_object_get(o, "has"));
    if (t->x)
        t->x->restore_nchunks = json_integer_value(json_object_get(o, "xn"));
    tps = json_object_get(o, "tps");
    json_array_foreach(tps, i, e) {
        int k = jd_task_tp_index(t, json_string_value(json_object_get(e, "t")) ?
                                           json_string_value(json_object_get(e, "t")) : "");
        if (k >= 0) {
            t->tps[k].restore_next = json_integer_value(json_object_get(e, "n"));
            /* where reading resumes: a partition with nothing after it is
             * caught up before any message is read (idle advance) */
            t->tps[k].committed = json_integer_value(json_object_get(e, "c"));
        }
    }
    json_decref(o);
    return 0;
}

static int task_arena_put(jd_task_t *t, const void *data, size_t len, size_t *off)
{
    if (t->alen + len > t->acap) {
        size_t cap = t->acap ? t->acap : 1 << 16;
        char *na;
        while (cap < t->alen + len)
            cap *= 2;
        if (!(na = realloc(t->arena, cap)))
            return -1;
        t->arena = na;
        t->acap = cap;
    }
    if (len)
        memcpy(t->arena + t->alen, data, len);
    *off = t->alen;
    t->alen += len;
    return 0;
}

int jd_task_rec_add(jd_task_t *t, const char *key, size_t klen, const void *val, size_t vlen)
{
    jd_task_rec_t *rec;
    if (t->nrecs == t->caprecs) {
        size_t cap = t->caprecs ? t->caprecs * 2 : 1024;
        jd_task_rec_t *nr = realloc(t->recs, cap * sizeof(*nr));
        if (!nr)
            return -1;
        t->recs = nr;
        t->caprecs = cap;
    }
    rec = &t->recs[t->nrecs];
    rec->tomb = val == NULL;
    rec->klen = klen;
    rec->vlen = val ? vlen : 0;
    if (task_arena_put(t, key, klen, &rec->koff) || task_arena_put(t, val, rec->vlen, &rec->voff))
        return -1;
    t->nrecs++;
    return 0;
}

void jd_task_recs_clear(jd_task_t *t)
{
    t->nrecs = 0;
    t->alen = 0;
    free(t->meta);
    t->meta = NULL;
    t->metalen = 0;
    if (t->offs)
        rd_kafka_topic_partition_list_destroy(t->offs);
    t->offs = NULL;
}
