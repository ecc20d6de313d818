/* Unit tests for src/config/: defaults, rule compilation, -X overrides,
 * error positions, dump round-trips and the invalid-config suite. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "journeyd/config.h"
#include "journeyd/event.h"

/* Tests run from the repository root (make unit). */
#define SHIPPED_CONFIG "config/journeyd.json"
#define INVALID_DIR "tests/invalid/config"

typedef struct tmpfile_s {
    char path[64];
} tmpconf_t;

/* Writes text to a fresh temporary file; the caller unlinks t->path. */
static void tmp_write(tmpconf_t *t, const char *text)
{
    strcpy(t->path, "/tmp/jd_test_config_XXXXXX");
    int fd = mkstemp(t->path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
}

static jd_config_t *load_text(const char *text, const char *const *ov, size_t nov, jd_err_t *err)
{
    tmpconf_t t;
    tmp_write(&t, text);
    jd_config_t *conf = jd_config_load(t.path, ov, nov, err);
    unlink(t.path);
    return conf;
}

static jd_config_t *load_ok(const char *text, const char *const *ov, size_t nov)
{
    jd_err_t err = {{0}};
    jd_config_t *conf = load_text(text, ov, nov, &err);
    if (!conf)
        fail_msg("load failed: %s", err.msg);
    return conf;
}

/* Loads text expecting failure; checks the message contains each of the
 * given substrings (NULL-terminated). */
static void load_fails(const char *text, const char *const *ov, size_t nov, ...)
{
    jd_err_t err = {{0}};
    jd_config_t *conf = text ? load_text(text, ov, nov, &err) : jd_config_load(NULL, ov, nov, &err);
    if (conf) {
        jd_config_destroy(conf);
        fail_msg("config was accepted");
    }
    va_list ap;
    va_start(ap, nov);
    for (const char *want; (want = va_arg(ap, const char *)); ) {
        if (!strstr(err.msg, want)) {
            va_end(ap);
            fail_msg("error \"%s\" lacks \"%s\"", err.msg, want);
        }
    }
    va_end(ap);
}

static const char *intern(jd_config_t *conf, const char *s)
{
    return jd_intern_str(conf->intern, s);
}

static void assert_cond(jd_config_t *conf, const jd_match_cond_t *c, uint32_t slot,
                        uint32_t nvalues, ...)
{
    assert_int_equal(c->slot, slot);
    assert_int_equal(c->nvalues, nvalues);
    va_list ap;
    va_start(ap, nvalues);
    for (uint32_t i = 0; i < nvalues; i++) {
        const char *want = va_arg(ap, const char *);
        /* Interned: equal strings are the same pointer. */
        assert_ptr_equal(c->values[i], intern(conf, want));
    }
    va_end(ap);
}

static void test_destroy_null(void **state)
{
    jd_config_destroy(NULL);
    assert_null(jd_config_rule(NULL, "x"));
}

static void test_defaults(void **state)
{
    jd_err_t err = {{0}};
    jd_config_t *conf = jd_config_load(NULL, NULL, 0, &err);
    assert_non_null(conf);
    assert_string_equal(json_string_value(json_object_get(conf->kafka, "bootstrap.servers")),
                        "127.0.0.1:9092");
    assert_string_equal(json_string_value(json_object_get(conf->kafka, "group.id")), "journeyd");
    assert_int_equal(json_object_size(conf->kafka), 2);
    assert_int_equal(conf->ntopics, 1);
    assert_string_equal(conf->topics[0], "cx.events");
    assert_int_equal(conf->input_csv, 0);
    assert_int_equal(conf->csv_delimiter, ',');
    assert_int_equal(conf->csv_header, 1);
    assert_string_equal(conf->alerts_topic, "cx.alerts");
    assert_string_equal(conf->dead_letter_topic, "cx.events.dlq");
    for (int f = 0; f < JD_FIELD__COUNT; f++) {
        assert_string_equal(conf->fields[f], jd_field_names[f]);
        if (f == JD_FIELD_CHANNEL)
            assert_string_equal(conf->defaults[f], "unknown");
        else
            assert_null(conf->defaults[f]);
    }
    assert_int_equal(conf->time_format.kind, JD_TIME_AUTO);
    assert_null(conf->time_format.pattern);
    assert_int_equal(conf->lateness_ms, 5000);
    assert_int_equal(conf->idle_advance_ms, 30000);
    assert_int_equal(conf->retention_ms, INT64_C(7) * 86400000);
    assert_int_equal(conf->history, 16);
    assert_int_equal(conf->alert_context, 10);
    assert_int_equal(conf->max_customers, 1000000);
    assert_int_equal(conf->guarantee, JD_GUARANTEE_AT_LEAST_ONCE);
    assert_int_equal(conf->threads, 1);
    assert_int_equal(conf->commit_interval_ms, 1000);
    assert_int_equal(conf->nrules, 7);

    /* The default rules name only canonical fields. */
    assert_int_equal(conf->nslots, JD_SLOT__CANON);
    static const struct { uint32_t slot; int field; } canon[] = {
        { JD_SLOT_TYPE, JD_FIELD_TYPE }, { JD_SLOT_CHANNEL, JD_FIELD_CHANNEL },
        { JD_SLOT_SESSION, JD_FIELD_SESSION_ID }, { JD_SLOT_PAGE, JD_FIELD_PAGE },
        { JD_SLOT_ELEMENT, JD_FIELD_ELEMENT },
    };
    for (size_t i = 0; i < sizeof(canon) / sizeof(canon[0]); i++) {
        const jd_slot_t *s = &conf->slots[canon[i].slot];
        assert_string_equal(s->name, jd_field_names[canon[i].field]);
        assert_string_equal(s->source, jd_field_names[canon[i].field]);
        assert_int_equal(s->field, canon[i].field);
        if (canon[i].field == JD_FIELD_CHANNEL)
            assert_ptr_equal(s->dflt, intern(conf, "unknown"));
        else
            assert_null(s->dflt);
    }
    jd_config_destroy(conf);
}

static void test_default_rules(void **state)
{
    jd_err_t err = {{0}};
    jd_config_t *conf = jd_config_load(NULL, NULL, 0, &err);
    assert_non_null(conf);
    static const char *const names[] = { "rage_click", "error_burst", "login_failures",
        "page_loop", "checkout_dropoff", "channel_escalation", "repeat_contact" };
    for (uint32_t i = 0; i < 7; i++) {
        assert_string_equal(conf->rules[i].name, names[i]);
        assert_int_equal(conf->rules[i].index, i);
        assert_ptr_equal(jd_config_rule(conf, names[i]), &conf->rules[i]);
    }
    assert_null(jd_config_rule(conf, "nope"));

    const jd_rule_t *r = &conf->rules[0]; /* rage_click */
    assert_int_equal(r->kind, JD_RULE_BURST);
    assert_int_equal(r->severity, JD_SEV_MEDIUM);
    assert_int_equal(r->match.nconds, 1);
    assert_cond(conf, &r->match.conds[0], JD_SLOT_TYPE, 1, "click");
    assert_int_equal(r->nsame, 2);
    assert_int_equal(r->same[0], JD_SLOT_PAGE);
    assert_int_equal(r->same[1], JD_SLOT_ELEMENT);
    assert_int_equal(r->count, 3);
    assert_int_equal(r->gap_ms, 1000);
    assert_int_equal(r->within_ms, 0);
    assert_int_equal(r->cooldown_ms, 0);

    r = &conf->rules[1]; /* error_burst */
    assert_cond(conf, &r->match.conds[0], JD_SLOT_TYPE, 1, "error");
    assert_int_equal(r->nsame, 0);
    assert_int_equal(r->count, 3);
    assert_int_equal(r->gap_ms, 0);
    assert_int_equal(r->within_ms, 60000);

    assert_int_equal(conf->rules[2].within_ms, 600000);
    r = &conf->rules[3]; /* page_loop */
    assert_int_equal(r->severity, JD_SEV_LOW);
    assert_int_equal(r->nsame, 1);
    assert_int_equal(r->same[0], JD_SLOT_PAGE);
    assert_int_equal(r->within_ms, 15000);

    r = &conf->rules[4]; /* checkout_dropoff */
    assert_int_equal(r->kind, JD_RULE_FUNNEL);
    assert_int_equal(r->severity, JD_SEV_HIGH);
    assert_int_equal(r->within_ms, 30 * 60000);
    assert_int_equal(r->nsteps, 3);
    assert_string_equal(r->steps[0].name, "add_to_cart");
    assert_string_equal(r->steps[1].name, "checkout_start");
    assert_string_equal(r->steps[2].name, "purchase");
    assert_cond(conf, &r->steps[1].match.conds[0], JD_SLOT_TYPE, 1, "checkout_start");

    r = &conf->rules[5]; /* channel_escalation */
    assert_int_equal(r->kind, JD_RULE_SEQUENCE);
    assert_int_equal(r->within_ms, INT64_C(24) * 3600000);
    assert_int_equal(r->nfirst, 2);
    assert_false(r->first[0].is_alert);
    assert_cond(conf, &r->first[0].match.conds[0], JD_SLOT_TYPE, 3,
                "error", "payment_failed", "login_failed");
    assert_true(r->first[1].is_alert);
    assert_int_equal(r->first[1].nrules, 4);
    assert_int_equal(r->first[1].rules[0], 0);
    assert_int_equal(r->first[1].rules[1], 1);
    assert_int_equal(r->first[1].rules[2], 2);
    assert_int_equal(r->first[1].rules[3], 4);
    assert_int_equal(r->nthen, 1);
    assert_int_equal(r->then[0].nconds, 2);
    assert_cond(conf, &r->then[0].conds[0], JD_SLOT_TYPE, 1, "support_contact");
    assert_cond(conf, &r->then[0].conds[1], JD_SLOT_CHANNEL, 3, "call", "chat", "email");

    r = &conf->rules[6]; /* repeat_contact */
    assert_int_equal(r->count, 2);
    assert_int_equal(r->within_ms, INT64_C(7) * 86400000);
    jd_config_destroy(conf);
}

static void test_shipped_config_is_builtin(void **state)
{
    jd_err_t err = {{0}};
    jd_config_t *builtin = jd_config_load(NULL, NULL, 0, &err);
    jd_config_t *shipped = jd_config_load(SHIPPED_CONFIG, NULL, 0, &err);
    if (!shipped)
        fail_msg("%s: %s", SHIPPED_CONFIG, err.msg);
    assert_non_null(builtin);
    char *a = jd_config_dump(builtin), *b = jd_config_dump(shipped);
    assert_string_equal(a, b);
    free(a);
    free(b);
    jd_config_destroy(builtin);
    jd_config_destroy(shipped);
}

/* Dump -> load -> dump gives the same text. */
static void assert_round_trip(jd_config_t *conf)
{
    char *dump = jd_config_dump(conf);
    assert_non_null(dump);
    jd_config_t *again = load_ok(dump, NULL, 0);
    char *dump2 = jd_config_dump(again);
    assert_string_equal(dump, dump2);
    free(dump);
    free(dump2);
    jd_config_destroy(again);
}

static void test_dump_round_trip(void **state)
{
    jd_err_t err = {{0}};
    jd_config_t *conf = jd_config_load(NULL, NULL, 0, &err);
    assert_non_null(conf);
    assert_round_trip(conf);
    jd_config_destroy(conf);

    static const char *const ov[] = { "input.csv.delimiter=\\t", "time.format=%Y-%m-%d",
                                      "journey.retention=3600000", "defaults.page=/" };
    conf = jd_config_load(NULL, ov, 4, &err);
    assert_non_null(conf);
    assert_round_trip(conf);
    jd_config_destroy(conf);
}

static void test_overrides(void **state)
{
    static const char *const ov[] = {
        "time.lateness=2s", "input.topics=a,b", "kafka.security.protocol=SASL_SSL",
        "processing.threads=2", "input.csv.delimiter=\\t", "defaults.type=message",
        "journey.history=20", "input.format=csv", "processing.guarantee=exactly_once",
        "time.lateness=3s", "journey.max_customers=5",
    };
    jd_err_t err = {{0}};
    jd_config_t *conf = jd_config_load(NULL, ov, sizeof(ov) / sizeof(ov[0]), &err);
    if (!conf)
        fail_msg("%s", err.msg);
    assert_int_equal(conf->lateness_ms, 3000); /* the last -X wins */
    assert_int_equal(conf->ntopics, 2);
    assert_string_equal(conf->topics[0], "a");
    assert_string_equal(conf->topics[1], "b");
    assert_string_equal(json_string_value(json_object_get(conf->kafka, "security.protocol")),
                        "SASL_SSL");
    assert_string_equal(json_string_value(json_object_get(conf->kafka, "group.id")), "journeyd");
    assert_int_equal(conf->threads, 2);
    assert_int_equal(conf->csv_delimiter, '\t');
    assert_string_equal(conf->defaults[JD_FIELD_TYPE], "message");
    assert_ptr_equal(conf->slots[JD_SLOT_TYPE].dflt, intern(conf, "message"));
    assert_int_equal(conf->history, 20);
    assert_int_equal(conf->input_csv, 1);
    assert_int_equal(conf->guarantee, JD_GUARANTEE_EXACTLY_ONCE);
    assert_int_equal(conf->max_customers, 5);

    const json_t *eff = conf->effective;
    assert_string_equal(json_string_value(json_object_get(json_object_get(eff, "time"),
                                                          "lateness")), "3s");
    const json_t *topics = json_object_get(json_object_get(eff, "input"), "topics");
    assert_int_equal(json_array_size(topics), 2);
    assert_string_equal(json_string_value(json_array_get(topics, 1)), "b");
    jd_config_destroy(conf);

    /* -X also applies on top of a file, and kafka values become strings. */
    static const char *const ov2[] = { "kafka.linger.ms=7", "fields.page=/properties/page" };
    conf = load_ok("{\"kafka\": {\"queue.buffering.max.ms\": 5, \"enable.idempotence\": true},"
                   " \"time\": {\"lateness\": 250}}", ov2, 2);
    assert_string_equal(json_string_value(json_object_get(conf->kafka, "queue.buffering.max.ms")), "5");
    assert_string_equal(json_string_value(json_object_get(conf->kafka, "enable.idempotence")), "true");
    assert_string_equal(json_string_value(json_object_get(conf->kafka, "linger.ms")), "7");
    assert_string_equal(json_string_value(json_object_get(conf->kafka, "bootstrap.servers")),
                        "127.0.0.1:9092");
    assert_int_equal(conf->lateness_ms, 250);
    assert_string_equal(conf->slots[JD_SLOT_PAGE].source, "/properties/page");
    assert_string_equal(conf->slots[JD_SLOT_PAGE].name, "page");
    jd_config_destroy(conf);
}

static void test_override_errors(void **state)
{
    static const char *const bad_duration[] = { "time.lateness=abc" };
    load_fails(NULL, bad_duration, 1,
               "-X time.lateness=abc: expected a duration from 0 to 36525d (100 years), such as "
               "250ms, 15s, 10m, 24h, 7d or integer ms",
               NULL);
    static const char *const no_eq[] = { "time.lateness" };
    load_fails(NULL, no_eq, 1, "-X time.lateness: expected key=value", NULL);
    static const char *const unknown[] = { "time.latenes=1s" };
    load_fails(NULL, unknown, 1, "-X time.latenes=1s: unknown key \"time.latenes\"",
               "time.lateness", "time.idle_advance", NULL);
    static const char *const unknown_top[] = { "color=red" };
    load_fails(NULL, unknown_top, 1, "unknown key \"color\"", "kafka.<property>", "journey.*", NULL);
    static const char *const section[] = { "input.csv=;" };
    load_fails(NULL, section, 1, "input.csv.delimiter, input.csv.header", NULL);
    static const char *const rules[] = { "rules[0].count=5" };
    load_fails(NULL, rules, 1, "-X rules[0].count=5: rules cannot be changed with -X", NULL);
    static const char *const kafka[] = { "kafka.no.such.property=1" };
    load_fails(NULL, kafka, 1, "-X kafka.no.such.property=1: No such configuration property", NULL);
    static const char *const range[] = { "processing.threads=100" };
    load_fails(NULL, range, 1, "-X processing.threads=100: expected an integer in 1..64", NULL);
    static const char *const notint[] = { "journey.history=lots" };
    load_fails(NULL, notint, 1, "-X journey.history=lots: expected an integer in 1..1024", NULL);
    static const char *const boolean[] = { "input.csv.header=yes" };
    load_fails(NULL, boolean, 1, "-X input.csv.header=yes: expected true or false", NULL);
    static const char *const topics[] = { "input.topics=a,,b" };
    load_fails(NULL, topics, 1, "-X input.topics=a,,b: expected a non-empty list", NULL);
    static const char *const limits[] = { "journey.history=5" };
    load_fails(NULL, limits, 1, "-X journey.history=5: expected at least journey.alert_context (10)",
               NULL);
}

/* Durations: above 0 and at most 100 years (36525d), except lateness and
 * idle_advance (0 allowed) and max_future ("off" = 0). */
static void test_duration_bounds(void **state)
{
    static const char *const ok[] = {
        "time.lateness=0", "time.idle_advance=0", "time.max_future=off",
        "journey.retention=36525d", "processing.commit_interval=1",
    };
    jd_config_t *conf = load_ok("{}", ok, 5);
    assert_int_equal(conf->lateness_ms, 0);
    assert_int_equal(conf->idle_advance_ms, 0);
    assert_int_equal(conf->max_future_ms, 0);
    assert_true(conf->retention_ms == JD_CONFIG_DURATION_MAX_MS);
    assert_true(JD_CONFIG_DURATION_MAX_MS == 36525LL * 86400000LL);
    assert_int_equal(conf->commit_interval_ms, 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(conf->effective, "time"),
                                                          "max_future")), "off");
    jd_config_destroy(conf);

    conf = load_ok("{\"time\": {\"max_future\": \"2h\"}, \"rules\": [{\"name\": \"r\", "
                   "\"kind\": \"burst\", \"match\": {}, \"count\": 2, \"within\": \"36525d\", "
                   "\"cooldown\": 1}]}", NULL, 0);
    assert_int_equal(conf->max_future_ms, 7200000);
    assert_true(conf->rules[0].within_ms == JD_CONFIG_DURATION_MAX_MS);
    assert_int_equal(conf->rules[0].cooldown_ms, 1);
    jd_config_destroy(conf);

    static const char *const too_long[] = { "journey.retention=36526d" };
    load_fails(NULL, too_long, 1, "-X journey.retention=36526d: expected a duration from 1ms "
               "to 36525d (100 years)", NULL);
    static const char *const too_many_ms[] = { "time.lateness=3155760000001" };
    load_fails(NULL, too_many_ms, 1, "-X time.lateness=3155760000001: expected a duration from 0 to", NULL);
    static const char *const zero[] = { "processing.commit_interval=0" };
    load_fails(NULL, zero, 1, "-X processing.commit_interval=0: expected a duration from 1ms", NULL);
    static const char *const future_zero[] = { "time.max_future=0" };
    load_fails(NULL, future_zero, 1, "-X time.max_future=0: expected off or a duration from 1ms", NULL);
    static const char *const off_elsewhere[] = { "journey.retention=off" };
    load_fails(NULL, off_elsewhere, 1, "-X journey.retention=off: expected a duration", NULL);
    load_fails("{\"rules\": [{\"name\": \"r\", \"kind\": \"burst\", \"match\": {}, "
               "\"count\": 2, \"within\": \"1s\", \"cooldown\": 0}]}", NULL, 0,
               ":1:96: rules[0].cooldown: expected a duration from 1ms", ", got 0", NULL);
}

