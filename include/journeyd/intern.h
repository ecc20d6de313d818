/*
 * String interning for event slot values (types, channels, pages, extra
 * rule fields) and config match values. Equal strings intern to the same
 * pointer, so they may be compared by pointer. Each also has a small
 * integer id (1, 2, ...), so compact records can hold 4 bytes instead of a
 * pointer.
 *
 * Reclaiming: values such as pages or session ids can be unique per event,
 * so strings are reference counted. Every jd_intern* call returns one
 * reference owned by the caller; whoever keeps the pointer or its id keeps
 * that reference and gives it back with jd_intern_unref (or _unref_id).
 * A string with no reference left is freed by the next sweep, which runs
 * inside an insert once the table has doubled since the last one (so the
 * work is amortised O(1) per new string), or by jd_intern_sweep. Its id is
 * reused afterwards: an id is only meaningful while a reference is held.
 *
 * Pinned strings are never freed and their references cost nothing: the
 * config pins what it interns (jd_intern_pin), and a per-thread cache pins
 * a value it has served JD_INTERN_HOT_HITS times (or, between them, the
 * caches found in the table that often), up to JD_INTERN_PIN_MAX
 * strings of at most JD_INTERN_PIN_LEN bytes per table, so the counts of
 * hot values (event types, channels) are not written by every thread for
 * every event, and the pinned set stays bounded under hostile input.
 *
 * Thread safety: every function may be called from several threads at
 * once (inserts and sweeps take a mutex; references are atomic).
 * jd_intern_id and jd_intern_get take no lock: they are safe for a string
 * or id the calling thread holds a reference to. A jd_intern_cache_t is a
 * per-thread front for the table: hits need no lock.
 */
#ifndef JOURNEYD_INTERN_H
#define JOURNEYD_INTERN_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define JD_INTERN_HOT_HITS 16
#define JD_INTERN_PIN_MAX 16384
#define JD_INTERN_PIN_LEN 128

typedef struct jd_intern jd_intern_t;

/* New empty table; NULL on allocation failure. Free with jd_intern_destroy. */
jd_intern_t *jd_intern_new(void);
/* NULL-safe; frees every interned string, referenced or not. */
void jd_intern_destroy(jd_intern_t *in);
/* The table's copy of s[0..len) (NUL-terminated) with one new reference
 * for the caller; NULL on allocation failure. s need not be terminated. */
const char *jd_intern(jd_intern_t *in, const char *s, size_t len);
/* Same for a NUL-terminated string. */
const char *jd_intern_str(jd_intern_t *in, const char *s);
/* What precedes each interned string (intern.c's record). Visible here
 * only for the inline functions below: nearly every reference taken on a
 * hot path is to a pinned string, and costs one load rather than a call. */
typedef struct jd_intern_hdr {
    _Atomic uint32_t refs;    /* JD_INTERN_HDR_PIN: pinned, not counted */
    uint32_t id;
    uint32_t len;
} jd_intern_hdr_t;
#define JD_INTERN_HDR_PIN 0x80000000u

/* Not const: C11 atomics (and clang) take no pointer to a const atomic. */
static inline jd_intern_hdr_t *jd_intern_hdr(const char *s)
{
    return (jd_intern_hdr_t *)(uintptr_t)(s - sizeof(jd_intern_hdr_t));
}
static inline int jd_intern_is_pinned(const char *s)
{
    return (atomic_load_explicit(&jd_intern_hdr(s)->refs, memory_order_relaxed) &
            JD_INTERN_HDR_PIN) != 0;
}
/* The counted (not pinned) cases of the two functions below. */
void jd_intern_ref_counted(const char *s);
void jd_intern_unref_counted(const char *s);

/* Adds a reference to an interned string (NULL-safe); returns s. */
static inline const char *jd_intern_ref(const char *s)
{
    if (s && !jd_intern_is_pinned(s))
        jd_intern_ref_counted(s);
    return s;
}
/* Gives a reference back (NULL-safe). The string stays valid until the
 * next sweep if it was the last one. */
static inline void jd_intern_unref(const char *s)
{
    if (s && !jd_intern_is_pinned(s))
        jd_intern_unref_counted(s);
}
/* The same by id (0 is a no-op). */
void jd_intern_ref_id(const jd_intern_t *in, uint32_t id);
void jd_intern_unref_id(const jd_intern_t *in, uint32_t id);
/* Keeps s for the life of the table (NULL-safe); returns s. The caller's
 * reference becomes part of the pin. */
const char *jd_intern_pin(jd_intern_t *in, const char *s);
/* Frees every unreferenced string now; returns how many were freed. */
size_t jd_intern_sweep(jd_intern_t *in);
/* The id of a string returned by jd_intern* (never 0); 0 for NULL. */
static inline uint32_t jd_intern_id(const char *interned)
{
    return interned ? jd_intern_hdr(interned)->id : 0;
}
/* The string of an id, borrowed; NULL for 0 or an unknown id. */
const char *jd_intern_get(const jd_intern_t *in, uint32_t id);

typedef struct jd_intern_cache jd_intern_cache_t;
/* A per-thread cache in front of in (which must outlive it). NULL on OOM.
 * It holds a reference to each value it caches (JD_INTERN_CACHE_SIZE). */
#define JD_INTERN_CACHE_SIZE 4096
jd_intern_cache_t *jd_intern_cache_new(jd_intern_t *in);
/* NULL-safe; gives back the cache's references. */
void jd_intern_cache_destroy(jd_intern_cache_t *c);
/* Same result as jd_intern(in, s, len), a new reference included; a hit
 * takes no lock. One cache must not be used by two threads at once. */
const char *jd_intern_cached(jd_intern_cache_t *c, const char *s, size_t len);

/* Number of strings in the table (unreferenced ones count until swept),
 * bytes of their text, and how many are pinned (for stats and tests). */
size_t jd_intern_count(const jd_intern_t *in);
size_t jd_intern_bytes(const jd_intern_t *in);
size_t jd_intern_pinned(const jd_intern_t *in);

#endif
