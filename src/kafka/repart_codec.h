/*
 * The repartition topic's record formats: writing into a jd_strbuf_t,
 * reading through a cursor that turns bad (and reads zeros) past the end.
 * Private to src/kafka/.
 */
#ifndef JOURNEYD_KAFKA_REPART_CODEC_H
#define JOURNEYD_KAFKA_REPART_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include "journeyd/config.h"
#include "journeyd/event.h"
#include "journeyd/intern.h"
#include "journeyd/strbuf.h"

void put_u32(jd_strbuf_t *sb, uint32_t v);
void put_i64(jd_strbuf_t *sb, int64_t v);
/* s[0..len), or absent when s is NULL */
void put_str(jd_strbuf_t *sb, const char *s, size_t len);
void put_cstr(jd_strbuf_t *sb, const char *s);
/* ts, the three ids and every slot */
void put_event(jd_strbuf_t *sb, const jd_event_t *ev);

typedef struct cur {
    const char *p, *end;
    int bad;
} cur_t;

int get_raw(cur_t *c, void *dst, size_t n);
uint32_t get_u32(cur_t *c);
int64_t get_i64(cur_t *c);
/* a string inside the record (not NUL-terminated); NULL when absent */
const char *get_str(cur_t *c, size_t *len);
char *get_strdup(cur_t *c);
/* a new event with its slots interned through ic; NULL (and c bad) when
 * the record is short or has another slot count than conf */
jd_event_t *get_event(cur_t *c, const jd_config_t *conf, jd_intern_cache_t *ic);

#endif
