/*
 * upstream: connect, pool and expire upstream connections (see upstream.h). A connection
 * is either busy (its events go to the owner's callback) or idle in the pool (its events
 * close it: an idle upstream has nothing to say). Callbacks never run from inside
 * ups_acquire: an early failure is parked and reported from the connection's timer.
 *
 * A TLS connection is made in two steps on the same socket: the TCP connect on a socket
 * bufferevent (so refusals and DNS failures are named as for plain HTTP), then the
 * handshake on a bufferevent_openssl that takes the socket over. The connect deadline
 * covers both; UPS_EV_CONNECTED fires once the handshake and ups_tls_check_peer passed.
 */
#include "proxy/upstream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>

#include "common/log.h"
#include "common/netutil.h"
#include "proxy/proxy_cfg.h"
#include "proxy/ups_tls.h"

#define UPS_POOL_MAX 256         /* idle connections per worker, all hosts */
#define UPS_LOW_MARK (64 * 1024) /* UPS_EV_DRAINED below this much output */

const char ups_err_refused[] = "upstream connection refused";
const char ups_err_reset[] = "upstream connection reset";
const char ups_err_dns[] = "upstream host not found";
const char ups_err_unreachable[] = "upstream unreachable";
const char ups_err_timeout[] = "upstream timed out";

struct ups_conn {
    struct ups_pool *pool;
    struct bufferevent *bev;
    struct event *timer;
    char *host;
    int port;
    char *tls_key;             /* ups_tls_key of the profile; NULL = plain */
    const struct ups_tls *tls; /* borrowed until connected (the caller's snapshot) */
    char name[300];
    bool tcp_up;         /* TCP connected (TLS: the handshake may still run) */
    bool cert_requested; /* TLS: the server asked for a client certificate */
    bool got_input;      /* the upstream has sent application bytes */
    bool connected;
    bool reused;
    bool idle;              /* in the pool */
    bool in_acquire;        /* inside ups_acquire: park errors */
    const char *parked_err; /* an error to report from the timer */
    ups_cb cb;
    void *arg;
    struct ups_conn *next, *prev; /* pool list, most recently used first */
};

struct ups_pool {
    struct event_base *base;
    struct evdns_base *dns;
    const struct proxy_config *cfg;
    struct ups_conn *idle;
    size_t nidle;
};

static void on_read(struct bufferevent *bev, void *arg);
static void on_write(struct bufferevent *bev, void *arg);
static void on_event(struct bufferevent *bev, short what, void *arg);
static void on_timer(evutil_socket_t fd, short what, void *arg);
static const char *classify(struct ups_conn *u, int err);
static void conn_free(struct ups_conn *u);
static void pool_unlink(struct ups_conn *u);
static void fail(struct ups_conn *u, const char *err);
static void start_tls(struct ups_conn *u);
static void on_connected(struct ups_conn *u);

/* ---- public functions ---- */

struct ups_pool *ups_pool_new(struct event_base *base, struct evdns_base *dns,
                              const struct proxy_config *cfg)
{
    struct ups_pool *p = xcalloc(1, sizeof(*p));

    p->base = base;
    p->dns = dns;
    p->cfg = cfg;
    return p;
}

void ups_pool_free(struct ups_pool *p)
{
    if (p == NULL)
        return;
    while (p->idle != NULL) {
        struct ups_conn *u = p->idle;

        pool_unlink(u);
        conn_free(u);
    }
    free(p);
}

