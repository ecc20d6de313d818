/*
 * The shared command-line options (see options.h): one parser for -c, -X,
 * -h and the kcat habits -b/-t, wrapped around getopt_long, and the one
 * place a command turns them into a config.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "journeyd/event.h"
#include "journeyd/log.h"
#include "options.h"

/* Values for the shared long-only options, above any character. */
#define OPTS_FORMAT 0x100

static const struct option opts_shared[] = {
    { "config", required_argument, NULL, 'c' },
    { "help", no_argument, NULL, 'h' },
    { "format", required_argument, NULL, OPTS_FORMAT },
};
#define OPTS_NSHARED (sizeof(opts_shared) / sizeof(opts_shared[0]))

int jd_opts_init(jd_opts_t *o, const char *cmd, unsigned flags, const char *shortopts,
                 const struct option *longopts, void (*usage)(FILE *f))
{
    size_t nlong = 0;
    memset(o, 0, sizeof(*o));
    o->cmd = cmd;
    o->flags = flags;
    o->usage = usage;
    while (longopts && longopts[nlong].name)
        nlong++;
    o->longopts = calloc(nlong + OPTS_NSHARED + 1, sizeof(*o->longopts));
    /* ":" first: a missing argument comes back as ':' rather than '?' */
    o->shortopts = malloc(strlen(shortopts) + 16);
    if (!o->longopts || !o->shortopts) {
        fprintf(stderr, "journeyd %s: out of memory\n", cmd);
        jd_opts_free(o);
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < OPTS_NSHARED; i++)
        if (opts_shared[i].val != OPTS_FORMAT || (flags & JD_OPT_FORMAT))
            o->longopts[n++] = opts_shared[i];
    for (size_t i = 0; i < nlong; i++)
        o->longopts[n++] = longopts[i];
    /* getopt starts over: commands can run one after another (demo runs
     * produce), and glibc reinitialises fully on optind 0 */
    optind = 0;
    opterr = 0;
    snprintf(o->shortopts, strlen(shortopts) + 16, ":c:X:h%s%s%s",
             flags & JD_OPT_BROKERS ? "b:" : "", flags & JD_OPT_TOPICS ? "t:" : "", shortopts);
    return 0;
}

int jd_opts_usage_error(jd_opts_t *o, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "journeyd %s: ", o->cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(journeyd %s --help lists the options)\n", o->cmd);
    o->status = 2;
    return JD_OPTS_EXIT;
}

int jd_opts_add_x(jd_opts_t *o, const char *kv)
{
    if (o->nx == o->capx) {
        size_t cap = o->capx ? o->capx * 2 : 16;
        const char **xs = realloc(o->xs, cap * sizeof(*xs));
        if (!xs)
            return -1;
        o->xs = xs;
        o->capx = cap;
    }
    o->xs[o->nx++] = kv;
    return 0;
}

/* -b and -t: an override "key=arg" at their place among the -X. */
static int opts_add_alias(jd_opts_t *o, const char *key, const char *arg)
{
    size_t len = strlen(key) + strlen(arg) + 2;
    char *kv = malloc(len);
    char **owned = kv ? realloc(o->owned, (o->nowned + 1) * sizeof(*owned)) : NULL;
    if (!owned) {
        free(kv);
        return -1;
    }
    o->owned = owned;
    o->owned[o->nowned++] = kv;
    snprintf(kv, len, "%s=%s", key, arg);
    return jd_opts_add_x(o, kv);
}

/* The option as the user typed it, for messages. */
static const char *opts_typed(int argc, char **argv, char *buf)
{
    const char *last = optind >= 1 && optind <= argc ? argv[optind - 1] : NULL;
    if (last && strncmp(last, "--", 2) == 0)
        return last;
    if (optopt > 0 && optopt < 0x100) {
        buf[0] = '-';
        buf[1] = (char)optopt;
        buf[2] = '\0';
        return buf;
    }
    return last ? last : "?";
}

