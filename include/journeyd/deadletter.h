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

#endif
