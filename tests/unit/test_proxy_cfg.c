/*
 * test_proxy_cfg: certbound-proxy's key table (DESIGN §3, spec §8.2) and the pure HTTP
 * helpers of the relay (http_util, http_head_get): every key is in
 * etc/proxy.example.json and the example loads; defaults; TLS version resolution and the
 * refusals that name their key; Host parsing, path rewriting, header filtering.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/http_head.h"
#include "proxy/http_util.h"
#include "proxy/proxy_cfg.h"
#include "tests/harness/testutil.h"

/* Load from JSON text plus env; returns 0 or -1 with *err (heap). */
static int load(struct proxy_config *c, const char *json, char *const *env, char **err)
{
    char *path = NULL;
    int rc;

    memset(c, 0, sizeof(*c));
    if (json != NULL) {
        char *dir = tu_tmpdir("proxycfg");

        path = xasprintf("%s/p.json", dir);
        assert_int_equal(tu_write_file(path, json, strlen(json)), 0);
        free(dir);
    }
    rc = proxy_cfg_load(c, path, env, err);
    free(path);
    return rc;
}

static void example_has_every_key_and_loads(void **state)
{
    char *path = tu_srcpath("etc/proxy.example.json"), *err = NULL;
    char *text = tu_read_file(path, NULL);
    struct proxy_config c;

    assert_non_null(text);
    for (size_t i = 0; i < proxy_cfg_nkeys; i++) {
        const char *dot = strrchr(proxy_cfg_keys[i].path, '.');
        char *needle = xasprintf("\"%s\"", dot != NULL ? dot + 1 : proxy_cfg_keys[i].path);

        if (strstr(text, needle) == NULL)
            fail_msg("etc/proxy.example.json lacks %s", proxy_cfg_keys[i].path);
        free(needle);
    }
    memset(&c, 0, sizeof(c));
    if (proxy_cfg_load(&c, path, NULL, &err) < 0)
        fail_msg("the example config does not load: %s", err);
    proxy_cfg_free(&c);
    free(text);
    free(path);
}

static void readme_documents_every_key(void **state)
{
    tu_assert_readme_documents(proxy_cfg_keys, proxy_cfg_nkeys,
                               "## Configuration (certbound-proxy)");
}

static void design_defaults(void **state)
{
    struct proxy_config c;
    char *err = NULL;

    if (load(&c, NULL, NULL, &err) < 0)
        fail_msg("%s", err);
    assert_string_equal(c.listen_address, "0.0.0.0");
    assert_int_equal(c.listen_port, 8443);
    assert_string_equal(c.authd, "127.0.0.1:9191");
    assert_int_equal(c.authd_timeout_ms, 1000);
    assert_int_equal(c.workers, 0);
    assert_int_equal(c.max_head_bytes, 16384);
    assert_int_equal(c.handshake_timeout_ms, 10000);
    assert_int_equal(c.head_timeout_ms, 10000);
    assert_int_equal(c.idle_timeout_ms, 60000);
    assert_int_equal(c.upstream_connect_timeout_ms, 5000);
    assert_int_equal(c.upstream_timeout_ms, 30000);
    assert_int_equal(c.upstream_idle_timeout_ms, 60000);
    assert_int_equal(c.auth_cache_ms, 5000);
    assert_true(c.https_use_ssl);
    assert_int_equal(c.https_min_version, 771);
    assert_int_equal(c.https_max_version, 772);
    assert_int_equal(c.proxy_ssl_min_version, 771);
    assert_int_equal(c.proxy_ssl_max_version, 772);
    assert_false(c.enforce_upstream_tls_verify);
    assert_string_equal(c.metrics_listen, "");
    proxy_cfg_free(&c);
}

