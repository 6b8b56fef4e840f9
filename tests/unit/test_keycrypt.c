/*
 * Unit tests of keycrypt: the AES-256-GCM key envelope (DESIGN §5) and Tyk's legacy RFC 1423
 * encryption (spec §2, scenario 17). Known answers were computed outside OpenSSL (Python
 * hashlib/hmac) and are cross-checked at run time against the openssl CLI.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "common/keycrypt.h"
#include "common/strutil.h"
#include "tests/harness/testutil.h"

#define HDR 56
#define OFF_ID 4
#define OFF_SALT 12
#define OFF_NONCE 28
#define OFF_TAG 40

static const char s1[] = "s3cret";
static const char s2[] = "next-secret";
static const char aad[] = "default0123456789abcdef";

/* HKDF-SHA256(ikm "s3cret", salt 00..0f, info "certbound private key v1"), from Python. */
static const char kat_hkdf_key_hex[] =
    "6eb971ec7ea916190f96aa42d390198188df734f873d3439bd050f027a4327e2";
/* First 8 bytes of HMAC-SHA256(key "s3cret", "certbound secret id"), from Python. */
static const char kat_secret_id_hex[] = "d63d337de45c67aa";
/* Scenario 17 vector: EVP_BytesToKey(MD5, salt 00..07, "s3cret") and AES-256-CBC of
 * "certbound scenario 17 vector" with IV 00..0f (key from Python hashlib, ciphertext from
 * `openssl enc -aes-256-cbc -K <key> -iv 000102030405060708090a0b0c0d0e0f`). */
static const char kat_legacy_key_hex[] =
    "f10b75aeffc7a69b25321df8dfb00e34772aa58164c70151c869459bfd2915a1";
static const char kat_legacy_pt[] = "certbound scenario 17 vector";
static const unsigned char kat_legacy_ct[] = {
    0x3b, 0x64, 0xae, 0x3b, 0x89, 0xb4, 0x22, 0x71, 0x37, 0xd7, 0xd8, 0x25, 0x56, 0x6b, 0xd9, 0xde,
    0x40, 0xb0, 0x12, 0x34, 0xbe, 0x71, 0xaa, 0x67, 0xde, 0x39, 0x74, 0x56, 0x1d, 0x89, 0x2e, 0x3e};
