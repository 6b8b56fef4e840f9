/* rekey: re-seal private keys under the current secret, one row per UPDATE, each guarded
 * by the old envelope so a concurrent change is never overwritten. */
#include "authd/rekey.h"

#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "common/keycrypt.h"
#include "common/log.h"

static int rekey_row(PGconn *pg, const char *id, const unsigned char *env, size_t envlen,
                     const char *const *secrets, size_t n, struct rekey_result *out)
{
    unsigned char cur[KEYCRYPT_SECRET_ID_LEN], have[KEYCRYPT_SECRET_ID_LEN];
    unsigned char *pt = NULL, *nenv = NULL;
    size_t ptlen = 0, nlen = 0;
    const char *err = NULL;
    const char *vals[4];
    int lens[4] = {0, 0, 0, KEYCRYPT_SECRET_ID_LEN}, bin[4] = {0, 1, 1, 1};
    PGresult *res;
    int rc = 0;

    keycrypt_secret_id(secrets[0], cur);
    if (keycrypt_envelope_secret_id(env, envlen, have) && memcmp(cur, have, sizeof(cur)) == 0)
        return 0;
    if (keycrypt_open(secrets, n, id, env, envlen, &pt, &ptlen, NULL, &err) < 0) {
        log_error("rekey: certificate %s: %s", id, err);
        out->failed++;
        return 0;
    }
    if (keycrypt_seal(secrets[0], id, pt, ptlen, &nenv, &nlen) < 0) {
        OPENSSL_cleanse(pt, ptlen);
        free(pt);
        return -1;
    }
    OPENSSL_cleanse(pt, ptlen);
    free(pt);
    vals[0] = id;
    vals[1] = (const char *)nenv;
    lens[1] = (int)nlen;
    vals[2] = (const char *)env;
    lens[2] = (int)envlen;
    vals[3] = (const char *)cur;
    res = PQexecParams(pg,
                       "UPDATE certificates SET key_envelope = $2, key_secret_id = $4"
                       " WHERE id = $1 AND key_envelope = $3",
                       4, NULL, vals, lens, bin, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = -1;
    else if (strcmp(PQcmdTuples(res), "1") == 0)
        out->rekeyed++;
    PQclear(res);
    free(nenv);
    return rc;
}

int rekey_run(const char *conninfo, const char *const *secrets, size_t nsecrets,
              struct rekey_result *out, char **err)
{
    PGconn *pg = PQconnectdb(conninfo);
    PGresult *res = NULL;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (PQstatus(pg) != CONNECTION_OK) {
        *err = xasprintf("rekey: cannot connect to PostgreSQL: %s", PQerrorMessage(pg));
        goto done;
    }
    res = PQexecParams(pg, "SELECT id, key_envelope FROM certificates"
                           " WHERE key_envelope IS NOT NULL ORDER BY seq",
                       0, NULL, NULL, NULL, NULL, 1);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        *err = xasprintf("rekey: %s", PQerrorMessage(pg));
        goto done;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        char *id = xstrndup(PQgetvalue(res, i, 0), (size_t)PQgetlength(res, i, 0));

        out->examined++;
        if (rekey_row(pg, id, (const unsigned char *)PQgetvalue(res, i, 1),
                      (size_t)PQgetlength(res, i, 1), secrets, nsecrets, out) < 0) {
            *err = xasprintf("rekey: certificate %s: %s", id, PQerrorMessage(pg));
            free(id);
            goto done;
        }
        free(id);
    }
    rc = 0;
done:
    PQclear(res);
    PQfinish(pg);
    return rc;
}
