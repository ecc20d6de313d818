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
#include "journeyd/records.h"

typedef struct jd_decode_pool jd_decode_pool_t;

/* nworkers >= 1 decoder threads over conf (borrowed, must outlive the
 * pool). NULL with err on failure. */
jd_decode_pool_t *jd_decode_pool_new(const jd_config_t *conf, unsigned nworkers,
                                     jd_err_t *err);
/* NULL-safe; joins the workers. */
void jd_decode_pool_destroy(jd_decode_pool_t *p);

/* Reads every NDJSON line of r and delivers it through ops on the caller's
 * thread, in input order, exactly as jd_records_run does without a pool
 * (callers normally go through jd_records_run). Memory is bounded by the
 * batch pool (a few MiB), not the input. On JD_RECORDS_STOPPED the records
 * read ahead are freed undelivered. */
jd_records_rc_t jd_decode_pool_run(jd_decode_pool_t *p, jd_reader_t *r,
                                   const jd_records_ops_t *ops, void *opaque, jd_err_t *err);

#endif
