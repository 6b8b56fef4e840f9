/*
 * tls: one worker's TLS server side. Owns the SSL_CTX (versions, ciphers, no
 * renegotiation) and the certificate files of http_server_options.certificates; for every
 * handshake a ClientHello callback reads the SNI, picks the server certificate (spec §8.1)
 * and sets the client-certificate policy of the current API snapshot (spec §3.1, §8.3).
 * Session resumption stays on, bounded by a session id context derived from the snapshot
 * revision, the SNI and the policy level: a session resumes only under the very policy that
 * verified (or merely requested) its certificate, never across SNIs or API changes.
 * Everything here runs on the worker's thread; a tls_srv is never shared between workers.
 */
#ifndef CB_PROXY_TLS_H
#define CB_PROXY_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "common/xmem.h"

struct apis;
struct proxy_config;
struct tls_srv;

/*
 * A server context from cfg: min/max version (771/772 → TLS 1.2/1.3), ssl_ciphers (IANA
 * names; unknown ones skipped with a warning; TLS ≤ 1.2 only), and the certificate files
 * (each read and checked against its key). NULL with *err (heap) naming the file on failure.
 */
struct tls_srv *tls_srv_new(const struct proxy_config *cfg, char **err) CB_WARN_UNUSED;
/* Connections keep their SSL (and thereby the context) until they are freed. NULL is a no-op. */
void tls_srv_free(struct tls_srv *t);
/* Re-read the certificate files (SIGHUP). On failure the old certificates stay and -1 is
 * returned with *err (heap). Handshakes in progress keep what they were given. */
int tls_srv_reload(struct tls_srv *t, char **err) CB_WARN_UNUSED;
/* The snapshot later handshakes use (store certificates, per-SNI policy). t takes its own
 * reference; NULL means none yet (then no client certificate is requested and only the file
 * certificates are served). */
void tls_srv_set_snapshot(struct tls_srv *t, struct apis *snap);
/* A new server-side SSL for an accepted connection (owned by the caller; libevent's
 * bufferevent_openssl takes it over with BEV_OPT_CLOSE_ON_FREE). */
SSL *tls_srv_ssl_new(struct tls_srv *t);
/* The SNI the handshake was decided on, lowercase; "" when the client sent none. Valid as
 * long as ssl. */
const char *tls_sni(const SSL *ssl);
/* Number of certificates the file list holds (for the start-up log). */
size_t tls_srv_file_cert_count(const struct tls_srv *t);

#endif
