/*
 * Integration tests of redis_client against a real redis-server. The functional group uses
 * the shared fixture server ($CB_TEST_ENV); the outage group (and DEBUG SLEEP, which would
 * stall every other test using the shared server) runs on a private instance of its own.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "authd/redis_client.h"
#include "common/errs.h"
#include "stores_util.h"

#define MAX_RECS 1100

struct rt;

/* What one command's callback saw. */
struct rec {
    struct rt *t;
    int calls;
    int seq; /* completion order, from 1 */
    const char *err;
    bool had_reply;
    int type;
    long long integer;
    char str[1024];
    size_t len;
    uint64_t at_ms;
};

struct rt {
    struct event_base *base;
    struct rds *r;
    struct rds *probe; /* a second client, for looking at the server */
    struct rec recs[MAX_RECS];
    int seq;
    int ups;
    int downs;
    int messages;
    char msg_channel[64];
    char msg_payload[64];
    size_t msg_len;
    bool pinging;
    uint64_t want_reconnects;
};

struct wait_recs {
    struct rec *recs;
    int n;
};

static struct su_services g_svc; /* the private instance */
static const char *g_sock;       /* socket of the group's server */

/* ---- callbacks and conditions ---- */

static void on_reply(redisReply *reply, const char *err, void *arg)
{
    struct rec *rec = arg;

    rec->calls++;
    rec->seq = ++rec->t->seq;
    rec->err = err;
    rec->at_ms = su_now_ms();
    rec->had_reply = reply != NULL;
    if (reply == NULL)
        return;
    rec->type = reply->type;
    rec->integer = reply->integer;
    rec->len = reply->str != NULL ? reply->len : 0;
    if (reply->str != NULL)
        memcpy(rec->str, reply->str, rec->len < sizeof(rec->str) ? rec->len : sizeof(rec->str) - 1);
}

static void on_state(bool ready, void *arg)
{
    struct rt *t = arg;

    if (ready)
        t->ups++;
    else
        t->downs++;
}

static void on_message(const char *channel, const char *payload, size_t len, void *arg)
{
    struct rt *t = arg;

    t->messages++;
    snprintf(t->msg_channel, sizeof(t->msg_channel), "%s", channel);
    t->msg_len = len < sizeof(t->msg_payload) ? len : sizeof(t->msg_payload);
    memcpy(t->msg_payload, payload, t->msg_len);
}

static bool all_done(void *arg)
{
    struct wait_recs *w = arg;
    int i;

    for (i = 0; i < w->n; i++) {
        if (w->recs[i].calls == 0)
            return false;
    }
    return true;
}

static bool rec_done(void *arg)
{
    return ((struct rec *)arg)->calls > 0;
}

static bool is_ready(void *arg)
{
    return rds_is_ready(arg);
}

static bool got_message(void *arg)
{
    return ((struct rt *)arg)->messages > 0;
}

/* ---- helpers ---- */

static struct rec *rec_reset(struct rt *t, int i)
{
    memset(&t->recs[i], 0, sizeof(t->recs[i]));
    t->recs[i].t = t;
    return &t->recs[i];
}

static bool wait_recs(struct rt *t, int first, int n, int timeout_ms)
{
    struct wait_recs w = {&t->recs[first], n};

    return su_run_until(t->base, all_done, &w, timeout_ms);
}

static struct rds *client(struct rt *t, int cmd_timeout_ms, int connect_timeout_ms, int min_ms,
                          int max_ms, const char *password, int database)
{
    struct rds_config cfg = {0};
    struct rds *r;

    cfg.unix_socket = g_sock;
    cfg.password = password;
    cfg.database = database;
    cfg.connect_timeout_ms = connect_timeout_ms;
    cfg.command_timeout_ms = cmd_timeout_ms;
    cfg.reconnect_min_ms = min_ms;
    cfg.reconnect_max_ms = max_ms;
    r = rds_new(t->base, &cfg);
    assert_non_null(r);
    return r;
}

/* Start t->r with the given timeouts and wait until it is ready. */
static void connect_main(struct rt *t, int cmd_timeout_ms, int min_ms, int max_ms)
{
    t->r = client(t, cmd_timeout_ms, 1000, min_ms, max_ms, NULL, 0);
    rds_set_state_cb(t->r, on_state, t);
    rds_start(t->r);
    assert_true(su_run_until(t->base, is_ready, t->r, 5000));
    assert_int_equal(t->ups, 1);
}

