/*
 * metrics: GET /metrics in Prometheus text format (see metrics.h); anything else is 404.
 * Names are stable: certbound_proxy_<noun>_total for counters.
 */
#include "proxy/metrics.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "proxy/worker.h"

struct metrics {
    struct evhttp *http;
    const struct worker *w;
    size_t nw;
};

static void on_request(struct evhttp_request *req, void *arg);
static uint64_t sum(const struct metrics *m, size_t off);

#define LOAD(p)     __atomic_load_n((p), __ATOMIC_RELAXED)
#define STAT_OFF(f) offsetof(struct worker_stats, f)

struct metrics *metrics_start(struct event_base *base, const char *listen,
                              const struct worker *workers, size_t nw, char **err)
{
    struct metrics *m = xcalloc(1, sizeof(*m));
    const char *colon = strrchr(listen, ':');
    char *host = xstrndup(listen, colon != NULL ? (size_t)(colon - listen) : 0);

    m->w = workers;
    m->nw = nw;
    m->http = evhttp_new(base);
    if (m->http == NULL || colon == NULL ||
        evhttp_bind_socket(m->http, host, (uint16_t)atoi(colon + 1)) != 0) {
        *err = xasprintf("configuration key 'metrics_listen': cannot listen on '%s'", listen);
        free(host);
        metrics_free(m);
        return NULL;
    }
    evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET);
    evhttp_set_gencb(m->http, on_request, m);
    free(host);
    return m;
}

void metrics_free(struct metrics *m)
{
    if (m == NULL)
        return;
    if (m->http != NULL)
        evhttp_free(m->http);
    free(m);
}

static uint64_t sum(const struct metrics *m, size_t off)
{
    uint64_t t = 0;

    for (size_t i = 0; i < m->nw; i++)
        t += LOAD((const uint64_t *)((const char *)&m->w[i].stats + off));
    return t;
}

static void on_request(struct evhttp_request *req, void *arg)
{
    const struct metrics *m = arg;
    struct evbuffer *b;
    static const char *const cls[] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};

    if (strcmp(evhttp_request_get_uri(req), "/metrics") != 0) {
        evhttp_send_error(req, 404, NULL);
        return;
    }
    b = evbuffer_new();
    evbuffer_add_printf(b,
                        "# TYPE certbound_proxy_connections_total counter\n"
                        "certbound_proxy_connections_total %llu\n"
                        "# TYPE certbound_proxy_open_connections gauge\n"
                        "certbound_proxy_open_connections %llu\n"
                        "# TYPE certbound_proxy_tls_handshake_failures_total counter\n"
                        "certbound_proxy_tls_handshake_failures_total %llu\n"
                        "# TYPE certbound_proxy_requests_total counter\n"
                        "certbound_proxy_requests_total %llu\n"
                        "# TYPE certbound_proxy_denied_total counter\n"
                        "certbound_proxy_denied_total %llu\n"
                        "# TYPE certbound_proxy_upstream_errors_total counter\n"
                        "certbound_proxy_upstream_errors_total %llu\n"
                        "# TYPE certbound_proxy_responses_total counter\n",
                        (unsigned long long)sum(m, STAT_OFF(conns_accepted)),
                        (unsigned long long)sum(m, STAT_OFF(open_conns)),
                        (unsigned long long)sum(m, STAT_OFF(tls_handshake_failures)),
                        (unsigned long long)sum(m, STAT_OFF(requests)),
                        (unsigned long long)sum(m, STAT_OFF(denied)),
                        (unsigned long long)sum(m, STAT_OFF(upstream_errors)));
    for (size_t i = 1; i < 6; i++)
        evbuffer_add_printf(b, "certbound_proxy_responses_total{class=\"%s\"} %llu\n", cls[i],
                            (unsigned long long)sum(m, STAT_OFF(responses) + i * sizeof(uint64_t)));
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4");
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}
