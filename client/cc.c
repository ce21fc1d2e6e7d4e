/* cc.c: client-client connections (protocol notes §2.8, §2.10, §2.11,
 * §3.10, §3.12): our listener (port 0, next to the hub connection's local
 * address), $ConnectToMe/$RevConnectToMe and DCTM/DRCM, the NMDC handshake
 * ($MyNick, $Lock, $Supports, $Direction, $Key in either order) and the ADC
 * one (CSUP, CINF with the token, INFs in either order, DC++'s CSTA 000
 * ignored), framing, the data phase (raw, or ZLIB inflated until
 * Z_STREAM_END with the bytes after it left for the next message), and the
 * wire forms of GET/SND/errors.
 *
 * Roles: on ADC the connection is for downloading when it presents (or
 * answers) a token we issued for a download; on NMDC $Direction decides,
 * from whether we have something queued from that nick. A downloader's
 * connection is handed to download.c, an uploader's requests to upload.c.
 * Bad input on an established connection gets the protocol's error and the
 * connection stays; an over-long message or a broken handshake closes it.
 *
 * TLS (notes §2.8, §2.12, §3.10): when this session uses TLS client
 * connections (dcc_client's cc_tls) and the peer announces them (ADC SU
 * ADC0/ADCS, NMDC flag 0x10), we ask with ADCS/0.10 (and accept ADCS/1.0)
 * or a port with suffix S. One listener serves both: an incoming
 * connection's first byte says which (0x16 starts a TLS ClientHello; plain
 * peers start with '$' or 'C'). After the handshake the peer's certificate
 * is checked against the KP its hub INF announced, when it announced one:
 * at once when we connected (we know whom), at CINF when it connected. The
 * data phase reads through SSL_read (raw data via dctls_rx: one read() per
 * MiB), uploads go through SSL_write (no sendfile).
 *
 * Lifetime: struct dcc_cc is freed by dcc_cc_close, or later when a callback
 * on it is still running (busy), so handlers may close their own connection.
 */
#include "client/xfer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "proto/adc.h"
#include "proto/lines_ev.h"
#include "proto/nmdc.h"
#include "tls/dctls.h"

#define DCC_RBUF (1024 * 1024)
/* OpenSSL's read buffer on a TLS client connection (read ahead during a
 * ZLIB data phase; raw data reads through cc->rx): about 2.5 records.
 * OpenSSL 3.0 memmoves what is left in it to its front before every record
 * it reads (payload alignment), so a large one costs more than it saves:
 * at 256 KiB that memmove took more of the downloader's loop thread than
 * the AES-GCM decryption (perf). */
#define DCC_TLS_RBUF (40 * 1024)
#define DCC_DIRECT_ROUNDS 64
#define DCC_CC_READ_MAX (4 * 1024 * 1024)
#define CC_STR_(x) #x
#define CC_STR(x) CC_STR_(x)   /* a number macro as a string literal */

static struct dcc_client *cc_client(const struct dcc_cc *cc)
{
    return cc->x->c;
}

static double cc_timeout(const struct dcc_cc *cc)
{
    return dcc_sget_double(cc_client(cc)->settings, DCC_S_TRANSFER_TIMEOUT);
}

/* Give the SSL its socket BIO back, before the bufferevent (and, maybe
 * later, the SSL) goes. */
static void cc_rx_cleanup(struct dcc_cc *cc)
{
    dctls_rx_end(cc->rx, cc->bev ? dctls_bev_ssl(cc->bev) : NULL);
    cc->rx = NULL;
}

static void cc_destroy(struct dcc_cc *cc)
{
    for (struct dcc_cc **pp = &cc->x->ccs; *pp; pp = &(*pp)->next)
        if (*pp == cc) {
            *pp = cc->next;
            break;
        }
    dcc_up_cleanup(cc);   /* first: a TLS upload gives the SSL its socket BIO back */
    cc_rx_cleanup(cc);
    if (cc->bev)
        bufferevent_free(cc->bev);
    cc->bev = NULL;
    if (cc->sniff)
        event_free(cc->sniff);
    if (cc->sniff_fd >= 0)
        close(cc->sniff_fd);
    if (cc->timer)
        event_free(cc->timer);
    if (cc->inflating)
        inflateEnd(&cc->zs);
    dcc_upf_cleanup(cc);   /* after the bufferevent that used its rate limit */
    free(cc->zbuf);
    free(cc->rbuf);
    free(cc->nick);
    free(cc);
}

static void cc_enter(struct dcc_cc *cc)
{
    cc->busy++;
    dcc_enter(cc_client(cc));
}

static void cc_leave(struct dcc_cc *cc)
{
    struct dcc_client *c = cc_client(cc);
    if (--cc->busy == 0 && cc->closed)
        cc_destroy(cc);
    dcc_leave(c);
}

void dcc_cc_close(struct dcc_cc *cc, const char *why)
{
    if (cc->closed)
        return;
    cc->closed = true;
    if (cc->fatal)
        why = cc->fatal;   /* not the close that followed it ("closed by the peer") */
    dcc_log(cc_client(cc), "client connection %s%s closed: %s", cc->nick ? "with " : "", cc->nick ? cc->nick : "", why);
    dcc_up_cleanup(cc);   /* first: a TLS upload gives the SSL its socket BIO back */
    cc_rx_cleanup(cc);
    if (cc->bev)
        bufferevent_free(cc->bev);
    cc->bev = NULL;
    if (cc->sniff)
        event_free(cc->sniff);
    cc->sniff = NULL;
    if (cc->sniff_fd >= 0)
        close(cc->sniff_fd);
    cc->sniff_fd = -1;
    evtimer_del(cc->timer);
    if (cc->holds_slot)
        cc->x->slots_used--;
    cc->holds_slot = false;
    cc->busy++;                     /* the failure event may call back into us */
    if (cc->dl)
        dcc_dl_conn_lost(cc, why);
    if (--cc->busy == 0)
        cc_destroy(cc);
}

void dcc_cc_arm(struct dcc_cc *cc, double seconds)
{
    struct timeval tv = {(time_t)seconds, (suseconds_t)((seconds - (double)(time_t)seconds) * 1e6)};
    evtimer_add(cc->timer, &tv);
}

void dcc_cc_idle(struct dcc_cc *cc)
{
    cc->state = DCC_CC_IDLE;
    dcc_cc_arm(cc, DCC_CC_IDLE_SECONDS);
}

static void cc_send(struct dcc_cc *cc, const struct dc_buf *b)
{
    if (cc->bev && b->len)
        bufferevent_write(cc->bev, b->data, b->len);
}

