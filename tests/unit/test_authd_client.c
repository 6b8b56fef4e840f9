/*
 * test_authd_client: authd_client and authz against an in-process fake authd on a unix
 * socket (rpc_chan on both ends, one event loop): hello/subscribe/snapshot loading, the
 * authorize call and its params, the allow cache and its invalidation, denials, RPC
 * errors, per-call timeouts, cancel, reloads on store notifications (coalesced),
 * connection loss (503 for pending calls, dropped caches, reconnect and reload).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <jansson.h>
#include <openssl/pem.h>

#include "common/certinfo.h"
#include "common/mpjson.h"
#include "common/rpc_chan.h"
#include "common/rpc_codec.h"
#include "common/xmem.h"
#include "proxy/apis.h"
#include "proxy/authd_client.h"
#include "proxy/authz.h"
#include "proxy/proxy_cfg.h"
#include "tests/harness/testutil.h"

struct fake {
    struct event_base *base;
    struct evconnlistener *lis;
    char *dir;
    char *path;
    struct rpc_chan *ch;
    int nconn;
    json_t *list;  /* apis.list result */
    json_t *certs; /* id -> element */
    bool answer_authorize;
    int rpc_error; /* answer authorize with this RPC error code (0: none) */
    int status;
    const char *error;
    const char *key_hash;
    int cache_ms;
    json_t *last_authorize;
    int n_hello, n_subscribe, n_list, n_certs, n_authorize;
    bool saw_private;
};

struct cli {
    struct authd_client *ac;
    struct authz *z;
    struct apis *snap;
    int nsnap;
    int ninval;
    int nres;
    int status;
    char msg[256];
    char key_hash[130];
    char cert_id[200];
    int ncalls; /* authd_call_cb calls */
    int call_code;
    bool in_start; /* set around calls that must not call back synchronously */
};

static struct fake fk;
static struct cli cl;
static struct proxy_config cfg;
static char *c1_id, *srv_id;

/* ---- the fake authd ---- */

static void fake_send(struct rpc_enc *e)
{
    const unsigned char *buf;
    size_t len;

    assert_int_equal(rpc_enc_finish(e, &buf, &len), 0);
    if (fk.ch != NULL)
        assert_int_equal(rpc_chan_send(fk.ch, buf, len), 0);
    rpc_enc_destroy(e);
}

static void fake_result(uint32_t msgid, json_t *v)
{
    struct rpc_enc e;

    rpc_enc_init(&e);
    rpc_enc_result(&e, msgid);
    mpjson_pack(&e.pk, v);
    json_decref(v);
    fake_send(&e);
}

static void fake_error(uint32_t msgid, int code, const char *msg)
{
    struct rpc_enc e;

    rpc_enc_init(&e);
    rpc_enc_error(&e, msgid, code, msg);
    fake_send(&e);
}

static void fake_notify(const char *json_text)
{
    struct rpc_enc e;
    json_t *p = tu_json(json_text);

    rpc_enc_init(&e);
    rpc_enc_notify(&e, "invalidate");
    mpjson_pack(&e.pk, p);
    json_decref(p);
    fake_send(&e);
}

static bool is(const struct rpc_msg *m, const char *name)
{
    return m->method_len == strlen(name) && memcmp(m->method, name, m->method_len) == 0;
}

static void fake_on_msg(struct rpc_chan *ch, const struct rpc_msg *m, void *arg)
{
    json_t *p = mpjson_to_json(&m->params);
    json_t *certs, *id;
    size_t i;

    assert_int_equal(m->type, RPC_REQUEST);
    assert_non_null(p);
    if (is(m, "hello")) {
        fk.n_hello++;
        assert_int_equal(json_integer_value(json_object_get(p, "protocol")), 1);
        assert_true(
            strncmp(json_string_value(json_object_get(p, "client")), "certbound-proxy/", 16) == 0);
        fake_result(m->msgid,
                    json_pack("{s:i, s:s, s:s}", "protocol", 1, "server", "fake", "version", "0"));
    } else if (is(m, "subscribe")) {
        fk.n_subscribe++;
        fake_result(m->msgid, json_pack("{s:b}", "subscribed", 1));
    } else if (is(m, "apis.list")) {
        fk.n_list++;
        fake_result(m->msgid, json_incref(fk.list));
    } else if (is(m, "certs.get")) {
        fk.n_certs++;
        fk.saw_private = fk.saw_private || json_is_true(json_object_get(p, "private"));
        certs = json_array();
        json_array_foreach(json_object_get(p, "ids"), i, id)
        {
            json_t *e = json_object_get(fk.certs, json_string_value(id));

            json_array_append(certs, e != NULL ? e : json_null());
        }
        fake_result(m->msgid, json_pack("{s:o}", "certs", certs));
    } else if (is(m, "authorize")) {
        fk.n_authorize++;
        json_decref(fk.last_authorize);
        fk.last_authorize = json_incref(p);
        if (fk.rpc_error != 0)
            fake_error(m->msgid, fk.rpc_error, "store unavailable");
        else if (fk.answer_authorize && fk.status == 200)
            fake_result(m->msgid, json_pack("{s:i, s:s, s:i}", "status", 200, "key_hash",
                                            fk.key_hash, "cache_ms", fk.cache_ms));
        else if (fk.answer_authorize)
            fake_result(m->msgid, json_pack("{s:i, s:s}", "status", fk.status, "error", fk.error));
    } else {
        fake_error(m->msgid, 404, "unknown method");
    }
    json_decref(p);
}

