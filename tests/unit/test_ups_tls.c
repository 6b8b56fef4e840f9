/*
 * test_ups_tls: the upstream TLS lookups, table-driven: the client certificate for a target
 * (spec §8.5, scenario 76: precedence within a map, ports, one-level wildcards, IPv6, the API
 * map over the gateway's, the disabled flag) and the pinned public keys (spec §8.6); the
 * sharing of SSL_CTX between profiles and the pool keys; and which certificate ids a snapshot
 * asks authd for (upstream certificates with their keys, pins without).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/xmem.h"
#include "proxy/apis.h"
#include "proxy/proxy_cfg.h"
#include "proxy/ups_tls.h"

/* Scenario 76's gateway map. */
#define S76 "{\"*\":\"X\", \"*.example.com\":\"Y\", \"api.example.com\":\"Z\"}"
/* Every rule of one map, with and without ports. */
#define PORTS                                                                                      \
    "{\"*\":\"any\", \"*.example.com\":\"wild\", \"*.example.com:8443\":\"wild8443\","             \
    " \"api.example.com\":\"exact\", \"api.example.com:8443\":\"exact8443\"}"

struct cert_case {
    const char *authority; /* as in target_url */
    const char *gw;        /* JSON or NULL */
    const char *api;       /* JSON or NULL (= disabled or absent) */
    const char *want;      /* NULL = no certificate */
};

static const struct cert_case cert_cases[] = {
    /* scenario 76 */
    {"api.example.com:8443", S76, NULL, "Z"},
    {"web.example.com", S76, NULL, "Y"},
    {"a.b.example.com", S76, NULL, "X"}, /* one wildcard covers one label only */
    {"api.example.com", S76, NULL, "Z"},
    {"example.com", S76, NULL, "X"},
    {"other.org:443", S76, NULL, "X"},
    /* within a map: "*" < "*.d" < "*.d:port" < host < host:port */
    {"api.example.com:8443", PORTS, NULL, "exact8443"},
    {"api.example.com:9000", PORTS, NULL, "exact"},
    {"api.example.com", PORTS, NULL, "exact"},
    {"web.example.com:8443", PORTS, NULL, "wild8443"},
    {"web.example.com:9000", PORTS, NULL, "wild"},
    {"web.example.com", PORTS, NULL, "wild"},
    {"example.org:8443", PORTS, NULL, "any"},
    {"api.example.com", "{\"api.example.com:443\":\"p\"}", NULL, NULL}, /* no port, no match */
    /* the API map after the gateway map: any match in it wins */
    {"api.example.com", S76, "{\"*\":\"A\"}", "A"},
    {"api.example.com:8443", S76, "{\"*.example.com\":\"A\"}", "A"},
    {"other.org", "{\"*\":\"X\"}", "{\"*.example.com\":\"A\"}", "X"},
    {"api.example.com", NULL, "{\"api.example.com\":\"A\"}", "A"},
    {"api.example.com", "{}", "{}", NULL},
    /* upstream_certificates_disabled: the caller passes no API map */
    {"api.example.com", S76, NULL, "Z"},
    /* IPv4: the first label is "127" (Go's rules, exactly) */
    {"127.0.0.1:8443", "{\"127.0.0.1\":\"I\"}", NULL, "I"},
    {"127.0.0.1:8443", "{\"127.0.0.1\":\"I\", \"127.0.0.1:8443\":\"J\"}", NULL, "J"},
    {"127.0.0.1", "{\"*.0.0.1\":\"W\"}", NULL, "W"},
    /* IPv6 */
    {"[::1]:8443", "{\"::1\":\"V\"}", NULL, "V"},
    {"[::1]:8443", "{\"::1\":\"V\", \"[::1]:8443\":\"B\"}", NULL, "B"},
    {"[::1]", "{\"::1\":\"V\"}", NULL, "V"}, /* DESIGN deviation: Tyk needs "[::1]" here */
    {"[::1]", "{\"::1\":\"V\", \"[::1]\":\"C\"}", NULL, "C"},
    {"[2001:db8::1]:443", "{\"*\":\"X\", \"2001:db8::1\":\"D\"}", NULL, "D"},
    /* nothing configured */
    {"api.example.com", NULL, NULL, NULL},
    {"api.example.com", "[]", "\"x\"", NULL},
};

struct pin_case {
    const char *host; /* no port, IPv6 without brackets */
    const char *gw;
    const char *api;
    const char *want;
};

#define PINS "{\"*\":\"g1\", \"*.example.com\":\"g2\", \"api.example.com\":\"g3\"}"

static const struct pin_case pin_cases[] = {
    {"api.example.com", PINS, NULL, "g3"},
    {"web.example.com", PINS, NULL, "g2"},
    {"a.b.example.com", PINS, NULL, "g1"},
    {"127.0.0.1", "{\"127.0.0.1\":\"k1,k2\"}", NULL, "k1,k2"},
    {"::1", "{\"::1\":\"k6\"}", NULL, "k6"},
    /* the API map after the gateway map */
    {"api.example.com", PINS, "{\"*\":\"a1\"}", "a1"},
    {"other.org", "{\"*\":\"g1\"}", "{\"api.example.com\":\"a3\"}", "g1"},
    {"api.example.com", NULL, "{\"*.example.com\":\"a2\"}", "a2"},
    /* certificate_pinning_disabled: no API map */
    {"api.example.com", "{\"other.org\":\"g\"}", NULL, NULL},
    {"api.example.com", NULL, NULL, NULL},
};

static json_t *maybe_json(const char *s)
{
    json_t *j;

    if (s == NULL)
        return NULL;
    j = json_loads(s, JSON_DECODE_ANY, NULL);
    if (j == NULL)
        fail_msg("bad JSON in the table: %s", s);
    return j;
}

