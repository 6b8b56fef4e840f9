/*
 * test_mpjson: JSON -> msgpack -> JSON round trips of every JSON type, and each kind of
 * msgpack value JSON cannot hold (which the generic codec still accepts).
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
#include <msgpack.h>

#include "common/mpjson.h"
#include "common/rpc_codec.h"

static size_t unhex(const char *hex, unsigned char *out, size_t cap);
static json_t *through_msgpack(const json_t *v);
static json_t *params_to_json(const char *hex, enum rpc_status *st);

static size_t unhex(const char *hex, unsigned char *out, size_t cap)
{
    size_t n = 0;
    unsigned v;

    for (; *hex != '\0'; hex++) {
        if (*hex == ' ')
            continue;
        assert_true(n < cap);
        assert_int_equal(sscanf(hex, "%2x", &v), 1);
        out[n++] = (unsigned char)v;
        hex++;
    }
    return n;
}

/* Pack v as the params of a request frame, decode the frame, convert params back. */
static json_t *through_msgpack(const json_t *v)
{
    struct rpc_enc e;
    const unsigned char *buf;
    size_t len;
    msgpack_zone z;
    struct rpc_msg m;
    const char *err = NULL;
    json_t *out;

    rpc_enc_init(&e);
    rpc_enc_request(&e, 1, "m");
    mpjson_pack(&e.pk, v);
    assert_int_equal(rpc_enc_finish(&e, &buf, &len), 0);
    assert_true(msgpack_zone_init(&z, 1024));
    assert_int_equal(rpc_msg_decode(buf + RPC_FRAME_HDR, len - RPC_FRAME_HDR, &z, &m, &err),
                     RPC_OK);
    out = mpjson_to_json(&m.params);
    msgpack_zone_destroy(&z);
    rpc_enc_destroy(&e);
    return out;
}

/* Decode the payload [0,1,"m",<params hex>] and convert its params. */
static json_t *params_to_json(const char *hex, enum rpc_status *st)
{
    unsigned char buf[256];
    size_t n;
    msgpack_zone z;
    struct rpc_msg m;
    const char *err = NULL;
    json_t *out = NULL;

    memcpy(buf, "\x94\x00\x01\xa1m", 5);
    n = 5 + unhex(hex, buf + 5, sizeof(buf) - 5);
    assert_true(msgpack_zone_init(&z, 1024));
    *st = rpc_msg_decode(buf, n, &z, &m, &err);
    if (*st == RPC_OK)
        out = mpjson_to_json(&m.params);
    msgpack_zone_destroy(&z);
    return out;
}

static void test_roundtrip_document(void **state)
{
    static const char doc[] =
        "{\"api_id\":\"a1\",\"n\":-5,\"big\":9223372036854775807,"
        "\"small\":-9223372036854775808,\"zero\":0,\"pi\":3.25,\"neg\":-0.5,"
        "\"t\":true,\"f\":false,\"nil\":null,\"utf8\":\"caf\\u00e9 \\u2603 \\ud83d\\ude00\","
        "\"empty\":\"\",\"arr\":[1,\"two\",[3,[4]],{},[]],"
        "\"obj\":{\"k\":{\"deep\":[null,true]}},\"\":\"empty key\"}";
    json_error_t jerr;
    json_t *in = json_loads(doc, 0, &jerr);
    json_t *out;

    assert_non_null(in);
    assert_true(mpjson_fits(in));
    out = through_msgpack(in);
    assert_non_null(out);
    assert_true(json_equal(in, out));
    assert_true(json_is_integer(json_object_get(out, "n")));
    assert_true(json_is_real(json_object_get(out, "pi")));
    json_decref(out);
    json_decref(in);
}

static void test_roundtrip_scalars(void **state)
{
    json_t *vals[] = {json_null(),
                      json_true(),
                      json_false(),
                      json_integer(0),
                      json_integer(-1),
                      json_integer(INT64_MIN),
                      json_integer(INT64_MAX),
                      json_real(0.1),
                      json_real(-1e300),
                      json_string("x"),
                      json_array(),
                      json_object()};
    json_t *out;

    for (size_t i = 0; i < CB_ARRAY_LEN(vals); i++) {
        out = through_msgpack(vals[i]);
        assert_non_null(out);
        assert_true(json_equal(vals[i], out));
        json_decref(out);
        json_decref(vals[i]);
    }
}

/* NUL packs byte for byte but does not come back: C-string readers would truncate it
 * (found by fuzz_rpc_decode: a key "serv\0" + "4" read back as "serv"). */
static void test_nul_refused(void **state)
{
    json_t *in = json_object();
    json_t *s = json_stringn("a\0b", 3);

    assert_int_equal(json_object_setn_new(in, "a\0b", 3, json_integer(1)), 0);
    assert_null(through_msgpack(in));
    assert_null(through_msgpack(s));
    json_decref(s);
    json_decref(in);
}

