/*
 * rpc_server: one struct rpc_conn per connection, reference-counted by the calls in flight
 * so a store callback that completes after the peer left never writes to a freed channel.
 * Private keys are only handed to callers on a unix socket or loopback (DESIGN §5).
 */
#include "authd/rpc_server.h"

#include <errno.h>
#include <sys/queue.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>

#include "authd/apidefs.h"
#include "authd/authd.h"
#include "authd/authd_cfg.h"
#include "authd/authorize.h"
#include "authd/certstore.h"
#include "authd/sessions.h"
#include "authd/stats.h"
#include "common/errs.h"
#include "common/log.h"
#include "common/mpjson.h"
#include "common/rpc_chan.h"
#include "common/strutil.h"
#include "common/version.h"

#define RPC_PROTOCOL 1
#define RPC_MAX_INFLIGHT 1024
#define RPC_MAX_OUTPUT (16 * 1024 * 1024)
#define RPC_MAX_IDS 256

struct rpcsrv {
    struct authd *ad;
    struct evconnlistener *lis;
    char *unix_path;
    int port;
    size_t nconns, max_conns;
    size_t nalloc;                      /* rpc_conn structs alive (open or with calls) */
    bool dying;                         /* rpcsrv_free ran: the last rpc_conn frees s */
    TAILQ_HEAD(, rpc_conn) conns;       /* open connections */
    TAILQ_HEAD(, rpc_conn) subscribers; /* connections that called subscribe */
};

struct rpc_conn {
    struct rpcsrv *srv;
    struct rpc_chan *ch;
    int refs;            /* 1 for the open channel + 1 per call in flight */
    size_t inflight;
    bool closed;
    bool trusted;        /* unix socket or loopback peer: may receive private keys */
    bool subscribed;
    TAILQ_ENTRY(rpc_conn) link;
    TAILQ_ENTRY(rpc_conn) sub_link;
};

struct rpc_call {
    struct rpc_conn *conn;
    uint32_t msgid;
    bool want_private;
    char **ids;
    size_t nids;
    char *org;
    char *cert_id;
    char *rkey;
    bool second_try;
};

typedef void (*rpc_method_fn)(struct rpc_conn *c, const struct rpc_msg *m);

static void m_hello(struct rpc_conn *c, const struct rpc_msg *m);
static void m_apis_list(struct rpc_conn *c, const struct rpc_msg *m);
static void m_certs_get(struct rpc_conn *c, const struct rpc_msg *m);
static void m_session_get(struct rpc_conn *c, const struct rpc_msg *m);
static void m_session_by_cert(struct rpc_conn *c, const struct rpc_msg *m);
static void m_authorize(struct rpc_conn *c, const struct rpc_msg *m);
static void m_subscribe(struct rpc_conn *c, const struct rpc_msg *m);

/* The method table (schema/rpc.md). */
static const struct {
    const char *name;
    rpc_method_fn fn;
} methods[] = {
    {"hello", m_hello},
    {"apis.list", m_apis_list},
    {"certs.get", m_certs_get},
    {"session.get", m_session_get},
    {"session.by_cert", m_session_by_cert},
    {"authorize", m_authorize},
    {"subscribe", m_subscribe},
};

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg);
static void on_msg(struct rpc_chan *ch, const struct rpc_msg *m, void *arg);
static void on_close(struct rpc_chan *ch, const char *err, void *arg);
static void conn_unref(struct rpc_conn *c);
static struct rpc_call *call_new(struct rpc_conn *c, uint32_t msgid);
static void call_free(struct rpc_call *call);
static void send_error(struct rpc_conn *c, uint32_t msgid, enum rpc_errcode code,
                       const char *msg);
static void send_enc(struct rpc_conn *c, struct rpc_enc *e);

/* ---- public functions ---- */

static struct evconnlistener *listen_unix(struct rpcsrv *s, const char *path, char **err)
{
    struct sockaddr_un sun;
    struct evconnlistener *l;

