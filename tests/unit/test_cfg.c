/*
 * Unit tests of common/cfg, the table-driven configuration engine (STYLE 2.8, DESIGN §3),
 * on a sample table: defaults, file, environment, type/bounds/required errors, unknown keys,
 * redaction of sensitive values. No network.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/cfg.h"

#define SECRET "hunter2-s3cr3t"

struct sample_conf {
    bool hash_keys;
    char *listen_address;
    long long listen_port;
    char *name;
    long long pin;
    char *redis_host;
    char *redis_password;
    long long redis_port;
    char *secret;
    json_t *upstream;
    json_t *pinned;
    struct cfg_strlist prev_secrets;
    struct cfg_strlist tags;
};

static int validate_name(const void *field, char **err);
static int validate_secret(const void *field, char **err);

#define OFF(f) offsetof(struct sample_conf, f)
static const struct cfg_key sample_table[] = {
    {"hash_keys", CFG_BOOL, OFF(hash_keys), "true", 0, 0, 0, NULL},
    {"listen_address", CFG_STRING, OFF(listen_address), "127.0.0.1", 0, 0, 0, NULL},
    {"listen_port", CFG_INT, OFF(listen_port), "8181", 1, 65535, 0, NULL},
    {"name", CFG_STRING, OFF(name), NULL, 0, 0, 0, validate_name},
    {"pin", CFG_INT, OFF(pin), NULL, 0, 9999, CFG_F_SENSITIVE, NULL},
    {"redis.host", CFG_STRING, OFF(redis_host), "localhost", 0, 0, 0, NULL},
    {"redis.password", CFG_STRING, OFF(redis_password), NULL, 0, 0, CFG_F_SENSITIVE, NULL},
    {"redis.port", CFG_INT, OFF(redis_port), "6379", 1, 65535, 0, NULL},
    {"secret", CFG_STRING, OFF(secret), NULL, 0, 0, CFG_F_REQUIRED | CFG_F_SENSITIVE,
     validate_secret},
    {"security.certificates.upstream", CFG_JSON, OFF(upstream), "{}", 0, 0, 0, NULL},
    {"security.pinned_public_keys", CFG_JSON, OFF(pinned), NULL, 0, 0, 0, NULL},
    {"security.previous_secrets", CFG_STRLIST, OFF(prev_secrets), "[]", 0, 0, CFG_F_SENSITIVE,
     NULL},
    {"tags", CFG_STRLIST, OFF(tags), "[\"a\",\"b\"]", 0, 0, 0, NULL},
};
#define NTABLE CB_ARRAY_LEN(sample_table)

static int validate_name(const void *field, char **err)
{
    const char *s = *(char *const *)field;

    if (s != NULL && strchr(s, ' ') != NULL) {
        *err = xstrdup("must not contain spaces");
        return -1;
    }
    return 0;
}

/* A careless validator that quotes the value: cfg must not pass that on. */
static int validate_secret(const void *field, char **err)
{
    const char *s = *(char *const *)field;

    if (s != NULL && strncmp(s, "bad", 3) == 0) {
        *err = xasprintf("'%s' starts with bad", s);
        return -1;
    }
    return 0;
}

/* Load text (+ env) into *c; returns rc and leaves the error in *err (or NULL). */
static int load(struct sample_conf *c, const char *text, char *const *envp, char **err)
{
    memset(c, 0, sizeof(*c));
    return cfg_load_text(sample_table, NTABLE, c, text, text ? strlen(text) : 0, envp, err);
}

/* Expect the load to fail with exactly want; frees everything. */
static void load_fails(const char *text, char *const *envp, const char *want)
{
    struct sample_conf c;
    char *err = NULL;

    assert_int_equal(load(&c, text, envp, &err), -1);
    assert_non_null(err);
    if (want != NULL)
        assert_string_equal(err, want);
    assert_null(strstr(err, SECRET));
    free(err);
    cfg_free(sample_table, NTABLE, &c);
}