/* http.listen: host:port or off, kept as the string ("off" included). */
static void test_http_listen(void **state)
{
    static const char *const off[] = { "http.listen=off" };
    jd_config_t *conf = load_ok("{}", off, 1);
    assert_string_equal(conf->http_listen, "off");
    jd_config_destroy(conf);
    conf = load_ok("{\"http\": {\"listen\": \"[::1]:9646\"}}", NULL, 0);
    assert_string_equal(conf->http_listen, "[::1]:9646");
    jd_config_destroy(conf);
    conf = load_ok("{}", NULL, 0);
    assert_string_equal(conf->http_listen, "127.0.0.1:9646");
    jd_config_destroy(conf);
    static const char *const noport[] = { "http.listen=localhost" };
    load_fails(NULL, noport, 1, "-X http.listen=localhost: expected host:port", NULL);
    /* port 0: any free port (instances side by side) */
    static const char *const port0[] = { "http.listen=0.0.0.0:0" };
    conf = load_ok("{}", port0, 1);
    assert_string_equal(conf->http_listen, "0.0.0.0:0");
    jd_config_destroy(conf);
    static const char *const port_big[] = { "http.listen=0.0.0.0:65536" };
    load_fails(NULL, port_big, 1,
               "-X http.listen=0.0.0.0:65536: expected host:port with a port in 0..65535", NULL);
}

