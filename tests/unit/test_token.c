/*
 * Unit tests of common/token: the spec's test vectors (spec §7.2), generateToken (§4.2),
 * algorithm detection and the org of a token (§7.3). No network.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/token.h"

/* {"org":"default","id":"0123…cdef"(64),"h":"murmur64"} (spec §7.2). */
#define SPEC_TOKEN                                                                                 \
    "eyJvcmciOiJkZWZhdWx0IiwiaWQiOiIwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlh"     \
    "YmNkZWYwMTIzNDU2Nzg5YWJjZGVmIiwiaCI6Im11cm11cjY0In0="
#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void hash_is(enum token_algo algo, const char *in, const char *want)
{
    char out[TOKEN_HASH_HEX_MAX + 1];

    memset(out, 'X', sizeof(out));
    token_hash_hex(algo, in, strlen(in), out);
    assert_string_equal(out, want);
}

static void test_spec_vectors(void **state)
{
    hash_is(TOKEN_ALGO_MURMUR32, "abcd", "86a7049e");
    hash_is(TOKEN_ALGO_MURMUR32, "abcdXYZ", "86a7049e");
    hash_is(TOKEN_ALGO_MURMUR64, "abcd", "b87bb7d64656cd4f");
    hash_is(TOKEN_ALGO_MURMUR128, "abcd", "b87bb7d64656cd4ff2003e886073e875");
    hash_is(TOKEN_ALGO_MURMUR64, SPEC_TOKEN, "439b0139029e9f0e");
    assert_int_equal(murmur3_tyk32("abcd", 4), 0x86a7049eu);
}

