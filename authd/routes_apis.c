/*
 * routes_apis: /tyk/apis[/<api_id>] (DESIGN §4, §6, §6a). Definitions are validated, their
 * certificate references checked in the store, and written in one statement; the
 * (domain, listen_path) unique index makes a duplicate route a clean 400 even under
 * concurrent writes. PostgreSQL triggers notify proxies of the change.
 */
#include "authd/routes.h"

#include <stdlib.h>
#include <string.h>

#include "authd/apidefs.h"
#include "authd/authd.h"
#include "authd/authd_cfg.h"
#include "authd/certstore.h"
#include "authd/pushes.h"
#include "common/errs.h"
#include "common/log.h"
#include "common/strutil.h"

struct api_op {
    struct api_req *r;
    json_t *def;   /* owned */
    char *api_id;
    json_t *refs;  /* [{"field","id"}] to check */
};

static void apis_write(struct api_req *r);
static void apis_read(struct api_req *r);
static void apis_delete(struct api_req *r);
static void api_op_free(struct api_op *op);
static bool store_failed(struct api_req *r, const char *err);

/* ---- public functions ---- */

void route_apis(struct api_req *r)
{
    switch (r->method) {
    case EVHTTP_REQ_POST:
    case EVHTTP_REQ_PUT:
        apis_write(r);
        break;
    case EVHTTP_REQ_GET:
        apis_read(r);
        break;
    case EVHTTP_REQ_DELETE:
        apis_delete(r);
        break;
    default:
        api_reply_error(r, 405, "Method not supported");
    }
}

/* ---- writes ---- */

static void on_refs_checked(const PGresult *res, const char *err, void *arg);
static void on_written(const PGresult *res, const char *err, void *arg);
static void step_write(struct api_op *op);

static void apis_write(struct api_req *r)
{
    json_t *def = api_body_json(r);
    const char *body_id;
    struct api_op *op;
    char *verr, hex[33];
    unsigned char rnd[16];

    if (def == NULL)
        return;
    if ((verr = apidefs_validate(def, r->ad->cfg->enforce_upstream_tls_verify)) != NULL) {
        log_info("API definition rejected: %s", verr);
        api_reply_error(r, 400, verr);
        free(verr);
        json_decref(def);
        return;
    }
    body_id = json_string_value(json_object_get(def, "api_id"));
    if (r->method == EVHTTP_REQ_PUT && body_id != NULL && *body_id != '\0' &&
        strcmp(body_id, r->tail) != 0) {
        api_reply_error(r, 400, "Request APIID does not match that in Definition! For Update "
                                "operations these must match.");
        json_decref(def);
        return;
    }
    op = xcalloc(1, sizeof(*op));
    op->r = r;
    op->def = def;
    if (r->method == EVHTTP_REQ_PUT) {
        op->api_id = xstrdup(r->tail);
    } else if (body_id != NULL && *body_id != '\0') {
        op->api_id = xstrdup(body_id);
    } else {
        if (random_bytes(rnd, sizeof(rnd)) < 0)
            die("no randomness for an API id");
        hex_encode(rnd, sizeof(rnd), hex);
        op->api_id = xstrdup(hex);
    }
    json_object_set_new(def, "api_id", json_string(op->api_id));
    op->refs = apidefs_cert_refs(def);
    if (json_array_size(op->refs) == 0) {
        step_write(op);
        return;
    }
    {
        size_t n = json_array_size(op->refs), i;
        const char **ids = xcalloc(n, sizeof(*ids));
        json_t *v;

        json_array_foreach(op->refs, i, v)
            ids[i] = json_string_value(json_object_get(v, "id"));
        if (certstore_fetch(r->ad, ids, n, on_refs_checked, op) < 0) {
            api_reply_unavailable(r, "The API store");
            api_op_free(op);
        }
        free(ids);
    }
}

static void on_refs_checked(const PGresult *res, const char *err, void *arg)
{
    struct api_op *op = arg;
    size_t i;
    json_t *v;

    if (store_failed(op->r, err)) {
        api_op_free(op);
        return;
    }
    json_array_foreach(op->refs, i, v) {
        const char *id = json_string_value(json_object_get(v, "id"));

        if (certstore_find_row(res, id) < 0) {
            char *msg = xasprintf("%s: certificate not found: %s",
                                  json_string_value(json_object_get(v, "field")), id);

            api_reply_error(op->r, 400, msg);
            free(msg);
            api_op_free(op);
            return;
        }
    }
    step_write(op);
}