int jd_opts_next(jd_opts_t *o, int argc, char **argv)
{
    for (;;) {
        int c = getopt_long(argc, argv, o->shortopts, o->longopts, NULL);
        int rc = 0;
        char typed[3];
        o->arg = optarg;
        switch (c) {
        case -1:
            if (optind < argc)
                return jd_opts_usage_error(o, "unexpected argument \"%s\"", argv[optind]);
            return JD_OPTS_END;
        case 'c':
            o->config = optarg;
            break;
        case 'X':
            rc = jd_opts_add_x(o, optarg);
            break;
        case 'b':
            if (!(o->flags & JD_OPT_BROKERS))
                return c;
            rc = opts_add_alias(o, "kafka.bootstrap.servers", optarg);
            break;
        case 't':
            if (!(o->flags & JD_OPT_TOPICS))
                return c;   /* produce: its own -t, the topic to write */
            rc = opts_add_alias(o, "input.topics", optarg);
            break;
        case OPTS_FORMAT:
            if (strcmp(optarg, "ndjson") != 0 && strcmp(optarg, "csv") != 0)
                return jd_opts_usage_error(o, "--format %s: expected ndjson or csv", optarg);
            o->format = optarg;
            break;
        case 'h':
            if (o->usage)
                o->usage(stdout);
            o->status = 0;
            return JD_OPTS_EXIT;
        case ':':
            return jd_opts_usage_error(o, "option %s needs an argument", opts_typed(argc, argv, typed));
        case '?':
            return jd_opts_usage_error(o, "unknown option \"%s\"", opts_typed(argc, argv, typed));
        default:
            return c;
        }
        if (rc != 0) {
            fprintf(stderr, "journeyd %s: out of memory\n", o->cmd);
            o->status = 1;
            return JD_OPTS_EXIT;
        }
    }
}

jd_config_t *jd_opts_load(jd_opts_t *o)
{
    jd_err_t err = {{0}};
    jd_config_t *conf = NULL;
    if (o->format && jd_opts_add_x(o, strcmp(o->format, "csv") == 0
                                       ? "input.format=csv" : "input.format=ndjson") != 0) {
        fprintf(stderr, "journeyd %s: out of memory\n", o->cmd);
        return NULL;
    }
    if (o->format)
        o->format = NULL;   /* added once, even if called again */
    conf = jd_config_load(o->config, o->xs, o->nx, &err);
    if (!conf) {
        fprintf(stderr, "journeyd %s: %s\n", o->cmd, err.msg);
        return NULL;
    }
    /* log.format, log.level and JOURNEYD_LOG (an unknown value is a
     * configuration error like any other) */
    if (jd_log_configure(conf, &err)) {
        fprintf(stderr, "journeyd %s: %s\n", o->cmd, err.msg);
        jd_config_destroy(conf);
        return NULL;
    }
    return conf;
}

void jd_opts_usage_common(FILE *f, unsigned flags)
{
    fputs("  -c, --config FILE    JSON config (default: the built-in defaults = config/journeyd.json)\n"
          "  -X key=value         override a config key by dotted path, repeatable\n"
          "                       (-X time.lateness=2s, -X input.topics=a,b);\n"
          "                       -X kafka.<property>=value sets a librdkafka property\n", f);
    if (flags & JD_OPT_BROKERS)
        fputs("  -b BROKERS           = -X kafka.bootstrap.servers=BROKERS\n", f);
    if (flags & JD_OPT_TOPICS)
        fputs("  -t TOPICS            = -X input.topics=TOPICS (comma-separated)\n", f);
    if (flags & JD_OPT_FORMAT)
        fputs("  --format ndjson|csv  input.format for this run (wins over -X input.format)\n", f);
    fputs("  -h, --help           this help\n", f);
}

void jd_opts_free(jd_opts_t *o)
{
    for (size_t i = 0; i < o->nowned; i++)
        free(o->owned[i]);
    free(o->owned);
    free(o->xs);
    free(o->longopts);
    free(o->shortopts);
    o->owned = NULL;
    o->xs = NULL;
    o->longopts = NULL;
    o->shortopts = NULL;
    o->nowned = o->nx = o->capx = 0;
}

size_t jd_opts_warn_fields(const jd_opts_t *o, const jd_config_t *conf,
                           const unsigned char *seen, uint64_t nseen)
{
    size_t n = 0;
    for (uint32_t s = JD_SLOT__CANON; conf && s < conf->nslots; s++) {
        const jd_rule_t *r = jd_config_slot_rule(conf, s);
        if (!r || jd_config_slot_mapped(conf, s) || (seen && seen[s]))
            continue;
        fprintf(stderr, "journeyd %s: warning: rule \"%s\" uses field \"%s\", which is neither "
                "a canonical field (type, channel, session_id, page, element), nor mapped in "
                "\"fields\"", o->cmd, r->name, conf->slots[s].name);
        if (seen)
            fprintf(stderr, ", nor present in the first %" PRIu64 " records of the input", nseen);
        fprintf(stderr, ": it matches only events that carry it (misspelt?)\n");
        n++;
    }
    return n;
}
