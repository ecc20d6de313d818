#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "journeyd/config.h"

int jd_json_real_str(double d, char *buf, size_t bufsz)
{
    int n = -1;
    /* 100.0 and 100 are the same value to a filter. The range test comes
     * first so the cast below is always defined. */
    if (d > -1e15 && d < 1e15 && d == (double)(int64_t)d) {
        n = snprintf(buf, bufsz, "%" PRId64, (int64_t)d);
    } else {
        /* Shortest form that reads back to the same double, so "35.79"
         * in a file and 35.79 in a filter compare equal. */
        for (int prec = 1; prec <= 17; prec++) {
            n = snprintf(buf, bufsz, "%.*g", prec, d);
            if (n > 0 && (size_t)n < bufsz && strtod(buf, NULL) == d)
                break;
        }
    }
    return (n > 0 && (size_t)n < bufsz) ? n : -1;
}

int jd_json_scalar_str(const json_t *v, char *buf, size_t bufsz)
{
    int n;
    switch (json_typeof(v)) {
    case JSON_STRING: {
        size_t len = json_string_length(v);
        if (len + 1 > bufsz)
            return -1;
        memcpy(buf, json_string_value(v), len);
        buf[len] = '\0';
        return (int)len;
    }
    case JSON_INTEGER:
        n = snprintf(buf, bufsz, "%" PRId64, (int64_t)json_integer_value(v));
        break;
    case JSON_REAL:
        return jd_json_real_str(json_real_value(v), buf, bufsz);
    case JSON_TRUE:
        n = snprintf(buf, bufsz, "true");
        break;
    case JSON_FALSE:
        n = snprintf(buf, bufsz, "false");
        break;
    default:
        return -1;
    }
    return (n > 0 && (size_t)n < bufsz) ? n : -1;
}
