/*
 * The command-line options the commands share, parsed one way for all:
 *
 *   -c, --config FILE      the config file (default: the built-in defaults)
 *   -X key=value           a config override, repeatable, no limit; applied
 *                          in order, so the last one for a key wins
 *   -h, --help             the command's usage on stdout, exit 0
 * and, for the commands that ask for them (flags):
 *   -b BROKERS             = -X kafka.bootstrap.servers=BROKERS  (JD_OPT_BROKERS)
 *   -t TOPICS              = -X input.topics=TOPICS (comma list)  (JD_OPT_TOPICS)
 *   --format ndjson|csv    = input.format for this run; it wins over any
 *                            -X input.format, wherever it stands   (JD_OPT_FORMAT)
 * -b and -t count as -X at their place on the command line.
 *
 * A command lists its own options in getopt_long form and loops on
 * jd_opts_next, which handles the shared ones itself and returns the
 * command's. Usage errors are reported on stderr as "journeyd CMD: reason"
 * and a pointer to --help.
 */
#ifndef JOURNEYD_CLI_OPTIONS_H
#define JOURNEYD_CLI_OPTIONS_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "journeyd/config.h"

#define JD_OPT_BROKERS 1u
#define JD_OPT_TOPICS  2u
#define JD_OPT_FORMAT  4u

/* jd_opts_next results besides the command's own option characters. */
#define JD_OPTS_END  (-1)   /* all arguments parsed */
#define JD_OPTS_EXIT (-2)   /* help printed or usage error reported: return o->status */

typedef struct jd_opts {
    const char *cmd;           /* "replay", for messages */
    unsigned flags;            /* JD_OPT_* */
    void (*usage)(FILE *f);    /* the command's usage text */
    const char *config;        /* -c FILE or NULL (borrowed from argv) */
    const char **xs;           /* the overrides in order (owned array) */
    size_t nx, capx;
    char **owned;              /* strings built for -b and -t (owned) */
    size_t nowned;
    const char *format;        /* --format, or NULL */
    const char *arg;           /* optarg of the option jd_opts_next returned */
    int status;                /* exit status with JD_OPTS_EXIT: 0 help, 2 usage error */
    struct option *longopts;   /* the command's and the shared ones (owned) */
    char *shortopts;           /* owned */
} jd_opts_t;

/* Prepares o for cmd's own options (shortopts in getopt form without the
 * shared letters; longopts terminated by a zero entry, may be NULL).
 * Returns 0, or -1 when out of memory (reported on stderr). */
int jd_opts_init(jd_opts_t *o, const char *cmd, unsigned flags, const char *shortopts,
                 const struct option *longopts, void (*usage)(FILE *f));

/* The next option of the command's own (its character or longopts value,
 * argument in o->arg), JD_OPTS_END, or JD_OPTS_EXIT. Positional arguments
 * are usage errors. */
int jd_opts_next(jd_opts_t *o, int argc, char **argv);

/* Reports a usage error "journeyd CMD: MESSAGE" on stderr;
 * sets o->status to 2 and returns JD_OPTS_EXIT. */
int jd_opts_usage_error(jd_opts_t *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends an override ("key=value", borrowed: it must outlive o) after
 * those of the command line. 0, or -1 when out of memory. */
int jd_opts_add_x(jd_opts_t *o, const char *kv);

/* The config from -c and the overrides (--format last). NULL after
 * reporting "journeyd CMD: <error>" on stderr (exit status 2). */
jd_config_t *jd_opts_load(jd_opts_t *o);

/* The help lines of the shared options o->flags selects. */
void jd_opts_usage_common(FILE *f, unsigned flags);

/* Warns on stderr about each rule field that is neither canonical, nor
 * mapped in "fields", nor marked in seen (one flag per slot, from the first
 * nseen records of the input; NULL when no input was looked at): likely a
 * misspelt field name, which would silently match nothing. Returns how
 * many warnings it printed. */
size_t jd_opts_warn_fields(const jd_opts_t *o, const jd_config_t *conf,
                           const unsigned char *seen, uint64_t nseen);

/* NULL-safe on the members; o itself is not freed. */
void jd_opts_free(jd_opts_t *o);

#endif
