/*
 * keycrypt: AES-256-GCM envelopes for stored private keys (DESIGN §5) and Tyk's legacy
 * RFC 1423 PEM encryption (spec §2) for import. Not a general-purpose crypto layer: no
 * streaming, no other ciphers. Pure: no I/O, no logging.
 */
#include "common/keycrypt.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#define KC_MAGIC "CBK"
#define KC_MAGIC_LEN 3
#define KC_VERSION 0x01
#define KC_SALT_LEN 16
#define KC_NONCE_LEN 12
#define KC_TAG_LEN 16
#define KC_KEY_LEN 32
#define KC_OFF_ID (KC_MAGIC_LEN + 1)
#define KC_OFF_SALT (KC_OFF_ID + KEYCRYPT_SECRET_ID_LEN)
#define KC_OFF_NONCE (KC_OFF_SALT + KC_SALT_LEN)
#define KC_OFF_TAG (KC_OFF_NONCE + KC_NONCE_LEN)
#define KC_OFF_CT (KC_OFF_TAG + KC_TAG_LEN)

#define LEGACY_KEY_LEN 32
#define LEGACY_BLOCK 16

_Static_assert(KC_OFF_CT == KEYCRYPT_OVERHEAD, "envelope layout and KEYCRYPT_OVERHEAD differ");

const char keycrypt_err_malformed[] = "malformed key envelope";
const char keycrypt_err_no_secret[] = "no configured secret matches the key envelope";
const char keycrypt_err_auth[] = "key envelope authentication failed";

static const char secret_id_label[] = "certbound secret id";
static const char hkdf_info[] = "certbound private key v1";

static int derive_key(const char *secret, const unsigned char *salt, unsigned char key[KC_KEY_LEN]);
static int gcm_seal(const unsigned char key[KC_KEY_LEN], const unsigned char *nonce,
                    const char *aad, const unsigned char *pt, size_t ptlen, unsigned char *ct,
                    unsigned char *tag);
static int gcm_open(const char *secret, const char *aad, const unsigned char *in, size_t inlen,
                    unsigned char **pt, size_t *ptlen);
static bool envelope_ok(const unsigned char *in, size_t inlen);
static int legacy_key(const char *password, const unsigned char iv[16],
                      unsigned char key[LEGACY_KEY_LEN]);
static int legacy_crypt(int enc, const char *password, const unsigned char iv[16],
                        const unsigned char *in, size_t inlen, unsigned char **out, size_t *outlen);

/* ---- public functions ---- */

int keycrypt_seal(const char *secret, const char *aad, const unsigned char *pt, size_t ptlen,
                  unsigned char **out, size_t *outlen)
{
    unsigned char key[KC_KEY_LEN];
    unsigned char *env;
    int rc = -1;

    if (ptlen > INT_MAX - KEYCRYPT_OVERHEAD)
        return -1;
    env = xmalloc(KEYCRYPT_OVERHEAD + ptlen);
    memcpy(env, KC_MAGIC, KC_MAGIC_LEN);
    env[KC_MAGIC_LEN] = KC_VERSION;
    keycrypt_secret_id(secret, env + KC_OFF_ID);
    ERR_set_mark();
    if (RAND_bytes(env + KC_OFF_SALT, KC_SALT_LEN + KC_NONCE_LEN) != 1)
        goto out;
    if (derive_key(secret, env + KC_OFF_SALT, key) < 0)
        goto out;
    if (gcm_seal(key, env + KC_OFF_NONCE, aad, pt, ptlen, env + KC_OFF_CT, env + KC_OFF_TAG) < 0)
        goto out;
    *out = env;
    *outlen = KEYCRYPT_OVERHEAD + ptlen;
    env = NULL;
    rc = 0;
out:
    ERR_pop_to_mark();
    OPENSSL_cleanse(key, sizeof(key));
    if (env != NULL) {
        OPENSSL_cleanse(env, KEYCRYPT_OVERHEAD + ptlen);
        free(env);
    }
    return rc;
}