/* An error for json/env must mention every needle. */
static void expect_error(const char *json, char *const *env, const char *n1, const char *n2)
{
    struct proxy_config c;
    char *err = NULL;

    if (load(&c, json, env, &err) == 0)
        fail_msg("accepted: %s", json != NULL ? json : env[0]);
    assert_non_null(err);
    if (strstr(err, n1) == NULL || (n2 != NULL && strstr(err, n2) == NULL))
        fail_msg("error '%s' lacks '%s'/'%s'", err, n1, n2 != NULL ? n2 : "");
    free(err);
    proxy_cfg_free(&c);
}

static void tls_versions(void **state)
{
    char *const env_min[] = {"CERTBOUND_HTTP_SERVER_OPTIONS_MIN_VERSION=772", NULL};
    char *const env_max[] = {"CERTBOUND_HTTP_SERVER_OPTIONS_MAX_VERSION=771", NULL};
    struct proxy_config c;
    char *err = NULL;

    expect_error("{\"http_server_options\":{\"min_version\":769}}", NULL,
                 "http_server_options.min_version", "refused");
    expect_error("{\"http_server_options\":{\"max_version\":770}}", NULL,
                 "http_server_options.max_version", "refused");
    expect_error("{\"proxy_ssl_min_version\":770}", NULL, "proxy_ssl_min_version", "refused");
    expect_error("{\"http_server_options\":{\"min_version\":772,\"max_version\":771}}", NULL,
                 "http_server_options.min_version", "max_version");
    expect_error("{\"proxy_ssl_min_version\":772,\"proxy_ssl_max_version\":771}", NULL,
                 "proxy_ssl_min_version", NULL);
    expect_error("{\"http_server_options\":{\"min_version\":700}}", NULL, "min_version",
                 "not a TLS version");
    /* Only min set to 1.3: max defaults to 1.3. Only max 1.2: min defaults to 1.2. */
    assert_int_equal(load(&c, NULL, env_min, &err), 0);
    assert_int_equal(c.https_min_version, 772);
    assert_int_equal(c.https_max_version, 772);
    proxy_cfg_free(&c);
    assert_int_equal(load(&c, NULL, env_max, &err), 0);
    assert_int_equal(c.https_min_version, 771);
    assert_int_equal(c.https_max_version, 771);
    proxy_cfg_free(&c);
}

static void cross_key_rules(void **state)
{
    expect_error("{\"proxy_ssl_insecure_skip_verify\":true,"
                 "\"security\":{\"enforce_upstream_tls_verify\":true}}",
                 NULL, "proxy_ssl_insecure_skip_verify", "enforce_upstream_tls_verify");
    expect_error("{\"listen_prot\":1}", NULL, "listen_prot", NULL);
    expect_error("{\"http_server_options\":{\"certificates\":[{\"cert_file\":\"a\"}]}}", NULL,
                 "http_server_options.certificates", "key_file");
    expect_error("{\"http_server_options\":{\"certificates\":[{\"cert_file\":\"a\","
                 "\"key_file\":\"b\",\"domain\":\"x\"}]}}",
                 NULL, "http_server_options.certificates", "domain");
    expect_error("{\"authd\":\"nowhere\"}", NULL, "authd", NULL);
    expect_error("{\"max_head_bytes\":10}", NULL, "max_head_bytes", NULL);
    expect_error("{\"security\":{\"pinned_public_keys\":{\"a\":1}}}", NULL,
                 "security.pinned_public_keys", NULL);
}

static void env_overrides(void **state)
{
    char *const env[] = {"CERTBOUND_LISTEN_PORT=0", "CERTBOUND_AUTHD=unix:/run/authd.sock",
                         "CERTBOUND_HTTP_SERVER_OPTIONS_USE_SSL=false",
                         "CERTBOUND_SECURITY_CERTIFICATES_APIS=a,b", NULL};
    struct proxy_config c;
    char *err = NULL;

    if (load(&c, "{\"listen_port\":9000}", env, &err) < 0)
        fail_msg("%s", err);
    assert_int_equal(c.listen_port, 0);
    assert_string_equal(c.authd, "unix:/run/authd.sock");
    assert_false(c.https_use_ssl);
    assert_int_equal(c.security_certificates_apis.n, 2);
    proxy_cfg_free(&c);
}

