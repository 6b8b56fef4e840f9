/*
 * certinfo: turn an uploaded PEM body into what the certificate store keeps (spec §1.1, §1.2)
 * and describe a stored PEM as Tyk's CertificateMeta does (spec §1.5, DESIGN §6). It checks
 * the upload the way Tyk's GetCertIDAndChainPEM and Go's tls.X509KeyPair do and answers with
 * their messages. Not for chain verification, revocation or TLS setup. Pure: no I/O, no
 * logging; the OpenSSL error queue is left as it was found.
 */
#include "common/certinfo.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/keycrypt.h"
#include "common/strutil.h"

/* Tyk's and Go's messages (spec §1.2), byte for byte. */
static const char msg_multiple_keys[] = "Found multiple private keys";
static const char msg_expired[] = "certificate is expired";
static const char msg_no_pem[] = "Failed to decode certificate. It should be PEM encoded.";
static const char msg_pub_and_certs[] = "Public keys can't be combined with certificates";
static const char msg_x509_malformed[] = "x509: malformed certificate";
static const char msg_x509_trailing[] = "x509: trailing data";
static const char msg_x509_validity[] = "x509: malformed validity";
static const char msg_key_parse[] = "tls: failed to parse private key";
static const char msg_key_mismatch[] = "tls: private key does not match public key";
static const char msg_key_type[] = "tls: private key type does not match public key type";
static const char msg_unknown_alg[] = "tls: unknown public key algorithm";
/* tls.X509KeyPair's answer when the "chain" Tyk hands it is the PUBLIC KEY block. */
static const char msg_key_without_cert[] =
    "tls: failed to find \"CERTIFICATE\" PEM block in certificate input after skipping PEM "
    "blocks of the following types: [PUBLIC KEY]";
/* Ours: DESIGN §5 imports keys in Tyk's legacy encrypted form. */
static const char msg_decrypt[] = "private key decryption failed";
static const char msg_too_large[] = "certificate body too large";

/* Go's zero time.Time, which Tyk shows for a public key's dates. */
static const char zero_time[] = "0001-01-01T00:00:00Z";
static const char pubkey_cn_prefix[] = "Public Key: ";

#define LEGACY_IV_LEN 16
#define RFC3339_BUF 64
#define OID_MAX_ARCS 32

/* pkix.Name's list fields, in Go's field (and JSON) order, with their 2.5.4.x arcs. */
static const struct {
    const char *key;
    long long arc;
} name_lists[] = {
    {"Country", 6},  {"Organization", 10}, {"OrganizationalUnit", 11}, {"Locality", 7},
    {"Province", 8}, {"StreetAddress", 9}, {"PostalCode", 17},
};

struct pem_block {
    char *name;          /* block type, e.g. "CERTIFICATE" */
    char *header;        /* RFC 1423 header lines, "" if none */
    unsigned char *data; /* decoded body */
    long len;
};

/* What the document-order scan of an upload collected (checks 1-3 of spec §1.2 run in it). */
struct upload_scan {
    BIO *chain;  /* certificates re-encoded, joined by "\n" */
    X509 *first; /* first certificate */
    char first_hex[CERT_SHA_HEX_LEN + 1];
    size_t ncerts;
    struct pem_block key; /* the private-key block (key.data NULL if none) */
    struct pem_block pub; /* the last PUBLIC KEY block (pub.data NULL if none) */
};

/* A pkix.Name being built. */
struct name_acc {
    json_t *lists[CB_ARRAY_LEN(name_lists)]; /* NULL = absent (JSON null) */
    json_t *serial;
    json_t *cn;
    json_t *names;
};

static BIO *pem_open(const char *body, size_t len);
static bool pem_next(BIO *in, struct pem_block *b);
static void pem_block_clear(struct pem_block *b);
static bool name_is_private_key(const char *name);
static const char *scan_block(struct upload_scan *s, struct pem_block *b, time_t now);
static const char *scan_cert(struct upload_scan *s, const struct pem_block *b, time_t now);
static const char *finish_upload(struct upload_scan *s, const char *const *secrets, size_t n,
                                 struct cert_upload *u);
static const char *load_key(const struct pem_block *kb, const char *const *secrets, size_t n,
                            struct cert_upload *u, EVP_PKEY **pkey);
