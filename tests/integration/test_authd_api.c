/*
 * test_authd_api: the built certbound-authd driven over HTTP and RPC against a real Redis
 * (private) and PostgreSQL (the fixture's cluster, a fresh database). One test per spec
 * scenario (§11, number in the name) plus bad input, API definitions and RPC checks.
 * Where DESIGN.md deviates from Tyk, the test asserts DESIGN and says so.
 * Usage: test_authd_api [glob] — run only the tests whose names match.
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
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "common/certinfo.h"
#include "common/keycrypt.h"
#include "common/strutil.h"
#include "common/token.h"
#include "tests/harness/testutil.h"

static void assert_json_eq(const json_t *got, const char *want_text);

static struct tu_redis redis;
static struct tu_authd authd;
static char *conninfo;

/* ---- fixtures ---- */

static int group_setup(void **state)
{
    tu_redis_start(&redis);
    conninfo = tu_pg_create_db("cb_api");
    tu_authd_start(&authd, &redis, conninfo, NULL);
    return 0;
}

static int group_teardown(void **state)
{
    tu_authd_stop(&authd);
    tu_redis_stop(&redis);
    tu_pg_drop_db(conninfo);
    return 0;
}

/* ---- helpers ---- */

static char *cat2(const char *a, const char *b)
{
    return xasprintf("%s\n%s", a, b);
}

static int upload(const char *org, const char *body, json_t **reply)
{
    char *path = org != NULL ? xasprintf("/tyk/certs?org_id=%s", org) : xstrdup("/tyk/certs");
    int code = tu_admin(&authd, "POST", path, body, reply);

    free(path);
    return code;
}

static void expect_upload_error(const char *body, const char *msg_prefix)
{
    json_t *j = NULL;

    assert_int_equal(upload(NULL, body, &j), 403);
    tu_assert_json_str(j, "status", "error");
    if (strncmp(json_string_value(json_object_get(j, "message")), msg_prefix,
                strlen(msg_prefix)) != 0)
        fail_msg("message %s does not start with %s",
                 json_string_value(json_object_get(j, "message")), msg_prefix);
    json_decref(j);
}

static PGresult *pg_query1(const char *sql, const char *param)
{
    PGconn *pg = tu_pg_connect(conninfo);
    const char *vals[1] = {param};
    PGresult *res = PQexecParams(pg, sql, param != NULL ? 1 : 0, NULL, vals, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("query failed: %s", PQerrorMessage(pg));
    PQfinish(pg);
    return res;
}

static void delete_cert(const char *id)
{
    char *path = xasprintf("/tyk/certs/%s", id);

    assert_int_equal(tu_admin(&authd, "DELETE", path, NULL, NULL), 200);
    free(path);
}

/* ---- A. certificate store ---- */

static void s01_upload_single_cert(void **state)
{
    char *pem = tu_pki_text("client1.crt"), *sha = tu_pki_sha("client1.crt");
    json_t *j = NULL;
    PGresult *res;

    assert_int_equal(upload(NULL, pem, &j), 200);
    tu_assert_json_str(j, "id", sha);
    tu_assert_json_str(j, "status", "ok");
    tu_assert_json_str(j, "message", "Certificate added");
    /* DESIGN §5: the store is PostgreSQL (Tyk: Redis cert-raw-<id>). */
    res = pg_query1("SELECT pem, org_id, key_envelope IS NULL FROM certificates WHERE id = $1", sha);
    assert_int_equal(PQntuples(res), 1);
    assert_non_null(strstr(PQgetvalue(res, 0, 0), "-----BEGIN CERTIFICATE-----"));
    assert_string_equal(PQgetvalue(res, 0, 1), "");
    assert_string_equal(PQgetvalue(res, 0, 2), "t");
    PQclear(res);
    delete_cert(sha);
    json_decref(j);
    free(pem);
    free(sha);
}

static void s02_upload_with_org(void **state)
{
    char *pem = tu_pki_text("client1.crt"), *sha = tu_pki_sha("client1.crt"), *id = xasprintf("default%s", sha);
    json_t *j = NULL, *l = NULL;

    assert_int_equal(upload("default", pem, &j), 200);
    tu_assert_json_str(j, "id", id);
    assert_int_equal(tu_admin(&authd, "GET", "/tyk/certs?org_id=default", NULL, &l), 200);
    {
        char *want = xasprintf("[\"%s\"]", id);

        assert_json_eq(json_object_get(l, "certs"), want);
        free(want);
    }
    delete_cert(id);
    json_decref(j);
    json_decref(l);
    free(pem);
    free(sha);
    free(id);
}

static void s03_upload_cert_and_key(void **state)
{
    char *crt = tu_pki_text("client2.crt"), *key = tu_pki_text("client2.key"), *body = cat2(crt, key);
    char *sha = tu_pki_sha("client2.crt"), *path = xasprintf("/tyk/certs/%s", sha);
    json_t *j = NULL;
    PGresult *res;

    assert_int_equal(upload(NULL, body, &j), 200);
    tu_assert_json_str(j, "id", sha);
    json_decref(j);
    res = pg_query1("SELECT pem, encode(key_envelope, 'hex') FROM certificates WHERE id = $1", sha);
    assert_int_equal(PQntuples(res), 1);
    /* DESIGN §5 deviation: the key is an AES-256-GCM envelope ("CBK" = 43424b), not an
     * RFC 1423 PEM block, and the stored PEM never holds it. */
    assert_null(strstr(PQgetvalue(res, 0, 0), "PRIVATE KEY"));
    assert_true(str_has_prefix(PQgetvalue(res, 0, 1), "43424b"));
    PQclear(res);
    assert_int_equal(tu_admin(&authd, "GET", path, NULL, &j), 200);
    assert_true(json_is_true(json_object_get(j, "has_private")));
    assert_null(json_object_get(j, "private_key"));
    json_decref(j);
    delete_cert(sha);
    free(crt);
    free(key);
    free(body);
    free(sha);
    free(path);
}

static void s04_upload_mismatched_key(void **state)
{
    char *crt = tu_pki_text("client1.crt"), *key = tu_pki_text("client2.key"), *body = cat2(crt, key);
    char *sha = tu_pki_sha("client1.crt");
    PGresult *res;

    expect_upload_error(body, "tls: private key does not match public key");
    res = pg_query1("SELECT 1 FROM certificates WHERE id = $1", sha);
    assert_int_equal(PQntuples(res), 0);
    PQclear(res);
    free(crt);
    free(key);
    free(body);
    free(sha);
}

static void s05_duplicate_upload(void **state)
{
    char *pem = tu_pki_text("client3.crt"), *sha = tu_pki_sha("client3.crt");
    char *msg = xasprintf("Certificate with default%s id already exists", sha);
    char *id1 = xasprintf("default%s", sha), *id2 = xasprintf("other%s", sha);
    json_t *j = NULL;

    assert_int_equal(upload("default", pem, NULL), 200);
    assert_int_equal(upload("default", pem, &j), 403);
    tu_assert_json_str(j, "message", msg);
    json_decref(j);
    assert_int_equal(upload("other", pem, NULL), 200);
    delete_cert(id1);
    delete_cert(id2);
    free(pem);
    free(sha);
    free(msg);
    free(id1);
    free(id2);
}

static void s06_not_pem(void **state)
{
    char *key = tu_pki_text("client1.key");
    static const char *msg = "Failed to decode certificate. It should be PEM encoded.";

    expect_upload_error("", msg);
    expect_upload_error(key, msg);
    expect_upload_error("this is not PEM at all", msg);
    free(key);
}

static void s07_invalid_x509(void **state)
{
    expect_upload_error("-----BEGIN CERTIFICATE-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOC\n"
                        "-----END CERTIFICATE-----\n",
                        "x509:");
}

static void s08_expired_cert(void **state)
{
    char *pem = tu_pki_text("expired.crt");

    expect_upload_error(pem, "certificate is expired");
    free(pem);
}

static void s09_public_key(void **state)
{
    char *pub = tu_pki_text("pub.pem"), *path;
    json_t *j = NULL;
    const char *id;
    char *cn;

    assert_int_equal(upload(NULL, pub, &j), 200);
    id = json_string_value(json_object_get(j, "id"));
    assert_int_equal(strlen(id), 64);
    path = xasprintf("/tyk/certs/%s", id);
    cn = xasprintf("Public Key: %s", id);
    {
        json_t *m = NULL;

        assert_int_equal(tu_admin(&authd, "GET", path, NULL, &m), 200);
        tu_assert_json_str(m, "fingerprint", "");
        assert_true(json_is_false(json_object_get(m, "has_private")));
        tu_assert_json_str(json_object_get(m, "subject"), "CommonName", cn);
        json_decref(m);
    }
    delete_cert(id);
    json_decref(j);
    free(path);
    free(cn);
    free(pub);
}

static void s10_combinations(void **state)
{
    char *pub = tu_pki_text("pub.pem"), *crt = tu_pki_text("client1.crt"), *k1 = tu_pki_text("client1.key");
    char *k2 = tu_pki_text("client2.key"), *a = cat2(pub, crt), *b1 = cat2(crt, k1), *b = cat2(b1, k2);

    expect_upload_error(a, "Public keys can't be combined with certificates");
    expect_upload_error(b, "Found multiple private keys");
    free(pub);
    free(crt);
    free(k1);
    free(k2);
    free(a);
    free(b1);
    free(b);
}

static void s11_chain_fingerprint(void **state)
{
    char *chain = tu_pki_text("chain_client1.pem"), *leaf = tu_pki_sha("client1.crt"), *path;
    json_t *j = NULL;

    assert_int_equal(upload("chain", chain, &j), 200);
    json_decref(j);
    path = xasprintf("/tyk/certs/chain%s", leaf);
    assert_int_equal(tu_admin(&authd, "GET", path, NULL, &j), 200);
    /* DESIGN §6 deviation: the fingerprint is the leaf's (Tyk: the last cert's). */
    tu_assert_json_str(j, "fingerprint", leaf);
    json_decref(j);
    free(path);
    path = xasprintf("chain%s", leaf);
    delete_cert(path);
    free(path);
    free(chain);
    free(leaf);
}

static void s12_list_by_org(void **state)
{
    char *c1 = tu_pki_text("client1.crt"), *c2 = tu_pki_text("client2.crt");
    char *s1 = tu_pki_sha("client1.crt"), *s2 = tu_pki_sha("client2.crt");
    char *i1 = xasprintf("1%s", s1), *i2 = xasprintf("1%s", s2);
    json_t *j = NULL, *want = json_pack("{s:[s,s]}", "certs", i1, i2);


    assert_int_equal(tu_admin(&authd, "GET", "/tyk/certs?org_id=1", NULL, &j), 200);
    /* DESIGN §6 deviation: an empty list is [] (Tyk: null). */
    assert_json_eq(j, "{\"certs\":[]}");
    json_decref(j);
    assert_int_equal(upload("1", c1, NULL), 200);
    assert_int_equal(upload("1", c2, NULL), 200);
    assert_int_equal(tu_admin(&authd, "GET", "/tyk/certs?org_id=1", NULL, &j), 200);
    assert_true(json_equal(j, want));
    json_decref(j);
    delete_cert(i1);
    delete_cert(i2);
    json_decref(want);
    free(c1);
    free(c2);
    free(s1);
    free(s2);
    free(i1);
    free(i2);
}

static void s13_list_detailed(void **state)
{
    char *ca = tu_pki_text("ca.crt"), *sca = tu_pki_sha("ca.crt"), *id = xasprintf("1%s", sca);
    json_t *j = NULL, *e;
    static const char *const keys[] = {"id", "issuer_cn", "subject_cn", "dns_names",
                                       "has_private", "not_before", "not_after", "is_ca"};

    assert_int_equal(upload("1", ca, NULL), 200);
    assert_int_equal(tu_admin(&authd, "GET", "/tyk/certs?org_id=1&mode=detailed", NULL, &j), 200);
    assert_int_equal(json_array_size(json_object_get(j, "certs")), 1);
    e = json_array_get(json_object_get(j, "certs"), 0);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (json_object_get(e, keys[i]) == NULL)
            fail_msg("detailed entry lacks %s", keys[i]);
    assert_true(json_is_true(json_object_get(e, "is_ca")));
    tu_assert_json_str(e, "id", id);
    json_decref(j);
    delete_cert(id);
    free(ca);
    free(sca);
    free(id);
}

static void s14_get_unknown_and_multi(void **state)
{
    char *pem = tu_pki_text("client1.crt"), *sha = tu_pki_sha("client1.crt");
    char *multi = xasprintf("/tyk/certs/%s,%s", sha, "deadbeef");
    json_t *j = NULL;

    assert_int_equal(tu_admin(&authd, "GET", "/tyk/certs/deadbeef", NULL, &j), 404);
    tu_assert_json_str(j, "message", "Certificate with given SHA256 fingerprint not found");
    json_decref(j);
    assert_int_equal(upload(NULL, pem, NULL), 200);
    assert_int_equal(tu_admin(&authd, "GET", multi, NULL, &j), 200);
    assert_int_equal(json_array_size(j), 2);
    tu_assert_json_str(json_array_get(j, 0), "id", sha);
    assert_true(json_is_null(json_array_get(j, 1)));
    json_decref(j);
    delete_cert(sha);
    free(pem);
    free(sha);
    free(multi);
}

static void s15_delete(void **state)
{
    char *pem = tu_pki_text("client1.crt"), *sha = tu_pki_sha("client1.crt"), *id = xasprintf("1%s", sha);
    char *path = xasprintf("/tyk/certs/%s?org_id=1", id), *get = xasprintf("/tyk/certs/%s", id);
    json_t *j = NULL;

    assert_int_equal(upload("1", pem, NULL), 200);
    for (int i = 0; i < 2; i++) { /* existing, then absent: both 200 */
        assert_int_equal(tu_admin(&authd, "DELETE", path, NULL, &j), 200);
        assert_json_eq(j, "{\"status\":\"ok\",\"message\":\"removed\"}");
        json_decref(j);
    }
    assert_int_equal(tu_admin(&authd, "GET", get, NULL, NULL), 404);
    assert_int_equal(tu_admin(&authd, "GET", "/tyk/certs?org_id=1", NULL, &j), 200);
    assert_int_equal(json_array_size(json_object_get(j, "certs")), 0);
    json_decref(j);
    free(pem);
    free(sha);
    free(id);
    free(path);
    free(get);
}

static void s16_admin_secret_required(void **state)
{
    static const char *const paths[] = {"/tyk/certs", "/tyk/certs/abc", "/tyk/keys", "/tyk/apis"};
    const char *wrong[] = {"X-Tyk-Authorization: nope", NULL};
    char *resp = NULL;
    json_t *j;

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        for (int w = 0; w < 2; w++) {
            assert_int_equal(tu_http(&authd, "GET", paths[i], w ? wrong : NULL, NULL, 0, &resp),
                             403);
            j = tu_json(resp);
            tu_assert_json_str(j, "message",
                               "Attempted administrative access with invalid or missing key!");
            json_decref(j);
            free(resp);
        }
    }
}

