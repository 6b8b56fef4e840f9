/*
 * test_apis: the proxy's API snapshot with real certificates from tests/harness/certs.sh:
 * routing (domain before "", longest listen_path, inactive APIs, the trailing-slash rule),
 * target_url parsing, the per-SNI TLS policy of spec §3.1 (levels, stores, CA names), the
 * HTTP-level allowlist with DESIGN's deviations, server certificates and the referenced
 * certificate ids.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/allowlist.h"
#include "common/certinfo.h"
#include "common/strutil.h"
#include "common/xmem.h"
#include "proxy/apis.h"
#include "proxy/proxy_cfg.h"
#include "tests/harness/testutil.h"

static struct proxy_config cfg;

/* ---- helpers ---- */

/* The store id (sha256 of the first certificate, or of the SPKI for a public key). */
static char *id_of(const char *file)
{
    char *pem = tu_pki_text(file);
    char *id = xmalloc(CERT_SHA_HEX_LEN + 1);
    STACK_OF(X509) *sk = certinfo_load_chain(pem, strlen(pem));

    if (sk != NULL) {
        certinfo_x509_sha256_hex(sk_X509_value(sk, 0), id);
        sk_X509_pop_free(sk, X509_free);
    } else {
        BIO *b = BIO_new_mem_buf(pem, -1);
        EVP_PKEY *pk = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
        unsigned char *der = NULL, md[SHA256_DIGEST_LENGTH];
        int n;

        assert_non_null(pk);
        n = i2d_PUBKEY(pk, &der);
        assert_true(n > 0);
        SHA256(der, (size_t)n, md);
        hex_encode(md, sizeof(md), id);
        OPENSSL_free(der);
        EVP_PKEY_free(pk);
        BIO_free(b);
    }
    free(pem);
    return id;
}

/* Add file's certs.get element to certs under its id; keyfile adds the private key. */
static char *add_cert(json_t *certs, const char *file, const char *keyfile)
{
    char *id = id_of(file);
    char *pem = tu_pki_text(file);
    bool pub = strstr(pem, "PUBLIC KEY") != NULL;
    json_t *e =
        json_pack("{s:s, s:s, s:s, s:{}, s:b}", "id", id, "kind", pub ? "public_key" : "cert",
                  "pem", pem, "meta", "has_private", keyfile != NULL);

    if (keyfile != NULL) {
        char *key = tu_pki_text(keyfile);

        json_object_set_new(e, "private_key_pem", json_string(key));
        free(key);
    }
    json_object_set_new(certs, id, e);
    free(pem);
    return id;
}

/* A list result from definition texts (printf format, then JSON). */
static json_t *list_new(void)
{
    return json_pack("{s:i, s:[]}", "revision", 42, "apis");
}

static void add_def_text(json_t *list, const char *text)
{
    json_error_t e;
    json_t *def = json_loads(text, 0, &e);

    if (def == NULL)
        fail_msg("bad test JSON: %s: %s", e.text, text);
    json_array_append_new(json_object_get(list, "apis"),
                          json_pack("{s:O, s:i, s:o}", "api_id", json_object_get(def, "api_id"),
                                    "revision", 1, "definition", def));
}

CB_PRINTF(2, 3) static void add_def(json_t *list, const char *fmt, ...)
{
    va_list ap;
    char *text;

    va_start(ap, fmt);
    assert_true(vasprintf(&text, fmt, ap) > 0);
    va_end(ap);
    add_def_text(list, text);
    free(text);
}

static struct apis *build(json_t *list, json_t *certs)
{
    char *err = NULL;
    struct apis *a = apis_build(list, certs, &cfg, &err);

    if (a == NULL)
        fail_msg("apis_build: %s", err);
    json_decref(list);
    json_decref(certs);
    return a;
}

static const struct api *route(const struct apis *a, const char *host, const char *path)
{
    return apis_route(a, host, host != NULL ? strlen(host) : 0, path, strlen(path));
}

static void assert_routes_to(const struct apis *a, const char *host, const char *path,
                             const char *want)
{
    const struct api *api = route(a, host, path);

    if (want == NULL) {
        if (api != NULL)
            fail_msg("%s%s: want 404, got %s", host, path, api->auth.api_id);
        return;
    }
    if (api == NULL)
        fail_msg("%s%s: want %s, got 404", host, path, want);
    assert_string_equal(api->auth.api_id, want);
}

