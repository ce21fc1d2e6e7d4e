/* hub.c: fakehub's core: listeners, connections, output caps, timeouts,
 * deferred signals, reload, state dump, shutdown. Input (reading, framing,
 * the rate limit, dispatch) is input.c's.
 *
 * Output that passes max-output disconnects the slow recipient instead of
 * growing. Connections are never freed where they
 * are closed: they are marked DEAD and a reaper event frees them later, so a
 * broadcast loop never walks into freed memory.
 *
 * TLS (adcs/nmdcs ports) is only a different bufferevent (tls/dctls.h): the
 * protocol modules never know. Output queued before the handshake waits in
 * it; a failed handshake closes at once; a silent one ends at tls-timeout.
 *
 * Protocol logic lives in hub_nmdc.c and hub_adc.c; input.c calls
 * fh_nmdc_line/fh_adc_line per line, this file offers them
 * fh_conn_send/_fail/_close.
 */
#include "fakehub/hub_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "fakehub/fault.h"
#include "fakehub/trace.h"
#include "proto/buf.h"

#define FH_CLOSE_GRACE_MS 1000   /* a closing peer gets this long to take our last words */
#define FH_STOP_GRACE_MS 500     /* shutdown flush bound; exit well within a second */
#define FH_SWEEP_MS 250          /* how often connection deadlines are checked */
#define FH_IOV 128               /* lines per writev (fh_out_write) */

static const int fh_signals[FH_NSIGNALS] = {SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1};

/* ---- small helpers ---------------------------------------------------- */

void fh_log(struct fh_hub *hub, const char *fmt, ...)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    fprintf(hub->log, "%02d:%02d:%02d.%03ld fakehub[%d]: ", tm.tm_hour, tm.tm_min, tm.tm_sec,
            ts.tv_nsec / 1000000, (int)getpid());
    va_list ap;
    va_start(ap, fmt);
    vfprintf(hub->log, fmt, ap);
    va_end(ap);
    fputc('\n', hub->log);
}

void fh_random(void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            abort();   /* no entropy source: nothing sensible to do */
        }
        p += n;
        len -= (size_t)n;
    }
}

static struct timeval fh_ms(unsigned ms)
{
    struct timeval tv = {ms / 1000, (long)(ms % 1000) * 1000};
    return tv;
}

uint64_t fh_conn_id(const struct fh_conn *c) { return c->id; }
enum fh_proto fh_conn_proto(const struct fh_conn *c) { return c->proto; }
const char *fh_conn_nick(const struct fh_conn *c) { return c->nick; }
const char *fh_conn_ip(const struct fh_conn *c, char buf[FH_IP_LEN])
{
    static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    bool v4 = memcmp(c->ip, v4mapped, sizeof v4mapped) == 0;
    if (!inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? c->ip + 12 : c->ip, buf, FH_IP_LEN))
        snprintf(buf, FH_IP_LEN, "?");
    return buf;
}

uint32_t fh_now_ms(struct fh_hub *hub)
{
    struct timeval now, d;
    event_base_gettimeofday_cached(hub->base, &now);
    timersub(&now, &hub->t0, &d);
    return (uint32_t)((uint64_t)d.tv_sec * 1000 + (uint64_t)d.tv_usec / 1000);
}

void fh_conn_secret(const struct fh_conn *c, uint8_t out[DC_TIGER_LEN])
{
    uint8_t in[DC_TIGER_LEN + sizeof c->id];
    memcpy(in, c->hub->secret, DC_TIGER_LEN);
    memcpy(in + DC_TIGER_LEN, &c->id, sizeof c->id);
    dc_tiger(in, sizeof in, out);
}
const char *fh_conn_sid(const struct fh_conn *c) { return c->proto == FH_PROTO_ADC ? c->sid : NULL; }
bool fh_conn_is_op(const struct fh_conn *c) { return c->op; }
bool fh_conn_tls(const struct fh_conn *c) { return c->tls; }
const char *fh_conn_keyprint(const struct fh_conn *c) { return c->keyprint; }
const char *fh_proto_name(enum fh_proto p) { return p == FH_PROTO_ADC ? "adc" : "nmdc"; }

struct event_base *fh_hub_base(struct fh_hub *hub) { return hub->base; }
const struct fh_config *fh_hub_config(const struct fh_hub *hub) { return &hub->cfg; }

bool fh_hub_full(const struct fh_hub *hub)
{
    return hub->nusers >= hub->cfg.max_users;
}

struct fh_conn *fh_hub_nick_holder(struct fh_hub *hub, const char *nick)
{
    for (struct fh_conn *c = hub->conns; c; c = c->next)
        if (c->state == FH_CONN_OPEN && c->nick && fh_nick_equal(c->nick, nick))
            return c;
    return NULL;
}

struct fh_conn *fh_hub_find_user(struct fh_hub *hub, const char *nick)
{
    struct fh_conn *c = fh_hub_nick_holder(hub, nick);
    return c && c->login == FH_LOGIN_NORMAL ? c : NULL;
}

size_t fh_hub_foreach_user(struct fh_hub *hub, void (*fn)(struct fh_conn *c, void *ctx),
                           void *ctx)
{
    size_t n = 0;
    for (struct fh_conn *c = hub->conns; c; c = c->next)
        if (c->state == FH_CONN_OPEN && c->login == FH_LOGIN_NORMAL) {
            n++;
            if (fn)
                fn(c, ctx);
        }
    return n;
}

int fh_hub_add_hooks(struct fh_hub *hub, const struct fh_hooks *hooks, void *ctx)
{
    if (hooks->version != FH_HOOKS_VERSION || hooks->size < offsetof(struct fh_hooks, login) ||
        hooks->size > sizeof(struct fh_hooks))
        return -1;
    struct fh_hook_reg *n = realloc(hub->hooks, (hub->nhooks + 1) * sizeof *n);
    if (!n)
        return -1;
    hub->hooks = n;
    memset(&n[hub->nhooks], 0, sizeof n[0]);
    memcpy(&n[hub->nhooks].h, hooks, hooks->size);   /* older writers: the rest stays NULL */
    n[hub->nhooks].ctx = ctx;
    if (n[hub->nhooks].h.filter)
        hub->nfilters++;
    hub->nhooks++;
    return 0;
}

/* ---- connection lifetime ------------------------------------------------ */

static void fh_flush_cb(evutil_socket_t fd, short what, void *arg);

/* A login, chat or logout burst can queue tens of thousands of lines in one
 * pass (each newcomer's INF, each chat line, each quit to every user):
 * called after each input line and each quit broadcast, this writes them
 * out past FH_PEND_FLUSH / FH_PEND_PER_USER, so hub->pend stays a few
 * broadcasts big instead of every recipient growing a queue. */
void fh_pend_bound(struct fh_hub *hub)
{
    if (!hub->flushing && hub->npend >= FH_PEND_FLUSH && hub->npend >= FH_PEND_PER_USER * hub->nusers)
        fh_flush_cb(-1, 0, hub);
}

