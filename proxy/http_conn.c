/*
 * http_conn: client connections (see http_conn.h): accept, TLS handshake, the request head
 * (http_parser in request mode), the SNI/Host check (DESIGN §6: 421), routing (404), the
 * auth decision (authz.h), local JSON answers, draining a denied request's body, timeouts
 * and the single close path. The exchange with the upstream is in http_relay.c.
 *
 * Parsing keeps http_parser paused at two points so that bytes which are not ours yet stay
 * in the bufferevent's input: after the head (the body waits for the decision) and after
 * the message (a pipelined request waits for this one's answer). Paused in
 * on_headers_complete, the parser leaves the head's final LF unconsumed; it is fed alone
 * right away, which also reveals framing errors (bad Transfer-Encoding) before routing.
 */
#include "proxy/http_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>

#include "common/netutil.h"
#include "common/log.h"
#include "proxy/apis.h"
#include "proxy/authz.h"
#include "proxy/http_conn_int.h"
#include "proxy/http_util.h"
#include "proxy/proxy_cfg.h"
#include "proxy/tls.h"
#include "proxy/worker.h"

#define HC_INPUT_MAX (256 * 1024) /* read high-watermark of a client */
#define HC_DRAIN_MAX (64 * 1024)  /* body of a denied request we still read to keep alive */
#define HC_LINGER_MS 2000         /* read and drop after our FIN, so no RST eats the answer */

static void on_read(struct bufferevent *bev, void *arg);
static void on_write(struct bufferevent *bev, void *arg);
static void on_event(struct bufferevent *bev, short what, void *arg);
static void on_timer(evutil_socket_t fd, short what, void *arg);
static void on_linger(evutil_socket_t fd, short what, void *arg);
static void on_handshake_done(struct hconn *c);
static bool step(struct hconn *c);
static bool read_head(struct hconn *c);
static void start_request(struct hconn *c);
static bool head_complete(struct hconn *c);
static int build_head(struct hconn *c, const char **why);
static void on_authz(const struct authz_result *r, void *arg);
static bool drain_body(struct hconn *c);
static void flush_then_close(struct hconn *c);
static void start_linger(struct hconn *c);
static void free_request(struct hconn *c);
static int cb_url(http_parser *p, const char *at, size_t len);
static int cb_header_field(http_parser *p, const char *at, size_t len);
static int cb_header_value(http_parser *p, const char *at, size_t len);
static int cb_headers_complete(http_parser *p);
static int cb_message_complete(http_parser *p);
static int hb_append(struct hconn *c, struct hc_span *s, const char *at, size_t len);
static void parse_error(struct hconn *c, enum http_errno e);

static const http_parser_settings req_settings = {
    .on_url = cb_url,
    .on_header_field = cb_header_field,
    .on_header_value = cb_header_value,
    .on_headers_complete = cb_headers_complete,
    .on_message_complete = cb_message_complete,
};

/* ---- public functions ---- */

void hconn_accept(struct worker *w, evutil_socket_t fd, const struct sockaddr *sa, int salen)
{
    struct hconn *c = xcalloc(1, sizeof(*c));
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;

    c->w = w;
    c->id = ++w->next_conn_id;
    c->fd = fd;
    net_set_nodelay(fd);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
        port = ntohs(s4->sin_port);
        snprintf(c->peer, sizeof(c->peer), "%s:%d", ip, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
        port = ntohs(s6->sin6_port);
        snprintf(c->peer, sizeof(c->peer), "[%s]:%d", ip, port);
    } else {
        snprintf(c->peer, sizeof(c->peer), "unix");
    }
    snprintf(c->peer_ip, sizeof(c->peer_ip), "%s", ip);
    c->timer = evtimer_new(w->base, on_timer, c);
    if (w->tls != NULL) {
        c->ssl = tls_srv_ssl_new(w->tls);
        if (c->ssl == NULL)
            die("SSL_new failed");
        /* With BEV_OPT_CLOSE_ON_FREE the bufferevent owns fd and SSL, even on failure. */
        c->bev = bufferevent_openssl_socket_new(w->base, fd, c->ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                BEV_OPT_CLOSE_ON_FREE);
        if (c->bev != NULL)
            bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
    } else {
        c->bev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
    }
    if (c->bev == NULL || c->timer == NULL)
        die("out of memory (client connection)");
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    bufferevent_setwatermark(c->bev, EV_READ, 0, HC_INPUT_MAX);
    bufferevent_setwatermark(c->bev, EV_WRITE, HC_RELAY_LOW, 0);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    c->next = w->conns;
    if (w->conns != NULL)
        w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    WORKER_STAT_INC(w->stats.conns_accepted);
    WORKER_STAT_INC(w->stats.open_conns);
    c->keep_alive = true;
    hc_set_state(c, w->tls != NULL ? HC_ST_HANDSHAKE : HC_ST_IDLE);
    log_debug("conn=%d.%llu peer=%s accepted", w->id, (unsigned long long)c->id, c->peer);
}

