/*
 * routes_certs: /tyk/certs (spec §1.5, DESIGN §4, §5). Upload parses and validates the PEM
 * in certinfo, seals any private key at once (keycrypt), and answers only after the
 * PostgreSQL commit. Private keys are never returned.
 */
#include "authd/routes.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "authd/authd.h"
#include "authd/authd_cfg.h"
#include "authd/certstore.h"
#include "authd/pushes.h"
#include "common/certinfo.h"
#include "common/errs.h"
#include "common/keycrypt.h"
#include "common/log.h"

#define MAX_MULTI_IDS 256

struct cert_op {
    struct api_req *r;
    char *id;            /* single id (upload, get, delete) */
    char **ids;          /* multi-get, in request order */
    size_t nids;
};

static void certs_upload(struct api_req *r);
static void certs_list(struct api_req *r);
static void certs_get(struct api_req *r);
static void certs_delete(struct api_req *r);
static void cert_op_free(struct cert_op *op);
static bool store_failed(struct api_req *r, const char *err);

/* ---- public functions ---- */

void route_certs(struct api_req *r)
{
    switch (r->method) {
    case EVHTTP_REQ_POST:
        certs_upload(r); /* POST /tyk/certs/{anything} uploads too, as Tyk */
        break;
    case EVHTTP_REQ_GET:
        if (*r->tail == '\0')
            certs_list(r);
        else
            certs_get(r);
        break;
    case EVHTTP_REQ_DELETE:
        certs_delete(r);
        break;
    default:
        api_reply_error(r, 405, "Method not supported");
    }
}

/* ---- upload ---- */

static void on_inserted(const PGresult *res, const char *err, void *arg)
{
    struct cert_op *op = arg;
    char msg[512];

    if (store_failed(op->r, err)) {
        cert_op_free(op);
        return;
    }
    if (PQntuples(res) == 0) {
        snprintf(msg, sizeof(msg), "Certificate with %s id already exists", op->id);
        api_reply_error(op->r, 403, msg);
    } else {
        log_info("certificate %s added", op->id);
        /* Proxies reload before the uploader's next request (an allowlist may name it). */
        pushes_store_now(op->r->ad, "certificates", "insert", op->id);
        api_reply_json(op->r, 200, json_pack("{s:s, s:s, s:s}", "id", op->id, "status", "ok",
                                             "message", "Certificate added"));
    }
    cert_op_free(op);
}

static void certs_upload(struct api_req *r)
{
    struct authd *ad = r->ad;
    const char *org = api_query(r, "org_id");
    struct cert_upload *u = NULL;
    unsigned char *env = NULL;
    size_t envlen = 0;
    char *err = NULL;
    struct cert_op *op;

    if (certinfo_parse_upload(r->body, r->body_len, time(NULL), ad->secrets, ad->nsecrets, &u,
                              &err) < 0) {
        log_info("certificate upload rejected: %s", err);
        api_reply_error(r, 403, err);
        free(err);
        return;
    }
    op = xcalloc(1, sizeof(*op));
    op->r = r;
    op->id = xasprintf("%s%s", org != NULL ? org : "", u->id_hex);
    if (u->key_der != NULL &&
        keycrypt_seal(ad->cfg->enc_secret, op->id, u->key_der, u->key_der_len, &env, &envlen) < 0) {
        log_error("certificate %s: sealing the private key failed", op->id);
        api_reply_error(r, 500, "Failed to encrypt the private key");
        cert_op_free(op);
        certinfo_upload_free(u);
        return;
    }
    if (certstore_insert(ad, op->id, org != NULL ? org : "", u, env, envlen, on_inserted, op) < 0) {
        api_reply_unavailable(r, "The certificate store");
        cert_op_free(op);
    }
    free(env);
    certinfo_upload_free(u);
}

/* ---- list ---- */