/* Send the formatted ADC message m (cleaned up here); -1 if it cannot be. */
static int cc_send_adc(struct dcc_cc *cc, struct adc_msg *m)
{
    struct dc_buf b;
    dc_buf_init(&b, 0);
    int rc = adc_msg_format(m, &b);
    adc_msg_cleanup(m);
    if (rc == 0)
        cc_send(cc, &b);
    dc_buf_cleanup(&b);
    return rc;
}

/* Send the last words, then close once they are out (or on the timer). */
static void cc_close_after(struct dcc_cc *cc, const char *line, size_t len)
{
    dcc_cc_close_after(cc, line, len);
}

void dcc_cc_close_after(struct dcc_cc *cc, const char *line, size_t len)
{
    if (!cc->bev)
        return;
    bufferevent_write(cc->bev, line, len);
    cc->flush_close = true;          /* input is drained unread from now on */
    dcc_cc_arm(cc, 2);
}

/* ---- wire forms ----------------------------------------------------------- */

static int cc_transfer(struct dcc_cc *cc, bool snd, const char *type, const char *ident, int64_t start,
                       int64_t bytes, bool zl1)
{
    if (cc->proto == DCC_PROTO_NMDC) {
        struct nmdc_transfer t = {.type = (char *)type, .ident = (char *)ident, .start = start, .bytes = bytes,
                                  .zl1 = zl1};
        struct dc_buf b;
        dc_buf_init(&b, 0);
        int rc = nmdc_fmt_transfer(&b, snd, &t);
        if (rc == 0)
            cc_send(cc, &b);
        dc_buf_cleanup(&b);
        return rc;
    }
    char s[24], n[24];
    snprintf(s, sizeof s, "%lld", (long long)start);
    snprintf(n, sizeof n, "%lld", (long long)bytes);
    struct adc_msg m;
    adc_msg_init(&m, 'C', snd ? "SND" : "GET");
    int rc = adc_msg_add_pos(&m, type) | adc_msg_add_pos(&m, ident) | adc_msg_add_pos(&m, s) |
             adc_msg_add_pos(&m, n);
    if (zl1)
        rc |= adc_msg_add_named(&m, "ZL", "1");
    if (rc < 0) {
        adc_msg_cleanup(&m);
        return -1;
    }
    return cc_send_adc(cc, &m);
}

int dcc_cc_send_get(struct dcc_cc *cc, const char *type, const char *ident, int64_t start, int64_t bytes, bool zl1)
{
    cc->state = DCC_CC_WAIT_SND;
    dcc_cc_arm(cc, cc_timeout(cc));
    return cc_transfer(cc, false, type, ident, start, bytes, zl1);
}

int dcc_cc_send_snd(struct dcc_cc *cc, const char *type, const char *ident, int64_t start, int64_t bytes, bool zl1)
{
    return cc_transfer(cc, true, type, ident, start, bytes, zl1);
}

void dcc_cc_send_error(struct dcc_cc *cc, int code, const char *text)
{
    if (cc->proto == DCC_PROTO_NMDC) {
        struct dc_buf b;
        dc_buf_init(&b, 0);
        if (code == 153)
            nmdc_fmt_simple(&b, "$MaxedOut", NULL);
        else
            dc_buf_appendf(&b, "$Error %s|", code == 151 ? "File Not Available" : text);
        cc_send(cc, &b);
        dc_buf_cleanup(&b);
        return;
    }
    char num[8];
    snprintf(num, sizeof num, "%03d", code);
    struct adc_msg m;
    adc_msg_init(&m, 'C', "STA");
    if (adc_msg_add_pos(&m, num) < 0 || adc_msg_add_pos(&m, text) < 0 || cc_send_adc(cc, &m) < 0)
        adc_msg_cleanup(&m);
}

/* ---- data phase ----------------------------------------------------------- */

static int cc_recv_fail(struct dcc_cc *cc, const char *why)
{
    dcc_cc_close(cc, why);
    return -1;
}

static void cc_read_ahead(struct dcc_cc *cc, bool on);

static void cc_recv_end(struct dcc_cc *cc)
{
    cc_read_ahead(cc, false);
    if (cc->rx)
        dctls_rx_bulk(cc->rx, 0);
    cc->state = DCC_CC_IDLE;
    dcc_dl_data_end(cc);
}

/* Inflate p[0..len) straight into the download's space (no staging
 * buffer). The bytes consumed (fewer than len only when the stream ended:
 * the rest is the next message), or -1 if the connection is gone. Output
 * past the announced size is refused: with nothing more wanted, inflate
 * gets a single byte of room, which must stay empty. */
static ssize_t cc_inflate(struct dcc_cc *cc, const uint8_t *p, size_t len)
{
    cc->zs.next_in = (unsigned char *)p;
    cc->zs.avail_in = (uInt)len;
    int zr;
    do {
        uint8_t extra, *to = &extra;
        size_t cap = 1;
        if (cc->want && !(to = dcc_dl_space(cc, &cap)))
            return -1;
        if (cap > cc->want && cc->want)
            cap = (size_t)cc->want;
        cc->zs.next_out = to;
        cc->zs.avail_out = (uInt)cap;
        zr = inflate(&cc->zs, Z_NO_FLUSH);
        size_t out = cap - cc->zs.avail_out;
        if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
            return cc_recv_fail(cc, "corrupt ZLIB data");
        if (out && !cc->want)
            return cc_recv_fail(cc, "ZLIB data inflates to more bytes than announced");
        if (out && dcc_dl_commit(cc, out) < 0)
            return -1;
        cc->want -= out;
    } while (zr == Z_OK && (cc->zs.avail_in || cc->zs.avail_out == 0));
    size_t used = len - cc->zs.avail_in;
    if (zr == Z_STREAM_END) {
        inflateEnd(&cc->zs);
        cc->inflating = false;
        if (cc->want)
            return cc_recv_fail(cc, "ZLIB stream ended before the announced size");
        cc_recv_end(cc);
    }
    return (ssize_t)used;
}

/* Consume data from in; 1 if something happened, 0 if more input is needed,
 * -1 if the connection is gone. */
static int cc_recv(struct dcc_cc *cc, struct evbuffer *in)
{
    size_t avail = evbuffer_get_length(in);
    if (!avail)
        return 0;
    if (!cc->inflating) {
        size_t n = avail < cc->want ? avail : (size_t)cc->want, done = 0;
        struct evbuffer_iovec v[32];
        int k = evbuffer_peek(in, (ssize_t)n, NULL, v, 32);
        for (int i = 0; i < k && i < 32 && done < n; i++) {
            size_t len = v[i].iov_len < n - done ? v[i].iov_len : n - done;
            if (dcc_dl_data(cc, v[i].iov_base, len) < 0)
                return -1;
            done += len;
        }
        evbuffer_drain(in, done);
        cc->want -= done;
        if (cc->want == 0)
            cc_recv_end(cc);
        return 1;
    }
    struct evbuffer_iovec v;
    if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
        return 0;
    ssize_t used = cc_inflate(cc, v.iov_base, v.iov_len);
    if (used < 0)
        return -1;
    evbuffer_drain(in, (size_t)used);
    return used > 0 || !cc->inflating;
}

