/*
 * Integration tests of pg_client against a real PostgreSQL 15. The functional group uses the
 * shared fixture cluster ($CB_TEST_ENV) with a table of its own; the outage group starts a
 * private cluster it can stop and start.
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
#include <libpq-fe.h>

#include "authd/pg_client.h"
#include "common/errs.h"
#include "stores_util.h"

#define MAX_RECS 64

struct pt;

/* What one query's callback saw. */
struct prec {
    struct pt *t;
    int calls;
    int seq;
    const char *err;
    bool had_res;
    ExecStatusType status;
    char sqlstate[8];
    int ntuples;
    char v0[128];
    char v1[128];
    char v2[128];
    uint64_t at_ms;
};

struct pt {
    struct event_base *base;
    struct pgc *p;
    struct pgc *probe; /* a second client, for looking at the server */
    struct prec recs[MAX_RECS];
    int seq;
    int notifies;
    char notify_channel[64];
    char notify_payload[128];
    int listen_ready;
    uint64_t want_reconnects;
    int want_listen_ready;
};

struct wait_recs {
    struct prec *recs;
    int n;
};

static struct su_services g_svc; /* the private instance */
static const char *g_conninfo;   /* the group's server */

/* ---- callbacks and conditions ---- */

static void copy_value(char *dst, size_t size, const PGresult *res, int col)
{
    if (PQnfields(res) <= col || PQntuples(res) < 1)
        return;
    snprintf(dst, size, "%s", PQgetisnull(res, 0, col) ? "(null)" : PQgetvalue(res, 0, col));
}

static void on_result(const PGresult *res, const char *err, void *arg)
{
    struct prec *rec = arg;
    const char *state;

    rec->calls++;
    rec->seq = ++rec->t->seq;
    rec->err = err;
    rec->at_ms = su_now_ms();
    rec->had_res = res != NULL;
    if (res == NULL)
        return;
    rec->status = PQresultStatus(res);
    state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    snprintf(rec->sqlstate, sizeof(rec->sqlstate), "%s", state != NULL ? state : "");
    rec->ntuples = PQntuples(res);
    copy_value(rec->v0, sizeof(rec->v0), res, 0);
    copy_value(rec->v1, sizeof(rec->v1), res, 1);
    copy_value(rec->v2, sizeof(rec->v2), res, 2);
}

static void on_notify(const char *channel, const char *payload, void *arg)
{
    struct pt *t = arg;

    t->notifies++;
    snprintf(t->notify_channel, sizeof(t->notify_channel), "%s", channel);
    snprintf(t->notify_payload, sizeof(t->notify_payload), "%s", payload);
}

static void on_listen_ready(void *arg)
{
    ((struct pt *)arg)->listen_ready++;
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
    return ((struct prec *)arg)->calls > 0;
}

static bool is_ready(void *arg)
{
    return pgc_is_ready(arg);
}

static bool listen_ready(void *arg)
{
    struct pt *t = arg;

    return t->listen_ready >= t->want_listen_ready;
}

static bool got_notify(void *arg)
{
    return ((struct pt *)arg)->notifies > 0;
}

static bool reconnects_at_least(void *arg)
{
    struct pt *t = arg;
    struct pgc_stats st;

    pgc_get_stats(t->p, &st);
    return st.reconnects >= t->want_reconnects;
}

/* ---- helpers ---- */

static struct prec *rec_reset(struct pt *t, int i)
{
    memset(&t->recs[i], 0, sizeof(t->recs[i]));
    t->recs[i].t = t;
    return &t->recs[i];
}

static bool wait_recs(struct pt *t, int first, int n, int timeout_ms)
{
    struct wait_recs w = {&t->recs[first], n};

    return su_run_until(t->base, all_done, &w, timeout_ms);
}

static struct pgc *client(struct pt *t, const char *conninfo, int pool, int max_queue,
                          int query_timeout_ms)
{
    struct pgc_config cfg = {0};

    cfg.conninfo = conninfo;
    cfg.pool_size = pool;
    cfg.max_queue = max_queue;
    cfg.connect_timeout_ms = 2000;
    cfg.query_timeout_ms = query_timeout_ms;
    cfg.reconnect_min_ms = 50;
    cfg.reconnect_max_ms = 400;
    return pgc_new(t->base, &cfg);
}

