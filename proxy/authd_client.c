/*
 * authd_client: the worker's msgpack-RPC connection to authd (schema/rpc.md). One
 * rpc_chan; calls are pipelined and matched by msgid through a small hash table; every
 * call owns a timer that is either its timeout or, after a connection loss, the deferred
 * 503 (so a callback never runs from inside authd_client_call or rpc_chan). The snapshot
 * loader (apis.list, then certs.get in batches of at most 256 ids) runs on the same
 * channel; at most one load is in flight and store notifications that arrive meanwhile
 * make it run once more. Not for deciding anything: see authz and apis.
 */
#include "proxy/authd_client.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>

#include "common/errs.h"
#include "common/log.h"
#include "common/mpjson.h"
#include "common/rpc_chan.h"
#include "common/rpc_codec.h"
#include "common/strutil.h"
#include "common/version.h"
#include "proxy/apis.h"
#include "proxy/proxy_cfg.h"

#define AC_PROTOCOL            1
#define AC_BUCKETS             1024 /* msgids are sequential: chains stay short */
#define AC_BACKOFF_MIN_MS      50
#define AC_BACKOFF_MAX_MS      2000
#define AC_LOAD_TIMEOUT_MIN_MS 10000 /* snapshot calls may move megabytes */
#define AC_RELOAD_RETRY_MS     1000  /* a load that failed on a live connection */
#define AC_MAX_IDS             256   /* certs.get limit (schema/rpc.md) */
#define AC_ERRMSG_MAX          200

enum ac_state {
    AC_ST_IDLE = 0,   /* not started */
    AC_ST_CONNECTING, /* channel open, hello not answered yet (calls are queued behind it) */
    AC_ST_READY,      /* hello answered */
    AC_ST_BACKOFF     /* no channel; reconnect timer armed */
};

struct authd_call {
    struct authd_client *ac;
    uint32_t msgid;
    authd_call_cb cb;
    void *arg;
    struct event *ev;     /* the timeout, or the deferred failure */
    const char *fail_msg; /* set when ev delivers a failure rather than a timeout */
    bool in_table;
    struct authd_call *hnext;       /* msgid bucket */
    struct authd_call *prev, *next; /* every live call */
};

struct load_batch {
    struct authd_client *ac;
    json_t *ids; /* the ids asked for, in order */
    bool private;
};

struct load {
    json_t *list;  /* apis.list result */
    json_t *certs; /* id -> certs.get element or null */
    struct load_batch *b;
    size_t nb;
    size_t pending;
    bool failed;
};

struct authd_client {
    struct event_base *base;
    const struct proxy_config *cfg;
    char *name;
    authd_snapshot_cb on_snapshot;
    authd_invalidate_cb on_invalidate;
    void *arg;
    enum ac_state state;
    struct rpc_chan *ch;
    struct evdns_base *dns;
    struct event *retry_ev;  /* reconnect after backoff */
    struct event *reload_ev; /* retry a failed snapshot load */
    unsigned backoff_ms;
    bool warned_down; /* the outage was logged at warn level once */
    bool warned_no_subscribe;
    uint32_t next_msgid;
    struct authd_call *table[AC_BUCKETS];
    struct authd_call *calls;
    struct rpc_enc enc;
    bool have_snapshot;
    long long revision;
    struct load *load;
    bool reload_again;
};

static void ac_connect(struct authd_client *ac);
static void ac_on_msg(struct rpc_chan *ch, const struct rpc_msg *m, void *arg);
static void ac_on_close(struct rpc_chan *ch, const char *err, void *arg);
static void ac_on_retry(evutil_socket_t fd, short what, void *arg);
static void ac_on_reload(evutil_socket_t fd, short what, void *arg);
static void ac_on_call_ev(evutil_socket_t fd, short what, void *arg);
static void ac_conn_lost(struct authd_client *ac, const char *why);
static void ac_drop(struct authd_client *ac, const char *why);
static struct authd_call *ac_call(struct authd_client *ac, const char *method, json_t *params,
                                  long long timeout_ms, authd_call_cb cb, void *arg);
static void call_fail_later(struct authd_call *c, const char *msg);
static void call_free(struct authd_call *c);
static void table_remove(struct authd_call *c);
static void on_hello(const json_t *result, int code, const char *err, void *arg);
static void on_subscribe(const json_t *result, int code, const char *err, void *arg);
static void load_start(struct authd_client *ac);
static void load_free(struct load *l);