/* Data phase, input buffer empty: read the socket directly in large chunks
 * (libevent 2.1's evbuffer_read moves at most 4 KiB per call, which would
 * cap a transfer far below the loopback limit). Raw data is read straight
 * into the download's receive slot (dcc_dl_space), no copy; ZLIB data goes through the input buffer, so the bytes
 * after the stream's end stay there for the next message. At most
 * DCC_DIRECT_ROUNDS reads per callback, so one transfer cannot starve the
 * loop; the socket stays readable and we come back. 0, or -1 if closed. */
static int cc_recv_direct(struct dcc_cc *cc, struct evbuffer *in)
{
    if (cc->inflating && !cc->rbuf && !(cc->rbuf = malloc(DCC_RBUF)))
        return cc_recv_fail(cc, "out of memory");
    evutil_socket_t fd = bufferevent_getfd(cc->bev);
    SSL *ssl = cc->tls ? dctls_bev_ssl(cc->bev) : NULL;
    /* Over TLS, bytes OpenSSL or cc->rx already holds (SSL_has_pending,
     * dctls_rx_pending) would not wake the socket up again: keep going while
     * there are some. */
    for (int i = 0; cc->state == DCC_CC_RECV &&
                    (i < DCC_DIRECT_ROUNDS || (ssl && (SSL_has_pending(ssl) || dctls_rx_pending(cc->rx))));
         i++) {
        size_t cap = DCC_RBUF;
        uint8_t *buf = cc->inflating ? cc->rbuf : dcc_dl_space(cc, &cap);
        if (!buf)
            return -1;
        ssize_t n;
        if (ssl) {
            if (cc->rx && !cc->inflating)
                dctls_rx_bulk(cc->rx, cc->want);   /* how far it may read ahead */
            ERR_clear_error();
            errno = 0;
            int r = SSL_read(ssl, buf, (int)cap);
            if (r <= 0) {
                int e = SSL_get_error(ssl, r);
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                    return 0;
                char why[DCTLS_ERR_LEN];
                unsigned long le = ERR_get_error();
                if (le)
                    ERR_error_string_n(le, why, sizeof why);
                return cc_recv_fail(cc, e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && !le && !errno)
                                            ? "closed by the peer"
                                            : le ? why : strerror(errno));
            }
            n = r;
        } else {
            n = read(fd, buf, cap);
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
            if (n <= 0)
                return cc_recv_fail(cc, n == 0 ? "closed by the peer" : strerror(errno));
        }
        if (cc->inflating) {
            ssize_t used = cc_inflate(cc, buf, (size_t)n);
            if (used < 0)
                return -1;
            if (used < n) {   /* the stream ended: the rest is the next message (in is empty) */
                evbuffer_add(in, buf + used, (size_t)(n - used));
                return 0;
            }
            continue;
        }
        if (dcc_dl_commit(cc, (size_t)n) < 0)
            return -1;
        cc->want -= (uint64_t)n;
        if (cc->want == 0)
            cc_recv_end(cc);
    }
    return 0;
}

/* Over TLS a ZLIB data phase reads ahead: OpenSSL then fills its read
 * buffer (DCC_TLS_RBUF, see cc_attach) with one read() instead of two per record
 * (header, body). Only there: elsewhere libevent reads the SSL, and it
 * would not notice whole records waiting in that buffer. Nothing follows
 * the data unasked, so nothing is left behind when it ends. (Raw data goes
 * through cc->rx instead, which knows how much may follow: the compressed
 * size of a ZLIB stream is not known ahead.) */
static void cc_read_ahead(struct dcc_cc *cc, bool on)
{
    SSL *ssl = cc->tls && cc->bev ? dctls_bev_ssl(cc->bev) : NULL;
    if (ssl)
        SSL_set_read_ahead(ssl, on);
}

/* The downloader accepted a SND: switch to the data phase. Data the TTH
 * verifies is inflated without computing zlib's Adler-32 (inflateValidate):
 * that check would only repeat the TTH's, and on stored (incompressible)
 * data it cost more CPU than the inflating itself. */
int dcc_cc_recv_begin(struct dcc_cc *cc, uint64_t bytes, bool zl1, bool tth_verified)
{
    cc->want = bytes;
    if (cc->tls && !zl1 && bytes) {
        /* Raw data over TLS: through cc->rx, one read() per DCC_RBUF. */
        char err[DCTLS_ERR_LEN];
        if ((!cc->rx && !(cc->rx = dctls_rx_begin(dctls_bev_ssl(cc->bev), DCC_RBUF, err))) ||
            dctls_rx_bulk(cc->rx, bytes) < 0)
            return -1;
    } else {
        cc_read_ahead(cc, true);
    }
    if (zl1) {
        memset(&cc->zs, 0, sizeof cc->zs);
        if (inflateInit(&cc->zs) != Z_OK)
            return -1;
        if (tth_verified && inflateValidate(&cc->zs, 0) != Z_OK) {
            inflateEnd(&cc->zs);
            return -1;
        }
        cc->inflating = true;
    } else if (!bytes) {
        cc_recv_end(cc);
        return 0;
    }
    cc->state = DCC_CC_RECV;
    return 0;
}

/* ---- roles ---------------------------------------------------------------- */

static void cc_ready(struct dcc_cc *cc)
{
    SSL *ssl = cc->tls ? dctls_bev_ssl(cc->bev) : NULL;   /* what TLS costs depends on what was agreed */
    dcc_log(cc_client(cc), "client connection with %s ready (%s%s%s%s%s)", cc->nick,
            cc->download ? "downloading" : "uploading", ssl ? ", " : "", ssl ? SSL_get_version(ssl) : "",
            ssl ? " " : "", ssl ? SSL_get_cipher_name(ssl) : "");
    dcc_cc_idle(cc);
    if (cc->download)
        dcc_dl_next(cc);
}

static bool expect_take(struct dcc_xfer *x, const char *token, bool *download, bool *tls)
{
    for (size_t i = 0; i < x->nexpects; i++) {
        if (strcmp(x->expects[i].token, token) == 0) {
            *download = x->expects[i].download;
            if (tls)
                *tls = x->expects[i].tls;
            x->expects[i] = x->expects[--x->nexpects];
            return true;
        }
    }
    return false;
}