static void connect_main(struct pt *t, int pool, int max_queue, int query_timeout_ms)
{
    t->p = client(t, g_conninfo, pool, max_queue, query_timeout_ms);
    assert_non_null(t->p);
    pgc_start(t->p);
    assert_true(su_run_until(t->base, is_ready, t->p, 5000));
}

/* Run one query and wait for its callback (recs[i]). */
static struct prec *run_query(struct pt *t, struct pgc *p, int i, const char *sql, int n,
                              const char *const *vals)
{
    struct prec *rec = rec_reset(t, i);

    assert_int_equal(pgc_query(p, sql, n, vals, NULL, NULL, on_result, rec), 0);
    assert_int_equal(rec->calls, 0); /* never synchronously */
    assert_true(su_run_until(t->base, rec_done, rec, 5000));
    assert_int_equal(rec->calls, 1);
    return rec;
}

static int setup(void **state)
{
    struct pt *t = calloc(1, sizeof(*t));

    if (t == NULL || g_conninfo == NULL)
        return -1;
    t->base = event_base_new();
    *state = t;
    return t->base != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    struct pt *t = *state;

    pgc_free(t->p);
    pgc_free(t->probe);
    event_base_free(t->base);
    free(t);
    return 0;
}

static int shared_group_setup(void **state)
{
    g_conninfo = su_fixture("CB_TEST_PG_CONNINFO");
    return g_conninfo != NULL ? 0 : -1;
}

static int private_group_setup(void **state)
{
    if (su_services_start(&g_svc) < 0)
        return -1;
    g_conninfo = su_env_get(&g_svc.env, "CB_TEST_PG_CONNINFO");
    return g_conninfo != NULL ? 0 : -1;
}

static int private_group_teardown(void **state)
{
    su_services_stop(&g_svc);
    g_conninfo = NULL;
    return 0;
}

/* ---- functional tests (shared cluster) ---- */

static void test_query_before_connect(void **state)
{
    struct pt *t = *state;
    struct prec *rec = rec_reset(t, 0);

    t->p = client(t, g_conninfo, 1, 10, 1000);
    assert_false(pgc_is_ready(t->p));
    assert_int_equal(pgc_query(t->p, "SELECT 1", 0, NULL, NULL, NULL, on_result, rec), -1);
    pgc_free(t->p);

    /* a server that is not there: retried with backoff, never ready, reason recorded */
    t->p = client(t, "host=/nonexistent/cbtest port=1 dbname=x user=x password=Zx9-hidden", 1, 10,
                  1000);
    pgc_start(t->p);
    t->want_reconnects = 2;
    assert_true(su_run_until(t->base, reconnects_at_least, t, 5000));
    assert_false(pgc_is_ready(t->p));
    assert_int_equal(pgc_query(t->p, "SELECT 1", 0, NULL, NULL, NULL, on_result, rec), -1);
    assert_string_not_equal(pgc_last_error(t->p), "");
    assert_null(strstr(pgc_last_error(t->p), "Zx9"));
    assert_int_equal(rec->calls, 0);
}

static void test_roundtrip(void **state)
{
    struct pt *t = *state;
    const char body[] = {'x', '\0', 'y', '\n'};
    char table[64];
    char sql[256];
    const char *vals[3];
    int lens[3] = {0, (int)sizeof(body), 0};
    int bin[3] = {0, 1, 0};
    struct prec *rec;

    connect_main(t, 2, 10, 5000);
    snprintf(table, sizeof(table), "cbtest_pgc_%d", (int)getpid());
    snprintf(sql, sizeof(sql), "CREATE TABLE %s (id text PRIMARY KEY, body bytea, n int)", table);
    rec = run_query(t, t->p, 0, sql, 0, NULL);
    assert_null(rec->err);

    snprintf(sql, sizeof(sql), "INSERT INTO %s (id, body, n) VALUES ($1, $2, $3)", table);
    vals[0] = "k1 'quoted'";
    vals[1] = body;
    vals[2] = NULL;
    rec = rec_reset(t, 1);
    assert_int_equal(pgc_query(t->p, sql, 3, vals, lens, bin, on_result, rec), 0);
    assert_true(su_run_until(t->base, rec_done, rec, 5000));
    assert_null(rec->err);
    assert_int_equal(rec->status, PGRES_COMMAND_OK);

    snprintf(sql, sizeof(sql), "SELECT id, encode(body, 'hex'), n FROM %s WHERE id = $1", table);
    rec = run_query(t, t->p, 2, sql, 1, vals);
    assert_null(rec->err);
    assert_int_equal(rec->status, PGRES_TUPLES_OK);
    assert_int_equal(rec->ntuples, 1);
    assert_string_equal(rec->v0, "k1 'quoted'");
    assert_string_equal(rec->v1, "7800790a");
    assert_string_equal(rec->v2, "(null)");

    snprintf(sql, sizeof(sql), "DROP TABLE %s", table);
    rec = run_query(t, t->p, 3, sql, 0, NULL);
    assert_null(rec->err);
}

