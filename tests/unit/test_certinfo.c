/*
 * Unit tests of certinfo: upload parsing with Tyk's rules and messages (spec §1.1, §1.2),
 * the legacy encrypted-key import (spec §2, DESIGN §5) and the metadata JSON (spec §1.5,
 * DESIGN §6). The test PKI comes from tests/harness/certs.sh; certificates with unusual
 * names or dates are made in-process. Every body is handed over in an exact-size heap
 * buffer without a NUL, so ASan catches any read past its end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/certinfo.h"
#include "common/keycrypt.h"
#include "common/strutil.h"
#include "tests/harness/testutil.h"

#define MSG_NO_PEM "Failed to decode certificate. It should be PEM encoded."
#define MSG_MULTI_KEYS "Found multiple private keys"
#define MSG_EXPIRED "certificate is expired"
#define MSG_PUB_AND_CERTS "Public keys can't be combined with certificates"
#define MSG_MISMATCH "tls: private key does not match public key"
#define MSG_TYPE_MISMATCH "tls: private key type does not match public key type"
#define MSG_KEY_PARSE "tls: failed to parse private key"
#define MSG_DECRYPT "private key decryption failed"
#define ZERO_TIME "0001-01-01T00:00:00Z"

static char tmpdir[512];
static char pkidir[600];
static const char *const legacy_secrets[] = {"other", "s3cret"};

/* ---- helpers ---- */

static char *xcat(const char *a, const char *b)
{
    size_t la = strlen(a);
    size_t lb = strlen(b);
    char *s = malloc(la + lb + 1);

    assert_non_null(s);
    memcpy(s, a, la);
    memcpy(s + la, b, lb + 1);
    return s;
}

/* Concatenation of n strings (heap). */
static char *catn(int n, ...)
{
    va_list ap;
    char *acc = xcat("", "");
    char *next;

    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        next = xcat(acc, va_arg(ap, const char *));
        free(acc);
        acc = next;
    }
    va_end(ap);
    return acc;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len != NULL)
        *len = (size_t)n;
    return buf;
}

/* A file of the test PKI, NUL-terminated (heap). */
static char *pki(const char *name)
{
    char path[700];

    snprintf(path, sizeof(path), "%s/%s", pkidir, name);
    return slurp(path, NULL);
}

static char *pki_path(const char *name)
{
    static char paths[4][700];
    static unsigned next;
    char *p = paths[next++ % 4];

    snprintf(p, sizeof(paths[0]), "%s/%s", pkidir, name);
    return p;
}

static int parse_n(const char *body, size_t len, time_t now, const char *const *secrets, size_t n,
                   struct cert_upload **u, char **err)
{
    char *copy = len > 0 ? malloc(len) : NULL;
    int rc;

    if (len > 0) {
        assert_non_null(copy);
        memcpy(copy, body, len);
    }
    rc = certinfo_parse_upload(copy, len, now, secrets, n, u, err);
    free(copy);
    return rc;
}

static struct cert_upload *upload_ok(const char *body)
{
    struct cert_upload *u = NULL;
    char *err = NULL;

    if (parse_n(body, strlen(body), time(NULL), legacy_secrets, 2, &u, &err) != 0)
        fail_msg("upload refused: %s", err);
    assert_null(err);
    assert_non_null(u);
    return u;
}

static void upload_err_at(const char *body, size_t len, time_t now, const char *want)
{
    struct cert_upload *u = (struct cert_upload *)1;
    char *err = NULL;

    assert_int_equal(parse_n(body, len, now, legacy_secrets, 2, &u, &err), -1);
    assert_null(u);
    assert_non_null(err);
    assert_string_equal(err, want);
    free(err);
}

static void upload_err(const char *body, const char *want)
{
    upload_err_at(body, strlen(body), time(NULL), want);
}

static void sha256_hex_of(const unsigned char *p, size_t n, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;

    assert_int_equal(EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL), 1);
    hex_encode(md, 32, out);
}

static X509 *load_x509(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);

    BIO_free(b);
    assert_non_null(x);
    return x;
}

/* sha256hex(DER) of the first certificate in pem, computed here (i2d_X509 + SHA-256). */
static void cert_sha(const char *pem, char out[65])
{
    X509 *x = load_x509(pem);
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);

    assert_true(n > 0);
    sha256_hex_of(der, (size_t)n, out);
    OPENSSL_free(der);
    X509_free(x);
}

/* `openssl x509 -noout -fingerprint -sha256`, lowercased without colons (spec §1.1). */
static void cli_fingerprint(const char *file, char out[65])
{
    char cmd[1024];
    char line[256];
    size_t k = 0;
    FILE *p;
    char *eq;

    snprintf(cmd, sizeof(cmd), "openssl x509 -in '%s' -noout -fingerprint -sha256", file);
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(line, sizeof(line), p));
    assert_int_equal(pclose(p), 0);
    eq = strchr(line, '=');
    assert_non_null(eq);
    for (char *c = eq + 1; *c != '\0' && *c != '\n' && k < 64; c++) {
        if (*c != ':')
            out[k++] = (char)(*c >= 'A' && *c <= 'F' ? *c - 'A' + 'a' : *c);
    }
    out[k] = '\0';
    assert_int_equal(k, 64);
}

/* The DER inside the first PEM block of text. */
static unsigned char *block_der(const char *text, long *len)
{
    BIO *b = BIO_new_mem_buf(text, -1);
    char *name = NULL;
    char *hdr = NULL;
    unsigned char *data = NULL;

    assert_int_equal(PEM_read_bio_ex(b, &name, &hdr, &data, len, 0), 1);
    OPENSSL_free(name);
    OPENSSL_free(hdr);
    BIO_free(b);
    return data;
}

/* A PEM block of type with data (heap, NUL-terminated). */
static char *pem_block(const char *type, const char *hdr, const unsigned char *data, long len)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *p = NULL;
    char *s;
    long n;

    assert_non_null(b);
    assert_true(PEM_write_bio(b, type, hdr, data, len) > 0);
    n = BIO_get_mem_data(b, &p);
    s = malloc((size_t)n + 1);
    assert_non_null(s);
    memcpy(s, p, (size_t)n);
    s[n] = '\0';
    BIO_free(b);
    return s;
}

static char *dump(const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);

    assert_non_null(s);
    return s;
}