static void expect_add(struct dcc_xfer *x, const char *token, bool download, bool tls)
{
    if (x->nexpects == DCC_MAX_EXPECT)   /* forget the oldest */
        memmove(&x->expects[0], &x->expects[1], --x->nexpects * sizeof x->expects[0]);
    struct dcc_expect *e = &x->expects[x->nexpects++];
    snprintf(e->token, sizeof e->token, "%s", token);
    e->download = download;
    e->tls = tls;
}

/* The peer's certificate against the KP its hub INF announced (when it
 * announced one). 0, or -1 with the connection closed. */
static int cc_check_keyprint(struct dcc_cc *cc, const struct dcc_user *u)
{
    char err[DCTLS_ERR_LEN];
    if (!cc->tls || !u || !*u->keyprint)
        return 0;
    if (dctls_bev_check_keyprint(cc->bev, u->keyprint, err) == 0)
        return 0;
    char why[DCTLS_ERR_LEN + 64];
    snprintf(why, sizeof why, "TLS certificate of %s refused: %s", u->nick, err);
    bool download = cc->download && !cc->dl;
    char *nick = strdup(u->nick);   /* u may go with a callback's doings */
    struct dcc_xfer *x = cc->x;
    dcc_cc_close(cc, why);
    if (download && nick && !x->c->doomed)
        dcc_dl_refused(x, nick, why);
    free(nick);
    return -1;
}

/* ---- NMDC ----------------------------------------------------------------- */

static void cc_nmdc_hello(struct dcc_cc *cc)
{
    struct dcc_client *c = cc_client(cc);
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, 0) < 0)
        r = (uint32_t)(uintptr_t)cc;
    char lock[64];
    snprintf(lock, sizeof lock, "EXTENDEDPROTOCOLdcc%08x", r);
    struct dc_buf b;
    dc_buf_init(&b, 0);
    nmdc_fmt_simple(&b, "$MyNick", c->nick);
    nmdc_fmt_lock(&b, lock, "dcclient" DCC_VERSION);
    cc_send(cc, &b);
    dc_buf_cleanup(&b);
    cc->sent_lock = true;
}

static void cc_nmdc_check(struct dcc_cc *cc)
{
    if (cc->state != DCC_CC_HANDSHAKE || !cc->got_lock || !cc->got_key || !cc->got_dir || !cc->nick)
        return;
    bool want = cc->download;   /* what our $Direction said */
    if (want && cc->peer_wants_download)
        want = cc->my_num > cc->peer_num;
    else if (!want && !cc->peer_wants_download)
        want = dcc_dl_wanted(cc->x, cc->nick);   /* it told us Upload: maybe we queued since */
    if (cc->download && cc->peer_wants_download && cc->my_num == cc->peer_num) {
        dcc_cc_close(cc, "both sides want to download with equal $Direction numbers");
        return;
    }
    if (!want && !cc->peer_wants_download) {
        dcc_cc_close(cc, "neither side wants to download");
        return;
    }
    cc->download = want;
    cc_ready(cc);
}

/* The transfer commands from before ADCGet. DC++-family downloaders never
 * send them to a peer that announces ADCGet (as we do): they mark such a
 * peer an old client and do not download from it at all. Only a pre-ADCGet
 * client would, and it gets an $Error at once and the connection closes, as
 * DC++ answers $GetListLen, instead of silence until our idle timeout
 * (docs/control-protocol.md, "Legacy NMDC transfer commands"). True if
 * name was one of them (and the connection is closing). */
static bool cc_nmdc_legacy(struct dcc_cc *cc, const char *name)
{
    static const char *const legacy[] = {"$Get", "$Send", "$GetListLen", "$GetBlock", "$UGetBlock",
                                         "$GetZBlock", "$UGetZBlock"};
    size_t i = 0;
    while (i < sizeof legacy / sizeof legacy[0] && strcmp(name, legacy[i]) != 0)
        i++;
    if (i == sizeof legacy / sizeof legacy[0])
        return false;
    char line[128];
    int n = snprintf(line, sizeof line, "$Error %s|",
                     strcmp(name, "$GetListLen") == 0 ? "GetListLength not supported"
                                                      : "Legacy transfer commands are not supported, use ADCGet");
    dcc_log(cc_client(cc), "client connection with %s: refused the legacy %s", cc->nick ? cc->nick : "?", name);
    cc_close_after(cc, line, (size_t)n);
    return true;
}

static void cc_nmdc_line(struct dcc_cc *cc, char *line, size_t len)
{
    struct dcc_client *c = cc_client(cc);
    struct nmdc_msg m;
    const char *why = NULL;
    if (nmdc_msg_parse(line, len, &m, &why) < 0) {
        if (cc->state == DCC_CC_HANDSHAKE)
            dcc_cc_close(cc, "malformed handshake message");
        else if (!cc->download)
            dcc_cc_send_error(cc, 140, "Invalid request");
        return;
    }
    struct dc_buf b;
    dc_buf_init(&b, 0);
    switch (m.type) {
    case NMDC_MYNICK:
        if (cc->nick)
            break;
        if (!dcc_user_find_nick(c, m.nick)) {
            dcc_cc_close(cc, "$MyNick of a user who is not on the hub");
            break;
        }
        cc->nick = strdup(m.nick);
        if (!cc->sent_lock)
            cc_nmdc_hello(cc);
        break;
    case NMDC_LOCK: {
        if (cc->got_lock)
            break;
        cc->got_lock = true;
        if (!cc->sent_lock)
            cc_nmdc_hello(cc);
        const char *const feats[] = {"MiniSlots", "XmlBZList", "ADCGet", "TTHL", "TTHF", "ZLIG"};
        uint16_t r = 0;
        if (getrandom(&r, sizeof r, 0) < 0)
            r = 1;
        cc->my_num = r & 0x7fff;
        cc->download = cc->nick && dcc_dl_wanted(cc->x, cc->nick);
        if (strncmp(m.lock, "EXTENDEDPROTOCOL", 16) == 0)
            nmdc_fmt_supports(&b, feats, sizeof feats / sizeof feats[0]);
        dc_buf_appendf(&b, "$Direction %s %ld|", cc->download ? "Download" : "Upload", cc->my_num);
        nmdc_fmt_key(&b, m.lock, strlen(m.lock));
        cc_send(cc, &b);
        break;
    }
    case NMDC_SUPPORTS:
        for (size_t i = 0; i < m.nlist; i++) {
            cc->peer_tthl |= strcmp(m.list[i], "TTHL") == 0;
            cc->peer_zlig |= strcmp(m.list[i], "ZLIG") == 0;
        }
        break;
    case NMDC_DIRECTION:
        cc->got_dir = true;
        cc->peer_wants_download = m.text && strcmp(m.text, "Download") == 0;
        cc->peer_num = m.number;
        break;
    case NMDC_KEY:
        cc->got_key = true;   /* like DC++, not checked: it proves nothing */
        break;
    case NMDC_ADCGET:
        if (cc->state == DCC_CC_IDLE && !cc->download)
            dcc_up_get(cc, m.transfer.type, m.transfer.ident, m.transfer.start, m.transfer.bytes, m.transfer.zl1,
                       m.transfer.re1);
        else if (!cc->download)
            dcc_cc_send_error(cc, 140, "Unexpected $ADCGET");
        break;
    case NMDC_ADCSND:
        if (cc->state == DCC_CC_WAIT_SND)
            dcc_dl_on_snd(cc, m.transfer.type, m.transfer.ident, m.transfer.start, m.transfer.bytes, m.transfer.zl1);
        else
            dcc_cc_close(cc, "unexpected $ADCSND");
        break;
    case NMDC_ERROR:
        if (cc->state == DCC_CC_WAIT_SND)
            dcc_dl_on_error(cc, m.text && strcasecmp(m.text, "File Not Available") == 0 ? 151 : 150,
                            m.text ? m.text : "");
        break;
    case NMDC_MAXEDOUT:
        if (cc->state == DCC_CC_WAIT_SND)
            dcc_dl_on_error(cc, 153, "no free upload slots");
        break;
    case NMDC_UNKNOWN:
        cc_nmdc_legacy(cc, m.name);   /* any other unknown command: ignored */
        break;
    default:
        break;   /* irrelevant: ignored */
    }
    dc_buf_cleanup(&b);
    nmdc_msg_cleanup(&m);
    if (!cc->closed && !cc->flush_close)
        cc_nmdc_check(cc);
}