/* A -X whose value or key is not UTF-8 is named precisely (it used to be
 * reported as "out of memory"). */
static void test_override_not_utf8(void **state)
{
    static const char *const value[] = { "time.lateness=5s", "output.alerts_topic=caf\xc3" };
    load_fails(NULL, value, 2, "-X output.alerts_topic=...: value is not valid UTF-8", NULL);
    static const char *const kafka[] = { "kafka.client.id=\xff\xfe" };
    load_fails(NULL, kafka, 1, "-X kafka.client.id=...: value is not valid UTF-8", NULL);
    static const char *const overlong[] = { "input.topics=\xc0\xaf" };
    load_fails(NULL, overlong, 1, "-X input.topics=...: value is not valid UTF-8", NULL);
    static const char *const key[] = { "ti\xffme.lateness=1s" };
    load_fails(NULL, key, 1, "-X: the key is not valid UTF-8", NULL);
    static const char *const fine[] = { "input.topics=caf\xc3\xa9,\xf0\x9f\x9b\x92" };
    jd_config_t *conf = load_ok("{}", fine, 1);
    assert_string_equal(conf->topics[0], "caf\xc3\xa9");
    assert_string_equal(conf->topics[1], "\xf0\x9f\x9b\x92");
    jd_config_destroy(conf);
}