static void assert_json_key_str(const json_t *obj, const char *key, const char *want)
{
    const char *got = json_string_value(json_object_get(obj, key));

    assert_non_null(got);
    assert_string_equal(got, want);
}

struct cert_spec {
    const char *const *subject; /* field, value pairs; a "+" prefix joins the previous RDN */
    const char *not_before;     /* "YYYYMMDDHHMMSSZ" */
    const char *not_after;
    bool ca;
    const char *san; /* e.g. "DNS:a.example,IP:10.0.0.1" or NULL */
};

static void add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;

    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    assert_non_null(ext);
    assert_int_equal(X509_add_ext(x, ext, -1), 1);
    X509_EXTENSION_free(ext);
}

/* A self-signed ECDSA certificate as PEM (heap); *key_out gets the key if not NULL. */
static char *make_cert(const struct cert_spec *spec, EVP_PKEY **key_out)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *nm = X509_get_subject_name(x);
    const char *field;
    BIO *b = BIO_new(BIO_s_mem());
    char *p = NULL;
    char *pem;
    long n;

    assert_non_null(key);
    assert_non_null(x);
    assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 4242), 1);
    for (size_t i = 0; spec->subject != NULL && spec->subject[i] != NULL; i += 2) {
        field = spec->subject[i];
        assert_int_equal(X509_NAME_add_entry_by_txt(nm, field + (*field == '+'), MBSTRING_UTF8,
                                                    (const unsigned char *)spec->subject[i + 1], -1,
                                                    -1, *field == '+' ? -1 : 0),
                         1);
    }
    assert_int_equal(X509_set_issuer_name(x, nm), 1);
    assert_int_equal(ASN1_TIME_set_string_X509(X509_getm_notBefore(x), spec->not_before), 1);
    assert_int_equal(ASN1_TIME_set_string_X509(X509_getm_notAfter(x), spec->not_after), 1);
    assert_int_equal(X509_set_pubkey(x, key), 1);
    add_ext(x, NID_basic_constraints, spec->ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    if (spec->san != NULL)
        add_ext(x, NID_subject_alt_name, spec->san);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    assert_int_equal(PEM_write_bio_X509(b, x), 1);
    n = BIO_get_mem_data(b, &p);
    pem = malloc((size_t)n + 1);
    assert_non_null(pem);
    memcpy(pem, p, (size_t)n);
    pem[n] = '\0';
    BIO_free(b);
    X509_free(x);
    if (key_out != NULL)
        *key_out = key;
    else
        EVP_PKEY_free(key);
    return pem;
}

static time_t utc(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    return timegm(&tm);
}

static int group_setup(void **state)
{
    const char *bin = getenv("CB_TEST_BINDIR");
    const char *src = getenv("CB_TEST_SRCDIR");
    char cmd[2048];

    snprintf(tmpdir, sizeof(tmpdir), "%s/test_certinfo.XXXXXX", bin != NULL ? bin : "/tmp");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    snprintf(pkidir, sizeof(pkidir), "%s/pki", tmpdir);
    snprintf(cmd, sizeof(cmd), "'%s/tests/harness/certs.sh' '%s'", src != NULL ? src : ".", pkidir);
    return tu_sh(cmd, tmpdir) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    char cmd[600];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return tu_sh(cmd, tmpdir) == 0 ? 0 : -1;
}

/* ---- IDs, chains, stored PEM ---- */

static void test_single_cert_id(void **state)
{
    char *crt = pki("client1.crt");
    char want[65];
    char cli[65];
    struct cert_upload *u;

    cert_sha(crt, want);
    cli_fingerprint(pki_path("client1.crt"), cli);
    assert_string_equal(want, cli);
    u = upload_ok(crt);
    assert_string_equal(u->id_hex, want);
    assert_false(u->is_public_key);
    assert_null(u->key_der);
    assert_int_equal(u->key_der_len, 0);
    /* openssl writes the same standard PEM the store keeps: identical text. */
    assert_string_equal(u->pem, crt);
    assert_non_null(u->meta);
    assert_json_key_str(u->meta, "fingerprint", want);
    assert_json_key_str(u->meta, "subject_cn", "client1");
    assert_json_key_str(u->meta, "issuer_cn", "certbound test CA A");
    certinfo_upload_free(u);
    free(crt);
}

static void test_chain_id_is_first(void **state)
{
    char *chain = pki("chain_client1.pem");
    char *leaf = pki("client1.crt");
    char *ca = pki("ca.crt");
    char *want_pem = catn(3, leaf, "\n", ca);
    char leaf_sha[65];
    char ca_sha[65];
    char got[65];
    struct cert_upload *u;
    STACK_OF(X509) *sk;
    json_t *meta;

    cert_sha(leaf, leaf_sha);
    cert_sha(ca, ca_sha);
    u = upload_ok(chain);
    assert_string_equal(u->id_hex, leaf_sha);
    /* Blocks joined by "\n" as Tyk's bytes.Join: a blank line between them. */
    assert_string_equal(u->pem, want_pem);
    /* DESIGN §6: the fingerprint is the leaf's, not the last certificate's. */
    assert_json_key_str(u->meta, "fingerprint", leaf_sha);
    meta = certinfo_meta(u->pem, strlen(u->pem));
    assert_non_null(meta);
    assert_true(json_equal(meta, u->meta));
    json_decref(meta);

    sk = certinfo_load_chain(u->pem, strlen(u->pem));
    assert_non_null(sk);
    assert_int_equal(sk_X509_num(sk), 2);
    certinfo_x509_sha256_hex(sk_X509_value(sk, 0), got);
    assert_string_equal(got, leaf_sha);
    certinfo_x509_sha256_hex(sk_X509_value(sk, 1), got);
    assert_string_equal(got, ca_sha);
    sk_X509_pop_free(sk, X509_free);
    certinfo_upload_free(u);
    free(want_pem);
    free(chain);
    free(leaf);
    free(ca);
}

static void test_x509_sha256_matches_cli(void **state)
{
    static const char *const files[] = {"ca.crt", "server.crt", "rsa.crt", "expired.crt"};
    char cli[65];
    char got[65];
    char *pem;
    X509 *x;

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        pem = pki(files[i]);
        x = load_x509(pem);
        certinfo_x509_sha256_hex(x, got);
        cli_fingerprint(pki_path(files[i]), cli);
        assert_string_equal(got, cli);
        X509_free(x);
        free(pem);
    }
}

