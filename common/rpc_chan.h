/*
 * rpc_chan: frames rpc_codec messages over a libevent bufferevent (TCP, unix or TLS):
 * read buffering with the max-frame guard, pipelining (every whole frame in the input is
 * decoded and delivered in order), and a bounded write queue. Used by authd's rpc_server
 * and the proxy's rpc client. Runs on the bufferevent's loop.
 */
#ifndef CB_COMMON_RPC_CHAN_H
#define CB_COMMON_RPC_CHAN_H

#include <stddef.h>

#include <event2/bufferevent.h>

#include "common/rpc_codec.h"
#include "common/xmem.h"

struct rpc_chan;

/* A decoded message; msg and everything it points to are valid only during the call.
 * The callback may call rpc_chan_send; it may call rpc_chan_close (then no more messages
 * are delivered) but must not free the channel. */
typedef void (*rpc_chan_msg_cb)(struct rpc_chan *ch, const struct rpc_msg *msg, void *arg);
/* The channel is closed (peer EOF, I/O error, protocol error, oversized frame, or
 * rpc_chan_close); err is a cb_err_* constant or NULL for a clean EOF. Called exactly once,
 * from the loop (never from inside rpc_chan_send/close). After it returns the channel
 * may be freed with rpc_chan_free from within the callback. */
typedef void (*rpc_chan_close_cb)(struct rpc_chan *ch, const char *err, void *arg);

struct rpc_chan_limits {
    size_t max_frame;        /* payload bytes, <= RPC_FRAME_MAX */
    size_t max_output;       /* queued output bytes before the peer is cut off as too slow */
};

/*
 * Take ownership of bev (it must have BEV_OPT_CLOSE_ON_FREE) and start reading.
 * name is copied and used in log lines. Never NULL.
 */
struct rpc_chan *rpc_chan_new(struct bufferevent *bev, const char *name,
                              const struct rpc_chan_limits *lim, rpc_chan_msg_cb on_msg,
                              rpc_chan_close_cb on_close, void *arg);
/* Queue a whole frame (as from rpc_enc_finish). -1 if closed or the output limit is hit
 * (the channel is then closed with cb_err_too_large). */
int rpc_chan_send(struct rpc_chan *ch, const unsigned char *frame, size_t len) CB_WARN_UNUSED;
/* Flush pending output, then close; on_close fires later with err NULL. */
void rpc_chan_close(struct rpc_chan *ch);
const char *rpc_chan_name(const struct rpc_chan *ch);
/* Free now (closes the bufferevent). Allowed from on_close. NULL is a no-op. */
void rpc_chan_free(struct rpc_chan *ch);

#endif