static void fh_out_cb(evutil_socket_t fd, short what, void *arg);

/* Free c's own output queue and its write event (queued lines, if any, are
 * unreferenced; the byte count is the caller's). */
static void fh_outq_free(struct fh_conn *c)
{
    struct fh_outq *q = c->out;
    if (!q)
        return;
    for (unsigned i = q->head; i < q->len; i++)
        fh_msg_unref(q->msg[i]);
    if (q->wev)
        event_free(q->wev);
    free(q);
    c->out = NULL;
}

/* Drop everything queued to a plain connection: no longer wanted. */
static void fh_out_drop(struct fh_conn *c)
{
    c->pend_head = c->pend_tail = 0;   /* hub->pend_msg holds its lines */
    fh_outq_free(c);
    c->out_bytes = 0;
    c->out_off = 0;
}

size_t fh_conn_pending(const struct fh_conn *c)
{
    return c->out_bytes + (c->tls && c->bev ? evbuffer_get_length(bufferevent_get_output(c->bev)) : 0);
}

void fh_conn_mark_dead(struct fh_conn *c)
{
    c->state = FH_CONN_DEAD;
    fh_out_drop(c);
    if (c->tls)
        bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    else
        event_del(c->rev);
    event_active(c->hub->reap_ev, 0, 0);
}

static void fh_conn_free(struct fh_conn *c)
{
    if (c->shaped || c->hub->delayed)
        fh_intercept_conn_gone(c);
    free(c->nick);
    free(c->partial);
    fh_out_drop(c);   /* events go before their socket closes */
    if (c->tls && c->bev) {
        bufferevent_free(c->bev);
    } else {
        if (!c->tls && c->rev)
            event_free(c->rev);
        if (c->fd >= 0)
            evutil_closesocket(c->fd);
    }
    fh_msg_unref(c->inf);
    free(c->keyprint);
    free(c);
}

static void fh_conn_unlink(struct fh_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        c->hub->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
}

static void fh_reap_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct fh_hub *hub = arg;
    fh_flush_cb(-1, 0, hub);   /* empties hub->dirty: nothing freed below is on it */
    for (struct fh_conn *c = hub->conns, *next; c; c = next) {
        next = c->next;
        if (c->state == FH_CONN_DEAD) {
            fh_conn_unlink(c);
            fh_conn_free(c);
        }
    }
    fh_hub_check_done(hub);
}

void fh_hub_check_done(struct fh_hub *hub)
{
    if (hub->stopping && !hub->conns && (!hub->control || fh_control_nclients(hub->control) == 0)) {
        hub->done = true;
        event_base_loopbreak(hub->base);
    }
}

static void fh_close_write_cb(struct bufferevent *bev, void *arg)
{
    struct fh_conn *c = arg;
    if (c->state == FH_CONN_CLOSING && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        fh_conn_mark_dead(c);
}

static void fh_close_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev, (void)what;
    struct fh_conn *c = arg;
    if (c->state != FH_CONN_DEAD)
        fh_conn_mark_dead(c);
}

void fh_conn_close(struct fh_conn *c, const char *reason, bool flush)
{
    struct fh_hub *hub = c->hub;
    if (c->tls && !c->tls_up)
        flush = false;   /* nothing queued can reach a peer that never finished the handshake */
    if (c->state == FH_CONN_CLOSING && !flush)
        fh_conn_mark_dead(c);
    if (c->state != FH_CONN_OPEN)
        return;
    c->state = FH_CONN_CLOSING;
    char ip[FH_IP_LEN];
    fh_log(hub, "conn %llu %s %s (%s): closed: %s", (unsigned long long)c->id,
           fh_proto_name(c->proto), fh_conn_ip(c, ip), c->nick ? c->nick : "-", reason);
    if (c->login == FH_LOGIN_NORMAL) {
        hub->nusers--;
        if (!hub->stopping) {   /* at shutdown everyone leaves; spare the N^2 quits */
            if (c->proto == FH_PROTO_NMDC)
                fh_nmdc_left(c);
            else
                fh_adc_left(c);
            fh_pend_bound(hub);
        }
        if (c->announced)
            FH_HOOK(hub, logout, c, reason);
    }
    if (c->tls)
        bufferevent_disable(c->bev, EV_READ);
    else
        event_del(c->rev);
    if (flush && fh_conn_pending(c) > 0) {
        if (c->tls)
            bufferevent_setcb(c->bev, NULL, fh_close_write_cb, fh_close_event_cb, c);
        c->since = fh_now_ms(hub);   /* the sweep ends the grace */
    } else {
        fh_conn_mark_dead(c);
    }
}

static void fh_conn_list_more(struct fh_conn *c);

/* Make room for n more lines in c's own queue (allocated on first use). */
static int fh_outq_reserve(struct fh_conn *c, unsigned n)
{
    struct fh_outq *q = c->out;
    if (q && q->head > 0 && q->len + n > q->cap) {   /* reuse the written front */
        memmove(q->msg, q->msg + q->head, (q->len - q->head) * sizeof q->msg[0]);
        q->len -= q->head;
        q->head = 0;
    }
    unsigned len = q ? q->len : 0, cap = q ? q->cap : 0;
    if (len + n <= cap)
        return 0;
    while (cap < len + n)
        cap = cap ? cap * 2 : 8;
    if (!(q = realloc(q, sizeof *q + cap * sizeof q->msg[0])))
        return -1;
    if (!c->out)
        *q = (struct fh_outq){0};
    q->cap = cap;
    c->out = q;
    return 0;
}

/* The socket did not take all of this pass's lines for c: move the rest to
 * the front of c's own queue, where they wait for a write event. */
static int fh_pend_spill(struct fh_conn *c)
{
    struct fh_pend *pend = c->hub->pend;
    unsigned n = 0;
    for (uint32_t i = c->pend_head; i; i = pend[i].next)
        n++;
    if (fh_outq_reserve(c, n) < 0)
        return -1;
    struct fh_outq *q = c->out;
    memmove(q->msg + q->head + n, q->msg + q->head, (q->len - q->head) * sizeof q->msg[0]);
    n = q->head;
    for (uint32_t i = c->pend_head; i; i = pend[i].next) {
        struct fh_msg *m = c->hub->pend_msg[pend[i].msg];
        m->refs++;
        q->msg[n++] = m;
    }
    q->len += n - q->head;
    c->pend_head = c->pend_tail = 0;
    return 0;
}

/* The first queued line (this pass's lines come before c->out's). */
static struct fh_msg *fh_out_first(const struct fh_conn *c)
{
    const struct fh_hub *hub = c->hub;
    return c->pend_head ? hub->pend_msg[hub->pend[c->pend_head].msg] : c->out->msg[c->out->head];
}

