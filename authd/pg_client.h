/*
 * pg_client: libpq async on the libevent loop (as pgbouncer/test/asynctest.c): a small
 * fixed pool of connections, one query in flight per connection, a bounded FIFO queue,
 * connect and query timeouts, reconnect with backoff, and a LISTEN connection. Every
 * query's callback fires exactly once, later, from the loop.
 */
#ifndef CB_AUTHD_PG_CLIENT_H
#define CB_AUTHD_PG_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "common/xmem.h"

struct pgc;

struct pgc_config {
    const char *conninfo;      /* libpq conninfo string (copied; never logged: may hold a
                                  password) */
    int pool_size;             /* connections, >= 1 */
    int connect_timeout_ms;
    int query_timeout_ms;      /* from pgc_query() to the result, queue time included */
    int reconnect_min_ms;
    int reconnect_max_ms;
    int max_queue;             /* queued queries beyond which pgc_query fails */
};

struct pgc_stats {
    uint64_t queries;
    uint64_t errors;           /* timeouts, lost connections, SQL errors */
    uint64_t reconnects;       /* connection attempts after the first (all connections) */
};

/*
 * err NULL: res is PGRES_COMMAND_OK or PGRES_TUPLES_OK. err cb_err_server: res is the
 * error result (read SQLSTATE with PQresultErrorField(res, PG_DIAG_SQLSTATE)); the message
 * was logged. Any other err (cb_err_timeout, cb_err_conn_closed, cb_err_shutdown): res NULL.
 * res is borrowed for the duration of the call.
 */
typedef void (*pgc_result_cb)(const PGresult *res, const char *err, void *arg);
/* A NOTIFY on a listened channel (payload borrowed). */
typedef void (*pgc_notify_cb)(const char *channel, const char *payload, void *arg);
/* The LISTEN connection (re)connected: notifications may have been missed, resync. */
typedef void (*pgc_listen_ready_cb)(void *arg);

struct pgc *pgc_new(struct event_base *base, const struct pgc_config *cfg);
void pgc_start(struct pgc *p);
/* Fails queued and in-flight queries with cb_err_shutdown synchronously, closes, frees.
 * NULL is a no-op. May be called from one of this client's callbacks: the teardown then runs
 * when that callback has returned, before control goes back to the loop. */
void pgc_free(struct pgc *p);

/*
 * Queue a parameterised query (text params unless binary[i] != 0; values/lengths copied;
 * lengths and binary may be NULL for all-text). Returns -1 (callback never called) when
 * no connection is up or the queue is full; 0 otherwise.
 */
int pgc_query(struct pgc *p, const char *sql, int nparams, const char *const *values,
              const int *lengths, const int *binary, pgc_result_cb cb, void *arg)
    CB_WARN_UNUSED;

/* LISTEN on channel (any name: it is quoted) over a dedicated connection, re-issued after
 * every reconnect; ready is called after each successful LISTEN. Once per client. Callbacks
 * run from the loop. */
void pgc_listen(struct pgc *p, const char *channel, pgc_notify_cb cb, pgc_listen_ready_cb ready,
                void *arg);

/* At least one pool connection is up (pgc_query can be accepted). */
bool pgc_is_ready(const struct pgc *p);
/* Last connection error (libpq's message, never the conninfo), "" once the whole pool is up
 * again; borrowed until the next event. */
const char *pgc_last_error(const struct pgc *p);
void pgc_get_stats(const struct pgc *p, struct pgc_stats *out);

#endif
