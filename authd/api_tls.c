/*
 * api_tls: one SSL_CTX for the management API, built once at start-up. Server certificate
 * choice per SNI follows spec §8.1 in short: one certificate serves every name; else an
 * exact name (domain_name entries over CN/SANs), then a one-level wildcard, then the first
 * certificate whose names verify the SNI, else the first. Control-API mTLS (spec §8.4):
 * require a certificate and verify it with every listed certificate as a trust anchor
 * (PARTIAL_CHAIN); with none loadable the store is empty and every client fails.
 */
#include "authd/api_tls.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "authd/authd.h"
#include "authd/authd_cfg.h"
#include "authd/certstore.h"
#include "common/certinfo.h"
#include "common/log.h"
#include "common/tlsutil.h"

#define SNI_MAX 255

struct apitls {
    SSL_CTX *ctx;
    struct tlsutil_cert *certs;
    size_t ncerts;
    size_t nanchors;
};

static int load_store_ids(struct apitls *t, struct authd *ad, char **err);
static int setup_client_auth(struct apitls *t, const PGresult *res, const struct authd_config *c);
static int on_servername(SSL *ssl, int *al, void *arg);
static bool is_path(const char *ref);

/* ---- public functions ---- */

struct apitls *apitls_new(struct authd *ad, char **err)
{
    const struct authd_config *c = ad->cfg;
    struct apitls *t = xcalloc(1, sizeof(*t));
    static const unsigned char sid_ctx[] = "certbound-authd";

