#include <stdarg.h>
#include <stdio.h>
#include "journeyd/common.h"

int jd_err_set(jd_err_t *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return -1;
}