    if (strlen(path) >= sizeof(sun.sun_path)) {
        *err = xasprintf("rpc_listen: unix socket path too long: %s", path);
        return NULL;
    }
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    strcpy(sun.sun_path, path);
    unlink(path); /* a stale socket from a previous run */
    l = evconnlistener_new_bind(s->ad->base, on_accept, s,
                                LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 128,
                                (struct sockaddr *)&sun, sizeof(sun));
    if (l == NULL)
        *err = xasprintf("rpc_listen: cannot listen on unix:%s: %s", path, strerror(errno));
    else
        s->unix_path = xstrdup(path);
    return l;
}

static struct evconnlistener *listen_tcp(struct rpcsrv *s, const char *spec, char **err)
{
    struct sockaddr_storage ss;
    int sl = sizeof(ss);
    struct evconnlistener *l;
    ev_socklen_t bl = sizeof(ss);

    const char *colon = strrchr(spec, ':');
    char *probe;
    bool any_port = colon != NULL && strcmp(colon, ":0") == 0;

    memset(&ss, 0, sizeof(ss));
    /* evutil_parse_sockaddr_port refuses port 0, which tests use to get any free port. */
    probe = any_port ? xasprintf("%.*s:1", (int)(colon - spec), spec) : xstrdup(spec);
    if (evutil_parse_sockaddr_port(probe, (struct sockaddr *)&ss, &sl) < 0) {
        free(probe);
        *err = xasprintf("rpc_listen: cannot parse '%s' as host:port", spec);
        return NULL;
    }
    free(probe);
    if (any_port) {
        if (ss.ss_family == AF_INET6)
            ((struct sockaddr_in6 *)&ss)->sin6_port = 0;
        else
            ((struct sockaddr_in *)&ss)->sin_port = 0;
    }
    l = evconnlistener_new_bind(s->ad->base, on_accept, s,
                                LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC |
                                    LEV_OPT_REUSEABLE,
                                128, (struct sockaddr *)&ss, sl);
    if (l == NULL) {
        *err = xasprintf("rpc_listen: cannot listen on %s: %s", spec, strerror(errno));
        return NULL;
    }
    if (getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&ss, &bl) == 0)
        s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    return l;
}

struct rpcsrv *rpcsrv_new(struct authd *ad, const char *listen, size_t max_conns, char **err)
{
    struct rpcsrv *s = xcalloc(1, sizeof(*s));

    s->ad = ad;
    s->max_conns = max_conns;
    TAILQ_INIT(&s->conns);
    TAILQ_INIT(&s->subscribers);
    if (strncmp(listen, "unix:", 5) == 0)
        s->lis = listen_unix(s, listen + 5, err);
    else
        s->lis = listen_tcp(s, listen, err);
    if (s->lis == NULL) {
        free(s);
        return NULL;
    }
    return s;
}

int rpcsrv_port(const struct rpcsrv *s)
{
    return s->port;
}

void rpcsrv_publish(struct rpcsrv *s, const json_t *params)
{
    struct rpc_conn *c, *next;
    const unsigned char *buf;
    struct rpc_enc e;
    size_t len;

    if (TAILQ_EMPTY(&s->subscribers))
        return;
    rpc_enc_init(&e);
    rpc_enc_notify(&e, "invalidate");
    mpjson_pack(&e.pk, params);
    if (rpc_enc_finish(&e, &buf, &len) == 0) {
        /* A subscriber that cannot take the frame is closed by rpc_chan (output limit);
         * on_close runs later from the loop, so the list stays intact here. */
        for (c = TAILQ_FIRST(&s->subscribers); c != NULL; c = next) {
            next = TAILQ_NEXT(c, sub_link);
            if (!c->closed && rpc_chan_send(c->ch, buf, len) < 0)
                log_warn("rpc: %s: invalidation dropped (output limit)", rpc_chan_name(c->ch));
        }
    }
    rpc_enc_destroy(&e);
}

