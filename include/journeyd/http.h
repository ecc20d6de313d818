/*
 * The operations endpoint of `run` (contract section 8), served by
 * libmicrohttpd on its own thread:
 *
 *   GET /metrics  the metrics registry (Prometheus text format)
 *   GET /healthz  200 "ok" while the process loop runs: the runner calls
 *                 jd_http_heartbeat every loop iteration; 503 "stalled: ..."
 *                 once no heartbeat came for the stall timeout (default
 *                 JD_HTTP_STALL_MS). Start-up counts as a heartbeat.
 *   GET /readyz   200 "ready" once the runner said so with jd_http_set_ready
 *                 (every assigned task restored and consuming); 503 with
 *                 the runner's reason before ("not ready: starting" until
 *                 the first call).
 *
 * Anything else is 404; a method other than GET or HEAD is 405. At most
 * JD_HTTP_MAX_CONNECTIONS connections at a time (more are refused by the
 * server), each closed after JD_HTTP_TIMEOUT_S of silence, so a slow or
 * hostile client cannot hold the daemon.
 *
 * Threads: heartbeat and set_ready are called from the runner's threads,
 * the handlers run on libmicrohttpd's thread; the state they share is an
 * atomic (heartbeat) and a mutex-guarded ready flag and reason.
 */
#ifndef JOURNEYD_HTTP_H
#define JOURNEYD_HTTP_H

#include <stdint.h>
#include "journeyd/common.h"
#include "journeyd/metrics.h"

#define JD_HTTP_STALL_MS 30000
#define JD_HTTP_MAX_CONNECTIONS 16
#define JD_HTTP_TIMEOUT_S 10

typedef struct jd_http jd_http_t;

/* 1 when listen (http.listen) asks for a server: not NULL, "" or "off". */
int jd_http_enabled(const char *addr);

/* Binds listen ("host:port", "[v6]:port"; port 0 = any free port) and starts
 * serving. metrics is borrowed and must outlive the server. On success
 * returns 0 and *out (NULL when listen is off: every jd_http_* call accepts
 * NULL and does nothing). On failure -1 with err such as
 *   "http.listen=127.0.0.1:9646: cannot bind: Address already in use"
 *   "http.listen=nope: expected host:port or off" */
int jd_http_start(const char *addr, jd_metrics_t *metrics, jd_http_t **out,
                  jd_err_t *err);

/* Stops the server and frees it (waits for the handlers). NULL-safe. */
void jd_http_stop(jd_http_t *h);

/* The port bound (useful with port 0), 0 for NULL. */
int jd_http_port(const jd_http_t *h);

/* The runner's loop is alive; cheap (one atomic store), call every loop. */
void jd_http_heartbeat(jd_http_t *h);

/* /readyz: ready or not, and why not (copied; NULL = no reason). */
void jd_http_set_ready(jd_http_t *h, int ready, const char *reason);

/* /healthz stall timeout in ms (default JD_HTTP_STALL_MS); for tests. */
void jd_http_set_stall_ms(jd_http_t *h, int64_t ms);

#endif
