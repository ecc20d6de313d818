/* Unit tests for src/ops/http.c on a real socket: a server on a free port
 * (port 0) and a small HTTP/1.0 client here, every endpoint and status,
 * address errors and a port already in use.
 *
 * With JD_HTTP_SERVE=host:port it is instead the wiring demo the runner
 * will follow, without Kafka: a loop that beats /healthz, turns /readyz
 * ready after a few iterations and moves every metric, serving until
 * SIGTERM/SIGINT; the bound port is printed on stdout.
 * tests/e2e/t_prometheus.sh points a real Prometheus at it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <signal.h>
#include <time.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>
#include "journeyd/http.h"
#include "journeyd/timeutil.h"

typedef struct resp {
    int status;
    char head[2048];
    char body[65536];
} resp_t;

/* One request; the whole response read with a 5 s deadline. 0 or -1. */
static int http_get(int family, int port, const char *method, const char *path, resp_t *r)
{
    struct sockaddr_storage sa = { 0 };
    socklen_t salen;
    char req[256], buf[sizeof(r->head) + sizeof(r->body)];
    size_t got = 0;
    int64_t deadline = jd_mono_ms() + 5000;
    int fd = socket(family, SOCK_STREAM, 0);
    char *sep;

    memset(r, 0, sizeof(*r));
    if (fd < 0)
        return -1;
    if (family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&sa;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        s6->sin6_addr = in6addr_loopback;
        salen = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&sa;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        salen = sizeof(*s4);
    }
    snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: test\r\n\r\n", method, path);
    if (connect(fd, (struct sockaddr *)&sa, salen) || write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
        close(fd);
        return -1;
    }
    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int64_t left = deadline - jd_mono_ms();
        ssize_t n;
        if (left <= 0 || poll(&p, 1, (int)left) <= 0 || got == sizeof(buf) - 1)
            break;
        if ((n = read(fd, buf + got, sizeof(buf) - 1 - got)) <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    if (sscanf(buf, "HTTP/1.%*d %d", &r->status) != 1 || !(sep = strstr(buf, "\r\n\r\n")))
        return -1;
    snprintf(r->head, sizeof(r->head), "%.*s", (int)(sep - buf), buf);
    snprintf(r->body, sizeof(r->body), "%s", sep + 4);
    return 0;
}

static jd_http_t *start(jd_metrics_t *m)
{
    jd_http_t *h = NULL;
    jd_err_t err = { "" };
    if (jd_http_start("127.0.0.1:0", m, &h, &err))
        fail_msg("start: %s", err.msg);
    assert_non_null(h);
    assert_true(jd_http_port(h) > 0);
    return h;
}

static void test_off(void **state)
{
    jd_http_t *h = (jd_http_t *)1;
    jd_err_t err;
    (void)state;
    assert_false(jd_http_enabled(NULL));
    assert_false(jd_http_enabled(""));
    assert_false(jd_http_enabled("off"));
    assert_true(jd_http_enabled("127.0.0.1:9646"));
    assert_int_equal(jd_http_start("off", NULL, &h, &err), 0);
    assert_null(h);
    assert_int_equal(jd_http_start(NULL, NULL, &h, &err), 0);
    assert_null(h);
    /* the runner calls these without checking */
    jd_http_heartbeat(NULL);
    jd_http_set_ready(NULL, 1, "x");
    jd_http_set_stall_ms(NULL, 1);
    assert_int_equal(jd_http_port(NULL), 0);
    jd_http_stop(NULL);
}

static void assert_start_fails(const char *addr, const char *want)
{
    jd_http_t *h = NULL;
    jd_err_t err = { "" };
    assert_int_equal(jd_http_start(addr, NULL, &h, &err), -1);
    assert_null(h);
    if (!strstr(err.msg, want))
        fail_msg("%s: error \"%s\" lacks \"%s\"", addr, err.msg, want);
}

static void test_bad_addresses(void **state)
{
    (void)state;
    assert_start_fails("nope", "http.listen=nope: expected host:port, [ipv6]:port or off");
    assert_start_fails("127.0.0.1:", "http.listen=127.0.0.1:: expected host:port");
    assert_start_fails("127.0.0.1:65536", "expected host:port");
    assert_start_fails("127.0.0.1:-1", "expected host:port");
    assert_start_fails("127.0.0.1:80x", "expected host:port");
    assert_start_fails("::1:9646", "expected host:port, [ipv6]:port");
    assert_start_fails("[::1:9646", "expected host:port");
    assert_start_fails("no.such.host.invalid:9646", "http.listen=no.such.host.invalid:9646: cannot resolve");
    /* an address no interface has */
    assert_start_fails("192.0.2.1:9646", "http.listen=192.0.2.1:9646: cannot bind: Cannot assign requested address");
}

static void test_port_in_use(void **state)
{
    jd_http_t *h = start(NULL);
    char addr[64];
    (void)state;
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", jd_http_port(h));
    {
        char want[128];
        snprintf(want, sizeof(want), "http.listen=%s: cannot bind: Address already in use", addr);
        assert_start_fails(addr, want);
    }
    jd_http_stop(h);
}

static void test_metrics_endpoint(void **state)
{
    jd_metrics_t *m = jd_metrics_new("4.5.6");
    jd_http_t *h;
    resp_t r;
    (void)state;
    jd_metrics_alert(m, "rage_click", "medium", 3);
    h = start(m);
    assert_int_equal(http_get(AF_INET, jd_http_port(h), "GET", "/metrics", &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.head, "Content-Type: text/plain; version=0.0.4; charset=utf-8"));
    assert_non_null(strstr(r.body, "\njourneyd_build_info{version=\"4.5.6\"} 1\n"));
    assert_non_null(strstr(r.body, "\njourneyd_alerts_total{rule=\"rage_click\",severity=\"medium\"} 3\n"));
    /* served live: an update shows on the next scrape */
    jd_metrics_alert(m, "rage_click", "medium", 1);
    assert_int_equal(http_get(AF_INET, jd_http_port(h), "GET", "/metrics", &r), 0);
    assert_non_null(strstr(r.body, "severity=\"medium\"} 4\n"));
    /* HEAD: headers only */
    assert_int_equal(http_get(AF_INET, jd_http_port(h), "HEAD", "/metrics", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "");
    jd_http_stop(h);
    jd_metrics_destroy(m);
}

static void test_healthz(void **state)
{
    jd_http_t *h = start(NULL);
    resp_t r;
    int64_t deadline;
    (void)state;
    assert_int_equal(http_get(AF_INET, jd_http_port(h), "GET", "/healthz", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok\n");
    /* no heartbeat for longer than the stall limit: 503 */
    jd_http_set_stall_ms(h, 1);
    deadline = jd_mono_ms() + 5000;
    do
        assert_int_equal(http_get(AF_INET, jd_http_port(h), "GET", "/healthz", &r), 0);
    while (r.status == 200 && jd_mono_ms() < deadline);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "stalled: no loop iteration for "));
    assert_non_null(strstr(r.body, "(limit 1 ms)"));
    /* the loop beats again */
    jd_http_set_stall_ms(h, 600000);
    jd_http_heartbeat(h);
    assert_int_equal(http_get(AF_INET, jd_http_port(h), "GET", "/healthz", &r), 0);
    assert_int_equal(r.status, 200);
    jd_http_stop(h);
}

static void test_readyz(void **state)
{
    jd_http_t *h = start(NULL);
    resp_t r;
    (void)state;
    assert_int_equal(http_get(AF_INET, jd_http_port(h), "GET", "/readyz", &r), 0);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "not ready: starting\n");
    jd_http_set_ready(h, 0, "restoring cx.events [3] from the changelog");
    assert_int_equal(http_get(AF_INET, jd_http_port(h), "GET", "/readyz", &r), 0);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "not ready: restoring cx.events [3] from the changelog\n");
    jd_http_set_ready(h, 1, NULL);
    assert_int_equal(http_get(AF_INET, jd_http_port(h), "GET", "/readyz", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ready\n");
    jd_http_set_ready(h, 0, NULL);
    assert_int_equal(http_get(AF_INET, jd_http_port(h), "GET", "/readyz", &r), 0);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "not ready: no reason given\n");
    jd_http_stop(h);
}

static void test_not_found_and_method(void **state)
{
    jd_http_t *h = start(NULL);
    resp_t r;
    (void)state;
    assert_int_equal(http_get(AF_INET, jd_http_port(h), "GET", "/", &r), 0);
    assert_int_equal(r.status, 404);
    assert_int_equal(http_get(AF_INET, jd_http_port(h), "GET", "/metricsX", &r), 0);
    assert_int_equal(r.status, 404);
    assert_int_equal(http_get(AF_INET, jd_http_port(h), "POST", "/metrics", &r), 0);
    assert_int_equal(r.status, 405);
    jd_http_stop(h);
}

static void test_ipv6(void **state)
{
    jd_http_t *h = NULL;
    jd_err_t err;
    resp_t r;
    (void)state;
    if (jd_http_start("[::1]:0", NULL, &h, &err)) {
        /* a host without IPv6 loopback (some containers) */
        if (strstr(err.msg, "Cannot assign requested address") || strstr(err.msg, "not supported"))
            skip();
        fail_msg("%s", err.msg);
    }
    assert_int_equal(http_get(AF_INET6, jd_http_port(h), "GET", "/healthz", &r), 0);
    assert_int_equal(r.status, 200);
    jd_http_stop(h);
}

static volatile sig_atomic_t serve_stop;

static void on_signal(int sig)
{
    (void)sig;
    serve_stop = 1;
}

/* What the runner does, in miniature. */
static int serve(const char *addr)
{
    jd_err_t err;
    jd_config_t *conf = jd_config_load(NULL, NULL, 0, &err);
    jd_metrics_t *m = jd_metrics_new(JD_VERSION);
    jd_http_t *h = NULL;
    const struct timespec tick = { 0, 100 * 1000 * 1000 };
    int rc = 2;

    if (!conf || !m || jd_http_start(addr, m, &h, &err)) {
        fprintf(stderr, "test_http: %s\n", err.msg);
        goto out;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    jd_metrics_declare_rules(m, conf);
    jd_http_set_ready(h, 0, "restoring cx.events [0] from the changelog");
    printf("%d\n", jd_http_port(h));
    fflush(stdout);
    for (uint64_t i = 1; !serve_stop; i++) {
        jd_http_heartbeat(h);                                   /* every loop */
        jd_metrics_set_partition(m, "cx.events", 0, i * 100, (int64_t)(i % 50), 1.5);
        jd_metrics_set_partition(m, "cx.events", 1, i * 80, 3, 2.0);
        jd_metrics_add(m, JD_M_EVENTS_EVALUATED, NULL, 180);
        jd_metrics_set(m, JD_M_CUSTOMERS_ACTIVE, NULL, (double)(1000 + i));
        jd_metrics_set(m, JD_M_TASKS_ASSIGNED, NULL, 2);
        if (i == 5)
            jd_http_set_ready(h, 1, NULL);                      /* restored, consuming */
        if (i % 10 == 0) {
            jd_metrics_checkpoint(m, 0.012 * (double)(i % 7 + 1));
            jd_metrics_alert(m, "rage_click", "medium", 1);
            jd_metrics_alert(m, "checkout_dropoff", "high", 1);
            jd_metrics_dead_letter(m, "invalid_json", 1);
        }
        nanosleep(&tick, NULL);                                 /* paces the demo loop */
    }
    rc = 0;
out:
    jd_http_stop(h);
    jd_metrics_destroy(m);
    jd_config_destroy(conf);
    return rc;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_off),
        cmocka_unit_test(test_bad_addresses),
        cmocka_unit_test(test_port_in_use),
        cmocka_unit_test(test_metrics_endpoint),
        cmocka_unit_test(test_healthz),
        cmocka_unit_test(test_readyz),
        cmocka_unit_test(test_not_found_and_method),
        cmocka_unit_test(test_ipv6),
    };
    if (getenv("JD_HTTP_SERVE"))
        return serve(getenv("JD_HTTP_SERVE"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
