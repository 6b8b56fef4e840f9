/*
 * tls: the worker's TLS server context and the per-handshake decisions (see tls.h).
 * The certificate name map (spec §8.1) is derived once per (snapshot, file generation) and
 * kept until either changes, so a handshake only compares strings.
 */
#include "proxy/tls.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "common/tlsutil.h"
#include "proxy/apis.h"
#include "proxy/proxy_cfg.h"

#define SNI_MAX 255

/* One servable certificate; the pointers borrow a file certificate or the snapshot. */
struct cert_ref {
    X509 *leaf;
    STACK_OF(X509) *chain;
    EVP_PKEY *key;
};

struct name_ent {
    const char *name; /* borrowed like cert_ref */
    size_t idx;       /* into certs */
};

struct cert_map {
    struct apis *snap; /* own reference: keeps the borrowed pointers alive */
    unsigned gen;      /* file certificate generation it was built from */
    struct cert_ref *certs;
    size_t ncerts;
    struct name_ent *names; /* in insertion order; a later entry overrides */
    size_t nnames;
    bool valid;
};

struct tls_srv {
    const struct proxy_config *cfg;
    SSL_CTX *ctx;
    struct tlsutil_cert *files; /* http_server_options.certificates */
    size_t nfiles;
    unsigned gen;
    struct apis *snap; /* own reference */
    struct cert_map map;
};

static int sni_idx = -1;

static void sni_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp);
static int load_files(const struct proxy_config *cfg, struct tlsutil_cert **out, size_t *nout,
                      char **err);
static int on_client_hello(SSL *ssl, int *al, void *arg);
static int parse_sni(const unsigned char *p, size_t len, char *out);
static const struct cert_map *current_map(struct tls_srv *t);
static void map_clear(struct cert_map *m);
static void map_add_name(struct cert_map *m, const char *name, size_t idx);
static const struct cert_ref *pick_cert(const struct cert_map *m, const char *sni);
static int apply_policy(struct tls_srv *t, SSL *ssl, const char *sni);
static int verify_accept_any(int ok, X509_STORE_CTX *x);

/* ---- public functions ---- */

struct tls_srv *tls_srv_new(const struct proxy_config *cfg, char **err)
{
    struct tls_srv *t = xcalloc(1, sizeof(*t));
    int vmin = cfg->https_min_version == 772 ? TLS1_3_VERSION : TLS1_2_VERSION;
    int vmax = cfg->https_max_version == 771 ? TLS1_2_VERSION : TLS1_3_VERSION;

    /* CRYPTO_get_ex_new_index is thread-safe; every worker gets the same index. */
    if (sni_idx < 0)
        sni_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, sni_free);
    t->cfg = cfg;
    t->ctx = SSL_CTX_new(TLS_server_method());
    if (t->ctx == NULL || sni_idx < 0) {
        *err = xstrdup("cannot create the TLS server context");
        goto fail;
    }
    if (SSL_CTX_set_min_proto_version(t->ctx, vmin) != 1 ||
        SSL_CTX_set_max_proto_version(t->ctx, vmax) != 1) {
        *err = xstrdup("cannot set the TLS versions");
        goto fail;
    }
    SSL_CTX_set_options(t->ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                    SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(t->ctx, SSL_MODE_RELEASE_BUFFERS);
    tlsutil_set_ciphers(t->ctx, &cfg->https_ssl_ciphers, "http_server_options.ssl_ciphers");
    SSL_CTX_set_client_hello_cb(t->ctx, on_client_hello, t);
    if (load_files(cfg, &t->files, &t->nfiles, err) < 0)
        goto fail;
    return t;
fail:
    tls_srv_free(t);
    return NULL;
}

void tls_srv_free(struct tls_srv *t)
{
    if (t == NULL)
        return;
    map_clear(&t->map);
    apis_unref(t->snap);
    tlsutil_certs_free(t->files, t->nfiles);
    SSL_CTX_free(t->ctx);
    free(t);
}

int tls_srv_reload(struct tls_srv *t, char **err)
{
    struct tlsutil_cert *f;
    size_t n;

    if (load_files(t->cfg, &f, &n, err) < 0)
        return -1;
    /* The map borrows the old files: drop it before them. */
    map_clear(&t->map);
    tlsutil_certs_free(t->files, t->nfiles);
    t->files = f;
    t->nfiles = n;
    t->gen++;
    return 0;
}

