/*
 * redis_client: hiredis 0.14 async on the libevent loop, with the timeouts and reconnects
 * hiredis 0.14 lacks (as h2o/lib/common/redis.c). Two connections with the same machinery:
 * "cmd" for commands and "sub" for SUBSCRIBE. Not for blocking use, MONITOR or pub/sub on the
 * command connection, nor Redis Cluster.
 *
 * hiredis is plugged into libevent by a small adapter of our own (rds_ev_*): its cleanup hook
 * only unhooks the events and forgets the context, so nothing is freed while hiredis is on the
 * stack. The context is freed (redisAsyncFree) only from our own timers and deferred events,
 * never from inside a hiredis callback. Everything that may call user code runs between
 * rds_enter() and rds_leave(), so an rds_free() from a callback is deferred until the
 * outermost handler returns (STYLE 2.6.5).
 *
 * Commands are queued by hiredis in FIFO order and all have the same timeout, so one timer per
 * connection, armed for the oldest pending command, covers them all.
 */
#include "authd/redis_client.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "common/errs.h"
#include "common/log.h"
#include "common/xmem.h"

enum rds_state {
    RDS_ST_DISCONNECTED = 0, /* no context; the retry timer may be pending */
    RDS_ST_CONNECTING,       /* connect(2) in progress */
    RDS_ST_AUTHENTICATING,   /* AUTH / SELECT / PING sent, replies awaited */
    RDS_ST_READY,            /* commands accepted */
    RDS_ST_CLOSING,          /* the context is being torn down */
    RDS_ST_COUNT             /* number of states */
};

struct rds_cmd {
    TAILQ_ENTRY(rds_cmd) link;
    struct rds_conn *conn;
    rds_reply_cb cb; /* NULL once completed early (timed out) */
    void *arg;
    uint64_t deadline_ms; /* monotonic */
    bool internal;        /* handshake command: not in the stats */
};

TAILQ_HEAD(rds_cmd_list, rds_cmd);

struct rds_conn {
    struct rds *r;
    const char *name; /* "cmd" or "sub", for logs */
    bool is_sub;
    enum rds_state state;
    redisAsyncContext *ac;       /* non-NULL from CONNECTING to CLOSING */
    struct event *rev;           /* adapter: read interest on ac's fd */
    struct event *wev;           /* adapter: write interest on ac's fd */
    struct event *connect_timer; /* connect + handshake deadline */
    struct event *cmd_timer;     /* deadline of the oldest pending command */
    struct event *retry_timer;   /* reconnect backoff */
    struct event *kill_ev;       /* deferred drop, out of hiredis callbacks */
    int backoff_ms;              /* next retry delay */
    int handshake_left;          /* handshake replies still awaited */
    unsigned failures;           /* consecutive failed attempts (log rate limit) */
    bool reported;               /* this context's failure was already recorded */
    bool attempted;              /* a connection was tried before (stats.reconnects) */
    bool notified_ready;         /* state_cb(true) was sent (cmd connection) */
    struct rds_cmd_list pending; /* sent, reply awaited, oldest first */
};

struct rds_sub {
    TAILQ_ENTRY(rds_sub) link;
    struct rds *r;
    char *channel;
    rds_message_cb cb;
    void *arg;
};

struct rds {
    struct event_base *base;
    struct rds_config cfg; /* strings point to the copies below */
    char *host;
    char *unix_socket;
    char *password;
    struct rds_conn cmd;
    struct rds_conn sub;
    TAILQ_HEAD(, rds_sub) subs;
    rds_state_cb state_cb;
    void *state_arg;
    struct rds_stats stats;
    char last_error[256];
    bool started;
    bool closing; /* rds_free() was called */
    int depth;    /* our handlers on the stack */
};

