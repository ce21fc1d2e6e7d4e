/* client.c: the client core's lifecycle, hub connection, framing, reconnect,
 * and event delivery (see dcc.h for the contract).
 *
 * One connection per client, a bufferevent that owns its socket. Input is cut
 * into frames by proto/lines.h's framer on the protocol's delimiter ('|'
 * NMDC, '\n' ADC) with a hard cap (setting max_line); empty frames are
 * keep-alives; each other frame goes to the protocol module's line handler (hub_nmdc.c, hub_adc.c). Sessions are numbered (gen): whenever one
 * ends, the number changes and any loop still working on the old one stops,
 * which is what makes it safe for callbacks to disconnect or free the client.
 *
 * TLS hubs (adcs://, nmdcs://): the same bufferevent is a libevent openssl
 * one (tls/dctls), whose BEV_EVENT_CONNECTED comes after the handshake; the
 * hub's keyprint is then checked against the URL's ?kp= (a mismatch ends the
 * session, without reconnecting) and reported. Our own certificate (also
 * the TLS identity for client-client connections) is made on first use.
 *
 * Reentrancy: everything lives in struct dcc_client; nothing is global.
 * Callbacks run with c->busy raised; dcc_client_free during a callback only
 * marks the client, and the outermost entry point destroys it on the way out.
 */
#include "client/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <openssl/err.h>

#include "proto/base32.h"
#include "tls/dctls.h"

/* Seconds a requested disconnect may spend flushing queued output. */
#define DCC_CLOSE_FLUSH_SECONDS 5.0
/* Most hub input moved into c->in at once: bounds it to max_line + this. */
#define DCC_READ_CHUNK 16384

static void dcc_destroy(struct dcc_client *c);
static void dcc_close(struct dcc_client *c, const char *reason, const char *code, bool requested);

/* ---- entry/exit of anything that may reach a callback ------------------ */

void dcc_enter(struct dcc_client *c)
{
    c->busy++;
}

void dcc_leave(struct dcc_client *c)
{
    if (--c->busy == 0 && c->doomed)
        dcc_destroy(c);
}

static struct timeval dcc_tv(double seconds)
{
    struct timeval tv = {(time_t)seconds, (suseconds_t)((seconds - (double)(time_t)seconds) * 1e6)};
    return tv;
}

/* ---- users (the table is users.c's) ---------------------------------- */

struct dcc_user *dcc_user_find(struct dcc_client *c, const char *key)
{
    return dcc_users_find(&c->users, key);
}

struct dcc_user *dcc_user_find_nick(struct dcc_client *c, const char *nick)
{
    return dcc_users_find_nick(&c->users, nick);
}

size_t dcc_client_user_count(const struct dcc_client *c)
{
    return c->users.count;
}

const struct dcc_user *dcc_client_find_user(const struct dcc_client *c, const char *nick)
{
    return dcc_users_find_nick(&c->users, nick);
}

void dcc_client_foreach_user(const struct dcc_client *c,
                             void (*each_cb)(const struct dcc_user *u, void *ctx), void *ctx)
{
    for (size_t i = 0; i < c->users.nbuckets; i++)
        for (const struct dcc_uentry *e = c->users.buckets[i]; e; e = e->next)
            each_cb(&e->u, ctx);
}

static void dcc_ops_clear(struct dcc_client *c)
{
    for (size_t i = 0; i < c->nops; i++)
        free(c->ops_nicks[i]);
    free(c->ops_nicks);
    c->ops_nicks = NULL;
    c->nops = 0;
}

/* ---- events and diagnostics -------------------------------------------- */

bool dcc_emit(struct dcc_client *c, const struct dcc_event *ev)
{
    if (c->doomed)
        return false;
    unsigned gen = c->gen;
    if (c->cbs.event_cb) {
        c->busy++;
        c->cbs.event_cb(c, ev, c->ctx);
        c->busy--;
    }
    return !c->doomed && c->gen == gen;
}

bool dcc_emit_any(struct dcc_client *c, const struct dcc_event *ev)
{
    if (c->doomed)
        return false;
    if (c->cbs.event_cb) {
        c->busy++;
        c->cbs.event_cb(c, ev, c->ctx);
        c->busy--;
    }
    return !c->doomed;
}

void dcc_log(struct dcc_client *c, const char *fmt, ...)
{
    if (!c->cbs.log_cb || c->doomed)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    c->busy++;
    c->cbs.log_cb(c, line, c->ctx);
    c->busy--;
}

void dcc_remember(struct dcc_client *c, const char *text)
{
    char *copy = strdup(text);
    if (copy) {
        free(c->last_status);
        c->last_status = copy;
    }
}

