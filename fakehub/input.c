/* input.c: a connection's input: reading (a plain socket straight into the
 * hub-wide framer, a TLS bufferevent through the evbuffer adapter), framing
 * on '|' or '\n' with proto/lines.h (over max-line: "Line too long" and the
 * connection closes), the per-connection rate limit, and handing each line
 * to the filters (intercept.c) or the protocol module (hub_nmdc.c,
 * hub_adc.c). A read stall (a fault) holds the lines already read. */
#include "fakehub/hub_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>

#include "proto/lines_ev.h"

/* Token bucket: rate per second, burst of twice that. */
static bool fh_rate_ok(struct fh_conn *c)
{
    unsigned rate = c->hub->cfg.rate_limit;
    if (!rate)
        return true;
    uint32_t now = fh_now_ms(c->hub);
    c->tokens += (float)(uint32_t)(now - c->tokens_at) / 1000.0f * (float)rate;
    c->tokens_at = now;
    if (c->tokens > 2.0f * (float)rate)
        c->tokens = 2.0f * (float)rate;
    if (c->tokens < 1.0f)
        return false;
    c->tokens -= 1.0f;
    return true;
}

/* One complete input line (NUL-terminated in place, terminator gone). */
static void fh_conn_line(struct fh_conn *c, char *line, size_t n)
{
    struct fh_hub *hub = c->hub;
    hub->n.lines_in++;
    if (!fh_rate_ok(c)) {
        fh_conn_fail(c, "240", NULL, "Flooding: too many lines per second");
        return;
    }
    FH_HOOK(hub, line, c, FH_DIR_IN, line, n);
    if (hub->nfilters)
        fh_filter_in(c, line, n);
    else
        fh_conn_dispatch(c, line, n);
}

void fh_conn_dispatch(struct fh_conn *c, char *line, size_t n)
{
    struct fh_hub *hub = c->hub;
    if (c->state != FH_CONN_OPEN)
        return;
    hub->cur_in = c;
    if (c->proto == FH_PROTO_NMDC)
        fh_nmdc_line(c, line, n);
    else
        fh_adc_line(c, line, n);
    hub->cur_in = NULL;
    fh_pend_bound(hub);
}

#define FH_READ_CHUNK 16384   /* one read of a plain socket, after the kept partial line */

/* A plain socket is readable: the kept partial line and what the socket has
 * go into hub->in, complete lines are handled, the rest is kept. */
void fh_in_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct fh_conn *c = arg;
    struct fh_hub *hub = c->hub;
    struct dc_lines *in = &hub->in;
    dc_lines_reset(in);
    in->sep = c->proto == FH_PROTO_NMDC ? '|' : '\n';
    in->max = hub->cfg.max_line;
    /* Kept and read together stay under this: a read stall keeps lines. */
    size_t held = c->partial_len, cap = hub->cfg.max_line + 1 + FH_READ_CHUNK;
    char *room = NULL;
    if ((held && dc_lines_feed(in, c->partial, held) < 0) ||
        (held < cap && !(room = dc_lines_space(in, cap - held)))) {
        fh_conn_close(c, "out of memory", false);
        return;
    }
    /* A full buffer holds lines kept by a read stall: handle them first. */
    ssize_t n = room ? recv(fd, room, cap - held, 0) : -1;
    if (n < 0 && (!room || errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        if (!held || c->read_stalled)
            return;
        n = 0;   /* no new bytes: the lines a read stall kept (fh_read_on in intercept.c) */
    } else if (n <= 0) {
        fh_conn_close(c, n == 0 ? "connection closed by peer" : "socket error", false);
        return;
    }
    free(c->partial);
    c->partial = NULL;
    c->partial_len = 0;
    c->last_in = fh_now_ms(hub);
    /* 0x16 starts a TLS handshake record; no NMDC or ADC line does. Without
     * this an ADC TLS client would wait for the login timeout. */
    if (!c->got_input) {
        c->got_input = true;   /* (so nothing was kept: room is the first byte) */
        if ((unsigned char)room[0] == 0x16) {
            fh_conn_fail(c, "240", NULL, "TLS on a plain port (use the adcs/nmdcs port)");
            return;
        }
    }
    if (n)
        dc_lines_commit(in, (size_t)n);
    /* A line can stall reading (a fault): the lines after it wait with it. */
    while (c->state == FH_CONN_OPEN && !c->read_stalled) {
        char *line;
        size_t len;
        enum dc_line r = dc_lines_next(in, &line, &len);
        if (r == DC_LINE_TOO_LONG) {
            fh_conn_fail(c, "240", NULL, "Line too long");
            return;
        }
        if (r == DC_LINE_MORE)
            break;
        fh_conn_line(c, line, len);
    }
    const char *rest = dc_lines_take(in, &held);
    if (c->state == FH_CONN_OPEN && rest) {
        if (!(c->partial = malloc(held))) {
            fh_conn_close(c, "out of memory", false);
            return;
        }
        memcpy(c->partial, rest, held);
        c->partial_len = (uint32_t)held;
    }
}

/* TLS connections read through their bufferevent. */
void fh_read_cb(struct bufferevent *bev, void *arg)
{
    struct fh_conn *c = arg;
    struct fh_hub *hub = c->hub;
    struct evbuffer *in = bufferevent_get_input(bev);
    const char sep = c->proto == FH_PROTO_NMDC ? '|' : '\n';
    c->last_in = fh_now_ms(hub);
    while (c->state == FH_CONN_OPEN && !c->read_stalled) {
        size_t len;
        enum dc_line r = dc_lines_ev_next(in, sep, hub->cfg.max_line, hub->tls_line, &len);
        if (r == DC_LINE_TOO_LONG) {
            fh_conn_fail(c, "240", NULL, "Line too long");
            return;
        }
        if (r == DC_LINE_MORE)
            return;
        fh_conn_line(c, hub->tls_line, len);
    }
}