/* Run one command on r and wait for its callback (recs[i]). */
static struct rec *run_cmd(struct rt *t, struct rds *r, int i, const char *fmt, const char *arg)
{
    struct rec *rec = rec_reset(t, i);

    assert_int_equal(rds_command(r, on_reply, rec, fmt, arg), 0);
    assert_true(su_run_until(t->base, rec_done, rec, 5000));
    assert_int_equal(rec->calls, 1);
    return rec;
}

/* Publish until a subscriber has received (the subscription is set up asynchronously). */
static void publish_until_received(struct rt *t, const char *channel, const char *payload)
{
    uint64_t deadline = su_now_ms() + 5000;
    struct rec *rec;

    t->messages = 0;
    while (t->messages == 0 && su_now_ms() < deadline) {
        rec = rec_reset(t, MAX_RECS - 1);
        assert_int_equal(rds_command(t->r, on_reply, rec, "PUBLISH %s %s", channel, payload), 0);
        assert_true(su_run_until(t->base, rec_done, rec, 2000));
        assert_null(rec->err);
        if (rec->integer > 0)
            assert_true(su_run_until(t->base, got_message, t, 2000));
        else
            su_run_until(t->base, got_message, t, 20); /* poll interval */
    }
    assert_true(t->messages > 0);
}

static int setup(void **state)
{
    struct rt *t = calloc(1, sizeof(*t));

    if (t == NULL || g_sock == NULL)
        return -1;
    t->base = event_base_new();
    *state = t;
    return t->base != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    struct rt *t = *state;

    rds_free(t->r);
    rds_free(t->probe);
    event_base_free(t->base);
    free(t);
    return 0;
}

static int shared_group_setup(void **state)
{
    g_sock = su_fixture("CB_TEST_REDIS_SOCK");
    return g_sock != NULL ? 0 : -1;
}

static int private_group_setup(void **state)
{
    if (su_services_start(&g_svc) < 0)
        return -1;
    g_sock = su_env_get(&g_svc.env, "CB_TEST_REDIS_SOCK");
    return g_sock != NULL ? 0 : -1;
}

static int private_group_teardown(void **state)
{
    su_services_stop(&g_svc);
    g_sock = NULL;
    return 0;
}

/* ---- functional tests (shared server) ---- */

static void test_not_ready(void **state)
{
    struct rt *t = *state;
    struct rec *rec = rec_reset(t, 0);
    struct rds_stats st;

    t->r = client(t, 1000, 1000, 50, 200, NULL, 0);
    assert_false(rds_is_ready(t->r));
    assert_int_equal(rds_command(t->r, on_reply, rec, "PING"), -1);
    rds_free(t->r);
    t->r = NULL;
    connect_main(t, 1000, 50, 200);
    /* commands that would break the reply order are refused up front */
    assert_int_equal(rds_command(t->r, on_reply, rec, "SUBSCRIBE x"), -1);
    assert_int_equal(rds_command(t->r, on_reply, rec, "monitor"), -1);
    run_cmd(t, t->r, 1, "PING", NULL);
    assert_int_equal(rec->calls, 0);
    rds_get_stats(t->r, &st);
    assert_int_equal(st.commands, 1);
    assert_string_equal(rds_last_error(t->r), "");
}

static void test_set_get_binary(void **state)
{
    struct rt *t = *state;
    const char val[] = {'a', '\0', 'b', '\r', '\n', 'c'};
    const char *argv[3];
    size_t argvlen[3];
    char key[64];
    struct rec *rec;

    connect_main(t, 1000, 50, 200);
    snprintf(key, sizeof(key), "cbtest:rds:%d:bin", (int)getpid());
    argv[0] = "SET";
    argv[1] = key;
    argv[2] = val;
    argvlen[0] = 3;
    argvlen[1] = strlen(key);
    argvlen[2] = sizeof(val);
    rec = rec_reset(t, 0);
    assert_int_equal(rds_command_argv(t->r, on_reply, rec, 3, argv, argvlen), 0);
    assert_int_equal(rec->calls, 0); /* never synchronously */
    assert_true(su_run_until(t->base, rec_done, rec, 5000));
    assert_null(rec->err);
    assert_int_equal(rec->type, REDIS_REPLY_STATUS);
    assert_string_equal(rec->str, "OK");

    rec = run_cmd(t, t->r, 1, "GET %s", key);
    assert_null(rec->err);
    assert_int_equal(rec->type, REDIS_REPLY_STRING);
    assert_int_equal(rec->len, sizeof(val));
    assert_memory_equal(rec->str, val, sizeof(val));
    rec = run_cmd(t, t->r, 2, "DEL %s", key);
    assert_int_equal(rec->integer, 1);
}

