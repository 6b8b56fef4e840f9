/*
 * fuzz_rpc_stream: a byte stream cut into chunks, fed to the channel's framing.
 * Input: byte 0 = settings (bits 0-1 max_frame, bits 2-4 largest chunk, bits 5-7 close
 * from on_msg after that many messages, 0 never); bytes 1-2 = seed of the chunk sizes;
 * the rest is the stream as a peer would send it (length-prefixed frames).
 * The reference reads the whole stream at once with rpc_frame_peek/rpc_msg_decode.
 * Phase 1 feeds the chunks to rpc_chan_frame_take over an evbuffer and requires the same
 * frames and the same end. Phase 2 runs a real rpc_chan over a bufferevent pair (no
 * socket) and requires the same messages in order, then exactly one on_close with the
 * error the reference predicts, and an input never over max_frame + header.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <msgpack.h>

#include "common/errs.h"
#include "common/log.h"
#include "common/rpc_chan.h"
#include "common/rpc_codec.h"
#include "common/xmem.h"

enum end {
    END_CLEAN = 0, /* the stream ends between frames */
    END_PARTIAL,   /* it ends inside a frame */
    END_BAD_FRAME, /* a header is refused (err says why) */
    END_BAD_MSG    /* a frame does not decode (delivery reference only) */
};

struct frame_ref {
    size_t off;  /* of the header in the stream */
    size_t plen; /* payload bytes */
    enum rpc_type type;
    uint32_t msgid;
};

struct ref {
    struct frame_ref *frames;
    size_t nframes; /* whole, acceptable frames (framing only) */
    enum end fend;  /* framing end */
    const char *ferr;
    size_t ndeliver; /* frames that also decode, before the first that does not */
    enum end dend;   /* delivery end */
};

struct settings {
    size_t max_frame;
    size_t chunk_max;
    int close_at;
    uint32_t rng;
};

struct run {
    const struct ref *ref;
    size_t nmsg;
    int nclose;
    const char *close_err;
    int close_at;
};

static void reference(const uint8_t *s, size_t len, size_t max, struct ref *r);
static size_t next_chunk(struct settings *st);
static void phase_frames(const uint8_t *s, size_t len, struct settings st, const struct ref *r);
static void phase_chan(const uint8_t *s, size_t len, struct settings st, const struct ref *r);
static void on_msg(struct rpc_chan *ch, const struct rpc_msg *msg, void *arg);
static void on_close(struct rpc_chan *ch, const char *err, void *arg);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t frame_max[] = {16, 300, 4096, RPC_FRAME_MAX};
    static const size_t chunk_max[] = {1, 2, 3, 7, 16, 64, 512, 65536};
    struct settings st;
    struct ref r;

    log_set_level(LOG_LVL_ERROR);
    if (size < 3)
        return 0;
    st.max_frame = frame_max[data[0] & 3];
    st.chunk_max = chunk_max[(data[0] >> 2) & 7];
    st.close_at = data[0] >> 5;
    st.rng = ((uint32_t)data[1] << 8 | data[2]) * 2654435761u + 1;
    reference(data + 3, size - 3, st.max_frame, &r);
    phase_frames(data + 3, size - 3, st, &r);
    phase_chan(data + 3, size - 3, st, &r);
    free(r.frames);
    return 0;
}

static void reference(const uint8_t *s, size_t len, size_t max, struct ref *r)
{
    size_t off = 0;
    size_t plen = 0;
    enum rpc_status st;
    msgpack_zone z;
    struct rpc_msg m;
    const char *err = NULL;

    memset(r, 0, sizeof(*r));
    r->frames = xcalloc(len / (RPC_FRAME_HDR + 1) + 1, sizeof(*r->frames));
    r->dend = END_CLEAN;
    for (;;) {
        st = rpc_frame_peek(s + off, len - off, max, &plen, &r->ferr);
        if (st == RPC_NEED_MORE) {
            r->fend = off == len ? END_CLEAN : END_PARTIAL;
            break;
        }
        if (st == RPC_BAD) {
            r->fend = END_BAD_FRAME;
            break;
        }
        r->frames[r->nframes].off = off;
        r->frames[r->nframes].plen = plen;
        CB_ASSERT(msgpack_zone_init(&z, 2048));
        if (rpc_msg_decode(s + off + RPC_FRAME_HDR, plen, &z, &m, &err) == RPC_OK) {
            r->frames[r->nframes].type = m.type;
            r->frames[r->nframes].msgid = m.msgid;
            if (r->ndeliver == r->nframes)
                r->ndeliver++;
        } else if (r->ndeliver == r->nframes) {
            r->dend = END_BAD_MSG;
        }
        msgpack_zone_destroy(&z);
        r->nframes++;
        off += RPC_FRAME_HDR + plen;
    }
    if (r->ndeliver == r->nframes)
        r->dend = r->fend;
}

