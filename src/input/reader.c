/*
 * Incremental record readers: NDJSON lines and RFC 4180 CSV records over a
 * plain file, stdin or a gzip stream (detected by its magic bytes).
 *
 * Decoded bytes live in one buffer; [pos, end) is what has not been handed
 * out yet. The buffer only grows to hold the largest record (bounded by
 * JD_READER_MAX_RECORD plus one read chunk), so memory never depends on the
 * file size. Records longer than the bound are reported once and skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "journeyd/reader.h"

#define READER_CHUNK (64 * 1024)
#define READER_BUF_MAX ((size_t)JD_READER_MAX_RECORD + 2 * READER_CHUNK)
/* reader_fill's "the gzip data ends early" result. */
#define READER_CORRUPT (-2)

/* Unquoted fields of the current CSV record; reused between records. */
typedef struct csv_fields {
    char *buf;              /* unquoted, NUL-terminated field bytes */
    size_t cap;
    const char **field;
    size_t *len;
    size_t fcap;
} csv_fields_t;

/* CSV scanner states, shared by the record-boundary scan so that a quote
 * in the middle of an unquoted field (12" screen) does not open a quote. */
enum { CSV_START = 0, CSV_UNQUOTED, CSV_QUOTED, CSV_QUOTE_IN_QUOTED };

struct jd_reader {
    char *path;
    int fd;
    int is_stdin;
    int gz;                 /* stream is gzip */
    int src_eof;            /* read() returned 0 */
    int data_eof;           /* no more decoded bytes will come */
    int gz_member_end;      /* a gzip member ended; another may follow */
    const char *gz_bad;     /* why the gzip data ended early (static text) */
    z_stream zs;
    int zs_ready;
    unsigned char *in;      /* compressed input (gzip only) */

    char *buf;
    size_t cap, pos, end;
    uint64_t offset, size;
    int64_t lineno;         /* line of the byte at pos, 1-based */

    /* Scan state for the record starting at pos, kept across refills so a
     * long record is scanned once, not once per read. */
    size_t scan;            /* bytes after pos already scanned */
    int cstate;
    int64_t cnl;            /* quoted newlines seen inside the record */
    int skipping;           /* discarding the rest of a too-large record */
    int csv_cr;             /* the last CSV record ended at a CR: a LF right
                               after it belongs to that line end */

    csv_fields_t csv;
};

/* ------------------------------------------------------------------ */
/* CSV field splitting (shared by the file reader and jd_csv_parse)    */
/* ------------------------------------------------------------------ */

static int csv_reserve(csv_fields_t *f, size_t rawlen)
{
    /* Unquoting never grows a field; each field adds one NUL and there are
     * at most rawlen + 1 fields. */
    size_t need = 2 * rawlen + 2;
    if (need > f->cap) {
        char *nb = realloc(f->buf, need);
        if (!nb)
            return -1;
        f->buf = nb;
        f->cap = need;
    }
    return 0;
}

static int csv_push(csv_fields_t *f, size_t n, const char *p, size_t len)
{
    if (n == f->fcap) {
        size_t ncap = f->fcap ? f->fcap * 2 : 16;
        const char **nf = realloc(f->field, ncap * sizeof(*nf));
        if (!nf)
            return -1;
        f->field = nf;
        size_t *nl = realloc(f->len, ncap * sizeof(*nl));
        if (!nl)
            return -1;
        f->len = nl;
        f->fcap = ncap;
    }
    f->field[n] = p;
    f->len[n] = len;
    return 0;
}

static void csv_free(csv_fields_t *f)
{
    free(f->buf);
    free(f->field);
    free(f->len);
}

/* Splits raw[0..rawlen) into f. A quoted field must be followed by the
 * delimiter or the end; an unterminated quote is malformed; with
 * newline_bad, an unquoted CR or LF (a second record) is malformed too.
 * Returns JD_READ_OK, JD_READ_MALFORMED, or JD_READ_ERROR (no memory). */
