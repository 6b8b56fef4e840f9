/*
 * rpc_codec: the single implementation of the framing and message shapes of schema/rpc.md.
 * Before msgpack sees a payload, a structural pre-scan walks every type tag and length and
 * refuses truncation, trailing bytes, nesting over RPC_MAX_DEPTH and containers announcing
 * more elements than bytes remain. msgpack-c allocates room for an announced element count
 * before reading the elements, so after the scan its allocations are bounded by the payload
 * size. Not for I/O or logging: callers decide what to do with RPC_BAD.
 */
#include "common/rpc_codec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "common/xmem.h"

const char rpc_err_frame_too_large[] = "frame too large";
const char rpc_err_empty_frame[] = "empty frame";
const char rpc_err_not_array[] = "not an array";
const char rpc_err_bad_arity[] = "bad arity";
const char rpc_err_bad_type[] = "bad message type";
const char rpc_err_bad_msgid[] = "msgid not an integer";
const char rpc_err_msgid_range[] = "msgid out of range";
const char rpc_err_bad_method[] = "method not a string";
const char rpc_err_bad_error[] = "error not nil or a map";
const char rpc_err_too_deep[] = "nesting too deep";
const char rpc_err_truncated[] = "truncated";
const char rpc_err_trailing[] = "trailing bytes";
const char rpc_err_container[] = "container larger than frame";
const char rpc_err_bad_byte[] = "invalid type byte";
const char rpc_err_unpack[] = "msgpack refused the payload";

/* Cursor of the structural pre-scan. */
struct scan {
    const unsigned char *p; /* next byte */
    size_t left;            /* bytes from p to the end of the payload */
    const char *err;        /* set on failure */
};

/* What one type tag announces (msgpack spec, "formats"). */
enum head_kind {
    HEAD_SCALAR = 0, /* fixed-size value, or str/bin/ext with a body */
    HEAD_ARRAY,
    HEAD_MAP
};

static int scan_fail(struct scan *s, const char *err);
static int scan_take(struct scan *s, uint64_t n);
static int scan_uint(struct scan *s, unsigned width, uint64_t *v);
static int scan_head(struct scan *s, enum head_kind *kind, uint64_t *count);
static int scan_obj(struct scan *s, unsigned depth);
static enum rpc_status msg_fill(const msgpack_object *root, struct rpc_msg *out, const char **err);
static enum rpc_status msg_bad(const char **err, const char *why);
static int msgid_get(const msgpack_object *o, uint32_t *msgid, const char **err);
static int enc_write(void *data, const char *buf, size_t len);
static void enc_start(struct rpc_enc *e, unsigned nelems, unsigned type);

/* ---- public functions ---- */

enum rpc_status rpc_frame_peek(const unsigned char *buf, size_t len, size_t max,
                               size_t *payload_len, const char **err)
{
    size_t n;

    if (len < RPC_FRAME_HDR)
        return RPC_NEED_MORE;
    if (max > RPC_FRAME_MAX)
        max = RPC_FRAME_MAX;
    n = ((size_t)buf[0] << 24) | ((size_t)buf[1] << 16) | ((size_t)buf[2] << 8) | buf[3];
    if (n == 0) {
        *err = rpc_err_empty_frame;
        return RPC_BAD;
    }
    if (n > max) {
        *err = rpc_err_frame_too_large;
        return RPC_BAD;
    }
    *payload_len = n;
    if (len - RPC_FRAME_HDR < n)
        return RPC_NEED_MORE;
    return RPC_OK;
}

enum rpc_status rpc_msg_decode(const unsigned char *payload, size_t len, msgpack_zone *zone,
                               struct rpc_msg *out, const char **err)
{
    struct scan s = {payload, len, NULL};
    msgpack_object root;
    size_t off = 0;
    unsigned char b;

