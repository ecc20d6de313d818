/*
 * Decoder: one raw record (JSON object text or CSV record) -> jd_event_t,
 * through the config's field mapping, time format and defaults; or a dead
 * letter reason. Never crashes on any input (fuzzed by tests/fuzz).
 */
#ifndef JOURNEYD_DECODE_H
#define JOURNEYD_DECODE_H

#include <stddef.h>
#include "journeyd/common.h"
#include "journeyd/config.h"
#include "journeyd/deadletter.h"
#include "journeyd/event.h"
#include "journeyd/reader.h"

typedef struct jd_decoder jd_decoder_t;

/* The decoder borrows conf (which must outlive it) and interns slot values
 * in conf->intern. Caller frees with jd_decoder_destroy.
 * A decoder serves one thread at a time; decoders in different threads may
 * share one config (each interns through its own jd_intern_cache_t). */
jd_decoder_t *jd_decoder_new(const jd_config_t *conf, jd_err_t *err);
/* NULL-safe. */
void jd_decoder_destroy(jd_decoder_t *d);

/* The wall clock in epoch ms, for the time.max_future check (contract
 * section 4): an event whose ts lies more than conf->max_future_ms ahead of
 * it is a future_ts dead letter (max_future_ms 0 = no check). */
typedef int64_t (jd_decode_clock_fn)(void *opaque);
/* Replaces the clock (default jd_now_ms) so tests are deterministic; fn
 * NULL restores the default. The clock is read only when an event's ts is
 * ahead of the last reading by more than max_future_ms, so a replay of the
 * past costs no clock reads. */
void jd_decoder_set_clock(jd_decoder_t *d, jd_decode_clock_fn *fn, void *opaque);

/* Decode a JSON object. On success returns JD_DL_NONE and *out is a new
 * event owned by the caller. Otherwise returns the dead-letter reason,
 * *out is NULL and detail (if non-NULL) holds a human explanation such as
 * "'}' expected near end of file at line 1 column 12" or
 * "ts \"yesterday\" does not match format auto".
 * Allocation failure is not the input's fault and so not a dead letter: it
 * returns JD_DL_NONE with *out NULL (detail "out of memory"); callers must
 * check *out. */
jd_dl_reason_t jd_decode_json(jd_decoder_t *d, const char *buf, size_t len,
                              jd_event_t **out, char *detail, size_t detailsz);

/* CSV: the header record names the columns; it must be given before any
 * data record. Fails (-1, err) if a mapped required column (ts, type without
 * default, or both identities) is absent from the header, or if a column
 * name holds a NUL byte. */
int jd_decoder_csv_header(jd_decoder_t *d, const jd_csv_record_t *hdr, jd_err_t *err);

/* Decode a CSV data record (column count must equal the header's, and no
 * field may hold a NUL byte, else JD_DL_BAD_CSV). Same contract as
 * jd_decode_json. */
jd_dl_reason_t jd_decode_csv(jd_decoder_t *d, const jd_csv_record_t *rec,
                             jd_event_t **out, char *detail, size_t detailsz);

#endif
