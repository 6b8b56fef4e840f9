/*
 * token: Tyk-compatible token derivation (generateToken) and key hashing (HashStr), spec §4.2
 * and §7.2, DESIGN §2. Pure: no I/O, no logging. Not the place for session storage or for
 * deciding whether hashing is on; callers do that.
 */
#include "common/token.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/sha.h>

#include "common/strutil.h"

/*
 * Tokens longer than this are never treated as base64-JSON: real ones are ~130 chars, and
 * the bound keeps a hostile token from costing more than a small decode.
 */
#define TOKEN_B64_MAX 4096

/* Tyk's "legacy tokens are org (a 24-char Mongo id) + id" rule (spec §7.3 TokenOrg). */
#define TOKEN_LEGACY_ORG_LEN 24

static const struct {
    const char *name;
    enum token_algo algo;
} algo_names[] = {
    {"sha256", TOKEN_ALGO_SHA256},
    {"murmur64", TOKEN_ALGO_MURMUR64},
    {"murmur128", TOKEN_ALGO_MURMUR128},
    {"murmur32", TOKEN_ALGO_MURMUR32},
};

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const unsigned char *in, size_t n);
static int b64_value(unsigned char c);
static unsigned char *b64_decode(const char *in, size_t len, size_t *outlen);
static json_t *token_decode_json(const char *token, size_t len);
static uint64_t rotl64(uint64_t x, int r);
static uint32_t rotl32(uint32_t x, int r);
static uint64_t fmix64(uint64_t k);
static uint64_t load_le64(const unsigned char *p);
static uint32_t load_le32(const unsigned char *p);

/* ---- public functions ---- */

char *token_generate(const char *org, const char *key_id, const char *hash_fn)
{
    size_t orglen = strlen(org);
    enum token_algo unused;
    char *json;
    char *tok;

    if (orglen > 0 && strncmp(key_id, org, orglen) == 0)
        key_id += orglen;
    if (hash_fn == NULL || hash_fn[0] == '\0')
        return xasprintf("%s%s", org, key_id);
    /* internal/crypto/token.go GenerateToken: an unknown name is replaced, not kept. */
    if (token_algo_parse(hash_fn, &unused) < 0)
        hash_fn = "murmur64";
    /* Tyk builds this with Sprintf: values are deliberately not JSON-escaped. */
    json = xasprintf("{\"org\":\"%s\",\"id\":\"%s\",\"h\":\"%s\"}", org, key_id, hash_fn);
    tok = b64_encode((const unsigned char *)json, strlen(json));
    free(json);
    return tok;
}

int token_algo_parse(const char *name, enum token_algo *out)
{
    for (size_t i = 0; i < CB_ARRAY_LEN(algo_names); i++) {
        if (strcmp(name, algo_names[i].name) == 0) {
            *out = algo_names[i].algo;
            return 0;
        }
    }
    return -1;
}

enum token_algo token_algo_of(const char *token, size_t len, enum token_algo legacy_algo)
{
    json_t *obj = token_decode_json(token, len);
    const char *h;
    enum token_algo algo = legacy_algo;

    if (obj == NULL)
        return legacy_algo;
    h = json_string_value(json_object_get(obj, "h"));
    /* An empty "h" is what Tyk's legacy path produces too, so it hashes as legacy. */
    if (h != NULL && h[0] != '\0' && token_algo_parse(h, &algo) < 0)
        algo = TOKEN_ALGO_MURMUR64;
    json_decref(obj);
    return algo;
}

void token_hash_hex(enum token_algo algo, const void *data, size_t len, char *out)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    uint64_t h[2];

    switch (algo) {
    case TOKEN_ALGO_MURMUR64:
        murmur3_x64_128(data, len, 0, h);
        snprintf(out, TOKEN_HASH_HEX_MAX + 1, "%016llx", (unsigned long long)h[0]);
        break;
    case TOKEN_ALGO_MURMUR128:
        murmur3_x64_128(data, len, 0, h);
        snprintf(out, TOKEN_HASH_HEX_MAX + 1, "%016llx%016llx", (unsigned long long)h[0],
                 (unsigned long long)h[1]);
        break;
    case TOKEN_ALGO_MURMUR32:
        snprintf(out, TOKEN_HASH_HEX_MAX + 1, "%08lx", (unsigned long)murmur3_tyk32(data, len));
        break;
    case TOKEN_ALGO_SHA256:
    default:
        SHA256(data, len, md);
        hex_encode(md, sizeof(md), out);
        break;
    }
}

void token_key_hash(const char *token, size_t len, char *out)
{
    token_hash_hex(token_algo_of(token, len, TOKEN_ALGO_SHA256), token, len, out);
}

char *token_org(const char *token, size_t len)
{
    json_t *obj = token_decode_json(token, len);
    const char *org;
    char *ret = NULL;

    if (obj != NULL) {
        org = json_string_value(json_object_get(obj, "org"));
        if (org != NULL)
            ret = xstrdup(org);
        json_decref(obj);
        if (ret != NULL)
            return ret;
    }
    /* Tyk requires more than 24 chars: a token that is only an org id carries no key. */
    if (len > TOKEN_LEGACY_ORG_LEN && str_is_hex(token, TOKEN_LEGACY_ORG_LEN))
        return xstrndup(token, TOKEN_LEGACY_ORG_LEN);
    return NULL;
}

/*
 * MurmurHash3_x64_128 (Austin Appleby's public-domain reference), little-endian block
 * loads so the result does not depend on the host byte order.
 */