/* ---- B. private-key encryption ---- */

static unsigned char *key_der(const char *name, size_t *len)
{
    char *pem = tu_pki_text(name);
    BIO *b = BIO_new_mem_buf(pem, -1);
    char *nm = NULL, *hdr = NULL;
    unsigned char *data = NULL, *out;
    long n = 0;

    assert_int_equal(PEM_read_bio(b, &nm, &hdr, &data, &n), 1);
    out = xmemdup(data, (size_t)n);
    *len = (size_t)n;
    OPENSSL_free(nm);
    OPENSSL_free(hdr);
    OPENSSL_free(data);
    BIO_free(b);
    free(pem);
    return out;
}

static unsigned char *stored_envelope(const char *id, size_t *len)
{
    PGresult *res = pg_query1("SELECT encode(key_envelope, 'hex') FROM certificates WHERE id = $1", id);
    const char *hex;
    unsigned char *env;

    assert_int_equal(PQntuples(res), 1);
    hex = PQgetvalue(res, 0, 0);
    env = xmalloc(strlen(hex) / 2 + 1);
    assert_int_equal(hex_decode(hex, strlen(hex), env, strlen(hex) / 2, len), 0);
    PQclear(res);
    return env;
}

static void s17_key_encryption_at_rest(void **state)
{
    char *crt = tu_pki_text("client3.crt"), *key = tu_pki_text("client3.key"), *body = cat2(crt, key);
    char *sha = tu_pki_sha("client3.crt");
    const char *secrets[] = {"s3cret"};
    unsigned char *want, *env, *pt = NULL;
    size_t wlen, elen, plen;
    const char *err = NULL;

    want = key_der("client3.key", &wlen);
    assert_int_equal(upload(NULL, body, NULL), 200);
    env = stored_envelope(sha, &elen);
    /* The stored bytes hold no plaintext key... */
    assert_null(memmem(env, elen, want, wlen));
    /* ...and open, with the secret and the certificate id as AAD, to the uploaded key. */
    assert_int_equal(keycrypt_open(secrets, 1, sha, env, elen, &pt, &plen, NULL, &err), 0);
    assert_int_equal(plen, wlen);
    assert_memory_equal(pt, want, wlen);
    assert_int_equal(keycrypt_open(secrets, 1, "another-id", env, elen, &pt, &plen, NULL, &err), -1);
    delete_cert(sha);
    free(pt);
    free(env);
    free(want);
    free(crt);
    free(key);
    free(body);
    free(sha);
}

