/*
 * proxy_cfg: the key table of certbound-proxy (DESIGN §3), alphabetical within each
 * section, and the cross-key rules: TLS version resolution (spec §8.2), the
 * enforce_upstream_tls_verify guard, the shape of http_server_options.certificates.
 * Keys beyond DESIGN's list (timeouts, limits, logging) are ours and are documented in
 * etc/proxy.example.json. Not for loading certificate files: tls.c does that.
 */
#include "proxy/proxy_cfg.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#define OFF(f) offsetof(struct proxy_config, f)
#define NOLIM  0, 0
#define MS     1, 3600000

static int validate_tls_version(const void *field, char **err);
static int validate_authd(const void *field, char **err);
static int validate_hostport_or_empty(const void *field, char **err);
static int validate_certificates(const void *field, char **err);
static int validate_string_map(const void *field, char **err);
static int resolve_versions(long long *min, long long *max, const char *key_min,
                            const char *key_max, char **err);

const struct cfg_key proxy_cfg_keys[] = {
    {"auth_cache_ms", CFG_INT, OFF(auth_cache_ms), "5000", 0, 3600000, 0, NULL},
    {"authd", CFG_STRING, OFF(authd), "127.0.0.1:9191", NOLIM, 0, validate_authd},
    {"authd_timeout_ms", CFG_INT, OFF(authd_timeout_ms), "1000", MS, 0, NULL},
    {"handshake_timeout_ms", CFG_INT, OFF(handshake_timeout_ms), "10000", MS, 0, NULL},
    {"head_timeout_ms", CFG_INT, OFF(head_timeout_ms), "10000", MS, 0, NULL},
    {"idle_timeout_ms", CFG_INT, OFF(idle_timeout_ms), "60000", MS, 0, NULL},
    {"listen_address", CFG_STRING, OFF(listen_address), "0.0.0.0", NOLIM, CFG_F_REQUIRED, NULL},
    {"listen_port", CFG_INT, OFF(listen_port), "8443", 0, 65535, 0, NULL},
    {"log_format", CFG_STRING, OFF(log_format), "text", NOLIM, 0, cfg_validate_log_format},
    {"log_level", CFG_STRING, OFF(log_level), "info", NOLIM, 0, cfg_validate_log_level},
    {"max_head_bytes", CFG_INT, OFF(max_head_bytes), "16384", 1024, 1048576, 0, NULL},
    {"metrics_listen", CFG_STRING, OFF(metrics_listen), "", NOLIM, 0, validate_hostport_or_empty},
    {"upstream_connect_timeout_ms", CFG_INT, OFF(upstream_connect_timeout_ms), "5000", MS, 0, NULL},
    {"upstream_idle_timeout_ms", CFG_INT, OFF(upstream_idle_timeout_ms), "60000", MS, 0, NULL},
    {"upstream_timeout_ms", CFG_INT, OFF(upstream_timeout_ms), "30000", MS, 0, NULL},
    {"workers", CFG_INT, OFF(workers), "0", 0, 1024, 0, NULL},

    {"http_server_options.certificates", CFG_JSON, OFF(https_certificates), "[]", NOLIM, 0,
     validate_certificates},
    /* 0 = unset: resolved by the rules of spec §8.2 in proxy_cfg_load. */
    {"http_server_options.max_version", CFG_INT, OFF(https_max_version), "0", 0, 772, 0,
     validate_tls_version},
    {"http_server_options.min_version", CFG_INT, OFF(https_min_version), "0", 0, 772, 0,
     validate_tls_version},
    {"http_server_options.server_name", CFG_STRING, OFF(https_server_name), "", NOLIM, 0, NULL},
    {"http_server_options.skip_client_ca_announcement", CFG_BOOL,
     OFF(https_skip_client_ca_announcement), "false", NOLIM, 0, NULL},
    {"http_server_options.ssl_certificates", CFG_STRLIST, OFF(https_ssl_certificates), "[]", NOLIM,
     0, NULL},
    {"http_server_options.ssl_ciphers", CFG_STRLIST, OFF(https_ssl_ciphers), "[]", NOLIM, 0, NULL},
    {"http_server_options.use_ssl", CFG_BOOL, OFF(https_use_ssl), "true", NOLIM, 0, NULL},

    {"proxy_ssl_ca_file", CFG_STRING, OFF(proxy_ssl_ca_file), "", NOLIM, 0, NULL},
    {"proxy_ssl_ciphers", CFG_STRLIST, OFF(proxy_ssl_ciphers), "[]", NOLIM, 0, NULL},
    {"proxy_ssl_disable_renegotiation", CFG_BOOL, OFF(proxy_ssl_disable_renegotiation), "false",
     NOLIM, 0, NULL},
    {"proxy_ssl_insecure_skip_verify", CFG_BOOL, OFF(proxy_ssl_insecure_skip_verify), "false",
     NOLIM, 0, NULL},
    {"proxy_ssl_max_version", CFG_INT, OFF(proxy_ssl_max_version), "0", 0, 772, 0,
     validate_tls_version},
    {"proxy_ssl_min_version", CFG_INT, OFF(proxy_ssl_min_version), "0", 0, 772, 0,
     validate_tls_version},

    {"security.certificates.apis", CFG_STRLIST, OFF(security_certificates_apis), "[]", NOLIM, 0,
     NULL},
    {"security.certificates.upstream", CFG_JSON, OFF(security_certificates_upstream), "{}", NOLIM,
     0, validate_string_map},
    {"security.enforce_upstream_tls_verify", CFG_BOOL, OFF(enforce_upstream_tls_verify), "false",
     NOLIM, 0, NULL},
    {"security.pinned_public_keys", CFG_JSON, OFF(security_pinned_public_keys), "{}", NOLIM, 0,
     validate_string_map},
};