static jd_read_status_t csv_split(csv_fields_t *f, const char *raw, size_t rawlen,
                                  char delim, int newline_bad, jd_csv_record_t *rec)
{
    rec->raw = raw;
    rec->rawlen = rawlen;
    rec->nfields = 0;
    rec->field = NULL;
    rec->len = NULL;
    if (rawlen == 0)
        return JD_READ_OK;
    if (csv_reserve(f, rawlen))
        return JD_READ_ERROR;
    size_t i = 0, out = 0, n = 0;
    char *o = f->buf;
    for (;;) {
        size_t fstart = out;
        if (i < rawlen && raw[i] == '"') {
            i++;
            for (;;) {
                if (i >= rawlen)
                    return JD_READ_MALFORMED;
                char c = raw[i++];
                if (c == '"') {
                    if (i < rawlen && raw[i] == '"') {
                        o[out++] = '"';
                        i++;
                    } else {
                        break;
                    }
                } else {
                    o[out++] = c;
                }
            }
            if (i < rawlen && raw[i] != delim)
                return JD_READ_MALFORMED;
        } else {
            const char *stop = memchr(raw + i, delim, rawlen - i);
            size_t flen = stop ? (size_t)(stop - (raw + i)) : rawlen - i;
            if (newline_bad && (memchr(raw + i, '\n', flen) || memchr(raw + i, '\r', flen)))
                return JD_READ_MALFORMED;
            memcpy(o + out, raw + i, flen);
            out += flen;
            i += flen;
        }
        if (csv_push(f, n, o + fstart, out - fstart))
            return JD_READ_ERROR;
        n++;
        o[out++] = '\0';
        if (i >= rawlen)
            break;
        i++; /* the delimiter; a trailing one yields a last empty field */
    }
    rec->nfields = n;
    rec->field = f->field;
    rec->len = f->len;
    return JD_READ_OK;
}

static int csv_delim_ok(char delim)
{
    return delim != '"' && delim != '\n' && delim != '\r' && delim != '\0';
}

struct jd_csv_parser {
    csv_fields_t f;
};

jd_csv_parser_t *jd_csv_parser_new(void)
{
    return calloc(1, sizeof(jd_csv_parser_t));
}

void jd_csv_parser_destroy(jd_csv_parser_t *p)
{
    if (!p)
        return;
    csv_free(&p->f);
    free(p);
}

jd_read_status_t jd_csv_parse(jd_csv_parser_t *p, const char *buf, size_t len,
                              char delimiter, jd_csv_record_t *rec)
{
    memset(rec, 0, sizeof(*rec));
    rec->raw = buf;
    rec->rawlen = len;
    if (!p || (!buf && len) || !csv_delim_ok(delimiter))
        return JD_READ_MALFORMED;
    /* A producer may terminate the value like a file line: LF, CRLF or CR. */
    size_t n = len;
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    jd_read_status_t st = csv_split(&p->f, buf, n, delimiter, 1, rec);
    rec->raw = buf;
    rec->rawlen = len;
    if (st != JD_READ_OK)
        rec->nfields = 0;
    /* Out of memory cannot be told apart by the caller here; a record we
     * cannot split is treated as one we cannot read. */
    return st == JD_READ_OK ? JD_READ_OK : JD_READ_MALFORMED;
}

/* ------------------------------------------------------------------ */
/* Reader                                                             */
/* ------------------------------------------------------------------ */

static ssize_t reader_read_fd(jd_reader_t *r, void *dst, size_t n, jd_err_t *err)
{
    for (;;) {
        ssize_t got = read(r->fd, dst, n);
        if (got >= 0) {
            r->offset += (uint64_t)got;
            if (got == 0)
                r->src_eof = 1;
            return got;
        }
        if (errno != EINTR) {
            jd_err_set(err, "%s: read error: %s", r->path, strerror(errno));
            return -1;
        }
    }
}

