/*
 * certbound-authd: arguments, configuration, migrations, wiring of the modules on one
 * event loop, and the shutdown order. Subcommands: `migrate` (apply migrations and exit),
 * `rekey` (re-encrypt private keys under the current secret). Not for any request logic.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <openssl/opensslv.h>

#include "authd/api_tls.h"
#include "authd/authd.h"
#include "authd/authd_cfg.h"
#include "authd/certseen.h"
#include "authd/check.h"
#include "authd/http_api.h"
#include "authd/migrate.h"
#include "authd/pg_client.h"
#include "authd/pushes.h"
#include "authd/redis_client.h"
#include "authd/rekey.h"
#include "authd/rpc_server.h"
#include "authd/stats.h"
#include "common/daemon.h"
#include "common/log.h"
#include "common/version.h"

extern char **environ;

#define SHUTDOWN_GRACE_MS 10000
#define MIGRATE_RETRY_S 30

struct opts {
    const char *config;
    const char *log_format;
    const char *ready_file;
    const char *command; /* NULL = serve, "migrate", "rekey", "check-config" */
};

struct daemon {
    struct authd ad;
    struct authd_config cfg;
    struct event *sigterm, *sigint, *sighup, *drain_timer;
    struct timespec stop_started;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: certbound-authd [--config FILE] [--log-format text|json] "
               "[--ready-file FILE] [--check-config] [migrate | rekey]\n");
}

static void parse_args(int argc, char **argv, struct opts *o)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            o->config = argv[++i];
        } else if (strcmp(argv[i], "--log-format") == 0 && i + 1 < argc) {
            o->log_format = argv[++i];
        } else if (strcmp(argv[i], "--ready-file") == 0 && i + 1 < argc) {
            o->ready_file = argv[++i];
        } else if (strcmp(argv[i], "--check-config") == 0) {
            o->command = "check-config";
        } else if (strcmp(argv[i], "migrate") == 0 || strcmp(argv[i], "rekey") == 0) {
            o->command = argv[i];
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("certbound-authd %s\n", CB_VERSION);
            exit(0);
        } else {
            usage(stderr);
            die("unknown argument '%s'", argv[i]);
        }
    }
}

static void load_config(struct daemon *d, const struct opts *o)
{
    char *err = NULL;

    if (authd_cfg_load(&d->cfg, o->config, environ, &err) < 0)
        die("%s", err);
    daemon_log_init("certbound-authd", o->log_format, d->cfg.log_format, d->cfg.log_level);
    d->ad.cfg = &d->cfg;
    d->ad.nsecrets = 1 + d->cfg.prev_enc_secrets.n;
    d->ad.secrets = xcalloc(d->ad.nsecrets, sizeof(char *));
    d->ad.secrets[0] = d->cfg.enc_secret;
    for (size_t i = 0; i < d->cfg.prev_enc_secrets.n; i++)
        d->ad.secrets[i + 1] = d->cfg.prev_enc_secrets.v[i];
    d->ad.legacy_algo = TOKEN_ALGO_SHA256; /* DESIGN §2: no murmur32 for legacy tokens */
    if (d->cfg.allow_unsafe_dynamic_mtls_token)
        log_warn("security.allow_unsafe_dynamic_mtls_token is on: a certificate-derived token "
                 "alone authenticates, without proof of possession of the private key");
}

/* Migrations run before the loop (blocking is allowed there); PostgreSQL may still be
 * starting, so retry for a while before giving up. */
static void run_migrations(const struct authd_config *cfg)
{
    time_t deadline = time(NULL) + MIGRATE_RETRY_S;
    int applied = 0;
    char *err = NULL;

    for (;;) {
        if (migrate_run(cfg->pg_conninfo, (int)cfg->pg_connect_timeout_ms, &applied, &err) == 0)
            break;
        if (time(NULL) >= deadline)
            die("migrations failed: %s", err);
        log_warn("migrations not applied yet (%s); retrying", err);
        CB_FREE(err);
        sleep(1);
    }
    log_info("database schema at version %d (%d migration(s) applied now)",
             migrate_latest_version(), applied);
}