    if (len == 0) {
        *err = rpc_err_empty_frame;
        return RPC_BAD;
    }
    if (len > RPC_FRAME_MAX) {
        *err = rpc_err_frame_too_large;
        return RPC_BAD;
    }
    b = payload[0];
    if (!((b >= 0x90 && b <= 0x9f) || b == 0xdc || b == 0xdd)) {
        *err = rpc_err_not_array;
        return RPC_BAD;
    }
    if (scan_obj(&s, 1) != 0) {
        *err = s.err;
        return RPC_BAD;
    }
    if (s.left != 0) {
        *err = rpc_err_trailing;
        return RPC_BAD;
    }
    /* The scan accepted exactly what msgpack accepts, so anything but SUCCESS here is a
     * disagreement between the two; refuse rather than trust a partial object. */
    if (msgpack_unpack((const char *)payload, len, &off, zone, &root) != MSGPACK_UNPACK_SUCCESS ||
        off != len) {
        *err = rpc_err_unpack;
        return RPC_BAD;
    }
    return msg_fill(&root, out, err);
}

void rpc_enc_init(struct rpc_enc *e)
{
    msgpack_sbuffer_init(&e->sbuf);
    msgpack_packer_init(&e->pk, &e->sbuf, enc_write);
}

void rpc_enc_destroy(struct rpc_enc *e)
{
    msgpack_sbuffer_destroy(&e->sbuf);
    memset(e, 0, sizeof(*e));
}

void rpc_enc_request(struct rpc_enc *e, uint32_t msgid, const char *method)
{
    enc_start(e, 4, RPC_REQUEST);
    msgpack_pack_uint32(&e->pk, msgid);
    rpc_pack_str(&e->pk, method);
}

void rpc_enc_notify(struct rpc_enc *e, const char *method)
{
    enc_start(e, 3, RPC_NOTIFY);
    rpc_pack_str(&e->pk, method);
}

void rpc_enc_result(struct rpc_enc *e, uint32_t msgid)
{
    enc_start(e, 4, RPC_RESPONSE);
    msgpack_pack_uint32(&e->pk, msgid);
    msgpack_pack_nil(&e->pk);
}

void rpc_enc_error(struct rpc_enc *e, uint32_t msgid, enum rpc_errcode code, const char *msg)
{
    enc_start(e, 4, RPC_RESPONSE);
    msgpack_pack_uint32(&e->pk, msgid);
    msgpack_pack_map(&e->pk, 2);
    rpc_pack_str(&e->pk, "code");
    msgpack_pack_int(&e->pk, (int)code);
    rpc_pack_str(&e->pk, "message");
    rpc_pack_str(&e->pk, msg != NULL ? msg : "");
    msgpack_pack_nil(&e->pk);
}

int rpc_enc_finish(struct rpc_enc *e, const unsigned char **buf, size_t *len)
{
    unsigned char *p = (unsigned char *)e->sbuf.data;
    size_t n;

    CB_ASSERT(e->sbuf.size > RPC_FRAME_HDR);
    n = e->sbuf.size - RPC_FRAME_HDR;
    if (n > RPC_FRAME_MAX)
        return -1;
    p[0] = (unsigned char)(n >> 24);
    p[1] = (unsigned char)(n >> 16);
    p[2] = (unsigned char)(n >> 8);
    p[3] = (unsigned char)n;
    *buf = p;
    *len = e->sbuf.size;
    return 0;
}

void rpc_pack_str(msgpack_packer *pk, const char *s)
{
    rpc_pack_strn(pk, s, strlen(s));
}

