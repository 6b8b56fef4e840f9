/*
 * ups_tls: the proxy's TLS towards upstreams (DESIGN §6, §6a; spec §8.2, §8.5, §8.6).
 * - Pure lookups: which client certificate (spec §8.5) and which pinned public keys (§8.6)
 *   apply to a target host, given the gateway's map and an API's.
 * - Profiles: everything one API's https target needs, resolved once per API snapshot
 *   (apis.c builds them): a client SSL_CTX shared by every API of the snapshot with the same
 *   TLS configuration (versions, ciphers, verification, client certificate, renegotiation),
 *   the host to verify, the pins, the common-name check, and a key that keeps pooled
 *   connections of different configurations apart.
 * - Per connection: a new SSL (SNI and host name check set), the checks after the handshake
 *   (pins, common name) and the naming of handshake failures.
 * Snapshots are per worker, so every SSL_CTX is used by one thread; only the CA store
 * (proxy_ssl_ca_file or the system's) is loaded once per process and shared read-only.
 */
#ifndef CB_PROXY_UPS_TLS_H
#define CB_PROXY_UPS_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/xmem.h"

struct proxy_config;
struct ups_tls;     /* one API's upstream TLS profile; immutable, owned by its set */
struct ups_tls_set; /* the profiles and contexts of one API snapshot */

/* The causes a TLS upstream fails with (502 bodies, DESIGN §6a); compare by pointer. */
extern const char ups_tls_err_handshake[];   /* "upstream TLS handshake failed" */
extern const char ups_tls_err_verify[];      /* "upstream certificate verification failed" */
extern const char ups_tls_err_pin[];         /* "upstream certificate public key pinning
                                              * error: public keys do not match" */
extern const char ups_tls_err_cn[];          /* "upstream certificate common name does not
                                              * match the host" */
extern const char ups_tls_err_client_cert[]; /* "upstream refused the client certificate" */

/*
 * Spec §8.5 (Tyk's getCertificateIDForHost): the certificate id for a target. authority is
 * the target_url's host as written, with its port when the URL has one ("api.example.com",
 * "api.example.com:8443", "[::1]:8443"). Within one map a later rule overrides an earlier:
 * "*", "*.<host minus its first label>", the same with ":<port>", the host without its port,
 * the authority as written. One wildcard covers exactly one label. api is applied after gw
 * and any match in it wins; pass NULL for api when upstream_certificates_disabled. Either map
 * may be NULL or not an object. Returns a string borrowed from a map, or NULL.
 * An IPv6 host without a port ("[::1]") also matches its bare key ("::1"), as it does with
 * one (DESIGN deviation: Tyk matches only the bracketed form there).
 */
const char *ups_tls_cert_for_host(const char *authority, const json_t *gw, const json_t *api);

/*
 * Spec §8.6 (Tyk's getPinnedPublicKeys): the comma-separated pin list for host (no port,
 * IPv6 without brackets): "*" < "*.<host minus its first label>" < host, api after gw; pass
 * NULL for api when certificate_pinning_disabled. Borrowed from a map, or NULL; "" counts
 * as no pins.
 */
const char *ups_tls_pins_for_host(const char *host, const json_t *gw, const json_t *api);

/* One API's resolved settings (apis.c fills it; ups_tls_set_add copies what it keeps). */
struct ups_tls_params {
    const char *host; /* target host, IPv6 without brackets */
    bool verify;      /* verify the chain (and the host name unless force_cn) */
    int min_version;  /* 771 or 772 (Tyk's numbers) */
    int max_version;
    char *const *ciphers; /* IANA names (TLS <= 1.2), n = 0: OpenSSL's defaults */
    size_t nciphers;
    bool disable_renegotiation;
    bool force_cn;       /* the leaf's subject CN must equal host, instead of the
                          * SAN-based host name check (ssl_force_common_name_check) */
    const char *cert_id; /* client certificate id, NULL = none */
    X509 *cert;          /* with cert_id: leaf, chain after it, key (borrowed) */
    STACK_OF(X509) *chain;
    EVP_PKEY *key;
    const unsigned char (
        *pins)[SHA256_DIGEST_LENGTH]; /* leaf SPKI SHA-256 values that
                                       * pass; npins > 0 replaces chain verification */
    size_t npins;
};

/* An empty set for cfg (borrowed for the set's life). */
struct ups_tls_set *ups_tls_set_new(const struct proxy_config *cfg);
/* Frees every profile and drops the set's references to its contexts (connections keep
 * theirs). NULL is a no-op. */
void ups_tls_set_free(struct ups_tls_set *s);
/*
 * A profile for p. Its SSL_CTX is shared with the set's earlier profiles of the same
 * configuration, else built now. When the context cannot be built (the CA file does not
 * load, OpenSSL refuses the certificate) the profile carries that error instead. Never NULL;
 * owned by s.
 */
const struct ups_tls *ups_tls_set_add(struct ups_tls_set *s, const struct ups_tls_params *p);
/* A profile that fails every request with msg (copied), a configuration problem found while
 * building the snapshot (a mapped certificate without a private key, unloadable pins). */
const struct ups_tls *ups_tls_set_add_error(struct ups_tls_set *s, const char *msg);

/* The configuration problem that makes every request fail (502), or NULL. */
const char *ups_tls_error(const struct ups_tls *t);
/* What pooled connections are keyed by besides host and port: equal keys mean the same
 * configuration (client certificate included). Valid as long as t. */
const char *ups_tls_key(const struct ups_tls *t);
/* Number of distinct SSL_CTX in s (logs, tests). */
size_t ups_tls_set_contexts(const struct ups_tls_set *s);

/* A new client SSL for t (SNI unless the host is an IP literal, host name check), owned by
 * the caller. NULL when t has an error. *cert_requested (which must outlive the handshake)
 * becomes true when the server asks for a client certificate; ups_tls_handshake_done stops
 * watching. */
SSL *ups_tls_ssl_new(const struct ups_tls *t, bool *cert_requested);
void ups_tls_handshake_done(SSL *ssl);
/* After a completed handshake: NULL when the peer passes t's pins and common-name check,
 * else ups_tls_err_pin or ups_tls_err_cn (logged once, naming name and the host). */
const char *ups_tls_check_peer(const struct ups_tls *t, SSL *ssl, const char *name);
/* Name a TLS connection that failed before any response byte, from OpenSSL's error e
 * (0 = none queued) and whether the server asked for a client certificate: a refused client
 * certificate (an alert about it, or a server that asked for one and then hung up: TLS 1.3
 * refuses after the client's side of the handshake, and a reset can swallow the alert), a
 * verification failure (the detail is logged with name), or a handshake failure. */
const char *ups_tls_classify(SSL *ssl, unsigned long e, bool cert_requested, const char *name);

/* SHA-256 of pk's SubjectPublicKeyInfo DER (what a pin is compared with, spec §1.6) into
 * out (SHA256_DIGEST_LENGTH bytes); false when pk cannot be encoded. */
bool ups_tls_spki_sha256(EVP_PKEY *pk, unsigned char *out);

/* Load the CA store (proxy_ssl_ca_file, or the system's when empty) now, so start-up fails
 * on a bad file. 0, or -1 with *err (heap). Later calls keep the first store. */
int ups_tls_ca_init(const struct proxy_config *cfg, char **err) CB_WARN_UNUSED;
/* Drop the process's reference to the CA store (at exit). */
void ups_tls_ca_free(void);

#endif
