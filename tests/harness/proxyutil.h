/*
 * proxyutil: the end-to-end side of the harness: certbound-proxy and the echo upstream as
 * child processes, and an HTTPS client (libcurl) that presents a client certificate of the
 * test PKI, sets SNI and Host independently, and can keep one connection alive across
 * requests. Every wait is bounded.
 */
#ifndef CB_TESTS_PROXYUTIL_H
#define CB_TESTS_PROXYUTIL_H

#include <stdbool.h>
#include <sys/types.h>

#include <curl/curl.h>

#include "tests/harness/testutil.h"

struct tu_upstream {
    char *dir;
    pid_t pid;
    int port;
};
void tu_upstream_start(struct tu_upstream *u);
/* An HTTPS echo upstream with the PKI files cert and key ("server.crt", "server.key");
 * with client_ca (a PKI file name, or NULL) it requires a client certificate issued by it
 * and echoes its subject as "client_subject". */
void tu_upstream_start_tls(struct tu_upstream *u, const char *cert, const char *key,
                           const char *client_ca);
void tu_upstream_stop(struct tu_upstream *u);

struct tu_proxy {
    char *dir;
    char *log_path;
    pid_t pid;
    int port;
};
/* Start certbound-proxy against authd (one worker, the PKI's server certificate for every
 * name, TLS) with extra_json merged over that base config; waits for its ready file. */
void tu_proxy_start(struct tu_proxy *p, const struct tu_authd *a, const char *extra_json);
/* Start and expect start-up to fail: returns the exit status, *out the log (heap). */
int tu_proxy_start_fails(const struct tu_authd *a, const char *extra_json, char **out);
/* SIGTERM and wait (bounded); fails on a sanitizer report or a non-zero exit. */
void tu_proxy_stop(struct tu_proxy *p);
bool tu_proxy_log_contains(const struct tu_proxy *p, const char *needle);

struct tu_req {
    const char *method;        /* NULL = GET */
    const char *sni;           /* server name to connect with (resolved to 127.0.0.1);
                                * NULL = "localhost" */
    const char *host;          /* Host header when it must differ from sni, else NULL */
    const char *path;          /* NULL = "/" */
    const char *cert;          /* PKI base name ("client1" → client1.crt + client1.key), or
                                * a path to a PEM with the chain to send; NULL = none */
    const char *key;           /* key file when cert is a path; else NULL */
    const char *token;         /* sent as "Authorization: <token>" unless NULL */
    const char *const *headers; /* more "Name: value" lines, NULL-terminated, or NULL */
    const char *body;          /* request body (POST), or NULL */
    bool plain;                /* http:// instead of https:// */
    int tls_max;               /* 0, or 12 to cap the client at TLS 1.2 */
};

struct tu_resp {
    int status;                /* HTTP status, or -1 when no HTTP answer (TLS failure …) */
    char *body;                /* heap, NUL-terminated, may be NULL */
    char err[CURL_ERROR_SIZE]; /* libcurl's message when status is -1 */
    long connects;             /* new connections libcurl made for this request */
};

/* One request. reuse: a CURL handle kept across calls to keep the connection alive, or
 * NULL for a fresh connection. */
void tu_request(const struct tu_proxy *p, CURL *reuse, const struct tu_req *r,
                struct tu_resp *out);
void tu_resp_free(struct tu_resp *r);
/* The {"error": …} message of a proxy reply ("" when absent). */
const char *tu_resp_error(const struct tu_resp *r);
/* The echo upstream's view of a forwarded header (lowercase name), or NULL. */
const char *tu_resp_upstream_header(const struct tu_resp *r, const char *name);

#endif