static void test_pipeline_in_order(void **state)
{
    struct rt *t = *state;
    char key[64];
    int i;

    connect_main(t, 5000, 50, 200);
    snprintf(key, sizeof(key), "cbtest:rds:%d:counter", (int)getpid());
    run_cmd(t, t->r, 1000, "DEL %s", key);
    t->seq = 0;
    for (i = 0; i < 1000; i++)
        assert_int_equal(rds_command(t->r, on_reply, rec_reset(t, i), "INCR %s", key), 0);
    assert_true(wait_recs(t, 0, 1000, 10000));
    for (i = 0; i < 1000; i++) {
        assert_int_equal(t->recs[i].calls, 1);
        assert_null(t->recs[i].err);
        assert_int_equal(t->recs[i].seq, i + 1);
        assert_int_equal(t->recs[i].integer, i + 1);
    }
    run_cmd(t, t->r, 1000, "DEL %s", key);
}

static void test_error_reply(void **state)
{
    struct rt *t = *state;
    struct rds_stats st;
    struct rec *rec;

    connect_main(t, 1000, 50, 200);
    rec = run_cmd(t, t->r, 0, "NOSUCHCOMMAND %s", "x");
    assert_ptr_equal(rec->err, cb_err_server);
    assert_true(rec->had_reply);
    assert_int_equal(rec->type, REDIS_REPLY_ERROR);
    assert_non_null(strstr(rec->str, "ERR"));
    rds_get_stats(t->r, &st);
    assert_int_equal(st.errors, 1);
    /* the connection stays usable after an error reply */
    rec = run_cmd(t, t->r, 1, "PING", NULL);
    assert_null(rec->err);
    assert_true(rds_is_ready(t->r));
}

/* A command that does not answer in time (BLPOP blocks only its own connection, so the
 * shared server is not disturbed): cb_err_timeout, the connection is recycled, and the
 * command pipelined behind it completes exactly once too. */
static void test_command_timeout_recycles(void **state)
{
    struct rt *t = *state;
    struct rds_stats st;
    char key[64];
    uint64_t t0;
    uint64_t took;
    struct rec *rec;

    connect_main(t, 300, 50, 200);
    snprintf(key, sizeof(key), "cbtest:rds:%d:nolist", (int)getpid());
    t0 = su_now_ms();
    assert_int_equal(rds_command(t->r, on_reply, rec_reset(t, 0), "BLPOP %s 3", key), 0);
    assert_int_equal(rds_command(t->r, on_reply, rec_reset(t, 1), "PING"), 0);
    assert_true(wait_recs(t, 0, 2, 3000));
    took = t->recs[0].at_ms - t0;
    print_message("BLPOP with a 300 ms command timeout: cb_err_timeout after %llu ms\n",
                  (unsigned long long)took);
    assert_ptr_equal(t->recs[0].err, cb_err_timeout);
    assert_false(t->recs[0].had_reply);
    assert_true(took >= 290 && took <= 600);
    assert_true(t->recs[1].err == cb_err_timeout || t->recs[1].err == cb_err_conn_closed);
    assert_int_equal(t->downs, 1);
    /* recovers by itself */
    assert_true(su_run_until(t->base, is_ready, t->r, 3000));
    print_message("ready again %llu ms after the timeout\n",
                  (unsigned long long)(su_now_ms() - t->recs[0].at_ms));
    rec = run_cmd(t, t->r, 2, "PING", NULL);
    assert_null(rec->err);
    assert_int_equal(t->recs[0].calls, 1);
    assert_int_equal(t->recs[1].calls, 1);
    rds_get_stats(t->r, &st);
    assert_true(st.reconnects >= 1);
    assert_true(st.errors >= 1);
}

static void test_subscribe_publish(void **state)
{
    struct rt *t = *state;
    char channel[64];

    connect_main(t, 1000, 50, 200);
    snprintf(channel, sizeof(channel), "cbtest:rds:%d:chan", (int)getpid());
    rds_subscribe(t->r, channel, on_message, t);
    publish_until_received(t, channel, "hello world");
    assert_string_equal(t->msg_channel, channel);
    assert_int_equal(t->msg_len, strlen("hello world"));
    assert_memory_equal(t->msg_payload, "hello world", t->msg_len);
}

