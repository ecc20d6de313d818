/*
 * libFuzzer target for the config loader: the input bytes are a config
 * file given to jd_config_load (through a memfd, as a path), so JSON
 * parsing, the key table, every validator (durations, rules, filters,
 * pointers, time formats) and the rule compiler see hostile text. A config
 * that loads is dumped and the dump loaded again: the effective config
 * must round-trip (same dump), and nothing may leak or crash either way
 * (ASan's leak checker runs at exit and on -detect_leaks=1).
 *
 *   make fuzz && build/fuzz/fuzz_config -max_total_time=60 -dict=tests/fuzz/json.dict \
 *       build/fuzz/config-corpus tests/fuzz/config-corpus
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "journeyd/config.h"

static int memfd = -1;
static char memfd_path[64];

static int fuzz_write(const char *data, size_t size)
{
    return ftruncate(memfd, 0) == 0 && pwrite(memfd, data, size, 0) == (ssize_t)size ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (memfd < 0) {
        memfd = memfd_create("fuzz_config", 0);
        if (memfd < 0)
            abort();
        snprintf(memfd_path, sizeof(memfd_path), "/proc/self/fd/%d", memfd);
    }
    if (fuzz_write((const char *)data, size) != 0)
        return 0;
    jd_err_t err;
    jd_config_t *conf = jd_config_load(memfd_path, NULL, 0, &err);
    if (!conf) {
        /* An error always says something. */
        if (!err.msg[0])
            abort();
        return 0;
    }
    char *dump = jd_config_dump(conf);
    jd_config_destroy(conf);
    if (!dump)
        return 0;
    /* The dump is a config file too, and says the same thing again. */
    if (fuzz_write(dump, strlen(dump)) == 0) {
        jd_config_t *again = jd_config_load(memfd_path, NULL, 0, &err);
        if (!again) {
            fprintf(stderr, "the dump of a valid config does not load: %s\n%s\n", err.msg,
                    dump);
            abort();
        }
        char *dump2 = jd_config_dump(again);
        if (dump2 && strcmp(dump, dump2) != 0) {
            fprintf(stderr, "the dump does not round-trip:\n%s\n---\n%s\n", dump, dump2);
            abort();
        }
        free(dump2);
        jd_config_destroy(again);
    }
    free(dump);
    return 0;
}