static void test_empty_input(void **state)
{
    uint64_t h[2] = {1, 1};

    hash_is(TOKEN_ALGO_MURMUR32, "", "00000000");
    hash_is(TOKEN_ALGO_MURMUR64, "", "0000000000000000");
    hash_is(TOKEN_ALGO_MURMUR128, "", "00000000000000000000000000000000");
    hash_is(TOKEN_ALGO_SHA256, "",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    murmur3_x64_128("", 0, 0, h);
    assert_true(h[0] == 0 && h[1] == 0);
    /* The trailing 1-3 bytes never count in Tyk's murmur32. */
    assert_int_equal(murmur3_tyk32("abc", 3), 0);
}

static void test_murmur_more(void **state)
{
    /*
     * Well-known reference of MurmurHash3_x64_128, seed 0 (two blocks plus a tail): digest
     * bytes 6c1b07bc7bbc4be3 47939ac4a93c437a, i.e. h1 and h2 little-endian. Tyk prints each
     * half big-endian.
     */
    hash_is(TOKEN_ALGO_MURMUR128, "The quick brown fox jumps over the lazy dog",
            "e34bbc7bbc071b6c7a433ca9c49a9347");
    /* murmur64 is the first half of murmur128, for every tail length. */
    for (size_t n = 0; n <= 33; n++) {
        char in[40];
        char h64[TOKEN_HASH_HEX_MAX + 1];
        char h128[TOKEN_HASH_HEX_MAX + 1];

        memset(in, 'a', n);
        in[n] = '\0';
        token_hash_hex(TOKEN_ALGO_MURMUR64, in, n, h64);
        token_hash_hex(TOKEN_ALGO_MURMUR128, in, n, h128);
        assert_int_equal(strlen(h64), 16);
        assert_int_equal(strlen(h128), 32);
        assert_memory_equal(h64, h128, 16);
    }
}

static void test_sha256(void **state)
{
    hash_is(TOKEN_ALGO_SHA256, "abcd",
            "88d4266fd4e6338d13b845fcf289579d209c897823b9217da3e161936f031589");
}

static void test_algo_parse(void **state)
{
    enum token_algo a = TOKEN_ALGO_SHA256;

    assert_int_equal(token_algo_parse("murmur64", &a), 0);
    assert_int_equal(a, TOKEN_ALGO_MURMUR64);
    assert_int_equal(token_algo_parse("murmur128", &a), 0);
    assert_int_equal(a, TOKEN_ALGO_MURMUR128);
    assert_int_equal(token_algo_parse("murmur32", &a), 0);
    assert_int_equal(a, TOKEN_ALGO_MURMUR32);
    assert_int_equal(token_algo_parse("sha256", &a), 0);
    assert_int_equal(a, TOKEN_ALGO_SHA256);
    assert_int_equal(token_algo_parse("SHA256", &a), -1);
    assert_int_equal(token_algo_parse("", &a), -1);
    assert_int_equal(token_algo_parse("md5", &a), -1);
}

static void gen_is(const char *org, const char *id, const char *fn, const char *want)
{
    char *t = token_generate(org, id, fn);

    assert_string_equal(t, want);
    free(t);
}

static void test_generate(void **state)
{
    /* Spec vector: the org prefix of the id is stripped before encoding. */
    gen_is("default", "default" HEX64, "murmur64", SPEC_TOKEN);
    gen_is("default", HEX64, "murmur64", SPEC_TOKEN);
    /* Empty org: nothing stripped, "org":"" encoded. */
    gen_is("", "abc", "sha256", "eyJvcmciOiIiLCJpZCI6ImFiYyIsImgiOiJzaGEyNTYifQ==");
    /* Unpadded length (multiple of 3 bytes). */
    gen_is("o1", "o1xyz", "murmur128", "eyJvcmciOiJvMSIsImlkIjoieHl6IiwiaCI6Im11cm11cjEyOCJ9");
    /* Legacy (no hash function): org + id, with the org stripped once. */
    gen_is("org1", "org1abc", NULL, "org1abc");
    gen_is("org1", "abc", "", "org1abc");
    gen_is("", "abc", NULL, "abc");
    gen_is("org1", "org1", NULL, "org1");
    /* Only a prefix is stripped. */
    gen_is("org1", "xorg1", NULL, "org1xorg1");
}

static void test_generate_unknown_fn(void **state)
{
    char *t = token_generate("default", HEX64, "md5");
    char *want = token_generate("default", HEX64, "murmur64");

    /* Tyk's GenerateToken writes murmur64 in place of an unknown name. */
    assert_string_equal(t, want);
    assert_int_equal(token_algo_of(t, strlen(t), TOKEN_ALGO_SHA256), TOKEN_ALGO_MURMUR64);
    free(t);
    free(want);
}

static enum token_algo algo_of(const char *t, enum token_algo legacy)
{
    return token_algo_of(t, strlen(t), legacy);
}

static void test_algo_of(void **state)
{
    static const char *fns[] = {"sha256", "murmur64", "murmur128", "murmur32"};
    static const enum token_algo want[] = {TOKEN_ALGO_SHA256, TOKEN_ALGO_MURMUR64,
                                           TOKEN_ALGO_MURMUR128, TOKEN_ALGO_MURMUR32};
    char *t;

    for (size_t i = 0; i < 4; i++) {
        t = token_generate("o", "id1", fns[i]);
        assert_int_equal(algo_of(t, TOKEN_ALGO_MURMUR64), want[i]);
        free(t);
    }
    assert_int_equal(algo_of(SPEC_TOKEN, TOKEN_ALGO_SHA256), TOKEN_ALGO_MURMUR64);
    /* Legacy tokens use the caller's algorithm. */
    assert_int_equal(algo_of("org1abcdef", TOKEN_ALGO_SHA256), TOKEN_ALGO_SHA256);
    assert_int_equal(algo_of("org1abcdef", TOKEN_ALGO_MURMUR32), TOKEN_ALGO_MURMUR32);
    assert_int_equal(algo_of("", TOKEN_ALGO_MURMUR128), TOKEN_ALGO_MURMUR128);
}

static void test_algo_of_padding_optional(void **state)
{
    /* SPEC_TOKEN without its '=' still decodes; with the padding wrong it is legacy. */
    char t[sizeof(SPEC_TOKEN) + 4];
    size_t n = strlen(SPEC_TOKEN);

    memcpy(t, SPEC_TOKEN, n - 1);
    t[n - 1] = '\0';
    assert_int_equal(algo_of(t, TOKEN_ALGO_SHA256), TOKEN_ALGO_MURMUR64);
    memcpy(t, SPEC_TOKEN, n + 1);
    strcat(t, "=");
    assert_int_equal(algo_of(t, TOKEN_ALGO_SHA256), TOKEN_ALGO_SHA256);
}

static void test_algo_of_odd_tokens(void **state)
{
    char *big;
    size_t n;

    /* Tyk's TestMurmur3CharBug: a JSON token with "abc" appended is no longer base64. */
    assert_int_equal(algo_of(SPEC_TOKEN "abc", TOKEN_ALGO_MURMUR32), TOKEN_ALGO_MURMUR32);
    /* base64 of {"org":"o","id":"x"}: no "h" → legacy. */
    assert_int_equal(algo_of("eyJvcmciOiJvIiwiaWQiOiJ4In0=", TOKEN_ALGO_SHA256), TOKEN_ALGO_SHA256);
    /* {"h":""} → legacy, as Tyk's empty algorithm. */
    assert_int_equal(algo_of("eyJoIjoiIn0=", TOKEN_ALGO_SHA256), TOKEN_ALGO_SHA256);
    /* {"h":"md5"} → unknown name hashes as murmur64. */
    assert_int_equal(algo_of("eyJoIjoibWQ1In0=", TOKEN_ALGO_SHA256), TOKEN_ALGO_MURMUR64);
    /* {"h":5} → not a string → legacy. */
    assert_int_equal(algo_of("eyJoIjo1fQ==", TOKEN_ALGO_SHA256), TOKEN_ALGO_SHA256);
    /* ["h"] is JSON but not an object. */
    assert_int_equal(algo_of("WyJoIl0=", TOKEN_ALGO_SHA256), TOKEN_ALGO_SHA256);
    /* {"h":"murmur64","h":"sha256"}: duplicate keys are "weird" → legacy. */
    assert_int_equal(algo_of("eyJoIjoibXVybXVyNjQiLCJoIjoic2hhMjU2In0=", TOKEN_ALGO_SHA256),
                     TOKEN_ALGO_SHA256);
    /* Invalid base64 characters, URL-safe alphabet, whitespace, lone char. */
    assert_int_equal(algo_of("ey!!", TOKEN_ALGO_SHA256), TOKEN_ALGO_SHA256);
    assert_int_equal(algo_of("eyJoIjoibWQ1In0_", TOKEN_ALGO_SHA256), TOKEN_ALGO_SHA256);
    assert_int_equal(algo_of("eyJo Ijoi", TOKEN_ALGO_SHA256), TOKEN_ALGO_SHA256);
    assert_int_equal(algo_of("e", TOKEN_ALGO_SHA256), TOKEN_ALGO_SHA256);
    assert_int_equal(algo_of("eyJ", TOKEN_ALGO_SHA256), TOKEN_ALGO_SHA256);
    assert_int_equal(algo_of("ey==", TOKEN_ALGO_SHA256), TOKEN_ALGO_SHA256);
    /* An embedded NUL is never part of a base64 token. */
    assert_int_equal(token_algo_of("eyJoIjoibWQ1In0=\0", 17, TOKEN_ALGO_SHA256), TOKEN_ALGO_SHA256);
    /* Huge input is legacy without being decoded. */
    n = 1u << 20;
    big = malloc(n + 1);
    assert_non_null(big);
    memset(big, 'A', n);
    big[0] = 'e';
    big[1] = 'y';
    big[n] = '\0';
    assert_int_equal(token_algo_of(big, n, TOKEN_ALGO_MURMUR32), TOKEN_ALGO_MURMUR32);
    free(big);
}

static void test_key_hash(void **state)
{
    char out[TOKEN_HASH_HEX_MAX + 1];
    char *t;

    /* Spec §7.2: the hashed Redis key of the spec token. */
    token_key_hash(SPEC_TOKEN, strlen(SPEC_TOKEN), out);
    assert_string_equal(out, "439b0139029e9f0e");
    /* Legacy tokens hash with sha256 (DESIGN §2), never murmur32. */
    token_key_hash("abcd", 4, out);
    assert_string_equal(out, "88d4266fd4e6338d13b845fcf289579d209c897823b9217da3e161936f031589");
    t = token_generate("o", "x", "murmur128");
    token_key_hash(t, strlen(t), out);
    assert_int_equal(strlen(out), 32);
    free(t);
}

static void org_is(const char *token, const char *want)
{
    char *org = token_org(token, strlen(token));

    if (want == NULL) {
        assert_null(org);
    } else {
        assert_non_null(org);
        assert_string_equal(org, want);
    }
    free(org);
}

static void test_org(void **state)
{
    org_is(SPEC_TOKEN, "default");
    /* {"org":"","id":"abc","h":"sha256"}: an empty org is still the token's org. */
    org_is("eyJvcmciOiIiLCJpZCI6ImFiYyIsImgiOiJzaGEyNTYifQ==", "");
    /* Legacy: the first 24 chars when hex and something follows. */
    org_is("5e9d9544a1dcd60001d0ed20" HEX64, "5e9d9544a1dcd60001d0ed20");
    org_is("5e9d9544a1dcd60001d0ed20x", "5e9d9544a1dcd60001d0ed20");
    org_is("5e9d9544a1dcd60001d0ed20", NULL);
    org_is("zz9d9544a1dcd60001d0ed20" HEX64, NULL);
    org_is("short", NULL);
    org_is("", NULL);
    /* base64 JSON without "org" falls back to the legacy rule (and is not hex). */
    org_is("eyJoIjoibWQ1In0=", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_vectors),
        cmocka_unit_test(test_empty_input),
        cmocka_unit_test(test_murmur_more),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_algo_parse),
        cmocka_unit_test(test_generate),
        cmocka_unit_test(test_generate_unknown_fn),
        cmocka_unit_test(test_algo_of),
        cmocka_unit_test(test_algo_of_padding_optional),
        cmocka_unit_test(test_algo_of_odd_tokens),
        cmocka_unit_test(test_key_hash),
        cmocka_unit_test(test_org),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