/* Check leaf (+ chain files) against api's allowlist: want 0 or 403 with want_msg. */
static void check(const struct api *api, bool tls, const char *leaf_file, const char *chain_file,
                  int want, const char *want_msg)
{
    X509 *leaf = leaf_file != NULL ? tu_pki_x509(leaf_file) : NULL;
    STACK_OF(X509) *chain = NULL;
    char *msg = NULL;
    int st;

    if (chain_file != NULL) {
        chain = sk_X509_new_null();
        sk_X509_push(chain, tu_pki_x509(chain_file));
    }
    st = allowlist_check(api->allow, tls, leaf, NULL, chain, time(NULL), &msg);
    if (st != want)
        fail_msg("%s: want %d, got %d (%s)", leaf_file ? leaf_file : "no leaf", want, st,
                 msg ? msg : "");
    if (want_msg != NULL)
        assert_string_equal(msg, want_msg);
    else
        assert_null(msg);
    free(msg);
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
}

static char *not_allowed(const char *file)
{
    char *id = id_of(file);
    char *m = xasprintf("Certificate with SHA256 %s not allowed", id);

    free(id);
    return m;
}

/* Does file verify against the policy's store (as the handshake would)? */
static bool verifies(const struct tls_policy *p, const char *file)
{
    X509 *x = tu_pki_x509(file);
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    bool ok;

    assert_non_null(p->store);
    assert_int_equal(X509_STORE_CTX_init(ctx, p->store, x, NULL), 1);
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
    ok = X509_verify_cert(ctx) == 1;
    X509_STORE_CTX_free(ctx);
    X509_free(x);
    return ok;
}

static int names_count(const struct tls_policy *p)
{
    return p->ca_names != NULL ? sk_X509_NAME_num(p->ca_names) : 0;
}

static bool names_has(const struct tls_policy *p, const char *file)
{
    X509 *x = tu_pki_x509(file);
    bool found = false;

    for (int i = 0; i < names_count(p); i++)
        found = found ||
                X509_NAME_cmp(sk_X509_NAME_value(p->ca_names, i), X509_get_subject_name(x)) == 0;
    X509_free(x);
    return found;
}

static int reset(void **state)
{
    memset(&cfg, 0, sizeof(cfg));
    cfg.auth_cache_ms = 5000;
    cfg.authd_timeout_ms = 1000;
    return 0;
}

/* ---- routing ---- */

#define DEF(id, dom, lp, extra)                                                                    \
    "{\"api_id\":\"" id "\",\"org_id\":\"o\",\"domain\":\"" dom                                    \
    "\",\"proxy\":{\"listen_path\":\"" lp "\",\"target_url\":\"http://127.0.0.1:9\"}" extra "}"

static void test_route_table(void **state)
{
    json_t *l = list_new();
    struct apis *a;

    add_def(l, DEF("any-root", "", "/", ""));
    add_def(l, DEF("any-foo", "", "/foo/", ""));
    add_def(l, DEF("dom-foo", "api.local", "/foo", ""));
    add_def(l, DEF("dom-inactive", "api.local", "/foo/bar", ",\"active\":false"));
    add_def(l, "{\"api_id\":\"dom-baz\",\"domain\":\"API.Local:8443\",\"proxy\":{\"listen_path\":"
               "\"/baz\",\"target_url\":\"http://127.0.0.1:9\",\"strip_listen_path\":true}}");
    a = build(l, NULL);
    assert_int_equal(apis_count(a), 5);
    assert_int_equal(apis_revision(a), 42);

    assert_routes_to(a, "other.test", "/x", "any-root");
    assert_routes_to(a, "other.test", "/foo/x", "any-foo");
    assert_routes_to(a, "other.test", "/foo", "any-foo");     /* "/foo/" serves "/foo" */
    assert_routes_to(a, "other.test", "/foobar", "any-root"); /* "/foo/" is no prefix */
    assert_routes_to(a, NULL, "/foo/x", "any-foo");
    assert_routes_to(a, "api.local", "/foo/bar", "dom-foo"); /* inactive never routes */
    assert_routes_to(a, "API.LOCAL", "/foo", "dom-foo");     /* host case-insensitive */
    assert_routes_to(a, "api.local", "/foobar", "dom-foo");  /* raw prefix, as Tyk */
    assert_routes_to(a, "api.local", "/x", "any-root");      /* falls back to "" */
    assert_routes_to(a, "api.local", "/baz/1", "dom-baz");   /* domain lowercased, port gone */
    assert_string_equal(route(a, "api.local", "/baz")->domain, "api.local");
    assert_true(route(a, "api.local", "/baz")->strip_listen_path);
    assert_false(route(a, "api.local", "/foo")->strip_listen_path);
    apis_unref(a);

    l = list_new();
    add_def(l, DEF("only", "api.local", "/v1/", ""));
    a = build(l, NULL);
    assert_routes_to(a, "other.test", "/v1/x", NULL);
    assert_routes_to(a, "api.local", "/v2", NULL);
    assert_routes_to(a, "api.local", "/v1", "only");
    assert_null(apis_route(NULL, "x", 1, "/", 1));
    apis_unref(a);
}

