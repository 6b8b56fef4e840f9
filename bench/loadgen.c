/*
 * loadgen: closed-loop mTLS HTTP/1.1 load generator for bench/run.sh.
 *
 * N connections (split over 1..T threads, each with its own epoll loop and histogram) send
 * GET requests one at a time: each connection sends its next request as soon as the
 * previous response is complete (closed loop, no coordinated-omission correction).
 *
 *   newconn    every request = new TCP connection + full TLS handshake (session resumption
 *              disabled: no session cache, no ticket is ever offered) + one request with
 *              "Connection: close"; latency = connect() .. end of response.
 *   keepalive  persistent connections; latency = request write .. end of response. A
 *              connection the server closes is reopened (counted in reconnects=).
 *
 * Only responses that complete inside the measuring window [start + warmup, + duration]
 * count. Prints one line for scripts:
 *   mode=… conc=… threads=… dur=… ok=… non2xx=… err=… rps=… p50_us=… p90_us=… p99_us=…
 *   p999_us=… max_us=… mean_us=… hs=… resumed=… reconnects=… tickets=… cpu_s=…
 * rps counts 2xx responses only. Latency percentiles come from a log-linear histogram
 * (relative bucket width < 0.4 %, the bucket's upper bound is reported, like HdrHistogram's
 * highest equivalent value).
 *
 * Exit status: 0 when there were 2xx responses and no error and no non-2xx, 1 otherwise,
 * 2 on a usage or set-up error.
 *
 * Build: cc -O2 -std=c11 -Wall -Wextra -pthread -o loadgen loadgen.c -lssl -lcrypto
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* ---------------------------------------------------------------------------------------- */
/* Histogram: log-linear buckets over nanoseconds (HdrHistogram's layout, written for this). */

#define H_SUB_BITS 9                           /* 2^(SUB_BITS-1) = 256 buckets per octave */
#define H_HALF (1u << (H_SUB_BITS - 1))
#define H_MAX_MSB 40                           /* values clamp at 2^41 ns (~36 min) */
#define H_NBUCKETS ((H_MAX_MSB - H_SUB_BITS + 3) * H_HALF)

struct hist {
    uint64_t count[H_NBUCKETS];
    uint64_t total;
    uint64_t sum_ns;
    uint64_t max_ns;
};

static int msb64(uint64_t v)
{
    return 63 - __builtin_clzll(v);
}

static size_t hist_index(uint64_t v)
{
    int m, shift;

    if (v < (1u << H_SUB_BITS))
        return (size_t)v;
    m = msb64(v);
    if (m > H_MAX_MSB) {
        m = H_MAX_MSB;
        v = (UINT64_C(1) << (H_MAX_MSB + 1)) - 1;
    }
    shift = m - H_SUB_BITS + 1;
    return (size_t)(m - H_SUB_BITS + 2) * H_HALF + (size_t)((v >> shift) - H_HALF);
}

/* Highest value that maps to bucket i. */
static uint64_t hist_upper(size_t i)
{
    size_t octave, sub;
    int shift;

    if (i < (1u << H_SUB_BITS))
        return i;
    octave = i / H_HALF;          /* = m - SUB_BITS + 2, >= 2 */
    sub = i % H_HALF + H_HALF;
    shift = (int)octave - 1;      /* = m - SUB_BITS + 1 */
    return ((uint64_t)(sub + 1) << shift) - 1;
}

static void hist_record(struct hist *h, uint64_t ns)
{
    h->count[hist_index(ns)]++;
    h->total++;
    h->sum_ns += ns;
    if (ns > h->max_ns)
        h->max_ns = ns;
}

static void hist_merge(struct hist *into, const struct hist *from)
{
    for (size_t i = 0; i < H_NBUCKETS; i++)
        into->count[i] += from->count[i];
    into->total += from->total;
    into->sum_ns += from->sum_ns;
    if (from->max_ns > into->max_ns)
        into->max_ns = from->max_ns;
}

/* Value at quantile q (0 < q <= 1): the smallest bucket whose cumulative count reaches
 * ceil(q * total); its upper bound, capped by the exact maximum. */