/* Rule fields known from the config alone: canonical or mapped in "fields". */
static void test_slot_mapped(void **state)
{
    jd_config_t *conf = load_ok(
        "{\"fields\": {\"type\": \"event_type\"}, \"rules\": ["
        "{\"name\": \"a\", \"kind\": \"burst\", \"match\": {\"typ\": \"x\"}, "
        "\"count\": 2, \"within\": \"1s\"},"
        "{\"name\": \"b\", \"kind\": \"funnel\", \"within\": \"1m\", \"steps\": ["
        "{\"name\": \"s1\", \"match\": {\"event_type\": \"x\"}},"
        "{\"name\": \"s2\", \"match\": {\"page\": \"p\", \"price\": 3}}]}]}", NULL, 0);
    uint32_t typ = JD_SLOT__CANON, evtype = JD_SLOT__CANON + 1, price = JD_SLOT__CANON + 2;
    assert_int_equal(conf->nslots, JD_SLOT__CANON + 3);
    assert_string_equal(conf->slots[typ].name, "typ");
    assert_string_equal(conf->slots[price].name, "price");
    assert_true(jd_config_slot_mapped(conf, JD_SLOT_PAGE));
    assert_false(jd_config_slot_mapped(conf, typ));
    assert_true(jd_config_slot_mapped(conf, evtype));
    assert_false(jd_config_slot_mapped(conf, price));
    assert_false(jd_config_slot_mapped(conf, conf->nslots));
    assert_string_equal(jd_config_slot_rule(conf, typ)->name, "a");
    assert_string_equal(jd_config_slot_rule(conf, price)->name, "b");
    assert_string_equal(jd_config_slot_rule(conf, JD_SLOT_PAGE)->name, "b");
    assert_null(jd_config_slot_rule(conf, JD_SLOT_CHANNEL));
    jd_config_destroy(conf);
}

