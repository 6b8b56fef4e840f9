/*
 * http_head: a parsed HTTP/1.1 request head, as the connection module hands it to routing
 * and authorization. Every pointer borrows the connection's head buffer and is valid until
 * the request is finished; strings are not NUL-terminated (use the lengths).
 */
#ifndef CB_PROXY_HTTP_HEAD_H
#define CB_PROXY_HTTP_HEAD_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_HEAD_MAX_HEADERS 100

struct http_hdr {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

struct http_head {
    const char *method;     /* "GET" … */
    size_t method_len;
    const char *path;       /* request-target path, percent-encoding untouched, starts with '/' */
    size_t path_len;
    const char *query;      /* after '?', without it; NULL when absent */
    size_t query_len;
    const char *host;       /* Host header with any :port removed, as sent (case kept) */
    size_t host_len;
    int http_minor;         /* 1.0 or 1.1 */
    struct http_hdr hdrs[HTTP_HEAD_MAX_HEADERS];
    size_t nhdrs;
};

/* First header named name (case-insensitive), or NULL. */
const struct http_hdr *http_head_get(const struct http_head *h, const char *name);

#endif
