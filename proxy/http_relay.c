/*
 * http_relay: the exchange of one allowed request with its upstream (HTTP/1.1),
 * plain or over TLS (the profile of the API snapshot, ups_tls.h):
 * the request head rewritten for the upstream (path rewrite, hop-by-hop headers out,
 * DESIGN §6's identity headers in), the request body streamed as it arrives, the response
 * parsed with http_parser only to learn its framing and streamed back, keep-alive on both
 * sides, 502/504 answers naming the cause (DESIGN §6a).
 *
 * Bodies are relayed in their own framing: the bytes http_parser consumed are moved as
 * they are, with two exceptions. A chunked request body is re-framed: http_parser (not
 * strict) accepts a bare LF in a chunk extension, any two bytes after chunk data, a lone
 * CR, which an upstream may frame differently (request smuggling, CVE-2025-22871), so each
 * piece of body it reports goes out as one canonical chunk, and chunk extensions and
 * trailers are dropped. A chunked response to an HTTP/1.0 client is de-chunked and ends
 * with the connection.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/log.h"
#include "proxy/apis.h"
#include "proxy/http_conn_int.h"
#include "proxy/http_util.h"
#include "proxy/proxy_cfg.h"
#include "proxy/upstream.h"
#include "proxy/ups_tls.h"
#include "proxy/worker.h"

static void on_ups(struct ups_conn *u, enum ups_event ev, const char *err, void *arg);
static void connect_upstream(struct hconn *c, bool fresh);
static void begin_exchange(struct hconn *c);
static bool pump_request(struct hconn *c);
static bool pump_response(struct hconn *c);
static bool response_head(struct hconn *c);
static void emit_head(struct hconn *c, bool final);
static void upstream_failed(struct hconn *c, const char *cause);
static bool finish(struct hconn *c);
static void build_up_head(struct hconn *c);
static const char *client_cert_b64(struct hconn *c);
static bool conn_listed(const struct hc_hdr_span *hs, size_t n, const char *buf, const char *name,
                        size_t nlen);
static int cb_status(http_parser *p, const char *at, size_t len);
static int cb_rfield(http_parser *p, const char *at, size_t len);
static int cb_rvalue(http_parser *p, const char *at, size_t len);
static int cb_rheaders_complete(http_parser *p);
static int cb_rbody(http_parser *p, const char *at, size_t len);
static int cb_rmessage_complete(http_parser *p);
static int rb_append(struct hconn *c, struct hc_span *s, const char *at, size_t len);
static int cb_req_message_complete(http_parser *p);
static int cb_req_chunk(http_parser *p, const char *at, size_t len);
static int cb_req_chunked_complete(http_parser *p);

static const http_parser_settings resp_head_settings = {
    .on_status = cb_status,
    .on_header_field = cb_rfield,
    .on_header_value = cb_rvalue,
    .on_headers_complete = cb_rheaders_complete,
    .on_message_complete = cb_rmessage_complete,
};

static const http_parser_settings resp_body_settings = {
    .on_body = cb_rbody,
    .on_message_complete = cb_rmessage_complete,
};

/* The request body after the head: trailers are relayed as bytes, not collected. */
static const http_parser_settings req_body_settings = {
    .on_message_complete = cb_req_message_complete,
};

/* A chunked request body towards the upstream: written anew, chunk by chunk. */
static const http_parser_settings req_chunked_settings = {
    .on_body = cb_req_chunk,
    .on_message_complete = cb_req_chunked_complete,
};

/* ---- shared with http_conn.c ---- */

void relay_start(struct hconn *c)
{
    const struct ups_tls *t = c->api->up_tls;

    if (c->api->target.tls && (t == NULL || ups_tls_error(t) != NULL)) {
        /* A configuration problem found when the snapshot was built (logged then). */
        WORKER_STAT_INC(c->w->stats.upstream_errors);
        log_info("conn=%d.%llu peer=%s api=%s upstream TLS: %s", c->w->id,
                 (unsigned long long)c->id, c->peer, c->api->auth.api_id,
                 t != NULL ? ups_tls_error(t) : "no profile");
        hc_local_reply(c, 502, t != NULL ? ups_tls_error(t) : "upstream TLS is not configured",
                       false);
        return;
    }
    build_up_head(c);
    c->retried = false;
    connect_upstream(c, false);
}

