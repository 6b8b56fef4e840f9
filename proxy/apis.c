/*
 * apis: the immutable API snapshot (apis.h). Everything a handshake or a request needs is
 * computed here once per change: the routing table, each mTLS API's allowlist (leaf hashes,
 * expiry and a store of its CA entries), the per-domain client-certificate policy with its
 * store and CA names, and the server certificates. The request path never parses PEM or
 * JSON. Not for fetching (authd_client) nor for session decisions (authz).
 *
 * Decisions of ours (documented here and in the report):
 * - A listen_path matches as a raw string prefix of the path, as Tyk's PathPrefix does
 *   ("/x" also matches "/xyz"); a listen_path ending in '/' (other than "/") also matches
 *   the path without that slash ("/x/" matches "/x"). Longest wins; an exact Host match
 *   beats the APIs with an empty domain.
 * - gorilla host patterns (domains containing '{') are not supported: such APIs never
 *   route and take no part in the TLS policy.
 * - Certificate references are store ids only (no inline PEM, no file paths); pinned public
 *   keys are store ids or paths of PEM files (a public key or a certificate).
 * - An https target whose TLS cannot be set up as configured (a mapped client certificate
 *   that is not in the store or has no private key, pins none of which load, min above max
 *   version) gets a profile that answers 502 naming the problem: never a weaker connection.
 * - use_param/use_cookie are on when the flag is set or a param_name/cookie_name is given,
 *   as in Tyk's getAuthToken.
 */
#include "proxy/apis.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "common/allowlist.h"
#include "common/certinfo.h"
#include "common/log.h"
#include "proxy/proxy_cfg.h"
#include "proxy/ups_tls.h"

/* Client-auth levels while building (spec §3.1 step 2); ordered as Tyk's. */
#define LVL_NONE_BUT_EXISTS (-1)
#define LVL_UNSET           0
#define LVL_REQUEST         1
#define LVL_REQUIRE         2

#define MAX_HOST 255

struct api_ext {
    struct api pub;
    json_t *elem; /* the apis.list element (keeps api_id alive) */
    char *domain; /* lowercase, port stripped; pub.domain points here */
};

struct route {
    const char *domain;
    const struct api *api;
    size_t lp_len;
    size_t order; /* position in the list: ties keep the stored order */
};

struct dom_policy {
    char *domain;
    int level;         /* LVL_* */
    bool has_mtls;     /* an mTLS API lives on this domain */
    X509_STORE *store; /* allowlist pool of the mTLS APIs here, PARTIAL_CHAIN */
    STACK_OF(X509_NAME) *names;
};

struct apis {
    atomic_int refs;
    long long revision;
    struct api_ext *v;
    size_t n;
    struct route *routes; /* active, routable APIs sorted by (domain, -lp_len, order) */
    size_t nroutes;
    struct dom_policy *pol; /* sorted by domain */
    size_t npol;
    struct server_cert **certs;
    size_t ncerts;
    struct ups_tls_set *uptls; /* the https targets' profiles and contexts */
};

/* A certificate-store entry parsed once per build. */
struct pcert {
    const char *id;     /* borrows the certs object's key */
    const json_t *elem; /* the certs.get element */
    bool usable;        /* known and parsed (false: logged once and skipped) */
    bool pubkey;
    bool key_tried;
    STACK_OF(X509) *chain;
    EVP_PKEY *key;
};

struct build {
    const json_t *certs;
    const struct proxy_config *cfg;
    json_t *index; /* id -> index into pc */
    struct pcert *pc;
    size_t npc, cap;
};

static int parse_api(struct build *b, const json_t *elem, struct api_ext *x, char **err);
static int parse_target(const char *url, struct api_target *t, char **err);
static char *norm_domain(const char *d);
static struct pcert *pcert_get(struct build *b, const char *id);
static bool pcert_load_key(struct pcert *p);
static void build_free(struct build *b);
static struct allowlist *allowlist_build(struct build *b, const struct api *api);
static void for_each_allow_id(const struct build *b, const struct api *api,
                              void (*fn)(struct build *, const char *, void *), void *arg);
static void build_routes(struct apis *a);
static void build_policies(struct apis *a, struct build *b);
static void build_server_certs(struct apis *a, struct build *b);
static void build_upstream_tls(struct apis *a, struct build *b);
static X509_STORE *store_new(void);
static bool x509_is_ca(X509 *x);

/* ---- public functions ---- */