static void rds_conn_init(struct rds *r, struct rds_conn *c, const char *name, bool is_sub);
static void rds_conn_destroy(struct rds_conn *c);
static void rds_conn_connect(struct rds_conn *c);
static void rds_conn_handshake(struct rds_conn *c);
static void rds_conn_handshake_send(struct rds_conn *c, int argc, const char **argv);
static void rds_conn_ready(struct rds_conn *c);
static void rds_conn_drop(struct rds_conn *c);
static void rds_conn_check_lost(struct rds_conn *c);
static void rds_conn_lost(struct rds_conn *c);
static void rds_conn_set_state(struct rds_conn *c, enum rds_state st);
static void rds_conn_fail(struct rds_conn *c, const char *fmt, ...) CB_PRINTF(2, 3);
static void rds_conn_arm_cmd_timer(struct rds_conn *c);
static void rds_conn_subscribe(struct rds_conn *c, struct rds_sub *s);
static struct rds_cmd *rds_cmd_new(struct rds_conn *c, rds_reply_cb cb, void *arg, bool internal);
static int rds_cmd_submit(struct rds_cmd *cmd, int rc);
static bool rds_is_unsafe(const char *name, size_t len);
static void rds_enter(struct rds *r);
static void rds_leave(struct rds *r);
static void rds_destroy(struct rds *r);
static uint64_t rds_now_ms(void);
static struct timeval rds_tv(uint64_t ms);
static void rds_attach(struct rds_conn *c, redisAsyncContext *ac);
static void rds_ev_add_read(void *privdata);
static void rds_ev_del_read(void *privdata);
static void rds_ev_add_write(void *privdata);
static void rds_ev_del_write(void *privdata);
static void rds_ev_cleanup(void *privdata);
static void rds_on_readable(evutil_socket_t fd, short what, void *arg);
static void rds_on_writable(evutil_socket_t fd, short what, void *arg);
static void rds_on_connect(const redisAsyncContext *ac, int status);
static void rds_on_reply(redisAsyncContext *ac, void *reply, void *privdata);
static void rds_on_handshake_reply(redisReply *reply, const char *err, void *arg);
static void rds_on_sub_message(redisAsyncContext *ac, void *reply, void *privdata);
static void rds_on_connect_timeout(evutil_socket_t fd, short what, void *arg);
static void rds_on_cmd_timeout(evutil_socket_t fd, short what, void *arg);
static void rds_on_retry(evutil_socket_t fd, short what, void *arg);
static void rds_on_kill(evutil_socket_t fd, short what, void *arg);

static const char *const rds_state_names[RDS_ST_COUNT] = {
    "disconnected", "connecting", "authenticating", "ready", "closing",
};

/* Legal transitions, one bit per target state (STYLE 2.9.4). */
#define RDS_BIT(st) (1u << (st))
static const unsigned rds_transitions[RDS_ST_COUNT] = {
    [RDS_ST_DISCONNECTED] = RDS_BIT(RDS_ST_CONNECTING),
    [RDS_ST_CONNECTING] =
        RDS_BIT(RDS_ST_AUTHENTICATING) | RDS_BIT(RDS_ST_CLOSING) | RDS_BIT(RDS_ST_DISCONNECTED),
    [RDS_ST_AUTHENTICATING] =
        RDS_BIT(RDS_ST_READY) | RDS_BIT(RDS_ST_CLOSING) | RDS_BIT(RDS_ST_DISCONNECTED),
    [RDS_ST_READY] = RDS_BIT(RDS_ST_CLOSING) | RDS_BIT(RDS_ST_DISCONNECTED),
    [RDS_ST_CLOSING] = RDS_BIT(RDS_ST_DISCONNECTED),
};

/* Commands that would break the one-reply-per-command FIFO of the command connection. */
static const char *const rds_unsafe_cmds[] = {
    "subscribe",    "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe",
    "sunsubscribe", "monitor",    "quit",       "reset",
};

/* ---- public functions ---- */

struct rds *rds_new(struct event_base *base, const struct rds_config *cfg)
{
    struct rds *r = xcalloc(1, sizeof(*r));