bool relay_pump(struct hconn *c)
{
    if (pump_request(c))
        return true;
    return pump_response(c);
}

void relay_client_drained(struct hconn *c)
{
    if (c->up != NULL)
        ups_read_enable(c->up, true);
}

void relay_abort(struct hconn *c)
{
    if (c->up != NULL) {
        ups_release(c->up, false);
        c->up = NULL;
    }
}

const http_parser_settings *relay_body_settings(void)
{
    return &req_body_settings;
}

/* ---- the exchange ---- */

static void connect_upstream(struct hconn *c, bool fresh)
{
    const struct api_target *t = &c->api->target;
    bool ready;

    hc_set_state(c, HC_ST_CONNECT);
    c->up = ups_acquire(c->w->ups, t->host, t->port, t->tls ? c->api->up_tls : NULL, on_ups, c,
                        &ready, fresh);
    if (ready)
        begin_exchange(c);
}

static void begin_exchange(struct hconn *c)
{
    http_parser_init(&c->sp, HTTP_RESPONSE);
    c->sp.data = c;
    c->rlen = 0;
    c->nrs = 0;
    c->r_last_cb = 0;
    c->r_overflow = false;
    c->reason.off = c->reason.len = 0;
    c->resp_head_done = c->resp_done = c->resp_close = c->dechunk = false;
    c->up_eof = false;
    evbuffer_add(ups_output(c->up), c->up_head, c->up_head_len);
    /* Expect: 100-continue is answered here, once the request is allowed and an upstream is
     * ready; the upstream never sees Expect (build_up_head drops it). */
    if (c->has_body && c->expect_continue && c->head.http_minor >= 1 && !c->retried &&
        c->body_seen == 0)
        evbuffer_add(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n", 25);
    hc_set_state(c, HC_ST_EXCHANGE);
    ups_set_timeout(c->up, c->w->cfg->upstream_timeout_ms);
}

static void on_ups(struct ups_conn *u, enum ups_event ev, const char *err, void *arg)
{
    struct hconn *c = arg;

    switch (ev) {
    case UPS_EV_CONNECTED:
        if (c->state == HC_ST_CONNECT)
            begin_exchange(c);
        break;
    case UPS_EV_READ:
        ups_set_timeout(u, c->w->cfg->upstream_timeout_ms);
        break;
    case UPS_EV_DRAINED:
        hc_client_read(c, true);
        break;
    case UPS_EV_EOF:
        c->up_eof = true;
        break;
    case UPS_EV_ERROR:
    default:
        if (!c->resp_started) {
            upstream_failed(c, err);
        } else {
            char why[160];

            snprintf(why, sizeof(why), "%s while relaying the response", err);
            WORKER_STAT_INC(c->w->stats.upstream_errors);
            hc_close(c, why);
        }
        break;
    }
    hc_drive(c);
}

static bool pump_request(struct hconn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev), *out;
    bool chunked = (c->rp.flags & F_CHUNKED) != 0;
    struct evbuffer_iovec v;
    enum http_errno e;
    bool moved = false;
    size_t n;

    if (c->req_done || c->up == NULL)
        return false;
    out = ups_output(c->up);
    while (!c->req_done && evbuffer_get_length(out) < HC_RELAY_HIGH &&
           evbuffer_peek(in, -1, NULL, &v, 1) > 0 && v.iov_len > 0) {
        n = http_parser_execute(&c->rp, chunked ? &req_chunked_settings : &req_body_settings,
                                v.iov_base, v.iov_len);
        e = HTTP_PARSER_ERRNO(&c->rp);
        if (e != HPE_OK && e != HPE_PAUSED) {
            log_info("conn=%d.%llu peer=%s bad request body: %s", c->w->id,
                     (unsigned long long)c->id, c->peer, http_errno_description(e));
            if (c->resp_started) {
                hc_close(c, "bad request body");
            } else {
                relay_abort(c);
                hc_local_reply(c, 400, "Bad Request", true);
            }
            return true;
        }
        if (chunked)
            evbuffer_drain(in, n); /* the callbacks wrote it */
        else
            evbuffer_remove_buffer(in, out, n);
        c->body_seen += n;
        moved = true;
    }
    if (moved) {
        ups_set_timeout(c->up, c->w->cfg->upstream_timeout_ms);
        hc_arm(c, c->w->cfg->idle_timeout_ms);
    }
    if (!c->req_done && evbuffer_get_length(out) >= HC_RELAY_HIGH)
        hc_client_read(c, false);
    if (!c->req_done && c->client_eof && evbuffer_get_length(in) == 0) {
        hc_close(c, "client closed the connection inside a request body");
        return true;
    }
    return false;
}

