/*
 * Logging: one line per event on stderr, RFC 3339 UTC timestamp (ms) and a
 * level first, as `text` or as one JSON object per line (log.format).
 *
 *   text: 2026-11-30T13:44:31.123Z info journeyd run: assigned cx.events [0] ...
 *   json: {"ts":"2026-11-30T13:44:31.123Z","level":"info","cmd":"run","msg":"..."}
 *
 * Every line is built in a local buffer and written with one write(2), so
 * lines from librdkafka's threads and ours never interleave. Messages are cut
 * at JD_LOG_MSG_MAX bytes; JSON lines stay valid (escaped, invalid UTF-8
 * replaced by U+FFFD) whatever the message holds.
 *
 * Level and format are process-wide and set once by the command, before any
 * thread starts (jd_log_init, then jd_log_configure once the config is
 * loaded); after that they are only read.
 */
#ifndef JOURNEYD_LOG_H
#define JOURNEYD_LOG_H

#include "journeyd/common.h"
#include "journeyd/config.h"

enum { JD_LOG_ERR = 0, JD_LOG_WARN, JD_LOG_INFO, JD_LOG_DEBUG };

/* Longest message kept, in bytes (longer ones are cut). */
#define JD_LOG_MSG_MAX 2048

/* Threshold: lines above it are dropped (default JD_LOG_INFO). */
extern int jd_log_level;
/* "journeyd <cmd>": the text prefix; its last word is the JSON "cmd". */
extern const char *jd_log_prefix;

/* Before the config is loaded: prefix (borrowed, must outlive logging) and
 * the level from JOURNEYD_LOG when it names a level (else left as is:
 * jd_log_configure reports a bad value). The format is left as it is (text
 * until jd_log_configure), so calling it again only changes the prefix. */
void jd_log_init(const char *prefix);

/* Once the config is loaded: log.format and log.level, then JOURNEYD_LOG
 * (error|warn|info|debug, any case) over log.level. An unknown JOURNEYD_LOG
 * value returns -1 with err "JOURNEYD_LOG=...: expected error, warn, info or
 * debug" (the command prints it and exits 2). conf may be NULL (defaults). */
int jd_log_configure(const jd_config_t *conf, jd_err_t *err);

/* error|warn|info|debug (case-insensitive) -> JD_LOG_*, or -1. */
int jd_log_level_parse(const char *s);
/* JD_LOG_* -> "error", "warn", "info", "debug". */
const char *jd_log_level_name(int level);

void jd_log_set_format(jd_log_format_t fmt);
/* Where lines go (default 2 = stderr); for tests. */
void jd_log_set_fd(int fd);

void jd_log_emit(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define JD_LOG(lvl, ...)                                   \
    do {                                                   \
        if ((lvl) <= jd_log_level) jd_log_emit((lvl), __VA_ARGS__); \
    } while (0)

/* The start-up banner, one info line: version, brokers, group, topics, rule
 * count, http address. In JSON the same facts are fields too:
 *   {"ts":...,"level":"info","cmd":"run","msg":"journeyd 0.1.0 starting ...",
 *    "version":"0.1.0","brokers":"...","group":"...","topics":["..."],
 *    "rules":7,"http":"127.0.0.1:9646"}
 * cmd (e.g. "run") and version are borrowed. */
void jd_log_banner(const jd_config_t *conf, const char *cmd, const char *version);

#endif
