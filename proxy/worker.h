/*
 * worker: one independent proxy worker (DESIGN §3): its own thread, event_base, evdns_base,
 * SO_REUSEPORT listening socket, TLS context, authd_client, authz, API snapshot and upstream
 * pool. Workers share nothing mutable; the config is read-only. main.c talks to a worker
 * only through its control pipe (reload, stop) and hears back through a notify pipe
 * (ready, exited). The struct is visible to the proxy's modules (http_conn.c reads the
 * current snapshot, the pools and the limits); nothing outside proxy/ uses it.
 */
#ifndef CB_PROXY_WORKER_H
#define CB_PROXY_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "common/xmem.h"

struct apis;
struct authd_client;
struct authz;
struct hconn;
struct proxy_config;
struct tls_srv;
struct ups_pool;

/* Counters a worker keeps for the metrics endpoint. Only its own thread writes them (with
 * WORKER_STAT_INC); the main thread reads them with relaxed atomic loads. */
struct worker_stats {
    uint64_t conns_accepted;
    uint64_t open_conns; /* gauge */
    uint64_t tls_handshake_failures;
    uint64_t requests;
    uint64_t responses[6]; /* by status class: [1]=1xx … [5]=5xx */
    uint64_t upstream_errors;
    uint64_t denied;
};

#define WORKER_STAT_INC(field) __atomic_fetch_add(&(field), 1, __ATOMIC_RELAXED)

struct worker {
    int id;
    const struct proxy_config *cfg;
    pthread_t thread;
    int listen_fd;      /* bound and listening before the thread starts */
    int ctl_rd, ctl_wr; /* main → worker: 'H' reload, 'T' stop */
    int notify_wr;      /* worker → main: 'R' ready, 'X' exited (shared pipe) */

    struct event_base *base;
    struct evdns_base *dns;
    struct evconnlistener *lis;
    struct event *ctl_ev;
    struct event *reap_ev; /* frees closed connections after the callbacks unwind */
    struct event *drain_timer;
    struct tls_srv *tls; /* NULL on a plain listener */
    struct authd_client *ac;
    struct authz *z;
    struct apis *snap; /* current snapshot, own reference; NULL until the first */
    struct ups_pool *ups;

    struct hconn *conns; /* every open connection */
    size_t nconns;
    struct hconn *reap; /* closed, waiting for reap_ev */
    uint64_t next_conn_id;
    bool ready;
    bool stopping;
    struct worker_stats stats;
};

/* Bind listen_address:port with SO_REUSEPORT and listen; -1 with *err (heap). port 0 binds
 * an ephemeral port; *bound receives the port. */
int worker_bind(const char *addr, int port, int *fd, int *bound, char **err) CB_WARN_UNUSED;
/* Set up w (fields id, cfg, listen_fd, notify_wr filled by the caller) and start its
 * thread. Start-up failures die() (before any request is served). */
void worker_start(struct worker *w);
/* Ask the worker to stop (drain) or to reload its certificate files; async-signal-safe. */
void worker_send(struct worker *w, char cmd);
/* Wait for the thread and release what worker_start set up. */
void worker_join(struct worker *w);

#endif