static bool pump_response(struct hconn *c)
{
    struct evbuffer *rin, *cout = bufferevent_get_output(c->bev);
    struct evbuffer_iovec v;
    enum http_errno e;
    size_t n, m;

    if (c->up == NULL)
        return false;
    rin = ups_input(c->up);
    while (!c->resp_done && evbuffer_get_length(cout) < HC_RELAY_HIGH &&
           evbuffer_peek(rin, -1, NULL, &v, 1) > 0 && v.iov_len > 0) {
        if (!c->resp_head_done) {
            n = http_parser_execute(&c->sp, &resp_head_settings, v.iov_base, v.iov_len);
            e = HTTP_PARSER_ERRNO(&c->sp);
            if (e == HPE_PAUSED) {
                evbuffer_drain(rin, n);
                http_parser_pause(&c->sp, 0);
                if (evbuffer_peek(rin, -1, NULL, &v, 1) < 1 || v.iov_len == 0) {
                    upstream_failed(c, "upstream sent a malformed response");
                    return true;
                }
                m = http_parser_execute(&c->sp, &resp_body_settings, v.iov_base, 1);
                e = HTTP_PARSER_ERRNO(&c->sp);
                if (e != HPE_OK && e != HPE_PAUSED) {
                    upstream_failed(c, "upstream sent a malformed response");
                    return true;
                }
                evbuffer_drain(rin, m);
                if (response_head(c))
                    return true;
                continue;
            }
            if (e != HPE_OK) {
                upstream_failed(c, c->r_overflow ? "upstream response head too large"
                                                 : "upstream sent a malformed response");
                return true;
            }
            evbuffer_drain(rin, n);
        } else {
            n = http_parser_execute(&c->sp, &resp_body_settings, v.iov_base, v.iov_len);
            e = HTTP_PARSER_ERRNO(&c->sp);
            if (e != HPE_OK && e != HPE_PAUSED) {
                WORKER_STAT_INC(c->w->stats.upstream_errors);
                hc_close(c, "upstream sent a malformed response body");
                return true;
            }
            if (c->dechunk)
                evbuffer_drain(rin, n);
            else
                evbuffer_remove_buffer(rin, cout, n);
        }
    }
    if (c->up == NULL)
        return false;
    if (!c->resp_done && evbuffer_get_length(cout) >= HC_RELAY_HIGH)
        ups_read_enable(c->up, false);
    if (!c->resp_done && c->up_eof && evbuffer_get_length(rin) == 0) {
        if (!c->resp_head_done) {
            upstream_failed(c, "upstream closed the connection");
            return true;
        }
        /* A body delimited by the connection's end completes here. */
        http_parser_execute(&c->sp, &resp_body_settings, NULL, 0);
        if (!c->resp_done) {
            WORKER_STAT_INC(c->w->stats.upstream_errors);
            hc_close(c, "upstream closed the connection inside a response");
            return true;
        }
    }
    if (c->resp_done)
        return finish(c);
    return false;
}

/* A response head was parsed: 1xx are relayed (or dropped) and parsing starts over; a final
 * head goes to the client. true when the state changed. */
static bool response_head(struct hconn *c)
{
    unsigned status = c->sp.status_code;

    if (status / 100 == 1) {
        if (status == 101) {
            upstream_failed(c, "upstream switched protocols unasked");
            return true;
        }
        /* Our own 100 Continue already went out (or was not wanted); others (103) go to
         * HTTP/1.1 clients only (RFC 9110 §15.2). */
        if (status != 100 && c->head.http_minor >= 1)
            emit_head(c, false);
        http_parser_init(&c->sp, HTTP_RESPONSE);
        c->sp.data = c;
        c->rlen = 0;
        c->nrs = 0;
        c->r_last_cb = 0;
        c->reason.off = c->reason.len = 0;
        c->resp_done = false;
        return false;
    }
    emit_head(c, true);
    return false;
}