/* rds_free from inside a reply callback: the rest complete with cb_err_shutdown, once. */
static void on_reply_free(redisReply *reply, const char *err, void *arg)
{
    struct rec *rec = arg;

    on_reply(reply, err, arg);
    rds_free(rec->t->r);
    rec->t->r = NULL;
}

static void test_free_from_callback(void **state)
{
    struct rt *t = *state;
    int i;

    connect_main(t, 1000, 50, 200);
    assert_int_equal(rds_command(t->r, on_reply_free, rec_reset(t, 0), "PING"), 0);
    for (i = 1; i < 10; i++)
        assert_int_equal(rds_command(t->r, on_reply, rec_reset(t, i), "BLPOP %s 5", "cbtest:x"), 0);
    assert_true(wait_recs(t, 0, 10, 3000));
    assert_null(t->recs[0].err);
    for (i = 1; i < 10; i++) {
        assert_int_equal(t->recs[i].calls, 1);
        assert_ptr_equal(t->recs[i].err, cb_err_shutdown);
    }
    assert_null(t->r);
}

/* rds_free with commands in flight: each completes with cb_err_shutdown, synchronously. */
static void test_free_with_pending(void **state)
{
    struct rt *t = *state;
    int i;

    connect_main(t, 1000, 50, 200);
    for (i = 0; i < 5; i++)
        assert_int_equal(rds_command(t->r, on_reply, rec_reset(t, i), "BLPOP %s 5", "cbtest:y"), 0);
    assert_int_equal(t->recs[0].calls, 0);
    rds_free(t->r);
    t->r = NULL;
    for (i = 0; i < 5; i++) {
        assert_int_equal(t->recs[i].calls, 1);
        assert_ptr_equal(t->recs[i].err, cb_err_shutdown);
    }
}

static bool reconnects_at_least(void *arg);

/* TCP to a closed loopback port: refused, retried with backoff, never ready. */
static void test_tcp_refused(void **state)
{
    struct rt *t = *state;
    struct rds_config cfg = {0};

    cfg.host = "127.0.0.1";
    cfg.port = 1;
    cfg.connect_timeout_ms = 500;
    cfg.command_timeout_ms = 500;
    cfg.reconnect_min_ms = 20;
    cfg.reconnect_max_ms = 100;
    t->r = rds_new(t->base, &cfg);
    rds_start(t->r);
    t->want_reconnects = 3;
    assert_true(su_run_until(t->base, reconnects_at_least, t, 5000));
    assert_false(rds_is_ready(t->r));
    assert_non_null(strstr(rds_last_error(t->r), "refused"));
    assert_int_equal(rds_command(t->r, on_reply, rec_reset(t, 0), "PING"), -1);
}

/* A server that accepts the connection but never answers: the handshake times out, the
 * client keeps retrying and is never ready. */
static void test_connect_timeout(void **state)
{
    struct rt *t = *state;
    char dir[] = "/tmp/cbbh.XXXXXX";
    char path[64];
    struct rds_config cfg = {0};
    int fd;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/redis.sock", dir);
    fd = su_blackhole_listen(path);
    assert_true(fd >= 0);
    cfg.unix_socket = path;
    cfg.connect_timeout_ms = 150;
    cfg.command_timeout_ms = 1000;
    cfg.reconnect_min_ms = 20;
    cfg.reconnect_max_ms = 50;
    t->r = rds_new(t->base, &cfg);
    rds_start(t->r);
    t->want_reconnects = 2;
    assert_true(su_run_until(t->base, reconnects_at_least, t, 5000));
    assert_false(rds_is_ready(t->r));
    assert_non_null(strstr(rds_last_error(t->r), "handshake timed out"));
    rds_free(t->r);
    t->r = NULL;
    close(fd);
    unlink(path);
    rmdir(dir);
}

static bool downs_at_least_one(void *arg)
{
    return ((struct rt *)arg)->downs > 0;
}

/* The server closes the idle connection (CLIENT KILL): the owner is told, and the client
 * reconnects by itself. */
