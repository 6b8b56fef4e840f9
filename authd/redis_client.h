/*
 * redis_client: hiredis 0.14 async on the libevent loop (STYLE 2.2). An explicit state
 * machine (disconnected -> connecting -> authenticating -> ready), reconnect with backoff,
 * connect and per-command timeouts owned by this wrapper (hiredis 0.14 has none), and a
 * dedicated subscriber connection. Every command's callback fires exactly once, later,
 * from the loop; commands are never completed synchronously.
 */
#ifndef CB_AUTHD_REDIS_CLIENT_H
#define CB_AUTHD_REDIS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "common/xmem.h"

struct rds;

struct rds_config {
    const char *host;          /* used when unix_socket is NULL or empty; an address:
                                  hiredis resolves names with a blocking getaddrinfo() */
    int port;
    const char *unix_socket;
    const char *password;      /* AUTH after connect when non-empty (never logged) */
    int database;              /* SELECT after connect when non-zero */
    int connect_timeout_ms;
    int command_timeout_ms;
    int reconnect_min_ms;      /* backoff starts here, doubles, capped at max */
    int reconnect_max_ms;
};

struct rds_stats {
    uint64_t commands;
    uint64_t errors;           /* timeouts, disconnects, error replies */
    uint64_t reconnects;       /* connection attempts after the first (both connections) */
};

/* reply is borrowed for the duration of the call (NULL unless err is NULL or
 * cb_err_server, which means a REDIS_REPLY_ERROR reply). */
typedef void (*rds_reply_cb)(redisReply *reply, const char *err, void *arg);
/* A message on a subscribed channel (payload borrowed). */
typedef void (*rds_message_cb)(const char *channel, const char *payload, size_t len, void *arg);
/* Connection state change (true = ready). */
typedef void (*rds_state_cb)(bool ready, void *arg);

/* The config strings are copied. Never NULL. Does not connect yet. */
struct rds *rds_new(struct event_base *base, const struct rds_config *cfg);
/* Start connecting in the background; returns at once. */
void rds_start(struct rds *r);
/* Fails pending commands with cb_err_shutdown synchronously (the owner is going away:
 * callbacks must not touch the rds), disconnects, frees. NULL is a no-op. May be called from
 * one of this client's callbacks: the teardown then runs when that callback has returned,
 * before control goes back to the loop. */
void rds_free(struct rds *r);

/*
 * Send a command. Returns -1 (callback never called) when not ready; 0 otherwise, and
 * the callback later gets the reply, cb_err_timeout (the connection is then recycled),
 * cb_err_conn_closed or cb_err_server. Arguments are copied.
 */
int rds_command_argv(struct rds *r, rds_reply_cb cb, void *arg, int argc, const char **argv,
                     const size_t *argvlen) CB_WARN_UNUSED;
int rds_command(struct rds *r, rds_reply_cb cb, void *arg, const char *fmt, ...)
    CB_WARN_UNUSED;

/* Subscribe (on a separate connection, re-subscribed after every reconnect). One callback
 * per channel. */
void rds_subscribe(struct rds *r, const char *channel, rds_message_cb cb, void *arg);
void rds_set_state_cb(struct rds *r, rds_state_cb cb, void *arg);

/* The command connection is up and its handshake (AUTH / SELECT, else a PING) answered. */
bool rds_is_ready(const struct rds *r);
/* Last connection error text (for /hello), "" when none (cleared when the command connection
 * becomes ready again); borrowed until the next event. Never holds the password. */
const char *rds_last_error(const struct rds *r);
void rds_get_stats(const struct rds *r, struct rds_stats *out);

#endif
