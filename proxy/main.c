/*
 * certbound-proxy: arguments, configuration, the workers (DESIGN §3: one event loop per
 * worker on its own SO_REUSEPORT socket, nothing mutable shared), the ready file and the
 * signals. The main thread serves no request: it owns the signals and tells the workers
 * what to do through their control pipes.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <http_parser.h>
#include <openssl/opensslv.h>

#include "common/daemon.h"
#include "common/log.h"
#include "common/version.h"
#include "proxy/metrics.h"
#include "proxy/proxy_cfg.h"
#include "proxy/tls.h"
#include "proxy/ups_tls.h"
#include "proxy/worker.h"

extern char **environ;

#define STOP_GRACE_MS 15000 /* workers drain for 10 s; this is the backstop */

struct opts {
    const char *config;
    const char *log_format;
    const char *ready_file;
    bool check_config;
};

struct daemon {
    struct proxy_config cfg;
    const struct opts *o;
    struct event_base *base;
    struct worker *w;
    size_t nw;
    struct metrics *metrics;
    int port;
    int notify_rd, notify_wr;
    size_t nready, nexited;
    bool stopping;
    struct event *sigterm, *sigint, *sighup, *notify_ev, *stop_timer;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: certbound-proxy --config FILE [--log-format text|json] "
               "[--ready-file FILE] [--check-config]\n");
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
            o->check_config = true;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("certbound-proxy %s\n", CB_VERSION);
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

    if (proxy_cfg_load(&d->cfg, o->config, environ, &err) < 0)
        die("%s", err);
    daemon_log_init("certbound-proxy", o->log_format, d->cfg.log_format, d->cfg.log_level);
    if (!d->cfg.https_use_ssl)
        log_warn("http_server_options.use_ssl is false: serving plain HTTP; every API that "
                 "needs a client certificate answers 403");
    if (d->cfg.proxy_ssl_insecure_skip_verify)
        log_warn("proxy_ssl_insecure_skip_verify is true: https upstreams are not verified");
    /* The CA store of https upstreams, loaded once for every worker. */
    if (ups_tls_ca_init(&d->cfg, &err) < 0)
        die("%s", err);
}

/* Loads the certificate files the way a worker will, so --check-config catches them. */
static int check_tls(const struct proxy_config *cfg)
{
    struct tls_srv *t;
    char *err = NULL;

    if (!cfg->https_use_ssl)
        return 0;
    t = tls_srv_new(cfg, &err);
    if (t == NULL) {
        log_error("%s", err);
        free(err);
        return -1;
    }
    tls_srv_free(t);
    return 0;
}

static void write_ready_file(const char *path, int port)
{
    static const char *const names[] = {"port"};

    daemon_write_ready_file(path, names, &port, 1);
}

/* ---- signals and worker notifications ---- */

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
    struct daemon *d = arg;
    struct timeval tv = {STOP_GRACE_MS / 1000, 0};

    if (d->stopping) {
        log_warn("second stop signal: exiting now");
        exit(1);
    }
    log_info("signal %d: stopping (finishing requests in flight)", (int)sig);
    d->stopping = true;
    for (size_t i = 0; i < d->nw; i++)
        worker_send(&d->w[i], 'T');
    evtimer_add(d->stop_timer, &tv);
}

static void on_stop_timeout(evutil_socket_t fd, short what, void *arg)
{
    log_error("workers did not stop within %d ms; exiting", STOP_GRACE_MS);
    exit(1);
}

static void on_sighup(evutil_socket_t sig, short what, void *arg)
{
    struct daemon *d = arg;

    log_info("SIGHUP: reloading certificate files");
    for (size_t i = 0; i < d->nw; i++)
        worker_send(&d->w[i], 'H');
}

static void on_notify(evutil_socket_t fd, short what, void *arg)
{
    struct daemon *d = arg;
    char buf[64];
    ssize_t n = read(fd, buf, sizeof(buf));

    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] == 'R' && ++d->nready == d->nw) {
            log_info("ready: %zu worker(s) on %s:%d", d->nw, d->cfg.listen_address, d->port);
            if (d->o->ready_file != NULL)
                write_ready_file(d->o->ready_file, d->port);
        } else if (buf[i] == 'X' && ++d->nexited == d->nw) {
            event_base_loopexit(d->base, NULL);
        }
    }
}

/* ---- serve ---- */