static void test_api_fields(void **state)
{
    json_t *l = list_new();
    const struct api *api;
    struct apis *a;

    add_def(
        l, "{\"api_id\":\"a1\",\"name\":\"n\",\"org_id\":\"org\",\"proxy\":{\"listen_path\":\"/a\","
           "\"target_url\":\"https://up.test/base/\"},\"use_keyless\":true,"
           "\"auth_configs\":{\"authToken\":{\"auth_header_name\":\"X-Key\",\"use_param\":true,"
           "\"use_cookie\":true,\"cookie_name\":\"ck\",\"use_certificate\":true}}}");
    add_def(
        l,
        "{\"api_id\":\"a2\",\"proxy\":{\"listen_path\":\"/b\",\"target_url\":\"http://h\"},"
        "\"domain\":null,\"active\":null,\"auth_configs\":{\"authToken\":{\"param_name\":\"p\"}}}");
    a = build(l, NULL);
    api = route(a, "x", "/a");
    assert_non_null(api);
    assert_string_equal(api->name, "n");
    assert_string_equal(api->auth.org_id, "org");
    assert_string_equal(api->domain, "");
    assert_true(api->auth.active);
    assert_true(api->auth.use_keyless);
    assert_true(api->auth.use_certificate);
    assert_false(api->auth.use_mutual_tls_auth);
    assert_null(api->allow);
    assert_string_equal(api->auth.auth_header_name, "X-Key");
    assert_true(api->auth.use_param);
    assert_string_equal(api->auth.param_name, "X-Key");
    assert_true(api->auth.use_cookie);
    assert_string_equal(api->auth.cookie_name, "ck");
    assert_true(api->target.tls);
    assert_string_equal(api->target.host, "up.test");
    assert_int_equal(api->target.port, 443);
    assert_string_equal(api->target.path, "/base");
    assert_non_null(json_object_get(api->def, "proxy"));

    api = route(a, "x", "/b");
    assert_non_null(api);
    assert_true(api->auth.active);
    assert_string_equal(api->auth.auth_header_name, "Authorization");
    assert_true(api->auth.use_param); /* a param_name turns the param on, as Tyk */
    assert_string_equal(api->auth.param_name, "p");
    assert_false(api->auth.use_cookie);
    assert_string_equal(api->auth.cookie_name, "Authorization");
    apis_unref(a);
}