/* w bytes were written: unreference the lines they finished. */
static void fh_out_consume(struct fh_conn *c, size_t w)
{
    c->out_bytes -= w;
    while (w > 0) {
        struct fh_msg *m = fh_out_first(c);
        size_t k = m->len - c->out_off < w ? m->len - c->out_off : w;
        c->out_off += k;
        w -= k;
        if (c->out_off < m->len)
            break;
        c->out_off = 0;
        if (c->pend_head) {   /* hub->pend_msg holds m */
            if (!(c->pend_head = c->hub->pend[c->pend_head].next))
                c->pend_tail = 0;
        } else {
            fh_msg_unref(m);
            c->out->head++;
        }
    }
}

/* Write as much of a plain connection's output as its socket takes (at
 * most limit bytes), in writev batches; only what it does not take waits
 * for a write event. */
void fh_out_write_n(struct fh_conn *c, size_t limit)
{
    const struct fh_pend *pend = c->hub->pend;
    struct fh_msg *const *pend_msg = c->hub->pend_msg;
    while (c->out_bytes > 0) {
        if (limit == 0) {   /* shaped: the rest waits in c->out for the shaper's timer */
            if (c->pend_head && fh_pend_spill(c) < 0)
                fh_conn_close(c, "out of memory", false);
            return;
        }
        /* Big writes wake the reader less often (with 64 lines per writev,
         * dcload's CPU, the limit at 1,000 users, rose and logins/s fell
         * ~8%), but the array is resident stack: 128 lines hold most of a
         * user-list piece (FH_LIST_CHUNK: ~110-160 INF lines) and cost 2 KiB
         * (512 cost 8 KiB, 0.08 KiB per user of a 100-user hub). */
        struct iovec iov[FH_IOV];
        int n = 0;
        size_t skip = c->out_off;
        for (uint32_t i = c->pend_head; i && n < FH_IOV; i = pend[i].next, n++, skip = 0)
            iov[n] = (struct iovec){pend_msg[pend[i].msg]->data + skip, pend_msg[pend[i].msg]->len - skip};
        for (unsigned i = c->out ? c->out->head : 0; c->out && i < c->out->len && n < FH_IOV; i++, n++, skip = 0)
            iov[n] = (struct iovec){c->out->msg[i]->data + skip, c->out->msg[i]->len - skip};
        if (limit != SIZE_MAX) {   /* shaped: cut the batch at the limit */
            size_t sum = 0;
            for (int k = 0; k < n; k++) {
                if (sum + iov[k].iov_len >= limit) {
                    iov[k].iov_len = limit - sum;
                    n = k + 1;
                    break;
                }
                sum += iov[k].iov_len;
            }
        }
        ssize_t w = writev(c->fd, iov, n);
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            if (c->pend_head && fh_pend_spill(c) < 0) {
                fh_conn_close(c, "out of memory", false);
                return;
            }
            struct fh_outq *q = c->out;
            if (!q->wev && (!(q->wev = event_new(c->hub->base, c->fd, EV_WRITE | EV_PERSIST,
                                                 fh_out_cb, c)) || event_add(q->wev, NULL) < 0))
                fh_conn_close(c, "out of memory", false);
            return;
        }
        if (w < 0) {
            fh_conn_close(c, "socket error", false);
            return;
        }
        fh_out_consume(c, (size_t)w);
        if (limit != SIZE_MAX)
            limit -= (size_t)w;
    }
    fh_outq_free(c);   /* drained: an idle connection keeps no queue and no event */
    if (c->state == FH_CONN_CLOSING)
        fh_conn_mark_dead(c);
    else if (c->half_closed)
        fh_shape_drained(c);
    else if (c->listing && c->state == FH_CONN_OPEN)
        fh_conn_list_more(c);
}

static void fh_out_write(struct fh_conn *c)
{
    if (c->shaped)
        fh_shape_write(c);
    else
        fh_out_write_n(c, SIZE_MAX);
}

static void fh_out_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    fh_out_write(arg);
}

/* array (*cap elements of `size` bytes) doubled, or NULL (array is kept). */
static void *fh_grow(void *array, uint32_t *cap, size_t size)
{
    void *p = *cap < UINT32_MAX / 2 / size ? realloc(array, 2 * (size_t)*cap * size) : NULL;
    if (p)
        *cap *= 2;
    return p;
}

/* m's index in hub->pend_msg, added (with a reference) on its first use
 * this pass; UINT32_MAX when out of memory. The arrays double when one
 * input line fans out to more than they hold (a broadcast to every user),
 * and stay: hub->pend's size follows the user count, 8 bytes a user. */
static uint32_t fh_pend_msg_slot(struct fh_hub *hub, struct fh_msg *m)
{
    uint32_t s = m->pend_slot;
    if (s < hub->npend_msg && hub->pend_msg[s] == m)
        return s;   /* an entry holds m, so no other message has its address */
    if (hub->npend_msg == hub->pend_msg_cap) {
        struct fh_msg **p = fh_grow(hub->pend_msg, &hub->pend_msg_cap, sizeof *p);
        if (!p)
            return UINT32_MAX;
        hub->pend_msg = p;
    }
    m->refs++;
    hub->pend_msg[hub->npend_msg] = m;
    return m->pend_slot = hub->npend_msg++;
}

/* After a flush: no connection has lines in hub->pend. */
static void fh_pend_reset(struct fh_hub *hub)
{
    if (hub->pass_msg)
        fh_hub_filters_changed(hub);   /* the filters' state may change between passes */
    for (uint32_t i = 0; i < hub->npend_msg; i++)
        fh_msg_unref(hub->pend_msg[i]);
    hub->npend_msg = 0;
    hub->npend = 1;
}

/* Writes every plain connection queued to since the last run. A zero
 * timeout: it runs in the next loop pass, after that pass's input (timers
 * come after I/O), so a burst of broadcasts leaves in one writev per
 * recipient, and a write event (and its epoll changes) is only needed for a
 * socket that does not take it all. Afterwards no connection has lines in
 * hub->pend (written, or spilled to its own queue), so it starts over. */
static void fh_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct fh_hub *hub = arg;
    /* What is queued meanwhile (a drained listing connection's next piece, a
     * quit after a write error) goes to its connection's own queue and is
     * written in this loop too: entries added to hub->pend now would only be
     * reclaimed at the end, and a login burst's user lists, piece after
     * piece, grew it to thousands of entries. */
    hub->flushing = true;
    while (hub->dirty) {   /* a drained listing connection may queue its next piece */
        struct fh_conn *c = hub->dirty;
        hub->dirty = c->next_dirty;
        c->dirty = false;
        if (c->state != FH_CONN_DEAD && !(c->out && c->out->wev))
            fh_out_write(c);
    }
    fh_pend_reset(hub);
    hub->flushing = false;
}

