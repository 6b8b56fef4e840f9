/*
 * authorize: one struct az per decision, moved through a few asynchronous steps:
 *
 *   start ──▶ lookup by certificate ──▶ lookup by token ──▶ certificate exists? ──▶ checks
 *
 * each step optional, chosen by the mode (spec §4.3 secure / §5 legacy / plain token) and by
 * what the previous step found. Every way out goes through finish(), which defers the
 * callback to the loop when the answer was known synchronously.
 */
#include "authd/authorize.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "authd/authd.h"
#include "authd/authd_cfg.h"
#include "authd/certseen.h"
#include "authd/certstore.h"
#include "authd/sessions.h"
#include "common/errs.h"
#include "common/log.h"

/* The spec's messages (spec §3.2, §4.3 error table, §6.2). */
static const char msg_disallowed[] = "Access to this API has been disallowed";
static const char msg_cert_required[] = "Client certificate required";
static const char msg_cert_expired[] = "Certificate has expired";
static const char msg_field_missing[] = "Authorization field missing";
static const char msg_inactive[] = "Key is inactive, please renew";
static const char msg_expired[] = "Key has expired, please renew";

#define AZ_MAX_CANDIDATES 2

struct az;
typedef void (*az_found_fn)(struct az *z, json_t *session, const char *key);

struct az {
    struct authd *ad;
    authorize_cb cb;
    void *arg;

    char *api_id;
    char *org_id;
    bool use_certificate, static_mtls, tls, cert_expired;
    char *cert_sha;
    char *cert_hash;        /* org_id + cert_sha, the store id of the presented certificate */
    char *token;

    /* The lookup in progress: candidate keys tried in order, first hit wins. */
    char *cand[AZ_MAX_CANDIDATES];
    size_t ncand, icand;
    char *rkey;
    az_found_fn found;

    json_t *session;        /* the session that authenticates (owned) */
    char *key;              /* its key */
    struct authorize_out out;
    const char *store_err;
    uint64_t seen_gen;      /* certseen generation when the store query started */
    bool in_start;          /* inside authorize_start: defer the callback */
};

static void lookup(struct az *z, az_found_fn found);
static void lookup_next(struct az *z);
static void after_cert_lookup(struct az *z, json_t *session, const char *key);
static void after_token_lookup(struct az *z, json_t *session, const char *key);
static void validate_with_cert(struct az *z);
static void require_cert_in_store(struct az *z, const char *id);
static void checks(struct az *z);
static void deny(struct az *z, int status, const char *msg);
static void store_failed(struct az *z, const char *err);
static void finish(struct az *z, const char *store_err);
static void decide(struct az *z);

/* ---- public ---- */

int authorize_start(struct authd *ad, const struct authorize_in *in, authorize_cb cb, void *arg)
{
    struct az *z;

    if (in->api_id == NULL || in->org_id == NULL)
        return -1;
    z = xcalloc(1, sizeof(*z));
    z->ad = ad;
    z->cb = cb;
    z->arg = arg;
    z->api_id = xstrdup(in->api_id);
    z->org_id = xstrdup(in->org_id);
    z->use_certificate = in->use_certificate;
    z->static_mtls = in->static_mtls;
    z->tls = in->tls;
    z->cert_expired = in->cert_expired;
    if (in->cert_sha != NULL) {
        z->cert_sha = xstrdup(in->cert_sha);
        z->cert_hash = xasprintf("%s%s", in->org_id, in->cert_sha);
    }
    if (in->token != NULL)
        z->token = xstrdup(in->token);
    z->in_start = true;
    decide(z);
    /* Every path either deferred its answer or is waiting for a store: z is alive. */
    z->in_start = false;
    return 0;
}

static void decide(struct az *z)
{
    struct authd *ad = z->ad;

    if (!z->use_certificate) {
        /* Auth token, optionally bound to certificates (spec §6.2). */
        if (z->token == NULL)
            deny(z, 401, msg_field_missing);
        else
            lookup(z, after_token_lookup);
        return;
    }
    /* Certificate Auth (spec §4.3). Step 1: an expired certificate, before any lookup. */
    if (z->tls && z->cert_sha != NULL && z->cert_expired) {
        deny(z, 403, msg_cert_expired);
        return;
    }
    if (!z->tls) {
        /* Step 3: a plain listener degrades to the token alone. */
        if (z->token == NULL)
            deny(z, 403, msg_disallowed);
        else
            lookup(z, after_token_lookup);
        return;
    }
    if (z->cert_sha != NULL) {
        lookup(z, after_cert_lookup);
        return;
    }
    /* No certificate: secure mode refuses; legacy mode takes the token alone (spec §5),
     * and with neither (Tyk: a placeholder inactive session) we ask for the certificate. */
    if (!ad->cfg->allow_unsafe_dynamic_mtls_token || z->token == NULL)
        deny(z, 401, msg_cert_required);
    else
        lookup(z, after_token_lookup);
}

