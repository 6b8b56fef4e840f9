/*
 * End-to-end operations of certbound-proxy (issue #4 items 1, 6, 7): Redis stopped and
 * started while requests run (fail closed, then recovery by itself), several workers each
 * receiving revocations, server certificates from the store and from API definitions
 * applied without a restart.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/token.h"
#include "tests/e2e/e2e_util.h"

static int group_setup(void **state)
{
    (void)state;
    e2e_start(NULL, "{\"authd_timeout_ms\":500}");
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    e2e_stop();
    return 0;
}

static void cert_auth_api(const char *domain)
{
    api_put("POST", "{\"api_id\":\"d\",\"domain\":\"%s\",\"proxy\":{\"listen_path\":\"/d/\"},"
                    "\"auth_configs\":{\"authToken\":{\"use_certificate\":true}}}",
            domain);
    wait_api(domain, "/d/");
}

static void static_api(const char *domain, const char *id)
{
    api_put("POST", "{\"api_id\":\"st\",\"domain\":\"%s\",\"proxy\":{\"listen_path\":\"/st/\"},"
                    "\"use_keyless\":true,\"use_mutual_tls_auth\":true,"
                    "\"client_certificates\":[\"%s\"]}",
            domain, id);
    wait_api(domain, "/st/");
}

/* Requests on new connections in a loop while the main thread stops and starts Redis: none
 * may be allowed while the session store is gone, and none may hang. */
struct load {
    pthread_t thread;
    volatile bool stop;
    volatile bool redis_down; /* set by the main thread around the outage */
    int allowed_while_down, slow, total;
};

static void *load_run(void *arg)
{
    struct load *l = arg;

    while (!l->stop) {
        struct tu_resp r;
        long t0 = tu_now_ms();
        bool down_before = l->redis_down;

        req("ops.local", "/d/", "client1", NULL, &r);
        /* Allowed although Redis was down for the whole request: a cached allow survived
         * the outage's push (fail open). */
        if (r.status == 200 && down_before && l->redis_down)
            l->allowed_while_down++;
        if (tu_now_ms() - t0 > 2 * 500 + 1000)
            l->slow++;
        l->total++;
        tu_resp_free(&r);
    }
    return NULL;
}

static void redis_down_fails_closed(void **state)
{
    char *c1 = upload("client1"), *key;
    struct load l = {0};
    struct tu_resp r;
    long deadline;

    (void)state;
    cert_auth_api("ops.local");
    static_api("ops.local", c1);
    key = key_for_cert(c1, "d", NULL);
    expect("ops.local", "/d/", "client1", NULL, 200, NULL);
    expect("ops.local", "/d/", "client1", NULL, 200, NULL); /* cached by now */
    assert_int_equal(pthread_create(&l.thread, NULL, load_run, &l), 0);
    tu_redis_stop(&redis);
    /* authd sees its Redis connection drop and tells the proxy to drop cached allows. */
    deadline = tu_now_ms() + 2000;
    for (;;) {
        req("ops.local", "/d/", "client1", NULL, &r);
        if (r.status == 503)
            break;
        assert_int_equal(r.status, 200);
        tu_resp_free(&r);
        if (tu_now_ms() > deadline)
            fail_msg("still allowed 2 s after Redis stopped");
        tu_pause_ms(10);
    }
    assert_string_equal(tu_resp_error(&r), "Authentication service unavailable");
    tu_resp_free(&r);
    l.redis_down = true;
    expect("ops.local", "/d/", "client1", NULL, 503, "Authentication service unavailable");
    /* Static-allowlist APIs do not need Redis. */
    expect("ops.local", "/st/", "client1", NULL, 200, NULL);
    expect("ops.local", "/st/", "client2", NULL, 403, NULL);
    /* Redis back (empty: the demo Redis keeps no data): authd reconnects by itself. */
    l.redis_down = false;
    tu_redis_restart(&redis);
    wait_not("ops.local", "/d/", "client1", NULL, 503);
    expect("ops.local", "/d/", "client1", NULL, 401, "Access to this API has been disallowed");
    free(key);
    key = key_for_cert(c1, "d", NULL);
    expect("ops.local", "/d/", "client1", NULL, 200, NULL);
    l.stop = true;
    pthread_join(l.thread, NULL);
    assert_true(l.total > 0);
    assert_int_equal(l.allowed_while_down, 0);
    assert_int_equal(l.slow, 0);
    free(key);
    free(c1);
}

