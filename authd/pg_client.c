/*
 * pg_client: libpq's asynchronous API on the libevent loop (as pgbouncer/test/asynctest.c):
 * PQconnectStartParams + PQconnectPoll, then PQsendQueryParams / PQflush / PQconsumeInput /
 * PQisBusy / PQgetResult, one query in flight per connection. A fixed pool, a bounded FIFO
 * queue, per-query and connect timers, reconnect with backoff, and one LISTEN connection.
 * Not for COPY, multi-statement strings, transactions spanning calls (each query may run on a
 * different connection) or blocking use.
 *
 * Queued queries are handed to idle connections only from a deferred event (kick_ev), so
 * pgc_query() never runs user code and never completes anything itself. Everything that may
 * call user code runs between pgc_enter() and pgc_leave(), so a pgc_free() from a callback is
 * deferred until the outermost handler returns (STYLE 2.6.5). A query that times out closes
 * its connection (PQfinish, never the blocking PQcancel) and the pool reconnects it.
 */
#include "authd/pg_client.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "common/errs.h"
#include "common/log.h"
#include "common/xmem.h"

enum pgc_state {
    PGC_ST_DISCONNECTED = 0, /* no PGconn; the retry timer may be pending */
    PGC_ST_CONNECTING,       /* PQconnectPoll in progress */
    PGC_ST_LISTENING,        /* LISTEN sent, result awaited (listen connection) */
    PGC_ST_IDLE,             /* ready, nothing in flight */
    PGC_ST_BUSY,             /* one query in flight */
    PGC_ST_COUNT             /* number of states */
};

struct pgc_query {
    TAILQ_ENTRY(pgc_query) link; /* in p->queue while queued */
    struct pgc *p;
    struct pgc_conn *conn; /* running it; NULL while queued */
    char *sql;
    int nparams;
    char **values;
    int *lengths;
    int *formats;
    pgc_result_cb cb;
    void *arg;
    struct event *timer; /* query_timeout_ms from pgc_query() */
};

struct pgc_conn {
    struct pgc *p;
    char name[16]; /* "pool N" or "listen", for logs */
    int idx;       /* pool index; -1 for the listen connection */
    enum pgc_state state;
    PGconn *conn;
    struct event *io; /* persistent, on PQsocket(conn) */
    evutil_socket_t io_fd;
    short io_what;
    struct event *connect_timer; /* connect (+ LISTEN) deadline */
    struct event *retry_timer;   /* reconnect backoff */
    struct pgc_query *q;         /* in flight (BUSY) */
    PGresult *res;               /* result collected for q (or for LISTEN) */
    bool flushing;               /* PQflush answered 1: wait for EV_WRITE */
    int backoff_ms;
    unsigned failures; /* consecutive failures (log rate limit) */
    char last_msg[200]; /* the previous failure's message: a new cause is logged at once */
    bool attempted;    /* for stats.reconnects */
};

struct pgc {
    struct event_base *base;
    struct pgc_config cfg;
    char *conninfo;
    struct pgc_conn *pool; /* cfg.pool_size */
    struct pgc_conn listen;
    char *channel; /* NULL until pgc_listen() */
    pgc_notify_cb notify_cb;
    pgc_listen_ready_cb ready_cb;
    void *listen_arg;
    TAILQ_HEAD(, pgc_query) queue;
    int nqueued;
    struct event *kick_ev; /* deferred dispatch and sweep */
    struct pgc_stats stats;
    char last_error[256];
    bool started;
    bool closing; /* pgc_free() was called */
    int depth;    /* our handlers on the stack */
};

