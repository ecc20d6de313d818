/*
 * Incremental record readers over a file, stdin ("-") or a gzip stream.
 * Memory is bounded by the largest record, never by the file size.
 * gzip is detected by its magic bytes, so "x.gz" and a gzip piped to stdin
 * both work.
 */
#ifndef JOURNEYD_READER_H
#define JOURNEYD_READER_H

#include <stddef.h>
#include <stdint.h>
#include "journeyd/common.h"

/* Records longer than this are reported as too large (JD_READ_TOO_LARGE)
 * and skipped, so one broken line cannot exhaust memory. */
#define JD_READER_MAX_RECORD (1u << 20)
/* The dead-letter detail for such a record. */
#define JD_READER_TOO_LARGE_DETAIL "record longer than 1048576 bytes"
/* For JD_READ_TOO_LARGE, raw/line hold at most this many leading bytes of
 * the record, enough to identify it in a dead letter. */
#define JD_READER_TOO_LARGE_PREFIX 4096u

typedef struct jd_reader jd_reader_t;

typedef enum {
    JD_READ_EOF = 0,        /* no more records */
    JD_READ_OK = 1,         /* a record is available */
    JD_READ_MALFORMED = 2,  /* CSV only: record has bad quoting; raw bytes given */
    JD_READ_TOO_LARGE = 3,  /* record above JD_READER_MAX_RECORD; raw is its first bytes */
    JD_READ_CORRUPT = 4,    /* gzip data corrupt or cut short: the input ends here
                               like EOF (every whole record before it was
                               returned; a partial last record is not), but err
                               says why, so callers report a failure. Later
                               calls return JD_READ_EOF. */
    JD_READ_ERROR = -1      /* I/O error or out of memory; err says which */
} jd_read_status_t;

/* Opens path, or stdin for "-". Caller closes with jd_reader_close.
 * NULL with err ("cannot open x.csv: No such file or directory"). */
jd_reader_t *jd_reader_open(const char *path, jd_err_t *err);
/* NULL-safe; does not close stdin. */
void jd_reader_close(jd_reader_t *r);
/* The path as given ("-" for stdin). Borrowed. */
const char *jd_reader_path(const jd_reader_t *r);
/* Bytes consumed from the underlying file so far (compressed bytes for
 * gzip), and the file size if known (0 otherwise), for progress lines. */
uint64_t jd_reader_offset(const jd_reader_t *r);
uint64_t jd_reader_size(const jd_reader_t *r);

/* NDJSON: the next non-blank line without its "\n" or "\r\n".
 * *line is borrowed until the next call; *lineno is 1-based. */
jd_read_status_t jd_reader_line(jd_reader_t *r, const char **line, size_t *len,
                                int64_t *lineno, jd_err_t *err);

/* One CSV record (RFC 4180: quoted fields may hold delimiters, "" and
 * newlines). Records end at LF, CRLF or a lone CR (old Mac/Excel exports),
 * and each of these counts as one line. Fields are unquoted and
 * NUL-terminated (a field may also hold NUL bytes of its own: len is the
 * truth; the decoder rejects them); all pointers are borrowed until the
 * next call. raw/rawlen are the record's original bytes (for dead letters);
 * line is the line of its first byte. Blank lines are skipped. */
typedef struct jd_csv_record {
    size_t nfields;
    const char **field;
    const size_t *len;
    const char *raw;
    size_t rawlen;
    int64_t line;
} jd_csv_record_t;

jd_read_status_t jd_reader_csv(jd_reader_t *r, char delimiter,
                               jd_csv_record_t *rec, jd_err_t *err);

/* Parse one CSV record from a memory buffer (same rules; a Kafka message
 * value in CSV format). One LF, CRLF or CR at the end is a line end; an
 * unquoted CR or LF before it (a second record) is malformed. The record
 * borrows from an internal buffer of p. Returns JD_READ_OK or
 * JD_READ_MALFORMED. */
typedef struct jd_csv_parser jd_csv_parser_t;
jd_csv_parser_t *jd_csv_parser_new(void);
void jd_csv_parser_destroy(jd_csv_parser_t *p);
jd_read_status_t jd_csv_parse(jd_csv_parser_t *p, const char *buf, size_t len,
                              char delimiter, jd_csv_record_t *rec);

#endif
