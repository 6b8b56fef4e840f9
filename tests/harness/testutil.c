/* testutil: see testutil.h. Uses cmocka's fail_msg so failures name the test. */
#include "tests/harness/testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <openssl/pem.h>

#include "common/certinfo.h"
#include "common/cfg.h"
#include "common/mpjson.h"
#include "common/rpc_codec.h"
#include "common/xmem.h"

#define ADMIN_SECRET "test-admin-secret"

long tu_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Wait a little without a fixed sleep budget: poll() on nothing for ms. */
void tu_pause_ms(int ms)
{
    poll(NULL, 0, ms);
}

/*
 * Values read from the env file are interned here for the life of the test process, so a
 * caller may keep the pointer and nothing leaks (LeakSanitizer sees them as reachable).
 */
#define TU_ENV_MAX 32
static struct {
    char *key;
    char *val;
} env_cache[TU_ENV_MAX];

const char *tu_env(const char *key)
{
    static char *file;
    const char *path = getenv("CB_TEST_ENV");
    const char *v = getenv(key);
    size_t klen = strlen(key);

    if (v != NULL)
        return v;
    for (size_t i = 0; i < TU_ENV_MAX && env_cache[i].key != NULL; i++) {
        if (strcmp(env_cache[i].key, key) == 0)
            return env_cache[i].val;
    }
    if (file == NULL && path != NULL)
        file = tu_read_file(path, NULL);
    for (char *line = file; line != NULL && *line;) {
        char *nl = strchr(line, '\n');

        if (strncmp(line, key, klen) == 0 && line[klen] == '=') {
            static char val[4096];
            size_t n = nl != NULL ? (size_t)(nl - line) - klen - 1 : strlen(line + klen + 1);

            snprintf(val, sizeof(val), "%.*s", (int)n, line + klen + 1);
            for (size_t i = 0; i < TU_ENV_MAX; i++) {
                if (env_cache[i].key == NULL) {
                    env_cache[i].key = xstrdup(key);
                    env_cache[i].val = xstrdup(val);
                    return env_cache[i].val;
                }
            }
            fail_msg("tu_env: more than %d distinct variables", TU_ENV_MAX);
        }
        line = nl != NULL ? nl + 1 : NULL;
    }
    fail_msg("test environment variable %s is not set (is the services fixture running?)", key);
    return NULL;
}

char *tu_srcpath(const char *rel)
{
    const char *s = getenv("CB_TEST_SRCDIR");

    return xasprintf("%s/%s", s != NULL ? s : ".", rel);
}

char *tu_binpath(const char *rel)
{
    const char *s = getenv("CB_TEST_BINDIR");

    return xasprintf("%s/%s", s != NULL ? s : ".", rel);
}

char *tu_tmpdir(const char *tag)
{
    char *tmpl = xasprintf("/tmp/cbtest-%s-XXXXXX", tag);

    if (mkdtemp(tmpl) == NULL)
        fail_msg("mkdtemp: %s", strerror(errno));
    chmod(tmpl, 0755);
    return tmpl;
}

char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0, r;

    if (f == NULL)
        return NULL;
    do {
        if (cap - n < 4096) {
            cap = cap ? cap * 2 : 8192;
            buf = xrealloc(buf, cap + 1);
        }
        r = fread(buf + n, 1, cap - n, f);
        n += r;
    } while (r > 0);
    fclose(f);
    buf[n] = '\0';
    if (len != NULL)
        *len = n;
    return buf;
}

int tu_write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    if (f == NULL)
        return -1;
    if (fwrite(data, 1, len, f) != len) {
        fclose(f);
        return -1;
    }
    return fclose(f);
}

int tu_free_port(void)
{
    struct sockaddr_in sin;
    socklen_t sl = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &sl) < 0)
        fail_msg("tu_free_port: %s", strerror(errno));
    port = ntohs(sin.sin_port);
    close(fd);
    return port;
}

const char *tu_pki_dir(void)
{
    static char *dir;

    if (dir == NULL) {
        dir = tu_binpath("testenv-pki");
        if (access(dir, F_OK) != 0) {
            char *cmd = xasprintf("bash '%s' '%s'", tu_srcpath("tests/harness/certs.sh"), dir);

            if (system(cmd) != 0)
                fail_msg("certs.sh failed");
            free(cmd);
        }
    }
    return dir;
}