static void pgc_conn_init(struct pgc *p, struct pgc_conn *c, const char *name, int idx);
static void pgc_conn_connect(struct pgc_conn *c);
static void pgc_conn_poll(struct pgc_conn *c);
static void pgc_conn_connected(struct pgc_conn *c);
static void pgc_conn_up(struct pgc_conn *c);
static int pgc_conn_watch(struct pgc_conn *c, short what, bool force);
static int pgc_conn_flush(struct pgc_conn *c);
static void pgc_conn_io(struct pgc_conn *c, short what);
static int pgc_conn_collect(struct pgc_conn *c);
static void pgc_conn_drain_notifies(struct pgc_conn *c);
static int pgc_conn_send(struct pgc_conn *c, struct pgc_query *q);
static void pgc_conn_close(struct pgc_conn *c);
static void pgc_conn_reset(struct pgc_conn *c);
static void pgc_conn_lost(struct pgc_conn *c, const char *why);
static void pgc_conn_set_state(struct pgc_conn *c, enum pgc_state st);
static void pgc_conn_fail(struct pgc_conn *c, const char *what, const char *detail);
static void pgc_query_done(struct pgc_conn *c);
static void pgc_listen_done(struct pgc_conn *c);
static void pgc_query_complete(struct pgc_query *q, const PGresult *res, const char *err);
static void pgc_query_free(struct pgc_query *q);
static struct pgc_query *pgc_query_new(struct pgc *p, const char *sql, int nparams,
                                       const char *const *values, const int *lengths,
                                       const int *binary);
static void pgc_dispatch(struct pgc *p);
static void pgc_fail_queue(struct pgc *p, const char *err);
static int pgc_count(const struct pgc *p, enum pgc_state st);
static void pgc_enter(struct pgc *p);
static void pgc_leave(struct pgc *p);
static void pgc_destroy(struct pgc *p);
static struct timeval pgc_tv(int ms);
static void pgc_on_io(evutil_socket_t fd, short what, void *arg);
static void pgc_on_connect_timeout(evutil_socket_t fd, short what, void *arg);
static void pgc_on_retry(evutil_socket_t fd, short what, void *arg);
static void pgc_on_query_timeout(evutil_socket_t fd, short what, void *arg);
static void pgc_on_kick(evutil_socket_t fd, short what, void *arg);
static void pgc_on_notice(void *arg, const char *message);

static const char *const pgc_state_names[PGC_ST_COUNT] = {
    "disconnected", "connecting", "listening", "idle", "busy",
};

/* Legal transitions, one bit per target state (STYLE 2.9.4). */
#define PGC_BIT(st) (1u << (st))
static const unsigned pgc_transitions[PGC_ST_COUNT] = {
    [PGC_ST_DISCONNECTED] = PGC_BIT(PGC_ST_CONNECTING),
    [PGC_ST_CONNECTING] =
        PGC_BIT(PGC_ST_LISTENING) | PGC_BIT(PGC_ST_IDLE) | PGC_BIT(PGC_ST_DISCONNECTED),
    [PGC_ST_LISTENING] = PGC_BIT(PGC_ST_IDLE) | PGC_BIT(PGC_ST_DISCONNECTED),
    [PGC_ST_IDLE] = PGC_BIT(PGC_ST_BUSY) | PGC_BIT(PGC_ST_DISCONNECTED),
    [PGC_ST_BUSY] = PGC_BIT(PGC_ST_IDLE) | PGC_BIT(PGC_ST_DISCONNECTED),
};

/* ---- public functions ---- */

struct pgc *pgc_new(struct event_base *base, const struct pgc_config *cfg)
{
    struct pgc *p = xcalloc(1, sizeof(*p));
    int i;

    p->base = base;
    p->cfg = *cfg;
    p->conninfo = xstrdup(cfg->conninfo != NULL ? cfg->conninfo : "");
    p->cfg.conninfo = p->conninfo;
    if (p->cfg.pool_size < 1)
        p->cfg.pool_size = 1;
    if (p->cfg.connect_timeout_ms <= 0)
        p->cfg.connect_timeout_ms = 5000;
    if (p->cfg.query_timeout_ms <= 0)
        p->cfg.query_timeout_ms = 5000;
    if (p->cfg.reconnect_min_ms <= 0)
        p->cfg.reconnect_min_ms = 100;
    if (p->cfg.reconnect_max_ms < p->cfg.reconnect_min_ms)
        p->cfg.reconnect_max_ms = p->cfg.reconnect_min_ms;
    if (p->cfg.max_queue < 0)
        p->cfg.max_queue = 0;
    TAILQ_INIT(&p->queue);
    p->kick_ev = event_new(base, -1, 0, pgc_on_kick, p);
    if (p->kick_ev == NULL)
        die("postgres: cannot allocate events");
    p->pool = xcalloc((size_t)p->cfg.pool_size, sizeof(*p->pool));
    for (i = 0; i < p->cfg.pool_size; i++)
        pgc_conn_init(p, &p->pool[i], "pool", i);
    pgc_conn_init(p, &p->listen, "listen", -1);
    return p;
}

