/*
 * stats: counters for GET /metrics (Prometheus text format): HTTP requests by route and
 * status, RPC calls, store errors, and store sizes sampled on demand by the caller.
 */
#ifndef CB_AUTHD_STATS_H
#define CB_AUTHD_STATS_H

#include <stdint.h>

#include <event2/buffer.h>

struct stats;

enum stats_counter {
    ST_RPC_CONNECTIONS = 0,  /* accepted RPC connections */
    ST_RPC_CALLS,            /* RPC requests answered */
    ST_RPC_ERRORS,           /* RPC requests answered with an error */
    ST_RPC_PROTOCOL_ERRORS,  /* connections closed for bad frames */
    ST_ADMIN_AUTH_FAILURES,  /* management calls with a wrong or missing secret */
    ST_COUNTER_COUNT         /* number of counters, not a counter */
};

struct stats *stats_new(void);
void stats_free(struct stats *s);
void stats_inc(struct stats *s, enum stats_counter c);
/* Count one HTTP answer; route is a static string (the route pattern). */
void stats_http(struct stats *s, const char *route, int status);
/* Append every counter in Prometheus text format. */
void stats_render(const struct stats *s, struct evbuffer *out);

#endif
