/*
 * bench/floor.c — the parsing floor for `make bench`.
 *
 *   floor FILE
 *
 * Reads FILE (NDJSON) line by line into one buffer, parses each line with
 * jansson (json_loadb), reads the canonical fields (ts, customer_id,
 * anonymous_id, type, channel, event_id, session_id, page, element) with
 * json_object_get + json_string_value, and does nothing else: the lengths
 * and first bytes go into a checksum so the reads are not optimised away.
 * One thread. Times the loop only (CLOCK_MONOTONIC) and prints
 *
 *   floor: EVENTS events, BYTES bytes in SECONDS s: EPS events/s (checksum X)
 *
 * and, on the last line of stdout, just EPS for scripts. This is the cost
 * any jansson-based reader of the same file must pay; journeyd replay's
 * throughput divided by this is the bench's headline ratio.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const fields[] = {
    "ts", "customer_id", "anonymous_id", "type", "channel",
    "event_id", "session_id", "page", "element",
};
#define NFIELDS (sizeof fields / sizeof fields[0])

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: floor FILE\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "r");
    if (!f) {
        fprintf(stderr, "floor: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    uint64_t events = 0, bad = 0, bytes = 0, sum = 0;
    json_error_t jerr;

    double t0 = now_s();
    while ((len = getline(&line, &cap, f)) > 0) {
        bytes += (uint64_t)len;
        if (line[len - 1] == '\n')
            len--;
        json_t *obj = json_loadb(line, (size_t)len, 0, &jerr);
        if (!obj) {
            bad++;
            continue;
        }
        for (size_t i = 0; i < NFIELDS; i++) {
            const char *s = json_string_value(json_object_get(obj, fields[i]));
            if (s)
                sum = sum * 31 + (uint64_t)(unsigned char)s[0] + strlen(s);
        }
        json_decref(obj);
        events++;
    }
    double dt = now_s() - t0;
    free(line);
    if (ferror(f)) {
        fprintf(stderr, "floor: %s: read error: %s\n", argv[1], strerror(errno));
        fclose(f);
        return 1;
    }
    fclose(f);
    if (!events || dt <= 0) {
        fprintf(stderr, "floor: %s: no events\n", argv[1]);
        return 1;
    }
    double eps = (double)events / dt;
    printf("floor: %llu events (%llu unparsable), %llu bytes in %.3f s: %.0f events/s "
           "(checksum %016llx)\n",
           (unsigned long long)events, (unsigned long long)bad,
           (unsigned long long)bytes, dt, eps, (unsigned long long)sum);
    printf("%.0f\n", eps);
    return 0;
}
