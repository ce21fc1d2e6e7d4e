/* dctls_bulk.c: BIOs in front of a TLS connection's socket BIO for the data
 * phase of a transfer (see dctls.h). Both exist to cut system calls: left
 * alone, OpenSSL writes one 16 KiB record per write() and, reading, either
 * makes two read()s per record (header, body) or, with read-ahead, memmoves
 * the rest of its read buffer before every record. Everything a BIO needs
 * lives in the struct handed out; no statics but functions.
 */
#include "tls/dctls.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>

/* TLS caps a record's plaintext at 2^14 bytes and puts a 5-byte header in
 * front of every record. */
#define DCTLS_REC_PLAIN 16384u
#define DCTLS_REC_HEADER 5u

/* ---- sending -------------------------------------------------------------- */

/* Owns the BIO method and buf; holds one reference to the socket BIO it
 * replaced. buf[off..len) is encrypted and not yet written. */
struct dctls_bulk {
    BIO_METHOD *meth;
    BIO *old;
    unsigned char *buf;
    size_t cap, off, len;
};

/* A record's bytes besides its plaintext, at most, for the ciphers we let
 * OpenSSL negotiate (AEAD: header, tag, TLS 1.3's type byte; CBC: IV, MAC,
 * padding), with room to spare. */
#define DCTLS_REC_EXTRA 320u

static int dctls_bulk_write(BIO *bio, const char *data, int len)
{
    struct dctls_bulk *b = BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    if ((size_t)len > b->cap - b->len)
        return -1;   /* more than dctls_bulk_room promised: a failed SSL_write, not a wait */
    memcpy(b->buf + b->len, data, (size_t)len);
    b->len += (size_t)len;
    return len;
}

/* Everything but a flush goes to the socket BIO: libevent asks it for the
 * fd, even while we are in front. */
static long dctls_bulk_ctrl(BIO *bio, int cmd, long larg, void *parg)
{
    struct dctls_bulk *b = BIO_get_data(bio);
    return cmd == BIO_CTRL_FLUSH ? 1 : BIO_ctrl(b->old, cmd, larg, parg);
}

struct dctls_bulk *dctls_bulk_begin(SSL *ssl, size_t cap, char *err)
{
    struct dctls_bulk *b = calloc(1, sizeof *b);
    BIO *bio = NULL;
    if (!b || !(b->buf = malloc(cap)) ||
        !(b->meth = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "dctls bulk")) ||
        BIO_meth_set_write(b->meth, dctls_bulk_write) != 1 || BIO_meth_set_ctrl(b->meth, dctls_bulk_ctrl) != 1 ||
        !(bio = BIO_new(b->meth)) || !(b->old = SSL_get_wbio(ssl)) || BIO_up_ref(b->old) != 1) {
        if (err)
            snprintf(err, DCTLS_ERR_LEN, "cannot set up bulk sending");
        ERR_clear_error();
        BIO_free(bio);
        if (b) {
            BIO_meth_free(b->meth);
            free(b->buf);
        }
        free(b);
        return NULL;
    }
    b->cap = cap;
    BIO_set_data(bio, b);
    BIO_set_init(bio, 1);
    SSL_set0_wbio(ssl, bio);   /* drops the SSL's reference to old, not ours */
    return b;
}

size_t dctls_bulk_room(const struct dctls_bulk *b)
{
    size_t per = DCTLS_REC_PLAIN + DCTLS_REC_EXTRA;
    return (b->cap - b->len) / per * DCTLS_REC_PLAIN;
}

size_t dctls_bulk_queued(const struct dctls_bulk *b)
{
    return b->len - b->off;
}

ssize_t dctls_bulk_send(struct dctls_bulk *b, int fd)
{
    ssize_t w = write(fd, b->buf + b->off, b->len - b->off);
    if (w > 0 && (b->off += (size_t)w) == b->len)
        b->off = b->len = 0;   /* drained: the whole buffer is room again */
    return w;
}

void dctls_bulk_end(struct dctls_bulk *b, SSL *ssl)
{
    if (!b)
        return;
    if (ssl)
        SSL_set0_wbio(ssl, b->old);   /* frees our BIO; our reference goes back to the SSL */
    else
        BIO_free(b->old);             /* SSL_free took our BIO already */
    BIO_meth_free(b->meth);
    free(b->buf);
    free(b);
}

/* ---- receiving ------------------------------------------------------------ */

/* Owns the BIO method and buf; holds one reference to the socket BIO it
 * stands in front of. buf[off..len) is read from the socket but not yet
 * handed to OpenSSL. */
struct dctls_rx {
    BIO_METHOD *meth;
    BIO *old;
    int fd;
    unsigned char *buf;   /* NULL while not in bulk mode and drained */
    size_t cap, off, len;
    uint64_t left;        /* plaintext still expected in bulk mode; 0: pass-through */
    bool eof;
};

