/* journeyd entry point: dispatch to the sub-commands. */
#include <stdio.h>
#include <string.h>
#include "journeyd/cmd.h"
#include "journeyd/common.h"

static const char usage[] =
    "journeyd " JD_VERSION " — customer journeys, drop-offs and struggle alerts from event streams\n"
    "\n"
    "usage:\n"
    "  journeyd run          [-c CONFIG] [-X key=value ...] [-b BROKERS] [-t TOPICS]\n"
    "      stream: consume input.topics, produce alerts to output.alerts_topic, until SIGTERM/SIGINT\n"
    "  journeyd replay       [-c CONFIG] [-X key=value ...] -i FILE|- [-i FILE ...] [-o FILE|-]\n"
    "                        [--format ndjson|csv] [--flush-at-end] [--dead-letter FILE|-]\n"
    "                        [--summary] [--summary-json FILE|-]\n"
    "      replay captured files (plain or gzip) and write alerts as NDJSON\n"
    "  journeyd produce      [-c CONFIG] [-X key=value ...] [-b BROKERS] -i FILE|-\n"
    "                        -t|--topic T [--speed X | --rate N] [--format ndjson|csv]\n"
    "      load a captured dataset into Kafka, keyed by customer identity\n"
    "  journeyd check-config [-c CONFIG] [-X key=value ...] | --keys\n"
    "      validate a config and print the effective config\n"
    "  journeyd demo         [-c CONFIG] [-X key=value ...] [-i FILE]\n"
    "      zero-install demo: the full Kafka path on librdkafka's embedded mock cluster\n"
    "  journeyd --help | --version\n"
    "\n"
    "options every command takes (journeyd CMD --help for the rest):\n"
    "  -c, --config FILE   JSON config (default: built-in defaults = config/journeyd.json)\n"
    "  -X key=value        override a config key by dotted path, repeatable (-X time.lateness=2s,\n"
    "                      -X input.topics=a,b); -X kafka.<prop>=v sets a librdkafka property\n"
    "  -b BROKERS          (run, produce) = -X kafka.bootstrap.servers=BROKERS\n"
    "  -t TOPICS           (run) = -X input.topics=TOPICS; (produce) = --topic\n"
    "\n"
    "exit status: 0 success, 1 runtime failure, 2 usage or configuration error,\n"
    "             3 (replay) ran, but most input was rejected (more than half dead letters)\n"
    "see README.md for the rule language, alert format and configuration keys\n";

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(usage, stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
        printf("journeyd %s\n", JD_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "replay"))
        return jd_cmd_replay(argc - 1, argv + 1);
    if (!strcmp(cmd, "check-config"))
        return jd_cmd_check_config(argc - 1, argv + 1);
    if (!strcmp(cmd, "run"))
        return jd_cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "produce"))
        return jd_cmd_produce(argc - 1, argv + 1);
    if (!strcmp(cmd, "demo"))
        return jd_cmd_demo(argc - 1, argv + 1);
    fprintf(stderr, "journeyd: unknown command \"%s\" (expected run, replay, produce, "
                    "check-config, demo, --help or --version)\n", cmd);
    return 2;
}
