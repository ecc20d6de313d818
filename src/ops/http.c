/*
 * /metrics, /healthz, /readyz on libmicrohttpd: see include/journeyd/http.h.
 *
 * We bind the listening socket ourselves and hand it to libmicrohttpd
 * (MHD_OPTION_LISTEN_SOCKET): that way a bad address or a port in use is
 * reported with the errno of the call that failed, naming http.listen,
 * instead of libmicrohttpd's generic start failure.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <microhttpd.h>
#include "journeyd/http.h"
#include "journeyd/log.h"
#include "journeyd/timeutil.h"

#define HTTP_REASON_MAX 256

struct jd_http {
    struct MHD_Daemon *mhd;
    jd_metrics_t *metrics;          /* borrowed */
    int port;
    _Atomic int64_t heartbeat_ms;   /* jd_mono_ms of the last heartbeat */
    _Atomic int64_t stall_ms;
    pthread_mutex_t mu;             /* guards ready and reason */
    int ready;
    char reason[HTTP_REASON_MAX];
};

int jd_http_enabled(const char *addr)
{
    return addr && *addr && strcmp(addr, "off") != 0;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;
    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    JD_LOG(JD_LOG_WARN, "http: %s", msg);
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
                             char *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    enum MHD_Result ret;
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
{
    char body[HTTP_REASON_MAX + 64];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(body, sizeof(body), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(body))
        n = (int)sizeof(body) - 1;
    return reply(c, status, "text/plain; charset=utf-8", body, (size_t)n, MHD_RESPMEM_MUST_COPY);
}

static enum MHD_Result on_healthz(jd_http_t *h, struct MHD_Connection *c)
{
    int64_t idle = jd_mono_ms() - atomic_load(&h->heartbeat_ms);
    int64_t stall = atomic_load(&h->stall_ms);
    if (idle > stall)
        return reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                          "stalled: no loop iteration for %lld ms (limit %lld ms)\n",
                          (long long)idle, (long long)stall);
    return reply_text(c, MHD_HTTP_OK, "ok\n");
}

static enum MHD_Result on_readyz(jd_http_t *h, struct MHD_Connection *c)
{
    char reason[HTTP_REASON_MAX];
    int ready;
    pthread_mutex_lock(&h->mu);
    ready = h->ready;
    memcpy(reason, h->reason, sizeof(reason));
    pthread_mutex_unlock(&h->mu);
    if (ready)
        return reply_text(c, MHD_HTTP_OK, "ready\n");
    return reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready: %s\n",
                      reason[0] ? reason : "no reason given");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    jd_http_t *h = cls;
    (void)version;
    (void)upload_data;
    /* a request body is not read: drop it rather than buffer it */
    if (*upload_data_size) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    (void)req_cls;
    if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
        return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
    if (!strcmp(url, "/metrics")) {
        size_t len = 0;
        char *body = jd_metrics_render(h->metrics, &len);
        if (!body)
            return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
        return reply(c, MHD_HTTP_OK, JD_METRICS_CONTENT_TYPE, body, len, MHD_RESPMEM_MUST_FREE);
    }
    if (!strcmp(url, "/healthz"))
        return on_healthz(h, c);
    if (!strcmp(url, "/readyz"))
        return on_readyz(h, c);
    return reply_text(c, MHD_HTTP_NOT_FOUND, "not found: try /metrics, /healthz, /readyz\n");
}

/* "host:port", "[v6]:port" or ":port" -> host (NULL = any) and port. */
static int split_listen(const char *addr, char *host, size_t hostsz, char *port, size_t portsz)
{
    const char *colon = strrchr(addr, ':'), *h = addr, *hend;
    char *end;
    long p;
    if (!colon || !colon[1])
        return -1;
    hend = colon;
    if (*h == '[') {
        if (hend == h || hend[-1] != ']')
            return -1;
        h++;
        hend--;
    } else if (memchr(h, ':', (size_t)(colon - h)))
        return -1; /* a bare IPv6 address needs brackets */
    errno = 0;
    p = strtol(colon + 1, &end, 10);
    if (*end || errno || p < 0 || p > 65535 || (size_t)(hend - h) >= hostsz)
        return -1;
    memcpy(host, h, (size_t)(hend - h));
    host[hend - h] = '\0';
    snprintf(port, portsz, "%ld", p);
    return 0;
}