size_t rpcsrv_connections(const struct rpcsrv *s)
{
    return s->nconns;
}

void rpcsrv_stop(struct rpcsrv *s)
{
    if (s->lis != NULL) {
        evconnlistener_free(s->lis);
        s->lis = NULL;
    }
}

static void conn_detach(struct rpc_conn *c);

void rpcsrv_free(struct rpcsrv *s)
{
    struct rpc_conn *c;

    if (s == NULL)
        return;
    rpcsrv_stop(s);
    if (s->unix_path != NULL)
        unlink(s->unix_path);
    free(s->unix_path);
    s->unix_path = NULL;
    /* Close what is still open; a connection with calls in flight lives on (closed) until
     * the stores fail those calls, and the last one to go frees s. */
    while ((c = TAILQ_FIRST(&s->conns)) != NULL) {
        rpc_chan_free(c->ch);
        c->ch = NULL;
        conn_detach(c);
        conn_unref(c);
    }
    s->dying = true;
    if (s->nalloc == 0)
        free(s);
}

/* ---- connections ---- */

static bool peer_is_local(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_UNIX)
        return true;
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
    return false;
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    struct rpcsrv *s = arg;
    struct rpc_chan_limits lim = {RPC_FRAME_MAX, RPC_MAX_OUTPUT};
    struct bufferevent *bev;
    struct rpc_conn *c;
    char name[64];

    if (s->nconns >= s->max_conns) {
        log_warn("rpc: connection refused: rpc_max_connections (%zu) reached", s->max_conns);
        evutil_closesocket(fd);
        return;
    }
    bev = bufferevent_socket_new(s->ad->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
        evutil_closesocket(fd);
        return;
    }
    c = xcalloc(1, sizeof(*c));
    c->srv = s;
    c->refs = 1;
    c->trusted = peer_is_local(sa);
    TAILQ_INSERT_TAIL(&s->conns, c, link);
    s->nalloc++;
    s->nconns++;
    stats_inc(s->ad->stats, ST_RPC_CONNECTIONS);
    snprintf(name, sizeof(name), "rpc#%zu", s->nconns);
    c->ch = rpc_chan_new(bev, name, &lim, on_msg, on_close, c);
}

static void on_close(struct rpc_chan *ch, const char *err, void *arg)
{
    struct rpc_conn *c = arg;

    if (err != NULL && err != cb_err_conn_closed)
        stats_inc(c->srv->ad->stats, ST_RPC_PROTOCOL_ERRORS);
    if (err != NULL)
        log_info("rpc: %s closed: %s", rpc_chan_name(ch), err);
    rpc_chan_free(ch);
    c->ch = NULL;
    conn_detach(c);
    conn_unref(c);
}

/* The channel is gone: off the lists, never written to again. */
static void conn_detach(struct rpc_conn *c)
{
    c->closed = true;
    c->srv->nconns--;
    TAILQ_REMOVE(&c->srv->conns, c, link);
    if (c->subscribed) {
        TAILQ_REMOVE(&c->srv->subscribers, c, sub_link);
        c->subscribed = false;
    }
}

static void conn_unref(struct rpc_conn *c)
{
    struct rpcsrv *s = c->srv;

    if (--c->refs > 0)
        return;
    free(c);
    if (--s->nalloc == 0 && s->dying)
        free(s);
}

static void on_msg(struct rpc_chan *ch, const struct rpc_msg *m, void *arg)
{
    struct rpc_conn *c = arg;

    if (m->type != RPC_REQUEST) {
        log_info("rpc: %s sent a non-request message; ignored", rpc_chan_name(ch));
        return;
    }
    if (c->inflight >= RPC_MAX_INFLIGHT) {
        send_error(c, m->msgid, RPC_E_UNAVAILABLE, "too many calls in flight");
        return;
    }
    for (size_t i = 0; i < CB_ARRAY_LEN(methods); i++) {
        if (strlen(methods[i].name) == m->method_len &&
            memcmp(methods[i].name, m->method, m->method_len) == 0) {
            methods[i].fn(c, m);
            return;
        }
    }
    send_error(c, m->msgid, RPC_E_NOT_FOUND, "unknown method");
}