static uint64_t hist_quantile(const struct hist *h, double q)
{
    uint64_t want, acc = 0;

    if (h->total == 0)
        return 0;
    want = (uint64_t)(q * (double)h->total + 0.999999);
    if (want < 1)
        want = 1;
    for (size_t i = 0; i < H_NBUCKETS; i++) {
        acc += h->count[i];
        if (acc >= want) {
            uint64_t v = hist_upper(i);
            return v < h->max_ns ? v : h->max_ns;
        }
    }
    return h->max_ns;
}

/* ---------------------------------------------------------------------------------------- */
/* Options */

enum mode { MODE_NEWCONN, MODE_KEEPALIVE };

static struct opts {
    const char *host;
    const char *port;
    const char *sni;         /* NULL = host when it is a name; "" = send none */
    const char *host_header; /* NULL = sni or host */
    const char *cert, *key, *ca;
    const char *path;
    int conc;
    int threads;
    double duration, warmup, timeout;
    enum mode mode;
    bool verbose;
} o = {
    .host = "127.0.0.1",
    .port = "443",
    .path = "/",
    .conc = 32,
    .threads = 1,
    .duration = 8,
    .warmup = 2,
    .timeout = 10,
    .mode = MODE_KEEPALIVE,
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: loadgen [options]\n"
            "  -H, --host ADDR        server address [127.0.0.1]\n"
            "  -p, --port PORT        server port [443]\n"
            "  -s, --sni NAME         TLS SNI (\"\" = none) [the host when it is a name]\n"
            "      --host-header H    HTTP Host header [SNI, else host]\n"
            "      --cert FILE        client certificate (chain) PEM\n"
            "      --key FILE         client private key PEM\n"
            "      --ca FILE          verify the server against this CA (and SNI / host)\n"
            "      --path PATH        request path [/]\n"
            "  -c, --concurrency N    connections [32]\n"
            "  -t, --threads N        threads (connections are split) [1]\n"
            "  -d, --duration S       measuring window, seconds [8]\n"
            "  -w, --warmup S         warm-up before the window, seconds [2]\n"
            "      --timeout S        per request (incl. connect + handshake) [10]\n"
            "  -m, --mode MODE        newconn | keepalive [keepalive]\n"
            "  -v, --verbose          print every distinct error\n");
}

static double parse_num(const char *s, const char *what, double min)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || v < min) {
        fprintf(stderr, "loadgen: bad value for %s: %s\n", what, s);
        exit(2);
    }
    return v;
}