    r->base = base;
    r->cfg = *cfg;
    r->host = xstrdup(cfg->host != NULL ? cfg->host : "127.0.0.1");
    r->unix_socket =
        cfg->unix_socket != NULL && cfg->unix_socket[0] != '\0' ? xstrdup(cfg->unix_socket) : NULL;
    r->password = cfg->password != NULL && cfg->password[0] != '\0' ? xstrdup(cfg->password) : NULL;
    r->cfg.host = r->host;
    r->cfg.unix_socket = r->unix_socket;
    r->cfg.password = r->password;
    if (r->cfg.connect_timeout_ms <= 0)
        r->cfg.connect_timeout_ms = 2000;
    if (r->cfg.command_timeout_ms <= 0)
        r->cfg.command_timeout_ms = 1000;
    if (r->cfg.reconnect_min_ms <= 0)
        r->cfg.reconnect_min_ms = 100;
    if (r->cfg.reconnect_max_ms < r->cfg.reconnect_min_ms)
        r->cfg.reconnect_max_ms = r->cfg.reconnect_min_ms;
    TAILQ_INIT(&r->subs);
    rds_conn_init(r, &r->cmd, "cmd", false);
    rds_conn_init(r, &r->sub, "sub", true);
    return r;
}

void rds_start(struct rds *r)
{
    if (r->started || r->closing)
        return;
    r->started = true;
    rds_conn_connect(&r->cmd);
    if (!TAILQ_EMPTY(&r->subs))
        rds_conn_connect(&r->sub);
}

void rds_free(struct rds *r)
{
    if (r == NULL || r->closing)
        return;
    r->closing = true;
    if (r->depth == 0)
        rds_destroy(r);
    /* else: the outermost handler on the stack finishes in rds_leave() */
}

int rds_command_argv(struct rds *r, rds_reply_cb cb, void *arg, int argc, const char **argv,
                     const size_t *argvlen)
{
    struct rds_conn *c = &r->cmd;
    struct rds_cmd *cmd;
    size_t len0;

    if (!rds_is_ready(r) || argc < 1)
        return -1;
    len0 = argvlen != NULL ? argvlen[0] : strlen(argv[0]);
    if (rds_is_unsafe(argv[0], len0))
        return -1;
    cmd = rds_cmd_new(c, cb, arg, false);
    return rds_cmd_submit(cmd,
                          redisAsyncCommandArgv(c->ac, rds_on_reply, cmd, argc, argv, argvlen));
}

int rds_command(struct rds *r, rds_reply_cb cb, void *arg, const char *fmt, ...)
{
    struct rds_conn *c = &r->cmd;
    struct rds_cmd *cmd;
    va_list ap;
    int rc;

    if (!rds_is_ready(r))
        return -1;
    if (rds_is_unsafe(fmt, strcspn(fmt, " %")))
        return -1;
    cmd = rds_cmd_new(c, cb, arg, false);
    va_start(ap, fmt);
    rc = redisvAsyncCommand(c->ac, rds_on_reply, cmd, fmt, ap);
    va_end(ap);
    return rds_cmd_submit(cmd, rc);
}

void rds_subscribe(struct rds *r, const char *channel, rds_message_cb cb, void *arg)
{
    struct rds_sub *s;

    if (r->closing)
        return;
    TAILQ_FOREACH (s, &r->subs, link) {
        if (strcmp(s->channel, channel) == 0) {
            s->cb = cb;
            s->arg = arg;
            return;
        }
    }
    s = xcalloc(1, sizeof(*s));
    s->r = r;
    s->channel = xstrdup(channel);
    s->cb = cb;
    s->arg = arg;
    TAILQ_INSERT_TAIL(&r->subs, s, link);
    if (r->sub.state == RDS_ST_READY)
        rds_conn_subscribe(&r->sub, s);
    else if (r->started && r->sub.state == RDS_ST_DISCONNECTED &&
             !evtimer_pending(r->sub.retry_timer, NULL))
        rds_conn_connect(&r->sub);
}

void rds_set_state_cb(struct rds *r, rds_state_cb cb, void *arg)
{
    r->state_cb = cb;
    r->state_arg = arg;
}

bool rds_is_ready(const struct rds *r)
{
    return !r->closing && r->cmd.state == RDS_ST_READY && r->cmd.ac != NULL;
}