static const unsigned char iv_seq[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

static char tmpdir[512];

/* ---- helpers ---- */

static void unhex(const char *hex, unsigned char *out, size_t n)
{
    size_t got = 0;

    assert_int_equal(strlen(hex), 2 * n);
    assert_int_equal(hex_decode(hex, 2 * n, out, n, &got), 0);
    assert_int_equal(got, n);
}

static void seal_ok(const char *secret, const char *ad, const unsigned char *pt, size_t n,
                    unsigned char **env, size_t *envlen)
{
    assert_int_equal(keycrypt_seal(secret, ad, pt, n, env, envlen), 0);
    assert_int_equal(*envlen, HDR + n);
}

/* keycrypt_open on an exact-size heap copy (so ASan sees any overread); returns rc. */
static int open_copy(const char *const *secrets, size_t n, const char *ad, const unsigned char *env,
                     size_t len, const char **err, size_t *used)
{
    unsigned char *copy = len > 0 ? malloc(len) : NULL;
    unsigned char *pt = NULL;
    size_t ptlen = 0;
    int rc;

    if (len > 0) {
        assert_non_null(copy);
        memcpy(copy, env, len);
    }
    rc = keycrypt_open(secrets, n, ad, copy, len, &pt, &ptlen, used, err);
    if (rc == 0) {
        OPENSSL_cleanse(pt, ptlen);
        free(pt);
    }
    free(copy);
    return rc;
}

static int write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    size_t w;

    if (f == NULL)
        return -1;
    w = fwrite(p, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

static unsigned char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = malloc(65536);
    size_t got;

    assert_non_null(f);
    assert_non_null(buf);
    got = fread(buf, 1, 65536, f);
    fclose(f);
    *n = got;
    return buf;
}

/* A path in the test's directory; four rotating buffers, so one call may use several. */
static char *tmp_path(const char *name)
{
    static char paths[4][600];
    static unsigned next;
    char *p = paths[next++ % 4];

    snprintf(p, sizeof(paths[0]), "%s/%s", tmpdir, name);
    return p;
}

/* Run a shell command quietly; its exit status. Its output is shown if it fails. */
static int group_setup(void **state)
{
    const char *base = getenv("CB_TEST_BINDIR");

    snprintf(tmpdir, sizeof(tmpdir), "%s/test_keycrypt.XXXXXX", base != NULL ? base : "/tmp");
    return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
    char cmd[600];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return tu_sh(cmd, tmpdir) == 0 ? 0 : -1;
}

/* ---- envelope ---- */

static void test_round_trip_layout(void **state)
{
    static const size_t lens[] = {0, 1, 15, 16, 17, 255, 4096};
    const char *secrets[] = {s1};
    unsigned char id[KEYCRYPT_SECRET_ID_LEN];
    unsigned char eid[KEYCRYPT_SECRET_ID_LEN];
    unsigned char pt[4096];
    unsigned char *env;
    unsigned char *out;
    size_t envlen;
    size_t outlen;
    size_t used;
    const char *err;

    for (size_t i = 0; i < sizeof(pt); i++)
        pt[i] = (unsigned char)(i * 7 + 3);
    keycrypt_secret_id(s1, id);
    for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
        seal_ok(s1, aad, pt, lens[k], &env, &envlen);
        assert_memory_equal(env, "CBK\x01", 4);
        assert_memory_equal(env + OFF_ID, id, sizeof(id));
        assert_true(keycrypt_envelope_secret_id(env, envlen, eid));
        assert_memory_equal(eid, id, sizeof(id));
        used = 99;
        err = "unset";
        assert_int_equal(keycrypt_open(secrets, 1, aad, env, envlen, &out, &outlen, &used, &err),
                         0);
        assert_null(err);
        assert_int_equal(used, 0);
        assert_int_equal(outlen, lens[k]);
        if (lens[k] > 0)
            assert_memory_equal(out, pt, lens[k]);
        /* The ciphertext is not the plaintext. */
        if (lens[k] >= 16)
            assert_memory_not_equal(env + HDR, pt, lens[k]);
        OPENSSL_cleanse(out, outlen);
        free(out);
        free(env);
    }
}

static void test_seal_is_randomized(void **state)
{
    static const unsigned char pt[32] = "same plaintext, same secret....";
    unsigned char *a;
    unsigned char *b;
    size_t alen;
    size_t blen;

    seal_ok(s1, aad, pt, sizeof(pt), &a, &alen);
    seal_ok(s1, aad, pt, sizeof(pt), &b, &blen);
    assert_memory_not_equal(a + OFF_SALT, b + OFF_SALT, 16);
    assert_memory_not_equal(a + OFF_NONCE, b + OFF_NONCE, 12);
    assert_memory_not_equal(a + HDR, b + HDR, sizeof(pt));
    free(a);
    free(b);
}

static void test_secret_id_known_answer(void **state)
{
    unsigned char want[KEYCRYPT_SECRET_ID_LEN];
    unsigned char id[KEYCRYPT_SECRET_ID_LEN];
    unsigned char id2[KEYCRYPT_SECRET_ID_LEN];

    unhex(kat_secret_id_hex, want, sizeof(want));
    keycrypt_secret_id(s1, id);
    assert_memory_equal(id, want, sizeof(id));
    keycrypt_secret_id(s2, id2);
    assert_memory_not_equal(id, id2, sizeof(id));
}

