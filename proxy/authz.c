/*
 * authz: one worker's request auth decision (authz.h). The static allowlist and keyless
 * APIs are decided from the snapshot at once; everything that needs a session goes to
 * authd's `authorize` (schema/rpc.md) behind a bounded LRU cache of allows. Cache keys are
 * SHA-256 digests of (api, tls, certificate, expiry flag, token): raw tokens are never
 * stored. Fail closed: any RPC failure answers 503. Not for routing or the handshake.
 */
#include "proxy/authz.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "common/allowlist.h"
#include "common/certinfo.h"
#include "common/log.h"
#include "common/strutil.h"
#include "proxy/authd_client.h"
#include "proxy/authz_int.h"
#include "proxy/proxy_cfg.h"

#define AUTHZ_CACHE_MAX 65536 /* entries; the least recently used goes first */
#define AUTHZ_BUCKETS   16384 /* power of two */
#define KEY_HASH_MAX    128

struct centry {
    unsigned char key[SHA256_DIGEST_LENGTH];
    char key_hash[KEY_HASH_MAX + 1];
    uint64_t expires_ms; /* monotonic */
    struct centry *hnext;
    struct centry *lprev, *lnext; /* LRU: lru.lnext is the most recent */
};

struct authz {
    struct authd_client *ac;
    const struct proxy_config *cfg;
    struct centry **buckets;
    size_t count;
    struct centry lru;      /* sentinel */
    uint64_t gen;           /* bumped by authz_flush: answers from before are not cached */
    struct authz_req *reqs; /* pending */
};

struct authz_req {
    struct authz *z;
    struct authd_call *call;
    authz_cb cb;
    void *arg;
    unsigned char key[SHA256_DIGEST_LENGTH];
    uint64_t gen;
    char *cert_id;
    struct authz_req *prev, *next;
};

static const char msg_unavailable[] = "Authentication service unavailable";
static const char msg_disallowed[] = "Access to this API has been disallowed";

static void authz_on_authorized(const json_t *result, int code, const char *err, void *arg);
static void reply(authz_cb cb, void *arg, int status, const char *msg, const char *cert_id,
                  const char *key_hash);
static void cache_key(const struct api *api, bool tls, const char *cert_sha, bool expired,
                      const char *token, unsigned char *out);
static struct centry *cache_get(struct authz *z, const unsigned char *key, uint64_t now);
static void cache_put(struct authz *z, const unsigned char *key, const char *key_hash,
                      uint64_t expires_ms);
static void centry_remove(struct authz *z, struct centry *e);
static void req_free(struct authz_req *r);
static uint64_t now_ms(void);

/* ---- public functions ---- */

struct authz *authz_new(struct authd_client *ac, const struct proxy_config *cfg)
{
    struct authz *z = xcalloc(1, sizeof(*z));

    z->ac = ac;
    z->cfg = cfg;
    z->buckets = xcalloc(AUTHZ_BUCKETS, sizeof(*z->buckets));
    z->lru.lnext = z->lru.lprev = &z->lru;
    return z;
}

void authz_free(struct authz *z)
{
    if (z == NULL)
        return;
    while (z->reqs != NULL)
        authz_cancel(z->reqs);
    authz_flush(z);
    free(z->buckets);
    free(z);
}

void authz_flush(struct authz *z)
{
    while (z->lru.lnext != &z->lru)
        centry_remove(z, z->lru.lnext);
    z->gen++;
}

