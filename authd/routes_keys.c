/*
 * routes_keys: /tyk/keys/create and /tyk/keys[/<key>] (spec §4.1, §6.3, §7; DESIGN §2, §4).
 * Writes run as a short chain of asynchronous steps:
 *   load (PUT: the stored session; create with a certificate: the duplicate check)
 *   -> check certificate ids in the store (PUT certificate change, new bindings)
 *   -> access-rights rule -> SET (NX for create, XX for PUT) -> answer.
 * Every step that fails answers and frees the op; nothing is written before all checks pass.
 */
#include "authd/routes.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "authd/authd.h"
#include "authd/authd_cfg.h"
#include "authd/certstore.h"
#include "authd/sessions.h"
#include "common/errs.h"
#include "common/log.h"
#include "common/strutil.h"
#include "common/token.h"

enum key_kind {
    KEY_CREATE = 0, /* POST /tyk/keys/create */
    KEY_POST,       /* POST /tyk/keys[/<name>] */
    KEY_PUT         /* PUT /tyk/keys/<key> */
};

struct key_op {
    struct api_req *r;
    enum key_kind kind;
    json_t *session;     /* the new session (owned) */
    json_t *orig;        /* PUT: the stored session (owned) */
    char *key;           /* the key as answered (token, or the hash when by_hash) */
    char *rkey;          /* Redis key */
    bool by_hash;
    char *cert_changed;  /* PUT: the new certificate id to check, or NULL */
    json_t *new_bindings; /* bindings to check (array of strings, owned) */
};

static void key_write(struct api_req *r, enum key_kind kind);
static void step_check_certs(struct key_op *op);
static void step_store(struct key_op *op);
static void key_op_free(struct key_op *op);
static bool redis_failed(struct api_req *r, const char *err);
static const char *session_type_error(const json_t *s);
static const char *json_str(const json_t *o, const char *key);

/* ---- public functions ---- */

void route_keys_create(struct api_req *r)
{
    key_write(r, KEY_CREATE);
}

static void on_key_get(json_t *session, const char *err, void *arg);
static void on_key_deleted(long long removed, const char *err, void *arg);
static void on_keys_listed(json_t *keys, const char *err, void *arg);

void route_keys(struct api_req *r)
{
    const char *hashed = api_query(r, "hashed");
    bool by_hash = hashed != NULL && strcmp(hashed, "true") == 0;
    struct key_op *op;
    int rc;

    if (r->method == EVHTTP_REQ_POST) {
        key_write(r, KEY_POST);
        return;
    }
    if (r->method == EVHTTP_REQ_GET && *r->tail == '\0') {
        if (sessions_list(r->ad, on_keys_listed, r) < 0)
            api_reply_unavailable(r, "The session store");
        return;
    }
    if (by_hash && !r->ad->cfg->hash_keys) {
        api_reply_error(r, 400, "Key requested by hash but key hashing is not enabled");
        return;
    }
    if (r->method == EVHTTP_REQ_PUT) {
        key_write(r, KEY_PUT);
        return;
    }
    op = xcalloc(1, sizeof(*op));
    op->r = r;
    op->key = xstrdup(r->tail);
    op->rkey = sessions_redis_key(r->ad, r->tail, by_hash);
    if (r->method == EVHTTP_REQ_GET)
        rc = sessions_get(r->ad, op->rkey, on_key_get, op);
    else
        rc = sessions_del(r->ad, op->rkey, on_key_deleted, op);
    if (rc < 0) {
        api_reply_unavailable(r, "The session store");
        key_op_free(op);
    }
}

/* ---- reads and deletes ---- */

static void on_key_get(json_t *session, const char *err, void *arg)
{
    struct key_op *op = arg;

    if (!redis_failed(op->r, err)) {
        if (session == NULL)
            api_reply_error(op->r, 404, "Key not found");
        else
            api_reply_json(op->r, 200, json_incref(session));
    }
    key_op_free(op);
}

static void on_key_deleted(long long removed, const char *err, void *arg)
{
    struct key_op *op = arg;

    if (!redis_failed(op->r, err)) {
        if (removed == 0) {
            api_reply_error(op->r, 404, "There is no such key found");
        } else {
            sessions_publish_invalidation(op->r->ad, op->rkey);
            log_info("key deleted");
            api_reply_action(op->r, op->key, "deleted");
        }
    }
    key_op_free(op);
}