static void s17_legacy_encrypted_key_import(void **state)
{
    char *crt = tu_pki_text("client1.crt"), *sha = tu_pki_sha("client1.crt"), *b64, *body;
    const char *secrets[] = {"s3cret"};
    unsigned char iv[16], *der, *enc = NULL, *env, *pt = NULL;
    size_t dlen, elen, envlen, plen;
    const char *err = NULL;
    char ivhex[33];
    BIO *b, *b64f, *mem;
    BUF_MEM *bm;

    /* Build Tyk's legacy form (spec §2) with the configured secret. */
    der = key_der("client1.key", &dlen);
    assert_int_equal(random_bytes(iv, sizeof(iv)), 0);
    hex_encode(iv, sizeof(iv), ivhex);
    assert_int_equal(keycrypt_legacy_encrypt("s3cret", iv, der, dlen, &enc, &elen), 0);
    mem = BIO_new(BIO_s_mem());
    b64f = BIO_new(BIO_f_base64());
    b = BIO_push(b64f, mem);
    BIO_write(b, enc, (int)elen);
    assert_int_equal(BIO_flush(b), 1);
    BIO_get_mem_ptr(mem, &bm);
    b64 = xstrndup(bm->data, bm->length);
    BIO_free_all(b);
    body = xasprintf("%s\n-----BEGIN ENCRYPTED PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n"
                     "DEK-Info: AES-256-CBC,%s\n\n%s-----END ENCRYPTED PRIVATE KEY-----\n",
                     crt, ivhex, b64);
    assert_int_equal(upload(NULL, body, NULL), 200);
    env = stored_envelope(sha, &envlen);
    assert_int_equal(keycrypt_open(secrets, 1, sha, env, envlen, &pt, &plen, NULL, &err), 0);
    assert_int_equal(plen, dlen);
    assert_memory_equal(pt, der, dlen);
    delete_cert(sha);
    free(pt);
    free(env);
    free(enc);
    free(der);
    free(b64);
    free(body);
    free(crt);
    free(sha);
}

static void s18_encoding_secret_required(void **state)
{
    char *out = NULL;
    int rc;

    /* DESIGN §3 makes the encoding secret required (Tyk falls back to `secret`). */
    rc = tu_authd_run(&authd, "{\"security\":{\"private_certificate_encoding_secret\":\"\"}}",
                      (const char *const[]){"--check-config", NULL}, &out);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(out, "security.private_certificate_encoding_secret"));
    assert_null(strstr(out, "s3cret"));
    free(out);
}

static void s19_wrong_secret_then_rotation(void **state)
{
    char *crt = tu_pki_text("client2.crt"), *key = tu_pki_text("client2.key"), *body = cat2(crt, key);
    char *sha = tu_pki_sha("client2.crt"), *path = xasprintf("/tyk/certs/%s", sha);
    struct tu_authd other;
    json_t *j = NULL, *res = NULL, *err = NULL;
    char *out = NULL;
    int fd;

    assert_int_equal(upload(NULL, body, NULL), 200);
    /* A second authd on the same stores with another secret: the key is unusable, said
     * loudly, and nothing crashes. */
    tu_authd_start(&other, &redis, conninfo,
                   "{\"security\":{\"private_certificate_encoding_secret\":\"new-secret\"}}");
    assert_int_equal(tu_admin(&other, "GET", path, NULL, &j), 200);
    assert_true(json_is_false(json_object_get(j, "has_private")));
    json_decref(j);
    assert_true(tu_authd_log_contains(&other, "private key unusable"));
    fd = tu_rpc_connect(&other);
    assert_int_equal(tu_rpc_call(fd, "certs.get", json_pack("{s:[s],s:b}", "ids", sha, "private", 1),
                                 &res, &err), 0);
    assert_null(json_object_get(json_array_get(json_object_get(res, "certs"), 0), "private_key_pem"));
    json_decref(res);
    close(fd);
    tu_authd_stop(&other);
    /* Rotation: the old secret as a previous one opens it; rekey moves it to the new one. */
    tu_authd_start(&other, &redis, conninfo,
                   "{\"security\":{\"private_certificate_encoding_secret\":\"new-secret\","
                   "\"previous_private_certificate_encoding_secrets\":[\"s3cret\"]}}");
    assert_int_equal(tu_admin(&other, "GET", path, NULL, &j), 200);
    assert_true(json_is_true(json_object_get(j, "has_private")));
    json_decref(j);
    assert_int_equal(tu_authd_run(&other,
                                  "{\"security\":{\"private_certificate_encoding_secret\":"
                                  "\"new-secret\",\"previous_private_certificate_encoding_"
                                  "secrets\":[\"s3cret\"]}}",
                                  (const char *const[]){"rekey", NULL}, &out),
                     0);
    assert_non_null(strstr(out, "1 re-encrypted"));
    free(out);
    tu_authd_stop(&other);
    tu_authd_start(&other, &redis, conninfo,
                   "{\"security\":{\"private_certificate_encoding_secret\":\"new-secret\"}}");
    assert_int_equal(tu_admin(&other, "GET", path, NULL, &j), 200);
    assert_true(json_is_true(json_object_get(j, "has_private")));
    json_decref(j);
    tu_authd_stop(&other);
    delete_cert(sha);
    free(crt);
    free(key);
    free(body);
    free(sha);
    free(path);
}

/* ---- D. keys bound to certificates ---- */

static void assert_json_eq(const json_t *got, const char *want_text)
{
    json_t *want = tu_json(want_text);

    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);

        fail_msg("want %s, got %s", want_text, g != NULL ? g : "NULL");
    }
    json_decref(want);
}

static char *b64_token(const char *json)
{
    size_t n = strlen(json);
    char *out = xmalloc(4 * ((n + 2) / 3) + 1);

    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)json, (int)n);
    return out;
}

static char *key_body(const char *org, const char *cert, const char *extra)
{
    return xasprintf("{\"org_id\":\"%s\",\"certificate\":\"%s\",\"access_rights\":"
                     "{\"api-d\":{\"api_id\":\"api-d\",\"versions\":[\"Default\"]}}%s}",
                     org, cert, extra != NULL ? extra : "");
}

static void s36_create_key_for_certificate(void **state)
{
    char *pem = tu_pki_text("client1.crt"), *sha = tu_pki_sha("client1.crt"), *id = xasprintf("default%s", sha);
    char *body = key_body("default", id, NULL), *want_json, *want;
    struct tu_authd m;
    json_t *j = NULL;

    /* With hash_key_function murmur64 the key is base64 of the org/id/h JSON (spec §4.2). */
    tu_authd_start(&m, &redis, conninfo, "{\"hash_key_function\":\"murmur64\"}");
    assert_int_equal(upload("default", pem, NULL), 200);
    want_json = xasprintf("{\"org\":\"default\",\"id\":\"%s\",\"h\":\"murmur64\"}", sha);
    want = b64_token(want_json);
    assert_int_equal(tu_admin(&m, "POST", "/tyk/keys/create", body, &j), 200);
    tu_assert_json_str(j, "key", want);
    tu_assert_json_str(j, "status", "ok");
    tu_assert_json_str(j, "action", "added");
    json_decref(j);
    tu_authd_stop(&m);
    free(want_json);
    free(want);
    /* With hash_key_function "" the key is the certificate id itself. */
    tu_authd_start(&m, &redis, conninfo, "{\"hash_key_function\":\"\",\"hash_keys\":false}");
    assert_int_equal(tu_admin(&m, "POST", "/tyk/keys/create", body, &j), 200);
    tu_assert_json_str(j, "key", id);
    assert_null(json_object_get(j, "key_hash"));
    json_decref(j);
    tu_authd_stop(&m);
    delete_cert(id);
    free(pem);
    free(sha);
    free(id);
    free(body);
}

static void s37_create_key_twice(void **state)
{
    char *sha = tu_pki_sha("client2.crt"), *id = xasprintf("default%s", sha);
    char *body = key_body("default", id, NULL), *msg;
    json_t *j = NULL;
    const char *key;

    assert_int_equal(tu_admin(&authd, "POST", "/tyk/keys/create", body, &j), 200);
    key = json_string_value(json_object_get(j, "key"));
    msg = xasprintf("Failed to create key - Key with given certificate already found:%s", key);
    json_decref(j);
    assert_int_equal(tu_admin(&authd, "POST", "/tyk/keys/create", body, &j), 500);
    tu_assert_json_str(j, "message", msg);
    json_decref(j);
    free(msg);
    free(sha);
    free(id);
    free(body);
}