/* An envelope built here from the documented format and the Python HKDF answer opens. */
static void test_open_spec_built_envelope(void **state)
{
    static const unsigned char pt[] = "a private key DER";
    static const unsigned char nonce[12] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2};
    const char *secrets[] = {s2, s1};
    unsigned char key[32];
    unsigned char env[HDR + sizeof(pt)];
    unsigned char *out;
    size_t outlen;
    size_t used = 0;
    const char *err = NULL;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0;

    unhex(kat_hkdf_key_hex, key, sizeof(key));
    memcpy(env, "CBK\x01", 4);
    unhex(kat_secret_id_hex, env + OFF_ID, 8);
    memcpy(env + OFF_SALT, iv_seq, 16);
    memcpy(env + OFF_NONCE, nonce, 12);
    assert_non_null(c);
    assert_int_equal(EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce), 1);
    assert_int_equal(EVP_EncryptUpdate(c, NULL, &n, (const unsigned char *)aad, strlen(aad)), 1);
    assert_int_equal(EVP_EncryptUpdate(c, env + HDR, &n, pt, sizeof(pt)), 1);
    assert_int_equal(EVP_EncryptFinal_ex(c, env + HDR + n, &n), 1);
    assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, env + OFF_TAG), 1);
    EVP_CIPHER_CTX_free(c);

    assert_int_equal(keycrypt_open(secrets, 2, aad, env, sizeof(env), &out, &outlen, &used, &err),
                     0);
    assert_int_equal(used, 1);
    assert_int_equal(outlen, sizeof(pt));
    assert_memory_equal(out, pt, sizeof(pt));
    free(out);
}

/* The key keycrypt_seal used, re-derived by `openssl kdf ... HKDF`, decrypts the envelope. */
static void test_hkdf_matches_openssl_cli(void **state)
{
    static const unsigned char pt[] = "cross-checked with the CLI";
    char salt_hex[33];
    char cmd[1024];
    unsigned char key[32];
    unsigned char dec[sizeof(pt)];
    unsigned char *env;
    unsigned char *txt;
    size_t envlen;
    size_t txtlen;
    size_t k = 0;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0;

    seal_ok(s1, aad, pt, sizeof(pt), &env, &envlen);
    hex_encode(env + OFF_SALT, 16, salt_hex);
    snprintf(cmd, sizeof(cmd),
             "openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt key:%s -kdfopt hexsalt:%s "
             "-kdfopt 'info:certbound private key v1' -out '%s' HKDF",
             s1, salt_hex, tmp_path("hkdf.txt"));
    assert_int_equal(tu_sh(cmd, tmpdir), 0);
    txt = read_file(tmp_path("hkdf.txt"), &txtlen);
    /* "6E:B9:...": 32 uppercase hex pairs separated by colons. */
    for (size_t i = 0; i + 1 < txtlen && k < sizeof(key); i += 3) {
        char pair[3] = {(char)txt[i], (char)txt[i + 1], 0};
        size_t got;

        assert_int_equal(hex_decode(pair, 2, key + k, 1, &got), 0);
        k++;
    }
    free(txt);
    assert_int_equal(k, sizeof(key));
    assert_non_null(c);
    assert_int_equal(EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, env + OFF_NONCE), 1);
    assert_int_equal(EVP_DecryptUpdate(c, NULL, &n, (const unsigned char *)aad, strlen(aad)), 1);
    assert_int_equal(EVP_DecryptUpdate(c, dec, &n, env + HDR, sizeof(pt)), 1);
    assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, env + OFF_TAG), 1);
    assert_int_equal(EVP_DecryptFinal_ex(c, dec + n, &n), 1);
    EVP_CIPHER_CTX_free(c);
    assert_memory_equal(dec, pt, sizeof(pt));
    free(env);
}

/* Flipping any bit of any byte is detected, with the error of the region it falls in. */
static void test_tamper_every_byte(void **state)
{
    static const unsigned char pt[40] = "tamper me: header salt nonce tag ct...";
    const char *secrets[] = {s1};
    unsigned char *env;
    size_t envlen;
    const char *err;
    const char *want;

    seal_ok(s1, aad, pt, sizeof(pt), &env, &envlen);
    for (size_t i = 0; i < envlen; i++) {
        for (int bit = 0; bit < 8; bit += 7) {
            env[i] ^= (unsigned char)(1u << bit);
            err = NULL;
            assert_int_equal(open_copy(secrets, 1, aad, env, envlen, &err, NULL), -1);
            if (i < OFF_ID)
                want = keycrypt_err_malformed; /* magic, version */
            else if (i < OFF_SALT)
                want = keycrypt_err_no_secret; /* secret_id */
            else
                want = keycrypt_err_auth; /* salt, nonce, tag, ciphertext */
            assert_ptr_equal(err, want);
            env[i] ^= (unsigned char)(1u << bit);
        }
    }
    assert_int_equal(open_copy(secrets, 1, aad, env, envlen, &err, NULL), 0);
    assert_string_equal(keycrypt_err_malformed, "malformed key envelope");
    assert_string_equal(keycrypt_err_no_secret, "no configured secret matches the key envelope");
    assert_string_equal(keycrypt_err_auth, "key envelope authentication failed");
    free(env);
}