static size_t next_chunk(struct settings *st)
{
    st->rng ^= st->rng << 13;
    st->rng ^= st->rng >> 17;
    st->rng ^= st->rng << 5;
    return 1 + st->rng % st->chunk_max;
}

/* The reassembler alone: same frames, same payload bytes, same end, bounded input. */
static void phase_frames(const uint8_t *s, size_t len, struct settings st, const struct ref *r)
{
    struct evbuffer *in = evbuffer_new();
    struct evbuffer *frame = evbuffer_new();
    const unsigned char *payload;
    enum rpc_status rs = RPC_NEED_MORE;
    const char *err = NULL;
    size_t pos = 0;
    size_t k = 0;
    size_t plen;
    size_t c;

    CB_ASSERT(in != NULL && frame != NULL);
    while (pos < len && rs != RPC_BAD) {
        c = next_chunk(&st);
        c = c < len - pos ? c : len - pos;
        CB_ASSERT(evbuffer_add(in, s + pos, c) == 0);
        pos += c;
        while ((rs = rpc_chan_frame_take(in, st.max_frame, frame, &payload, &plen, &err)) ==
               RPC_OK) {
            CB_ASSERT(k < r->nframes && plen == r->frames[k].plen);
            CB_ASSERT(memcmp(payload, s + r->frames[k].off + RPC_FRAME_HDR, plen) == 0);
            CB_ASSERT(evbuffer_drain(frame, evbuffer_get_length(frame)) == 0);
            k++;
        }
        if (rs == RPC_NEED_MORE)
            CB_ASSERT(evbuffer_get_length(in) < RPC_FRAME_HDR + st.max_frame);
    }
    CB_ASSERT(k == r->nframes);
    if (rs == RPC_BAD)
        CB_ASSERT(r->fend == END_BAD_FRAME && err == r->ferr);
    else
        CB_ASSERT(r->fend == (evbuffer_get_length(in) == 0 ? END_CLEAN : END_PARTIAL));
    evbuffer_free(in);
    evbuffer_free(frame);
}

/* The real channel; a pair with deferred callbacks behaves like a socket's bufferevent. */
static void phase_chan(const uint8_t *s, size_t len, struct settings st, const struct ref *r)
{
    static struct event_base *base; /* one for the process: creating it costs syscalls */
    struct bufferevent *pair[2];
    struct rpc_chan_limits lim = {st.max_frame, 0};
    struct run run = {r, 0, 0, NULL, st.close_at};
    struct rpc_chan *ch;
    const char *want;
    size_t expect = r->ndeliver;
    size_t pos = 0;
    size_t c;

    if (base == NULL)
        base = event_base_new();
    CB_ASSERT(base != NULL);
    CB_ASSERT(bufferevent_pair_new(base, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS, pair) ==
              0);
    ch = rpc_chan_new(pair[0], "fuzz", &lim, on_msg, on_close, &run);
    while (pos < len) {
        c = next_chunk(&st);
        c = c < len - pos ? c : len - pos;
        CB_ASSERT(bufferevent_write(pair[1], s + pos, c) == 0);
        pos += c;
        event_base_loop(base, EVLOOP_NONBLOCK);
        CB_ASSERT(evbuffer_get_length(bufferevent_get_input(pair[0])) <=
                  st.max_frame + RPC_FRAME_HDR);
    }
    bufferevent_flush(pair[1], EV_WRITE, BEV_FINISHED); /* EOF for the channel */
    event_base_loop(base, 0);
    CB_ASSERT(run.nclose == 1);
    if (st.close_at > 0 && (size_t)st.close_at <= expect) {
        expect = (size_t)st.close_at;
        want = NULL;
    } else if (r->dend == END_CLEAN) {
        want = NULL;
    } else if (r->dend == END_PARTIAL) {
        want = cb_err_conn_closed;
    } else if (r->dend == END_BAD_FRAME && r->ferr == rpc_err_frame_too_large) {
        want = cb_err_too_large;
    } else {
        want = cb_err_protocol;
    }
    CB_ASSERT(run.nmsg == expect);
    CB_ASSERT(run.close_err == want);
    rpc_chan_free(ch);
    bufferevent_free(pair[1]);
}

static void on_msg(struct rpc_chan *ch, const struct rpc_msg *msg, void *arg)
{
    struct run *run = arg;
    const struct frame_ref *f;

    CB_ASSERT(run->nclose == 0 && run->nmsg < run->ref->ndeliver);
    f = &run->ref->frames[run->nmsg++];
    CB_ASSERT(msg->type == f->type && msg->msgid == f->msgid);
    if ((size_t)run->close_at == run->nmsg)
        rpc_chan_close(ch);
}

static void on_close(struct rpc_chan *ch, const char *err, void *arg)
{
    struct run *run = arg;

    run->nclose++;
    run->close_err = err;
}