static int legacy_iv(const char *header, unsigned char iv[LEGACY_IV_LEN]);
static int parse_key(const unsigned char *der, size_t len, EVP_PKEY **out);
static bool key_type_known(const EVP_PKEY *k);
static const char *check_key_match(X509 *cert, const EVP_PKEY *key);
static const char *parse_cert(const unsigned char *der, long len, X509 **out);
static bool is_der(X509 *x, const unsigned char *der, long len);
static int asn1_time_to_time_t(const ASN1_TIME *t, time_t *out);
static void rfc3339(const ASN1_TIME *t, char out[RFC3339_BUF]);
static void sha256_hex(const unsigned char *p, size_t n, char out[CERT_SHA_HEX_LEN + 1]);
static char *bio_strdup(BIO *b);
static void jset(json_t *obj, const char *key, json_t *val);
static void jappend(json_t *arr, json_t *val);
static json_t *jstring_or_empty(const void *s, size_t n);
static json_t *meta_from_cert(X509 *x, const char *fp_hex);
static json_t *meta_from_pubkey(const char *spki_hex);
static json_t *meta_object(const char *fp, json_t *subject, json_t *issuer, json_t *dns_names,
                           const char *not_before, const char *not_after, bool is_ca);
static json_t *name_json(const X509_NAME *nm);
static void name_acc_add(struct name_acc *a, const X509_NAME_ENTRY *e);
static json_t *name_acc_finish(struct name_acc *a);
static json_t *oid_json(const ASN1_OBJECT *obj, long long *attr_arc);
static json_t *dns_names_json(X509 *x);
static bool cert_is_ca(X509 *x);

/* ---- public functions ---- */

int certinfo_parse_upload(const char *body, size_t len, time_t now, const char *const *secrets,
                          size_t nsecrets, struct cert_upload **out, char **err)
{
    struct upload_scan s;
    struct pem_block b;
    struct cert_upload *u;
    const char *msg = NULL;
    BIO *in;

    *out = NULL;
    *err = NULL;
    if (len > CERTINFO_MAX_BODY) {
        *err = xstrdup(msg_too_large);
        return -1;
    }
    memset(&s, 0, sizeof(s));
    ERR_set_mark();
    in = pem_open(body, len);
    s.chain = BIO_new(BIO_s_mem());
    CB_ASSERT(s.chain != NULL);
    while (msg == NULL && pem_next(in, &b))
        msg = scan_block(&s, &b, now);
    u = xcalloc(1, sizeof(*u));
    if (msg == NULL)
        msg = finish_upload(&s, secrets, nsecrets, u);
    BIO_free(in);
    BIO_free(s.chain);
    X509_free(s.first);
    pem_block_clear(&s.key);
    pem_block_clear(&s.pub);
    ERR_pop_to_mark();
    if (msg != NULL) {
        certinfo_upload_free(u);
        *err = xstrdup(msg);
        return -1;
    }
    *out = u;
    return 0;
}

void certinfo_upload_free(struct cert_upload *u)
{
    if (u == NULL)
        return;
    free(u->pem);
    if (u->key_der != NULL)
        OPENSSL_cleanse(u->key_der, u->key_der_len);
    free(u->key_der);
    json_decref(u->meta);
    free(u);
}

json_t *certinfo_meta(const char *pem, size_t len)
{
    struct pem_block b;
    struct pem_block pub;
    X509 *first = NULL;
    bool seen_cert = false;
    char hex[CERT_SHA_HEX_LEN + 1];
    json_t *meta = NULL;
    BIO *in;

    if (len > INT_MAX)
        return NULL;
    memset(&pub, 0, sizeof(pub));
    ERR_set_mark();
    in = pem_open(pem, len);
    while (pem_next(in, &b)) {
        if (!seen_cert && strcmp(b.name, "CERTIFICATE") == 0) {
            seen_cert = true;
            if (parse_cert(b.data, b.len, &first) == NULL)
                sha256_hex(b.data, (size_t)b.len, hex);
        } else if (strcmp(b.name, "PUBLIC KEY") == 0) {
            pem_block_clear(&pub);
            pub = b;
            continue;
        }
        pem_block_clear(&b);
    }
    if (first != NULL) {
        meta = meta_from_cert(first, hex);
    } else if (!seen_cert && pub.data != NULL) {
        sha256_hex(pub.data, (size_t)pub.len, hex);
        meta = meta_from_pubkey(hex);
    }
    X509_free(first);
    pem_block_clear(&pub);
    BIO_free(in);
    ERR_pop_to_mark();
    return meta;
}

