/*
 * keycrypt: encryption of stored private keys (DESIGN §5). AES-256-GCM; the key is derived
 * per record with HKDF-SHA256 from the secret and a random 16-byte salt; random 12-byte
 * nonce; the certificate ID is the associated data. The envelope names the secret that
 * sealed it, so rotated secrets still open old records. Pure: no I/O, no logging.
 *
 * Envelope (binary): "CBK" | version 0x01 | secret_id[8] | salt[16] | nonce[12] | tag[16] |
 * ciphertext. secret_id = first 8 bytes of HMAC-SHA256(key=secret, "certbound secret id").
 */
#ifndef CB_COMMON_KEYCRYPT_H
#define CB_COMMON_KEYCRYPT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/xmem.h"

#define KEYCRYPT_SECRET_ID_LEN 8
#define KEYCRYPT_OVERHEAD 56 /* envelope bytes beyond the plaintext: 4 + 8 + 16 + 12 + 16 */

/* The errors keycrypt_open reports (compare by pointer or text). */
extern const char keycrypt_err_malformed[]; /* "malformed key envelope" */
extern const char keycrypt_err_no_secret[]; /* "no configured secret matches the key envelope" */
extern const char keycrypt_err_auth[];      /* "key envelope authentication failed" */

/*
 * Seal plaintext (ptlen may be 0) under secret (NUL-terminated, its raw bytes are the HKDF
 * input) with aad (NUL-terminated; NULL is the same as ""). *out is heap, *outlen =
 * KEYCRYPT_OVERHEAD + ptlen (free with free()). 0 or -1 (only on OpenSSL failure).
 */
int keycrypt_seal(const char *secret, const char *aad, const unsigned char *pt, size_t ptlen,
                  unsigned char **out, size_t *outlen) CB_WARN_UNUSED;

/*
 * Open an envelope (any inlen, in may be NULL if inlen is 0) with whichever of
 * secrets[0..n) matches its secret_id (NULL entries are skipped). *pt is heap (a 0-length
 * plaintext still gets a buffer) and the caller must OPENSSL_cleanse it before free.
 * *used (may be NULL) = index of the secret used. Returns 0 (*err = NULL), or -1 with *err
 * one of the constants above: malformed (too short, bad magic or version), no_secret, auth
 * (tampered, wrong secret behind a matching ID, wrong AAD).
 */
int keycrypt_open(const char *const *secrets, size_t n, const char *aad, const unsigned char *in,
                  size_t inlen, unsigned char **pt, size_t *ptlen, size_t *used,
                  const char **err) CB_WARN_UNUSED;

/* The secret_id of an envelope (for rekey decisions); false if malformed. */
bool keycrypt_envelope_secret_id(const unsigned char *in, size_t inlen,
                                 unsigned char id[KEYCRYPT_SECRET_ID_LEN]);
/* The secret_id of a secret (see the envelope format above). */
void keycrypt_secret_id(const char *secret, unsigned char id[KEYCRYPT_SECRET_ID_LEN]);

/*
 * Tyk's legacy RFC 1423 private-key encryption (spec §2): EVP_BytesToKey(MD5, salt = iv[0..8),
 * 1 round) + AES-256-CBC + PKCS#7. Used to import keys in the legacy form and by tests
 * (scenario 17). iv is 16 bytes; password NULL is "". Heap output (decrypt: the caller
 * cleanses it). 0 or -1 (decrypt: input not a positive multiple of 16 bytes, or bad padding,
 * which is what a wrong password usually gives; a wrong password passes the padding check
 * about once in 256 tries, so callers must also parse the result).
 */
int keycrypt_legacy_decrypt(const char *password, const unsigned char iv[16],
                            const unsigned char *in, size_t inlen, unsigned char **pt,
                            size_t *ptlen) CB_WARN_UNUSED;
int keycrypt_legacy_encrypt(const char *password, const unsigned char iv[16],
                            const unsigned char *pt, size_t ptlen, unsigned char **out,
                            size_t *outlen) CB_WARN_UNUSED;

#endif
