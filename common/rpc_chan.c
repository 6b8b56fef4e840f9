/*
 * rpc_chan: rpc_codec frames over a bufferevent. One state machine (open -> draining ->
 * closed); every way of closing funnels into chan_closed, which arms close_ev so on_close
 * runs from the loop and never inside rpc_chan_send/close or under on_msg. Not a client or
 * server: msgid bookkeeping, timeouts per call and dispatch belong to the owners.
 */
#include "common/rpc_chan.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>
#include <msgpack.h>

#include "common/errs.h"
#include "common/log.h"
#include "common/netutil.h"
#include "common/rpc_codec.h"
#include "common/xmem.h"

enum chan_state {
    CHAN_ST_OPEN = 0, /* reading and writing */
    CHAN_ST_DRAINING, /* rpc_chan_close: flushing output, no more reading or delivery */
    CHAN_ST_CLOSED    /* close_ev armed or fired: only on_close remains */
};

struct rpc_chan {
    struct bufferevent *bev;
    struct event *close_ev; /* runs on_close from the loop; also the drain timer */
    struct evbuffer *frame; /* the frame being delivered, moved out of the input */
    char *name;
    struct rpc_chan_limits lim;
    rpc_chan_msg_cb on_msg;
    rpc_chan_close_cb on_close;
    void *arg;
    enum chan_state state;
    const char *close_err; /* what on_close receives */
    bool delivering;       /* chan_deliver is on the stack (on_msg may be running) */
    bool free_pending;     /* rpc_chan_free was called while delivering */
    bool eof_pending;      /* EOF reported while delivering; handled after it */
    bool nodelay;          /* TCP_NODELAY set (once the socket exists) */
};

static void chan_on_read(struct bufferevent *bev, void *arg);
static void chan_on_write(struct bufferevent *bev, void *arg);
static void chan_on_event(struct bufferevent *bev, short what, void *arg);
static void chan_on_close_ev(evutil_socket_t fd, short what, void *arg);
static void chan_on_eof(struct rpc_chan *ch);
static void chan_deliver(struct rpc_chan *ch);
static int chan_deliver_one(struct rpc_chan *ch);
static void chan_fail(struct rpc_chan *ch, const char *err, const char *why);
static void chan_closed(struct rpc_chan *ch, const char *err);
static void chan_destroy(struct rpc_chan *ch);

/* ---- public functions ---- */

struct rpc_chan *rpc_chan_new(struct bufferevent *bev, const char *name,
                              const struct rpc_chan_limits *lim, rpc_chan_msg_cb on_msg,
                              rpc_chan_close_cb on_close, void *arg)
{
    struct rpc_chan *ch = xcalloc(1, sizeof(*ch));

    ch->bev = bev;
    ch->name = xstrdup(name);
    if (lim != NULL)
        ch->lim = *lim;
    if (ch->lim.max_frame == 0 || ch->lim.max_frame > RPC_FRAME_MAX)
        ch->lim.max_frame = RPC_FRAME_MAX;
    if (ch->lim.max_output == 0)
        ch->lim.max_output = RPC_CHAN_DEFAULT_MAX_OUTPUT;
    if (ch->lim.max_output < RPC_FRAME_HDR + RPC_FRAME_MAX)
        ch->lim.max_output = RPC_FRAME_HDR + RPC_FRAME_MAX;
    ch->on_msg = on_msg;
    ch->on_close = on_close;
    ch->arg = arg;
    ch->close_ev = event_new(bufferevent_get_base(bev), -1, 0, chan_on_close_ev, ch);
    ch->frame = evbuffer_new();
    if (ch->close_ev == NULL || ch->frame == NULL)
        die("rpc_chan_new: out of memory");
    bufferevent_setcb(bev, chan_on_read, chan_on_write, chan_on_event, ch);
    bufferevent_setwatermark(bev, EV_READ, 0, ch->lim.max_frame + RPC_FRAME_HDR);
    if (bufferevent_enable(bev, EV_READ | EV_WRITE) != 0)
        chan_fail(ch, cb_err_conn_closed, "cannot enable the bufferevent");
    return ch;
}