static void emit_head(struct hconn *c, bool final)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    unsigned status = c->sp.status_code;
    bool no_body = c->is_head || status == 204 || status == 304;
    bool chunked = (c->sp.flags & F_CHUNKED) != 0;
    bool has_len = (c->sp.flags & F_CONTENTLENGTH) != 0;
    const char *reason = c->rbuf + c->reason.off;
    size_t rlen = c->reason.len;

    if (final) {
        c->dechunk = chunked && !no_body && c->head.http_minor == 0;
        c->resp_close = !c->keep_alive || c->client_eof || c->w->stopping || !c->req_done ||
                        c->dechunk || (!no_body && !chunked && !has_len);
    }
    if (rlen == 0 || memchr(reason, '\r', rlen) != NULL || memchr(reason, '\n', rlen) != NULL) {
        reason = http_status_str((enum http_status)status);
        rlen = strlen(reason);
    }
    evbuffer_add_printf(out, "HTTP/1.1 %u %.*s\r\n", status, (int)rlen, reason);
    for (size_t i = 0; i < c->nrs; i++) {
        const char *name = c->rbuf + c->rs[i].name.off, *val = c->rbuf + c->rs[i].value.off;
        size_t nlen = c->rs[i].name.len, vlen = c->rs[i].value.len;

        if (hu_drop_header(HU_TO_CLIENT, name, nlen) ||
            conn_listed(c->rs, c->nrs, c->rbuf, name, nlen))
            continue;
        if (c->dechunk && ((nlen == 17 && strncasecmp(name, "transfer-encoding", 17) == 0) ||
                           (nlen == 7 && strncasecmp(name, "trailer", 7) == 0)))
            continue;
        evbuffer_add_printf(out, "%.*s: %.*s\r\n", (int)nlen, name, (int)vlen, val);
    }
    if (final && c->resp_close)
        evbuffer_add(out, "Connection: close\r\n", 19);
    else if (final && c->head.http_minor == 0)
        evbuffer_add(out, "Connection: keep-alive\r\n", 24);
    evbuffer_add(out, "\r\n", 2);
    if (final) {
        c->status = (int)status;
        c->resp_head_done = true;
        c->resp_started = true;
        WORKER_STAT_INC(c->w->stats.responses[status / 100 % 6]);
    }
}

/* Before any byte of the answer went out: retry a stale pooled connection once, else
 * answer 502/504 naming the cause. */
static void upstream_failed(struct hconn *c, const char *cause)
{
    bool retry = c->up != NULL && ups_is_reused(c->up) && !c->retried && c->req_done &&
                 c->body_seen == 0 && cause != ups_err_timeout;
    char name[300];

    snprintf(name, sizeof(name), "%s", c->up != NULL ? ups_name(c->up) : "?");
    relay_abort(c);
    if (retry) {
        log_debug("conn=%d.%llu pooled connection to %s failed (%s); retrying on a new one",
                  c->w->id, (unsigned long long)c->id, name, cause);
        c->retried = true;
        connect_upstream(c, true);
        return;
    }
    WORKER_STAT_INC(c->w->stats.upstream_errors);
    log_info("conn=%d.%llu peer=%s req=%.*s %.*s api=%s upstream %s: %s", c->w->id,
             (unsigned long long)c->id, c->peer, (int)c->head.method_len, c->head.method,
             (int)c->head.path_len, c->head.path, c->api->auth.api_id, name, cause);
    hc_local_reply(c, cause == ups_err_timeout ? 504 : 502, cause, !c->req_done);
}

static bool finish(struct hconn *c)
{
    bool reuse = c->req_done && !c->up_eof && http_should_keep_alive(&c->sp) &&
                 evbuffer_get_length(ups_input(c->up)) == 0 &&
                 ((c->sp.flags & (F_CHUNKED | F_CONTENTLENGTH)) || c->is_head ||
                  c->sp.status_code == 204 || c->sp.status_code == 304);

    ups_release(c->up, reuse);
    c->up = NULL;
    hc_end_request(c, c->resp_close || !c->req_done);
    return true;
}

/* ---- the upstream request head ---- */