static void s45_put_certificate_rules(void **state)
{
    char *c1 = tu_pki_text("client1.crt"), *c2 = tu_pki_text("client2.crt");
    char *s1 = tu_pki_sha("client1.crt"), *s2 = tu_pki_sha("client2.crt");
    char *id1 = xasprintf("k45%s", s1), *id2 = xasprintf("k45%s", s2);
    char *body = key_body("k45", id1, NULL), *path, *b;
    json_t *j = NULL;

    assert_int_equal(upload("k45", c1, NULL), 200);
    assert_int_equal(upload("k45", c2, NULL), 200);
    assert_int_equal(tu_admin(&authd, "POST", "/tyk/keys/create", body, &j), 200);
    path = xasprintf("/tyk/keys/%s", json_string_value(json_object_get(j, "key")));
    json_decref(j);
    b = key_body("k45", "", NULL);
    assert_int_equal(tu_admin(&authd, "PUT", path, b, &j), 400);
    tu_assert_json_str(j, "message", "Key cannot be used without a certificate");
    json_decref(j);
    free(b);
    b = key_body("k45", "k45unknown", NULL);
    assert_int_equal(tu_admin(&authd, "PUT", path, b, &j), 400);
    tu_assert_json_str(j, "message", "Key must be used with an existent certificate");
    json_decref(j);
    free(b);
    b = key_body("k45", id2, NULL);
    assert_int_equal(tu_admin(&authd, "PUT", path, b, &j), 200);
    tu_assert_json_str(j, "action", "modified");
    json_decref(j);
    free(b);
    assert_int_equal(tu_admin(&authd, "GET", path, NULL, &j), 200);
    tu_assert_json_str(j, "certificate", id2);
    json_decref(j);
    delete_cert(id1);
    delete_cert(id2);
    free(c1);
    free(c2);
    free(s1);
    free(s2);
    free(id1);
    free(id2);
    free(body);
    free(path);
}

/* ---- F. binding validation ---- */

static char *binding_body(const char *org, const char *bindings)
{
    return xasprintf("{\"org_id\":\"%s\",\"access_rights\":{\"a\":{\"api_id\":\"a\"}},"
                     "\"mtls_static_certificate_bindings\":%s}",
                     org, bindings);
}

static void s64_create_with_bindings(void **state)
{
    char *c1 = tu_pki_text("client1.crt"), *s1 = tu_pki_sha("client1.crt"), *id1 = xasprintf("default%s", s1);
    char *b, *list = xasprintf("[\"%s\"]", id1);
    json_t *j = NULL;

    b = binding_body("default", "[\"nonexistent\"]");
    assert_int_equal(tu_admin(&authd, "POST", "/tyk/keys/create", b, &j), 400);
    tu_assert_json_str(j, "message", "invalid certificate ID: nonexistent");
    json_decref(j);
    free(b);
    b = binding_body("", "[\"nonexistent\"]");
    assert_int_equal(tu_admin(&authd, "POST", "/tyk/keys/create", b, &j), 400);
    tu_assert_json_str(j, "message", "certificate not found: nonexistent");
    json_decref(j);
    free(b);
    b = binding_body("", "[\"../../../../etc/passwd\"]"); /* never read as a file */
    assert_int_equal(tu_admin(&authd, "POST", "/tyk/keys/create", b, &j), 400);
    json_decref(j);
    free(b);
    assert_int_equal(upload("default", c1, NULL), 200);
    b = binding_body("default", list);
    assert_int_equal(tu_admin(&authd, "POST", "/tyk/keys/create", b, &j), 200);
    json_decref(j);
    free(b);
    delete_cert(id1);
    free(c1);
    free(s1);
    free(id1);
    free(list);
}

static void s65_put_bindings(void **state)
{
    char *c1 = tu_pki_text("client1.crt"), *s1 = tu_pki_sha("client1.crt"), *id1 = xasprintf("o65%s", s1);
    char *one = xasprintf("[\"%s\"]", id1), *two = xasprintf("[\"%s\",\"o65unknown\"]", id1);
    char *b, *path;
    json_t *j = NULL;

    assert_int_equal(upload("o65", c1, NULL), 200);
    b = binding_body("o65", one);
    assert_int_equal(tu_admin(&authd, "POST", "/tyk/keys", b, &j), 200);
    path = xasprintf("/tyk/keys/%s", json_string_value(json_object_get(j, "key")));
    json_decref(j);
    free(b);
    b = binding_body("o65", two);
    assert_int_equal(tu_admin(&authd, "PUT", path, b, &j), 400);
    tu_assert_json_str(j, "message", "certificate not found: o65unknown");
    json_decref(j);
    free(b);
    delete_cert(id1); /* kept bindings are not re-checked, removals always pass */
    b = binding_body("o65", one);
    assert_int_equal(tu_admin(&authd, "PUT", path, b, NULL), 200);
    free(b);
    b = binding_body("o65", "[]");
    assert_int_equal(tu_admin(&authd, "PUT", path, b, NULL), 200);
    free(b);
    free(c1);
    free(s1);
    free(id1);
    free(one);
    free(two);
    free(path);
}

/* ---- G. hashing and Redis naming ---- */

static bool redis_has(const char *rkey)
{
    redisContext *c = tu_redis_connect(&redis);
    redisReply *r = redisCommand(c, "EXISTS %s", rkey);
    bool yes = r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 1;

    freeReplyObject(r);
    redisFree(c);
    return yes;
}

static void s68_unhashed_redis_name(void **state)
{
    struct tu_authd m;
    json_t *j = NULL;
    char *rkey;

    tu_authd_start(&m, &redis, conninfo, "{\"hash_keys\":false}");
    assert_int_equal(tu_admin(&m, "POST", "/tyk/keys/s68name",
                              "{\"access_rights\":{\"a\":{\"api_id\":\"a\"}}}", &j), 200);
    rkey = xasprintf("apikey-%s", json_string_value(json_object_get(j, "key")));
    assert_true(redis_has(rkey));
    json_decref(j);
    free(rkey);
    tu_authd_stop(&m);
}

static void s69_murmur64_hashed_name(void **state)
{
    struct tu_authd m;
    json_t *j = NULL;
    char h[TOKEN_HASH_HEX_MAX + 1], *rkey;
    const char *key;

    tu_authd_start(&m, &redis, conninfo, "{\"hash_keys\":true,\"hash_key_function\":\"murmur64\"}");
    assert_int_equal(tu_admin(&m, "POST", "/tyk/keys", "{\"org_id\":\"default\",\"access_rights\":"
                              "{\"a\":{\"api_id\":\"a\"}}}", &j), 200);
    key = json_string_value(json_object_get(j, "key"));
    assert_true(str_has_prefix(key, "ey"));
    token_hash_hex(TOKEN_ALGO_MURMUR64, key, strlen(key), h);
    assert_int_equal(strlen(h), 16);
    tu_assert_json_str(j, "key_hash", h);
    rkey = xasprintf("apikey-%s", h);
    assert_true(redis_has(rkey));
    json_decref(j);
    free(rkey);
    tu_authd_stop(&m);
}

static void s70_legacy_key_hash(void **state)
{
    struct tu_authd m;
    json_t *j = NULL;
    char h[TOKEN_HASH_HEX_MAX + 1], *rkey;
    const char *key;

    /* DESIGN §2 deviation: legacy tokens hash with sha256, not Tyk's buggy murmur32. */
    tu_authd_start(&m, &redis, conninfo, "{\"hash_keys\":true,\"hash_key_function\":\"\"}");
    assert_int_equal(tu_admin(&m, "POST", "/tyk/keys", "{\"org_id\":\"default\",\"access_rights\":"
                              "{\"a\":{\"api_id\":\"a\"}}}", &j), 200);
    key = json_string_value(json_object_get(j, "key"));
    assert_true(str_has_prefix(key, "default"));
    token_hash_hex(TOKEN_ALGO_SHA256, key, strlen(key), h);
    tu_assert_json_str(j, "key_hash", h);
    rkey = xasprintf("apikey-%s", h);
    assert_true(redis_has(rkey));
    json_decref(j);
    free(rkey);
    tu_authd_stop(&m);
}

static void s71_short_token_never_found(void **state)
{
    struct tu_authd m;
    redisContext *c = tu_redis_connect(&redis);
    json_t *res = NULL, *err = NULL;
    int fd;

    tu_authd_start(&m, &redis, conninfo, "{\"hash_keys\":false}");
    freeReplyObject(redisCommand(c, "SET apikey-ab {\"org_id\":\"\"}"));
    freeReplyObject(redisCommand(c, "SET apikey-abc {\"org_id\":\"\"}"));
    fd = tu_rpc_connect(&m);
    assert_int_equal(tu_rpc_call(fd, "session.get", json_pack("{s:s}", "key", "ab"), &res, &err), 0);
    assert_true(json_is_false(json_object_get(res, "found")));
    json_decref(res);
    assert_int_equal(tu_rpc_call(fd, "session.get", json_pack("{s:s}", "key", "abc"), &res, &err), 0);
    assert_true(json_is_true(json_object_get(res, "found")));
    json_decref(res);
    close(fd);
    redisFree(c);
    tu_authd_stop(&m);
}

