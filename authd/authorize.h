/*
 * authorize: the session-based half of a request's auth decision (spec §4.3, §5, §6.2;
 * DESIGN §6/§6a), shared by the RPC `authorize` method and the /check endpoint. The static
 * allowlist is not here: the caller (the proxy, from memory) has applied it already.
 *
 * Asynchronous: Redis lookups and a certificate-store existence check run on the loop;
 * the callback fires exactly once, never from authorize_start itself.
 */
#ifndef CB_AUTHD_AUTHORIZE_H
#define CB_AUTHD_AUTHORIZE_H

#include <stdbool.h>

#include "common/token.h"
#include "common/xmem.h"

struct authd;

struct authorize_in {
    const char *api_id;
    const char *org_id;      /* the API's org ("" allowed) */
    bool use_certificate;    /* Certificate Auth (auth_configs.authToken.use_certificate) */
    bool static_mtls;        /* use_mutual_tls_auth: token bindings are enforced only then */
    bool tls;
    const char *cert_sha;    /* sha256 hex of the client leaf's DER, NULL = no certificate */
    bool cert_expired;
    const char *token;       /* NULL = none sent */
};

struct authorize_out {
    int status;              /* 200, 401 or 403 */
    const char *error;       /* the spec's message when status != 200 (static) */
    char key_hash[TOKEN_HASH_HEX_MAX + 1]; /* sha256 hex of the session's key when 200 */
    long long cache_ms;      /* how long the allow may be cached; 0 = never */
};

/* out is NULL and store_err set when Redis or PostgreSQL failed (answer 503). */
typedef void (*authorize_cb)(const struct authorize_out *out, const char *store_err, void *arg);

/* Copies what it needs from in. Returns 0, or -1 (callback never called) on bad input. */
int authorize_start(struct authd *ad, const struct authorize_in *in, authorize_cb cb, void *arg)
    CB_WARN_UNUSED;

/* The longest an allow is cacheable (a push invalidates it sooner). */
#define AUTHORIZE_CACHE_MAX_MS 60000

#endif
