/*
 * worker: one proxy worker (see worker.h): set-up on the main thread, then an event loop
 * on its own thread until told to stop. The listener stays disabled until the first API
 * snapshot arrives, so no request is ever routed without one (the kernel queues early
 * connections on the socket meanwhile).
 */
#include "proxy/worker.h"

#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "proxy/apis.h"
#include "proxy/authd_client.h"
#include "proxy/authz.h"
#include "proxy/http_conn.h"
#include "proxy/proxy_cfg.h"
#include "proxy/tls.h"
#include "proxy/upstream.h"

#define WORKER_DRAIN_MS 10000 /* SIGTERM: in-flight requests get this long */

static void *worker_main(void *arg);
static void on_accept(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg);
static void on_accept_error(struct evconnlistener *lis, void *arg);
static void on_ctl(evutil_socket_t fd, short what, void *arg);
static void on_reap(evutil_socket_t fd, short what, void *arg);
static void on_drain_timeout(evutil_socket_t fd, short what, void *arg);
static void on_snapshot(struct apis *snap, void *arg);
static void on_invalidate(void *arg);
static void begin_stop(struct worker *w);
static void notify(struct worker *w, char what);

/* ---- public functions ---- */

int worker_bind(const char *addr, int port, int *fd, int *bound, char **err)
{
    struct addrinfo hints, *res = NULL;
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    char pstr[16];
    int one = 1, rc, s, e;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(pstr, sizeof(pstr), "%d", port);
    rc = getaddrinfo(addr, pstr, &hints, &res);
    if (rc != 0) {
        *err = xasprintf("listen_address '%s': %s", addr, gai_strerror(rc));
        return -1;
    }
    s = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
        bind(s, res->ai_addr, res->ai_addrlen) != 0 || listen(s, 1024) != 0 ||
        getsockname(s, (struct sockaddr *)&ss, &sslen) != 0) {
        e = errno;
        *err = xasprintf("cannot listen on %s:%d: %s", addr, port, strerror(e));
        if (s >= 0)
            close(s);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    *bound = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                      : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    *fd = s;
    return 0;
}