/* ---- keys: read, list, delete, unknown fields ---- */

static void keys_crud_and_unknown_fields(void **state)
{
    json_t *j = NULL;
    char *path, *hpath, *key, *hash;

    assert_int_equal(tu_admin(&authd, "POST", "/tyk/keys",
                              "{\"access_rights\":{\"a\":{\"api_id\":\"a\"}},"
                              "\"x_custom\":{\"kept\":[1,2]},\"meta_data\":{\"team\":\"blue\"}}",
                              &j), 200);
    key = xstrdup(json_string_value(json_object_get(j, "key")));
    hash = xstrdup(json_string_value(json_object_get(j, "key_hash")));
    json_decref(j);
    path = xasprintf("/tyk/keys/%s", key);
    hpath = xasprintf("/tyk/keys/%s?hashed=true", hash);
    assert_int_equal(tu_admin(&authd, "GET", path, NULL, &j), 200);
    assert_json_eq(json_object_get(j, "x_custom"), "{\"kept\":[1,2]}");
    assert_non_null(json_object_get(j, "date_created"));
    json_decref(j);
    assert_int_equal(tu_admin(&authd, "GET", hpath, NULL, &j), 200);
    assert_json_eq(json_object_get(j, "meta_data"), "{\"team\":\"blue\"}");
    json_decref(j);
    assert_int_equal(tu_admin(&authd, "GET", "/tyk/keys", NULL, &j), 200);
    {
        bool found = false;
        size_t i;
        json_t *v;

        json_array_foreach(json_object_get(j, "keys"), i, v)
            found |= strcmp(json_string_value(v), hash) == 0;
        assert_true(found);
    }
    json_decref(j);
    assert_int_equal(tu_admin(&authd, "DELETE", path, NULL, &j), 200);
    tu_assert_json_str(j, "action", "deleted");
    json_decref(j);
    assert_int_equal(tu_admin(&authd, "GET", path, NULL, &j), 404);
    tu_assert_json_str(j, "message", "Key not found");
    json_decref(j);
    assert_int_equal(tu_admin(&authd, "DELETE", path, NULL, &j), 404);
    json_decref(j);
    assert_int_equal(tu_admin(&authd, "PUT", path, "{\"access_rights\":{\"a\":{}}}", &j), 404);
    json_decref(j);
    free(key);
    free(hash);
    free(path);
    free(hpath);
}

static void keys_access_rights_required(void **state)
{
    json_t *j = NULL;

    assert_int_equal(tu_admin(&authd, "POST", "/tyk/keys/create", "{\"org_id\":\"x\"}", &j), 400);
    tu_assert_json_str(j, "message",
                       "Failed to create key, keys must have at least one Access Rights record set.");
    json_decref(j);
}

/* ---- bad input ---- */

static void bad_input_errors(void **state)
{
    const char *h[] = {"X-Tyk-Authorization: test-admin-secret", NULL};
    size_t big = 1024 * 1024 + 10;
    char *body = xmalloc(big), *resp = NULL;
    json_t *j = NULL;

    assert_int_equal(tu_admin(&authd, "POST", "/tyk/keys/create", "{not json", &j), 400);
    tu_assert_json_str(j, "message", "Unmarshalling failed");
    json_decref(j);
    assert_int_equal(tu_admin(&authd, "POST", "/tyk/keys", "[1,2]", &j), 400);
    json_decref(j);
    assert_int_equal(tu_admin(&authd, "POST", "/tyk/keys", "{\"expires\":\"soon\","
                              "\"access_rights\":{\"a\":{}}}", &j), 400);
    json_decref(j);
    assert_int_equal(tu_admin(&authd, "POST", "/tyk/apis", "{\"proxy\":", &j), 400);
    json_decref(j);
    assert_int_equal(tu_admin(&authd, "GET", "/tyk/nothing-here", NULL, &j), 404);
    json_decref(j);
    assert_int_equal(tu_admin(&authd, "PATCH", "/tyk/certs", "", &j), 405);
    json_decref(j);
    memset(body, 'a', big);
    assert_int_equal(tu_http(&authd, "POST", "/tyk/certs", h, body, big, &resp), 413);
    free(resp);
    free(body);
    /* ...and the daemon keeps serving. */
    assert_int_equal(tu_http(&authd, "GET", "/hello", NULL, NULL, 0, NULL), 200);
}

/* ---- API definitions ---- */

static void apis_crud_and_validation(void **state)
{
    char *c1 = tu_pki_text("client1.crt"), *s1 = tu_pki_sha("client1.crt"), *body;
    json_t *j = NULL;

    assert_int_equal(upload(NULL, c1, NULL), 200);
    body = xasprintf("{\"api_id\":\"api1\",\"name\":\"One\",\"org_id\":\"default\","
                     "\"domain\":\"api.local\",\"use_mutual_tls_auth\":true,"
                     "\"client_certificates\":[\"%s\"],\"custom_field\":42,"
                     "\"proxy\":{\"listen_path\":\"/one/\",\"target_url\":\"http://127.0.0.1:9\","
                     "\"strip_listen_path\":true}}", s1);
    assert_int_equal(tu_admin(&authd, "POST", "/tyk/apis", body, &j), 200);
    assert_json_eq(j, "{\"key\":\"api1\",\"status\":\"ok\",\"action\":\"added\"}");
    json_decref(j);
    assert_int_equal(tu_admin(&authd, "GET", "/tyk/apis/api1", NULL, &j), 200);
    tu_assert_json_str(j, "name", "One");
    assert_int_equal(json_integer_value(json_object_get(j, "custom_field")), 42);
    json_decref(j);
    /* Duplicate id, duplicate listen path on the same domain, bad URL, unknown cert. */
    assert_int_equal(tu_admin(&authd, "POST", "/tyk/apis", body, &j), 400);
    json_decref(j);
    assert_int_equal(tu_admin(&authd, "POST", "/tyk/apis",
                              "{\"api_id\":\"api2\",\"domain\":\"API.local\",\"proxy\":"
                              "{\"listen_path\":\"/one/\",\"target_url\":\"http://x\"}}", &j), 400);
    assert_non_null(strstr(json_string_value(json_object_get(j, "message")), "proxy.listen_path"));
    json_decref(j);
    assert_int_equal(tu_admin(&authd, "POST", "/tyk/apis",
                              "{\"api_id\":\"api3\",\"proxy\":{\"listen_path\":\"/three/\","
                              "\"target_url\":\"ftp:/nowhere\"}}", &j), 400);
    assert_non_null(strstr(json_string_value(json_object_get(j, "message")), "proxy.target_url"));
    json_decref(j);
    assert_int_equal(tu_admin(&authd, "POST", "/tyk/apis",
                              "{\"api_id\":\"api4\",\"client_certificates\":[\"nope\"],\"proxy\":"
                              "{\"listen_path\":\"/four/\",\"target_url\":\"http://x\"}}", &j), 400);
    tu_assert_json_str(j, "message", "client_certificates: certificate not found: nope");
    json_decref(j);
    /* Update bumps the revision; delete; unknown id 404. */
    assert_int_equal(tu_admin(&authd, "PUT", "/tyk/apis/api1",
                              "{\"name\":\"Uno\",\"proxy\":{\"listen_path\":\"/one/\","
                              "\"target_url\":\"http://127.0.0.1:9\"}}", &j), 200);
    tu_assert_json_str(j, "action", "modified");
    json_decref(j);
    assert_int_equal(tu_admin(&authd, "GET", "/tyk/apis", NULL, &j), 200);
    assert_true(json_array_size(j) >= 1);
    json_decref(j);
    assert_int_equal(tu_admin(&authd, "DELETE", "/tyk/apis/api1", NULL, &j), 200);
    tu_assert_json_str(j, "action", "deleted");
    json_decref(j);
    assert_int_equal(tu_admin(&authd, "GET", "/tyk/apis/api1", NULL, &j), 404);
    tu_assert_json_str(j, "message", "API not found");
    json_decref(j);
    assert_int_equal(tu_admin(&authd, "PUT", "/tyk/apis/api1",
                              "{\"proxy\":{\"listen_path\":\"/one/\",\"target_url\":\"http://x\"}}",
                              &j), 404);
    json_decref(j);
    assert_int_equal(tu_admin(&authd, "GET", "/tyk/reload", NULL, NULL), 200);
    delete_cert(s1);
    free(body);
    free(c1);
    free(s1);
}

/* ---- management API over TLS (DESIGN §3/§4, spec §8.1, §8.4) ---- */

/* http_server_options with the PKI's server certificate as a file pair, merged with more
 * (a JSON object text or NULL). Heap JSON text. */