static void on_listed(const PGresult *res, const char *err, void *arg)
{
    struct cert_op *op = arg;
    struct api_req *r = op->r;
    bool detailed = api_query(r, "mode") != NULL && strcmp(api_query(r, "mode"), "detailed") == 0;
    json_t *certs = json_array();

    if (store_failed(r, err)) {
        json_decref(certs);
        cert_op_free(op);
        return;
    }
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(certs, detailed ? certstore_row_basics(r->ad, res, i)
                                              : json_string(PQgetvalue(res, i, 0)));
    /* DESIGN §6: an empty list is [] (Tyk: null). */
    api_reply_json(r, 200, json_pack("{s:o}", "certs", certs));
    cert_op_free(op);
}

static void certs_list(struct api_req *r)
{
    const char *org = api_query(r, "org_id");
    const char *mode = api_query(r, "mode");
    struct cert_op *op = xcalloc(1, sizeof(*op));

    op->r = r;
    if (certstore_list(r->ad, org != NULL ? org : "", mode != NULL && strcmp(mode, "detailed") == 0,
                       on_listed, op) < 0) {
        api_reply_unavailable(r, "The certificate store");
        cert_op_free(op);
    }
}

/* ---- get ---- */

static void on_fetched(const PGresult *res, const char *err, void *arg)
{
    struct cert_op *op = arg;
    struct api_req *r = op->r;
    json_t *arr;

    if (store_failed(r, err)) {
        cert_op_free(op);
        return;
    }
    if (op->nids == 1) {
        int row = certstore_find_row(res, op->ids[0]);

        if (row < 0)
            api_reply_error(r, 404, "Certificate with given SHA256 fingerprint not found");
        else
            api_reply_json(r, 200, certstore_row_meta(r->ad, res, row));
        cert_op_free(op);
        return;
    }
    arr = json_array();
    for (size_t i = 0; i < op->nids; i++) {
        int row = certstore_find_row(res, op->ids[i]);

        json_array_append_new(arr, row < 0 ? json_null() : certstore_row_meta(r->ad, res, row));
    }
    api_reply_json(r, 200, arr);
    cert_op_free(op);
}

static void certs_get(struct api_req *r)
{
    struct cert_op *op = xcalloc(1, sizeof(*op));
    char *list = xstrdup(r->tail), *save = NULL, *tok;

    op->r = r;
    op->ids = xcalloc(MAX_MULTI_IDS, sizeof(char *));
    for (tok = strtok_r(list, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        if (op->nids == MAX_MULTI_IDS) {
            free(list);
            api_reply_error(r, 400, "Too many certificate ids in one request");
            cert_op_free(op);
            return;
        }
        op->ids[op->nids++] = xstrdup(tok);
    }
    free(list);
    if (op->nids == 0) {
        api_reply_error(r, 404, "Certificate with given SHA256 fingerprint not found");
        cert_op_free(op);
        return;
    }
    if (certstore_fetch(r->ad, (const char *const *)op->ids, op->nids, on_fetched, op) < 0) {
        api_reply_unavailable(r, "The certificate store");
        cert_op_free(op);
    }
}

/* ---- delete ---- */

static void on_deleted(const PGresult *res, const char *err, void *arg)
{
    struct cert_op *op = arg;

    if (!store_failed(op->r, err)) {
        if (strcmp(PQcmdTuples((PGresult *)res), "0") != 0) {
            log_info("certificate %s removed", op->id);
            pushes_store_now(op->r->ad, "certificates", "delete", op->id);
        }
        api_reply_status_ok(op->r, "removed");
    }
    cert_op_free(op);
}

static void certs_delete(struct api_req *r)
{
    struct cert_op *op = xcalloc(1, sizeof(*op));

    op->r = r;
    op->id = xstrdup(r->tail);
    if (certstore_delete(r->ad, op->id, on_deleted, op) < 0) {
        api_reply_unavailable(r, "The certificate store");
        cert_op_free(op);
    }
}

/* ---- helpers ---- */

/* Answer a failed store call (and return true), or return false when err is NULL. */
static bool store_failed(struct api_req *r, const char *err)
{
    if (err == NULL)
        return false;
    if (err == cb_err_server)
        api_reply_error(r, 500, "Certificate store error");
    else
        api_reply_unavailable(r, "The certificate store");
    return true;
}

static void cert_op_free(struct cert_op *op)
{
    for (size_t i = 0; i < op->nids; i++)
        free(op->ids[i]);
    free(op->ids);
    free(op->id);
    free(op);
}