/* Queue one reference to m on a plain connection: with this pass's lines
 * (hub->pend) unless c has a queue of its own or they are full; then in
 * c->out. That keeps the order: this pass's lines are older than anything
 * in c->out, which exists before them only as a backlog, and then takes
 * everything. 0 or -1. */
static int fh_out_push(struct fh_conn *c, struct fh_msg *m)
{
    struct fh_hub *hub = c->hub;
    uint32_t slot = UINT32_MAX;
    if (!c->out && !hub->flushing) {
        struct fh_pend *p = hub->npend == hub->pend_cap ? fh_grow(hub->pend, &hub->pend_cap, sizeof *p) : NULL;
        if (p)
            hub->pend = p;
        if (hub->npend < hub->pend_cap)
            slot = fh_pend_msg_slot(hub, m);
    }
    if (slot != UINT32_MAX) {
        uint32_t i = hub->npend++;
        hub->pend[i] = (struct fh_pend){slot, 0};
        if (c->pend_tail)
            hub->pend[c->pend_tail].next = i;
        else
            c->pend_head = i;
        c->pend_tail = i;
    } else if (fh_outq_reserve(c, 1) == 0) {   /* also when out of memory for hub->pend */
        c->out->msg[c->out->len++] = m;
        m->refs++;
    } else {
        return -1;
    }
    c->out_bytes += m->len;
    if (!(c->out && c->out->wev) && !c->dirty) {   /* else a write is already due */
        c->dirty = true;
        c->next_dirty = hub->dirty;
        hub->dirty = c;
        if (!evtimer_pending(hub->flush_ev, NULL)) {
            struct timeval now = {0, 0};
            evtimer_add(hub->flush_ev, &now);
        }
    }
    return 0;
}

/* A line was queued (ok) or could not be (out of memory). */
static void fh_conn_queued(struct fh_conn *c, bool ok)
{
    struct fh_hub *hub = c->hub;
    if (!ok) {
        fh_conn_close(c, "out of memory", false);
        return;
    }
    hub->n.lines_out++;
    if (fh_conn_pending(c) > hub->cfg.max_output) {
        hub->n.overflows++;
        fh_conn_close(c, "output queue over max-output (not reading)", false);
    }
}

struct fh_msg *fh_msg_new(enum fh_proto proto, const char *line, size_t len)
{
    struct fh_msg *m = len < UINT32_MAX - 1 ? malloc(sizeof *m + len + 2) : NULL;
    if (!m)
        return NULL;
    m->refs = 1;
    m->len = (uint32_t)len + 1;
    m->pend_slot = UINT32_MAX;
    memcpy(m->data, line, len);
    m->data[len] = proto == FH_PROTO_NMDC ? '|' : '\n';
    m->data[len + 1] = '\0';
    return m;
}

void fh_msg_unref(struct fh_msg *m)
{
    if (m && --m->refs == 0)
        free(m);
}

void fh_conn_send_msg(struct fh_conn *c, struct fh_msg *m)
{
    if (!m || c->state != FH_CONN_OPEN)
        return;
    if (c->hub->nfilters)
        fh_filter_out(c, m);
    else
        fh_conn_queue_msg(c, m);
}

void fh_conn_queue_msg(struct fh_conn *c, struct fh_msg *m)
{
    if (c->state != FH_CONN_OPEN || c->half_closed)
        return;   /* a half-closed connection has sent its FIN: nothing more goes out */
    FH_HOOK(c->hub, line, c, FH_DIR_OUT, m->data, m->len - 1);
    if (c->tls)
        fh_conn_queued(c, evbuffer_add(bufferevent_get_output(c->bev), m->data, m->len) == 0);
    else
        fh_conn_queued(c, fh_out_push(c, m) == 0);
}

void fh_conn_send(struct fh_conn *c, const char *line, size_t len)
{
    if (c->state != FH_CONN_OPEN)
        return;
    struct fh_msg *m = fh_msg_new(c->proto, line, len);
    if (!m)
        fh_conn_close(c, "out of memory", false);
    fh_conn_send_msg(c, m);
    fh_msg_unref(m);
}

/* A newcomer's user list is queued this much at a time; the write callback
 * asks for more once the queue has drained (the socket buffer keeps the
 * stream going meanwhile). At 1,000 users a whole list is ~150 KB, and a
 * login burst used to hold dozens of them at once. */
#define FH_LIST_CHUNK (16 * 1024)

/* Walks hub->conns (descending ids) from where the last call stopped, so
 * joins and leaves in between are safe: later logins are skipped (they reach
 * c as broadcasts), users gone meanwhile are no longer OPEN. */
static void fh_conn_list_more(struct fh_conn *c)
{
    struct fh_conn *u = c->hub->conns;
    while (u && u->id >= c->list_from)
        u = u->next;
    for (; u; u = u->next) {
        if (fh_conn_pending(c) >= FH_LIST_CHUNK)
            return;   /* fh_out_cb or fh_write_cb asks for more */
        c->list_from = u->id;
        if (u != c && u->proto == c->proto && u->state == FH_CONN_OPEN &&
            u->login == FH_LOGIN_NORMAL && u->seq < c->seq)
            fh_conn_send_msg(c, u->inf);
        if (c->state != FH_CONN_OPEN)
            return;
    }
    c->listing = false;
    if (c->proto == FH_PROTO_ADC)
        fh_adc_list_done(c);
    else
        fh_nmdc_list_done(c);
}

void fh_conn_list_start(struct fh_conn *c)
{
    c->listing = true;
    c->list_from = UINT64_MAX;
    fh_conn_list_more(c);
}

bool fh_conn_knows(const struct fh_conn *c, const struct fh_conn *u)
{
    return !c->listing || (u != c && (u->seq > c->seq || u->id >= c->list_from));
}

