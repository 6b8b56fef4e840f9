/*
 * ups_tls: upstream TLS profiles and checks (see ups_tls.h).
 *
 * Decisions of ours (documented in the report and README):
 * - Pinning replaces chain verification for a host with pins, as in Tyk, but only the leaf's
 *   key counts (the key the handshake proved possession of): Tyk accepts any certificate of
 *   the chain the server sends, which is public data. A host without pins keeps normal
 *   verification even when other hosts are pinned (Tyk skips verification there).
 * - ssl_force_common_name_check replaces the SAN-based host name check with "subject CN ==
 *   host"; the chain is still verified unless verification is skipped (Tyk skips it).
 */
#include "proxy/ups_tls.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "common/strutil.h"
#include "common/tlsutil.h"
#include "proxy/proxy_cfg.h"

#define HOST_MAX 300

const char ups_tls_err_handshake[] = "upstream TLS handshake failed";
const char ups_tls_err_verify[] = "upstream certificate verification failed";
const char ups_tls_err_pin[] =
    "upstream certificate public key pinning error: public keys do not match";
const char ups_tls_err_cn[] = "upstream certificate common name does not match the host";
const char ups_tls_err_client_cert[] = "upstream refused the client certificate";

struct ups_ctx {
    char *key; /* the configuration it was built from */
    SSL_CTX *ctx;
};

struct ups_tls {
    char *error;  /* configuration problem, else NULL */
    SSL_CTX *ctx; /* borrowed from the set */
    char *host;
    bool ip; /* host is an IP literal: no SNI, IP check */
    bool verify;
    bool force_cn;
    unsigned char (*pins)[SHA256_DIGEST_LENGTH];
    size_t npins;
    char *key; /* pool key */
};

struct ups_tls_set {
    const struct proxy_config *cfg;
    struct ups_ctx *ctxs;
    size_t nctxs;
    struct ups_tls **v;
    size_t n;
};

static pthread_mutex_t ca_mu = PTHREAD_MUTEX_INITIALIZER;
static X509_STORE *ca_store; /* the process's; each context holds its own reference */

static X509_STORE *ca_store_get(const struct proxy_config *cfg, char **err);
static SSL_CTX *ctx_build(const struct ups_tls_set *s, const struct ups_tls_params *p, char **err);
static char *ctx_key(const struct ups_tls_params *p);
static struct ups_tls *profile_push(struct ups_tls_set *s);

/* ---- lookups (spec §8.5, §8.6) ---- */

static const char *map_get(const json_t *m, const char *k)
{
    return json_string_value(json_object_get(m, k));
}

/* "*." + s after its first '.', or false when s has no '.'. */
static bool wildcard_of(const char *s, char *out, size_t len)
{
    const char *dot = strchr(s, '.');

    return dot != NULL && (size_t)snprintf(out, len, "*.%s", dot + 1) < len;
}

const char *ups_tls_cert_for_host(const char *authority, const json_t *gw, const json_t *api)
{
    const json_t *maps[2] = {gw, api};
    char bare[HOST_MAX], pat[HOST_MAX + 2];
    const char *id = NULL, *v, *colon, *end;

    if (authority == NULL || strlen(authority) >= HOST_MAX)
        return NULL;
    /* net.SplitHostPort, except that "[v6]" without a port also loses its brackets. */
    snprintf(bare, sizeof(bare), "%s", authority);
    if (authority[0] == '[' && (end = strchr(authority, ']')) != NULL) {
        snprintf(bare, sizeof(bare), "%.*s", (int)(end - authority - 1), authority + 1);
    } else if ((colon = strrchr(authority, ':')) != NULL) {
        bare[colon - authority] = '\0';
    }
    for (size_t i = 0; i < 2; i++) {
        if (!json_is_object(maps[i]) || json_object_size(maps[i]) == 0)
            continue;
        if ((v = map_get(maps[i], "*")) != NULL)
            id = v;
        if (wildcard_of(bare, pat, sizeof(pat))) {
            if ((v = map_get(maps[i], pat)) != NULL)
                id = v;
            if (wildcard_of(authority, pat, sizeof(pat)) && (v = map_get(maps[i], pat)) != NULL)
                id = v;
        }
        if ((v = map_get(maps[i], bare)) != NULL)
            id = v;
        if ((v = map_get(maps[i], authority)) != NULL)
            id = v;
    }
    return id;
}

