/*
 * sessions: sessions ("keys") in Redis (DESIGN §2, §6a; schema/redis-keys.md). Naming of
 * the Redis key from a token or its hash, and the GET/SET/DEL/SCAN calls on redis_client.
 * Session JSON is kept as a whole jansson object, so fields we do not know survive every
 * read-modify-write.
 */
#ifndef CB_AUTHD_SESSIONS_H
#define CB_AUTHD_SESSIONS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "common/token.h"
#include "common/xmem.h"

struct authd;

#define SESSIONS_PREFIX "apikey-"

/* The key hash reported as key_hash and used in Redis names when hash_keys is on. */
void sessions_key_hash(const struct authd *ad, const char *token, char out[TOKEN_HASH_HEX_MAX + 1]);

/* Redis key (heap) for a token, or for a hash when by_hash. */
char *sessions_redis_key(const struct authd *ad, const char *token_or_hash, bool by_hash);

/* session NULL with err NULL: not found. session is borrowed for the call. */
typedef void (*sessions_get_cb)(json_t *session, const char *err, void *arg);
/* stored false with err NULL: the NX/XX condition failed. */
typedef void (*sessions_put_cb)(bool stored, const char *err, void *arg);
/* removed = number of keys deleted (0 or 1). */
typedef void (*sessions_del_cb)(long long removed, const char *err, void *arg);
/* keys: array of the names after "apikey-" (borrowed). */
typedef void (*sessions_list_cb)(json_t *keys, const char *err, void *arg);

enum sessions_put_mode {
    SESS_PUT_ANY = 0,
    SESS_PUT_NX,      /* only when absent */
    SESS_PUT_XX       /* only when present */
};

/* Each returns -1 (callback never called) when Redis is not ready. A stored value that is
 * not a JSON object is logged and reported as not found. */
int sessions_get(struct authd *ad, const char *rkey, sessions_get_cb cb, void *arg)
    CB_WARN_UNUSED;
/* Stores session; when its "expires" >= 1 the key expires at expires +
 * expired_key_retention_s (DESIGN §6a), else never. */
int sessions_put(struct authd *ad, const char *rkey, const json_t *session,
                 enum sessions_put_mode mode, sessions_put_cb cb, void *arg) CB_WARN_UNUSED;
int sessions_del(struct authd *ad, const char *rkey, sessions_del_cb cb, void *arg)
    CB_WARN_UNUSED;
int sessions_list(struct authd *ad, sessions_list_cb cb, void *arg) CB_WARN_UNUSED;

/* Tell every authd and proxy that the session with this Redis key changed (fire and
 * forget over Redis pub/sub). */
void sessions_publish_invalidation(struct authd *ad, const char *rkey);

#endif