static void test_file_errors(void **state)
{
    load_fails("{\n  \"time\": {\"lateness\": \"abc\"}\n}\n", NULL, 0,
               ":2:24: time.lateness: expected a duration", ", got \"abc\"", NULL);
    load_fails("{\n  \"rules\": [\n    {\"name\": \"a\", \"kind\": \"burst\", \"match\": {},"
               " \"count\": 3, \"gap\": \"1s\"},\n    {\"name\": \"b\", \"kind\": \"burst\","
               " \"match\": {},\n     \"count\": 3, \"within\": \"1s\"},\n"
               "    {\"name\": \"c\", \"kind\": \"burst\", \"match\": {},\n"
               "     \"count\": \"three\", \"gap\": \"1s\"}\n  ]\n}\n", NULL, 0,
               ":7:15: rules[2].count: expected a positive integer, got \"three\"", NULL);
    load_fails("{\n  \"inptu\": {}\n}\n", NULL, 0,
               ":2:3: unknown key \"inptu\" (expected one of: kafka, input, output, fields, "
               "defaults, time, journey, processing, http, log, rules)", NULL);
    load_fails("{\"time\": {\"lateness\": }}", NULL, 0, ":1:23: ", "unexpected token", NULL);
    load_fails("{\"time\": {}, \"time\": {}}", NULL, 0, "duplicate object key", NULL);
    load_fails("{\"journey\": {\"history\": 4}}", NULL, 0,
               ":1:25: journey.history: expected at least journey.alert_context (10), got 4", NULL);
    jd_err_t err = {{0}};
    assert_null(jd_config_load("/nonexistent/journeyd.json", NULL, 0, &err));
    assert_non_null(strstr(err.msg, "cannot open /nonexistent/journeyd.json: "));
}