/* ---- lookups ---- */

static void set_candidates_for_cert(struct az *z)
{
    /* checkSessionWithCertFallback: generateToken(org, certHash), then certHash itself. */
    z->cand[0] = token_generate(z->org_id, z->cert_hash, z->ad->cfg->hash_key_function);
    z->cand[1] = xstrdup(z->cert_hash);
    z->ncand = 2;
}

static void set_candidates_for_token(struct az *z)
{
    size_t len = strlen(z->token);
    char *org = token_org(z->token, len);

    /* Spec §7.3: a token of the API's own org is read directly; any other also tries the
     * key generateToken(apiOrg, token) would give (so a certificate id finds its key). */
    if (org == NULL || strcmp(org, z->org_id) != 0)
        z->cand[z->ncand++] =
            token_generate(z->org_id, z->token, z->ad->cfg->hash_key_function);
    z->cand[z->ncand++] = xstrdup(z->token);
    free(org);
}

static void clear_candidates(struct az *z)
{
    for (size_t i = 0; i < z->ncand; i++) {
        free(z->cand[i]);
        z->cand[i] = NULL;
    }
    z->ncand = z->icand = 0;
    free(z->rkey);
    z->rkey = NULL;
}

static void lookup(struct az *z, az_found_fn found)
{
    clear_candidates(z);
    if (found == after_cert_lookup)
        set_candidates_for_cert(z);
    else
        set_candidates_for_token(z);
    z->found = found;
    lookup_next(z);
}

static void on_session(json_t *session, const char *err, void *arg)
{
    struct az *z = arg;

    if (err != NULL) {
        store_failed(z, err);
        return;
    }
    if (session == NULL) {
        z->icand++;
        lookup_next(z);
        return;
    }
    z->found(z, session, z->cand[z->icand]);
}

static void lookup_next(struct az *z)
{
    const char *key;

    /* A token shorter than min_token_length is never found (spec §7.3). */
    while (z->icand < z->ncand &&
           (long long)strlen(z->cand[z->icand]) < z->ad->cfg->min_token_length)
        z->icand++;
    if (z->icand == z->ncand) {
        z->found(z, NULL, NULL);
        return;
    }
    key = z->cand[z->icand];
    free(z->rkey);
    z->rkey = sessions_redis_key(z->ad, key, false);
    if (sessions_get(z->ad, z->rkey, on_session, z) < 0)
        store_failed(z, cb_err_unavailable);
}

static void adopt(struct az *z, json_t *session, const char *key)
{
    json_decref(z->session);
    z->session = json_incref(session);
    free(z->key);
    z->key = xstrdup(key);
}

static void after_cert_lookup(struct az *z, json_t *session, const char *key)
{
    if (session == NULL) {
        /* Certificate Auth: no session for this certificate (spec §4.3, §5: also in legacy
         * mode the certificate is checked first). */
        deny(z, 401, msg_disallowed);
        return;
    }
    adopt(z, session, key);
    if (z->ad->cfg->allow_unsafe_dynamic_mtls_token && z->token != NULL) {
        /* Legacy mode: a valid token wins over the certificate's session (spec §5), but we
         * never rewrite that session's certificate (DESIGN §6). */
        lookup(z, after_token_lookup);
        return;
    }
    validate_with_cert(z);
}

static void after_token_lookup(struct az *z, json_t *session, const char *key)
{
    if (session == NULL) {
        deny(z, 403, msg_disallowed);
        return;
    }
    adopt(z, session, key);
    if (!z->use_certificate) {
        json_t *b = json_object_get(z->session, "mtls_static_certificate_bindings");

        /* Bindings count only on static-mTLS APIs over TLS with a certificate (spec §6.2);
         * without one, the allowlist has already answered. */
        if (z->static_mtls && z->tls && z->cert_sha != NULL && json_is_array(b) &&
            json_array_size(b) > 0) {
            validate_with_cert(z);
            return;
        }
        checks(z);
        return;
    }
    if (z->tls && z->cert_sha != NULL) {
        validate_with_cert(z);
        return;
    }
    /* validateLegacyWithoutCert: a session tied to a certificate needs it in the store. */
    {
        const char *cert = json_string_value(json_object_get(z->session, "certificate"));

        if (cert != NULL && cert[0] != '\0')
            require_cert_in_store(z, cert);
        else
            checks(z);
    }
}