/* Each worker has its own RPC connection and cache: a revocation reaches all of them. */
static void workers_all_revoke(void **state)
{
    char *c1 = upload("client1"), *key, *path;

    (void)state;
    /* The API first: a new proxy is ready once every worker has a snapshot holding it (an
     * API added later reaches each worker by its own push, so a request could meet a
     * worker that has not seen it yet). */
    cert_auth_api("w.local");
    tu_proxy_stop(&proxy);
    tu_proxy_start(&proxy, &authd, "{\"workers\":2}");
    key = key_for_cert(c1, "d", NULL);
    for (int i = 0; i < 20; i++)
        expect("w.local", "/d/", "client1", NULL, 200, NULL);
    path = xasprintf("/tyk/keys/%s", key);
    assert_int_equal(tu_admin(&authd, "DELETE", path, NULL, NULL), 200);
    for (int i = 0; i < 20; i++)
        expect("w.local", "/d/", "client1", NULL, 401, "Access to this API has been disallowed");
    free(path);
    free(key);
    free(c1);
}

/* The subject of the certificate the proxy serves for sni (openssl s_client), heap. */
static char *served_subject(const char *sni)
{
    char *cmd = xasprintf("openssl s_client -connect 127.0.0.1:%d -servername %s </dev/null "
                          "2>/dev/null | openssl x509 -noout -subject 2>/dev/null",
                          proxy.port, sni);
    FILE *f = popen(cmd, "r");
    char line[512] = "";

    assert_non_null(f);
    if (fgets(line, sizeof(line), f) == NULL)
        line[0] = '\0';
    pclose(f);
    free(cmd);
    return xstrdup(line);
}

static void server_certs_from_store(void **state)
{
    char *srv = upload_file(ORG, "server.crt", "server.key"), *extra, *subj;
    char *c1 = upload_file(ORG, "client1.crt", "client1.key");
    long deadline;

    (void)state;
    /* No certificate files at all: the server certificate comes from the store. */
    extra = xasprintf("{\"http_server_options\":{\"certificates\":[],"
                      "\"ssl_certificates\":[\"%s\"]}}",
                      srv);
    tu_proxy_stop(&proxy);
    tu_proxy_start(&proxy, &authd, extra);
    api_put("POST", "{\"api_id\":\"open\",\"proxy\":{\"listen_path\":\"/open/\"},"
                    "\"use_keyless\":true}");
    wait_api("localhost", "/open/");
    expect("localhost", "/open/", NULL, NULL, 200, NULL);
    subj = served_subject("localhost");
    if (strstr(subj, "CN = localhost") == NULL && strstr(subj, "CN=localhost") == NULL)
        fail_msg("served %s", subj);
    free(subj);
    /* A per-API certificate applies to its domain as soon as the API is pushed. */
    api_put("POST", "{\"api_id\":\"c1\",\"domain\":\"client1\",\"proxy\":{\"listen_path\":"
                    "\"/c1/\"},\"use_keyless\":true,\"certificates\":[\"%s\"]}",
            c1);
    deadline = tu_now_ms() + WAIT_MS;
    for (;;) {
        subj = served_subject("client1");
        if (strstr(subj, "client1") != NULL)
            break;
        free(subj);
        if (tu_now_ms() > deadline)
            fail_msg("the API's certificate was not served within %d ms", WAIT_MS);
        tu_pause_ms(20);
    }
    free(subj);
    subj = served_subject("localhost");
    assert_null(strstr(subj, "client1"));
    free(subj);
    free(extra);
    free(c1);
    free(srv);
}