void certinfo_x509_sha256_hex(X509 *x, char *out)
{
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);

    CB_ASSERT(n > 0);
    sha256_hex(der, (size_t)n, out);
    OPENSSL_free(der);
}

STACK_OF(X509) *certinfo_load_chain(const char *pem, size_t len)
{
    STACK_OF(X509) *sk = NULL;
    struct pem_block b;
    bool bad = false;
    X509 *x;
    BIO *in;

    if (len > INT_MAX)
        return NULL;
    ERR_set_mark();
    in = pem_open(pem, len);
    while (!bad && pem_next(in, &b)) {
        if (strcmp(b.name, "CERTIFICATE") == 0) {
            if (parse_cert(b.data, b.len, &x) != NULL) {
                bad = true;
            } else {
                if (sk == NULL)
                    sk = sk_X509_new_null();
                CB_ASSERT(sk != NULL && sk_X509_push(sk, x) > 0);
            }
        }
        pem_block_clear(&b);
    }
    BIO_free(in);
    ERR_pop_to_mark();
    if (bad) {
        sk_X509_pop_free(sk, X509_free);
        return NULL;
    }
    return sk;
}

/* ---- PEM scanning ---- */

static BIO *pem_open(const char *body, size_t len)
{
    BIO *in;

    /* The length bounds the read: body need not be NUL-terminated. */
    if (body == NULL || len == 0)
        in = BIO_new_mem_buf("", 0);
    else
        in = BIO_new_mem_buf(body, (int)len);
    CB_ASSERT(in != NULL);
    return in;
}

/*
 * Next well-formed block. A malformed one (bad base64, no END line) is skipped, as Go's
 * pem.Decode skips it; the loop stops when OpenSSL finds no further BEGIN line or no longer
 * consumes input.
 */
static bool pem_next(BIO *in, struct pem_block *b)
{
    size_t before;
    unsigned long e;
    int ok;

    for (;;) {
        memset(b, 0, sizeof(*b));
        before = BIO_ctrl_pending(in);
        ERR_set_mark();
        ok = PEM_read_bio_ex(in, &b->name, &b->header, &b->data, &b->len, 0);
        e = ERR_peek_last_error();
        ERR_pop_to_mark();
        if (ok == 1 && b->len >= 0)
            return true;
        pem_block_clear(b);
        if ((ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) ||
            BIO_ctrl_pending(in) >= before)
            return false;
    }
}

/* Wipes the body too: it may be a private key. */
static void pem_block_clear(struct pem_block *b)
{
    if (b->data != NULL)
        OPENSSL_cleanse(b->data, (size_t)b->len);
    OPENSSL_free(b->data);
    OPENSSL_free(b->header);
    OPENSSL_free(b->name);
    memset(b, 0, sizeof(*b));
}

/* Spec §1.1: any type ending in "PRIVATE KEY". */
static bool name_is_private_key(const char *name)
{
    static const char suffix[] = "PRIVATE KEY";
    size_t n = strlen(name);

    return n >= sizeof(suffix) - 1 && strcmp(name + n - (sizeof(suffix) - 1), suffix) == 0;
}

/* Checks 1-3 of spec §1.2 for one block; takes b. NULL or the message. */
static const char *scan_block(struct upload_scan *s, struct pem_block *b, time_t now)
{
    const char *msg = NULL;

    if (name_is_private_key(b->name)) {
        if (s->key.data != NULL) {
            pem_block_clear(b);
            return msg_multiple_keys;
        }
        s->key = *b;
        return NULL;
    }
    if (strcmp(b->name, "CERTIFICATE") == 0) {
        msg = scan_cert(s, b, now);
    } else if (strcmp(b->name, "PUBLIC KEY") == 0) {
        /* The last PUBLIC KEY block wins (spec §1.1). */
        pem_block_clear(&s->pub);
        s->pub = *b;
        return NULL;
    }
    pem_block_clear(b);
    return msg;
}