static void test_sql_error(void **state)
{
    struct pt *t = *state;
    struct pgc_stats st;
    struct prec *rec;

    connect_main(t, 1, 10, 5000);
    rec = run_query(t, t->p, 0, "SELECT 1 / 0", 0, NULL);
    assert_ptr_equal(rec->err, cb_err_server);
    assert_true(rec->had_res);
    assert_int_equal(rec->status, PGRES_FATAL_ERROR);
    assert_string_equal(rec->sqlstate, "22012");
    rec = run_query(t, t->p, 1, "SELEC 1", 0, NULL);
    assert_ptr_equal(rec->err, cb_err_server);
    assert_string_equal(rec->sqlstate, "42601");
    /* the connection is still good */
    rec = run_query(t, t->p, 2, "SELECT 'ok'", 0, NULL);
    assert_null(rec->err);
    assert_string_equal(rec->v0, "ok");
    pgc_get_stats(t->p, &st);
    assert_int_equal(st.queries, 3);
    assert_int_equal(st.errors, 2);
    assert_int_equal(st.reconnects, 0);
}

static void test_query_timeout(void **state)
{
    struct pt *t = *state;
    struct pgc_stats st;
    uint64_t t0;
    uint64_t took;
    struct prec *rec;

    connect_main(t, 2, 10, 300);
    t0 = su_now_ms();
    rec = rec_reset(t, 0);
    assert_int_equal(pgc_query(t->p, "SELECT pg_sleep(2)", 0, NULL, NULL, NULL, on_result, rec), 0);
    assert_true(su_run_until(t->base, rec_done, rec, 3000));
    took = rec->at_ms - t0;
    print_message("pg_sleep(2), 300 ms query timeout: cb_err_timeout after %llu ms\n",
                  (unsigned long long)took);
    assert_ptr_equal(rec->err, cb_err_timeout);
    assert_false(rec->had_res);
    assert_true(took >= 290 && took <= 600);
    /* the pool recovers by itself: the timed-out connection is replaced */
    t->want_reconnects = 1;
    assert_true(su_run_until(t->base, reconnects_at_least, t, 3000));
    assert_true(su_run_until(t->base, is_ready, t->p, 3000));
    rec = run_query(t, t->p, 1, "SELECT 42", 0, NULL);
    assert_null(rec->err);
    assert_string_equal(rec->v0, "42");
    assert_int_equal(t->recs[0].calls, 1);
    pgc_get_stats(t->p, &st);
    assert_int_equal(st.errors, 1);
}

static void test_queue_overflow(void **state)
{
    struct pt *t = *state;
    int i;

    connect_main(t, 1, 2, 5000);
    /* one runs, two wait, the fourth finds the queue full */
    assert_int_equal(
        pgc_query(t->p, "SELECT pg_sleep(0.2)", 0, NULL, NULL, NULL, on_result, rec_reset(t, 0)),
        0);
    for (i = 1; i < 3; i++)
        assert_int_equal(
            pgc_query(t->p, "SELECT 1", 0, NULL, NULL, NULL, on_result, rec_reset(t, i)), 0);
    assert_int_equal(pgc_query(t->p, "SELECT 1", 0, NULL, NULL, NULL, on_result, rec_reset(t, 3)),
                     -1);
    assert_true(wait_recs(t, 0, 3, 5000));
    for (i = 0; i < 3; i++) {
        assert_int_equal(t->recs[i].calls, 1);
        assert_null(t->recs[i].err);
        assert_int_equal(t->recs[i].seq, i + 1); /* FIFO */
    }
    assert_int_equal(t->recs[3].calls, 0);
    /* room again */
    assert_int_equal(pgc_query(t->p, "SELECT 1", 0, NULL, NULL, NULL, on_result, rec_reset(t, 3)),
                     0);
    assert_true(wait_recs(t, 3, 1, 5000));
}