char *tu_pki_file(const char *name)
{
    return xasprintf("%s/%s", tu_pki_dir(), name);
}

/* ---- redis ---- */

pid_t tu_spawn(const char *const *argv, const char *log_path)
{
    pid_t pid = fork();

    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        int fd = log_path != NULL ? open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644)
                                  : open("/dev/null", O_WRONLY);

        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* Start redis-server on r->sock and wait (bounded) until it answers. */
static void redis_spawn(struct tu_redis *r)
{
    char *log = xasprintf("%s/redis.log", r->dir);
    long deadline;
    redisContext *c;

    {
        const char *argv[] = {"redis-server", "--port", "0", "--unixsocket", r->sock,
                              "--save", "", "--appendonly", "no", "--dir", r->dir, NULL};

        r->pid = tu_spawn(argv, log);
    }
    free(log);
    deadline = tu_now_ms() + 10000;
    while (tu_now_ms() < deadline) {
        c = redisConnectUnix(r->sock);
        if (c != NULL && c->err == 0) {
            redisFree(c);
            return;
        }
        redisFree(c);
        tu_pause_ms(20);
    }
    fail_msg("redis-server did not start on %s", r->sock);
}

void tu_redis_start(struct tu_redis *r)
{
    memset(r, 0, sizeof(*r));
    r->dir = tu_tmpdir("redis");
    r->sock = xasprintf("%s/redis.sock", r->dir);
    redis_spawn(r);
}

void tu_redis_restart(struct tu_redis *r)
{
    tu_redis_stop(r);
    redis_spawn(r);
}

void tu_redis_stop(struct tu_redis *r)
{
    if (r->pid > 0) {
        kill(r->pid, SIGTERM);
        waitpid(r->pid, NULL, 0);
        r->pid = 0;
    }
}

redisContext *tu_redis_connect(const struct tu_redis *r)
{
    redisContext *c = redisConnectUnix(r->sock);

    if (c == NULL || c->err)
        fail_msg("cannot connect to the test redis at %s", r->sock);
    return c;
}

/* ---- postgres ---- */

PGconn *tu_pg_connect(const char *conninfo)
{
    PGconn *pg = PQconnectdb(conninfo);

    if (PQstatus(pg) != CONNECTION_OK)
        fail_msg("cannot connect to PostgreSQL: %s", PQerrorMessage(pg));
    return pg;
}

char *tu_pg_create_db(const char *prefix)
{
    const char *base = tu_env("CB_TEST_PG_CONNINFO");
    PGconn *pg = tu_pg_connect(base);
    char *name = xasprintf("%s_%d_%ld", prefix, (int)getpid(), tu_now_ms() % 100000);
    char *sql = xasprintf("CREATE DATABASE %s", name);
    PGresult *res = PQexec(pg, sql);
    char *ci;

    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        fail_msg("CREATE DATABASE: %s", PQerrorMessage(pg));
    PQclear(res);
    PQfinish(pg);
    ci = xasprintf("%s dbname=%s", base, name);
    free(sql);
    free(name);
    return ci;
}

void tu_pg_drop_db(const char *conninfo)
{
    const char *db = strstr(conninfo, " dbname=");
    const char *last = db;
    PGconn *pg;
    char *sql;

    while (last != NULL && (db = strstr(last + 1, " dbname=")) != NULL)
        last = db;
    if (last == NULL)
        return;
    pg = tu_pg_connect(tu_env("CB_TEST_PG_CONNINFO"));
    sql = xasprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", last + 8);
    PQclear(PQexec(pg, sql));
    free(sql);
    PQfinish(pg);
}

/* ---- authd ---- */

static char *authd_config(const struct tu_authd *a, const char *extra_json)
{
    json_t *cfg = json_pack("{s:s, s:i, s:s, s:s, s:{s:s}, s:{s:s}, s:{s:s}}",
                            "listen_address", "127.0.0.1", "listen_port", 0, "rpc_listen",
                            "127.0.0.1:0", "secret", ADMIN_SECRET, "redis", "unix_socket",
                            a->redis->sock, "postgres", "conninfo", a->conninfo, "security",
                            "private_certificate_encoding_secret", "s3cret");
    char *path = xasprintf("%s/authd.json", a->dir), *text;

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
    return path;
}