static void fake_on_close(struct rpc_chan *ch, const char *err, void *arg)
{
    rpc_chan_free(ch);
    if (fk.ch == ch)
        fk.ch = NULL;
}

static void fake_on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                           int salen, void *arg)
{
    struct bufferevent *bev = bufferevent_socket_new(fk.base, fd, BEV_OPT_CLOSE_ON_FREE);

    assert_non_null(bev);
    assert_null(fk.ch);
    fk.nconn++;
    fk.ch = rpc_chan_new(bev, "fake-authd", NULL, fake_on_msg, fake_on_close, NULL);
}

static void fake_listen(void)
{
    struct sockaddr_un sun;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", fk.path);
    unlink(fk.path);
    fk.lis = evconnlistener_new_bind(fk.base, fake_on_accept, NULL, LEV_OPT_CLOSE_ON_FREE, 16,
                                     (struct sockaddr *)&sun, sizeof(sun));
    assert_non_null(fk.lis);
}

static void fake_drop(void)
{
    rpc_chan_free(fk.ch);
    fk.ch = NULL;
}

/* ---- the loop ---- */

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    *(bool *)arg = true;
}

/* Run until *counter >= want or ms pass; true if reached. */
static bool run_until(const int *counter, int want, int ms)
{
    bool expired = false;
    struct event *t = evtimer_new(fk.base, on_deadline, &expired);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    evtimer_add(t, &tv);
    while (*counter < want && !expired)
        event_base_loop(fk.base, EVLOOP_ONCE);
    event_free(t);
    return *counter >= want;
}

static void run_for(int ms)
{
    int never = 0;

    run_until(&never, 1, ms);
}

/* ---- the client side ---- */

static void on_snapshot(struct apis *snap, void *arg)
{
    apis_unref(cl.snap);
    cl.snap = snap;
    cl.nsnap++;
    authz_flush(cl.z);
}

static void on_invalidate(void *arg)
{
    cl.ninval++;
    authz_flush(cl.z);
}

static void on_authz(const struct authz_result *r, void *arg)
{
    cl.nres++;
    cl.status = r->status;
    snprintf(cl.msg, sizeof(cl.msg), "%s", r->message);
    snprintf(cl.key_hash, sizeof(cl.key_hash), "%s", r->key_hash);
    snprintf(cl.cert_id, sizeof(cl.cert_id), "%s", r->cert_id);
}

static void on_call(const json_t *result, int code, const char *err, void *arg)
{
    assert_false(cl.in_start);
    cl.ncalls++;
    cl.call_code = code;
}

static X509 *x509_of(const char *file)
{
    char *path = tu_pki_file(file);
    char *pem = tu_read_file(path, NULL);
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);

    assert_non_null(x);
    BIO_free(b);
    free(pem);
    free(path);
    return x;
}

static char *add_cert(const char *file, const char *keyfile)
{
    char *path = tu_pki_file(file);
    char *pem = tu_read_file(path, NULL);
    STACK_OF(X509) *sk = certinfo_load_chain(pem, strlen(pem));
    char *id = xmalloc(CERT_SHA_HEX_LEN + 1);
    json_t *e;

    certinfo_x509_sha256_hex(sk_X509_value(sk, 0), id);
    e = json_pack("{s:s, s:s, s:s, s:{}, s:b}", "id", id, "kind", "cert", "pem", pem, "meta",
                  "has_private", keyfile != NULL);
    if (keyfile != NULL) {
        char *kp = tu_pki_file(keyfile);
        char *key = tu_read_file(kp, NULL);

        json_object_set_new(e, "private_key_pem", json_string(key));
        free(key);
        free(kp);
    }
    json_object_set_new(fk.certs, id, e);
    sk_X509_pop_free(sk, X509_free);
    free(pem);
    free(path);
    return id;
}