static void test_defaults(void **state)
{
    struct sample_conf c;
    char *err = NULL;

    assert_int_equal(load(&c, "{\"secret\":\"" SECRET "\"}", NULL, &err), 0);
    assert_null(err);
    assert_true(c.hash_keys);
    assert_string_equal(c.listen_address, "127.0.0.1");
    assert_int_equal(c.listen_port, 8181);
    assert_null(c.name);
    assert_int_equal(c.pin, 0);
    assert_string_equal(c.redis_host, "localhost");
    assert_null(c.redis_password);
    assert_int_equal(c.redis_port, 6379);
    assert_string_equal(c.secret, SECRET);
    assert_true(json_is_object(c.upstream) && json_object_size(c.upstream) == 0);
    assert_null(c.pinned);
    assert_int_equal(c.prev_secrets.n, 0);
    assert_int_equal(c.tags.n, 2);
    assert_string_equal(c.tags.v[0], "a");
    assert_string_equal(c.tags.v[1], "b");
    cfg_free(sample_table, NTABLE, &c);
    assert_null(c.listen_address);
    assert_null(c.upstream);
    assert_null(c.tags.v);
    assert_int_equal(c.tags.n, 0);
}

static void test_file_values(void **state)
{
    struct sample_conf c;
    char *err = NULL;
    json_t *want;
    const char *text = "{\"secret\":\"s\",\"listen_port\":1,\"hash_keys\":false,"
                       "\"redis\":{\"host\":\"x\",\"port\":65535,\"password\":\"pw\"},"
                       "\"security\":{\"certificates\":{\"upstream\":"
                       "{\"*.a.com\":\"id1\",\"deep\":{\"x\":[1,2]}}},"
                       "\"pinned_public_keys\":{\"b.com\":\"k1,k2\"},"
                       "\"previous_secrets\":[\"p1\",\"p2\"]},"
                       "\"tags\":[],\"name\":\"n1\",\"pin\":0}";

    assert_int_equal(load(&c, text, NULL, &err), 0);
    assert_int_equal(c.listen_port, 1);
    assert_false(c.hash_keys);
    assert_string_equal(c.redis_host, "x");
    assert_int_equal(c.redis_port, 65535);
    assert_string_equal(c.redis_password, "pw");
    assert_string_equal(c.name, "n1");
    assert_int_equal(c.tags.n, 0);
    assert_int_equal(c.prev_secrets.n, 2);
    assert_string_equal(c.prev_secrets.v[1], "p2");
    /* A CFG_JSON key takes its whole subtree, whatever the names inside. */
    want = json_loads("{\"*.a.com\":\"id1\",\"deep\":{\"x\":[1,2]}}", 0, NULL);
    assert_true(json_equal(c.upstream, want));
    json_decref(want);
    assert_string_equal(json_string_value(json_object_get(c.pinned, "b.com")), "k1,k2");
    cfg_free(sample_table, NTABLE, &c);
}

static void test_text_not_nul_terminated(void **state)
{
    struct sample_conf c;
    const char buf[] = "{\"secret\":\"s\",\"listen_port\":2}GARBAGE";
    char *err = NULL;

    memset(&c, 0, sizeof(c));
    assert_int_equal(cfg_load_text(sample_table, NTABLE, &c, buf, strlen(buf) - 7, NULL, &err), 0);
    assert_int_equal(c.listen_port, 2);
    cfg_free(sample_table, NTABLE, &c);
}

