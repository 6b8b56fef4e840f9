/*
 * rpc_chan: frames rpc_codec messages over a libevent bufferevent (TCP, unix or TLS):
 * read buffering with the max-frame guard, pipelining (every whole frame in the input is
 * decoded and delivered in order), and a bounded write queue. Used by authd's rpc_server
 * and the proxy's rpc client. Runs on the bufferevent's loop.
 */
#ifndef CB_COMMON_RPC_CHAN_H
#define CB_COMMON_RPC_CHAN_H

#include <stddef.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "common/rpc_codec.h"
#include "common/xmem.h"

struct rpc_chan;

/* A decoded message; msg and everything it points to are valid only during the call.
 * The callback may call rpc_chan_send; it may call rpc_chan_close (then no more messages
 * are delivered) but must not free the channel. */
typedef void (*rpc_chan_msg_cb)(struct rpc_chan *ch, const struct rpc_msg *msg, void *arg);
/* The channel is closed (peer EOF, I/O error, protocol error, oversized frame, or
 * rpc_chan_close); err is a cb_err_* constant or NULL for a clean EOF (between frames) and
 * rpc_chan_close: cb_err_too_large for a frame over max_frame or output over max_output,
 * cb_err_protocol for an undecodable frame, cb_err_conn_closed for an I/O error or EOF
 * inside a frame, cb_err_timeout for a bufferevent timeout the owner set. Called exactly once,
 * from the loop (never from inside rpc_chan_send/close). After it returns the channel
 * may be freed with rpc_chan_free from within the callback. */
typedef void (*rpc_chan_close_cb)(struct rpc_chan *ch, const char *err, void *arg);

struct rpc_chan_limits {
    size_t max_frame;        /* payload bytes, <= RPC_FRAME_MAX; 0 means RPC_FRAME_MAX */
    size_t max_output;       /* queued output bytes before the peer is cut off as too slow;
                              * 0 means RPC_CHAN_DEFAULT_MAX_OUTPUT, and smaller values are
                              * raised to RPC_FRAME_HDR + RPC_FRAME_MAX so that any frame
                              * rpc_enc_finish accepts fits an idle channel */
};

#define RPC_CHAN_DEFAULT_MAX_OUTPUT (8 * 1024 * 1024)
#define RPC_CHAN_DRAIN_TIMEOUT_MS 5000 /* rpc_chan_close gives up flushing after this */

/*
 * Take ownership of bev (it must have BEV_OPT_CLOSE_ON_FREE) and start reading; the
 * channel owns bev's callbacks and its read high-watermark (max_frame + header), so the
 * input never holds more than one frame. lim NULL means the defaults. name is copied and
 * used in log lines. Never NULL (OOM aborts).
 */
struct rpc_chan *rpc_chan_new(struct bufferevent *bev, const char *name,
                              const struct rpc_chan_limits *lim, rpc_chan_msg_cb on_msg,
                              rpc_chan_close_cb on_close, void *arg);
/* Queue a whole frame (as from rpc_enc_finish). -1 if closed or the output limit is hit
 * (the channel is then closed with cb_err_too_large). */
int rpc_chan_send(struct rpc_chan *ch, const unsigned char *frame, size_t len) CB_WARN_UNUSED;
/* Stop reading, flush pending output (for at most RPC_CHAN_DRAIN_TIMEOUT_MS), then close;
 * on_close fires later with err NULL. No-op if already closing or closed. */
void rpc_chan_close(struct rpc_chan *ch);
const char *rpc_chan_name(const struct rpc_chan *ch);
/* Free now (closes the bufferevent); no callback fires afterwards, on_close included.
 * Allowed from on_close. NULL is a no-op. */
void rpc_chan_free(struct rpc_chan *ch);

/*
 * The framing step of the read path, exposed for unit tests and fuzz_rpc_stream. If in
 * starts with a whole frame, move it (header included) from in to frame, which must be
 * empty, and return RPC_OK with (*payload, *payload_len) its contiguous payload, valid
 * until frame is drained or freed. RPC_NEED_MORE leaves both buffers alone; RPC_BAD
 * (empty or over max_frame, *err from rpc_frame_peek) too.
 */
enum rpc_status rpc_chan_frame_take(struct evbuffer *in, size_t max_frame,
                                    struct evbuffer *frame, const unsigned char **payload,
                                    size_t *payload_len, const char **err);

#endif