const size_t proxy_cfg_nkeys = CB_ARRAY_LEN(proxy_cfg_keys);

/* ---- public functions ---- */

int proxy_cfg_load(struct proxy_config *c, const char *path, char *const *envp, char **err)
{
    if (cfg_load(proxy_cfg_keys, proxy_cfg_nkeys, c, path, envp, err) < 0)
        return -1;
    if (resolve_versions(&c->https_min_version, &c->https_max_version,
                         "http_server_options.min_version", "http_server_options.max_version",
                         err) < 0)
        return -1;
    if (resolve_versions(&c->proxy_ssl_min_version, &c->proxy_ssl_max_version,
                         "proxy_ssl_min_version", "proxy_ssl_max_version", err) < 0)
        return -1;
    if (c->enforce_upstream_tls_verify && c->proxy_ssl_insecure_skip_verify) {
        *err = xstrdup("configuration key 'proxy_ssl_insecure_skip_verify': true is refused "
                       "while security.enforce_upstream_tls_verify is true");
        return -1;
    }
    return 0;
}

void proxy_cfg_free(struct proxy_config *c)
{
    cfg_free(proxy_cfg_keys, proxy_cfg_nkeys, c);
}

/* ---- validation ---- */

/* Spec §8.2 (resolveTLSVersions): unset min → 771, unset max → 772, min > max refused.
 * 769/770 never get here: validate_tls_version refuses them with the key named. */
static int resolve_versions(long long *min, long long *max, const char *key_min,
                            const char *key_max, char **err)
{
    if (*min == 0)
        *min = 771;
    if (*max == 0)
        *max = 772;
    if (*min > *max) {
        *err = xasprintf("configuration key '%s': %lld is above %s %lld", key_min, *min, key_max,
                         *max);
        return -1;
    }
    return 0;
}

static int validate_tls_version(const void *field, char **err)
{
    long long v = *(const long long *)field;

    if (v == 0 || v == 771 || v == 772)
        return 0;
    if (v == 769 || v == 770)
        *err = xasprintf("%lld (TLS 1.%d) is refused: the oldest version supported is 771 "
                         "(TLS 1.2)",
                         v, (int)(v - 769));
    else
        *err = xasprintf("%lld is not a TLS version (771 = TLS 1.2, 772 = TLS 1.3)", v);
    return -1;
}

static int validate_authd(const void *field, char **err)
{
    const char *s = *(char *const *)field;

    if (s != NULL && strncmp(s, "unix:", 5) == 0 && s[5] != '\0')
        return 0;
    if (validate_hostport_or_empty(field, err) < 0)
        return -1;
    if (s == NULL || *s == '\0') {
        *err = xstrdup("must be host:port or unix:/path");
        return -1;
    }
    return 0;
}

static int validate_hostport_or_empty(const void *field, char **err)
{
    const char *s = *(char *const *)field;
    const char *colon;
    char *end;
    long port;

    if (s == NULL || *s == '\0')
        return 0;
    colon = strrchr(s, ':');
    if (colon == NULL || colon == s || colon[1] == '\0') {
        *err = xasprintf("'%s' is not host:port", s);
        return -1;
    }
    port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 0 || port > 65535) {
        *err = xasprintf("'%s' has no valid port", s);
        return -1;
    }
    return 0;
}

/* [{domain_name, cert_file, key_file}]: the files are read by tls.c at start-up. */
static int validate_certificates(const void *field, char **err)
{
    const json_t *a = *(json_t *const *)field;
    static const char *const keys[] = {"domain_name", "cert_file", "key_file"};
    const char *k;
    json_t *e, *v;
    size_t i;

    if (!json_is_array(a)) {
        *err = xstrdup("must be an array of {domain_name, cert_file, key_file}");
        return -1;
    }
    json_array_foreach(a, i, e)
    {
        if (!json_is_object(e)) {
            *err = xasprintf("entry %zu is not an object", i);
            return -1;
        }
        json_object_foreach(e, k, v)
        {
            bool known = false;

            for (size_t j = 0; j < CB_ARRAY_LEN(keys); j++)
                known = known || strcmp(k, keys[j]) == 0;
            if (!known) {
                *err = xasprintf("entry %zu: unknown key '%.80s'", i, k);
                return -1;
            }
            if (!json_is_string(v)) {
                *err = xasprintf("entry %zu: '%s' must be a string", i, k);
                return -1;
            }
        }
        for (size_t j = 1; j < CB_ARRAY_LEN(keys); j++) {
            v = json_object_get(e, keys[j]);
            if (v == NULL || json_string_length(v) == 0) {
                *err = xasprintf("entry %zu: '%s' is required", i, keys[j]);
                return -1;
            }
        }
    }
    return 0;
}

/* {host: "ref"} maps (upstream certificates, pinned public keys). */
static int validate_string_map(const void *field, char **err)
{
    const json_t *o = *(json_t *const *)field;
    const char *k;
    json_t *v;

    if (!json_is_object(o)) {
        *err = xstrdup("must be an object mapping host to a string");
        return -1;
    }
    json_object_foreach((json_t *)o, k, v)
    {
        if (!json_is_string(v)) {
            *err = xasprintf("the value of '%.80s' must be a string", k);
            return -1;
        }
    }
    return 0;
}
