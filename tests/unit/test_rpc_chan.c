/*
 * test_rpc_chan: the channel over a real socketpair (bufferevent_socket_new on one end, raw
 * writes and reads on the other): pipelining, partial reads, the max-frame guard, garbage,
 * EOF, close from inside on_msg, the output limit and the close-callback contract.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#include "common/errs.h"
#include "common/rpc_chan.h"
#include "common/rpc_codec.h"
#include "common/xmem.h"

#define MAX_MSGS 256

struct fix {
    struct event_base *base;
    struct rpc_chan *ch;
    int peer;               /* the test's end of the socketpair */
    int nmsg;               /* messages delivered */
    uint32_t ids[MAX_MSGS]; /* their msgids, in order */
    int nclose;             /* on_close calls */
    const char *close_err;
    int close_after;    /* on_msg calls rpc_chan_close at this count (0: never) */
    int free_after;     /* on_msg calls rpc_chan_free at this count (0: never) */
    bool free_in_close; /* on_close frees the channel */
    bool reply;         /* on_msg answers each request */
    bool in_send;       /* set around rpc_chan_send/close to catch sync callbacks */
};

static int setup(void **state);
static int teardown(void **state);
static void on_msg(struct rpc_chan *ch, const struct rpc_msg *msg, void *arg);
static void on_close(struct rpc_chan *ch, const char *err, void *arg);
static void on_deadline(evutil_socket_t fd, short what, void *arg);
static bool run_until(struct fix *f, const int *counter, int want);
static void run_idle(struct fix *f);
static size_t request(unsigned char *buf, size_t cap, uint32_t msgid, const char *method);
static void peer_write(struct fix *f, const void *buf, size_t len);

