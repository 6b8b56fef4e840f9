/*
 * tlsutil: small OpenSSL helpers for a TLS server built from Tyk-style configuration
 * (spec §8.1, §8.2): IANA cipher names, certificate/key file pairs, the names a
 * certificate serves, and OpenSSL's error queue as text. Used by authd's management API;
 * the proxy's tls.c has the same logic and can switch to these.
 */
#ifndef CB_COMMON_TLSUTIL_H
#define CB_COMMON_TLSUTIL_H

#include <stddef.h>

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

/* Subject CN, then every DNS SAN, lowercase: a heap array of heap strings in *names. */
void tlsutil_cert_names(X509 *x, char ***names, size_t *n);
void tlsutil_names_free(char **names, size_t n);

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
