/*
 * e2e_util: what the proxy end-to-end tests share: the servers of one test (Redis,
 * PostgreSQL database, authd, echo upstream, proxy), certificate and key helpers on authd's
 * management API, and requests through the proxy with assertions on the status and the
 * {"error"} message.
 */
#ifndef CB_TESTS_E2E_UTIL_H
#define CB_TESTS_E2E_UTIL_H

#include <stdbool.h>

#include <jansson.h>

#include "common/xmem.h"
#include "tests/harness/proxyutil.h"
#include "tests/harness/testutil.h"

#define ORG "default"
#define WAIT_MS 5000

extern struct tu_redis redis;
extern struct tu_authd authd;
extern struct tu_upstream up;
extern struct tu_proxy proxy;
extern char *conninfo;

/* Start every server; authd_extra / proxy_extra are JSON merged over the base configs. */
void e2e_start(const char *authd_extra, const char *proxy_extra);
void e2e_stop(void);

/* ---- store ---- */
char *pki(const char *name);                      /* a PKI file's text (heap) */
char *sha(const char *file);                      /* sha256 hex of its first certificate */
char *cid(const char *org, const char *name);     /* org + sha of NAME.crt */
char *upload_file(const char *org, const char *file, const char *keyfile); /* → id */
char *upload(const char *name);                   /* NAME.crt under ORG → id */
char *insert_expired(void);                       /* expired.crt straight into PostgreSQL */
void delete_cert(const char *id);
/* POST (or PUT) an API; the target defaults to the echo upstream's /up. */
void api_put(const char *method, const char *fmt, ...) CB_PRINTF(2, 3);
char *key_create(const char *path, const char *body);
char *key_for_cert(const char *id, const char *api_id, const char *extra);
char *key_plain(const char *api_id, const char *extra);
void key_update(const char *key, const char *body);
void session_set_raw(const char *key, const char *field, json_t *value);
char *sha256_hex(const char *s);

/* ---- requests ---- */
void req(const char *sni, const char *path, const char *cert, const char *token,
         struct tu_resp *out);
/* status -1 = the handshake or the connection failed; msg NULL = do not check. */
void expect(const char *sni, const char *path, const char *cert, const char *token, int status,
            const char *msg);
void wait_not(const char *sni, const char *path, const char *cert, const char *token, int not);
void wait_api(const char *sni, const char *path);
/* Poll until the request answers want (bounded by WAIT_MS). */
void wait_for(const char *sni, const char *path, const char *cert, const char *token, int want);
void expect_upstream_header(const struct tu_resp *r, const char *name, const char *want);
char *ca_names(const char *sni);

#endif