static void test_target_url(void **state)
{
    static const struct {
        const char *url;
        bool ok, tls;
        const char *host;
        int port;
        const char *path;
    } cases[] = {
        {"http://example.com", true, false, "example.com", 80, ""},
        {"http://example.com/", true, false, "example.com", 80, ""},
        {"HTTPS://Up.Example:8443/api/v1/", true, true, "Up.Example", 8443, "/api/v1"},
        {"http://[::1]:9000/x", true, false, "::1", 9000, "/x"},
        {"https://[2001:db8::1]", true, true, "2001:db8::1", 443, ""},
        {"http://10.0.0.1:", true, false, "10.0.0.1", 80, ""},
        {"http://h_1.internal:65535", true, false, "h_1.internal", 65535, ""},
        {"ftp://example.com", false, false, NULL, 0, NULL},
        {"example.com", false, false, NULL, 0, NULL},
        {"//example.com", false, false, NULL, 0, NULL},
        {"http://", false, false, NULL, 0, NULL},
        {"http:///path", false, false, NULL, 0, NULL},
        {"http://h:0", false, false, NULL, 0, NULL},
        {"http://h:65536", false, false, NULL, 0, NULL},
        {"http://h:8o", false, false, NULL, 0, NULL},
        {"http://[::1", false, false, NULL, 0, NULL},
        {"http://[zz::1]:80", false, false, NULL, 0, NULL},
        {"http://[::1]x", false, false, NULL, 0, NULL},
        {"http://::1:80/", false, false, NULL, 0, NULL},
        {"http://user:pw@h/", false, false, NULL, 0, NULL},
        {"http://h/x?q=1", false, false, NULL, 0, NULL},
        {"http://h#frag", false, false, NULL, 0, NULL},
        {"http://h o/", false, false, NULL, 0, NULL},
    };

    for (size_t i = 0; i < CB_ARRAY_LEN(cases); i++) {
        json_t *l = list_new();
        struct apis *a;
        const struct api *api;

        add_def(l, "{\"api_id\":\"t\",\"proxy\":{\"listen_path\":\"/\",\"target_url\":\"%s\"}}",
                cases[i].url);
        a = build(l, NULL);
        api = route(a, "h", "/");
        if (!cases[i].ok) {
            if (api != NULL)
                fail_msg("%s: accepted", cases[i].url);
            assert_int_equal(apis_count(a), 0);
            apis_unref(a);
            continue;
        }
        if (api == NULL)
            fail_msg("%s: refused", cases[i].url);
        assert_int_equal(api->target.tls, cases[i].tls);
        assert_string_equal(api->target.host, cases[i].host);
        assert_int_equal(api->target.port, cases[i].port);
        assert_string_equal(api->target.path, cases[i].path);
        apis_unref(a);
    }
}

static void test_bad_input(void **state)
{
    char *err = NULL;
    json_t *l = tu_json("{\"revision\":1}");
    struct apis *a;

    assert_null(apis_build(l, NULL, &cfg, &err));
    assert_non_null(err);
    CB_FREE(err);
    json_decref(l);
    l = tu_json("[]");
    assert_null(apis_build(l, NULL, &cfg, &err));
    CB_FREE(err);
    json_decref(l);

    /* One bad definition never hides the others. */
    l = tu_json("{\"revision\":3,\"apis\":[{\"api_id\":\"x\"},{\"definition\":7},"
                "{\"definition\":{\"api_id\":\"nolp\",\"proxy\":{\"listen_path\":\"x\","
                "\"target_url\":\"http://h\"}}},"
                "{\"definition\":{\"api_id\":\"good\",\"proxy\":{\"listen_path\":\"/\","
                "\"target_url\":\"http://h\"}}}]}");
    a = build(l, NULL);
    assert_int_equal(apis_count(a), 1);
    assert_routes_to(a, "h", "/", "good");
    apis_unref(apis_ref(a));
    apis_unref(a);
}

/* ---- TLS policy (spec §3.1) ---- */

#define MTLS(id, dom, lp, certs)                                                                   \
    DEF(id, dom, lp, ",\"use_mutual_tls_auth\":true,\"client_certificates\":[" certs "]")
#define CERTAUTH(id, dom, lp)                                                                      \
    DEF(id, dom, lp, ",\"auth_configs\":{\"authToken\":{\"use_certificate\":true}}")

/* Build from up to three definitions in which "@C1@" stands for client1's id. */
static void policy_of(const char *d1, const char *d2, const char *d3, const char *sni,
                      struct tls_policy *out, struct apis **keep)
{
    json_t *certs = json_object();
    char *c1 = add_cert(certs, "client1.crt", NULL);
    json_t *l = list_new();
    const char *defs[] = {d1, d2, d3};