static const char *scan_cert(struct upload_scan *s, const struct pem_block *b, time_t now)
{
    const char *msg;
    time_t not_after;
    X509 *x;

    msg = parse_cert(b->data, b->len, &x);
    if (msg != NULL)
        return msg;
    /* Go: NotAfter.Before(now); a certificate not yet valid is accepted. */
    if (asn1_time_to_time_t(X509_get0_notAfter(x), &not_after) < 0 || not_after < now) {
        X509_free(x);
        return msg_expired;
    }
    if (s->ncerts > 0)
        CB_ASSERT(BIO_write(s->chain, "\n", 1) == 1);
    /* PEM_write_bio gives Go's pem.Encode layout: 64 columns, no headers, final newline. */
    CB_ASSERT(PEM_write_bio(s->chain, "CERTIFICATE", "", b->data, b->len) > 0);
    if (s->first == NULL) {
        s->first = x;
        sha256_hex(b->data, (size_t)b->len, s->first_hex);
    } else {
        X509_free(x);
    }
    s->ncerts++;
    return NULL;
}

/* Checks 4-6 of spec §1.2, then fill u. NULL or the message. */
static const char *finish_upload(struct upload_scan *s, const char *const *secrets, size_t n,
                                 struct cert_upload *u)
{
    const char *msg;
    EVP_PKEY *pkey = NULL;
    BIO *b;

    if (s->ncerts == 0 && s->pub.data == NULL)
        return msg_no_pem;
    if (s->ncerts > 0 && s->pub.data != NULL)
        return msg_pub_and_certs;
    if (s->key.data != NULL) {
        if (s->ncerts == 0)
            return msg_key_without_cert;
        msg = load_key(&s->key, secrets, n, u, &pkey);
        if (msg == NULL)
            msg = check_key_match(s->first, pkey);
        EVP_PKEY_free(pkey);
        if (msg != NULL)
            return msg;
    }
    if (s->ncerts > 0) {
        memcpy(u->id_hex, s->first_hex, sizeof(u->id_hex));
        u->pem = bio_strdup(s->chain);
        u->meta = meta_from_cert(s->first, u->id_hex);
        return NULL;
    }
    u->is_public_key = true;
    sha256_hex(s->pub.data, (size_t)s->pub.len, u->id_hex);
    b = BIO_new(BIO_s_mem());
    CB_ASSERT(b != NULL && PEM_write_bio(b, "PUBLIC KEY", "", s->pub.data, s->pub.len) > 0);
    u->pem = bio_strdup(b);
    BIO_free(b);
    u->meta = meta_from_pubkey(u->id_hex);
    return NULL;
}

/* ---- private keys ---- */

/* Parse the key block into u->key_der and *pkey, decrypting Tyk's legacy form first. */
static const char *load_key(const struct pem_block *kb, const char *const *secrets, size_t n,
                            struct cert_upload *u, EVP_PKEY **pkey)
{
    unsigned char iv[LEGACY_IV_LEN];
    unsigned char *pt;
    size_t ptlen;
    int enc = legacy_iv(kb->header, iv);

    if (enc == 0) {
        if (parse_key(kb->data, (size_t)kb->len, pkey) < 0)
            return msg_key_parse;
        u->key_der = xmemdup(kb->data, (size_t)kb->len);
        u->key_der_len = (size_t)kb->len;
        return NULL;
    }
    if (enc < 0)
        return msg_decrypt;
    for (size_t i = 0; i < n; i++) {
        if (secrets[i] == NULL ||
            keycrypt_legacy_decrypt(secrets[i], iv, kb->data, (size_t)kb->len, &pt, &ptlen) < 0)
            continue;
        /* The padding check lets about 1 in 256 wrong passwords through: parse to be sure. */
        if (parse_key(pt, ptlen, pkey) == 0) {
            u->key_der = pt;
            u->key_der_len = ptlen;
            return NULL;
        }
        OPENSSL_cleanse(pt, ptlen);
        free(pt);
    }
    return msg_decrypt;
}