static void set_list(long long rev, bool extra)
{
    char *text = xasprintf(
        "{\"revision\":%lld,\"apis\":["
        "{\"api_id\":\"m\",\"revision\":1,\"definition\":{\"api_id\":\"m\",\"org_id\":\"org\","
        "\"proxy\":{\"listen_path\":\"/m\",\"target_url\":\"http://127.0.0.1:9\"},"
        "\"use_mutual_tls_auth\":true,\"client_certificates\":[\"%s\"]}},"
        "{\"api_id\":\"k\",\"revision\":1,\"definition\":{\"api_id\":\"k\","
        "\"proxy\":{\"listen_path\":\"/k\",\"target_url\":\"http://127.0.0.1:9\"},"
        "\"use_keyless\":true}}%s]}",
        rev, c1_id,
        extra ? ",{\"api_id\":\"x\",\"revision\":2,\"definition\":{\"api_id\":\"x\",\"proxy\":{"
                "\"listen_path\":\"/x\",\"target_url\":\"http://127.0.0.1:9\"}}}"
              : "");

    json_decref(fk.list);
    fk.list = tu_json(text);
    free(text);
}

static int setup(void **state)
{
    memset(&fk, 0, sizeof(fk));
    memset(&cl, 0, sizeof(cl));
    memset(&cfg, 0, sizeof(cfg));
    fk.base = event_base_new();
    fk.dir = tu_tmpdir("authdcli");
    fk.path = xasprintf("%s/authd.sock", fk.dir);
    fk.certs = json_object();
    fk.answer_authorize = true;
    fk.status = 200;
    fk.key_hash = "kh1";
    fk.cache_ms = 60000;
    c1_id = add_cert("client1.crt", NULL);
    srv_id = add_cert("server.crt", "server.key");
    set_list(42, false);
    cfg.authd = xasprintf("unix:%s", fk.path);
    cfg.authd_timeout_ms = 300;
    cfg.auth_cache_ms = 60000;
    cfg.https_ssl_certificates.v = &srv_id;
    cfg.https_ssl_certificates.n = 1;
    cl.ac = authd_client_new(fk.base, &cfg, "test", on_snapshot, on_invalidate, NULL);
    cl.z = authz_new(cl.ac, &cfg);
    return 0;
}

static int teardown(void **state)
{
    authz_free(cl.z);
    authd_client_free(cl.ac);
    apis_unref(cl.snap);
    rpc_chan_free(fk.ch);
    if (fk.lis != NULL)
        evconnlistener_free(fk.lis);
    event_base_free(fk.base);
    unlink(fk.path);
    rmdir(fk.dir);
    free(fk.path);
    free(fk.dir);
    free(cfg.authd);
    json_decref(fk.list);
    json_decref(fk.certs);
    json_decref(fk.last_authorize);
    free(c1_id);
    free(srv_id);
    return 0;
}

static void connect_and_load(void)
{
    fake_listen();
    authd_client_start(cl.ac);
    assert_true(run_until(&cl.nsnap, 1, 3000));
    assert_true(authd_client_connected(cl.ac));
    assert_int_equal(fk.n_hello, 1);
    assert_int_equal(fk.n_subscribe, 1);
    assert_int_equal(apis_revision(cl.snap), 42);
    assert_int_equal(apis_count(cl.snap), 2);
}

/* authz_start for the API at path with the given leaf file and Authorization value. */
static struct authz_req *request(const char *path, const char *leaf_file, const char *authz)
{
    const struct api *api = apis_route(cl.snap, "h", 1, path, strlen(path));
    struct http_head h;
    struct authz_conn c = {.tls = true};
    struct authz_req *r;

    assert_non_null(api);
    memset(&h, 0, sizeof(h));
    if (authz != NULL) {
        h.hdrs[0].name = "Authorization";
        h.hdrs[0].name_len = strlen("Authorization");
        h.hdrs[0].value = authz;
        h.hdrs[0].value_len = strlen(authz);
        h.nhdrs = 1;
    }
    if (leaf_file != NULL)
        c.leaf = x509_of(leaf_file);
    r = authz_start(cl.z, api, &h, &c, on_authz, NULL);
    X509_free(c.leaf);
    return r;
}