static void parse_opts(int argc, char **argv)
{
    enum { OPT_CERT = 256, OPT_KEY, OPT_CA, OPT_PATH, OPT_TIMEOUT, OPT_HOSTHDR };
    static const struct option lo[] = {
        {"host", required_argument, NULL, 'H'},
        {"port", required_argument, NULL, 'p'},
        {"sni", required_argument, NULL, 's'},
        {"host-header", required_argument, NULL, OPT_HOSTHDR},
        {"cert", required_argument, NULL, OPT_CERT},
        {"key", required_argument, NULL, OPT_KEY},
        {"ca", required_argument, NULL, OPT_CA},
        {"path", required_argument, NULL, OPT_PATH},
        {"concurrency", required_argument, NULL, 'c'},
        {"threads", required_argument, NULL, 't'},
        {"duration", required_argument, NULL, 'd'},
        {"warmup", required_argument, NULL, 'w'},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"mode", required_argument, NULL, 'm'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    while ((c = getopt_long(argc, argv, "H:p:s:c:t:d:w:m:vh", lo, NULL)) != -1) {
        switch (c) {
        case 'H': o.host = optarg; break;
        case 'p': o.port = optarg; break;
        case 's': o.sni = optarg; break;
        case OPT_HOSTHDR: o.host_header = optarg; break;
        case OPT_CERT: o.cert = optarg; break;
        case OPT_KEY: o.key = optarg; break;
        case OPT_CA: o.ca = optarg; break;
        case OPT_PATH: o.path = optarg; break;
        case 'c': o.conc = (int)parse_num(optarg, "--concurrency", 1); break;
        case 't': o.threads = (int)parse_num(optarg, "--threads", 1); break;
        case 'd': o.duration = parse_num(optarg, "--duration", 0.1); break;
        case 'w': o.warmup = parse_num(optarg, "--warmup", 0); break;
        case OPT_TIMEOUT: o.timeout = parse_num(optarg, "--timeout", 0.01); break;
        case 'm':
            if (strcmp(optarg, "newconn") == 0)
                o.mode = MODE_NEWCONN;
            else if (strcmp(optarg, "keepalive") == 0)
                o.mode = MODE_KEEPALIVE;
            else {
                fprintf(stderr, "loadgen: --mode must be newconn or keepalive\n");
                exit(2);
            }
            break;
        case 'v': o.verbose = true; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind != argc) {
        usage(stderr);
        exit(2);
    }
    if ((o.cert == NULL) != (o.key == NULL)) {
        fprintf(stderr, "loadgen: --cert and --key go together\n");
        exit(2);
    }
    if (o.threads > o.conc)
        o.threads = o.conc;
}

/* ---------------------------------------------------------------------------------------- */
/* Time */

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t g_start_ns, g_win_start_ns, g_win_end_ns;

static bool in_window(uint64_t t)
{
    return t >= g_win_start_ns && t <= g_win_end_ns;
}

/* ---------------------------------------------------------------------------------------- */
/* Connections */

enum cstate {
    C_IDLE,       /* waiting to (re)connect at retry_ns */
    C_CONNECTING,
    C_HANDSHAKE,
    C_WRITING,
    C_READ_HEAD,
    C_READ_BODY,
};

enum body_kind { B_NONE, B_LENGTH, B_CHUNKED, B_UNTIL_CLOSE };

enum chunk_state { CH_SIZE, CH_DATA, CH_DATA_CRLF, CH_TRAILER };

#define HEAD_MAX 16384

struct conn {
    struct worker *w;
    int fd;
    SSL *ssl;
    enum cstate st;
    uint32_t events;            /* registered epoll events */
    uint64_t conn_start_ns;     /* socket() */
    uint64_t req_start_ns;      /* request write started */
    uint64_t deadline_ns;       /* current request's timeout */
    uint64_t retry_ns;
    size_t wpos;
    /* response */
    char head[HEAD_MAX];
    size_t hlen;
    int status;
    bool server_close;          /* "Connection: close" in the response */
    enum body_kind body;
    uint64_t body_left;
    enum chunk_state ch;
    char line[256];             /* chunk-size / trailer line */
    size_t llen;
    bool requests_done;         /* at least one response on this connection */
};

struct worker {
    int id;
    int epfd;
    int nconn;
    struct conn *conns;
    pthread_t th;
    struct hist hist;
    uint64_t ok, non2xx, err, hs_full, hs_resumed, reconnects, tickets;
    uint64_t err_printed;
    char last_err[256];
};

static SSL_CTX *g_ctx;
static struct addrinfo *g_addr;
static char g_req[2048];
static size_t g_req_len;
static const char *g_sni;

static void conn_error(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void conn_start(struct conn *c);

static void set_events(struct conn *c, uint32_t ev)
{
    struct epoll_event e = {.events = ev, .data.ptr = c};

    if (c->events == ev)
        return;
    if (epoll_ctl(c->w->epfd, c->events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c->fd, &e) != 0) {
        perror("loadgen: epoll_ctl");
        exit(2);
    }
    c->events = ev;
}

static void conn_close(struct conn *c, bool polite)
{
    if (c->ssl != NULL) {
        if (polite) {
            (void)SSL_shutdown(c->ssl); /* send close_notify, do not wait for the peer's */
        }
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0) {
        close(c->fd); /* also removes it from the epoll set */
        c->fd = -1;
    }
    c->events = 0;
    ERR_clear_error();
}

static void record_error(struct worker *w, const char *msg)
{
    if (o.verbose ? strcmp(msg, w->last_err) != 0 : w->err_printed < 5) {
        fprintf(stderr, "loadgen[%d]: %s\n", w->id, msg);
        w->err_printed++;
    }
    snprintf(w->last_err, sizeof(w->last_err), "%s", msg);
}

static void conn_error(struct conn *c, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    uint64_t t = now_ns();

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (in_window(t)) {
        c->w->err++;
        record_error(c->w, msg);
    } else if (t < g_win_start_ns) {
        record_error(c->w, msg); /* warm-up errors are shown, not counted */
    }
    conn_close(c, false);
    c->st = C_IDLE;
    c->retry_ns = t + 10 * 1000000u; /* back off 10 ms so that a dead server is not spun on */
}

static const char *ssl_reason(void)
{
    static _Thread_local char buf[200];
    unsigned long e = ERR_peek_last_error();

    if (e == 0)
        return errno != 0 ? strerror(errno) : "unexpected EOF";
    ERR_error_string_n(e, buf, sizeof(buf));
    return buf;
}

/* Map an SSL_* return to: 1 = done, 0 = wait (events set), -1 = error reported. */
static int ssl_wait(struct conn *c, int rc, const char *what)
{
    int e = SSL_get_error(c->ssl, rc);

    switch (e) {
    case SSL_ERROR_WANT_READ:
        set_events(c, EPOLLIN);
        return 0;
    case SSL_ERROR_WANT_WRITE:
        set_events(c, EPOLLOUT);
        return 0;
    case SSL_ERROR_ZERO_RETURN:
        return -2; /* clean close by the peer */
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0)
            return errno == 0 ? -2 : (conn_error(c, "%s: %s", what, strerror(errno)), -1);
        /* fall through */
    default:
        conn_error(c, "%s: %s", what, ssl_reason());
        return -1;
    }
}

static void conn_begin_request(struct conn *c)
{
    c->st = C_WRITING;
    c->wpos = 0;
    c->hlen = 0;
    c->status = 0;
    c->server_close = false;
    c->body = B_NONE;
    c->body_left = 0;
    c->llen = 0;
    c->req_start_ns = now_ns();
    if (o.mode == MODE_KEEPALIVE)
        c->deadline_ns = c->req_start_ns + (uint64_t)(o.timeout * 1e9);
}

static void response_done(struct conn *c)
{
    struct worker *w = c->w;
    uint64_t t = now_ns();
    uint64_t start = o.mode == MODE_NEWCONN ? c->conn_start_ns : c->req_start_ns;

    if (in_window(t)) {
        if (c->status >= 200 && c->status < 300)
            w->ok++;
        else
            w->non2xx++;
        hist_record(&w->hist, t - start);
    }
    c->requests_done = true;
    if (o.mode == MODE_NEWCONN || c->server_close || c->body == B_UNTIL_CLOSE) {
        conn_close(c, true);
        conn_start(c);
        return;
    }
    conn_begin_request(c);
}

/* Case-insensitive header-name match at p (line start); returns the value or NULL. */
static const char *header_value(const char *p, const char *end, const char *name)
{
    size_t n = strlen(name);

    if ((size_t)(end - p) <= n || strncasecmp(p, name, n) != 0 || p[n] != ':')
        return NULL;
    p += n + 1;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

static bool token_in(const char *v, const char *end, const char *tok)
{
    size_t n = strlen(tok);

    for (const char *p = v; p + n <= end; p++)
        if (strncasecmp(p, tok, n) == 0)
            return true;
    return false;
}

/* Parse the complete head in c->head[0..hlen). 0 or -1. */
static int parse_head(struct conn *c)
{
    const char *p = c->head, *end = c->head + c->hlen;
    const char *eol;
    bool have_len = false, chunked = false;

    if (c->hlen < 12 || strncmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ')
        return -1;
    c->status = atoi(p + 9);
    if (c->status < 100 || c->status > 999)
        return -1;
    if (p[7] == '0')
        c->server_close = true; /* HTTP/1.0 without keep-alive */
    eol = memchr(p, '\n', (size_t)(end - p));
    while (eol != NULL && eol + 1 < end) {
        const char *line = eol + 1, *v;

        eol = memchr(line, '\n', (size_t)(end - line));
        if (eol == NULL)
            break;
        if ((v = header_value(line, eol, "content-length")) != NULL) {
            c->body_left = strtoull(v, NULL, 10);
            have_len = true;
        } else if ((v = header_value(line, eol, "transfer-encoding")) != NULL) {
            chunked = token_in(v, eol, "chunked");
        } else if ((v = header_value(line, eol, "connection")) != NULL) {
            if (token_in(v, eol, "close"))
                c->server_close = true;
            else if (token_in(v, eol, "keep-alive"))
                c->server_close = false;
        }
    }
    if (c->status == 204 || c->status == 304 || c->status < 200)
        c->body = B_LENGTH, c->body_left = 0;
    else if (chunked)
        c->body = B_CHUNKED, c->ch = CH_SIZE, c->llen = 0;
    else if (have_len)
        c->body = B_LENGTH;
    else
        c->body = B_UNTIL_CLOSE;
    return 0;
}

/* Consume body bytes. Returns 1 when the response is complete, 0 for more, -1 on error.
 * *used = bytes consumed. */
static int body_feed(struct conn *c, const char *p, size_t n, size_t *used)
{
    size_t i = 0;

    switch (c->body) {
    case B_NONE:
        return -1;
    case B_UNTIL_CLOSE:
        *used = n;
        return 0;
    case B_LENGTH: {
        size_t take = n < c->body_left ? n : (size_t)c->body_left;

        c->body_left -= take;
        *used = take;
        return c->body_left == 0 ? 1 : 0;
    }
    case B_CHUNKED:
        while (i < n) {
            if (c->ch == CH_DATA) {
                size_t take = n - i < c->body_left ? n - i : (size_t)c->body_left;

                c->body_left -= take;
                i += take;
                if (c->body_left == 0) {
                    c->ch = CH_DATA_CRLF;
                    c->llen = 0;
                }
                continue;
            }
            /* line-oriented states */
            char ch = p[i++];

            if (ch != '\n') {
                if (c->llen + 1 >= sizeof(c->line))
                    return -1;
                c->line[c->llen++] = ch;
                continue;
            }
            if (c->llen > 0 && c->line[c->llen - 1] == '\r')
                c->llen--;
            c->line[c->llen] = '\0';
            switch (c->ch) {
            case CH_SIZE: {
                char *endp;
                unsigned long long sz = strtoull(c->line, &endp, 16);

                if (endp == c->line)
                    return -1;
                c->llen = 0;
                if (sz == 0) {
                    c->ch = CH_TRAILER;
                } else {
                    c->body_left = sz;
                    c->ch = CH_DATA;
                }
                break;
            }
            case CH_DATA_CRLF:
                if (c->llen != 0)
                    return -1;
                c->ch = CH_SIZE;
                break;
            case CH_TRAILER:
                if (c->llen == 0) {
                    *used = i;
                    return 1;
                }
                c->llen = 0;
                break;
            case CH_DATA:
                break;
            }
        }
        *used = n;
        return 0;
    }
    return -1;
}

/* Data arrived for the current response: p[0..n). Returns 1 if the connection moved on
 * (response complete or error), 0 to keep reading. */
static int response_feed(struct conn *c, const char *p, size_t n)
{
    while (n > 0) {
        if (c->st == C_READ_HEAD) {
            size_t take = n;
            char *end;
            size_t scan_from = c->hlen > 3 ? c->hlen - 3 : 0;

            if (take > HEAD_MAX - c->hlen)
                take = HEAD_MAX - c->hlen;
            memcpy(c->head + c->hlen, p, take);
            c->hlen += take;
            end = memmem(c->head + scan_from, c->hlen - scan_from, "\r\n\r\n", 4);
            if (end == NULL) {
                if (c->hlen == HEAD_MAX) {
                    conn_error(c, "response head over %d bytes", HEAD_MAX);
                    return 1;
                }
                return 0;
            }
            {
                size_t head_len = (size_t)(end - c->head) + 4;
                size_t extra = c->hlen - head_len; /* body bytes copied into head */

                c->hlen = head_len;
                if (parse_head(c) != 0) {
                    conn_error(c, "bad response head");
                    return 1;
                }
                p = p + take - extra; /* the bytes after the head are the tail of p */
                n = n - take + extra;
                if (c->status < 200) { /* 1xx: skip it, read the next head */
                    c->hlen = 0;
                    continue;
                }
                c->st = C_READ_BODY;
                if (c->body == B_LENGTH && c->body_left == 0) {
                    if (n > 0 && o.mode == MODE_KEEPALIVE) {
                        conn_error(c, "unexpected bytes after the response");
                        return 1;
                    }
                    response_done(c);
                    return 1;
                }
                continue;
            }
        }
        if (c->st == C_READ_BODY) {
            size_t used = 0;
            int r = body_feed(c, p, n, &used);

            if (r < 0) {
                conn_error(c, "bad response body");
                return 1;
            }
            if (r == 1) {
                if (used < n && o.mode == MODE_KEEPALIVE && !c->server_close) {
                    conn_error(c, "unexpected bytes after the response");
                    return 1;
                }
                response_done(c);
                return 1;
            }
            p += used;
            n -= used;
            continue;
        }
        return 0;
    }
    return 0;
}

static void conn_start(struct conn *c)
{
    const struct addrinfo *ai = g_addr;
    int one = 1;
    uint64_t t = now_ns();

    if (t >= g_win_end_ns) {
        c->st = C_IDLE;
        c->retry_ns = UINT64_MAX;
        return;
    }
    if (c->requests_done && o.mode == MODE_KEEPALIVE && in_window(t))
        c->w->reconnects++;
    c->conn_start_ns = t;
    c->deadline_ns = t + (uint64_t)(o.timeout * 1e9);
    c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (c->fd < 0) {
        conn_error(c, "socket: %s", strerror(errno));
        return;
    }
    (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->events = 0;
    if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
        conn_error(c, "connect: %s", strerror(errno));
        return;
    }
    c->st = C_CONNECTING;
    set_events(c, EPOLLOUT);
}

static void conn_tls_start(struct conn *c)
{
    c->ssl = SSL_new(g_ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
        conn_error(c, "SSL_new: %s", ssl_reason());
        return;
    }
    SSL_set_app_data(c->ssl, c);
    if (g_sni != NULL && *g_sni != '\0') {
        SSL_set_tlsext_host_name(c->ssl, g_sni);
        if (o.ca != NULL)
            SSL_set1_host(c->ssl, g_sni);
    } else if (o.ca != NULL) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), o.host);
    }
    SSL_set_connect_state(c->ssl);
    c->st = C_HANDSHAKE;
}

static void conn_step(struct conn *c)
{
    for (;;) {
        switch (c->st) {
        case C_IDLE:
            return;
        case C_CONNECTING: {
            int soerr = 0;
            socklen_t len = sizeof(soerr);

            if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
                soerr = errno;
            if (soerr != 0) {
                conn_error(c, "connect: %s", strerror(soerr));
                return;
            }
            {
                struct sockaddr_storage peer;
                socklen_t plen = sizeof(peer);

                if (getpeername(c->fd, (struct sockaddr *)&peer, &plen) != 0) {
                    set_events(c, EPOLLOUT); /* not connected yet */
                    return;
                }
            }
            conn_tls_start(c);
            continue;
        }
        case C_HANDSHAKE: {
            int rc;

            errno = 0;
            rc = SSL_do_handshake(c->ssl);
            if (rc != 1) {
                int r = ssl_wait(c, rc, "handshake");

                if (r == -2)
                    conn_error(c, "handshake: connection closed by the server");
                return;
            }
            if (in_window(now_ns())) {
                if (SSL_session_reused(c->ssl))
                    c->w->hs_resumed++;
                else
                    c->w->hs_full++;
            }
            conn_begin_request(c);
            if (o.mode == MODE_NEWCONN)
                c->req_start_ns = c->conn_start_ns;
            continue;
        }
        case C_WRITING: {
            int rc;

            errno = 0;
            rc = SSL_write(c->ssl, g_req + c->wpos, (int)(g_req_len - c->wpos));
            if (rc <= 0) {
                int r = ssl_wait(c, rc, "write");

                if (r == -2) {
                    /* The server closed an idle keep-alive connection: reopen, no error. */
                    conn_close(c, false);
                    conn_start(c);
                }
                return;
            }
            c->wpos += (size_t)rc;
            if (c->wpos < g_req_len)
                continue;
            c->st = C_READ_HEAD;
            continue;
        }
        case C_READ_HEAD:
        case C_READ_BODY: {
            char buf[16384];
            int rc;

            errno = 0;
            rc = SSL_read(c->ssl, buf, sizeof(buf));
            if (rc <= 0) {
                int r = ssl_wait(c, rc, "read");

                if (r == -2) { /* EOF */
                    if (c->st == C_READ_BODY && c->body == B_UNTIL_CLOSE) {
                        response_done(c); /* closes; a new connection waits for connect */
                        return;
                    }
                    if (c->st == C_READ_HEAD && c->hlen == 0 && c->requests_done &&
                        o.mode == MODE_KEEPALIVE) {
                        /* keep-alive connection closed by the server before this request was
                         * answered (idle timeout race): retry on a new connection */
                        conn_close(c, false);
                        conn_start(c);
                        return;
                    }
                    conn_error(c, "read: connection closed by the server mid-response");
                }
                return;
            }
            if (response_feed(c, buf, (size_t)rc) != 0 && (c->st == C_IDLE || c->st == C_CONNECTING))
                return; /* error, or a new connection: wait for its connect */
            continue;   /* keep reading, or the next request on this connection */
        }
        }
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct epoll_event evs[256];

    for (int i = 0; i < w->nconn; i++) {
        struct conn *c = &w->conns[i];

        c->w = w;
        c->fd = -1;
        conn_start(c);
    }
    for (;;) {
        uint64_t t = now_ns();
        int n, timeout_ms = 5;

        if (t >= g_win_end_ns)
            break;
        if ((g_win_end_ns - t) / 1000000u < (uint64_t)timeout_ms)
            timeout_ms = (int)((g_win_end_ns - t) / 1000000u) + 1;
        n = epoll_wait(w->epfd, evs, 256, timeout_ms);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("loadgen: epoll_wait");
            exit(2);
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;

            if (c->st != C_IDLE && c->fd >= 0)
                conn_step(c);
        }
        /* timers: reconnect back-off and per-request timeouts */
        t = now_ns();
        for (int i = 0; i < w->nconn; i++) {
            struct conn *c = &w->conns[i];

            if (c->st == C_IDLE) {
                if (t >= c->retry_ns)
                    conn_start(c); /* conn_step runs when the connect completes (EPOLLOUT) */
            } else if (t > c->deadline_ns) {
                conn_error(c, "timeout after %.1f s (state %d)", o.timeout, (int)c->st);
            }
        }
    }
    for (int i = 0; i < w->nconn; i++)
        conn_close(&w->conns[i], false);
    return NULL;
}

/* ---------------------------------------------------------------------------------------- */

static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    struct conn *c = SSL_get_app_data(ssl);

    (void)sess;
    if (c != NULL && in_window(now_ns()))
        c->w->tickets++;
    return 0; /* not kept: the session is freed by OpenSSL */
}