void pgc_start(struct pgc *p)
{
    int i;

    if (p->started || p->closing)
        return;
    p->started = true;
    for (i = 0; i < p->cfg.pool_size; i++)
        pgc_conn_connect(&p->pool[i]);
    if (p->channel != NULL)
        pgc_conn_connect(&p->listen);
}

void pgc_free(struct pgc *p)
{
    if (p == NULL || p->closing)
        return;
    p->closing = true;
    if (p->depth == 0)
        pgc_destroy(p);
    /* else: the outermost handler on the stack finishes in pgc_leave() */
}

int pgc_query(struct pgc *p, const char *sql, int nparams, const char *const *values,
              const int *lengths, const int *binary, pgc_result_cb cb, void *arg)
{
    struct pgc_query *q;
    struct timeval tv;

    if (!pgc_is_ready(p) || nparams < 0)
        return -1;
    /* idle connections take queued queries at the next kick: they do not count as queued */
    if (p->nqueued >= p->cfg.max_queue + pgc_count(p, PGC_ST_IDLE))
        return -1;
    q = pgc_query_new(p, sql, nparams, values, lengths, binary);
    if (q == NULL)
        return -1;
    q->cb = cb;
    q->arg = arg;
    tv = pgc_tv(p->cfg.query_timeout_ms);
    evtimer_add(q->timer, &tv);
    TAILQ_INSERT_TAIL(&p->queue, q, link);
    p->nqueued++;
    p->stats.queries++;
    event_active(p->kick_ev, 0, 1);
    return 0;
}

void pgc_listen(struct pgc *p, const char *channel, pgc_notify_cb cb, pgc_listen_ready_cb ready,
                void *arg)
{
    if (p->closing)
        return;
    CB_ASSERT(p->channel == NULL); /* one channel per client */
    p->channel = xstrdup(channel);
    p->notify_cb = cb;
    p->ready_cb = ready;
    p->listen_arg = arg;
    if (p->started && p->listen.state == PGC_ST_DISCONNECTED &&
        !evtimer_pending(p->listen.retry_timer, NULL))
        pgc_conn_connect(&p->listen);
}

bool pgc_is_ready(const struct pgc *p)
{
    return !p->closing && pgc_count(p, PGC_ST_IDLE) + pgc_count(p, PGC_ST_BUSY) > 0;
}

const char *pgc_last_error(const struct pgc *p)
{
    return p->last_error;
}

void pgc_get_stats(const struct pgc *p, struct pgc_stats *out)
{
    *out = p->stats;
}

/* ---- connection life cycle ---- */

static void pgc_conn_init(struct pgc *p, struct pgc_conn *c, const char *name, int idx)
{
    c->p = p;
    if (idx >= 0)
        snprintf(c->name, sizeof(c->name), "%s %d", name, idx);
    else
        snprintf(c->name, sizeof(c->name), "%s", name);
    c->idx = idx;
    c->state = PGC_ST_DISCONNECTED;
    c->io_fd = -1;
    c->backoff_ms = p->cfg.reconnect_min_ms;
    c->connect_timer = evtimer_new(p->base, pgc_on_connect_timeout, c);
    c->retry_timer = evtimer_new(p->base, pgc_on_retry, c);
    if (c->connect_timer == NULL || c->retry_timer == NULL)
        die("postgres: cannot allocate events");
}