static void test_unknown_keys(void **state)
{
    char longname[300];

    load_fails("{\"secret\":\"s\",\"redis\":{\"hots\":\"x\"}}", NULL,
               "unknown configuration key 'redis.hots'");
    load_fails("{\"listen_prot\":1}", NULL, "unknown configuration key 'listen_prot'");
    /* Dotted member names are not a second spelling of nesting. */
    load_fails("{\"redis.host\":\"x\"}", NULL, "unknown configuration key 'redis.host'");
    /* "security.certificates" is a prefix; "security.certificates.apis" is not a key. */
    load_fails("{\"security\":{\"certificates\":{\"apis\":[]}}}", NULL,
               "unknown configuration key 'security.certificates.apis'");
    /* A key that is a table key's value type, not a prefix: listen_port is a leaf. */
    load_fails("{\"listen_port\":{\"x\":1}}", NULL,
               "configuration key 'listen_port': expected an integer");
    load_fails("{\"redis\":\"localhost\"}", NULL, "configuration key 'redis': expected an object");
    load_fails("{\"\":1}", NULL, "unknown configuration key ''");
    /* Unknown names are quoted sanitised and capped. */
    load_fails("{\"a\\u0001b\":1}", NULL, "unknown configuration key 'a?b'");
    memset(longname, 'k', sizeof(longname));
    memcpy(longname, "{\"", 2);
    memcpy(longname + sizeof(longname) - 6, "\":1}", 5);
    load_fails(longname, NULL,
               "unknown configuration key '"
               "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
               "...'");
}

static void test_type_errors(void **state)
{
    load_fails("{\"listen_port\":\"80\"}", NULL,
               "configuration key 'listen_port': expected an integer");
    load_fails("{\"listen_port\":80.0}", NULL,
               "configuration key 'listen_port': expected an integer");
    load_fails("{\"hash_keys\":\"yes\"}", NULL,
               "configuration key 'hash_keys': expected true or false");
    load_fails("{\"hash_keys\":1}", NULL, "configuration key 'hash_keys': expected true or false");
    load_fails("{\"listen_address\":null}", NULL,
               "configuration key 'listen_address': expected a string");
    load_fails("{\"tags\":[\"a\",1]}", NULL,
               "configuration key 'tags': expected an array of strings");
    load_fails("{\"tags\":\"a,b\"}", NULL,
               "configuration key 'tags': expected an array of strings");
    /* A sensitive key's wrong value is not quoted. */
    load_fails("{\"secret\":[\"" SECRET "\"]}", NULL,
               "configuration key 'secret': expected a string");
}

static void test_bounds(void **state)
{
    load_fails("{\"secret\":\"s\",\"listen_port\":70000}", NULL,
               "configuration key 'listen_port': 70000 is out of range [1, 65535]");
    load_fails("{\"secret\":\"s\",\"listen_port\":0}", NULL,
               "configuration key 'listen_port': 0 is out of range [1, 65535]");
    load_fails("{\"secret\":\"s\",\"listen_port\":-1}", NULL,
               "configuration key 'listen_port': -1 is out of range [1, 65535]");
    /* Sensitive ints do not show the value. */
    load_fails("{\"secret\":\"s\",\"pin\":123456}", NULL,
               "configuration key 'pin': value is out of range [0, 9999]");
    /* Beyond long long: a JSON-level error. */
    load_fails("{\"listen_port\":123456789012345678901234567890}", NULL,
               "invalid JSON in configuration text at line 1, column 45: number out of range");
}

static void test_required(void **state)
{
    load_fails(NULL, NULL, "configuration key 'secret' is required");
    load_fails("{}", NULL, "configuration key 'secret' is required");
    load_fails("{\"secret\":\"\"}", NULL, "configuration key 'secret' is required");
}

static void test_validate(void **state)
{
    struct sample_conf c;
    char *err = NULL;

    load_fails("{\"secret\":\"s\",\"name\":\"a b\"}", NULL,
               "configuration key 'name': must not contain spaces");
    /* The validator quoted the sensitive value: cfg withholds its message. */
    load_fails("{\"secret\":\"bad" SECRET "\"}", NULL, "configuration key 'secret': invalid value");
    /* Unset keys are not validated. */
    assert_int_equal(load(&c, "{\"secret\":\"s\"}", NULL, &err), 0);
    cfg_free(sample_table, NTABLE, &c);
}