static void test_extra_slots(void **state)
{
    jd_config_t *conf = load_ok(
        "{\"rules\": [\n"
        " {\"name\": \"pricey\", \"kind\": \"burst\", \"count\": 2, \"within\": 1000,\n"
        "  \"match\": {\"price\": 35.79, \"/properties/page\": \"/x\", \"in_stock\": true,\n"
        "            \"qty\": [1, 2], \"type\": \"view\"},\n"
        "  \"same\": [\"/properties/page\", \"session_id\"], \"cooldown\": \"10m\"},\n"
        " {\"name\": \"cheap\", \"kind\": \"sequence\", \"within\": \"1h\",\n"
        "  \"first\": {\"alert\": \"pricey\"},\n"
        "  \"then\": [{\"price\": 2.25}, {\"price\": -0.5, \"event_type\": \"x\"}]}\n"
        "]}", NULL, 0);
    assert_int_equal(conf->nrules, 2);
    assert_int_equal(conf->nslots, JD_SLOT__CANON + 5);
    static const char *const extras[] = { "price", "/properties/page", "in_stock", "qty" };
    for (uint32_t i = 0; i < 4; i++) {
        const jd_slot_t *s = &conf->slots[JD_SLOT__CANON + i];
        assert_string_equal(s->name, extras[i]);
        assert_string_equal(s->source, extras[i]);
        assert_int_equal(s->field, -1);
        assert_null(s->dflt);
    }
    const jd_rule_t *r = &conf->rules[0];
    assert_int_equal(r->within_ms, 1000);
    assert_int_equal(r->cooldown_ms, 600000);
    assert_int_equal(r->match.nconds, 5);
    assert_cond(conf, &r->match.conds[0], JD_SLOT__CANON + 0, 1, "35.79");
    assert_cond(conf, &r->match.conds[1], JD_SLOT__CANON + 1, 1, "/x");
    assert_cond(conf, &r->match.conds[2], JD_SLOT__CANON + 2, 1, "true");
    assert_cond(conf, &r->match.conds[3], JD_SLOT__CANON + 3, 2, "1", "2");
    assert_cond(conf, &r->match.conds[4], JD_SLOT_TYPE, 1, "view");
    assert_int_equal(r->nsame, 2);
    assert_int_equal(r->same[0], JD_SLOT__CANON + 1);
    assert_int_equal(r->same[1], JD_SLOT_SESSION);

    /* The same extra name shares its slot; a new one is appended. */
    r = &conf->rules[1];
    assert_int_equal(r->first[0].nrules, 1);
    assert_int_equal(r->first[0].rules[0], 0);
    assert_int_equal(r->nthen, 2);
    assert_cond(conf, &r->then[0].conds[0], JD_SLOT__CANON + 0, 1, "2.25");
    assert_cond(conf, &r->then[1].conds[0], JD_SLOT__CANON + 0, 1, "-0.5");
    assert_int_equal(conf->nslots, JD_SLOT__CANON + 5);
    assert_string_equal(conf->slots[JD_SLOT__CANON + 4].name, "event_type");
    assert_cond(conf, &r->then[1].conds[1], JD_SLOT__CANON + 4, 1, "x");
    jd_config_destroy(conf);
}