static int setup(void **state)
{
    struct fix *f = xcalloc(1, sizeof(*f));
    struct bufferevent *bev;
    evutil_socket_t sv[2];
    struct rpc_chan_limits lim = {1024, 1}; /* max_output is raised to one maximal frame */

    f->base = event_base_new();
    assert_non_null(f->base);
    assert_int_equal(evutil_socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(evutil_make_socket_nonblocking(sv[0]), 0);
    assert_int_equal(evutil_make_socket_nonblocking(sv[1]), 0);
    f->peer = sv[1];
    bev = bufferevent_socket_new(f->base, sv[0], BEV_OPT_CLOSE_ON_FREE);
    assert_non_null(bev);
    f->ch = rpc_chan_new(bev, "test", &lim, on_msg, on_close, f);
    assert_non_null(f->ch);
    assert_string_equal(rpc_chan_name(f->ch), "test");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fix *f = *state;

    rpc_chan_free(f->ch);
    if (f->peer >= 0)
        close(f->peer);
    event_base_free(f->base);
    free(f);
    return 0;
}

static void on_msg(struct rpc_chan *ch, const struct rpc_msg *msg, void *arg)
{
    struct fix *f = arg;
    struct rpc_enc e;
    const unsigned char *buf;
    size_t len;

    assert_false(f->in_send);
    assert_true(f->nmsg < MAX_MSGS);
    f->ids[f->nmsg++] = msg->msgid;
    if (f->reply && msg->type == RPC_REQUEST) {
        rpc_enc_init(&e);
        rpc_enc_result(&e, msg->msgid);
        msgpack_pack_uint32(&e.pk, msg->msgid * 2);
        assert_int_equal(rpc_enc_finish(&e, &buf, &len), 0);
        assert_int_equal(rpc_chan_send(ch, buf, len), 0);
        rpc_enc_destroy(&e);
    }
    if (f->nmsg == f->close_after)
        rpc_chan_close(ch);
    if (f->nmsg == f->free_after) {
        rpc_chan_free(ch);
        f->ch = NULL;
    }
}

static void on_close(struct rpc_chan *ch, const char *err, void *arg)
{
    struct fix *f = arg;

    assert_false(f->in_send);
    f->nclose++;
    f->close_err = err;
    if (f->free_in_close) {
        rpc_chan_free(ch);
        f->ch = NULL;
    }
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    *(bool *)arg = true;
}

/* Run the loop until *counter >= want, for at most 5 s. */
static bool run_until(struct fix *f, const int *counter, int want)
{
    bool expired = false;
    struct event *t = evtimer_new(f->base, on_deadline, &expired);
    struct timeval tv = {5, 0};

    evtimer_add(t, &tv);
    while (*counter < want && !expired)
        event_base_loop(f->base, EVLOOP_ONCE);
    event_free(t);
    return *counter >= want;
}

/* Process whatever is ready now, without blocking. */
static void run_idle(struct fix *f)
{
    for (int i = 0; i < 4; i++)
        event_base_loop(f->base, EVLOOP_NONBLOCK);
}

static size_t request(unsigned char *buf, size_t cap, uint32_t msgid, const char *method)
{
    struct rpc_enc e;
    const unsigned char *p;
    size_t len;

    rpc_enc_init(&e);
    rpc_enc_request(&e, msgid, method);
    msgpack_pack_map(&e.pk, 1);
    rpc_pack_str(&e.pk, "n");
    msgpack_pack_uint32(&e.pk, msgid);
    assert_int_equal(rpc_enc_finish(&e, &p, &len), 0);
    assert_true(len <= cap);
    memcpy(buf, p, len);
    rpc_enc_destroy(&e);
    return len;
}

static void peer_write(struct fix *f, const void *buf, size_t len)
{
    assert_int_equal(write(f->peer, buf, len), (ssize_t)len);
}

/* ---- tests ---- */

static void test_pipelined_in_order(void **state)
{
    struct fix *f = *state;
    unsigned char *all = xmalloc(100 * 64);
    size_t n = 0;

    for (uint32_t i = 0; i < 100; i++)
        n += request(all + n, 64, 1000 + i, "authorize");
    peer_write(f, all, n);
    assert_true(run_until(f, &f->nmsg, 100));
    for (int i = 0; i < 100; i++)
        assert_int_equal(f->ids[i], 1000 + i);
    assert_int_equal(f->nclose, 0);
    free(all);
}

/* Every byte arrives alone: nothing is delivered before the last one. */
static void test_one_byte_writes(void **state)
{
    struct fix *f = *state;
    unsigned char buf[128];
    size_t n = request(buf, sizeof(buf), 9, "certs.get");

    n += request(buf + n, sizeof(buf) - n, 10, "certs.get");
    for (size_t i = 0; i < n; i++) {
        peer_write(f, buf + i, 1);
        run_idle(f);
        if (i + 1 < n / 2)
            assert_int_equal(f->nmsg, 0);
    }
    assert_true(run_until(f, &f->nmsg, 2));
    assert_int_equal(f->ids[0], 9);
    assert_int_equal(f->ids[1], 10);
    assert_int_equal(f->nclose, 0);
}

/* The limit here is 1024: its header alone closes the channel, before any payload. */
static void test_oversized_frame(void **state)
{
    struct fix *f = *state;
    unsigned char ok[64];
    const unsigned char hdr[4] = {0x00, 0x00, 0x04, 0x01}; /* 1025 */
    size_t n = request(ok, sizeof(ok), 1, "m");

    peer_write(f, ok, n);
    peer_write(f, hdr, sizeof(hdr));
    assert_true(run_until(f, &f->nclose, 1));
    assert_int_equal(f->nmsg, 1);
    assert_ptr_equal(f->close_err, cb_err_too_large);
    run_idle(f);
    assert_int_equal(f->nclose, 1);
}

static void test_4gib_frame(void **state)
{
    struct fix *f = *state;

    peer_write(f, "\xff\xff\xff\xff\x94", 5);
    assert_true(run_until(f, &f->nclose, 1));
    assert_ptr_equal(f->close_err, cb_err_too_large);
    assert_int_equal(f->nmsg, 0);
}

/* A well-framed payload that is not a message, then a valid frame that must not arrive. */
static void test_garbage_closes(void **state)
{
    struct fix *f = *state;
    unsigned char buf[64];
    size_t n;

    memcpy(buf, "\x00\x00\x00\x03\xc1\xc1\xc1", 7);
    n = 7 + request(buf + 7, sizeof(buf) - 7, 1, "m");
    peer_write(f, buf, n);
    assert_true(run_until(f, &f->nclose, 1));
    assert_ptr_equal(f->close_err, cb_err_protocol);
    assert_int_equal(f->nmsg, 0);
}

static void test_empty_frame_closes(void **state)
{
    struct fix *f = *state;

    peer_write(f, "\x00\x00\x00\x00", 4);
    assert_true(run_until(f, &f->nclose, 1));
    assert_ptr_equal(f->close_err, cb_err_protocol);
}

/* Frames sent just before the EOF are delivered, then one on_close(NULL). */
static void test_eof_once(void **state)
{
    struct fix *f = *state;
    unsigned char buf[128];
    size_t n = request(buf, sizeof(buf), 1, "m");

    n += request(buf + n, sizeof(buf) - n, 2, "m");
    peer_write(f, buf, n);
    close(f->peer);
    f->peer = -1;
    assert_true(run_until(f, &f->nclose, 1));
    assert_int_equal(f->nmsg, 2);
    assert_null(f->close_err);
    run_idle(f);
    assert_int_equal(f->nclose, 1);
    assert_int_equal(rpc_chan_send(f->ch, buf, n), -1);
}

static void test_eof_inside_frame(void **state)
{
    struct fix *f = *state;
    unsigned char buf[64];
    size_t n = request(buf, sizeof(buf), 1, "m");

    peer_write(f, buf, n - 1);
    close(f->peer);
    f->peer = -1;
    assert_true(run_until(f, &f->nclose, 1));
    assert_int_equal(f->nmsg, 0);
    assert_ptr_equal(f->close_err, cb_err_conn_closed);
}

/* on_msg closes on the 2nd of 5 pipelined requests: 3..5 are never delivered, and the
 * reply queued before the close is flushed before on_close(NULL). */
static void test_close_inside_on_msg(void **state)
{
    struct fix *f = *state;
    unsigned char buf[5 * 64];
    unsigned char in[256];
    size_t n = 0;
    size_t got = 0;
    ssize_t r;

    for (uint32_t i = 1; i <= 5; i++)
        n += request(buf + n, 64, i, "m");
    f->close_after = 2;
    f->reply = true;
    peer_write(f, buf, n);
    assert_true(run_until(f, &f->nclose, 1));
    assert_int_equal(f->nmsg, 2);
    assert_null(f->close_err);
    run_idle(f);
    assert_int_equal(f->nmsg, 2);
    assert_int_equal(f->nclose, 1);
    /* both replies reached the peer before on_close: [1,id,nil,id*2] is 4 + 5 bytes */
    while ((r = read(f->peer, in + got, sizeof(in) - got)) > 0)
        got += (size_t)r;
    assert_int_equal(got, 18);
    assert_memory_equal(in, "\x00\x00\x00\x05\x94\x01\x01\xc0\x02", 9);
    assert_memory_equal(in + 9, "\x00\x00\x00\x05\x94\x01\x02\xc0\x04", 9);
}

/* rpc_chan_close outside any callback: on_close comes later, from the loop. */
static void test_close_is_deferred(void **state)
{
    struct fix *f = *state;
    unsigned char buf[64];
    size_t n = request(buf, sizeof(buf), 1, "m");

    f->in_send = true;
    assert_int_equal(rpc_chan_send(f->ch, buf, n), 0);
    rpc_chan_close(f->ch);
    rpc_chan_close(f->ch); /* no-op */
    assert_int_equal(rpc_chan_send(f->ch, buf, n), -1);
    f->in_send = false;
    assert_int_equal(f->nclose, 0);
    assert_true(run_until(f, &f->nclose, 1));
    assert_null(f->close_err);
    run_idle(f);
    assert_int_equal(f->nclose, 1);
}

/* The output limit (raised to one maximal frame) cuts a peer that does not read. */
static void test_output_limit(void **state)
{
    struct fix *f = *state;
    struct rpc_enc e;
    const unsigned char *buf;
    size_t len;
    char *big = xcalloc(1, RPC_FRAME_MAX);

    rpc_enc_init(&e);
    rpc_enc_notify(&e, "m");
    rpc_pack_strn(&e.pk, big, RPC_FRAME_MAX - 9);
    assert_int_equal(rpc_enc_finish(&e, &buf, &len), 0);
    f->in_send = true;
    assert_int_equal(rpc_chan_send(f->ch, buf, len), 0);
    assert_int_equal(rpc_chan_send(f->ch, buf, len), -1);
    f->in_send = false;
    assert_int_equal(f->nclose, 0);
    assert_true(run_until(f, &f->nclose, 1));
    assert_ptr_equal(f->close_err, cb_err_too_large);
    rpc_enc_destroy(&e);
    free(big);
}

static void test_free_in_on_close(void **state)
{
    struct fix *f = *state;

    f->free_in_close = true;
    close(f->peer);
    f->peer = -1;
    assert_true(run_until(f, &f->nclose, 1));
    assert_null(f->ch);
    run_idle(f);
    assert_int_equal(f->nclose, 1);
}

/* Freeing from inside on_msg is deferred until delivery unwinds; no on_close follows. */
static void test_free_in_on_msg(void **state)
{
    struct fix *f = *state;
    unsigned char buf[3 * 64];
    size_t n = 0;

    for (uint32_t i = 1; i <= 3; i++)
        n += request(buf + n, 64, i, "m");
    f->free_after = 1;
    peer_write(f, buf, n);
    assert_true(run_until(f, &f->nmsg, 1));
    run_idle(f);
    assert_int_equal(f->nmsg, 1);
    assert_int_equal(f->nclose, 0);
    assert_null(f->ch);
}

/* rpc_chan_frame_take on a bare evbuffer: the reassembler the channel uses. */
static void test_frame_take(void **state)
{
    struct evbuffer *in = evbuffer_new();
    struct evbuffer *frame = evbuffer_new();
    unsigned char buf[64];
    const unsigned char *payload;
    size_t plen;
    const char *err = NULL;
    size_t n = request(buf, sizeof(buf), 77, "m");

    for (size_t i = 0; i < n; i++) {
        assert_int_equal(rpc_chan_frame_take(in, 1024, frame, &payload, &plen, &err),
                         RPC_NEED_MORE);
        evbuffer_add(in, buf + i, 1);
    }
    evbuffer_add(in, "\x00\x00", 2);
    assert_int_equal(rpc_chan_frame_take(in, 1024, frame, &payload, &plen, &err), RPC_OK);
    assert_int_equal(plen, n - RPC_FRAME_HDR);
    assert_memory_equal(payload, buf + RPC_FRAME_HDR, plen);
    assert_int_equal(evbuffer_get_length(in), 2);
    evbuffer_drain(frame, evbuffer_get_length(frame));
    evbuffer_add(in, "\x00\x00", 2);
    assert_int_equal(rpc_chan_frame_take(in, 1024, frame, &payload, &plen, &err), RPC_BAD);
    assert_ptr_equal(err, rpc_err_empty_frame);
    evbuffer_drain(in, 4);
    evbuffer_add(in, "\x00\x00\x04\x01", 4);
    assert_int_equal(rpc_chan_frame_take(in, 1024, frame, &payload, &plen, &err), RPC_BAD);
    assert_ptr_equal(err, rpc_err_frame_too_large);
    evbuffer_free(in);
    evbuffer_free(frame);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pipelined_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_byte_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized_frame, setup, teardown),
        cmocka_unit_test_setup_teardown(test_4gib_frame, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_frame_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eof_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eof_inside_frame, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_inside_on_msg, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_is_deferred, setup, teardown),
        cmocka_unit_test_setup_teardown(test_output_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_in_on_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_in_on_msg, setup, teardown),
        cmocka_unit_test(test_frame_take),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
