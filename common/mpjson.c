/*
 * mpjson: jansson <-> msgpack. Both directions recurse with an explicit depth bound, so a
 * hostile or cyclic value cannot exhaust the stack. Not a validator of field shapes: the
 * modules that own a document check its keys and types.
 */
#include "common/mpjson.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>
#include <msgpack.h>

#include "common/rpc_codec.h"

static void pack_value(msgpack_packer *pk, const json_t *v, unsigned depth);
static bool fits(const json_t *v, unsigned depth);
static json_t *to_json(const msgpack_object *o, unsigned depth);
static json_t *array_to_json(const msgpack_object *o, unsigned depth);
static json_t *map_to_json(const msgpack_object *o, unsigned depth);
static bool has_nul(const msgpack_object_str *s);

/* ---- public functions ---- */

void mpjson_pack(msgpack_packer *pk, const json_t *v)
{
    pack_value(pk, v, 1);
}

bool mpjson_fits(const json_t *v)
{
    return fits(v, 1);
}

json_t *mpjson_to_json(const msgpack_object *o)
{
    return to_json(o, 1);
}

/* ---- JSON -> msgpack ---- */

/* depth is the level v would sit at if it is a container. */
static void pack_value(msgpack_packer *pk, const json_t *v, unsigned depth)
{
    const char *key;
    size_t key_len;
    json_t *item;
    size_t i;

    if (v == NULL) {
        msgpack_pack_nil(pk);
        return;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        if (depth > MPJSON_MAX_DEPTH)
            break;
        msgpack_pack_map(pk, json_object_size(v));
        json_object_keylen_foreach ((json_t *)v, key, key_len, item) {
            rpc_pack_strn(pk, key, key_len);
            pack_value(pk, item, depth + 1);
        }
        return;
    case JSON_ARRAY:
        if (depth > MPJSON_MAX_DEPTH)
            break;
        msgpack_pack_array(pk, json_array_size(v));
        json_array_foreach (v, i, item)
            pack_value(pk, item, depth + 1);
        return;
    case JSON_STRING:
        rpc_pack_strn(pk, json_string_value(v), json_string_length(v));
        return;
    case JSON_INTEGER:
        msgpack_pack_int64(pk, (int64_t)json_integer_value(v));
        return;
    case JSON_REAL:
        msgpack_pack_double(pk, json_real_value(v));
        return;
    case JSON_TRUE:
        msgpack_pack_true(pk);
        return;
    case JSON_FALSE:
        msgpack_pack_false(pk);
        return;
    case JSON_NULL:
        break;
    }
    msgpack_pack_nil(pk);
}

static bool fits(const json_t *v, unsigned depth)
{
    const char *key;
    json_t *item;
    size_t i;

    if (json_is_object(v)) {
        if (depth > MPJSON_MAX_DEPTH)
            return false;
        json_object_foreach ((json_t *)v, key, item) {
            if (!fits(item, depth + 1))
                return false;
        }
    } else if (json_is_array(v)) {
        if (depth > MPJSON_MAX_DEPTH)
            return false;
        json_array_foreach (v, i, item) {
            if (!fits(item, depth + 1))
                return false;
        }
    }
    return true;
}

/* ---- msgpack -> JSON ---- */

static json_t *to_json(const msgpack_object *o, unsigned depth)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return json_null();
    case MSGPACK_OBJECT_BOOLEAN:
        return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 > INT64_MAX) /* json_int_t is long long (jansson 2.14) */
            return NULL;
        return json_integer((json_int_t)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return json_integer((json_int_t)o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (!isfinite(o->via.f64))
            return NULL;
        return json_real(o->via.f64);
    case MSGPACK_OBJECT_STR:
        if (has_nul(&o->via.str))
            return NULL;
        /* json_stringn checks UTF-8 and returns NULL on a bad sequence. */
        return json_stringn(o->via.str.size > 0 ? o->via.str.ptr : "", o->via.str.size);
    case MSGPACK_OBJECT_ARRAY:
        return depth > RPC_MAX_DEPTH ? NULL : array_to_json(o, depth);
    case MSGPACK_OBJECT_MAP:
        return depth > RPC_MAX_DEPTH ? NULL : map_to_json(o, depth);
    case MSGPACK_OBJECT_BIN:
    case MSGPACK_OBJECT_EXT:
    default:
        return NULL;
    }
}

static json_t *array_to_json(const msgpack_object *o, unsigned depth)
{
    json_t *arr = json_array();
    json_t *item;

    if (arr == NULL)
        return NULL;
    for (uint32_t i = 0; i < o->via.array.size; i++) {
        item = to_json(&o->via.array.ptr[i], depth + 1);
        if (item == NULL || json_array_append_new(arr, item) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

/*
 * Duplicate keys are refused: rpc_map_get takes the first and jansson would keep the last,
 * and two readers of one document must never disagree (an authz field especially).
 */
static json_t *map_to_json(const msgpack_object *o, unsigned depth)
{
    json_t *obj = json_object();
    const msgpack_object_kv *kv;
    const char *key;
    json_t *val;

    if (obj == NULL)
        return NULL;
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        kv = &o->via.map.ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_STR || has_nul(&kv->key.via.str))
            goto fail;
        key = kv->key.via.str.size > 0 ? kv->key.via.str.ptr : "";
        if (json_object_getn(obj, key, kv->key.via.str.size) != NULL)
            goto fail;
        val = to_json(&kv->val, depth + 1);
        /* setn_new checks the key's UTF-8 and consumes val even when it fails. */
        if (val == NULL || json_object_setn_new(obj, key, kv->key.via.str.size, val) != 0)
            goto fail;
    }
    return obj;
fail:
    json_decref(obj);
    return NULL;
}

/*
 * NUL is refused in strings and keys: json_loads refuses \u0000 by default, and every
 * reader using json_string_value or json_object_foreach would see a truncated value
 * ("admin\0x" read as "admin"), a confusion between two readers of one document.
 */
static bool has_nul(const msgpack_object_str *s)
{
    return s->size > 0 && memchr(s->ptr, '\0', s->size) != NULL;
}
