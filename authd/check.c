/*
 * check: one struct creq per request, through at most three asynchronous steps:
 *
 *   request ──▶ API definition (cache, else PostgreSQL) ──▶ allowlist certificates
 *           ──▶ decide: static allowlist (common/allowlist) ──▶ authorize_start (sessions)
 *
 * The decision is the proxy's (proxy/authz.c): the allowlist first when
 * use_mutual_tls_auth, keyless APIs (without Certificate Auth) allowed after it, every
 * other API through authorize with the API's flags. The connection to the edge is taken as
 * TLS (the edge terminated it). Cached definitions are dropped by check_invalidate; a
 * generation counter keeps a load that raced with an invalidation out of the cache.
 */
#include "authd/check.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "authd/apidefs.h"
#include "authd/authd.h"
#include "authd/authd_cfg.h"
#include "authd/authorize.h"
#include "authd/certstore.h"
#include "authd/stats.h"
#include "common/allowlist.h"
#include "common/apidef.h"
#include "common/certinfo.h"
#include "common/log.h"

#define CHECK_CACHE_MAX 4096       /* cached definitions; beyond, the cache starts over */
#define CHECK_MAX_HEADERS (64 * 1024)
#define CHECK_MAX_BODY (64 * 1024) /* bodies are ignored; Envoy may send one */
#define CHECK_ROUTE "/check"

static const char msg_unavailable[] = "Authentication service unavailable";

/* A parsed API definition: what a decision needs. */
struct capi {
    char *api_id; /* as requested (the cache key) */
    json_t *def;
    struct apidef d;         /* borrows def */
    struct allowlist *allow; /* NULL unless use_mutual_tls_auth */
    struct capi *next;
};

struct check_srv {
    struct authd *ad;
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
    int port;
    size_t inflight;
    struct capi *cache;
    size_t ncache;
    unsigned long long gen; /* bumped by every invalidation */
};

struct creq {
    struct check_srv *c;
    struct evhttp_request *req;
    char *api_id;
    char *org_id;      /* the API's org, for X-Certbound-Cert-Id after authorize */
    X509 *leaf;        /* the forwarded client certificate, or NULL */
    STACK_OF(X509) *chain;
    char cert_sha[CERT_SHA_HEX_LEN + 1];
    struct capi *loading; /* a definition being loaded (owned until cached) */
    unsigned long long gen;
};

static void check_on_request(struct evhttp_request *req, void *arg);
static void on_api_row(const PGresult *res, const char *err, void *arg);
static void on_allow_certs(const PGresult *res, const char *err, void *arg);
static void loaded(struct creq *r);
static void decide(struct creq *r, const struct capi *a);
static void on_authorized(const struct authorize_out *out, const char *store_err, void *arg);
static void reply(struct creq *r, int code, const char *error, const char *key_hash);
static int parse_client_cert(struct creq *r);
static char *extract_token(const struct creq *r, const struct capi *a);
static struct capi *capi_new(const char *api_id, json_t *def);
static void capi_free(struct capi *a);
static struct capi *cache_get(struct check_srv *c, const char *api_id);
static void cache_put(struct check_srv *c, struct capi *a);
static void cache_clear(struct check_srv *c);

/* ---- public functions ---- */

struct check_srv *check_new(struct authd *ad, const char *spec, char **err)
{
    struct check_srv *c = xcalloc(1, sizeof(*c));
    struct sockaddr_storage ss;
    ev_socklen_t bl = sizeof(ss);
    struct evconnlistener *l;
    int sl;

