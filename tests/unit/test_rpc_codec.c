/*
 * test_rpc_codec: the framing and message contract of schema/rpc.md, one case per rule:
 * round trips of each message type, and every malformed-frame error string on a
 * hand-built byte string. Also the findings of fuzz_rpc_decode, kept as regressions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "common/rpc_codec.h"
#include "common/xmem.h"

/* One payload (no length prefix) and the error the decoder must give for it. */
struct bad_case {
    const char *name;
    const char *hex; /* spaces ignored */
    const char *err;
};

static size_t unhex(const char *hex, unsigned char *out, size_t cap);
static enum rpc_status decode_hex(const char *hex, msgpack_zone *zone, struct rpc_msg *m,
                                  const char **err);
static enum rpc_status decode_frame(const unsigned char *frame, size_t len, msgpack_zone *zone,
                                    struct rpc_msg *m);
static void method_is(const struct rpc_msg *m, const char *want);
static size_t nested(unsigned char *buf, unsigned levels);

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

/* The decoded strings point into the payload: it stays in hex_buf until the next call. */
static enum rpc_status decode_hex(const char *hex, msgpack_zone *zone, struct rpc_msg *m,
                                  const char **err)
{
    static unsigned char hex_buf[512];
    size_t n = unhex(hex, hex_buf, sizeof(hex_buf));

    return rpc_msg_decode(hex_buf, n, zone, m, err);
}

/* Peek then decode a whole frame as the channel does. */
static enum rpc_status decode_frame(const unsigned char *frame, size_t len, msgpack_zone *zone,
                                    struct rpc_msg *m)
{
    const char *err = NULL;
    size_t plen = 0;

    assert_int_equal(rpc_frame_peek(frame, len, RPC_FRAME_MAX, &plen, &err), RPC_OK);
    assert_int_equal(plen + RPC_FRAME_HDR, len);
    return rpc_msg_decode(frame + RPC_FRAME_HDR, plen, zone, m, &err);
}

static void method_is(const struct rpc_msg *m, const char *want)
{
    assert_int_equal(m->method_len, strlen(want));
    assert_memory_equal(m->method, want, m->method_len);
}

/* ---- round trips ---- */