    for (size_t i = 0; i < CB_ARRAY_LEN(defs); i++) {
        char *text, *at;

        if (defs[i] == NULL)
            continue;
        text = xstrdup(defs[i]);
        if ((at = strstr(text, "@C1@")) != NULL) {
            char *t2 = xasprintf("%.*s%s%s", (int)(at - text), text, c1, at + 4);

            free(text);
            text = t2;
        }
        add_def_text(l, text);
        free(text);
    }
    *keep = build(l, certs);
    apis_tls_policy(*keep, sni, out);
    free(c1);
}

static void test_tls_policy_levels(void **state)
{
    struct tls_policy p;
    struct apis *a;

    /* [mTLS only] → require, and the allowlisted cert is the anchor and the CA name. */
    policy_of(MTLS("m", "api.local", "/m", "\"@C1@\""), NULL, NULL, "api.local", &p, &a);
    assert_int_equal(p.level, CLIENT_AUTH_REQUIRE);
    assert_true(verifies(&p, "client1.crt"));
    assert_false(verifies(&p, "client2.crt"));
    assert_false(verifies(&p, "selfsigned.crt")); /* scenario 22 */
    assert_false(verifies(&p, "other_ca_client.crt"));
    assert_int_equal(names_count(&p), 1);
    assert_true(names_has(&p, "client1.crt"));
    apis_tls_policy(a, "API.LOCAL", &p);
    assert_int_equal(p.level, CLIENT_AUTH_REQUIRE);
    apis_tls_policy(a, "other.test", &p); /* no entry, no "" entry */
    assert_int_equal(p.level, CLIENT_AUTH_NONE);
    apis_tls_policy(a, NULL, &p);
    assert_int_equal(p.level, CLIENT_AUTH_NONE);
    assert_null(p.store);
    apis_unref(a);

    /* [mTLS + plain] and [plain + mTLS] on one domain → request. */
    policy_of(MTLS("m", "api.local", "/m", "\"@C1@\""), DEF("p", "api.local", "/p", ""), NULL,
              "api.local", &p, &a);
    assert_int_equal(p.level, CLIENT_AUTH_REQUEST);
    assert_null(p.store);
    assert_int_equal(names_count(&p), 1); /* Tyk announces the pool when requesting too */
    apis_unref(a);
    policy_of(DEF("p", "api.local", "/p", ""), MTLS("m", "api.local", "/m", "\"@C1@\""), NULL,
              "api.local", &p, &a);
    assert_int_equal(p.level, CLIENT_AUTH_REQUEST);
    apis_unref(a);

    /* Two mTLS APIs on one domain stay require; both allowlists are anchors. */
    policy_of(MTLS("m1", "api.local", "/1", "\"@C1@\""), MTLS("m2", "api.local", "/2", ""), NULL,
              "api.local", &p, &a);
    assert_int_equal(p.level, CLIENT_AUTH_REQUIRE);
    apis_unref(a);

    /* [cert-auth] → request; [plain] → none. */
    policy_of(CERTAUTH("c", "api.local", "/c"), NULL, NULL, "api.local", &p, &a);
    assert_int_equal(p.level, CLIENT_AUTH_REQUEST);
    assert_null(p.store);
    assert_int_equal(names_count(&p), 0);
    apis_unref(a);
    policy_of(DEF("p", "api.local", "/p", ""), DEF("k", "api.local", "/k", ",\"use_keyless\":true"),
              NULL, "api.local", &p, &a);
    assert_int_equal(p.level, CLIENT_AUTH_NONE);
    apis_unref(a);

    /* Order-dependent, as Tyk: [mTLS, cert-auth] → require; [cert-auth, mTLS] → request. */
    policy_of(MTLS("m", "api.local", "/m", "\"@C1@\""), CERTAUTH("c", "api.local", "/c"), NULL,
              "api.local", &p, &a);
    assert_int_equal(p.level, CLIENT_AUTH_REQUIRE);
    apis_unref(a);
    policy_of(CERTAUTH("c", "api.local", "/c"), MTLS("m", "api.local", "/m", "\"@C1@\""), NULL,
              "api.local", &p, &a);
    assert_int_equal(p.level, CLIENT_AUTH_REQUEST);
    apis_unref(a);

    /* The "" domain covers unknown SNIs; an exact entry wins even when it is "none". */
    policy_of(MTLS("m", "", "/m", "\"@C1@\""), DEF("p", "plain.local", "/p", ""), NULL,
              "whatever.test", &p, &a);
    assert_int_equal(p.level, CLIENT_AUTH_REQUIRE);
    assert_true(verifies(&p, "client1.crt"));
    apis_tls_policy(a, NULL, &p);
    assert_int_equal(p.level, CLIENT_AUTH_REQUIRE);
    apis_tls_policy(a, "plain.local", &p);
    assert_int_equal(p.level, CLIENT_AUTH_NONE);
    apis_unref(a);
}

