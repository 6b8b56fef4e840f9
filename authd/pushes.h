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

/* PostgreSQL channel the store trigger notifies (migrations/0001_init.sql). */
#define PUSHES_PG_CHANNEL "certbound_changes"

#endif