static void pgc_conn_connect(struct pgc_conn *c)
{
    static const char *const keys[] = {"dbname", "fallback_application_name", NULL};
    struct pgc *p = c->p;
    const char *vals[3];
    struct timeval tv = pgc_tv(p->cfg.connect_timeout_ms);

    CB_ASSERT(c->state == PGC_ST_DISCONNECTED && c->conn == NULL);
    if (c->attempted)
        p->stats.reconnects++;
    c->attempted = true;
    /* dbname with expand_dbname = 1 takes the whole conninfo string. A host name (not an
     * address or a socket directory) is resolved by libpq with a blocking getaddrinfo(). */
    vals[0] = p->conninfo;
    vals[1] = "certbound-authd";
    vals[2] = NULL;
    c->conn = PQconnectStartParams(keys, vals, 1);
    if (c->conn == NULL)
        die("postgres: out of memory");
    pgc_conn_set_state(c, PGC_ST_CONNECTING);
    if (PQstatus(c->conn) == CONNECTION_BAD) {
        pgc_conn_fail(c, "connect failed", PQerrorMessage(c->conn));
        pgc_conn_reset(c);
        return;
    }
    PQsetNoticeProcessor(c->conn, pgc_on_notice, c);
    evtimer_add(c->connect_timer, &tv);
    /* as if PQconnectPoll had answered PGRES_POLLING_WRITING */
    if (pgc_conn_watch(c, EV_WRITE, true) < 0) {
        pgc_conn_fail(c, "connect failed", "no socket");
        pgc_conn_reset(c);
    }
}

/* One PQconnectPoll step. The socket may change between steps: re-read it every time. */
static void pgc_conn_poll(struct pgc_conn *c)
{
    int rc = 0;

    switch (PQconnectPoll(c->conn)) {
    case PGRES_POLLING_READING:
        rc = pgc_conn_watch(c, EV_READ, true);
        break;
    case PGRES_POLLING_WRITING:
        rc = pgc_conn_watch(c, EV_WRITE, true);
        break;
    case PGRES_POLLING_OK:
        pgc_conn_connected(c);
        return;
    default: /* PGRES_POLLING_FAILED; ACTIVE is unused since libpq 7.4 */
        rc = -1;
        break;
    }
    if (rc < 0) {
        pgc_conn_fail(c, "connect failed", PQerrorMessage(c->conn));
        pgc_conn_reset(c);
    }
}

static void pgc_conn_connected(struct pgc_conn *c)
{
    struct pgc *p = c->p;
    char *ident;
    char *sql;
    int rc;

    if (PQsetnonblocking(c->conn, 1) != 0 || pgc_conn_watch(c, EV_READ, true) < 0) {
        pgc_conn_fail(c, "connect failed", PQerrorMessage(c->conn));
        pgc_conn_reset(c);
        return;
    }
    if (c->idx >= 0) {
        pgc_conn_set_state(c, PGC_ST_IDLE);
        pgc_conn_up(c);
        event_active(p->kick_ev, 0, 1);
        return;
    }
    ident = PQescapeIdentifier(c->conn, p->channel, strlen(p->channel));
    if (ident == NULL) {
        pgc_conn_fail(c, "cannot quote the LISTEN channel", PQerrorMessage(c->conn));
        pgc_conn_reset(c);
        return;
    }
    sql = xasprintf("LISTEN %s", ident);
    PQfreemem(ident);
    rc = PQsendQuery(c->conn, sql);
    free(sql);
    pgc_conn_set_state(c, PGC_ST_LISTENING);
    if (rc == 0 || pgc_conn_flush(c) < 0) {
        pgc_conn_fail(c, "cannot send LISTEN", PQerrorMessage(c->conn));
        pgc_conn_reset(c);
    }
}

/* A pool connection is ready, or the listen connection is listening. */
static void pgc_conn_up(struct pgc_conn *c)
{
    struct pgc *p = c->p;

    evtimer_del(c->connect_timer);
    c->backoff_ms = p->cfg.reconnect_min_ms;
    if (c->failures > 0 || c->idx <= 0)
        log_info("postgres %s: ready", c->name);
    c->failures = 0;
    c->last_msg[0] = '\0';
    if (c->idx >= 0 && pgc_count(p, PGC_ST_DISCONNECTED) + pgc_count(p, PGC_ST_CONNECTING) == 0)
        p->last_error[0] = '\0';
}

/* Point the connection's event at the current socket. While connecting, force a fresh
 * event: libpq may have closed the socket and opened another with the same number. */