/*
 * RFC 1423 headers as Go's x509.IsEncryptedPEMBlock reads them: a DEK-Info header marks the
 * block encrypted. 0 = not encrypted; 1 = AES-256-CBC with *iv; -1 = encrypted otherwise or
 * malformed.
 */
static int legacy_iv(const char *header, unsigned char iv[LEGACY_IV_LEN])
{
    static const char dek[] = "DEK-Info";
    static const char aes[] = "AES-256-CBC,";
    const char *line = header;
    const char *end;
    const char *v;
    size_t ivlen;

    while (line != NULL && *line != '\0') {
        end = strchr(line, '\n');
        if (end == NULL)
            end = line + strlen(line);
        v = memchr(line, ':', (size_t)(end - line));
        if (v != NULL && (size_t)(v - line) == sizeof(dek) - 1 &&
            memcmp(line, dek, sizeof(dek) - 1) == 0) {
            for (v++; v < end && (*v == ' ' || *v == '\t'); v++)
                ;
            while (end > v && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
                end--;
            if ((size_t)(end - v) != sizeof(aes) - 1 + 2 * LEGACY_IV_LEN ||
                memcmp(v, aes, sizeof(aes) - 1) != 0)
                return -1;
            v += sizeof(aes) - 1;
            if (hex_decode(v, 2 * LEGACY_IV_LEN, iv, LEGACY_IV_LEN, &ivlen) < 0)
                return -1;
            return 1;
        }
        line = *end != '\0' ? end + 1 : NULL;
    }
    return 0;
}

/* PKCS#1, PKCS#8 or SEC1 DER, as Go's tls parsePrivateKey accepts; no trailing bytes. */
static int parse_key(const unsigned char *der, size_t len, EVP_PKEY **out)
{
    const unsigned char *p = der;
    EVP_PKEY *k;

    if (len == 0 || len > LONG_MAX)
        return -1;
    k = d2i_AutoPrivateKey(NULL, &p, (long)len);
    if (k == NULL)
        return -1;
    if (p != der + len || !key_type_known(k)) {
        EVP_PKEY_free(k);
        return -1;
    }
    *out = k;
    return 0;
}

/* The key types Go's crypto/tls handles. */
static bool key_type_known(const EVP_PKEY *k)
{
    int id = EVP_PKEY_get_base_id(k);

    return id == EVP_PKEY_RSA || id == EVP_PKEY_EC || id == EVP_PKEY_ED25519;
}

/* Go tls.X509KeyPair's comparison, with its messages. */
static const char *check_key_match(X509 *cert, const EVP_PKEY *key)
{
    EVP_PKEY *pub = X509_get0_pubkey(cert);

    if (pub == NULL || !key_type_known(pub))
        return msg_unknown_alg;
    if (EVP_PKEY_get_base_id(pub) != EVP_PKEY_get_base_id(key))
        return msg_key_type;
    if (EVP_PKEY_eq(pub, key) != 1)
        return msg_key_mismatch;
    return NULL;
}

/* ---- certificates ---- */

/* As Go's x509.ParseCertificate: the block must be exactly one DER certificate. */
static const char *parse_cert(const unsigned char *der, long len, X509 **out)
{
    const unsigned char *p = der;
    time_t t;
    X509 *x;

    *out = NULL;
    if (len <= 0)
        return msg_x509_malformed;
    x = d2i_X509(NULL, &p, len);
    if (x == NULL)
        return msg_x509_malformed;
    if (p != der + len) {
        X509_free(x);
        return msg_x509_trailing;
    }
    /*
     * OpenSSL accepts some BER that Go refuses, and re-encodes it as DER; the ID must be the
     * same whether hashed from these bytes or from a parsed X509 (certinfo_x509_sha256_hex,
     * the TLS path), so anything but DER is refused.
     */
    if (!is_der(x, der, len)) {
        X509_free(x);
        return msg_x509_malformed;
    }
    if (asn1_time_to_time_t(X509_get0_notBefore(x), &t) < 0 ||
        asn1_time_to_time_t(X509_get0_notAfter(x), &t) < 0) {
        X509_free(x);
        return msg_x509_validity;
    }
    *out = x;
    return NULL;
}

static bool is_der(X509 *x, const unsigned char *der, long len)
{
    unsigned char *enc = NULL;
    int n = i2d_X509(x, &enc);
    bool same = n == len && memcmp(enc, der, (size_t)len) == 0;

    OPENSSL_free(enc);
    return same;
}

static int asn1_time_to_time_t(const ASN1_TIME *t, time_t *out)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return -1;
    *out = timegm(&tm);
    return 0;
}

