/*
 * mpjson: conversions between jansson values and MessagePack, so JSON documents (sessions,
 * API definitions, certificate metadata) travel over the RPC as native msgpack maps.
 * Pure, bounded depth.
 */
#ifndef CB_COMMON_MPJSON_H
#define CB_COMMON_MPJSON_H

#include <stdbool.h>

#include <jansson.h>
#include <msgpack.h>

#include "common/xmem.h"

/*
 * Deepest container nesting mpjson_pack writes (a top-level array or object is level 1).
 * It leaves room under RPC_MAX_DEPTH for the message array, params map and one field map
 * around the value, so a packed document always decodes.
 */
#define MPJSON_MAX_DEPTH 28

/*
 * Pack a JSON value (any type) with pk. Integers stay integers, reals become float64,
 * strings and object keys str, byte for byte (a NUL included, which mpjson_to_json then
 * refuses). Containers nested deeper than MPJSON_MAX_DEPTH are packed as nil, which bounds
 * the recursion; callers holding user-supplied JSON check mpjson_fits first and refuse it.
 */
void mpjson_pack(msgpack_packer *pk, const json_t *v);
/* True if v nests no deeper than MPJSON_MAX_DEPTH (so mpjson_pack writes it unchanged). */
bool mpjson_fits(const json_t *v);

/*
 * Convert a msgpack object to a new JSON reference (the caller owns it); NULL when it holds
 * something JSON cannot, or that C-string readers would misread: non-string or duplicate map
 * keys, bin, ext, NaN or infinite floats, unsigned integers above INT64_MAX, depth >
 * RPC_MAX_DEPTH, invalid UTF-8 or a NUL in a string or key (as json_loads without
 * JSON_ALLOW_NUL). Borrows o only for the duration of the call.
 */
json_t *mpjson_to_json(const msgpack_object *o);

#endif