/* ---- tests ---- */

static void test_snapshot_and_authorize(void **state)
{
    const struct server_cert *const *sc;
    const struct api *api;
    char want_cert_id[100];
    int n;

    connect_and_load();
    assert_true(fk.saw_private); /* a server certificate needs its key */
    assert_int_equal(apis_server_certs(cl.snap, &sc), 1);
    api = apis_route(cl.snap, "h", 1, "/m", 2);
    assert_non_null(api->allow);
    snprintf(want_cert_id, sizeof(want_cert_id), "org%s", c1_id);

    /* A session decision: the params of schema/rpc.md, then the answer. */
    assert_non_null(request("/m", "client1.crt", "Bearer tok1"));
    assert_true(run_until(&cl.nres, 1, 2000));
    assert_int_equal(cl.status, 0);
    assert_string_equal(cl.key_hash, "kh1");
    assert_string_equal(cl.cert_id, want_cert_id);
    tu_assert_json_str(fk.last_authorize, "api_id", "m");
    tu_assert_json_str(fk.last_authorize, "org_id", "org");
    tu_assert_json_str(fk.last_authorize, "cert_sha", c1_id);
    tu_assert_json_str(fk.last_authorize, "token", "tok1");
    assert_true(json_is_false(json_object_get(fk.last_authorize, "use_certificate")));
    assert_true(json_is_true(json_object_get(fk.last_authorize, "static_mtls")));
    assert_true(json_is_true(json_object_get(fk.last_authorize, "tls")));
    assert_true(json_is_false(json_object_get(fk.last_authorize, "cert_expired")));

    /* Cached: answered at once, no call. */
    assert_null(request("/m", "client1.crt", "Bearer tok1"));
    assert_int_equal(cl.nres, 2);
    assert_int_equal(cl.status, 0);
    assert_string_equal(cl.key_hash, "kh1");
    assert_int_equal(fk.n_authorize, 1);
    /* Another token is another entry. */
    assert_non_null(request("/m", "client1.crt", "tok2"));
    assert_true(run_until(&cl.nres, 3, 2000));
    assert_int_equal(fk.n_authorize, 2);

    /* A push drops the cache. */
    fake_notify("{\"type\":\"session\",\"key\":\"apikey-x\"}");
    assert_true(run_until(&cl.ninval, 1, 2000));
    assert_non_null(request("/m", "client1.crt", "Bearer tok1"));
    assert_true(run_until(&cl.nres, 4, 2000));
    assert_int_equal(fk.n_authorize, 3);

    /* Denials pass through and are never cached. */
    fk.status = 401;
    fk.error = "Access to this API has been disallowed";
    n = fk.n_authorize;
    for (int i = 0; i < 2; i++) {
        assert_non_null(request("/m", "client1.crt", "other"));
        assert_true(run_until(&cl.nres, 5 + i, 2000));
        assert_int_equal(cl.status, 401);
        assert_string_equal(cl.msg, "Access to this API has been disallowed");
        assert_string_equal(cl.key_hash, "");
    }
    assert_int_equal(fk.n_authorize, n + 2);

    /* A store outage is 503, never an allow. */
    fk.rpc_error = 503;
    assert_non_null(request("/m", "client1.crt", "other"));
    assert_true(run_until(&cl.nres, 7, 2000));
    assert_int_equal(cl.status, 503);
    assert_string_equal(cl.msg, "Authentication service unavailable");

    /* Static decisions need no call: keyless, and the allowlist. */
    n = fk.n_authorize;
    assert_null(request("/k", NULL, NULL));
    assert_int_equal(cl.nres, 8);
    assert_int_equal(cl.status, 0);
    assert_string_equal(cl.cert_id, "");
    assert_null(request("/m", "client2.crt", "tok1"));
    assert_int_equal(cl.nres, 9);
    assert_int_equal(cl.status, 403);
    assert_true(strncmp(cl.msg, "Certificate with SHA256 ", 24) == 0);
    assert_null(request("/m", NULL, "tok1"));
    assert_int_equal(cl.status, 403);
    assert_string_equal(cl.msg, "Client TLS certificate is required");
    assert_int_equal(fk.n_authorize, n);
}