static void build_up_head(struct hconn *c)
{
    const struct http_head *h = &c->head;
    const struct api *api = c->api;
    struct evbuffer *b = evbuffer_new();
    char *path = hu_upstream_path(h->path, h->path_len, h->query, h->query_len, api->listen_path,
                                  api->strip_listen_path, api->target.path);
    struct evbuffer *xff = evbuffer_new();
    const char *cert;

    if (b == NULL || xff == NULL)
        die("out of memory (upstream head)");
    evbuffer_add_printf(b, "%.*s %s HTTP/1.1\r\n", (int)h->method_len, h->method, path);
    /* Host travels as the client sent it (the upstream sees the public name), from the
     * authority of an absolute-form target rather than the Host header; an HTTP/1.0
     * request without one gets the target's, as HTTP/1.1 requires a Host. */
    if (c->host_val != NULL)
        evbuffer_add_printf(b, "Host: %.*s\r\n", (int)c->host_val_len, c->host_val);
    else if (strchr(api->target.host, ':') != NULL)
        evbuffer_add_printf(b, "Host: [%s]:%d\r\n", api->target.host, api->target.port);
    else
        evbuffer_add_printf(b, "Host: %s:%d\r\n", api->target.host, api->target.port);
    for (size_t i = 0; i < h->nhdrs; i++) {
        const struct http_hdr *d = &h->hdrs[i];

        if (hu_drop_header(HU_TO_UPSTREAM, d->name, d->name_len) ||
            (d->name_len == 4 && strncasecmp(d->name, "host", 4) == 0) ||
            /* a chunked body is re-framed without trailers: say so ourselves (below) */
            (d->name_len == 17 && strncasecmp(d->name, "transfer-encoding", 17) == 0) ||
            (d->name_len == 7 && strncasecmp(d->name, "trailer", 7) == 0) ||
            conn_listed(c->hs, c->nhs, c->hbuf, d->name, d->name_len) ||
            (d->name_len == 6 && strncasecmp(d->name, "expect", 6) == 0))
            continue;
        if (d->name_len == 15 && strncasecmp(d->name, "x-forwarded-for", 15) == 0) {
            evbuffer_add_printf(xff, "%.*s, ", (int)d->value_len, d->value);
            continue;
        }
        evbuffer_add_printf(b, "%.*s: %.*s\r\n", (int)d->name_len, d->name, (int)d->value_len,
                            d->value);
    }
    if (c->rp.flags & F_CHUNKED)
        evbuffer_add_printf(b, "Transfer-Encoding: chunked\r\n");
    evbuffer_add_printf(b, "X-Forwarded-For: ");
    evbuffer_add_buffer(b, xff);
    evbuffer_add_printf(b, "%s\r\nX-Forwarded-Proto: %s\r\n", c->peer_ip,
                        c->ssl != NULL ? "https" : "http");
    if (c->host_val != NULL)
        evbuffer_add_printf(b, "X-Forwarded-Host: %.*s\r\n", (int)c->host_val_len, c->host_val);
    cert = client_cert_b64(c);
    if (cert != NULL) {
        evbuffer_add_printf(b, "Client-Cert: :%s:\r\n", cert);
        if (c->cert_id != NULL && c->cert_id[0] != '\0')
            evbuffer_add_printf(b, "X-Certbound-Cert-Id: %s\r\n", c->cert_id);
    }
    if (c->key_hash != NULL && c->key_hash[0] != '\0')
        evbuffer_add_printf(b, "X-Certbound-Key: %s\r\n", c->key_hash);
    evbuffer_add(b, "\r\n", 2);
    free(c->up_head);
    c->up_head_len = evbuffer_get_length(b);
    c->up_head = xmalloc(c->up_head_len + 1);
    evbuffer_remove(b, c->up_head, c->up_head_len);
    evbuffer_free(b);
    evbuffer_free(xff);
    free(path);
}

/* RFC 9440 §2.2: the DER as a structured-field byte sequence (standard base64, no breaks). */
static const char *client_cert_b64(struct hconn *c)
{
    X509 *leaf = c->ssl != NULL ? SSL_get0_peer_certificate(c->ssl) : NULL;
    unsigned char *der = NULL;
    int len;

    if (leaf == NULL)
        return NULL;
    if (c->cert_b64 != NULL)
        return c->cert_b64;
    len = i2d_X509(leaf, &der);
    if (len <= 0)
        return NULL;
    c->cert_b64 = xmalloc(((size_t)len + 2) / 3 * 4 + 1);
    EVP_EncodeBlock((unsigned char *)c->cert_b64, der, len);
    OPENSSL_free(der);
    return c->cert_b64;
}