static void start_workers(struct daemon *d)
{
    long n = d->cfg.workers;
    int fd, bound, port = (int)d->cfg.listen_port;
    char *err = NULL;
    sigset_t set;
    int p[2];

    if (n <= 0)
        n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n <= 0)
        n = 1;
    d->nw = (size_t)n;
    d->w = xcalloc(d->nw, sizeof(*d->w));
    if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0)
        die("pipe: %s", strerror(errno));
    d->notify_rd = p[0];
    d->notify_wr = p[1];
    /* Port 0: the first worker takes an ephemeral port, the others join it. */
    for (size_t i = 0; i < d->nw; i++) {
        if (worker_bind(d->cfg.listen_address, port, &fd, &bound, &err) < 0)
            die("%s", err);
        port = bound;
        d->w[i].id = (int)i;
        d->w[i].cfg = &d->cfg;
        d->w[i].listen_fd = fd;
        d->w[i].notify_wr = d->notify_wr;
    }
    d->port = port;
    /* http_parser's own head limit is process-wide: set it before any thread parses. */
    http_parser_set_max_header_size((uint32_t)d->cfg.max_head_bytes + 1024);
    /* Workers inherit a mask without the signals: only the main thread handles them. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    for (size_t i = 0; i < d->nw; i++)
        worker_start(&d->w[i]);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

static void serve(struct daemon *d)
{
    signal(SIGPIPE, SIG_IGN);
    d->base = event_base_new();
    if (d->base == NULL)
        die("event_base_new failed");
    d->sigterm = evsignal_new(d->base, SIGTERM, on_stop_signal, d);
    d->sigint = evsignal_new(d->base, SIGINT, on_stop_signal, d);
    d->sighup = evsignal_new(d->base, SIGHUP, on_sighup, d);
    d->stop_timer = evtimer_new(d->base, on_stop_timeout, d);
    if (d->sigterm == NULL || evsignal_add(d->sigterm, NULL) < 0 ||
        evsignal_add(d->sigint, NULL) < 0 || evsignal_add(d->sighup, NULL) < 0)
        die("cannot install signal handlers");
    start_workers(d);
    if (d->cfg.metrics_listen[0] != '\0') {
        char *err = NULL;

        d->metrics = metrics_start(d->base, d->cfg.metrics_listen, d->w, d->nw, &err);
        if (d->metrics == NULL)
            die("%s", err);
        log_info("metrics on http://%s/metrics", d->cfg.metrics_listen);
    }
    d->notify_ev = event_new(d->base, d->notify_rd, EV_READ | EV_PERSIST, on_notify, d);
    if (d->notify_ev == NULL || event_add(d->notify_ev, NULL) != 0)
        die("cannot watch the workers");
    log_info("certbound-proxy %s up: %zu worker(s), %s on %s:%d, authd %s; libevent %s, %s, "
             "http_parser %lu.%lu.%lu",
             CB_VERSION, d->nw, d->cfg.https_use_ssl ? "TLS" : "plain HTTP", d->cfg.listen_address,
             d->port, d->cfg.authd, event_get_version(), OPENSSL_VERSION_TEXT,
             (http_parser_version() >> 16) & 255, (http_parser_version() >> 8) & 255,
             http_parser_version() & 255);
    event_base_dispatch(d->base);
    for (size_t i = 0; i < d->nw; i++)
        worker_join(&d->w[i]);
    log_info("stopped");
}

static void teardown(struct daemon *d)
{
    metrics_free(d->metrics);
    if (d->base != NULL) {
        event_free(d->sigterm);
        event_free(d->sigint);
        event_free(d->sighup);
        event_free(d->stop_timer);
        if (d->notify_ev != NULL)
            event_free(d->notify_ev);
        event_base_free(d->base);
        close(d->notify_rd);
        close(d->notify_wr);
    }
    free(d->w);
    ups_tls_ca_free();
    proxy_cfg_free(&d->cfg);
}

int main(int argc, char **argv)
{
    struct opts o = {0};
    struct daemon d;
    int rc = 0;

    memset(&d, 0, sizeof(d));
    d.o = &o;
    log_init("certbound-proxy", LOG_FMT_TEXT, LOG_LVL_INFO);
    parse_args(argc, argv, &o);
    load_config(&d, &o);
    if (o.check_config) {
        rc = check_tls(&d.cfg) == 0 ? 0 : 1;
        if (rc == 0)
            log_info("configuration OK");
    } else {
        serve(&d);
    }
    teardown(&d);
    return rc;
}
