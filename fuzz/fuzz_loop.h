/* fuzz_loop.h: what the targets that drive a whole hub or client share: a
 * socketpair per fake connection, and running the event loop until the
 * input is handled. Header-only (each target is one executable).
 *
 * The peer's end stays blocking for writes (a whole input goes in at once,
 * inputs are small) and is read non-blocking to throw the replies away, so
 * the side under test never stalls on a full socket. */
#ifndef DC_FUZZ_LOOP_H
#define DC_FUZZ_LOOP_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

/* fds[0] for the code under test, fds[1] the fuzzer's. 0 or -1. */
static inline int fz_pair(int fds[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
        return -1;
    int big = 1 << 20;
    setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    setsockopt(fds[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    return 0;
}

static inline void fz_write(int fd, const void *p, size_t n)
{
    const char *b = p;
    while (n) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w <= 0)
            return;   /* the other side closed or its buffer is full: the rest is dropped */
        b += w;
        n -= (size_t)w;
    }
}

/* Read and drop what the side under test wrote; true if anything came. */
static inline int fz_drain(int fd)
{
    char buf[65536];
    int got = 0;
    while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
        got = 1;
    return got;
}

/* Bytes written on fd that the other end has not read yet (AF_UNIX). */
static inline int fz_unread(int fd)
{
    int n = 0;
    return ioctl(fd, SIOCOUTQ, &n) == 0 ? n : 0;
}

/* Run the loop without blocking until the side under test has read all
 * input and written nothing new for a few rounds (deferred callbacks), or
 * a bound, draining the peer ends in between. */
static inline void fz_settle(struct event_base *base, const int *peers, size_t npeers)
{
    for (int i = 0, quiet = 0; i < 256 && quiet < 3; i++) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        int busy = 0;
        for (size_t k = 0; k < npeers; k++)
            if (peers[k] >= 0)
                busy |= fz_drain(peers[k]) | (fz_unread(peers[k]) > 0);
        quiet = busy ? 0 : quiet + 1;
    }
}

#endif
