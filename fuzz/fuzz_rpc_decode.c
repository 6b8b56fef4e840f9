/*
 * fuzz_rpc_decode: one payload (the bytes after the 4-byte length) -> rpc_msg_decode.
 * Invariants on success: re-encoding the decoded message with rpc_enc_* gives a frame
 * that decodes to an equal message, and encoding that again gives the same bytes
 * (msgpack-c packs canonically). Convertible params/results also survive
 * msgpack -> JSON -> msgpack -> JSON. The input is also tried as a whole frame with
 * rpc_frame_peek. Run with -rss_limit_mb=512 so an unbounded pre-allocation shows up.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <msgpack.h>

#include "common/mpjson.h"
#include "common/rpc_codec.h"
#include "common/xmem.h"

static bool obj_same(const msgpack_object *a, const msgpack_object *b);
static bool msg_same(const struct rpc_msg *a, const struct rpc_msg *b);
static bool reencode(const struct rpc_msg *m, struct rpc_enc *e);
static void check_json(const msgpack_object *o);
static void check_peek(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    msgpack_zone z1;
    msgpack_zone z2;
    struct rpc_msg m1;
    struct rpc_msg m2;
    struct rpc_enc e1;
    struct rpc_enc e2;
    const unsigned char *f1;
    const unsigned char *f2;
    size_t n1;
    size_t n2;
    const char *err = NULL;

    check_peek(data, size);
    CB_ASSERT(msgpack_zone_init(&z1, 2048));
    if (rpc_msg_decode(data, size, &z1, &m1, &err) != RPC_OK) {
        CB_ASSERT(err != NULL);
        msgpack_zone_destroy(&z1);
        return 0;
    }
    check_json(&m1.params);
    check_json(&m1.result);
    rpc_enc_init(&e1);
    rpc_enc_init(&e2);
    CB_ASSERT(msgpack_zone_init(&z2, 2048));
    if (reencode(&m1, &e1)) {
        CB_ASSERT(rpc_enc_finish(&e1, &f1, &n1) == 0);
        CB_ASSERT(n1 <= size + RPC_FRAME_HDR); /* canonical is never longer */
        CB_ASSERT(rpc_msg_decode(f1 + RPC_FRAME_HDR, n1 - RPC_FRAME_HDR, &z2, &m2, &err) == RPC_OK);
        CB_ASSERT(msg_same(&m1, &m2));
        CB_ASSERT(reencode(&m2, &e2));
        CB_ASSERT(rpc_enc_finish(&e2, &f2, &n2) == 0);
        CB_ASSERT(n1 == n2 && memcmp(f1, f2, n1) == 0);
    }
    msgpack_zone_destroy(&z2);
    rpc_enc_destroy(&e2);
    rpc_enc_destroy(&e1);
    msgpack_zone_destroy(&z1);
    return 0;
}

/* The input as a frame: OK means the whole payload is there and within the limit. */
static void check_peek(const uint8_t *data, size_t size)
{
    const char *err = NULL;
    size_t plen = 0;

    switch (rpc_frame_peek(data, size, RPC_FRAME_MAX, &plen, &err)) {
    case RPC_OK:
        CB_ASSERT(plen > 0 && plen <= RPC_FRAME_MAX && plen <= size - RPC_FRAME_HDR);
        break;
    case RPC_NEED_MORE:
        CB_ASSERT(size < RPC_FRAME_HDR || plen > size - RPC_FRAME_HDR);
        break;
    case RPC_BAD:
        CB_ASSERT(err == rpc_err_empty_frame || err == rpc_err_frame_too_large);
        break;
    }
}