/* ---- private keys ---- */

static void check_cert_key(const char *crt_file, const char *key_file, bool key_first)
{
    char *crt = pki(crt_file);
    char *key = pki(key_file);
    char *body = key_first ? catn(2, key, crt) : catn(2, crt, key);
    char want[65];
    unsigned char *der;
    long derlen = 0;
    struct cert_upload *u;

    cert_sha(crt, want);
    der = block_der(key, &derlen);
    u = upload_ok(body);
    assert_string_equal(u->id_hex, want);
    assert_non_null(u->key_der);
    assert_int_equal(u->key_der_len, (size_t)derlen);
    assert_memory_equal(u->key_der, der, (size_t)derlen);
    assert_string_equal(u->pem, crt);
    assert_null(strstr(u->pem, "PRIVATE KEY"));
    certinfo_upload_free(u);
    OPENSSL_free(der);
    free(body);
    free(crt);
    free(key);
}

static void test_cert_and_key(void **state)
{
    check_cert_key("client1.crt", "client1.key", false);
    check_cert_key("client1.crt", "client1.key", true);
    check_cert_key("rsa.crt", "rsa.key", false); /* PKCS#1 "RSA PRIVATE KEY" */
    check_cert_key("rsa.crt", "rsa_pkcs8.key", false);
    check_cert_key("server.crt", "server.key", false);
}

static void test_sec1_ec_key(void **state)
{
    char *crt = pki("client2.crt");
    char *key8 = pki("client2.key");
    BIO *in = BIO_new_mem_buf(key8, -1);
    BIO *out = BIO_new(BIO_s_mem());
    EVP_PKEY *k = PEM_read_bio_PrivateKey(in, NULL, NULL, NULL);
    char *p = NULL;
    char *sec1;
    char *body;
    long n;
    struct cert_upload *u;

    assert_non_null(k);
    assert_int_equal(PEM_write_bio_PrivateKey_traditional(out, k, NULL, NULL, 0, NULL, NULL), 1);
    n = BIO_get_mem_data(out, &p);
    sec1 = strndup(p, (size_t)n);
    assert_non_null(strstr(sec1, "-----BEGIN EC PRIVATE KEY-----"));
    body = catn(2, crt, sec1);
    u = upload_ok(body);
    assert_non_null(u->key_der);
    certinfo_upload_free(u);
    free(body);
    free(sec1);
    EVP_PKEY_free(k);
    BIO_free(in);
    BIO_free(out);
    free(crt);
    free(key8);
}

static void test_key_mismatch(void **state)
{
    char *c1 = pki("client1.crt");
    char *k2 = pki("client2.key");
    char *rsa_crt = pki("rsa.crt");
    char *rsa_key = pki("rsa.key");
    char *k1 = pki("client1.key");
    char *body;

    body = catn(2, c1, k2);
    upload_err(body, MSG_MISMATCH);
    free(body);
    body = catn(2, rsa_crt, k1);
    upload_err(body, MSG_TYPE_MISMATCH);
    free(body);
    body = catn(2, c1, rsa_key);
    upload_err(body, MSG_TYPE_MISMATCH);
    free(body);
    /* The key must match the FIRST certificate (the chain's CA key does not do). */
    {
        char *chain = pki("chain_client1.pem");
        char *cakey = pki("ca.key");

        body = catn(2, chain, cakey);
        upload_err(body, MSG_MISMATCH);
        free(body);
        free(chain);
        free(cakey);
    }
    free(c1);
    free(k2);
    free(rsa_crt);
    free(rsa_key);
    free(k1);
}

