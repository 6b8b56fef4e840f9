/*
 * sessions: Redis calls for sessions. Listing walks SCAN with a bounded COUNT per round
 * trip, so a large keyspace never blocks Redis or the loop.
 */
#include "authd/sessions.h"

#include "authd/pushes.h"

#include <stdlib.h>
#include <string.h>

#include "authd/authd.h"
#include "authd/authd_cfg.h"
#include "authd/redis_client.h"
#include "common/errs.h"
#include "common/log.h"

struct sess_op {
    struct authd *ad;
    void *cb;
    void *arg;
    json_t *keys; /* list */
};

static void on_scan(redisReply *reply, const char *err, void *arg);
static void on_published(redisReply *reply, const char *err, void *arg);

/* ---- public functions ---- */

void sessions_key_hash(const struct authd *ad, const char *token, char out[TOKEN_HASH_HEX_MAX + 1])
{
    token_hash_hex(token_algo_of(token, strlen(token), ad->legacy_algo), token, strlen(token), out);
}

char *sessions_redis_key(const struct authd *ad, const char *token_or_hash, bool by_hash)
{
    char h[TOKEN_HASH_HEX_MAX + 1];

    if (by_hash || !ad->cfg->hash_keys)
        return xasprintf(SESSIONS_PREFIX "%s", token_or_hash);
    sessions_key_hash(ad, token_or_hash, h);
    return xasprintf(SESSIONS_PREFIX "%s", h);
}

static struct sess_op *op_new(struct authd *ad, void *cb, void *arg)
{
    struct sess_op *op = xcalloc(1, sizeof(*op));

    op->ad = ad;
    op->cb = cb;
    op->arg = arg;
    return op;
}

static void on_get(redisReply *reply, const char *err, void *arg)
{
    struct sess_op *op = arg;
    sessions_get_cb cb = (sessions_get_cb)op->cb;
    json_t *s = NULL;

    if (err == NULL && reply->type == REDIS_REPLY_STRING) {
        s = json_loadb(reply->str, reply->len, 0, NULL);
        if (!json_is_object(s)) {
            log_warn("session record is not a JSON object; treated as missing");
            json_decref(s);
            s = NULL;
        }
    }
    cb(s, err, op->arg);
    json_decref(s);
    free(op);
}

int sessions_get(struct authd *ad, const char *rkey, sessions_get_cb cb, void *arg)
{
    struct sess_op *op = op_new(ad, (void *)cb, arg);

    if (rds_command(ad->rds, on_get, op, "GET %s", rkey) < 0) {
        free(op);
        return -1;
    }
    return 0;
}

static void on_put(redisReply *reply, const char *err, void *arg)
{
    struct sess_op *op = arg;
    sessions_put_cb cb = (sessions_put_cb)op->cb;

    cb(err == NULL && reply->type == REDIS_REPLY_STATUS, err, op->arg);
    free(op);
}

int sessions_put(struct authd *ad, const char *rkey, const json_t *session,
                 enum sessions_put_mode mode, sessions_put_cb cb, void *arg)
{
    char *val = json_dumps(session, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_t *exp = json_object_get(session, "expires");
    long long expires = json_is_integer(exp) ? json_integer_value(exp) : 0;
    const char *argv[6];
    size_t argvlen[6];
    char at[32];
    int argc = 0, rc;
    struct sess_op *op;

    if (val == NULL)
        return -1;
    argv[argc++] = "SET";
    argv[argc++] = rkey;
    argv[argc++] = val;
    if (expires >= 1) {
        snprintf(at, sizeof(at), "%lld", expires + ad->cfg->expired_key_retention_s);
        argv[argc++] = "EXAT";
        argv[argc++] = at;
    }
    if (mode != SESS_PUT_ANY)
        argv[argc++] = mode == SESS_PUT_NX ? "NX" : "XX";
    for (int i = 0; i < argc; i++)
        argvlen[i] = strlen(argv[i]);
    op = op_new(ad, (void *)cb, arg);
    rc = rds_command_argv(ad->rds, on_put, op, argc, argv, argvlen);
    if (rc < 0)
        free(op);
    free(val);
    return rc;
}

static void on_del(redisReply *reply, const char *err, void *arg)
{
    struct sess_op *op = arg;
    sessions_del_cb cb = (sessions_del_cb)op->cb;

    cb(err == NULL && reply->type == REDIS_REPLY_INTEGER ? reply->integer : 0, err, op->arg);
    free(op);
}

int sessions_del(struct authd *ad, const char *rkey, sessions_del_cb cb, void *arg)
{
    struct sess_op *op = op_new(ad, (void *)cb, arg);

    if (rds_command(ad->rds, on_del, op, "DEL %s", rkey) < 0) {
        free(op);
        return -1;
    }
    return 0;
}

int sessions_list(struct authd *ad, sessions_list_cb cb, void *arg)
{
    struct sess_op *op = op_new(ad, (void *)cb, arg);

    op->keys = json_array();
    if (rds_command(ad->rds, on_scan, op, "SCAN 0 MATCH " SESSIONS_PREFIX "* COUNT 1000") < 0) {
        json_decref(op->keys);
        free(op);
        return -1;
    }
    return 0;
}

void sessions_publish_invalidation(struct authd *ad, const char *rkey)
{
    /* jansson escapes the key: with hash_keys off it is the client's token, any bytes. */
    json_t *j = json_pack("{s:s, s:s}", "type", "session", "key", rkey);
    char *msg = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;

    json_decref(j);
    if (msg == NULL)
        die("sessions: out of memory");
    pushes_session_now(ad, rkey);
    /* A lost publish only delays invalidation until the proxy's cache entry is refreshed. */
    if (rds_command(ad->rds, on_published, NULL, "PUBLISH %s %s", AUTHD_INVALIDATE_CHANNEL, msg) < 0)
        log_warn("could not publish a session invalidation: Redis unavailable");
    free(msg);
}

/* ---- static helpers ---- */

static void on_published(redisReply *reply, const char *err, void *arg)
{
    if (err != NULL)
        log_warn("could not publish a session invalidation: %s", err);
}

static void scan_done(struct sess_op *op, const char *err)
{
    ((sessions_list_cb)op->cb)(op->keys, err, op->arg);
    json_decref(op->keys);
    free(op);
}

static void on_scan(redisReply *reply, const char *err, void *arg)
{
    struct sess_op *op = arg;
    redisReply *keys;

    if (err != NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[1]->type != REDIS_REPLY_ARRAY) {
        scan_done(op, err != NULL ? err : cb_err_protocol);
        return;
    }
    keys = reply->element[1];
    for (size_t i = 0; i < keys->elements; i++)
        if (keys->element[i]->type == REDIS_REPLY_STRING &&
            keys->element[i]->len > strlen(SESSIONS_PREFIX))
            json_array_append_new(op->keys,
                                  json_stringn(keys->element[i]->str + strlen(SESSIONS_PREFIX),
                                               keys->element[i]->len - strlen(SESSIONS_PREFIX)));
    if (strcmp(reply->element[0]->str, "0") == 0) {
        scan_done(op, NULL);
        return;
    }
    if (rds_command(op->ad->rds, on_scan, op, "SCAN %s MATCH " SESSIONS_PREFIX "* COUNT 1000",
                    reply->element[0]->str) < 0)
        scan_done(op, cb_err_unavailable);
}