bool dcc_status(struct dcc_client *c, int code, const char *text)
{
    dcc_remember(c, text);
    struct dcc_event ev = {.type = DCC_EVENT_STATUS, .text = text, .code = code};
    return dcc_emit(c, &ev);
}

bool dcc_online(struct dcc_client *c)
{
    c->state = DCC_STATE_ONLINE;
    c->attempt = 0;
    evtimer_del(c->timer);
    struct dcc_event ev = {.type = DCC_EVENT_CONNECTED};
    return dcc_emit(c, &ev);
}

void dcc_no_reconnect(struct dcc_client *c)
{
    c->no_reconnect = true;
}

const char *dcc_setting_s(const struct dcc_client *c, enum dcc_setting_id id)
{
    return dcc_sget_str(c->settings, id);
}

/* ---- sending ------------------------------------------------------------- */

int dcc_send(struct dcc_client *c, const void *data, size_t len)
{
    if (!c->bev || (c->state != DCC_STATE_LOGIN && c->state != DCC_STATE_ONLINE))
        return -1;
    return bufferevent_write(c->bev, data, len);
}

int dcc_send_out(struct dcc_client *c)
{
    int rc = dcc_send(c, c->out.data, c->out.len);
    dc_buf_reset(&c->out);
    return rc;
}

/* ---- connection ------------------------------------------------------- */

/* Frames are cut by c->in (proto/lines.h), into which all the input the
 * bufferevent holds moves at once, DCC_READ_CHUNK at a time: a search and a
 * remove in the evbuffer per frame (each remove runs the evbuffer's
 * callbacks) cost about as much as handling an INF line, and a login brings
 * N of those. c->in keeps a partial frame for the next call. Handlers never
 * reach this function again (the bufferevent defers its callbacks), so the
 * frame being handled stays put. */
static void dcc_read_cb(struct bufferevent *bev, void *arg)
{
    struct dcc_client *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t avail;
    unsigned gen = c->gen;
    if (evbuffer_get_length(in))
        c->hub_rx = true;
    c->in.sep = c->ops->delim;
    c->in.max = (size_t)dcc_sget_int(c->settings, DCC_S_MAX_LINE);
    dcc_enter(c);
#define DCC_LIVE (!c->doomed && c->gen == gen && (c->state == DCC_STATE_LOGIN || c->state == DCC_STATE_ONLINE))
    while (DCC_LIVE && (avail = evbuffer_get_length(in))) {
        avail = avail < DCC_READ_CHUNK ? avail : DCC_READ_CHUNK;
        char *room = dc_lines_space(&c->in, avail);
        if (!room) {
            dcc_fail(c, "out of memory");
            break;
        }
        evbuffer_remove(in, room, avail);
        dc_lines_commit(&c->in, avail);
        while (DCC_LIVE) {
            char *frame;
            size_t n;
            enum dc_line r = dc_lines_next(&c->in, &frame, &n);
            if (r == DC_LINE_TOO_LONG) {
                dcc_fail(c, "protocol error: hub message longer than %zu bytes", c->in.max);
                break;
            }
            if (r == DC_LINE_MORE)
                break;
            c->ops->line(c, frame, n);
        }
    }
#undef DCC_LIVE
    dcc_leave(c);
}

static void dcc_write_cb(struct bufferevent *bev, void *arg)
{
    struct dcc_client *c = arg;
    if (c->state != DCC_STATE_CLOSING || evbuffer_get_length(bufferevent_get_output(bev)))
        return;
    dcc_enter(c);
    dcc_close(c, "disconnected on request", NULL, true);
    dcc_leave(c);
}

/* A TLS bufferevent reports a failed TCP connect like a failed handshake:
 * NULL when the TCP connection was made, else why it was not. */
static const char *dcc_tcp_failure(struct bufferevent *bev)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    evutil_socket_t fd = bufferevent_getfd(bev);
    if (fd < 0)
        return "no socket";
    if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
        return NULL;
    int e = 0;
    socklen_t elen = sizeof e;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0 || e == 0)
        return "the TCP connection was not established (refused or unreachable)";
    return strerror(e);
}

