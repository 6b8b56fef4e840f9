/* stats: a fixed set of counters plus a small table of (route, status) counters. */
#include "authd/stats.h"

#include <stdlib.h>
#include <string.h>

#include "common/xmem.h"

struct http_counter {
    const char *route; /* static */
    int status;
    uint64_t n;
};

struct stats {
    uint64_t c[ST_COUNTER_COUNT];
    struct http_counter *http;
    size_t nhttp, caphttp;
};

static const struct {
    const char *name;
    const char *help;
} counter_info[ST_COUNTER_COUNT] = {
    {"certbound_rpc_connections_total", "RPC connections accepted"},
    {"certbound_rpc_calls_total", "RPC requests answered"},
    {"certbound_rpc_errors_total", "RPC requests answered with an error"},
    {"certbound_rpc_protocol_errors_total", "RPC connections closed for malformed frames"},
    {"certbound_admin_auth_failures_total", "Management calls with a wrong or missing secret"},
};

struct stats *stats_new(void)
{
    return xcalloc(1, sizeof(struct stats));
}

void stats_free(struct stats *s)
{
    if (s == NULL)
        return;
    free(s->http);
    free(s);
}

void stats_inc(struct stats *s, enum stats_counter c)
{
    s->c[c]++;
}

void stats_http(struct stats *s, const char *route, int status)
{
    for (size_t i = 0; i < s->nhttp; i++) {
        if (s->http[i].status == status && strcmp(s->http[i].route, route) == 0) {
            s->http[i].n++;
            return;
        }
    }
    if (s->nhttp == s->caphttp) {
        s->caphttp = s->caphttp ? s->caphttp * 2 : 32;
        s->http = xrealloc(s->http, s->caphttp * sizeof(*s->http));
    }
    s->http[s->nhttp].route = route;
    s->http[s->nhttp].status = status;
    s->http[s->nhttp].n = 1;
    s->nhttp++;
}

void stats_render(const struct stats *s, struct evbuffer *out)
{
    evbuffer_add_printf(out, "# HELP certbound_http_requests_total Management API requests "
                             "by route and status\n# TYPE certbound_http_requests_total counter\n");
    for (size_t i = 0; i < s->nhttp; i++)
        evbuffer_add_printf(out, "certbound_http_requests_total{route=\"%s\",code=\"%d\"} %llu\n",
                            s->http[i].route, s->http[i].status,
                            (unsigned long long)s->http[i].n);
    for (int i = 0; i < ST_COUNTER_COUNT; i++)
        evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n",
                            counter_info[i].name, counter_info[i].help, counter_info[i].name,
                            counter_info[i].name, (unsigned long long)s->c[i]);
}