struct authz_req *authz_start(struct authz *z, const struct api *api, const struct http_head *h,
                              const struct authz_conn *c, authz_cb cb, void *arg)
{
    bool has_cert = c->tls && c->leaf != NULL;
    time_t now = time(NULL);
    char cert_sha[CERT_SHA_HEX_LEN + 1] = "";
    char key_hash[KEY_HASH_MAX + 1];
    char *cert_id, *msg = NULL, *token;
    bool expired = false;
    unsigned char key[SHA256_DIGEST_LENGTH];
    struct centry *e;
    struct authz_req *r;
    json_t *params;
    int status;

    if (has_cert) {
        if (c->leaf_sha != NULL)
            hex_encode(c->leaf_sha, SHA256_DIGEST_LENGTH, cert_sha);
        else
            certinfo_x509_sha256_hex(c->leaf, cert_sha);
        expired = X509_cmp_time(X509_get0_notAfter(c->leaf), &now) < 0;
    }
    cert_id = has_cert ? xasprintf("%s%s", api->auth.org_id, cert_sha) : xstrdup("");
    if (api->auth.use_mutual_tls_auth) {
        status = allowlist_check(api->allow, c->tls, c->leaf, c->leaf_sha, c->chain, now, &msg);
        if (status != 0) {
            log_info("authz: denied api=%s status=%d reason=\"%s\" cert=%s", api->auth.api_id,
                     status, msg, cert_sha[0] ? cert_sha : "-");
            reply(cb, arg, status, msg, cert_id, "");
            free(msg);
            free(cert_id);
            return NULL;
        }
    }
    if (api->auth.use_keyless && !api->auth.use_certificate) {
        reply(cb, arg, 0, NULL, cert_id, "");
        free(cert_id);
        return NULL;
    }
    token = authz_extract_token(api, h);
    cache_key(api, c->tls, cert_sha, expired, token, key);
    e = cache_get(z, key, now_ms());
    if (e != NULL) {
        /* Copied: the callback may flush the cache. */
        memcpy(key_hash, e->key_hash, sizeof(key_hash));
        reply(cb, arg, 0, NULL, cert_id, key_hash);
        if (token != NULL)
            OPENSSL_clear_free(token, strlen(token));
        free(cert_id);
        return NULL;
    }
    params = json_pack("{s:s, s:s, s:b, s:b, s:b, s:b}", "api_id", api->auth.api_id, "org_id",
                       api->auth.org_id, "use_certificate", api->auth.use_certificate,
                       "static_mtls", api->auth.use_mutual_tls_auth, "tls", c->tls,
                       "cert_expired", expired);
    if (has_cert)
        json_object_set_new(params, "cert_sha", json_string(cert_sha));
    if (token != NULL) {
        json_object_set_new(params, "token", json_string(token));
        OPENSSL_clear_free(token, strlen(token));
    }
    r = xcalloc(1, sizeof(*r));
    r->z = z;
    r->cb = cb;
    r->arg = arg;
    r->gen = z->gen;
    r->cert_id = cert_id;
    memcpy(r->key, key, sizeof(key));
    r->next = z->reqs;
    if (z->reqs != NULL)
        z->reqs->prev = r;
    z->reqs = r;
    r->call = authd_client_call(z->ac, "authorize", params, authz_on_authorized, r);
    return r;
}

void authz_cancel(struct authz_req *r)
{
    if (r == NULL)
        return;
    authd_call_cancel(r->call);
    req_free(r);
}

/* ---- the authd answer ---- */

static void authz_on_authorized(const json_t *result, int code, const char *err, void *arg)
{
    struct authz_req *r = arg;
    struct authz *z = r->z;
    const json_t *st = json_object_get(result, "status");
    const char *msg = json_string_value(json_object_get(result, "error"));
    const char *kh = json_string_value(json_object_get(result, "key_hash"));
    const json_t *cms = json_object_get(result, "cache_ms");
    long long status = json_is_integer(st) ? (long long)json_integer_value(st) : -1;
    long long ttl;
    authz_cb cb = r->cb;
    void *cb_arg = r->arg;
    char *cert_id = r->cert_id;

    r->call = NULL;
    r->cert_id = NULL;
    if (result == NULL || (status != 200 && (status < 400 || status > 499))) {
        log_warn("authz: authorize failed api call: %s (code %d, status %lld)",
                 result == NULL ? err : "unexpected status", code, status);
        req_free(r);
        reply(cb, cb_arg, 503, msg_unavailable, cert_id, "");
        free(cert_id);
        return;
    }
    if (status != 200) {
        log_info("authz: denied status=%lld reason=\"%s\" cert_id=%s", status,
                 msg != NULL ? msg : msg_disallowed, cert_id[0] ? cert_id : "-");
        req_free(r);
        reply(cb, cb_arg, (int)status, msg != NULL ? msg : msg_disallowed, cert_id, "");
        free(cert_id);
        return;
    }
    if (kh == NULL || strlen(kh) > KEY_HASH_MAX)
        kh = "";
    ttl = json_is_integer(cms) ? (long long)json_integer_value(cms) : 0;
    if (ttl > z->cfg->auth_cache_ms)
        ttl = z->cfg->auth_cache_ms;
    /* An invalidation that arrived while the call was out may concern this very answer. */
    if (ttl > 0 && r->gen == z->gen)
        cache_put(z, r->key, kh, now_ms() + (uint64_t)ttl);
    req_free(r);
    reply(cb, cb_arg, 0, NULL, cert_id, kh);
    free(cert_id);
}

