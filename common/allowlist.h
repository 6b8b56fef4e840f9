/*
 * allowlist: the static mTLS allowlist decision (spec §3.2 with DESIGN §6's deviations),
 * pure and shared: the proxy applies it to the handshake's certificate, authd's /check
 * endpoint to the certificate an edge forwarded. Only the leaf is matched; what the client
 * sent after it serves only as untrusted intermediates towards an allowlisted CA; a leaf
 * with only the clientAuth EKU is accepted. No I/O, no logging.
 */
#ifndef CB_COMMON_ALLOWLIST_H
#define CB_COMMON_ALLOWLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

#include "common/xmem.h"

struct allowlist;

/* An empty list (nothing is allowed). Free with allowlist_free. */
struct allowlist *allowlist_new(void);
/* NULL is a no-op. */
void allowlist_free(struct allowlist *al);

/*
 * Add one allowlist entry by its leaf (the first certificate of a stored chain; the caller
 * leaves public keys out: they never match). The entry matches that exact certificate; a
 * CA leaf (basicConstraints CA:TRUE) is also a trust anchor (X509_V_FLAG_PARTIAL_CHAIN).
 * leaf is borrowed (the list takes its own reference where it needs one). -1 when a CA
 * leaf could not be added to the trust store (the hash entry is kept all the same), else 0.
 */
int allowlist_add(struct allowlist *al, X509 *leaf) CB_WARN_UNUSED;
size_t allowlist_count(const struct allowlist *al);

/*
 * Decide for a request. Returns 0 when allowed, else 403 with *msg (heap) set to the
 * spec's message: "TLS not enabled" (tls false), "Client TLS certificate is required"
 * (leaf NULL), "Certificate has expired" (a hash match whose entry is past notAfter at
 * now), "Certificate with SHA256 <hex> not allowed". leaf_sha is the SHA-256 of the leaf's
 * DER when the caller already has it (a connection computes it once), else NULL. chain
 * (may be NULL) holds the certificates the client sent after the leaf. al NULL is an empty
 * list.
 */
int allowlist_check(const struct allowlist *al, bool tls, X509 *leaf,
                    const unsigned char *leaf_sha, STACK_OF(X509) *chain, time_t now,
                    char **msg) CB_WARN_UNUSED;

#endif