/* Upstream failures answer JSON: refused → 502, silent → 504 (DESIGN §6a). */
static void upstream_errors_502_504(void **state)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sin);
    int silent = socket(AF_INET, SOCK_STREAM, 0), closed = socket(AF_INET, SOCK_STREAM, 0);
    int silent_port, closed_port;
    struct tu_resp r;
    long t0;

    (void)state;
    /* A port that accepts (the kernel's backlog) and never answers, and one that refuses. */
    assert_int_equal(bind(silent, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(silent, 16), 0);
    assert_int_equal(getsockname(silent, (struct sockaddr *)&sin, &sl), 0);
    silent_port = ntohs(sin.sin_port);
    sin.sin_port = 0;
    assert_int_equal(bind(closed, (struct sockaddr *)&sin, sizeof(sin)), 0);
    sl = sizeof(sin);
    assert_int_equal(getsockname(closed, (struct sockaddr *)&sin, &sl), 0);
    closed_port = ntohs(sin.sin_port);
    close(closed); /* bound once, now nobody listens there */
    tu_proxy_stop(&proxy);
    tu_proxy_start(&proxy, &authd, "{\"upstream_timeout_ms\":1000}");
    api_put("POST", "{\"api_id\":\"refused\",\"proxy\":{\"listen_path\":\"/refused/\","
                    "\"target_url\":\"http://127.0.0.1:%d\"},\"use_keyless\":true}",
            closed_port);
    api_put("POST", "{\"api_id\":\"silent\",\"proxy\":{\"listen_path\":\"/silent/\","
                    "\"target_url\":\"http://127.0.0.1:%d\"},\"use_keyless\":true}",
            silent_port);
    wait_api("localhost", "/refused/");
    req("localhost", "/refused/", NULL, NULL, &r);
    assert_int_equal(r.status, 502);
    assert_true(strlen(tu_resp_error(&r)) > 0);
    tu_resp_free(&r);
    wait_api("localhost", "/silent/");
    t0 = tu_now_ms();
    req("localhost", "/silent/", NULL, NULL, &r);
    assert_int_equal(r.status, 504);
    assert_true(strlen(tu_resp_error(&r)) > 0);
    assert_true(tu_now_ms() - t0 < 5000);
    tu_resp_free(&r);
    close(silent);
}

/* Bodies of several MiB both ways framings arrive intact (the upstream echoes their hash). */
static void large_bodies_streamed(void **state)
{
    size_t n = 8 * 1024 * 1024;
    char *body = xmalloc(n + 1), *want = xmalloc(TOKEN_HASH_HEX_MAX + 1);
    const char *chunked[] = {"Transfer-Encoding: chunked", NULL};
    struct tu_req r = {.path = "/open/", .method = "POST", .body = body};
    struct tu_resp resp;
    json_t *j;

    (void)state;
    for (size_t i = 0; i < n; i++)
        body[i] = (char)('a' + i % 26);
    body[n] = '\0';
    token_hash_hex(TOKEN_ALGO_SHA256, body, n, want);
    api_put("POST", "{\"api_id\":\"open\",\"proxy\":{\"listen_path\":\"/open/\"},"
                    "\"use_keyless\":true}");
    wait_api("localhost", "/open/");
    for (int framing = 0; framing < 2; framing++) {
        r.headers = framing == 1 ? chunked : NULL;
        tu_request(&proxy, NULL, &r, &resp);
        assert_int_equal(resp.status, 200);
        j = tu_json(resp.body);
        assert_int_equal(json_integer_value(json_object_get(j, "body_len")), (json_int_t)n);
        tu_assert_json_str(j, "body_sha256", want);
        json_decref(j);
        tu_resp_free(&resp);
    }
    free(want);
    free(body);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(redis_down_fails_closed),
        cmocka_unit_test(workers_all_revoke),
        cmocka_unit_test(server_certs_from_store),
        cmocka_unit_test(upstream_errors_502_504),
        cmocka_unit_test(large_bodies_streamed),
    };

    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests_name("proxy_ops", tests, group_setup, group_teardown);
}
