/*
 * netutil: socket options shared by the daemons.
 */
#ifndef CB_COMMON_NETUTIL_H
#define CB_COMMON_NETUTIL_H

#include <event2/util.h>

/*
 * Disable Nagle's algorithm on a TCP socket (no-op on a unix socket or fd < 0). Every
 * connection of ours is request/response: without it, a reply written as two segments
 * (e.g. a TLS record for the head and one for the body) waits for the peer's delayed ACK,
 * about 40 ms per exchange on Linux.
 */
void net_set_nodelay(evutil_socket_t fd);

#endif