static void test_concurrent_on_small_pool(void **state)
{
    struct pt *t = *state;
    char nums[50][8];
    const char *vals[1];
    char want[16];
    int i;

    connect_main(t, 2, 100, 10000);
    for (i = 0; i < 50; i++) {
        snprintf(nums[i], sizeof(nums[i]), "%d", i);
        vals[0] = nums[i];
        assert_int_equal(pgc_query(t->p, "SELECT $1::int * 2, pg_sleep(0.01)", 1, vals, NULL, NULL,
                                   on_result, rec_reset(t, i)),
                         0);
    }
    assert_true(wait_recs(t, 0, 50, 20000));
    for (i = 0; i < 50; i++) {
        snprintf(want, sizeof(want), "%d", i * 2);
        assert_int_equal(t->recs[i].calls, 1);
        assert_null(t->recs[i].err);
        assert_string_equal(t->recs[i].v0, want);
    }
}

static void test_listen_notify(void **state)
{
    struct pt *t = *state;
    char channel[64];
    const char *vals[2];
    struct prec *rec;

    connect_main(t, 1, 10, 5000);
    /* a channel name that only works quoted */
    snprintf(channel, sizeof(channel), "cbtest Chan\"%d", (int)getpid());
    pgc_listen(t->p, channel, on_notify, on_listen_ready, t);
    t->want_listen_ready = 1;
    assert_true(su_run_until(t->base, listen_ready, t, 5000));
    vals[0] = channel;
    vals[1] = "payload 1";
    rec = run_query(t, t->p, 0, "SELECT pg_notify($1, $2)", 2, vals);
    assert_null(rec->err);
    assert_true(su_run_until(t->base, got_notify, t, 5000));
    assert_string_equal(t->notify_channel, channel);
    assert_string_equal(t->notify_payload, "payload 1");
    assert_int_equal(t->listen_ready, 1);
}

/* pgc_free from inside a callback: the others complete with cb_err_shutdown, once each. */
static void on_result_free(const PGresult *res, const char *err, void *arg)
{
    struct prec *rec = arg;

    on_result(res, err, arg);
    pgc_free(rec->t->p);
    rec->t->p = NULL;
}

static void test_free_from_callback(void **state)
{
    struct pt *t = *state;
    int i;

    connect_main(t, 1, 10, 5000);
    assert_int_equal(
        pgc_query(t->p, "SELECT 1", 0, NULL, NULL, NULL, on_result_free, rec_reset(t, 0)), 0);
    for (i = 1; i < 5; i++)
        assert_int_equal(
            pgc_query(t->p, "SELECT 2", 0, NULL, NULL, NULL, on_result, rec_reset(t, i)), 0);
    assert_true(wait_recs(t, 0, 5, 5000));
    assert_null(t->recs[0].err);
    for (i = 1; i < 5; i++) {
        assert_int_equal(t->recs[i].calls, 1);
        assert_ptr_equal(t->recs[i].err, cb_err_shutdown);
    }
    assert_null(t->p);
}

/* pgc_free with a query in flight and two queued: all three get cb_err_shutdown inside it. */
static void test_free_with_pending(void **state)
{
    struct pt *t = *state;
    int i;

    connect_main(t, 1, 10, 5000);
    for (i = 0; i < 3; i++)
        assert_int_equal(
            pgc_query(t->p, "SELECT pg_sleep(5)", 0, NULL, NULL, NULL, on_result, rec_reset(t, i)),
            0);
    event_base_loop(t->base, EVLOOP_NONBLOCK); /* the deferred dispatch sends the first */
    assert_int_equal(t->recs[0].calls, 0);
    pgc_free(t->p);
    t->p = NULL;
    for (i = 0; i < 3; i++) {
        assert_int_equal(t->recs[i].calls, 1);
        assert_ptr_equal(t->recs[i].err, cb_err_shutdown);
    }
}

/* A server that accepts the connection but never answers the startup packet: the connect
 * timer fires, the pool keeps retrying and is never ready. */
static void test_connect_timeout(void **state)
{
    struct pt *t = *state;
    char dir[] = "/tmp/cbbh.XXXXXX";
    char path[64];
    char conninfo[128];
    struct pgc_config cfg = {0};
    int fd;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/.s.PGSQL.5999", dir);
    fd = su_blackhole_listen(path);
    assert_true(fd >= 0);
    snprintf(conninfo, sizeof(conninfo), "host=%s port=5999 dbname=x user=x", dir);
    cfg.conninfo = conninfo;
    cfg.pool_size = 1;
    cfg.connect_timeout_ms = 150;
    cfg.query_timeout_ms = 1000;
    cfg.reconnect_min_ms = 20;
    cfg.reconnect_max_ms = 50;
    cfg.max_queue = 4;
    t->p = pgc_new(t->base, &cfg);
    pgc_start(t->p);
    t->want_reconnects = 2;
    assert_true(su_run_until(t->base, reconnects_at_least, t, 5000));
    assert_false(pgc_is_ready(t->p));
    assert_non_null(strstr(pgc_last_error(t->p), "connect timed out"));
    pgc_free(t->p);
    t->p = NULL;
    close(fd);
    unlink(path);
    rmdir(dir);
}