static void test_env(void **state)
{
    char *env[] = {"PATH=/bin",
                   "CERTBOUND_LISTEN_PORTX=5",
                   "CERTBOUND_LISTEN_PORT=9000",
                   "CERTBOUND_LISTEN_PORT=9001",
                   "CERTBOUND_REDIS_HOST=envhost",
                   "CERTBOUND_HASH_KEYS=0",
                   "CERTBOUND_TAGS= x , y,,z ",
                   "CERTBOUND_SECURITY_PREVIOUS_SECRETS=[\"p,1\",\"p2\"]",
                   "CERTBOUND_SECURITY_PINNED_PUBLIC_KEYS={\"a\":\"b\"}",
                   "CERTBOUND_SECRET=" SECRET,
                   NULL};
    struct sample_conf c;
    char *err = NULL;

    assert_int_equal(load(&c, "{\"listen_port\":1,\"secret\":\"file\"}", env, &err), 0);
    assert_int_equal(c.listen_port, 9000); /* env beats file; first occurrence wins */
    assert_string_equal(c.redis_host, "envhost");
    assert_false(c.hash_keys);
    assert_string_equal(c.secret, SECRET);
    assert_int_equal(c.tags.n, 3);
    assert_string_equal(c.tags.v[0], "x");
    assert_string_equal(c.tags.v[1], "y");
    assert_string_equal(c.tags.v[2], "z");
    assert_int_equal(c.prev_secrets.n, 2);
    assert_string_equal(c.prev_secrets.v[0], "p,1");
    assert_string_equal(json_string_value(json_object_get(c.pinned, "a")), "b");
    cfg_free(sample_table, NTABLE, &c);
}

static void env_bool_is(const char *text, bool want)
{
    char var[64];
    char *env[] = {var, "CERTBOUND_SECRET=s", NULL};
    struct sample_conf c;
    char *err = NULL;

    snprintf(var, sizeof(var), "CERTBOUND_HASH_KEYS=%s", text);
    assert_int_equal(load(&c, NULL, env, &err), 0);
    assert_int_equal(c.hash_keys, want);
    cfg_free(sample_table, NTABLE, &c);
}

static void test_env_values(void **state)
{
    char *empty_list[] = {"CERTBOUND_TAGS=", "CERTBOUND_SECRET=s", NULL};
    struct sample_conf c;
    char *err = NULL;

    env_bool_is("true", true);
    env_bool_is("1", true);
    env_bool_is("false", false);
    env_bool_is("0", false);
    assert_int_equal(load(&c, NULL, empty_list, &err), 0);
    assert_int_equal(c.tags.n, 0);
    cfg_free(sample_table, NTABLE, &c);
}

static void test_env_errors(void **state)
{
    char *e1[] = {"CERTBOUND_HASH_KEYS=yes", NULL};
    char *e2[] = {"CERTBOUND_LISTEN_PORT=80x", NULL};
    char *e3[] = {"CERTBOUND_LISTEN_PORT=99999999999999999999999", NULL};
    char *e4[] = {"CERTBOUND_LISTEN_PORT=70000", NULL};
    char *e5[] = {"CERTBOUND_SECURITY_PINNED_PUBLIC_KEYS={\"a\":", NULL};
    char *e6[] = {"CERTBOUND_SECURITY_PREVIOUS_SECRETS=[\"" SECRET, NULL};
    char *e7[] = {"CERTBOUND_TAGS=[1]", NULL};
    char *e8[] = {"CERTBOUND_PIN=" SECRET, NULL};
    char *e9[] = {"CERTBOUND_LISTEN_PORT= 80", NULL};

    load_fails(NULL, e1,
               "configuration key 'hash_keys' (environment variable CERTBOUND_HASH_KEYS): "
               "expected true, false, 1 or 0");
    load_fails(NULL, e2,
               "configuration key 'listen_port' (environment variable CERTBOUND_LISTEN_PORT): "
               "expected an integer");
    load_fails(NULL, e3,
               "configuration key 'listen_port' (environment variable CERTBOUND_LISTEN_PORT): "
               "value is out of range [1, 65535]");
    load_fails(NULL, e4,
               "configuration key 'listen_port' (environment variable CERTBOUND_LISTEN_PORT): "
               "70000 is out of range [1, 65535]");
    load_fails(NULL, e5,
               "configuration key 'security.pinned_public_keys' (environment variable "
               "CERTBOUND_SECURITY_PINNED_PUBLIC_KEYS): invalid JSON at column 5: "
               "unexpected end of input");
    load_fails(NULL, e6, NULL);
    load_fails(NULL, e7,
               "configuration key 'tags' (environment variable CERTBOUND_TAGS): "
               "expected an array of strings");
    load_fails(NULL, e8,
               "configuration key 'pin' (environment variable CERTBOUND_PIN): "
               "expected an integer");
    load_fails(NULL, e9, NULL);
}