/* ---- http_util ---- */

static void host_parsing(void **state)
{
    static const struct {
        const char *in, *host;
    } ok[] = {
        {"api.local", "api.local"},
        {"api.local:8443", "api.local"},
        {"API.Local:", "API.Local"},
        {"[::1]:8443", "::1"},
        {"[::1]", "::1"},
        {"127.0.0.1:1", "127.0.0.1"},
    };
    static const char *const bad[] = {"",    ":80", "[::1", "[]",     "a b",
                                      "a/b", "a@b", "a:8x", "[::1]x", "a:123456"};
    const char *h;
    size_t n;

    for (size_t i = 0; i < CB_ARRAY_LEN(ok); i++) {
        assert_int_equal(hu_split_host(ok[i].in, strlen(ok[i].in), &h, &n), 0);
        assert_int_equal(n, strlen(ok[i].host));
        assert_memory_equal(h, ok[i].host, n);
    }
    for (size_t i = 0; i < CB_ARRAY_LEN(bad); i++) {
        if (hu_split_host(bad[i], strlen(bad[i]), &h, &n) == 0)
            fail_msg("accepted host '%s'", bad[i]);
    }
    assert_true(hu_host_eq("API.local", 9, "api.local", 9));
    assert_true(hu_host_eq("api.local.", 10, "api.local", 9));
    assert_false(hu_host_eq("api.local", 9, "api.localx", 10));
}

static void path_rewrite(void **state)
{
    static const struct {
        const char *path, *query, *listen, *target, *out;
        bool strip;
    } cases[] = {
        {"/api/users", NULL, "/api/", "", "/users", true},
        {"/api/users", NULL, "/api", "", "/users", true},
        {"/api/users", "a=1", "/api/", "/base", "/base/users?a=1", true},
        {"/api/", NULL, "/api/", "/base", "/base", true},
        {"/api/", NULL, "/api/", "", "/", true},
        {"/api/users", NULL, "/api/", "", "/api/users", false},
        {"/api/users", NULL, "/api/", "/base", "/base/api/users", false},
        {"/other", NULL, "/api/", "", "/other", true},
        {"/", "", "/", "", "/?", true},
    };

    for (size_t i = 0; i < CB_ARRAY_LEN(cases); i++) {
        char *out = hu_upstream_path(cases[i].path, strlen(cases[i].path), cases[i].query,
                                     cases[i].query != NULL ? strlen(cases[i].query) : 0,
                                     cases[i].listen, cases[i].strip, cases[i].target);

        if (strcmp(out, cases[i].out) != 0)
            fail_msg("case %zu: '%s' → '%s', want '%s'", i, cases[i].path, out, cases[i].out);
        free(out);
    }
}

static void header_rules(void **state)
{
    static const char *const drop_up[] = {"Connection",
                                          "keep-alive",
                                          "TE",
                                          "Upgrade",
                                          "Proxy-Authorization",
                                          "proxy-connection",
                                          "Client-Cert",
                                          "client-cert-chain",
                                          "X-Certbound-Key",
                                          "x-certbound-cert-id",
                                          "X-Forwarded-Proto",
                                          "X-Forwarded-Host"};
    static const char *const keep_up[] = {"Host",         "Content-Length", "Transfer-Encoding",
                                          "Trailer",      "Authorization",  "X-Forwarded-For",
                                          "Client-Certx", "Expect"};
    const char *conn = "keep-alive, X-Secret ,close";

    for (size_t i = 0; i < CB_ARRAY_LEN(drop_up); i++)
        assert_true(hu_drop_header(HU_TO_UPSTREAM, drop_up[i], strlen(drop_up[i])));
    for (size_t i = 0; i < CB_ARRAY_LEN(keep_up); i++)
        assert_false(hu_drop_header(HU_TO_UPSTREAM, keep_up[i], strlen(keep_up[i])));
    assert_false(hu_drop_header(HU_TO_CLIENT, "X-Certbound-Key", 15));
    assert_true(hu_drop_header(HU_TO_CLIENT, "Keep-Alive", 10));
    assert_true(hu_connection_lists(conn, strlen(conn), "x-secret", 8));
    assert_false(hu_connection_lists(conn, strlen(conn), "x-secre", 7));
    assert_false(hu_connection_lists("content-length", 14, "Content-Length", 14));
    assert_true(hu_has_token("gzip, 100-continue", 18, "100-Continue"));
}

