/*
 * Several engines on worker threads, customers sharded by identity, with
 * the single engine's exact output.
 *
 * The caller's thread is the router: it checks lateness, orders events by
 * (ts, arrival) as one engine would, and hands each to the shard that holds
 * its journey. A customer's journey lives on the shard its customer_id
 * hashes to; an anonymous identity lives on the shard its anonymous_id
 * hashes to until a stitch links it, then on its customer's shard. When a
 * stitch joins an anonymous identity to a customer held by another shard,
 * the identity's state (journey, pending timeouts, link) moves across in
 * stream order before the stitching event is evaluated. Shards share
 * nothing else.
 *
 * Work flows in epochs of a few thousand events; each shard's alerts carry
 * their evaluation step (jd_step_t) and the router merges them by it, so
 * the alerts, their order and the counters are those of one jd_engine_t
 * fed the same input — whatever the number of shards. The one exception is
 * journey.max_customers: each shard holds its share, so which journey is
 * evicted can differ once the limit is reached.
 *
 * Not thread-safe: one router thread calls every function.
 */
#ifndef JOURNEYD_SHARD_H
#define JOURNEYD_SHARD_H

#include "journeyd/common.h"
#include "journeyd/config.h"
#include "journeyd/engine.h"

typedef struct jd_shards jd_shards_t;

/* nshards >= 1 engines on as many threads. opts as for jd_engine_new
 * (on_alert is called on the router's thread, in order; auto_watermark is
 * implied; track_changes and max_customers are ignored). conf is borrowed.
 * NULL with err on failure. */
jd_shards_t *jd_shards_new(const jd_config_t *conf, unsigned nshards,
                           const jd_engine_opts_t *opts, jd_err_t *err);
/* NULL-safe. Joins the threads, which free their engines in parallel;
 * buffered events and open windows are dropped without alerting. */
void jd_shards_destroy(jd_shards_t *s);

/* As jd_engine_push: takes ev; JD_DL_LATE when it is older than the
 * watermark. */
jd_dl_reason_t jd_shards_push(jd_shards_t *s, jd_event_t *ev);
/* As jd_engine_finish; afterwards only stats and destroy may be called. */
void jd_shards_finish(jd_shards_t *s, int flush);

/* Before finish: the router's counters (events_in, late, alerts delivered,
 * watermark, max_ts, buffered, forced_advances). After finish: every
 * counter, summed over the shards. customers_peak is the largest total seen
 * at an epoch end. */
const jd_engine_stats_t *jd_shards_stats(jd_shards_t *s);
json_t *jd_shards_stats_json(jd_shards_t *s);

#endif