void hconn_stop_all(struct worker *w)
{
    struct hconn *c, *next;

    for (c = w->conns; c != NULL; c = next) {
        next = c->next;
        if (c->state == HC_ST_IDLE || c->state == HC_ST_HANDSHAKE)
            hc_close(c, NULL);
        else
            c->keep_alive = false;
    }
}

void hconn_free_all(struct worker *w)
{
    while (w->conns != NULL)
        hc_close(w->conns, "worker stopping");
    hconn_reap(w);
}

void hconn_reap(struct worker *w)
{
    struct hconn *c;

    while ((c = w->reap) != NULL) {
        w->reap = c->reap_next;
        free(c->hbuf);
        free(c->rbuf);
        free(c->cert_b64);
        free(c);
    }
    if (w->stopping && w->nconns == 0)
        event_base_loopexit(w->base, NULL);
}

/* ---- shared with http_relay.c ---- */

uint64_t hc_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void hc_arm(struct hconn *c, long long ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};

    if (ms <= 0)
        event_del(c->timer);
    else
        evtimer_add(c->timer, &tv);
}

/* Each state's deadline; AUTHZ and CONNECT have their own (authd_timeout_ms, connect). */
void hc_set_state(struct hconn *c, enum hc_state st)
{
    const struct proxy_config *cfg = c->w->cfg;

    log_debug("conn=%d.%llu state %d -> %d", c->w->id, (unsigned long long)c->id, (int)c->state,
              (int)st);
    c->state = st;
    switch (st) {
    case HC_ST_HANDSHAKE:
        hc_arm(c, cfg->handshake_timeout_ms);
        break;
    case HC_ST_HEAD:
        hc_arm(c, cfg->head_timeout_ms);
        break;
    case HC_ST_IDLE:
    case HC_ST_EXCHANGE:
    case HC_ST_LOCAL:
    case HC_ST_FLUSH:
        hc_arm(c, cfg->idle_timeout_ms);
        break;
    case HC_ST_AUTHZ:
    case HC_ST_CONNECT:
    case HC_ST_LINGER:
    case HC_ST_CLOSED:
    default:
        hc_arm(c, 0);
        break;
    }
}

void hc_client_read(struct hconn *c, bool on)
{
    if (c->state == HC_ST_CLOSED || c->state == HC_ST_LINGER || c->read_paused == !on)
        return;
    c->read_paused = !on;
    if (on)
        bufferevent_enable(c->bev, EV_READ);
    else
        bufferevent_disable(c->bev, EV_READ);
}

/*
 * The one driver of a connection: every event ends here. Steps run while they make
 * progress; a nested call (an authz answer delivered synchronously, say) only marks the
 * outer loop to go round again.
 */
void hc_drive(struct hconn *c)
{
    if (c->in_drive) {
        c->kicked = true;
        return;
    }
    c->in_drive = true;
    do {
        c->kicked = false;
        while (c->state != HC_ST_CLOSED && step(c))
            ;
    } while (c->kicked && c->state != HC_ST_CLOSED);
    c->in_drive = false;
}