typedef const char *(*lookup_fn)(const char *host, const json_t *gw, const json_t *api);

/* Case i of a table: lookup(host, gw, api) must give want (NULL = nothing). */
static void check_lookup(size_t i, lookup_fn lookup, const char *host, const char *gw_json,
                         const char *api_json, const char *want)
{
    json_t *gw = maybe_json(gw_json), *api = maybe_json(api_json);
    const char *got = lookup(host, gw, api);

    if ((got == NULL) != (want == NULL) || (got != NULL && strcmp(got, want) != 0))
        fail_msg("case %zu: %s with gw %s, api %s: want %s, got %s", i, host,
                 gw_json != NULL ? gw_json : "none", api_json != NULL ? api_json : "none",
                 want != NULL ? want : "none", got != NULL ? got : "none");
    json_decref(gw);
    json_decref(api);
}

static void cert_lookup_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < CB_ARRAY_LEN(cert_cases); i++)
        check_lookup(i, ups_tls_cert_for_host, cert_cases[i].authority, cert_cases[i].gw,
                     cert_cases[i].api, cert_cases[i].want);
}

static void pin_lookup_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < CB_ARRAY_LEN(pin_cases); i++)
        check_lookup(i, ups_tls_pins_for_host, pin_cases[i].host, pin_cases[i].gw, pin_cases[i].api,
                     pin_cases[i].want);
}

/* Same configuration: one SSL_CTX; pins and the CN check change only the pool key;
 * versions, verification or the client certificate make another context. */
static void contexts_shared(void **state)
{
    struct proxy_config cfg;
    struct ups_tls_set *s;
    const struct ups_tls *a, *b, *c, *d, *e;
    static const unsigned char pin[1][SHA256_DIGEST_LENGTH] = {{1, 2, 3}};
    struct ups_tls_params p = {
        .host = "api.local", .verify = true, .min_version = 771, .max_version = 772};

    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    cfg.proxy_ssl_ca_file = "";
    s = ups_tls_set_new(&cfg);
    a = ups_tls_set_add(s, &p);
    p.host = "other.local";
    b = ups_tls_set_add(s, &p);
    assert_null(ups_tls_error(a));
    assert_int_equal(ups_tls_set_contexts(s), 1);
    assert_string_equal(ups_tls_key(a), ups_tls_key(b));
    p.force_cn = true;
    c = ups_tls_set_add(s, &p);
    assert_int_equal(ups_tls_set_contexts(s), 1);
    assert_string_not_equal(ups_tls_key(a), ups_tls_key(c));
    p.force_cn = false;
    p.pins = pin;
    p.npins = 1;
    d = ups_tls_set_add(s, &p); /* pins replace chain verification: another context */
    assert_int_equal(ups_tls_set_contexts(s), 2);
    assert_string_not_equal(ups_tls_key(a), ups_tls_key(d));
    p.pins = NULL;
    p.npins = 0;
    p.min_version = 772;
    e = ups_tls_set_add(s, &p);
    assert_int_equal(ups_tls_set_contexts(s), 3);
    assert_string_not_equal(ups_tls_key(a), ups_tls_key(e));
    e = ups_tls_set_add_error(s, "upstream client certificate x has no usable private key");
    assert_string_equal(ups_tls_error(e),
                        "upstream client certificate x has no usable private key");
    {
        bool asked = false;

        assert_null(ups_tls_ssl_new(e, &asked));
    }
    ups_tls_set_free(s);
    ups_tls_ca_free();
}

/* Upstream certificates are fetched with their keys, pins without; paths are not ids;
 * disabled maps are not fetched. */
static void referenced_ids(void **state)
{
    struct proxy_config cfg;
    json_t *list = json_loads(
        "{\"revision\":1,\"apis\":[{\"api_id\":\"a\",\"definition\":{\"api_id\":\"a\","
        "\"proxy\":{\"listen_path\":\"/a/\",\"target_url\":\"https://up.local\"},"
        "\"upstream_certificates\":{\"*\":\"apicert\"},"
        "\"pinned_public_keys\":{\"up.local\":\"pk1, /etc/pk.pem ,pk2\"}}},"
        "{\"api_id\":\"b\",\"definition\":{\"api_id\":\"b\",\"proxy\":{\"listen_path\":\"/b/\","
        "\"target_url\":\"https://up.local\"},\"upstream_certificates_disabled\":true,"
        "\"upstream_certificates\":{\"*\":\"offcert\"},\"certificate_pinning_disabled\":true,"
        "\"pinned_public_keys\":{\"*\":\"offpin\"}}}]}",
        0, NULL);
    json_t *refs;

    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    cfg.security_certificates_upstream = json_pack("{s:s}", "*", "gwcert");
    cfg.security_pinned_public_keys = json_pack("{s:s}", "*", "gwpin,gwcert");
    refs = apis_referenced_certs(list, &cfg);
    assert_true(json_is_true(json_object_get(refs, "gwcert")));
    assert_true(json_is_true(json_object_get(refs, "apicert")));
    assert_true(json_is_false(json_object_get(refs, "gwpin")));
    assert_true(json_is_false(json_object_get(refs, "pk1")));
    assert_true(json_is_false(json_object_get(refs, "pk2")));
    assert_null(json_object_get(refs, "/etc/pk.pem"));
    assert_null(json_object_get(refs, "offcert"));
    assert_null(json_object_get(refs, "offpin"));
    json_decref(refs);
    json_decref(cfg.security_certificates_upstream);
    json_decref(cfg.security_pinned_public_keys);
    json_decref(list);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cert_lookup_table),
        cmocka_unit_test(pin_lookup_table),
        cmocka_unit_test(contexts_shared),
        cmocka_unit_test(referenced_ids),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