static void test_wrong_aad(void **state)
{
    static const unsigned char pt[] = "bound to its certificate";
    const char *secrets[] = {s1};
    unsigned char *env;
    size_t envlen;
    const char *err = NULL;

    seal_ok(s1, aad, pt, sizeof(pt), &env, &envlen);
    assert_int_equal(open_copy(secrets, 1, "default0123456789abcdeF", env, envlen, &err, NULL), -1);
    assert_ptr_equal(err, keycrypt_err_auth);
    assert_int_equal(open_copy(secrets, 1, "", env, envlen, &err, NULL), -1);
    assert_ptr_equal(err, keycrypt_err_auth);
    assert_int_equal(open_copy(secrets, 1, NULL, env, envlen, &err, NULL), -1);
    free(env);

    /* NULL AAD is the empty AAD. */
    seal_ok(s1, NULL, pt, sizeof(pt), &env, &envlen);
    assert_int_equal(open_copy(secrets, 1, "", env, envlen, &err, NULL), 0);
    assert_int_equal(open_copy(secrets, 1, aad, env, envlen, &err, NULL), -1);
    assert_ptr_equal(err, keycrypt_err_auth);
    free(env);
}

static void test_rotation(void **state)
{
    static const unsigned char pt[] = "rotate me";
    const char *both[] = {s2, s1};
    const char *only_new[] = {s2};
    const char *with_null[] = {NULL, s1};
    unsigned char *env;
    size_t envlen;
    size_t used = 99;
    const char *err = NULL;

    seal_ok(s1, aad, pt, sizeof(pt), &env, &envlen);
    assert_int_equal(open_copy(both, 2, aad, env, envlen, &err, &used), 0);
    assert_int_equal(used, 1);
    assert_int_equal(open_copy(with_null, 2, aad, env, envlen, &err, &used), 0);
    assert_int_equal(used, 1);
    assert_int_equal(open_copy(only_new, 1, aad, env, envlen, &err, &used), -1);
    assert_ptr_equal(err, keycrypt_err_no_secret);
    assert_int_equal(open_copy(NULL, 0, aad, env, envlen, &err, &used), -1);
    assert_ptr_equal(err, keycrypt_err_no_secret);
    free(env);

    /* An empty secret is still a secret, distinct from the others. */
    seal_ok("", aad, pt, sizeof(pt), &env, &envlen);
    assert_int_equal(open_copy(both, 2, aad, env, envlen, &err, &used), -1);
    assert_ptr_equal(err, keycrypt_err_no_secret);
    {
        const char *empty[] = {""};

        assert_int_equal(open_copy(empty, 1, aad, env, envlen, &err, &used), 0);
        assert_int_equal(used, 0);
    }
    free(env);
}

/* Every prefix of a valid envelope, and a one-byte extension, is refused without a crash. */
static void test_truncated_envelopes(void **state)
{
    static const unsigned char pt[64] = "truncate me at every length from zero to the full size";
    const char *secrets[] = {s1};
    unsigned char id[KEYCRYPT_SECRET_ID_LEN];
    unsigned char *env;
    unsigned char *longer;
    size_t envlen;
    const char *err;

    seal_ok(s1, aad, pt, sizeof(pt), &env, &envlen);
    for (size_t len = 0; len < envlen; len++) {
        err = NULL;
        assert_int_equal(open_copy(secrets, 1, aad, env, len, &err, NULL), -1);
        assert_ptr_equal(err, len < HDR ? keycrypt_err_malformed : keycrypt_err_auth);
        assert_int_equal(keycrypt_envelope_secret_id(len > 0 ? env : NULL, len, id), len >= HDR);
    }
    longer = malloc(envlen + 1);
    assert_non_null(longer);
    memcpy(longer, env, envlen);
    longer[envlen] = 0;
    assert_int_equal(open_copy(secrets, 1, aad, longer, envlen + 1, &err, NULL), -1);
    assert_ptr_equal(err, keycrypt_err_auth);
    free(longer);
    free(env);
}

