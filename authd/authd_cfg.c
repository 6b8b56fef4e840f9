/*
 * authd_cfg: the key table of certbound-authd (DESIGN §3), alphabetical within each
 * section. Keys beyond DESIGN's list (timeouts, pool size, logging) are ours and are
 * documented in etc/authd.example.json.
 */
#include "authd/authd_cfg.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/util.h>

#include "common/log.h"
#include "common/token.h"

#define OFF(f) offsetof(struct authd_config, f)
#define NOLIM 0, 0
#define PORT 1, 65535
#define MS 1, 600000

static int validate_hash_fn(const void *field, char **err);
static int validate_tls_version(const void *field, char **err);
static int validate_cert_files(const json_t *arr, char **err);
static bool is_loopback(const struct sockaddr_storage *ss);

static int validate_cert_header(const void *field, char **err)
{
    const char *v = *(char *const *)field;

    if (strcasecmp(v, "Client-Cert") == 0 || strcasecmp(v, "X-SSL-Client-Cert") == 0)
        return 0;
    *err = xstrdup("must be Client-Cert (RFC 9440) or X-SSL-Client-Cert (nginx)");
    return -1;
}

const struct cfg_key authd_cfg_keys[] = {
    {"check_listen", CFG_STRING, OFF(check_listen), "", NOLIM, 0, NULL},
    {"check_cert_header", CFG_STRING, OFF(check_cert_header), "Client-Cert", NOLIM, 0,
     validate_cert_header},
    {"check_listen_allow_remote", CFG_BOOL, OFF(check_listen_allow_remote), "false", NOLIM, 0,
     NULL},
    {"expired_key_retention_s", CFG_INT, OFF(expired_key_retention_s), "604800", 0, 315360000,
     0, NULL},
    {"hash_key_function", CFG_STRING, OFF(hash_key_function), "sha256", NOLIM, 0,
     validate_hash_fn},
    {"hash_keys", CFG_BOOL, OFF(hash_keys), "true", NOLIM, 0, NULL},
    {"listen_address", CFG_STRING, OFF(listen_address), "127.0.0.1", NOLIM, 0, NULL},
    {"listen_port", CFG_INT, OFF(listen_port), "8181", 0, 65535, 0, NULL},
    {"log_format", CFG_STRING, OFF(log_format), "text", NOLIM, 0, cfg_validate_log_format},
    {"log_level", CFG_STRING, OFF(log_level), "info", NOLIM, 0, cfg_validate_log_level},
    {"metrics_require_secret", CFG_BOOL, OFF(metrics_require_secret), "false", NOLIM, 0, NULL},
    {"min_token_length", CFG_INT, OFF(min_token_length), "3", 0, 1024, 0, NULL},
    {"rpc_listen", CFG_STRING, OFF(rpc_listen), "127.0.0.1:9191", NOLIM, 0, NULL},
    {"rpc_max_connections", CFG_INT, OFF(rpc_max_connections), "1024", 1, 100000, 0, NULL},
    {"secret", CFG_STRING, OFF(secret), NULL, NOLIM, CFG_F_REQUIRED | CFG_F_SENSITIVE, NULL},

    {"http_server_options.certificates", CFG_JSON, OFF(https_certificates), "[]", NOLIM, 0,
     NULL},
    {"http_server_options.max_version", CFG_INT, OFF(https_max_version), "772", 771, 772, 0,
     validate_tls_version},
    {"http_server_options.min_version", CFG_INT, OFF(https_min_version), "771", 771, 772, 0,
     validate_tls_version},
    {"http_server_options.server_name", CFG_STRING, OFF(https_server_name), "", NOLIM, 0, NULL},
    {"http_server_options.skip_client_ca_announcement", CFG_BOOL,
     OFF(https_skip_client_ca_announcement), "false", NOLIM, 0, NULL},
    {"http_server_options.ssl_certificates", CFG_STRLIST, OFF(https_ssl_certificates), "[]",
     NOLIM, 0, NULL},
    {"http_server_options.ssl_ciphers", CFG_STRLIST, OFF(https_ssl_ciphers), "[]", NOLIM, 0,
     NULL},
    {"http_server_options.use_ssl", CFG_BOOL, OFF(https_use_ssl), "false", NOLIM, 0, NULL},

    {"postgres.connect_timeout_ms", CFG_INT, OFF(pg_connect_timeout_ms), "5000", MS, 0, NULL},
    {"postgres.conninfo", CFG_STRING, OFF(pg_conninfo), "dbname=certbound", NOLIM,
     CFG_F_SENSITIVE, NULL},
    {"postgres.pool_size", CFG_INT, OFF(pg_pool_size), "4", 1, 64, 0, NULL},
    {"postgres.query_timeout_ms", CFG_INT, OFF(pg_query_timeout_ms), "5000", MS, 0, NULL},

    {"redis.command_timeout_ms", CFG_INT, OFF(redis_command_timeout_ms), "1000", MS, 0, NULL},
    {"redis.connect_timeout_ms", CFG_INT, OFF(redis_connect_timeout_ms), "2000", MS, 0, NULL},
    {"redis.database", CFG_INT, OFF(redis_database), "0", 0, 15, 0, NULL},
    {"redis.host", CFG_STRING, OFF(redis_host), "127.0.0.1", NOLIM, 0, NULL},
    {"redis.password", CFG_STRING, OFF(redis_password), "", NOLIM, CFG_F_SENSITIVE, NULL},
    {"redis.port", CFG_INT, OFF(redis_port), "6379", PORT, 0, NULL},
    {"redis.unix_socket", CFG_STRING, OFF(redis_unix_socket), "", NOLIM, 0, NULL},

    {"security.allow_unsafe_dynamic_mtls_token", CFG_BOOL,
     OFF(allow_unsafe_dynamic_mtls_token), "false", NOLIM, 0, NULL},
    {"security.certificates.control_api", CFG_STRLIST, OFF(control_api_certs), "[]", NOLIM, 0,
     NULL},
    {"security.control_api_use_mutual_tls", CFG_BOOL, OFF(control_api_use_mutual_tls), "false",
     NOLIM, 0, NULL},
    {"security.enforce_upstream_tls_verify", CFG_BOOL, OFF(enforce_upstream_tls_verify),
     "false", NOLIM, 0, NULL},
    {"security.previous_private_certificate_encoding_secrets", CFG_STRLIST,
     OFF(prev_enc_secrets), "[]", NOLIM, CFG_F_SENSITIVE, NULL},
    {"security.private_certificate_encoding_secret", CFG_STRING, OFF(enc_secret), NULL, NOLIM,
     CFG_F_REQUIRED | CFG_F_SENSITIVE, NULL},
};