/* ---- replies ---- */

static void send_enc(struct rpc_conn *c, struct rpc_enc *e)
{
    const unsigned char *buf;
    size_t len;

    stats_inc(c->srv->ad->stats, ST_RPC_CALLS);
    if (!c->closed && rpc_enc_finish(e, &buf, &len) == 0 && rpc_chan_send(c->ch, buf, len) < 0)
        log_warn("rpc: %s: reply dropped (output limit)", rpc_chan_name(c->ch));
    rpc_enc_destroy(e);
}

static void send_error(struct rpc_conn *c, uint32_t msgid, enum rpc_errcode code,
                       const char *msg)
{
    struct rpc_enc e;

    stats_inc(c->srv->ad->stats, ST_RPC_ERRORS);
    rpc_enc_init(&e);
    rpc_enc_error(&e, msgid, code, msg);
    send_enc(c, &e);
}

static void send_json(struct rpc_conn *c, uint32_t msgid, json_t *v)
{
    struct rpc_enc e;

    rpc_enc_init(&e);
    rpc_enc_result(&e, msgid);
    mpjson_pack(&e.pk, v);
    json_decref(v);
    send_enc(c, &e);
}

static struct rpc_call *call_new(struct rpc_conn *c, uint32_t msgid)
{
    struct rpc_call *call = xcalloc(1, sizeof(*call));

    call->conn = c;
    call->msgid = msgid;
    c->refs++;
    c->inflight++;
    return call;
}

static void call_free(struct rpc_call *call)
{
    for (size_t i = 0; i < call->nids; i++)
        free(call->ids[i]);
    free(call->ids);
    free(call->org);
    free(call->cert_id);
    free(call->rkey);
    call->conn->inflight--;
    conn_unref(call->conn);
    free(call);
}

static bool store_err(struct rpc_call *call, const char *err)
{
    if (err == NULL)
        return false;
    send_error(call->conn, call->msgid, RPC_E_UNAVAILABLE, "store unavailable");
    call_free(call);
    return true;
}

/* ---- methods ---- */

static void m_hello(struct rpc_conn *c, const struct rpc_msg *m)
{
    const msgpack_object *p = rpc_map_get(&m->params, "protocol");

    if (p == NULL || p->type != MSGPACK_OBJECT_POSITIVE_INTEGER || p->via.u64 < 1) {
        send_error(c, m->msgid, RPC_E_BAD_REQUEST, "hello needs params {\"protocol\":1}");
        return;
    }
    send_json(c, m->msgid, json_pack("{s:i, s:s, s:s}", "protocol", RPC_PROTOCOL, "server",
                                     "certbound-authd", "version", CB_VERSION));
}

static void on_apis(const PGresult *res, const char *err, void *arg)
{
    struct rpc_call *call = arg;
    json_t *apis = json_array();
    long long rev = 0;

    if (store_err(call, err)) {
        json_decref(apis);
        return;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        rev = atoll(PQgetvalue(res, i, AD_STORE_REVISION));
        if (PQgetisnull(res, i, AD_API_ID))
            continue;
        json_array_append_new(apis, json_pack("{s:s, s:I, s:o}", "api_id",
                                              PQgetvalue(res, i, AD_API_ID), "revision",
                                              (json_int_t)atoll(PQgetvalue(res, i, AD_REVISION)),
                                              "definition",
                                              json_loads(PQgetvalue(res, i, AD_DEFINITION), 0,
                                                         NULL)));
    }
    send_json(call->conn, call->msgid, json_pack("{s:I, s:o}", "revision", (json_int_t)rev,
                                                 "apis", apis));
    call_free(call);
}