static void test_secrets_never_in_errors(void **state)
{
    /* Broken JSON around a secret: jansson's "near '...'" excerpt must not leak. */
    load_fails("{\"secret\":\"" SECRET, NULL, NULL);
    load_fails("{\"secret\":\"" SECRET "\x01\"}", NULL, NULL);
    load_fails("{\"secret\":\"" SECRET "\" \"x\"}", NULL, NULL);
    load_fails("{\"secret\":\"" SECRET "\\q\"}", NULL, NULL);
    load_fails("{\"secret\":" SECRET "}", NULL, NULL);
    load_fails("{\"secret\":\"" SECRET "\xff\"}", NULL, NULL);
    load_fails("{\"secret\":\"" SECRET "\",\"secret\":\"x\"}", NULL, NULL);
}

static char *write_temp(const char *content)
{
    const char *dir = getenv("TMPDIR");
    char *path = xasprintf("%s/test_cfg.XXXXXX", dir != NULL ? dir : "/tmp");
    int fd = mkstemp(path);
    size_t n = strlen(content);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, n), (ssize_t)n);
    close(fd);
    return path;
}

static void test_file(void **state)
{
    struct sample_conf c;
    char *path = write_temp("{\n  \"secret\": \"s\",\n  \"redis\": {\"port\": 7000}\n}\n");
    char *err = NULL;

    memset(&c, 0, sizeof(c));
    assert_int_equal(cfg_load(sample_table, NTABLE, &c, path, NULL, &err), 0);
    assert_int_equal(c.redis_port, 7000);
    cfg_free(sample_table, NTABLE, &c);
    unlink(path);
    free(path);
}

static void test_file_errors(void **state)
{
    struct sample_conf c;
    char *path = write_temp("{\n  \"secret\": \"s\",\n  oops\n}\n");
    char *want;
    char *err = NULL;

    memset(&c, 0, sizeof(c));
    assert_int_equal(cfg_load(sample_table, NTABLE, &c, path, NULL, &err), -1);
    want = xasprintf("invalid JSON in configuration file '%s' at line 3, column 6: syntax error",
                     path);
    assert_string_equal(err, want);
    CB_FREE(want);
    CB_FREE(err);
    cfg_free(sample_table, NTABLE, &c);
    unlink(path);
    /* A missing file names the path and the reason. */
    assert_int_equal(cfg_load(sample_table, NTABLE, &c, path, NULL, &err), -1);
    want = xasprintf("cannot open configuration file '%s': No such file or directory", path);
    assert_string_equal(err, want);
    free(want);
    free(err);
    free(path);
    cfg_free(sample_table, NTABLE, &c);
}

static void test_top_level(void **state)
{
    load_fails("[1]", NULL, "configuration text: the top level must be a JSON object");
    load_fails("", NULL,
               "invalid JSON in configuration text at line 1, column 0: unexpected end of input");
    load_fails("{} {}", NULL,
               "invalid JSON in configuration text at line 1, column 4: "
               "unexpected text after the JSON value");
    load_fails("{\"secret\":\"s\",\"secret\":\"t\"}", NULL, NULL);
}