static int cmd_rekey(struct daemon *d)
{
    struct rekey_result r;
    char *err = NULL;

    if (rekey_run(d->cfg.pg_conninfo, d->ad.secrets, d->ad.nsecrets, &r, &err) < 0) {
        log_error("%s", err);
        free(err);
        return 1;
    }
    log_info("rekey: %zu key(s) examined, %zu re-encrypted, %zu unreadable", r.examined,
             r.rekeyed, r.failed);
    return r.failed == 0 ? 0 : 2;
}

static void write_ready_file(const char *path, int http_port, int rpc_port, int check_port)
{
    static const char *const names[] = {"http_port", "rpc_port", "check_port"};
    const int values[] = {http_port, rpc_port, check_port};

    daemon_write_ready_file(path, names, values, 3);
}

/* ---- shutdown ---- */

static void on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
    struct daemon *d = arg;
    struct timespec now;
    long ms;
    struct timeval tv = {0, 50000};
    size_t inflight = http_api_inflight(d->ad.http) +
                      (d->ad.check != NULL ? check_inflight(d->ad.check) : 0);

    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (now.tv_sec - d->stop_started.tv_sec) * 1000 +
         (now.tv_nsec - d->stop_started.tv_nsec) / 1000000;

    if (inflight == 0 || ms >= SHUTDOWN_GRACE_MS) {
        if (inflight > 0)
            log_warn("shutdown: %zu request(s) still in flight after %d ms; stopping", inflight,
                     SHUTDOWN_GRACE_MS);
        event_base_loopexit(d->ad.base, NULL);
        return;
    }
    evtimer_add(d->drain_timer, &tv);
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
    struct daemon *d = arg;

    if (d->ad.shutting_down) {
        log_warn("second stop signal: exiting now");
        event_base_loopbreak(d->ad.base);
        return;
    }
    log_info("signal %d: stopping (finishing requests in flight)", (int)sig);
    d->ad.shutting_down = true;
    http_api_stop_accepting(d->ad.http);
    if (d->ad.check != NULL)
        check_stop_accepting(d->ad.check);
    rpcsrv_stop(d->ad.rpc);
    clock_gettime(CLOCK_MONOTONIC, &d->stop_started);
    d->drain_timer = evtimer_new(d->ad.base, on_drain_tick, d);
    on_drain_tick(-1, 0, d);
}

static void on_sighup(evutil_socket_t sig, short what, void *arg)
{
    log_info("SIGHUP: logs go to stderr; nothing to reopen");
}

static void setup_signals(struct daemon *d)
{
    signal(SIGPIPE, SIG_IGN);
    d->sigterm = evsignal_new(d->ad.base, SIGTERM, on_stop_signal, d);
    d->sigint = evsignal_new(d->ad.base, SIGINT, on_stop_signal, d);
    d->sighup = evsignal_new(d->ad.base, SIGHUP, on_sighup, d);
    if (evsignal_add(d->sigterm, NULL) < 0 || evsignal_add(d->sigint, NULL) < 0 ||
        evsignal_add(d->sighup, NULL) < 0)
        die("cannot install signal handlers");
}

/* ---- serve ---- */

static void start_stores(struct daemon *d)
{
    const struct authd_config *c = &d->cfg;
    struct rds_config rc = {
        .host = c->redis_host,
        .port = (int)c->redis_port,
        .unix_socket = c->redis_unix_socket,
        .password = c->redis_password,
        .database = (int)c->redis_database,
        .connect_timeout_ms = (int)c->redis_connect_timeout_ms,
        .command_timeout_ms = (int)c->redis_command_timeout_ms,
        .reconnect_min_ms = 100,
        .reconnect_max_ms = 5000,
    };
    struct pgc_config pc = {
        .conninfo = c->pg_conninfo,
        .pool_size = (int)c->pg_pool_size,
        .connect_timeout_ms = (int)c->pg_connect_timeout_ms,
        .query_timeout_ms = (int)c->pg_query_timeout_ms,
        .reconnect_min_ms = 100,
        .reconnect_max_ms = 5000,
        .max_queue = 4096,
    };

    d->ad.rds = rds_new(d->ad.base, &rc);
    d->ad.pgc = pgc_new(d->ad.base, &pc);
    pushes_start(&d->ad);
    rds_start(d->ad.rds);
    pgc_start(d->ad.pgc);
}

