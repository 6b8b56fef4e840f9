/*
 * http_head: lookups in a parsed request head. The head itself is filled by http_conn.c
 * from http_parser's callbacks; this file stays free of I/O so tests can build heads by hand.
 */
#include "proxy/http_head.h"

#include <string.h>
#include <strings.h>

const struct http_hdr *http_head_get(const struct http_head *h, const char *name)
{
    size_t n = strlen(name);

    for (size_t i = 0; i < h->nhdrs; i++) {
        if (h->hdrs[i].name_len == n && strncasecmp(h->hdrs[i].name, name, n) == 0)
            return &h->hdrs[i];
    }
    return NULL;
}