/* Whether a Connection header among hs lists name (RFC 9110 §7.6.1). */
static bool conn_listed(const struct hc_hdr_span *hs, size_t n, const char *buf, const char *name,
                        size_t nlen)
{
    for (size_t i = 0; i < n; i++) {
        if (hs[i].name.len == 10 && strncasecmp(buf + hs[i].name.off, "connection", 10) == 0 &&
            hu_connection_lists(buf + hs[i].value.off, hs[i].value.len, name, nlen))
            return true;
    }
    return false;
}

/* ---- response parsing ---- */

static int cb_status(http_parser *p, const char *at, size_t len)
{
    struct hconn *c = p->data;

    if (c->reason.len == 0)
        c->reason.off = (uint32_t)c->rlen;
    return rb_append(c, &c->reason, at, len);
}

static int cb_rfield(http_parser *p, const char *at, size_t len)
{
    struct hconn *c = p->data;

    if (c->r_last_cb != 1) {
        if (c->nrs == HTTP_HEAD_MAX_HEADERS) {
            c->r_overflow = true;
            return -1;
        }
        c->rs[c->nrs].name.off = c->rs[c->nrs].value.off = (uint32_t)c->rlen;
        c->rs[c->nrs].name.len = c->rs[c->nrs].value.len = 0;
        c->nrs++;
        c->r_last_cb = 1;
    }
    return rb_append(c, &c->rs[c->nrs - 1].name, at, len);
}

static int cb_rvalue(http_parser *p, const char *at, size_t len)
{
    struct hconn *c = p->data;

    if (c->r_last_cb != 2) {
        c->rs[c->nrs - 1].value.off = (uint32_t)c->rlen;
        c->r_last_cb = 2;
    }
    return rb_append(c, &c->rs[c->nrs - 1].value, at, len);
}

/* Pause so the body stays in the input until the head went out; the answer to a HEAD
 * request, a 204 and a 304 have no body whatever their Content-Length says (RFC 9110 §6.4.1;
 * return 1 = skip body). */
static int cb_rheaders_complete(http_parser *p)
{
    struct hconn *c = p->data;
    unsigned status = p->status_code;

    http_parser_pause(p, 1);
    return (c->is_head || status == 204 || status == 304) && status / 100 != 1 ? 1 : 0;
}

static int cb_rbody(http_parser *p, const char *at, size_t len)
{
    struct hconn *c = p->data;

    if (c->dechunk)
        evbuffer_add(bufferevent_get_output(c->bev), at, len);
    return 0;
}

static int cb_rmessage_complete(http_parser *p)
{
    struct hconn *c = p->data;

    c->resp_done = true;
    http_parser_pause(p, 1);
    return 0;
}

static int cb_req_message_complete(http_parser *p)
{
    struct hconn *c = p->data;

    c->req_done = true;
    http_parser_pause(p, 1);
    return 0;
}

/* One piece of chunk data as http_parser delimited it: one chunk upstream. */
static int cb_req_chunk(http_parser *p, const char *at, size_t len)
{
    struct hconn *c = p->data;
    struct evbuffer *out = ups_output(c->up);

    if (len == 0) /* a zero-size chunk would end the body */
        return 0;
    evbuffer_add_printf(out, "%zx\r\n", len);
    evbuffer_add(out, at, len);
    evbuffer_add(out, "\r\n", 2);
    return 0;
}

/* The last chunk, without extensions or trailers (those the client sent are dropped). */
static int cb_req_chunked_complete(http_parser *p)
{
    struct hconn *c = p->data;

    evbuffer_add(ups_output(c->up), "0\r\n\r\n", 5);
    return cb_req_message_complete(p);
}

static int rb_append(struct hconn *c, struct hc_span *s, const char *at, size_t len)
{
    if (c->rlen + len > HC_RESP_HEAD_MAX) {
        c->r_overflow = true;
        return -1;
    }
    if (c->rlen + len > c->rcap) {
        c->rcap = c->rcap == 0 ? 4096 : c->rcap;
        while (c->rcap < c->rlen + len)
            c->rcap *= 2;
        c->rbuf = xrealloc(c->rbuf, c->rcap);
    }
    memcpy(c->rbuf + c->rlen, at, len);
    c->rlen += len;
    s->len += (uint32_t)len;
    return 0;
}