/* Well-formed for the codec, not representable in JSON. */
static void test_refused(void **state)
{
    static const struct {
        const char *name;
        const char *hex;
    } cases[] = {
        {"int key", "81 01 02"},
        {"nil key", "81 c0 02"},
        {"array key", "81 90 02"},
        {"nested int key", "91 81 a1 6b 81 01 02"},
        {"bin", "c4 01 78"},
        {"bin in array", "92 01 c4 00"},
        {"ext", "d4 01 00"},
        {"ext in map", "81 a1 6b c7 00 05"},
        {"uint64 over int64", "cf 80 00 00 00 00 00 00 00"},
        {"float64 NaN", "cb 7f f8 00 00 00 00 00 00"},
        {"float64 +inf", "cb 7f f0 00 00 00 00 00 00"},
        {"float32 -inf", "ca ff 80 00 00"},
        {"invalid utf-8", "a2 c3 28"},
        {"utf-16 surrogate", "a3 ed a0 80"},
        {"overlong", "a2 c0 af"},
        {"invalid utf-8 key", "81 a1 ff 01"},
        {"duplicate key", "82 a1 6b 01 a1 6b 02"},
        {"NUL in string", "a3 61 00 62"},
        {"NUL in key", "81 a2 6b 00 01"},
        /* fuzz_rpc_decode crash-3c90583c: the key "serv\0" "4" */
        {"NUL in key, fuzz", "81 a6 73 65 72 76 00 34 01"},
    };
    enum rpc_status st;
    json_t *out;

    for (size_t i = 0; i < CB_ARRAY_LEN(cases); i++) {
        out = params_to_json(cases[i].hex, &st);
        if (st != RPC_OK)
            fail_msg("case \"%s\": the codec refused it", cases[i].name);
        if (out != NULL)
            fail_msg("case \"%s\": mpjson accepted it", cases[i].name);
    }
}

/* The boundaries of what converts. */
static void test_accepted_edges(void **state)
{
    enum rpc_status st;
    json_t *out;

    out = params_to_json("cf 7f ff ff ff ff ff ff ff", &st); /* INT64_MAX as uint64 */
    assert_non_null(out);
    assert_true(json_integer_value(out) == INT64_MAX);
    json_decref(out);
    out = params_to_json("ca 3f c0 00 00", &st); /* float32 1.5 */
    assert_non_null(out);
    assert_true(json_real_value(out) == 1.5);
    json_decref(out);
    out = params_to_json("d0 80", &st); /* int8 -128 */
    assert_true(json_integer_value(out) == -128);
    json_decref(out);
}

/* mpjson_to_json refuses depth over RPC_MAX_DEPTH on objects that did not come through
 * the codec (which would already have refused them). */
static void test_to_json_depth(void **state)
{
    msgpack_object objs[RPC_MAX_DEPTH + 2];
    json_t *out;
    size_t top;

    for (size_t levels = RPC_MAX_DEPTH; levels <= RPC_MAX_DEPTH + 1; levels++) {
        top = 0;
        for (size_t i = 0; i < levels; i++) {
            objs[i].type = MSGPACK_OBJECT_ARRAY;
            objs[i].via.array.size = 1;
            objs[i].via.array.ptr = &objs[i + 1];
        }
        objs[levels].type = MSGPACK_OBJECT_NIL;
        out = mpjson_to_json(&objs[top]);
        if (levels <= RPC_MAX_DEPTH)
            assert_non_null(out);
        else
            assert_null(out);
        json_decref(out);
    }
}

/* Packing bounds its recursion: levels past MPJSON_MAX_DEPTH become nil. */
static void test_pack_depth(void **state)
{
    json_t *root = json_array();
    json_t *cur = root;
    json_t *next;
    json_t *out;
    const json_t *p;
    int levels = 0;

    for (int i = 1; i < MPJSON_MAX_DEPTH + 5; i++) {
        next = json_array();
        assert_int_equal(json_array_append_new(cur, next), 0);
        cur = next;
    }
    assert_false(mpjson_fits(root));
    out = through_msgpack(root); /* must still decode: nesting stays under RPC_MAX_DEPTH */
    assert_non_null(out);
    for (p = out; json_is_array(p); p = json_array_get(p, 0))
        levels++;
    assert_int_equal(levels, MPJSON_MAX_DEPTH);
    assert_true(json_is_null(p));
    json_decref(out);
    json_decref(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_document), cmocka_unit_test(test_roundtrip_scalars),
        cmocka_unit_test(test_nul_refused),        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_accepted_edges),     cmocka_unit_test(test_to_json_depth),
        cmocka_unit_test(test_pack_depth),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