void tls_srv_set_snapshot(struct tls_srv *t, struct apis *snap)
{
    if (snap != NULL)
        apis_ref(snap);
    apis_unref(t->snap);
    t->snap = snap;
}

SSL *tls_srv_ssl_new(struct tls_srv *t)
{
    return SSL_new(t->ctx);
}

const char *tls_sni(const SSL *ssl)
{
    const char *s = sni_idx >= 0 ? SSL_get_ex_data(ssl, sni_idx) : NULL;

    return s != NULL ? s : "";
}

size_t tls_srv_file_cert_count(const struct tls_srv *t)
{
    return t->nfiles;
}

/* ---- certificate files ---- */

static void sni_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    free(ptr);
}

static int load_files(const struct proxy_config *cfg, struct tlsutil_cert **out, size_t *nout,
                      char **err)
{
    struct tlsutil_cert *f = NULL;
    size_t n = 0;

    if (tlsutil_certs_load(&f, &n, cfg->https_certificates, "http_server_options.certificates",
                           err) < 0) {
        tlsutil_certs_free(f, n);
        return -1;
    }
    *out = f;
    *nout = n;
    return 0;
}

/* ---- handshakes ---- */

static int on_client_hello(SSL *ssl, int *al, void *arg)
{
    struct tls_srv *t = arg;
    const unsigned char *ext;
    size_t extlen;
    char sni[SNI_MAX + 1] = "";
    const struct cert_map *m;
    const struct cert_ref *c;

    /* A second ClientHello (HelloRetryRequest) keeps the decision of the first. */
    if (SSL_get_ex_data(ssl, sni_idx) != NULL)
        return SSL_CLIENT_HELLO_SUCCESS;
    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &extlen) == 1 &&
        parse_sni(ext, extlen, sni) < 0) {
        *al = SSL_AD_DECODE_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    SSL_set_ex_data(ssl, sni_idx, xstrdup(sni));
    m = current_map(t);
    c = pick_cert(m, sni);
    if (c == NULL) {
        *al = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_CLIENT_HELLO_ERROR;
    }
    if (SSL_use_cert_and_key(ssl, c->leaf, c->key, c->chain, 1) != 1 ||
        apply_policy(t, ssl, sni) < 0) {
        *al = SSL_AD_INTERNAL_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    return SSL_CLIENT_HELLO_SUCCESS;
}

/* RFC 6066 §3: ServerNameList { NameType(1) HostName<1..2^16-1> }; the first host_name. */
static int parse_sni(const unsigned char *p, size_t len, char *out)
{
    size_t list, nlen;

    if (len < 2)
        return -1;
    list = ((size_t)p[0] << 8) | p[1];
    if (list + 2 != len || list < 3)
        return -1;
    p += 2;
    if (p[0] != TLSEXT_NAMETYPE_host_name)
        return 0;
    nlen = ((size_t)p[1] << 8) | p[2];
    if (nlen == 0 || nlen + 3 > list || nlen > SNI_MAX)
        return -1;
    for (size_t i = 0; i < nlen; i++) {
        unsigned char ch = p[3 + i];

        if (ch <= 0x20 || ch >= 0x7f)
            return -1;
        out[i] = (char)tolower(ch);
    }
    out[nlen] = '\0';
    return 0;
}

static const struct cert_map *current_map(struct tls_srv *t)
{
    struct cert_map *m = &t->map;
    const struct server_cert *const *sc = NULL;
    size_t nsc = 0, k = 0;

    if (m->valid && m->snap == t->snap && m->gen == t->gen)
        return m;
    map_clear(m);
    if (t->snap != NULL)
        nsc = apis_server_certs(t->snap, &sc);
    m->snap = t->snap != NULL ? apis_ref(t->snap) : NULL;
    m->gen = t->gen;
    m->ncerts = t->nfiles + nsc;
    m->certs = xcalloc(m->ncerts > 0 ? m->ncerts : 1, sizeof(*m->certs));
    /* Spec §8.1: file pairs, then store certificates; CN/SANs first, domain_name entries
     * override them, store certificates (per-API last) override by their names. */
    for (size_t i = 0; i < t->nfiles; i++, k++) {
        m->certs[k] = (struct cert_ref){t->files[i].leaf, t->files[i].chain, t->files[i].key};
        for (size_t j = 0; j < t->files[i].nnames; j++)
            map_add_name(m, t->files[i].names[j], k);
    }
    for (size_t i = 0; i < t->nfiles; i++) {
        if (t->files[i].domain_name[0] != '\0')
            map_add_name(m, t->files[i].domain_name, i);
    }
    for (size_t i = 0; i < nsc; i++, k++) {
        m->certs[k] = (struct cert_ref){sc[i]->leaf, sc[i]->chain, sc[i]->key};
        for (size_t j = 0; j < sc[i]->nnames; j++)
            map_add_name(m, sc[i]->names[j], k);
    }
    m->valid = true;
    return m;
}

static void map_clear(struct cert_map *m)
{
    apis_unref(m->snap);
    free(m->certs);
    free(m->names);
    memset(m, 0, sizeof(*m));
}

static void map_add_name(struct cert_map *m, const char *name, size_t idx)
{
    m->names = xrealloc(m->names, (m->nnames + 1) * sizeof(*m->names));
    m->names[m->nnames++] = (struct name_ent){name, idx};
}

/* Go's Config.getCertificate (spec §8.1). */
static const struct cert_ref *pick_cert(const struct cert_map *m, const char *sni)
{
    const char *dot;
    char wild[SNI_MAX + 2];

    if (m->ncerts == 0)
        return NULL;
    if (m->ncerts == 1 || sni[0] == '\0')
        return &m->certs[0];
    for (size_t i = m->nnames; i-- > 0;) {
        if (strcmp(m->names[i].name, sni) == 0)
            return &m->certs[m->names[i].idx];
    }
    dot = strchr(sni, '.');
    if (dot != NULL) {
        snprintf(wild, sizeof(wild), "*%s", dot);
        for (size_t i = m->nnames; i-- > 0;) {
            if (strcmp(m->names[i].name, wild) == 0)
                return &m->certs[m->names[i].idx];
        }
    }
    for (size_t i = 0; i < m->ncerts; i++) {
        if (X509_check_host(m->certs[i].leaf, sni, strlen(sni), 0, NULL) == 1)
            return &m->certs[i];
    }
    return &m->certs[0];
}

/* Spec §3.1/§8.3 through apis_tls_policy; the default branch is the strictest (STYLE 2.9.7). */
static int apply_policy(struct tls_srv *t, SSL *ssl, const char *sni)
{
    struct tls_policy pol = {CLIENT_AUTH_NONE, NULL, NULL};
    unsigned char sid[SHA256_DIGEST_LENGTH];
    char seed[SNI_MAX + 64];
    STACK_OF(X509_NAME) *names;
    int n;

    if (t->snap != NULL)
        apis_tls_policy(t->snap, sni, &pol);
    switch (pol.level) {
    case CLIENT_AUTH_NONE:
        SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
        break;
    case CLIENT_AUTH_REQUEST:
        SSL_set_verify(ssl, SSL_VERIFY_PEER, verify_accept_any);
        break;
    case CLIENT_AUTH_REQUIRE:
    default:
        SSL_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        if (pol.store == NULL || SSL_set1_verify_cert_store(ssl, pol.store) != 1) {
            log_warn("TLS policy for sni='%s' requires a certificate but has no store", sni);
            return -1;
        }
        break;
    }
    if (pol.level != CLIENT_AUTH_NONE && !t->cfg->https_skip_client_ca_announcement &&
        pol.ca_names != NULL && sk_X509_NAME_num(pol.ca_names) > 0) {
        names = SSL_dup_CA_list(pol.ca_names);
        if (names != NULL)
            SSL_set_client_CA_list(ssl, names);
    }
    n = snprintf(seed, sizeof(seed), "%lld|%s|%d", t->snap != NULL ? apis_revision(t->snap) : -1LL,
                 sni, (int)pol.level);
    SHA256((const unsigned char *)seed, (size_t)n, sid);
    return SSL_set_session_id_context(ssl, sid, sizeof(sid)) == 1 ? 0 : -1;
}

/* CLIENT_AUTH_REQUEST: keep whatever the client sent; authz decides at HTTP level. */
static int verify_accept_any(int ok, X509_STORE_CTX *x)
{
    return 1;
}