static void test_garbage_and_bad_version(void **state)
{
    const char *secrets[] = {s1};
    unsigned char buf[300];
    unsigned char *env;
    size_t envlen;
    const char *err;
    static const unsigned char pt[] = "x";

    for (size_t len = 0; len <= sizeof(buf); len += 13) {
        assert_int_equal(RAND_bytes(buf, sizeof(buf)), 1);
        err = NULL;
        assert_int_equal(open_copy(secrets, 1, aad, buf, len, &err, NULL), -1);
        assert_non_null(err);
        if (len >= 4)
            memcpy(buf, "CBK\x01", 4);
        err = NULL;
        assert_int_equal(open_copy(secrets, 1, aad, buf, len, &err, NULL), -1);
        assert_non_null(err);
    }
    seal_ok(s1, aad, pt, sizeof(pt), &env, &envlen);
    env[3] = 2;
    assert_int_equal(open_copy(secrets, 1, aad, env, envlen, &err, NULL), -1);
    assert_ptr_equal(err, keycrypt_err_malformed);
    free(env);
}

/* ---- legacy (RFC 1423) ---- */

/* EVP_BytesToKey(MD5, 1 round) written out as spec §2 states it, for the cross-checks. */
static void legacy_key_by_hand(const char *pw, const unsigned char iv[16], unsigned char key[32])
{
    unsigned char buf[16 + 64 + 8];
    size_t pwlen = strlen(pw);
    unsigned int n = 0;

    assert_true(pwlen <= 64);
    memcpy(buf, pw, pwlen);
    memcpy(buf + pwlen, iv, 8);
    assert_int_equal(EVP_Digest(buf, pwlen + 8, key, &n, EVP_md5(), NULL), 1);
    memcpy(buf, key, 16);
    memcpy(buf + 16, pw, pwlen);
    memcpy(buf + 16 + pwlen, iv, 8);
    assert_int_equal(EVP_Digest(buf, 16 + pwlen + 8, key + 16, &n, EVP_md5(), NULL), 1);
}

static void test_legacy_known_answer(void **state)
{
    unsigned char key[32];
    unsigned char want[32];
    unsigned char *out;
    size_t outlen;

    legacy_key_by_hand(s1, iv_seq, key);
    unhex(kat_legacy_key_hex, want, sizeof(want));
    assert_memory_equal(key, want, sizeof(key));

    assert_int_equal(keycrypt_legacy_encrypt(s1, iv_seq, (const unsigned char *)kat_legacy_pt,
                                             strlen(kat_legacy_pt), &out, &outlen),
                     0);
    assert_int_equal(outlen, sizeof(kat_legacy_ct));
    assert_memory_equal(out, kat_legacy_ct, outlen);
    free(out);

    assert_int_equal(
        keycrypt_legacy_decrypt(s1, iv_seq, kat_legacy_ct, sizeof(kat_legacy_ct), &out, &outlen),
        0);
    assert_int_equal(outlen, strlen(kat_legacy_pt));
    assert_memory_equal(out, kat_legacy_pt, outlen);
    free(out);

    /* With this vector the wrong password fails the padding check. */
    out = NULL;
    assert_int_equal(keycrypt_legacy_decrypt("s3creT", iv_seq, kat_legacy_ct, sizeof(kat_legacy_ct),
                                             &out, &outlen),
                     -1);
    assert_null(out);
}