void worker_start(struct worker *w)
{
    const struct proxy_config *cfg = w->cfg;
    char name[32], *err = NULL;
    int p[2];

    if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0)
        die("pipe: %s", strerror(errno));
    w->ctl_rd = p[0];
    w->ctl_wr = p[1];
    w->base = event_base_new();
    if (w->base == NULL)
        die("event_base_new failed");
    w->dns = evdns_base_new(w->base,
                            EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (w->dns == NULL) {
        /* No usable resolv.conf: names still resolve from /etc/hosts. */
        w->dns = evdns_base_new(w->base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
        if (w->dns == NULL || evdns_base_load_hosts(w->dns, NULL) != 0)
            die("cannot set up the DNS resolver");
    }
    if (cfg->https_use_ssl) {
        w->tls = tls_srv_new(cfg, &err);
        if (w->tls == NULL)
            die("%s", err);
    }
    w->ups = ups_pool_new(w->base, w->dns, cfg);
    w->lis = evconnlistener_new(w->base, on_accept, w, LEV_OPT_CLOSE_ON_FREE, 0, w->listen_fd);
    w->ctl_ev = event_new(w->base, w->ctl_rd, EV_READ | EV_PERSIST, on_ctl, w);
    w->reap_ev = event_new(w->base, -1, 0, on_reap, w);
    if (w->lis == NULL || w->ctl_ev == NULL || w->reap_ev == NULL ||
        event_add(w->ctl_ev, NULL) != 0)
        die("cannot set up worker %d", w->id);
    evconnlistener_set_error_cb(w->lis, on_accept_error);
    evconnlistener_disable(w->lis);
    snprintf(name, sizeof(name), "worker-%d", w->id);
    w->ac = authd_client_new(w->base, cfg, name, on_snapshot, on_invalidate, w);
    w->z = authz_new(w->ac, cfg);
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
        die("cannot start worker %d", w->id);
}

void worker_send(struct worker *w, char cmd)
{
    /* A full pipe already holds a pending command; one is enough. */
    if (write(w->ctl_wr, &cmd, 1) < 0 && errno != EAGAIN)
        return;
}

void worker_join(struct worker *w)
{
    pthread_join(w->thread, NULL);
    close(w->ctl_rd);
    close(w->ctl_wr);
}

/* ---- the worker thread ---- */

static void *worker_main(void *arg)
{
    struct worker *w = arg;

    authd_client_start(w->ac);
    event_base_dispatch(w->base);
    if (w->nconns > 0)
        log_warn("worker %d: %zu connection(s) still open after %d ms; closing them", w->id,
                 w->nconns, WORKER_DRAIN_MS);
    /* Teardown order: connections (they hold authz requests, snapshots, upstreams), then
     * the modules they used, then the loop. */
    hconn_free_all(w);
    authz_free(w->z);
    authd_client_free(w->ac);
    ups_pool_free(w->ups);
    tls_srv_free(w->tls);
    apis_unref(w->snap);
    w->snap = NULL;
    if (w->lis != NULL)
        evconnlistener_free(w->lis);
    event_free(w->ctl_ev);
    event_free(w->reap_ev);
    if (w->drain_timer != NULL)
        event_free(w->drain_timer);
    evdns_base_free(w->dns, 0);
    event_base_free(w->base);
    notify(w, 'X');
    return NULL;
}

static void on_accept(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    hconn_accept(arg, fd, sa, salen);
}

static void on_accept_error(struct evconnlistener *lis, void *arg)
{
    struct worker *w = arg;
    int e = EVUTIL_SOCKET_ERROR();

    log_warn("worker %d: accept failed: %s", w->id, evutil_socket_error_to_string(e));
}

static void on_ctl(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    char cmds[16], *err = NULL;
    ssize_t n = read(fd, cmds, sizeof(cmds));

    for (ssize_t i = 0; i < n; i++) {
        if (cmds[i] == 'T' && !w->stopping) {
            begin_stop(w);
        } else if (cmds[i] == 'H' && w->tls != NULL) {
            if (tls_srv_reload(w->tls, &err) < 0) {
                log_warn("worker %d: certificate files not reloaded: %s", w->id, err);
                CB_FREE(err);
            } else {
                log_info("worker %d: certificate files reloaded (%zu)", w->id,
                         tls_srv_file_cert_count(w->tls));
            }
        }
    }
}

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    hconn_reap(arg);
}

static void on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;

    event_base_loopexit(w->base, NULL);
}

static void on_snapshot(struct apis *snap, void *arg)
{
    struct worker *w = arg;

    if (w->stopping) {
        apis_unref(snap);
        return;
    }
    log_debug("worker %d: API snapshot revision %lld (%zu APIs)", w->id, apis_revision(snap),
              apis_count(snap));
    apis_unref(w->snap);
    w->snap = snap;
    if (w->tls != NULL)
        tls_srv_set_snapshot(w->tls, snap);
    authz_flush(w->z);
    if (!w->ready) {
        w->ready = true;
        if (evconnlistener_enable(w->lis) != 0)
            die("worker %d: cannot start accepting", w->id);
        log_info("worker %d: serving (API snapshot revision %lld, %zu APIs)", w->id,
                 apis_revision(snap), apis_count(snap));
        notify(w, 'R');
    }
}

static void on_invalidate(void *arg)
{
    struct worker *w = arg;

    authz_flush(w->z);
}

static void begin_stop(struct worker *w)
{
    struct timeval tv = {WORKER_DRAIN_MS / 1000, (WORKER_DRAIN_MS % 1000) * 1000};

    w->stopping = true;
    /* Closing the socket stops the kernel from queueing more connections to this worker. */
    evconnlistener_free(w->lis);
    w->lis = NULL;
    hconn_stop_all(w);
    w->drain_timer = evtimer_new(w->base, on_drain_timeout, w);
    if (w->drain_timer != NULL)
        evtimer_add(w->drain_timer, &tv);
    /* hconn_reap exits the loop once the last connection is gone. */
    event_active(w->reap_ev, EV_TIMEOUT, 1);
}

static void notify(struct worker *w, char what)
{
    if (write(w->notify_wr, &what, 1) != 1)
        log_warn("worker %d: cannot notify the main thread: %s", w->id, strerror(errno));
}