static char *tls_config(const char *more)
{
    char *crt = tu_pki_file("server.crt"), *key = tu_pki_file("server.key"), *text;
    json_t *j = json_pack("{s:{s:b, s:[{s:s, s:s}]}}", "http_server_options", "use_ssl", 1,
                          "certificates", "cert_file", crt, "key_file", key);

    if (more != NULL) {
        json_t *m = tu_json(more);

        json_object_update_recursive(j, m);
        json_decref(m);
    }
    text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    free(crt);
    free(key);
    return text;
}

/* One request to a TLS authd with an optional client certificate from the PKI; returns the
 * status or 0 when the exchange (the handshake) failed. */
static int tls_call(const struct tu_authd *a, const char *scheme, const char *client,
                    bool secret, const char *path)
{
    char *url = xasprintf("%s://127.0.0.1:%d%s", scheme, a->http_port, path);
    char *ca = tu_pki_file("ca.crt"), *crt = NULL, *key = NULL;
    const char *h[] = {"X-Tyk-Authorization: test-admin-secret", NULL};
    struct tu_http_opts o = {"GET", secret ? h : NULL, NULL, 0, ca, NULL, NULL};
    struct tu_http_resp r;
    int status;

    if (client != NULL) {
        crt = xasprintf("%s/%s.crt", tu_pki_dir(), client);
        key = xasprintf("%s/%s.key", tu_pki_dir(), client);
        o.cert_file = crt;
        o.key_file = key;
    }
    status = tu_http_url(url, &o, &r);
    tu_http_resp_free(&r);
    free(url);
    free(ca);
    free(crt);
    free(key);
    return status;
}

static void api_tls_and_plain_refused(void **state)
{
    char *crt = tu_pki_text("server.crt"), *key = tu_pki_text("server.key"), *body = cat2(crt, key);
    char *sha = tu_pki_sha("server.crt"), *extra, *more;
    struct tu_authd t;
    json_t *j = NULL;

    /* Certificate files. */
    extra = tls_config(NULL);
    tu_authd_start(&t, &redis, conninfo, extra);
    assert_int_equal(tls_call(&t, "https", NULL, true, "/tyk/apis"), 200);
    assert_int_equal(tls_call(&t, "https", NULL, false, "/tyk/apis"), 403);
    /* Plain HTTP to the TLS port: no answer. */
    assert_int_equal(tls_call(&t, "http", NULL, true, "/hello"), 0);
    tu_authd_stop(&t);
    free(extra);
    /* A certificate with its key from the store (ssl_certificates), read at start-up. */
    assert_int_equal(upload(NULL, body, &j), 200);
    json_decref(j);
    more = xasprintf("{\"http_server_options\":{\"use_ssl\":true,\"ssl_certificates\":"
                     "[\"%s\",\"unknown-id\"],\"min_version\":772}}", sha);
    tu_authd_start(&t, &redis, conninfo, more);
    assert_int_equal(tls_call(&t, "https", NULL, true, "/tyk/certs?org_id="), 200);
    assert_true(tu_authd_log_contains(&t, "unknown-id"));
    tu_authd_stop(&t);
    free(more);
    /* No usable server certificate: start-up stops, naming the key. */
    {
        char *out = NULL;

        assert_int_not_equal(tu_authd_run(&authd, "{\"http_server_options\":{\"use_ssl\":true}}",
                                          NULL, &out), 0);
        assert_non_null(strstr(out, "http_server_options"));
        free(out);
    }
    delete_cert(sha);
    free(sha);
    free(body);
    free(crt);
    free(key);
}

/* Spec scenario 79: control-API mTLS; the handshake needs a certificate chaining to a
 * listed one, and the admin secret is still required on top. */
static void s79_control_api_mtls(void **state)
{
    char *ca = tu_pki_text("ca.crt"), *ca_sha = tu_pki_sha("ca.crt"), *ca_path = tu_pki_file("ca.crt");
    char *more, *extra;
    struct tu_authd t;
    json_t *j = NULL;

    assert_int_equal(upload(NULL, ca, &j), 200);
    json_decref(j);
    /* The CA by store id. */
    more = xasprintf("{\"security\":{\"control_api_use_mutual_tls\":true,"
                     "\"certificates\":{\"control_api\":[\"%s\"]}}}", ca_sha);
    extra = tls_config(more);
    tu_authd_start(&t, &redis, conninfo, extra);
    assert_int_equal(tls_call(&t, "https", "client1", true, "/tyk/apis"), 200);
    assert_int_equal(tls_call(&t, "https", "clientauth_only", true, "/tyk/apis"), 200);
    assert_int_equal(tls_call(&t, "https", "client1", false, "/tyk/apis"), 403);
    assert_int_equal(tls_call(&t, "https", NULL, true, "/tyk/apis"), 0);
    assert_int_equal(tls_call(&t, "https", "other_ca_client", true, "/tyk/apis"), 0);
    assert_int_equal(tls_call(&t, "https", "selfsigned", true, "/tyk/apis"), 0);
    tu_authd_stop(&t);
    free(more);
    free(extra);
    /* The CA by file path; control_api without use_ssl is refused at start-up. */
    more = xasprintf("{\"security\":{\"control_api_use_mutual_tls\":true,"
                     "\"certificates\":{\"control_api\":[\"%s\"]}}}", ca_path);
    extra = tls_config(more);
    tu_authd_start(&t, &redis, conninfo, extra);
    assert_int_equal(tls_call(&t, "https", "client2", true, "/tyk/keys"), 200);
    assert_int_equal(tls_call(&t, "https", "other_ca_client", true, "/tyk/keys"), 0);
    {
        char *out = NULL;

        assert_int_not_equal(tu_authd_run(&authd, more,
                                          (const char *const[]){"--check-config", NULL}, &out),
                             0);
        assert_non_null(strstr(out, "control_api_use_mutual_tls"));
        free(out);
    }
    tu_authd_stop(&t);
    free(more);
    free(extra);
    /* Only unloadable ids: every client fails the handshake. */
    extra = tls_config("{\"security\":{\"control_api_use_mutual_tls\":true,"
                       "\"certificates\":{\"control_api\":[\"nope\",\"also-nope\"]}}}");
    tu_authd_start_nowait(&t, &redis, conninfo, extra);
    assert_int_equal(tls_call(&t, "https", "client1", true, "/hello"), 0);
    assert_int_equal(tls_call(&t, "https", NULL, true, "/hello"), 0);
    assert_true(tu_authd_log_contains(&t, "every client will fail"));
    tu_authd_stop(&t);
    free(extra);
    delete_cert(ca_sha);
    free(ca);
    free(ca_sha);
    free(ca_path);
}

/* security.enforce_upstream_tls_verify refuses definitions that skip verification. */
static void apis_enforce_upstream_tls_verify(void **state)
{
    static const char def[] = "{\"api_id\":\"enf1\",\"proxy\":{\"listen_path\":\"/enf/\","
                              "\"target_url\":\"https://127.0.0.1:9\",\"transport\":"
                              "{\"ssl_insecure_skip_verify\":%s}}}";
    char *bad = xasprintf(def, "true"), *good = xasprintf(def, "false");
    struct tu_authd t;
    json_t *j = NULL;

    tu_authd_start(&t, &redis, conninfo, "{\"security\":{\"enforce_upstream_tls_verify\":true}}");
    assert_int_equal(tu_admin(&t, "POST", "/tyk/apis", bad, &j), 400);
    tu_assert_json_str(j, "message", "proxy.transport.ssl_insecure_skip_verify: refused because "
                                     "security.enforce_upstream_tls_verify is on");
    json_decref(j);
    assert_int_equal(tu_admin(&t, "POST", "/tyk/apis", good, NULL), 200);
    assert_int_equal(tu_admin(&t, "PUT", "/tyk/apis/enf1", bad, &j), 400);
    assert_non_null(strstr(json_string_value(json_object_get(j, "message")),
                           "proxy.transport.ssl_insecure_skip_verify"));
    json_decref(j);
    tu_authd_stop(&t);
    /* Off (the default): accepted. */
    assert_int_equal(tu_admin(&authd, "PUT", "/tyk/apis/enf1", bad, NULL), 200);
    assert_int_equal(tu_admin(&authd, "DELETE", "/tyk/apis/enf1", NULL, NULL), 200);
    free(bad);
    free(good);
}

/* ---- authd to PostgreSQL over TLS (issue 5) ---- */

