/*
 * A pool of decoder threads for NDJSON input. The caller's thread reads
 * lines and hands them out in batches; workers decode batches in parallel
 * (each with its own jd_decoder_t); results come back to the caller's thread
 * strictly in input order, so everything downstream (the engine, alert
 * output) is deterministic whatever the number of workers.
 */
#ifndef JOURNEYD_DECODE_POOL_H
#define JOURNEYD_DECODE_POOL_H

#include "journeyd/common.h"
#include "journeyd/config.h"
#include "journeyd/decode.h"
#include "journeyd/reader.h"

typedef struct jd_decode_pool jd_decode_pool_t;

/* Called on the caller's thread, once per record, in input order. On
 * success reason is JD_DL_NONE and ev is a new event the callee owns;
 * otherwise ev is NULL and detail explains. payload/len are the record's
 * bytes; all strings are borrowed for the call. */
typedef void (jd_pool_record_fn)(void *opaque, jd_dl_reason_t reason, jd_event_t *ev,
                                 const char *detail, const char *file, int64_t line,
                                 const char *payload, size_t len);

/* nworkers >= 1 decoder threads over conf (borrowed, must outlive the
 * pool). NULL with err on failure. */
jd_decode_pool_t *jd_decode_pool_new(const jd_config_t *conf, unsigned nworkers,
                                     jd_err_t *err);
/* NULL-safe; joins the workers. */
void jd_decode_pool_destroy(jd_decode_pool_t *p);

/* Reads every NDJSON line of r and delivers it through fn. Memory is
 * bounded by the batch pool (a few MiB), not the input. Returns 0, or -1
 * with err on a read error (records before it were delivered). */
int jd_decode_pool_run(jd_decode_pool_t *p, jd_reader_t *r, const char *path,
                       jd_pool_record_fn *fn, void *opaque, jd_err_t *err);

#endif
