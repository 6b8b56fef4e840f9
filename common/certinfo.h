/*
 * certinfo: parse an uploaded PEM body into what the certificate store keeps (spec §1.1,
 * §1.2, DESIGN §2, §5): the ID, the re-encoded chain, the private key (DER, plaintext, for
 * the caller to encrypt at once) and the metadata the API shows. Pure: no I/O, no logging.
 */
#ifndef CB_COMMON_CERTINFO_H
#define CB_COMMON_CERTINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "common/xmem.h"

#define CERT_SHA_HEX_LEN 64
#define CERTINFO_MAX_BODY (1024 * 1024) /* largest upload body accepted (DESIGN §4) */

struct cert_upload {
    char id_hex[CERT_SHA_HEX_LEN + 1]; /* sha256hex of first cert DER, or of SPKI DER */
    bool is_public_key;                /* upload was PUBLIC KEY block(s) only */
    char *pem;                         /* certs re-encoded (64-col) joined by "\n", or the
                                          single PUBLIC KEY block; never holds the key */
    unsigned char *key_der;            /* private key DER as uploaded (decrypted if it was
                                          in Tyk's legacy encrypted form), or NULL */
    size_t key_der_len;
    json_t *meta; /* see certinfo_meta() */
};

/*
 * Parse body (not NUL-terminated necessarily) per spec §1.2 in document order, with the
 * same error messages (e.g. "Found multiple private keys", "certificate is expired",
 * "Failed to decode certificate. It should be PEM encoded.",
 * "Public keys can't be combined with certificates",
 * "tls: private key does not match public key", an x509 parse error text such as
 * "x509: malformed certificate"; a key that does not parse: "tls: failed to parse private key").
 * Blocks of other types, and malformed PEM blocks, are skipped. A PUBLIC KEY block's bytes are
 * hashed as they are (not checked to be a valid SPKI), as Tyk does. Bodies over
 * CERTINFO_MAX_BODY are refused. legacy_secrets may be NULL when nsecrets is 0.
 * A private-key block with RFC 1423 headers (Tyk's legacy "Proc-Type: 4,ENCRYPTED",
 * "DEK-Info: AES-256-CBC,<iv>") is decrypted with each of legacy_secrets in turn (the
 * strings' raw bytes as the password); if none works: "private key decryption failed".
 * now is the reference time for expiry. Returns 0 and *out (free with
 * certinfo_upload_free), or -1 with *err a heap message.
 */
int certinfo_parse_upload(const char *body, size_t len, time_t now,
                          const char *const *legacy_secrets, size_t nsecrets,
                          struct cert_upload **out, char **err) CB_WARN_UNUSED;

/* Frees everything, and wipes key_der before freeing it. NULL is a no-op. */
void certinfo_upload_free(struct cert_upload *u);

/*
 * Metadata of a stored PEM (chain or public key) as a JSON object with keys:
 *   "fingerprint"  sha256hex of the FIRST cert (DESIGN §6 deviation), "" for a public key
 *   "subject", "issuer"  Go pkix.Name-shaped objects: Country, Organization,
 *        OrganizationalUnit, Locality, Province, StreetAddress, PostalCode (arrays, null when
 *        absent), SerialNumber, CommonName (strings, "" when absent), Names (array of
 *        {"Type":[oid ints],"Value":s} for every attribute in order; null for an empty name,
 *        as Go's nil slice), ExtraNames (null)
 *   "subject_cn", "issuer_cn" (strings; public key: "Public Key: <sha256hex of SPKI>")
 *   "dns_names" (array, possibly empty), "not_before", "not_after" (RFC 3339 UTC;
 *   public key: "0001-01-01T00:00:00Z"), "is_ca" (bool)
 * The first CERTIFICATE block describes a chain; with none, the last PUBLIC KEY block.
 * Returns a new reference, or NULL if pem holds neither or the first certificate does not
 * parse. pem need not be NUL-terminated.
 */
json_t *certinfo_meta(const char *pem, size_t len);

/* SHA-256 hex of a certificate's DER into out (CERT_SHA_HEX_LEN + 1 bytes). */
void certinfo_x509_sha256_hex(X509 *x, char *out);

/*
 * Parse all CERTIFICATE blocks of a PEM text (need not be NUL-terminated) into a new
 * STACK_OF(X509), in order; free with sk_X509_pop_free(sk, X509_free). NULL if there is
 * none or one does not parse.
 */
STACK_OF(X509) *certinfo_load_chain(const char *pem, size_t len);

#endif