struct apis *apis_build(const json_t *list, const json_t *certs, const struct proxy_config *cfg,
                        char **err)
{
    const json_t *arr = json_object_get(list, "apis");
    const json_t *rev = json_object_get(list, "revision");
    struct build b = {0};
    struct apis *a;
    const json_t *elem;
    size_t i;

    if (!json_is_object(list) || !json_is_array(arr) || (rev != NULL && !json_is_integer(rev))) {
        *err = xstrdup("apis.list: result is not {\"revision\":int, \"apis\":[…]}");
        return NULL;
    }
    if (certs != NULL && !json_is_object(certs)) {
        *err = xstrdup("certs: not an object of id -> certs.get element");
        return NULL;
    }
    b.certs = certs;
    b.cfg = cfg;
    b.index = json_object();
    a = xcalloc(1, sizeof(*a));
    atomic_init(&a->refs, 1);
    a->revision = rev != NULL ? (long long)json_integer_value(rev) : 0;
    a->v = xcalloc(json_array_size(arr) + 1, sizeof(*a->v));
    json_array_foreach(arr, i, elem)
    {
        char *e = NULL;
        struct api_ext *x = &a->v[a->n];

        if (parse_api(&b, elem, x, &e) < 0) {
            log_warn("apis: API definition #%zu skipped: %s", i, e);
            free(e);
            continue;
        }
        a->n++;
    }
    build_routes(a);
    build_policies(a, &b);
    build_server_certs(a, &b);
    build_upstream_tls(a, &b);
    build_free(&b);
    log_info("apis: snapshot revision=%lld apis=%zu routes=%zu server_certs=%zu "
             "upstream_tls_contexts=%zu",
             a->revision, a->n, a->nroutes, a->ncerts, ups_tls_set_contexts(a->uptls));
    return a;
}

/* Each value of a {host: id} map needs its private key. */
static void ref_upstream_certs(json_t *out, const json_t *map)
{
    const char *host;
    json_t *v;

    json_object_foreach((json_t *)map, host, v)
    {
        if (json_string_length(v) > 0)
            json_object_set_new(out, json_string_value(v), json_true());
    }
}

/* Calls fn for each trimmed, non-empty entry of a comma-separated pin list. */
static void for_each_pin(const char *list, void (*fn)(const char *ref, void *arg), void *arg)
{
    char ref[1024];

    while (list != NULL && *list != '\0') {
        size_t n = strcspn(list, ",");
        const char *s = list, *e = list + n;

        while (s < e && isspace((unsigned char)*s))
            s++;
        while (e > s && isspace((unsigned char)e[-1]))
            e--;
        if (e > s && (size_t)(e - s) < sizeof(ref)) {
            memcpy(ref, s, (size_t)(e - s));
            ref[e - s] = '\0';
            fn(ref, arg);
        }
        list += n + (list[n] == ',');
    }
}

static void ref_pin(const char *ref, void *arg)
{
    json_t *out = arg;

    /* A path is never a store id (ids are org + hex). */
    if (strchr(ref, '/') == NULL && json_object_get(out, ref) == NULL)
        json_object_set_new(out, ref, json_false());
}

static void ref_pins(json_t *out, const json_t *map)
{
    const char *host;
    json_t *v;

    json_object_foreach((json_t *)map, host, v)
    {
        for_each_pin(json_string_value(v), ref_pin, out);
    }
}

json_t *apis_referenced_certs(const json_t *list, const struct proxy_config *cfg)
{
    json_t *out = json_object();
    const json_t *elem, *v;
    size_t i, j;

    for (i = 0; cfg != NULL && i < cfg->security_certificates_apis.n; i++)
        if (json_object_get(out, cfg->security_certificates_apis.v[i]) == NULL)
            json_object_set_new(out, cfg->security_certificates_apis.v[i], json_false());
    if (cfg != NULL) {
        ref_pins(out, cfg->security_pinned_public_keys);
        ref_upstream_certs(out, cfg->security_certificates_upstream);
    }
    json_array_foreach(json_object_get(list, "apis"), i, elem)
    {
        const json_t *def = json_object_get(elem, "definition");

        if (!apidef_bool(def, "active", true))
            continue;
        if (!apidef_bool(def, "certificate_pinning_disabled", false))
            ref_pins(out, json_object_get(def, "pinned_public_keys"));
        if (!apidef_bool(def, "upstream_certificates_disabled", false))
            ref_upstream_certs(out, json_object_get(def, "upstream_certificates"));
        if (apidef_bool(def, "use_mutual_tls_auth", false)) {
            json_array_foreach(json_object_get(def, "client_certificates"), j, v)
            {
                if (json_is_string(v) && json_object_get(out, json_string_value(v)) == NULL)
                    json_object_set_new(out, json_string_value(v), json_false());
            }
        }
        json_array_foreach(json_object_get(def, "certificates"), j, v)
        {
            if (json_is_string(v))
                json_object_set_new(out, json_string_value(v), json_true());
        }
    }
    for (i = 0; cfg != NULL && i < cfg->https_ssl_certificates.n; i++)
        json_object_set_new(out, cfg->https_ssl_certificates.v[i], json_true());
    return out;
}

struct apis *apis_ref(struct apis *a)
{
    if (a != NULL)
        atomic_fetch_add(&a->refs, 1);
    return a;
}

