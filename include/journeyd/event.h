/*
 * The compact decoded event. One allocation per event: the struct, its slot
 * array and the bytes of its identity strings. Slot values are interned
 * strings of the config's interner, one reference each owned by the event
 * (jd_event_free gives them back), so the raw JSON/CSV record is not kept
 * after decoding.
 *
 * Slots: the first JD_SLOT__CANON are the canonical grouping fields; the
 * config appends one slot per extra field named in rule filters (an original
 * field name, a CSV column, or a JSON Pointer), see jd_config_t.slots.
 */
#ifndef JOURNEYD_EVENT_H
#define JOURNEYD_EVENT_H

#include <stddef.h>
#include <stdint.h>

enum {
    JD_SLOT_TYPE = 0,
    JD_SLOT_CHANNEL,
    JD_SLOT_SESSION,
    JD_SLOT_PAGE,
    JD_SLOT_ELEMENT,
    JD_SLOT__CANON
};

typedef struct jd_event {
    int64_t ts;               /* event time, epoch ms */
    uint64_t seq;             /* arrival order, set by the engine */
    uint64_t khash;           /* hash of its journey key once prefetched, else 0 */
    int32_t source_tag;       /* which input partition it came from (the
                                 Kafka source's own numbering), -1 for files;
                                 journeys remember it so their changelog
                                 records go back to that partition */
    uint32_t nslots;          /* beside source_tag: no padding (up to
                                 time.max_buffered events wait in memory) */
    const char *customer_id;  /* inside this allocation, or NULL */
    const char *anonymous_id; /* inside this allocation, or NULL */
    const char *event_id;     /* inside this allocation, or NULL */
    const char *slot[];       /* interned values; NULL = absent */
} jd_event_t;

/* New event with nslots NULL slots and copies of the given identity strings
 * (each may be NULL; lengths exclude any terminator). Caller owns the result
 * and frees it with jd_event_free. NULL on allocation failure. */
jd_event_t *jd_event_new(uint32_t nslots,
                         const char *customer_id, size_t customer_len,
                         const char *anonymous_id, size_t anonymous_len,
                         const char *event_id, size_t event_id_len);
/* NULL-safe. */
void jd_event_free(jd_event_t *ev);
/* Sets ev->khash (see engine.h, which declares it too): here so that the
 * input layer can compute it on a decoder thread. */
void jd_event_key_hash(jd_event_t *ev);

/* An event still in an engine's buffer whose copy went elsewhere (a
 * hand-over between `run` tasks): the engine drops it when it comes due. */
#define JD_EVENT_SHIPPED INT32_MIN
static inline void jd_event_ship(jd_event_t *ev)
{
    ev->source_tag = JD_EVENT_SHIPPED;
}

#endif