const char *ups_tls_pins_for_host(const char *host, const json_t *gw, const json_t *api)
{
    const json_t *maps[2] = {gw, api};
    char pat[HOST_MAX + 2];
    const char *pins = NULL, *v;

    if (host == NULL || strlen(host) >= HOST_MAX)
        return NULL;
    for (size_t i = 0; i < 2; i++) {
        if (!json_is_object(maps[i]) || json_object_size(maps[i]) == 0)
            continue;
        if ((v = map_get(maps[i], "*")) != NULL)
            pins = v;
        if (wildcard_of(host, pat, sizeof(pat)) && (v = map_get(maps[i], pat)) != NULL)
            pins = v;
        if ((v = map_get(maps[i], host)) != NULL)
            pins = v;
    }
    return pins;
}

/* ---- profiles ---- */

struct ups_tls_set *ups_tls_set_new(const struct proxy_config *cfg)
{
    struct ups_tls_set *s = xcalloc(1, sizeof(*s));

    s->cfg = cfg;
    return s;
}

void ups_tls_set_free(struct ups_tls_set *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i]->error);
        free(s->v[i]->host);
        free(s->v[i]->pins);
        free(s->v[i]->key);
        free(s->v[i]);
    }
    free(s->v);
    for (size_t i = 0; i < s->nctxs; i++) {
        free(s->ctxs[i].key);
        SSL_CTX_free(s->ctxs[i].ctx);
    }
    free(s->ctxs);
    free(s);
}

const struct ups_tls *ups_tls_set_add(struct ups_tls_set *s, const struct ups_tls_params *p)
{
    char *key = ctx_key(p), *err = NULL, hex[2 * SHA256_DIGEST_LENGTH + 1];
    struct ups_tls *t;
    SSL_CTX *ctx = NULL;
    unsigned char a6[16];
    size_t klen;

    for (size_t i = 0; i < s->nctxs && ctx == NULL; i++)
        if (strcmp(s->ctxs[i].key, key) == 0)
            ctx = s->ctxs[i].ctx;
    if (ctx == NULL) {
        ctx = ctx_build(s, p, &err);
        if (ctx == NULL) {
            const struct ups_tls *e = ups_tls_set_add_error(s, err);

            free(err);
            free(key);
            return e;
        }
        s->ctxs = xrealloc(s->ctxs, (s->nctxs + 1) * sizeof(*s->ctxs));
        s->ctxs[s->nctxs++] = (struct ups_ctx){xstrdup(key), ctx};
    }
    t = profile_push(s);
    t->ctx = ctx;
    t->host = xstrdup(p->host);
    t->ip = inet_pton(AF_INET, p->host, a6) == 1 || inet_pton(AF_INET6, p->host, a6) == 1;
    t->verify = p->verify && p->npins == 0;
    t->force_cn = p->force_cn;
    if (p->npins > 0) {
        t->pins = xcalloc(p->npins, sizeof(*t->pins));
        memcpy(t->pins, p->pins, p->npins * sizeof(*t->pins));
        t->npins = p->npins;
    }
    /* The pool key: the context's configuration plus the checks made after the handshake. */
    klen = strlen(key) + 16 + t->npins * (sizeof(hex) + 1);
    t->key = xmalloc(klen);
    snprintf(t->key, klen, "%s|cn=%d|pins=", key, t->force_cn);
    for (size_t i = 0; i < t->npins; i++) {
        hex_encode(t->pins[i], sizeof(t->pins[i]), hex);
        strcat(t->key, hex);
        strcat(t->key, ",");
    }
    free(key);
    return t;
}

const struct ups_tls *ups_tls_set_add_error(struct ups_tls_set *s, const char *msg)
{
    struct ups_tls *t = profile_push(s);

    t->error = xstrdup(msg);
    t->host = xstrdup("");
    t->key = xstrdup("error");
    return t;
}

const char *ups_tls_error(const struct ups_tls *t)
{
    return t->error;
}

const char *ups_tls_key(const struct ups_tls *t)
{
    return t->key;
}

size_t ups_tls_set_contexts(const struct ups_tls_set *s)
{
    return s->nctxs;
}

static struct ups_tls *profile_push(struct ups_tls_set *s)
{
    struct ups_tls *t = xcalloc(1, sizeof(*t));

    s->v = xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
    s->v[s->n++] = t;
    return t;
}