static void header_name_tokens(void **state)
{
    static const char *const ok[] = {"Host", "X-A_b.c", "!#$%&'*+-.^_`|~09az"};
    static const char *const bad[] = {"",    "Client-Cert ", " Host", "X Y",  "a:b",   "a\"b",
                                      "(x)", "a,b",          "a/b",   "a\tb", "a\x7f", "\xc3\xa9"};

    for (size_t i = 0; i < CB_ARRAY_LEN(ok); i++) {
        if (!hu_is_token(ok[i], strlen(ok[i])))
            fail_msg("refused token '%s'", ok[i]);
    }
    for (size_t i = 0; i < CB_ARRAY_LEN(bad); i++) {
        if (hu_is_token(bad[i], strlen(bad[i])))
            fail_msg("accepted token '%s'", bad[i]);
    }
    assert_false(hu_is_token("a\0b", 3));
}

static void path_safety(void **state)
{
    static const char *const safe[] = {"/",      "/a/b",   "/a/..b", "/a/b..", "/.well-known/x",
                                       "/a/...", "/a/.b/", "/a%20b", "/a%2",   "/a%41",
                                       "/a/b.c", "//a",    "/a%252e"};
    static const char *const unsafe[] = {"/..",    "/.",     "/a/../b",     "/a/./b",   "/a/..",
                                         "/a/.",   "/../a",  "/a/%2e%2e/b", "/a/%2E/b", "/a/.%2e/b",
                                         "/a%2fb", "/a%2Fb", "/a%5cb",      "/a%5Cb",   "/a\\b",
                                         "/a/%2e", "/a%2e"};

    for (size_t i = 0; i < CB_ARRAY_LEN(safe); i++) {
        if (hu_path_unsafe(safe[i], strlen(safe[i])))
            fail_msg("refused path '%s'", safe[i]);
    }
    for (size_t i = 0; i < CB_ARRAY_LEN(unsafe); i++) {
        if (!hu_path_unsafe(unsafe[i], strlen(unsafe[i])))
            fail_msg("accepted path '%s'", unsafe[i]);
    }
    /* Only the given length counts. */
    assert_false(hu_path_unsafe("/a/..", 3));
}

static void error_body_and_head_get(void **state)
{
    char *b = hu_error_body("Certificate with SHA256 \"x\" not allowed\n");
    struct http_head h;

    assert_string_equal(b, "{\"error\":\"Certificate with SHA256 \\\"x\\\" not allowed\\n\"}");
    free(b);
    memset(&h, 0, sizeof(h));
    h.hdrs[0] = (struct http_hdr){"Host", 4, "a", 1};
    h.hdrs[1] = (struct http_hdr){"Authorization", 13, "t", 1};
    h.nhdrs = 2;
    assert_ptr_equal(http_head_get(&h, "authorization"), &h.hdrs[1]);
    assert_null(http_head_get(&h, "cookie"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(example_has_every_key_and_loads),
        cmocka_unit_test(readme_documents_every_key),
        cmocka_unit_test(design_defaults),
        cmocka_unit_test(tls_versions),
        cmocka_unit_test(cross_key_rules),
        cmocka_unit_test(env_overrides),
        cmocka_unit_test(host_parsing),
        cmocka_unit_test(path_rewrite),
        cmocka_unit_test(header_rules),
        cmocka_unit_test(header_name_tokens),
        cmocka_unit_test(path_safety),
        cmocka_unit_test(error_body_and_head_get),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