jd_reader_t *jd_reader_open(const char *path, jd_err_t *err)
{
    if (!path) {
        jd_err_set(err, "no input path");
        return NULL;
    }
    jd_reader_t *r = calloc(1, sizeof(*r));
    if (!r) {
        jd_err_set(err, "out of memory opening %s", path);
        return NULL;
    }
    r->fd = -1;
    r->lineno = 1;
    r->path = strdup(path);
    r->cap = 2 * READER_CHUNK;
    r->buf = malloc(r->cap);
    if (!r->path || !r->buf) {
        jd_err_set(err, "out of memory opening %s", path);
        goto fail;
    }
    if (strcmp(path, "-") == 0) {
        r->fd = STDIN_FILENO;
        r->is_stdin = 1;
    } else {
        r->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (r->fd < 0) {
            jd_err_set(err, "cannot open %s: %s", path, strerror(errno));
            goto fail;
        }
    }
    struct stat st;
    if (fstat(r->fd, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            jd_err_set(err, "cannot open %s: %s", path, strerror(EISDIR));
            goto fail;
        }
        if (S_ISREG(st.st_mode))
            r->size = (uint64_t)st.st_size;
    }

    /* Sniff the first two bytes; a pipe may deliver them one at a time. */
    size_t have = 0;
    while (have < 2 && !r->src_eof) {
        ssize_t got = reader_read_fd(r, r->buf + have, r->cap - have, err);
        if (got < 0)
            goto fail;
        have += (size_t)got;
    }
    if (have >= 2 && (unsigned char)r->buf[0] == 0x1f &&
        (unsigned char)r->buf[1] == 0x8b) {
        r->gz = 1;
        r->in = malloc(READER_CHUNK > have ? READER_CHUNK : have);
        if (!r->in) {
            jd_err_set(err, "out of memory opening %s", path);
            goto fail;
        }
        memcpy(r->in, r->buf, have);
        /* 15 + 32: any window size, and let zlib parse the gzip header. */
        if (inflateInit2(&r->zs, 15 + 32) != Z_OK) {
            jd_err_set(err, "%s: cannot initialise zlib", path);
            goto fail;
        }
        r->zs_ready = 1;
        r->zs.next_in = r->in;
        r->zs.avail_in = (uInt)have;
    } else {
        r->end = have;
        if (r->src_eof)
            r->data_eof = 1;
    }
    return r;
fail:
    jd_reader_close(r);
    return NULL;
}

void jd_reader_close(jd_reader_t *r)
{
    if (!r)
        return;
    if (r->fd >= 0 && !r->is_stdin)
        close(r->fd);
    if (r->zs_ready)
        inflateEnd(&r->zs);
    free(r->in);
    free(r->buf);
    free(r->path);
    csv_free(&r->csv);
    free(r);
}

const char *jd_reader_path(const jd_reader_t *r)
{
    return r ? r->path : NULL;
}

uint64_t jd_reader_offset(const jd_reader_t *r)
{
    return r ? r->offset : 0;
}

uint64_t jd_reader_size(const jd_reader_t *r)
{
    return r ? r->size : 0;
}

/* Inflates into buf[end..cap). 1 = bytes added, 0 = end of data, -1 = error,
 * READER_CORRUPT = the gzip data is corrupt or cut short (r->gz_bad says
 * how); what was inflated before stays readable. */
static int reader_inflate(jd_reader_t *r, jd_err_t *err)
{
    for (;;) {
        if (r->zs.avail_in == 0 && !r->src_eof) {
            ssize_t got = reader_read_fd(r, r->in, READER_CHUNK, err);
            if (got < 0)
                return -1;
            r->zs.next_in = r->in;
            r->zs.avail_in = (uInt)got;
            continue;
        }
        if (r->gz_member_end) {
            if (r->zs.avail_in == 0) {
                r->data_eof = 1; /* clean end after a whole member */
                return 0;
            }
            /* Concatenated members (cat a.gz b.gz) are one stream. */
            r->gz_member_end = 0;
            inflateReset(&r->zs);
        }
        size_t space = r->cap - r->end;
        r->zs.next_out = (Bytef *)r->buf + r->end;
        r->zs.avail_out = (uInt)(space > UINT32_MAX ? UINT32_MAX : space);
        uInt before = r->zs.avail_out;
        int zrc = inflate(&r->zs, Z_NO_FLUSH);
        size_t produced = before - r->zs.avail_out;
        r->end += produced;
        if (zrc == Z_STREAM_END) {
            r->gz_member_end = 1;
            if (produced)
                return 1;
            continue;
        }
        if (zrc == Z_OK || zrc == Z_BUF_ERROR) {
            if (produced)
                return 1;
            if (r->zs.avail_in == 0 && r->src_eof) {
                r->gz_bad = "truncated gzip stream";
                return READER_CORRUPT;
            }
            continue;
        }
        if (zrc == Z_MEM_ERROR) {
            jd_err_set(err, "%s: out of memory inflating", r->path);
            return -1;
        }
        /* zlib's messages are static strings. */
        r->gz_bad = r->zs.msg ? r->zs.msg : "corrupt gzip stream";
        return READER_CORRUPT;
    }
}

/* Appends more decoded bytes after end, compacting or growing the buffer
 * first. 1 = bytes added, 0 = end of data, -1 = error (err set),
 * READER_CORRUPT (see reader_inflate). */