static void test_request_roundtrip(void **state)
{
    struct rpc_enc e;
    const unsigned char *buf;
    size_t len;
    msgpack_zone z;
    struct rpc_msg m;
    const msgpack_object *v;

    rpc_enc_init(&e);
    rpc_enc_request(&e, 42, "hello");
    msgpack_pack_map(&e.pk, 2);
    rpc_pack_str(&e.pk, "protocol");
    msgpack_pack_int(&e.pk, 1);
    rpc_pack_str(&e.pk, "client");
    rpc_pack_str(&e.pk, "proxy");
    assert_int_equal(rpc_enc_finish(&e, &buf, &len), 0);
    assert_true(msgpack_zone_init(&z, 1024));
    assert_int_equal(decode_frame(buf, len, &z, &m), RPC_OK);
    assert_int_equal(m.type, RPC_REQUEST);
    assert_int_equal(m.msgid, 42);
    method_is(&m, "hello");
    v = rpc_map_get(&m.params, "protocol");
    assert_non_null(v);
    assert_int_equal(v->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    assert_int_equal(v->via.u64, 1);
    assert_null(rpc_map_get(&m.params, "nope"));
    assert_int_equal(m.error.type, MSGPACK_OBJECT_NIL);
    msgpack_zone_destroy(&z);
    rpc_enc_destroy(&e);
}

static void test_result_roundtrip(void **state)
{
    struct rpc_enc e;
    const unsigned char *buf;
    size_t len;
    msgpack_zone z;
    struct rpc_msg m;

    rpc_enc_init(&e);
    rpc_enc_result(&e, UINT32_MAX);
    msgpack_pack_array(&e.pk, 3);
    msgpack_pack_int64(&e.pk, INT64_MIN);
    msgpack_pack_double(&e.pk, 1.5);
    msgpack_pack_true(&e.pk);
    assert_int_equal(rpc_enc_finish(&e, &buf, &len), 0);
    assert_true(msgpack_zone_init(&z, 1024));
    assert_int_equal(decode_frame(buf, len, &z, &m), RPC_OK);
    assert_int_equal(m.type, RPC_RESPONSE);
    assert_int_equal(m.msgid, UINT32_MAX);
    assert_int_equal(m.error.type, MSGPACK_OBJECT_NIL);
    assert_int_equal(m.result.type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(m.result.via.array.size, 3);
    assert_int_equal(m.result.via.array.ptr[0].type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
    assert_true(m.result.via.array.ptr[0].via.i64 == INT64_MIN);
    assert_true(m.result.via.array.ptr[1].via.f64 == 1.5);
    assert_null(m.method);
    msgpack_zone_destroy(&z);
    rpc_enc_destroy(&e);
}

static void test_error_roundtrip(void **state)
{
    struct rpc_enc e;
    const unsigned char *buf;
    size_t len;
    msgpack_zone z;
    struct rpc_msg m;
    int64_t code = 0;
    const char *msg = NULL;
    size_t msg_len = 0;

    rpc_enc_init(&e);
    rpc_enc_error(&e, 7, RPC_E_NOT_FOUND, "unknown method");
    assert_int_equal(rpc_enc_finish(&e, &buf, &len), 0);
    assert_true(msgpack_zone_init(&z, 1024));
    assert_int_equal(decode_frame(buf, len, &z, &m), RPC_OK);
    assert_int_equal(m.type, RPC_RESPONSE);
    assert_int_equal(m.msgid, 7);
    assert_int_equal(m.error.type, MSGPACK_OBJECT_MAP);
    assert_int_equal(m.result.type, MSGPACK_OBJECT_NIL);
    assert_int_equal(rpc_error_get(&m.error, &code, &msg, &msg_len), 0);
    assert_int_equal(code, 404);
    assert_int_equal(msg_len, strlen("unknown method"));
    assert_memory_equal(msg, "unknown method", msg_len);
    assert_int_equal(rpc_error_get(&m.result, &code, &msg, &msg_len), -1);
    msgpack_zone_destroy(&z);
    rpc_enc_destroy(&e);
}

static void test_notify_roundtrip(void **state)
{
    struct rpc_enc e;
    const unsigned char *buf;
    size_t len;
    msgpack_zone z;
    struct rpc_msg m;

    rpc_enc_init(&e);
    rpc_enc_notify(&e, "invalidate");
    msgpack_pack_nil(&e.pk);
    assert_int_equal(rpc_enc_finish(&e, &buf, &len), 0);
    /* [2,"invalidate",nil] */
    assert_int_equal(len, RPC_FRAME_HDR + 1 + 1 + 11 + 1);
    assert_memory_equal(buf, "\x00\x00\x00\x0e\x93\x02\xaainvalidate\xc0", len);
    assert_true(msgpack_zone_init(&z, 1024));
    assert_int_equal(decode_frame(buf, len, &z, &m), RPC_OK);
    assert_int_equal(m.type, RPC_NOTIFY);
    method_is(&m, "invalidate");
    assert_int_equal(m.params.type, MSGPACK_OBJECT_NIL);
    msgpack_zone_destroy(&z);
    rpc_enc_destroy(&e);
}

/* Each start call begins a new frame; the earlier one is gone. */
static void test_encoder_reuse(void **state)
{
    struct rpc_enc e;
    const unsigned char *buf;
    size_t len;
    msgpack_zone z;
    struct rpc_msg m;

    rpc_enc_init(&e);
    for (uint32_t i = 0; i < 3; i++) {
        rpc_enc_request(&e, i, "m");
        msgpack_pack_uint32(&e.pk, i);
        assert_int_equal(rpc_enc_finish(&e, &buf, &len), 0);
        assert_true(msgpack_zone_init(&z, 1024));
        assert_int_equal(decode_frame(buf, len, &z, &m), RPC_OK);
        assert_int_equal(m.msgid, i);
        assert_int_equal(m.params.via.u64, i);
        msgpack_zone_destroy(&z);
    }
    rpc_enc_destroy(&e);
}

/* rpc_enc_finish refuses a payload over RPC_FRAME_MAX; exactly RPC_FRAME_MAX is fine. */
static void test_encoder_limit(void **state)
{
    struct rpc_enc e;
    const unsigned char *buf;
    size_t len;
    char *big = xcalloc(1, RPC_FRAME_MAX);
    msgpack_zone z;
    struct rpc_msg m;
    /* [2,"m",str32]: fixarray 1 + type 1 + "m" 2 + str32 header 5 */
    size_t fill = RPC_FRAME_MAX - 9;

    rpc_enc_init(&e);
    rpc_enc_notify(&e, "m");
    rpc_pack_strn(&e.pk, big, fill);
    assert_int_equal(rpc_enc_finish(&e, &buf, &len), 0);
    assert_int_equal(len, RPC_FRAME_HDR + RPC_FRAME_MAX);
    assert_true(msgpack_zone_init(&z, 1024));
    assert_int_equal(decode_frame(buf, len, &z, &m), RPC_OK);
    assert_int_equal(m.params.via.str.size, fill);
    msgpack_zone_destroy(&z);

    rpc_enc_notify(&e, "m");
    rpc_pack_strn(&e.pk, big, fill + 1);
    assert_int_equal(rpc_enc_finish(&e, &buf, &len), -1);
    rpc_enc_destroy(&e);
    free(big);
}

/* ---- framing ---- */

static void test_peek(void **state)
{
    const unsigned char f[] = {0, 0, 0, 3, 0x91, 0xc0, 0xc0};
    const char *err = NULL;
    size_t plen = 0;

    for (size_t i = 0; i < RPC_FRAME_HDR; i++)
        assert_int_equal(rpc_frame_peek(f, i, RPC_FRAME_MAX, &plen, &err), RPC_NEED_MORE);
    for (size_t i = RPC_FRAME_HDR; i < RPC_FRAME_HDR + 3; i++) {
        plen = 0;
        assert_int_equal(rpc_frame_peek(f, i, RPC_FRAME_MAX, &plen, &err), RPC_NEED_MORE);
        assert_int_equal(plen, 3); /* known as soon as the header is there */
    }
    assert_int_equal(rpc_frame_peek(f, sizeof(f), RPC_FRAME_MAX, &plen, &err), RPC_OK);
    assert_int_equal(plen, 3);
    assert_int_equal(rpc_frame_peek(f, sizeof(f), 2, &plen, &err), RPC_BAD);
    assert_ptr_equal(err, rpc_err_frame_too_large);
    assert_string_equal(err, "frame too large");
}

static void test_peek_empty_frame(void **state)
{
    const unsigned char f[] = {0, 0, 0, 0};
    const char *err = NULL;
    size_t plen;

    assert_int_equal(rpc_frame_peek(f, sizeof(f), RPC_FRAME_MAX, &plen, &err), RPC_BAD);
    assert_ptr_equal(err, rpc_err_empty_frame);
    assert_string_equal(err, "empty frame");
}

/* A header announcing 4 GiB - 1 is refused on its 4 bytes, whatever max the caller passes. */
static void test_peek_4gib(void **state)
{
    const unsigned char f[] = {0xff, 0xff, 0xff, 0xff, 0x93};
    const unsigned char at_max[] = {0x00, 0x10, 0x00, 0x00};
    const unsigned char over_max[] = {0x00, 0x10, 0x00, 0x01};
    const char *err = NULL;
    size_t plen = 0;

    assert_int_equal(rpc_frame_peek(f, sizeof(f), RPC_FRAME_MAX, &plen, &err), RPC_BAD);
    assert_ptr_equal(err, rpc_err_frame_too_large);
    err = NULL;
    assert_int_equal(rpc_frame_peek(f, sizeof(f), SIZE_MAX, &plen, &err), RPC_BAD);
    assert_ptr_equal(err, rpc_err_frame_too_large);
    assert_int_equal(rpc_frame_peek(at_max, 4, SIZE_MAX, &plen, &err), RPC_NEED_MORE);
    assert_int_equal(plen, RPC_FRAME_MAX);
    assert_int_equal(rpc_frame_peek(over_max, 4, SIZE_MAX, &plen, &err), RPC_BAD);
}

/* ---- malformed payloads ---- */

static const struct bad_case bad_cases[] = {
    {"fixint", "01", rpc_err_not_array},
    {"map", "80", rpc_err_not_array},
    {"str", "a1 78", rpc_err_not_array},
    {"empty array", "90", rpc_err_bad_arity},
    {"request of 3", "93 00 01 a1 78", rpc_err_bad_arity},
    {"request of 5", "95 00 01 a1 78 c0 c0", rpc_err_bad_arity},
    {"notify of 4", "94 02 a1 78 c0 c0", rpc_err_bad_arity},
    {"response of 3", "93 01 01 c0", rpc_err_bad_arity},
    {"type 3", "94 03 01 a1 78 c0", rpc_err_bad_type},
    {"type -1", "94 ff 01 a1 78 c0", rpc_err_bad_type},
    {"type str", "94 a1 30 01 a1 78 c0", rpc_err_bad_type},
    {"type uint64 2^32", "94 cf 00 00 00 01 00 00 00 00 01 a1 78 c0", rpc_err_bad_type},
    {"msgid str", "94 00 a1 78 a1 78 c0", rpc_err_bad_msgid},
    {"msgid nil", "94 01 c0 c0 c0", rpc_err_bad_msgid},
    {"msgid float", "94 00 cb 3f f0 00 00 00 00 00 00 a1 78 c0", rpc_err_bad_msgid},
    {"msgid -1", "94 00 ff a1 78 c0", rpc_err_msgid_range},
    {"msgid 2^32", "94 00 cf 00 00 00 01 00 00 00 00 a1 78 c0", rpc_err_msgid_range},
    {"method int", "94 00 01 01 c0", rpc_err_bad_method},
    {"method bin", "94 00 01 c4 01 78 c0", rpc_err_bad_method},
    {"notify method nil", "93 02 c0 c0", rpc_err_bad_method},
    {"error int", "94 01 01 01 c0", rpc_err_bad_error},
    {"error str", "94 01 01 a1 78 c0", rpc_err_bad_error},
    {"str past end", "94 00 01 a5 78", rpc_err_truncated},
    {"uint16 past end", "92 cd 01", rpc_err_truncated},
    {"missing elements", "94 00 01 a1 78", rpc_err_truncated},
    {"array16 count cut", "dc 00", rpc_err_truncated},
    {"str32 4 GiB", "93 02 a1 6d db ff ff ff ff 00", rpc_err_truncated},
    {"bin32 4 GiB", "93 02 a1 6d c6 ff ff ff ff 00", rpc_err_truncated},
    /* msgpack-c 4.0 computes ext32 length + 1 in 32 bits: 0xffffffff wraps to 0 */
    {"ext32 4 GiB", "93 02 a1 6d c9 ff ff ff ff 01", rpc_err_truncated},
    {"fixext16 cut", "93 02 a1 6d d8 01 00", rpc_err_truncated},
    {"trailing nil", "93 02 a1 6d c0 c0", rpc_err_trailing},
    {"two messages", "93 02 a1 6d c0 93 02 a1 6d c0", rpc_err_trailing},
    {"0xc1", "93 02 a1 6d c1", rpc_err_bad_byte},
    {"0xc1 nested", "93 02 a1 6d 91 81 a1 6b c1", rpc_err_bad_byte},
    /* exactly the 10-byte frame of the brief: array32 of 2^32-1 in a request's params */
    {"array32 2^32-1", "94 00 01 a1 78 dd ff ff ff ff", rpc_err_container},
    {"top array32 2^32-1", "dd ff ff ff ff 00 01 a1 78 c0", rpc_err_container},
    {"top array16 65535", "dc ff ff 00 01 a1 78 c0", rpc_err_container},
    {"map32 2^32-1", "93 02 a1 6d df ff ff ff ff", rpc_err_container},
    /* a map needs two bytes per pair: 3 pairs in 5 bytes cannot be */
    {"map16 3 pairs 5 bytes", "93 02 a1 6d de 00 03 c0 c0 c0 c0 c0", rpc_err_container},
    {"fixarray 15 in 3 bytes", "93 02 a1 6d 9f c0 c0 c0", rpc_err_container},
};

static void test_bad_payloads(void **state)
{
    msgpack_zone z;
    struct rpc_msg m;
    const char *err;
    size_t free_before;
    char *ptr_before;

    for (size_t i = 0; i < CB_ARRAY_LEN(bad_cases); i++) {
        assert_true(msgpack_zone_init(&z, 1024));
        free_before = z.chunk_list.free;
        ptr_before = z.chunk_list.ptr;
        err = NULL;
        if (decode_hex(bad_cases[i].hex, &z, &m, &err) != RPC_BAD || err != bad_cases[i].err)
            fail_msg("case \"%s\": got %s, want %s", bad_cases[i].name, err ? err : "(OK)",
                     bad_cases[i].err);
        /* pre-scan failures never reach msgpack: the zone is untouched */
        if (err == rpc_err_container || err == rpc_err_truncated || err == rpc_err_trailing ||
            err == rpc_err_too_deep || err == rpc_err_bad_byte || err == rpc_err_not_array) {
            assert_int_equal(z.chunk_list.free, free_before);
            assert_ptr_equal(z.chunk_list.ptr, ptr_before);
        }
        msgpack_zone_destroy(&z);
    }
}

static void test_empty_and_oversized_payload(void **state)
{
    unsigned char *big = xcalloc(1, RPC_FRAME_MAX + 1);
    msgpack_zone z;
    struct rpc_msg m;
    const char *err = NULL;

    assert_true(msgpack_zone_init(&z, 1024));
    assert_int_equal(rpc_msg_decode(big, 0, &z, &m, &err), RPC_BAD);
    assert_ptr_equal(err, rpc_err_empty_frame);
    big[0] = 0x93;
    assert_int_equal(rpc_msg_decode(big, RPC_FRAME_MAX + 1, &z, &m, &err), RPC_BAD);
    assert_ptr_equal(err, rpc_err_frame_too_large);
    msgpack_zone_destroy(&z);
    free(big);
}

/* Build [2,"m",<levels nested fixarrays around nil>]: the message array is level 1. */
static size_t nested(unsigned char *buf, unsigned levels)
{
    size_t n = 0;

    buf[n++] = 0x93;
    buf[n++] = 0x02;
    buf[n++] = 0xa1;
    buf[n++] = 'm';
    for (unsigned i = 0; i < levels; i++)
        buf[n++] = 0x91;
    buf[n++] = 0xc0;
    return n;
}

static void test_depth_limit(void **state)
{
    unsigned char buf[64];
    msgpack_zone z;
    struct rpc_msg m;
    const char *err = NULL;
    const msgpack_object *o;
    size_t n;

    assert_true(msgpack_zone_init(&z, 1024));
    n = nested(buf, RPC_MAX_DEPTH - 1); /* 32 containers in all: the limit */
    assert_int_equal(rpc_msg_decode(buf, n, &z, &m, &err), RPC_OK);
    o = &m.params;
    for (unsigned i = 0; i < RPC_MAX_DEPTH - 1; i++) {
        assert_int_equal(o->type, MSGPACK_OBJECT_ARRAY);
        o = &o->via.array.ptr[0];
    }
    assert_int_equal(o->type, MSGPACK_OBJECT_NIL);
    n = nested(buf, RPC_MAX_DEPTH); /* 33 */
    assert_int_equal(rpc_msg_decode(buf, n, &z, &m, &err), RPC_BAD);
    assert_ptr_equal(err, rpc_err_too_deep);
    assert_string_equal(err, "nesting too deep");
    /* an empty container counts too: level 32 is fine, level 33 is not */
    n = nested(buf, RPC_MAX_DEPTH - 2);
    buf[n - 1] = 0x90;
    assert_int_equal(rpc_msg_decode(buf, n, &z, &m, &err), RPC_OK);
    n = nested(buf, RPC_MAX_DEPTH - 1);
    buf[n - 1] = 0x90;
    assert_int_equal(rpc_msg_decode(buf, n, &z, &m, &err), RPC_BAD);
    assert_ptr_equal(err, rpc_err_too_deep);
    msgpack_zone_destroy(&z);
}

/* The codec is generic: odd but well-formed params pass (mpjson is stricter). */
static void test_generic_params(void **state)
{
    msgpack_zone z;
    struct rpc_msg m;
    const char *err = NULL;

    assert_true(msgpack_zone_init(&z, 1024));
    /* map with an int key, bin, ext, float32 */
    assert_int_equal(decode_hex("94 00 05 a1 6d 84 01 02 c4 01 78 c0 d4 01 00 c0 a1 66 "
                                "ca 3f c0 00 00",
                                &z, &m, &err),
                     RPC_OK);
    assert_int_equal(m.params.type, MSGPACK_OBJECT_MAP);
    assert_int_equal(m.params.via.map.size, 4);
    assert_int_equal(m.params.via.map.ptr[0].key.type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    assert_int_equal(m.params.via.map.ptr[1].key.type, MSGPACK_OBJECT_BIN);
    assert_int_equal(m.params.via.map.ptr[2].key.type, MSGPACK_OBJECT_EXT);
    assert_int_equal(m.params.via.map.ptr[3].val.type, MSGPACK_OBJECT_FLOAT32);
    assert_true(m.params.via.map.ptr[3].val.via.f64 == 1.5);
    /* non-minimal encodings of type and msgid, an empty method */
    assert_int_equal(decode_hex("94 d0 00 ce 00 00 00 05 a0 c0", &z, &m, &err), RPC_OK);
    assert_int_equal(m.msgid, 5);
    assert_int_equal(m.method_len, 0);
    /* a response carrying both an error and a result is accepted as sent */
    assert_int_equal(decode_hex("94 01 09 80 01", &z, &m, &err), RPC_OK);
    assert_int_equal(m.error.type, MSGPACK_OBJECT_MAP);
    assert_int_equal(m.result.type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    msgpack_zone_destroy(&z);
}

/* ---- object helpers ---- */

static void test_obj_helpers(void **state)
{
    msgpack_zone z;
    struct rpc_msg m;
    const char *err = NULL;
    const char *s;
    size_t n;
    char *dup;
    int64_t code;

    assert_true(msgpack_zone_init(&z, 1024));
    /* params {"a":"xy","b":"x\0y","a":1,"c":5} */
    assert_int_equal(decode_hex("94 00 01 a1 6d 84 a1 61 a2 78 79 a1 62 a3 78 00 79 "
                                "a1 61 01 a1 63 05",
                                &z, &m, &err),
                     RPC_OK);
    assert_true(rpc_obj_str(rpc_map_get(&m.params, "a"), &s, &n)); /* first match wins */
    assert_int_equal(n, 2);
    dup = rpc_obj_strdup(rpc_map_get(&m.params, "a"));
    assert_string_equal(dup, "xy");
    free(dup);
    assert_null(rpc_obj_strdup(rpc_map_get(&m.params, "b"))); /* holds a NUL */
    assert_null(rpc_obj_strdup(rpc_map_get(&m.params, "c"))); /* not a str */
    assert_false(rpc_obj_str(rpc_map_get(&m.params, "c"), &s, &n));
    assert_false(rpc_obj_str(NULL, &s, &n));
    assert_null(rpc_map_get(&m.params, ""));
    assert_null(rpc_map_get(rpc_map_get(&m.params, "a"), "a")); /* not a map */
    /* error map with a negative code and an extra key; then a bad one */
    assert_int_equal(decode_hex("94 01 01 83 a4 63 6f 64 65 ff a7 6d 65 73 73 61 67 65 a0 "
                                "a1 78 c0 c0",
                                &z, &m, &err),
                     RPC_OK);
    assert_int_equal(rpc_error_get(&m.error, &code, &s, &n), 0);
    assert_int_equal(code, -1);
    assert_int_equal(n, 0);
    assert_int_equal(decode_hex("94 01 01 81 a4 63 6f 64 65 01 c0", &z, &m, &err), RPC_OK);
    assert_int_equal(rpc_error_get(&m.error, &code, &s, &n), -1); /* no message */
    msgpack_zone_destroy(&z);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_roundtrip),
        cmocka_unit_test(test_result_roundtrip),
        cmocka_unit_test(test_error_roundtrip),
        cmocka_unit_test(test_notify_roundtrip),
        cmocka_unit_test(test_encoder_reuse),
        cmocka_unit_test(test_encoder_limit),
        cmocka_unit_test(test_peek),
        cmocka_unit_test(test_peek_empty_frame),
        cmocka_unit_test(test_peek_4gib),
        cmocka_unit_test(test_bad_payloads),
        cmocka_unit_test(test_empty_and_oversized_payload),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_generic_params),
        cmocka_unit_test(test_obj_helpers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
