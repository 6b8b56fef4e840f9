/*
 * authd_cfg: certbound-authd's configuration keys (DESIGN §3) and their struct.
 * Not for reading config at request time from anywhere but the struct.
 */
#ifndef CB_AUTHD_AUTHD_CFG_H
#define CB_AUTHD_AUTHD_CFG_H

#include <stdbool.h>
#include <stddef.h>

#include <sys/socket.h>

#include <jansson.h>

#include "common/cfg.h"
#include "common/xmem.h"

struct authd_config {
    char *listen_address;
    long long listen_port;
    char *rpc_listen;            /* "host:port" or "unix:/path" */
    long long rpc_max_connections;
    char *check_listen;          /* "" = off */
    bool check_listen_allow_remote;
    char *check_cert_header;     /* "Client-Cert" (RFC 9440) or "X-SSL-Client-Cert" (nginx) */
    char *secret;
    char *log_level;
    char *log_format;
    bool metrics_require_secret;

    char *redis_host;
    long long redis_port;
    long long redis_database;
    char *redis_password;
    char *redis_unix_socket;
    long long redis_connect_timeout_ms;
    long long redis_command_timeout_ms;

    char *pg_conninfo;
    long long pg_pool_size;
    long long pg_connect_timeout_ms;
    long long pg_query_timeout_ms;

    bool hash_keys;
    char *hash_key_function;
    long long min_token_length;
    long long expired_key_retention_s;

    char *enc_secret;
    struct cfg_strlist prev_enc_secrets;
    bool allow_unsafe_dynamic_mtls_token;
    bool enforce_upstream_tls_verify;
    bool control_api_use_mutual_tls;
    struct cfg_strlist control_api_certs;

    bool https_use_ssl;
    char *https_server_name;
    long long https_min_version;
    long long https_max_version;
    struct cfg_strlist https_ssl_ciphers;
    json_t *https_certificates;
    struct cfg_strlist https_ssl_certificates;
    bool https_skip_client_ca_announcement;
};

extern const struct cfg_key authd_cfg_keys[];
extern const size_t authd_cfg_nkeys;

/* Load and validate (cfg_load plus cross-key rules). 0, or -1 with *err (heap). */
int authd_cfg_load(struct authd_config *c, const char *path, char *const *envp, char **err)
    CB_WARN_UNUSED;
void authd_cfg_free(struct authd_config *c);

/*
 * Parse a listen spec "ip:port" ("[v6]:port"; port 0 = any free port) of config key key
 * into *ss / *sl. 0, or -1 with *err (heap) naming the key. No name resolution.
 */
int authd_cfg_parse_listen(const char *key, const char *spec, struct sockaddr_storage *ss,
                           int *sl, char **err) CB_WARN_UNUSED;

#endif
