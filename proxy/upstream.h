/*
 * upstream: one worker's connections to upstream servers. Non-blocking connect (names
 * resolved with the worker's evdns_base, never in-line) and, for https targets, the TLS
 * handshake (ups_tls.h) under upstream_connect_timeout_ms, and a pool of idle keep-alive
 * connections keyed by (host, port, TLS configuration) that expire after
 * upstream_idle_timeout_ms or as soon as the upstream closes them. The HTTP exchange on a
 * connection belongs to the caller (http_conn.c); this module only moves the socket
 * between the caller and the pool and reports its events.
 */
#ifndef CB_PROXY_UPSTREAM_H
#define CB_PROXY_UPSTREAM_H

#include <stdbool.h>

#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>

struct proxy_config;
struct ups_pool;
struct ups_tls;
struct ups_conn;

enum ups_event {
    UPS_EV_CONNECTED = 0, /* a new connection is up */
    UPS_EV_READ,          /* bytes arrived in ups_input() */
    UPS_EV_DRAINED,       /* ups_output() fell to the low mark (resume feeding it) */
    UPS_EV_EOF,           /* the upstream closed; ups_input() may still hold bytes */
    UPS_EV_ERROR          /* err names the cause; the connection is dead */
};

/* The causes UPS_EV_ERROR reports; compare by pointer, show as text (502/504 bodies).
 * TLS connections also report the ups_tls_err_* causes of ups_tls.h. */
extern const char ups_err_refused[];     /* "upstream connection refused" */
extern const char ups_err_reset[];       /* "upstream connection reset" */
extern const char ups_err_dns[];         /* "upstream host not found" */
extern const char ups_err_unreachable[]; /* "upstream unreachable" */
extern const char ups_err_timeout[];     /* "upstream timed out" */

/* u's events; the callback may call ups_release(u) (then nothing more fires for u). */
typedef void (*ups_cb)(struct ups_conn *u, enum ups_event ev, const char *err, void *arg);

struct ups_pool *ups_pool_new(struct event_base *base, struct evdns_base *dns,
                              const struct proxy_config *cfg);
/* Closes the idle connections; every acquired one must have been released. NULL: no-op. */
void ups_pool_free(struct ups_pool *p);

/*
 * A connection to host:port for one exchange, over TLS with profile tls (NULL = plain; it
 * must have no ups_tls_error and stay valid until UPS_EV_CONNECTED, UPS_EV_ERROR or
 * ups_release). Unless fresh, an idle pooled connection of the same host, port and
 * ups_tls_key is returned with *ready = true (usable at once; no UPS_EV_CONNECTED follows).
 * Otherwise *ready = false and exactly one of UPS_EV_CONNECTED or UPS_EV_ERROR fires later
 * from the loop (never from inside this call), the latter after upstream_connect_timeout_ms
 * at most (handshake included). Never NULL.
 */
struct ups_conn *ups_acquire(struct ups_pool *p, const char *host, int port,
                             const struct ups_tls *tls, ups_cb cb, void *arg, bool *ready,
                             bool fresh);
/* Give u back: reuse = true puts it in the pool when it is clean (connected, no unread
 * input); else it is closed. No callback fires for u afterwards. */
void ups_release(struct ups_conn *u, bool reuse);

struct evbuffer *ups_input(struct ups_conn *u);
struct evbuffer *ups_output(struct ups_conn *u);
/* Stop or resume reading (backpressure towards a slow client). */
void ups_read_enable(struct ups_conn *u, bool on);
/* Arm (ms > 0) or disarm (0) u's deadline; on expiry UPS_EV_ERROR with ups_err_timeout. */
void ups_set_timeout(struct ups_conn *u, long ms);
/* Whether u came from the pool (a stale keep-alive may then fail before any answer). */
bool ups_is_reused(const struct ups_conn *u);
/* "host:port" for log lines; valid as long as u. */
const char *ups_name(const struct ups_conn *u);
/* Idle connections in the pool (metrics, tests). */
size_t ups_pool_idle(const struct ups_pool *p);

#endif
