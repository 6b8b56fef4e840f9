/*
 * authd_client: one worker's RPC connection to authd (schema/rpc.md). Connects, says
 * hello, subscribes to invalidations, loads the API snapshot (apis.list + certs.get) and
 * reloads it when authd announces a store change; reconnects with backoff. Calls time out
 * after authd_timeout_ms. Runs on the worker's loop; never blocks.
 */
#ifndef CB_PROXY_AUTHD_CLIENT_H
#define CB_PROXY_AUTHD_CLIENT_H

#include <stdbool.h>

#include <event2/event.h>
#include <jansson.h>

struct proxy_config;
struct apis;
struct authd_client;
struct authd_call;

/* A new snapshot (a reference the callee takes over). */
typedef void (*authd_snapshot_cb)(struct apis *snap, void *arg);
/* Cached auth decisions may be stale: a session or store change was announced, or the
 * connection to authd dropped (then no push can reach us until it is back). */
typedef void (*authd_invalidate_cb)(void *arg);
/*
 * A call finished: result (borrowed, valid during the call) on success; else result NULL,
 * code the RPC error code (400/403/404/500/503) or 503 for a timeout or a lost connection,
 * and err a message for logs. Always called from the loop, never from authd_client_call.
 */
typedef void (*authd_call_cb)(const json_t *result, int code, const char *err, void *arg);

struct authd_client *authd_client_new(struct event_base *base, const struct proxy_config *cfg,
                                      const char *name, authd_snapshot_cb on_snapshot,
                                      authd_invalidate_cb on_invalidate, void *arg);
void authd_client_start(struct authd_client *ac);
bool authd_client_connected(const struct authd_client *ac);
/* Call method with params (stolen). Never NULL: when disconnected, cb fires with 503. */
struct authd_call *authd_client_call(struct authd_client *ac, const char *method, json_t *params,
                                     authd_call_cb cb, void *arg);
/* The callback will not fire. Only before it fired. */
void authd_call_cancel(struct authd_call *c);
/* Close and free. Pending calls are dropped without their callbacks (free their owners,
 * e.g. authz, first); not from inside one of the client's own callbacks. NULL is a no-op. */
void authd_client_free(struct authd_client *ac);

#endif
