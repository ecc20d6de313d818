/*
 * A tree-free JSON scanner for the decoder's hot path: one pass over one
 * JSON text that validates all of it exactly as strictly as jansson 2.14's
 * json_loadb(JSON_DECODE_ANY) does, and reports the values of a fixed set of
 * top-level keys. Private to the decoder (src/input/decode.c) and its tests.
 *
 * "Exactly as strictly" means the verdict (valid or not) is
 * jd_json_load_lenient's for every input, which is jansson's but for one
 * thing: strict UTF-8 everywhere, escapes including surrogate pairs,
 * no \u0000 (JSON_ALLOW_NUL is off), no raw control characters in strings,
 * jansson's number grammar, nesting depth at most JSON_PARSER_MAX_DEPTH,
 * only " \t\n\r" as whitespace, nothing after the value, duplicate keys
 * allowed (last wins). The one thing: a number jansson refuses for its
 * range (an integer outside int64, a real that overflows a double: a
 * 20-digit order id, 1e400) is valid, and reported as a string of its
 * text, so a field journeyd does not read can never invalidate an event
 * (contract section 2). Other values are reported as jd_json_scalar_str
 * would stringify jansson's decoded value.
 */
#ifndef JOURNEYD_JSONSCAN_H
#define JOURNEYD_JSONSCAN_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* Room for any stringified number (jd_json_scalar_str's forms). */
#define JD_JSONSCAN_NUMSZ 64

typedef enum {
    JD_JSONSCAN_ABSENT = 0, /* key not present, or its value is null/object/array */
    JD_JSONSCAN_STRING,
    JD_JSONSCAN_INTEGER,
    JD_JSONSCAN_REAL,
    JD_JSONSCAN_BOOL
} jd_jsonscan_kind_t;

typedef struct jd_jsonscan_val {
    jd_jsonscan_kind_t kind;
    /* The value as text: a string unescaped (in the input itself when it
     * has no escapes, else in the caller's scratch), a number as
     * jd_json_scalar_str writes it (in num), "true" or "false". Not
     * NUL-terminated for strings. Valid until the input or scratch change. */
    const char *s;
    size_t len;
    int64_t i;     /* JD_JSONSCAN_INTEGER */
    double d;      /* JD_JSONSCAN_REAL */
    char num[JD_JSONSCAN_NUMSZ];
} jd_jsonscan_val_t;

typedef enum {
    JD_JSONSCAN_OBJECT = 0,  /* valid, an object: vals are filled in */
    JD_JSONSCAN_INVALID,     /* jansson would reject the text */
    JD_JSONSCAN_NOT_OBJECT,  /* valid, but the top-level value is no object */
    JD_JSONSCAN_UNSURE       /* a wanted real too long to read on the stack: ask
                                jd_json_load_lenient */
} jd_jsonscan_rc_t;

/* The top-level value's type, for JD_JSONSCAN_NOT_OBJECT. */
typedef enum {
    JD_JSONSCAN_T_OBJECT = 0,
    JD_JSONSCAN_T_ARRAY,
    JD_JSONSCAN_T_STRING,
    JD_JSONSCAN_T_NUMBER,
    JD_JSONSCAN_T_BOOL,
    JD_JSONSCAN_T_NULL
} jd_jsonscan_type_t;

/* The set of wanted top-level keys, built once and then read-only (so one
 * set may serve several threads). */
typedef struct jd_jsonscan_keys jd_jsonscan_keys_t;

/* New empty set; NULL on allocation failure. */
jd_jsonscan_keys_t *jd_jsonscan_keys_new(void);
/* NULL-safe. */
void jd_jsonscan_keys_destroy(jd_jsonscan_keys_t *k);
/* Adds name (borrowed: it must outlive the set) unless already present.
 * Returns its index in the vals array of jd_jsonscan, or -1 on allocation
 * failure. */
int jd_jsonscan_keys_add(jd_jsonscan_keys_t *k, const char *name);
/* Number of distinct keys = entries jd_jsonscan fills in vals. */
size_t jd_jsonscan_keys_count(const jd_jsonscan_keys_t *k);

/* Scans buf[0..len) (need not be NUL-terminated). scratch must hold at least
 * len + 1 bytes: escaped strings are unescaped there. vals must have
 * jd_jsonscan_keys_count(keys) entries; each is overwritten. *type (if
 * non-NULL) receives the top-level value's type when the text is valid. */
jd_jsonscan_rc_t jd_jsonscan(const jd_jsonscan_keys_t *keys, const char *buf, size_t len,
                             char *scratch, jd_jsonscan_val_t *vals,
                             jd_jsonscan_type_t *type);

/* json_loadb(buf, len, JSON_DECODE_ANY, jerr), except that numbers out of
 * jansson's range inside an object or array become strings of their text
 * (see above), as the scanner reports them (a bare top-level one stays a
 * number, of no particular value). On other invalid text, jerr is
 * jansson's error for it (line, column and position as in buf). New
 * reference, or NULL. */
json_t *jd_json_load_lenient(const char *buf, size_t len, json_error_t *jerr);

#endif
