/*
 * apis: an immutable, reference-counted snapshot of everything the proxy knows about the
 * API definitions (DESIGN §6): routing, the static allowlists (spec §3), the per-SNI TLS
 * client-certificate policy (spec §3.1) and the server certificates from the store
 * (spec §8.1) and each https target's upstream TLS profile (ups_tls.h: verification, client
 * certificate, pins; spec §8.2, §8.5, §8.6). Built from authd's apis.list and certs.get
 * results (schema/rpc.md), once
 * per change, and then only read. A worker swaps its current snapshot when authd pushes a
 * change; a request holds a reference while it is in flight.
 */
#ifndef CB_PROXY_APIS_H
#define CB_PROXY_APIS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/apidef.h"

struct proxy_config;
struct ups_tls;

enum client_auth {
    CLIENT_AUTH_NONE = 0, /* no CertificateRequest */
    CLIENT_AUTH_REQUEST,  /* request, accept anything (verified at HTTP level) */
    CLIENT_AUTH_REQUIRE   /* require and verify against the policy's store */
};

struct api_target {
    bool tls;          /* https */
    char *host;        /* as in target_url, brackets removed for IPv6 */
    char *authority;   /* host[:port] exactly as in target_url (spec §8.5 matches on it) */
    int port;          /* explicit or 80/443 */
    char *path;        /* path prefix of target_url, "" or starting with '/', no trailing '/' */
};

struct allowlist; /* common/allowlist.h */

struct api {
    json_t *def;                 /* the stored definition (owned reference) */
    struct apidef auth;          /* api_id, org_id, active, the auth fields (borrow def, or
                                  * elem for an api_id only the list element carries) */
    const char *name;            /* the strings below borrow def */
    const char *domain;          /* lowercase; "" = any host */
    const char *listen_path;
    bool strip_listen_path;
    struct api_target target;
    struct allowlist *allow;      /* the static allowlist (allowlist_check); NULL unless an
                                   * active API with use_mutual_tls_auth */
    const struct ups_tls *up_tls; /* an active https target's TLS profile, else NULL; may
                                   * carry a configuration error (ups_tls_error) */
};

/* A server certificate from the store (ssl_certificates, per-API certificates). */
struct server_cert {
    X509 *leaf;
    STACK_OF(X509) *chain;       /* the certificates after the leaf, may be empty */
    EVP_PKEY *key;
    char **names;                /* lowercase CN and DNS SANs, then the API domain if any */
    size_t nnames;
};

/* The client-certificate policy for one SNI (spec §3.1); borrows the snapshot. */
struct tls_policy {
    enum client_auth level;
    X509_STORE *store;                 /* allowlisted certificates as trust anchors (with
                                        * X509_V_FLAG_PARTIAL_CHAIN); NULL when level is not
                                        * CLIENT_AUTH_REQUIRE */
    const STACK_OF(X509_NAME) *ca_names; /* CA names to announce; NULL or empty = none */
};

struct apis;

/*
 * Build a snapshot from apis.list's result ({"revision", "apis":[…]}) and a JSON object
 * mapping each referenced certificate id to its certs.get element (or null when unknown).
 * Inactive APIs are kept but never routed. Bad entries (an unparsable target_url, a PEM that
 * does not parse, a store certificate whose key is missing) are logged with the API or
 * certificate id and skipped: one bad definition never hides the others. NULL with *err
 * (heap) only when the result itself is malformed.
 */
struct apis *apis_build(const json_t *list, const json_t *certs, const struct proxy_config *cfg,
                        char **err);
/* Every certificate id a list result and cfg reference, as a JSON object id → true when its
 * private key is needed (server and upstream client certificates) or false (allowlists,
 * pinned public keys; pins that are file paths are left out). New reference. */
json_t *apis_referenced_certs(const json_t *list, const struct proxy_config *cfg);
struct apis *apis_ref(struct apis *a);
void apis_unref(struct apis *a);
long long apis_revision(const struct apis *a);
size_t apis_count(const struct apis *a);

/* Routing (DESIGN §6): APIs whose domain equals host (case-insensitive) first, then those
 * with an empty domain; within each, the longest listen_path that prefixes path. NULL = 404. */
const struct api *apis_route(const struct apis *a, const char *host, size_t host_len,
                             const char *path, size_t path_len);

/* The handshake policy for sni (NULL or "" when the client sent none). */
void apis_tls_policy(const struct apis *a, const char *sni, struct tls_policy *out);

/* Server certificates from the store, in spec §8.1 order (ssl_certificates, then per-API). */
size_t apis_server_certs(const struct apis *a, const struct server_cert *const **out);

#endif