int keycrypt_open(const char *const *secrets, size_t n, const char *aad, const unsigned char *in,
                  size_t inlen, unsigned char **pt, size_t *ptlen, size_t *used, const char **err)
{
    unsigned char id[KEYCRYPT_SECRET_ID_LEN];

    if (!envelope_ok(in, inlen)) {
        *err = keycrypt_err_malformed;
        return -1;
    }
    *err = keycrypt_err_no_secret;
    /* Every secret whose ID matches is tried: an 8-byte ID may collide, a GCM tag won't. */
    for (size_t i = 0; i < n; i++) {
        if (secrets[i] == NULL)
            continue;
        keycrypt_secret_id(secrets[i], id);
        if (memcmp(id, in + KC_OFF_ID, KEYCRYPT_SECRET_ID_LEN) != 0)
            continue;
        if (gcm_open(secrets[i], aad, in, inlen, pt, ptlen) == 0) {
            if (used != NULL)
                *used = i;
            *err = NULL;
            return 0;
        }
        *err = keycrypt_err_auth;
    }
    return -1;
}

bool keycrypt_envelope_secret_id(const unsigned char *in, size_t inlen,
                                 unsigned char id[KEYCRYPT_SECRET_ID_LEN])
{
    if (!envelope_ok(in, inlen))
        return false;
    memcpy(id, in + KC_OFF_ID, KEYCRYPT_SECRET_ID_LEN);
    return true;
}

void keycrypt_secret_id(const char *secret, unsigned char id[KEYCRYPT_SECRET_ID_LEN])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    ERR_set_mark();
    /* HMAC() only fails on OOM or a broken provider; neither is recoverable here. */
    CB_ASSERT(HMAC(EVP_sha256(), secret, (int)strlen(secret),
                   (const unsigned char *)secret_id_label, sizeof(secret_id_label) - 1, md,
                   &mdlen) != NULL);
    ERR_pop_to_mark();
    memcpy(id, md, KEYCRYPT_SECRET_ID_LEN);
    OPENSSL_cleanse(md, sizeof(md));
}

int keycrypt_legacy_decrypt(const char *password, const unsigned char iv[16],
                            const unsigned char *in, size_t inlen, unsigned char **pt,
                            size_t *ptlen)
{
    if (inlen == 0 || inlen % LEGACY_BLOCK != 0)
        return -1;
    return legacy_crypt(0, password, iv, in, inlen, pt, ptlen);
}

int keycrypt_legacy_encrypt(const char *password, const unsigned char iv[16],
                            const unsigned char *pt, size_t ptlen, unsigned char **out,
                            size_t *outlen)
{
    return legacy_crypt(1, password, iv, pt, ptlen, out, outlen);
}

/* ---- static helpers ---- */

static bool envelope_ok(const unsigned char *in, size_t inlen)
{
    if (in == NULL || inlen < KEYCRYPT_OVERHEAD || inlen - KEYCRYPT_OVERHEAD > INT_MAX)
        return false;
    return memcmp(in, KC_MAGIC, KC_MAGIC_LEN) == 0 && in[KC_MAGIC_LEN] == KC_VERSION;
}

/* HKDF-SHA256(ikm = secret bytes, salt, info = "certbound private key v1") -> 32 bytes. */
static int derive_key(const char *secret, const unsigned char *salt, unsigned char key[KC_KEY_LEN])
{
    static char digest[] = "SHA256";
    EVP_KDF *kdf;
    EVP_KDF_CTX *kctx = NULL;
    OSSL_PARAM params[5];
    int rc = -1;

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
    params[1] =
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, strlen(secret));
    params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, KC_SALT_LEN);
    params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)hkdf_info,
                                                  sizeof(hkdf_info) - 1);
    params[4] = OSSL_PARAM_construct_end();
    kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    if (kdf != NULL)
        kctx = EVP_KDF_CTX_new(kdf);
    if (kctx != NULL && EVP_KDF_derive(kctx, key, KC_KEY_LEN, params) == 1)
        rc = 0;
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    return rc;
}

static int gcm_seal(const unsigned char key[KC_KEY_LEN], const unsigned char *nonce,
                    const char *aad, const unsigned char *pt, size_t ptlen, unsigned char *ct,
                    unsigned char *tag)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    size_t aadlen = aad != NULL ? strlen(aad) : 0;
    int outl = 0;
    int fin = 0;
    int rc = -1;

    if (c == NULL || aadlen > INT_MAX)
        goto out;
    if (EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce) != 1)
        goto out;
    if (aadlen > 0 &&
        EVP_EncryptUpdate(c, NULL, &outl, (const unsigned char *)aad, (int)aadlen) != 1)
        goto out;
    outl = 0;
    if (ptlen > 0 && EVP_EncryptUpdate(c, ct, &outl, pt, (int)ptlen) != 1)
        goto out;
    if (EVP_EncryptFinal_ex(c, ct + outl, &fin) != 1 || (size_t)outl + (size_t)fin != ptlen)
        goto out;
    if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, KC_TAG_LEN, tag) != 1)
        goto out;
    rc = 0;