/* ---- public functions ---- */

struct authd_client *authd_client_new(struct event_base *base, const struct proxy_config *cfg,
                                      const char *name, authd_snapshot_cb on_snapshot,
                                      authd_invalidate_cb on_invalidate, void *arg)
{
    struct authd_client *ac = xcalloc(1, sizeof(*ac));

    ac->base = base;
    ac->cfg = cfg;
    ac->name = xasprintf("authd/%s", name != NULL ? name : "proxy");
    ac->on_snapshot = on_snapshot;
    ac->on_invalidate = on_invalidate;
    ac->arg = arg;
    ac->backoff_ms = AC_BACKOFF_MIN_MS;
    ac->next_msgid = 1;
    ac->retry_ev = evtimer_new(base, ac_on_retry, ac);
    ac->reload_ev = evtimer_new(base, ac_on_reload, ac);
    if (ac->retry_ev == NULL || ac->reload_ev == NULL)
        die("authd_client: out of memory");
    rpc_enc_init(&ac->enc);
    return ac;
}

void authd_client_start(struct authd_client *ac)
{
    if (ac->state == AC_ST_IDLE)
        ac_connect(ac);
}

bool authd_client_connected(const struct authd_client *ac)
{
    return ac->state == AC_ST_READY;
}

struct authd_call *authd_client_call(struct authd_client *ac, const char *method, json_t *params,
                                     authd_call_cb cb, void *arg)
{
    return ac_call(ac, method, params, ac->cfg->authd_timeout_ms, cb, arg);
}

void authd_call_cancel(struct authd_call *c)
{
    if (c != NULL)
        call_free(c);
}

void authd_client_free(struct authd_client *ac)
{
    if (ac == NULL)
        return;
    rpc_chan_free(ac->ch);
    while (ac->calls != NULL)
        call_free(ac->calls); /* their owners are gone: no callbacks */
    load_free(ac->load);
    event_free(ac->retry_ev);
    event_free(ac->reload_ev);
    if (ac->dns != NULL)
        evdns_base_free(ac->dns, 0);
    rpc_enc_destroy(&ac->enc);
    free(ac->name);
    free(ac);
}

/* ---- connection ---- */

/* "host:port", "[v6]:port" or "unix:/path" → a connecting bufferevent, or NULL. */
static struct bufferevent *ac_dial(struct authd_client *ac)
{
    const char *spec = ac->cfg->authd;
    struct bufferevent *bev = bufferevent_socket_new(ac->base, -1, BEV_OPT_CLOSE_ON_FREE);
    char host[256];
    const char *colon, *h = spec;
    size_t hl;
    unsigned char addr[16];
    long port;
    int rc;