/* The session was found and a certificate was presented (spec §4.3 step 4, §6.2). */
static void validate_with_cert(struct az *z)
{
    json_t *b = json_object_get(z->session, "mtls_static_certificate_bindings");
    size_t i;
    json_t *v;

    if (z->static_mtls && json_is_array(b) && json_array_size(b) > 0) {
        if (z->cert_expired) {
            deny(z, 403, msg_cert_expired);
            return;
        }
        json_array_foreach(b, i, v)
        {
            if (json_is_string(v) && strcmp(json_string_value(v), z->cert_hash) == 0) {
                checks(z);
                return;
            }
        }
        log_warn("authorize: certificate mismatch detected for a token on API %s", z->api_id);
        deny(z, 401, msg_disallowed);
        return;
    }
    if (!z->use_certificate) {
        checks(z);
        return;
    }
    /* validateLegacyMode: the presented certificate must be in the store under the API's
     * org (deleting it revokes every session bound to it). */
    require_cert_in_store(z, z->cert_hash);
}

/* ---- certificate store ---- */

static void on_cert_rows(const PGresult *res, const char *err, void *arg)
{
    struct az *z = arg;

    if (err != NULL) {
        store_failed(z, err);
        return;
    }
    if (PQntuples(res) == 0) {
        deny(z, 403, msg_disallowed);
        return;
    }
    certseen_add(z->ad->certs_seen, PQgetvalue(res, 0, CS_ID), z->seen_gen);
    checks(z);
}

static void require_cert_in_store(struct az *z, const char *id)
{
    const char *ids[1] = {id};

    if (certseen_has(z->ad->certs_seen, id)) {
        checks(z);
        return;
    }
    z->seen_gen = certseen_gen(z->ad->certs_seen);
    if (certstore_fetch(z->ad, ids, 1, on_cert_rows, z) < 0)
        store_failed(z, cb_err_unavailable);
}

/* ---- session checks (KeyExpired, AccessRights) ---- */

static void checks(struct az *z)
{
    json_t *ar = json_object_get(z->session, "access_rights");
    json_t *exp = json_object_get(z->session, "expires");
    long long expires = json_is_integer(exp) ? (long long)json_integer_value(exp)
                        : json_is_real(exp)  ? (long long)json_real_value(exp)
                                             : 0;
    time_t now = time(NULL);

    if (json_is_true(json_object_get(z->session, "is_inactive"))) {
        deny(z, 403, msg_inactive);
        return;
    }
    if (expires >= 1 && expires < (long long)now) {
        deny(z, 401, msg_expired);
        return;
    }
    if (json_is_object(ar) && json_object_size(ar) > 0 &&
        json_object_get(ar, z->api_id) == NULL) {
        deny(z, 403, msg_disallowed);
        return;
    }
    z->out.status = 200;
    token_hash_hex(TOKEN_ALGO_SHA256, z->key, strlen(z->key), z->out.key_hash);
    z->out.cache_ms = AUTHORIZE_CACHE_MAX_MS;
    if (expires >= 1 && (expires - (long long)now) * 1000 < z->out.cache_ms)
        z->out.cache_ms = (expires - (long long)now) * 1000;
    finish(z, NULL);
}

/* ---- endings ---- */

static void az_free(struct az *z)
{
    clear_candidates(z);
    json_decref(z->session);
    free(z->key);
    free(z->api_id);
    free(z->org_id);
    free(z->cert_sha);
    free(z->cert_hash);
    free(z->token);
    free(z);
}

static void deliver(struct az *z)
{
    z->cb(z->store_err == NULL ? &z->out : NULL, z->store_err, z->arg);
    az_free(z);
}

static void on_deferred(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    deliver(arg);
}

/* The callback never runs inside authorize_start: a synchronous answer goes via the loop. */
static void finish(struct az *z, const char *store_err)
{
    static const struct timeval now = {0, 0};

    z->store_err = store_err;
    if (!z->in_start) {
        deliver(z);
        return;
    }
    if (event_base_once(z->ad->base, -1, EV_TIMEOUT, on_deferred, z, &now) < 0)
        die("authorize: event_base_once failed");
}

static void deny(struct az *z, int status, const char *msg)
{
    z->out.status = status;
    z->out.error = msg;
    finish(z, NULL);
}

static void store_failed(struct az *z, const char *err)
{
    log_warn("authorize: API %s: store unavailable: %s", z->api_id, err);
    finish(z, err);
}
