/*
 * String interning for low-cardinality values (event types, channels,
 * pages, match values). Interned strings live as long as the table and
 * may be compared by pointer. Each also has a small integer id (1, 2, ...),
 * so compact records can hold 4 bytes instead of a pointer.
 *
 * Thread safety: jd_intern / jd_intern_str may be called from several
 * threads at once (inserts take a mutex). jd_intern_id and jd_intern_get
 * take no lock: they are safe for any string/id the calling thread obtained
 * through a synchronising hand-off (a queue, a mutex, thread start).
 * A jd_intern_cache_t is a per-thread front for the table: hits need no lock.
 */
#ifndef JOURNEYD_INTERN_H
#define JOURNEYD_INTERN_H

#include <stddef.h>
#include <stdint.h>

typedef struct jd_intern jd_intern_t;

/* New empty table; NULL on allocation failure. Free with jd_intern_destroy. */
jd_intern_t *jd_intern_new(void);
/* NULL-safe; frees every interned string. */
void jd_intern_destroy(jd_intern_t *in);
/* Returns the table's copy of s[0..len) (NUL-terminated), borrowed for the
 * life of the table; NULL on allocation failure. s need not be terminated. */
const char *jd_intern(jd_intern_t *in, const char *s, size_t len);
/* Same for a NUL-terminated string. */
const char *jd_intern_str(jd_intern_t *in, const char *s);
/* The id of a string returned by jd_intern* (never 0); 0 for NULL. */
uint32_t jd_intern_id(const char *interned);
/* The string of an id, borrowed; NULL for 0 or an unknown id. */
const char *jd_intern_get(const jd_intern_t *in, uint32_t id);

typedef struct jd_intern_cache jd_intern_cache_t;
/* A per-thread cache in front of in (which must outlive it). NULL on OOM. */
jd_intern_cache_t *jd_intern_cache_new(jd_intern_t *in);
/* NULL-safe. */
void jd_intern_cache_destroy(jd_intern_cache_t *c);
/* Same result as jd_intern(in, s, len); a hit takes no lock. One cache
 * must not be used by two threads at once. */
const char *jd_intern_cached(jd_intern_cache_t *c, const char *s, size_t len);

/* Number of distinct strings and bytes held (for stats and tests). */
size_t jd_intern_count(const jd_intern_t *in);
size_t jd_intern_bytes(const jd_intern_t *in);

#endif
