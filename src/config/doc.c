/*
 * The key reference as Markdown, generated from the key table: what
 * `journeyd check-config --keys` prints and the README embeds
 * (tests/e2e/t_docs.sh keeps them equal).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include "config_private.h"

static void config_doc_type(FILE *f, const config_prop_t *prop)
{
    switch (prop->type) {
    case CONFIG_T_KAFKA:    fputs("object", f); break;
    case CONFIG_T_STRING:   fputs("string", f); break;
    case CONFIG_T_STRLIST:  fputs("list of strings", f); break;
    case CONFIG_T_CHAR:     fputs("character", f); break;
    case CONFIG_T_BOOL:     fputs("boolean", f); break;
    case CONFIG_T_TIMEFMT:  fputs("time format", f); break;
    case CONFIG_T_RULES:    fputs("list of rules", f); break;
    case CONFIG_T_DURATION:
        fputs(prop->min > 0 ? "duration > 0" : "duration >= 0", f);
        if (prop->off)
            fputs(" or `off`", f);
        break;
    case CONFIG_T_ENUM:
        fputs("one of", f);
        for (size_t i = 0; prop->enums[i]; i++)
            fprintf(f, "%s `%s`", i ? "," : "", prop->enums[i]);
        break;
    case CONFIG_T_INT:
        if (prop->max == INT64_MAX)
            fprintf(f, "integer >= %" PRId64, prop->min);
        else
            fprintf(f, "integer %" PRId64 "..%" PRId64, prop->min, prop->max);
        break;
    }
}

static void config_doc_default(FILE *f, const config_prop_t *prop)
{
    if (prop->type == CONFIG_T_RULES) {
        fputs("the rules of contract section 5 (see `config/journeyd.json`)", f);
    } else if (prop->type == CONFIG_T_KAFKA) {
        json_t *obj = json_loads(prop->dflt, 0, NULL);
        const char *key;
        json_t *v;
        int first = 1;
        json_object_foreach(obj, key, v) {
            fprintf(f, "%s`%s=%s`", first ? "" : ", ", key, json_string_value(v));
            first = 0;
        }
        json_decref(obj);
    } else if (prop->dflt) {
        fprintf(f, "`%s`", prop->dflt);
    } else {
        fputs("(none)", f);
    }
}

char *jd_config_doc(void)
{
    char *doc = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&doc, &len);
    if (!f)
        return NULL;
    fputs("| key | type | default | description |\n|---|---|---|---|\n", f);
    for (size_t i = 0; i < config_nprops; i++) {
        const config_prop_t *prop = &config_props[i];
        fprintf(f, "| `%s` | ", prop->type == CONFIG_T_KAFKA ? "kafka.<property>" : prop->path);
        config_doc_type(f, prop);
        fputs(" | ", f);
        config_doc_default(f, prop);
        fprintf(f, " | %s |\n", prop->desc);
    }
    if (fclose(f) != 0) {
        free(doc);
        doc = NULL;
    }
    return doc;
}