    t->ctx = SSL_CTX_new(TLS_server_method());
    if (t->ctx == NULL)
        die("api_tls: cannot create an SSL_CTX");
    if (SSL_CTX_set_min_proto_version(t->ctx, c->https_min_version == 772 ? TLS1_3_VERSION
                                                                          : TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(t->ctx, c->https_max_version == 771 ? TLS1_2_VERSION
                                                                          : TLS1_3_VERSION) != 1)
        die("api_tls: cannot set the TLS versions");
    SSL_CTX_set_options(t->ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                    SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(t->ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_set_session_id_context(t->ctx, sid_ctx, sizeof(sid_ctx) - 1) != 1)
        die("api_tls: cannot set the session id context");
    tlsutil_set_ciphers(t->ctx, &c->https_ssl_ciphers, "http_server_options.ssl_ciphers");
    if (tlsutil_certs_load(&t->certs, &t->ncerts, c->https_certificates,
                           "http_server_options.certificates", err) < 0 ||
        load_store_ids(t, ad, err) < 0)
        goto fail;
    if (t->ncerts == 0) {
        *err = xstrdup("configuration key 'http_server_options.use_ssl': no usable server "
                       "certificate (http_server_options.certificates or ssl_certificates)");
        goto fail;
    }
    if (SSL_CTX_use_cert_and_key(t->ctx, t->certs[0].leaf, t->certs[0].key, t->certs[0].chain,
                                 1) != 1) {
        char ebuf[256];

        *err = xasprintf("http_server_options: OpenSSL refused the first server certificate "
                         "(%s)", tlsutil_errors(ebuf, sizeof(ebuf)));
        goto fail;
    }
    if (t->ncerts > 1) {
        SSL_CTX_set_tlsext_servername_callback(t->ctx, on_servername);
        SSL_CTX_set_tlsext_servername_arg(t->ctx, t);
    }
    return t;
fail:
    apitls_free(t);
    return NULL;
}

SSL *apitls_ssl_new(struct apitls *t)
{
    SSL *ssl = SSL_new(t->ctx);

    if (ssl == NULL)
        die("api_tls: SSL_new failed");
    return ssl;
}

size_t apitls_server_cert_count(const struct apitls *t)
{
    return t->ncerts;
}

size_t apitls_client_anchor_count(const struct apitls *t)
{
    return t->nanchors;
}

void apitls_free(struct apitls *t)
{
    if (t == NULL)
        return;
    tlsutil_certs_free(t->certs, t->ncerts);
    SSL_CTX_free(t->ctx);
    free(t);
}

/* ---- certificates ---- */

static void add_store_server_cert(struct apitls *t, struct authd *ad, const PGresult *res,
                                  const char *id)
{
    int row = certstore_find_row(res, id);
    STACK_OF(X509) *chain;
    unsigned char *der = NULL;
    const unsigned char *p;
    size_t len = 0;
    EVP_PKEY *key;

    if (row < 0) {
        log_warn("http_server_options.ssl_certificates: certificate %s is not in the store; "
                 "skipped", id);
        return;
    }
    if (certstore_row_key(ad, res, row, &der, &len) != 0) {
        log_warn("http_server_options.ssl_certificates: certificate %s has no usable private "
                 "key; skipped", id);
        return;
    }
    p = der;
    key = d2i_AutoPrivateKey(NULL, &p, (long)len);
    OPENSSL_cleanse(der, len);
    free(der);
    chain = certinfo_load_chain(PQgetvalue(res, row, CS_PEM),
                                (size_t)PQgetlength(res, row, CS_PEM));
    if (key == NULL || chain == NULL || X509_check_private_key(sk_X509_value(chain, 0), key) != 1) {
        log_warn("http_server_options.ssl_certificates: certificate %s: the certificate or its "
                 "key does not load; skipped", id);
        ERR_clear_error();
        EVP_PKEY_free(key);
        sk_X509_pop_free(chain, X509_free);
        return;
    }
    tlsutil_certs_add(&t->certs, &t->ncerts, sk_X509_shift(chain), chain, key, NULL);
}

static int load_store_ids(struct apitls *t, struct authd *ad, char **err)
{
    const struct authd_config *c = ad->cfg;
    size_t n = 0, cap = c->https_ssl_certificates.n + c->control_api_certs.n;
    const char **ids = xcalloc(cap > 0 ? cap : 1, sizeof(*ids));
    PGresult *res = NULL;
    int rc = 0;

    for (size_t i = 0; i < c->https_ssl_certificates.n; i++)
        ids[n++] = c->https_ssl_certificates.v[i];
    for (size_t i = 0; c->control_api_use_mutual_tls && i < c->control_api_certs.n; i++)
        if (!is_path(c->control_api_certs.v[i]))
            ids[n++] = c->control_api_certs.v[i];
    if (n > 0) {
        char *e = NULL;

        res = certstore_fetch_sync(c->pg_conninfo, (int)c->pg_connect_timeout_ms, ids, n, &e);
        if (res == NULL) {
            *err = xasprintf("http_server_options.ssl_certificates / "
                             "security.certificates.control_api: %s", e);
            free(e);
            free(ids);
            return -1;
        }
    }
    for (size_t i = 0; i < c->https_ssl_certificates.n; i++)
        add_store_server_cert(t, ad, res, c->https_ssl_certificates.v[i]);
    if (c->control_api_use_mutual_tls)
        rc = setup_client_auth(t, res, c);
    PQclear(res);
    free(ids);
    return rc;
}

/* ---- control-API client certificates (spec §8.4) ---- */

static bool is_path(const char *ref)
{
    return strchr(ref, '/') != NULL;
}

static void add_anchor(struct apitls *t, X509_STORE *st, STACK_OF(X509_NAME) *names, X509 *x)
{
    X509_NAME *dup = X509_NAME_dup(X509_get_subject_name(x));

    if (X509_STORE_add_cert(st, x) == 1)
        t->nanchors++;
    ERR_clear_error();
    if (dup != NULL && sk_X509_NAME_push(names, dup) <= 0)
        X509_NAME_free(dup);
}

static int setup_client_auth(struct apitls *t, const PGresult *res, const struct authd_config *c)
{
    X509_STORE *st = X509_STORE_new();
    STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();

    if (st == NULL || names == NULL)
        die("api_tls: out of memory");
    /* Every listed certificate is a trust anchor, even a leaf that is not self-signed. */
    X509_STORE_set_flags(st, X509_V_FLAG_PARTIAL_CHAIN);
    for (size_t i = 0; i < c->control_api_certs.n; i++) {
        const char *ref = c->control_api_certs.v[i];
        STACK_OF(X509) *sk;
        char *e = NULL;
        int row;

        if (is_path(ref)) {
            /* A file: every certificate in it (a CA bundle). */
            sk = tlsutil_load_cert_file(ref, &e);
            if (sk == NULL) {
                log_warn("security.certificates.control_api: %s; skipped", e);
                free(e);
                continue;
            }
            for (int j = 0; j < sk_X509_num(sk); j++)
                add_anchor(t, st, names, sk_X509_value(sk, j));
            sk_X509_pop_free(sk, X509_free);
            continue;
        }
        /* A store id: the entry's first certificate; public keys never authorise. */
        row = certstore_find_row(res, ref);
        sk = row < 0 || strcmp(PQgetvalue(res, row, CS_KIND), "certificate") != 0
                 ? NULL
                 : certinfo_load_chain(PQgetvalue(res, row, CS_PEM),
                                       (size_t)PQgetlength(res, row, CS_PEM));
        if (sk == NULL) {
            log_warn("security.certificates.control_api: certificate %s is not in the store "
                     "(or not a certificate); skipped", ref);
            continue;
        }
        add_anchor(t, st, names, sk_X509_value(sk, 0));
        sk_X509_pop_free(sk, X509_free);
    }
    if (t->nanchors == 0)
        log_warn("security.control_api_use_mutual_tls: no certificate of "
                 "security.certificates.control_api could be loaded; every client will fail "
                 "the TLS handshake");
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    if (SSL_CTX_set1_verify_cert_store(t->ctx, st) != 1)
        die("api_tls: cannot set the client verification store");
    X509_STORE_free(st);
    /* With skip_client_ca_announcement the CertificateRequest names no CA (spec §8.3); the
     * verification is the same. */
    if (!c->https_skip_client_ca_announcement && sk_X509_NAME_num(names) > 0)
        SSL_CTX_set_client_CA_list(t->ctx, names);
    else
        sk_X509_NAME_pop_free(names, X509_NAME_free);
    return 0;
}

/* ---- per-handshake certificate choice ---- */

static const struct tlsutil_cert *pick(const struct apitls *t, const char *sni)
{
    const char *dot = strchr(sni, '.');
    char wild[SNI_MAX + 2];

    for (size_t i = 0; i < t->ncerts; i++)
        if (strcmp(t->certs[i].domain_name, sni) == 0)
            return &t->certs[i];
    for (size_t i = 0; i < t->ncerts; i++)
        for (size_t j = 0; j < t->certs[i].nnames; j++)
            if (strcmp(t->certs[i].names[j], sni) == 0)
                return &t->certs[i];
    if (dot != NULL) {
        snprintf(wild, sizeof(wild), "*%s", dot);
        for (size_t i = 0; i < t->ncerts; i++)
            for (size_t j = 0; j < t->certs[i].nnames; j++)
                if (strcmp(t->certs[i].names[j], wild) == 0)
                    return &t->certs[i];
    }
    for (size_t i = 0; i < t->ncerts; i++)
        if (X509_check_host(t->certs[i].leaf, sni, strlen(sni), 0, NULL) == 1)
            return &t->certs[i];
    return &t->certs[0];
}

static int on_servername(SSL *ssl, int *al, void *arg)
{
    const struct apitls *t = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    char sni[SNI_MAX + 1];
    const struct tlsutil_cert *sc;
    size_t n;

    if (name == NULL || (n = strlen(name)) == 0 || n > SNI_MAX)
        return SSL_TLSEXT_ERR_OK; /* the context's first certificate */
    for (size_t i = 0; i <= n; i++)
        sni[i] = (char)tolower((unsigned char)name[i]);
    sc = pick(t, sni);
    if (sc != &t->certs[0] &&
        SSL_use_cert_and_key(ssl, sc->leaf, sc->key, sc->chain, 1) != 1) {
        *al = SSL_AD_INTERNAL_ERROR;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    return SSL_TLSEXT_ERR_OK;
}