void hc_local_reply(struct hconn *c, int status, const char *msg, bool force_close)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    char *body = hu_error_body(msg);
    size_t blen = strlen(body);
    bool close = force_close || !c->keep_alive || c->client_eof || c->w->stopping;

    /* A body we have not read yet: drop it if it is small and announced (no 100-continue
     * was promised), else close after the answer (DESIGN §6a keeps denials answered). */
    if (!close && c->has_body && !c->req_done &&
        (c->expect_continue || (c->rp.flags & F_CHUNKED) ||
         c->body_seen + c->rp.content_length > HC_DRAIN_MAX))
        close = true;
    c->status = status;
    evbuffer_add_printf(out,
                        "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                        "Content-Length: %zu\r\n%s\r\n",
                        status, http_status_str((enum http_status)status), blen,
                        close ? "Connection: close\r\n" : "");
    if (!c->is_head)
        evbuffer_add(out, body, blen);
    free(body);
    WORKER_STAT_INC(c->w->stats.responses[status / 100 % 6]);
    c->resp_started = true;
    if (close)
        hc_end_request(c, true);
    else if (c->has_body && !c->req_done) {
        hc_client_read(c, true);
        hc_set_state(c, HC_ST_LOCAL);
    } else
        hc_end_request(c, false);
}

void hc_end_request(struct hconn *c, bool close)
{
    if (c->head.method != NULL)
        log_debug("conn=%d.%llu peer=%s req=%.*s %.*s status=%d api=%s ms=%llu", c->w->id,
                  (unsigned long long)c->id, c->peer, (int)c->head.method_len, c->head.method,
                  (int)c->head.path_len, c->head.path, c->status,
                  c->api != NULL ? c->api->auth.api_id : "-",
                  (unsigned long long)(hc_now_ms() - c->t_start_ms));
    free_request(c);
    if (close || !c->keep_alive || c->client_eof || c->w->stopping) {
        flush_then_close(c);
        return;
    }
    hc_client_read(c, true);
    hc_set_state(c, HC_ST_IDLE);
}

void hc_close(struct hconn *c, const char *why)
{
    struct worker *w = c->w;

    if (c->state == HC_ST_CLOSED)
        return;
    if (why != NULL)
        log_info("conn=%d.%llu peer=%s%s%s closed: %s", w->id, (unsigned long long)c->id, c->peer,
                 c->sni[0] ? " sni=" : "", c->sni, why);
    if (c->areq != NULL) {
        authz_cancel(c->areq);
        c->areq = NULL;
    }
    relay_abort(c);
    free_request(c);
    c->state = HC_ST_CLOSED;
    if (c->linger_ev != NULL) {
        event_free(c->linger_ev);
        c->linger_ev = NULL;
    }
    event_free(c->timer);
    c->timer = NULL;
    bufferevent_free(c->bev); /* closes fd and frees the SSL */
    c->bev = NULL;
    c->ssl = NULL;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    w->nconns--;
    __atomic_fetch_sub(&w->stats.open_conns, 1, __ATOMIC_RELAXED);
    c->reap_next = w->reap;
    w->reap = c;
    event_active(w->reap_ev, EV_TIMEOUT, 1);
}

/* ---- events ---- */

static void on_read(struct bufferevent *bev, void *arg)
{
    hc_drive(arg);
}

