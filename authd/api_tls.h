/*
 * api_tls: the management API's TLS server side (DESIGN §3/§4, spec §8.1–8.4): the
 * server certificates of http_server_options (files, and store ids read once at start-up),
 * versions, ciphers, and with security.control_api_use_mutual_tls a required client
 * certificate verified in the handshake against security.certificates.control_api.
 * Not for the HTTP layer (http_api) nor the proxy's per-SNI policies.
 */
#ifndef CB_AUTHD_API_TLS_H
#define CB_AUTHD_API_TLS_H

#include <openssl/ssl.h>

#include "common/xmem.h"

struct authd;
struct apitls;

/*
 * Build the context from ad->cfg. Store ids (http_server_options.ssl_certificates and the
 * control_api entries that are not file paths) are read with one blocking PostgreSQL
 * query, so call it before the loop runs and after migrations (the store is reachable
 * then); a store id that is unknown, unreadable or (for a server certificate) without a
 * usable private key is logged and skipped. NULL with *err (heap) naming the key when no
 * server certificate is left, a file does not load, or the store cannot be read.
 */
struct apitls *apitls_new(struct authd *ad, char **err) CB_WARN_UNUSED;
/* A server-side SSL for an accepted connection (libevent's bufferevent_openssl takes it
 * with BEV_OPT_CLOSE_ON_FREE). Never NULL (OOM aborts). */
SSL *apitls_ssl_new(struct apitls *t);
/* Number of server certificates and of control-API trust anchors (for the start-up log). */
size_t apitls_server_cert_count(const struct apitls *t);
size_t apitls_client_anchor_count(const struct apitls *t);
/* Connections keep their SSL (and thereby the context) until freed. NULL is a no-op. */
void apitls_free(struct apitls *t);

#endif