static void test_tls_policy_inactive(void **state)
{
    json_t *certs = json_object();
    char *c1 = add_cert(certs, "client1.crt", NULL);
    json_t *l = list_new();
    struct tls_policy p;
    struct apis *a;

    add_def(l,
            "{\"api_id\":\"m\",\"active\":false,\"domain\":\"api.local\",\"proxy\":{"
            "\"listen_path\":\"/\",\"target_url\":\"http://h\"},\"use_mutual_tls_auth\":true,"
            "\"client_certificates\":[\"%s\"]}",
            c1);
    a = build(l, certs);
    apis_tls_policy(a, "api.local", &p);
    assert_int_equal(p.level, CLIENT_AUTH_NONE);
    apis_unref(a);
    free(c1);
}

static void test_tls_policy_pool(void **state)
{
    json_t *certs = json_object();
    char *chain = add_cert(certs, "chain_client1.pem", NULL);
    char *pub = add_cert(certs, "pub.pem", NULL);
    char *ca2 = add_cert(certs, "ca2.crt", NULL);
    json_t *l = list_new();
    struct tls_policy p;
    struct apis *a;

    /* A stored chain contributes only its CA (scenario 29); a public key nothing (31);
     * security.certificates.apis joins every mTLS API's pool (33). */
    cfg.security_certificates_apis.v = &ca2;
    cfg.security_certificates_apis.n = 1;
    add_def(l, MTLS("m", "api.local", "/m", "\"%s\",\"%s\",\"unknown-id\""), chain, pub);
    a = build(l, certs);
    apis_tls_policy(a, "api.local", &p);
    assert_int_equal(p.level, CLIENT_AUTH_REQUIRE);
    assert_int_equal(names_count(&p), 2);
    assert_true(names_has(&p, "ca.crt"));
    assert_true(names_has(&p, "ca2.crt"));
    assert_false(names_has(&p, "client1.crt"));
    assert_true(verifies(&p, "client1.crt"));
    assert_true(verifies(&p, "clientauth_only.crt"));
    assert_true(verifies(&p, "other_ca_client.crt"));
    assert_false(verifies(&p, "selfsigned.crt"));
    assert_false(verifies(&p, "expired.crt"));
    apis_unref(a);
    free(chain);
    free(pub);
    free(ca2);
}

/* ---- allowlist at HTTP level (spec §3.2 with DESIGN's deviations) ---- */

static struct apis *mtls_api(const char *f1, const char *f2, const struct api **api)
{
    json_t *certs = json_object();
    char *i1 = f1 != NULL ? add_cert(certs, f1, NULL) : xstrdup("none");
    char *i2 = f2 != NULL ? add_cert(certs, f2, NULL) : xstrdup("none");
    json_t *l = list_new();
    struct apis *a;

    add_def(l, MTLS("m", "", "/", "\"%s\",\"%s\""), i1, i2);
    a = build(l, certs);
    *api = route(a, "h", "/");
    assert_non_null(*api);
    assert_non_null((*api)->allow);
    free(i1);
    free(i2);
    return a;
}