    if (bev == NULL)
        die("authd_client: out of memory");
    if (strncmp(spec, "unix:", 5) == 0) {
        struct sockaddr_un sun;

        memset(&sun, 0, sizeof(sun));
        sun.sun_family = AF_UNIX;
        if (strlen(spec + 5) >= sizeof(sun.sun_path)) {
            log_error("authd: unix socket path too long: %s", spec + 5);
            bufferevent_free(bev);
            return NULL;
        }
        strcpy(sun.sun_path, spec + 5);
        rc = bufferevent_socket_connect(bev, (struct sockaddr *)&sun, sizeof(sun));
    } else {
        colon = strrchr(spec, ':');
        if (colon == NULL || colon == spec) {
            log_error("authd: cannot parse '%s' as host:port", spec);
            bufferevent_free(bev);
            return NULL;
        }
        hl = (size_t)(colon - spec);
        if (spec[0] == '[' && colon[-1] == ']') {
            h = spec + 1;
            hl -= 2;
        }
        port = strtol(colon + 1, NULL, 10);
        if (hl == 0 || hl >= sizeof(host) || port < 1 || port > 65535) {
            log_error("authd: cannot parse '%s' as host:port", spec);
            bufferevent_free(bev);
            return NULL;
        }
        memcpy(host, h, hl);
        host[hl] = '\0';
        /* Literal addresses resolve without I/O; names go through evdns (no blocking DNS on
         * the loop), which reads /etc/hosts and resolv.conf. */
        if (ac->dns == NULL && inet_pton(AF_INET, host, addr) != 1 &&
            inet_pton(AF_INET6, host, addr) != 1) {
            ac->dns = evdns_base_new(ac->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
            if (ac->dns == NULL)
                log_warn("authd: evdns unavailable; resolving %s with the system resolver", host);
        }
        rc = bufferevent_socket_connect_hostname(bev, ac->dns, AF_UNSPEC, host, (int)port);
    }
    if (rc != 0) {
        log_debug("authd: cannot connect to %s", spec);
        bufferevent_free(bev);
        return NULL;
    }
    return bev;
}

static void ac_schedule_retry(struct authd_client *ac)
{
    unsigned char r[4];
    uint32_t rnd = 0;
    unsigned delay = ac->backoff_ms;
    struct timeval tv;

    /* Jitter in [delay/2, delay], so workers and proxies do not reconnect in step. */
    if (random_bytes(r, sizeof(r)) == 0)
        rnd = (uint32_t)r[0] << 24 | (uint32_t)r[1] << 16 | (uint32_t)r[2] << 8 | r[3];
    delay = delay / 2 + rnd % (delay / 2 + 1);
    ac->backoff_ms =
        ac->backoff_ms * 2 > AC_BACKOFF_MAX_MS ? AC_BACKOFF_MAX_MS : ac->backoff_ms * 2;
    ac->state = AC_ST_BACKOFF;
    tv.tv_sec = delay / 1000;
    tv.tv_usec = (delay % 1000) * 1000;
    evtimer_add(ac->retry_ev, &tv);
}

static void ac_connect(struct authd_client *ac)
{
    struct rpc_chan_limits lim = {RPC_FRAME_MAX, 0};
    struct bufferevent *bev = ac_dial(ac);

    if (bev == NULL) {
        if (!ac->warned_down) {
            log_warn("authd: cannot connect to %s; retrying", ac->cfg->authd);
            ac->warned_down = true;
        }
        ac_schedule_retry(ac);
        return;
    }
    ac->ch = rpc_chan_new(bev, ac->name, &lim, ac_on_msg, ac_on_close, ac);
    ac->state = AC_ST_CONNECTING;
    /* Pipelined behind hello: subscribe first, so no change between the list and the
     * subscription can be missed, then the snapshot. */
    ac_call(
        ac, "hello",
        json_pack("{s:i, s:s}", "protocol", AC_PROTOCOL, "client", "certbound-proxy/" CB_VERSION),
        ac->cfg->authd_timeout_ms, on_hello, ac);
    ac_call(ac, "subscribe", json_object(), ac->cfg->authd_timeout_ms, on_subscribe, ac);
    if (ac->load != NULL)
        ac->reload_again = true; /* the old connection's load is failing right now */
    else
        load_start(ac);
}

static void ac_on_retry(evutil_socket_t fd, short what, void *arg)
{
    ac_connect(arg);
}

static void on_hello(const json_t *result, int code, const char *err, void *arg)
{
    struct authd_client *ac = arg;
    const json_t *proto = json_object_get(result, "protocol");
    const char *srv, *ver;

    if (ac->ch == NULL || ac->state != AC_ST_CONNECTING)
        return; /* the connection this hello belonged to is gone already */
    if (result == NULL) {
        log_warn("authd: hello failed: %s (code %d)", err, code);
        ac_drop(ac, "hello failed");
        return;
    }
    if (!json_is_integer(proto) || json_integer_value(proto) != AC_PROTOCOL) {
        log_error("authd: %s speaks another protocol; closing", ac->cfg->authd);
        ac_drop(ac, "protocol mismatch");
        return;
    }
    ac->state = AC_ST_READY;
    ac->backoff_ms = AC_BACKOFF_MIN_MS;
    ac->warned_down = false;
    srv = json_string_value(json_object_get(result, "server"));
    ver = json_string_value(json_object_get(result, "version"));
    log_info("authd: connected to %s (%s %s) conn=%s", ac->cfg->authd, srv != NULL ? srv : "?",
             ver != NULL ? ver : "?", ac->name);
}

static void on_subscribe(const json_t *result, int code, const char *err, void *arg)
{
    struct authd_client *ac = arg;

    if (result != NULL || ac->ch == NULL)
        return;
    if (code == RPC_E_NOT_FOUND) {
        if (!ac->warned_no_subscribe)
            log_warn("authd: %s does not push invalidations; cached decisions live at most "
                     "auth_cache_ms",
                     ac->cfg->authd);
        ac->warned_no_subscribe = true;
        return;
    }
    log_warn("authd: subscribe failed: %s (code %d)", err, code);
}

/* Close a live channel now (also allowed from under ac_on_msg: rpc_chan defers the free). */
static void ac_drop(struct authd_client *ac, const char *why)
{
    rpc_chan_free(ac->ch);
    ac->ch = NULL;
    ac_conn_lost(ac, why);
}

static void ac_on_close(struct rpc_chan *ch, const char *err, void *arg)
{
    struct authd_client *ac = arg;

    rpc_chan_free(ch);
    ac->ch = NULL;
    ac_conn_lost(ac, err != NULL ? err : "closed by authd");
}

static void ac_conn_lost(struct authd_client *ac, const char *why)
{
    bool was_ready = ac->state == AC_ST_READY;

    if (was_ready || !ac->warned_down) {
        log_warn("authd: connection to %s lost: %s; dropping cached decisions, retrying",
                 ac->cfg->authd, why);
        ac->warned_down = true;
    }
    for (size_t i = 0; i < AC_BUCKETS; i++) {
        while (ac->table[i] != NULL)
            call_fail_later(ac->table[i], "authd connection lost");
    }
    evtimer_del(ac->reload_ev);
    ac_schedule_retry(ac);
    /* No push can reach us until we are back: cached allows may be stale. */
    if (ac->on_invalidate != NULL)
        ac->on_invalidate(ac->arg);
}

/* ---- calls ---- */

static size_t bucket_of(uint32_t msgid)
{
    return msgid & (AC_BUCKETS - 1);
}

static struct authd_call *table_find(struct authd_client *ac, uint32_t msgid)
{
    for (struct authd_call *c = ac->table[bucket_of(msgid)]; c != NULL; c = c->hnext)
        if (c->msgid == msgid)
            return c;
    return NULL;
}

static void table_remove(struct authd_call *c)
{
    struct authd_call **pp;

    if (!c->in_table)
        return;
    for (pp = &c->ac->table[bucket_of(c->msgid)]; *pp != c; pp = &(*pp)->hnext)
        ;
    *pp = c->hnext;
    c->hnext = NULL;
    c->in_table = false;
}

static struct authd_call *ac_call(struct authd_client *ac, const char *method, json_t *params,
                                  long long timeout_ms, authd_call_cb cb, void *arg)
{
    struct authd_call *c = xcalloc(1, sizeof(*c));
    const unsigned char *buf;
    size_t len;
    struct timeval tv;

    c->ac = ac;
    c->cb = cb;
    c->arg = arg;
    c->ev = evtimer_new(ac->base, ac_on_call_ev, c);
    if (c->ev == NULL)
        die("authd_client: out of memory");
    c->next = ac->calls;
    if (ac->calls != NULL)
        ac->calls->prev = c;
    ac->calls = c;
    if (ac->ch == NULL) {
        json_decref(params);
        call_fail_later(c, "authd not connected");
        return c;
    }
    do {
        c->msgid = ac->next_msgid++;
    } while (table_find(ac, c->msgid) != NULL);
    rpc_enc_request(&ac->enc, c->msgid, method);
    mpjson_pack(&ac->enc.pk, params != NULL ? params : json_null());
    json_decref(params);
    if (rpc_enc_finish(&ac->enc, &buf, &len) != 0) {
        call_fail_later(c, "request too large");
        return c;
    }
    if (rpc_chan_send(ac->ch, buf, len) != 0) {
        call_fail_later(c, "authd connection lost"); /* the channel closes itself */
        return c;
    }
    c->hnext = ac->table[bucket_of(c->msgid)];
    ac->table[bucket_of(c->msgid)] = c;
    c->in_table = true;
    if (timeout_ms < 1)
        timeout_ms = 1;
    tv.tv_sec = (time_t)(timeout_ms / 1000);
    tv.tv_usec = (suseconds_t)((timeout_ms % 1000) * 1000);
    evtimer_add(c->ev, &tv);
    return c;
}

static void call_fail_later(struct authd_call *c, const char *msg)
{
    struct timeval zero = {0, 0};

    table_remove(c);
    c->fail_msg = msg;
    evtimer_del(c->ev);
    evtimer_add(c->ev, &zero);
}

static void call_free(struct authd_call *c)
{
    struct authd_client *ac = c->ac;

    table_remove(c);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        ac->calls = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    event_free(c->ev);
    free(c);
}

/* Timeout or deferred failure: 503 either way. */
static void ac_on_call_ev(evutil_socket_t fd, short what, void *arg)
{
    struct authd_call *c = arg;
    authd_call_cb cb = c->cb;
    void *cb_arg = c->arg;
    const char *msg = c->fail_msg != NULL ? c->fail_msg : "authd timed out";

    if (c->fail_msg == NULL)
        log_debug("authd: call %u timed out conn=%s", c->msgid, c->ac->name);
    call_free(c);
    cb(NULL, RPC_E_UNAVAILABLE, msg, cb_arg);
}

static void on_response(struct authd_client *ac, const struct rpc_msg *m)
{
    struct authd_call *c = table_find(ac, m->msgid);
    authd_call_cb cb;
    void *cb_arg;
    json_t *res;
    int64_t code = 0;
    const char *emsg = NULL;
    size_t elen = 0;
    char ebuf[AC_ERRMSG_MAX + 1];

    if (c == NULL)
        return; /* it timed out or was cancelled */
    cb = c->cb;
    cb_arg = c->arg;
    call_free(c);
    if (m->error.type != MSGPACK_OBJECT_NIL) {
        if (rpc_error_get(&m->error, &code, &emsg, &elen) != 0 || code < 100 || code > 599) {
            code = RPC_E_INTERNAL;
            emsg = "malformed error";
            elen = strlen(emsg);
        }
        /* For logs only: bounded and printable. */
        elen = elen > AC_ERRMSG_MAX ? AC_ERRMSG_MAX : elen;
        for (size_t i = 0; i < elen; i++)
            ebuf[i] = emsg[i] >= 0x20 && emsg[i] < 0x7f ? emsg[i] : '?';
        ebuf[elen] = '\0';
        cb(NULL, (int)code, ebuf, cb_arg);
        return;
    }
    res = mpjson_to_json(&m->result);
    if (res == NULL) {
        cb(NULL, RPC_E_INTERNAL, "result is not JSON", cb_arg);
        return;
    }
    cb(res, 0, NULL, cb_arg);
    json_decref(res);
}

static void on_notify(struct authd_client *ac, const struct rpc_msg *m)
{
    json_t *p;
    const char *type;
    const json_t *rev;

    if (m->method_len != strlen("invalidate") || memcmp(m->method, "invalidate", m->method_len))
        return; /* readers ignore what they do not know (schema/rpc.md) */
    p = mpjson_to_json(&m->params);
    type = json_string_value(json_object_get(p, "type"));
    rev = json_object_get(p, "revision");
    if (ac->on_invalidate != NULL)
        ac->on_invalidate(ac->arg);
    /* A store change newer than our snapshot (or of unknown revision: the local push of the
     * authd that made it), or a resync after authd's listeners reconnected: reload. */
    if (type != NULL && ((strcmp(type, "store") == 0 &&
                          (!ac->have_snapshot || !json_is_integer(rev) ||
                           json_integer_value(rev) > ac->revision)) ||
                         strcmp(type, "resync") == 0))
        load_start(ac);
    json_decref(p);
}

static void ac_on_msg(struct rpc_chan *ch, const struct rpc_msg *m, void *arg)
{
    struct authd_client *ac = arg;

    if (m->type == RPC_RESPONSE)
        on_response(ac, m);
    else if (m->type == RPC_NOTIFY)
        on_notify(ac, m);
    /* authd never sends requests; ignore any */
}

/* ---- snapshot loading ---- */

static long long load_timeout(const struct authd_client *ac)
{
    return ac->cfg->authd_timeout_ms > AC_LOAD_TIMEOUT_MIN_MS ? ac->cfg->authd_timeout_ms
                                                              : AC_LOAD_TIMEOUT_MIN_MS;
}

static void load_free(struct load *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->nb; i++)
        json_decref(l->b[i].ids);
    free(l->b);
    json_decref(l->list);
    json_decref(l->certs);
    free(l);
}

