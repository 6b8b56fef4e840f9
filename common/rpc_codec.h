/*
 * rpc_codec: bytes <-> RPC messages (DESIGN §7, schema/rpc.md). A frame is a 4-byte
 * big-endian payload length followed by one MessagePack-RPC array: request
 * [0,msgid,method,params], response [1,msgid,error,result], notification [2,method,params].
 * Pure: no I/O, no logging. Memory is bounded before msgpack sees a byte: the frame length
 * is checked against a maximum, and container sizes are checked against the bytes left
 * before msgpack pre-allocates them.
 */
#ifndef CB_COMMON_RPC_CODEC_H
#define CB_COMMON_RPC_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "common/xmem.h"

#define RPC_FRAME_HDR 4
#define RPC_FRAME_MAX (1024 * 1024) /* payload bytes; larger frames close the connection */
#define RPC_MAX_DEPTH 32            /* nesting limit of decoded objects */

enum rpc_status {
    RPC_OK = 0,
    RPC_NEED_MORE, /* not a whole frame yet */
    RPC_BAD        /* malformed: *err says why; the connection must be closed */
};

enum rpc_type {
    RPC_REQUEST = 0,
    RPC_RESPONSE = 1,
    RPC_NOTIFY = 2
};

/* Error codes carried in a response's error map {"code":int,"message":str}. */
enum rpc_errcode {
    RPC_E_OK = 0,
    RPC_E_BAD_REQUEST = 400,   /* params missing or of the wrong type */
    RPC_E_FORBIDDEN = 403,     /* caller may not use this method (e.g. private keys) */
    RPC_E_NOT_FOUND = 404,     /* unknown method */
    RPC_E_UNAVAILABLE = 503,   /* a backing store is down */
    RPC_E_INTERNAL = 500
};

struct rpc_msg {
    enum rpc_type type;
    uint32_t msgid;         /* request/response */
    const char *method;     /* request/notify; NOT NUL-terminated, borrowed */
    uint32_t method_len;
    msgpack_object params;  /* request/notify */
    msgpack_object error;   /* response: type NIL when the call succeeded */
    msgpack_object result;  /* response */
};

/*
 * Why a message was refused (the *err of RPC_BAD). Constants: compare by pointer.
 * schema/rpc.md lists them with the rule each one enforces.
 */
extern const char rpc_err_frame_too_large[]; /* "frame too large" */
extern const char rpc_err_empty_frame[];     /* "empty frame" */
extern const char rpc_err_not_array[];       /* "not an array" */
extern const char rpc_err_bad_arity[];       /* "bad arity" */
extern const char rpc_err_bad_type[];        /* "bad message type" */
extern const char rpc_err_bad_msgid[];       /* "msgid not an integer" */
extern const char rpc_err_msgid_range[];     /* "msgid out of range" */
extern const char rpc_err_bad_method[];      /* "method not a string" */
extern const char rpc_err_bad_error[];       /* "error not nil or a map" */
extern const char rpc_err_too_deep[];        /* "nesting too deep" */
extern const char rpc_err_truncated[];       /* "truncated" */
extern const char rpc_err_trailing[];        /* "trailing bytes" */
extern const char rpc_err_container[];       /* "container larger than frame" */
extern const char rpc_err_bad_byte[];        /* "invalid type byte" (0xc1) */
extern const char rpc_err_unpack[];          /* "msgpack refused the payload" */

/*
 * Look at buf[0..len): RPC_NEED_MORE until the header and the whole payload are there;
 * RPC_OK with *payload_len set (payload starts at buf + RPC_FRAME_HDR); RPC_BAD when the
 * announced length is 0 or over max (max is capped at RPC_FRAME_MAX). Once the header is
 * there, *payload_len is also set with RPC_NEED_MORE, so a reader knows how much to wait for.
 */
enum rpc_status rpc_frame_peek(const unsigned char *buf, size_t len, size_t max,
                               size_t *payload_len, const char **err);

/*
 * Decode one payload into *out; objects live in zone (owned by the caller, freed with
 * msgpack_zone_destroy/free) and may point into payload, which must outlive *out.
 * Trailing bytes after the array, wrong arity or element types, depth over RPC_MAX_DEPTH,
 * and any container claiming more elements than bytes remain are RPC_BAD.
 */
enum rpc_status rpc_msg_decode(const unsigned char *payload, size_t len, msgpack_zone *zone,
                               struct rpc_msg *out, const char **err);

/*
 * Encoder: a growing buffer whose first 4 bytes are reserved for the length. Each start
 * call (rpc_enc_request/notify/result/error) begins a new frame and discards the previous
 * one, so an encoder can be reused after rpc_enc_finish. Growth aborts on OOM (xmem).
 */
struct rpc_enc {
    msgpack_sbuffer sbuf;
    msgpack_packer pk; /* pack params / result / error details with msgpack_pack_* */
};

void rpc_enc_init(struct rpc_enc *e);
void rpc_enc_destroy(struct rpc_enc *e);
/* Start [0,msgid,method, — the caller then packs exactly one params object. */
void rpc_enc_request(struct rpc_enc *e, uint32_t msgid, const char *method);
/* Start [2,method, — then exactly one params object. */
void rpc_enc_notify(struct rpc_enc *e, const char *method);
/* Start a success response [1,msgid,nil, — then exactly one result object. */
void rpc_enc_result(struct rpc_enc *e, uint32_t msgid);
/* A whole error response [1,msgid,{"code":code,"message":msg},nil]. */
void rpc_enc_error(struct rpc_enc *e, uint32_t msgid, enum rpc_errcode code, const char *msg);
/* Patch the length prefix; *buf and *len cover the whole frame (borrowed from e). -1 if the
 * payload exceeds RPC_FRAME_MAX. */
int rpc_enc_finish(struct rpc_enc *e, const unsigned char **buf, size_t *len) CB_WARN_UNUSED;

/* Pack a NUL-terminated string / a (ptr,len) string. */
void rpc_pack_str(msgpack_packer *pk, const char *s);
void rpc_pack_strn(msgpack_packer *pk, const char *s, size_t n);

/* Map lookup by string key; NULL if map is not a map or has no such key. */
const msgpack_object *rpc_map_get(const msgpack_object *map, const char *key);
/* True and (*s,*n) borrowed if o is a str. */
bool rpc_obj_str(const msgpack_object *o, const char **s, size_t *n);
/* Heap NUL-terminated copy of a str object, or NULL if o is not a str or holds a NUL. */
char *rpc_obj_strdup(const msgpack_object *o);
/*
 * Read a response's error map {"code":int,"message":str}: 0 with *code and (*msg,*msg_len)
 * (borrowed from the message) set; -1 if error is not such a map. Unknown keys are ignored.
 */
int rpc_error_get(const msgpack_object *error, int64_t *code, const char **msg,
                  size_t *msg_len) CB_WARN_UNUSED;

#endif
