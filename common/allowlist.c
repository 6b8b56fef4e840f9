/*
 * allowlist: entries are kept as leaf digests with their notAfter (the hash match) plus a
 * PARTIAL_CHAIN store of the CA entries (the chain match), built once per list.
 */
#include "common/allowlist.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "common/strutil.h"

struct allow_entry {
    unsigned char sha[SHA256_DIGEST_LENGTH]; /* of the entry's leaf DER */
    time_t not_after;
};

struct allowlist {
    struct allow_entry *v;
    size_t n;
    X509_STORE *ca_store; /* entries whose leaf is a CA, PARTIAL_CHAIN; NULL if none */
};

static time_t asn1_to_time(const ASN1_TIME *t)
{
    struct tm tm;

    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return timegm(&tm);
}

struct allowlist *allowlist_new(void)
{
    return xcalloc(1, sizeof(struct allowlist));
}

void allowlist_free(struct allowlist *al)
{
    if (al == NULL)
        return;
    free(al->v);
    X509_STORE_free(al->ca_store);
    free(al);
}

int allowlist_add(struct allowlist *al, X509 *leaf)
{
    unsigned int len = 0;
    int rc;

    al->v = xrealloc(al->v, (al->n + 1) * sizeof(*al->v));
    if (X509_digest(leaf, EVP_sha256(), al->v[al->n].sha, &len) != 1)
        die("allowlist: X509_digest failed");
    al->v[al->n].not_after = asn1_to_time(X509_get0_notAfter(leaf));
    al->n++;
    /* basicConstraints CA:TRUE (Go's IsCA) is exactly X509_check_ca() == 1. */
    if (X509_check_ca(leaf) != 1)
        return 0;
    if (al->ca_store == NULL) {
        al->ca_store = X509_STORE_new();
        if (al->ca_store == NULL)
            die("allowlist: out of memory");
        /* Every allowlisted certificate is a trust anchor, even a non-self-signed one. */
        X509_STORE_set_flags(al->ca_store, X509_V_FLAG_PARTIAL_CHAIN);
    }
    /* A duplicate entry is accepted and ignored by the store; the first copy serves. */
    rc = X509_STORE_add_cert(al->ca_store, leaf) == 1 ? 0 : -1;
    ERR_clear_error();
    return rc;
}

size_t allowlist_count(const struct allowlist *al)
{
    return al != NULL ? al->n : 0;
}

static bool chains_to_ca(const struct allowlist *al, X509 *leaf, STACK_OF(X509) *chain,
                         time_t now)
{
    X509_STORE_CTX *ctx;
    bool ok = false;

    if (al == NULL || al->ca_store == NULL)
        return false;
    ctx = X509_STORE_CTX_new();
    if (ctx == NULL)
        die("allowlist: out of memory");
    /* Purpose sslclient: a clientAuth-only leaf or one without EKU passes (DESIGN §6). */
    if (X509_STORE_CTX_init(ctx, al->ca_store, leaf, chain) == 1 &&
        X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT) == 1) {
        X509_STORE_CTX_set_time(ctx, 0, now);
        ok = X509_verify_cert(ctx) == 1;
    }
    X509_STORE_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}

int allowlist_check(const struct allowlist *al, bool tls, X509 *leaf,
                    const unsigned char *leaf_sha, STACK_OF(X509) *chain, time_t now,
                    char **msg)
{
    unsigned char own[SHA256_DIGEST_LENGTH];
    const unsigned char *sha = leaf_sha;
    unsigned int shalen = 0;
    char hex[2 * SHA256_DIGEST_LENGTH + 1];

    if (!tls) {
        *msg = xstrdup("TLS not enabled");
        return 403;
    }
    if (leaf == NULL) {
        *msg = xstrdup("Client TLS certificate is required");
        return 403;
    }
    if (sha == NULL) {
        if (X509_digest(leaf, EVP_sha256(), own, &shalen) != 1 || shalen != sizeof(own))
            die("allowlist: X509_digest failed");
        sha = own;
    }
    for (size_t i = 0; al != NULL && i < al->n; i++) {
        if (memcmp(al->v[i].sha, sha, SHA256_DIGEST_LENGTH) != 0)
            continue;
        if (now > al->v[i].not_after) {
            *msg = xstrdup("Certificate has expired");
            return 403;
        }
        return 0;
    }
    if (chains_to_ca(al, leaf, chain, now))
        return 0;
    hex_encode(sha, SHA256_DIGEST_LENGTH, hex);
    *msg = xasprintf("Certificate with SHA256 %s not allowed", hex);
    return 403;
}