/* Ciphertext from `openssl enc -aes-256-cbc -K -iv` decrypts, and encrypting matches it. */
static void test_legacy_matches_openssl_enc(void **state)
{
    unsigned char pt[100];
    unsigned char iv[16];
    unsigned char key[32];
    char key_hex[65];
    char iv_hex[33];
    char cmd[1024];
    unsigned char *ct;
    unsigned char *out;
    size_t ctlen;
    size_t outlen;

    assert_int_equal(RAND_bytes(pt, sizeof(pt)), 1);
    assert_int_equal(RAND_bytes(iv, sizeof(iv)), 1);
    legacy_key_by_hand("abc", iv, key);
    hex_encode(key, sizeof(key), key_hex);
    hex_encode(iv, sizeof(iv), iv_hex);
    assert_int_equal(write_file(tmp_path("enc.in"), pt, sizeof(pt)), 0);
    snprintf(cmd, sizeof(cmd), "openssl enc -aes-256-cbc -K %s -iv %s -in '%s' -out '%s'", key_hex,
             iv_hex, tmp_path("enc.in"), tmp_path("enc.out"));
    assert_int_equal(tu_sh(cmd, tmpdir), 0);
    ct = read_file(tmp_path("enc.out"), &ctlen);
    assert_int_equal(ctlen, 112);

    assert_int_equal(keycrypt_legacy_decrypt("abc", iv, ct, ctlen, &out, &outlen), 0);
    assert_int_equal(outlen, sizeof(pt));
    assert_memory_equal(out, pt, sizeof(pt));
    free(out);
    assert_int_equal(keycrypt_legacy_encrypt("abc", iv, pt, sizeof(pt), &out, &outlen), 0);
    assert_int_equal(outlen, ctlen);
    assert_memory_equal(out, ct, ctlen);
    free(out);
    free(ct);
}

/* Write an RFC 1423 PEM block as Tyk's x509.EncryptPEMBlock lays it out (spec §2). */
static void write_legacy_pem(const char *path, const char *type, const unsigned char iv[16],
                             const unsigned char *ct, size_t ctlen)
{
    char iv_hex[33];
    char hdr[128];
    BIO *b = BIO_new_file(path, "w");

    assert_non_null(b);
    hex_encode(iv, 16, iv_hex);
    snprintf(hdr, sizeof(hdr), "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,%s\n", iv_hex);
    assert_true(PEM_write_bio(b, type, hdr, ct, (long)ctlen) > 0);
    BIO_free(b);
}

/*
 * Scenario 17 through OpenSSL's own RFC 1423 reader: a key encrypted with
 * keycrypt_legacy_encrypt("s3cret") opens with `openssl pkey -passin pass:s3cret`.
 */
static void test_legacy_matches_openssl_pkey_passin(void **state)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    EVP_PKEY *back;
    unsigned char *der = NULL;
    unsigned char *ct;
    unsigned char *out;
    const unsigned char *p;
    unsigned char iv[16];
    size_t ctlen;
    size_t outlen;
    char cmd[1024];
    int derlen;

    assert_non_null(key);
    derlen = i2d_PrivateKey(key, &der); /* SEC1, as an uploaded "EC PRIVATE KEY" */
    assert_true(derlen > 0);
    assert_int_equal(RAND_bytes(iv, sizeof(iv)), 1);
    assert_int_equal(keycrypt_legacy_encrypt(s1, iv, der, (size_t)derlen, &ct, &ctlen), 0);

    /* OpenSSL reads the block as a traditional encrypted key under its real type name. */
    write_legacy_pem(tmp_path("legacy.pem"), "EC PRIVATE KEY", iv, ct, ctlen);
    snprintf(cmd, sizeof(cmd), "openssl pkey -in '%s' -passin pass:%s -outform DER -out '%s'",
             tmp_path("legacy.pem"), s1, tmp_path("legacy.der"));
    assert_int_equal(tu_sh(cmd, tmpdir), 0);
    out = read_file(tmp_path("legacy.der"), &outlen);
    p = out;
    back = d2i_AutoPrivateKey(NULL, &p, (long)outlen);
    assert_non_null(back);
    assert_int_equal(EVP_PKEY_eq(back, key), 1);
    EVP_PKEY_free(back);
    free(out);
    snprintf(cmd, sizeof(cmd), "openssl pkey -in '%s' -passin pass:wrong -outform DER -out '%s'",
             tmp_path("legacy.pem"), tmp_path("legacy2.der"));
    assert_int_not_equal(tu_sh(cmd, tmpdir), 0);

    /* And keycrypt gets the DER back from what it wrote. */
    assert_int_equal(keycrypt_legacy_decrypt(s1, iv, ct, ctlen, &out, &outlen), 0);
    assert_int_equal(outlen, (size_t)derlen);
    assert_memory_equal(out, der, outlen);
    OPENSSL_cleanse(out, outlen);
    free(out);
    free(ct);
    OPENSSL_free(der);
    EVP_PKEY_free(key);
}