void apis_unref(struct apis *a)
{
    if (a == NULL || atomic_fetch_sub(&a->refs, 1) != 1)
        return;
    for (size_t i = 0; i < a->n; i++) {
        struct api_ext *x = &a->v[i];

        allowlist_free(x->pub.allow);
        free(x->pub.target.host);
        free(x->pub.target.authority);
        free(x->pub.target.path);
        free(x->domain);
        json_decref(x->pub.def);
        json_decref(x->elem);
    }
    free(a->v);
    free(a->routes);
    for (size_t i = 0; i < a->npol; i++) {
        free(a->pol[i].domain);
        X509_STORE_free(a->pol[i].store);
        sk_X509_NAME_pop_free(a->pol[i].names, X509_NAME_free);
    }
    free(a->pol);
    for (size_t i = 0; i < a->ncerts; i++) {
        struct server_cert *sc = a->certs[i];

        X509_free(sc->leaf);
        sk_X509_pop_free(sc->chain, X509_free);
        EVP_PKEY_free(sc->key);
        for (size_t k = 0; k < sc->nnames; k++)
            free(sc->names[k]);
        free(sc->names);
        free(sc);
    }
    free(a->certs);
    ups_tls_set_free(a->uptls);
    free(a);
}

long long apis_revision(const struct apis *a)
{
    return a != NULL ? a->revision : 0;
}

size_t apis_count(const struct apis *a)
{
    return a != NULL ? a->n : 0;
}

static bool lp_matches(const char *lp, size_t lp_len, const char *path, size_t path_len)
{
    if (path_len >= lp_len && memcmp(path, lp, lp_len) == 0)
        return true;
    /* "/x/" also serves "/x" (our choice, see the file comment). */
    return lp_len > 1 && lp[lp_len - 1] == '/' && path_len == lp_len - 1 &&
           memcmp(path, lp, path_len) == 0;
}