static void dcc_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct dcc_client *c = arg;
    dcc_enter(c);
    if (what & BEV_EVENT_CONNECTED) {
        int one = 1;
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (c->url.tls) {
            /* The TLS handshake is done: whose certificate is it? */
            SSL *ssl = dctls_bev_ssl(bev);
            char kp[DCTLS_KEYPRINT_SIZE];
            if (!ssl || dctls_peer_keyprint(ssl, kp) < 0) {
                dcc_no_reconnect(c);
                dcc_fail(c, "the hub presented no TLS certificate");
                dcc_leave(c);
                return;
            }
            snprintf(c->hub_kp, sizeof c->hub_kp, "%s", kp);
            if (*c->url.kp && !dctls_keyprint_equal(c->url.kp, kp)) {
                dcc_no_reconnect(c);
                dcc_failc(c, "keyprint-mismatch", "hub keyprint mismatch: the URL expects %s, the hub presented %s", c->url.kp, kp);
                dcc_leave(c);
                return;
            }
        }
        c->state = DCC_STATE_LOGIN;
        dcc_xfer_hub_up(c);   /* before our INF: it announces the port */
        c->ops->connected(c);
    } else if (c->state == DCC_STATE_CLOSING) {
        dcc_close(c, "disconnected on request", NULL, true);
    } else if (what & BEV_EVENT_EOF) {
        /* Read what is left first: a hub often explains itself and closes. */
        dcc_read_cb(bev, c);
        const char *refused = c->state == DCC_STATE_CONNECTING && c->url.tls ? dcc_tcp_failure(bev) : NULL;
        if (!c->doomed && c->bev == bev && refused)
            dcc_fail(c, "cannot connect to %s:%u: %s", c->url.host, c->url.port, refused);
        else if (!c->doomed && c->bev == bev && c->state == DCC_STATE_CONNECTING && c->url.tls)
            dcc_fail(c, "TLS handshake with %s:%u failed: the hub closed the connection (not a TLS port?)",
                     c->url.host, c->url.port);
        else if (!c->doomed && c->bev == bev)
            dcc_fail(c, "hub closed the connection%s%s%s", c->last_status ? ": " : "",
                     c->last_status ? c->last_status : "",
                     !c->hub_rx && !c->url.tls ? " (nothing received: a TLS port? try adcs:// or nmdcs://)" : "");
    } else if (what & BEV_EVENT_ERROR) {
        int dnserr = bufferevent_socket_get_dns_error(bev);
        char tlswhy[DCTLS_ERR_LEN];
        unsigned long sslerr = c->url.tls ? bufferevent_get_openssl_error(bev) : 0;
        const char *why = dnserr ? evutil_gai_strerror(dnserr)
                                 : evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR());
        const char *refused = c->state == DCC_STATE_CONNECTING && c->url.tls ? dcc_tcp_failure(bev) : NULL;
        if (refused) {
            dcc_fail(c, "cannot connect to %s:%u: %s", c->url.host, c->url.port, refused);
        } else if (sslerr) {
            ERR_error_string_n(sslerr, tlswhy, sizeof tlswhy);
            dcc_fail(c, "TLS %s %s:%u failed: %s%s", c->state == DCC_STATE_CONNECTING ? "handshake with" : "connection to",
                     c->url.host, c->url.port, tlswhy, c->state == DCC_STATE_CONNECTING ? " (not a TLS port?)" : "");
        } else if (c->state == DCC_STATE_CONNECTING)
            dcc_fail(c, "cannot connect to %s:%u: %s", c->url.host, c->url.port, why);
        else
            dcc_fail(c, "connection to the hub lost: %s%s", why,
                     !c->hub_rx && !c->url.tls ? " (nothing received: a TLS port? try adcs:// or nmdcs://)" : "");
    }
    dcc_leave(c);
}

/* A non-blocking IPv4 socket bound to source (the source_address setting,
 * for hubs that tell users apart by address), for a numeric hub address. */
static int dcc_bound_socket(struct dcc_client *c, const char *source, char *err)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    struct in_addr hub;
    if (inet_pton(AF_INET, source, &a.sin_addr) != 1)
        return dcc_errc(err, "bad-value", "source_address '%s' is not an IPv4 address", source);
    if (inet_pton(AF_INET, c->url.host, &hub) != 1)
        return dcc_errc(err, "bad-value", "source_address needs a numeric IPv4 hub address, not '%s'", c->url.host);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return dcc_errc(err, "connect-failed", "socket: %s", strerror(errno));
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        int e = errno;
        close(fd);
        return dcc_errc(err, "connect-failed", "cannot bind to source_address %s: %s", source, strerror(e));
    }
    return fd;
}

/* One connection attempt to c->url, or (adopted >= 0) the session on an
 * already-connected socket. 0, or -1 with err. */
