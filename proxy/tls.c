/*
 * tls: the worker's TLS server context and the per-handshake decisions (see tls.h).
 * The certificate name map (spec §8.1) is derived once per (snapshot, file generation) and
 * kept until either changes, so a handshake only compares strings.
 */
#include "proxy/tls.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "proxy/apis.h"
#include "proxy/proxy_cfg.h"

#define SNI_MAX 255

struct file_cert {
    X509 *leaf;
    STACK_OF(X509) *chain;
    EVP_PKEY *key;
    char *domain_name; /* lowercase, "" when none */
    char **names;      /* lowercase CN and DNS SANs */
    size_t nnames;
};

/* One servable certificate; the pointers borrow file_cert or the snapshot. */
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
    struct file_cert *files;
    size_t nfiles;
    unsigned gen;
    struct apis *snap; /* own reference */
    struct cert_map map;
};

static int sni_idx = -1;

static void sni_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp);
static int load_files(const struct proxy_config *cfg, struct file_cert **out, size_t *nout,
                      char **err);
static void free_files(struct file_cert *f, size_t n);
static int load_one(const char *cert_file, const char *key_file, struct file_cert *fc, char **err);
static void collect_names(X509 *x, char ***names, size_t *n);
static void set_ciphers(SSL_CTX *ctx, const struct cfg_strlist *names);
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
    set_ciphers(t->ctx, &cfg->https_ssl_ciphers);
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
    free_files(t->files, t->nfiles);
    SSL_CTX_free(t->ctx);
    free(t);
}

int tls_srv_reload(struct tls_srv *t, char **err)
{
    struct file_cert *f;
    size_t n;

    if (load_files(t->cfg, &f, &n, err) < 0)
        return -1;
    /* The map borrows the old files: drop it before them. */
    map_clear(&t->map);
    free_files(t->files, t->nfiles);
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

const char *tls_errors(char *buf, size_t len)
{
    unsigned long e;
    size_t o = 0;
    const char *r;

    buf[0] = '\0';
    while ((e = ERR_get_error()) != 0) {
        r = ERR_reason_error_string(e);
        if (o + 3 < len)
            o += (size_t)snprintf(buf + o, len - o, "%s%s", o > 0 ? "; " : "",
                                  r != NULL ? r : "unknown error");
        if (o >= len)
            o = len - 1;
    }
    return buf;
}

/* ---- certificate files ---- */

static void sni_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    free(ptr);
}