/* ---- ADC ------------------------------------------------------------------ */

static int cc_adc_sup(struct dcc_cc *cc)
{
    struct adc_msg m;
    adc_msg_init(&m, 'C', "SUP");
    if (adc_msg_add_named(&m, "AD", "BASE") | adc_msg_add_named(&m, "AD", "TIGR") |
        adc_msg_add_named(&m, "AD", "BZIP") | adc_msg_add_named(&m, "AD", "ZLIG")) {
        adc_msg_cleanup(&m);
        return -1;
    }
    return cc_send_adc(cc, &m);
}

static int cc_adc_inf(struct dcc_cc *cc)
{
    struct dcc_client *c = cc_client(cc);
    if (dcc_identity(c, NULL) < 0)
        return -1;
    struct adc_msg m;
    adc_msg_init(&m, 'C', "INF");
    int rc = adc_msg_add_named(&m, "ID", c->cid_b32);
    if (cc->outgoing)
        rc |= adc_msg_add_named(&m, "TO", cc->token);
    if (rc < 0) {
        adc_msg_cleanup(&m);
        return -1;
    }
    cc->sent_inf = true;
    return cc_send_adc(cc, &m);
}

static const struct dcc_user *cc_user_by_cid(struct dcc_client *c, const char *cid)
{
    for (size_t i = 0; i < c->users.nbuckets; i++)
        for (const struct dcc_uentry *e = c->users.buckets[i]; e; e = e->next)
            if (strcmp(e->u.cid, cid) == 0 && !e->u.self)
                return &e->u;
    return NULL;
}

static void cc_adc_line(struct dcc_cc *cc, char *line, size_t len)
{
    struct dcc_client *c = cc_client(cc);
    struct adc_msg *m = malloc(sizeof *m);
    const char *why = NULL;
    if (!m) {
        dcc_cc_close(cc, "out of memory");
        return;
    }
    int prc = adc_msg_parse(line, len, m, &why);
    if (prc == 0 && m->type != 'C') {
        adc_msg_cleanup(m);
        why = "not a client-client message";
        prc = -1;
    }
    if (prc < 0) {
        if (cc->state == DCC_CC_HANDSHAKE)
            dcc_cc_close(cc, "malformed handshake message");
        else if (!cc->download)
            dcc_cc_send_error(cc, 140, why ? why : "Invalid request");
        free(m);
        return;
    }
    switch (m->code) {
    case ADC_CMD('S', 'U', 'P'):
        if (cc->got_sup)
            break;
        cc->got_sup = true;
        for (size_t i = 0; i < m->nnamed; i++)
            cc->peer_zlig |= strcmp(m->named[i].code, "AD") == 0 && strcmp(m->named[i].value, "ZLIG") == 0;
        cc->peer_tthl = true;   /* TIGR implies tthl on ADC */
        if ((!cc->outgoing && cc_adc_sup(cc) < 0) || cc_adc_inf(cc) < 0)
            dcc_cc_close(cc, "cannot send our CSUP/CINF");
        break;
    case ADC_CMD('I', 'N', 'F'): {
        if (cc->got_inf)
            break;
        const char *id = adc_msg_get(m, "ID"), *to = adc_msg_get(m, "TO");
        const struct dcc_user *u = id ? cc_user_by_cid(c, id) : NULL;
        if (!u || (cc->nick && strcmp(u->nick, cc->nick) != 0)) {
            dcc_cc_close(cc, "CINF from a CID that is not the expected user on the hub");
            break;
        }
        bool want_tls = false;
        if (!cc->outgoing && (!to || !expect_take(cc->x, to, &cc->download, &want_tls))) {
            cc_close_after(cc, "CSTA 240 Unknown\\stoken\n", 24);
            break;
        }
        if (want_tls && !cc->tls) {
            cc_close_after(cc, "CSTA 241 TLS\\srequired\n", 23);
            break;
        }
        if (!cc->outgoing && cc_check_keyprint(cc, u) < 0)
            break;
        if (!cc->nick)
            cc->nick = strdup(u->nick);
        cc->got_inf = true;
        break;
    }
    case ADC_CMD('S', 'T', 'A'): {
        int sev = 0, code = 0;
        adc_sta_split(m->pos[0], &sev, &code);
        if (sev == 0)
            break;              /* DC++'s CSTA 000 with RF, and other notes */
        if (cc->state == DCC_CC_WAIT_SND)
            dcc_dl_on_error(cc, sev * 100 + code, m->pos[1]);
        if (sev == ADC_STA_SEV_FATAL && !cc->closed)
            dcc_cc_close(cc, *m->pos[1] ? m->pos[1] : "fatal status from the peer");
        break;
    }
    case ADC_CMD('G', 'E', 'T'):
        if (cc->state == DCC_CC_IDLE && !cc->download)
            dcc_up_get(cc, m->pos[0], m->pos[1], strtoll(m->pos[2], NULL, 10), strtoll(m->pos[3], NULL, 10),
                       adc_msg_get(m, "ZL") != NULL, adc_msg_get(m, "RE") != NULL);
        else if (!cc->download)
            dcc_cc_send_error(cc, 144, "Unexpected GET");
        break;
    case ADC_CMD('S', 'N', 'D'):
        if (cc->state == DCC_CC_WAIT_SND)
            dcc_dl_on_snd(cc, m->pos[0], m->pos[1], strtoll(m->pos[2], NULL, 10), strtoll(m->pos[3], NULL, 10),
                          adc_msg_get(m, "ZL") != NULL);
        else
            dcc_cc_close(cc, "unexpected CSND");
        break;
    default:
        break;
    }
    adc_msg_cleanup(m);
    free(m);
    if (!cc->closed && cc->state == DCC_CC_HANDSHAKE && cc->got_sup && cc->got_inf && cc->sent_inf)
        cc_ready(cc);
}