static void on_write(struct bufferevent *bev, void *arg)
{
    struct hconn *c = arg;

    if (c->state == HC_ST_FLUSH) {
        if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
            start_linger(c);
        return;
    }
    if (c->state == HC_ST_EXCHANGE) {
        hc_arm(c, c->w->cfg->idle_timeout_ms);
        relay_client_drained(c);
        hc_drive(c);
    }
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct hconn *c = arg;
    char ebuf[256];
    unsigned long e;
    size_t o = 0;

    if (what & BEV_EVENT_CONNECTED) {
        on_handshake_done(c);
        return;
    }
    if (c->state == HC_ST_HANDSHAKE) {
        ebuf[0] = '\0';
        while ((e = bufferevent_get_openssl_error(bev)) != 0) {
            const char *r = ERR_reason_error_string(e);

            if (r == NULL)
                continue;
            if (o + 3 < sizeof(ebuf))
                o += (size_t)snprintf(ebuf + o, sizeof(ebuf) - o, "%s%s", o ? "; " : "", r);
            if (o >= sizeof(ebuf))
                o = sizeof(ebuf) - 1;
        }
        WORKER_STAT_INC(c->w->stats.tls_handshake_failures);
        snprintf(ebuf + o, sizeof(ebuf) - o, "%s",
                 o > 0                    ? ""
                 : (what & BEV_EVENT_EOF) ? "connection closed by the client"
                                          : "I/O error");
        {
            char why[320];

            snprintf(why, sizeof(why), "TLS handshake failed: %s", ebuf);
            hc_close(c, why);
        }
        return;
    }
    if (what & BEV_EVENT_EOF) {
        c->client_eof = true;
        switch (c->state) {
        case HC_ST_IDLE:
            hc_close(c, NULL);
            return;
        case HC_ST_HEAD:
            hc_close(c, "client closed the connection inside a request head");
            return;
        case HC_ST_AUTHZ:
        case HC_ST_CONNECT:
        case HC_ST_EXCHANGE:
        case HC_ST_LOCAL:
            /* A client that half-closes after its request still gets the answer. */
            if (!c->req_done) {
                hc_close(c, "client closed the connection inside a request");
                return;
            }
            hc_drive(c);
            return;
        default:
            hc_close(c, NULL);
            return;
        }
    }
    /* I/O error: nothing more can be said to this client. */
    while (bufferevent_get_openssl_error(bev) != 0)
        ;
    hc_close(c, c->state == HC_ST_IDLE ? NULL : "client connection error");
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct hconn *c = arg;

    switch (c->state) {
    case HC_ST_HANDSHAKE:
        WORKER_STAT_INC(c->w->stats.tls_handshake_failures);
        hc_close(c, "TLS handshake timed out");
        break;
    case HC_ST_IDLE:
        hc_close(c, NULL);
        break;
    case HC_ST_EXCHANGE:
        /* Waiting for the upstream is the upstream's deadline; this one is for a client
         * that neither sends its body nor reads the answer. */
        if (c->req_done && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
            hc_arm(c, c->w->cfg->idle_timeout_ms);
            break;
        }
        hc_close(c, "client stalled during the exchange");
        break;
    case HC_ST_HEAD:
        log_info("conn=%d.%llu peer=%s request head not complete after %lld ms", c->w->id,
                 (unsigned long long)c->id, c->peer, c->w->cfg->head_timeout_ms);
        hc_local_reply(c, 408, "Request Timeout", true);
        hc_drive(c);
        break;
    default:
        hc_close(c, "client idle too long");
        break;
    }
}

static void on_handshake_done(struct hconn *c)
{
    const char *sni = tls_sni(c->ssl);

    snprintf(c->sni, sizeof(c->sni), "%s", sni);
    log_debug("conn=%d.%llu peer=%s TLS %s %s sni=%s cert=%s", c->w->id, (unsigned long long)c->id,
              c->peer, SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl), c->sni,
              SSL_get0_peer_certificate(c->ssl) != NULL ? "yes" : "no");
    hc_set_state(c, HC_ST_IDLE);
    hc_drive(c);
}

/* ---- the state machine ---- */

static bool step(struct hconn *c)
{
    switch (c->state) {
    case HC_ST_IDLE:
    case HC_ST_HEAD:
        return read_head(c);
    case HC_ST_EXCHANGE:
        return relay_pump(c);
    case HC_ST_LOCAL:
        return drain_body(c);
    case HC_ST_FLUSH:
        if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
            start_linger(c);
        return false;
    case HC_ST_HANDSHAKE:
    case HC_ST_AUTHZ:
    case HC_ST_CONNECT:
    case HC_ST_LINGER:
    case HC_ST_CLOSED:
    default:
        return false;
    }
}