static void test_allowlist_leaf(void **state)
{
    const struct api *api;
    struct apis *a = mtls_api("client1.crt", NULL, &api);
    char *m2 = not_allowed("client2.crt");

    check(api, true, "client1.crt", NULL, 0, NULL);
    check(api, true, "client1.crt", "ca.crt", 0, NULL);
    check(api, true, "client2.crt", NULL, 403, m2);
    /* Only the leaf counts: an allowlisted certificate sent after another leaf is public
     * data, not a credential. */
    check(api, true, "client2.crt", "client1.crt", 403, m2);
    check(api, true, NULL, NULL, 403, "Client TLS certificate is required");
    check(api, false, "client1.crt", NULL, 403, "TLS not enabled");
    apis_unref(a);
    free(m2);

    /* The cfg list joins (scenario 33). */
    cfg.security_certificates_apis.v = (char *[]){NULL};
    cfg.security_certificates_apis.v[0] = id_of("client2.crt");
    cfg.security_certificates_apis.n = 1;
    {
        json_t *certs = json_object();
        char *c1 = add_cert(certs, "client1.crt", NULL);
        char *c2 = add_cert(certs, "client2.crt", NULL);
        json_t *l = list_new();

        add_def(l, MTLS("m", "", "/", "\"%s\""), c1);
        a = build(l, certs);
        api = route(a, "h", "/");
        check(api, true, "client2.crt", NULL, 0, NULL);
        check(api, true, "client1.crt", NULL, 0, NULL);
        apis_unref(a);
        free(c1);
        free(c2);
    }
    free(cfg.security_certificates_apis.v[0]);
}

static void test_allowlist_expired(void **state)
{
    const struct api *api;
    struct apis *a = mtls_api("expired.crt", NULL, &api);

    check(api, true, "expired.crt", NULL, 403, "Certificate has expired");
    apis_unref(a);
}

static void test_allowlist_ca(void **state)
{
    const struct api *api;
    struct apis *a = mtls_api("ca.crt", NULL, &api);
    char *m;

    check(api, true, "client1.crt", NULL, 0, NULL);
    check(api, true, "client1.crt", "ca.crt", 0, NULL);
    check(api, true, "clientauth_only.crt", NULL, 0, NULL); /* scenario 28: our decision */
    check(api, true, "ca.crt", NULL, 0, NULL);
    m = not_allowed("other_ca_client.crt");
    check(api, true, "other_ca_client.crt", NULL, 403, m);
    /* A client cannot bring its own anchor. */
    check(api, true, "other_ca_client.crt", "ca2.crt", 403, m);
    free(m);
    m = not_allowed("selfsigned.crt");
    check(api, true, "selfsigned.crt", "ca.crt", 403, m);
    free(m);
    m = not_allowed("expired.crt"); /* issued by A but expired: verification fails */
    check(api, true, "expired.crt", NULL, 403, m);
    free(m);
    apis_unref(a);

    /* A stored chain [client1, CA A] matches only its leaf; the CA inside is no anchor at
     * HTTP level (only its first certificate is the entry). */
    a = mtls_api("chain_client1.pem", NULL, &api);
    check(api, true, "client1.crt", NULL, 0, NULL);
    m = not_allowed("client2.crt");
    check(api, true, "client2.crt", NULL, 403, m);
    free(m);
    apis_unref(a);
}

static void test_allowlist_public_key(void **state)
{
    const struct api *api;
    struct apis *a = mtls_api("pub.pem", NULL, &api);
    char *m = not_allowed("client1.crt");
    struct tls_policy p;

    check(api, true, "client1.crt", NULL, 403, m);
    apis_tls_policy(a, "x", &p);
    assert_int_equal(p.level, CLIENT_AUTH_REQUIRE);
    assert_int_equal(names_count(&p), 0);
    assert_false(verifies(&p, "client1.crt"));
    free(m);
    apis_unref(a);

    /* An empty allowlist (scenario 24) allows nobody. */
    a = mtls_api(NULL, NULL, &api);
    m = not_allowed("client1.crt");
    check(api, true, "client1.crt", NULL, 403, m);
    free(m);
    apis_unref(a);
}

/* ---- server certificates and referenced ids ---- */

static bool has_name(const struct server_cert *sc, const char *n)
{
    for (size_t i = 0; i < sc->nnames; i++)
        if (strcmp(sc->names[i], n) == 0)
            return true;
    return false;
}

