/*
 * certstore: SQL for the certificates table. Private keys are stored only as keycrypt
 * envelopes; has_private is reported true only when the envelope opens with a configured
 * secret, so a wrong secret shows up in the API instead of failing later.
 */
#include "authd/certstore.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "authd/authd.h"
#include "authd/migrate.h"
#include "common/keycrypt.h"
#include "common/log.h"

#define FETCH_COLS "id, kind, pem, meta::text, key_envelope"

/* ---- public functions ---- */

char *certstore_text_array(const char *const *ids, size_t n)
{
    size_t cap = 3, o = 0;
    char *s;

    for (size_t i = 0; i < n; i++)
        cap += 2 * strlen(ids[i]) + 3;
    s = xmalloc(cap);
    s[o++] = '{';
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            s[o++] = ',';
        s[o++] = '"';
        for (const char *p = ids[i]; *p; p++) {
            if (*p == '"' || *p == '\\')
                s[o++] = '\\';
            s[o++] = *p;
        }
        s[o++] = '"';
    }
    s[o++] = '}';
    s[o] = '\0';
    return s;
}

int certstore_insert(struct authd *ad, const char *id, const char *org,
                     const struct cert_upload *u, const unsigned char *env, size_t envlen,
                     pgc_result_cb cb, void *arg)
{
    static const char sql[] =
        "INSERT INTO certificates (id, org_id, kind, pem, fingerprint, subject_cn, issuer_cn,"
        " dns_names, meta, not_before, not_after, is_ca, key_envelope, key_secret_id)"
        " SELECT $1, $2, $3, $4, m->>'fingerprint', m->>'subject_cn', m->>'issuer_cn',"
        " ARRAY(SELECT jsonb_array_elements_text(m->'dns_names')), m,"
        " CASE WHEN $3 = 'public_key' THEN NULL ELSE (m->>'not_before')::timestamptz END,"
        " CASE WHEN $3 = 'public_key' THEN NULL ELSE (m->>'not_after')::timestamptz END,"
        " (m->>'is_ca')::boolean, $6, $7"
        " FROM (SELECT $5::jsonb AS m) AS meta"
        " ON CONFLICT (id) DO NOTHING RETURNING id";
    char *meta = json_dumps(u->meta, JSON_COMPACT);
    unsigned char sid[KEYCRYPT_SECRET_ID_LEN];
    const char *vals[7];
    int lens[7] = {0}, bin[7] = {0};
    int rc;

    if (meta == NULL)
        return -1;
    vals[0] = id;
    vals[1] = org;
    vals[2] = u->is_public_key ? "public_key" : "certificate";
    vals[3] = u->pem;
    vals[4] = meta;
    vals[5] = NULL;
    vals[6] = NULL;
    if (env != NULL && keycrypt_envelope_secret_id(env, envlen, sid)) {
        vals[5] = (const char *)env;
        lens[5] = (int)envlen;
        bin[5] = 1;
        vals[6] = (const char *)sid;
        lens[6] = KEYCRYPT_SECRET_ID_LEN;
        bin[6] = 1;
    }
    rc = pgc_query(ad->pgc, sql, 7, vals, lens, bin, cb, arg);
    free(meta);
    return rc;
}

int certstore_fetch(struct authd *ad, const char *const *ids, size_t n, pgc_result_cb cb,
                    void *arg)
{
    char *arr = certstore_text_array(ids, n);
    const char *vals[1] = {arr};
    int rc = pgc_query(ad->pgc, "SELECT " FETCH_COLS " FROM certificates WHERE id = ANY($1::text[])",
                       1, vals, NULL, NULL, cb, arg);

    free(arr);
    return rc;
}

PGresult *certstore_fetch_sync(const char *conninfo, int timeout_ms, const char *const *ids,
                               size_t n, char **err)
{
    char *arr = certstore_text_array(ids, n);
    const char *vals[1] = {arr};
    PGconn *c = migrate_connect(conninfo, timeout_ms, err);
    PGresult *res;

    if (c == NULL) {
        free(arr);
        return NULL;
    }
    res = PQexecParams(c, "SELECT " FETCH_COLS " FROM certificates WHERE id = ANY($1::text[])", 1,
                       NULL, vals, NULL, NULL, 0);
    free(arr);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        *err = xasprintf("reading certificates from the store: %s", PQerrorMessage(c));
        PQclear(res);
        res = NULL;
    }
    PQfinish(c);
    return res;
}

