/*
 * input.keyed_by=any: identity across partitions (contract section 7).
 * Private to src/kafka/.
 *
 * A tracker keys anonymous events by device and known ones by customer, so
 * one customer's events are spread over partitions. Each task p is then two
 * stages, both in task p's transaction:
 *
 *   router    reads input partition p, decides lateness against its own
 *             watermark, and writes each event to the repartition topic
 *             partition of its identity: home(customer_id) when it has one,
 *             else home(anonymous_id). home(id) = hash(id) mod N, N the
 *             input's partition count.
 *   engine    reads repartition partition p and evaluates, as in
 *             keyed_by=customer, with a watermark made of markers.
 *
 * Markers. Every checkpoint, task p writes to every repartition partition
 * a marker (r, f): r its router's watermark (no event it writes later is
 * older), f the least router watermark it has seen (no event it forwards
 * later is older). An engine's watermark is the least min(r, f) over all N
 * tasks, so nothing it reads later is late: event time stays exact across
 * the extra hop, as Flink's watermarks do across a shuffle.
 *
 * Stitching. An anonymous journey lives at home(anon) until a link (an
 * event with both ids) appears. The router that reads the link writes it
 * to home(customer) flagged "expect", and a notice to home(anon). Home(anon)
 * keeps its watermark below the link's ts L until it has evaluated
 * everything of the anonymous id before L, then hands its journey (history,
 * open windows, rule state: the changelog records), and its buffered events
 * at L or later, to home(customer) in a hand-over record, and from then on
 * forwards the anonymous id's events there. Home(customer) freezes that
 * customer at L (src/engine/freeze.c: its events and timeouts from L on
 * wait, everyone else goes on) until the hand-over is there, then merges
 * as one engine does. So the alerts equal `replay`'s whatever the instance
 * count.
 *
 * Record formats (value; key = the routing identity): a kind byte, then
 * 'E' flags(1) event        an event (flag 1: a link, expect a hand-over)
 * 'M' src(4) r(8) f(8) idle(1)   a marker
 * 'N' L(8) dest(4) anon     a notice: hand anon over to partition dest at L
 * 'H' L(8) anon nrec {key val}* nev event*   a hand-over
 * with integers in host byte order, strings as u32 length + bytes
 * (0xffffffff = absent), an event as ts(8) customer anon event_id
 * nslots(4) slot*.
 */
#ifndef JOURNEYD_KAFKA_REPART_H
#define JOURNEYD_KAFKA_REPART_H

#include <stdint.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include "journeyd/map.h"
#include "journeyd/event.h"
#include "journeyd/strbuf.h"
#include "xwaits.h"

struct jd_runner;
struct jd_task;
struct jd_decode_ctx;

/* An anonymous id handed over from here: its events since `since` go to
 * partition dest. */
typedef struct jd_xfwd {
    jd_map_node_t node;
    int32_t dest;
    int dirty;
    int64_t since;
    int64_t last;           /* newest ts forwarded (expiry) */
    char anon[];
} jd_xfwd_t;

/* The router's memory of links it announced: anon -> (customer, L). */
typedef struct jd_xlink {
    jd_map_node_t node;
    char *customer;
    int64_t ts;
    char anon[];
} jd_xlink_t;

typedef struct jd_xtask {
    int32_t partition;
    int32_t n;              /* repartition partitions (= tasks); 0 = unknown */
    int64_t *mr, *mf;       /* last marker (r, f) seen from each task */
    uint8_t *mseen;
    uint8_t *midle;         /* that task's router is idle (caught up, quiet) */
    int64_t sent_r, sent_f; /* last marker written */
    int sent, sent_idle;
    int idle;               /* this router is caught up and quiet for
                               time.idle_advance: it stops holding the
                               other tasks' watermarks back */
    int64_t restore_ewm;    /* the snapshot's engine watermark (task.h) */
    jd_xwaits_t holds;      /* link events waiting for their hand-over */
    jd_xwaits_t tokens;     /* hand-overs that came before their link event */
    jd_xwaits_t notices;    /* journeys to hand over when the engine reaches L-1 */
    jd_map_t fwd;
    jd_map_t links;
    jd_map_t anon_last;     /* anon -> newest ts of its own events pushed here, so a
                               hand-over scans the engine's buffer only when some
                               may still wait there */
    size_t nlinks;
    uint64_t produced;      /* records written into the open transaction */
    /* the state above (markers, waits, parked events) as changelog records
     * "t:x:<i>" of at most JD_XSTATE_CHUNK bytes: the meta record says how
     * many (it could outgrow a Kafka message) */
    uint32_t nchunks;       /* written at the last checkpoint */
    uint64_t state_hash;    /* of what they hold */
    char **chunks;          /* restore: by index */
    size_t *chunklen;
    uint32_t capchunks;
    int64_t restore_nchunks;
    jd_strbuf_t sb;
} jd_xtask_t;

jd_xtask_t *jd_xtask_new(int32_t partition);
void jd_xtask_destroy(jd_xtask_t *x);       /* NULL-safe */
/* Forget a run's state (task restart, rewind). */
void jd_xtask_reset(jd_xtask_t *x);

/* Router: ev (taken) read from input message m of task t, lateness already
 * decided. Returns 0, or -1 when it could not be written (fatal). */
int jd_repart_route(struct jd_runner *r, struct jd_task *t, jd_event_t *ev);
/* An input event arrives at task t's router: its watermark, raised to the
 * others' when the router was idle (what is older is late). */
int64_t jd_repart_router_resume(struct jd_task *t);
/* Engine side: one message of the repartition topic. */
void jd_repart_receive(struct jd_runner *r, struct jd_decode_ctx *dx, struct jd_task *t,
                       const rd_kafka_message_t *m);
/* Move the engine as far as markers, holds and notices allow, handing
 * journeys over on the way. */
void jd_repart_advance(struct jd_runner *r, struct jd_task *t, int64_t now);
/* The watermark below which the task's repartition input is handled
 * (committable offsets and the snapshot's skip rule). */
int64_t jd_repart_handled_wm(const struct jd_task *t);
/* Checkpoint: write markers (into the open transaction), add the changed
 * forwarding entries as changelog records, and render the meta part. */
int jd_repart_checkpoint(struct jd_runner *r, struct jd_task *t);
/* Add the state records "t:x:<i>" (and tombstones for chunks no longer
 * used) to the checkpoint; returns their count, -1 on OOM. */
int jd_repart_state_records(struct jd_task *t);
/* Restore: a "t:x:<i>" record, the chunk count from the meta record, and
 * the state once the changelog is read. */
void jd_repart_restore_chunk(struct jd_task *t, const char *key, size_t keylen,
                             const void *val, size_t vallen);
void jd_repart_restore_finish(struct jd_task *t);
#define JD_XSTATE_CHUNK 900000
/* Restore a "f:" changelog record. */
void jd_repart_restore_fwd(struct jd_task *t, const char *key, size_t keylen,
                           const void *val, size_t vallen);
/* Restore a "w:" changelog record (xwaits.h). */
void jd_repart_restore_wait(struct jd_task *t, const char *key, size_t keylen,
                            const void *val, size_t vallen);

#endif
