/*
 * e2e_util: see e2e_util.h.
 */
#include "tests/e2e/e2e_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>
#include <openssl/pem.h>

#include "common/certinfo.h"
#include "common/token.h"

struct tu_redis redis;
struct tu_authd authd;
struct tu_upstream up;
struct tu_proxy proxy;
char *conninfo;

void e2e_start(const char *authd_extra, const char *proxy_extra)
{
    tu_redis_start(&redis);
    conninfo = tu_pg_create_db("cb_e2e");
    tu_authd_start(&authd, &redis, conninfo, authd_extra);
    tu_upstream_start(&up);
    tu_proxy_start(&proxy, &authd, proxy_extra);
}

void e2e_stop(void)
{
    tu_proxy_stop(&proxy);
    tu_upstream_stop(&up);
    tu_authd_stop(&authd);
    tu_redis_stop(&redis);
    tu_pg_drop_db(conninfo);
    free(conninfo);
    conninfo = NULL;
}

/* ---- helpers: store ---- */

char *pki(const char *name)
{
    return tu_pki_text(name);
}

/* sha256 hex of the first certificate of a PKI file (heap). */
char *sha(const char *file)
{
    return tu_pki_sha(file);
}

/* org + sha of NAME.crt (heap). */
char *cid(const char *org, const char *name)
{
    char *file = xasprintf("%s.crt", name), *h = sha(file), *id = xasprintf("%s%s", org, h);

    free(file);
    free(h);
    return id;
}

/* Upload a PKI file (with its key appended when with_key); returns the id (heap). */
char *upload_file(const char *org, const char *file, const char *keyfile)
{
    char *body = pki(file), *path, *id;
    json_t *j = NULL;

    if (keyfile != NULL) {
        char *k = pki(keyfile), *both = xasprintf("%s\n%s", body, k);

        free(body);
        free(k);
        body = both;
    }
    path = org != NULL ? xasprintf("/tyk/certs?org_id=%s", org) : xstrdup("/tyk/certs");
    if (tu_admin(&authd, "POST", path, body, &j) != 200)
        fail_msg("upload of %s failed: %s", file, json_dumps(j, 0));
    id = xstrdup(json_string_value(json_object_get(j, "id")));
    json_decref(j);
    free(path);
    free(body);
    return id;
}

char *upload(const char *name)
{
    char *file = xasprintf("%s.crt", name), *id = upload_file(ORG, file, NULL);

    free(file);
    return id;
}

/* A certificate the store would refuse (expired), put there as if it expired after its
 * upload: the row the upload would have written, straight into PostgreSQL. */
