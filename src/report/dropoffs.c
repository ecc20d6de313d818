/* --dropoffs-csv: one RFC 4180 row per funnel drop-off alert, streamed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "journeyd/report.h"

struct jd_dropoffs {
    FILE *f;
    char *path, *tmp;
    int write_error;
};

jd_dropoffs_t *jd_dropoffs_open(const char *path, jd_err_t *err)
{
    jd_dropoffs_t *d = calloc(1, sizeof(*d));
    size_t n = strlen(path) + 5;
    if (!d || !(d->path = strdup(path)) || !(d->tmp = malloc(n))) {
        jd_dropoffs_close(d, 0, NULL);
        jd_err_set(err, "out of memory");
        return NULL;
    }
    snprintf(d->tmp, n, "%s.tmp", path);
    if (!(d->f = fopen(d->tmp, "w"))) {
        jd_err_set(err, "cannot write %s: %s", d->tmp, strerror(errno));
        jd_dropoffs_close(d, 0, NULL);
        return NULL;
    }
    if (fputs("rule,alert_id,customer,identity,start,deadline,last_step,last_step_name,"
              "segment,struggles\n", d->f) == EOF)
        d->write_error = 1;
    return d;
}

/* A CSV field, quoted when it holds a delimiter, quote or line break. */
static void csv_field(FILE *f, const char *s, int last)
{
    if (!s)
        s = "";
    if (strpbrk(s, ",\"\r\n")) {
        putc('"', f);
        for (; *s; s++) {
            if (*s == '"')
                putc('"', f);
            putc(*s, f);
        }
        putc('"', f);
    } else {
        fputs(s, f);
    }
    putc(last ? '\n' : ',', f);
}

/* evidence.struggles as "rule:alert_id" entries joined by ';', then
 * "+N" when N more were omitted; malloc'd, NULL (an empty field) if none
 * or out of memory. */
static char *struggles_field(const json_t *ev)
{
    const json_t *strs = json_object_get(ev, "struggles");
    json_int_t more = json_integer_value(json_object_get(ev, "struggles_omitted"));
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m)
        return NULL;
    for (size_t i = 0; i < json_array_size(strs); i++) {
        const json_t *a = json_array_get(strs, i);
        const char *rule = json_string_value(json_object_get(a, "rule"));
        const char *id = json_string_value(json_object_get(a, "alert_id"));
        fprintf(m, "%s%s:%s", i ? ";" : "", rule ? rule : "", id ? id : "");
    }
    if (more > 0)
        fprintf(m, "%s+%" JSON_INTEGER_FORMAT, json_array_size(strs) ? ";" : "", more);
    if (fclose(m) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

int jd_dropoffs_alert(jd_dropoffs_t *d, const json_t *alert)
{
    const json_t *fun = json_object_get(alert, "funnel");
    if (!json_is_object(fun))
        return 0;
    const char *ident = json_string_value(json_object_get(alert, "identity"));
    const char *cust = json_string_value(json_object_get(alert, "customer_id"));
    if (!cust)
        cust = json_string_value(json_object_get(alert, "anonymous_id"));
    char step[24];
    snprintf(step, sizeof(step), "%" JSON_INTEGER_FORMAT,
             json_integer_value(json_object_get(fun, "last_step")));
    csv_field(d->f, json_string_value(json_object_get(alert, "rule")), 0);
    csv_field(d->f, json_string_value(json_object_get(alert, "alert_id")), 0);
    csv_field(d->f, cust, 0);
    csv_field(d->f, ident, 0);
    csv_field(d->f, json_string_value(json_object_get(alert, "first_ts")), 0);
    csv_field(d->f, json_string_value(json_object_get(alert, "ts")), 0);
    csv_field(d->f, step, 0);
    csv_field(d->f, json_string_value(json_object_get(fun, "last_step_name")), 0);
    /* segment: empty without breakdown_by, "(none)" when the step-1 event
     * lacked the field */
    const json_t *seg = json_object_get(fun, "segment");
    csv_field(d->f, json_is_string(seg) ? json_string_value(seg) : seg ? "(none)" : "", 0);
    char *strs = struggles_field(json_object_get(alert, "evidence"));
    csv_field(d->f, strs, 1);
    free(strs);
    if (ferror(d->f)) {
        d->write_error = 1;
        return -1;
    }
    return 0;
}

int jd_dropoffs_close(jd_dropoffs_t *d, int ok, jd_err_t *err)
{
    if (!d)
        return 0;
    int rc = 0;
    if (d->f) {
        if (fclose(d->f) != 0 || d->write_error) {
            if (ok)
                jd_err_set(err, "write error on %s", d->tmp);
            ok = 0;
            rc = -1;
        }
        if (ok && rename(d->tmp, d->path) != 0) {
            jd_err_set(err, "cannot rename %s to %s: %s", d->tmp, d->path, strerror(errno));
            ok = 0;
            rc = -1;
        }
        if (!ok)
            remove(d->tmp);
    }
    free(d->path);
    free(d->tmp);
    free(d);
    return rc;
}
