/* apidefs: shape validation and SQL of API definitions. */
#include "authd/apidefs.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "authd/authd.h"
#include "common/log.h"

struct field_type {
    const char *path; /* dotted */
    json_type type;
};

/* Types of the fields we interpret; anything else is stored as given. */
static const struct field_type field_types[] = {
    {"api_id", JSON_STRING},
    {"name", JSON_STRING},
    {"org_id", JSON_STRING},
    {"active", JSON_TRUE},
    {"domain", JSON_STRING},
    {"proxy", JSON_OBJECT},
    {"proxy.listen_path", JSON_STRING},
    {"proxy.target_url", JSON_STRING},
    {"proxy.strip_listen_path", JSON_TRUE},
    {"proxy.transport", JSON_OBJECT},
    {"proxy.transport.ssl_insecure_skip_verify", JSON_TRUE},
    {"proxy.transport.ssl_min_version", JSON_INTEGER},
    {"proxy.transport.ssl_max_version", JSON_INTEGER},
    {"proxy.transport.ssl_ciphers", JSON_ARRAY},
    {"proxy.transport.ssl_force_common_name_check", JSON_TRUE},
    {"use_keyless", JSON_TRUE},
    {"use_standard_auth", JSON_TRUE},
    {"auth_configs", JSON_OBJECT},
    {"auth_configs.authToken", JSON_OBJECT},
    {"auth_configs.authToken.auth_header_name", JSON_STRING},
    {"auth_configs.authToken.use_param", JSON_TRUE},
    {"auth_configs.authToken.param_name", JSON_STRING},
    {"auth_configs.authToken.use_cookie", JSON_TRUE},
    {"auth_configs.authToken.cookie_name", JSON_STRING},
    {"auth_configs.authToken.use_certificate", JSON_TRUE},
    {"use_mutual_tls_auth", JSON_TRUE},
    {"client_certificates", JSON_ARRAY},
    {"certificates", JSON_ARRAY},
    {"upstream_certificates", JSON_OBJECT},
    {"upstream_certificates_disabled", JSON_TRUE},
    {"pinned_public_keys", JSON_OBJECT},
    {"certificate_pinning_disabled", JSON_TRUE},
};

static const json_t *get_path(const json_t *o, const char *path)
{
    char buf[128];
    char *save = NULL, *tok;

    snprintf(buf, sizeof(buf), "%s", path);
    for (tok = strtok_r(buf, ".", &save); tok != NULL && o != NULL;
         tok = strtok_r(NULL, ".", &save))
        o = json_object_get(o, tok);
    return o;
}

static bool type_ok(const json_t *v, json_type t)
{
    if (json_is_null(v))
        return true;
    if (t == JSON_TRUE)
        return json_is_boolean(v);
    return json_typeof(v) == t;
}

static char *check_strings(const json_t *v, const char *path, bool map)
{
    const char *k;
    const json_t *e;
    size_t i;

    if (map) {
        json_object_foreach((json_t *)v, k, e) {
            if (!json_is_string(e))
                return xasprintf("%s: values must be strings", path);
        }
    } else {
        json_array_foreach(v, i, e) {
            if (!json_is_string(e))
                return xasprintf("%s: entries must be strings", path);
        }
    }
    return NULL;
}

static char *check_target_url(const char *url)
{
    struct evhttp_uri *u = evhttp_uri_parse_with_flags(url, 0);
    const char *scheme = u != NULL ? evhttp_uri_get_scheme(u) : NULL;
    const char *host = u != NULL ? evhttp_uri_get_host(u) : NULL;
    bool ok = scheme != NULL && (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0) &&
              host != NULL && *host != '\0';

    if (u != NULL)
        evhttp_uri_free(u);
    return ok ? NULL : xstrdup("proxy.target_url: invalid URL (want http:// or https://host)");
}

/* ---- public functions ---- */