static int reader_fill(jd_reader_t *r, jd_err_t *err)
{
    if (r->data_eof)
        return 0;
    if (r->cap - r->end < READER_CHUNK && r->pos > 0) {
        memmove(r->buf, r->buf + r->pos, r->end - r->pos);
        r->end -= r->pos;
        r->pos = 0;
    }
    if (r->cap - r->end < READER_CHUNK && r->cap < READER_BUF_MAX) {
        size_t ncap = r->cap * 2 > READER_BUF_MAX ? READER_BUF_MAX : r->cap * 2;
        char *nb = realloc(r->buf, ncap);
        if (!nb) {
            jd_err_set(err, "%s: out of memory", r->path);
            return -1;
        }
        r->buf = nb;
        r->cap = ncap;
    }
    if (r->cap == r->end) {
        /* Callers stop at JD_READER_MAX_RECORD, well below the cap. */
        jd_err_set(err, "%s: internal error: read buffer full", r->path);
        return -1;
    }
    if (r->gz)
        return reader_inflate(r, err);
    size_t space = r->cap - r->end;
    ssize_t got = reader_read_fd(r, r->buf + r->end, space, err);
    if (got < 0)
        return -1;
    if (got == 0) {
        r->data_eof = 1;
        return 0;
    }
    r->end += (size_t)got;
    return 1;
}

/* Ends the input at a gzip fault: the partial record at pos is dropped
 * (it was cut, so its bytes are not the record), err says where. */
static jd_read_status_t reader_corrupt(jd_reader_t *r, jd_err_t *err)
{
    jd_err_set(err, "%s: %s: input ends at line %lld (the records before it were read)",
               r->path, r->gz_bad, (long long)r->lineno);
    r->data_eof = 1;
    r->pos = r->end;
    r->scan = 0;
    r->skipping = 0;
    r->csv_cr = 0;
    r->cstate = CSV_START;
    r->cnl = 0;
    return JD_READ_CORRUPT;
}

static int reader_blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return 0;
    return 1;
}

jd_read_status_t jd_reader_line(jd_reader_t *r, const char **line, size_t *len,
                                int64_t *lineno, jd_err_t *err)
{
    if (!r)
        return JD_READ_ERROR;
    for (;;) {
        char *p = r->buf + r->pos;
        size_t avail = r->end - r->pos;
        char *nl = memchr(p + r->scan, '\n', avail - r->scan);
        size_t l;
        int64_t ln = r->lineno;
        if (nl) {
            l = (size_t)(nl - p);
            r->pos += l + 1;
            r->lineno++;
            r->scan = 0;
            if (r->skipping) {
                r->skipping = 0;
                continue;
            }
        } else {
            r->scan = avail;
            if (r->skipping) {
                r->pos = r->end;
                r->scan = 0;
            } else if (avail > JD_READER_MAX_RECORD) {
                *line = p;
                *len = JD_READER_TOO_LARGE_PREFIX;
                *lineno = ln;
                r->skipping = 1;
                return JD_READ_TOO_LARGE;
            }
            int rc = reader_fill(r, err);
            if (rc == READER_CORRUPT)
                return reader_corrupt(r, err);
            if (rc < 0)
                return JD_READ_ERROR;
            if (rc > 0)
                continue;
            /* End of data: a last line without "\n". */
            p = r->buf + r->pos;
            l = r->end - r->pos;
            r->pos = r->end;
            r->scan = 0;
            if (l == 0 || r->skipping) {
                r->skipping = 0;
                return JD_READ_EOF;
            }
        }
        if (l > 0 && p[l - 1] == '\r')
            l--;
        /* Windows editors start UTF-8 files with a byte order mark. */
        if (ln == 1 && l >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
            p += 3;
            l -= 3;
        }
        if (reader_blank(p, l))
            continue;
        *line = p;
        *lineno = ln;
        if (l > JD_READER_MAX_RECORD) {
            *len = JD_READER_TOO_LARGE_PREFIX;
            return JD_READ_TOO_LARGE;
        }
        *len = l;
        return JD_READ_OK;
    }
}

/* Line breaks in p[from..to): LF, CRLF and a lone CR each count once,
 * told apart by the byte before a LF (p[from - 1] exists whenever from > 0,
 * as the record's bytes stay in the buffer). */
static int64_t reader_count_breaks(const char *p, size_t from, size_t to)
{
    int64_t n = 0;
    for (size_t i = from; i < to; i++)
        if (p[i] == '\r' || (p[i] == '\n' && (i == 0 || p[i - 1] != '\r')))
            n++;
    return n;
}

/* Advances the CSV scan over p[scan..avail); returns the offset of the
 * record-ending CR or LF, or avail if the record continues. */