static void test_timeout_and_cancel(void **state)
{
    struct timespec t0, t1;
    struct authz_req *r;
    long ms;

    connect_and_load();
    fk.answer_authorize = false;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_non_null(request("/m", "client1.crt", "t"));
    assert_true(run_until(&cl.nres, 1, 3000));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_int_equal(cl.status, 503);
    assert_string_equal(cl.msg, "Authentication service unavailable");
    assert_true(ms >= 250 && ms < 1000);

    r = request("/m", "client1.crt", "t");
    assert_non_null(r);
    authz_cancel(r);
    run_for(500);
    assert_int_equal(cl.nres, 1);
    /* The connection survived the timeouts. */
    assert_true(authd_client_connected(cl.ac));
    assert_int_equal(fk.nconn, 1);
}

static void test_store_reload(void **state)
{
    int n;

    connect_and_load();
    set_list(43, true);
    fake_notify("{\"type\":\"store\",\"table\":\"api_definitions\",\"op\":\"insert\","
                "\"id\":\"x\",\"revision\":43}");
    assert_true(run_until(&cl.nsnap, 2, 2000));
    assert_int_equal(apis_revision(cl.snap), 43);
    assert_int_equal(apis_count(cl.snap), 3);
    assert_int_equal(cl.ninval, 1);

    /* Not newer: no reload. */
    n = fk.n_list;
    fake_notify("{\"type\":\"store\",\"table\":\"certificates\",\"op\":\"delete\","
                "\"id\":\"c\",\"revision\":43}");
    run_for(200);
    assert_int_equal(fk.n_list, n);
    assert_int_equal(cl.ninval, 2);

    /* A burst coalesces into at most two loads, ending on the newest. */
    set_list(46, false);
    fake_notify("{\"type\":\"store\",\"table\":\"api_definitions\",\"op\":\"update\","
                "\"id\":\"m\",\"revision\":44}");
    fake_notify("{\"type\":\"store\",\"table\":\"api_definitions\",\"op\":\"update\","
                "\"id\":\"m\",\"revision\":45}");
    fake_notify("{\"type\":\"store\",\"table\":\"api_definitions\",\"op\":\"update\","
                "\"id\":\"m\",\"revision\":46}");
    run_for(300);
    assert_true(fk.n_list - n >= 1 && fk.n_list - n <= 2);
    assert_int_equal(apis_revision(cl.snap), 46);
    assert_int_equal(apis_count(cl.snap), 2);
}

static void test_connection_loss(void **state)
{
    struct authd_call *c;

    connect_and_load();
    fk.answer_authorize = false;
    cfg.authd_timeout_ms = 5000;
    assert_non_null(request("/m", "client1.crt", "t"));
    run_for(50);
    assert_int_equal(fk.n_authorize, 1);
    fake_drop();
    assert_true(run_until(&cl.nres, 1, 2000));
    assert_int_equal(cl.status, 503);
    assert_true(cl.ninval >= 1);

    /* Back after a backoff; the snapshot is reloaded (a new one arrives). */
    assert_true(run_until(&cl.nsnap, 2, 5000));
    assert_int_equal(fk.nconn, 2);
    assert_true(authd_client_connected(cl.ac));

    /* authd gone for good: calls fail with 503, from the loop, not from the call. */
    evconnlistener_free(fk.lis);
    fk.lis = NULL;
    unlink(fk.path);
    fake_drop();
    run_for(100);
    assert_false(authd_client_connected(cl.ac));
    cl.in_start = true;
    c = authd_client_call(cl.ac, "authorize", json_object(), on_call, NULL);
    cl.in_start = false;
    assert_non_null(c);
    assert_true(run_until(&cl.ncalls, 1, 1000));
    assert_int_equal(cl.call_code, 503);
    /* The old snapshot keeps serving. */
    assert_non_null(cl.snap);
    assert_null(request("/k", NULL, NULL));
}

static void test_start_before_authd(void **state)
{
    struct authd_call *c;

    authd_client_start(cl.ac);
    run_for(100);
    assert_false(authd_client_connected(cl.ac));
    cl.in_start = true;
    c = authd_client_call(cl.ac, "authorize", json_object(), on_call, NULL);
    cl.in_start = false;
    assert_non_null(c);
    assert_true(run_until(&cl.ncalls, 1, 1000));
    assert_int_equal(cl.call_code, 503);
    /* A cancelled call never calls back. */
    c = authd_client_call(cl.ac, "authorize", json_object(), on_call, NULL);
    authd_call_cancel(c);
    run_for(50);
    assert_int_equal(cl.ncalls, 1);

    fake_listen();
    assert_true(run_until(&cl.nsnap, 1, 5000));
    assert_true(authd_client_connected(cl.ac));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_snapshot_and_authorize, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_and_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_loss, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_before_authd, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
