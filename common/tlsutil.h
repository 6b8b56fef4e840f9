/*
 * tlsutil: small OpenSSL helpers for a TLS server built from Tyk-style configuration
 * (spec §8.1, §8.2): IANA cipher names, certificate/key file pairs, the names a
 * certificate serves, and OpenSSL's error queue as text. Used by authd's management API
 * (api_tls) and the proxy's server (tls) and upstream (ups_tls) sides.
 */
#ifndef CB_COMMON_TLSUTIL_H
#define CB_COMMON_TLSUTIL_H

#include <stddef.h>

#include <jansson.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/cfg.h"
#include "common/xmem.h"

/*
 * Restrict ctx's TLS ≤ 1.2 suites to names (IANA names, case-insensitive; Go's legacy
 * CHACHA20_POLY1305 names alias the _SHA256 ones). Unknown names are skipped with a warning
 * naming key; an empty list keeps OpenSSL's defaults.
 */
void tlsutil_set_ciphers(SSL_CTX *ctx, const struct cfg_strlist *names, const char *key);

/* A server certificate with the names it serves (spec §8.1). */
struct tlsutil_cert {
    X509 *leaf;
    STACK_OF(X509) *chain; /* the certificates after the leaf, may be empty */
    EVP_PKEY *key;
    char *domain_name; /* lowercase, "" when none */
    char **names;      /* lowercase subject CN, then every DNS SAN (Go's BuildNameToCertificate) */
    size_t nnames;
};

/*
 * Append a certificate to the array *v of *n entries (grown with xrealloc). The entry takes
 * over leaf, chain and key; domain_name (NULL = none) is copied lowercase and the names are
 * read from leaf.
 */
void tlsutil_certs_add(struct tlsutil_cert **v, size_t *n, X509 *leaf, STACK_OF(X509) *chain,
                       EVP_PKEY *key, const char *domain_name);
/*
 * Load every {cert_file, key_file, domain_name} element of arr (not an array = none) with
 * tlsutil_load_pair and append it as tlsutil_certs_add does. -1 with *err (heap) naming key
 * and the file at the first failure; the entries appended before it stay in *v.
 */
int tlsutil_certs_load(struct tlsutil_cert **v, size_t *n, const json_t *arr, const char *key,
                       char **err) CB_WARN_UNUSED;
/* Free n entries and the array. v NULL is a no-op. */
void tlsutil_certs_free(struct tlsutil_cert *v, size_t n);

/*
 * Read a PEM certificate file (leaf, then any chain certificates) and a PEM private-key
 * file and check that they match. 0 with *leaf, *chain (possibly empty), *pkey owned by the
 * caller, or -1 with *err (heap) naming key and the file.
 */
int tlsutil_load_pair(const char *key, const char *cert_file, const char *key_file, X509 **leaf,
                      STACK_OF(X509) **chain, EVP_PKEY **pkey, char **err) CB_WARN_UNUSED;

/* Every CERTIFICATE of a PEM file, in order (NULL when unreadable or none); *err (heap) then. */
STACK_OF(X509) *tlsutil_load_cert_file(const char *path, char **err);

/* OpenSSL's queued errors as one short text (reason strings joined by "; "), clearing the
 * queue; "" when none. Writes into buf. */
const char *tlsutil_errors(char *buf, size_t len);

#endif