static void on_keys_listed(json_t *keys, const char *err, void *arg)
{
    struct api_req *r = arg;

    if (!redis_failed(r, err))
        api_reply_json(r, 200, json_pack("{s:O}", "keys", keys));
}

/* ---- writes ---- */

static void on_create_dup_checked(json_t *session, const char *err, void *arg);
static void on_put_loaded(json_t *session, const char *err, void *arg);

/* The new key's name: create with a certificate derives it from the certificate;
 * POST /tyk/keys/<name> derives it from the name; otherwise a random 128-bit id. */
static char *new_key_name(struct api_req *r, enum key_kind kind, const json_t *session)
{
    const char *org = json_str(session, "org_id");
    const char *cert = json_str(session, "certificate");
    const char *fn = r->ad->cfg->hash_key_function;
    unsigned char rnd[16];
    char hex[33];

    if (kind == KEY_CREATE && *cert != '\0')
        return token_generate(org, cert, fn);
    if (kind == KEY_POST && *r->tail != '\0')
        return token_generate(org, r->tail, fn);
    if (random_bytes(rnd, sizeof(rnd)) < 0)
        return NULL;
    hex_encode(rnd, sizeof(rnd), hex);
    return token_generate(org, hex, fn);
}

static void key_write(struct api_req *r, enum key_kind kind)
{
    json_t *session = api_body_json(r);
    const char *terr;
    struct key_op *op;
    int rc;

    if (session == NULL)
        return;
    terr = session_type_error(session);
    if (terr != NULL) {
        log_info("key %s rejected: %s", kind == KEY_PUT ? "update" : "creation", terr);
        json_decref(session);
        api_reply_error(r, 400, "Unmarshalling failed");
        return;
    }
    op = xcalloc(1, sizeof(*op));
    op->r = r;
    op->kind = kind;
    op->session = session;
    if (kind == KEY_PUT) {
        const char *hashed = api_query(r, "hashed");

        op->by_hash = hashed != NULL && strcmp(hashed, "true") == 0;
        op->key = xstrdup(r->tail);
        op->rkey = sessions_redis_key(r->ad, r->tail, op->by_hash);
        rc = sessions_get(r->ad, op->rkey, on_put_loaded, op);
    } else {
        op->key = new_key_name(r, kind, session);
        if (op->key == NULL) {
            api_reply_error(r, 500, "Failed to create key - no randomness");
            key_op_free(op);
            return;
        }
        op->rkey = sessions_redis_key(r->ad, op->key, false);
        op->new_bindings = json_incref(json_object_get(session, "mtls_static_certificate_bindings"));
        if (kind == KEY_CREATE && *json_str(session, "certificate") != '\0') {
            rc = sessions_get(r->ad, op->rkey, on_create_dup_checked, op);
        } else {
            step_check_certs(op);
            return;
        }
    }
    if (rc < 0) {
        api_reply_unavailable(r, "The session store");
        key_op_free(op);
    }
}

static void on_create_dup_checked(json_t *session, const char *err, void *arg)
{
    struct key_op *op = arg;
    char *msg;

    if (redis_failed(op->r, err)) {
        key_op_free(op);
        return;
    }
    if (session != NULL) {
        /* Tyk's exact text, including the missing space after the colon (spec §4.1). */
        msg = xasprintf("Failed to create key - Key with given certificate already found:%s",
                        op->key);
        api_reply_error(op->r, 500, msg);
        free(msg);
        key_op_free(op);
        return;
    }
    step_check_certs(op);
}

/* PUT checks only bindings that the stored session does not have yet (spec §6.3). */
static json_t *added_bindings(const json_t *newb, const json_t *oldb)
{
    json_t *out = json_array(), *v, *w;
    size_t i, j;

    json_array_foreach(newb, i, v) {
        bool known = false;

        json_array_foreach(oldb, j, w) {
            if (json_equal(v, w))
                known = true;
        }
        if (!known)
            json_array_append(out, v);
    }
    return out;
}