static int pgc_conn_watch(struct pgc_conn *c, short what, bool force)
{
    evutil_socket_t fd = PQsocket(c->conn);

    if (fd < 0)
        return -1;
    if (c->io != NULL && !force && c->io_fd == fd && c->io_what == what)
        return 0;
    if (c->io != NULL)
        event_free(c->io);
    c->io = event_new(c->p->base, fd, (short)(what | EV_PERSIST), pgc_on_io, c);
    if (c->io == NULL)
        die("postgres: cannot allocate events");
    c->io_fd = fd;
    c->io_what = what;
    return event_add(c->io, NULL);
}

static int pgc_conn_flush(struct pgc_conn *c)
{
    int rc = PQflush(c->conn);

    if (rc < 0)
        return -1;
    c->flushing = rc > 0;
    return pgc_conn_watch(c, c->flushing ? EV_READ | EV_WRITE : EV_READ, false);
}

/* I/O on a connected connection: send what is pending, read what came, then look for
 * notifications and the end of the current command. */
static void pgc_conn_io(struct pgc_conn *c, short what)
{
    if (c->flushing && (what & EV_WRITE) != 0 && pgc_conn_flush(c) < 0) {
        pgc_conn_lost(c, PQerrorMessage(c->conn));
        return;
    }
    if ((what & EV_READ) != 0) {
        if (PQconsumeInput(c->conn) == 0) {
            pgc_conn_lost(c, PQerrorMessage(c->conn));
            return;
        }
        /* libpq may need the input read before it can send more */
        if (c->flushing && pgc_conn_flush(c) < 0) {
            pgc_conn_lost(c, PQerrorMessage(c->conn));
            return;
        }
    }
    pgc_conn_drain_notifies(c);
    if (c->p->closing)
        return;
    if (c->state == PGC_ST_BUSY || c->state == PGC_ST_LISTENING) {
        if (pgc_conn_collect(c) < 0)
            return;
    } else if (PQstatus(c->conn) == CONNECTION_BAD) {
        pgc_conn_lost(c, PQerrorMessage(c->conn));
    }
}

/* Read results until PQgetResult says NULL; keep the first error or the last result.
 * Returns 0 while the command is still running, 1 when it completed, -1 when the
 * connection was lost. */
static int pgc_conn_collect(struct pgc_conn *c)
{
    PGresult *res;
    ExecStatusType st;

    while (!PQisBusy(c->conn)) {
        res = PQgetResult(c->conn);
        if (res == NULL)
            break;
        st = PQresultStatus(res);
        if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
            PQclear(res);
            pgc_conn_lost(c, "COPY is not supported");
            return -1;
        }
        if (c->res != NULL && (PQresultStatus(c->res) == PGRES_FATAL_ERROR ||
                               PQresultStatus(c->res) == PGRES_BAD_RESPONSE)) {
            PQclear(res);
        } else {
            PQclear(c->res);
            c->res = res;
        }
    }
    if (PQisBusy(c->conn))
        return 0;
    /* An error the server sent on its way out (admin shutdown) is a lost connection. */
    if (PQstatus(c->conn) == CONNECTION_BAD) {
        pgc_conn_lost(c, PQerrorMessage(c->conn));
        return -1;
    }
    if (c->state == PGC_ST_LISTENING)
        pgc_listen_done(c);
    else
        pgc_query_done(c);
    return 1;
}

static void pgc_conn_drain_notifies(struct pgc_conn *c)
{
    struct pgc *p = c->p;
    PGnotify *n;

    while ((n = PQnotifies(c->conn)) != NULL) {
        if (c->idx < 0 && p->notify_cb != NULL && !p->closing)
            p->notify_cb(n->relname, n->extra, p->listen_arg);
        PQfreemem(n);
    }
}

static int pgc_conn_send(struct pgc_conn *c, struct pgc_query *q)
{
    if (PQsendQueryParams(c->conn, q->sql, q->nparams, NULL, (const char *const *)q->values,
                          q->lengths, q->formats, 0) == 0)
        return -1;
    c->q = q;
    q->conn = c;
    pgc_conn_set_state(c, PGC_ST_BUSY);
    if (pgc_conn_flush(c) < 0) {
        c->q = NULL;
        q->conn = NULL;
        return -1;
    }
    return 0;
}

