/*
 * metrics: the proxy's Prometheus endpoint (`metrics_listen`): GET /metrics on the main
 * thread's loop, summing every worker's counters (connections, TLS handshake failures,
 * requests, responses by status class, denials, upstream errors). Read-only towards the
 * workers: relaxed atomic loads of counters only they write.
 */
#ifndef CB_PROXY_METRICS_H
#define CB_PROXY_METRICS_H

#include <stddef.h>

#include <event2/event.h>

#include "common/xmem.h"

struct metrics;
struct worker;

/* Listen on listen ("host:port"); workers (borrowed, nw of them) must outlive it. NULL
 * with *err (heap) when the address cannot be bound. */
struct metrics *metrics_start(struct event_base *base, const char *listen,
                              const struct worker *workers, size_t nw, char **err) CB_WARN_UNUSED;
/* NULL is a no-op. */
void metrics_free(struct metrics *m);

#endif