static void m_apis_list(struct rpc_conn *c, const struct rpc_msg *m)
{
    struct rpc_call *call = call_new(c, m->msgid);

    if (apidefs_select(c->srv->ad, NULL, on_apis, call) < 0) {
        send_error(c, m->msgid, RPC_E_UNAVAILABLE, "store unavailable");
        call_free(call);
    }
}

static json_t *key_pem(struct authd *ad, const PGresult *res, int row)
{
    unsigned char *der = NULL;
    const unsigned char *p;
    size_t len = 0;
    EVP_PKEY *pk;
    BIO *b;
    json_t *out = NULL;
    char *data;
    long n;

    if (certstore_row_key(ad, res, row, &der, &len) != 0)
        return NULL;
    p = der;
    pk = d2i_AutoPrivateKey(NULL, &p, (long)len);
    OPENSSL_cleanse(der, len);
    free(der);
    if (pk == NULL)
        return NULL;
    b = BIO_new(BIO_s_secmem());
    if (b != NULL && PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL) == 1) {
        n = BIO_get_mem_data(b, &data);
        out = json_stringn(data, (size_t)n);
    }
    BIO_free(b);
    EVP_PKEY_free(pk);
    return out;
}

static void on_certs(const PGresult *res, const char *err, void *arg)
{
    struct rpc_call *call = arg;
    struct authd *ad = call->conn->srv->ad;
    json_t *certs = json_array();

    if (store_err(call, err)) {
        json_decref(certs);
        return;
    }
    for (size_t i = 0; i < call->nids; i++) {
        int row = certstore_find_row(res, call->ids[i]);
        json_t *c, *k;

        if (row < 0) {
            json_array_append_new(certs, json_null());
            continue;
        }
        c = json_pack("{s:s, s:s, s:s}", "id", call->ids[i], "kind", PQgetvalue(res, row, CS_KIND),
                      "pem", PQgetvalue(res, row, CS_PEM));
        json_object_set_new(c, "meta", json_loads(PQgetvalue(res, row, CS_META), 0, NULL));
        json_object_set_new(c, "has_private", json_boolean(!PQgetisnull(res, row, CS_KEY_ENVELOPE)));
        if (call->want_private && (k = key_pem(ad, res, row)) != NULL)
            json_object_set_new(c, "private_key_pem", k);
        json_array_append_new(certs, c);
    }
    send_json(call->conn, call->msgid, json_pack("{s:o}", "certs", certs));
    call_free(call);
}

static void m_certs_get(struct rpc_conn *c, const struct rpc_msg *m)
{
    const msgpack_object *ids = rpc_map_get(&m->params, "ids");
    const msgpack_object *priv = rpc_map_get(&m->params, "private");
    struct rpc_call *call;

    if (ids == NULL || ids->type != MSGPACK_OBJECT_ARRAY || ids->via.array.size == 0 ||
        ids->via.array.size > RPC_MAX_IDS) {
        send_error(c, m->msgid, RPC_E_BAD_REQUEST, "certs.get needs ids: [1..256 strings]");
        return;
    }
    if (priv != NULL && priv->type == MSGPACK_OBJECT_BOOLEAN && priv->via.boolean && !c->trusted) {
        send_error(c, m->msgid, RPC_E_FORBIDDEN,
                   "private keys are only served over a unix socket or loopback");
        return;
    }
    call = call_new(c, m->msgid);
    call->want_private = priv != NULL && priv->type == MSGPACK_OBJECT_BOOLEAN && priv->via.boolean;
    call->ids = xcalloc(ids->via.array.size, sizeof(char *));
    for (uint32_t i = 0; i < ids->via.array.size; i++) {
        char *s = rpc_obj_strdup(&ids->via.array.ptr[i]);

        if (s == NULL) {
            send_error(c, m->msgid, RPC_E_BAD_REQUEST, "certs.get: ids must be strings");
            call_free(call);
            return;
        }
        call->ids[call->nids++] = s;
    }
    if (certstore_fetch(c->srv->ad, (const char *const *)call->ids, call->nids, on_certs, call) <
        0) {
        send_error(c, m->msgid, RPC_E_UNAVAILABLE, "store unavailable");
        call_free(call);
    }
}