static bool pid_changed(void *arg)
{
    struct pt *t = arg;
    struct prec *rec = &t->recs[3];

    if (rec->calls > 0 && rec->err == NULL && strcmp(rec->v0, t->recs[0].v0) != 0)
        return true;
    if ((rec->calls > 0 || rec->t == NULL) && pgc_is_ready(t->p)) {
        rec = rec_reset(t, 3);
        if (pgc_query(t->p, "SELECT pg_backend_pid()", 0, NULL, NULL, NULL, on_result, rec) < 0)
            rec->t = NULL;
    }
    return false;
}

/* The server ends an idle pool connection (pg_terminate_backend): it is noticed while idle
 * and replaced by itself. */
static void test_idle_connection_killed(void **state)
{
    struct pt *t = *state;
    const char *vals[1];
    struct prec *rec;

    connect_main(t, 1, 10, 5000);
    rec = run_query(t, t->p, 0, "SELECT pg_backend_pid()", 0, NULL);
    assert_null(rec->err);
    t->probe = client(t, g_conninfo, 1, 10, 2000);
    pgc_start(t->probe);
    assert_true(su_run_until(t->base, is_ready, t->probe, 5000));
    vals[0] = t->recs[0].v0;
    rec = run_query(t, t->probe, 1, "SELECT pg_terminate_backend($1::int)", 1, vals);
    assert_null(rec->err);
    assert_string_equal(rec->v0, "t");
    t->want_reconnects = 1;
    assert_true(su_run_until(t->base, reconnects_at_least, t, 5000));
    memset(&t->recs[3], 0, sizeof(t->recs[3]));
    assert_true(su_run_until(t->base, pid_changed, t, 5000));
}

/* ---- private cluster ---- */

static bool sleepers_running(void *arg)
{
    struct pt *t = arg;
    struct prec *rec = &t->recs[40];

    if (rec->calls > 0 && rec->err == NULL && strcmp(rec->v0, "2") == 0)
        return true;
    if (rec->calls > 0 || rec->t == NULL) {
        rec = rec_reset(t, 40);
        if (pgc_query(t->probe,
                      "SELECT count(*) FROM pg_stat_activity"
                      " WHERE state = 'active' AND query LIKE 'SELECT pg_sleep(5)%'",
                      0, NULL, NULL, NULL, on_result, rec) < 0)
            rec->t = NULL;
    }
    return false;
}

/* start-pg in the background with the loop running; time the pool's and LISTEN's return. */
static void restart(struct pt *t, int listen_readies)
{
    uint64_t t0 = su_now_ms();
    pid_t pid = su_services_spawn(&g_svc, "start-pg");
    bool ok;

    assert_true(pid > 0);
    ok = su_run_until(t->base, is_ready, t->p, 10000);
    print_message("postgres restarted: pool ready %llu ms after start-pg began"
                  " (server start + backoff max 400 ms)\n",
                  (unsigned long long)(su_now_ms() - t0));
    assert_int_equal(su_services_reap(pid), 0);
    assert_true(ok);
    t->want_listen_ready = listen_readies;
    assert_true(su_run_until(t->base, listen_ready, t, 10000));
    print_message("LISTEN re-established %llu ms after start-pg began\n",
                  (unsigned long long)(su_now_ms() - t0));
    assert_int_equal(t->listen_ready, listen_readies);
}

/* Stop the cluster with queries in flight and queued: each fails once with
 * cb_err_conn_closed, pgc_query refuses at once while down, and the pool and the LISTEN
 * connection come back by themselves. */
