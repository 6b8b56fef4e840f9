/* tlsutil: see tlsutil.h. */
#include "common/tlsutil.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/log.h"

void tlsutil_set_ciphers(SSL_CTX *ctx, const struct cfg_strlist *names, const char *key)
{
    SSL_CTX *all;
    STACK_OF(SSL_CIPHER) *sk;
    size_t cap = 1, o = 0;
    char *list;

    if (names->n == 0)
        return;
    all = SSL_CTX_new(TLS_server_method());
    if (all == NULL || SSL_CTX_set_cipher_list(all, "ALL:COMPLEMENTOFALL") != 1) {
        log_warn("%s: cannot enumerate ciphers; using defaults", key);
        SSL_CTX_free(all);
        return;
    }
    sk = SSL_CTX_get_ciphers(all);
    for (size_t i = 0; i < names->n; i++)
        cap += strlen(names->v[i]) + 1 + 64;
    list = xcalloc(1, cap);
    for (size_t i = 0; i < names->n; i++) {
        char want[128];
        bool found = false;

        snprintf(want, sizeof(want), "%s", names->v[i]);
        if (strcasecmp(want, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305") == 0 ||
            strcasecmp(want, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305") == 0)
            snprintf(want, sizeof(want), "%s_SHA256", names->v[i]);
        for (int j = 0; j < sk_SSL_CIPHER_num(sk) && !found; j++) {
            const SSL_CIPHER *c = sk_SSL_CIPHER_value(sk, j);
            const char *std = SSL_CIPHER_standard_name(c);

            if (std != NULL && strcasecmp(std, want) == 0 &&
                strcmp(SSL_CIPHER_get_version(c), "TLSv1.3") != 0) {
                o += (size_t)snprintf(list + o, cap - o, "%s%s", o > 0 ? ":" : "",
                                      SSL_CIPHER_get_name(c));
                found = true;
            }
        }
        if (!found)
            log_warn("%s: unknown cipher '%s' skipped", key, names->v[i]);
    }
    if (o == 0)
        log_warn("%s: no known cipher; using the defaults", key);
    else if (SSL_CTX_set_cipher_list(ctx, list) != 1)
        log_warn("%s: OpenSSL refused '%s'; using the defaults", key, list);
    ERR_clear_error();
    free(list);
    SSL_CTX_free(all);
}

static void push_name(char ***names, size_t *n, char *s)
{
    for (char *p = s; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    *names = xrealloc(*names, (*n + 1) * sizeof(char *));
    (*names)[(*n)++] = s;
}

/* Subject CN, then every DNS SAN, lowercase: a heap array of heap strings in *names. */
static void cert_names(X509 *x, char ***names, size_t *n)
{
    GENERAL_NAMES *sans;
    char cn[256];
    int cnt;

    *names = NULL;
    *n = 0;
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn)) > 0)
        push_name(names, n, xstrdup(cn));
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
        if (len > 0 && memchr(d, '\0', (size_t)len) == NULL)
            push_name(names, n, xstrndup((const char *)d, (size_t)len));
    }
    GENERAL_NAMES_free(sans);
}

void tlsutil_certs_add(struct tlsutil_cert **v, size_t *n, X509 *leaf, STACK_OF(X509) *chain,
                       EVP_PKEY *key, const char *domain_name)
{
    struct tlsutil_cert *c;

    *v = xrealloc(*v, (*n + 1) * sizeof(**v));
    c = &(*v)[(*n)++];
    c->leaf = leaf;
    c->chain = chain;
    c->key = key;
    c->domain_name = xstrdup(domain_name != NULL ? domain_name : "");
    for (char *p = c->domain_name; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    cert_names(leaf, &c->names, &c->nnames);
}

int tlsutil_certs_load(struct tlsutil_cert **v, size_t *n, const json_t *arr, const char *key,
                       char **err)
{
    const json_t *e;
    size_t i;

    json_array_foreach(arr, i, e)
    {
        X509 *leaf;
        STACK_OF(X509) *chain;
        EVP_PKEY *pkey;

        if (tlsutil_load_pair(key, json_string_value(json_object_get(e, "cert_file")),
                              json_string_value(json_object_get(e, "key_file")), &leaf, &chain,
                              &pkey, err) < 0)
            return -1;
        tlsutil_certs_add(v, n, leaf, chain, pkey,
                          json_string_value(json_object_get(e, "domain_name")));
    }
    return 0;
}

void tlsutil_certs_free(struct tlsutil_cert *v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        X509_free(v[i].leaf);
        sk_X509_pop_free(v[i].chain, X509_free);
        EVP_PKEY_free(v[i].key);
        free(v[i].domain_name);
        for (size_t j = 0; j < v[i].nnames; j++)
            free(v[i].names[j]);
        free(v[i].names);
    }
    free(v);
}

STACK_OF(X509) *tlsutil_load_cert_file(const char *path, char **err)
{
    FILE *fp = fopen(path, "r");
    STACK_OF(X509) *sk;
    X509 *x;

    if (fp == NULL) {
        *err = xasprintf("cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    sk = sk_X509_new_null();
    if (sk == NULL)
        die("tlsutil: out of memory");
    while ((x = PEM_read_X509(fp, NULL, NULL, NULL)) != NULL)
        sk_X509_push(sk, x);
    fclose(fp);
    ERR_clear_error(); /* the loop ends on a "no start line" */
    if (sk_X509_num(sk) == 0) {
        sk_X509_free(sk);
        *err = xasprintf("no certificate in '%s'", path);
        return NULL;
    }
    return sk;
}

int tlsutil_load_pair(const char *key, const char *cert_file, const char *key_file, X509 **leaf,
                      STACK_OF(X509) **chain, EVP_PKEY **pkey, char **err)
{
    char ebuf[256], *e = NULL;
    STACK_OF(X509) *sk = tlsutil_load_cert_file(cert_file, &e);
    FILE *fp;
    EVP_PKEY *k;

    if (sk == NULL) {
        *err = xasprintf("%s: %s", key, e);
        free(e);
        return -1;
    }
    fp = fopen(key_file, "r");
    if (fp == NULL) {
        *err = xasprintf("%s: cannot open '%s': %s", key, key_file, strerror(errno));
        sk_X509_pop_free(sk, X509_free);
        return -1;
    }
    k = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
    fclose(fp);
    if (k == NULL || X509_check_private_key(sk_X509_value(sk, 0), k) != 1) {
        *err = k == NULL ? xasprintf("%s: no private key in '%s' (%s)", key, key_file,
                                     tlsutil_errors(ebuf, sizeof(ebuf)))
                         : xasprintf("%s: the key in '%s' does not match the certificate in '%s'",
                                     key, key_file, cert_file);
        ERR_clear_error();
        EVP_PKEY_free(k);
        sk_X509_pop_free(sk, X509_free);
        return -1;
    }
    *leaf = sk_X509_shift(sk);
    *chain = sk;
    *pkey = k;
    return 0;
}

const char *tlsutil_errors(char *buf, size_t len)
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
