/*
 * apidefs: API definitions (Tyk Classic subset, DESIGN §6) in PostgreSQL: validation of a
 * definition's shape and the table's SQL. The definition is stored whole (unknown fields
 * survive); domain and listen_path are also columns so the (domain, listen_path) unique
 * index refuses duplicate routes atomically.
 */
#ifndef CB_AUTHD_APIDEFS_H
#define CB_AUTHD_APIDEFS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "authd/pg_client.h"
#include "common/xmem.h"

struct authd;

/*
 * Check the types and values of a definition. Returns NULL, or a heap message naming the
 * field ("proxy.target_url: invalid URL"). enforce_verify refuses definitions that skip
 * upstream TLS verification.
 */
char *apidefs_validate(const json_t *def, bool enforce_verify);

/* The certificate ids a definition references in the store (client_certificates and
 * certificates), as a new array of strings, each with the field name in *fields[i]. */
json_t *apidefs_cert_refs(const json_t *def);

int apidefs_insert(struct authd *ad, const json_t *def, pgc_result_cb cb, void *arg)
    CB_WARN_UNUSED;
/* Result: one row (revision) when updated, none when the id is unknown. */
int apidefs_update(struct authd *ad, const char *api_id, const json_t *def, pgc_result_cb cb,
                   void *arg) CB_WARN_UNUSED;
int apidefs_delete(struct authd *ad, const char *api_id, pgc_result_cb cb, void *arg)
    CB_WARN_UNUSED;
/* Rows: api_id, revision, definition (text), store revision — all, oldest first (when
 * there is none, one row whose api_id is NULL); or the one api_id when non-NULL. */
int apidefs_select(struct authd *ad, const char *api_id, pgc_result_cb cb, void *arg)
    CB_WARN_UNUSED;

enum apidefs_col {
    AD_API_ID = 0,
    AD_REVISION,
    AD_DEFINITION,
    AD_STORE_REVISION,
    AD_COL_COUNT /* number of columns, not a column */
};

#endif
