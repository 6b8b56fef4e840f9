/*
 * http_api: the management API's HTTP server on evhttp (DESIGN §4): bind, limits (1 MiB
 * bodies, header size, timeouts), admin-secret check, route dispatch and the exactly-once
 * reply helpers. Not for the route handlers themselves (routes_*.c).
 */
#ifndef CB_AUTHD_HTTP_API_H
#define CB_AUTHD_HTTP_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "common/xmem.h"

struct apitls;
struct authd;
struct http_api;

#define API_MAX_BODY (1024 * 1024)

/* One request in flight. Owned by http_api; valid until one api_reply_* call, after which
 * it is freed. Handlers that go asynchronous keep the pointer and reply later. */
struct api_req {
    struct evhttp_request *req;
    struct authd *ad;
    const char *route;          /* route name for metrics (static) */
    enum evhttp_cmd_type method;
    char *path;                 /* decoded path */
    const char *tail;           /* the part after the route prefix (points into path) */
    struct evkeyvalq query;     /* decoded query parameters */
    char *body;                 /* NUL-terminated copy of the body (may contain NULs) */
    size_t body_len;
    bool replied;
};

typedef void (*api_handler)(struct api_req *r);

/* Bind address:port (port 0 = any; the bound port is available via http_api_port). With
 * tls (borrowed, must outlive the server) every connection is TLS (DESIGN §4). */
struct http_api *http_api_new(struct authd *ad, const char *address, int port,
                              struct apitls *tls, char **err);
int http_api_port(const struct http_api *h);
/* Number of requests accepted and not yet answered. */
size_t http_api_inflight(const struct http_api *h);
/* Stop accepting new connections (in-flight requests still get their answers). */
void http_api_stop_accepting(struct http_api *h);
void http_api_free(struct http_api *h);

/* Reply with body (reference stolen; NULL = empty body) and free r. Exactly once. */
void api_reply_json(struct api_req *r, int code, json_t *body);
/* {"status":"error","message":msg} */
void api_reply_error(struct api_req *r, int code, const char *msg);
/* {"status":"ok","message":msg} */
void api_reply_status_ok(struct api_req *r, const char *msg);
/* {"key":key,"status":"ok","action":action} */
void api_reply_action(struct api_req *r, const char *key, const char *action);
/* Plain text (for /metrics); buf is drained. */
void api_reply_text(struct api_req *r, int code, const char *content_type,
                    struct evbuffer *buf);
/* 503 with a message naming the unavailable dependency. */
void api_reply_unavailable(struct api_req *r, const char *what);

/* Query parameter value (borrowed) or NULL. */
const char *api_query(const struct api_req *r, const char *name);
/* Parse the body as JSON; on failure reply 400 "Unmarshalling failed", log the reason and
 * return NULL (r is then gone). */
json_t *api_body_json(struct api_req *r);

#endif