static void serve(struct daemon *d, const struct opts *o)
{
    char *err = NULL;

    d->ad.base = event_base_new();
    if (d->ad.base == NULL)
        die("event_base_new failed");
    d->ad.stats = stats_new();
    d->ad.certs_seen = certseen_new(AUTHD_CERTS_SEEN_MAX);
    if (d->cfg.https_use_ssl) {
        /* After migrations: store ids among the certificates are read now (blocking). */
        d->ad.tls = apitls_new(&d->ad, &err);
        if (d->ad.tls == NULL)
            die("%s", err);
    }
    start_stores(d);
    d->ad.http = http_api_new(&d->ad, d->cfg.listen_address, (int)d->cfg.listen_port,
                              d->ad.tls, &err);
    if (d->ad.http == NULL)
        die("%s", err);
    if (d->cfg.check_listen[0] != '\0') {
        d->ad.check = check_new(&d->ad, d->cfg.check_listen, &err);
        if (d->ad.check == NULL)
            die("%s", err);
    }
    d->ad.rpc = rpcsrv_new(&d->ad, d->cfg.rpc_listen, (size_t)d->cfg.rpc_max_connections, &err);
    if (d->ad.rpc == NULL)
        die("%s", err);
    setup_signals(d);
    log_info("certbound-authd %s up: libevent %s, %s, hiredis %d.%d.%d, libpq %d",
             CB_VERSION, event_get_version(), OPENSSL_VERSION_TEXT, HIREDIS_MAJOR,
             HIREDIS_MINOR, HIREDIS_PATCH, PQlibVersion());
    log_info("management API listening on %s:%d (%s)", d->cfg.listen_address,
             http_api_port(d->ad.http), d->ad.tls == NULL ? "plain HTTP" : "TLS");
    if (d->ad.tls != NULL)
        log_info("management API TLS: %zu server certificate(s)%s", apitls_server_cert_count(d->ad.tls),
                 d->cfg.control_api_use_mutual_tls ? ", client certificate required" : "");
    if (d->ad.check != NULL)
        log_info("check endpoint listening on %s (port %d)", d->cfg.check_listen,
                 check_port(d->ad.check));
    log_info("RPC listening on %s (port %d)", d->cfg.rpc_listen, rpcsrv_port(d->ad.rpc));
    if (o->ready_file != NULL)
        write_ready_file(o->ready_file, http_api_port(d->ad.http), rpcsrv_port(d->ad.rpc),
                         d->ad.check != NULL ? check_port(d->ad.check) : 0);
    event_base_dispatch(d->ad.base);
    log_info("stopped");
}

static void teardown(struct daemon *d)
{
    /* Order: stop the front doors, then the stores (their callbacks answer what is left),
     * then the loop. */
    rpcsrv_free(d->ad.rpc);
    rds_free(d->ad.rds);
    pgc_free(d->ad.pgc);
    http_api_free(d->ad.http);
    check_free(d->ad.check);
    apitls_free(d->ad.tls);
    if (d->drain_timer != NULL)
        event_free(d->drain_timer);
    if (d->sigterm != NULL) {
        event_free(d->sigterm);
        event_free(d->sigint);
        event_free(d->sighup);
    }
    stats_free(d->ad.stats);
    certseen_free(d->ad.certs_seen);
    if (d->ad.base != NULL)
        event_base_free(d->ad.base);
    free(d->ad.secrets);
    authd_cfg_free(&d->cfg);
}

int main(int argc, char **argv)
{
    struct opts o = {0};
    struct daemon d;
    int rc = 0;

    memset(&d, 0, sizeof(d));
    log_init("certbound-authd", LOG_FMT_TEXT, LOG_LVL_INFO);
    parse_args(argc, argv, &o);
    load_config(&d, &o);
    if (o.command != NULL && strcmp(o.command, "check-config") == 0) {
        log_info("configuration OK");
    } else if (o.command != NULL && strcmp(o.command, "rekey") == 0) {
        rc = cmd_rekey(&d);
    } else {
        run_migrations(&d.cfg);
        if (o.command == NULL)
            serve(&d, &o);
    }
    teardown(&d);
    return rc;
}