static void step_write(struct api_op *op)
{
    int rc;

    if (op->r->method == EVHTTP_REQ_PUT)
        rc = apidefs_update(op->r->ad, op->api_id, op->def, on_written, op);
    else
        rc = apidefs_insert(op->r->ad, op->def, on_written, op);
    if (rc < 0) {
        api_reply_unavailable(op->r, "The API store");
        api_op_free(op);
    }
}

static void on_written(const PGresult *res, const char *err, void *arg)
{
    struct api_op *op = arg;
    bool put = op->r->method == EVHTTP_REQ_PUT;

    if (err == cb_err_server) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        const char *cons = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);

        if (state != NULL && strcmp(state, "23505") == 0) {
            if (cons != NULL && strstr(cons, "pkey") != NULL)
                api_reply_error(op->r, 400, "api_id: an API with this ID already exists");
            else
                api_reply_error(op->r, 400, "proxy.listen_path: another API already listens "
                                            "on this path on the same domain");
            api_op_free(op);
            return;
        }
    }
    if (store_failed(op->r, err)) {
        api_op_free(op);
        return;
    }
    if (PQntuples(res) == 0) {
        api_reply_error(op->r, 404, "API not found");
    } else {
        log_info("API %s %s (revision %s)", op->api_id, put ? "modified" : "added",
                 PQgetvalue(res, 0, 0));
        pushes_store_now(op->r->ad, "api_definitions", put ? "update" : "insert", op->api_id);
        api_reply_action(op->r, op->api_id, put ? "modified" : "added");
    }
    api_op_free(op);
}

/* ---- reads ---- */

static void on_read(const PGresult *res, const char *err, void *arg)
{
    struct api_req *r = arg;
    json_t *list;

    if (store_failed(r, err))
        return;
    if (*r->tail != '\0') {
        if (PQntuples(res) == 0)
            api_reply_error(r, 404, "API not found");
        else
            api_reply_json(r, 200, json_loads(PQgetvalue(res, 0, AD_DEFINITION), 0, NULL));
        return;
    }
    list = json_array();
    for (int i = 0; i < PQntuples(res); i++)
        if (!PQgetisnull(res, i, AD_API_ID))
            json_array_append_new(list, json_loads(PQgetvalue(res, i, AD_DEFINITION), 0, NULL));
    api_reply_json(r, 200, list);
}

static void apis_read(struct api_req *r)
{
    if (apidefs_select(r->ad, *r->tail != '\0' ? r->tail : NULL, on_read, r) < 0)
        api_reply_unavailable(r, "The API store");
}

/* ---- delete ---- */

static void on_deleted(const PGresult *res, const char *err, void *arg)
{
    struct api_op *op = arg;

    if (!store_failed(op->r, err)) {
        if (strcmp(PQcmdTuples((PGresult *)res), "0") == 0) {
            api_reply_error(op->r, 404, "API not found");
        } else {
            log_info("API %s deleted", op->api_id);
            pushes_store_now(op->r->ad, "api_definitions", "delete", op->api_id);
            api_reply_action(op->r, op->api_id, "deleted");
        }
    }
    api_op_free(op);
}

static void apis_delete(struct api_req *r)
{
    struct api_op *op = xcalloc(1, sizeof(*op));

    op->r = r;
    op->api_id = xstrdup(r->tail);
    if (apidefs_delete(r->ad, op->api_id, on_deleted, op) < 0) {
        api_reply_unavailable(r, "The API store");
        api_op_free(op);
    }
}

/* ---- helpers ---- */

static bool store_failed(struct api_req *r, const char *err)
{
    if (err == NULL)
        return false;
    if (err == cb_err_server)
        api_reply_error(r, 500, "API store error");
    else
        api_reply_unavailable(r, "The API store");
    return true;
}

static void api_op_free(struct api_op *op)
{
    json_decref(op->def);
    json_decref(op->refs);
    free(op->api_id);
    free(op);
}
