/*
 * http_util: the pure string rules of the HTTP relay: Host parsing, the SNI/Host match of
 * DESIGN §6, path rewriting (strip_listen_path, target path), which headers travel to the
 * upstream and back (RFC 9110 §7.6.1 hop-by-hop, DESIGN §6's stripped headers), and the
 * JSON error body. No I/O, no allocation except where a result says "heap".
 */
#ifndef CB_PROXY_HTTP_UTIL_H
#define CB_PROXY_HTTP_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include "common/xmem.h"

/*
 * The host part of a Host header value (or an authority): the port removed, IPv6 brackets
 * removed ("[::1]:8443" → "::1"). *host borrows v. -1 when v is empty, has a bad bracket,
 * a non-numeric port, or characters that cannot be in a host name (space, '/', '@', ...).
 */
int hu_split_host(const char *v, size_t len, const char **host, size_t *hlen) CB_WARN_UNUSED;

/* ASCII case-insensitive equality of two byte strings; a trailing '.' on either is ignored. */
bool hu_host_eq(const char *a, size_t alen, const char *b, size_t blen);

/*
 * The path sent upstream (Tyk's StripListenPath and singleJoiningSlash): with strip, the
 * listen_path prefix is removed and a leading '/' ensured; then target_path (no trailing
 * '/') and the remaining path are joined with exactly one '/'; an empty result is "/".
 * query (NULL = none) is appended after '?'. Heap, NUL-terminated.
 */
char *hu_upstream_path(const char *path, size_t plen, const char *query, size_t qlen,
                       const char *listen_path, bool strip, const char *target_path);

enum hu_dir {
    HU_TO_UPSTREAM = 0, /* a client's request header */
    HU_TO_CLIENT        /* an upstream's response header */
};

/*
 * Whether a header must not be forwarded as is: hop-by-hop headers (Connection,
 * Keep-Alive, Proxy-*, TE, Upgrade), and towards the upstream also any client-sent
 * Client-Cert, Client-Cert-Chain, X-Certbound-* and the X-Forwarded-* headers the proxy
 * sets itself (X-Forwarded-For is appended to, by the caller). Transfer-Encoding,
 * Content-Length and Trailer are kept: bodies keep their framing (a chunked request body is
 * re-framed, see http_relay.c). Host is the caller's business (absolute-form).
 */
bool hu_drop_header(enum hu_dir dir, const char *name, size_t nlen);

/* Whether a Connection header value (comma-separated tokens) lists name. The framing
 * headers (Content-Length, Transfer-Encoding, Host) are never reported as listed. */
bool hu_connection_lists(const char *value, size_t vlen, const char *name, size_t nlen);

/* Whether s is a token (RFC 9110 §5.6.2: one or more tchar), as a header name must be. */
bool hu_is_token(const char *s, size_t len);

/*
 * Whether a request path must be refused before routing matches its prefix: a dot-segment
 * ("." or ".." as a whole segment), a backslash, or a percent-encoded '.', '/' or '\'
 * (%2e, %2f, %5c in any case). Upstreams may resolve any of these to another path.
 */
bool hu_path_unsafe(const char *path, size_t len);

/* {"error":"<msg>"} with msg JSON-escaped. Heap. */
char *hu_error_body(const char *msg);

/* Whether a header value has token tok in its comma-separated list (case-insensitive). */
bool hu_has_token(const char *value, size_t vlen, const char *tok);

#endif