static int load_files(const struct proxy_config *cfg, struct file_cert **out, size_t *nout,
                      char **err)
{
    const json_t *arr = cfg->https_certificates;
    size_t n = json_is_array(arr) ? json_array_size(arr) : 0;
    struct file_cert *f = xcalloc(n > 0 ? n : 1, sizeof(*f));
    const char *dn;
    json_t *e;
    size_t i;

    json_array_foreach(arr, i, e)
    {
        if (load_one(json_string_value(json_object_get(e, "cert_file")),
                     json_string_value(json_object_get(e, "key_file")), &f[i], err) < 0) {
            free_files(f, n);
            return -1;
        }
        dn = json_string_value(json_object_get(e, "domain_name"));
        f[i].domain_name = xstrdup(dn != NULL ? dn : "");
        for (char *p = f[i].domain_name; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    }
    *out = f;
    *nout = n;
    return 0;
}

static int load_one(const char *cert_file, const char *key_file, struct file_cert *fc, char **err)
{
    char ebuf[256];
    FILE *fp;
    X509 *x;

    fp = fopen(cert_file, "r");
    if (fp == NULL) {
        *err = xasprintf("http_server_options.certificates: cannot open '%s': %s", cert_file,
                         strerror(errno));
        return -1;
    }
    fc->leaf = PEM_read_X509(fp, NULL, NULL, NULL);
    fc->chain = sk_X509_new_null();
    while (fc->leaf != NULL && (x = PEM_read_X509(fp, NULL, NULL, NULL)) != NULL)
        sk_X509_push(fc->chain, x);
    fclose(fp);
    ERR_clear_error(); /* the loop ends on a "no start line" */
    if (fc->leaf == NULL) {
        *err = xasprintf("http_server_options.certificates: no certificate in '%s'", cert_file);
        return -1;
    }
    fp = fopen(key_file, "r");
    if (fp == NULL) {
        *err = xasprintf("http_server_options.certificates: cannot open '%s': %s", key_file,
                         strerror(errno));
        return -1;
    }
    fc->key = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
    fclose(fp);
    if (fc->key == NULL) {
        *err = xasprintf("http_server_options.certificates: no private key in '%s' (%s)", key_file,
                         tls_errors(ebuf, sizeof(ebuf)));
        return -1;
    }
    if (X509_check_private_key(fc->leaf, fc->key) != 1) {
        ERR_clear_error();
        *err = xasprintf("http_server_options.certificates: the key in '%s' does not match "
                         "the certificate in '%s'",
                         key_file, cert_file);
        return -1;
    }
    collect_names(fc->leaf, &fc->names, &fc->nnames);
    return 0;
}

static void free_files(struct file_cert *f, size_t n)
{
    if (f == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        X509_free(f[i].leaf);
        sk_X509_pop_free(f[i].chain, X509_free);
        EVP_PKEY_free(f[i].key);
        free(f[i].domain_name);
        for (size_t j = 0; j < f[i].nnames; j++)
            free(f[i].names[j]);
        free(f[i].names);
    }
    free(f);
}

/* Subject CN, then every DNS SAN, lowercase (Go's BuildNameToCertificate). */
static void collect_names(X509 *x, char ***names, size_t *n)
{
    X509_NAME *subj = X509_get_subject_name(x);
    GENERAL_NAMES *sans;
    char cn[256];
    int cnt;

    *names = NULL;
    *n = 0;
    if (X509_NAME_get_text_by_NID(subj, NID_commonName, cn, sizeof(cn)) > 0) {
        *names = xrealloc(*names, (*n + 1) * sizeof(char *));
        (*names)[(*n)++] = xstrdup(cn);
    }
    sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    cnt = sans != NULL ? sk_GENERAL_NAME_num(sans) : 0;
    for (int i = 0; i < cnt; i++) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
        const unsigned char *d;
        int len;

        if (g->type != GEN_DNS)
            continue;
        d = ASN1_STRING_get0_data(g->d.dNSName);
        len = ASN1_STRING_length(g->d.dNSName);
        if (len <= 0 || memchr(d, '\0', (size_t)len) != NULL)
            continue;
        *names = xrealloc(*names, (*n + 1) * sizeof(char *));
        (*names)[(*n)++] = xstrndup((const char *)d, (size_t)len);
    }
    GENERAL_NAMES_free(sans);
    for (size_t i = 0; i < *n; i++) {
        for (char *p = (*names)[i]; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    }
}

/* IANA names (spec §8.2) → OpenSSL's names, through SSL_CIPHER_standard_name. */
static void set_ciphers(SSL_CTX *ctx, const struct cfg_strlist *names)
{
    SSL_CTX *all;
    STACK_OF(SSL_CIPHER) *sk;
    size_t cap = 1, o = 0;
    char *list;

    if (names->n == 0)
        return;
    all = SSL_CTX_new(TLS_server_method());
    if (all == NULL || SSL_CTX_set_cipher_list(all, "ALL:COMPLEMENTOFALL") != 1) {
        log_warn("http_server_options.ssl_ciphers: cannot enumerate ciphers; using defaults");
        SSL_CTX_free(all);
        return;
    }
    sk = SSL_CTX_get_ciphers(all);
    for (size_t i = 0; i < names->n; i++)
        cap += strlen(names->v[i]) + 1;
    list = xcalloc(1, cap + 64 * names->n);
    for (size_t i = 0; i < names->n; i++) {
        char want[128];
        bool found = false;

        snprintf(want, sizeof(want), "%s", names->v[i]);
        /* Go's legacy aliases of the ChaCha20 suites. */
        if (strcasecmp(want, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305") == 0 ||
            strcasecmp(want, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305") == 0)
            snprintf(want, sizeof(want), "%s_SHA256", names->v[i]);
        for (int j = 0; j < sk_SSL_CIPHER_num(sk) && !found; j++) {
            const SSL_CIPHER *c = sk_SSL_CIPHER_value(sk, j);
            const char *std = SSL_CIPHER_standard_name(c);

            if (std != NULL && strcasecmp(std, want) == 0 &&
                strcmp(SSL_CIPHER_get_version(c), "TLSv1.3") != 0) {
                o += (size_t)sprintf(list + o, "%s%s", o > 0 ? ":" : "", SSL_CIPHER_get_name(c));
                found = true;
            }
        }
        if (!found)
            log_warn("http_server_options.ssl_ciphers: unknown cipher '%s' skipped", names->v[i]);
    }
    if (o == 0)
        log_warn("http_server_options.ssl_ciphers: no known cipher; using the defaults");
    else if (SSL_CTX_set_cipher_list(ctx, list) != 1)
        log_warn("http_server_options.ssl_ciphers: OpenSSL refused '%s'; using the defaults", list);
    ERR_clear_error();
    free(list);
    SSL_CTX_free(all);
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