static bool read_head(struct hconn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    struct evbuffer_iovec v;
    enum http_errno e;
    size_t n, m;

    if (evbuffer_get_length(in) == 0) {
        if (c->client_eof)
            hc_close(c, c->state == HC_ST_HEAD ? "client closed inside a request head" : NULL);
        return c->client_eof;
    }
    if (c->state == HC_ST_IDLE)
        start_request(c);
    while (evbuffer_peek(in, -1, NULL, &v, 1) > 0 && v.iov_len > 0) {
        n = http_parser_execute(&c->rp, &req_settings, v.iov_base, v.iov_len);
        e = HTTP_PARSER_ERRNO(&c->rp);
        if (e == HPE_PAUSED) {
            evbuffer_drain(in, n);
            http_parser_pause(&c->rp, 0);
            if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0) {
                parse_error(c, HPE_UNKNOWN);
                return true;
            }
            m = http_parser_execute(&c->rp, &req_settings, v.iov_base, 1);
            e = HTTP_PARSER_ERRNO(&c->rp);
            if (e != HPE_OK && e != HPE_PAUSED) {
                parse_error(c, e);
                return true;
            }
            evbuffer_drain(in, m);
            c->head_raw += n + m;
            return head_complete(c);
        }
        if (e != HPE_OK) {
            parse_error(c, e);
            return true;
        }
        evbuffer_drain(in, n);
        c->head_raw += n;
        if (c->head_raw > (size_t)c->w->cfg->max_head_bytes) {
            parse_error(c, HPE_HEADER_OVERFLOW);
            return true;
        }
    }
    return false;
}

static void start_request(struct hconn *c)
{
    size_t cap = (size_t)c->w->cfg->max_head_bytes + 512;

    if (c->hbuf == NULL || c->hcap != cap) {
        free(c->hbuf);
        c->hbuf = xmalloc(cap);
        c->hcap = cap;
    }
    c->hlen = 0;
    c->nhs = 0;
    c->last_cb = 0;
    c->head_overflow = false;
    c->head_raw = 0;
    c->url.off = c->url.len = 0;
    memset(&c->head, 0, sizeof(c->head));
    c->req_done = c->has_body = c->expect_continue = c->is_head = false;
    c->body_seen = 0;
    c->status = 0;
    c->resp_started = false;
    c->t_start_ms = hc_now_ms();
    http_parser_init(&c->rp, HTTP_REQUEST);
    c->rp.data = c;
    c->nreq++;
    hc_set_state(c, HC_ST_HEAD);
}

static bool head_complete(struct hconn *c)
{
    struct worker *w = c->w;
    struct authz_conn ci = {0};
    const char *why = NULL;
    int st;

    WORKER_STAT_INC(w->stats.requests);
    c->keep_alive = c->keep_alive && http_should_keep_alive(&c->rp) && !w->stopping;
    c->has_body = !c->req_done;
    st = build_head(c, &why);
    if (st != 0) {
        hc_local_reply(c, st, why, true);
        return true;
    }
    if (c->ssl != NULL && c->sni[0] != '\0' &&
        !hu_host_eq(c->head.host, c->head.host_len, c->sni, strlen(c->sni))) {
        log_info("conn=%d.%llu peer=%s Host '%.*s' differs from SNI '%s': 421", w->id,
                 (unsigned long long)c->id, c->peer, (int)c->head.host_len, c->head.host, c->sni);
        hc_local_reply(c, 421, "Misdirected Request", false);
        return true;
    }
    if (w->snap == NULL) {
        hc_local_reply(c, 503, "Service Unavailable", false);
        return true;
    }
    c->snap = apis_ref(w->snap);
    c->api = apis_route(c->snap, c->head.host, c->head.host_len, c->head.path, c->head.path_len);
    if (c->api == NULL) {
        hc_local_reply(c, 404, "Not found", false);
        return true;
    }
    ci.tls = c->ssl != NULL;
    if (c->ssl != NULL) {
        ci.leaf = SSL_get0_peer_certificate(c->ssl);
        /* The leaf cannot change on a connection (renegotiation is off): hash it once. */
        if (ci.leaf != NULL && !c->leaf_sha_set) {
            unsigned int n = 0;

            if (X509_digest(ci.leaf, EVP_sha256(), c->leaf_sha, &n) != 1 ||
                n != sizeof(c->leaf_sha))
                die("X509_digest failed");
            c->leaf_sha_set = true;
        }
        ci.leaf_sha = ci.leaf != NULL ? c->leaf_sha : NULL;
        /* Server side: OpenSSL's peer chain holds what the client sent after the leaf. */
        ci.chain = SSL_get_peer_cert_chain(c->ssl);
    }
    hc_set_state(c, HC_ST_AUTHZ);
    c->areq = authz_start(w->z, c->api, &c->head, &ci, on_authz, c);
    return true;
}