static void test_outage(void **state)
{
    struct pt *t = *state;
    struct pgc_stats st;
    char channel[32];
    const char *vals[2];
    uint64_t t0;
    int i;
    struct prec *rec;

    connect_main(t, 2, 10, 15000);
    snprintf(channel, sizeof(channel), "cbtest_outage");
    pgc_listen(t->p, channel, on_notify, on_listen_ready, t);
    t->want_listen_ready = 1;
    assert_true(su_run_until(t->base, listen_ready, t, 5000));
    t->probe = client(t, g_conninfo, 1, 10, 2000);
    pgc_start(t->probe);
    assert_true(su_run_until(t->base, is_ready, t->probe, 5000));

    for (i = 0; i < 2; i++)
        assert_int_equal(
            pgc_query(t->p, "SELECT pg_sleep(5)", 0, NULL, NULL, NULL, on_result, rec_reset(t, i)),
            0);
    assert_true(su_run_until(t->base, sleepers_running, t, 5000));
    for (i = 2; i < 5; i++)
        assert_int_equal(
            pgc_query(t->p, "SELECT 1", 0, NULL, NULL, NULL, on_result, rec_reset(t, i)), 0);

    assert_int_equal(su_services_cmd(&g_svc, "stop-pg"), 0);
    t0 = su_now_ms();
    assert_true(wait_recs(t, 0, 5, 5000));
    print_message("postgres stopped: 2 running + 3 queued queries failed within %llu ms\n",
                  (unsigned long long)(su_now_ms() - t0));
    for (i = 0; i < 5; i++) {
        assert_int_equal(t->recs[i].calls, 1);
        assert_ptr_equal(t->recs[i].err, cb_err_conn_closed);
    }
    assert_false(pgc_is_ready(t->p));
    assert_int_equal(pgc_query(t->p, "SELECT 1", 0, NULL, NULL, NULL, on_result, rec_reset(t, 5)),
                     -1);
    assert_string_not_equal(pgc_last_error(t->p), "");
    /* 3 connections x 4 attempts: the backoff (50, 100, 200, 400) is at its maximum */
    pgc_get_stats(t->p, &st);
    t->want_reconnects = st.reconnects + 12;
    assert_true(su_run_until(t->base, reconnects_at_least, t, 5000));
    assert_false(pgc_is_ready(t->p));
    for (i = 0; i < 6; i++)
        assert_int_equal(t->recs[i].calls, i < 5 ? 1 : 0);

    restart(t, 2);
    rec = run_query(t, t->p, 6, "SELECT 7", 0, NULL);
    assert_null(rec->err);
    assert_string_equal(rec->v0, "7");
    vals[0] = channel;
    vals[1] = "after restart";
    rec = run_query(t, t->p, 7, "SELECT pg_notify($1, $2)", 2, vals);
    assert_null(rec->err);
    assert_true(su_run_until(t->base, got_notify, t, 5000));
    assert_string_equal(t->notify_payload, "after restart");

    /* again with a fast shutdown: the server says FATAL 57P01 before it closes */
    assert_true(su_run_until(t->base, is_ready, t->probe, 5000));
    for (i = 0; i < 2; i++)
        assert_int_equal(
            pgc_query(t->p, "SELECT pg_sleep(5)", 0, NULL, NULL, NULL, on_result, rec_reset(t, i)),
            0);
    memset(&t->recs[40], 0, sizeof(t->recs[40])); /* no probe outstanding */
    assert_true(su_run_until(t->base, sleepers_running, t, 5000));
    setenv("CB_PG_STOP_MODE", "fast", 1);
    assert_int_equal(su_services_cmd(&g_svc, "stop-pg"), 0);
    unsetenv("CB_PG_STOP_MODE");
    assert_true(wait_recs(t, 0, 2, 5000));
    for (i = 0; i < 2; i++) {
        assert_int_equal(t->recs[i].calls, 1);
        assert_ptr_equal(t->recs[i].err, cb_err_conn_closed);
    }
    assert_false(pgc_is_ready(t->p));
    restart(t, 3);
}

int main(void)
{
    const struct CMUnitTest shared[] = {
        cmocka_unit_test_setup_teardown(test_query_before_connect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sql_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_overflow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_on_small_pool, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listen_notify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_from_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_with_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_connection_killed, setup, teardown),
    };
    const struct CMUnitTest private[] = {
        cmocka_unit_test_setup_teardown(test_outage, setup, teardown),
    };
    int failed;

    su_log_init("test_pg_client");
    failed =
        cmocka_run_group_tests_name("pg_client (shared cluster)", shared, shared_group_setup, NULL);
    failed += cmocka_run_group_tests_name("pg_client (private cluster)", private,
                                          private_group_setup, private_group_teardown);
    return failed != 0;
}