/* false when the method holds a NUL, which the C-string encoder API cannot express. */
static bool reencode(const struct rpc_msg *m, struct rpc_enc *e)
{
    char *method = NULL;

    if (m->type != RPC_RESPONSE) {
        if (m->method_len > 0 && memchr(m->method, '\0', m->method_len) != NULL)
            return false;
        method = xstrndup(m->method_len > 0 ? m->method : "", m->method_len);
    }
    switch (m->type) {
    case RPC_REQUEST:
        rpc_enc_request(e, m->msgid, method);
        msgpack_pack_object(&e->pk, m->params);
        break;
    case RPC_NOTIFY:
        rpc_enc_notify(e, method);
        msgpack_pack_object(&e->pk, m->params);
        break;
    case RPC_RESPONSE:
        /* the API writes a nil error; swap that last byte for the decoded error */
        rpc_enc_result(e, m->msgid);
        CB_ASSERT((unsigned char)e->sbuf.data[e->sbuf.size - 1] == 0xc0);
        e->sbuf.size--;
        msgpack_pack_object(&e->pk, m->error);
        msgpack_pack_object(&e->pk, m->result);
        break;
    }
    free(method);
    return true;
}

static bool msg_same(const struct rpc_msg *a, const struct rpc_msg *b)
{
    if (a->type != b->type || a->msgid != b->msgid || a->method_len != b->method_len)
        return false;
    if (a->method_len > 0 && memcmp(a->method, b->method, a->method_len) != 0)
        return false;
    return obj_same(&a->params, &b->params) && obj_same(&a->error, &b->error) &&
           obj_same(&a->result, &b->result);
}

/* Structural equality; floats compare by bits so NaN equals itself. */
static bool obj_same(const msgpack_object *a, const msgpack_object *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case MSGPACK_OBJECT_NIL:
        return true;
    case MSGPACK_OBJECT_BOOLEAN:
        return a->via.boolean == b->via.boolean;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return a->via.u64 == b->via.u64;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return a->via.i64 == b->via.i64;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return memcmp(&a->via.f64, &b->via.f64, sizeof(double)) == 0;
    case MSGPACK_OBJECT_STR:
    case MSGPACK_OBJECT_BIN:
        return a->via.str.size == b->via.str.size &&
               (a->via.str.size == 0 ||
                memcmp(a->via.str.ptr, b->via.str.ptr, a->via.str.size) == 0);
    case MSGPACK_OBJECT_EXT:
        return a->via.ext.type == b->via.ext.type && a->via.ext.size == b->via.ext.size &&
               (a->via.ext.size == 0 ||
                memcmp(a->via.ext.ptr, b->via.ext.ptr, a->via.ext.size) == 0);
    case MSGPACK_OBJECT_ARRAY:
        if (a->via.array.size != b->via.array.size)
            return false;
        for (uint32_t i = 0; i < a->via.array.size; i++) {
            if (!obj_same(&a->via.array.ptr[i], &b->via.array.ptr[i]))
                return false;
        }
        return true;
    case MSGPACK_OBJECT_MAP:
        if (a->via.map.size != b->via.map.size)
            return false;
        for (uint32_t i = 0; i < a->via.map.size; i++) {
            if (!obj_same(&a->via.map.ptr[i].key, &b->via.map.ptr[i].key) ||
                !obj_same(&a->via.map.ptr[i].val, &b->via.map.ptr[i].val))
                return false;
        }
        return true;
    }
    return false;
}

/* What converts to JSON converts back to the same JSON. */
static void check_json(const msgpack_object *o)
{
    json_t *j1 = mpjson_to_json(o);
    json_t *j2;
    struct rpc_enc e;
    const unsigned char *f;
    size_t n;
    msgpack_zone z;
    struct rpc_msg m;
    const char *err = NULL;

    if (j1 == NULL || !mpjson_fits(j1)) {
        json_decref(j1);
        return;
    }
    rpc_enc_init(&e);
    rpc_enc_notify(&e, "j");
    mpjson_pack(&e.pk, j1);
    CB_ASSERT(rpc_enc_finish(&e, &f, &n) == 0);
    CB_ASSERT(msgpack_zone_init(&z, 2048));
    CB_ASSERT(rpc_msg_decode(f + RPC_FRAME_HDR, n - RPC_FRAME_HDR, &z, &m, &err) == RPC_OK);
    j2 = mpjson_to_json(&m.params);
    CB_ASSERT(j2 != NULL && json_equal(j1, j2));
    json_decref(j2);
    msgpack_zone_destroy(&z);
    rpc_enc_destroy(&e);
    json_decref(j1);
}