static void on_put_loaded(json_t *stored, const char *err, void *arg)
{
    struct key_op *op = arg;
    const char *oldc, *newc;

    if (redis_failed(op->r, err)) {
        key_op_free(op);
        return;
    }
    if (stored == NULL) {
        api_reply_error(op->r, 404, "Key is not found");
        key_op_free(op);
        return;
    }
    op->orig = json_incref(stored);
    oldc = json_str(stored, "certificate");
    newc = json_str(op->session, "certificate");
    if (strcmp(oldc, newc) != 0) {
        if (*newc == '\0') {
            api_reply_error(op->r, 400, "Key cannot be used without a certificate");
            key_op_free(op);
            return;
        }
        op->cert_changed = xstrdup(newc);
    }
    op->new_bindings = added_bindings(json_object_get(op->session, "mtls_static_certificate_bindings"),
                                      json_object_get(stored, "mtls_static_certificate_bindings"));
    step_check_certs(op);
}

static void on_certs_checked(const PGresult *res, const char *err, void *arg);

static void step_check_certs(struct key_op *op)
{
    const char *org = json_str(op->session, "org_id");
    size_t n = json_array_size(op->new_bindings), k = 0, i;
    const char **ids;
    json_t *v;
    char *msg;

    /* The org-prefix rule is checked for every entry before any store lookup (spec §6.3). */
    json_array_foreach(op->new_bindings, i, v) {
        if (*org != '\0' && !str_has_prefix(json_string_value(v), org)) {
            msg = xasprintf("invalid certificate ID: %s", json_string_value(v));
            api_reply_error(op->r, 400, msg);
            free(msg);
            key_op_free(op);
            return;
        }
    }
    if (n == 0 && op->cert_changed == NULL) {
        step_store(op);
        return;
    }
    ids = xcalloc(n + 1, sizeof(*ids));
    if (op->cert_changed != NULL)
        ids[k++] = op->cert_changed;
    json_array_foreach(op->new_bindings, i, v)
        ids[k++] = json_string_value(v);
    if (certstore_fetch(op->r->ad, ids, k, on_certs_checked, op) < 0) {
        api_reply_unavailable(op->r, "The certificate store");
        key_op_free(op);
    }
    free(ids);
}

static void on_certs_checked(const PGresult *res, const char *err, void *arg)
{
    struct key_op *op = arg;
    size_t i;
    json_t *v;
    char *msg;

    if (err != NULL) {
        api_reply_unavailable(op->r, "The certificate store");
        key_op_free(op);
        return;
    }
    if (op->cert_changed != NULL && certstore_find_row(res, op->cert_changed) < 0) {
        api_reply_error(op->r, 400, "Key must be used with an existent certificate");
        key_op_free(op);
        return;
    }
    json_array_foreach(op->new_bindings, i, v) {
        if (certstore_find_row(res, json_string_value(v)) < 0) {
            msg = xasprintf("certificate not found: %s", json_string_value(v));
            api_reply_error(op->r, 400, msg);
            free(msg);
            key_op_free(op);
            return;
        }
    }
    step_store(op);
}

static void on_stored(bool stored, const char *err, void *arg);

/* Tyk's bookkeeping fields: date_created kept on update, last_updated = now, and an
 * "expires" already in the past is replaced by the stored one (0 on create). */
static void stamp_session(struct key_op *op)
{
    time_t now = time(NULL);
    json_t *exp = json_object_get(op->session, "expires");
    char buf[64];
    struct tm tm;

    if (op->orig != NULL && json_object_get(op->orig, "date_created") != NULL) {
        json_object_set(op->session, "date_created", json_object_get(op->orig, "date_created"));
    } else {
        gmtime_r(&now, &tm);
        strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_object_set_new(op->session, "date_created", json_string(buf));
    }
    snprintf(buf, sizeof(buf), "%lld", (long long)now);
    json_object_set_new(op->session, "last_updated", json_string(buf));
    if (json_is_integer(exp) && json_integer_value(exp) > 1 && json_integer_value(exp) < now) {
        json_t *o = op->orig != NULL ? json_object_get(op->orig, "expires") : NULL;

        json_object_set_new(op->session, "expires",
                            json_integer(json_is_integer(o) ? json_integer_value(o) : 0));
    }
}