static void reply(authz_cb cb, void *arg, int status, const char *msg, const char *cert_id,
                  const char *key_hash)
{
    struct authz_result res;

    res.status = status;
    res.message = msg != NULL ? msg : "";
    res.cert_id = cert_id;
    res.key_hash = key_hash;
    cb(&res, arg);
}

static void req_free(struct authz_req *r)
{
    struct authz *z = r->z;

    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        z->reqs = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    free(r->cert_id);
    free(r);
}

/* ---- token extraction (spec §4.3, common/apidef) ---- */

static const char *head_header(void *arg, const char *name, size_t i, size_t *len)
{
    const struct http_head *h = arg;
    size_t n = strlen(name);

    for (size_t k = 0; k < h->nhdrs; k++) {
        if (h->hdrs[k].name_len == n && strncasecmp(h->hdrs[k].name, name, n) == 0 && i-- == 0) {
            *len = h->hdrs[k].value_len;
            return h->hdrs[k].value;
        }
    }
    return NULL;
}

char *authz_extract_token(const struct api *api, const struct http_head *h)
{
    return apidef_token(&api->auth, head_header, (void *)h, h->query, h->query_len);
}

/* ---- cache ---- */

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void cache_key(const struct api *api, bool tls, const char *cert_sha, bool expired,
                      const char *token, unsigned char *out)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char flags[3] = {tls, expired, token != NULL};
    unsigned int len = 0;

    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(md, api->auth.api_id, strlen(api->auth.api_id) + 1) != 1 ||
        EVP_DigestUpdate(md, cert_sha, strlen(cert_sha) + 1) != 1 ||
        EVP_DigestUpdate(md, flags, sizeof(flags)) != 1 ||
        (token != NULL && EVP_DigestUpdate(md, token, strlen(token)) != 1) ||
        EVP_DigestFinal_ex(md, out, &len) != 1)
        die("authz: SHA-256 failed");
    EVP_MD_CTX_free(md);
}

static size_t bucket_of(const unsigned char *key)
{
    return ((size_t)key[0] << 8 | key[1]) & (AUTHZ_BUCKETS - 1);
}

static struct centry *cache_get(struct authz *z, const unsigned char *key, uint64_t now)
{
    struct centry *e;

    for (e = z->buckets[bucket_of(key)]; e != NULL; e = e->hnext)
        if (memcmp(e->key, key, sizeof(e->key)) == 0)
            break;
    if (e == NULL)
        return NULL;
    if (e->expires_ms <= now) {
        centry_remove(z, e);
        return NULL;
    }
    /* most recently used to the front */
    e->lprev->lnext = e->lnext;
    e->lnext->lprev = e->lprev;
    e->lnext = z->lru.lnext;
    e->lprev = &z->lru;
    z->lru.lnext->lprev = e;
    z->lru.lnext = e;
    return e;
}

static void cache_put(struct authz *z, const unsigned char *key, const char *key_hash,
                      uint64_t expires_ms)
{
    struct centry *e;
    size_t b = bucket_of(key);

    for (e = z->buckets[b]; e != NULL; e = e->hnext) {
        if (memcmp(e->key, key, sizeof(e->key)) == 0) {
            centry_remove(z, e);
            break;
        }
    }
    if (z->count >= AUTHZ_CACHE_MAX)
        centry_remove(z, z->lru.lprev);
    e = xcalloc(1, sizeof(*e));
    memcpy(e->key, key, sizeof(e->key));
    snprintf(e->key_hash, sizeof(e->key_hash), "%s", key_hash);
    e->expires_ms = expires_ms;
    e->hnext = z->buckets[b];
    z->buckets[b] = e;
    e->lnext = z->lru.lnext;
    e->lprev = &z->lru;
    z->lru.lnext->lprev = e;
    z->lru.lnext = e;
    z->count++;
}

static void centry_remove(struct authz *z, struct centry *e)
{
    struct centry **pp;

    for (pp = &z->buckets[bucket_of(e->key)]; *pp != e; pp = &(*pp)->hnext)
        ;
    *pp = e->hnext;
    e->lprev->lnext = e->lnext;
    e->lnext->lprev = e->lprev;
    z->count--;
    free(e);
}
