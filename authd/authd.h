/*
 * authd: the daemon context every authd module receives. One per process, built by
 * main.c; no globals. Modules borrow the pointers for the life of the loop.
 */
#ifndef CB_AUTHD_AUTHD_H
#define CB_AUTHD_AUTHD_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>

#include "common/token.h"

struct authd_config;
struct rds;
struct pgc;
struct stats;
struct http_api;
struct rpcsrv;
struct check_srv;
struct certseen;
struct apitls;

struct authd {
    struct event_base *base;
    const struct authd_config *cfg;
    struct rds *rds;
    struct pgc *pgc;
    struct stats *stats;
    struct http_api *http;
    struct rpcsrv *rpc;
    struct check_srv *check;       /* NULL unless check_listen */
    struct certseen *certs_seen;   /* certificate ids known to be in the store */
    struct apitls *tls;            /* NULL unless http_server_options.use_ssl */
    const char **secrets;          /* current encoding secret first, then previous ones */
    size_t nsecrets;
    enum token_algo legacy_algo;   /* how legacy (non base64-JSON) tokens hash */
    bool shutting_down;
};

/* Certificate ids authorize remembers as present in the store (certseen). */
#define AUTHD_CERTS_SEEN_MAX 100000

/* Redis channel on which authd announces session and certificate invalidations. */
#define AUTHD_INVALIDATE_CHANNEL "certbound:invalidate"

#endif