static void test_server_certs(void **state)
{
    json_t *certs = json_object();
    char *srv = add_cert(certs, "server.crt", "server.key");
    char *nokey = add_cert(certs, "client3.crt", NULL);
    char *badkey = add_cert(certs, "client2.crt", "client1.key");
    char *rsa = add_cert(certs, "rsa.crt", "rsa.key");
    char *pub = add_cert(certs, "pub.pem", NULL);
    char *chain = add_cert(certs, "chain_client1.pem", "client1.key");
    char *ids[] = {srv, nokey, badkey, pub, srv};
    json_t *l = list_new();
    const struct server_cert *const *sc;
    struct apis *a;
    json_t *refs;

    cfg.https_ssl_certificates.v = ids;
    cfg.https_ssl_certificates.n = CB_ARRAY_LEN(ids);
    add_def(l, DEF("a", "A.test", "/a", ",\"certificates\":[\"%s\",\"%s\"]"), rsa, chain);
    add_def(l, DEF("b", "b.test", "/b", ",\"certificates\":[\"%s\"]"), rsa);
    add_def(l, DEF("c", "c.test", "/c", ",\"active\":false,\"certificates\":[\"%s\"]"), srv);
    add_def(l, MTLS("m", "", "/m", "\"%s\""), nokey);

    refs = apis_referenced_certs(l, &cfg);
    assert_true(json_is_true(json_object_get(refs, srv)));
    assert_true(json_is_true(json_object_get(refs, rsa)));
    assert_true(json_is_true(json_object_get(refs, chain)));
    assert_true(json_is_true(json_object_get(refs, nokey))); /* in ssl_certificates too */
    assert_true(json_is_true(json_object_get(refs, pub)));
    json_decref(refs);

    a = build(l, certs);
    assert_int_equal(apis_server_certs(a, &sc), 3);
    assert_true(has_name(sc[0], "localhost"));
    assert_true(has_name(sc[0], "api.local"));
    assert_int_equal(sk_X509_num(sc[0]->chain), 0);
    assert_non_null(sc[0]->key);
    assert_true(has_name(sc[1], "rsa.local"));
    assert_true(has_name(sc[1], "rsa"));
    assert_true(has_name(sc[1], "a.test"));
    assert_true(has_name(sc[1], "b.test"));
    assert_true(has_name(sc[2], "client1"));
    assert_true(has_name(sc[2], "a.test"));
    assert_false(has_name(sc[2], "b.test"));
    assert_int_equal(sk_X509_num(sc[2]->chain), 1);
    apis_unref(a);
    assert_int_equal(apis_server_certs(NULL, &sc), 0);
    free(srv);
    free(nokey);
    free(badkey);
    free(rsa);
    free(pub);
    free(chain);
}

static void test_referenced_certs(void **state)
{
    json_t *l = list_new();
    json_t *refs;
    char *ids[] = {"cfg-allow"};

    cfg.security_certificates_apis.v = ids;
    cfg.security_certificates_apis.n = 1;
    add_def(l, MTLS("m", "", "/m", "\"c1\",\"c2\""));
    add_def(l, DEF("n", "", "/n", ",\"client_certificates\":[\"not-mtls\"]"));
    add_def(l, DEF("i", "", "/i", ",\"active\":false,\"certificates\":[\"inactive\"]"));
    add_def(l, DEF("s", "", "/s", ",\"certificates\":[\"c2\",7]"));
    refs = apis_referenced_certs(l, &cfg);
    assert_int_equal(json_object_size(refs), 3);
    assert_true(json_is_false(json_object_get(refs, "c1")));
    assert_true(json_is_true(json_object_get(refs, "c2")));
    assert_true(json_is_false(json_object_get(refs, "cfg-allow")));
    json_decref(refs);
    json_decref(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_route_table, reset),
        cmocka_unit_test_setup(test_api_fields, reset),
        cmocka_unit_test_setup(test_target_url, reset),
        cmocka_unit_test_setup(test_bad_input, reset),
        cmocka_unit_test_setup(test_tls_policy_levels, reset),
        cmocka_unit_test_setup(test_tls_policy_inactive, reset),
        cmocka_unit_test_setup(test_tls_policy_pool, reset),
        cmocka_unit_test_setup(test_allowlist_leaf, reset),
        cmocka_unit_test_setup(test_allowlist_expired, reset),
        cmocka_unit_test_setup(test_allowlist_ca, reset),
        cmocka_unit_test_setup(test_allowlist_public_key, reset),
        cmocka_unit_test_setup(test_server_certs, reset),
        cmocka_unit_test_setup(test_referenced_certs, reset),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