static void load_finish(struct authd_client *ac)
{
    struct load *l = ac->load;
    struct apis *snap = NULL;
    char *err = NULL;
    struct timeval tv = {AC_RELOAD_RETRY_MS / 1000, (AC_RELOAD_RETRY_MS % 1000) * 1000};

    ac->load = NULL;
    if (!l->failed) {
        snap = apis_build(l->list, l->certs, ac->cfg, &err);
        if (snap == NULL) {
            log_error("authd: snapshot refused: %s; keeping the old one", err);
            free(err);
        }
    }
    load_free(l);
    if (snap != NULL) {
        ac->have_snapshot = true;
        ac->revision = apis_revision(snap);
        if (ac->on_snapshot != NULL)
            ac->on_snapshot(snap, ac->arg);
        else
            apis_unref(snap);
    } else if (ac->ch != NULL && !ac->reload_again) {
        /* authd answered but its store failed: try again while the old snapshot serves.
         * Without a channel the reconnect reloads anyway. */
        evtimer_add(ac->reload_ev, &tv);
    }
    if (ac->reload_again) {
        ac->reload_again = false;
        load_start(ac);
    }
}

static void on_certs(const json_t *result, int code, const char *err, void *arg);

static void batch_send(struct load_batch *b)
{
    json_t *params = json_pack("{s:O, s:b}", "ids", b->ids, "private", b->private);

    ac_call(b->ac, "certs.get", params, load_timeout(b->ac), on_certs, b);
}