/* Everything the SSL_CTX depends on; equal keys share a context. */
static char *ctx_key(const struct ups_tls_params *p)
{
    size_t len = 128 + (p->cert_id != NULL ? strlen(p->cert_id) : 0), o;
    char *k;

    for (size_t i = 0; i < p->nciphers; i++)
        len += strlen(p->ciphers[i]) + 1;
    k = xmalloc(len);
    o = (size_t)snprintf(k, len,
                         "v=%d|min=%d|max=%d|reneg=%d|cert=%s|ciphers=", p->verify && p->npins == 0,
                         p->min_version, p->max_version, !p->disable_renegotiation,
                         p->cert_id != NULL ? p->cert_id : "");
    for (size_t i = 0; i < p->nciphers; i++)
        o += (size_t)snprintf(k + o, len - o, "%s,", p->ciphers[i]);
    return k;
}

static SSL_CTX *ctx_build(const struct ups_tls_set *s, const struct ups_tls_params *p, char **err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    X509_STORE *store;
    char ebuf[256];

    if (ctx == NULL)
        die("ups_tls: out of memory");
    if (SSL_CTX_set_min_proto_version(ctx, p->min_version == 772 ? TLS1_3_VERSION
                                                                 : TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, p->max_version == 771 ? TLS1_2_VERSION
                                                                 : TLS1_3_VERSION) != 1) {
        *err = xstrdup("upstream TLS: cannot set the TLS versions");
        goto fail;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
                                 (p->disable_renegotiation ? SSL_OP_NO_RENEGOTIATION : 0));
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    {
        const struct cfg_strlist names = {(char **)p->ciphers, p->nciphers};

        tlsutil_set_ciphers(ctx, &names, "upstream ssl_ciphers");
    }
    if (p->verify && p->npins == 0) {
        store = ca_store_get(s->cfg, err);
        if (store == NULL)
            goto fail;
        SSL_CTX_set1_cert_store(ctx, store);
        X509_STORE_free(store);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    if (p->cert_id != NULL && SSL_CTX_use_cert_and_key(ctx, p->cert, p->key, p->chain, 1) != 1) {
        *err = xasprintf("upstream client certificate %s cannot be used: %s", p->cert_id,
                         tlsutil_errors(ebuf, sizeof(ebuf)));
        goto fail;
    }
    return ctx;
fail:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

/* ---- the CA store ---- */

static X509_STORE *ca_store_get(const struct proxy_config *cfg, char **err)
{
    const char *file = cfg->proxy_ssl_ca_file != NULL ? cfg->proxy_ssl_ca_file : "";
    char ebuf[256];
    X509_STORE *s;

    pthread_mutex_lock(&ca_mu);
    if (ca_store == NULL) {
        s = X509_STORE_new();
        if (s == NULL)
            die("ups_tls: out of memory");
        if (file[0] != '\0' ? X509_STORE_load_file(s, file) != 1
                            : X509_STORE_set_default_paths(s) != 1) {
            *err = xasprintf("proxy_ssl_ca_file: cannot load '%s': %s",
                             file[0] != '\0' ? file : "(system store)",
                             tlsutil_errors(ebuf, sizeof(ebuf)));
            X509_STORE_free(s);
            pthread_mutex_unlock(&ca_mu);
            return NULL;
        }
        ca_store = s;
    }
    X509_STORE_up_ref(ca_store);
    s = ca_store;
    pthread_mutex_unlock(&ca_mu);
    return s;
}

int ups_tls_ca_init(const struct proxy_config *cfg, char **err)
{
    X509_STORE *s = ca_store_get(cfg, err);

    if (s == NULL)
        return -1;
    X509_STORE_free(s);
    return 0;
}

void ups_tls_ca_free(void)
{
    pthread_mutex_lock(&ca_mu);
    X509_STORE_free(ca_store);
    ca_store = NULL;
    pthread_mutex_unlock(&ca_mu);
}

/* ---- connections ---- */

/* Watches the handshake for a CertificateRequest. */
static void on_msg(int write_p, int version, int content_type, const void *buf, size_t len,
                   SSL *ssl, void *arg)
{
    if (!write_p && content_type == SSL3_RT_HANDSHAKE && len > 0 &&
        ((const unsigned char *)buf)[0] == SSL3_MT_CERTIFICATE_REQUEST)
        *(bool *)arg = true;
}

SSL *ups_tls_ssl_new(const struct ups_tls *t, bool *cert_requested)
{
    SSL *ssl;

    if (t->error != NULL)
        return NULL;
    ssl = SSL_new(t->ctx);
    if (ssl == NULL)
        die("ups_tls: out of memory");
    *cert_requested = false;
    SSL_set_msg_callback(ssl, on_msg);
    SSL_set_msg_callback_arg(ssl, cert_requested);
    if (!t->ip && SSL_set_tlsext_host_name(ssl, t->host) != 1)
        log_warn("upstream %s: cannot set the SNI", t->host);
    if (t->verify && !t->force_cn) {
        SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if ((t->ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), t->host)
                   : SSL_set1_host(ssl, t->host)) != 1)
            die("ups_tls: cannot set the host name to verify");
    }
    return ssl;
}

