/*
 * proxy_cfg: certbound-proxy's configuration keys (DESIGN §3) and their struct. Loaded
 * once by main.c; every worker borrows it read-only.
 */
#ifndef CB_PROXY_PROXY_CFG_H
#define CB_PROXY_PROXY_CFG_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "common/cfg.h"
#include "common/xmem.h"

struct proxy_config {
    char *listen_address;            /* [0.0.0.0] */
    long long listen_port;           /* [8443]; 0 = any (tests read the ready file) */
    char *authd;                     /* [127.0.0.1:9191] "host:port" or "unix:/path" */
    long long authd_timeout_ms;      /* [1000] per RPC call */
    long long workers;               /* [0 = number of cores] */
    char *log_level;
    char *log_format;
    char *metrics_listen;            /* "" = off */

    long long handshake_timeout_ms;  /* [10000] TLS handshake */
    long long head_timeout_ms;       /* [10000] whole request head after the first byte */
    long long idle_timeout_ms;       /* [60000] keep-alive idle, client side */
    long long upstream_connect_timeout_ms; /* [5000] */
    long long upstream_timeout_ms;   /* [30000] response head after the request was sent → 504 */
    long long upstream_idle_timeout_ms;    /* [60000] pooled upstream connection */
    long long max_head_bytes;        /* [16384] request head limit → 431 */
    long long auth_cache_ms;         /* [5000] longest a cached allow lives (push invalidates) */

    bool https_use_ssl;              /* [true] false = plain HTTP listener (tests, scenario 30) */
    char *https_server_name;
    long long https_min_version;     /* [771] */
    long long https_max_version;     /* [772] */
    struct cfg_strlist https_ssl_ciphers;     /* IANA names, TLS <= 1.2 */
    json_t *https_certificates;      /* [{domain_name, cert_file, key_file}] */
    struct cfg_strlist https_ssl_certificates; /* store ids with a private key */
    bool https_skip_client_ca_announcement;

    bool proxy_ssl_insecure_skip_verify;
    long long proxy_ssl_min_version;
    long long proxy_ssl_max_version;
    struct cfg_strlist proxy_ssl_ciphers;
    char *proxy_ssl_ca_file;
    bool proxy_ssl_disable_renegotiation;

    struct cfg_strlist security_certificates_apis; /* appended to every mTLS API's allowlist */
    json_t *security_certificates_upstream;        /* {host: cert id} */
    json_t *security_pinned_public_keys;           /* {host: "id,id"} */
    bool enforce_upstream_tls_verify;
};

extern const struct cfg_key proxy_cfg_keys[];
extern const size_t proxy_cfg_nkeys;

/* Load and validate (cfg_load plus cross-key rules such as min <= max version).
 * 0, or -1 with *err (heap) naming the key. */
int proxy_cfg_load(struct proxy_config *c, const char *path, char *const *envp, char **err)
    CB_WARN_UNUSED;
void proxy_cfg_free(struct proxy_config *c);

#endif
