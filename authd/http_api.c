/*
 * http_api: evhttp glue. Every request gets a struct api_req; the route table below
 * decides the handler; api_reply_* is the only place that calls evhttp_send_reply, so a
 * request is answered exactly once. evhttp keeps an incoming request alive until it is
 * answered even if the client has gone (libevent 2.1 http.c), so asynchronous handlers
 * may always reply.
 */
#include "authd/http_api.h"

#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "authd/api_tls.h"
#include "authd/authd.h"
#include "authd/authd_cfg.h"
#include "authd/routes.h"
#include "authd/stats.h"
#include "common/log.h"
#include "common/strutil.h"

#define ROUTE_NOAUTH (1u << 0)  /* no X-Tyk-Authorization needed */
#define ROUTE_PREFIX (1u << 1)  /* path may continue after "<path>/" */
#define ROUTE_METRICS (1u << 2) /* auth only when metrics_require_secret */

struct route {
    const char *path;
    unsigned methods; /* EVHTTP_REQ_* mask */
    unsigned flags;
    api_handler handler;
};

/* Exact paths first, then prefixes; the first match wins. */
static const struct route routes[] = {
    {"/hello", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, ROUTE_NOAUTH, route_hello},
    {"/metrics", EVHTTP_REQ_GET, ROUTE_NOAUTH | ROUTE_METRICS, route_metrics},
    {"/tyk/reload", EVHTTP_REQ_GET | EVHTTP_REQ_POST, 0, route_reload},
    {"/tyk/reload/group", EVHTTP_REQ_GET | EVHTTP_REQ_POST, 0, route_reload},
    {"/tyk/certs", EVHTTP_REQ_GET | EVHTTP_REQ_POST, 0, route_certs},
    {"/tyk/certs", EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_DELETE, ROUTE_PREFIX,
     route_certs},
    {"/tyk/keys/create", EVHTTP_REQ_POST, 0, route_keys_create},
    {"/tyk/keys", EVHTTP_REQ_GET | EVHTTP_REQ_POST, 0, route_keys},
    {"/tyk/keys", EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE,
     ROUTE_PREFIX, route_keys},
    {"/tyk/apis", EVHTTP_REQ_GET | EVHTTP_REQ_POST, 0, route_apis},
    {"/tyk/apis", EVHTTP_REQ_GET | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE, ROUTE_PREFIX, route_apis},
};

struct http_api {
    struct authd *ad;
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
    struct apitls *tls; /* borrowed; NULL = plain HTTP */
    int port;
    size_t inflight;
};

static void http_on_request(struct evhttp_request *req, void *arg);
static struct bufferevent *http_on_tls_bev(struct event_base *base, void *arg);
static const struct route *route_match(const char *path, const char **tail);
static bool admin_authorized(struct api_req *r);
static void api_req_free(struct api_req *r);

/* ---- public functions ---- */

struct http_api *http_api_new(struct authd *ad, const char *address, int port,
                              struct apitls *tls, char **err)
{
    struct http_api *h = xcalloc(1, sizeof(*h));
    evutil_socket_t fd;
    struct sockaddr_storage ss;
    ev_socklen_t sl = sizeof(ss);

    h->ad = ad;
    h->http = evhttp_new(ad->base);
    if (h->http == NULL)
        die("evhttp_new failed");
    evhttp_set_max_body_size(h->http, API_MAX_BODY);
    evhttp_set_max_headers_size(h->http, 64 * 1024);
    evhttp_set_timeout(h->http, 30);
    evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
    evhttp_set_gencb(h->http, http_on_request, h);
    h->tls = tls;
    if (tls != NULL)
        evhttp_set_bevcb(h->http, http_on_tls_bev, h);
    h->sock = evhttp_bind_socket_with_handle(h->http, address, (ev_uint16_t)port);
    if (h->sock == NULL) {
        *err = xasprintf("cannot bind the management API to %s:%d", address, port);
        http_api_free(h);
        return NULL;
    }
    fd = evhttp_bound_socket_get_fd(h->sock);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        h->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    return h;
}

int http_api_port(const struct http_api *h)
{
    return h->port;
}

size_t http_api_inflight(const struct http_api *h)
{
    return h->inflight;
}

void http_api_stop_accepting(struct http_api *h)
{
    if (h->sock != NULL) {
        evhttp_del_accept_socket(h->http, h->sock);
        h->sock = NULL;
    }
}

void http_api_free(struct http_api *h)
{
    if (h == NULL)
        return;
    if (h->http != NULL)
        evhttp_free(h->http);
    free(h);
}

void api_reply_json(struct api_req *r, int code, json_t *body)
{
    struct evkeyvalq *oh = evhttp_request_get_output_headers(r->req);
    struct evbuffer *out = evbuffer_new();
    struct http_api *h = r->ad->http;

    CB_ASSERT(!r->replied);
    r->replied = true;
    evhttp_add_header(oh, "Content-Type", "application/json");
    evhttp_add_header(oh, "Cache-Control", "no-cache, no-store, must-revalidate");
    evhttp_add_header(oh, "X-Content-Type-Options", "nosniff");
    if (body != NULL) {
        char *s = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);

        if (s != NULL) {
            evbuffer_add(out, s, strlen(s));
            evbuffer_add(out, "\n", 1);
            free(s);
        }
        json_decref(body);
    }
    evhttp_send_reply(r->req, code, NULL, out);
    evbuffer_free(out);
    stats_http(r->ad->stats, r->route, code);
    if (code >= 500)
        log_warn("http %s -> %d", r->route, code);
    h->inflight--;
    api_req_free(r);
}