/* Go's time.Time JSON for a UTC time of whole seconds: "2006-01-02T15:04:05Z". */
static void rfc3339(const ASN1_TIME *t, char out[RFC3339_BUF])
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
        snprintf(out, RFC3339_BUF, "%s", zero_time);
        return;
    }
    snprintf(out, RFC3339_BUF, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static void sha256_hex(const unsigned char *p, size_t n, char out[CERT_SHA_HEX_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    CB_ASSERT(EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL) == 1 &&
              mdlen == CERT_SHA_HEX_LEN / 2);
    hex_encode(md, mdlen, out);
}

static char *bio_strdup(BIO *b)
{
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);

    CB_ASSERT(n >= 0);
    return xmemdup(n > 0 ? p : "", (size_t)n);
}

/* ---- metadata ---- */

/* jansson returns NULL or -1 only on OOM, which aborts as xmalloc does (STYLE 2.5.5). */
static void jset(json_t *obj, const char *key, json_t *val)
{
    CB_ASSERT(obj != NULL && json_object_set_new(obj, key, val) == 0);
}

static void jappend(json_t *arr, json_t *val)
{
    CB_ASSERT(arr != NULL && json_array_append_new(arr, val) == 0);
}

/* A JSON string of n bytes; "" if they are not valid UTF-8 (JSON cannot carry them). */
static json_t *jstring_or_empty(const void *s, size_t n)
{
    json_t *j = s != NULL ? json_stringn(s, n) : NULL;

    return j != NULL ? j : json_string("");
}

static json_t *meta_from_cert(X509 *x, const char *fp_hex)
{
    char nb[RFC3339_BUF];
    char na[RFC3339_BUF];

    rfc3339(X509_get0_notBefore(x), nb);
    rfc3339(X509_get0_notAfter(x), na);
    return meta_object(fp_hex, name_json(X509_get_subject_name(x)),
                       name_json(X509_get_issuer_name(x)), dns_names_json(x), nb, na,
                       cert_is_ca(x));
}

/* Tyk's placeholder certificate for a PUBLIC KEY (crypto.PrefixPublicKeyCommonName). */
static json_t *meta_from_pubkey(const char *spki_hex)
{
    struct name_acc subject;
    struct name_acc issuer;
    char *cn = xasprintf("%s%s", pubkey_cn_prefix, spki_hex);
    json_t *meta;

    memset(&subject, 0, sizeof(subject));
    memset(&issuer, 0, sizeof(issuer));
    subject.cn = json_string(cn);
    meta = meta_object("", name_acc_finish(&subject), name_acc_finish(&issuer), json_array(),
                       zero_time, zero_time, false);
    free(cn);
    return meta;
}

/* Takes subject, issuer and dns_names; subject_cn/issuer_cn come from their CommonName. */
static json_t *meta_object(const char *fp, json_t *subject, json_t *issuer, json_t *dns_names,
                           const char *not_before, const char *not_after, bool is_ca)
{
    json_t *m = json_object();
    const char *scn = json_string_value(json_object_get(subject, "CommonName"));
    const char *icn = json_string_value(json_object_get(issuer, "CommonName"));

    jset(m, "fingerprint", json_string(fp));
    jset(m, "subject", subject);
    jset(m, "issuer", issuer);
    jset(m, "subject_cn", json_string(scn != NULL ? scn : ""));
    jset(m, "issuer_cn", json_string(icn != NULL ? icn : ""));
    jset(m, "dns_names", dns_names);
    jset(m, "not_before", json_string(not_before));
    jset(m, "not_after", json_string(not_after));
    jset(m, "is_ca", json_boolean(is_ca));
    return m;
}

/* Go's pkix.Name.FillFromRDNSequence, then its JSON encoding. */
static json_t *name_json(const X509_NAME *nm)
{
    struct name_acc a;
    int n = X509_NAME_entry_count(nm);

    memset(&a, 0, sizeof(a));
    for (int i = 0; i < n; i++)
        name_acc_add(&a, X509_NAME_get_entry(nm, i));
    return name_acc_finish(&a);
}

