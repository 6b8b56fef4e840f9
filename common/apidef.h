/*
 * apidef: the auth-relevant fields of a Tyk Classic API definition (spec §3, §4; the list
 * in schema/api.md) with Tyk's defaults, and the credential they select from a request
 * (spec §4.3, Tyk's getAuthToken). Shared by the proxy (apis, authz) and authd's /check
 * endpoint, so that both read a definition and a request the same way. Pure: no I/O, no
 * logging.
 */
#ifndef CB_COMMON_APIDEF_H
#define CB_COMMON_APIDEF_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* Every pointer borrows the definition it was parsed from. */
struct apidef {
    const char *api_id;
    const char *org_id; /* [""] */
    bool active;        /* [true] */
    bool use_keyless;
    bool use_standard_auth;
    bool use_mutual_tls_auth;          /* the static allowlist */
    const json_t *client_certificates; /* its certificate ids; NULL or not an array = none */
    bool use_certificate;              /* auth_configs.authToken.use_certificate */
    const char *auth_header_name;      /* [Authorization] */
    bool use_param;                    /* also on when a param_name is given, as Tyk */
    const char *param_name;            /* [same as auth_header_name] */
    bool use_cookie;                   /* also on when a cookie_name is given, as Tyk */
    const char *cookie_name;           /* [same as auth_header_name] */
};

/*
 * Read def's fields into d (absent or mistyped fields take the defaults above). api_id is
 * used when def has no "api_id" string (NULL = ""). def (may be NULL) must outlive d.
 */
void apidef_parse(struct apidef *d, const json_t *def, const char *api_id);

/* The string at o[key], or dflt when o is not an object or the value is not a string. */
const char *apidef_str(const json_t *o, const char *key, const char *dflt);
/* The boolean at o[key], or dflt when o is not an object or the value is not a boolean. */
bool apidef_bool(const json_t *o, const char *key, bool dflt);

/*
 * A request's headers for apidef_token: the value of the i-th (from 0) header called name
 * (case-insensitive), its length in *len; NULL when there are no more.
 */
typedef const char *(*apidef_header_cb)(void *arg, const char *name, size_t i, size_t *len);

/*
 * The request's credential: the first header auth_header_name (surrounding blanks
 * trimmed); then, when enabled, a non-empty query parameter param_name and then a
 * non-empty cookie cookie_name (searched in every Cookie header) override it; finally a
 * leading case-insensitive "Bearer " is removed. The query (after '?', NULL when none) is
 * read as Go's url.ParseQuery: '+' and %XX decoded in names and values, a pair with a bad
 * escape or a ';' ignored, the first match wins. Heap string the caller frees, or NULL when
 * there is none (an empty value counts as none).
 */
char *apidef_token(const struct apidef *d, apidef_header_cb header, void *arg, const char *query,
                   size_t query_len);

#endif
