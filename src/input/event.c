#include <stdlib.h>
#include <string.h>
#include "journeyd/event.h"
#include "journeyd/intern.h"

/* Copies s into *cursor and advances it; returns the copy or NULL. */
static const char *event_put(char **cursor, const char *s, size_t len)
{
    if (!s)
        return NULL;
    char *dst = *cursor;
    memcpy(dst, s, len);
    dst[len] = '\0';
    *cursor = dst + len + 1;
    return dst;
}

jd_event_t *jd_event_new(uint32_t nslots,
                         const char *customer_id, size_t customer_len,
                         const char *anonymous_id, size_t anonymous_len,
                         const char *event_id, size_t event_id_len)
{
    size_t ids = (customer_id ? customer_len + 1 : 0) +
                 (anonymous_id ? anonymous_len + 1 : 0) +
                 (event_id ? event_id_len + 1 : 0);
    size_t head = sizeof(jd_event_t) + (size_t)nslots * sizeof(const char *);
    jd_event_t *ev = calloc(1, head + ids);
    if (!ev)
        return NULL;
    ev->nslots = nslots;
    ev->source_tag = -1;
    char *cursor = (char *)ev + head;
    ev->customer_id = event_put(&cursor, customer_id, customer_len);
    ev->anonymous_id = event_put(&cursor, anonymous_id, anonymous_len);
    ev->event_id = event_put(&cursor, event_id, event_id_len);
    return ev;
}

void jd_event_free(jd_event_t *ev)
{
    if (!ev)
        return;
    for (uint32_t i = 0; i < ev->nslots; i++)
        jd_intern_unref(ev->slot[i]);
    free(ev);
}