void api_reply_error(struct api_req *r, int code, const char *msg)
{
    api_reply_json(r, code, json_pack("{s:s, s:s}", "status", "error", "message", msg));
}

void api_reply_status_ok(struct api_req *r, const char *msg)
{
    api_reply_json(r, 200, json_pack("{s:s, s:s}", "status", "ok", "message", msg));
}

void api_reply_action(struct api_req *r, const char *key, const char *action)
{
    api_reply_json(r, 200,
                   json_pack("{s:s, s:s, s:s}", "key", key, "status", "ok", "action", action));
}

void api_reply_text(struct api_req *r, int code, const char *content_type,
                    struct evbuffer *buf)
{
    struct http_api *h = r->ad->http;

    CB_ASSERT(!r->replied);
    r->replied = true;
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "Content-Type", content_type);
    evhttp_send_reply(r->req, code, NULL, buf);
    stats_http(r->ad->stats, r->route, code);
    h->inflight--;
    api_req_free(r);
}

void api_reply_unavailable(struct api_req *r, const char *what)
{
    char msg[128];

    snprintf(msg, sizeof(msg), "%s is unavailable, try again later", what);
    api_reply_error(r, 503, msg);
}

const char *api_query(const struct api_req *r, const char *name)
{
    return evhttp_find_header(&r->query, name);
}

json_t *api_body_json(struct api_req *r)
{
    json_error_t jerr;
    json_t *v = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &jerr);

    if (v == NULL || !json_is_object(v)) {
        log_info("http %s: rejected body: %s (line %d column %d)", r->route,
                 v == NULL ? jerr.text : "not a JSON object", jerr.line, jerr.column);
        json_decref(v);
        api_reply_error(r, 400, "Unmarshalling failed");
        return NULL;
    }
    return v;
}

/* ---- static helpers ---- */

/*
 * Every accepted connection gets a TLS bufferevent (evhttp sets the fd afterwards). Never
 * NULL: evhttp would fall back to a plain bufferevent and serve the API unencrypted.
 */
static struct bufferevent *http_on_tls_bev(struct event_base *base, void *arg)
{
    struct http_api *h = arg;
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        base, -1, apitls_ssl_new(h->tls), BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);

    if (bev == NULL)
        die("http_api: bufferevent_openssl_socket_new failed");
    /* Clients that close without close_notify are common and harmless here. */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

static void http_on_request(struct evhttp_request *req, void *arg)
{
    struct http_api *h = arg;
    struct api_req *r = xcalloc(1, sizeof(*r));
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *rawpath = evhttp_uri_get_path(uri), *q = evhttp_uri_get_query(uri);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    const struct route *rt;
    size_t n;

    r->req = req;
    r->ad = h->ad;
    r->route = "unknown";
    r->method = evhttp_request_get_command(req);
    TAILQ_INIT(&r->query);
    h->inflight++;
    r->path = evhttp_uridecode(rawpath != NULL && *rawpath ? rawpath : "/", 0, &n);
    if (r->path == NULL || strlen(r->path) != n ||
        (q != NULL && evhttp_parse_query_str(q, &r->query) < 0)) {
        api_reply_error(r, 400, "Malformed request URI");
        return;
    }
    n = evbuffer_get_length(in);
    r->body = xmalloc(n + 1);
    r->body_len = evbuffer_remove(in, r->body, n) == (int)n ? n : 0;
    r->body[r->body_len] = '\0';

    rt = route_match(r->path, &r->tail);
    if (rt != NULL)
        r->route = rt->path;
    if ((rt == NULL || !(rt->flags & ROUTE_NOAUTH) ||
         ((rt->flags & ROUTE_METRICS) && h->ad->cfg->metrics_require_secret)) &&
        !admin_authorized(r)) {
        stats_inc(h->ad->stats, ST_ADMIN_AUTH_FAILURES);
        log_info("http %s: attempted administrative access with invalid or missing key",
                 r->route);
        api_reply_error(r, 403, "Attempted administrative access with invalid or missing key!");
        return;
    }
    if (rt == NULL) {
        api_reply_error(r, 404, "Not found");
        return;
    }
    if (!(rt->methods & r->method)) {
        api_reply_error(r, 405, "Method not supported");
        return;
    }
    rt->handler(r);
}

static const struct route *route_match(const char *path, const char **tail)
{
    for (size_t i = 0; i < CB_ARRAY_LEN(routes); i++) {
        size_t n = strlen(routes[i].path);

        if (strncmp(path, routes[i].path, n) != 0)
            continue;
        if (!(routes[i].flags & ROUTE_PREFIX) && (path[n] == '\0' || strcmp(path + n, "/") == 0)) {
            *tail = "";
            return &routes[i];
        }
        if ((routes[i].flags & ROUTE_PREFIX) && path[n] == '/' && path[n + 1] != '\0') {
            *tail = path + n + 1;
            return &routes[i];
        }
    }
    *tail = "";
    return NULL;
}

static bool admin_authorized(struct api_req *r)
{
    const char *got = evhttp_find_header(evhttp_request_get_input_headers(r->req),
                                         "X-Tyk-Authorization");
    const char *want = r->ad->cfg->secret;

    return got != NULL && ct_equal(got, strlen(got), want, strlen(want));
}

static void api_req_free(struct api_req *r)
{
    evhttp_clear_headers(&r->query);
    free(r->path);
    free(r->body);
    free(r);
}