static int dcc_open(struct dcc_client *c, evutil_socket_t adopted, char *err)
{
    c->gen++;
    dc_lines_reset(&c->in);
    free(c->last_status);
    c->last_status = NULL;
    c->sid[0] = '\0';
    c->hub_kp[0] = '\0';
    c->hub_rx = false;
    /* Deferred callbacks: a connect that fails at once (DNS from the hosts
     * file) must not reach the event callback inside dcc_client_connect. */
    int opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
    struct bufferevent *bev;
    int fd = adopted;
    const char *source = dcc_setting_s(c, DCC_S_SOURCE_ADDRESS);
    if (fd < 0 && *source && (fd = dcc_bound_socket(c, source, err)) < 0)
        return -1;
    if (c->url.tls) {
        char e[DCTLS_ERR_LEN];
        bev = NULL;
        if (dcc_tls_ready(c, err) == 0 && !(bev = dctls_bev_wrap_fd(c->base, fd, c->tls_client, DCTLS_CONNECT, opts, e)))
            dcc_errc(err, "connect-failed", "TLS: %s", e);
        if (!bev) {
            if (fd >= 0)
                close(fd);
            return -1;
        }
    } else if (!(bev = bufferevent_socket_new(c->base, fd, opts))) {
        if (fd >= 0)
            close(fd);
        return dcc_err(err, "out of memory");
    }
    c->bev = bev;
    c->state = DCC_STATE_CONNECTING;
    bufferevent_setcb(bev, dcc_read_cb, dcc_write_cb, dcc_event_cb, c);
    /* Cap input: one frame of max_line bytes plus its delimiter. */
    bufferevent_setwatermark(bev, EV_READ, 0, (size_t)dcc_sget_int(c->settings, DCC_S_MAX_LINE) + 1);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    struct timeval tv = dcc_tv(dcc_sget_double(c->settings, DCC_S_LOGIN_TIMEOUT));
    if (adopted >= 0) {
        /* Connected already: the connect event arrives from the loop, as
         * after a TCP connect. */
        bufferevent_trigger_event(bev, BEV_EVENT_CONNECTED, 0);
        evtimer_add(c->timer, &tv);
        return 0;
    }

    char addr[300];
    struct sockaddr_storage ss;
    int sslen = sizeof ss;
    snprintf(addr, sizeof addr, strchr(c->url.host, ':') ? "[%s]:%u" : "%s:%u", c->url.host, c->url.port);
    int rc;
    if (evutil_parse_sockaddr_port(addr, (struct sockaddr *)&ss, &sslen) == 0) {
        rc = bufferevent_socket_connect(bev, (struct sockaddr *)&ss, sslen);
    } else {
        if (!c->dns && !(c->dns = evdns_base_new(c->base, EVDNS_BASE_INITIALIZE_NAMESERVERS))) {
            bufferevent_free(bev);
            c->bev = NULL;
            c->state = DCC_STATE_IDLE;
            return dcc_errc(err, "connect-failed", "cannot set up DNS resolution for %s", c->url.host);
        }
        rc = bufferevent_socket_connect_hostname(bev, c->dns, AF_UNSPEC, c->url.host, c->url.port);
    }
    if (rc < 0) {
        int e = errno;
        bufferevent_free(bev);
        c->bev = NULL;
        c->state = DCC_STATE_IDLE;
        return dcc_errc(err, "connect-failed", "cannot connect to %s: %s", addr, strerror(e));
    }
    evtimer_add(c->timer, &tv);
    return 0;
}

static void dcc_schedule_reconnect(struct dcc_client *c)
{
    double delay = dcc_sget_double(c->settings, DCC_S_RECONNECT_DELAY);
    double max = dcc_sget_double(c->settings, DCC_S_RECONNECT_MAX_DELAY);
    for (int i = 0; i < c->attempt && delay < max; i++)
        delay *= 2;
    if (delay > max)
        delay = max;
    c->attempt++;
    c->state = DCC_STATE_WAIT_RECONNECT;
    struct timeval tv = dcc_tv(delay);
    evtimer_add(c->timer, &tv);
    struct dcc_event ev = {.type = DCC_EVENT_RECONNECTING, .delay = delay};
    dcc_emit(c, &ev);
}

/* End the session: release the connection and the user list, report, and
 * schedule a reconnect if wanted. */
static void dcc_close(struct dcc_client *c, const char *reason, const char *code, bool requested)
{
    bool was_online = c->state == DCC_STATE_ONLINE || c->was_online;
    if (c->bev) {
        /* End the connection now: libevent defers the free (and the close)
         * while one of the bufferevent's own callbacks runs, and whoever
         * hears of this disconnect may act at once (log in again with the
         * same nick): the hub must have been told by then. */
        evutil_socket_t fd = bufferevent_getfd(c->bev);
        if (fd >= 0)
            shutdown(fd, SHUT_RDWR);
        bufferevent_free(c->bev);
    }
    c->bev = NULL;
    evtimer_del(c->timer);
    dcc_users_reset(&c->users, c->users.by_sid);
    dcc_ops_clear(c);
    c->gen++;
    c->state = DCC_STATE_IDLE;
    c->was_online = false;
    bool again = !requested && !c->no_reconnect && dcc_sget_bool(c->settings, DCC_S_RECONNECT);
    struct dcc_event ev = {.type = DCC_EVENT_DISCONNECTED, .text = reason, .logged_in = was_online,
                           .error_code = requested ? NULL : code};
    dcc_emit(c, &ev);
    /* The callback may have connected again or freed the client. */
    if (again && !c->doomed && c->state == DCC_STATE_IDLE)
        dcc_schedule_reconnect(c);
}

