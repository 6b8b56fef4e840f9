/*
 * http_util: pure helpers of the HTTP relay (see the header). Everything here is a
 * function of its arguments, so tests/unit/test_proxy_http.c covers it without sockets.
 */
#include "proxy/http_util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

static bool ieq(const char *a, size_t alen, const char *lit);
static bool has_iprefix(const char *a, size_t alen, const char *lit);
static bool host_char_ok(unsigned char c);

/* ---- public functions ---- */

int hu_split_host(const char *v, size_t len, const char **host, size_t *hlen)
{
    const char *end = v + len, *p, *colon = NULL;

    if (len == 0)
        return -1;
    if (v[0] == '[') {
        p = memchr(v, ']', len);
        if (p == NULL || p == v + 1)
            return -1;
        *host = v + 1;
        *hlen = (size_t)(p - v - 1);
        for (size_t i = 0; i < *hlen; i++) {
            unsigned char c = (unsigned char)(*host)[i];

            if (!(c == ':' || c == '.' || c == '%' || (c >= '0' && c <= '9') ||
                  (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
                return -1;
        }
        p++;
        if (p == end)
            return 0;
        if (*p != ':')
            return -1;
        colon = p;
    } else {
        colon = memchr(v, ':', len);
        *host = v;
        *hlen = colon != NULL ? (size_t)(colon - v) : len;
        if (*hlen == 0)
            return -1;
        for (size_t i = 0; i < *hlen; i++) {
            if (!host_char_ok((unsigned char)v[i]))
                return -1;
        }
    }
    if (colon != NULL) {
        /* An empty port is allowed (RFC 3986 §3.2.3); digits only otherwise. */
        for (p = colon + 1; p < end; p++) {
            if (*p < '0' || *p > '9')
                return -1;
        }
        if (end - colon - 1 > 5)
            return -1;
    }
    return 0;
}

bool hu_host_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen > 0 && a[alen - 1] == '.')
        alen--;
    if (blen > 0 && b[blen - 1] == '.')
        blen--;
    return alen == blen && strncasecmp(a, b, alen) == 0;
}

char *hu_upstream_path(const char *path, size_t plen, const char *query, size_t qlen,
                       const char *listen_path, bool strip, const char *target_path)
{
    size_t llen = listen_path != NULL ? strlen(listen_path) : 0;
    size_t tlen = target_path != NULL ? strlen(target_path) : 0;
    size_t cap, o = 0;
    char *out;

    if (strip && llen > 0 && plen >= llen && memcmp(path, listen_path, llen) == 0) {
        path += llen;
        plen -= llen;
    }
    /* singleJoiningSlash: trim '/' on the right of the target, on the left of the path. */
    while (tlen > 0 && target_path[tlen - 1] == '/')
        tlen--;
    while (plen > 0 && path[0] == '/') {
        path++;
        plen--;
    }
    cap = tlen + plen + qlen + 4;
    out = xmalloc(cap);
    memcpy(out, target_path, tlen);
    o = tlen;
    if (plen > 0) {
        out[o++] = '/';
        memcpy(out + o, path, plen);
        o += plen;
    }
    if (o == 0)
        out[o++] = '/';
    if (query != NULL) {
        out[o++] = '?';
        memcpy(out + o, query, qlen);
        o += qlen;
    }
    out[o] = '\0';
    return out;
}

bool hu_drop_header(enum hu_dir dir, const char *name, size_t nlen)
{
    if (ieq(name, nlen, "connection") || ieq(name, nlen, "keep-alive") || ieq(name, nlen, "te") ||
        ieq(name, nlen, "upgrade") || has_iprefix(name, nlen, "proxy-"))
        return true;
    if (dir == HU_TO_CLIENT)
        return false;
    return ieq(name, nlen, "client-cert") || ieq(name, nlen, "client-cert-chain") ||
           has_iprefix(name, nlen, "x-certbound-") || ieq(name, nlen, "x-forwarded-proto") ||
           ieq(name, nlen, "x-forwarded-host");
}

bool hu_connection_lists(const char *value, size_t vlen, const char *name, size_t nlen)
{
    char tok[64];

    if (ieq(name, nlen, "content-length") || ieq(name, nlen, "transfer-encoding") ||
        ieq(name, nlen, "host") || nlen >= sizeof(tok))
        return false;
    memcpy(tok, name, nlen);
    tok[nlen] = '\0';
    return hu_has_token(value, vlen, tok);
}

bool hu_has_token(const char *value, size_t vlen, const char *tok)
{
    const char *p = value, *end = value + vlen, *s, *e;
    size_t tlen = strlen(tok);

    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        s = p;
        while (p < end && *p != ',')
            p++;
        e = p;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - s) == tlen && strncasecmp(s, tok, tlen) == 0)
            return true;
    }
    return false;
}

bool hu_is_token(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL)))
            return false;
    }
    return true;
}

bool hu_path_unsafe(const char *path, size_t len)
{
    size_t seg = 0; /* start of the current segment */

    for (size_t i = 0; i <= len; i++) {
        if (i == len || path[i] == '/') {
            size_t n = i - seg;

            if ((n == 1 && path[seg] == '.') ||
                (n == 2 && path[seg] == '.' && path[seg + 1] == '.'))
                return true;
            seg = i + 1;
        } else if (path[i] == '\\') {
            return true;
        } else if (path[i] == '%' && len - i >= 3) {
            char h = path[i + 1], l = (char)(path[i + 2] | 0x20);

            if ((h == '2' && (l == 'e' || l == 'f')) || (h == '5' && l == 'c'))
                return true;
        }
    }
    return false;
}

char *hu_error_body(const char *msg)
{
    json_t *o = json_pack("{s:s}", "error", msg != NULL ? msg : "");
    char *s;

    if (o == NULL) /* msg not UTF-8 */
        o = json_pack("{s:s}", "error", "error");
    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (s == NULL)
        return xstrdup("{\"error\":\"error\"}");
    /* jansson's allocator is malloc: hand back a string free() accepts. */
    return s;
}

/* ---- helpers ---- */

static bool ieq(const char *a, size_t alen, const char *lit)
{
    return strlen(lit) == alen && strncasecmp(a, lit, alen) == 0;
}

static bool has_iprefix(const char *a, size_t alen, const char *lit)
{
    size_t n = strlen(lit);

    return alen >= n && strncasecmp(a, lit, n) == 0;
}

/* reg-name of RFC 3986 (unreserved, pct-encoded, sub-delims) minus what never occurs in a
 * DNS name or IPv4 literal we would route on. */
static bool host_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~' || c == '%';
}
