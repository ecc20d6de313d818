/*
 * String interning for low-cardinality values (event types, channels,
 * pages, match values). Interned strings live as long as the table and
 * may be compared by pointer.
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
/* Number of distinct strings and bytes held (for stats and tests). */
size_t jd_intern_count(const jd_intern_t *in);
size_t jd_intern_bytes(const jd_intern_t *in);

#endif
