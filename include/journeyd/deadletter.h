/*
 * Dead letters: bad input is data. Each has a stable reason code (the
 * "error" field), a human detail, the source position and the original bytes.
 */
#ifndef JOURNEYD_DEADLETTER_H
#define JOURNEYD_DEADLETTER_H

#include <stddef.h>
#include "journeyd/common.h"

typedef enum {
    JD_DL_NONE = 0,
    JD_DL_INVALID_JSON,      /* "invalid_json" */
    JD_DL_NOT_OBJECT,        /* "not_an_object" */
    JD_DL_MISSING_TS,        /* "missing_ts" */
    JD_DL_BAD_TS,            /* "bad_ts" */
    JD_DL_MISSING_TYPE,      /* "missing_type" */
    JD_DL_MISSING_IDENTITY,  /* "missing_identity" */
    JD_DL_BAD_CSV,           /* "bad_csv": unterminated quote, wrong column count */
    JD_DL_TOO_LARGE,         /* "too_large": record above the reader's bound */
    JD_DL_LATE,              /* "late": older than the watermark */
    JD_DL_FUTURE_TS,         /* "future_ts": ts more than time.max_future ahead of
                                the wall clock (last so older numbers stay) */
    JD_DL__COUNT
} jd_dl_reason_t;

/* Stable snake_case name of a reason ("late", ...); "none" for JD_DL_NONE. */
const char *jd_dl_reason_name(jd_dl_reason_t r);

/* Render one dead letter as a single-line JSON object (no trailing newline):
 * {"error":"<name>","detail":"<detail>","source":{"file":..,"line":..} or
 *  {"topic":..,"partition":..,"offset":..},"payload":"<payload as string>"}
 * Payload bytes that are not valid UTF-8 are replaced by U+FFFD so the line
 * stays valid JSON. Returns a malloc'd NUL-terminated string the caller
 * frees, length in *outlen (may be NULL); NULL on allocation failure. */
char *jd_deadletter_format(jd_dl_reason_t reason, const char *detail,
                           const jd_source_pos_t *pos,
                           const char *payload, size_t payload_len,
                           size_t *outlen);

/* As jd_deadletter_format, but the record is at most max_len bytes (0 = no
 * bound), for a sink with a size limit such as a Kafka topic's
 * max.message.bytes. When the whole record would be longer, the payload is
 * cut at a character boundary (never inside a UTF-8 sequence or an escape)
 * and "truncated":true is added after it; if even an empty payload does not
 * fit, the detail is cut the same way. A record that cannot be made to fit
 * (a source name longer than max_len) is returned whole: it never fails for
 * its size. *truncated (may be NULL) says whether anything was cut. */
char *jd_deadletter_format_max(jd_dl_reason_t reason, const char *detail,
                               const jd_source_pos_t *pos,
                               const char *payload, size_t payload_len,
                               size_t max_len, size_t *outlen, int *truncated);

#endif