/* The merged config as written (a->dir/authd.json), parsed. */
static json_t *authd_written_config(const struct tu_authd *a)
{
    char *path = xasprintf("%s/authd.json", a->dir), *text = tu_read_file(path, NULL);
    json_t *j = text != NULL ? json_loads(text, 0, NULL) : NULL;

    free(text);
    free(path);
    return j;
}

static long authd_spawn(struct tu_authd *a, const struct tu_redis *r, const char *conninfo,
                        const char *extra_json)
{
    char *bin = tu_binpath("bin/certbound-authd"), *cfg, *ready, *text;
    long deadline;
    json_t *j;

    memset(a, 0, sizeof(*a));
    a->dir = tu_tmpdir("authd");
    a->redis = r;
    a->conninfo = xstrdup(conninfo);
    a->log_path = xasprintf("%s/authd.log", a->dir);
    cfg = authd_config(a, extra_json);
    j = authd_written_config(a);
    a->https = json_is_true(json_object_get(json_object_get(j, "http_server_options"), "use_ssl"));
    if (json_is_true(json_object_get(json_object_get(j, "security"), "control_api_use_mutual_tls"))) {
        a->cert_file = tu_pki_file("client1.crt");
        a->key_file = tu_pki_file("client1.key");
    }
    json_decref(j);
    ready = xasprintf("%s/ready.json", a->dir);
    {
        const char *argv[] = {bin, "--config", cfg, "--ready-file", ready, NULL};

        a->pid = tu_spawn(argv, a->log_path);
    }
    deadline = tu_now_ms() + 30000;
    while ((text = tu_read_file(ready, NULL)) == NULL) {
        int st;

        if (waitpid(a->pid, &st, WNOHANG) == a->pid) {
            char *log = tu_read_file(a->log_path, NULL);

            fail_msg("certbound-authd exited during start-up:\n%s", log != NULL ? log : "");
        }
        if (tu_now_ms() > deadline)
            fail_msg("certbound-authd did not become ready within 30 s");
        tu_pause_ms(10);
    }
    j = json_loads(text, 0, NULL);
    a->http_port = (int)json_integer_value(json_object_get(j, "http_port"));
    a->rpc_port = (int)json_integer_value(json_object_get(j, "rpc_port"));
    a->check_port = (int)json_integer_value(json_object_get(j, "check_port"));
    json_decref(j);
    free(text);
    free(ready);
    free(cfg);
    free(bin);
    return deadline;
}

void tu_authd_start_nowait(struct tu_authd *a, const struct tu_redis *r, const char *conninfo,
                           const char *extra_json)
{
    (void)authd_spawn(a, r, conninfo, extra_json);
}

void tu_authd_start(struct tu_authd *a, const struct tu_redis *r, const char *conninfo,
                    const char *extra_json)
{
    long deadline = authd_spawn(a, r, conninfo, extra_json);

    /* Listening is not ready: wait until both stores are connected (GET /hello 200). */
    while (tu_http(a, "GET", "/hello", NULL, NULL, 0, NULL) != 200) {
        if (tu_now_ms() > deadline)
            fail_msg("certbound-authd's /hello did not pass within 30 s");
        tu_pause_ms(10);
    }
}

