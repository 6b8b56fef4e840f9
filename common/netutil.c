/*
 * netutil: see netutil.h.
 */
#include "common/netutil.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

void net_set_nodelay(evutil_socket_t fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    int one = 1;

    if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
        return;
    if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)
        return;
    /* Best effort: a failure only costs latency, and there is nothing better to do. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}