static void on_certs(const json_t *result, int code, const char *err, void *arg)
{
    struct load_batch *b = arg;
    struct authd_client *ac = b->ac;
    struct load *l = ac->load;
    const json_t *certs = json_object_get(result, "certs");
    const json_t *id;
    size_t i;

    if (result == NULL && code == RPC_E_FORBIDDEN && b->private && ac->ch != NULL) {
        /* authd hands private keys only to local callers: keep the allowlists working. */
        log_warn("authd: %s refuses private keys to this proxy (not loopback or unix); "
                 "store server certificates are unavailable",
                 ac->cfg->authd);
        b->private = false;
        batch_send(b);
        return;
    }
    if (result == NULL || !json_is_array(certs) ||
        json_array_size(certs) != json_array_size(b->ids)) {
        log_warn("authd: certs.get failed: %s (code %d)", result == NULL ? err : "bad result",
                 code);
        l->failed = true;
    } else {
        json_array_foreach(b->ids, i, id)
        {
            json_object_set(l->certs, json_string_value(id), json_array_get(certs, i));
        }
    }
    if (--l->pending == 0)
        load_finish(ac);
}

static void on_apis_list(const json_t *result, int code, const char *err, void *arg)
{
    struct authd_client *ac = arg;
    struct load *l = ac->load;
    json_t *refs;
    const char *id;
    json_t *v;
    bool priv = false;

    if (result == NULL) {
        log_warn("authd: apis.list failed: %s (code %d)", err, code);
        l->failed = true;
        load_finish(ac);
        return;
    }
    l->list = json_incref((json_t *)result);
    l->certs = json_object();
    refs = apis_referenced_certs(result, ac->cfg);
    json_object_foreach(refs, id, v)
    {
        priv = priv || json_is_true(v);
    }
    l->b = xcalloc(json_object_size(refs) / AC_MAX_IDS + 1, sizeof(*l->b));
    json_object_foreach(refs, id, v)
    {
        struct load_batch *b;

        if (l->nb == 0 || json_array_size(l->b[l->nb - 1].ids) == AC_MAX_IDS) {
            b = &l->b[l->nb++];
            b->ac = ac;
            b->ids = json_array();
            b->private = priv;
        }
        json_array_append_new(l->b[l->nb - 1].ids, json_string(id));
    }
    json_decref(refs);
    if (l->nb == 0) {
        load_finish(ac);
        return;
    }
    l->pending = l->nb;
    for (size_t i = 0; i < l->nb; i++)
        batch_send(&l->b[i]);
}

static void load_start(struct authd_client *ac)
{
    if (ac->load != NULL) {
        ac->reload_again = true;
        return;
    }
    if (ac->ch == NULL)
        return; /* the reconnect loads */
    evtimer_del(ac->reload_ev);
    ac->reload_again = false;
    ac->load = xcalloc(1, sizeof(*ac->load));
    ac_call(ac, "apis.list", json_object(), load_timeout(ac), on_apis_list, ac);
}

static void ac_on_reload(evutil_socket_t fd, short what, void *arg)
{
    load_start(arg);
}