/* A listening socket on addr, or -1 with err naming the key. */
static int bind_listen(const char *addr, int *family, jd_err_t *err)
{
    char host[256], port[8];
    struct addrinfo hints, *res = NULL, *ai;
    int fd = -1, gai, saved = 0;
    const char *what = "bind";

    if (split_listen(addr, host, sizeof(host), port, sizeof(port)))
        return jd_err_set(err, "http.listen=%s: expected host:port, [ipv6]:port or off", addr);
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if ((gai = getaddrinfo(*host ? host : NULL, port, &hints, &res)))
        return jd_err_set(err, "http.listen=%s: cannot resolve \"%s\": %s", addr, host,
                          gai_strerror(gai));
    for (ai = res; ai; ai = ai->ai_next) {
        int one = 1;
        if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol)) < 0) {
            saved = errno, what = "socket";
            continue;
        }
        /* a restart must not wait for TIME_WAIT connections of the last run */
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (!bind(fd, ai->ai_addr, ai->ai_addrlen) && !listen(fd, 16)) {
            *family = ai->ai_family;
            break;
        }
        saved = errno, what = "bind";
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return jd_err_set(err, "http.listen=%s: cannot %s: %s", addr, what, strerror(saved));
    return fd;
}

int jd_http_start(const char *addr, jd_metrics_t *metrics, jd_http_t **out, jd_err_t *err)
{
    jd_http_t *h;
    struct sockaddr_storage sa;
    socklen_t salen = sizeof(sa);
    int fd, family = AF_INET;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;

    *out = NULL;
    if (!jd_http_enabled(addr))
        return 0;
    if ((fd = bind_listen(addr, &family, err)) < 0)
        return -1;
    if (!(h = calloc(1, sizeof(*h))) || pthread_mutex_init(&h->mu, NULL)) {
        free(h);
        close(fd);
        return jd_err_set(err, "http.listen=%s: out of memory", addr);
    }
    h->metrics = metrics;
    atomic_store(&h->heartbeat_ms, jd_mono_ms());
    atomic_store(&h->stall_ms, (int64_t)JD_HTTP_STALL_MS);
    snprintf(h->reason, sizeof(h->reason), "starting");
    if (!getsockname(fd, (struct sockaddr *)&sa, &salen))
        h->port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                                 : ((struct sockaddr_in *)&sa)->sin_port);
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h,
                              MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, /* first: see its doc */
                              MHD_OPTION_LISTEN_SOCKET, fd,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)JD_HTTP_MAX_CONNECTIONS,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)JD_HTTP_TIMEOUT_S,
                              MHD_OPTION_END);
    if (!h->mhd) {
        close(fd);
        pthread_mutex_destroy(&h->mu);
        free(h);
        return jd_err_set(err, "http.listen=%s: libmicrohttpd could not start", addr);
    }
    *out = h;
    return 0;
}

void jd_http_stop(jd_http_t *h)
{
    if (!h)
        return;
    /* closes the listening socket too */
    MHD_stop_daemon(h->mhd);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

int jd_http_port(const jd_http_t *h)
{
    return h ? h->port : 0;
}

void jd_http_heartbeat(jd_http_t *h)
{
    if (h)
        atomic_store_explicit(&h->heartbeat_ms, jd_mono_ms(), memory_order_relaxed);
}

void jd_http_set_stall_ms(jd_http_t *h, int64_t ms)
{
    if (h)
        atomic_store(&h->stall_ms, ms);
}

void jd_http_set_ready(jd_http_t *h, int ready, const char *reason)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    h->ready = ready;
    snprintf(h->reason, sizeof(h->reason), "%s", reason ? reason : "");
    pthread_mutex_unlock(&h->mu);
}