out:
    EVP_CIPHER_CTX_free(c);
    return rc;
}

/* Derive the record key from secret and the envelope's salt, then decrypt and verify. */
static int gcm_open(const char *secret, const char *aad, const unsigned char *in, size_t inlen,
                    unsigned char **pt, size_t *ptlen)
{
    unsigned char key[KC_KEY_LEN];
    EVP_CIPHER_CTX *c = NULL;
    size_t ctlen = inlen - KEYCRYPT_OVERHEAD;
    size_t aadlen = aad != NULL ? strlen(aad) : 0;
    unsigned char *buf = xmalloc(ctlen);
    int outl = 0;
    int fin = 0;
    int rc = -1;

    ERR_set_mark();
    if (aadlen > INT_MAX || derive_key(secret, in + KC_OFF_SALT, key) < 0)
        goto out;
    c = EVP_CIPHER_CTX_new();
    if (c == NULL || EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, in + KC_OFF_NONCE) != 1)
        goto out;
    if (aadlen > 0 &&
        EVP_DecryptUpdate(c, NULL, &outl, (const unsigned char *)aad, (int)aadlen) != 1)
        goto out;
    outl = 0;
    if (ctlen > 0 && EVP_DecryptUpdate(c, buf, &outl, in + KC_OFF_CT, (int)ctlen) != 1)
        goto out;
    if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, KC_TAG_LEN, (void *)(in + KC_OFF_TAG)) != 1)
        goto out;
    if (EVP_DecryptFinal_ex(c, buf + outl, &fin) != 1 || (size_t)outl + (size_t)fin != ctlen)
        goto out;
    *pt = buf;
    *ptlen = ctlen;
    buf = NULL;
    rc = 0;
out:
    ERR_pop_to_mark();
    EVP_CIPHER_CTX_free(c);
    OPENSSL_cleanse(key, sizeof(key));
    if (buf != NULL) {
        OPENSSL_cleanse(buf, ctlen);
        free(buf);
    }
    return rc;
}

/* EVP_BytesToKey(MD5, salt = iv[0..8), 1 round), as Go's x509.DecryptPEMBlock derives it. */
static int legacy_key(const char *password, const unsigned char iv[16],
                      unsigned char key[LEGACY_KEY_LEN])
{
    const char *pw = password != NULL ? password : "";
    size_t pwlen = strlen(pw);

    if (pwlen > INT_MAX)
        return -1;
    /* A NULL data pointer would make EVP_BytesToKey return without deriving. */
    if (EVP_BytesToKey(EVP_aes_256_cbc(), EVP_md5(), iv, (const unsigned char *)pw, (int)pwlen, 1,
                       key, NULL) != LEGACY_KEY_LEN)
        return -1;
    return 0;
}

/* AES-256-CBC with PKCS#7 padding and the full 16-byte IV; enc = 1 encrypts. */
static int legacy_crypt(int enc, const char *password, const unsigned char iv[16],
                        const unsigned char *in, size_t inlen, unsigned char **out, size_t *outlen)
{
    unsigned char key[LEGACY_KEY_LEN];
    EVP_CIPHER_CTX *c = NULL;
    size_t cap = inlen + LEGACY_BLOCK;
    unsigned char *buf;
    int outl = 0;
    int fin = 0;
    int rc = -1;

    if (inlen > INT_MAX - LEGACY_BLOCK)
        return -1;
    buf = xmalloc(cap);
    ERR_set_mark();
    if (legacy_key(password, iv, key) < 0)
        goto out;
    c = EVP_CIPHER_CTX_new();
    if (c == NULL || EVP_CipherInit_ex(c, EVP_aes_256_cbc(), NULL, key, iv, enc) != 1)
        goto out;
    if (inlen > 0 && EVP_CipherUpdate(c, buf, &outl, in, (int)inlen) != 1)
        goto out;
    /* On decryption this is where a wrong password shows: the padding check fails. */
    if (EVP_CipherFinal_ex(c, buf + outl, &fin) != 1)
        goto out;
    *out = buf;
    *outlen = (size_t)outl + (size_t)fin;
    buf = NULL;
    rc = 0;
out:
    ERR_pop_to_mark();
    EVP_CIPHER_CTX_free(c);
    OPENSSL_cleanse(key, sizeof(key));
    if (buf != NULL) {
        OPENSSL_cleanse(buf, cap);
        free(buf);
    }
    return rc;
}