void dcc_failc(struct dcc_client *c, const char *code, const char *fmt, ...)
{
    char reason[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    dcc_close(c, reason, code, false);
}

static void dcc_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct dcc_client *c = arg;
    char err[DCC_ERR_LEN];
    dcc_enter(c);
    switch (c->state) {
    case DCC_STATE_WAIT_RECONNECT:
        if (dcc_open(c, -1, err) < 0)
            dcc_fail(c, "%s", err);
        break;
    case DCC_STATE_CONNECTING:
    case DCC_STATE_LOGIN:
        dcc_failc(c, "timeout", "login timed out after %g seconds%s%s%s", dcc_sget_double(c->settings, DCC_S_LOGIN_TIMEOUT),
                 c->last_status ? "; last hub message: " : "", c->last_status ? c->last_status : "",
                 c->state == DCC_STATE_CONNECTING && c->url.tls ? "; the TLS handshake did not complete (not a TLS port?)"
                 : c->state == DCC_STATE_LOGIN && !c->hub_rx && !c->url.tls
                     ? "; nothing received from the hub (a TLS port? try adcs:// or nmdcs://)"
                     : "");
        break;
    case DCC_STATE_CLOSING:
        dcc_close(c, "disconnected on request (output not flushed in time)", NULL, true);
        break;
    default:
        break;
    }
    dcc_leave(c);
}

/* ---- identity (ADC PID/CID) ------------------------------------------- */

static int dcc_random_pid(uint8_t pid[DC_TIGER_LEN], char *err)
{
    for (size_t got = 0; got < DC_TIGER_LEN;) {
        ssize_t n = getrandom(pid + got, DC_TIGER_LEN - got, 0);
        if (n < 0 && errno != EINTR)
            return dcc_err(err, "getrandom: %s", strerror(errno));
        got += n > 0 ? (size_t)n : 0;
    }
    return 0;
}

/* The PID persisted in <data_dir>/adc-pid (base32 text), created on first use. */
static int dcc_stored_pid(const char *dir, uint8_t pid[DC_TIGER_LEN], char *err)
{
    char path[4096], text[128];
    snprintf(path, sizeof path, "%s/adc-pid", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, text, sizeof text - 1);
        close(fd);
        size_t len = n > 0 ? (size_t)n : 0;
        while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
            len--;
        if (dc_base32_decode(text, len, pid, DC_TIGER_LEN) != DC_TIGER_LEN)
            return dcc_err(err, "%s does not hold a base32 PID of 24 bytes", path);
        return 0;
    }
    if (errno != ENOENT)
        return dcc_err(err, "cannot read %s: %s", path, strerror(errno));
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return dcc_err(err, "cannot create data dir %s: %s", dir, strerror(errno));
    if (dcc_random_pid(pid, err) < 0)
        return -1;
    dc_base32_encode(pid, DC_TIGER_LEN, text, sizeof text);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return dcc_err(err, "cannot create %s: %s", path, strerror(errno));
    size_t len = strlen(text);
    text[len++] = '\n';
    bool ok = write(fd, text, len) == (ssize_t)len;
    ok = close(fd) == 0 && ok;
    return ok ? 0 : dcc_err(err, "cannot write %s", path);
}

int dcc_identity(struct dcc_client *c, char *err)
{
    if (c->have_pid)
        return 0;
    uint8_t pid[DC_TIGER_LEN], cid[DC_TIGER_LEN];
    const char *dir = dcc_sget_str(c->settings, DCC_S_DATA_DIR);
    if ((*dir ? dcc_stored_pid(dir, pid, err) : dcc_random_pid(pid, err)) < 0)
        return -1;
    dc_tiger(pid, sizeof pid, cid);
    dc_base32_encode(pid, sizeof pid, c->pid_b32, sizeof c->pid_b32);
    dc_base32_encode(cid, sizeof cid, c->cid_b32, sizeof c->cid_b32);
    c->have_pid = true;
    return 0;
}

const char *dcc_client_cid(struct dcc_client *c, char *err)
{
    return dcc_identity(c, err) < 0 ? NULL : c->cid_b32;
}

/* ---- TLS identity ----------------------------------------------------- */