static void test_idle_connection_killed(void **state)
{
    struct rt *t = *state;
    struct rec *rec;
    char id[32];

    connect_main(t, 1000, 50, 200);
    rec = run_cmd(t, t->r, 0, "CLIENT %s", "ID");
    snprintf(id, sizeof(id), "%lld", rec->integer);
    t->probe = client(t, 1000, 1000, 50, 200, NULL, 0);
    rds_start(t->probe);
    assert_true(su_run_until(t->base, is_ready, t->probe, 5000));
    rec = run_cmd(t, t->probe, 1, "CLIENT KILL ID %s", id);
    assert_int_equal(rec->integer, 1);
    assert_true(su_run_until(t->base, downs_at_least_one, t, 5000));
    assert_true(su_run_until(t->base, is_ready, t->r, 5000));
    assert_int_equal(t->ups, 2);
    rec = run_cmd(t, t->r, 2, "CLIENT %s", "ID");
    assert_int_not_equal(rec->integer, atoll(id));
}

/* ---- private instance ---- */

/* Keep one PING outstanding whenever the client is ready, until one succeeds. */
static bool ping_ok(void *arg)
{
    struct rt *t = arg;
    struct rec *rec = &t->recs[2];

    if (t->pinging && rec->calls == 0)
        return false;
    if (t->pinging && rec->err == NULL)
        return true;
    t->pinging = false;
    if (rds_is_ready(t->r)) {
        rec = rec_reset(t, 2);
        t->pinging = rds_command(t->r, on_reply, rec, "PING") == 0;
    }
    return false;
}

static void test_debug_sleep_timeout(void **state)
{
    struct rt *t = *state;
    uint64_t t0;
    uint64_t took;

    connect_main(t, 300, 50, 200);
    t0 = su_now_ms();
    assert_int_equal(rds_command(t->r, on_reply, rec_reset(t, 0), "DEBUG SLEEP 2"), 0);
    assert_int_equal(rds_command(t->r, on_reply, rec_reset(t, 1), "PING"), 0);
    assert_true(wait_recs(t, 0, 2, 2000));
    took = t->recs[0].at_ms - t0;
    print_message("DEBUG SLEEP 2, 300 ms command timeout: cb_err_timeout after %llu ms\n",
                  (unsigned long long)took);
    assert_ptr_equal(t->recs[0].err, cb_err_timeout);
    assert_true(took >= 290 && took <= 600);
    assert_true(t->recs[1].err == cb_err_timeout || t->recs[1].err == cb_err_conn_closed);
    /* the server is asleep: reconnects fail their handshake until it wakes up */
    assert_true(su_run_until(t->base, ping_ok, t, 6000));
    print_message("commands work again %llu ms after DEBUG SLEEP 2 was sent\n",
                  (unsigned long long)(su_now_ms() - t0));
    assert_int_equal(t->recs[0].calls, 1);
    assert_int_equal(t->recs[1].calls, 1);
}

static bool reconnects_at_least(void *arg)
{
    struct rt *t = arg;
    struct rds_stats st;

    rds_get_stats(t->r, &st);
    return st.reconnects >= t->want_reconnects;
}

/* Kill the server with commands in flight: each fails once with cb_err_conn_closed, the
 * client refuses commands at once while down, and comes back by itself. */