/* First route index whose domain is >= d (routes are sorted by domain). */
static size_t route_lower_bound(const struct apis *a, const char *d)
{
    size_t lo = 0, hi = a->nroutes;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (strcmp(a->routes[mid].domain, d) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static const struct api *route_in(const struct apis *a, const char *d, const char *path,
                                  size_t path_len)
{
    for (size_t i = route_lower_bound(a, d); i < a->nroutes; i++) {
        const struct route *r = &a->routes[i];

        if (strcmp(r->domain, d) != 0)
            break;
        if (lp_matches(r->api->listen_path, r->lp_len, path, path_len))
            return r->api;
    }
    return NULL;
}

const struct api *apis_route(const struct apis *a, const char *host, size_t host_len,
                             const char *path, size_t path_len)
{
    char h[MAX_HOST + 1];
    const struct api *api = NULL;

    if (a == NULL)
        return NULL;
    if (host != NULL && host_len > 0 && host_len <= MAX_HOST && memchr(host, 0, host_len) == NULL) {
        for (size_t i = 0; i < host_len; i++)
            h[i] = (char)tolower((unsigned char)host[i]);
        h[host_len] = '\0';
        api = route_in(a, h, path, path_len);
    }
    return api != NULL ? api : route_in(a, "", path, path_len);
}

static const struct dom_policy *policy_find(const struct apis *a, const char *d)
{
    size_t lo = 0, hi = a->npol;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(a->pol[mid].domain, d);

        if (c == 0)
            return &a->pol[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

void apis_tls_policy(const struct apis *a, const char *sni, struct tls_policy *out)
{
    char h[MAX_HOST + 1];
    const struct dom_policy *p = NULL, *any, *pool;
    size_t n = sni != NULL ? strlen(sni) : 0;

    memset(out, 0, sizeof(*out));
    out->level = CLIENT_AUTH_NONE;
    if (a == NULL)
        return;
    any = policy_find(a, "");
    if (n > 0 && n <= MAX_HOST) {
        for (size_t i = 0; i <= n; i++)
            h[i] = (char)tolower((unsigned char)sni[i]);
        p = policy_find(a, h);
    }
    if (p == NULL || p->level == LVL_UNSET)
        p = any;
    if (p == NULL || p->level <= LVL_UNSET)
        return;
    /* Tyk's client CA pool: the mTLS APIs of the SNI's domain, else of the "" domain. */
    pool = p->has_mtls ? p : (any != NULL && any->has_mtls ? any : NULL);
    if (pool != NULL && sk_X509_NAME_num(pool->names) > 0)
        out->ca_names = pool->names;
    if (p->level == LVL_REQUIRE) {
        out->level = CLIENT_AUTH_REQUIRE;
        out->store = p->store; /* REQUIRE is only set by an mTLS API of p's own domain */
    } else {
        out->level = CLIENT_AUTH_REQUEST;
    }
}

size_t apis_server_certs(const struct apis *a, const struct server_cert *const **out)
{
    if (a == NULL) {
        *out = NULL;
        return 0;
    }
    *out = (const struct server_cert *const *)a->certs;
    return a->ncerts;
}

/* ---- parsing API definitions ---- */

static char *norm_domain(const char *d)
{
    char *s = xstrdup(d);
    char *colon;

    for (char *p = s; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    /* Strip a port, but not from a bracketed IPv6 literal's inside. */
    colon = strrchr(s, ':');
    if (colon != NULL && (s[0] != '[' || (colon > s && colon[-1] == ']')))
        *colon = '\0';
    return s;
}

static int parse_api(struct build *b, const json_t *elem, struct api_ext *x, char **err)
{
    const json_t *def = json_object_get(elem, "definition");
    const json_t *proxy;
    struct api *p = &x->pub;
    const char *url;

    if (!json_is_object(def)) {
        *err = xstrdup("no definition object");
        return -1;
    }
    memset(x, 0, sizeof(*x));
    proxy = json_object_get(def, "proxy");
    apidef_parse(&p->auth, def, apidef_str(elem, "api_id", ""));
    p->name = apidef_str(def, "name", "");
    p->listen_path = apidef_str(proxy, "listen_path", "/");
    if (p->listen_path[0] != '/') {
        *err = xasprintf("api_id=%s: listen_path does not start with '/'", p->auth.api_id);
        return -1;
    }
    url = apidef_str(proxy, "target_url", NULL);
    if (url == NULL) {
        *err = xasprintf("api_id=%s: no proxy.target_url", p->auth.api_id);
        return -1;
    }
    if (parse_target(url, &p->target, err) < 0) {
        char *e = *err;

        *err = xasprintf("api_id=%s: proxy.target_url: %s", p->auth.api_id, e);
        free(e);
        return -1;
    }
    p->def = json_incref((json_t *)def);
    x->elem = json_incref((json_t *)elem);
    x->domain = norm_domain(apidef_str(def, "domain", ""));
    p->domain = x->domain;
    p->strip_listen_path = apidef_bool(proxy, "strip_listen_path", false);
    if (p->auth.active && p->auth.use_mutual_tls_auth)
        p->allow = allowlist_build(b, p);
    return 0;
}

static bool host_char_ok(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_';
}

static int parse_port(const char *s, size_t n, int *port)
{
    long v = 0;

    if (n == 0)
        return 0; /* "host:" = the default port, as Go's url.Parse */
    if (n > 5)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > 65535)
        return -1;
    *port = (int)v;
    return 0;
}

/* host[:port] or [v6][:port] between auth and end; *port is NULL when there is none. */
static int parse_authority(const char *auth, const char *end, const char **host,
                           const char **host_end, const char **port, char **err)
{
    char buf[INET6_ADDRSTRLEN + 1];
    unsigned char a6[16];

    *port = NULL;
    if (memchr(auth, '@', (size_t)(end - auth)) != NULL) {
        *err = xstrdup("user info is not supported");
        return -1;
    }
    if (*auth != '[') {
        *host = auth;
        *host_end = memchr(auth, ':', (size_t)(end - auth));
        if (*host_end != NULL)
            *port = *host_end + 1;
        else
            *host_end = end;
        for (const char *c = *host; c < *host_end; c++) {
            if (!host_char_ok(*c)) {
                *err = xstrdup("bad host");
                return -1;
            }
        }
        return 0;
    }
    *host = auth + 1;
    *host_end = memchr(*host, ']', (size_t)(end - *host));
    if (*host_end == NULL || (size_t)(*host_end - *host) >= sizeof(buf)) {
        *err = xstrdup("bad IPv6 literal");
        return -1;
    }
    memcpy(buf, *host, (size_t)(*host_end - *host));
    buf[*host_end - *host] = '\0';
    if (inet_pton(AF_INET6, buf, a6) != 1) {
        *err = xstrdup("bad IPv6 literal");
        return -1;
    }
    if (*host_end + 1 < end) {
        if ((*host_end)[1] != ':') {
            *err = xstrdup("junk after the IPv6 literal");
            return -1;
        }
        *port = *host_end + 2;
    }
    return 0;
}

static int parse_target(const char *url, struct api_target *t, char **err)
{
    const char *p = url, *auth_end, *host, *host_end, *port;
    size_t plen;

    if (strncasecmp(p, "https://", 8) == 0) {
        t->tls = true;
        p += 8;
    } else if (strncasecmp(p, "http://", 7) == 0) {
        t->tls = false;
        p += 7;
    } else {
        *err = xstrdup("scheme must be http:// or https://");
        return -1;
    }
    auth_end = p + strcspn(p, "/?#");
    if (parse_authority(p, auth_end, &host, &host_end, &port, err) < 0)
        return -1;
    if (host_end == host) {
        *err = xstrdup("no host");
        return -1;
    }
    t->port = t->tls ? 443 : 80;
    if (port != NULL && parse_port(port, (size_t)(auth_end - port), &t->port) < 0) {
        *err = xstrdup("bad port");
        return -1;
    }
    if (strpbrk(auth_end, "?#") != NULL) {
        *err = xstrdup("a query or fragment is not supported");
        return -1;
    }
    plen = strlen(auth_end);
    while (plen > 0 && auth_end[plen - 1] == '/')
        plen--;
    t->host = xstrndup(host, (size_t)(host_end - host));
    t->authority = xstrndup(p, (size_t)(auth_end - p));
    t->path = xstrndup(auth_end, plen);
    return 0;
}

/* ---- certificates from the store ---- */

static struct pcert *pcert_get(struct build *b, const char *id)
{
    const json_t *idx = json_object_get(b->index, id);
    const json_t *e = json_object_get(b->certs, id);
    struct pcert *p;
    const char *pem;

    if (idx != NULL)
        return &b->pc[json_integer_value(idx)];
    if (b->npc == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 16;
        b->pc = xrealloc(b->pc, b->cap * sizeof(*b->pc));
    }
    p = &b->pc[b->npc];
    memset(p, 0, sizeof(*p));
    json_object_set_new(b->index, id, json_integer((json_int_t)b->npc++));
    /* Each id is looked at once per build, so each problem is logged once. */
    if (!json_is_object(e)) {
        log_warn("apis: certificate %s is not in the store; skipped", id);
        return p;
    }
    p->elem = e;
    p->id = json_object_iter_key(json_object_iter_at((json_t *)b->certs, id));
    if (strcmp(apidef_str(e, "kind", "cert"), "public_key") == 0) {
        p->pubkey = true;
        p->usable = true;
        return p;
    }
    pem = apidef_str(e, "pem", "");
    p->chain = certinfo_load_chain(pem, strlen(pem));
    if (p->chain == NULL || sk_X509_num(p->chain) == 0) {
        log_warn("apis: certificate %s: the stored PEM does not parse; skipped", id);
        return p;
    }
    p->usable = true;
    return p;
}

static bool pcert_load_key(struct pcert *p)
{
    const char *pem;
    BIO *bio;

    if (p->key_tried)
        return p->key != NULL;
    p->key_tried = true;
    pem = apidef_str(p->elem, "private_key_pem", NULL);
    if (pem == NULL)
        return false;
    bio = BIO_new_mem_buf(pem, -1);
    if (bio == NULL)
        die("apis: out of memory");
    p->key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (p->key == NULL) {
        log_warn("apis: certificate %s: the private key does not parse", p->id);
        return false;
    }
    if (X509_check_private_key(sk_X509_value(p->chain, 0), p->key) != 1) {
        log_warn("apis: certificate %s: the private key does not match", p->id);
        EVP_PKEY_free(p->key);
        p->key = NULL;
        return false;
    }
    return true;
}

static void build_free(struct build *b)
{
    for (size_t i = 0; i < b->npc; i++) {
        sk_X509_pop_free(b->pc[i].chain, X509_free);
        EVP_PKEY_free(b->pc[i].key);
    }
    free(b->pc);
    json_decref(b->index);
}

static X509_STORE *store_new(void)
{
    X509_STORE *s = X509_STORE_new();

    if (s == NULL)
        die("apis: out of memory");
    /* Every allowlisted certificate is a trust anchor, even a non-self-signed leaf. */
    X509_STORE_set_flags(s, X509_V_FLAG_PARTIAL_CHAIN);
    return s;
}

static bool x509_is_ca(X509 *x)
{
    /* basicConstraints CA:TRUE (Go's IsCA); 1 is exactly that case. */
    return X509_check_ca(x) == 1;
}

static void for_each_allow_id(const struct build *b, const struct api *api,
                              void (*fn)(struct build *, const char *, void *), void *arg)
{
    const json_t *v;
    size_t i;

    json_array_foreach(api->auth.client_certificates, i, v)
    {
        if (json_is_string(v))
            fn((struct build *)b, json_string_value(v), arg);
    }
    for (i = 0; b->cfg != NULL && i < b->cfg->security_certificates_apis.n; i++)
        fn((struct build *)b, b->cfg->security_certificates_apis.v[i], arg);
}

static void allow_add(struct build *b, const char *id, void *arg)
{
    struct allowlist *al = arg;
    struct pcert *p = pcert_get(b, id);

    if (p == NULL || !p->usable || p->pubkey)
        return; /* public keys never match (spec §3.2) */
    if (allowlist_add(al, sk_X509_value(p->chain, 0)) < 0)
        log_warn("apis: certificate %s: cannot add to a store", id);
}

/* The API's static allowlist (common/allowlist), built once per snapshot. */
static struct allowlist *allowlist_build(struct build *b, const struct api *api)
{
    struct allowlist *al = allowlist_new();

    for_each_allow_id(b, api, allow_add, al);
    return al;
}

/* ---- routing table ---- */

static int route_cmp(const void *pa, const void *pb)
{
    const struct route *x = pa, *y = pb;
    int c = strcmp(x->domain, y->domain);

    if (c != 0)
        return c;
    if (x->lp_len != y->lp_len)
        return x->lp_len > y->lp_len ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static void build_routes(struct apis *a)
{
    a->routes = xcalloc(a->n + 1, sizeof(*a->routes));
    for (size_t i = 0; i < a->n; i++) {
        const struct api *api = &a->v[i].pub;
        struct route *r;

        if (!api->auth.active || strchr(api->domain, '{') != NULL)
            continue;
        r = &a->routes[a->nroutes++];
        r->domain = api->domain;
        r->api = api;
        r->lp_len = strlen(api->listen_path);
        r->order = i;
    }
    qsort(a->routes, a->nroutes, sizeof(*a->routes), route_cmp);
}

/* ---- TLS policy per domain (spec §3.1 steps 2-3) ---- */

static void pool_add_one(struct dom_policy *p, X509 *x)
{
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME *dup;

    if (X509_STORE_add_cert(p->store, x) != 1)
        log_warn("apis: cannot add a certificate to the client CA store");
    for (int i = 0; i < sk_X509_NAME_num(p->names); i++)
        if (X509_NAME_cmp(sk_X509_NAME_value(p->names, i), name) == 0)
            return;
    dup = X509_NAME_dup(name);
    if (dup == NULL || sk_X509_NAME_push(p->names, dup) <= 0)
        die("apis: out of memory");
}

/* CertPool rules (spec §1.4): a single certificate always; of a stored chain only the CA
 * certificates after its leaf; never a public key. */
static void pool_add(struct build *b, const char *id, void *arg)
{
    struct dom_policy *p = arg;
    struct pcert *pc = pcert_get(b, id);
    int n;

    if (!pc->usable || pc->pubkey)
        return;
    n = sk_X509_num(pc->chain);
    if (n == 1) {
        pool_add_one(p, sk_X509_value(pc->chain, 0));
        return;
    }
    for (int i = 1; i < n; i++)
        if (x509_is_ca(sk_X509_value(pc->chain, i)))
            pool_add_one(p, sk_X509_value(pc->chain, i));
}

static int pol_cmp(const void *pa, const void *pb)
{
    return strcmp(((const struct dom_policy *)pa)->domain, ((const struct dom_policy *)pb)->domain);
}

static void build_policies(struct apis *a, struct build *b)
{
    json_t *idx = json_object();

    a->pol = xcalloc(a->n + 1, sizeof(*a->pol));
    for (size_t i = 0; i < a->n; i++) {
        const struct api *api = &a->v[i].pub;
        const json_t *j;
        struct dom_policy *p;

        if (!api->auth.active || strchr(api->domain, '{') != NULL)
            continue;
        j = json_object_get(idx, api->domain);
        if (j != NULL) {
            p = &a->pol[json_integer_value(j)];
        } else {
            p = &a->pol[a->npol];
            p->domain = xstrdup(api->domain);
            p->names = sk_X509_NAME_new_null();
            if (p->names == NULL)
                die("apis: out of memory");
            json_object_set_new(idx, api->domain, json_integer((json_int_t)a->npol++));
        }
        /* Order-dependent, as Tyk's getTLSConfigForClient. */
        if (api->auth.use_mutual_tls_auth) {
            if (p->level == LVL_UNSET)
                p->level = LVL_REQUIRE;
            else if (p->level != LVL_REQUIRE)
                p->level = LVL_REQUEST;
            p->has_mtls = true;
            if (p->store == NULL)
                p->store = store_new(); /* empty: nothing verifies, as an empty pool */
            for_each_allow_id(b, api, pool_add, p);
        } else if (api->auth.use_certificate) {
            if (p->level < LVL_REQUEST)
                p->level = LVL_REQUEST;
        } else {
            p->level = p->level <= LVL_UNSET ? LVL_NONE_BUT_EXISTS : LVL_REQUEST;
        }
    }
    json_decref(idx);
    qsort(a->pol, a->npol, sizeof(*a->pol), pol_cmp);
}

/* ---- server certificates (spec §8.1) ---- */

static void names_add(struct server_cert *sc, const unsigned char *s, size_t n)
{
    char *name;

    if (n == 0 || memchr(s, 0, n) != NULL)
        return;
    name = xstrndup((const char *)s, n);
    for (char *c = name; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    for (size_t i = 0; i < sc->nnames; i++) {
        if (strcmp(sc->names[i], name) == 0) {
            free(name);
            return;
        }
    }
    sc->names = xrealloc(sc->names, (sc->nnames + 1) * sizeof(*sc->names));
    sc->names[sc->nnames++] = name;
}

static void names_from_leaf(struct server_cert *sc)
{
    X509_NAME *subj = X509_get_subject_name(sc->leaf);
    GENERAL_NAMES *sans;
    unsigned char *utf8;
    int pos = -1, len;

    while ((pos = X509_NAME_get_index_by_NID(subj, NID_commonName, pos)) >= 0) {
        len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, pos)));
        if (len > 0) {
            names_add(sc, utf8, (size_t)len);
            OPENSSL_free(utf8);
        }
    }
    sans = X509_get_ext_d2i(sc->leaf, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);

        if (gn->type == GEN_DNS)
            names_add(sc, ASN1_STRING_get0_data(gn->d.dNSName),
                      (size_t)ASN1_STRING_length(gn->d.dNSName));
    }
    GENERAL_NAMES_free(sans);
}

static struct server_cert *server_cert_add(struct apis *a, struct build *b, const char *id)
{
    struct pcert *p = pcert_get(b, id);
    struct server_cert *sc;

    if (!p->usable)
        return NULL;
    if (p->pubkey) {
        log_warn("apis: server certificate %s is a public key; skipped", id);
        return NULL;
    }
    if (!pcert_load_key(p)) {
        log_warn("apis: server certificate %s has no usable private key; skipped", id);
        return NULL;
    }
    sc = xcalloc(1, sizeof(*sc));
    sc->leaf = sk_X509_value(p->chain, 0);
    X509_up_ref(sc->leaf);
    sc->chain = sk_X509_new_null();
    if (sc->chain == NULL)
        die("apis: out of memory");
    for (int i = 1; i < sk_X509_num(p->chain); i++) {
        X509 *x = sk_X509_value(p->chain, i);

        X509_up_ref(x);
        if (sk_X509_push(sc->chain, x) <= 0)
            die("apis: out of memory");
    }
    sc->key = p->key;
    EVP_PKEY_up_ref(sc->key);
    names_from_leaf(sc);
    a->certs = xrealloc(a->certs, (a->ncerts + 1) * sizeof(*a->certs));
    a->certs[a->ncerts++] = sc;
    return sc;
}

static void build_server_certs(struct apis *a, struct build *b)
{
    json_t *seen = json_object();
    const json_t *v;
    size_t i, j;

    for (i = 0; b->cfg != NULL && i < b->cfg->https_ssl_certificates.n; i++) {
        const char *id = b->cfg->https_ssl_certificates.v[i];

        if (json_object_get(seen, id) == NULL && server_cert_add(a, b, id) != NULL)
            json_object_set_new(seen, id, json_null());
    }
    json_object_clear(seen);
    /* Per-API certificates come last; one certificate shared by several APIs is served
     * once, under every domain that uses it. */
    for (i = 0; i < a->n; i++) {
        const struct api *api = &a->v[i].pub;

        if (!api->auth.active)
            continue;
        json_array_foreach(json_object_get(api->def, "certificates"), j, v)
        {
            const char *id = json_string_value(v);
            const json_t *k;
            struct server_cert *sc;

            if (id == NULL)
                continue;
            k = json_object_get(seen, id);
            if (k != NULL) {
                sc = a->certs[json_integer_value(k)];
            } else {
                sc = server_cert_add(a, b, id);
                if (sc == NULL)
                    continue;
                json_object_set_new(seen, id, json_integer((json_int_t)(a->ncerts - 1)));
            }
            if (api->domain[0] != '\0' && strchr(api->domain, '{') == NULL)
                names_add(sc, (const unsigned char *)api->domain, strlen(api->domain));
        }
    }
    json_decref(seen);
}

/* ---- upstream TLS (spec §8.2, §8.5, §8.6) ---- */

struct pin_ctx {
    struct build *b;
    const char *api_id;
    unsigned char (*v)[SHA256_DIGEST_LENGTH];
    size_t n;
};

/* A PEM file's public key: a PUBLIC KEY block, else the first certificate's. */
static EVP_PKEY *pubkey_from_file(const char *path)
{
    BIO *bio = BIO_new_file(path, "r");
    EVP_PKEY *pk = NULL;
    X509 *x;

    if (bio == NULL)
        return NULL;
    pk = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    if (pk == NULL && BIO_reset(bio) == 0 &&
        (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        pk = X509_get_pubkey(x);
        X509_free(x);
    }
    BIO_free(bio);
    ERR_clear_error();
    return pk;
}

static EVP_PKEY *pubkey_from_store(struct pcert *p)
{
    const char *pem = apidef_str(p->elem, "pem", "");
    EVP_PKEY *pk;
    BIO *bio;

    if (!p->pubkey)
        return X509_get_pubkey(sk_X509_value(p->chain, 0));
    bio = BIO_new_mem_buf(pem, -1);
    if (bio == NULL)
        die("apis: out of memory");
    pk = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    ERR_clear_error();
    return pk;
}

static void pin_add(const char *ref, void *arg)
{
    struct pin_ctx *pc = arg;
    EVP_PKEY *pk = NULL;
    struct pcert *p;

    if (strchr(ref, '/') != NULL) {
        pk = pubkey_from_file(ref);
        if (pk == NULL)
            log_warn("apis: api_id=%s: pinned public key file '%s' does not load", pc->api_id, ref);
    } else {
        p = pcert_get(pc->b, ref);
        if (p->usable)
            pk = pubkey_from_store(p);
    }
    if (pk == NULL)
        return;
    pc->v = xrealloc(pc->v, (pc->n + 1) * sizeof(*pc->v));
    if (ups_tls_spki_sha256(pk, pc->v[pc->n]))
        pc->n++;
    EVP_PKEY_free(pk);
}

/* The client certificate for api's target (spec §8.5) into p, or an error message (heap). */
static char *client_cert(struct build *b, const struct api *api, struct ups_tls_params *p)
{
    const json_t *api_map = apidef_bool(api->def, "upstream_certificates_disabled", false)
                                ? NULL
                                : json_object_get(api->def, "upstream_certificates");
    const char *id = ups_tls_cert_for_host(api->target.authority,
                                           b->cfg->security_certificates_upstream, api_map);
    struct pcert *pc;

    if (id == NULL || id[0] == '\0')
        return NULL;
    pc = pcert_get(b, id);
    if (!pc->usable)
        return xasprintf("upstream client certificate %s is not in the certificate store", id);
    if (pc->pubkey)
        return xasprintf("upstream client certificate %s is a public key", id);
    if (!pcert_load_key(pc))
        return xasprintf("upstream client certificate %s has no usable private key", id);
    p->cert_id = id;
    p->cert = sk_X509_value(pc->chain, 0);
    p->key = pc->key;
    p->chain = sk_X509_dup(pc->chain);
    if (p->chain == NULL)
        die("apis: out of memory");
    (void)sk_X509_shift(p->chain);
    return NULL;
}

static const struct ups_tls *upstream_tls(struct build *b, struct ups_tls_set *set,
                                          const struct api *api)
{
    const struct proxy_config *cfg = b->cfg;
    const json_t *tr = json_object_get(json_object_get(api->def, "proxy"), "transport");
    const json_t *ciphers = json_object_get(tr, "ssl_ciphers"), *v;
    const char *pins;
    struct ups_tls_params p = {0};
    struct pin_ctx pc = {b, api->auth.api_id, NULL, 0};
    const struct ups_tls *t;
    char **names = NULL, *err;
    json_int_t vmin = json_integer_value(json_object_get(tr, "ssl_min_version"));
    json_int_t vmax = json_integer_value(json_object_get(tr, "ssl_max_version"));
    size_t i;

    p.host = api->target.host;
    p.verify = !cfg->proxy_ssl_insecure_skip_verify;
    if (apidef_bool(tr, "ssl_insecure_skip_verify", false)) {
        if (cfg->enforce_upstream_tls_verify)
            log_warn("apis: api_id=%s: proxy.transport.ssl_insecure_skip_verify is ignored "
                     "because security.enforce_upstream_tls_verify is on; the upstream is "
                     "verified",
                     api->auth.api_id);
        else
            p.verify = false;
    }
    p.min_version = vmin > 0 ? (int)vmin : (int)cfg->proxy_ssl_min_version;
    p.max_version = vmax > 0 ? (int)vmax : (int)cfg->proxy_ssl_max_version;
    if (p.min_version > p.max_version) {
        err = xasprintf("upstream TLS: minimum version %d is above the maximum %d", p.min_version,
                        p.max_version);
        t = ups_tls_set_add_error(set, err);
        free(err);
        return t;
    }
    p.ciphers = cfg->proxy_ssl_ciphers.v;
    p.nciphers = cfg->proxy_ssl_ciphers.n;
    if (json_array_size(ciphers) > 0) {
        names = xcalloc(json_array_size(ciphers), sizeof(*names));
        p.nciphers = 0;
        json_array_foreach(ciphers, i, v)
        {
            if (json_is_string(v))
                names[p.nciphers++] = (char *)json_string_value(v);
        }
        p.ciphers = names;
    }
    p.disable_renegotiation = cfg->proxy_ssl_disable_renegotiation;
    p.force_cn = apidef_bool(tr, "ssl_force_common_name_check", false);
    err = client_cert(b, api, &p);
    pins = ups_tls_pins_for_host(api->target.host, cfg->security_pinned_public_keys,
                                 apidef_bool(api->def, "certificate_pinning_disabled", false)
                                     ? NULL
                                     : json_object_get(api->def, "pinned_public_keys"));
    if (err == NULL && pins != NULL && pins[0] != '\0') {
        for_each_pin(pins, pin_add, &pc);
        /* Fail closed: pins that do not load never fall back to no pinning. */
        if (pc.n == 0)
            err = xasprintf("upstream public key pinning: none of the keys pinned for %s loads",
                            api->target.host);
        p.pins = (const unsigned char(*)[SHA256_DIGEST_LENGTH])pc.v;
        p.npins = pc.n;
    }
    if (err != NULL) {
        log_warn("apis: api_id=%s: %s; its requests will fail with 502", api->auth.api_id, err);
        t = ups_tls_set_add_error(set, err);
    } else {
        t = ups_tls_set_add(set, &p);
        if (ups_tls_error(t) != NULL)
            log_warn("apis: api_id=%s: %s; its requests will fail with 502", api->auth.api_id,
                     ups_tls_error(t));
    }
    free(err);
    free(pc.v);
    free(names);
    sk_X509_free(p.chain);
    return t;
}

static void build_upstream_tls(struct apis *a, struct build *b)
{
    static const struct proxy_config defaults; /* no cfg: verify with the system store */

    if (b->cfg == NULL)
        b->cfg = &defaults;
    a->uptls = ups_tls_set_new(b->cfg);
    for (size_t i = 0; i < a->n; i++) {
        struct api *api = &a->v[i].pub;

        if (api->auth.active && api->target.tls)
            api->up_tls = upstream_tls(b, a->uptls, api);
    }
}