const size_t authd_cfg_nkeys = CB_ARRAY_LEN(authd_cfg_keys);

static int validate_hash_fn(const void *field, char **err)
{
    const char *s = *(char *const *)field;
    enum token_algo a;

    if (s == NULL || *s == '\0' || token_algo_parse(s, &a) == 0)
        return 0;
    *err = xasprintf("unknown hash function '%s' (sha256, murmur64, murmur128, murmur32)", s);
    return -1;
}

static int validate_tls_version(const void *field, char **err)
{
    long long v = *(const long long *)field;

    if (v == 771 || v == 772)
        return 0;
    *err = xasprintf("%lld is not a supported TLS version (771 = TLS 1.2, 772 = TLS 1.3)", v);
    return -1;
}

/* http_server_options.certificates: [{domain_name, cert_file, key_file}], files required. */
static int validate_cert_files(const json_t *arr, char **err)
{
    const json_t *e;
    size_t i;

    if (!json_is_array(arr)) {
        *err = xstrdup("configuration key 'http_server_options.certificates': must be an array "
                       "of {domain_name, cert_file, key_file}");
        return -1;
    }
    json_array_foreach(arr, i, e)
    {
        const json_t *dn = json_object_get(e, "domain_name");

        if (!json_is_object(e) || !json_is_string(json_object_get(e, "cert_file")) ||
            !json_is_string(json_object_get(e, "key_file")) || (dn != NULL && !json_is_string(dn))) {
            *err = xasprintf("configuration key 'http_server_options.certificates': entry %zu "
                             "needs string cert_file and key_file (and optional domain_name)", i);
            return -1;
        }
    }
    return 0;
}

static bool is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
    if (ss->ss_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;

        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return false;
}

int authd_cfg_parse_listen(const char *key, const char *spec, struct sockaddr_storage *ss,
                           int *sl, char **err)
{
    const char *colon = strrchr(spec, ':');
    bool any_port = colon != NULL && strcmp(colon, ":0") == 0;
    /* evutil_parse_sockaddr_port refuses port 0, which tests use to get any free port. */
    char *probe = any_port ? xasprintf("%.*s:1", (int)(colon - spec), spec) : xstrdup(spec);
    int rc;

    memset(ss, 0, sizeof(*ss));
    *sl = (int)sizeof(*ss);
    rc = evutil_parse_sockaddr_port(probe, (struct sockaddr *)ss, sl);
    free(probe);
    if (rc < 0 || colon == NULL) {
        *err = xasprintf("configuration key '%s': cannot parse '%s' as ip:port (IPv6 as "
                         "[addr]:port)", key, spec);
        return -1;
    }
    if (any_port) {
        if (ss->ss_family == AF_INET6)
            ((struct sockaddr_in6 *)ss)->sin6_port = 0;
        else
            ((struct sockaddr_in *)ss)->sin_port = 0;
    }
    return 0;
}

int authd_cfg_load(struct authd_config *c, const char *path, char *const *envp, char **err)
{
    if (cfg_load(authd_cfg_keys, authd_cfg_nkeys, c, path, envp, err) < 0)
        return -1;
    if (c->https_min_version > c->https_max_version) {
        *err = xasprintf("configuration key 'http_server_options.min_version': %lld is above "
                         "max_version %lld", c->https_min_version, c->https_max_version);
        return -1;
    }
    if (c->control_api_use_mutual_tls && !c->https_use_ssl) {
        *err = xstrdup("configuration key 'security.control_api_use_mutual_tls': requires "
                       "http_server_options.use_ssl");
        return -1;
    }
    if (validate_cert_files(c->https_certificates, err) < 0)
        return -1;
    if (c->check_listen[0] != '\0') {
        struct sockaddr_storage ss;
        int sl;

        if (authd_cfg_parse_listen("check_listen", c->check_listen, &ss, &sl, err) < 0)
            return -1;
        if (!c->check_listen_allow_remote && !is_loopback(&ss)) {
            *err = xasprintf("configuration key 'check_listen': '%s' is not a loopback "
                             "address; the check endpoint trusts its caller, set "
                             "check_listen_allow_remote to bind it elsewhere",
                             c->check_listen);
            return -1;
        }
    }
    if (strncmp(c->rpc_listen, "unix:", 5) != 0 && strchr(c->rpc_listen, ':') == NULL) {
        *err = xasprintf("configuration key 'rpc_listen': '%s' is neither host:port nor "
                         "unix:/path", c->rpc_listen);
        return -1;
    }
    return 0;
}

void authd_cfg_free(struct authd_config *c)
{
    cfg_free(authd_cfg_keys, authd_cfg_nkeys, c);
}