const char *rds_last_error(const struct rds *r)
{
    return r->last_error;
}

void rds_get_stats(const struct rds *r, struct rds_stats *out)
{
    *out = r->stats;
}

/* ---- connection life cycle ---- */

static void rds_conn_init(struct rds *r, struct rds_conn *c, const char *name, bool is_sub)
{
    c->r = r;
    c->name = name;
    c->is_sub = is_sub;
    c->state = RDS_ST_DISCONNECTED;
    c->backoff_ms = r->cfg.reconnect_min_ms;
    c->connect_timer = evtimer_new(r->base, rds_on_connect_timeout, c);
    c->cmd_timer = evtimer_new(r->base, rds_on_cmd_timeout, c);
    c->retry_timer = evtimer_new(r->base, rds_on_retry, c);
    c->kill_ev = event_new(r->base, -1, 0, rds_on_kill, c);
    if (c->connect_timer == NULL || c->cmd_timer == NULL || c->retry_timer == NULL ||
        c->kill_ev == NULL)
        die("redis: cannot allocate events");
    TAILQ_INIT(&c->pending);
}

/* Teardown for rds_free(): pending commands get cb_err_shutdown (r->closing is set). */
static void rds_conn_destroy(struct rds_conn *c)
{
    rds_conn_drop(c);
    if (c->rev != NULL)
        event_free(c->rev);
    if (c->wev != NULL)
        event_free(c->wev);
    event_free(c->connect_timer);
    event_free(c->cmd_timer);
    event_free(c->retry_timer);
    event_free(c->kill_ev);
    c->rev = c->wev = c->connect_timer = c->cmd_timer = c->retry_timer = c->kill_ev = NULL;
}

static void rds_conn_connect(struct rds_conn *c)
{
    struct rds *r = c->r;
    redisAsyncContext *ac;
    struct timeval tv = rds_tv((uint64_t)r->cfg.connect_timeout_ms);

    CB_ASSERT(c->state == RDS_ST_DISCONNECTED && c->ac == NULL);
    if (c->attempted)
        r->stats.reconnects++;
    c->attempted = true;
    /* Unix sockets connect (or fail) at once; with TCP, host should be an address: hiredis
     * resolves names with a blocking getaddrinfo(). */
    if (r->unix_socket != NULL)
        ac = redisAsyncConnectUnix(r->unix_socket);
    else
        ac = redisAsyncConnect(r->host, r->cfg.port);
    if (ac == NULL)
        die("redis: out of memory");
    if (ac->err != 0) {
        rds_conn_fail(c, "connect failed: %s", ac->c.errstr);
        redisAsyncFree(ac); /* never attached, no callbacks: plain free */
        rds_conn_set_state(c, RDS_ST_CONNECTING);
        rds_conn_lost(c);
        return;
    }
    ac->data = c;
    c->ac = ac;
    c->reported = false;
    rds_attach(c, ac);
    redisAsyncSetConnectCallback(ac, rds_on_connect);
    rds_conn_set_state(c, RDS_ST_CONNECTING);
    evtimer_add(c->connect_timer, &tv);
}

/* Connected: authenticate, select, or at least prove the server answers, before READY. */
static void rds_conn_handshake(struct rds_conn *c)
{
    struct rds *r = c->r;
    char db[16];
    const char *argv[2];

    rds_conn_set_state(c, RDS_ST_AUTHENTICATING);
    c->handshake_left = 0;
    if (r->password != NULL) {
        argv[0] = "AUTH";
        argv[1] = r->password;
        rds_conn_handshake_send(c, 2, argv);
    }
    if (r->cfg.database != 0 && !c->is_sub) {
        snprintf(db, sizeof(db), "%d", r->cfg.database);
        argv[0] = "SELECT";
        argv[1] = db;
        rds_conn_handshake_send(c, 2, argv);
    }
    if (c->handshake_left == 0) {
        argv[0] = "PING";
        rds_conn_handshake_send(c, 1, argv);
    }
    if (c->handshake_left == 0) {
        rds_conn_fail(c, "cannot queue the handshake");
        event_active(c->kill_ev, 0, 1);
    }
}