/* Match values are the strings the decoder makes of event values. */
static void test_match_values_like_decoder(void **state)
{
    static const char *const vals[] = { "35.79", "0.1", "1e+300", "42", "-7", "false", "3.5" };
    jd_config_t *conf = load_ok(
        "{\"rules\": [{\"name\": \"r\", \"kind\": \"burst\", \"count\": 1, \"gap\": 5,\n"
        " \"match\": {\"v\": [35.79, 0.1, 1e300, 42, -7, false, 3.50]}}]}", NULL, 0);
    const jd_match_cond_t *c = &conf->rules[0].match.conds[0];
    assert_int_equal(c->nvalues, 7);
    for (uint32_t i = 0; i < c->nvalues; i++) {
        json_error_t jerr;
        char buf[64];
        json_t *v = json_loads(vals[i], JSON_DECODE_ANY, &jerr);
        assert_non_null(v);
        assert_true(jd_json_scalar_str(v, buf, sizeof(buf)) > 0);
        assert_ptr_equal(c->values[i], intern(conf, buf));
        json_decref(v);
    }
    assert_string_equal(c->values[0], "35.79");
    jd_config_destroy(conf);
}

/* The shared datasets' documented mappings load. */
static void test_dataset_mappings(void **state)
{
    jd_config_t *conf = load_ok(
        "{\"input\": {\"format\": \"csv\"},\n"
        " \"fields\": {\"ts\": \"event_time\", \"type\": \"event_type\", \"customer_id\": \"user_id\",\n"
        "            \"session_id\": \"user_session\"},\n"
        " \"defaults\": {\"channel\": \"web\"},\n"
        " \"time\": {\"format\": \"%Y-%m-%d %H:%M:%S UTC\"}}", NULL, 0);
    assert_int_equal(conf->input_csv, 1);
    assert_int_equal(conf->time_format.kind, JD_TIME_STRFTIME);
    assert_string_equal(conf->time_format.pattern, "%Y-%m-%d %H:%M:%S UTC");
    assert_string_equal(conf->fields[JD_FIELD_TS], "event_time");
    assert_string_equal(conf->slots[JD_SLOT_TYPE].source, "event_type");
    assert_string_equal(conf->slots[JD_SLOT_SESSION].source, "user_session");
    assert_ptr_equal(conf->slots[JD_SLOT_CHANNEL].dflt, intern(conf, "web"));
    assert_int_equal(conf->nrules, 7); /* no "rules": the built-in ones */
    jd_config_destroy(conf);

    conf = load_ok("{\"input\": {\"format\": \"csv\", \"csv\": {\"delimiter\": \"\\t\"}},\n"
                   " \"fields\": {\"anonymous_id\": \"SessionId\", \"ts\": \"Time\"},\n"
                   " \"defaults\": {\"type\": \"click\"}, \"time\": {\"format\": \"epoch_s\"},\n"
                   " \"rules\": []}", NULL, 0);
    assert_int_equal(conf->csv_delimiter, '\t');
    assert_int_equal(conf->time_format.kind, JD_TIME_EPOCH_S);
    assert_ptr_equal(conf->slots[JD_SLOT_TYPE].dflt, intern(conf, "click"));
    assert_int_equal(conf->nrules, 0);
    assert_round_trip(conf);
    jd_config_destroy(conf);
}

