/*
 * proxyutil: see proxyutil.h. The proxy's config is generated from a base object merged with
 * the test's JSON, like authd's in testutil.c.
 */
#include "tests/harness/proxyutil.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/xmem.h"

#define START_TIMEOUT_MS 30000
#define STOP_TIMEOUT_MS 15000

/* Wait until path holds the JSON a daemon writes when ready; fail if pid exits first. */
static json_t *wait_ready(const char *what, const char *path, pid_t pid, const char *log_path)
{
    long deadline = tu_now_ms() + START_TIMEOUT_MS;
    char *text;
    json_t *j;

    while ((text = tu_read_file(path, NULL)) == NULL) {
        int st;

        if (waitpid(pid, &st, WNOHANG) == pid) {
            char *log = tu_read_file(log_path, NULL);

            fail_msg("%s exited during start-up:\n%s", what, log != NULL ? log : "");
        }
        if (tu_now_ms() > deadline)
            fail_msg("%s did not become ready within %d ms", what, START_TIMEOUT_MS);
        tu_pause_ms(10);
    }
    j = json_loads(text, 0, NULL);
    free(text);
    if (j == NULL)
        fail_msg("%s: ready file %s is not JSON", what, path);
    return j;
}

/* SIGTERM, wait (bounded), then scan the log; returns the exit status. */
static int stop_child(const char *what, pid_t pid, const char *log_path)
{
    long deadline = tu_now_ms() + STOP_TIMEOUT_MS;
    int st = 0;
    char *log;

    kill(pid, SIGTERM);
    while (waitpid(pid, &st, WNOHANG) == 0) {
        if (tu_now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            fail_msg("%s did not stop within %d ms of SIGTERM", what, STOP_TIMEOUT_MS);
        }
        tu_pause_ms(10);
    }
    log = log_path != NULL ? tu_read_file(log_path, NULL) : NULL;
    if (log != NULL && (strstr(log, "AddressSanitizer") || strstr(log, "LeakSanitizer") ||
                        strstr(log, "runtime error:")))
        fail_msg("sanitizer report in the %s log:\n%s", what, log);
    free(log);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- echo upstream ---- */

void tu_upstream_start_tls(struct tu_upstream *u, const char *cert, const char *key,
                           const char *client_ca)
{
    char *bin = tu_binpath("bin/cb-echo-upstream");
    char *crt = cert != NULL ? tu_pki_file(cert) : NULL, *k = key != NULL ? tu_pki_file(key) : NULL;
    char *ca = client_ca != NULL ? tu_pki_file(client_ca) : NULL;
    char *ready, *log;
    const char *argv[12];
    size_t n = 0;
    json_t *j;

    memset(u, 0, sizeof(*u));
    u->dir = tu_tmpdir("upstream");
    ready = xasprintf("%s/ready.json", u->dir);
    log = xasprintf("%s/upstream.log", u->dir);
    argv[n++] = bin;
    argv[n++] = "--port";
    argv[n++] = "0";
    argv[n++] = "--ready-file";
    argv[n++] = ready;
    if (crt != NULL) {
        argv[n++] = "--tls-cert";
        argv[n++] = crt;
        argv[n++] = "--tls-key";
        argv[n++] = k;
    }
    if (ca != NULL) {
        argv[n++] = "--client-ca";
        argv[n++] = ca;
    }
    argv[n] = NULL;
    u->pid = tu_spawn(argv, log);
    j = wait_ready("cb-echo-upstream", ready, u->pid, log);
    u->port = (int)json_integer_value(json_object_get(j, "port"));
    json_decref(j);
    free(log);
    free(ready);
    free(ca);
    free(k);
    free(crt);
    free(bin);
}

void tu_upstream_start(struct tu_upstream *u)
{
    tu_upstream_start_tls(u, NULL, NULL, NULL);
}

void tu_upstream_stop(struct tu_upstream *u)
{
    if (u->pid > 0)
        stop_child("cb-echo-upstream", u->pid, NULL);
    u->pid = 0;
    free(u->dir);
    u->dir = NULL;
}

/* ---- proxy ---- */

static char *proxy_config(const char *dir, const struct tu_authd *a, const char *extra_json)
{
    char *crt = tu_pki_file("server.crt"), *key = tu_pki_file("server.key");
    char *authd = xasprintf("127.0.0.1:%d", a->rpc_port);
    char *path = xasprintf("%s/proxy.json", dir), *text;
    json_t *cfg = json_pack("{s:s, s:i, s:s, s:i, s:s, s:{s:b, s:[{s:s, s:s, s:s}]}}",
                            "listen_address", "127.0.0.1", "listen_port", 0, "authd", authd,
                            "workers", 1, "log_level", "debug", "http_server_options",
                            "use_ssl", 1, "certificates", "domain_name", "", "cert_file", crt,
                            "key_file", key);

    if (extra_json != NULL) {
        json_t *extra = tu_json(extra_json);

        json_object_update_recursive(cfg, extra);
        json_decref(extra);
    }
    text = json_dumps(cfg, JSON_INDENT(2));
    if (tu_write_file(path, text, strlen(text)) < 0)
        fail_msg("cannot write %s", path);
    free(text);
    json_decref(cfg);
    free(authd);
    free(key);
    free(crt);
    return path;
}

void tu_proxy_start(struct tu_proxy *p, const struct tu_authd *a, const char *extra_json)
{
    char *bin = tu_binpath("bin/certbound-proxy"), *cfg, *ready;
    json_t *j;

    memset(p, 0, sizeof(*p));
    p->dir = tu_tmpdir("proxy");
    p->log_path = xasprintf("%s/proxy.log", p->dir);
    cfg = proxy_config(p->dir, a, extra_json);
    ready = xasprintf("%s/ready.json", p->dir);
    {
        const char *argv[] = {bin, "--config", cfg, "--ready-file", ready, NULL};

        p->pid = tu_spawn(argv, p->log_path);
    }
    j = wait_ready("certbound-proxy", ready, p->pid, p->log_path);
    p->port = (int)json_integer_value(json_object_get(j, "port"));
    if (p->port <= 0)
        fail_msg("certbound-proxy's ready file has no port");
    json_decref(j);
    free(ready);
    free(cfg);
    free(bin);
}

int tu_proxy_start_fails(const struct tu_authd *a, const char *extra_json, char **out)
{
    char *bin = tu_binpath("bin/certbound-proxy"), *dir = tu_tmpdir("proxy");
    char *cfg = proxy_config(dir, a, extra_json), *log = xasprintf("%s/proxy.log", dir);
    long deadline = tu_now_ms() + START_TIMEOUT_MS;
    int st = 0;
    pid_t pid;

    {
        const char *argv[] = {bin, "--config", cfg, NULL};

        pid = tu_spawn(argv, log);
    }
    while (waitpid(pid, &st, WNOHANG) == 0) {
        if (tu_now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            fail_msg("certbound-proxy started although it should have refused to");
        }
        tu_pause_ms(10);
    }
    if (out != NULL)
        *out = tu_read_file(log, NULL);
    free(log);
    free(cfg);
    free(dir);
    free(bin);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void tu_proxy_stop(struct tu_proxy *p)
{
    int rc;

    if (p->pid <= 0)
        return;
    rc = stop_child("certbound-proxy", p->pid, p->log_path);
    p->pid = 0;
    if (rc != 0) {
        char *log = tu_read_file(p->log_path, NULL);

        fail_msg("certbound-proxy exited with status %d:\n%s", rc, log != NULL ? log : "");
    }
    free(p->dir);
    free(p->log_path);
    p->dir = p->log_path = NULL;
}

bool tu_proxy_log_contains(const struct tu_proxy *p, const char *needle)
{
    char *log = tu_read_file(p->log_path, NULL);
    bool found = log != NULL && strstr(log, needle) != NULL;

    free(log);
    return found;
}

/* ---- client ---- */


void tu_request(const struct tu_proxy *p, CURL *reuse, const struct tu_req *r,
                struct tu_resp *out)
{
    const char *sni = r->sni != NULL ? r->sni : "localhost";
    CURL *c = reuse != NULL ? reuse : curl_easy_init();
    struct curl_slist *hl = NULL, *resolve = NULL;
    struct tu_buf b = {NULL, 0};
    char *url, *res, *crt = NULL, *key = NULL, *ca = tu_pki_file("ca.crt"), *h;
    long code = 0;
    CURLcode rc;

    memset(out, 0, sizeof(*out));
    url = xasprintf("%s://%s:%d%s", r->plain ? "http" : "https", sni, p->port,
                    r->path != NULL ? r->path : "/");
    res = xasprintf("%s:%d:127.0.0.1", sni, p->port);
    resolve = curl_slist_append(resolve, res);
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_RESOLVE, resolve);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, out->err);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, tu_curl_collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    /* The test server certificate names localhost and api.local only; tests use more names. */
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    /* A fresh handshake per connection, so each test sees its certificate's own policy. */
    curl_easy_setopt(c, CURLOPT_SSL_SESSIONID_CACHE, 0L);
    if (r->tls_max == 12)
        curl_easy_setopt(c, CURLOPT_SSLVERSION,
                         (long)(CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2));
    if (r->cert != NULL) {
        if (r->key != NULL) {
            crt = xstrdup(r->cert);
            key = xstrdup(r->key);
        } else {
            char *n = xasprintf("%s.crt", r->cert), *k = xasprintf("%s.key", r->cert);

            crt = tu_pki_file(n);
            key = tu_pki_file(k);
            free(n);
            free(k);
        }
        curl_easy_setopt(c, CURLOPT_SSLCERT, crt);
        curl_easy_setopt(c, CURLOPT_SSLKEY, key);
    }
    if (r->method != NULL)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
    if (r->body != NULL)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body);
    hl = curl_slist_append(hl, "Expect:");
    if (r->host != NULL) {
        h = xasprintf("Host: %s", r->host);
        hl = curl_slist_append(hl, h);
        free(h);
    }
    if (r->token != NULL) {
        h = xasprintf("Authorization: %s", r->token);
        hl = curl_slist_append(hl, h);
        free(h);
    }
    for (int i = 0; r->headers != NULL && r->headers[i] != NULL; i++)
        hl = curl_slist_append(hl, r->headers[i]);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    rc = curl_easy_perform(c);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        out->status = (int)code;
    } else {
        out->status = -1;
        if (out->err[0] == '\0')
            snprintf(out->err, sizeof(out->err), "%s", curl_easy_strerror(rc));
    }
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &out->connects);
    out->body = b.p;
    /* The handle keeps pointers to these lists until the next reset: detach them first. */
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c, CURLOPT_RESOLVE, NULL);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    if (reuse == NULL)
        curl_easy_cleanup(c);
    curl_slist_free_all(hl);
    curl_slist_free_all(resolve);
    free(crt);
    free(key);
    free(ca);
    free(res);
    free(url);
}

void tu_resp_free(struct tu_resp *r)
{
    free(r->body);
    r->body = NULL;
}

const char *tu_resp_error(const struct tu_resp *r)
{
    static char msg[1024];
    json_t *j = r->body != NULL ? json_loads(r->body, 0, NULL) : NULL;
    const char *s = json_string_value(json_object_get(j, "error"));

    snprintf(msg, sizeof(msg), "%s", s != NULL ? s : "");
    json_decref(j);
    return msg;
}

const char *tu_resp_upstream_header(const struct tu_resp *r, const char *name)
{
    static char val[8192];
    json_t *j = r->body != NULL ? json_loads(r->body, 0, NULL) : NULL;
    const char *s = json_string_value(json_object_get(json_object_get(j, "headers"), name));

    if (s != NULL)
        snprintf(val, sizeof(val), "%s", s);
    json_decref(j);
    return s != NULL ? val : NULL;
}
