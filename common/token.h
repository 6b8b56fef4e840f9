/*
 * token: Tyk-compatible key (token) derivation and key hashing (DESIGN §2, spec §4.2, §7.2).
 * Pure functions, no I/O.
 */
#ifndef CB_COMMON_TOKEN_H
#define CB_COMMON_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "common/xmem.h"

enum token_algo {
    TOKEN_ALGO_SHA256 = 0,
    TOKEN_ALGO_MURMUR64,
    TOKEN_ALGO_MURMUR128,
    TOKEN_ALGO_MURMUR32 /* Tyk's buggy murmur32 (trailing bytes ignored); compat only */
};

/* Longest hash hex: sha256 = 64 chars. */
#define TOKEN_HASH_HEX_MAX 64

/*
 * generateToken(org, key_id) of spec §4.2: strip org from the front of key_id; if hash_fn
 * is non-empty, base64 (padded, standard alphabet) of {"org":"<org>","id":"<id>","h":"<fn>"}
 * (an unknown fn name is replaced by "murmur64" in the JSON, as Tyk's GenerateToken does);
 * else org + id.
 * Returns a heap string.
 */
char *token_generate(const char *org, const char *key_id, const char *hash_fn);

/* Parse an algorithm name ("sha256", "murmur64", "murmur128", "murmur32"); -1 if unknown. */
int token_algo_parse(const char *name, enum token_algo *out) CB_WARN_UNUSED;

/*
 * The algorithm a token hashes with: a base64-JSON token (decodes to a JSON object with
 * "h") uses its "h" (unknown → murmur64); any other (legacy) token uses legacy_algo.
 * DESIGN §2: our default for legacy tokens is sha256 (we do not reproduce murmur32's bug
 * unless the caller asks for TOKEN_ALGO_MURMUR32 explicitly).
 */
enum token_algo token_algo_of(const char *token, size_t len, enum token_algo legacy_algo);

/* Lowercase hex hash of data with algo into out (size >= TOKEN_HASH_HEX_MAX + 1). */
void token_hash_hex(enum token_algo algo, const void *data, size_t len, char *out);

/* Convenience: token_hash_hex(token_algo_of(token, len, TOKEN_ALGO_SHA256), token). */
void token_key_hash(const char *token, size_t len, char *out);

/* The org encoded in a token (JSON "org" of a base64-JSON token, else the first 24 chars
 * of a legacy token when they are hex), heap string or NULL when none. */
char *token_org(const char *token, size_t len);

/* MurmurHash3 primitives (seed 0) exposed for the spec's test vectors. */
void murmur3_x64_128(const void *data, size_t len, uint32_t seed, uint64_t out[2]);
uint32_t murmur3_tyk32(const void *data, size_t len); /* Tyk's truncated variant */

#endif