static void test_doc(void **state)
{
    char *doc = jd_config_doc();
    assert_non_null(doc);
    assert_non_null(strstr(doc, "| key | type | default | description |\n"));
    assert_non_null(strstr(doc, "| `time.lateness` | duration >= 0 | `\"5s\"` |"));
    assert_non_null(strstr(doc, "| `time.max_future` | duration > 0 or `off` | `\"1h\"` |"));
    assert_non_null(strstr(doc, "| `journey.retention` | duration > 0 | `\"7d\"` |"));
    assert_non_null(strstr(doc, "| `journey.history` | integer 1..1024 | `16` |"));
    assert_non_null(strstr(doc, "| `kafka.<property>` | object | `bootstrap.servers=127.0.0.1:9092`"));
    assert_non_null(strstr(doc, "| `processing.guarantee` | one of `at_least_once`, `exactly_once` |"));
    free(doc);
}

/* Every tests/invalid/config/<case> is rejected with its expected message. */
static void test_invalid_suite(void **state)
{
    DIR *dir = opendir(INVALID_DIR);
    struct dirent *de;
    int cases = 0;
    assert_non_null(dir);
    while ((de = readdir(dir))) {
        char path[512], want[512] = "";
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), INVALID_DIR "/%s/expected", de->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            fail_msg("%s: missing", path);
        if (!fgets(want, sizeof(want), f))
            want[0] = '\0';
        fclose(f);
        want[strcspn(want, "\n")] = '\0';
        assert_true(want[0] != '\0');
        snprintf(path, sizeof(path), INVALID_DIR "/%s/config.json", de->d_name);
        jd_err_t err = {{0}};
        jd_config_t *conf = jd_config_load(path, NULL, 0, &err);
        if (conf) {
            jd_config_destroy(conf);
            fail_msg("%s: accepted", path);
        }
        if (!strstr(err.msg, want))
            fail_msg("%s:\n  got  %s\n  want %s", de->d_name, err.msg, want);
        cases++;
    }
    closedir(dir);
    assert_true(cases >= 15);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_destroy_null),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_default_rules),
        cmocka_unit_test(test_shipped_config_is_builtin),
        cmocka_unit_test(test_dump_round_trip),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_override_errors),
        cmocka_unit_test(test_duration_bounds),
        cmocka_unit_test(test_http_listen),
        cmocka_unit_test(test_override_not_utf8),
        cmocka_unit_test(test_slot_mapped),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_extra_slots),
        cmocka_unit_test(test_match_values_like_decoder),
        cmocka_unit_test(test_dataset_mappings),
        cmocka_unit_test(test_doc),
        cmocka_unit_test(test_invalid_suite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