static void fh_write_cb(struct bufferevent *bev, void *arg)
{
    struct fh_conn *c = arg;
    if (c->half_closed && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        fh_shape_drained(c);
    if (c->listing && c->state == FH_CONN_OPEN)
        fh_conn_list_more(c);
}

void fh_conn_sendf(struct fh_conn *c, const char *fmt, ...)
{
    struct dc_buf b;
    dc_buf_init(&b, 0);
    va_list ap;
    va_start(ap, fmt);
    int rc = dc_buf_vappendf(&b, fmt, ap);
    va_end(ap);
    if (rc == 0)
        fh_conn_send(c, b.data, b.len);
    dc_buf_cleanup(&b);
}

void fh_conn_fail(struct fh_conn *c, const char *adc_code, const char *flags, const char *text)
{
    if (c->state != FH_CONN_OPEN)
        return;
    c->hub->n.errors++;
    if (c->proto == FH_PROTO_ADC)
        fh_adc_quit_self(c, adc_code, flags, text);
    else
        fh_nmdc_hub_chat(c, text);
    fh_conn_close(c, text, true);
}

void fh_conn_logged_in(struct fh_conn *c)
{
    struct fh_hub *hub = c->hub;
    c->login = FH_LOGIN_NORMAL;
    hub->nusers++;
    c->seq = ++hub->n.logins;
    fh_log(hub, "conn %llu %s: %s logged in%s", (unsigned long long)c->id, fh_proto_name(c->proto),
           c->nick, c->op ? " (op)" : "");
}

void fh_conn_announce(struct fh_conn *c)
{
    if (c->state != FH_CONN_OPEN || c->announced)
        return;
    c->announced = true;
    FH_HOOK(c->hub, login, c);
}


/* One connection's deadlines, checked by the sweep. */
static void fh_conn_check_time(struct fh_conn *c, uint32_t now)
{
    const struct fh_config *cfg = &c->hub->cfg;
    long age = (long)(uint32_t)(now - c->since);
    if (c->state == FH_CONN_CLOSING) {
        if (age >= FH_CLOSE_GRACE_MS)   /* the peer never took our last words */
            fh_conn_mark_dead(c);
        return;
    }
    if (c->state != FH_CONN_OPEN)
        return;
    if (c->tls && !c->tls_up) {   /* nothing can be said to it: no TLS yet */
        unsigned limit = cfg->login_timeout;
        if (cfg->tls_timeout && (!limit || cfg->tls_timeout < limit))
            limit = cfg->tls_timeout;
        if (limit && age >= limit * 1000L)
            fh_conn_close(c, "TLS handshake timeout (a plain client on a TLS port?)", false);
    } else if (c->login != FH_LOGIN_NORMAL) {
        if (cfg->login_timeout && age >= cfg->login_timeout * 1000L)
            fh_conn_fail(c, "220", NULL, "Login timeout");
    } else if (cfg->idle_timeout && (long)(uint32_t)(now - c->last_in) >= cfg->idle_timeout * 1000L) {
        fh_conn_fail(c, "230", NULL, "Idle timeout");
    }
}

/* One hub-wide timer checks every connection's login, TLS, idle and close
 * deadlines FH_SWEEP_MS apart, instead of a timer per connection (an event
 * of ~150 B each, and a timer-heap update per login). Deadlines are up to
 * FH_SWEEP_MS late. A connection closed here is only marked; the list stays
 * intact for the walk. */
static void fh_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct fh_hub *hub = arg;
    uint32_t now = fh_now_ms(hub);
    for (struct fh_conn *c = hub->conns; c; c = c->next)
        fh_conn_check_time(c, now);
}

static void fh_tls_up(struct fh_conn *c)
{
    struct fh_hub *hub = c->hub;
    SSL *ssl = dctls_bev_ssl(c->bev);
    c->tls_up = true;
    char kp[DCTLS_KEYPRINT_SIZE] = "";
    dctls_peer_keyprint(ssl, kp);   /* stays "" without a client certificate */
    if (*kp)
        c->keyprint = strdup(kp);   /* NULL when out of memory: reported as none */
    fh_log(hub, "conn %llu %s: TLS up (%s, %s), client certificate %s", (unsigned long long)c->id,
           fh_proto_name(c->proto), SSL_get_version(ssl), SSL_get_cipher_name(ssl),
           *kp ? kp : "none");
}

static void fh_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct fh_conn *c = arg;
    if (what & BEV_EVENT_CONNECTED) {
        fh_tls_up(c);
    } else if (c->tls && !c->tls_up && (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))) {
        char why[256], reason[300];
        snprintf(reason, sizeof reason, "TLS handshake failed: %s",
                 what & BEV_EVENT_ERROR ? dctls_bev_error(bev, why, sizeof why) : "closed by peer");
        fh_conn_close(c, reason, false);
    } else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        fh_conn_close(c, what & BEV_EVENT_EOF ? "connection closed by peer" : "socket error", false);
    }
}

static void fh_set_watermarks(struct fh_hub *hub, struct fh_conn *c)
{
    /* Reading pauses once one maximal line (plus terminator) is buffered. */
    if (c->tls)
        bufferevent_setwatermark(c->bev, EV_READ, 0, hub->cfg.max_line + 2);
}

static unsigned fh_next_sid(struct fh_hub *hub)
{
    for (;;) {
        hub->next_sid = hub->next_sid % 0xFFFFF + 1;   /* 1..2^20-1; AAAA is "no SID" */
        char sid[5];
        adc_sid_format(hub->next_sid, sid);
        bool used = false;
        for (struct fh_conn *c = hub->conns; c && !used; c = c->next)
            used = c->proto == FH_PROTO_ADC && c->state != FH_CONN_DEAD && strcmp(c->sid, sid) == 0;
        if (!used)
            return hub->next_sid;
    }
}

static void fh_accept(struct fh_hub *hub, evutil_socket_t fd, struct sockaddr *sa, enum fh_proto proto,
                      bool tls)
{
    if (hub->stopping) {
        evutil_closesocket(fd);
        return;
    }
    struct fh_conn *c = calloc(1, sizeof *c);
    if (!c) {
        evutil_closesocket(fd);
        return;
    }
    char ip[FH_IP_LEN];
    c->hub = hub;
    c->id = ++hub->next_id;
    c->proto = proto;
    c->tls = tls;
    if (sa->sa_family == AF_INET) {
        c->ip[10] = c->ip[11] = 0xff;   /* IPv4-mapped */
        memcpy(c->ip + 12, &((struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        memcpy(c->ip, &((struct sockaddr_in6 *)sa)->sin6_addr, 16);
    }
    /* Half-open peers: the kernel probes after 60 s of silence. */
    int on = 1, idle = 60, intvl = 10, cnt = 3;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    char err[DCTLS_ERR_LEN] = "";
    c->fd = fd;
    if (tls)
        c->bev = dctls_bev_wrap_fd(hub->base, fd, hub->tls_ctx, DCTLS_ACCEPT, BEV_OPT_CLOSE_ON_FREE, err);
    else
        c->rev = event_new(hub->base, fd, EV_READ | EV_PERSIST, fh_in_cb, c);
    if (tls ? !c->bev : !c->rev || event_add(c->rev, NULL) < 0) {
        fh_log(hub, "accept: %s", *err ? err : "out of memory");
        if (tls && !c->bev)
            c->fd = -1, evutil_closesocket(fd);
        fh_conn_free(c);
        return;
    }
    c->last_in = fh_now_ms(hub);
    c->since = c->tokens_at = c->last_in;
    c->tokens = 2.0f * (float)hub->cfg.rate_limit;
    if (tls) {
        bufferevent_setcb(c->bev, fh_read_cb, fh_write_cb, fh_event_cb, c);
        fh_set_watermarks(hub, c);
        bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    }
    c->next = hub->conns;
    if (hub->conns)
        hub->conns->prev = c;
    hub->conns = c;
    hub->n.accepted++;
    fh_log(hub, "conn %llu %s%s: accepted from %s", (unsigned long long)c->id, fh_proto_name(proto),
           tls ? " (TLS)" : "", fh_conn_ip(c, ip));
    if (proto == FH_PROTO_ADC)
        adc_sid_format(fh_next_sid(hub), c->sid);
    else
        fh_nmdc_accepted(c);
}

static void fh_nmdc_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                              int len, void *arg)
{
    (void)l, (void)len;
    fh_accept(arg, fd, sa, FH_PROTO_NMDC, false);
}

static void fh_adc_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                             int len, void *arg)
{
    (void)l, (void)len;
    fh_accept(arg, fd, sa, FH_PROTO_ADC, false);
}

static void fh_nmdcs_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                               int len, void *arg)
{
    (void)l, (void)len;
    fh_accept(arg, fd, sa, FH_PROTO_NMDC, true);
}