int rpc_chan_send(struct rpc_chan *ch, const unsigned char *frame, size_t len)
{
    struct evbuffer *out;

    if (ch->state != CHAN_ST_OPEN)
        return -1;
    CB_ASSERT(len > RPC_FRAME_HDR);
    out = bufferevent_get_output(ch->bev);
    if (len > ch->lim.max_output || evbuffer_get_length(out) > ch->lim.max_output - len) {
        chan_fail(ch, cb_err_too_large, "output queue over max_output");
        return -1;
    }
    if (evbuffer_add(out, frame, len) != 0)
        die("rpc_chan_send: out of memory queueing %zu bytes", len);
    /* Pipelined small frames must not wait for the peer's delayed ACK. The socket of a
     * connect by host name exists only once resolved: try again on later sends. */
    if (!ch->nodelay && bufferevent_getfd(ch->bev) >= 0) {
        net_set_nodelay(bufferevent_getfd(ch->bev));
        ch->nodelay = true;
    }
    return 0;
}

void rpc_chan_close(struct rpc_chan *ch)
{
    struct timeval tv = {RPC_CHAN_DRAIN_TIMEOUT_MS / 1000,
                         (RPC_CHAN_DRAIN_TIMEOUT_MS % 1000) * 1000};

    if (ch->state != CHAN_ST_OPEN)
        return;
    ch->state = CHAN_ST_DRAINING;
    bufferevent_disable(ch->bev, EV_READ);
    if (evbuffer_get_length(bufferevent_get_output(ch->bev)) == 0) {
        chan_closed(ch, NULL);
        return;
    }
    /* chan_on_write finishes when the output drains; the timer bounds the wait. */
    event_add(ch->close_ev, &tv);
}

const char *rpc_chan_name(const struct rpc_chan *ch)
{
    return ch->name;
}

void rpc_chan_free(struct rpc_chan *ch)
{
    if (ch == NULL)
        return;
    if (ch->delivering) {
        /* on_msg (or something it called) is on the stack: finish after it returns. */
        ch->free_pending = true;
        ch->state = CHAN_ST_CLOSED;
        event_del(ch->close_ev);
        bufferevent_disable(ch->bev, EV_READ | EV_WRITE);
        return;
    }
    chan_destroy(ch);
}

enum rpc_status rpc_chan_frame_take(struct evbuffer *in, size_t max_frame, struct evbuffer *frame,
                                    const unsigned char **payload, size_t *payload_len,
                                    const char **err)
{
    unsigned char hdr[RPC_FRAME_HDR];
    size_t have = evbuffer_get_length(in);
    size_t n = 0;
    unsigned char *p;

    if (have < RPC_FRAME_HDR)
        return RPC_NEED_MORE;
    if (evbuffer_copyout(in, hdr, sizeof(hdr)) != (ev_ssize_t)sizeof(hdr))
        return RPC_NEED_MORE;
    if (rpc_frame_peek(hdr, sizeof(hdr), max_frame, &n, err) == RPC_BAD)
        return RPC_BAD;
    if (have - RPC_FRAME_HDR < n)
        return RPC_NEED_MORE;
    CB_ASSERT(evbuffer_get_length(frame) == 0);
    /* Moving the frame out keeps the payload pointer stable even if on_msg causes more
     * input to be appended (a bufferevent pair delivers synchronously). */
    if (evbuffer_remove_buffer(in, frame, RPC_FRAME_HDR + n) != (int)(RPC_FRAME_HDR + n))
        die("rpc_chan_frame_take: evbuffer_remove_buffer failed");
    p = evbuffer_pullup(frame, -1);
    if (p == NULL)
        die("rpc_chan_frame_take: out of memory");
    *payload = p + RPC_FRAME_HDR;
    *payload_len = n;
    return RPC_OK;
}

/* ---- libevent callbacks ---- */

static void chan_on_read(struct bufferevent *bev, void *arg)
{
    struct rpc_chan *ch = arg;

    if (ch->delivering)
        return; /* re-entered from under on_msg; the outer loop picks the data up */
    chan_deliver(ch);
    if (ch->free_pending)
        chan_destroy(ch);
    else if (ch->eof_pending)
        chan_on_eof(ch);
}