/* Release the PGconn (no callbacks). The event goes first: PQfinish closes the socket. */
static void pgc_conn_close(struct pgc_conn *c)
{
    if (c->io != NULL) {
        event_free(c->io);
        c->io = NULL;
    }
    c->io_fd = -1;
    c->flushing = false;
    PQclear(c->res);
    c->res = NULL;
    if (c->conn != NULL) {
        PQfinish(c->conn);
        c->conn = NULL;
    }
    evtimer_del(c->connect_timer);
    if (c->state != PGC_ST_DISCONNECTED)
        pgc_conn_set_state(c, PGC_ST_DISCONNECTED);
}

/* Close and schedule the reconnect; the kick sweeps the queue if nothing is left. The
 * in-flight query, if any, must have been taken off c->q by the caller. */
static void pgc_conn_reset(struct pgc_conn *c)
{
    struct pgc *p = c->p;
    struct timeval tv;

    CB_ASSERT(c->q == NULL);
    pgc_conn_close(c);
    if (p->closing)
        return;
    tv = pgc_tv(c->backoff_ms);
    evtimer_add(c->retry_timer, &tv);
    log_debug("postgres %s: reconnecting in %d ms", c->name, c->backoff_ms);
    c->backoff_ms =
        c->backoff_ms > p->cfg.reconnect_max_ms / 2 ? p->cfg.reconnect_max_ms : c->backoff_ms * 2;
    if (c->idx >= 0)
        event_active(p->kick_ev, 0, 1);
}

/* The connection broke: log, reconnect, fail the in-flight query. */
static void pgc_conn_lost(struct pgc_conn *c, const char *why)
{
    struct pgc_query *q = c->q;

    pgc_conn_fail(c, "connection lost", why);
    c->q = NULL;
    pgc_conn_reset(c);
    if (q != NULL)
        pgc_query_complete(q, NULL, c->p->closing ? cb_err_shutdown : cb_err_conn_closed);
}

static void pgc_conn_set_state(struct pgc_conn *c, enum pgc_state st)
{
    CB_ASSERT(st < PGC_ST_COUNT && (pgc_transitions[c->state] & PGC_BIT(st)) != 0);
    log_debug("postgres %s: %s -> %s", c->name, pgc_state_names[c->state], pgc_state_names[st]);
    c->state = st;
}

/* Record a connection problem: last_error always; the log at warn for the first failure in
 * a row, every 10th after it (an outage retries forever) and whenever the cause changes
 * (a lost connection, then "certificate verify failed"), at debug otherwise. The libpq
 * message names the server, never the password; the conninfo itself is never logged. */
static void pgc_conn_fail(struct pgc_conn *c, const char *what, const char *detail)
{
    struct pgc *p = c->p;
    char msg[200];
    size_t n;

    snprintf(msg, sizeof(msg), "%s", detail != NULL ? detail : "");
    for (n = strlen(msg); n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '); n--)
        msg[n - 1] = '\0';
    for (n = 0; msg[n] != '\0'; n++) {
        if (msg[n] == '\n' || msg[n] == '\t')
            msg[n] = ' ';
    }
    snprintf(p->last_error, sizeof(p->last_error), "%s: %s: %s", c->name, what, msg);
    c->failures++;
    if (c->failures == 1 || c->failures % 10 == 0 || strcmp(msg, c->last_msg) != 0)
        log_warn("postgres %s: %s: %s (failure %u in a row)", c->name, what, msg, c->failures);
    else
        log_debug("postgres %s: %s: %s (failure %u in a row)", c->name, what, msg, c->failures);
    snprintf(c->last_msg, sizeof(c->last_msg), "%s", msg);
}

/* ---- queries ---- */

/* The in-flight query finished: free the connection for the queue first (FIFO order even if
 * the callback queues more), then complete. */
static void pgc_query_done(struct pgc_conn *c)
{
    struct pgc_query *q = c->q;
    PGresult *res = c->res;
    const char *err = NULL;
    const char *state;
    const char *msg;

    c->q = NULL;
    c->res = NULL;
    q->conn = NULL;
    pgc_conn_set_state(c, PGC_ST_IDLE);
    c->flushing = false; /* the server answered: everything was sent */
    if (pgc_conn_watch(c, EV_READ, false) < 0)
        log_debug("postgres %s: cannot watch the socket", c->name);
    pgc_dispatch(c->p);
    if (res == NULL) {
        err = cb_err_protocol;
    } else if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
        err = cb_err_server;
        state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        log_warn("postgres: query failed: sqlstate=%s %s", state != NULL ? state : "-",
                 msg != NULL ? msg : PQresStatus(PQresultStatus(res)));
    }
    pgc_query_complete(q, err == NULL || err == cb_err_server ? res : NULL, err);
    PQclear(res);
}