int tu_authd_run(struct tu_authd *a, const char *extra_json, const char *const *args,
                 char **out)
{
    char *bin = tu_binpath("bin/certbound-authd"), *cfg = authd_config(a, extra_json);
    char *log = xasprintf("%s/run.log", a->dir);
    const char *argv[16] = {bin, "--config", cfg};
    int n = 3, st = 0;
    pid_t pid;

    unlink(log);
    for (int i = 0; args != NULL && args[i] != NULL && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid = tu_spawn(argv, log);
    waitpid(pid, &st, 0);
    if (out != NULL)
        *out = tu_read_file(log, NULL);
    free(log);
    free(cfg);
    free(bin);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

bool tu_authd_log_contains(const struct tu_authd *a, const char *needle)
{
    char *log = tu_read_file(a->log_path, NULL);
    bool found = log != NULL && strstr(log, needle) != NULL;

    free(log);
    return found;
}

void tu_authd_stop(struct tu_authd *a)
{
    long deadline = tu_now_ms() + 15000;
    int st = 0;
    char *log;

    if (a->pid <= 0)
        return;
    kill(a->pid, SIGTERM);
    while (waitpid(a->pid, &st, WNOHANG) == 0) {
        if (tu_now_ms() > deadline) {
            kill(a->pid, SIGKILL);
            waitpid(a->pid, &st, 0);
            fail_msg("certbound-authd did not stop within 15 s of SIGTERM");
        }
        tu_pause_ms(10);
    }
    a->pid = 0;
    log = tu_read_file(a->log_path, NULL);
    if (log != NULL && (strstr(log, "AddressSanitizer") || strstr(log, "LeakSanitizer") ||
                        strstr(log, "runtime error:")))
        fail_msg("sanitizer report in the authd log:\n%s", log);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("certbound-authd exited with status %d:\n%s", st, log != NULL ? log : "");
    free(log);
    /* The directory stays for post-mortems; the strings go with the process. */
    free(a->dir);
    free(a->conninfo);
    free(a->log_path);
    free(a->cert_file);
    free(a->key_file);
    a->dir = a->conninfo = a->log_path = a->cert_file = a->key_file = NULL;
}

/* ---- http ---- */

size_t tu_curl_collect(char *data, size_t size, size_t nmemb, void *arg)
{
    struct tu_buf *b = arg;
    size_t n = size * nmemb;

    b->p = xrealloc(b->p, b->n + n + 1);
    memcpy(b->p + b->n, data, n);
    b->n += n;
    b->p[b->n] = '\0';
    return n;
}

int tu_http_url(const char *url, const struct tu_http_opts *o, struct tu_http_resp *out)
{
    static bool inited;
    static const struct tu_http_opts none;
    CURL *c;
    struct curl_slist *hl = NULL;
    struct tu_buf b = {NULL, 0}, h = {NULL, 0};
    char ebuf[CURL_ERROR_SIZE] = "";
    long code = 0;
    CURLcode rc;

    if (o == NULL)
        o = &none;
    if (!inited) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        inited = true;
    }
    memset(out, 0, sizeof(*out));
    c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, o->method != NULL ? o->method : "GET");
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, tu_curl_collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, tu_curl_collect);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
    hl = curl_slist_append(hl, "Expect:");
    for (int i = 0; o->headers != NULL && o->headers[i] != NULL; i++)
        hl = curl_slist_append(hl, o->headers[i]);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    if (o->body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, o->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
    }
    if (o->ca_file != NULL)
        curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file);
    if (o->cert_file != NULL) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, o->cert_file);
        curl_easy_setopt(c, CURLOPT_SSLKEY, o->key_file);
    }
    rc = curl_easy_perform(c);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        out->status = (int)code;
    } else {
        out->error = xasprintf("%s: %s", curl_easy_strerror(rc), ebuf);
    }
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    out->body = b.p;
    out->headers = h.p;
    return out->status;
}

void tu_http_resp_free(struct tu_http_resp *r)
{
    free(r->body);
    free(r->headers);
    free(r->error);
    memset(r, 0, sizeof(*r));
}

char *tu_http_resp_header(const struct tu_http_resp *r, const char *name)
{
    size_t n = strlen(name);

    for (const char *p = r->headers; p != NULL && *p != '\0';) {
        const char *eol = strstr(p, "\r\n");
        size_t len = eol != NULL ? (size_t)(eol - p) : strlen(p);

        if (len > n && p[n] == ':' && strncasecmp(p, name, n) == 0) {
            const char *v = p + n + 1;

            while (*v == ' ')
                v++;
            return xstrndup(v, (size_t)(p + len - v));
        }
        p = eol != NULL ? eol + 2 : NULL;
    }
    return NULL;
}