/* Fill c->head from the spans; 0, or the status to answer with *why. */
static int build_head(struct hconn *c, const char **why)
{
    struct http_head *h = &c->head;
    const char *url = c->hbuf + c->url.off, *q, *hv = NULL, *host;
    size_t ulen = c->url.len, hvlen = 0, hlen;
    struct http_parser_url pu;
    int nhost = 0;

    *why = "Bad Request";
    c->host_val = NULL;
    c->host_val_len = 0;
    h->method = http_method_str((enum http_method)c->rp.method);
    h->method_len = strlen(h->method);
    h->http_minor = c->rp.http_major == 1 ? c->rp.http_minor : 0;
    c->is_head = c->rp.method == HTTP_HEAD;
    if (c->rp.method == HTTP_CONNECT || c->rp.http_major != 1)
        return 400;
    for (size_t i = 0; i < c->nhs; i++) {
        struct http_hdr *d = &h->hdrs[i];

        d->name = c->hbuf + c->hs[i].name.off;
        d->name_len = c->hs[i].name.len;
        d->value = c->hbuf + c->hs[i].value.off;
        d->value_len = c->hs[i].value.len;
        /* Optional whitespace around a value is not part of it (RFC 9110 §5.5). */
        while (d->value_len > 0 &&
               (d->value[d->value_len - 1] == ' ' || d->value[d->value_len - 1] == '\t'))
            d->value_len--;
        /* A name with a space ("Client-Cert : x") would pass the header filters and reach
         * the upstream, which may read it as the very header filtered. */
        if (memchr(d->value, '\r', d->value_len) != NULL ||
            memchr(d->value, '\n', d->value_len) != NULL ||
            memchr(d->value, '\0', d->value_len) != NULL || !hu_is_token(d->name, d->name_len)) {
            *why = "invalid header";
            return 400;
        }
        if (d->name_len == 4 && strncasecmp(d->name, "host", 4) == 0) {
            nhost++;
            hv = d->value;
            hvlen = d->value_len;
        } else if (d->name_len == 6 && strncasecmp(d->name, "expect", 6) == 0) {
            c->expect_continue = hu_has_token(d->value, d->value_len, "100-continue");
        } else if (d->name_len == 17 && strncasecmp(d->name, "transfer-encoding", 17) == 0 &&
                   !(d->value_len == 7 && strncasecmp(d->value, "chunked", 7) == 0)) {
            /* A chunked body is re-framed for the upstream; any other coding (or
             * "chunked, chunked") would reach it under a framing it did not choose. */
            *why = "Transfer-Encoding other than chunked";
            return 501;
        }
    }
    h->nhdrs = c->nhs;
    if (nhost > 1) {
        *why = "more than one Host header";
        return 400;
    }
    if (ulen > 0 && url[0] == '/') {
        const char *end = memchr(url, '#', ulen);

        if (end != NULL)
            ulen = (size_t)(end - url);
        q = memchr(url, '?', ulen);
        h->path = url;
        h->path_len = q != NULL ? (size_t)(q - url) : ulen;
        h->query = q != NULL ? q + 1 : NULL;
        h->query_len = q != NULL ? (size_t)(url + ulen - q - 1) : 0;
    } else {
        /* absolute-form (RFC 9112 §3.2.2): its authority (host[:port], without userinfo)
         * replaces Host, for routing and upstream alike. */
        size_t a, e;

        http_parser_url_init(&pu);
        if (ulen == 0 || http_parser_parse_url(url, ulen, 0, &pu) != 0 ||
            !(pu.field_set & (1 << UF_HOST)))
            return 400;
        a = pu.field_data[UF_HOST].off;
        e = a + pu.field_data[UF_HOST].len;
        if (a > 0 && url[a - 1] == '[' && e < ulen && url[e] == ']') {
            a--;
            e++;
        }
        if (pu.field_set & (1 << UF_PORT))
            e = (size_t)pu.field_data[UF_PORT].off + pu.field_data[UF_PORT].len;
        hv = url + a;
        hvlen = e - a;
        if (pu.field_set & (1 << UF_PATH)) {
            h->path = url + pu.field_data[UF_PATH].off;
            h->path_len = pu.field_data[UF_PATH].len;
        } else {
            h->path = "/";
            h->path_len = 1;
        }
        if (pu.field_set & (1 << UF_QUERY)) {
            h->query = url + pu.field_data[UF_QUERY].off;
            h->query_len = pu.field_data[UF_QUERY].len;
        }
        nhost = 1;
    }
    /* Routing matches the listen path as a prefix of the raw path: refuse what an upstream
     * could resolve to a path outside it. */
    if (hu_path_unsafe(h->path, h->path_len)) {
        *why = "invalid path";
        return 400;
    }
    if (nhost == 0) {
        if (h->http_minor >= 1) {
            *why = "missing Host header";
            return 400;
        }
        /* HTTP/1.0 without Host: route on the SNI (copied into the head buffer). */
        hlen = strlen(c->sni);
        memcpy(c->hbuf + c->hlen, c->sni, hlen);
        h->host = c->hbuf + c->hlen;
        h->host_len = hlen;
        c->hlen += hlen;
        return 0;
    }
    if (hu_split_host(hv, hvlen, &host, &hlen) < 0) {
        *why = "invalid Host header";
        return 400;
    }
    h->host = host;
    h->host_len = hlen;
    c->host_val = hv;
    c->host_val_len = hvlen;
    return 0;
}