static void dcc_tls_drop(struct dcc_client *c)
{
    /* SSL objects keep their context alive (OpenSSL counts references), and
     * contexts hold their own references to the certificate and key. */
    SSL_CTX_free(c->tls_client);
    SSL_CTX_free(c->tls_server);
    dctls_cert_free(c->cert);
    c->tls_client = c->tls_server = NULL;
    c->cert = NULL;
}

int dcc_tls_ready(struct dcc_client *c, char *err)
{
    char e[DCTLS_ERR_LEN];
    if (c->tls_client && c->tls_server)
        return 0;
    if (!c->cert) {
        /* CN = our CID, as DC++ does; the keyprint is what peers check. */
        const char *cn = dcc_identity(c, NULL) == 0 ? c->cid_b32 : "dcclient";
        const char *dir = dcc_sget_str(c->settings, DCC_S_DATA_DIR);
        c->cert = *dir ? dctls_cert_load_or_create(dir, cn, NULL, e) : dctls_cert_generate(cn, e);
        if (!c->cert)
            return dcc_err(err, "TLS certificate: %s", e);
    }
    if ((!c->tls_client && !(c->tls_client = dctls_client_ctx_new(c->cert, e))) ||
        (!c->tls_server && !(c->tls_server = dctls_server_ctx_new(c->cert, e))))
        return dcc_err(err, "TLS: %s", e);
    return 0;
}

const char *dcc_client_keyprint(struct dcc_client *c, char *err)
{
    return dcc_tls_ready(c, err) < 0 ? NULL : dctls_cert_keyprint(c->cert);
}

bool dcc_client_tls(const struct dcc_client *c)
{
    return c->url.tls;
}

const char *dcc_client_hub_keyprint(const struct dcc_client *c)
{
    return c->hub_kp;
}

bool dcc_su_tls(const char *su)
{
    /* ADC0 is what DC++-family clients send, ADCS what ADC-EXT names. */
    for (const char *p = su; *p;) {
        size_t n = strcspn(p, ",");
        if (n == 4 && (strncmp(p, "ADC0", 4) == 0 || strncmp(p, "ADCS", 4) == 0))
            return true;
        p += n + (p[n] == ',');
    }
    return false;
}

/* ---- public API ----------------------------------------------------------- */

struct dcc_client *dcc_client_new(struct event_base *base, const struct dcc_callbacks *cbs, void *ctx)
{
    if (!base)
        return NULL;
    struct dcc_client *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->base = base;
    if (cbs)
        c->cbs = *cbs;
    c->ctx = ctx;
    /* Keep-alives (empty frames) are skipped; separator and bound are set per read. */
    dc_lines_init(&c->in, '|', 65536, DC_LINES_SKIP_EMPTY);
    dc_buf_init(&c->out, 0);
    c->settings = dcc_settings_new();
    c->timer = evtimer_new(base, dcc_timer_cb, c);
    c->url_text = strdup("");
    c->nick = strdup("");
    c->xfer = dcc_xfer_new(c);
    if (!c->settings || !c->timer || !c->url_text || !c->nick || !c->xfer) {
        dcc_destroy(c);
        return NULL;
    }
    return c;
}

static void dcc_destroy(struct dcc_client *c)
{
    dcc_xfer_free(c->xfer);
    dcc_share_free(c->share);
    if (c->bev)
        bufferevent_free(c->bev);
    if (c->timer)
        event_free(c->timer);
    if (c->dns)
        evdns_base_free(c->dns, 0);
    dcc_users_reset(&c->users, c->users.by_sid);
    dcc_ops_clear(c);
    dcc_settings_free(c->settings);
    dcc_tls_drop(c);
    dc_lines_cleanup(&c->in);
    dc_buf_cleanup(&c->out);
    free(c->adc_msg);
    free(c->last_status);
    free(c->url_text);
    free(c->nick);
    free(c);
}

void dcc_client_free(struct dcc_client *c)
{
    if (!c)
        return;
    if (c->busy) {        /* inside a callback: finish on the way out */
        c->doomed = true;
        c->gen++;
        return;
    }
    dcc_destroy(c);
}

/* ---- sharing ---------------------------------------------------------------- */

void dcc_advertised(const struct dcc_client *c, uint64_t *bytes, uint64_t *files)
{
    *bytes = (uint64_t)dcc_sget_i64(c->settings, DCC_S_SHARE_SIZE);
    *files = 0;
    if (c->share) {
        uint64_t b;
        dcc_share_totals(c->share, files, &b);
        *bytes += b;
    }
}

void dcc_share_changed(struct dcc_client *c)
{
    if (c->state == DCC_STATE_ONLINE)
        c->ops->send_info(c);
}

int dcc_client_share(struct dcc_client *c, const char *dir, char *err)
{
    if (!dir || !*dir)
        return dcc_errc(err, "bad-request", "no directory given");
    if (!c->share && !(c->share = dcc_share_new(c)))
        return dcc_err(err, "out of memory");
    return dcc_share_add_root(c->share, dir, err);
}