int tu_http(const struct tu_authd *a, const char *method, const char *path,
            const char *const *headers, const char *body, size_t body_len, char **resp)
{
    char *ca = a->https ? tu_pki_file("ca.crt") : NULL;
    char *url = xasprintf("%s://127.0.0.1:%d%s", a->https ? "https" : "http", a->http_port, path);
    struct tu_http_opts o = {method, headers, body, body_len, ca, a->cert_file, a->key_file};
    struct tu_http_resp r;
    int status = tu_http_url(url, &o, &r);

    if (status == 0)
        fail_msg("%s %s: %s", method, path, r.error);
    if (resp != NULL) {
        *resp = r.body;
        r.body = NULL;
    }
    free(url);
    free(ca);
    tu_http_resp_free(&r);
    return status;
}

int tu_admin(const struct tu_authd *a, const char *method, const char *path, const char *body,
             json_t **json)
{
    const char *h[] = {"X-Tyk-Authorization: " ADMIN_SECRET, NULL};
    char *resp = NULL;
    int code = tu_http(a, method, path, h, body, body != NULL ? strlen(body) : 0, &resp);

    if (json != NULL) {
        *json = resp != NULL ? json_loads(resp, JSON_DECODE_ANY, NULL) : NULL;
        if (*json == NULL && resp != NULL && *resp != '\0')
            fail_msg("%s %s: reply is not JSON: %s", method, path, resp);
    }
    free(resp);
    return code;
}

/* ---- rpc ---- */

int tu_rpc_connect(const struct tu_authd *a)
{
    struct sockaddr_in sin;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)a->rpc_port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
        fail_msg("rpc connect: %s", strerror(errno));
    return fd;
}

