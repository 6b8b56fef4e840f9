/*
 * authz internals exposed for unit tests (STYLE 2.10); only proxy/authz.c and its tests
 * include this.
 */
#ifndef CB_PROXY_AUTHZ_INT_H
#define CB_PROXY_AUTHZ_INT_H

#include "proxy/apis.h"
#include "proxy/http_head.h"

/*
 * The request's credential (spec §4.3, Tyk's getAuthToken): the header auth_header_name
 * (case-insensitive name), then, when enabled, a non-empty query parameter param_name
 * (URL-decoded) and then a non-empty cookie cookie_name override it; finally a leading
 * case-insensitive "Bearer " is removed. Heap string, or NULL when there is none (an empty
 * value counts as none).
 */
char *authz_extract_token(const struct api *api, const struct http_head *h);

#endif