/* ---- socket callbacks ------------------------------------------------------ */

static void cc_read_cb(struct bufferevent *bev, void *arg)
{
    struct dcc_cc *cc = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char delim = cc->proto == DCC_PROTO_NMDC ? '|' : '\n';
    char line[DCC_CC_MAX_LINE + 1];
    cc_enter(cc);
    if (cc->flush_close)   /* unread input would turn our close into a reset */
        evbuffer_drain(in, evbuffer_get_length(in));
    while (!cc->closed && !cc->flush_close && !cc_client(cc)->doomed) {
        if (cc->state == DCC_CC_RECV) {
            dcc_cc_arm(cc, cc_timeout(cc));
            if (evbuffer_get_length(in) == 0) {
                if (cc_recv_direct(cc, in) < 0 || cc->state == DCC_CC_RECV)
                    break;
                continue;
            }
            if (cc_recv(cc, in) <= 0)
                break;
            continue;
        }
        if (cc->state == DCC_CC_SEND_Z || cc->state == DCC_CC_CONNECTING)
            break;   /* requests wait until the compressed upload is out */
        /* One line out of `in`; what follows it stays there, for the data
         * phase a line may start (a transfer's first bytes can share its read). */
        size_t len;
        enum dc_line r = dc_lines_ev_next(in, delim, DCC_CC_MAX_LINE, line, &len);
        if (r == DC_LINE_TOO_LONG) {
            cc->fatal = "the peer sent a message longer than " CC_STR(DCC_CC_MAX_LINE) " bytes";
            if (cc->proto == DCC_PROTO_NMDC)
                cc_close_after(cc, "$Error Message too long|", 24);
            else
                cc_close_after(cc, "CSTA 240 Message\\stoo\\slong\n", 28);
            evbuffer_drain(in, evbuffer_get_length(in));
            break;
        }
        if (r == DC_LINE_MORE)
            break;
        if (len == 0)
            continue;     /* keep-alive */
        if (cc->proto == DCC_PROTO_NMDC)
            cc_nmdc_line(cc, line, len);
        else
            cc_adc_line(cc, line, len);
    }
    cc_leave(cc);
}

static void cc_write_cb(struct bufferevent *bev, void *arg)
{
    struct dcc_cc *cc = arg;
    cc_enter(cc);
    if (cc->state == DCC_CC_SEND_Z) {
        dcc_up_more(cc);
        if (!cc->closed && cc->state != DCC_CC_SEND_Z)
            cc_read_cb(bev, cc);   /* requests that waited */
    } else if (cc->flush_close && evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
        /* Half-close and drain until the peer's EOF (or the timer): closing
         * with unread input would reset and could destroy our last words. */
        shutdown(bufferevent_getfd(bev), SHUT_WR);
    }
    cc_leave(cc);
}

static void cc_bulk_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct dcc_cc *cc = arg;
    cc_write_cb(cc->bev, cc);
}

int dcc_cc_bulk_watch(struct dcc_cc *cc)
{
    cc->up_wev = event_new(cc_client(cc)->base, bufferevent_getfd(cc->bev), EV_WRITE | EV_PERSIST, cc_bulk_cb, cc);
    return cc->up_wev && event_add(cc->up_wev, NULL) == 0 ? 0 : -1;
}

static void cc_start_handshake(struct dcc_cc *cc)
{
    cc->state = DCC_CC_HANDSHAKE;
    dcc_cc_arm(cc, cc_timeout(cc));
    if (!cc->outgoing)
        return;   /* the connecting side speaks first in both protocols */
    if (cc->proto == DCC_PROTO_NMDC)
        cc_nmdc_hello(cc);
    else if (cc_adc_sup(cc) < 0)
        dcc_cc_close(cc, "cannot send CSUP");
}

static void cc_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct dcc_cc *cc = arg;
    cc_enter(cc);
    if (what & BEV_EVENT_CONNECTED) {
        int one = 1;
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        /* TLS: the handshake is done. We connected, so we know whom to
         * expect; an incoming peer is checked once its CINF names it. */
        if (!cc->outgoing || !cc->nick || cc_check_keyprint(cc, dcc_user_find_nick(cc_client(cc), cc->nick)) == 0)
            cc_start_handshake(cc);
    } else if (what & BEV_EVENT_EOF) {
        cc_read_cb(bev, cc);   /* what came before the EOF still counts */
        dcc_cc_close(cc, cc->tls && cc->state == DCC_CC_CONNECTING ? "closed by the peer during the TLS handshake"
                                                                    : "closed by the peer");
    } else if (what & BEV_EVENT_ERROR) {
        char why[DCTLS_ERR_LEN + 64], tlswhy[DCTLS_ERR_LEN];
        unsigned long sslerr = cc->tls ? bufferevent_get_openssl_error(bev) : 0;
        if (sslerr) {
            ERR_error_string_n(sslerr, tlswhy, sizeof tlswhy);
            snprintf(why, sizeof why, "TLS %s: %s", cc->state == DCC_CC_CONNECTING ? "handshake failed" : "error",
                     tlswhy);
        } else {
            snprintf(why, sizeof why, "%s: %s", cc->state == DCC_CC_CONNECTING ? "cannot connect" : "connection error",
                     evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        }
        dcc_cc_close(cc, why);
    }
    cc_leave(cc);
}

static void cc_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct dcc_cc *cc = arg;
    cc_enter(cc);
    if (cc->flush_close)
        dcc_cc_close(cc, "closed after a fatal error");
    else switch (cc->state) {
    case DCC_CC_IDLE: dcc_cc_close(cc, "idle"); break;
    case DCC_CC_HANDSHAKE: dcc_cc_close(cc, "handshake timed out"); break;
    case DCC_CC_CONNECTING:
        dcc_cc_close(cc, cc->sniff ? "nothing received on an incoming connection"
                         : cc->tls ? "connect or TLS handshake timed out" : "connect timed out");
        break;
    default: dcc_cc_close(cc, "transfer stalled (no data within transfer_timeout)"); break;
    }
    cc_leave(cc);
}