static void rds_conn_handshake_send(struct rds_conn *c, int argc, const char **argv)
{
    struct rds_cmd *cmd = rds_cmd_new(c, rds_on_handshake_reply, c, true);

    if (rds_cmd_submit(cmd, redisAsyncCommandArgv(c->ac, rds_on_reply, cmd, argc, argv, NULL)) == 0)
        c->handshake_left++;
}

static void rds_conn_ready(struct rds_conn *c)
{
    struct rds *r = c->r;
    struct rds_sub *s;

    evtimer_del(c->connect_timer);
    rds_conn_set_state(c, RDS_ST_READY);
    c->backoff_ms = r->cfg.reconnect_min_ms;
    log_info("redis %s: ready", c->name);
    c->failures = 0;
    if (c->is_sub) {
        TAILQ_FOREACH (s, &r->subs, link)
            rds_conn_subscribe(c, s);
        return;
    }
    r->last_error[0] = '\0';
    c->notified_ready = true;
    if (r->state_cb != NULL)
        r->state_cb(true, r->state_arg);
}

/* Free the context now: hiredis runs every pending callback with a NULL reply, then our
 * cleanup hook. Never call this from inside a hiredis callback. */
static void rds_conn_drop(struct rds_conn *c)
{
    redisAsyncContext *ac = c->ac;

    if (ac == NULL)
        return;
    c->reported = true; /* the caller recorded why */
    if (c->state != RDS_ST_CLOSING)
        rds_conn_set_state(c, RDS_ST_CLOSING);
    redisAsyncFree(ac);
    CB_ASSERT(c->ac == NULL);
}

/* Called after each hiredis entry: did the context go away under us? */
static void rds_conn_check_lost(struct rds_conn *c)
{
    if (c->ac == NULL && c->state != RDS_ST_DISCONNECTED)
        rds_conn_lost(c);
}

/* The context is gone (c->ac is NULL): schedule the reconnect and tell the owner. */
static void rds_conn_lost(struct rds_conn *c)
{
    struct rds *r = c->r;
    struct rds_cmd *cmd;
    struct timeval tv;
    bool was_ready = c->notified_ready;

    evtimer_del(c->connect_timer);
    evtimer_del(c->cmd_timer);
    event_del(c->kill_ev);
    while ((cmd = TAILQ_FIRST(&c->pending)) != NULL) {
        /* hiredis completes all its callbacks before the cleanup hook; defensive only */
        log_error("redis %s: command left pending by hiredis", c->name);
        TAILQ_REMOVE(&c->pending, cmd, link);
        if (cmd->cb != NULL)
            cmd->cb(NULL, r->closing ? cb_err_shutdown : cb_err_conn_closed, cmd->arg);
        free(cmd);
    }
    rds_conn_set_state(c, RDS_ST_DISCONNECTED);
    c->notified_ready = false;
    if (r->closing)
        return;
    tv = rds_tv((uint64_t)c->backoff_ms);
    evtimer_add(c->retry_timer, &tv);
    log_debug("redis %s: reconnecting in %d ms", c->name, c->backoff_ms);
    c->backoff_ms =
        c->backoff_ms > r->cfg.reconnect_max_ms / 2 ? r->cfg.reconnect_max_ms : c->backoff_ms * 2;
    if (was_ready && r->state_cb != NULL)
        r->state_cb(false, r->state_arg);
}

static void rds_conn_set_state(struct rds_conn *c, enum rds_state st)
{
    CB_ASSERT(st < RDS_ST_COUNT && (rds_transitions[c->state] & RDS_BIT(st)) != 0);
    log_debug("redis %s: %s -> %s", c->name, rds_state_names[c->state], rds_state_names[st]);
    c->state = st;
}

/* Record a connection problem: last_error always, the log at warn for the first failure in a
 * row and every 10th after it (an outage retries forever), at debug otherwise. */