static void reply_session(struct rpc_call *call, json_t *session)
{
    json_t *r = json_pack("{s:b}", "found", session != NULL);
    if (session != NULL) {
        /* With hash_keys the Redis name carries the key hash; without, the key itself. */
        json_object_set_new(r, "redis_key", json_string(call->rkey));
        if (call->conn->srv->ad->cfg->hash_keys)
            json_object_set_new(r, "key_hash",
                                json_string(call->rkey + strlen(SESSIONS_PREFIX)));
        json_object_set(r, "session", session);
    }
    send_json(call->conn, call->msgid, r);
    call_free(call);
}

static void on_session(json_t *session, const char *err, void *arg)
{
    struct rpc_call *call = arg;

    if (!store_err(call, err))
        reply_session(call, session);
}

static void m_session_get(struct rpc_conn *c, const struct rpc_msg *m)
{
    struct authd *ad = c->srv->ad;
    char *key = rpc_obj_strdup(rpc_map_get(&m->params, "key"));
    char *hash = rpc_obj_strdup(rpc_map_get(&m->params, "hash"));
    bool by_hash = hash != NULL;
    char *id = by_hash ? hash : key;
    struct rpc_call *call;

    if (key != NULL && hash != NULL) {
        free(key);
        free(hash);
        send_error(c, m->msgid, RPC_E_BAD_REQUEST, "session.get needs key or hash, not both");
        return;
    }
    if (id == NULL) {
        send_error(c, m->msgid, RPC_E_BAD_REQUEST, "session.get needs key or hash");
        return;
    }
    if (!by_hash && (long long)strlen(id) < ad->cfg->min_token_length) {
        free(id);
        send_json(c, m->msgid, json_pack("{s:b}", "found", 0));
        return;
    }
    call = call_new(c, m->msgid);
    call->rkey = sessions_redis_key(ad, id, by_hash);
    free(id);
    if (sessions_get(ad, call->rkey, on_session, call) < 0) {
        send_error(c, m->msgid, RPC_E_UNAVAILABLE, "session store unavailable");
        call_free(call);
    }
}

/* Lookup "by certificate" (spec §4.3): generateToken(org, cert id), then the cert id. */
static void on_session_by_cert(json_t *session, const char *err, void *arg)
{
    struct rpc_call *call = arg;
    struct authd *ad = call->conn->srv->ad;

    if (store_err(call, err))
        return;
    if (session != NULL || call->second_try) {
        reply_session(call, session);
        return;
    }
    call->second_try = true;
    free(call->rkey);
    call->rkey = sessions_redis_key(ad, call->cert_id, false);
    if (sessions_get(ad, call->rkey, on_session_by_cert, call) < 0)
        store_err(call, cb_err_unavailable);
}

static void m_session_by_cert(struct rpc_conn *c, const struct rpc_msg *m)
{
    struct authd *ad = c->srv->ad;
    char *org = rpc_obj_strdup(rpc_map_get(&m->params, "org_id"));
    char *cert = rpc_obj_strdup(rpc_map_get(&m->params, "cert_id"));
    struct rpc_call *call;
    char *token;

    if (org == NULL || cert == NULL) {
        free(org);
        free(cert);
        send_error(c, m->msgid, RPC_E_BAD_REQUEST, "session.by_cert needs org_id and cert_id");
        return;
    }
    call = call_new(c, m->msgid);
    call->org = org;
    call->cert_id = cert;
    token = token_generate(org, cert, ad->cfg->hash_key_function);
    call->rkey = sessions_redis_key(ad, token, false);
    free(token);
    if (sessions_get(ad, call->rkey, on_session_by_cert, call) < 0) {
        send_error(c, m->msgid, RPC_E_UNAVAILABLE, "session store unavailable");
        call_free(call);
    }
}