static void on_authz(const struct authz_result *r, void *arg)
{
    struct hconn *c = arg;

    c->areq = NULL;
    if (c->state != HC_ST_AUTHZ)
        return;
    if (r->status != 0) {
        WORKER_STAT_INC(c->w->stats.denied);
        log_debug("conn=%d.%llu peer=%s denied req=%.*s %.*s api=%s status=%d reason=\"%s\" "
                  "cert=%s",
                  c->w->id, (unsigned long long)c->id, c->peer, (int)c->head.method_len,
                  c->head.method, (int)c->head.path_len, c->head.path, c->api->auth.api_id,
                  r->status, r->message != NULL ? r->message : "",
                  r->cert_id != NULL && r->cert_id[0] ? r->cert_id : "-");
        hc_local_reply(c, r->status, r->message != NULL ? r->message : "Forbidden", false);
    } else {
        c->cert_id = xstrdup(r->cert_id != NULL ? r->cert_id : "");
        c->key_hash = xstrdup(r->key_hash != NULL ? r->key_hash : "");
        relay_start(c);
    }
    hc_drive(c);
}

/* HC_ST_LOCAL: the answer is queued; read the rest of the body and drop it. */
static bool drain_body(struct hconn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    struct evbuffer_iovec v;
    enum http_errno e;
    size_t n;

    while (!c->req_done && evbuffer_peek(in, -1, NULL, &v, 1) > 0 && v.iov_len > 0) {
        n = http_parser_execute(&c->rp, relay_body_settings(), v.iov_base, v.iov_len);
        e = HTTP_PARSER_ERRNO(&c->rp);
        if (e != HPE_OK && e != HPE_PAUSED) {
            hc_end_request(c, true);
            return true;
        }
        evbuffer_drain(in, n);
        c->body_seen += n;
        if (c->body_seen > HC_DRAIN_MAX) {
            hc_end_request(c, true);
            return true;
        }
    }
    if (c->req_done) {
        hc_end_request(c, false);
        return true;
    }
    if (c->client_eof) {
        hc_close(c, NULL);
        return true;
    }
    return false;
}

/* ---- closing ---- */

static void flush_then_close(struct hconn *c)
{
    hc_client_read(c, false);
    bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
    hc_set_state(c, HC_ST_FLUSH);
}