struct ups_conn *ups_acquire(struct ups_pool *p, const char *host, int port,
                             const struct ups_tls *tls, ups_cb cb, void *arg, bool *ready,
                             bool fresh)
{
    const char *key = tls != NULL ? ups_tls_key(tls) : NULL;
    struct ups_conn *u;
    struct timeval tv;

    for (u = fresh ? NULL : p->idle; u != NULL; u = u->next) {
        if (u->port == port && strcmp(u->host, host) == 0 &&
            (key == NULL ? u->tls_key == NULL
                         : u->tls_key != NULL && strcmp(u->tls_key, key) == 0)) {
            pool_unlink(u);
            event_del(u->timer);
            u->cb = cb;
            u->arg = arg;
            u->reused = true;
            *ready = true;
            return u;
        }
    }
    u = xcalloc(1, sizeof(*u));
    u->pool = p;
    u->host = xstrdup(host);
    u->port = port;
    u->tls = tls;
    u->tls_key = key != NULL ? xstrdup(key) : NULL;
    snprintf(u->name, sizeof(u->name), strchr(host, ':') != NULL ? "[%s]:%d" : "%s:%d", host, port);
    u->cb = cb;
    u->arg = arg;
    u->timer = evtimer_new(p->base, on_timer, u);
    u->bev = bufferevent_socket_new(p->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (u->timer == NULL || u->bev == NULL)
        die("out of memory (upstream connection)");
    bufferevent_setcb(u->bev, on_read, on_write, on_event, u);
    bufferevent_setwatermark(u->bev, EV_WRITE, UPS_LOW_MARK, 0);
    bufferevent_enable(u->bev, EV_READ | EV_WRITE);
    *ready = false;
    u->in_acquire = true;
    if (bufferevent_socket_connect_hostname(u->bev, p->dns, AF_UNSPEC, host, port) < 0 &&
        u->parked_err == NULL)
        u->parked_err =
            bufferevent_socket_get_dns_error(u->bev) != 0 ? ups_err_dns : ups_err_unreachable;
    u->in_acquire = false;
    if (u->parked_err != NULL) {
        event_active(u->timer, EV_TIMEOUT, 1);
    } else {
        tv.tv_sec = p->cfg->upstream_connect_timeout_ms / 1000;
        tv.tv_usec = (p->cfg->upstream_connect_timeout_ms % 1000) * 1000;
        evtimer_add(u->timer, &tv);
    }
    return u;
}

void ups_release(struct ups_conn *u, bool reuse)
{
    struct ups_pool *p = u->pool;
    struct timeval tv;

    u->cb = NULL;
    u->arg = NULL;
    u->tls = NULL;
    if (!reuse || !u->connected || evbuffer_get_length(bufferevent_get_input(u->bev)) > 0 ||
        evbuffer_get_length(bufferevent_get_output(u->bev)) > 0) {
        conn_free(u);
        return;
    }
    if (p->nidle >= UPS_POOL_MAX) {
        struct ups_conn *old = p->idle;

        while (old->next != NULL)
            old = old->next;
        pool_unlink(old);
        conn_free(old);
    }
    u->idle = true;
    u->next = p->idle;
    u->prev = NULL;
    if (p->idle != NULL)
        p->idle->prev = u;
    p->idle = u;
    p->nidle++;
    bufferevent_enable(u->bev, EV_READ);
    tv.tv_sec = p->cfg->upstream_idle_timeout_ms / 1000;
    tv.tv_usec = (p->cfg->upstream_idle_timeout_ms % 1000) * 1000;
    evtimer_add(u->timer, &tv);
}

struct evbuffer *ups_input(struct ups_conn *u)
{
    return bufferevent_get_input(u->bev);
}

struct evbuffer *ups_output(struct ups_conn *u)
{
    return bufferevent_get_output(u->bev);
}

void ups_read_enable(struct ups_conn *u, bool on)
{
    if (on)
        bufferevent_enable(u->bev, EV_READ);
    else
        bufferevent_disable(u->bev, EV_READ);
}

void ups_set_timeout(struct ups_conn *u, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    if (ms <= 0)
        event_del(u->timer);
    else
        evtimer_add(u->timer, &tv);
}

bool ups_is_reused(const struct ups_conn *u)
{
    return u->reused;
}

const char *ups_name(const struct ups_conn *u)
{
    return u->name;
}

size_t ups_pool_idle(const struct ups_pool *p)
{
    return p->nidle;
}

/* ---- events ---- */

/* Every handler ends with the owner's callback as its last use of u: the callback may
 * release (and so free) it. */
static void on_read(struct bufferevent *bev, void *arg)
{
    struct ups_conn *u = arg;

    if (u->idle) {
        log_debug("upstream %s: unexpected bytes on an idle connection; closed", u->name);
        pool_unlink(u);
        conn_free(u);
        return;
    }
    u->got_input = true;
    if (u->cb != NULL)
        u->cb(u, UPS_EV_READ, NULL, u->arg);
}

static void on_write(struct bufferevent *bev, void *arg)
{
    struct ups_conn *u = arg;

    if (!u->idle && u->connected && u->cb != NULL)
        u->cb(u, UPS_EV_DRAINED, NULL, u->arg);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct ups_conn *u = arg;
    int err = EVUTIL_SOCKET_ERROR();
    unsigned long e = 0, last;
    const char *cause;

    if (u->tls_key != NULL) {
        /* The earliest OpenSSL error is the cause; drain the rest. libevent queues the
         * SSL_get_error() code first, which has no library part. */
        while ((last = bufferevent_get_openssl_error(bev)) != 0)
            if (e == 0 && ERR_GET_LIB(last) != 0)
                e = last;
    }
    if (u->idle) {
        log_debug("upstream %s: idle connection closed by the upstream", u->name);
        pool_unlink(u);
        conn_free(u);
        return;
    }
    if (what & BEV_EVENT_CONNECTED) {
        if (u->tls != NULL && !u->tcp_up) {
            u->tcp_up = true;
            net_set_nodelay(bufferevent_getfd(u->bev));
            start_tls(u);
            return;
        }
        on_connected(u);
        return;
    }
    if (u->tls_key != NULL && u->tcp_up && !u->got_input &&
        (e != 0 || !u->connected || u->cert_requested)) {
        /* A failed handshake, or a failure before any answer (TLS 1.3 servers refuse a
         * client certificate after the client's side of the handshake is done). */
        cause = ups_tls_classify(bufferevent_openssl_get_ssl(bev), e, u->cert_requested, u->name);
        if (!u->connected || cause != ups_tls_err_handshake) {
            fail(u, cause);
            return;
        }
    }
    if (what & BEV_EVENT_EOF) {
        bufferevent_disable(u->bev, EV_READ);
        if (u->cb != NULL)
            u->cb(u, UPS_EV_EOF, NULL, u->arg);
        return;
    }
    fail(u, classify(u, err));
}

/* TCP is up: hand the socket to a bufferevent_openssl that runs the handshake. */
static void start_tls(struct ups_conn *u)
{
    evutil_socket_t fd = bufferevent_getfd(u->bev);
    SSL *ssl = ups_tls_ssl_new(u->tls, &u->cert_requested);

    if (ssl == NULL) {
        fail(u, ups_tls_err_handshake);
        return;
    }
    /* The socket bufferevent lets go of fd without closing it. */
    bufferevent_setfd(u->bev, -1);
    bufferevent_free(u->bev);
    u->bev = bufferevent_openssl_socket_new(u->pool->base, fd, ssl, BUFFEREVENT_SSL_CONNECTING,
                                            BEV_OPT_CLOSE_ON_FREE);
    if (u->bev == NULL)
        die("out of memory (upstream TLS connection)");
    /* Upstreams often close without close_notify; the message framing tells truncation. */
    bufferevent_openssl_set_allow_dirty_shutdown(u->bev, 1);
    bufferevent_setcb(u->bev, on_read, on_write, on_event, u);
    bufferevent_setwatermark(u->bev, EV_WRITE, UPS_LOW_MARK, 0);
    bufferevent_enable(u->bev, EV_READ | EV_WRITE);
}

static void on_connected(struct ups_conn *u)
{
    const char *err;

    if (u->tls != NULL) {
        ups_tls_handshake_done(bufferevent_openssl_get_ssl(u->bev));
        err = ups_tls_check_peer(u->tls, bufferevent_openssl_get_ssl(u->bev), u->name);
        if (err != NULL) {
            fail(u, err);
            return;
        }
        u->tls = NULL; /* the snapshot is not needed any more */
    } else {
        net_set_nodelay(bufferevent_getfd(u->bev));
    }
    u->tcp_up = u->connected = true;
    event_del(u->timer);
    if (u->cb != NULL)
        u->cb(u, UPS_EV_CONNECTED, NULL, u->arg);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct ups_conn *u = arg;

    if (u->idle) {
        log_debug("upstream %s: idle connection expired", u->name);
        pool_unlink(u);
        conn_free(u);
        return;
    }
    fail(u, u->parked_err != NULL ? u->parked_err : ups_err_timeout);
}

static void fail(struct ups_conn *u, const char *err)
{
    if (u->in_acquire) {
        if (u->parked_err == NULL)
            u->parked_err = err;
        return;
    }
    bufferevent_disable(u->bev, EV_READ | EV_WRITE);
    event_del(u->timer);
    if (u->cb != NULL)
        u->cb(u, UPS_EV_ERROR, err, u->arg);
}

static const char *classify(struct ups_conn *u, int err)
{
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    evutil_socket_t fd = bufferevent_getfd(u->bev);

    if (bufferevent_socket_get_dns_error(u->bev) != 0)
        return ups_err_dns;
    if (fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr != 0)
        err = soerr;
    switch (err) {
    case ECONNREFUSED:
        return ups_err_refused;
    case ECONNRESET:
    case EPIPE:
        return u->connected ? ups_err_reset : ups_err_refused;
    default:
        /* A connection that was up and then failed without a clearer errno was cut. */
        return u->connected ? ups_err_reset : ups_err_unreachable;
    }
}

static void pool_unlink(struct ups_conn *u)
{
    struct ups_pool *p = u->pool;

    if (!u->idle)
        return;
    if (u->prev != NULL)
        u->prev->next = u->next;
    else
        p->idle = u->next;
    if (u->next != NULL)
        u->next->prev = u->prev;
    u->next = u->prev = NULL;
    u->idle = false;
    p->nidle--;
}

static void conn_free(struct ups_conn *u)
{
    /* bufferevent_free is safe from inside the bufferevent's own callbacks. */
    bufferevent_free(u->bev);
    event_free(u->timer);
    free(u->host);
    free(u->tls_key);
    free(u);
}
