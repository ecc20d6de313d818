/*
 * The record loop of file input: read each record of a reader (NDJSON
 * lines or CSV records), decode it, and hand the caller either the event or
 * a dead letter with its reason, detail, source position and original
 * bytes. `replay`, `produce` and the decoder pool all go through it, so
 * every command turns the same bytes into the same events and dead letters.
 *
 * What it decides (and the commands do not):
 *  - a record above JD_READER_MAX_RECORD is a too_large dead letter, CSV
 *    with bad quoting a bad_csv one;
 *  - a CSV input's first record is its header: a malformed or oversized
 *    header (JD_RECORDS_MAX_CSV_HEADER, so a file whose line ends are not
 *    recognised fails instead of reading as one long header) or one that
 *    lacks a required column is an error, not a dead letter;
 *  - a decoder that runs out of memory turns the record into a too_large
 *    dead letter ("out of memory decoding the record") rather than losing
 *    it.
 */
#ifndef JOURNEYD_RECORDS_H
#define JOURNEYD_RECORDS_H

#include <stddef.h>
#include "journeyd/common.h"
#include "journeyd/config.h"
#include "journeyd/deadletter.h"
#include "journeyd/event.h"
#include "journeyd/reader.h"

typedef struct jd_decoder jd_decoder_t;
typedef struct jd_decode_pool jd_decode_pool_t;

/* A CSV header longer than this is an error. Real headers are a few
 * hundred bytes; 64 KiB is room for a thousand long column names. */
#define JD_RECORDS_MAX_CSV_HEADER (64u * 1024u)

/* Called on the caller's thread, in input order. pos, payload and all
 * strings are borrowed for the call. A non-zero return stops the loop
 * (jd_records_run returns JD_RECORDS_STOPPED). */
typedef struct jd_records_ops {
    /* A decoded event; the callee owns ev (and must free it). payload/len
     * are the record's original bytes (a CSV record without its line end). */
    int (*on_event)(void *opaque, jd_event_t *ev, const jd_source_pos_t *pos,
                    const char *payload, size_t len);
    /* A record that is no event. */
    int (*on_dead_letter)(void *opaque, jd_dl_reason_t reason, const char *detail,
                          const jd_source_pos_t *pos, const char *payload, size_t len);
    /* CSV only, may be NULL: the header record, after the decoder took it. */
    int (*on_csv_header)(void *opaque, const jd_csv_record_t *hdr);
} jd_records_ops_t;

typedef enum {
    JD_RECORDS_EOF = 0,       /* every record was delivered */
    JD_RECORDS_STOPPED = 1,   /* a callback returned non-zero */
    JD_RECORDS_CORRUPT = 2,   /* the input ended early (corrupt or cut gzip):
                                 every whole record before was delivered; err
                                 says where. Other inputs may still be read. */
    JD_RECORDS_ERROR = -1     /* read error or bad CSV header; err says which */
} jd_records_rc_t;

/* Reads every record of r (borrowed) as conf says (input.format, the CSV
 * delimiter) and delivers it through ops. Records are decoded by dec
 * (borrowed; for CSV it takes the file's header), or, for NDJSON when pool
 * is non-NULL, by the pool's threads, delivered in the same order. */
jd_records_rc_t jd_records_run(jd_reader_t *r, const jd_config_t *conf, jd_decoder_t *dec,
                               jd_decode_pool_t *pool, const jd_records_ops_t *ops,
                               void *opaque, jd_err_t *err);

/* The pool's half of the loop (src/input/decode_pool.c uses these; they
 * keep its records identical to the serial ones). */

/* The next NDJSON line of r. JD_READ_OK with *reason JD_DL_NONE: decode
 * *line; JD_READ_OK with another reason: the line is that dead letter
 * (*detail says why); other statuses end the input as jd_reader_line's. */
jd_read_status_t jd_records_next_line(jd_reader_t *r, const char **line, size_t *len,
                                      int64_t *lineno, jd_dl_reason_t *reason,
                                      const char **detail, jd_err_t *err);

/* Delivers one decoded record: ev (taken) when reason is JD_DL_NONE,
 * otherwise a dead letter. Returns the callback's return. */
int jd_records_deliver(const jd_records_ops_t *ops, void *opaque, jd_dl_reason_t reason,
                       jd_event_t *ev, const char *detail, const jd_source_pos_t *pos,
                       const char *payload, size_t len);

#endif