/* Give cc its bufferevent over fd (-1: connect later): plain, or TLS in
 * role. 0, or -1 (fd closed, cc not). */
static int cc_attach(struct dcc_cc *cc, evutil_socket_t fd, bool tls, enum dctls_role role)
{
    struct dcc_client *c = cc_client(cc);
    char err[DCTLS_ERR_LEN];
    cc->tls = tls;
    if (tls)
        cc->bev = dctls_bev_wrap_fd(c->base, fd, role == DCTLS_CONNECT ? c->tls_client : c->tls_server, role,
                                    BEV_OPT_CLOSE_ON_FREE, err);
    else
        cc->bev = bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!cc->bev) {
        if (fd >= 0)
            close(fd);
        dcc_log(c, "cannot set up a client connection%s%s", tls ? ": " : "", tls ? err : "");
        return -1;
    }
    if (tls)   /* before the handshake allocates it: read-ahead fills it (cc_read_ahead) */
        SSL_set_default_read_buffer_len(dctls_bev_ssl(cc->bev), DCC_TLS_RBUF);
    /* Large single reads/writes: sendfile and the receiver move big chunks. */
    bufferevent_set_max_single_read(cc->bev, 1024 * 1024);
    bufferevent_set_max_single_write(cc->bev, 16 * 1024 * 1024);
    bufferevent_setwatermark(cc->bev, EV_READ, 0, DCC_CC_READ_MAX);
    bufferevent_setcb(cc->bev, cc_read_cb, cc_write_cb, cc_event_cb, cc);
    bufferevent_enable(cc->bev, EV_READ | EV_WRITE);
    return 0;
}

static struct dcc_cc *cc_new(struct dcc_xfer *x, enum dcc_proto proto, bool outgoing)
{
    struct dcc_cc *cc = calloc(1, sizeof *cc);
    if (!cc)
        return NULL;
    cc->x = x;
    cc->proto = proto;
    cc->outgoing = outgoing;
    cc->up_fd = -1;
    cc->upf_stop = cc->upf_corrupt = -1;
    cc->sniff_fd = -1;
    cc->timer = evtimer_new(x->c->base, cc_timer_cb, cc);
    if (!cc->timer) {
        cc_destroy(cc);
        return NULL;
    }
    cc->next = x->ccs;
    x->ccs = cc;
    return cc;
}

static void cc_connect(struct dcc_xfer *x, enum dcc_proto proto, const char *host, uint16_t port,
                       const char *token, const char *nick, bool download, bool tls)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
        dcc_log(x->c, "not connecting to '%s': not an IPv4 address", host);
        return;
    }
    if (tls && dcc_tls_ready(x->c, NULL) < 0) {
        dcc_log(x->c, "not connecting to '%s': no TLS identity", host);
        return;
    }
    struct dcc_cc *cc = cc_new(x, proto, true);
    if (!cc)
        return;
    if (cc_attach(cc, -1, tls, DCTLS_CONNECT) < 0) {
        dcc_cc_close(cc, "cannot set up the connection");
        return;
    }
    snprintf(cc->token, sizeof cc->token, "%s", token);
    cc->download = download;
    cc->nick = nick ? strdup(nick) : NULL;
    cc->state = DCC_CC_CONNECTING;
    dcc_cc_arm(cc, cc_timeout(cc));
    if (bufferevent_socket_connect(cc->bev, (struct sockaddr *)&sin, sizeof sin) < 0)
        dcc_cc_close(cc, "cannot connect");
}

/* An incoming connection's first byte arrived (or it closed). */
static void cc_sniff_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct dcc_cc *cc = arg;
    unsigned char b;
    cc_enter(cc);
    ssize_t n = recv(fd, &b, 1, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        event_add(cc->sniff, NULL);
    } else if (n <= 0) {
        dcc_cc_close(cc, n == 0 ? "closed by the peer before speaking" : strerror(errno));
    } else {
        event_free(cc->sniff);
        cc->sniff = NULL;
        cc->sniff_fd = -1;
        bool tls = b == 0x16;   /* TLS record type "handshake": a ClientHello */
        if (cc_attach(cc, fd, tls, DCTLS_ACCEPT) < 0)
            dcc_cc_close(cc, "cannot set up the connection");
        else if (!tls)
            cc_start_handshake(cc);
        /* TLS: BEV_EVENT_CONNECTED after the handshake starts ours. */
    }
    cc_leave(cc);
}

static void cc_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len, void *arg)
{
    (void)l;
    (void)sa;
    (void)len;
    struct dcc_xfer *x = arg;
    if (!x->c->ops)
        return (void)close(fd);
    struct dcc_cc *cc = cc_new(x, x->c->ops == &dcc_adc_ops ? DCC_PROTO_ADC : DCC_PROTO_NMDC, false);
    if (!cc)
        return (void)close(fd);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (!x->c->cc_tls || dcc_tls_ready(x->c, NULL) < 0) {
        if (cc_attach(cc, fd, false, DCTLS_ACCEPT) < 0)
            dcc_cc_close(cc, "cannot set up the connection");
        else
            cc_start_handshake(cc);
        return;
    }
    /* TLS or not: the connecting side speaks first; its first byte says. */
    cc->sniff_fd = fd;
    cc->state = DCC_CC_CONNECTING;
    if (!(cc->sniff = event_new(x->c->base, fd, EV_READ, cc_sniff_cb, cc)) || event_add(cc->sniff, NULL) < 0) {
        dcc_cc_close(cc, "out of memory");
        return;
    }
    dcc_cc_arm(cc, cc_timeout(cc));
}

void dcc_cc_adopt(struct dcc_client *c, evutil_socket_t fd)
{
    evutil_make_socket_nonblocking(fd);
    cc_accept_cb(NULL, fd, NULL, 0, c->xfer);
}

/* ---- requests from and to the hub --------------------------------------- */

void dcc_xfer_hub_up(struct dcc_client *c)
{
    struct dcc_xfer *x = c->xfer;
    if (x->listener || !dcc_sget_bool(c->settings, DCC_S_ACTIVE))
        return;
    struct sockaddr_in sin;
    socklen_t sl = sizeof sin;
    if (getsockname(bufferevent_getfd(c->bev), (struct sockaddr *)&sin, &sl) < 0 || sin.sin_family != AF_INET) {
        dcc_log(c, "not listening for client connections: the hub connection is not IPv4");
        return;
    }
    sin.sin_port = 0;
    x->listener = evconnlistener_new_bind(c->base, cc_accept_cb, x, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16,
                                          (struct sockaddr *)&sin, sizeof sin);
    if (!x->listener) {
        dcc_log(c, "cannot listen for client connections: %s", strerror(errno));
        return;
    }
    sl = sizeof sin;
    getsockname(evconnlistener_get_fd(x->listener), (struct sockaddr *)&sin, &sl);
    inet_ntop(AF_INET, &sin.sin_addr, x->ip, sizeof x->ip);
    x->port = ntohs(sin.sin_port);
}