/* How many bytes one read() may take when OpenSSL asks for n. Without
 * read-ahead OpenSSL asks for exactly what completes the current record's
 * header or body, so n is always safe to read. Beyond it: at most what the
 * records after the current one must bring. They carry at least left -
 * 2^14 bytes of plaintext (the current record carries at most 2^14) in
 * records of at most 2^14, each with a header. So nothing past the last
 * record of the data phase is ever read here, whatever the peer's record
 * sizes: no leftover to hand back when the phase ends. */
static size_t dctls_rx_want(const struct dctls_rx *r, size_t n)
{
    if (!r->left || !r->buf)
        return n;
    uint64_t later = r->left > DCTLS_REC_PLAIN ? r->left - DCTLS_REC_PLAIN : 0;
    later += (later + DCTLS_REC_PLAIN - 1) / DCTLS_REC_PLAIN * DCTLS_REC_HEADER;
    return later >= r->cap - n ? r->cap : n + (size_t)later;
}

static int dctls_rx_read(BIO *bio, char *out, int outl)
{
    struct dctls_rx *r = BIO_get_data(bio);
    size_t n = (size_t)outl;
    BIO_clear_retry_flags(bio);
    if (r->off == r->len) {
        size_t want = dctls_rx_want(r, n);
        /* Pass-through, or no more than asked for: straight into OpenSSL's
         * buffer, no copy. */
        ssize_t k = read(r->fd, want > n ? r->buf : (unsigned char *)out, want > n ? want : n);
        if (k <= 0) {
            if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                BIO_set_retry_read(bio);
            else if (k == 0)
                r->eof = true;
            return (int)k;
        }
        if (want <= n)
            return (int)k;
        r->off = 0;
        r->len = (size_t)k;
    }
    if (n > r->len - r->off)
        n = r->len - r->off;
    memcpy(out, r->buf + r->off, n);
    r->off += n;
    return (int)n;
}

/* Our own EOF and pending (OpenSSL asks BIO_eof after a read of 0 to tell
 * a peer's close from a failure); everything else goes to the socket BIO
 * (libevent asks it for the fd). No writes pass here: this is the read
 * BIO only. */
static long dctls_rx_ctrl(BIO *bio, int cmd, long larg, void *parg)
{
    struct dctls_rx *r = BIO_get_data(bio);
    switch (cmd) {
    case BIO_CTRL_EOF:
        return r->eof && r->off == r->len;
    case BIO_CTRL_PENDING:
        return (long)(r->len - r->off);
    case BIO_CTRL_FLUSH:
        return 1;
    default:
        return BIO_ctrl(r->old, cmd, larg, parg);
    }
}

struct dctls_rx *dctls_rx_begin(SSL *ssl, size_t cap, char *err)
{
    struct dctls_rx *r = calloc(1, sizeof *r);
    BIO *bio = NULL;
    if (!r || cap < 2 * (DCTLS_REC_PLAIN + 512) ||
        !(r->meth = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "dctls rx")) ||
        BIO_meth_set_read(r->meth, dctls_rx_read) != 1 || BIO_meth_set_ctrl(r->meth, dctls_rx_ctrl) != 1 ||
        !(bio = BIO_new(r->meth)) || !(r->old = SSL_get_rbio(ssl)) || BIO_get_fd(r->old, &r->fd) < 0 ||
        BIO_up_ref(r->old) != 1) {
        if (err)
            snprintf(err, DCTLS_ERR_LEN, "cannot set up bulk receiving");
        ERR_clear_error();
        BIO_free(bio);
        if (r)
            BIO_meth_free(r->meth);
        free(r);
        return NULL;
    }
    r->cap = cap;
    BIO_set_data(bio, r);
    BIO_set_init(bio, 1);
    SSL_set0_rbio(ssl, bio);   /* drops the SSL's reference to old (still its wbio), not ours */
    /* Read-ahead would have OpenSSL ask for as much as its own buffer
     * holds, and memmove that buffer's rest before each record. */
    SSL_set_read_ahead(ssl, 0);
    return r;
}

int dctls_rx_bulk(struct dctls_rx *r, uint64_t plaintext_left)
{
    r->left = plaintext_left;
    if (plaintext_left && !r->buf && !(r->buf = malloc(r->cap)))
        return -1;
    if (!plaintext_left && r->buf && r->off == r->len) {
        free(r->buf);   /* idle connections keep no big buffer */
        r->buf = NULL;
        r->off = r->len = 0;
    }
    return 0;
}

size_t dctls_rx_pending(const struct dctls_rx *r)
{
    return r ? r->len - r->off : 0;
}

void dctls_rx_end(struct dctls_rx *r, SSL *ssl)
{
    if (!r)
        return;
    if (ssl)
        SSL_set0_rbio(ssl, r->old);   /* frees our BIO; our reference goes back to the SSL */
    else
        BIO_free(r->old);
    BIO_meth_free(r->meth);
    free(r->buf);
    free(r);
}
