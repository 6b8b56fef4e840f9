/*
 * mpjson: conversions between jansson values and MessagePack, so JSON documents (sessions,
 * API definitions, certificate metadata) travel over the RPC as native msgpack maps.
 * Pure, bounded depth.
 */
#ifndef CB_COMMON_MPJSON_H
#define CB_COMMON_MPJSON_H

#include <jansson.h>
#include <msgpack.h>

#include "common/xmem.h"

/* Pack a JSON value (any type) with pk. Integers stay integers, reals become float64. */
void mpjson_pack(msgpack_packer *pk, const json_t *v);

/* Convert a msgpack object to a new JSON reference; NULL when it holds something JSON
 * cannot (non-string map keys, bin, ext, depth > RPC_MAX_DEPTH, invalid UTF-8). */
json_t *mpjson_to_json(const msgpack_object *o);

#endif