static void test_bad_default(void **state)
{
    static const struct cfg_key bad[] = {
        {"port", CFG_INT, 0, "eighty", 1, 65535, 0, NULL},
    };
    long long port = 0;
    char *err = NULL;

    assert_int_equal(cfg_load_text(bad, 1, &port, NULL, 0, NULL, &err), -1);
    assert_string_equal(err, "configuration key 'port': invalid default: expected an integer");
    free(err);
}

static void test_dump(void **state)
{
    char *env[] = {"CERTBOUND_REDIS_PASSWORD=" SECRET, NULL};
    struct sample_conf c;
    char *err = NULL;
    json_t *d;
    char *text;

    assert_int_equal(load(&c, "{\"secret\":\"" SECRET "\",\"tags\":[\"t\"]}", env, &err), 0);
    d = cfg_dump(sample_table, NTABLE, &c);
    assert_int_equal(json_object_size(d), NTABLE);
    assert_string_equal(json_string_value(json_object_get(d, "secret")), "<redacted>");
    assert_string_equal(json_string_value(json_object_get(d, "redis.password")), "<redacted>");
    assert_string_equal(json_string_value(json_object_get(d, "redis.host")), "localhost");
    assert_int_equal(json_integer_value(json_object_get(d, "listen_port")), 8181);
    assert_true(json_is_true(json_object_get(d, "hash_keys")));
    assert_true(json_is_null(json_object_get(d, "name")));
    assert_string_equal(json_string_value(json_array_get(json_object_get(d, "tags"), 0)), "t");
    assert_true(json_is_object(json_object_get(d, "security.certificates.upstream")));
    text = json_dumps(d, 0);
    assert_null(strstr(text, SECRET));
    free(text);
    json_decref(d);
    cfg_free(sample_table, NTABLE, &c);
}

static void test_env_name(void **state)
{
    char *n = cfg_env_name("redis.host");

    assert_string_equal(n, "CERTBOUND_REDIS_HOST");
    free(n);
    n = cfg_env_name("security.private_certificate_encoding_secret");
    assert_string_equal(n, "CERTBOUND_SECURITY_PRIVATE_CERTIFICATE_ENCODING_SECRET");
    free(n);
}

/* Inputs of the kind the fuzzer throws: each either loads or fails with a message. */
static void test_robust(void **state)
{
    static const char *inputs[] = {
        "{\"redis\":{\"redis\":{\"redis\":{}}}}",
        "{\"security\":{\"certificates\":{}}}",
        "{\"security\":{}}",
        "{\"redis\":{}}",
        "\xef\xbb\xbf{}",
        "{\"a\":\"\\u0000\"}",
        "{\"listen_port\":-9223372036854775808}",
        "{\"security\":{\"pinned_public_keys\":[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]}}",
        "nul",
        "{\"tags\":[\"\\ud800\"]}",
    };
    struct sample_conf c;
    char *err = NULL;
    char *deep = xmalloc(20001);
    int rc;

    for (size_t i = 0; i < CB_ARRAY_LEN(inputs); i++) {
        rc = load(&c, inputs[i], NULL, &err);
        assert_true(rc == 0 || rc == -1);
        assert_true((rc == 0) == (err == NULL));
        CB_FREE(err);
        cfg_free(sample_table, NTABLE, &c);
    }
    memset(deep, '[', 20000);
    deep[20000] = '\0';
    load_fails(deep, NULL,
               "invalid JSON in configuration text at line 1, column 2049: nesting too deep");
    free(deep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_file_values),
        cmocka_unit_test(test_text_not_nul_terminated),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_type_errors),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_required),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_env_values),
        cmocka_unit_test(test_env_errors),
        cmocka_unit_test(test_secrets_never_in_errors),
        cmocka_unit_test(test_file),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_top_level),
        cmocka_unit_test(test_bad_default),
        cmocka_unit_test(test_dump),
        cmocka_unit_test(test_env_name),
        cmocka_unit_test(test_robust),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