/* Encrypt one raw block (no padding) so the test controls the padding bytes. */
static void raw_cbc(const unsigned char key[32], const unsigned char iv[16],
                    const unsigned char *in, size_t n, unsigned char *out)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int len = 0;

    assert_non_null(c);
    assert_int_equal(EVP_EncryptInit_ex(c, EVP_aes_256_cbc(), NULL, key, iv), 1);
    assert_int_equal(EVP_CIPHER_CTX_set_padding(c, 0), 1);
    assert_int_equal(EVP_EncryptUpdate(c, out, &len, in, (int)n), 1);
    assert_int_equal(len, (int)n);
    assert_int_equal(EVP_EncryptFinal_ex(c, out + len, &len), 1);
    EVP_CIPHER_CTX_free(c);
}

static void test_legacy_padding_and_lengths(void **state)
{
    unsigned char key[32];
    unsigned char block[32];
    unsigned char ct[32];
    unsigned char *out = NULL;
    size_t outlen = 0;

    legacy_key_by_hand(s1, iv_seq, key);
    /* Valid PKCS#7 (two bytes of 0x02) opens; 0x00, 0x11 and uneven pads do not. */
    memset(block, 'k', sizeof(block));
    block[30] = 2;
    block[31] = 2;
    raw_cbc(key, iv_seq, block, sizeof(block), ct);
    assert_int_equal(keycrypt_legacy_decrypt(s1, iv_seq, ct, sizeof(ct), &out, &outlen), 0);
    assert_int_equal(outlen, 30);
    free(out);
    out = NULL;
    block[31] = 0;
    raw_cbc(key, iv_seq, block, sizeof(block), ct);
    assert_int_equal(keycrypt_legacy_decrypt(s1, iv_seq, ct, sizeof(ct), &out, &outlen), -1);
    block[31] = 0x11;
    raw_cbc(key, iv_seq, block, sizeof(block), ct);
    assert_int_equal(keycrypt_legacy_decrypt(s1, iv_seq, ct, sizeof(ct), &out, &outlen), -1);
    block[30] = 3;
    block[31] = 2;
    raw_cbc(key, iv_seq, block, sizeof(block), ct);
    assert_int_equal(keycrypt_legacy_decrypt(s1, iv_seq, ct, sizeof(ct), &out, &outlen), -1);
    assert_null(out);

    /* Lengths that are not a positive multiple of the block size. */
    for (size_t n = 0; n < sizeof(kat_legacy_ct); n++) {
        if (n == 16)
            continue; /* a whole block: may or may not pad correctly, must not crash */
        assert_int_equal(
            keycrypt_legacy_decrypt(s1, iv_seq, n > 0 ? kat_legacy_ct : NULL, n, &out, &outlen),
            -1);
    }
    if (keycrypt_legacy_decrypt(s1, iv_seq, kat_legacy_ct, 16, &out, &outlen) == 0)
        free(out);

    /* NULL password is the empty password. */
    assert_int_equal(
        keycrypt_legacy_encrypt(NULL, iv_seq, (const unsigned char *)"", 0, &out, &outlen), 0);
    assert_int_equal(outlen, 16);
    memcpy(ct, out, 16);
    free(out);
    assert_int_equal(keycrypt_legacy_decrypt("", iv_seq, ct, 16, &out, &outlen), 0);
    assert_int_equal(outlen, 0);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_layout),
        cmocka_unit_test(test_seal_is_randomized),
        cmocka_unit_test(test_secret_id_known_answer),
        cmocka_unit_test(test_open_spec_built_envelope),
        cmocka_unit_test(test_hkdf_matches_openssl_cli),
        cmocka_unit_test(test_tamper_every_byte),
        cmocka_unit_test(test_wrong_aad),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_truncated_envelopes),
        cmocka_unit_test(test_garbage_and_bad_version),
        cmocka_unit_test(test_legacy_known_answer),
        cmocka_unit_test(test_legacy_matches_openssl_enc),
        cmocka_unit_test(test_legacy_matches_openssl_pkey_passin),
        cmocka_unit_test(test_legacy_padding_and_lengths),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