/*
 * After the last answer: send close_notify (TLS), shut our write side, and read and drop
 * whatever the client still sends for a moment. Closing with unread input would make the
 * kernel answer with RST, which can destroy the answer before the client reads it.
 */
static void start_linger(struct hconn *c)
{
    struct timeval tv = {HC_LINGER_MS / 1000, (HC_LINGER_MS % 1000) * 1000};

    bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    if (c->ssl != NULL) {
        SSL_shutdown(c->ssl);
        ERR_clear_error();
    }
    if (shutdown(c->fd, SHUT_WR) != 0) {
        hc_close(c, NULL);
        return;
    }
    c->state = HC_ST_LINGER;
    hc_arm(c, 0);
    c->linger_ev = event_new(c->w->base, c->fd, EV_READ | EV_PERSIST, on_linger, c);
    if (c->linger_ev == NULL || event_add(c->linger_ev, &tv) != 0)
        hc_close(c, NULL);
}

static void on_linger(evutil_socket_t fd, short what, void *arg)
{
    struct hconn *c = arg;
    char scratch[4096];
    ssize_t r;

    if (what & EV_TIMEOUT) {
        hc_close(c, NULL);
        return;
    }
    r = recv(fd, scratch, sizeof(scratch), 0);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
        hc_close(c, NULL);
}

static void free_request(struct hconn *c)
{
    apis_unref(c->snap);
    c->snap = NULL;
    c->api = NULL;
    CB_FREE(c->cert_id);
    CB_FREE(c->key_hash);
    CB_FREE(c->up_head);
    c->retried = false;
    memset(&c->head, 0, sizeof(c->head));
}

/* ---- request parsing ---- */

static int cb_url(http_parser *p, const char *at, size_t len)
{
    struct hconn *c = p->data;

    return hb_append(c, &c->url, at, len);
}

static int cb_header_field(http_parser *p, const char *at, size_t len)
{
    struct hconn *c = p->data;

    if (c->last_cb != 1) {
        if (c->nhs == HTTP_HEAD_MAX_HEADERS) {
            c->head_overflow = true;
            return -1;
        }
        c->hs[c->nhs].name.off = (uint32_t)c->hlen;
        c->hs[c->nhs].name.len = 0;
        c->hs[c->nhs].value.off = (uint32_t)c->hlen;
        c->hs[c->nhs].value.len = 0;
        c->nhs++;
        c->last_cb = 1;
    }
    return hb_append(c, &c->hs[c->nhs - 1].name, at, len);
}

static int cb_header_value(http_parser *p, const char *at, size_t len)
{
    struct hconn *c = p->data;

    if (c->last_cb != 2) {
        c->hs[c->nhs - 1].value.off = (uint32_t)c->hlen;
        c->last_cb = 2;
    }
    return hb_append(c, &c->hs[c->nhs - 1].value, at, len);
}

static int cb_headers_complete(http_parser *p)
{
    http_parser_pause(p, 1);
    return 0;
}

static int cb_message_complete(http_parser *p)
{
    struct hconn *c = p->data;

    c->req_done = true;
    http_parser_pause(p, 1);
    return 0;
}

/* Pieces of one span arrive in order with nothing in between, so appending extends it. */
static int hb_append(struct hconn *c, struct hc_span *s, const char *at, size_t len)
{
    if (c->hlen + len > (size_t)c->w->cfg->max_head_bytes) {
        c->head_overflow = true;
        return -1;
    }
    memcpy(c->hbuf + c->hlen, at, len);
    c->hlen += len;
    s->len += (uint32_t)len;
    return 0;
}

static void parse_error(struct hconn *c, enum http_errno e)
{
    bool big = c->head_overflow || e == HPE_HEADER_OVERFLOW;

    log_info("conn=%d.%llu peer=%s bad request head: %s", c->w->id, (unsigned long long)c->id,
             c->peer, big ? "too large" : http_errno_description(e));
    if (big)
        hc_local_reply(c, 431, "Request Header Fields Too Large", true);
    else
        hc_local_reply(c, 400, "Bad Request", true);
}