static void fh_adcs_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                              int len, void *arg)
{
    (void)l, (void)len;
    fh_accept(arg, fd, sa, FH_PROTO_ADC, true);
}

int fh_hub_adopt(struct fh_hub *hub, int fd, bool adc)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || evutil_make_socket_nonblocking(fd) < 0)
        return -1;
    fh_accept(hub, fd, (struct sockaddr *)&sin, adc ? FH_PROTO_ADC : FH_PROTO_NMDC, false);
    return 0;
}

/* ---- hub-wide actions --------------------------------------------------- */

void fh_hub_kick(struct fh_hub *hub, struct fh_conn *c, const char *reason)
{
    if (c->state != FH_CONN_OPEN)
        return;
    hub->n.kicks++;
    char text[512];
    snprintf(text, sizeof text, "You were kicked: %s", reason && *reason ? reason : "no reason");
    if (c->proto == FH_PROTO_ADC)
        fh_adc_quit_self(c, NULL, NULL, text);
    else
        fh_nmdc_hub_chat(c, text);
    snprintf(text, sizeof text, "kicked: %s", reason && *reason ? reason : "no reason");
    fh_conn_close(c, text, true);
}

size_t fh_hub_send_raw(struct fh_hub *hub, struct fh_conn *c, const char *line, size_t len)
{
    if (c) {
        if (c->state != FH_CONN_OPEN)
            return 0;
        fh_conn_send(c, line, len);
        return 1;
    }
    size_t n = 0;
    for (c = hub->conns; c; c = c->next)
        if (c->state == FH_CONN_OPEN && c->login == FH_LOGIN_NORMAL) {
            fh_conn_send(c, line, len);
            n++;
        }
    return n;
}

void fh_hub_chat(struct fh_hub *hub, const char *text)
{
    for (struct fh_conn *c = hub->conns; c; c = c->next)
        if (c->state == FH_CONN_OPEN && c->login == FH_LOGIN_NORMAL) {
            if (c->proto == FH_PROTO_NMDC)
                fh_nmdc_hub_chat(c, text);
            else
                fh_adc_hub_chat(c, text);
        }
}

static void fh_stop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct fh_hub *hub = arg;
    fh_log(hub, "shutdown: flush bound reached, stopping with output pending");
    hub->done = true;
    event_base_loopbreak(hub->base);
}

void fh_hub_shutdown(struct fh_hub *hub, const char *why)
{
    if (hub->stopping)
        return;
    hub->stopping = true;
    fh_log(hub, "shutdown (%s): %u users, notifying everyone", why, hub->nusers);
    struct evconnlistener *ls[] = {hub->nmdc_l, hub->adc_l, hub->nmdcs_l, hub->adcs_l};
    for (size_t i = 0; i < 4; i++)
        if (ls[i])
            evconnlistener_disable(ls[i]);
    for (struct fh_conn *c = hub->conns; c; c = c->next) {
        if (c->state != FH_CONN_OPEN)
            continue;
        if (c->proto == FH_PROTO_ADC)
            fh_adc_quit_self(c, "212", NULL, "Hub is shutting down");
        else
            fh_nmdc_hub_chat(c, "Hub is shutting down");
        fh_conn_close(c, "hub shutdown", true);
    }
    for (size_t i = 0; i < hub->nhooks; i++) {
        if (!hub->hooks[i].h.shutdown)
            continue;
        hub->hooks[i].h.shutdown(hub->hooks[i].ctx);
        if (hub->trace)
            fh_trace_hook_called(hub->trace, hub->hooks[i].h.name, "shutdown");
    }
    if (hub->trace)
        fh_trace_flush(hub->trace);
    fflush(stdout);
    fflush(hub->log);
    struct timeval tv = fh_ms(FH_STOP_GRACE_MS);
    evtimer_add(hub->stop_ev, &tv);
    event_active(hub->reap_ev, 0, 0);   /* finishes at once if nothing is pending */
}

static void fh_reload(struct fh_hub *hub)
{
    if (!hub->opts.config_path) {
        fh_log(hub, "SIGHUP: no --config file; nothing to reload");
        return;
    }
    struct fh_config nc;
    char err[FH_ERR_LEN];
    if (fh_config_build(&nc, hub->opts.config_path, hub->opts.overrides, hub->opts.noverrides, err) < 0) {
        fh_log(hub, "SIGHUP: reload failed, keeping the old config: %s", err);
        fh_config_cleanup(&nc);
        return;
    }
    if (nc.max_line + 1 > hub->tls_line_cap) {
        char *tls_line = realloc(hub->tls_line, nc.max_line + 1);
        if (!tls_line) {
            fh_log(hub, "SIGHUP: out of memory, keeping the old config");
            fh_config_cleanup(&nc);
            return;
        }
        hub->tls_line = tls_line;
        hub->tls_line_cap = nc.max_line + 1;
    }
    char diff[1024];
    fh_config_diff(&hub->cfg, &nc, diff, sizeof diff);
    fh_config_cleanup(&hub->cfg);
    hub->cfg = nc;
    hub->n.reloads++;
    for (struct fh_conn *c = hub->conns; c; c = c->next)
        if (c->state == FH_CONN_OPEN)
            fh_set_watermarks(hub, c);
    fh_log(hub, "SIGHUP: reloaded %s: %s", hub->opts.config_path, *diff ? diff : "no changes");
}