int tu_send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int read_n(int fd, unsigned char *buf, size_t len, long deadline)
{
    size_t got = 0;

    while (got < len) {
        struct pollfd pfd = {fd, POLLIN, 0};
        long left = deadline - tu_now_ms();
        ssize_t n;

        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            return -1;
        n = recv(fd, buf + got, len - got, 0);
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

int tu_read_frame(int fd, unsigned char **payload, size_t *len, int timeout_ms)
{
    long deadline = tu_now_ms() + timeout_ms;
    unsigned char hdr[4];
    size_t n;

    if (read_n(fd, hdr, 4, deadline) < 0)
        return -1;
    n = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
    if (n > RPC_FRAME_MAX)
        return -1;
    *payload = xmalloc(n + 1);
    if (read_n(fd, *payload, n, deadline) < 0) {
        CB_FREE(*payload);
        return -1;
    }
    *len = n;
    return 0;
}

json_t *tu_rpc_wait_notification(int fd, const char *method, int timeout_ms)
{
    long deadline = tu_now_ms() + timeout_ms;

    for (;;) {
        long left = deadline - tu_now_ms();
        unsigned char *payload;
        size_t plen;
        msgpack_zone zone;
        struct rpc_msg m;
        const char *err;
        json_t *params = NULL;

        if (left <= 0 || tu_read_frame(fd, &payload, &plen, (int)left) < 0)
            return NULL;
        msgpack_zone_init(&zone, 4096);
        if (rpc_msg_decode(payload, plen, &zone, &m, &err) != RPC_OK) {
            msgpack_zone_destroy(&zone);
            free(payload);
            fail_msg("rpc frame does not decode: %s", err);
        }
        if (m.type == RPC_NOTIFY && m.method_len == strlen(method) &&
            memcmp(m.method, method, m.method_len) == 0)
            params = mpjson_to_json(&m.params);
        msgpack_zone_destroy(&zone);
        free(payload);
        if (params != NULL)
            return params;
    }
}

int tu_rpc_call(int fd, const char *method, json_t *params, json_t **result, json_t **error)
{
    static uint32_t next_id = 1;
    uint32_t id = next_id++;
    struct rpc_enc e;
    const unsigned char *frame;
    size_t flen;

    rpc_enc_init(&e);
    rpc_enc_request(&e, id, method);
    mpjson_pack(&e.pk, params);
    json_decref(params);
    if (rpc_enc_finish(&e, &frame, &flen) < 0 || tu_send_all(fd, frame, flen) < 0) {
        rpc_enc_destroy(&e);
        return -1;
    }
    rpc_enc_destroy(&e);
    for (;;) {
        unsigned char *payload;
        size_t plen;
        msgpack_zone zone;
        struct rpc_msg m;
        const char *err;
        int rc;

        if (tu_read_frame(fd, &payload, &plen, 10000) < 0)
            return -1;
        msgpack_zone_init(&zone, 4096);
        if (rpc_msg_decode(payload, plen, &zone, &m, &err) != RPC_OK) {
            msgpack_zone_destroy(&zone);
            free(payload);
            fail_msg("rpc reply does not decode: %s", err);
        }
        if (m.type != RPC_RESPONSE || m.msgid != id) {
            msgpack_zone_destroy(&zone);
            free(payload);
            continue;
        }
        if (m.error.type != MSGPACK_OBJECT_NIL) {
            *error = mpjson_to_json(&m.error);
            rc = 1;
        } else {
            *result = mpjson_to_json(&m.result);
            rc = 0;
        }
        msgpack_zone_destroy(&zone);
        free(payload);
        return rc;
    }
}

/* ---- asserts ---- */

void tu_assert_json_str(const json_t *o, const char *key, const char *want)
{
    const char *got = json_string_value(json_object_get(o, key));

    if (got == NULL || strcmp(got, want) != 0) {
        char *dump = json_dumps(o, JSON_COMPACT | JSON_ENCODE_ANY);

        fail_msg("%s: want \"%s\", got %s in %s", key, want, got != NULL ? got : "(missing)",
                 dump != NULL ? dump : "?");
    }
}

json_t *tu_json(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);

    if (j == NULL)
        fail_msg("bad JSON in test: %s: %s", e.text, text);
    return j;
}

void tu_assert_readme_documents(const struct cfg_key *keys, size_t n, const char *heading)
{
    char *path = tu_srcpath("README.md"), *text = tu_read_file(path, NULL), *start = NULL, *end;

    if (text == NULL || (start = strstr(text, heading)) == NULL) {
        fail_msg("README.md has no section '%s'", heading);
        return;
    }
    end = strstr(start + strlen(heading), "\n## ");
    if (end != NULL)
        *end = '\0';
    for (size_t i = 0; i < n; i++) {
        const char *p = keys[i].path, *dot = strrchr(p, '.');
        char *full = xasprintf("`%s`", p);
        bool found = strstr(start, full) != NULL;

        /* Grouped rows list a section's keys as `section.{a,b,c}` or `section.a`, `section.b`. */
        if (!found && dot != NULL) {
            char *sect = xasprintf("`%.*s.{", (int)(dot - p), p);
            const char *row = strstr(start, sect), *leaf = row != NULL ? strstr(row, dot + 1) : NULL;

            found = leaf != NULL && leaf < strchr(row, '}');
            free(sect);
        }
        if (!found)
            fail_msg("README.md's section '%s' lacks %s", heading, p);
        free(full);
    }
    free(text);
    free(path);
}

/* ---- PKI files ---- */

char *tu_pki_text(const char *name)
{
    char *path = tu_pki_file(name), *s = tu_read_file(path, NULL);

    if (s == NULL)
        fail_msg("missing PKI file %s", path);
    free(path);
    return s;
}

X509 *tu_pki_x509(const char *name)
{
    char *pem = tu_pki_text(name);
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

    if (x == NULL)
        fail_msg("no certificate in PKI file %s", name);
    BIO_free(b);
    free(pem);
    return x;
}

char *tu_pki_sha(const char *name)
{
    X509 *x = tu_pki_x509(name);
    char *out = xmalloc(CERT_SHA_HEX_LEN + 1);

    certinfo_x509_sha256_hex(x, out);
    X509_free(x);
    return out;
}

int tu_sh(const char *cmd, const char *logdir)
{
    char *full = xasprintf("( %s ) >'%s/cmd.log' 2>&1", cmd, logdir);
    int st = system(full);

    free(full);
    st = st == -1 ? -1 : WEXITSTATUS(st);
    if (st != 0) {
        full = xasprintf("echo 'command failed: %s'; cat '%s/cmd.log'", cmd, logdir);
        if (system(full) != 0)
            print_error("(cannot show %s/cmd.log)\n", logdir);
        free(full);
    }
    return st;
}
