/*
 * check: the edge check endpoint (DESIGN §8) for nginx auth_request and Envoy ext_authz
 * (HTTP mode) on check_listen. The edge terminated TLS and passes the API id (X-Api-Id),
 * the client certificate (Client-Cert / Client-Cert-Chain per RFC 9440, or nginx's
 * $ssl_client_escaped_cert in X-SSL-Client-Cert) and the original credential headers;
 * authd answers with the proxy's decision: 200 with X-Certbound-Key / X-Certbound-Cert-Id,
 * or the same 401/403 {"error":…}, 503 when a store is down. API definitions are cached
 * in memory and dropped by the store's change notifications (pushes.c).
 * The listener trusts its caller to have verified possession of the key: loopback only
 * unless check_listen_allow_remote.
 */
#ifndef CB_AUTHD_CHECK_H
#define CB_AUTHD_CHECK_H

#include <stddef.h>

#include "common/xmem.h"

struct authd;
struct check_srv;

/* Bind spec ("ip:port", port 0 = any) on ad->base. NULL with *err (heap) naming the key. */
struct check_srv *check_new(struct authd *ad, const char *spec, char **err) CB_WARN_UNUSED;
int check_port(const struct check_srv *c);
/* Requests accepted and not yet answered. */
size_t check_inflight(const struct check_srv *c);
/* Stop accepting connections; requests in flight still get their answers. */
void check_stop_accepting(struct check_srv *c);
/* NULL is a no-op. Pending requests must have been answered (stores freed first). */
void check_free(struct check_srv *c);

/*
 * A store change: table "api_definitions" with an id drops that API's cached definition;
 * anything else (a certificate change, which may alter an allowlist, or table NULL for a
 * listener resync) drops them all. Loads in flight when this is called are not cached.
 * c NULL is a no-op.
 */
void check_invalidate(struct check_srv *c, const char *table, const char *id);

#endif