char *apidefs_validate(const json_t *def, bool enforce_verify)
{
    const json_t *lp, *tu, *v;
    char *err;

    for (size_t i = 0; i < CB_ARRAY_LEN(field_types); i++) {
        v = get_path(def, field_types[i].path);
        if (v != NULL && !type_ok(v, field_types[i].type))
            return xasprintf("%s: wrong type", field_types[i].path);
    }
    v = json_object_get(def, "api_id");
    if (json_is_string(v) && (json_string_length(v) > 128 || strchr(json_string_value(v), '/')))
        return xstrdup("api_id: at most 128 characters, no '/'");
    lp = get_path(def, "proxy.listen_path");
    if (!json_is_string(lp) || json_string_value(lp)[0] != '/')
        return xstrdup("proxy.listen_path: required, a path starting with /");
    tu = get_path(def, "proxy.target_url");
    if (!json_is_string(tu))
        return xstrdup("proxy.target_url: required");
    if ((err = check_target_url(json_string_value(tu))) != NULL)
        return err;
    if ((err = check_strings(json_object_get(def, "client_certificates"), "client_certificates",
                             false)) != NULL ||
        (err = check_strings(json_object_get(def, "certificates"), "certificates", false)) != NULL ||
        (err = check_strings(get_path(def, "proxy.transport.ssl_ciphers"),
                             "proxy.transport.ssl_ciphers", false)) != NULL ||
        (err = check_strings(json_object_get(def, "upstream_certificates"),
                             "upstream_certificates", true)) != NULL ||
        (err = check_strings(json_object_get(def, "pinned_public_keys"), "pinned_public_keys",
                             true)) != NULL)
        return err;
    v = get_path(def, "proxy.transport.ssl_min_version");
    if (json_is_integer(v) && json_integer_value(v) != 0 && json_integer_value(v) != 771 &&
        json_integer_value(v) != 772)
        return xstrdup("proxy.transport.ssl_min_version: 771 (TLS 1.2) or 772 (TLS 1.3)");
    v = get_path(def, "proxy.transport.ssl_max_version");
    if (json_is_integer(v) && json_integer_value(v) != 0 && json_integer_value(v) != 771 &&
        json_integer_value(v) != 772)
        return xstrdup("proxy.transport.ssl_max_version: 771 (TLS 1.2) or 772 (TLS 1.3)");
    if (enforce_verify && json_is_true(get_path(def, "proxy.transport.ssl_insecure_skip_verify")))
        return xstrdup("proxy.transport.ssl_insecure_skip_verify: refused because "
                       "security.enforce_upstream_tls_verify is on");
    return NULL;
}

json_t *apidefs_cert_refs(const json_t *def)
{
    static const char *const fields[] = {"client_certificates", "certificates"};
    json_t *out = json_array(), *v;
    size_t i;

    for (size_t f = 0; f < CB_ARRAY_LEN(fields); f++) {
        json_array_foreach(json_object_get(def, fields[f]), i, v) {
            json_array_append_new(out, json_pack("{s:s, s:O}", "field", fields[f], "id", v));
        }
    }
    return out;
}

static char *lower_domain(const json_t *def)
{
    const char *d = json_string_value(json_object_get(def, "domain"));
    char *s = xstrdup(d != NULL ? d : "");

    for (char *p = s; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return s;
}

static int write_def(struct authd *ad, const char *sql, const char *api_id, const json_t *def,
                     pgc_result_cb cb, void *arg)
{
    char *text = json_dumps(def, JSON_COMPACT | JSON_PRESERVE_ORDER);
    char *domain = lower_domain(def);
    const char *org = json_string_value(json_object_get(def, "org_id"));
    const char *vals[5];
    int rc;

    if (text == NULL) {
        free(domain);
        return -1;
    }
    vals[0] = api_id;
    vals[1] = org != NULL ? org : "";
    vals[2] = domain;
    vals[3] = json_string_value(json_object_get(json_object_get(def, "proxy"), "listen_path"));
    vals[4] = text;
    rc = pgc_query(ad->pgc, sql, 5, vals, NULL, NULL, cb, arg);
    free(text);
    free(domain);
    return rc;
}

int apidefs_insert(struct authd *ad, const json_t *def, pgc_result_cb cb, void *arg)
{
    return write_def(ad,
                     "INSERT INTO api_definitions (api_id, org_id, domain, listen_path,"
                     " definition, revision) VALUES ($1, $2, $3, $4, $5::jsonb, 1)"
                     " RETURNING revision",
                     json_string_value(json_object_get(def, "api_id")), def, cb, arg);
}

int apidefs_update(struct authd *ad, const char *api_id, const json_t *def, pgc_result_cb cb,
                   void *arg)
{
    return write_def(ad,
                     "UPDATE api_definitions SET org_id = $2, domain = $3, listen_path = $4,"
                     " definition = $5::jsonb, revision = revision + 1, updated_at = now()"
                     " WHERE api_id = $1 RETURNING revision",
                     api_id, def, cb, arg);
}

int apidefs_delete(struct authd *ad, const char *api_id, pgc_result_cb cb, void *arg)
{
    const char *vals[1] = {api_id};

    return pgc_query(ad->pgc, "DELETE FROM api_definitions WHERE api_id = $1", 1, vals, NULL,
                     NULL, cb, arg);
}

int apidefs_select(struct authd *ad, const char *api_id, pgc_result_cb cb, void *arg)
{
    const char *vals[1] = {api_id};

    if (api_id != NULL)
        return pgc_query(ad->pgc,
                         "SELECT api_id, revision, definition::text,"
                         " (SELECT revision FROM store_revision) FROM api_definitions"
                         " WHERE api_id = $1",
                         1, vals, NULL, NULL, cb, arg);
    /* The LEFT JOIN keeps one row (api_id NULL) when there is no API, so the store
     * revision always comes back. */
    return pgc_query(ad->pgc,
                     "SELECT a.api_id, a.revision, a.definition::text, s.revision"
                     " FROM store_revision s LEFT JOIN api_definitions a ON true"
                     " ORDER BY a.created_at, a.api_id",
                     0, NULL, NULL, NULL, cb, arg);
}