    if (authd_cfg_parse_listen("check_listen", spec, &ss, &sl, err) < 0) {
        free(c);
        return NULL;
    }
    c->ad = ad;
    c->http = evhttp_new(ad->base);
    if (c->http == NULL)
        die("evhttp_new failed");
    evhttp_set_max_body_size(c->http, CHECK_MAX_BODY);
    evhttp_set_max_headers_size(c->http, CHECK_MAX_HEADERS);
    evhttp_set_timeout(c->http, 30);
    /* Envoy ext_authz sends the original method; nginx auth_request sends GET. */
    evhttp_set_allowed_methods(c->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                            EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(c->http, check_on_request, c);
    l = evconnlistener_new_bind(ad->base, NULL, NULL,
                                LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE,
                                128, (struct sockaddr *)&ss, sl);
    if (l == NULL || (c->sock = evhttp_bind_listener(c->http, l)) == NULL) {
        if (l != NULL)
            evconnlistener_free(l);
        *err = xasprintf("check_listen: cannot listen on %s", spec);
        check_free(c);
        return NULL;
    }
    if (getsockname(evhttp_bound_socket_get_fd(c->sock), (struct sockaddr *)&ss, &bl) == 0)
        c->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    return c;
}

int check_port(const struct check_srv *c)
{
    return c->port;
}

size_t check_inflight(const struct check_srv *c)
{
    return c->inflight;
}

void check_stop_accepting(struct check_srv *c)
{
    if (c->sock != NULL) {
        evhttp_del_accept_socket(c->http, c->sock);
        c->sock = NULL;
    }
}

void check_free(struct check_srv *c)
{
    if (c == NULL)
        return;
    if (c->http != NULL)
        evhttp_free(c->http);
    cache_clear(c);
    free(c);
}

void check_invalidate(struct check_srv *c, const char *table, const char *id)
{
    struct capi **pp;

    if (c == NULL)
        return;
    c->gen++;
    if (table == NULL || id == NULL || strcmp(table, "api_definitions") != 0) {
        cache_clear(c);
        return;
    }
    for (pp = &c->cache; *pp != NULL; pp = &(*pp)->next) {
        if (strcmp((*pp)->api_id, id) == 0) {
            struct capi *a = *pp;

            *pp = a->next;
            capi_free(a);
            c->ncache--;
            return;
        }
    }
}

/* ---- request ---- */

/* "/check", "<prefix>/check" (an edge's own layout) or "/check/<original path>" (Envoy's
 * path_prefix). */
static bool is_check_path(const char *path)
{
    size_t n = strlen(path);

    return strcmp(path, "/check") == 0 || strncmp(path, "/check/", 7) == 0 ||
           (n > 6 && strcmp(path + n - 6, "/check") == 0);
}

static void creq_free(struct creq *r)
{
    X509_free(r->leaf);
    sk_X509_pop_free(r->chain, X509_free);
    capi_free(r->loading);
    free(r->api_id);
    free(r->org_id);
    free(r);
}

static void check_on_request(struct evhttp_request *req, void *arg)
{
    struct check_srv *c = arg;
    struct creq *r = xcalloc(1, sizeof(*r));
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    const char *api_id =
        evhttp_find_header(evhttp_request_get_input_headers(req), "X-Api-Id");
    struct capi *a;

    r->c = c;
    r->req = req;
    c->inflight++;
    if (path == NULL || !is_check_path(path)) {
        reply(r, 404, "Not found", NULL);
        return;
    }
    if (api_id == NULL || api_id[0] == '\0') {
        reply(r, 400, "X-Api-Id header is required", NULL);
        return;
    }
    r->api_id = xstrdup(api_id);
    switch (parse_client_cert(r)) {
    case 0:
        break;
    case -2:
        log_warn("check: api=%s: refused a client certificate in a header other than "
                 "check_cert_header (%s): a client may have tried to forge one",
                 r->api_id, c->ad->cfg->check_cert_header);
        reply(r, 400, "Client certificate header not accepted", NULL);
        return;
    default:
        log_info("check: api=%s: a client certificate header does not parse", r->api_id);
        reply(r, 400, "Malformed client certificate header", NULL);
        return;
    }
    a = cache_get(c, r->api_id);
    if (a != NULL) {
        decide(r, a);
        return;
    }
    r->gen = c->gen;
    if (apidefs_select(c->ad, r->api_id, on_api_row, r) < 0)
        reply(r, 503, msg_unavailable, NULL);
}

static void on_api_row(const PGresult *res, const char *err, void *arg)
{
    struct creq *r = arg;
    const json_t *v, *e;
    const char **ids;
    size_t i, n = 0;
    json_t *def;

    if (err != NULL) {
        log_warn("check: api=%s: the API store is unavailable: %s", r->api_id, err);
        reply(r, 503, msg_unavailable, NULL);
        return;
    }
    if (PQntuples(res) == 0 || PQgetisnull(res, 0, AD_API_ID) ||
        (def = json_loads(PQgetvalue(res, 0, AD_DEFINITION), 0, NULL)) == NULL) {
        reply(r, 404, "API not found", NULL);
        return;
    }
    r->loading = capi_new(r->api_id, def);
    if (!r->loading->d.use_mutual_tls_auth) {
        loaded(r);
        return;
    }
    v = r->loading->d.client_certificates;
    ids = xcalloc(json_array_size(v) + 1, sizeof(*ids));
    json_array_foreach(v, i, e)
    {
        if (json_is_string(e))
            ids[n++] = json_string_value(e);
    }
    if (n == 0)
        loaded(r);
    else if (certstore_fetch(r->c->ad, ids, n, on_allow_certs, r) < 0)
        reply(r, 503, msg_unavailable, NULL);
    free(ids);
}

/* The allowlist in client_certificates order; unknown ids and public keys never match. */
static void on_allow_certs(const PGresult *res, const char *err, void *arg)
{
    struct creq *r = arg;
    const json_t *v;
    size_t i;

    if (err != NULL) {
        log_warn("check: api=%s: the certificate store is unavailable: %s", r->api_id, err);
        reply(r, 503, msg_unavailable, NULL);
        return;
    }
    json_array_foreach(r->loading->d.client_certificates, i, v)
    {
        int row = json_is_string(v) ? certstore_find_row(res, json_string_value(v)) : -1;
        STACK_OF(X509) *sk;

        if (row < 0 || strcmp(PQgetvalue(res, row, CS_KIND), "certificate") != 0)
            continue;
        sk = certinfo_load_chain(PQgetvalue(res, row, CS_PEM),
                                 (size_t)PQgetlength(res, row, CS_PEM));
        if (sk == NULL)
            continue;
        if (allowlist_add(r->loading->allow, sk_X509_value(sk, 0)) < 0)
            log_warn("check: api=%s: certificate %s: cannot add to a store", r->api_id,
                     json_string_value(v));
        sk_X509_pop_free(sk, X509_free);
    }
    loaded(r);
}

static void loaded(struct creq *r)
{
    struct capi *a = r->loading;

    /* An invalidation while loading may concern this very definition: use it once only. */
    if (r->gen == r->c->gen) {
        r->loading = NULL;
        cache_put(r->c, a);
    }
    decide(r, a);
}

/* ---- decision ---- */

static void decide(struct creq *r, const struct capi *a)
{
    struct authorize_in in = {0};
    time_t now = time(NULL);
    char *msg = NULL, *token;
    bool expired = false;
    int status;

    if (!a->d.active) {
        reply(r, 404, "API not found", NULL);
        return;
    }
    r->org_id = xstrdup(a->d.org_id);
    if (r->leaf != NULL) {
        certinfo_x509_sha256_hex(r->leaf, r->cert_sha);
        expired = X509_cmp_time(X509_get0_notAfter(r->leaf), &now) < 0;
    }
    if (a->d.use_mutual_tls_auth) {
        status = allowlist_check(a->allow, true, r->leaf, NULL, r->chain, now, &msg);
        if (status != 0) {
            reply(r, status, msg, NULL);
            free(msg);
            return;
        }
    }
    if (a->d.use_keyless && !a->d.use_certificate) {
        reply(r, 200, NULL, NULL);
        return;
    }
    token = extract_token(r, a);
    in.api_id = a->api_id;
    in.org_id = a->d.org_id;
    in.use_certificate = a->d.use_certificate;
    in.static_mtls = a->d.use_mutual_tls_auth;
    in.tls = true;
    in.cert_sha = r->leaf != NULL ? r->cert_sha : NULL;
    in.cert_expired = expired;
    in.token = token;
    if (authorize_start(r->c->ad, &in, on_authorized, r) < 0)
        reply(r, 503, msg_unavailable, NULL);
    if (token != NULL)
        OPENSSL_clear_free(token, strlen(token));
}

static void on_authorized(const struct authorize_out *out, const char *store_err, void *arg)
{
    struct creq *r = arg;

    if (out == NULL) {
        log_warn("check: api=%s: %s", r->api_id, store_err);
        reply(r, 503, msg_unavailable, NULL);
    } else if (out->status != 200) {
        reply(r, out->status, out->error, NULL);
    } else {
        reply(r, 200, NULL, out->key_hash);
    }
}

/* The one place that answers; frees r. */
static void reply(struct creq *r, int code, const char *error, const char *key_hash)
{
    struct evkeyvalq *oh = evhttp_request_get_output_headers(r->req);
    struct evbuffer *out = evbuffer_new();
    struct check_srv *c = r->c;

    evhttp_add_header(oh, "Cache-Control", "no-store");
    if (code == 200) {
        if (r->leaf != NULL && r->org_id != NULL) {
            char *id = xasprintf("%s%s", r->org_id, r->cert_sha);

            evhttp_add_header(oh, "X-Certbound-Cert-Id", id);
            free(id);
        }
        if (key_hash != NULL && key_hash[0] != '\0')
            evhttp_add_header(oh, "X-Certbound-Key", key_hash);
    } else {
        json_t *j = json_pack("{s:s}", "error", error);
        char *s = json_dumps(j, JSON_COMPACT);

        evhttp_add_header(oh, "Content-Type", "application/json");
        /* nginx's auth_request cannot forward a body; auth_request_set can take this. */
        evhttp_add_header(oh, "X-Certbound-Error", error);
        evbuffer_add_printf(out, "%s\n", s);
        free(s);
        json_decref(j);
        if (code == 401 || code == 403)
            log_info("check: denied api=%s status=%d reason=\"%s\" cert=%s", r->api_id, code,
                     error, r->cert_sha[0] ? r->cert_sha : "-");
    }
    evhttp_send_reply(r->req, code, NULL, out);
    evbuffer_free(out);
    stats_http(c->ad->stats, CHECK_ROUTE, code);
    c->inflight--;
    creq_free(r);
}

/* ---- inputs ---- */

/* RFC 8941 sf-binary ":<base64>:" → DER → X509. */
static X509 *sf_binary_x509(const char *s, size_t n)
{
    unsigned char *der;
    const unsigned char *p;
    int len;
    X509 *x;

    while (n > 0 && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n < 2 || s[0] != ':' || s[n - 1] != ':' || (n - 2) % 4 != 0)
        return NULL;
    s++;
    n -= 2;
    der = xmalloc(n / 4 * 3 + 1);
    len = EVP_DecodeBlock(der, (const unsigned char *)s, (int)n);
    if (len < 0) {
        free(der);
        return NULL;
    }
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    for (size_t i = n; i > 0 && s[i - 1] == '='; i--)
        len--;
    p = der;
    x = d2i_X509(NULL, &p, len);
    if (x != NULL && p != der + len) {
        X509_free(x); /* trailing bytes: not one certificate */
        x = NULL;
    }
    free(der);
    return x;
}

/*
 * The client certificate from the one header check_cert_header names. The edge sets that
 * header itself; the other form can only come from the client (nginx's auth_request passes
 * every client header on), so its presence is refused: -2. -1: the header does not parse.
 */
static int parse_client_cert(struct creq *r)
{
    struct evkeyvalq *hs = evhttp_request_get_input_headers(r->req);
    bool nginx_form = strcasecmp(r->c->ad->cfg->check_cert_header, "X-SSL-Client-Cert") == 0;
    const char *cc = evhttp_find_header(hs, "Client-Cert");
    const char *chain = evhttp_find_header(hs, "Client-Cert-Chain");
    const char *ng = evhttp_find_header(hs, "X-SSL-Client-Cert");

    if (nginx_form ? (cc != NULL || chain != NULL) : ng != NULL)
        return -2;
    if (nginx_form)
        cc = chain = NULL;
    else
        ng = NULL;

    r->chain = sk_X509_new_null();
    if (r->chain == NULL)
        die("check: out of memory");
    if (cc != NULL && cc[0] != '\0') {
        if ((r->leaf = sf_binary_x509(cc, strlen(cc))) == NULL)
            return -1;
        while (chain != NULL && *chain != '\0') {
            const char *comma = strchr(chain, ',');
            size_t n = comma != NULL ? (size_t)(comma - chain) : strlen(chain);
            X509 *x = sf_binary_x509(chain, n);

            if (x == NULL)
                return -1;
            sk_X509_push(r->chain, x);
            chain = comma != NULL ? comma + 1 : NULL;
        }
        return 0;
    }
    if (ng != NULL && ng[0] != '\0') {
        /* nginx's $ssl_client_escaped_cert: the PEM, URL-escaped. */
        size_t n = 0;
        char *pem = evhttp_uridecode(ng, 0, &n);
        STACK_OF(X509) *sk = pem != NULL ? certinfo_load_chain(pem, n) : NULL;

        free(pem);
        if (sk == NULL)
            return -1;
        r->leaf = sk_X509_shift(sk);
        sk_X509_pop_free(r->chain, X509_free);
        r->chain = sk;
    }
    return 0;
}

static const char *evkv_header(void *arg, const char *name, size_t i, size_t *len)
{
    const struct evkeyvalq *hs = arg;

    for (const struct evkeyval *kv = TAILQ_FIRST(hs); kv != NULL; kv = TAILQ_NEXT(kv, next)) {
        if (strcasecmp(kv->key, name) == 0 && i-- == 0) {
            *len = strlen(kv->value);
            return kv->value;
        }
    }
    return NULL;
}

/* The original request's query: X-Original-URI (nginx), else this request's own (Envoy
 * passes the original path and query after its path_prefix). */
static const char *original_query(const struct creq *r)
{
    const char *ou = evhttp_find_header(evhttp_request_get_input_headers(r->req),
                                        "X-Original-URI");
    const char *q;

    if (ou != NULL)
        return (q = strchr(ou, '?')) != NULL ? q + 1 : NULL;
    return evhttp_uri_get_query(evhttp_request_get_evhttp_uri(r->req));
}

/* The credential exactly as the proxy's authz_extract_token reads it (common/apidef). */
static char *extract_token(const struct creq *r, const struct capi *a)
{
    const char *q = original_query(r);

    return apidef_token(&a->d, evkv_header, evhttp_request_get_input_headers(r->req), q,
                        q != NULL ? strlen(q) : 0);
}

/* ---- definitions and the cache ---- */

/* Takes def. */
static struct capi *capi_new(const char *api_id, json_t *def)
{
    struct capi *a = xcalloc(1, sizeof(*a));

