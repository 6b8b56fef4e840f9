/*
 * test_authd_outage: certbound-authd against its own private Redis and PostgreSQL, which the
 * test stops and starts (tests/harness/services.sh) while requests run. Writes to a store
 * that is down answer 503 within the store's timeout, never hang; the other store keeps
 * serving; both recover by themselves when their server returns.
 */
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/xmem.h"
#include "tests/harness/testutil.h"

static char *svc_dir;
static struct tu_redis redis; /* only .sock is used: the server is services.sh's */
static struct tu_authd authd;

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void services(const char *cmd)
{
    char *sh = tu_srcpath("tests/harness/services.sh");
    /* fast, not immediate: the private cluster runs with synchronous_commit off, so an
     * immediate stop could lose acknowledged commits (the schema), which is not the outage
     * under test. */
    char *line = xasprintf("CB_PG_STOP_MODE=fast bash '%s' %s '%s' >/dev/null 2>&1", sh, cmd,
                           svc_dir);

    if (system(line) != 0)
        fail_msg("services.sh %s failed", cmd);
    free(line);
    free(sh);
}

static char *env_value(const char *key)
{
    char *path = xasprintf("%s/env", svc_dir), *text = tu_read_file(path, NULL), *p, *nl;
    size_t klen = strlen(key);

    free(path);
    for (p = text; p != NULL && *p; p = nl != NULL ? nl + 1 : NULL) {
        nl = strchr(p, '\n');
        if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
            char *v = xstrndup(p + klen + 1, nl != NULL ? (size_t)(nl - p) - klen - 1
                                                         : strlen(p + klen + 1));

            free(text);
            return v;
        }
    }
    fail_msg("%s missing from the private services env", key);
    return NULL;
}

static int group_setup(void **state)
{
    char *conninfo;

    svc_dir = tu_tmpdir("outage");
    services("start");
    redis.sock = env_value("CB_TEST_REDIS_SOCK");
    conninfo = env_value("CB_TEST_PG_CONNINFO");
    tu_authd_start(&authd, &redis, conninfo,
                   "{\"postgres\":{\"query_timeout_ms\":1000,\"connect_timeout_ms\":1000},"
                   "\"redis\":{\"command_timeout_ms\":500,\"connect_timeout_ms\":500}}");
    free(conninfo);
    return 0;
}

static int group_teardown(void **state)
{
    tu_authd_stop(&authd);
    services("stop");
    return 0;
}

static int cert_upload(void)
{
    char *path = tu_pki_file("client1.crt"), *pem = tu_read_file(path, NULL);
    int code = tu_admin(&authd, "POST", "/tyk/certs?org_id=outage", pem, NULL);

    /* 200 the first time, 403 duplicate afterwards: both mean the store answered. */
    free(path);
    free(pem);
    return code == 403 ? 200 : code;
}

static int key_create(void)
{
    return tu_admin(&authd, "POST", "/tyk/keys", "{\"access_rights\":{\"a\":{\"api_id\":\"a\"}}}",
                    NULL);
}

/* Poll until f answers want (bounded). */
static void wait_for(int (*f)(void), int want, int timeout_ms, const char *what)
{
    long deadline = now_ms() + timeout_ms;
    int got;

    while ((got = f()) != want) {
        if (now_ms() > deadline)
            fail_msg("%s: still %d after %d ms", what, got, timeout_ms);
        poll(NULL, 0, 50);
    }
}

struct load {
    volatile int stop;
    int total, ok, unavailable, other;
    long worst_ms;
};

static void *load_thread(void *arg)
{
    struct load *l = arg;

    while (!l->stop) {
        long t0 = now_ms();
        int code = cert_upload();
        long dt = now_ms() - t0;

        l->total++;
        if (dt > l->worst_ms)
            l->worst_ms = dt;
        if (code == 200)
            l->ok++;
        else if (code == 503)
            l->unavailable++;
        else
            l->other++;
    }
    return NULL;
}

static void postgres_down_and_back(void **state)
{
    struct load l = {0};
    pthread_t th;
    long t0;
    char *resp = NULL;

    assert_int_equal(cert_upload(), 200);
    pthread_create(&th, NULL, load_thread, &l);
    while (l.total < 5)
        poll(NULL, 0, 10);
    services("stop-pg"); /* while uploads are in flight */
    t0 = now_ms();
    while (l.unavailable == 0 && now_ms() - t0 < 5000)
        poll(NULL, 0, 10);
    l.stop = 1;
    pthread_join(th, NULL);
    assert_true(l.unavailable > 0);
    assert_int_equal(l.other, 0);
    /* Every answer came within the query timeout plus slack: nothing hung. */
    assert_true(l.worst_ms < 3000);
    t0 = now_ms();
    assert_int_equal(cert_upload(), 503);
    assert_true(now_ms() - t0 < 2500);
    assert_int_equal(tu_http(&authd, "GET", "/hello", NULL, NULL, 0, &resp), 503);
    assert_non_null(strstr(resp, "\"postgres\":{\"status\":\"fail\""));
    free(resp);
    assert_int_equal(key_create(), 200); /* Redis still serves keys */
    services("start-pg");
    wait_for(cert_upload, 200, 20000, "certificate upload after PostgreSQL restart");
    assert_int_equal(tu_http(&authd, "GET", "/hello", NULL, NULL, 0, NULL), 200);
}

static void redis_down_and_back(void **state)
{
    long t0;

    assert_int_equal(key_create(), 200);
    services("stop-redis");
    t0 = now_ms();
    wait_for(key_create, 503, 3000, "key create with Redis down");
    assert_true(now_ms() - t0 < 3000);
    assert_int_equal(tu_admin(&authd, "GET", "/tyk/keys", NULL, NULL), 503);
    assert_int_equal(cert_upload(), 200); /* PostgreSQL still serves certificates */
    services("start-redis");
    wait_for(key_create, 200, 20000, "key create after Redis restart");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(postgres_down_and_back),
        cmocka_unit_test(redis_down_and_back),
    };

    return cmocka_run_group_tests_name("authd_outage", tests, group_setup, group_teardown);
}
