/*
 * authz: the per-request auth decision (DESIGN §6, spec §3–6). The static allowlist is
 * decided here from the snapshot; session-based modes ask authd's `authorize` method
 * (schema/rpc.md) and cache allows until authd pushes an invalidation, the connection to
 * authd drops, or auth_cache_ms passes. One per worker.
 */
#ifndef CB_PROXY_AUTHZ_H
#define CB_PROXY_AUTHZ_H

#include <stdbool.h>

#include <openssl/x509.h>

#include "proxy/apis.h"
#include "proxy/http_head.h"

struct authd_client;
struct proxy_config;
struct authz;
struct authz_req;

struct authz_conn {
    bool tls;
    X509 *leaf;                 /* the verified-possession client certificate, or NULL */
    const unsigned char *leaf_sha; /* SHA-256 of its DER (32 bytes), computed once per
                                    * connection; NULL = compute here */
    STACK_OF(X509) *chain;      /* what the client sent after the leaf, or NULL */
};

struct authz_result {
    int status;                 /* 0 = allow, else the HTTP status to answer */
    const char *message;        /* for {"error": message} when status != 0 */
    const char *cert_id;        /* API org + sha256 hex of the leaf, "" when no certificate */
    const char *key_hash;       /* sha256 hex of the session's key, "" when no session */
};

/* r and its strings are valid only during the call. */
typedef void (*authz_cb)(const struct authz_result *r, void *arg);

struct authz *authz_new(struct authd_client *ac, const struct proxy_config *cfg);
void authz_free(struct authz *z);
/* Drop every cached decision (authd_invalidate_cb and snapshot changes call this). */
void authz_flush(struct authz *z);
/*
 * Decide for api (which the caller keeps referenced until the callback). Calls cb before
 * returning NULL when the answer is known at once (static allowlist, keyless, cache hit);
 * else returns a handle and calls cb later from the loop, exactly once, unless cancelled.
 */
struct authz_req *authz_start(struct authz *z, const struct api *api, const struct http_head *h,
                              const struct authz_conn *c, authz_cb cb, void *arg);
void authz_cancel(struct authz_req *r);

#endif