void dcc_client_share_info(const struct dcc_client *c, struct dcc_share_info *out)
{
    memset(out, 0, sizeof *out);
    if (c->share)
        dcc_share_totals(c->share, &out->files_hashed, &out->bytes_hashed);
    out->files = out->files_hashed;
    out->bytes = out->bytes_hashed;
}

/* Settings that other users see: re-announce them while online. */
static void dcc_setting_changed(struct dcc_client *c, const char *name)
{
    if (strcmp(name, "data_dir") == 0) {
        c->have_pid = false;
        /* The certificate lives there too. While connected, peers know our
         * keyprint from the INF we sent: keep the identity until then. */
        if (c->state == DCC_STATE_IDLE)
            dcc_tls_drop(c);
        else
            c->tls_stale = true;
    }
    if (strcmp(name, "hub_read") == 0 && c->bev) {
        /* A client that stops reading (fault): the hub's output to it piles
         * up in the socket buffers, then in the hub. */
        if (dcc_sget_bool(c->settings, DCC_S_HUB_READ))
            bufferevent_enable(c->bev, EV_READ);
        else
            bufferevent_disable(c->bev, EV_READ);
    }
    const char *announced[] = {"description", "email", "share_size", "slots"};
    for (size_t i = 0; i < sizeof announced / sizeof announced[0]; i++)
        if (strcmp(name, announced[i]) == 0 && c->state == DCC_STATE_ONLINE)
            c->ops->send_info(c);
}

int dcc_client_set(struct dcc_client *c, const char *name, const struct dcc_value *v, char *err)
{
    if (dcc_settings_set(c->settings, name, v, err) < 0)
        return -1;
    dcc_setting_changed(c, name);
    return 0;
}

int dcc_client_set_text(struct dcc_client *c, const char *name, const char *text, char *err)
{
    if (dcc_settings_set_text(c->settings, name, text, err) < 0)
        return -1;
    dcc_setting_changed(c, name);
    return 0;
}

int dcc_client_get(const struct dcc_client *c, const char *name, struct dcc_value *out, char *err)
{
    return dcc_settings_get(c->settings, name, out, err);
}

static int dcc_check_nick(enum dcc_proto proto, const char *nick, char *err)
{
    if (!*nick)
        return dcc_errc(err, "bad-request", "no nick set (setting 'nick')");
    for (const unsigned char *p = (const unsigned char *)nick; *p; p++)
        if (*p < 0x20 || (proto == DCC_PROTO_NMDC && strchr(" $|<>", *p)))
            return dcc_errc(err, "bad-value", "nick '%s' is not valid for %s", nick, dcc_proto_name(proto));
    if (strlen(nick) > 64)
        return dcc_errc(err, "bad-value", "nick '%s' is longer than 64 bytes", nick);
    return 0;
}

static int dcc_prepare(struct dcc_client *c, const char *url, char *err);

int dcc_client_connect(struct dcc_client *c, const char *url, char *err)
{
    return dcc_prepare(c, url, err) < 0 ? -1 : dcc_open(c, -1, err);
}

int dcc_client_adopt(struct dcc_client *c, const char *url, int fd, char *err)
{
    if (fd < 0)
        return dcc_err(err, "no socket");
    int rc = strncasecmp(url, "adcs:", 5) == 0 || strncasecmp(url, "nmdcs:", 6) == 0
                 ? dcc_err(err, "an adopted hub connection is never TLS: %s", url)
                 : evutil_make_socket_nonblocking(fd) < 0 ? dcc_err(err, "fcntl: %s", strerror(errno))
                 : dcc_prepare(c, url, err);
    if (rc < 0) {
        close(fd);
        return -1;
    }
    return dcc_open(c, fd, err);   /* closes fd on failure */
}

