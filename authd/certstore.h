/*
 * certstore: the certificate store's SQL (DESIGN §5, schema/schema.sql) on pg_client, and
 * the decoding of its rows. Shared by the certificate routes, the key routes (existence
 * checks) and the RPC server. Asynchronous: results arrive through pgc_result_cb.
 */
#ifndef CB_AUTHD_CERTSTORE_H
#define CB_AUTHD_CERTSTORE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "authd/pg_client.h"
#include "common/certinfo.h"
#include "common/xmem.h"

struct authd;

/* Column order of certstore_fetch rows. */
enum certstore_col {
    CS_ID = 0,
    CS_KIND,
    CS_PEM,
    CS_META,
    CS_KEY_ENVELOPE, /* bytea, binary result format */
    CS_COL_COUNT     /* number of columns, not a column */
};

/* Encode ids as a PostgreSQL text[] literal (heap). */
char *certstore_text_array(const char *const *ids, size_t n);

/* INSERT the upload under id/org; env (may be NULL) is the sealed private key. A
 * duplicate id yields a result with 0 rows. */
int certstore_insert(struct authd *ad, const char *id, const char *org,
                     const struct cert_upload *u, const unsigned char *env, size_t envlen,
                     pgc_result_cb cb, void *arg) CB_WARN_UNUSED;
/* SELECT the rows (columns as enum certstore_col) of the given ids, in no order. */
int certstore_fetch(struct authd *ad, const char *const *ids, size_t n, pgc_result_cb cb,
                    void *arg) CB_WARN_UNUSED;
/* The same SELECT on a blocking connection of its own, for start-up (before the loop runs).
 * The result (PQclear it), or NULL with *err (heap). */
PGresult *certstore_fetch_sync(const char *conninfo, int timeout_ms, const char *const *ids,
                               size_t n, char **err) CB_WARN_UNUSED;
/* SELECT id (and, when detailed, the certstore_fetch columns) of one org, oldest first. */
int certstore_list(struct authd *ad, const char *org, bool detailed, pgc_result_cb cb,
                   void *arg) CB_WARN_UNUSED;
int certstore_delete(struct authd *ad, const char *id, pgc_result_cb cb, void *arg)
    CB_WARN_UNUSED;

/* Row index of id in a fetch result, or -1. */
int certstore_find_row(const PGresult *res, const char *id);

/*
 * Decrypt the private key of a fetched row with the configured secrets. Returns 0 and a
 * heap DER (*der, *len; the caller cleanses and frees it), 1 when the row has no key, or
 * -1 when the key cannot be opened (logged loudly: wrong secret or tampering).
 */
int certstore_row_key(struct authd *ad, const PGresult *res, int row, unsigned char **der,
                      size_t *len) CB_WARN_UNUSED;

/* CertificateMeta JSON of spec §1.5 for a fetched row (new reference). */
json_t *certstore_row_meta(struct authd *ad, const PGresult *res, int row);
/* CertificateBasics JSON (detailed listing) for a fetched row (new reference). */
json_t *certstore_row_basics(struct authd *ad, const PGresult *res, int row);

#endif