static void name_acc_add(struct name_acc *a, const X509_NAME_ENTRY *e)
{
    long long arc = -1;
    json_t *type = oid_json(X509_NAME_ENTRY_get_object(e), &arc);
    const ASN1_STRING *data = X509_NAME_ENTRY_get_data(e);
    unsigned char *utf8 = NULL;
    int len = ASN1_STRING_to_UTF8(&utf8, data);
    json_t *value = jstring_or_empty(len >= 0 ? utf8 : NULL, len >= 0 ? (size_t)len : 0);
    json_t *atv = json_object();

    OPENSSL_free(utf8);
    if (a->names == NULL)
        a->names = json_array();
    jset(atv, "Type", type);
    jset(atv, "Value", json_incref(value));
    jappend(a->names, atv);
    /* Later values replace earlier ones for the scalar fields, as in Go. */
    if (arc == 3) {
        json_decref(a->cn);
        a->cn = value;
        return;
    }
    if (arc == 5) {
        json_decref(a->serial);
        a->serial = value;
        return;
    }
    for (size_t i = 0; i < CB_ARRAY_LEN(name_lists); i++) {
        if (name_lists[i].arc == arc) {
            if (a->lists[i] == NULL)
                a->lists[i] = json_array();
            jappend(a->lists[i], value);
            return;
        }
    }
    json_decref(value);
}

/* Emits the pkix.Name object in Go's field order; consumes a. */
static json_t *name_acc_finish(struct name_acc *a)
{
    json_t *o = json_object();

    for (size_t i = 0; i < CB_ARRAY_LEN(name_lists); i++)
        jset(o, name_lists[i].key, a->lists[i] != NULL ? a->lists[i] : json_null());
    jset(o, "SerialNumber", a->serial != NULL ? a->serial : json_string(""));
    jset(o, "CommonName", a->cn != NULL ? a->cn : json_string(""));
    jset(o, "Names", a->names != NULL ? a->names : json_null());
    jset(o, "ExtraNames", json_null());
    memset(a, 0, sizeof(*a));
    return o;
}

/* The OID as Go's asn1.ObjectIdentifier JSON ([2,5,4,3]); *attr_arc = x for 2.5.4.x. */
static json_t *oid_json(const ASN1_OBJECT *obj, long long *attr_arc)
{
    char buf[256];
    long long arcs[OID_MAX_ARCS];
    size_t n = 0;
    json_t *arr = json_array();
    int len = OBJ_obj2txt(buf, sizeof(buf), obj, 1);
    char *p = buf;
    char *end;

    *attr_arc = -1;
    if (len <= 0 || (size_t)len >= sizeof(buf))
        return arr;
    while (n < OID_MAX_ARCS && *p != '\0') {
        arcs[n] = strtoll(p, &end, 10);
        if (end == p)
            break;
        jappend(arr, json_integer(arcs[n]));
        n++;
        p = *end == '.' ? end + 1 : end;
    }
    if (n == 4 && arcs[0] == 2 && arcs[1] == 5 && arcs[2] == 4)
        *attr_arc = arcs[3];
    return arr;
}

/* subjectAltName dNSName entries, in order (Go's Certificate.DNSNames). */
static json_t *dns_names_json(X509 *x)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    json_t *arr = json_array();
    const GENERAL_NAME *g;

    CB_ASSERT(arr != NULL);
    for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
        g = sk_GENERAL_NAME_value(gens, i);
        if (g->type == GEN_DNS)
            jappend(arr, jstring_or_empty(ASN1_STRING_get0_data(g->d.dNSName),
                                          (size_t)ASN1_STRING_length(g->d.dNSName)));
    }
    GENERAL_NAMES_free(gens);
    return arr;
}

/* Go's IsCA: the basicConstraints cA flag, nothing else. */
static bool cert_is_ca(X509 *x)
{
    BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints, NULL, NULL);
    bool ca = bc != NULL && bc->ca != 0;

    BASIC_CONSTRAINTS_free(bc);
    return ca;
}