int dcc_xfer_port(const struct dcc_client *c)
{
    return c->xfer->listener ? c->xfer->port : 0;
}

static int cc_hub_send(struct dcc_client *c, struct dc_buf *b)
{
    int rc = dcc_send(c, b->data, b->len);
    dc_buf_cleanup(b);
    return rc;
}

/* Protocol names in CTM/RCM (notes §3.10, pitfall 16): we send what
 * DC++-family clients understand, and accept the ADC-EXT name as well. */
#define CC_ADC_PLAIN "ADC/1.0"
#define CC_ADC_TLS "ADCS/0.10"

static bool cc_adc_proto_tls(const char *proto)
{
    return strcmp(proto, CC_ADC_TLS) == 0 || strcmp(proto, "ADCS/1.0") == 0;
}

static int cc_adc_hub(struct dcc_client *c, const char *cmd, const struct dcc_user *u, const char *proto,
                      const char *port, const char *token)
{
    struct adc_msg m;
    struct dc_buf b;
    dc_buf_init(&b, 0);
    adc_msg_init(&m, 'D', cmd);
    int rc = adc_msg_set_sids(&m, c->sid, u->sid) | adc_msg_add_pos(&m, proto);
    if (port)
        rc |= adc_msg_add_pos(&m, port);
    rc |= adc_msg_add_pos(&m, token);
    rc |= rc ? -1 : adc_msg_format(&m, &b);
    adc_msg_cleanup(&m);
    return rc < 0 ? (dc_buf_cleanup(&b), -1) : cc_hub_send(c, &b);
}

void dcc_cc_nmdc_ctm(struct dcc_client *c, const char *host, uint16_t port, bool tls)
{
    cc_connect(c->xfer, DCC_PROTO_NMDC, host, port, "", NULL, false, tls);
}

void dcc_cc_nmdc_rcm(struct dcc_client *c, const char *from)
{
    struct dc_buf b;
    if (!dcc_xfer_port(c)) {
        dcc_log(c, "ignoring $RevConnectToMe from %s: we are passive too", from);
        return;
    }
    const struct dcc_user *u = dcc_user_find_nick(c, from);
    bool tls = c->cc_tls && u && u->tls;
    dc_buf_init(&b, 0);
    if (nmdc_fmt_ctm(&b, from, c->xfer->ip, (uint16_t)c->xfer->port, tls) == 0)
        cc_hub_send(c, &b);
    dc_buf_cleanup(&b);
}

void dcc_cc_adc_ctm(struct dcc_client *c, const struct dcc_user *u, const char *proto, uint16_t port,
                    const char *token)
{
    bool tls = cc_adc_proto_tls(proto);
    if ((!tls && strcmp(proto, CC_ADC_PLAIN) != 0) || (tls && !c->cc_tls)) {
        dcc_log(c, "refusing a CTM from %s for protocol %s%s", u->nick, proto,
                tls ? " (TLS client connections are off)" : "");
        return;
    }
    bool download = false;
    expect_take(c->xfer, token, &download, NULL);
    cc_connect(c->xfer, DCC_PROTO_ADC, u->ip, port, token, u->nick, download, tls);
}

void dcc_cc_adc_rcm(struct dcc_client *c, const struct dcc_user *u, const char *proto, const char *token)
{
    char port[8];
    bool tls = cc_adc_proto_tls(proto);
    if (!dcc_xfer_port(c) || (!tls && strcmp(proto, CC_ADC_PLAIN) != 0) || (tls && !c->cc_tls)) {
        dcc_log(c, "ignoring an RCM from %s (%s)", u->nick,
                !dcc_xfer_port(c) ? "we are passive too"
                : tls             ? "TLS client connections are off"
                                  : "protocol unknown");
        return;
    }
    snprintf(port, sizeof port, "%d", c->xfer->port);
    expect_add(c->xfer, token, false, tls);
    cc_adc_hub(c, "CTM", u, proto, port, token);   /* the RCM's protocol, copied */
}

int dcc_cc_request(struct dcc_xfer *x, const char *nick, char *err)
{
    struct dcc_client *c = x->c;
    const struct dcc_user *u = dcc_user_find_nick(c, nick);
    if (c->state != DCC_STATE_ONLINE || !u)
        return dcc_errc(err, "not-online", "user '%s' is not online", nick);
    bool active = dcc_xfer_port(c) != 0;
    if (!active && !u->active)
        return dcc_errc(err, "connect-failed", "cannot connect to '%s': both of us are passive", nick);
    char token[32], port[8];
    snprintf(token, sizeof token, "dcc%u", ++x->seq);
    snprintf(port, sizeof port, "%d", x->port);
    struct dc_buf b;
    dc_buf_init(&b, 0);
    int rc;
    bool tls = c->cc_tls && u->tls;   /* both sides announce TLS */
    if (c->ops == &dcc_nmdc_ops) {
        rc = active ? nmdc_fmt_ctm(&b, nick, x->ip, (uint16_t)x->port, tls) : nmdc_fmt_rcm(&b, c->nick, nick);
        rc = rc < 0 ? rc : cc_hub_send(c, &b);
    } else {
        expect_add(x, token, true, tls);
        rc = cc_adc_hub(c, active ? "CTM" : "RCM", u, tls ? CC_ADC_TLS : CC_ADC_PLAIN, active ? port : NULL, token);
    }
    dc_buf_cleanup(&b);
    return rc < 0 ? dcc_err(err, "cannot send the connection request to the hub") : 0;
}

struct dcc_cc *dcc_cc_find(struct dcc_xfer *x, const char *nick, bool download)
{
    for (struct dcc_cc *cc = x->ccs; cc; cc = cc->next)
        if (!cc->closed && cc->nick && strcmp(cc->nick, nick) == 0 &&
            (cc->state == DCC_CC_HANDSHAKE || cc->download == download))
            return cc;
    return NULL;
}

struct dcc_xfer *dcc_xfer_new(struct dcc_client *c)
{
    struct dcc_xfer *x = calloc(1, sizeof *x);
    if (x)
        x->c = c;
    return x;
}

void dcc_xfer_free(struct dcc_xfer *x)
{
    if (!x)
        return;
    while (x->ccs) {
        struct dcc_cc *cc = x->ccs;
        cc->dl = NULL;          /* downloads go with dcc_dl_free_all, no events */
        cc->closed = true;
        if (cc->holds_slot)
            x->slots_used--;
        cc_destroy(cc);
    }
    dcc_dl_free_all(x);
    if (x->listener)
        evconnlistener_free(x->listener);
    free(x);
}