void murmur3_x64_128(const void *data, size_t len, uint32_t seed, uint64_t out[2])
{
    const uint64_t c1 = 0x87c37b91114253d5ULL;
    const uint64_t c2 = 0x4cf5ad432745937fULL;
    const unsigned char *p = data;
    size_t nblocks = len / 16;
    const unsigned char *tail = p + nblocks * 16;
    uint64_t h1 = seed;
    uint64_t h2 = seed;
    uint64_t k1 = 0;
    uint64_t k2 = 0;

    for (size_t i = 0; i < nblocks; i++) {
        k1 = load_le64(p + i * 16);
        k2 = load_le64(p + i * 16 + 8);
        k1 *= c1;
        k1 = rotl64(k1, 31);
        k1 *= c2;
        h1 ^= k1;
        h1 = rotl64(h1, 27);
        h1 += h2;
        h1 = h1 * 5 + 0x52dce729;
        k2 *= c2;
        k2 = rotl64(k2, 33);
        k2 *= c1;
        h2 ^= k2;
        h2 = rotl64(h2, 31);
        h2 += h1;
        h2 = h2 * 5 + 0x38495ab5;
    }

    k1 = 0;
    k2 = 0;
    for (size_t i = len & 15; i > 8; i--)
        k2 ^= (uint64_t)tail[i - 1] << (8 * (i - 9));
    if ((len & 15) > 8) {
        k2 *= c2;
        k2 = rotl64(k2, 33);
        k2 *= c1;
        h2 ^= k2;
    }
    for (size_t i = (len & 15) > 8 ? 8 : (len & 15); i > 0; i--)
        k1 ^= (uint64_t)tail[i - 1] << (8 * (i - 1));
    if ((len & 15) > 0) {
        k1 *= c1;
        k1 = rotl64(k1, 31);
        k1 *= c2;
        h1 ^= k1;
    }

    h1 ^= (uint64_t)len;
    h2 ^= (uint64_t)len;
    h1 += h2;
    h2 += h1;
    h1 = fmix64(h1);
    h2 = fmix64(h2);
    h1 += h2;
    h2 += h1;
    out[0] = h1;
    out[1] = h2;
}

/*
 * Tyk's murmur32 (spec §7.2): the running h1 after the complete 4-byte blocks only. The
 * trailing bytes, the length mix and fmix32 are skipped; that is the bug we must match
 * when a caller asks for TOKEN_ALGO_MURMUR32.
 */
uint32_t murmur3_tyk32(const void *data, size_t len)
{
    const uint32_t c1 = 0xcc9e2d51;
    const uint32_t c2 = 0x1b873593;
    const unsigned char *p = data;
    uint32_t h1 = 0;
    uint32_t k1;

    for (size_t i = 0; i + 4 <= len; i += 4) {
        k1 = load_le32(p + i);
        k1 *= c1;
        k1 = rotl32(k1, 15);
        k1 *= c2;
        h1 ^= k1;
        h1 = rotl32(h1, 13);
        h1 = h1 * 5 + 0xe6546b64;
    }
    return h1;
}

/* ---- static helpers ---- */

static char *b64_encode(const unsigned char *in, size_t n)
{
    char *out = xmalloc((n + 2) / 3 * 4 + 1);
    size_t o = 0;
    uint32_t v;

    for (size_t i = 0; i < n; i += 3) {
        v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? b64_alphabet[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

static int b64_value(unsigned char c)
{
    const char *p;

    if (c == '\0')
        return -1;
    p = strchr(b64_alphabet, c);
    return p != NULL ? (int)(p - b64_alphabet) : -1;
}

/*
 * Standard alphabet; padding optional but, when present, only at the end and completing a
 * 4-char group. No whitespace. Returns a heap buffer (NUL-terminated) or NULL.
 */
static unsigned char *b64_decode(const char *in, size_t len, size_t *outlen)
{
    unsigned char *out;
    uint32_t acc = 0;
    size_t nchars;
    size_t o = 0;
    int v;

    nchars = len;
    while (nchars > 0 && in[nchars - 1] == '=')
        nchars--;
    if (len - nchars > 2 || (len != nchars && len % 4 != 0) || nchars % 4 == 1)
        return NULL;
    out = xmalloc(nchars / 4 * 3 + 3);
    for (size_t i = 0; i < nchars; i++) {
        v = b64_value((unsigned char)in[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        if (i % 4 == 3) {
            out[o++] = (unsigned char)(acc >> 16);
            out[o++] = (unsigned char)(acc >> 8);
            out[o++] = (unsigned char)acc;
            acc = 0;
        }
    }
    if (nchars % 4 == 2) {
        out[o++] = (unsigned char)(acc >> 4);
    } else if (nchars % 4 == 3) {
        out[o++] = (unsigned char)(acc >> 10);
        out[o++] = (unsigned char)(acc >> 2);
    }
    out[o] = '\0';
    *outlen = o;
    return out;
}

/*
 * The JSON object a base64-JSON token carries, or NULL for a legacy token. As Tyk, only
 * tokens starting with "ey" (base64 of `{"`) are candidates; anything odd is legacy.
 */
static json_t *token_decode_json(const char *token, size_t len)
{
    unsigned char *raw;
    size_t rawlen = 0;
    json_t *obj;

    if (len < 2 || len > TOKEN_B64_MAX || token[0] != 'e' || token[1] != 'y')
        return NULL;
    raw = b64_decode(token, len, &rawlen);
    if (raw == NULL)
        return NULL;
    obj = json_loadb((const char *)raw, rawlen, JSON_REJECT_DUPLICATES, NULL);
    free(raw);
    if (obj != NULL && !json_is_object(obj)) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

static uint64_t rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static uint32_t rotl32(uint32_t x, int r)
{
    return (x << r) | (x >> (32 - r));
}

static uint64_t fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

static uint64_t load_le64(const unsigned char *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint32_t load_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