static void rds_conn_fail(struct rds_conn *c, const char *fmt, ...)
{
    struct rds *r = c->r;
    va_list ap;
    char msg[sizeof(r->last_error) - 16];

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(r->last_error, sizeof(r->last_error), "%s: %s", c->name, msg);
    c->failures++;
    if (c->failures == 1 || c->failures % 10 == 0)
        log_warn("redis %s: %s (failure %u in a row)", c->name, msg, c->failures);
    else
        log_debug("redis %s: %s (failure %u in a row)", c->name, msg, c->failures);
}

static void rds_conn_arm_cmd_timer(struct rds_conn *c)
{
    struct rds_cmd *head = TAILQ_FIRST(&c->pending);
    uint64_t now;
    struct timeval tv;

    if (head == NULL) {
        evtimer_del(c->cmd_timer);
        return;
    }
    now = rds_now_ms();
    tv = rds_tv(head->deadline_ms > now ? head->deadline_ms - now : 0);
    evtimer_add(c->cmd_timer, &tv);
}

/* The subscription's callback stays registered in hiredis for every message on the channel
 * until the context goes away. */
static void rds_conn_subscribe(struct rds_conn *c, struct rds_sub *s)
{
    if (redisAsyncCommand(c->ac, rds_on_sub_message, s, "SUBSCRIBE %b", s->channel,
                          strlen(s->channel)) != REDIS_OK) {
        rds_conn_fail(c, "cannot queue SUBSCRIBE");
        event_active(c->kill_ev, 0, 1);
    }
}

/* ---- commands ---- */

static struct rds_cmd *rds_cmd_new(struct rds_conn *c, rds_reply_cb cb, void *arg, bool internal)
{
    struct rds_cmd *cmd = xcalloc(1, sizeof(*cmd));

    cmd->conn = c;
    cmd->cb = cb;
    cmd->arg = arg;
    cmd->internal = internal;
    cmd->deadline_ms = rds_now_ms() + (uint64_t)c->r->cfg.command_timeout_ms;
    return cmd;
}

/* rc is hiredis's answer to queueing cmd: on failure nothing will call it back. */
static int rds_cmd_submit(struct rds_cmd *cmd, int rc)
{
    struct rds_conn *c = cmd->conn;

    if (rc != REDIS_OK) {
        free(cmd);
        return -1;
    }
    TAILQ_INSERT_TAIL(&c->pending, cmd, link);
    if (!cmd->internal)
        c->r->stats.commands++;
    if (TAILQ_FIRST(&c->pending) == cmd)
        rds_conn_arm_cmd_timer(c);
    return 0;
}

static bool rds_is_unsafe(const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < CB_ARRAY_LEN(rds_unsafe_cmds); i++) {
        if (strlen(rds_unsafe_cmds[i]) == len && strncasecmp(rds_unsafe_cmds[i], name, len) == 0) {
            log_error("redis: refusing %s on the command connection", rds_unsafe_cmds[i]);
            return true;
        }
    }
    return false;
}

/* ---- re-entrancy guard and helpers ---- */

static void rds_enter(struct rds *r)
{
    r->depth++;
}

/* The caller must not touch r after this. */
static void rds_leave(struct rds *r)
{
    CB_ASSERT(r->depth > 0);
    if (--r->depth == 0 && r->closing)
        rds_destroy(r);
}

static void rds_destroy(struct rds *r)
{
    struct rds_sub *s;

    r->depth++; /* callbacks run below must not re-enter the destruction */
    rds_conn_destroy(&r->cmd);
    rds_conn_destroy(&r->sub);
    while ((s = TAILQ_FIRST(&r->subs)) != NULL) {
        TAILQ_REMOVE(&r->subs, s, link);
        free(s->channel);
        free(s);
    }
    free(r->host);
    free(r->unix_socket);
    if (r->password != NULL)
        explicit_bzero(r->password, strlen(r->password));
    free(r->password);
    free(r);
}

static uint64_t rds_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct timeval rds_tv(uint64_t ms)
{
    struct timeval tv;

    tv.tv_sec = (time_t)(ms / 1000u);
    tv.tv_usec = (suseconds_t)((ms % 1000u) * 1000u);
    return tv;
}