static void test_unparseable_key(void **state)
{
    static const unsigned char junk[] = "this is not a private key at all";
    char *c1 = pki("client1.crt");
    char *k1 = pki("client1.key");
    char *bad = pem_block("PRIVATE KEY", "", junk, sizeof(junk) - 1);
    unsigned char *der;
    unsigned char *longer;
    long derlen = 0;
    char *trailing;
    char *body;
    BIO *in = BIO_new_mem_buf(k1, -1);
    BIO *out = BIO_new(BIO_s_mem());
    EVP_PKEY *k = PEM_read_bio_PrivateKey(in, NULL, NULL, NULL);
    char *p = NULL;
    char *pkcs8enc;

    body = catn(2, c1, bad);
    upload_err(body, MSG_KEY_PARSE);
    free(body);

    /* A valid key DER followed by one extra byte does not parse (no trailing data). */
    der = block_der(k1, &derlen);
    longer = malloc((size_t)derlen + 1);
    assert_non_null(longer);
    memcpy(longer, der, (size_t)derlen);
    longer[derlen] = 0;
    trailing = pem_block("PRIVATE KEY", "", longer, derlen + 1);
    body = catn(2, c1, trailing);
    upload_err(body, MSG_KEY_PARSE);
    free(body);

    /* A real PKCS#8 EncryptedPrivateKeyInfo is not Tyk's legacy form: it does not parse. */
    assert_non_null(k);
    assert_int_equal(PEM_write_bio_PKCS8PrivateKey(out, k, EVP_aes_256_cbc(), "pw", 2, NULL, NULL),
                     1);
    (void)BIO_get_mem_data(out, &p);
    pkcs8enc = strndup(p, (size_t)BIO_pending(out));
    assert_non_null(strstr(pkcs8enc, "-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    body = catn(2, c1, pkcs8enc);
    upload_err(body, MSG_KEY_PARSE);
    free(body);

    free(pkcs8enc);
    EVP_PKEY_free(k);
    BIO_free(in);
    BIO_free(out);
    free(trailing);
    free(longer);
    OPENSSL_free(der);
    free(bad);
    free(c1);
    free(k1);
}

static void test_multiple_keys_document_order(void **state)
{
    static const unsigned char junk[] = "junk";
    char *c1 = pki("client1.crt");
    char *k1 = pki("client1.key");
    char *k2 = pki("client2.key");
    char *expired = pki("expired.crt");
    char *badcert = pem_block("CERTIFICATE", "", junk, 4);
    char *body;

    body = catn(3, c1, k1, k2);
    upload_err(body, MSG_MULTI_KEYS);
    free(body);
    /* Even the same key twice. */
    body = catn(3, k1, c1, k1);
    upload_err(body, MSG_MULTI_KEYS);
    free(body);
    /* The first offending block wins (checks 1-3 in document order). */
    body = catn(3, k1, k2, badcert);
    upload_err(body, MSG_MULTI_KEYS);
    free(body);
    body = catn(3, badcert, k1, k2);
    upload_err(body, "x509: malformed certificate");
    free(body);
    body = catn(4, expired, k1, k2, badcert);
    upload_err(body, MSG_EXPIRED);
    free(body);
    body = catn(3, k1, k2, expired);
    upload_err(body, MSG_MULTI_KEYS);
    free(body);
    free(c1);
    free(k1);
    free(k2);
    free(expired);
    free(badcert);
}

/* ---- refusals of the body as a whole ---- */

static void test_no_certificate(void **state)
{
    static const char *const bodies[] = {
        "",
        " \n\t\n",
        "hello, world",
        "-----BEGIN CERTIFICATE-----\n",
        "-----BEGIN CERTIFICATE-----\nMIIB\n",
        "-----BEGIN CERTIFICATE-----\n@@@@ not base64 @@@@\n-----END CERTIFICATE-----\n",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END PUBLIC KEY-----\n",
        "-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n",
    };
    char *k1 = pki("client1.key");
    char *rsa = pki("rsa.key");
    unsigned char bin[512];
    struct cert_upload *u = NULL;
    char *err = NULL;

    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
        upload_err(bodies[i], MSG_NO_PEM);
    upload_err(k1, MSG_NO_PEM);
    upload_err(rsa, MSG_NO_PEM);
    assert_int_equal(RAND_bytes(bin, sizeof(bin)), 1);
    upload_err_at((const char *)bin, sizeof(bin), time(NULL), MSG_NO_PEM);
    /* NULL body of length 0, and no secrets at all. */
    assert_int_equal(certinfo_parse_upload(NULL, 0, time(NULL), NULL, 0, &u, &err), -1);
    assert_null(u);
    assert_string_equal(err, MSG_NO_PEM);
    free(err);
    free(k1);
    free(rsa);
}

static void test_bad_x509(void **state)
{
    static const unsigned char junk[] = "definitely not DER";
    char *c1 = pki("client1.crt");
    char *bad = pem_block("CERTIFICATE", "", junk, sizeof(junk) - 1);
    char *trailing;
    unsigned char *der;
    unsigned char *longer;
    long derlen = 0;
    char *body;

    upload_err(bad, "x509: malformed certificate");
    body = catn(2, c1, bad); /* a bad CA after a good leaf is still refused */
    upload_err(body, "x509: malformed certificate");
    free(body);

    der = block_der(c1, &derlen);
    longer = malloc((size_t)derlen + 3);
    assert_non_null(longer);
    memcpy(longer, der, (size_t)derlen);
    memcpy(longer + derlen, "\x05\x00\x00", 3);
    trailing = pem_block("CERTIFICATE", "", longer, derlen + 3);
    upload_err(trailing, "x509: trailing data");
    /* Truncated DER. */
    free(bad);
    bad = pem_block("CERTIFICATE", "", der, derlen - 10);
    upload_err(bad, "x509: malformed certificate");

    /*
     * Not DER (found by fuzz_pem_upload): a signature BIT STRING whose padding bit is set.
     * OpenSSL parses it and would re-encode it differently, so its hash would not be the ID.
     */
    {
        X509 *x = load_x509(c1);
        const ASN1_BIT_STRING *sig = NULL;

        X509_get0_signature(&sig, NULL, x);
        assert_non_null(sig);
        memcpy(longer, der, (size_t)derlen);
        longer[derlen - ASN1_STRING_length(sig) - 1] = 1; /* one unused bit... */
        longer[derlen - 1] |= 1;                          /* ...that is not zero */
        free(bad);
        bad = pem_block("CERTIFICATE", "", longer, derlen);
        upload_err(bad, "x509: malformed certificate");
        X509_free(x);
    }

    free(trailing);
    free(longer);
    free(bad);
    OPENSSL_free(der);
    free(c1);
}

static void test_expiry(void **state)
{
    static const char *const cn[] = {"CN", "dated", NULL};
    const struct cert_spec future = {cn, "20990101000000Z", "21000101000000Z", false, NULL};
    const struct cert_spec dated = {cn, "20260102030405Z", "20300102030405Z", false, NULL};
    char *expired = pki("expired.crt");
    char *c1 = pki("client1.crt");
    char *ca = pki("ca.crt");
    char *pem;
    char *body;
    struct cert_upload *u;
    char *err = NULL;

    upload_err(expired, MSG_EXPIRED);
    /* Every certificate of a chain is checked, not only the leaf. */
    body = catn(2, c1, expired);
    upload_err(body, MSG_EXPIRED);
    free(body);
    body = catn(3, c1, ca, expired);
    upload_err(body, MSG_EXPIRED);
    free(body);

    /* Not yet valid is accepted. */
    pem = make_cert(&future, NULL);
    u = upload_ok(pem);
    certinfo_upload_free(u);
    free(pem);

    /* The boundary: expired only when NotAfter < now (Go's Before). */
    pem = make_cert(&dated, NULL);
    assert_int_equal(parse_n(pem, strlen(pem), utc(2030, 1, 2, 3, 4, 5), NULL, 0, &u, &err), 0);
    certinfo_upload_free(u);
    upload_err_at(pem, strlen(pem), utc(2030, 1, 2, 3, 4, 6), MSG_EXPIRED);
    assert_int_equal(parse_n(pem, strlen(pem), utc(2020, 1, 1, 0, 0, 0), NULL, 0, &u, &err), 0);
    certinfo_upload_free(u);
    free(pem);
    free(expired);
    free(c1);
    free(ca);
}

/* ---- public keys ---- */

static void spki_sha_cli(const char *pub_file, char out[65])
{
    char cmd[1024];
    char der_path[700];
    char *der;
    size_t n;

    snprintf(der_path, sizeof(der_path), "%s/spki.der", tmpdir);
    snprintf(cmd, sizeof(cmd), "openssl pkey -pubin -in '%s' -outform DER -out '%s'", pub_file,
             der_path);
    assert_int_equal(tu_sh(cmd, tmpdir), 0);
    der = slurp(der_path, &n);
    sha256_hex_of((const unsigned char *)der, n, out);
    free(der);
}

static void test_public_key(void **state)
{
    char *pub = pki("pub.pem");
    char want[65];
    char cn[100];
    char *expected;
    char *got;
    struct cert_upload *u;
    json_t *meta;

    spki_sha_cli(pki_path("pub.pem"), want);
    u = upload_ok(pub);
    assert_string_equal(u->id_hex, want);
    assert_true(u->is_public_key);
    assert_string_equal(u->pem, pub);
    assert_null(u->key_der);

    snprintf(cn, sizeof(cn), "Public Key: %s", want);
    expected = catn(
        5,
        "{\"fingerprint\":\"\",\"subject\":{\"Country\":null,\"Organization\":null,"
        "\"OrganizationalUnit\":null,\"Locality\":null,\"Province\":null,\"StreetAddress\":null,"
        "\"PostalCode\":null,\"SerialNumber\":\"\",\"CommonName\":\"",
        cn,
        "\",\"Names\":null,\"ExtraNames\":null},\"issuer\":{\"Country\":null,\"Organization\":null,"
        "\"OrganizationalUnit\":null,\"Locality\":null,\"Province\":null,\"StreetAddress\":null,"
        "\"PostalCode\":null,\"SerialNumber\":\"\",\"CommonName\":\"\",\"Names\":null,"
        "\"ExtraNames\":null},\"subject_cn\":\"",
        cn,
        "\",\"issuer_cn\":\"\",\"dns_names\":[],\"not_before\":\"" ZERO_TIME
        "\",\"not_after\":\"" ZERO_TIME "\",\"is_ca\":false}");
    got = dump(u->meta);
    assert_string_equal(got, expected);
    free(got);
    meta = certinfo_meta(u->pem, strlen(u->pem));
    assert_non_null(meta);
    got = dump(meta);
    assert_string_equal(got, expected);
    free(got);
    json_decref(meta);
    certinfo_upload_free(u);
    free(expected);
    free(pub);
}

static void test_public_key_last_wins_and_combinations(void **state)
{
    char *pub = pki("pub.pem");
    char *c1 = pki("client1.crt");
    char *k1 = pki("client1.key");
    X509 *x = load_x509(c1);
    unsigned char *spki = NULL;
    int spki_len = i2d_PUBKEY(X509_get0_pubkey(x), &spki);
    char *pub2 = pem_block("PUBLIC KEY", "", spki, spki_len);
    char want[65];
    char *body;
    struct cert_upload *u;

    sha256_hex_of(spki, (size_t)spki_len, want);
    body = catn(2, pub, pub2);
    u = upload_ok(body);
    assert_string_equal(u->id_hex, want);
    assert_string_equal(u->pem, pub2);
    certinfo_upload_free(u);
    free(body);

    body = catn(2, pub, c1);
    upload_err(body, MSG_PUB_AND_CERTS);
    free(body);
    body = catn(2, c1, pub);
    upload_err(body, MSG_PUB_AND_CERTS);
    free(body);
    body = catn(3, c1, k1, pub); /* check 5 comes before the key check */
    upload_err(body, MSG_PUB_AND_CERTS);
    free(body);
    /* Tyk hands the PUBLIC KEY block to tls.X509KeyPair as the chain. */
    body = catn(2, pub2, k1);
    upload_err(body, "tls: failed to find \"CERTIFICATE\" PEM block in certificate input after "
                     "skipping PEM blocks of the following types: [PUBLIC KEY]");
    free(body);

    free(pub2);
    OPENSSL_free(spki);
    X509_free(x);
    free(pub);
    free(c1);
    free(k1);
}

/* ---- other blocks, malformed blocks, body framing ---- */

static void test_other_blocks_ignored(void **state)
{
    static const unsigned char blob[] = "some parameters";
    char *c1 = pki("client1.crt");
    char *foo = pem_block("X509 CRL", "", blob, sizeof(blob) - 1);
    char *body = catn(7, "leading text\r\n", foo,
                      "-----BEGIN CERTIFICATE-----\n!!!! broken !!!!\n-----END CERTIFICATE-----\n",
                      "between\n", c1, foo, "trailing text without newline");
    char want[65];
    struct cert_upload *u;

    cert_sha(c1, want);
    u = upload_ok(body);
    assert_string_equal(u->id_hex, want);
    assert_string_equal(u->pem, c1);
    certinfo_upload_free(u);
    free(body);
    free(foo);
    free(c1);
}

/* Every prefix of a cert+key body parses or fails cleanly; no read past len. */
static void test_every_prefix(void **state)
{
    char *c1 = pki("client1.crt");
    char *k1 = pki("client1.key");
    char *body = catn(2, c1, k1);
    size_t len = strlen(body);
    struct cert_upload *u;
    char *err;
    int rc;
    size_t ok_from = len;

    for (size_t n = 0; n <= len; n++) {
        u = NULL;
        err = NULL;
        rc = parse_n(body, n, time(NULL), NULL, 0, &u, &err);
        if (rc == 0) {
            assert_non_null(u);
            certinfo_upload_free(u);
            if (ok_from == len)
                ok_from = n;
        } else {
            assert_non_null(err);
            free(err);
        }
    }
    /* The certificate alone (up to its END line) is a valid upload; so is the full body. */
    assert_true(ok_from <= strlen(c1));
    assert_int_equal(parse_n(body, len, time(NULL), NULL, 0, &u, &err), 0);
    certinfo_upload_free(u);
    /* CRLF line ends are fine. */
    {
        char *crlf = malloc(2 * len + 1);
        size_t k = 0;

        assert_non_null(crlf);
        for (size_t i = 0; i < len; i++) {
            if (body[i] == '\n')
                crlf[k++] = '\r';
            crlf[k++] = body[i];
        }
        crlf[k] = '\0';
        u = upload_ok(crlf);
        assert_non_null(u->key_der);
        assert_string_equal(u->pem, c1);
        certinfo_upload_free(u);
        free(crlf);
    }
    free(body);
    free(c1);
    free(k1);
}

static void test_body_size_limit(void **state)
{
    char *c1 = pki("client1.crt");
    size_t clen = strlen(c1);
    char *big = malloc(CERTINFO_MAX_BODY + 1);
    struct cert_upload *u = NULL;
    char *err = NULL;

    assert_non_null(big);
    /* Exactly the limit: filler lines, then the certificate at the very end. */
    memset(big, 'x', CERTINFO_MAX_BODY - clen);
    for (size_t i = 63; i < CERTINFO_MAX_BODY - clen; i += 64)
        big[i] = '\n';
    big[CERTINFO_MAX_BODY - clen - 1] = '\n';
    memcpy(big + CERTINFO_MAX_BODY - clen, c1, clen);
    assert_int_equal(parse_n(big, CERTINFO_MAX_BODY, time(NULL), NULL, 0, &u, &err), 0);
    assert_string_equal(u->pem, c1);
    certinfo_upload_free(u);
    /* One byte more is refused before any parsing. */
    big[CERTINFO_MAX_BODY] = '\n';
    upload_err_at(big, CERTINFO_MAX_BODY + 1, time(NULL), "certificate body too large");
    free(big);
    free(c1);
}

/* ---- Tyk's legacy encrypted keys (spec §2) ---- */

/* The block x509.EncryptPEMBlock writes: RFC 1423 headers with a lowercase hex IV. */
static char *legacy_block(const char *type, const char *password, const char *cipher,
                          const unsigned char *der, size_t derlen, bool upper_iv)
{
    unsigned char iv[16];
    char iv_hex[33];
    char hdr[200];
    unsigned char *ct;
    size_t ctlen;
    char *pem;

    assert_int_equal(RAND_bytes(iv, sizeof(iv)), 1);
    assert_int_equal(keycrypt_legacy_encrypt(password, iv, der, derlen, &ct, &ctlen), 0);
    hex_encode(iv, sizeof(iv), iv_hex);
    for (char *c = iv_hex; upper_iv && *c != '\0'; c++)
        if (*c >= 'a' && *c <= 'f')
            *c = (char)(*c - 'a' + 'A');
    snprintf(hdr, sizeof(hdr), "Proc-Type: 4,ENCRYPTED\nDEK-Info: %s,%s\n", cipher, iv_hex);
    pem = pem_block(type, hdr, ct, (long)ctlen);
    free(ct);
    return pem;
}

static void check_legacy(const char *crt_file, const char *key_file, const char *type,
                         bool upper_iv)
{
    char *crt = pki(crt_file);
    char *key = pki(key_file);
    long derlen = 0;
    unsigned char *der = block_der(key, &derlen);
    char *enc = legacy_block(type, "s3cret", "AES-256-CBC", der, (size_t)derlen, upper_iv);
    char *body = catn(2, crt, enc);
    struct cert_upload *u;

    assert_non_null(strstr(enc, "Proc-Type: 4,ENCRYPTED"));
    u = upload_ok(body);
    assert_int_equal(u->key_der_len, (size_t)derlen);
    assert_memory_equal(u->key_der, der, (size_t)derlen);
    assert_string_equal(u->pem, crt);
    certinfo_upload_free(u);
    free(body);
    free(enc);
    OPENSSL_free(der);
    free(crt);
    free(key);
}

static void test_legacy_encrypted_key_import(void **state)
{
    check_legacy("client1.crt", "client1.key", "ENCRYPTED PRIVATE KEY", false);
    check_legacy("client1.crt", "client1.key", "ENCRYPTED PRIVATE KEY", true);
    check_legacy("rsa.crt", "rsa.key", "RSA PRIVATE KEY", false);
    check_legacy("rsa.crt", "rsa_pkcs8.key", "ENCRYPTED PRIVATE KEY", false);
}

static void test_legacy_encrypted_key_failures(void **state)
{
    static const char *const wrong[] = {"wrong", NULL};
    char *c1 = pki("client1.crt");
    char *k1 = pki("client1.key");
    char *k2 = pki("client2.key");
    long derlen = 0;
    unsigned char *der = block_der(k1, &derlen);
    long der2len = 0;
    unsigned char *der2 = block_der(k2, &der2len);
    char *enc =
        legacy_block("ENCRYPTED PRIVATE KEY", "s3cret", "AES-256-CBC", der, (size_t)derlen, false);
    char *des =
        legacy_block("ENCRYPTED PRIVATE KEY", "s3cret", "DES-EDE3-CBC", der, (size_t)derlen, false);
    char *other = legacy_block("ENCRYPTED PRIVATE KEY", "s3cret", "AES-256-CBC", der2,
                               (size_t)der2len, false);
    char *body = catn(2, c1, enc);
    struct cert_upload *u = NULL;
    char *err = NULL;

    /* No secret, or only wrong ones. */
    assert_int_equal(parse_n(body, strlen(body), time(NULL), NULL, 0, &u, &err), -1);
    assert_string_equal(err, MSG_DECRYPT);
    free(err);
    assert_int_equal(parse_n(body, strlen(body), time(NULL), wrong, 2, &u, &err), -1);
    assert_null(u);
    assert_string_equal(err, MSG_DECRYPT);
    free(err);
    free(body);
    /* Only AES-256-CBC is Tyk's. */
    body = catn(2, c1, des);
    upload_err(body, MSG_DECRYPT);
    free(body);
    /* Decrypted fine, but it is another certificate's key. */
    body = catn(2, c1, other);
    upload_err(body, MSG_MISMATCH);
    free(body);
    /* A DEK-Info with a short IV. */
    body = catn(2, c1,
                "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n"
                "DEK-Info: AES-256-CBC,0011\n\nAAAAAAAAAAAAAAAAAAAAAA==\n"
                "-----END RSA PRIVATE KEY-----\n");
    upload_err(body, MSG_DECRYPT);
    free(body);
    free(enc);
    free(des);
    free(other);
    OPENSSL_free(der);
    OPENSSL_free(der2);
    free(c1);
    free(k1);
    free(k2);
}

/*
 * A wrong secret passes the CBC padding check about once in 256 IVs; the import must then
 * move on to the next secret rather than keep garbage. Find such an IV (bounded search).
 */
static void test_legacy_wrong_secret_with_valid_padding(void **state)
{
    static const char *const secrets[] = {"wrong", "s3cret"};
    char *c1 = pki("client1.crt");
    char *k1 = pki("client1.key");
    long derlen = 0;
    unsigned char *der = block_der(k1, &derlen);
    unsigned char iv[16];
    unsigned char *ct = NULL;
    unsigned char *pt;
    size_t ctlen = 0;
    size_t ptlen;
    bool found = false;
    char iv_hex[33];
    char hdr[200];
    char *block;
    char *body;
    struct cert_upload *u = NULL;
    char *err = NULL;

    for (int i = 0; i < 20000 && !found; i++) {
        free(ct);
        assert_int_equal(RAND_bytes(iv, sizeof(iv)), 1);
        assert_int_equal(keycrypt_legacy_encrypt("s3cret", iv, der, (size_t)derlen, &ct, &ctlen),
                         0);
        if (keycrypt_legacy_decrypt("wrong", iv, ct, ctlen, &pt, &ptlen) == 0) {
            found = true;
            free(pt);
        }
    }
    assert_true(found);
    hex_encode(iv, sizeof(iv), iv_hex);
    snprintf(hdr, sizeof(hdr), "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,%s\n", iv_hex);
    block = pem_block("ENCRYPTED PRIVATE KEY", hdr, ct, (long)ctlen);
    body = catn(2, c1, block);
    assert_int_equal(parse_n(body, strlen(body), time(NULL), secrets, 2, &u, &err), 0);
    assert_int_equal(u->key_der_len, (size_t)derlen);
    assert_memory_equal(u->key_der, der, (size_t)derlen);
    certinfo_upload_free(u);
    assert_int_equal(parse_n(body, strlen(body), time(NULL), secrets, 1, &u, &err), -1);
    assert_string_equal(err, MSG_DECRYPT);
    free(err);
    free(body);
    free(block);
    free(ct);
    OPENSSL_free(der);
    free(c1);
    free(k1);
}

/* A key encrypted by OpenSSL itself in the RFC 1423 form (`openssl pkey -traditional -aes256`). */
static void test_legacy_key_from_openssl_cli(void **state)
{
    char cmd[1024];
    char path[700];
    char *c1 = pki("client1.crt");
    char *k1 = pki("client1.key");
    char *enc;
    char *body;
    const unsigned char *p;
    EVP_PKEY *want;
    EVP_PKEY *got;
    BIO *in = BIO_new_mem_buf(k1, -1);
    struct cert_upload *u;

    snprintf(path, sizeof(path), "%s/legacy_cli.key", tmpdir);
    snprintf(cmd, sizeof(cmd),
             "openssl pkey -in '%s' -traditional -aes256 -passout pass:s3cret -out '%s'",
             pki_path("client1.key"), path);
    assert_int_equal(tu_sh(cmd, tmpdir), 0);
    enc = slurp(path, NULL);
    assert_non_null(strstr(enc, "DEK-Info: AES-256-CBC,"));
    body = catn(2, c1, enc);
    u = upload_ok(body);
    /* SEC1 DER of the same key. */
    p = u->key_der;
    got = d2i_AutoPrivateKey(NULL, &p, (long)u->key_der_len);
    assert_non_null(got);
    want = PEM_read_bio_PrivateKey(in, NULL, NULL, NULL);
    assert_non_null(want);
    assert_int_equal(EVP_PKEY_eq(got, want), 1);
    EVP_PKEY_free(got);
    EVP_PKEY_free(want);
    certinfo_upload_free(u);
    free(body);
    free(enc);
    BIO_free(in);
    free(c1);
    free(k1);
}

/* ---- metadata ---- */

/* Field, value pairs: every pkix.Name field, a repeat, non-ASCII, a multi-valued RDN. */
/* clang-format off */
static const char *const rich_subject[] = {
    "C", "DE", "O", "Org One", "O", "Müller GmbH", "OU", "Unit", "L", "Berlin",
    "ST", "Berlin State", "street", "Street 1", "postalCode", "10115",
    "serialNumber", "SN42", "CN", "rich.example", "+emailAddress", "a@b.example", NULL};
/* clang-format on */
static const char rich_name_json[] =
    "{\"Country\":[\"DE\"],\"Organization\":[\"Org One\",\"Müller GmbH\"],"
    "\"OrganizationalUnit\":[\"Unit\"],\"Locality\":[\"Berlin\"],"
    "\"Province\":[\"Berlin State\"],\"StreetAddress\":[\"Street 1\"],"
    "\"PostalCode\":[\"10115\"],\"SerialNumber\":\"SN42\",\"CommonName\":\"rich.example\","
    "\"Names\":[{\"Type\":[2,5,4,6],\"Value\":\"DE\"},"
    "{\"Type\":[2,5,4,10],\"Value\":\"Org One\"},"
    "{\"Type\":[2,5,4,10],\"Value\":\"Müller GmbH\"},"
    "{\"Type\":[2,5,4,11],\"Value\":\"Unit\"},{\"Type\":[2,5,4,7],\"Value\":\"Berlin\"},"
    "{\"Type\":[2,5,4,8],\"Value\":\"Berlin State\"},"
    "{\"Type\":[2,5,4,9],\"Value\":\"Street 1\"},"
    "{\"Type\":[2,5,4,17],\"Value\":\"10115\"},{\"Type\":[2,5,4,5],\"Value\":\"SN42\"},"
    "{\"Type\":[2,5,4,3],\"Value\":\"rich.example\"},"
    "{\"Type\":[1,2,840,113549,1,9,1],\"Value\":\"a@b.example\"}],\"ExtraNames\":null}";

static void test_meta_pkix_name(void **state)
{
    const struct cert_spec spec = {rich_subject, "20260102030405Z", "20600102030405Z", true,
                                   "DNS:a.example,IP:10.0.0.1,DNS:b.example"};
    char *pem = make_cert(&spec, NULL);
    char fp[65];
    char *got;
    json_t *meta = certinfo_meta(pem, strlen(pem));

    assert_non_null(meta);
    cert_sha(pem, fp);
    assert_json_key_str(meta, "fingerprint", fp);
    got = dump(json_object_get(meta, "subject"));
    assert_string_equal(got, rich_name_json);
    free(got);
    got = dump(json_object_get(meta, "issuer"));
    assert_string_equal(got, rich_name_json);
    free(got);
    assert_json_key_str(meta, "subject_cn", "rich.example");
    assert_json_key_str(meta, "issuer_cn", "rich.example");
    got = dump(json_object_get(meta, "dns_names"));
    assert_string_equal(got, "[\"a.example\",\"b.example\"]");
    free(got);
    /* UTCTime before 2050, GeneralizedTime after: both as RFC 3339 UTC. */
    assert_json_key_str(meta, "not_before", "2026-01-02T03:04:05Z");
    assert_json_key_str(meta, "not_after", "2060-01-02T03:04:05Z");
    assert_true(json_is_true(json_object_get(meta, "is_ca")));
    /* Key order of the object itself. */
    got = dump(meta);
    assert_memory_equal(got, "{\"fingerprint\":", 15);
    assert_non_null(strstr(got, "\"not_after\":\"2060-01-02T03:04:05Z\",\"is_ca\":true}"));
    free(got);
    json_decref(meta);
    free(pem);
}

static void test_meta_empty_name(void **state)
{
    const struct cert_spec spec = {NULL, "20260102030405Z", "20300102030405Z", false, NULL};
    static const char want_name[] =
        "{\"Country\":null,\"Organization\":null,\"OrganizationalUnit\":null,\"Locality\":null,"
        "\"Province\":null,\"StreetAddress\":null,\"PostalCode\":null,\"SerialNumber\":\"\","
        "\"CommonName\":\"\",\"Names\":null,\"ExtraNames\":null}";
    char *pem = make_cert(&spec, NULL);
    json_t *meta = certinfo_meta(pem, strlen(pem));
    char *got;

    assert_non_null(meta);
    got = dump(json_object_get(meta, "subject"));
    assert_string_equal(got, want_name);
    free(got);
    assert_json_key_str(meta, "subject_cn", "");
    assert_int_equal(json_array_size(json_object_get(meta, "dns_names")), 0);
    assert_true(json_is_false(json_object_get(meta, "is_ca")));
    json_decref(meta);
    free(pem);
}

static void test_meta_test_pki(void **state)
{
    char *server = pki("server.crt");
    char *ca = pki("ca.crt");
    char *self = pki("selfsigned.crt");
    char *got;
    json_t *m;

    m = certinfo_meta(server, strlen(server));
    assert_non_null(m);
    got = dump(json_object_get(m, "dns_names"));
    assert_string_equal(got, "[\"localhost\",\"api.local\"]");
    free(got);
    got = dump(json_object_get(m, "subject"));
    assert_string_equal(got, "{\"Country\":null,\"Organization\":[\"certbound tests\"],"
                             "\"OrganizationalUnit\":null,\"Locality\":null,\"Province\":null,"
                             "\"StreetAddress\":null,\"PostalCode\":null,\"SerialNumber\":\"\","
                             "\"CommonName\":\"localhost\",\"Names\":[{\"Type\":[2,5,4,10],"
                             "\"Value\":\"certbound tests\"},{\"Type\":[2,5,4,3],"
                             "\"Value\":\"localhost\"}],\"ExtraNames\":null}");
    free(got);
    assert_true(json_is_false(json_object_get(m, "is_ca")));
    json_decref(m);

    m = certinfo_meta(ca, strlen(ca));
    assert_non_null(m);
    assert_true(json_is_true(json_object_get(m, "is_ca")));
    assert_json_key_str(m, "subject_cn", "certbound test CA A");
    json_decref(m);

    m = certinfo_meta(self, strlen(self));
    assert_non_null(m);
    assert_true(json_is_false(json_object_get(m, "is_ca")));
    assert_json_key_str(m, "issuer_cn", "selfsigned");
    json_decref(m);
    free(server);
    free(ca);
    free(self);
}

static void test_meta_and_chain_refusals(void **state)
{
    static const unsigned char junk[] = "junk";
    char *k1 = pki("client1.key");
    char *c1 = pki("client1.crt");
    char *bad = pem_block("CERTIFICATE", "", junk, 4);
    char *bad_then_good = catn(2, bad, c1);
    char *good_then_bad = catn(2, c1, bad);
    char *copy;
    json_t *m;

    assert_null(certinfo_meta(NULL, 0));
    assert_null(certinfo_meta("garbage", 7));
    assert_null(certinfo_meta(k1, strlen(k1)));
    assert_null(certinfo_meta(bad_then_good, strlen(bad_then_good)));
    assert_null(certinfo_load_chain(NULL, 0));
    assert_null(certinfo_load_chain(k1, strlen(k1)));
    assert_null(certinfo_load_chain(good_then_bad, strlen(good_then_bad)));

    /* Exact-size buffer, no NUL: the length is honoured. */
    copy = malloc(strlen(c1));
    assert_non_null(copy);
    memcpy(copy, c1, strlen(c1));
    m = certinfo_meta(copy, strlen(c1));
    assert_non_null(m);
    json_decref(m);
    /* Cut before the END line: no certificate. */
    assert_null(certinfo_meta(copy, strlen(c1) - 30));
    free(copy);
    free(k1);
    free(c1);
    free(bad);
    free(bad_then_good);
    free(good_then_bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_cert_id),
        cmocka_unit_test(test_chain_id_is_first),
        cmocka_unit_test(test_x509_sha256_matches_cli),
        cmocka_unit_test(test_cert_and_key),
        cmocka_unit_test(test_sec1_ec_key),
        cmocka_unit_test(test_key_mismatch),
        cmocka_unit_test(test_unparseable_key),
        cmocka_unit_test(test_multiple_keys_document_order),
        cmocka_unit_test(test_no_certificate),
        cmocka_unit_test(test_bad_x509),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_public_key),
        cmocka_unit_test(test_public_key_last_wins_and_combinations),
        cmocka_unit_test(test_other_blocks_ignored),
        cmocka_unit_test(test_every_prefix),
        cmocka_unit_test(test_body_size_limit),
        cmocka_unit_test(test_legacy_encrypted_key_import),
        cmocka_unit_test(test_legacy_encrypted_key_failures),
        cmocka_unit_test(test_legacy_wrong_secret_with_valid_padding),
        cmocka_unit_test(test_legacy_key_from_openssl_cli),
        cmocka_unit_test(test_meta_pkix_name),
        cmocka_unit_test(test_meta_empty_name),
        cmocka_unit_test(test_meta_test_pki),
        cmocka_unit_test(test_meta_and_chain_refusals),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
