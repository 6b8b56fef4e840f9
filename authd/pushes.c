/*
 * pushes: store notifications → RPC notifications. The payloads are small JSON objects
 * written by our own code (sessions.c, the SQL trigger); anything else is logged and dropped.
 */
#include "authd/pushes.h"

#include <stdbool.h>
#include <string.h>

#include <jansson.h>

#include "authd/authd.h"
#include "authd/certseen.h"
#include "authd/check.h"
#include "authd/pg_client.h"
#include "authd/redis_client.h"
#include "authd/rpc_server.h"
#include "common/log.h"

static void publish(struct authd *ad, json_t *params)
{
    if (ad->rpc != NULL && !ad->shutting_down)
        rpcsrv_publish(ad->rpc, params);
    json_decref(params);
}

static json_t *parse_object(const char *what, const char *payload, size_t len)
{
    json_t *j = json_loadb(payload, len, 0, NULL);

    if (!json_is_object(j)) {
        log_warn("pushes: ignored a %s notification that is not a JSON object", what);
        json_decref(j);
        return NULL;
    }
    return j;
}

static void on_redis_message(const char *channel, const char *payload, size_t len, void *arg)
{
    json_t *j = parse_object("session", payload, len);

    (void)channel;
    if (j == NULL)
        return;
    if (!json_is_string(json_object_get(j, "key"))) {
        log_warn("pushes: ignored a session notification without a key");
        json_decref(j);
        return;
    }
    json_object_set_new(j, "type", json_string("session"));
    publish(arg, j);
}

/* Drop what this authd cached of a changed store row (table NULL: everything). */
static void forget(struct authd *ad, const char *table, const char *id)
{
    check_invalidate(ad->check, table, id);
    if (ad->certs_seen != NULL && (table == NULL || strcmp(table, "certificates") == 0))
        certseen_forget(ad->certs_seen, table == NULL ? NULL : id);
}

static void on_pg_notify(const char *channel, const char *payload, void *arg)
{
    json_t *j = parse_object("store", payload, strlen(payload));

    (void)channel;
    if (j == NULL)
        return;
    json_object_set_new(j, "type", json_string("store"));
    /* The caches of definitions and certificates, whichever authd made the change. */
    forget(arg, json_string_value(json_object_get(j, "table")),
           json_string_value(json_object_get(j, "id")));
    publish(arg, j);
}

static void resync(struct authd *ad, const char *why)
{
    log_info("pushes: %s listener (re)connected: subscribers resync", why);
    forget(ad, NULL, NULL); /* notifications may have been missed */
    publish(ad, json_pack("{s:s}", "type", "resync"));
}

static void on_pg_listen_ready(void *arg)
{
    resync(arg, "PostgreSQL");
}

static void on_redis_state(bool ready, void *arg)
{
    /* Down: sessions can no longer be checked, so proxies must drop the allows they cached
     * (fail closed: their next session request asks us and gets 503). Up again: the
     * subscriber connection, which has no callback of its own, reconnects with the command
     * connection, and notifications may have been missed meanwhile. */
    if (ready) {
        resync(arg, "Redis");
    } else {
        log_warn("pushes: Redis connection lost: subscribers drop cached decisions");
        publish(arg, json_pack("{s:s}", "type", "resync"));
    }
}

void pushes_session_now(struct authd *ad, const char *rkey)
{
    publish(ad, json_pack("{s:s, s:s}", "type", "session", "key", rkey));
}

void pushes_store_now(struct authd *ad, const char *table, const char *op, const char *id)
{
    forget(ad, table, id);
    publish(ad, json_pack("{s:s, s:s, s:s, s:s}", "type", "store", "table", table, "op", op,
                          "id", id));
}

void pushes_start(struct authd *ad)
{
    rds_subscribe(ad->rds, AUTHD_INVALIDATE_CHANNEL, on_redis_message, ad);
    rds_set_state_cb(ad->rds, on_redis_state, ad);
    pgc_listen(ad->pgc, PUSHES_PG_CHANNEL, on_pg_notify, on_pg_listen_ready, ad);
}