/* Checks and session state for a connect to url (dcc_open follows). */
static int dcc_prepare(struct dcc_client *c, const char *url, char *err)
{
    if (c->state != DCC_STATE_IDLE && c->state != DCC_STATE_WAIT_RECONNECT)
        return dcc_errc(err, "already-connected", "already %s; disconnect first", dcc_state_name(c->state));
    struct dcc_url u;
    if (dcc_url_parse(url, &u, err) < 0)
        return -1;
    const char *nick = dcc_sget_str(c->settings, DCC_S_NICK);
    if (dcc_check_nick(u.proto, nick, err) < 0)
        return -1;
    if (u.proto == DCC_PROTO_ADC && dcc_identity(c, err) < 0)
        return -1;
    if (c->tls_stale) {
        dcc_tls_drop(c);
        c->tls_stale = false;
    }
    const char *cc_tls = dcc_sget_str(c->settings, DCC_S_CC_TLS);
    bool want_cc_tls = strcmp(cc_tls, "always") == 0 || (u.tls && strcmp(cc_tls, "auto") == 0);
    if ((u.tls || want_cc_tls) && dcc_tls_ready(c, err) < 0)
        return -1;
    char *url_copy = strdup(url), *nick_copy = strdup(nick);
    if (!url_copy || !nick_copy) {
        free(url_copy);
        free(nick_copy);
        return dcc_err(err, "out of memory");
    }
    evtimer_del(c->timer);
    free(c->url_text);
    free(c->nick);
    c->url_text = url_copy;
    c->nick = nick_copy;
    c->url = u;
    c->ops = u.proto == DCC_PROTO_ADC ? &dcc_adc_ops : &dcc_nmdc_ops;
    dcc_users_reset(&c->users, u.proto == DCC_PROTO_ADC);   /* empty here: the last session cleared it */
    c->attempt = 0;
    c->no_reconnect = false;
    c->cc_tls = want_cc_tls;
    return 0;
}

int dcc_client_disconnect(struct dcc_client *c, char *err)
{
    switch (c->state) {
    case DCC_STATE_IDLE:
        return dcc_errc(err, "not-connected", "not connected");
    case DCC_STATE_CLOSING:
        return dcc_errc(err, "not-connected", "already disconnecting");
    default:
        break;
    }
    dcc_enter(c);
    if (c->state == DCC_STATE_LOGIN || c->state == DCC_STATE_ONLINE) {
        /* Let queued chat and PMs reach the hub before the socket closes. */
        c->was_online = c->state == DCC_STATE_ONLINE;
        c->gen++;
        c->state = DCC_STATE_CLOSING;
        dcc_users_reset(&c->users, c->users.by_sid);
        bufferevent_disable(c->bev, EV_READ);
        if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
            dcc_close(c, "disconnected on request", NULL, true);
        } else {
            struct timeval tv = dcc_tv(DCC_CLOSE_FLUSH_SECONDS);
            evtimer_add(c->timer, &tv);
        }
    } else {
        dcc_close(c, "disconnected on request", NULL, true);
    }
    dcc_leave(c);
    return 0;
}

int dcc_client_say(struct dcc_client *c, const char *text, char *err)
{
    if (c->state != DCC_STATE_ONLINE)
        return dcc_errc(err, "not-connected", "not logged in to a hub");
    if (!text || !*text)
        return dcc_errc(err, "bad-request", "empty chat message");
    return c->ops->say(c, text, err);
}

int dcc_client_pm(struct dcc_client *c, const char *nick, const char *text, char *err)
{
    if (c->state != DCC_STATE_ONLINE)
        return dcc_errc(err, "not-connected", "not logged in to a hub");
    if (!text || !*text)
        return dcc_errc(err, "bad-request", "empty private message");
    const struct dcc_user *u = dcc_user_find_nick(c, nick);
    if (!u)
        return dcc_errc(err, "not-online", "user '%s' is not online", nick ? nick : "(null)");
    return c->ops->pm(c, u, text, err);
}

int dcc_client_raw(struct dcc_client *c, const char *line, char *err)
{
    if (c->state != DCC_STATE_ONLINE)
        return dcc_err(err, "not logged in to a hub");
    if (!line || !*line || strchr(line, c->ops->delim))
        return dcc_err(err, "a raw line must be non-empty and without the protocol's terminator ('%s')",
                       c->ops->delim == '|' ? "|" : "\\n");
    dc_buf_reset(&c->out);
    if (dc_buf_append_str(&c->out, line) < 0 || dc_buf_append_byte(&c->out, c->ops->delim) < 0 ||
        dcc_send_out(c) < 0)
        return dcc_err(err, "cannot queue the raw line");
    return 0;
}

enum dcc_state dcc_client_state(const struct dcc_client *c)
{
    return c->state;
}

const char *dcc_state_name(enum dcc_state s)
{
    switch (s) {
    case DCC_STATE_IDLE: return "idle";
    case DCC_STATE_CONNECTING: return "connecting";
    case DCC_STATE_LOGIN: return "logging in";
    case DCC_STATE_ONLINE: return "online";
    case DCC_STATE_CLOSING: return "disconnecting";
    case DCC_STATE_WAIT_RECONNECT: return "waiting to reconnect";
    }
    return "?";
}

enum dcc_proto dcc_client_proto(const struct dcc_client *c)
{
    return c->url.proto;
}

const char *dcc_client_url(const struct dcc_client *c)
{
    return c->url_text;
}

const char *dcc_client_nick(const struct dcc_client *c)
{
    return c->nick;
}