char *insert_expired(void)
{
    char *pem = pki("expired.crt"), *id = cid(ORG, "expired");
    PGconn *pg = tu_pg_connect(conninfo);
    const char *vals[3] = {id, ORG, pem};
    PGresult *res = PQexecParams(pg,
                                 "INSERT INTO certificates (id, org_id, kind, pem, meta, "
                                 "not_after) VALUES ($1, $2, 'certificate', $3, '{}', "
                                 "'2020-01-02T00:00:00Z')",
                                 3, NULL, vals, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        fail_msg("insert failed: %s", PQerrorMessage(pg));
    PQclear(res);
    PQfinish(pg);
    free(pem);
    return id;
}

void delete_cert(const char *id)
{
    char *path = xasprintf("/tyk/certs/%s?org_id=" ORG, id);

    assert_int_equal(tu_admin(&authd, "DELETE", path, NULL, NULL), 200);
    free(path);
}

/*
 * Create an API: fmt is the JSON body without the target, which is added (the echo
 * upstream). Keys "api_id" and "org_id" default to the test's.
 */
void api_put(const char *method, const char *fmt, ...)
{
    va_list ap;
    char *text, *path;
    json_t *def, *j = NULL;
    int code;

    va_start(ap, fmt);
    text = xvasprintf(fmt, ap);
    va_end(ap);
    def = tu_json(text);
    if (json_object_get(def, "org_id") == NULL)
        json_object_set_new(def, "org_id", json_string(ORG));
    if (json_object_get(def, "active") == NULL)
        json_object_set_new(def, "active", json_true());
    {
        json_t *px = json_object_get(def, "proxy");
        char *target = xasprintf("http://127.0.0.1:%d/up", up.port);

        if (json_object_get(px, "target_url") == NULL)
            json_object_set_new(px, "target_url", json_string(target));
        if (json_object_get(px, "strip_listen_path") == NULL)
            json_object_set_new(px, "strip_listen_path", json_true());
        free(target);
    }
    free(text);
    text = json_dumps(def, 0);
    path = strcmp(method, "PUT") == 0
               ? xasprintf("/tyk/apis/%s", json_string_value(json_object_get(def, "api_id")))
               : xstrdup("/tyk/apis");
    code = tu_admin(&authd, method, path, text, &j);
    if (code != 200)
        fail_msg("%s %s: %d %s", method, path, code, json_dumps(j, 0));
    json_decref(j);
    json_decref(def);
    free(path);
    free(text);
}

/* POST /tyk/keys/create (or another path) with a JSON body; returns the key (heap). */
char *key_create(const char *path, const char *body)
{
    json_t *j = NULL;
    char *key;
    int code = tu_admin(&authd, "POST", path, body, &j);

    if (code != 200)
        fail_msg("POST %s: %d %s", path, code, json_dumps(j, 0));
    key = xstrdup(json_string_value(json_object_get(j, "key")));
    json_decref(j);
    return key;
}

/* A session bound to certificate id with access to api_id (extra: more JSON fields). */
char *key_for_cert(const char *id, const char *api_id, const char *extra)
{
    char *body = xasprintf("{\"org_id\":\"" ORG "\",\"certificate\":\"%s\",\"access_rights\":"
                           "{\"%s\":{\"api_id\":\"%s\",\"versions\":[\"Default\"]}}%s}",
                           id, api_id, api_id, extra != NULL ? extra : "");
    char *key = key_create("/tyk/keys/create", body);

    free(body);
    return key;
}

/* An ordinary key with access to api_id (extra: more JSON fields, e.g. bindings). */
char *key_plain(const char *api_id, const char *extra)
{
    char *body = xasprintf("{\"org_id\":\"" ORG "\",\"access_rights\":{\"%s\":{\"api_id\":"
                           "\"%s\",\"versions\":[\"Default\"]}}%s}",
                           api_id, api_id, extra != NULL ? extra : "");
    char *key = key_create("/tyk/keys", body);

    free(body);
    return key;
}

void key_update(const char *key, const char *body)
{
    char *path = xasprintf("/tyk/keys/%s", key);
    json_t *j = NULL;
    int code = tu_admin(&authd, "PUT", path, body, &j);

    if (code != 200)
        fail_msg("PUT %s: %d %s", path, code, json_dumps(j, 0));
    json_decref(j);
    free(path);
}

char *sha256_hex(const char *s)
{
    char *out = xmalloc(TOKEN_HASH_HEX_MAX + 1);

    token_hash_hex(TOKEN_ALGO_SHA256, s, strlen(s), out);
    return out;
}

/* ---- helpers: requests ---- */

void req(const char *sni, const char *path, const char *cert, const char *token,
                struct tu_resp *out)
{
    struct tu_req r = {.sni = sni, .path = path, .cert = cert, .token = token};

    tu_request(&proxy, NULL, &r, out);
}

/* Expect status (and, when msg is not NULL, the {"error"} message). status -1 = the TLS
 * handshake (or the connection) failed. */
void expect(const char *sni, const char *path, const char *cert, const char *token,
                   int status, const char *msg)
{
    struct tu_resp r;

    req(sni, path, cert, token, &r);
    if (r.status != status)
        fail_msg("%s%s with %s, token %s: want %d, got %d (%s%s)", sni, path,
                 cert != NULL ? cert : "no cert", token != NULL ? "yes" : "none", status,
                 r.status, r.body != NULL ? r.body : "", r.err);
    if (msg != NULL && strcmp(tu_resp_error(&r), msg) != 0)
        fail_msg("%s%s: want error \"%s\", got %s", sni, path, msg, r.body);
    tu_resp_free(&r);
}

/* Poll until the proxy has seen an API change: the request no longer gets `not`. */
void wait_not(const char *sni, const char *path, const char *cert, const char *token,
                     int not)
{
    long deadline = tu_now_ms() + WAIT_MS;
    struct tu_resp r;

    for (;;) {
        req(sni, path, cert, token, &r);
        tu_resp_free(&r);
        if (r.status != not)
            return;
        if (tu_now_ms() > deadline)
            fail_msg("%s%s still answers %d after %d ms", sni, path, not, WAIT_MS);
        tu_pause_ms(20);
    }
}

/* Wait until a new API on sni+path routes (anything but 404). */
void wait_for(const char *sni, const char *path, const char *cert, const char *token, int want)
{
    long deadline = tu_now_ms() + WAIT_MS;
    struct tu_resp r;

    for (;;) {
        req(sni, path, cert, token, &r);
        tu_resp_free(&r);
        if (r.status == want)
            return;
        if (tu_now_ms() > deadline)
            fail_msg("%s%s still answers %d, not %d, after %d ms", sni, path, r.status, want,
                     WAIT_MS);
        tu_pause_ms(20);
    }
}

void wait_api(const char *sni, const char *path)
{
    wait_not(sni, path, NULL, NULL, 404);
}

void expect_upstream_header(const struct tu_resp *r, const char *name, const char *want)
{
    const char *got = tu_resp_upstream_header(r, name);

    if (want == NULL && got != NULL)
        fail_msg("upstream got %s: %s, want none", name, got);
    if (want != NULL && (got == NULL || strcmp(got, want) != 0))
        fail_msg("upstream got %s: %s, want %s", name, got != NULL ? got : "(none)", want);
}

/* "Acceptable client certificate CA names" of openssl s_client against the proxy. */
char *ca_names(const char *sni)
{
    char *cmd = xasprintf("openssl s_client -connect 127.0.0.1:%d -servername %s -tls1_3 "
                          "</dev/null 2>&1",
                          proxy.port, sni);
    FILE *f = popen(cmd, "r");
    char line[1024], *out = xstrdup("");
    bool in = false;

    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strstr(line, "No client certificate CA names sent") != NULL) {
            char *t = xasprintf("%sNONE\n", out);

            free(out);
            out = t;
        }
        if (strstr(line, "Acceptable client certificate CA names") != NULL) {
            in = true;
            continue;
        }
        if (in && (strncmp(line, "Requested", 9) == 0 || strncmp(line, "Client Certificate", 18) == 0 ||
                   strncmp(line, "Server Temp", 11) == 0 || line[0] == '-'))
            in = false;
        if (in) {
            char *t = xasprintf("%s%s", out, line);

            free(out);
            out = t;
        }
    }
    pclose(f);
    free(cmd);
    return out;
}

/* Set a session field straight in Redis: the API refuses an "expires" in the past (as Tyk),
 * so an expired session is one whose time passed after it was written. */
void session_set_raw(const char *key, const char *field, json_t *value)
{
    char h[TOKEN_HASH_HEX_MAX + 1], *rkey;
    redisContext *c = tu_redis_connect(&redis);
    redisReply *r;
    json_t *s;
    char *text;

    token_key_hash(key, strlen(key), h);
    rkey = xasprintf("apikey-%s", h);
    r = redisCommand(c, "GET %s", rkey);
    assert_true(r != NULL && r->type == REDIS_REPLY_STRING);
    s = tu_json(r->str);
    freeReplyObject(r);
    json_object_set_new(s, field, value);
    text = json_dumps(s, 0);
    r = redisCommand(c, "SET %s %s", rkey, text);
    assert_true(r != NULL && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    free(text);
    json_decref(s);
    free(rkey);
    redisFree(c);
}