static SSL_CTX *make_ctx(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL)
        goto fail;
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    /* No resumption: we never call SSL_set_session() and keep no session, so every handshake
     * is a full one. The new-session callback only counts the TLS 1.3 tickets the server
     * sends (each costs the server CPU; reported as tickets=). */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, on_new_session);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    /* A close without close_notify is an EOF: it ends a body delimited by the close, and is
     * an error anywhere else (checked by the caller). */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
    if (o.cert != NULL) {
        if (SSL_CTX_use_certificate_chain_file(ctx, o.cert) != 1)
            goto fail;
        if (SSL_CTX_use_PrivateKey_file(ctx, o.key, SSL_FILETYPE_PEM) != 1)
            goto fail;
        if (SSL_CTX_check_private_key(ctx) != 1)
            goto fail;
    }
    if (o.ca != NULL) {
        if (SSL_CTX_load_verify_locations(ctx, o.ca, NULL) != 1)
            goto fail;
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    return ctx;
fail:
    fprintf(stderr, "loadgen: TLS set-up: %s\n", ssl_reason());
    exit(2);
}

static bool is_ip_literal(const char *s)
{
    struct in6_addr a6;
    struct in_addr a4;

    return inet_pton(AF_INET, s, &a4) == 1 || inet_pton(AF_INET6, s, &a6) == 1;
}

