/*
 * http_conn_int: the connection object shared by http_conn.c (connection, request head,
 * local answers) and http_relay.c (the exchange with an upstream). Only these two files
 * include it.
 */
#ifndef CB_PROXY_HTTP_CONN_INT_H
#define CB_PROXY_HTTP_CONN_INT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/bufferevent.h>
#include <http_parser.h>
#include <openssl/ssl.h>

#include "proxy/http_head.h"

#define HC_RELAY_HIGH    (256 * 1024) /* stop reading one side above this much output */
#define HC_RELAY_LOW     (64 * 1024)  /* ... and resume below this */
#define HC_RESP_HEAD_MAX (64 * 1024)  /* an upstream's response head */

struct api;
struct apis;
struct authz_req;
struct ups_conn;
struct worker;

enum hc_state {
    HC_ST_HANDSHAKE = 0, /* TLS handshake in progress */
    HC_ST_IDLE,          /* between requests, nothing read yet */
    HC_ST_HEAD,          /* reading a request head */
    HC_ST_AUTHZ,         /* waiting for the auth decision */
    HC_ST_CONNECT,       /* waiting for an upstream connection */
    HC_ST_EXCHANGE,      /* request and response flowing through the upstream */
    HC_ST_LOCAL,         /* a local answer is queued; reading and dropping the request body */
    HC_ST_FLUSH,         /* the last answer is queued: flush it, then close */
    HC_ST_LINGER,        /* write side shut; dropping input for a moment, then close */
    HC_ST_CLOSED         /* waiting for the reap event */
};

struct hc_span {
    uint32_t off, len; /* into a head buffer */
};

struct hc_hdr_span {
    struct hc_span name, value;
};

struct hconn {
    struct worker *w;
    uint64_t id;
    evutil_socket_t fd;
    struct bufferevent *bev;
    SSL *ssl;            /* borrowed from bev; NULL on a plain listener */
    struct event *timer; /* the deadline of the current state */
    struct event *linger_ev;
    enum hc_state state;
    char peer[INET6_ADDRSTRLEN + 8]; /* "ip:port" for logs */
    char peer_ip[INET6_ADDRSTRLEN];  /* for X-Forwarded-For */
    char sni[256];                   /* lowercase, "" when none or plain */
    char *cert_b64;                  /* base64 DER of the client leaf, computed once */
    unsigned char leaf_sha[32];      /* SHA-256 of the client leaf's DER ... */
    bool leaf_sha_set;               /* ... computed at the first request */
    bool in_drive, kicked;           /* re-entrancy guard of hc_drive */
    bool client_eof;
    bool read_paused; /* client reads stopped for backpressure */
    unsigned nreq;

    /* the request */
    http_parser rp;
    char *hbuf; /* head buffer: max_head_bytes + room for a Host copy */
    size_t hlen, hcap;
    struct hc_span url;
    struct hc_hdr_span hs[HTTP_HEAD_MAX_HEADERS];
    size_t nhs;
    int last_cb;        /* 1 = header field, 2 = value (pieces join) */
    bool head_overflow; /* head buffer or header count exceeded */
    size_t head_raw;    /* head bytes seen on the wire */
    struct http_head head;
    const char *host_val; /* the Host sent upstream: the header's value or the absolute-form
                           * authority (in hbuf); NULL when the request had none */
    size_t host_val_len;
    bool keep_alive; /* the connection may carry another request */
    bool req_done;   /* the request message (body included) was read */
    bool has_body;
    bool expect_continue;
    bool is_head;       /* HEAD request: responses carry no body */
    uint64_t body_seen; /* body bytes read (forwarded or dropped) */
    uint64_t t_start_ms;
    struct apis *snap; /* held while the request is in flight */
    const struct api *api;
    struct authz_req *areq;
    char *cert_id, *key_hash;
    int status; /* answered status, for the access log */

    /* the exchange (http_relay.c) */
    struct ups_conn *up;
    char *up_head; /* request head as sent upstream (kept for one retry) */
    size_t up_head_len;
    bool retried;
    http_parser sp;
    char *rbuf; /* response head buffer */
    size_t rlen, rcap;
    struct hc_span reason;
    struct hc_hdr_span rs[HTTP_HEAD_MAX_HEADERS];
    size_t nrs;
    int r_last_cb;
    bool r_overflow;
    bool resp_head_done, resp_started, resp_done, resp_close, dechunk, up_eof, up_reusable;

    struct hconn *next, *prev; /* worker's list */
    struct hconn *reap_next;
};

/* http_conn.c */
void hc_drive(struct hconn *c);
void hc_set_state(struct hconn *c, enum hc_state st);
/* Answer {"error": msg} with status; then keep the connection, drain, or close (see .c). */
void hc_local_reply(struct hconn *c, int status, const char *msg, bool force_close);
/* The request is finished: release its resources; next request or close. */
void hc_end_request(struct hconn *c, bool close);
void hc_close(struct hconn *c, const char *why);
void hc_arm(struct hconn *c, long long ms);
void hc_client_read(struct hconn *c, bool on);
uint64_t hc_now_ms(void);

/* http_relay.c */
/* The request was allowed: build the upstream head and get a connection. */
void relay_start(struct hconn *c);
/* Move bytes both ways; true when the state changed (hc_drive loops). */
bool relay_pump(struct hconn *c);
/* Client output drained below the low mark: resume the upstream. */
void relay_client_drained(struct hconn *c);
/* Release the upstream side without reuse (close paths). */
void relay_abort(struct hconn *c);
/* Parser settings for a request body: only the message end is reported (trailers are
 * relayed or dropped as bytes, never collected into the head). */
const http_parser_settings *relay_body_settings(void);

#endif