static void m_subscribe(struct rpc_conn *c, const struct rpc_msg *m)
{
    if (!c->subscribed) {
        TAILQ_INSERT_TAIL(&c->srv->subscribers, c, sub_link);
        c->subscribed = true;
    }
    send_json(c, m->msgid, json_pack("{s:b}", "subscribed", 1));
}

/* An optional bool param: absent = def; any other type is refused (-1). */
static int param_bool(const struct rpc_msg *m, const char *name, bool def, bool *out)
{
    const msgpack_object *o = rpc_map_get(&m->params, name);

    if (o == NULL || o->type == MSGPACK_OBJECT_NIL) {
        *out = def;
        return 0;
    }
    if (o->type != MSGPACK_OBJECT_BOOLEAN)
        return -1;
    *out = o->via.boolean;
    return 0;
}

/* An optional str param: absent/nil = NULL (0); a non-string is refused (-1). Heap copy. */
static int param_str(const struct rpc_msg *m, const char *name, char **out)
{
    const msgpack_object *o = rpc_map_get(&m->params, name);

    *out = NULL;
    if (o == NULL || o->type == MSGPACK_OBJECT_NIL)
        return 0;
    *out = rpc_obj_strdup(o);
    return *out == NULL ? -1 : 0;
}

static void on_authorized(const struct authorize_out *out, const char *serr, void *arg)
{
    struct rpc_call *call = arg;
    json_t *r;

    if (store_err(call, serr))
        return;
    r = json_pack("{s:i}", "status", out->status);
    if (out->status == 200) {
        json_object_set_new(r, "key_hash", json_string(out->key_hash));
        json_object_set_new(r, "cache_ms", json_integer(out->cache_ms));
    } else {
        json_object_set_new(r, "error", json_string(out->error));
    }
    send_json(call->conn, call->msgid, r);
    call_free(call);
}

static void m_authorize(struct rpc_conn *c, const struct rpc_msg *m)
{
    struct authorize_in in = {0};
    char *api_id = NULL, *org_id = NULL, *cert_sha = NULL, *token = NULL;
    struct rpc_call *call;
    bool bad;

    bad = param_str(m, "api_id", &api_id) < 0 || param_str(m, "org_id", &org_id) < 0 ||
          param_str(m, "cert_sha", &cert_sha) < 0 || param_str(m, "token", &token) < 0 ||
          param_bool(m, "use_certificate", false, &in.use_certificate) < 0 ||
          param_bool(m, "static_mtls", false, &in.static_mtls) < 0 ||
          param_bool(m, "tls", true, &in.tls) < 0 ||
          param_bool(m, "cert_expired", false, &in.cert_expired) < 0;
    if (!bad && (api_id == NULL || org_id == NULL))
        bad = true;
    if (!bad && cert_sha != NULL && (strlen(cert_sha) != 64 || !str_is_hex(cert_sha, 64)))
        bad = true;
    if (bad) {
        send_error(c, m->msgid, RPC_E_BAD_REQUEST,
                   "authorize needs api_id and org_id (str), cert_sha (64 hex), token (str), "
                   "use_certificate/static_mtls/tls/cert_expired (bool)");
    } else {
        in.api_id = api_id;
        in.org_id = org_id;
        in.cert_sha = cert_sha;
        in.token = token;
        call = call_new(c, m->msgid);
        if (authorize_start(c->srv->ad, &in, on_authorized, call) < 0) {
            send_error(c, m->msgid, RPC_E_BAD_REQUEST, "authorize: bad parameters");
            call_free(call);
        }
    }
    free(api_id);
    free(org_id);
    free(cert_sha);
    free(token);
}