    a->api_id = xstrdup(api_id);
    a->def = def;
    apidef_parse(&a->d, def, api_id);
    if (a->d.use_mutual_tls_auth)
        a->allow = allowlist_new();
    return a;
}

static void capi_free(struct capi *a)
{
    if (a == NULL)
        return;
    allowlist_free(a->allow);
    json_decref(a->def);
    free(a->api_id);
    free(a);
}

static struct capi *cache_get(struct check_srv *c, const char *api_id)
{
    for (struct capi *a = c->cache; a != NULL; a = a->next)
        if (strcmp(a->api_id, api_id) == 0)
            return a;
    return NULL;
}

static void cache_put(struct check_srv *c, struct capi *a)
{
    struct capi **pp;

    for (pp = &c->cache; *pp != NULL; pp = &(*pp)->next) {
        if (strcmp((*pp)->api_id, a->api_id) == 0) {
            struct capi *old = *pp;

            a->next = old->next;
            *pp = a;
            capi_free(old);
            return;
        }
    }
    if (c->ncache >= CHECK_CACHE_MAX)
        cache_clear(c);
    a->next = c->cache;
    c->cache = a;
    c->ncache++;
}

static void cache_clear(struct check_srv *c)
{
    while (c->cache != NULL) {
        struct capi *a = c->cache;

        c->cache = a->next;
        capi_free(a);
    }
    c->ncache = 0;
}
