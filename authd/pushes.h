/*
 * pushes: the invalidation fan-out (schema/rpc.md `subscribe`). Session changes arrive on
 * Redis pub/sub (sessions_publish_invalidation, from any authd), certificate and API
 * changes as PostgreSQL NOTIFY (the store trigger, from any authd); both are forwarded to
 * every subscribed RPC connection. After a reconnect of either listener, notifications may
 * have been missed, so subscribers get {"type":"resync"}.
 */
#ifndef CB_AUTHD_PUSHES_H
#define CB_AUTHD_PUSHES_H

struct authd;

/* Subscribe/LISTEN on ad's store clients; forwards to ad->rpc once it exists. */
void pushes_start(struct authd *ad);

/*
 * Tell this authd's own subscribers now, before the write's HTTP reply goes out, so that a
 * proxy connected here has the notification in its socket before the admin can send the
 * next request (DESIGN §6: revocation applies to the very next request). The Redis/NOTIFY
 * copy that arrives later is a harmless repeat; other authds rely on it.
 */
void pushes_session_now(struct authd *ad, const char *rkey);
/* table "certificates" or "api_definitions", op "insert"|"update"|"delete". No revision is
 * sent: the client reloads. */
void pushes_store_now(struct authd *ad, const char *table, const char *op, const char *id);

/* PostgreSQL channel the store trigger notifies (migrations/0001_init.sql). */
#define PUSHES_PG_CHANNEL "certbound_changes"

#endif
