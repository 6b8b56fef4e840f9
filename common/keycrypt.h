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

/* Seal plaintext. *out is heap (free with free()). 0 or -1 (only on OpenSSL failure). */
int keycrypt_seal(const char *secret, const char *aad, const unsigned char *pt, size_t ptlen,
                  unsigned char **out, size_t *outlen) CB_WARN_UNUSED;

/*
 * Open an envelope with whichever of secrets[0..n) matches its secret_id. *pt is heap and
 * the caller must OPENSSL_cleanse it before free. *used (may be NULL) = index of the secret
 * used. Returns 0, or -1 with *err one of the constant strings:
 * "malformed key envelope", "no configured secret matches the key envelope",
 * "key envelope authentication failed" (tampered, wrong AAD).
 */
int keycrypt_open(const char *const *secrets, size_t n, const char *aad,
                  const unsigned char *in, size_t inlen, unsigned char **pt, size_t *ptlen,
                  size_t *used, const char **err) CB_WARN_UNUSED;

/* The secret_id of an envelope (for rekey decisions); false if malformed. */
bool keycrypt_envelope_secret_id(const unsigned char *in, size_t inlen,
                                 unsigned char id[KEYCRYPT_SECRET_ID_LEN]);
void keycrypt_secret_id(const char *secret, unsigned char id[KEYCRYPT_SECRET_ID_LEN]);

/*
 * Tyk's legacy RFC 1423 private-key encryption (spec §2): EVP_BytesToKey(MD5, salt = iv[0..8),
 * 1 round) + AES-256-CBC + PKCS#7. Used to import keys in the legacy form and by tests
 * (scenario 17). iv is 16 bytes. Heap output. 0 or -1 (bad padding = wrong password).
 */
int keycrypt_legacy_decrypt(const char *password, const unsigned char iv[16],
                            const unsigned char *in, size_t inlen, unsigned char **pt,
                            size_t *ptlen) CB_WARN_UNUSED;
int keycrypt_legacy_encrypt(const char *password, const unsigned char iv[16],
                            const unsigned char *pt, size_t ptlen, unsigned char **out,
                            size_t *outlen) CB_WARN_UNUSED;

#endif