int main(int argc, char **argv)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    struct worker *ws;
    struct hist *total;
    uint64_t ok = 0, non2xx = 0, err = 0, hs = 0, res = 0, reco = 0, tix = 0, t_end;
    double dur, cpu_s;
    int rc;
    const char *hosthdr;

    parse_opts(argc, argv);
    signal(SIGPIPE, SIG_IGN);

    rc = getaddrinfo(o.host, o.port, &hints, &g_addr);
    if (rc != 0) {
        fprintf(stderr, "loadgen: %s:%s: %s\n", o.host, o.port, gai_strerror(rc));
        return 2;
    }
    g_sni = o.sni != NULL ? o.sni : (is_ip_literal(o.host) ? NULL : o.host);
    hosthdr = o.host_header != NULL ? o.host_header : (g_sni != NULL && *g_sni ? g_sni : o.host);
    rc = snprintf(g_req, sizeof(g_req),
                  "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: certbound-loadgen\r\n"
                  "Accept: */*\r\n%s\r\n",
                  o.path, hosthdr, o.mode == MODE_NEWCONN ? "Connection: close\r\n" : "");
    if (rc < 0 || (size_t)rc >= sizeof(g_req)) {
        fprintf(stderr, "loadgen: request too long\n");
        return 2;
    }
    g_req_len = (size_t)rc;
    g_ctx = make_ctx();

    ws = calloc((size_t)o.threads, sizeof(*ws));
    total = calloc(1, sizeof(*total));
    if (ws == NULL || total == NULL)
        return 2;
    g_start_ns = now_ns();
    g_win_start_ns = g_start_ns + (uint64_t)(o.warmup * 1e9);
    g_win_end_ns = g_win_start_ns + (uint64_t)(o.duration * 1e9);
    for (int i = 0; i < o.threads; i++) {
        struct worker *w = &ws[i];

        w->id = i;
        w->nconn = o.conc / o.threads + (i < o.conc % o.threads ? 1 : 0);
        w->conns = calloc((size_t)w->nconn, sizeof(*w->conns));
        w->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (w->conns == NULL || w->epfd < 0) {
            fprintf(stderr, "loadgen: out of resources\n");
            return 2;
        }
        if (o.threads == 1) {
            worker_main(w);
        } else if (pthread_create(&w->th, NULL, worker_main, w) != 0) {
            fprintf(stderr, "loadgen: pthread_create failed\n");
            return 2;
        }
    }
    for (int i = 0; i < o.threads; i++) {
        struct worker *w = &ws[i];

        if (o.threads > 1)
            pthread_join(w->th, NULL);
        hist_merge(total, &w->hist);
        ok += w->ok;
        non2xx += w->non2xx;
        err += w->err;
        hs += w->hs_full;
        res += w->hs_resumed;
        reco += w->reconnects;
        tix += w->tickets;
    }
    {
        struct rusage ru;

        getrusage(RUSAGE_SELF, &ru); /* all threads, warm-up included */
        cpu_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    }
    t_end = now_ns();
    if (t_end > g_win_end_ns)
        t_end = g_win_end_ns;
    dur = (double)(t_end - g_win_start_ns) / 1e9;
    printf("mode=%s conc=%d threads=%d dur=%.2f ok=%" PRIu64 " non2xx=%" PRIu64 " err=%" PRIu64
           " rps=%.1f p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f"
           " mean_us=%.1f hs=%" PRIu64 " resumed=%" PRIu64 " reconnects=%" PRIu64
           " tickets=%" PRIu64 " cpu_s=%.2f\n",
           o.mode == MODE_NEWCONN ? "newconn" : "keepalive", o.conc, o.threads, dur, ok, non2xx,
           err, dur > 0 ? (double)ok / dur : 0.0, hist_quantile(total, 0.50) / 1e3,
           hist_quantile(total, 0.90) / 1e3, hist_quantile(total, 0.99) / 1e3,
           hist_quantile(total, 0.999) / 1e3, total->max_ns / 1e3,
           total->total ? (double)total->sum_ns / (double)total->total / 1e3 : 0.0, hs, res,
           reco, tix, cpu_s);
    fflush(stdout);
    SSL_CTX_free(g_ctx);
    freeaddrinfo(g_addr);
    for (int i = 0; i < o.threads; i++) {
        close(ws[i].epfd);
        free(ws[i].conns);
    }
    free(ws);
    free(total);
    return ok > 0 && err == 0 && non2xx == 0 ? 0 : 1;
}
