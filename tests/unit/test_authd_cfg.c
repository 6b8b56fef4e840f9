/*
 * test_authd_cfg: authd's key table against its documentation (STYLE 2.8): every key is in
 * etc/authd.example.json and in the README's configuration table, the example loads, and
 * the defaults of DESIGN §3 hold.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "authd/authd_cfg.h"
#include "tests/harness/testutil.h"

static void example_has_every_key_and_loads(void **state)
{
    char *path = tu_srcpath("etc/authd.example.json"), *err = NULL;
    char *text = tu_read_file(path, NULL);
    struct authd_config c;

    assert_non_null(text);
    for (size_t i = 0; i < authd_cfg_nkeys; i++) {
        const char *dot = strrchr(authd_cfg_keys[i].path, '.');
        char *needle = xasprintf("\"%s\"", dot != NULL ? dot + 1 : authd_cfg_keys[i].path);

        if (strstr(text, needle) == NULL)
            fail_msg("etc/authd.example.json lacks %s", authd_cfg_keys[i].path);
        free(needle);
    }
    memset(&c, 0, sizeof(c));
    if (authd_cfg_load(&c, path, NULL, &err) < 0)
        fail_msg("the example config does not load: %s", err);
    authd_cfg_free(&c);
    free(text);
    free(path);
}

static void readme_documents_every_key(void **state)
{
    tu_assert_readme_documents(authd_cfg_keys, authd_cfg_nkeys,
                               "## Configuration (certbound-authd)");
}

static void design_defaults(void **state)
{
    char *const env[] = {"CERTBOUND_SECRET=x",
                         "CERTBOUND_SECURITY_PRIVATE_CERTIFICATE_ENCODING_SECRET=y", NULL};
    struct authd_config c;
    char *err = NULL;

    memset(&c, 0, sizeof(c));
    if (authd_cfg_load(&c, NULL, env, &err) < 0)
        fail_msg("%s", err);
    assert_string_equal(c.listen_address, "127.0.0.1");
    assert_int_equal(c.listen_port, 8181);
    assert_string_equal(c.rpc_listen, "127.0.0.1:9191");
    assert_true(c.hash_keys);
    assert_string_equal(c.hash_key_function, "sha256");
    assert_int_equal(c.expired_key_retention_s, 604800);
    assert_false(c.allow_unsafe_dynamic_mtls_token);
    assert_false(c.check_listen_allow_remote);
    assert_int_equal(c.https_min_version, 771);
    assert_int_equal(c.https_max_version, 772);
    authd_cfg_free(&c);
}

static void cross_key_rules(void **state)
{
    char *const env[] = {"CERTBOUND_SECRET=x",
                         "CERTBOUND_SECURITY_PRIVATE_CERTIFICATE_ENCODING_SECRET=y",
                         "CERTBOUND_HTTP_SERVER_OPTIONS_MIN_VERSION=772",
                         "CERTBOUND_HTTP_SERVER_OPTIONS_MAX_VERSION=771", NULL};
    char *const env2[] = {"CERTBOUND_SECRET=x",
                          "CERTBOUND_SECURITY_PRIVATE_CERTIFICATE_ENCODING_SECRET=y",
                          "CERTBOUND_HASH_KEY_FUNCTION=md5", NULL};
    struct authd_config c;
    char *err = NULL;

    memset(&c, 0, sizeof(c));
    assert_int_equal(authd_cfg_load(&c, NULL, env, &err), -1);
    assert_non_null(strstr(err, "min_version"));
    free(err);
    authd_cfg_free(&c);
    memset(&c, 0, sizeof(c));
    err = NULL;
    assert_int_equal(authd_cfg_load(&c, NULL, env2, &err), -1);
    assert_non_null(strstr(err, "hash_key_function"));
    free(err);
    authd_cfg_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(example_has_every_key_and_loads),
        cmocka_unit_test(readme_documents_every_key),
        cmocka_unit_test(design_defaults),
        cmocka_unit_test(cross_key_rules),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