static void step_store(struct key_op *op)
{
    json_t *ar = json_object_get(op->session, "access_rights");
    enum sessions_put_mode mode = SESS_PUT_ANY;

    if (json_object_size(ar) == 0) {
        if (op->kind == KEY_CREATE)
            api_reply_error(op->r, 400, "Failed to create key, keys must have at least one "
                                        "Access Rights record set.");
        else
            api_reply_error(op->r, 500, "Failed to create key, ensure security settings are "
                                        "correct.");
        key_op_free(op);
        return;
    }
    stamp_session(op);
    if (op->kind == KEY_CREATE && *json_str(op->session, "certificate") != '\0')
        mode = SESS_PUT_NX; /* a concurrent create of the same certificate loses */
    else if (op->kind == KEY_PUT)
        mode = SESS_PUT_XX; /* a concurrent delete wins */
    if (sessions_put(op->r->ad, op->rkey, op->session, mode, on_stored, op) < 0) {
        api_reply_unavailable(op->r, "The session store");
        key_op_free(op);
    }
}

static void on_stored(bool stored, const char *err, void *arg)
{
    struct key_op *op = arg;
    struct authd *ad = op->r->ad;
    char h[TOKEN_HASH_HEX_MAX + 1];
    json_t *body;

    if (redis_failed(op->r, err)) {
        key_op_free(op);
        return;
    }
    if (!stored) {
        if (op->kind == KEY_PUT) {
            api_reply_error(op->r, 404, "Key is not found");
        } else {
            char *msg = xasprintf("Failed to create key - Key with given certificate already "
                                  "found:%s", op->key);

            api_reply_error(op->r, 500, msg);
            free(msg);
        }
        key_op_free(op);
        return;
    }
    sessions_publish_invalidation(ad, op->rkey);
    body = json_pack("{s:s, s:s, s:s}", "key", op->key, "status", "ok", "action",
                     op->kind == KEY_PUT ? "modified" : "added");
    if (ad->cfg->hash_keys && op->kind != KEY_PUT) {
        sessions_key_hash(ad, op->key, h);
        json_object_set_new(body, "key_hash", json_string(h));
    }
    log_info("key %s", op->kind == KEY_PUT ? "modified" : "added");
    api_reply_json(op->r, 200, body);
    key_op_free(op);
}

/* ---- helpers ---- */

static bool redis_failed(struct api_req *r, const char *err)
{
    if (err == NULL)
        return false;
    if (err == cb_err_server)
        api_reply_error(r, 500, "Session store error");
    else
        api_reply_unavailable(r, "The session store");
    return true;
}

/* The types Tyk's SessionState unmarshalling would reject, for the fields we use. */
static const char *session_type_error(const json_t *s)
{
    static const struct {
        const char *key;
        json_type type;
    } fields[] = {
        {"org_id", JSON_STRING},        {"certificate", JSON_STRING},
        {"expires", JSON_INTEGER},      {"access_rights", JSON_OBJECT},
        {"mtls_static_certificate_bindings", JSON_ARRAY},
    };
    const json_t *b, *v;
    size_t i;

    for (i = 0; i < CB_ARRAY_LEN(fields); i++) {
        v = json_object_get(s, fields[i].key);
        if (v != NULL && !json_is_null(v) && json_typeof(v) != fields[i].type)
            return "a field has the wrong JSON type";
    }
    v = json_object_get(s, "is_inactive");
    if (v != NULL && !json_is_null(v) && !json_is_boolean(v))
        return "is_inactive is not a boolean";
    b = json_object_get(s, "mtls_static_certificate_bindings");
    json_array_foreach(b, i, v) {
        if (!json_is_string(v))
            return "mtls_static_certificate_bindings holds a non-string";
    }
    return NULL;
}

static const char *json_str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s != NULL ? s : "";
}

static void key_op_free(struct key_op *op)
{
    json_decref(op->session);
    json_decref(op->orig);
    json_decref(op->new_bindings);
    free(op->key);
    free(op->rkey);
    free(op->cert_changed);
    free(op);
}