/* ---- event adapter (hiredis 0.14 ev hooks) ---- */

static void rds_attach(struct rds_conn *c, redisAsyncContext *ac)
{
    struct event_base *base = c->r->base;

    /* The previous context's events are idle (unhooked in rds_ev_cleanup) and not on the
     * stack: connects start from rds_start(), rds_subscribe() or the retry timer. */
    if (c->rev != NULL)
        event_free(c->rev);
    if (c->wev != NULL)
        event_free(c->wev);
    c->rev = event_new(base, ac->c.fd, EV_READ, rds_on_readable, c);
    c->wev = event_new(base, ac->c.fd, EV_WRITE, rds_on_writable, c);
    if (c->rev == NULL || c->wev == NULL)
        die("redis: cannot allocate events");
    ac->ev.data = c;
    ac->ev.addRead = rds_ev_add_read;
    ac->ev.delRead = rds_ev_del_read;
    ac->ev.addWrite = rds_ev_add_write;
    ac->ev.delWrite = rds_ev_del_write;
    ac->ev.cleanup = rds_ev_cleanup;
    event_add(c->rev, NULL);
}

static void rds_ev_add_read(void *privdata)
{
    struct rds_conn *c = privdata;

    event_add(c->rev, NULL);
}

static void rds_ev_del_read(void *privdata)
{
    struct rds_conn *c = privdata;

    event_del(c->rev);
}

static void rds_ev_add_write(void *privdata)
{
    struct rds_conn *c = privdata;

    event_add(c->wev, NULL);
}

static void rds_ev_del_write(void *privdata)
{
    struct rds_conn *c = privdata;

    event_del(c->wev);
}

/* hiredis is about to free the context (after running the pending callbacks). Unhook only;
 * the loss is handled by rds_conn_check_lost() once hiredis has returned. */
static void rds_ev_cleanup(void *privdata)
{
    struct rds_conn *c = privdata;

    if (c->ac == NULL)
        return;
    event_del(c->rev);
    event_del(c->wev);
    if (!c->reported)
        rds_conn_fail(c, "connection lost: %s", c->ac->c.err != 0 ? c->ac->c.errstr : "closed");
    c->ac = NULL;
}

static void rds_on_readable(evutil_socket_t fd, short what, void *arg)
{
    struct rds_conn *c = arg;
    struct rds *r = c->r;

    rds_enter(r);
    if (c->ac != NULL)
        redisAsyncHandleRead(c->ac);
    rds_conn_check_lost(c);
    rds_leave(r);
}

static void rds_on_writable(evutil_socket_t fd, short what, void *arg)
{
    struct rds_conn *c = arg;
    struct rds *r = c->r;

    rds_enter(r);
    if (c->ac != NULL)
        redisAsyncHandleWrite(c->ac);
    rds_conn_check_lost(c);
    rds_leave(r);
}

/* ---- hiredis callbacks (hiredis is on the stack: no redisAsyncFree here) ---- */

static void rds_on_connect(const redisAsyncContext *ac, int status)
{
    struct rds_conn *c = ac->data;

    if (status != REDIS_OK) {
        /* hiredis frees the context right after this */
        rds_conn_fail(c, "connect failed: %s", ac->c.errstr);
        c->reported = true;
        return;
    }
    rds_conn_handshake(c);
}

static void rds_on_reply(redisAsyncContext *ac, void *reply_, void *privdata)
{
    struct rds_cmd *cmd = privdata;
    struct rds_conn *c = cmd->conn;
    struct rds *r = c->r;
    redisReply *reply = reply_;
    bool was_head = TAILQ_FIRST(&c->pending) == cmd;
    const char *err;

    TAILQ_REMOVE(&c->pending, cmd, link);
    if (reply == NULL) {
        /* the context is going away: refuse new commands from the callbacks below */
        if (c->state != RDS_ST_CLOSING)
            rds_conn_set_state(c, RDS_ST_CLOSING);
        err = r->closing ? cb_err_shutdown : cb_err_conn_closed;
    } else {
        err = reply->type == REDIS_REPLY_ERROR ? cb_err_server : NULL;
        if (was_head)
            rds_conn_arm_cmd_timer(c);
    }
    if (cmd->cb != NULL) {
        if (err != NULL && !cmd->internal)
            r->stats.errors++;
        cmd->cb(err == NULL || err == cb_err_server ? reply : NULL, err, cmd->arg);
    }
    free(cmd);
}