int certstore_list(struct authd *ad, const char *org, bool detailed, pgc_result_cb cb,
                   void *arg)
{
    const char *vals[1] = {org};

    if (detailed)
        return pgc_query(ad->pgc,
                         "SELECT " FETCH_COLS " FROM certificates WHERE org_id = $1 ORDER BY seq",
                         1, vals, NULL, NULL, cb, arg);
    return pgc_query(ad->pgc, "SELECT id FROM certificates WHERE org_id = $1 ORDER BY seq", 1,
                     vals, NULL, NULL, cb, arg);
}

int certstore_delete(struct authd *ad, const char *id, pgc_result_cb cb, void *arg)
{
    const char *vals[1] = {id};

    return pgc_query(ad->pgc, "DELETE FROM certificates WHERE id = $1", 1, vals, NULL, NULL, cb,
                     arg);
}

int certstore_find_row(const PGresult *res, const char *id)
{
    for (int i = 0; i < PQntuples(res); i++)
        if (strcmp(PQgetvalue(res, i, CS_ID), id) == 0)
            return i;
    return -1;
}

/* bytea arrives in text form ("\x..." hex) because results are requested as text. */
static unsigned char *bytea_value(const PGresult *res, int row, int col, size_t *len)
{
    if (PQgetisnull(res, row, col))
        return NULL;
    return PQunescapeBytea((const unsigned char *)PQgetvalue(res, row, col), len);
}

int certstore_row_key(struct authd *ad, const PGresult *res, int row, unsigned char **der,
                      size_t *len)
{
    size_t envlen;
    unsigned char *env = bytea_value(res, row, CS_KEY_ENVELOPE, &envlen);
    const char *err = NULL;
    int rc;

    if (env == NULL)
        return 1;
    rc = keycrypt_open(ad->secrets, ad->nsecrets, PQgetvalue(res, row, CS_ID), env, envlen, der,
                       len, NULL, &err);
    PQfreemem(env);
    if (rc < 0) {
        log_error("certificate %s: private key unusable: %s (check "
                  "security.private_certificate_encoding_secret and "
                  "previous_private_certificate_encoding_secrets)",
                  PQgetvalue(res, row, CS_ID), err);
        return -1;
    }
    return 0;
}

static bool row_has_private(struct authd *ad, const PGresult *res, int row)
{
    unsigned char *der = NULL;
    size_t len = 0;
    int rc = certstore_row_key(ad, res, row, &der, &len);

    if (rc == 0) {
        OPENSSL_cleanse(der, len);
        free(der);
    }
    return rc == 0;
}

static json_t *row_meta_json(const PGresult *res, int row)
{
    json_t *m = json_loads(PQgetvalue(res, row, CS_META), 0, NULL);

    return m != NULL ? m : json_object();
}

json_t *certstore_row_meta(struct authd *ad, const PGresult *res, int row)
{
    json_t *m = row_meta_json(res, row);
    json_t *o = json_object();
    json_t *dns = json_object_get(m, "dns_names");

    json_object_set_new(o, "id", json_string(PQgetvalue(res, row, CS_ID)));
    json_object_set(o, "fingerprint", json_object_get(m, "fingerprint"));
    json_object_set_new(o, "has_private", json_boolean(row_has_private(ad, res, row)));
    json_object_set(o, "issuer", json_object_get(m, "issuer"));
    json_object_set(o, "subject", json_object_get(m, "subject"));
    json_object_set(o, "not_before", json_object_get(m, "not_before"));
    json_object_set(o, "not_after", json_object_get(m, "not_after"));
    if (json_array_size(dns) > 0) /* omitted when empty, as Go's omitempty */
        json_object_set(o, "dns_names", dns);
    json_object_set(o, "is_ca", json_object_get(m, "is_ca"));
    json_decref(m);
    return o;
}

json_t *certstore_row_basics(struct authd *ad, const PGresult *res, int row)
{
    json_t *m = row_meta_json(res, row);
    json_t *o = json_object();
    json_t *dns = json_object_get(m, "dns_names");

    json_object_set_new(o, "id", json_string(PQgetvalue(res, row, CS_ID)));
    json_object_set(o, "issuer_cn", json_object_get(m, "issuer_cn"));
    json_object_set(o, "subject_cn", json_object_get(m, "subject_cn"));
    json_object_set_new(o, "dns_names", dns != NULL ? json_incref(dns) : json_array());
    json_object_set_new(o, "has_private", json_boolean(row_has_private(ad, res, row)));
    json_object_set(o, "not_before", json_object_get(m, "not_before"));
    json_object_set(o, "not_after", json_object_get(m, "not_after"));
    json_object_set(o, "is_ca", json_object_get(m, "is_ca"));
    json_decref(m);
    return o;
}