static size_t reader_csv_scan(jd_reader_t *r, const char *p, size_t avail, char delim)
{
    int st = r->cstate;
    size_t i = r->scan;
    for (; i < avail; i++) {
        char c = p[i];
        switch (st) {
        case CSV_START:
        case CSV_UNQUOTED:
        case CSV_QUOTE_IN_QUOTED:
            if (c == '\n' || c == '\r') {
                r->cstate = CSV_START;
                return i;
            }
            if (c == delim)
                st = CSV_START;
            else if (c == '"')
                st = st == CSV_UNQUOTED ? CSV_UNQUOTED : CSV_QUOTED;
            else
                st = CSV_UNQUOTED;
            break;
        default: { /* CSV_QUOTED: jump to the next quote, counting lines */
            const char *q = memchr(p + i, '"', avail - i);
            size_t stop = q ? (size_t)(q - p) : avail;
            r->cnl += reader_count_breaks(p, i, stop);
            i = stop;
            if (q)
                st = CSV_QUOTE_IN_QUOTED;
            else
                i--; /* loop increment brings i to avail */
            break;
        }
        }
    }
    r->cstate = st;
    return avail;
}

jd_read_status_t jd_reader_csv(jd_reader_t *r, char delimiter,
                               jd_csv_record_t *rec, jd_err_t *err)
{
    if (!r || !rec)
        return JD_READ_ERROR;
    memset(rec, 0, sizeof(*rec));
    if (!csv_delim_ok(delimiter)) {
        jd_err_set(err, "%s: invalid CSV delimiter 0x%02x", r->path,
                   (unsigned char)delimiter);
        return JD_READ_ERROR;
    }
    for (;;) {
        if (r->csv_cr && r->scan == 0) {
            /* The LF of a CRLF that ended the previous record. */
            if (r->pos == r->end) {
                int rc = reader_fill(r, err);
                if (rc == READER_CORRUPT)
                    return reader_corrupt(r, err);
                if (rc < 0)
                    return JD_READ_ERROR;
                if (rc > 0)
                    continue;
            } else if (r->buf[r->pos] == '\n') {
                r->pos++;
            }
            r->csv_cr = 0;
        }
        const char *p = r->buf + r->pos;
        size_t avail = r->end - r->pos;
        size_t stop = reader_csv_scan(r, p, avail, delimiter);
        int last = 0;
        if (stop == avail) {
            r->scan = avail;
            if (r->skipping) {
                r->pos = r->end;
                r->scan = 0;
            } else if (avail > JD_READER_MAX_RECORD) {
                rec->raw = p;
                rec->rawlen = JD_READER_TOO_LARGE_PREFIX;
                rec->line = r->lineno;
                r->skipping = 1;
                return JD_READ_TOO_LARGE;
            }
            int rc = reader_fill(r, err);
            if (rc == READER_CORRUPT)
                return reader_corrupt(r, err);
            if (rc < 0)
                return JD_READ_ERROR;
            if (rc > 0)
                continue;
            if (r->end == r->pos) {
                r->skipping = 0;
                return JD_READ_EOF;
            }
            last = 1;
            p = r->buf + r->pos;
            stop = r->end - r->pos;
        }
        /* The record is p[0..stop); consume it and its newline. */
        int unterminated = last && r->cstate == CSV_QUOTED;
        int64_t line = r->lineno;
        r->lineno += r->cnl + 1;
        if (!last && p[stop] == '\r')
            r->csv_cr = 1;
        r->pos += last ? stop : stop + 1;
        r->scan = 0;
        r->cnl = 0;
        r->cstate = CSV_START;
        if (r->skipping) {
            r->skipping = 0;
            continue;
        }
        size_t rawlen = stop;
        if (rawlen > 0 && p[rawlen - 1] == '\r' && !unterminated)
            rawlen--;
        if (rawlen == 0)
            continue;
        rec->line = line;
        if (rawlen > JD_READER_MAX_RECORD) {
            rec->raw = p;
            rec->rawlen = JD_READER_TOO_LARGE_PREFIX;
            return JD_READ_TOO_LARGE;
        }
        if (unterminated) {
            rec->raw = p;
            rec->rawlen = rawlen;
            return JD_READ_MALFORMED;
        }
        jd_read_status_t st = csv_split(&r->csv, p, rawlen, delimiter, 0, rec);
        rec->line = line;
        if (st == JD_READ_ERROR) {
            jd_err_set(err, "%s: out of memory", r->path);
            return JD_READ_ERROR;
        }
        if (st == JD_READ_MALFORMED)
            rec->nfields = 0;
        return st;
    }
}
