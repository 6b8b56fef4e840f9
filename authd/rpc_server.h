/*
 * rpc_server: accepts proxy RPC connections (TCP or unix socket, DESIGN §7) and dispatches
 * their requests through a method table (schema/rpc.md). Limits: connections per server,
 * calls in flight per connection, frame size (rpc_chan). Runs on authd's loop.
 */
#ifndef CB_AUTHD_RPC_SERVER_H
#define CB_AUTHD_RPC_SERVER_H

#include <jansson.h>

#include <stddef.h>

struct authd;
struct rpcsrv;

/* listen = "host:port" (port 0 = any) or "unix:/path". NULL with *err (heap) on failure. */
struct rpcsrv *rpcsrv_new(struct authd *ad, const char *listen, size_t max_conns, char **err);
/* The bound TCP port (0 for a unix socket). */
int rpcsrv_port(const struct rpcsrv *s);
size_t rpcsrv_connections(const struct rpcsrv *s);
/* Send the notification [2, "invalidate", params] to every subscribed connection
 * (schema/rpc.md `subscribe`). params is borrowed. */
void rpcsrv_publish(struct rpcsrv *s, const json_t *params);
/* Stop accepting; close idle connections; connections with calls in flight close after the
 * last answer. */
void rpcsrv_stop(struct rpcsrv *s);
void rpcsrv_free(struct rpcsrv *s);

#endif
