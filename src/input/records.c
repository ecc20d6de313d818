/*
 * The record loop shared by every file-input command (see records.h):
 * reader status -> dead letter or decoder call -> callbacks.
 */
#include <inttypes.h>
#include <stdio.h>
#include "journeyd/decode.h"
#include "journeyd/decode_pool.h"
#include "journeyd/records.h"

#define RECORDS_DETAIL 256

static const char records_bad_quoting[] =
    "malformed quoting: a quote left open, or text after a closing quote";

int jd_records_deliver(const jd_records_ops_t *ops, void *opaque, jd_dl_reason_t reason,
                       jd_event_t *ev, const char *detail, const jd_source_pos_t *pos,
                       const char *payload, size_t len)
{
    if (reason == JD_DL_NONE && ev)
        return ops->on_event(opaque, ev, pos, payload, len);
    if (reason == JD_DL_NONE) {
        /* The decoder ran out of memory: the record is kept as a dead
         * letter rather than lost. */
        reason = JD_DL_TOO_LARGE;
        detail = "out of memory decoding the record";
    }
    return ops->on_dead_letter(opaque, reason, detail, pos, payload, len);
}

jd_read_status_t jd_records_next_line(jd_reader_t *r, const char **line, size_t *len,
                                      int64_t *lineno, jd_dl_reason_t *reason,
                                      const char **detail, jd_err_t *err)
{
    jd_read_status_t st = jd_reader_line(r, line, len, lineno, err);
    *reason = JD_DL_NONE;
    *detail = "";
    if (st == JD_READ_TOO_LARGE) {
        *reason = JD_DL_TOO_LARGE;
        *detail = JD_READER_TOO_LARGE_DETAIL;
        st = JD_READ_OK;
    }
    return st;
}

/* Maps the end of an input to the loop's result. */
static jd_records_rc_t records_end(jd_read_status_t st)
{
    if (st == JD_READ_EOF)
        return JD_RECORDS_EOF;
    return st == JD_READ_CORRUPT ? JD_RECORDS_CORRUPT : JD_RECORDS_ERROR;
}

static jd_records_rc_t records_ndjson(jd_reader_t *r, jd_decoder_t *dec,
                                      const jd_records_ops_t *ops, void *opaque,
                                      jd_err_t *err)
{
    char detail[RECORDS_DETAIL];
    jd_source_pos_t pos = {.partition = -1, .offset = -1, .file = jd_reader_path(r)};
    for (;;) {
        const char *line, *why;
        size_t len;
        jd_dl_reason_t reason;
        jd_read_status_t st = jd_records_next_line(r, &line, &len, &pos.line, &reason,
                                                   &why, err);
        if (st != JD_READ_OK)
            return records_end(st);
        jd_event_t *ev = NULL;
        if (reason == JD_DL_NONE)
            reason = jd_decode_json(dec, line, len, &ev, detail, sizeof(detail));
        else
            snprintf(detail, sizeof(detail), "%s", why);
        if (jd_records_deliver(ops, opaque, reason, ev, detail, &pos, line, len))
            return JD_RECORDS_STOPPED;
    }
}

/* The first record of a CSV input. Returns 1 when data records follow,
 * else 0 with *rc what the loop returns. */
static int records_csv_header(jd_reader_t *r, const jd_config_t *conf, jd_decoder_t *dec,
                              const jd_records_ops_t *ops, void *opaque,
                              jd_records_rc_t *rc, jd_err_t *err)
{
    const char *path = jd_reader_path(r);
    jd_csv_record_t rec;
    jd_read_status_t st = jd_reader_csv(r, conf->csv_delimiter, &rec, err);
    *rc = JD_RECORDS_ERROR;
    if (st == JD_READ_EOF || st == JD_READ_ERROR || st == JD_READ_CORRUPT) {
        *rc = records_end(st);
        return 0;
    }
    if (st == JD_READ_TOO_LARGE || (st == JD_READ_OK && rec.rawlen > JD_RECORDS_MAX_CSV_HEADER)) {
        jd_err_set(err, "%s:%" PRId64 ": the CSV header row is longer than %u bytes; "
                        "are its line ends LF, CRLF or CR and its quotes balanced?",
                   path, rec.line, JD_RECORDS_MAX_CSV_HEADER);
        return 0;
    }
    if (st != JD_READ_OK) {
        jd_err_set(err, "%s:%" PRId64 ": the CSV header row is malformed", path, rec.line);
        return 0;
    }
    jd_err_t herr;
    if (jd_decoder_csv_header(dec, &rec, &herr) != 0) {
        jd_err_set(err, "%s:%" PRId64 ": %s", path, rec.line, herr.msg);
        return 0;
    }
    if (ops->on_csv_header && ops->on_csv_header(opaque, &rec)) {
        *rc = JD_RECORDS_STOPPED;
        return 0;
    }
    return 1;
}

static jd_records_rc_t records_csv(jd_reader_t *r, const jd_config_t *conf,
                                   jd_decoder_t *dec, const jd_records_ops_t *ops,
                                   void *opaque, jd_err_t *err)
{
    jd_records_rc_t rc;
    if (!records_csv_header(r, conf, dec, ops, opaque, &rc, err))
        return rc;
    char detail[RECORDS_DETAIL];
    jd_source_pos_t pos = {.partition = -1, .offset = -1, .file = jd_reader_path(r)};
    for (;;) {
        jd_csv_record_t rec;
        jd_read_status_t st = jd_reader_csv(r, conf->csv_delimiter, &rec, err);
        if (st == JD_READ_EOF || st == JD_READ_ERROR || st == JD_READ_CORRUPT)
            return records_end(st);
        jd_event_t *ev = NULL;
        jd_dl_reason_t reason;
        if (st == JD_READ_MALFORMED) {
            reason = JD_DL_BAD_CSV;
            snprintf(detail, sizeof(detail), "%s", records_bad_quoting);
        } else if (st == JD_READ_TOO_LARGE) {
            reason = JD_DL_TOO_LARGE;
            snprintf(detail, sizeof(detail), "%s", JD_READER_TOO_LARGE_DETAIL);
        } else {
            reason = jd_decode_csv(dec, &rec, &ev, detail, sizeof(detail));
        }
        pos.line = rec.line;
        if (jd_records_deliver(ops, opaque, reason, ev, detail, &pos, rec.raw, rec.rawlen))
            return JD_RECORDS_STOPPED;
    }
}

jd_records_rc_t jd_records_run(jd_reader_t *r, const jd_config_t *conf, jd_decoder_t *dec,
                               jd_decode_pool_t *pool, const jd_records_ops_t *ops,
                               void *opaque, jd_err_t *err)
{
    if (!r || !conf || !ops || (!dec && !pool) || (conf->input_csv && !dec)) {
        jd_err_set(err, "records: no reader, config, decoder or callbacks");
        return JD_RECORDS_ERROR;
    }
    if (conf->input_csv)
        return records_csv(r, conf, dec, ops, opaque, err);
    if (pool)
        return jd_decode_pool_run(pool, r, ops, opaque, err);
    return records_ndjson(r, dec, ops, opaque, err);
}