static void fh_dump(struct fh_hub *hub)
{
    const struct fh_counters *n = &hub->n;
    fh_log(hub, "state dump: %u users (max %u); counters: accepted=%lu logins=%lu lines_in=%lu "
           "lines_out=%lu errors=%lu kicks=%lu overflows=%lu violations=%lu sighup=%lu sigusr1=%lu "
           "reloads=%lu",
           hub->nusers, hub->cfg.max_users, n->accepted, n->logins, n->lines_in, n->lines_out,
           n->errors, n->kicks, n->overflows, n->violations, n->sighup, n->sigusr1, n->reloads);
    static const char *const states[] = {"open", "closing", "dead"};
    static const char *const logins[] = {"start", "identify", "verify", "hello", "normal"};
    char ip[FH_IP_LEN];
    for (struct fh_conn *c = hub->conns; c; c = c->next)
        fh_log(hub, "  conn %llu %s%s %s state=%s login=%s nick=%s sid=%s op=%d out=%zu",
               (unsigned long long)c->id, fh_proto_name(c->proto), c->tls ? "s" : "", fh_conn_ip(c, ip), states[c->state],
               logins[c->login], c->nick ? c->nick : "-", c->proto == FH_PROTO_ADC ? c->sid : "-",
               c->op, fh_conn_pending(c));
    if (hub->control)
        fh_log(hub, "  control clients: %zu", fh_control_nclients(hub->control));
    fh_log(hub, "  output staging (hub->pend): %u entries allocated, %zu bytes", hub->pend_cap,
           (size_t)hub->pend_cap * sizeof *hub->pend);
    /* What the heap holds next to what it has taken from the system: the
     * difference is free space kept by malloc (fragmentation, a peak). */
    struct mallinfo2 mi = mallinfo2();
    fh_log(hub, "  heap: in use %zu bytes, free in heap %zu (top %zu), mmapped %zu",
           mi.uordblks + mi.hblkhd, mi.fordblks, mi.keepcost, mi.hblkhd);
    fflush(hub->log);
    if (hub->trace)
        fh_trace_flush(hub->trace);
}

static void fh_signal_cb(evutil_socket_t signo, short what, void *arg)
{
    (void)what;
    struct fh_hub *hub = arg;
    FH_HOOK(hub, signal, (int)signo);
    switch (signo) {
    case SIGTERM:
    case SIGINT:
    case SIGQUIT:
        fh_hub_shutdown(hub, signo == SIGTERM ? "SIGTERM" : signo == SIGINT ? "SIGINT" : "SIGQUIT");
        break;
    case SIGHUP:
        hub->n.sighup++;
        if (!hub->stopping)
            fh_reload(hub);
        break;
    case SIGUSR1:
        hub->n.sigusr1++;
        fh_dump(hub);
        break;
    }
}

/* ---- setup and teardown ------------------------------------------------- */

static struct evconnlistener *fh_listen(struct fh_hub *hub, const char *spec, evconnlistener_cb cb,
                                        char *bound, size_t boundlen, char *err)
{
    char host[64];
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof host || !colon[1]) {
        snprintf(err, FH_ERR_LEN, "'%s': expected HOST:PORT", spec);
        return NULL;
    }
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *ai;
    int rc = getaddrinfo(host, colon + 1, &hints, &ai);
    if (rc) {
        snprintf(err, FH_ERR_LEN, "'%s': %s", spec, gai_strerror(rc));
        return NULL;
    }
    struct evconnlistener *l = evconnlistener_new_bind(
        hub->base, cb, hub, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 64,
        ai->ai_addr, (int)ai->ai_addrlen);
    freeaddrinfo(ai);
    if (!l) {
        snprintf(err, FH_ERR_LEN, "listen on %s: %s", spec, strerror(errno));
        return NULL;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char h[INET6_ADDRSTRLEN] = "?", p[16] = "?";
    getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&ss, &sl);
    getnameinfo((struct sockaddr *)&ss, sl, h, sizeof h, p, sizeof p, NI_NUMERICHOST | NI_NUMERICSERV);
    snprintf(bound, boundlen, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", h, p);
    return l;
}

/* The certificate (given, kept in --data-dir, or generated for this run)
 * and the server context every TLS connection is made from. */
static int fh_tls_setup(struct fh_hub *hub, char *err)
{
    const struct fh_hub_opts *o = &hub->opts;
    char why[DCTLS_ERR_LEN] = "";
    bool generated = !o->cert_path;
    if (o->cert_path)
        hub->cert = dctls_cert_load(o->cert_path, o->key_path ? o->key_path : o->cert_path, why);
    else if (o->data_dir)
        hub->cert = dctls_cert_load_or_create(o->data_dir, "fakehub", &generated, why);
    else
        hub->cert = dctls_cert_generate("fakehub", why);
    if (!hub->cert || !(hub->tls_ctx = dctls_server_ctx_new(hub->cert, why))) {
        snprintf(err, FH_ERR_LEN, "TLS: %.240s", why);
        return -1;
    }
    const char *path = dctls_cert_path(hub->cert);
    fh_log(hub, "TLS certificate %s %s, keyprint %s", generated ? "generated," : "loaded from",
           path ? path : "in memory only (--data-dir keeps one)", dctls_cert_keyprint(hub->cert));
    return 0;
}