void ups_tls_handshake_done(SSL *ssl)
{
    SSL_set_msg_callback(ssl, NULL);
    SSL_set_msg_callback_arg(ssl, NULL);
}

static bool leaf_cn_is(X509 *leaf, const char *host)
{
    X509_NAME *subj = X509_get_subject_name(leaf);
    int pos = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
    unsigned char *utf8 = NULL;
    bool ok;
    int len;

    /* Go's Subject.CommonName is the last CN attribute. */
    for (int p = pos; p >= 0; p = X509_NAME_get_index_by_NID(subj, NID_commonName, p))
        pos = p;
    if (pos < 0)
        return false;
    len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, pos)));
    ok = len >= 0 && (size_t)len == strlen(host) && memcmp(utf8, host, (size_t)len) == 0;
    OPENSSL_free(utf8);
    return ok;
}

bool ups_tls_spki_sha256(EVP_PKEY *pk, unsigned char *out)
{
    unsigned char *der = NULL;
    int n = pk != NULL ? i2d_PUBKEY(pk, &der) : -1;

    if (n > 0)
        SHA256(der, (size_t)n, out);
    OPENSSL_free(der);
    return n > 0;
}

const char *ups_tls_check_peer(const struct ups_tls *t, SSL *ssl, const char *name)
{
    X509 *leaf = SSL_get0_peer_certificate(ssl);
    unsigned char md[SHA256_DIGEST_LENGTH];
    char hex[2 * SHA256_DIGEST_LENGTH + 1] = "none";
    bool ok = false;

    /* Only the leaf counts: its key is the one the handshake proved (see the file comment). */
    if (t->npins > 0) {
        if (leaf != NULL && ups_tls_spki_sha256(X509_get0_pubkey(leaf), md)) {
            for (size_t i = 0; i < t->npins && !ok; i++)
                ok = memcmp(md, t->pins[i], sizeof(md)) == 0;
            hex_encode(md, sizeof(md), hex);
        }
        if (!ok) {
            log_warn("upstream %s: public key pinning failed for host %s: the certificate's "
                     "key (sha256 %s) is not among the %zu pinned",
                     name, t->host, hex, t->npins);
            return ups_tls_err_pin;
        }
    }
    if (t->force_cn && (leaf == NULL || !leaf_cn_is(leaf, t->host))) {
        log_warn("upstream %s: the certificate's common name is not %s", name, t->host);
        return ups_tls_err_cn;
    }
    return NULL;
}

const char *ups_tls_classify(SSL *ssl, unsigned long e, bool cert_requested, const char *name)
{
    int reason = ERR_GET_REASON(e);
    long vr;

    if (ERR_GET_LIB(e) == ERR_LIB_SSL) {
        switch (reason) {
        case SSL_R_CERTIFICATE_VERIFY_FAILED:
            vr = SSL_get_verify_result(ssl);
            log_info("upstream %s: certificate verification failed: %s", name,
                     X509_verify_cert_error_string(vr));
            return ups_tls_err_verify;
        /* Alerts a server sends about the client's certificate (or its absence). */
        case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
        case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
        case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
        case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
        case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
        case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
        case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
        case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
            log_info("upstream %s: the server refused the client certificate: %s", name,
                     ERR_reason_error_string(e));
            return ups_tls_err_client_cert;
        case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
            /* TLS 1.2: the server asked for a certificate and did not like what it got. */
            if (cert_requested) {
                log_info("upstream %s: the server refused the client certificate: %s", name,
                         ERR_reason_error_string(e));
                return ups_tls_err_client_cert;
            }
            break;
        default:
            break;
        }
    }
    if (e == 0 && cert_requested) {
        log_info("upstream %s: the server asked for a client certificate, then closed the "
                 "connection",
                 name);
        return ups_tls_err_client_cert;
    }
    log_info("upstream %s: TLS handshake failed: %s", name,
             e != 0 && ERR_reason_error_string(e) != NULL ? ERR_reason_error_string(e)
                                                          : "connection closed");
    return ups_tls_err_handshake;
}