static void test_outage(void **state)
{
    struct rt *t = *state;
    struct rds_stats st;
    char channel[64];
    uint64_t t0;
    pid_t pid;
    bool ok;
    int i;
    struct rec *rec;

    connect_main(t, 8000, 50, 400);
    snprintf(channel, sizeof(channel), "cbtest:rds:%d:outage", (int)getpid());
    rds_subscribe(t->r, channel, on_message, t);
    publish_until_received(t, channel, "before");
    t->probe = client(t, 1000, 1000, 50, 400, NULL, 0);
    rds_start(t->probe);
    assert_true(su_run_until(t->base, is_ready, t->probe, 5000));

    for (i = 0; i < 5; i++)
        assert_int_equal(rds_command(t->r, on_reply, rec_reset(t, i), "BLPOP %s 20", channel), 0);
    for (i = 5; i < 20; i++)
        assert_int_equal(rds_command(t->r, on_reply, rec_reset(t, i), "GET %s", channel), 0);
    /* wait until the first BLPOP has reached the server and blocks there */
    for (t0 = su_now_ms();;) {
        rec = run_cmd(t, t->probe, 100, "INFO %s", "clients");
        assert_true(su_now_ms() - t0 < 5000);
        if (strstr(rec->str, "blocked_clients:1") != NULL)
            break;
    }
    assert_int_equal(t->recs[0].calls, 0);

    assert_int_equal(su_services_cmd(&g_svc, "stop-redis"), 0);
    t0 = su_now_ms();
    assert_true(wait_recs(t, 0, 20, 5000));
    print_message("redis stopped: 20 in-flight commands failed within %llu ms\n",
                  (unsigned long long)(su_now_ms() - t0));
    for (i = 0; i < 20; i++) {
        assert_int_equal(t->recs[i].calls, 1);
        assert_ptr_equal(t->recs[i].err, cb_err_conn_closed);
    }
    assert_false(rds_is_ready(t->r));
    assert_int_equal(t->downs, 1);
    assert_int_equal(rds_command(t->r, on_reply, rec_reset(t, 20), "PING"), -1);
    assert_string_not_equal(rds_last_error(t->r), "");
    /* it keeps trying, and nothing completes twice meanwhile */
    /* 5 more attempts: 50+100+200+400+400 ms, the backoff is at its maximum */
    rds_get_stats(t->r, &st);
    t->want_reconnects = st.reconnects + 5;
    assert_true(su_run_until(t->base, reconnects_at_least, t, 5000));
    assert_false(rds_is_ready(t->r));
    for (i = 0; i < 21; i++)
        assert_int_equal(t->recs[i].calls, i < 20 ? 1 : 0);

    /* restart in the background, the loop running: time the recovery from the start */
    t0 = su_now_ms();
    pid = su_services_spawn(&g_svc, "start-redis");
    assert_true(pid > 0);
    ok = su_run_until(t->base, is_ready, t->r, 10000);
    print_message("redis restarted: client ready %llu ms after start-redis began"
                  " (server start + backoff max 400 ms)\n",
                  (unsigned long long)(su_now_ms() - t0));
    assert_int_equal(su_services_reap(pid), 0);
    assert_true(ok);
    assert_int_equal(t->ups, 2);
    rec = run_cmd(t, t->r, 30, "SET %s after", channel);
    assert_null(rec->err);
    rec = run_cmd(t, t->r, 31, "GET %s", channel);
    assert_string_equal(rec->str, "after");
    publish_until_received(t, channel, "again");
    assert_memory_equal(t->msg_payload, "again", 5);
    print_message("subscription re-established %llu ms after the restart\n",
                  (unsigned long long)(su_now_ms() - t0));
}

/* AUTH and SELECT in the handshake; a wrong password never gets ready. */
static void test_auth_select(void **state)
{
    struct rt *t = *state;
    struct rds *bad;
    struct rec *rec;

    connect_main(t, 1000, 50, 200);
    rec = run_cmd(t, t->r, 0, "CONFIG SET requirepass %s", "s3cret");
    assert_null(rec->err);
    t->probe = client(t, 1000, 1000, 50, 200, "s3cret", 3);
    rds_start(t->probe);
    assert_true(su_run_until(t->base, is_ready, t->probe, 5000));
    rec = run_cmd(t, t->probe, 1, "SET %s db3", "cbtest:rds:db");
    assert_null(rec->err);
    rec = run_cmd(t, t->probe, 2, "CLIENT %s", "INFO");
    assert_non_null(strstr(rec->str, " db=3 "));

    bad = client(t, 1000, 1000, 50, 200, "Zx9-not-it", 0);
    rds_start(bad);
    assert_false(su_run_until(t->base, is_ready, bad, 500));
    assert_non_null(strstr(rds_last_error(bad), "handshake refused"));
    assert_null(strstr(rds_last_error(bad), "Zx9"));
    rds_free(bad);

    rec = run_cmd(t, t->probe, 3, "CONFIG SET requirepass %s", "");
    assert_null(rec->err);
}

int main(void)
{
    const struct CMUnitTest shared[] = {
        cmocka_unit_test_setup_teardown(test_not_ready, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_get_binary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_command_timeout_recycles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subscribe_publish, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_from_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_with_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_connection_killed, setup, teardown),
    };
    const struct CMUnitTest private[] = {
        cmocka_unit_test_setup_teardown(test_debug_sleep_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_select, setup, teardown),
    };
    int failed;

    su_log_init("test_redis_client");
    failed = cmocka_run_group_tests_name("redis_client (shared server)", shared, shared_group_setup,
                                         NULL);
    failed += cmocka_run_group_tests_name("redis_client (private server)", private,
                                          private_group_setup, private_group_teardown);
    return failed != 0;
}