struct fh_hub *fh_hub_new(struct event_base *base, const struct fh_hub_opts *opts, char *err)
{
    struct fh_hub *hub = calloc(1, sizeof *hub);
    if (!hub) {
        snprintf(err, FH_ERR_LEN, "out of memory");
        return NULL;
    }
    hub->opts = *opts;
    hub->base = base;
    hub->log = stderr;
    if (opts->log_path && !(hub->log = fopen(opts->log_path, "a"))) {
        hub->log = stderr;
        snprintf(err, FH_ERR_LEN, "%s: %s", opts->log_path, strerror(errno));
        goto fail;
    }
    setvbuf(hub->log, NULL, _IOLBF, 0);
    if (fh_config_build(&hub->cfg, opts->config_path, opts->overrides, opts->noverrides, err) < 0)
        goto fail;
    if (!opts->nmdc_addr && !opts->adc_addr && !opts->nmdcs_addr && !opts->adcs_addr) {
        snprintf(err, FH_ERR_LEN, "nothing to listen on: give --nmdc, --adc, --nmdcs and/or --adcs");
        goto fail;
    }
    dc_lines_init(&hub->in, '|', hub->cfg.max_line, 0);   /* separator and bound set per read */
    hub->tls_line_cap = hub->cfg.max_line + 1;
    hub->npend = 1;   /* pend[0] is not used: index 0 ends a connection's lines */
    hub->pend_cap = 2 * FH_PEND_FLUSH;
    hub->pend_msg_cap = FH_PEND_FLUSH / 2;
    fh_random(hub->secret, sizeof hub->secret);
    if (!(hub->tls_line = malloc(hub->tls_line_cap)) ||
        !(hub->pend = malloc(hub->pend_cap * sizeof *hub->pend)) ||
        !(hub->pend_msg = malloc(hub->pend_msg_cap * sizeof *hub->pend_msg))) {
        snprintf(err, FH_ERR_LEN, "out of memory");
        goto fail;
    }
    event_base_gettimeofday_cached(hub->base, &hub->t0);
    if (opts->nmdc_addr && !(hub->nmdc_l = fh_listen(hub, opts->nmdc_addr, fh_nmdc_accept_cb,
                                                     hub->nmdc_bound, sizeof hub->nmdc_bound, err)))
        goto fail;
    if (opts->adc_addr && !(hub->adc_l = fh_listen(hub, opts->adc_addr, fh_adc_accept_cb,
                                                   hub->adc_bound, sizeof hub->adc_bound, err)))
        goto fail;
    if ((opts->nmdcs_addr || opts->adcs_addr) && fh_tls_setup(hub, err) < 0)
        goto fail;
    if (opts->nmdcs_addr && !(hub->nmdcs_l = fh_listen(hub, opts->nmdcs_addr, fh_nmdcs_accept_cb,
                                                       hub->nmdcs_bound, sizeof hub->nmdcs_bound, err)))
        goto fail;
    if (opts->adcs_addr && !(hub->adcs_l = fh_listen(hub, opts->adcs_addr, fh_adcs_accept_cb,
                                                     hub->adcs_bound, sizeof hub->adcs_bound, err)))
        goto fail;
    for (size_t i = 0; i < FH_NSIGNALS && !opts->no_signals; i++)
        if (!(hub->sig_ev[i] = evsignal_new(hub->base, fh_signals[i], fh_signal_cb, hub)) ||
            event_add(hub->sig_ev[i], NULL) < 0) {
            snprintf(err, FH_ERR_LEN, "cannot watch signal %d", fh_signals[i]);
            goto fail;
        }
    hub->reap_ev = event_new(hub->base, -1, 0, fh_reap_cb, hub);
    hub->stop_ev = evtimer_new(hub->base, fh_stop_cb, hub);
    hub->sweep_ev = event_new(hub->base, -1, EV_PERSIST, fh_sweep_cb, hub);
    hub->flush_ev = evtimer_new(hub->base, fh_flush_cb, hub);
    struct timeval sweep = fh_ms(FH_SWEEP_MS);
    if (!hub->reap_ev || !hub->stop_ev || !hub->sweep_ev || !hub->flush_ev ||
        event_add(hub->sweep_ev, &sweep) < 0) {
        snprintf(err, FH_ERR_LEN, "out of memory");
        goto fail;
    }
    if (opts->trace_path && !(hub->trace = fh_trace_new(hub, opts->trace_path, err)))
        goto fail;
    if (opts->control_path && !(hub->control = fh_control_new(hub, opts->control_path, err)))
        goto fail;
    for (size_t i = 0; i < hub->cfg.nfaults; i++)
        if (fh_hub_fault_add(hub, hub->cfg.faults[i], err) < 0)
            goto fail;
    fh_log(hub, "listening:%s%s%s%s%s%s%s%s; %zu registered users", hub->nmdc_l ? " nmdc " : "",
           hub->nmdc_bound, hub->adc_l ? " adc " : "", hub->adc_bound, hub->nmdcs_l ? " nmdcs " : "",
           hub->nmdcs_bound, hub->adcs_l ? " adcs " : "", hub->adcs_bound, hub->cfg.nusers);
    return hub;
fail:
    fh_hub_free(hub);
    return NULL;
}

/* After the trace, so rules from the config are traced like the others. */
int fh_hub_fault_add(struct fh_hub *hub, const char *rule, char *err)
{
    char why[FH_FAULT_ERR_LEN];
    struct fh_fault_rule r;
    if (!hub->faults && !(hub->faults = fh_faults_new(hub))) {
        snprintf(err, FH_ERR_LEN, "out of memory");
        return -1;
    }
    int id = fh_fault_rule_parse(&r, rule, why) < 0 ? -1 : fh_faults_add(hub->faults, &r, why);
    if (id < 0)
        snprintf(err, FH_ERR_LEN, "fault rule '%.80s': %.160s", rule, why);
    return id;
}

struct fh_faults *fh_hub_faults(struct fh_hub *hub)
{
    if (!hub->faults)
        hub->faults = fh_faults_new(hub);
    return hub->faults;
}

json_t *fh_hub_ready_json(struct fh_hub *hub)
{
    json_t *o = json_pack("{s:s, s:i}", "event", "ready", "pid", (json_int_t)getpid());
    if (o && hub->nmdc_l)
        json_object_set_new(o, "nmdc", json_string(hub->nmdc_bound));
    if (o && hub->adc_l)
        json_object_set_new(o, "adc", json_string(hub->adc_bound));
    if (o && hub->nmdcs_l)
        json_object_set_new(o, "nmdcs", json_string(hub->nmdcs_bound));
    if (o && hub->adcs_l)
        json_object_set_new(o, "adcs", json_string(hub->adcs_bound));
    if (o && hub->cert)
        json_object_set_new(o, "keyprint", json_string(dctls_cert_keyprint(hub->cert)));
    if (o && hub->control)
        json_object_set_new(o, "control", json_string(hub->opts.control_path));
    return o;
}

int fh_hub_run(struct fh_hub *hub)
{
    while (!hub->done && event_base_dispatch(hub->base) == 0)
        ;   /* a loopbreak meant for another user of the base: carry on */
    return 0;
}

bool fh_hub_done(const struct fh_hub *hub)
{
    return hub->done;
}

void fh_hub_free(struct fh_hub *hub)
{
    if (!hub)
        return;
    if (hub->control)
        fh_control_free(hub->control);
    fh_intercept_free(hub);   /* delayed lines and shapes point at connections */
    hub->dirty = NULL;   /* what is still queued is dropped with its connection */
    while (hub->conns) {
        struct fh_conn *c = hub->conns;
        fh_conn_unlink(c);
        fh_conn_free(c);
    }
    if (hub->trace)
        fh_trace_free(hub->trace);
    fh_faults_free(hub->faults);
    if (hub->nmdc_l)
        evconnlistener_free(hub->nmdc_l);
    if (hub->adc_l)
        evconnlistener_free(hub->adc_l);
    if (hub->nmdcs_l)
        evconnlistener_free(hub->nmdcs_l);
    if (hub->adcs_l)
        evconnlistener_free(hub->adcs_l);
    SSL_CTX_free(hub->tls_ctx);   /* after the connections: their SSLs hold references */
    dctls_cert_free(hub->cert);
    for (size_t i = 0; i < FH_NSIGNALS; i++)
        if (hub->sig_ev[i])
            event_free(hub->sig_ev[i]);
    if (hub->reap_ev)
        event_free(hub->reap_ev);
    if (hub->stop_ev)
        event_free(hub->stop_ev);
    if (hub->sweep_ev)
        event_free(hub->sweep_ev);
    if (hub->flush_ev)
        event_free(hub->flush_ev);
    fh_config_cleanup(&hub->cfg);
    free(hub->hooks);
    if (hub->pend_msg)
        fh_pend_reset(hub);   /* after the connections, whose lines may be in it */
    free(hub->pend_msg);
    free(hub->pend);
    dc_lines_cleanup(&hub->in);
    free(hub->tls_line);
    if (hub->log && hub->log != stderr)
        fclose(hub->log);
    else if (hub->log)
        fflush(hub->log);
    free(hub);
}