void rpc_pack_strn(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

const msgpack_object *rpc_map_get(const msgpack_object *map, const char *key)
{
    size_t klen = strlen(key);

    if (map == NULL || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;

        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == klen &&
            (klen == 0 || memcmp(k->via.str.ptr, key, klen) == 0))
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

bool rpc_obj_str(const msgpack_object *o, const char **s, size_t *n)
{
    if (o == NULL || o->type != MSGPACK_OBJECT_STR)
        return false;
    *s = o->via.str.ptr;
    *n = o->via.str.size;
    return true;
}

char *rpc_obj_strdup(const msgpack_object *o)
{
    const char *s;
    size_t n;

    if (!rpc_obj_str(o, &s, &n))
        return NULL;
    if (n > 0 && memchr(s, '\0', n) != NULL)
        return NULL;
    return xstrndup(n > 0 ? s : "", n);
}

int rpc_error_get(const msgpack_object *error, int64_t *code, const char **msg, size_t *msg_len)
{
    const msgpack_object *c = rpc_map_get(error, "code");

    if (c == NULL || !rpc_obj_str(rpc_map_get(error, "message"), msg, msg_len))
        return -1;
    if (c->type == MSGPACK_OBJECT_POSITIVE_INTEGER && c->via.u64 <= INT64_MAX)
        *code = (int64_t)c->via.u64;
    else if (c->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        *code = c->via.i64;
    else
        return -1;
    return 0;
}

/* ---- pre-scan ---- */

static int scan_fail(struct scan *s, const char *err)
{
    s->err = err;
    return -1;
}

static int scan_take(struct scan *s, uint64_t n)
{
    if (n > s->left)
        return scan_fail(s, rpc_err_truncated);
    s->p += n;
    s->left -= n;
    return 0;
}

/* Read a big-endian length/count field of 1, 2 or 4 bytes. */
static int scan_uint(struct scan *s, unsigned width, uint64_t *v)
{
    uint64_t x = 0;

    if (width > s->left)
        return scan_fail(s, rpc_err_truncated);
    for (unsigned i = 0; i < width; i++)
        x = (x << 8) | s->p[i];
    s->p += width;
    s->left -= width;
    *v = x;
    return 0;
}

/*
 * Consume one type tag with its length field. Scalars, str, bin and ext are consumed whole
 * (kind HEAD_SCALAR); for arrays and maps *count is the announced number of elements/pairs.
 */
static int scan_head(struct scan *s, enum head_kind *kind, uint64_t *count)
{
    static const unsigned char fixed[] = {/* payload bytes of 0xca..0xd8 */
                                          4, 8, 1, 2, 4, 8, 1, 2, 4, 8, 2, 3, 5, 9, 17};
    unsigned char b;
    uint64_t n;

    if (s->left == 0)
        return scan_fail(s, rpc_err_truncated);
    b = *s->p;
    (void)scan_take(s, 1);
    *kind = HEAD_SCALAR;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        return 0;
    if (b >= 0x80 && b <= 0x9f) {
        *kind = b <= 0x8f ? HEAD_MAP : HEAD_ARRAY;
        *count = b & 0x0f;
        return 0;
    }
    if (b >= 0xa0 && b <= 0xbf)
        return scan_take(s, b & 0x1f);
    if (b >= 0xca && b <= 0xd8)
        return scan_take(s, fixed[b - 0xca]);
    switch (b) {
    case 0xc4:
    case 0xc5:
    case 0xc6: /* bin 8/16/32 */
        if (scan_uint(s, 1u << (b - 0xc4), &n) != 0)
            return -1;
        return scan_take(s, n);
    case 0xc7:
    case 0xc8:
    case 0xc9: /* ext 8/16/32: length excludes the type byte */
        if (scan_uint(s, 1u << (b - 0xc7), &n) != 0)
            return -1;
        return scan_take(s, n + 1);
    case 0xd9:
    case 0xda:
    case 0xdb: /* str 8/16/32 */
        if (scan_uint(s, 1u << (b - 0xd9), &n) != 0)
            return -1;
        return scan_take(s, n);
    case 0xdc:
    case 0xdd: /* array 16/32 */
        *kind = HEAD_ARRAY;
        return scan_uint(s, b == 0xdc ? 2 : 4, count);
    case 0xde:
    case 0xdf: /* map 16/32 */
        *kind = HEAD_MAP;
        return scan_uint(s, b == 0xde ? 2 : 4, count);
    default: /* 0xc1 is never used */
        return scan_fail(s, rpc_err_bad_byte);
    }
}

/* Walk one object at nesting level depth (the message array is level 1). */
static int scan_obj(struct scan *s, unsigned depth)
{
    enum head_kind kind;
    uint64_t count = 0;

    if (scan_head(s, &kind, &count) != 0)
        return -1;
    if (kind == HEAD_SCALAR)
        return 0;
    if (depth > RPC_MAX_DEPTH)
        return scan_fail(s, rpc_err_too_deep);
    if (kind == HEAD_MAP)
        count *= 2; /* a key and a value, each at least one byte */
    if (count > s->left)
        return scan_fail(s, rpc_err_container);
    for (uint64_t i = 0; i < count; i++) {
        if (scan_obj(s, depth + 1) != 0)
            return -1;
    }
    return 0;
}

/* ---- message shape ---- */

static enum rpc_status msg_fill(const msgpack_object *root, struct rpc_msg *out, const char **err)
{
    const msgpack_object *a;
    const msgpack_object *m;
    uint32_t n;

    memset(out, 0, sizeof(*out)); /* all objects start as NIL */
    if (root->type != MSGPACK_OBJECT_ARRAY)
        return msg_bad(err, rpc_err_not_array);
    a = root->via.array.ptr;
    n = root->via.array.size;
    if (n == 0)
        return msg_bad(err, rpc_err_bad_arity);
    if (a[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER || a[0].via.u64 > RPC_NOTIFY)
        return msg_bad(err, rpc_err_bad_type);
    out->type = (enum rpc_type)a[0].via.u64;
    if (n != (out->type == RPC_NOTIFY ? 3u : 4u))
        return msg_bad(err, rpc_err_bad_arity);
    if (out->type != RPC_NOTIFY && msgid_get(&a[1], &out->msgid, err) != 0)
        return RPC_BAD;
    if (out->type == RPC_RESPONSE) {
        if (a[2].type != MSGPACK_OBJECT_NIL && a[2].type != MSGPACK_OBJECT_MAP)
            return msg_bad(err, rpc_err_bad_error);
        out->error = a[2];
        out->result = a[3];
        return RPC_OK;
    }
    m = out->type == RPC_REQUEST ? &a[2] : &a[1];
    if (m->type != MSGPACK_OBJECT_STR)
        return msg_bad(err, rpc_err_bad_method);
    out->method = m->via.str.ptr;
    out->method_len = m->via.str.size;
    out->params = out->type == RPC_REQUEST ? a[3] : a[2];
    return RPC_OK;
}

static enum rpc_status msg_bad(const char **err, const char *why)
{
    *err = why;
    return RPC_BAD;
}

static int msgid_get(const msgpack_object *o, uint32_t *msgid, const char **err)
{
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *err = rpc_err_msgid_range;
        return -1;
    }
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        *err = rpc_err_bad_msgid;
        return -1;
    }
    if (o->via.u64 > UINT32_MAX) {
        *err = rpc_err_msgid_range;
        return -1;
    }
    *msgid = (uint32_t)o->via.u64;
    return 0;
}

/* ---- encoder ---- */

/* msgpack_sbuffer_write returns -1 on OOM and the packer drops it; ours aborts instead. */
static int enc_write(void *data, const char *buf, size_t len)
{
    msgpack_sbuffer *sb = data;
    size_t cap;

    if (len == 0)
        return 0;
    CB_ASSERT(len <= SIZE_MAX / 4 && sb->size <= SIZE_MAX / 4);
    if (sb->alloc - sb->size < len) {
        cap = sb->alloc != 0 ? sb->alloc : 256;
        while (cap - sb->size < len)
            cap *= 2;
        sb->data = xrealloc(sb->data, cap);
        sb->alloc = cap;
    }
    memcpy(sb->data + sb->size, buf, len);
    sb->size += len;
    return 0;
}

static void enc_start(struct rpc_enc *e, unsigned nelems, unsigned type)
{
    static const char hdr[RPC_FRAME_HDR] = {0};

    e->sbuf.size = 0;
    (void)enc_write(&e->sbuf, hdr, sizeof(hdr));
    msgpack_pack_array(&e->pk, nelems);
    msgpack_pack_uint8(&e->pk, (uint8_t)type);
}
