/*
 * http_conn: one client connection of a worker: the TLS handshake (or none on a plain
 * listener), then HTTP/1.1 requests one at a time in order (pipelined input waits): head
 * parsing with http_parser under max_head_bytes and head_timeout_ms, the SNI/Host check,
 * routing, the auth decision, and the relay to and from an upstream with both bodies
 * streamed under watermarks. Local answers are JSON {"error": …} bodies. A connection
 * closes through one path (hconn_close) that logs the reason once; its memory is released
 * from the worker's reap event, after the callbacks on the stack have returned.
 */
#ifndef CB_PROXY_HTTP_CONN_H
#define CB_PROXY_HTTP_CONN_H

#include <sys/socket.h>

#include <event2/util.h>

struct worker;

/* Serve an accepted socket (adopted: closed with the connection). */
void hconn_accept(struct worker *w, evutil_socket_t fd, const struct sockaddr *sa, int salen);
/* Graceful stop: connections between requests close now; the others close after their
 * current response. */
void hconn_stop_all(struct worker *w);
/* Close every connection now (worker teardown), then reap. */
void hconn_free_all(struct worker *w);
/* Free the connections closed since the last call (the worker's reap event). */
void hconn_reap(struct worker *w);

#endif