static void rds_on_handshake_reply(redisReply *reply, const char *err, void *arg)
{
    struct rds_conn *c = arg;

    if (err == cb_err_server) {
        /* AUTH or SELECT refused; the server's message never contains the password */
        rds_conn_fail(c, "handshake refused: %.*s", (int)(reply->len > 200 ? 200 : reply->len),
                      reply->str);
        event_active(c->kill_ev, 0, 1);
        return;
    }
    if (err != NULL || c->state != RDS_ST_AUTHENTICATING)
        return; /* the connection is already going away */
    if (--c->handshake_left == 0)
        rds_conn_ready(c);
}

static void rds_on_sub_message(redisAsyncContext *ac, void *reply_, void *privdata)
{
    struct rds_sub *s = privdata;
    redisReply *reply = reply_;
    redisReply **el;

    if (reply == NULL || s->r->closing || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3)
        return;
    el = reply->element;
    if (el[0]->type != REDIS_REPLY_STRING || strcasecmp(el[0]->str, "message") != 0 ||
        el[2]->type != REDIS_REPLY_STRING)
        return; /* subscribe confirmations */
    s->cb(s->channel, el[2]->str, el[2]->len, s->arg);
}

/* ---- timers ---- */

static void rds_on_connect_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct rds_conn *c = arg;
    struct rds *r = c->r;

    rds_enter(r);
    rds_conn_fail(c, "%s timed out after %d ms",
                  c->state == RDS_ST_CONNECTING ? "connect" : "handshake",
                  r->cfg.connect_timeout_ms);
    rds_conn_drop(c);
    rds_conn_check_lost(c);
    rds_leave(r);
}

/* The oldest command is overdue: complete every overdue command with cb_err_timeout, then
 * recycle the connection (a wedged connection cannot be trusted; the others get
 * cb_err_conn_closed). No late reply can arrive: the context is freed. */
static void rds_on_cmd_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct rds_conn *c = arg;
    struct rds *r = c->r;
    struct rds_cmd *cmd = TAILQ_FIRST(&c->pending);
    uint64_t now = rds_now_ms();
    rds_reply_cb cb;

    rds_enter(r);
    if (cmd == NULL || c->ac == NULL || cmd->deadline_ms > now + 1) {
        rds_conn_arm_cmd_timer(c);
        rds_leave(r);
        return;
    }
    rds_conn_fail(c, "%s timed out after %d ms, reconnecting",
                  c->state == RDS_ST_READY ? "command" : "handshake", r->cfg.command_timeout_ms);
    rds_conn_set_state(c, RDS_ST_CLOSING);
    TAILQ_FOREACH (cmd, &c->pending, link) {
        if (cmd->deadline_ms > now + 1)
            break;
        cb = cmd->cb;
        cmd->cb = NULL;
        if (cb == NULL)
            continue;
        if (!cmd->internal)
            r->stats.errors++;
        cb(NULL, r->closing ? cb_err_shutdown : cb_err_timeout, cmd->arg);
    }
    rds_conn_drop(c);
    rds_conn_check_lost(c);
    rds_leave(r);
}

static void rds_on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct rds_conn *c = arg;
    struct rds *r = c->r;

    rds_enter(r);
    if (!r->closing && c->state == RDS_ST_DISCONNECTED)
        rds_conn_connect(c);
    rds_leave(r);
}

static void rds_on_kill(evutil_socket_t fd, short what, void *arg)
{
    struct rds_conn *c = arg;
    struct rds *r = c->r;

    rds_enter(r);
    rds_conn_drop(c);
    rds_conn_check_lost(c);
    rds_leave(r);
}