static int sh(const char *cmd)
{
    int rc = system(cmd);

    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* A TLS PostgreSQL of its own with the PKI's server certificate (localhost, CA A); authd
 * with sslmode=verify-full works, and every connection it holds is TLS. Then the server
 * presents a certificate of another CA: reconnects fail with a clear log line and /hello
 * reports postgres failing. */
static void pg_tls_verify_full(void **state)
{
    char *dir = tu_tmpdir("pgtls"), *svc = tu_srcpath("tests/harness/services.sh");
    char *crt = tu_pki_file("server.crt"), *key = tu_pki_file("server.key");
    char *ca = tu_pki_file("ca.crt"), *cmd, *ci, *extra, *resp = NULL, *c1 = tu_pki_text("client1.crt");
    int port = tu_free_port();
    struct tu_authd t;
    long deadline;
    PGconn *pg;
    PGresult *res;
    json_t *j;

    cmd = xasprintf("bash '%s' start-pg-tls '%s' %d '%s' '%s'", svc, dir, port, crt, key);
    assert_int_equal(sh(cmd), 0);
    free(cmd);
    ci = xasprintf("host=localhost port=%d dbname=postgres user=postgres sslmode=verify-full "
                   "sslrootcert=%s", port, ca);
    j = json_pack("{s:{s:s}}", "postgres", "conninfo", ci);
    extra = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    tu_authd_start(&t, &redis, ci, extra);
    assert_int_equal(tu_admin(&t, "POST", "/tyk/certs", c1, NULL), 200);
    pg = tu_pg_connect(ci);
    res = PQexec(pg, "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl)"
                     " FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)"
                     " WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_true(atoi(PQgetvalue(res, 0, 0)) >= 1);
    assert_string_equal(PQgetvalue(res, 0, 1), "0");
    PQclear(res);
    PQfinish(pg);
    /* A server certificate for localhost from CA B: verify-full against CA A must fail. */
    cmd = xasprintf("cd '%s' && openssl req -new -key '%s' -subj /CN=localhost -out b.csr "
                    "2>/dev/null && printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > "
                    "b.ext && openssl x509 -req -in b.csr -CA '%s/ca2.crt' -CAkey "
                    "'%s/ca2.key' -set_serial 0x5eed -days 30 -extfile b.ext -out b.crt "
                    "2>/dev/null && bash '%s' set-pg-tls-cert '%s' b.crt '%s'",
                    dir, key, tu_pki_dir(), tu_pki_dir(), svc, dir, key);
    assert_int_equal(sh(cmd), 0);
    free(cmd);
    cmd = xasprintf("host=%s/sock port=%d dbname=postgres user=postgres", dir, port);
    pg = tu_pg_connect(cmd);
    PQclear(PQexec(pg, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                       " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"));
    PQfinish(pg);
    free(cmd);
    /* Reconnects (backoff from 100 ms) now fail verification, and say so. */
    deadline = tu_now_ms() + 15000;
    while (!tu_authd_log_contains(&t, "certificate verify failed")) {
        if (tu_now_ms() > deadline)
            fail_msg("no 'certificate verify failed' in the authd log within 15 s");
        tu_pause_ms(50);
    }
    assert_int_equal(tu_http(&t, "GET", "/hello", NULL, NULL, 0, &resp), 503);
    j = tu_json(resp);
    tu_assert_json_str(json_object_get(json_object_get(j, "details"), "postgres"), "status",
                       "fail");
    json_decref(j);
    free(resp);
    tu_authd_stop(&t);
    cmd = xasprintf("bash '%s' stop-pg-tls '%s'", svc, dir);
    assert_int_equal(sh(cmd), 0);
    free(cmd);
    free(dir);
    free(svc);
    free(crt);
    free(key);
    free(ca);
    free(ci);
    free(extra);
    free(c1);
}

/* ---- RPC ---- */

static void rpc_methods(void **state)
{
    char *crt = tu_pki_text("client3.crt"), *key = tu_pki_text("client3.key"), *body = cat2(crt, key);
    char *sha = tu_pki_sha("client3.crt"), *kbody;
    json_t *res = NULL, *err = NULL, *j = NULL, *c;
    long long rev1, rev2;
    int fd = tu_rpc_connect(&authd);

    assert_int_equal(tu_rpc_call(fd, "hello", json_pack("{s:i,s:s}", "protocol", 1, "client", "t"),
                                 &res, &err), 0);
    tu_assert_json_str(res, "server", "certbound-authd");
    json_decref(res);
    assert_int_equal(tu_rpc_call(fd, "no.such", json_object(), &res, &err), 1);
    assert_int_equal(json_integer_value(json_object_get(err, "code")), 404);
    json_decref(err);
    assert_int_equal(tu_rpc_call(fd, "apis.list", json_object(), &res, &err), 0);
    rev1 = json_integer_value(json_object_get(res, "revision"));
    json_decref(res);
    assert_int_equal(tu_admin(&authd, "POST", "/tyk/apis",
                              "{\"api_id\":\"rpc1\",\"proxy\":{\"listen_path\":\"/rpc1/\","
                              "\"target_url\":\"http://127.0.0.1:9\"}}", NULL), 200);
    assert_int_equal(tu_rpc_call(fd, "apis.list", json_object(), &res, &err), 0);
    rev2 = json_integer_value(json_object_get(res, "revision"));
    assert_true(rev2 > rev1);
    assert_true(json_array_size(json_object_get(res, "apis")) >= 1);
    json_decref(res);
    assert_int_equal(tu_admin(&authd, "DELETE", "/tyk/apis/rpc1", NULL, NULL), 200);
    /* certs.get: the private key only when asked for (and only to a local caller). */
    assert_int_equal(upload("default", body, NULL), 200);
    {
        char *id = xasprintf("default%s", sha);

        assert_int_equal(tu_rpc_call(fd, "certs.get", json_pack("{s:[s,s]}", "ids", id, "missing"),
                                     &res, &err), 0);
        c = json_array_get(json_object_get(res, "certs"), 0);
        assert_true(json_is_true(json_object_get(c, "has_private")));
        assert_null(json_object_get(c, "private_key_pem"));
        assert_true(json_is_null(json_array_get(json_object_get(res, "certs"), 1)));
        json_decref(res);
        assert_int_equal(tu_rpc_call(fd, "certs.get", json_pack("{s:[s],s:b}", "ids", id,
                                                                "private", 1), &res, &err), 0);
        c = json_array_get(json_object_get(res, "certs"), 0);
        assert_non_null(strstr(json_string_value(json_object_get(c, "private_key_pem")),
                               "PRIVATE KEY"));
        json_decref(res);
        /* session.by_cert finds the key created for the certificate. */
        kbody = key_body("default", id, NULL);
        assert_int_equal(tu_admin(&authd, "POST", "/tyk/keys/create", kbody, &j), 200);
        json_decref(j);
        assert_int_equal(tu_rpc_call(fd, "session.by_cert",
                                     json_pack("{s:s,s:s}", "org_id", "default", "cert_id", id),
                                     &res, &err), 0);
        assert_true(json_is_true(json_object_get(res, "found")));
        tu_assert_json_str(json_object_get(res, "session"), "certificate", id);
        json_decref(res);
        assert_int_equal(tu_rpc_call(fd, "session.by_cert",
                                     json_pack("{s:s,s:s}", "org_id", "default", "cert_id", "x"),
                                     &res, &err), 0);
        assert_true(json_is_false(json_object_get(res, "found")));
        json_decref(res);
        delete_cert(id);
        free(id);
        free(kbody);
    }
    close(fd);
    free(crt);
    free(key);
    free(body);
    free(sha);
}

static void rpc_malformed_frames(void **state)
{
    static const unsigned char garbage[] = {0, 0, 0, 3, 0xc1, 0xc1, 0xc1};
    static const unsigned char huge[] = {0x7f, 0xff, 0xff, 0xff};
    unsigned char *p;
    size_t n;
    json_t *res = NULL, *err = NULL;
    int fd;

    fd = tu_rpc_connect(&authd);
    assert_int_equal(tu_send_all(fd, garbage, sizeof(garbage)), 0);
    assert_int_equal(tu_read_frame(fd, &p, &n, 5000), -1); /* closed, no answer */
    close(fd);
    fd = tu_rpc_connect(&authd);
    assert_int_equal(tu_send_all(fd, huge, sizeof(huge)), 0);
    assert_int_equal(tu_read_frame(fd, &p, &n, 5000), -1);
    close(fd);
    fd = tu_rpc_connect(&authd); /* a truncated frame then EOF */
    assert_int_equal(tu_send_all(fd, "\0\0\0\x10\x94", 5), 0);
    close(fd);
    fd = tu_rpc_connect(&authd); /* still serving */
    assert_int_equal(tu_rpc_call(fd, "hello", json_pack("{s:i}", "protocol", 1), &res, &err), 0);
    json_decref(res);
    close(fd);
}

/* ---- config, health, metrics, migrate ---- */

static void config_errors_name_the_key(void **state)
{
    char *out = NULL;

    assert_int_not_equal(tu_authd_run(&authd, "{\"redis\":{\"hots\":\"x\"}}",
                                      (const char *const[]){"--check-config", NULL}, &out), 0);
    assert_non_null(strstr(out, "redis.hots"));
    free(out);
    assert_int_not_equal(tu_authd_run(&authd, "{\"listen_port\":\"eighty\"}",
                                      (const char *const[]){"--check-config", NULL}, &out), 0);
    assert_non_null(strstr(out, "listen_port"));
    free(out);
    assert_int_not_equal(tu_authd_run(&authd, "{\"http_server_options\":{\"min_version\":770}}",
                                      (const char *const[]){"--check-config", NULL}, &out), 0);
    assert_non_null(strstr(out, "min_version"));
    free(out);
    setenv("CERTBOUND_LISTEN_PORT", "99999", 1);
    assert_int_not_equal(tu_authd_run(&authd, NULL, (const char *const[]){"--check-config", NULL},
                                      &out), 0);
    unsetenv("CERTBOUND_LISTEN_PORT");
    assert_non_null(strstr(out, "LISTEN_PORT"));
    assert_null(strstr(out, "test-admin-secret"));
    free(out);
}

static void hello_metrics_migrate(void **state)
{
    char *resp = NULL, *out = NULL;
    json_t *j;

    assert_int_equal(tu_http(&authd, "GET", "/hello", NULL, NULL, 0, &resp), 200);
    j = tu_json(resp);
    tu_assert_json_str(j, "status", "pass");
    tu_assert_json_str(json_object_get(json_object_get(j, "details"), "redis"), "status", "pass");
    tu_assert_json_str(json_object_get(json_object_get(j, "details"), "postgres"), "status", "pass");
    json_decref(j);
    free(resp);
    assert_int_equal(tu_http(&authd, "GET", "/metrics", NULL, NULL, 0, &resp), 200);
    assert_non_null(strstr(resp, "certbound_http_requests_total{route=\"/hello\",code=\"200\"}"));
    assert_non_null(strstr(resp, "certbound_store_objects{kind=\"certificates\"}"));
    free(resp);
    assert_int_equal(tu_authd_run(&authd, NULL, (const char *const[]){"migrate", NULL}, &out), 0);
    free(out);
}

/* The next invalidation of this type (and op, if not NULL), skipping others (resync, the
 * repeat of a change that arrives through Redis or NOTIFY after the local push). */
static void wait_change(int sub, const char *type, const char *op)
{
    long deadline = tu_now_ms() + 5000;

    for (;;) {
        json_t *n = tu_rpc_wait_notification(sub, "invalidate", 5000);
        bool match;

        if (n == NULL || tu_now_ms() > deadline)
            fail_msg("no %s %s invalidation within 5 s", type, op != NULL ? op : "");
        match = strcmp(json_string_value(json_object_get(n, "type")), type) == 0 &&
                (op == NULL || (json_is_string(json_object_get(n, "op")) &&
                                strcmp(json_string_value(json_object_get(n, "op")), op) == 0));
        json_decref(n);
        if (match)
            return;
    }
}

/* authorize's result map for a Certificate Auth API "api-d" of org "default". */
static json_t *authorize_cert(int fd, const char *sha, const char *token)
{
    json_t *params = json_pack("{s:s,s:s,s:b,s:b}", "api_id", "api-d", "org_id", "default",
                               "use_certificate", 1, "tls", 1);
    json_t *res = NULL, *err = NULL;

    if (sha != NULL)
        json_object_set_new(params, "cert_sha", json_string(sha));
    if (token != NULL)
        json_object_set_new(params, "token", json_string(token));
    if (tu_rpc_call(fd, "authorize", params, &res, &err) != 0)
        fail_msg("authorize failed: %s", err != NULL ? json_dumps(err, 0) : "I/O");
    return res;
}

static void expect_status(json_t *res, int status, const char *error)
{
    assert_int_equal(json_integer_value(json_object_get(res, "status")), status);
    if (error != NULL)
        tu_assert_json_str(res, "error", error);
    json_decref(res);
}

/* The RPC half of Certificate Auth and the invalidation push (schema/rpc.md authorize,
 * subscribe); the proxy's e2e tests replay the spec scenarios over TLS. */
static void rpc_authorize_and_push(void **state)
{
    char *sha = tu_pki_sha("client2.crt"), *id = xasprintf("default%s", sha), *crt = tu_pki_text("client2.crt");
    char *kbody = key_body("default", id, NULL), *path, *want;
    int fd = tu_rpc_connect(&authd), sub = tu_rpc_connect(&authd);
    json_t *res = NULL, *err = NULL, *j = NULL;
    const char *key;

    assert_int_equal(tu_rpc_call(sub, "subscribe", json_object(), &res, &err), 0);
    assert_true(json_is_true(json_object_get(res, "subscribed")));
    json_decref(res);
    /* No session yet: 401; no certificate: 401 Client certificate required. */
    expect_status(authorize_cert(fd, sha, NULL), 401, "Access to this API has been disallowed");
    expect_status(authorize_cert(fd, NULL, "whatever"), 401, "Client certificate required");
    assert_int_equal(upload("default", crt, NULL), 200);
    wait_change(sub, "store", "insert");
    assert_int_equal(tu_admin(&authd, "POST", "/tyk/keys/create", kbody, &j), 200);
    key = json_string_value(json_object_get(j, "key"));
    wait_change(sub, "session", NULL);
    /* Allowed, with X-Certbound-Key = sha256 hex of the key. */
    res = authorize_cert(fd, sha, NULL);
    assert_int_equal(json_integer_value(json_object_get(res, "status")), 200);
    want = xmalloc(TOKEN_HASH_HEX_MAX + 1);
    token_hash_hex(TOKEN_ALGO_SHA256, key, strlen(key), want);
    tu_assert_json_str(res, "key_hash", want);
    assert_true(json_integer_value(json_object_get(res, "cache_ms")) > 0);
    json_decref(res);
    /* Expired certificate: 403 before any lookup; a token is ignored in secure mode. */
    res = authorize_cert(fd, sha, "invalid-token");
    assert_int_equal(json_integer_value(json_object_get(res, "status")), 200);
    json_decref(res);
    {
        json_t *p = json_pack("{s:s,s:s,s:b,s:s,s:b}", "api_id", "api-d", "org_id", "default",
                              "use_certificate", 1, "cert_sha", sha, "cert_expired", 1);

        assert_int_equal(tu_rpc_call(fd, "authorize", p, &res, &err), 0);
        expect_status(res, 403, "Certificate has expired");
    }
    /* Bad params: 400, connection kept. */
    assert_int_equal(tu_rpc_call(fd, "authorize", json_pack("{s:i}", "api_id", 1), &res, &err), 1);
    assert_int_equal(json_integer_value(json_object_get(err, "code")), 400);
    json_decref(err);
    /* Deleting the certificate revokes: the push comes, then 403. */
    delete_cert(id);
    wait_change(sub, "store", "delete");
    expect_status(authorize_cert(fd, sha, NULL), 403, "Access to this API has been disallowed");
    path = xasprintf("/tyk/keys/%s", key);
    assert_int_equal(tu_admin(&authd, "DELETE", path, NULL, NULL), 200);
    expect_status(authorize_cert(fd, sha, NULL), 401, "Access to this API has been disallowed");
    /* Auth token mode: no token → 401 Authorization field missing. */
    assert_int_equal(tu_rpc_call(fd, "authorize", json_pack("{s:s,s:s}", "api_id", "x", "org_id",
                                                           ""), &res, &err), 0);
    expect_status(res, 401, "Authorization field missing");
    json_decref(j);
    free(path);
    free(want);
    free(kbody);
    free(crt);
    free(id);
    free(sha);
    close(fd);
    close(sub);
}

#define T(f) cmocka_unit_test(f)

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        T(s01_upload_single_cert), T(s02_upload_with_org), T(s03_upload_cert_and_key),
        T(s04_upload_mismatched_key), T(s05_duplicate_upload), T(s06_not_pem),
        T(s07_invalid_x509), T(s08_expired_cert), T(s09_public_key), T(s10_combinations),
        T(s11_chain_fingerprint), T(s12_list_by_org), T(s13_list_detailed),
        T(s14_get_unknown_and_multi), T(s15_delete), T(s16_admin_secret_required),
        T(s17_key_encryption_at_rest), T(s17_legacy_encrypted_key_import),
        T(s18_encoding_secret_required), T(s19_wrong_secret_then_rotation),
        T(s36_create_key_for_certificate), T(s37_create_key_twice), T(s45_put_certificate_rules),
        T(s64_create_with_bindings), T(s65_put_bindings), T(s68_unhashed_redis_name),
        T(s69_murmur64_hashed_name), T(s70_legacy_key_hash), T(s71_short_token_never_found),
        T(keys_crud_and_unknown_fields), T(keys_access_rights_required), T(bad_input_errors),
        T(apis_crud_and_validation), T(rpc_methods), T(rpc_authorize_and_push), T(rpc_malformed_frames),
        T(config_errors_name_the_key), T(hello_metrics_migrate), T(api_tls_and_plain_refused),
        T(s79_control_api_mtls), T(apis_enforce_upstream_tls_verify), T(pg_tls_verify_full),
    };

    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests_name("authd_api", tests, group_setup, group_teardown);
}