static void chan_on_write(struct bufferevent *bev, void *arg)
{
    struct rpc_chan *ch = arg;

    if (ch->state == CHAN_ST_DRAINING && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        chan_closed(ch, NULL);
}

static void chan_on_event(struct bufferevent *bev, short what, void *arg)
{
    struct rpc_chan *ch = arg;
    int e;

    if (ch->state == CHAN_ST_CLOSED)
        return;
    if (what & BEV_EVENT_EOF) {
        if (ch->delivering)
            ch->eof_pending = true; /* a pair partner went away under on_msg */
        else
            chan_on_eof(ch);
    } else if (what & BEV_EVENT_ERROR) {
        e = EVUTIL_SOCKET_ERROR();
        if (ch->state == CHAN_ST_DRAINING) {
            chan_closed(ch, NULL);
            return;
        }
        log_info("rpc: closing: i/o error: %s conn=%s", evutil_socket_error_to_string(e), ch->name);
        chan_closed(ch, cb_err_conn_closed);
    } else if (what & BEV_EVENT_TIMEOUT) {
        chan_fail(ch, cb_err_timeout, "timeout");
    }
}

static void chan_on_close_ev(evutil_socket_t fd, short what, void *arg)
{
    struct rpc_chan *ch = arg;

    if (ch->state == CHAN_ST_DRAINING) {
        /* The drain timer expired: the peer stopped reading. */
        log_info("rpc: closing with %zu bytes unsent conn=%s",
                 evbuffer_get_length(bufferevent_get_output(ch->bev)), ch->name);
        ch->state = CHAN_ST_CLOSED;
        ch->close_err = NULL;
        bufferevent_disable(ch->bev, EV_READ | EV_WRITE);
    }
    /* on_close may free ch: nothing touches it afterwards. */
    ch->on_close(ch, ch->close_err, ch->arg);
}

/* ---- helpers ---- */

/* Frames that arrived just before the EOF are still delivered, then a partial frame left
 * in the input makes the close unclean. */
static void chan_on_eof(struct rpc_chan *ch)
{
    if (ch->state == CHAN_ST_DRAINING) {
        chan_closed(ch, NULL);
        return;
    }
    chan_deliver(ch);
    if (ch->free_pending) {
        chan_destroy(ch);
        return;
    }
    if (ch->state != CHAN_ST_OPEN)
        return;
    if (evbuffer_get_length(bufferevent_get_input(ch->bev)) == 0) {
        chan_closed(ch, NULL);
        return;
    }
    log_info("rpc: closing: eof inside a frame conn=%s", ch->name);
    chan_closed(ch, cb_err_conn_closed);
}

static void chan_deliver(struct rpc_chan *ch)
{
    ch->delivering = true;
    while (ch->state == CHAN_ST_OPEN && !ch->free_pending && chan_deliver_one(ch) > 0)
        ;
    ch->delivering = false;
}

/* 1 when a message was delivered, 0 when no whole frame is buffered, -1 on close. */
static int chan_deliver_one(struct rpc_chan *ch)
{
    struct evbuffer *in = bufferevent_get_input(ch->bev);
    const unsigned char *payload;
    struct rpc_msg msg;
    msgpack_zone zone;
    const char *err = NULL;
    enum rpc_status st;
    size_t len;

    st = rpc_chan_frame_take(in, ch->lim.max_frame, ch->frame, &payload, &len, &err);
    if (st == RPC_NEED_MORE)
        return 0;
    if (st == RPC_BAD) {
        chan_fail(ch, err == rpc_err_frame_too_large ? cb_err_too_large : cb_err_protocol, err);
        return -1;
    }
    if (!msgpack_zone_init(&zone, 2048))
        die("rpc_chan: out of memory");
    st = rpc_msg_decode(payload, len, &zone, &msg, &err);
    if (st == RPC_OK)
        ch->on_msg(ch, &msg, ch->arg);
    else
        chan_fail(ch, cb_err_protocol, err);
    msgpack_zone_destroy(&zone);
    evbuffer_drain(ch->frame, evbuffer_get_length(ch->frame));
    return st == RPC_OK ? 1 : -1;
}

/* why is a constant or our own text, never peer bytes (STYLE 2.5.11). */
static void chan_fail(struct rpc_chan *ch, const char *err, const char *why)
{
    if (ch->state == CHAN_ST_CLOSED)
        return;
    log_warn("rpc: closing: %s (%s) conn=%s", why, err, ch->name);
    chan_closed(ch, err);
}

static void chan_closed(struct rpc_chan *ch, const char *err)
{
    ch->state = CHAN_ST_CLOSED;
    ch->close_err = err;
    bufferevent_disable(ch->bev, EV_READ | EV_WRITE);
    event_del(ch->close_ev);
    event_active(ch->close_ev, EV_TIMEOUT, 0);
}

static void chan_destroy(struct rpc_chan *ch)
{
    event_free(ch->close_ev);
    bufferevent_free(ch->bev);
    evbuffer_free(ch->frame);
    free(ch->name);
    free(ch);
}