static void pgc_listen_done(struct pgc_conn *c)
{
    struct pgc *p = c->p;
    PGresult *res = c->res;

    c->res = NULL;
    if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
        pgc_conn_fail(c, "LISTEN failed", res != NULL ? PQresultErrorMessage(res) : "no result");
        PQclear(res);
        pgc_conn_reset(c);
        return;
    }
    PQclear(res);
    pgc_conn_set_state(c, PGC_ST_IDLE);
    pgc_conn_up(c);
    if (p->ready_cb != NULL && !p->closing)
        p->ready_cb(p->listen_arg);
}

/* Exactly once per accepted query: stop its timer, count errors, call back, free. */
static void pgc_query_complete(struct pgc_query *q, const PGresult *res, const char *err)
{
    event_del(q->timer);
    if (err != NULL)
        q->p->stats.errors++;
    q->cb(res, err, q->arg);
    pgc_query_free(q);
}

static void pgc_query_free(struct pgc_query *q)
{
    int i;

    for (i = 0; i < q->nparams; i++)
        free(q->values[i]);
    free(q->values);
    free(q->lengths);
    free(q->formats);
    free(q->sql);
    event_free(q->timer);
    free(q);
}

static struct pgc_query *pgc_query_new(struct pgc *p, const char *sql, int nparams,
                                       const char *const *values, const int *lengths,
                                       const int *binary)
{
    struct pgc_query *q = xcalloc(1, sizeof(*q));
    size_t len;
    int i;

    q->p = p;
    q->sql = xstrdup(sql);
    q->nparams = nparams;
    if (nparams > 0) {
        q->values = xcalloc((size_t)nparams, sizeof(*q->values));
        q->lengths = xcalloc((size_t)nparams, sizeof(*q->lengths));
        q->formats = xcalloc((size_t)nparams, sizeof(*q->formats));
    }
    for (i = 0; i < nparams; i++) {
        q->formats[i] = binary != NULL && binary[i] != 0;
        if (values[i] == NULL)
            continue; /* SQL NULL */
        if (q->formats[i] && (lengths == NULL || lengths[i] < 0)) {
            pgc_query_free(q);
            return NULL;
        }
        len = q->formats[i] ? (size_t)lengths[i] : strlen(values[i]);
        q->values[i] = xmemdup(values[i], len);
        q->lengths[i] = (int)len;
    }
    q->timer = evtimer_new(p->base, pgc_on_query_timeout, q);
    if (q->timer == NULL)
        die("postgres: cannot allocate events");
    return q;
}

/* Hand queued queries to idle pool connections. Runs no user code. */
static void pgc_dispatch(struct pgc *p)
{
    struct pgc_conn *c;
    struct pgc_query *q;
    int i;

    for (i = 0; i < p->cfg.pool_size && !TAILQ_EMPTY(&p->queue); i++) {
        c = &p->pool[i];
        if (c->state != PGC_ST_IDLE)
            continue;
        q = TAILQ_FIRST(&p->queue);
        TAILQ_REMOVE(&p->queue, q, link);
        p->nqueued--;
        if (pgc_conn_send(c, q) < 0) {
            TAILQ_INSERT_HEAD(&p->queue, q, link);
            p->nqueued++;
            pgc_conn_fail(c, "cannot send a query", PQerrorMessage(c->conn));
            pgc_conn_reset(c);
        }
    }
}

static void pgc_fail_queue(struct pgc *p, const char *err)
{
    struct pgc_query *q;

    while ((q = TAILQ_FIRST(&p->queue)) != NULL) {
        TAILQ_REMOVE(&p->queue, q, link);
        p->nqueued--;
        pgc_query_complete(q, NULL, err);
    }
}

static int pgc_count(const struct pgc *p, enum pgc_state st)
{
    int i;
    int n = 0;

    for (i = 0; i < p->cfg.pool_size; i++)
        n += p->pool[i].state == st;
    return n;
}

