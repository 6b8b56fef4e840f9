/*
 * fuzz_pem_upload: libFuzzer driver for certinfo (STYLE 2.11). The input is an upload body
 * for certinfo_parse_upload (legacy secrets "s3cret" and "other"; a fixed "now" so the seed
 * certificates never expire for it), and the same bytes go to certinfo_meta and
 * certinfo_load_chain. Invariants: a refusal carries a non-empty message; an accepted upload
 * has a 64-hex ID, a stored PEM without any key that describes itself the same way again
 * (same metadata, same ID when re-uploaded, first certificate's hash = ID), and a key only
 * next to certificates. Not a test of the HTTP layer.
 */
#include "fuzz_driver.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "common/certinfo.h"
#include "common/strutil.h"

/* 2027-06-01T00:00:00Z: inside the validity of the seed certificates. */
#define FUZZ_NOW ((time_t)1811808000)

static const char *const fuzz_secrets[] = {"s3cret", "other"};

static void check_stored_pem(const struct cert_upload *u)
{
    struct cert_upload *again = NULL;
    char *err = NULL;
    STACK_OF(X509) *sk;
    char hex[CERT_SHA_HEX_LEN + 1];
    json_t *meta;

    CB_ASSERT(strstr(u->pem, "PRIVATE KEY") == NULL);
    meta = certinfo_meta(u->pem, strlen(u->pem));
    CB_ASSERT(meta != NULL && json_equal(meta, u->meta));
    json_decref(meta);
    CB_ASSERT(certinfo_parse_upload(u->pem, strlen(u->pem), FUZZ_NOW, NULL, 0, &again, &err) == 0);
    CB_ASSERT(strcmp(again->id_hex, u->id_hex) == 0 && strcmp(again->pem, u->pem) == 0);
    CB_ASSERT(again->is_public_key == u->is_public_key && again->key_der == NULL);
    certinfo_upload_free(again);
    if (u->is_public_key)
        return;
    sk = certinfo_load_chain(u->pem, strlen(u->pem));
    CB_ASSERT(sk != NULL && sk_X509_num(sk) > 0);
    certinfo_x509_sha256_hex(sk_X509_value(sk, 0), hex);
    CB_ASSERT(strcmp(hex, u->id_hex) == 0);
    sk_X509_pop_free(sk, X509_free);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cert_upload *u = NULL;
    char *err = NULL;
    STACK_OF(X509) *sk;
    json_t *meta;

    if (certinfo_parse_upload((const char *)data, size, FUZZ_NOW, fuzz_secrets,
                              CB_ARRAY_LEN(fuzz_secrets), &u, &err) == 0) {
        CB_ASSERT(u != NULL && err == NULL && u->pem != NULL && u->meta != NULL);
        CB_ASSERT(strlen(u->id_hex) == CERT_SHA_HEX_LEN && str_is_hex(u->id_hex, CERT_SHA_HEX_LEN));
        CB_ASSERT(u->key_der == NULL || (!u->is_public_key && u->key_der_len > 0));
        check_stored_pem(u);
        certinfo_upload_free(u);
    } else {
        CB_ASSERT(u == NULL && err != NULL && err[0] != '\0');
        free(err);
    }
    meta = certinfo_meta((const char *)data, size);
    CB_ASSERT(meta == NULL || json_is_object(meta));
    json_decref(meta);
    sk = certinfo_load_chain((const char *)data, size);
    CB_ASSERT(sk == NULL || sk_X509_num(sk) > 0);
    sk_X509_pop_free(sk, X509_free);
    return 0;
}