/* ---- re-entrancy guard and helpers ---- */

static void pgc_enter(struct pgc *p)
{
    p->depth++;
}

/* The caller must not touch p after this. */
static void pgc_leave(struct pgc *p)
{
    CB_ASSERT(p->depth > 0);
    if (--p->depth == 0 && p->closing)
        pgc_destroy(p);
}

static void pgc_destroy(struct pgc *p)
{
    struct pgc_query *q;
    int i;

    p->depth++; /* callbacks run below must not re-enter the destruction */
    pgc_fail_queue(p, cb_err_shutdown);
    for (i = 0; i <= p->cfg.pool_size; i++) {
        struct pgc_conn *c = i < p->cfg.pool_size ? &p->pool[i] : &p->listen;

        q = c->q;
        c->q = NULL;
        pgc_conn_close(c);
        if (q != NULL)
            pgc_query_complete(q, NULL, cb_err_shutdown);
        event_free(c->connect_timer);
        event_free(c->retry_timer);
    }
    event_free(p->kick_ev);
    free(p->pool);
    free(p->channel);
    explicit_bzero(p->conninfo, strlen(p->conninfo)); /* may hold a password */
    free(p->conninfo);
    free(p);
}

static struct timeval pgc_tv(int ms)
{
    struct timeval tv;

    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    return tv;
}

/* ---- event handlers ---- */

static void pgc_on_io(evutil_socket_t fd, short what, void *arg)
{
    struct pgc_conn *c = arg;
    struct pgc *p = c->p;

    pgc_enter(p);
    if (c->state == PGC_ST_CONNECTING)
        pgc_conn_poll(c);
    else if (c->state != PGC_ST_DISCONNECTED)
        pgc_conn_io(c, what);
    pgc_leave(p);
}

static void pgc_on_connect_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct pgc_conn *c = arg;
    struct pgc *p = c->p;
    char detail[64];

    pgc_enter(p);
    snprintf(detail, sizeof(detail), "no answer within %d ms", p->cfg.connect_timeout_ms);
    pgc_conn_fail(c, c->state == PGC_ST_LISTENING ? "LISTEN timed out" : "connect timed out",
                  detail);
    pgc_conn_reset(c);
    pgc_leave(p);
}

static void pgc_on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct pgc_conn *c = arg;
    struct pgc *p = c->p;

    pgc_enter(p);
    if (!p->closing && c->state == PGC_ST_DISCONNECTED)
        pgc_conn_connect(c);
    pgc_leave(p);
}

/* A query ran out of time. Queued: just drop it. In flight: the connection is closed (the
 * server stops the backend when it notices) and reconnected. */
static void pgc_on_query_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct pgc_query *q = arg;
    struct pgc *p = q->p;
    struct pgc_conn *c = q->conn;
    char detail[64];

    pgc_enter(p);
    if (c == NULL) {
        TAILQ_REMOVE(&p->queue, q, link);
        p->nqueued--;
    } else {
        snprintf(detail, sizeof(detail), "query ran over %d ms", p->cfg.query_timeout_ms);
        pgc_conn_fail(c, "closing the connection", detail);
        c->q = NULL;
        q->conn = NULL;
        pgc_conn_reset(c);
    }
    pgc_query_complete(q, NULL, cb_err_timeout);
    pgc_leave(p);
}

/* Deferred: dispatch the queue; if no pool connection is up, nothing can run it. */
static void pgc_on_kick(evutil_socket_t fd, short what, void *arg)
{
    struct pgc *p = arg;

    pgc_enter(p);
    pgc_dispatch(p);
    if (!pgc_is_ready(p))
        pgc_fail_queue(p, p->closing ? cb_err_shutdown : cb_err_conn_closed);
    pgc_leave(p);
}

/* Server notices and warnings (also "terminating connection" on shutdown): log, not stderr. */
static void pgc_on_notice(void *arg, const char *message)
{
    struct pgc_conn *c = arg;
    size_t len = strlen(message);

    while (len > 0 && message[len - 1] == '\n')
        len--;
    log_info("postgres %s: server says: %.*s", c->name, (int)len, message);
}
