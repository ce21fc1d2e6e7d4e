/* upload.c: answering GET / $ADCGET from our share (protocol notes §2.11,
 * §3.12): files by TTH or by virtual path, files.xml.bz2 / files.xml,
 * partial lists (type list, RE1), TTH leaves (type tthl), byte ranges.
 *
 * Unknown identifiers, anything outside the share (".." and friends never
 * match: share.c refuses them, and opens re-check confinement) and ranges
 * past the end get "file not available" (151); a negative start or a byte
 * count below -1 is a protocol error (140); a full set of slots gets "slots
 * full" (153) unless the item fits a mini slot (lists, tthl, files up to
 * 64 KiB). The connection survives all of these.
 *
 * Plain file data is queued as an evbuffer file segment, which libevent
 * writes with sendfile(); with ZL1 the file is deflated in chunks as the
 * output drains (state DCC_CC_SEND_Z), so memory stays bounded, or, when
 * it does not shrink, goes out in stored blocks whose payload is again a
 * file segment (up_store). Over TLS
 * there is no sendfile (the bytes go through SSL_write): the file is read
 * in chunks the same way and encrypted into a buffer of records that goes
 * out in large writes (up_more_tls).
 */
#include "client/xfer.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <libdeflate.h>

#include "proto/base32.h"
#include "tls/dctls.h"

#define UP_IN (256 * 1024)            /* file bytes read (and deflated) per step */
#define UP_BLOCK 65535                /* a stored block's most payload (its LEN is 16 bits) */
#define UP_STORED_STEP (4 * UP_BLOCK) /* file bytes per step while storing: whole blocks, <= UP_IN */
#define UP_Z_ROUNDS 64               /* ZL1 without TLS: writes per callback */
#define UP_OUT_MAX (4 * 1024 * 1024)  /* bytes queued at most (deflated, or raw over TLS) */
#define UP_TLS_ROUNDS 16             /* TLS: writes per callback, so one upload cannot starve the loop */
#define UP_PROBE (32 * 1024)          /* bytes deflated at level 1 to measure the gain */
#define UP_PROBE_EVERY (16 * 1024 * 1024)   /* stored bytes between two probes */
#define UP_SNIFF_EVERY (1024 * 1024)  /* stored bytes between two entropy estimates */
#define UP_SNIFF (16 * 1024)          /* bytes the estimate looks at */
#define UP_SNIFF_BITS 7.0             /* bits per byte below which a probe runs early */

void dcc_up_cleanup(struct dcc_cc *cc)
{
    if (cc->up_bulk)
        dctls_bulk_end(cc->up_bulk, cc->bev ? dctls_bev_ssl(cc->bev) : NULL);
    cc->up_bulk = NULL;
    if (cc->up_wev)
        event_free(cc->up_wev);
    cc->up_wev = NULL;
    if (cc->up_out)
        evbuffer_free(cc->up_out);
    cc->up_out = NULL;
    if (cc->up_seg)
        evbuffer_file_segment_free(cc->up_seg);   /* chains still queued hold their own references */
    cc->up_seg = NULL;
    if (cc->up_fd >= 0) {
        close(cc->up_fd);
        if (cc->up_z)
            deflateEnd(&cc->dz);
        cc->up_fd = -1;
        if (cc->bev)
            bufferevent_setwatermark(cc->bev, EV_WRITE, 0, 0);
    }
}

/* TLS, uncompressed: no sendfile through SSL. Once the SND is out, the
 * file is read in chunks and SSL_write'd here, its records collected in
 * up_bulk's buffer (UP_OUT_MAX) and written from there in one write() as
 * the socket takes them (up_wev): one write() per 16 KiB record, as
 * through the bufferevent, cost more CPU than the encryption. The buffer
 * is refilled once drained, in the same round, so the socket never waits
 * for a refill. */
static void up_more_tls(struct dcc_cc *cc)
{
    if (!cc->up_bulk) {
        char err[DCTLS_ERR_LEN];
        if (evbuffer_get_length(bufferevent_get_output(cc->bev)))
            return;   /* the SND (and anything before it) first: the bufferevent's write callback is back */
        if (!(cc->up_bulk = dctls_bulk_begin(dctls_bev_ssl(cc->bev), UP_OUT_MAX, err)) ||
            dcc_cc_bulk_watch(cc) < 0) {
            dcc_cc_close(cc, "cannot start a TLS upload");
            return;
        }
    }
    SSL *ssl = dctls_bev_ssl(cc->bev);
    evutil_socket_t fd = bufferevent_getfd(cc->bev);
    for (int round = 0; round < UP_TLS_ROUNDS; round++) {
        size_t room;
        while (cc->up_left && (room = dctls_bulk_room(cc->up_bulk)) > 0) {
            size_t want = cc->up_left < UP_IN ? (size_t)cc->up_left : UP_IN;
            if (want > room)
                want = room;
            ssize_t n = read(cc->up_fd, cc->zbuf, want);
            if (n <= 0) {
                dcc_cc_close(cc, "shared file could not be read while uploading");
                return;
            }
            cc->up_left -= (uint64_t)n;
            for (ssize_t done = 0; done < n;) {   /* the bulk BIO never blocks: only errors stop it */
                int r = SSL_write(ssl, cc->zbuf + done, (int)(n - done));
                if (r <= 0) {
                    dcc_cc_close(cc, "TLS error while uploading");
                    return;
                }
                done += r;
            }
        }
        if (!dctls_bulk_queued(cc->up_bulk))
            break;
        ssize_t w = dctls_bulk_send(cc->up_bulk, fd);
        if (w < 0 && (errno == EAGAIN || errno == EINTR))
            return;   /* up_wev calls again */
        if (w <= 0) {
            dcc_cc_close(cc, w < 0 ? strerror(errno) : "connection closed while uploading");
            return;
        }
    }
    if (cc->up_left == 0 && !dctls_bulk_queued(cc->up_bulk)) {
        dcc_up_cleanup(cc);
        dcc_cc_idle(cc);
    }
}

/* Where ZL1 output goes: up_out (written by up_more_zfd) without TLS, else
 * the bufferevent, which encrypts it. */
static struct evbuffer *up_zsink(struct dcc_cc *cc)
{
    return cc->up_out ? cc->up_out : bufferevent_get_output(cc->bev);
}

/* Run deflate with flush until it wants more input (or, finishing, until
 * the stream ends), its output going straight into the output buffer's
 * free space: no staging copy. 0, or -1. */
static int up_z_run(struct dcc_cc *cc, struct evbuffer *out, int flush)
{
    for (;;) {
        size_t room = cc->dz.avail_in + cc->dz.avail_in / 512 + 1024;   /* deflateBound's margin */
        if (room > UP_IN + UP_IN / 512 + 1024)
            room = UP_IN + UP_IN / 512 + 1024;
        struct evbuffer_iovec v;
        if (evbuffer_reserve_space(out, (ev_ssize_t)room, &v, 1) < 1)
            return -1;
        cc->dz.next_out = v.iov_base;
        cc->dz.avail_out = (uInt)v.iov_len;
        int zr = deflate(&cc->dz, flush);
        v.iov_len -= cc->dz.avail_out;
        cc->up_zout += v.iov_len;
        evbuffer_commit_space(out, &v, 1);
        if (zr == Z_STREAM_ERROR)
            return -1;
        if (cc->dz.avail_out != 0 && (flush != Z_FINISH || zr == Z_STREAM_END))
            return 0;
    }
}

static void up_free_small(const void *data, size_t len, void *arg)
{
    (void)len;
    (void)arg;
    free((void *)data);
}

/* Append the n small bytes at p. Not evbuffer_add: after a file segment
 * it sizes the new chain by the segment's end offset in the file (libevent
 * 2.1), an mmap and munmap of up to the file's size for a few bytes. A
 * reference to a copy of them instead, or to p itself when p is static. */
static int up_add_small(struct evbuffer *out, const void *p, size_t n, bool is_static)
{
    if (is_static)
        return evbuffer_add_reference(out, p, n, NULL, NULL);
    void *copy = malloc(n);
    if (!copy)
        return -1;
    memcpy(copy, p, n);
    if (evbuffer_add_reference(out, copy, n, up_free_small, NULL) == 0)
        return 0;
    free(copy);
    return -1;
}

/* Stored blocks of in[0..n), the file's bytes from offset at: 5 header
 * bytes each (final one with last), the payload a piece of up_seg (sent
 * with sendfile, never copied in user space) or, over TLS, copied. */
static int up_store(struct dcc_cc *cc, struct evbuffer *out, const uint8_t *in, size_t n, uint64_t at, bool last)
{
    static const uint8_t full[5] = {0, UP_BLOCK & 0xff, UP_BLOCK >> 8, ~UP_BLOCK & 0xff, ~UP_BLOCK >> 8 & 0xff};
    size_t done = 0;
    do {
        size_t len = n - done < UP_BLOCK ? n - done : UP_BLOCK;
        bool fin = last && done + len == n;
        if (!len && !fin)
            return 0;
        uint8_t h[5] = {fin, len & 0xff, len >> 8, ~len & 0xff, ~len >> 8 & 0xff};
        bool is_full = memcmp(h, full, sizeof h) == 0;
        if (up_add_small(out, is_full ? full : h, sizeof h, is_full) < 0)
            return -1;
        if (len && (cc->up_seg ? evbuffer_add_file_segment(out, cc->up_seg, (ev_off_t)(at + done - cc->up_seg_at),
                                                           (ev_off_t)len)
                               : evbuffer_add(out, in + done, len)) < 0)
            return -1;
        cc->up_zout += sizeof h + len;
        done += len;
    } while (done < n);
    return 0;
}

/* Order-0 entropy of p[0..n), in bits per byte: about 8 for random or
 * already compressed data, 4 to 5 for text. */
static double up_entropy(const uint8_t *p, size_t n)
{
    uint32_t count[256] = {0};
    for (size_t i = 0; i < n; i++)
        count[p[i]]++;
    double sum = 0;
    for (int k = 0; k < 256; k++)
        if (count[k])
            sum += count[k] * log2(count[k]);
    return log2((double)n) - sum / (double)n;
}

/* Compress in[0..n) (the file's bytes from offset at) into out; finish
 * ends the zlib stream. The level follows the measured gain, as DC++-family
 * uploaders do (they stop compressing what does not shrink): a stretch
 * deflated at level 1 that comes out above 95 % of its size switches the
 * stream to stored blocks, which are ours, not zlib's (up_store: the
 * payload need not pass through zlib, nor, without TLS, through user
 * space); after UP_PROBE_EVERY stored bytes, UP_PROBE bytes are deflated
 * at level 1 again to see whether the data changed, and earlier when a
 * cheap estimate (byte entropy of UP_SNIFF bytes, every UP_SNIFF_EVERY
 * stored bytes) says it looks like text now.
 *
 * One valid zlib stream whatever the mix: dz is raw deflate, its output
 * flushed to a byte boundary (Z_SYNC_FLUSH) before our stored blocks, and
 * reset (deflateReset: its window would miss the stored bytes) before
 * deflating again; the zlib header is up_z_begin's, the trailer the
 * Adler-32 of the data from libdeflate (vectorised: zlib 1.2's own scalar
 * one cost more CPU than storing the data did). */
static int up_deflate(struct dcc_cc *cc, const void *in, size_t n, uint64_t at, bool finish)
{
    struct evbuffer *out = up_zsink(cc);
    cc->up_adler = libdeflate_adler32(cc->up_adler, in, n);
    cc->up_zin += n;
    if (cc->up_zlevel == 0) {
        if (up_store(cc, out, in, n, at, finish) < 0)
            return -1;
    } else {
        uLong in0 = cc->dz.total_in, out0 = cc->dz.total_out;
        cc->dz.next_in = (unsigned char *)in;
        cc->dz.avail_in = (uInt)n;
        /* A probe ends its block, so its output is all out and the gain
         * exact; a longer stretch is judged in step (its lag is about one
         * block). */
        if (up_z_run(cc, out, finish ? Z_FINISH : cc->up_probing ? Z_BLOCK : Z_NO_FLUSH) < 0)
            return -1;
        uLong din = cc->dz.total_in - in0, dout = cc->dz.total_out - out0;
        cc->up_probing = false;
        if (!finish && dout * 20 > din * 19) {
            if (up_z_run(cc, out, Z_SYNC_FLUSH) < 0)   /* byte-aligned: stored blocks follow */
                return -1;
            cc->up_zlevel = 0;
            cc->up_stored = 0;
        }
    }
    if (finish) {
        uint8_t trailer[4] = {cc->up_adler >> 24, cc->up_adler >> 16 & 0xff, cc->up_adler >> 8 & 0xff,
                              cc->up_adler & 0xff};
        cc->up_zend = true;
        cc->up_zout += sizeof trailer;
        return up_add_small(out, trailer, sizeof trailer, false);
    }
    if (cc->up_zlevel != 0)
        return 0;
    cc->up_stored += n;
    cc->up_stored_all += n;
    bool sniff = cc->up_stored / UP_SNIFF_EVERY != (cc->up_stored - n) / UP_SNIFF_EVERY;
    if (cc->up_stored < UP_PROBE_EVERY &&
        !(sniff && n >= UP_SNIFF && up_entropy((const uint8_t *)in + n - UP_SNIFF, UP_SNIFF) < UP_SNIFF_BITS))
        return 0;
    cc->up_zlevel = Z_BEST_SPEED;
    cc->up_probing = true;
    return deflateReset(&cc->dz) == Z_OK ? 0 : -1;
}

/* Read and compress the upload's next piece: a probe's worth, or a few
 * whole stored blocks, or UP_IN for deflate. 0, or -1 (closed). */
static int up_z_piece(struct dcc_cc *cc)
{
    size_t step = cc->up_probing ? UP_PROBE : cc->up_zlevel == 0 ? UP_STORED_STEP : UP_IN;
    size_t want = cc->up_left < step ? (size_t)cc->up_left : step;
    uint64_t at = cc->up_seg_at + cc->up_zin;
    ssize_t n = want ? read(cc->up_fd, cc->zbuf, want) : 0;
    if (n < 0 || (size_t)n != want) {
        dcc_cc_close(cc, "shared file could not be read while uploading");
        return -1;
    }
    cc->up_left -= (uint64_t)n;
    if (up_deflate(cc, cc->zbuf, (size_t)n, at, cc->up_left == 0) < 0) {
        dcc_cc_close(cc, "deflate failed");
        return -1;
    }
    if (cc->up_zend)
        dcc_log(cc->x->c, "upload to %s: ZL1 sent %llu bytes as %llu, %llu of them stored", cc->nick,
                (unsigned long long)cc->up_zin, (unsigned long long)cc->up_zout + 2,
                (unsigned long long)cc->up_stored_all);
    return 0;
}

/* ZL1 without TLS: the stream is queued in up_out, a buffer of our own
 * that drains to the socket (so stored payload is a file segment, sent
 * with sendfile()), written here as the socket takes it (up_wev), up to
 * UP_Z_ROUNDS writes per callback so one upload cannot starve the loop. */
static void up_more_zfd(struct dcc_cc *cc)
{
    if (!cc->up_out) {
        if (evbuffer_get_length(bufferevent_get_output(cc->bev)))
            return;   /* the SND and the zlib header first: the bufferevent's write callback is back */
        if (!(cc->up_out = evbuffer_new()) || evbuffer_set_flags(cc->up_out, EVBUFFER_FLAG_DRAINS_TO_FD) < 0 ||
            dcc_cc_bulk_watch(cc) < 0) {
            dcc_cc_close(cc, "cannot start a ZLIB upload");
            return;
        }
    }
    evutil_socket_t fd = bufferevent_getfd(cc->bev);
    for (int round = 0; round < UP_Z_ROUNDS; round++) {
        while (!cc->up_zend && evbuffer_get_length(cc->up_out) < UP_OUT_MAX)
            if (up_z_piece(cc) < 0)
                return;
        if (!evbuffer_get_length(cc->up_out))
            break;
        /* A sendfile() that would block gives 0 (errno EAGAIN); one that
         * gives 0 otherwise found the file shorter than it was. */
        errno = 0;
        int w = evbuffer_write(cc->up_out, fd);
        if (w <= 0 && (errno == EAGAIN || errno == EINTR))
            return;   /* up_wev calls again */
        if (w <= 0) {
            dcc_cc_close(cc, w < 0 ? strerror(errno) : "shared file could not be read while uploading");
            return;
        }
    }
    if (cc->up_zend && evbuffer_get_length(cc->up_out) == 0) {
        dcc_up_cleanup(cc);
        dcc_cc_idle(cc);
    }
}

void dcc_up_more(struct dcc_cc *cc)
{
    if (cc->upf_on && cc->up_fd >= 0 && !cc->up_z && cc->bev) {
        dcc_upf_more(cc);
        return;
    }
    if (cc->up_fd >= 0 && !cc->up_z && cc->bev) {
        up_more_tls(cc);
        return;
    }
    if (cc->up_fd >= 0 && cc->up_seg && cc->bev) {
        up_more_zfd(cc);
        return;
    }
    /* ZL1 over TLS: the bufferevent encrypts what is queued in its output. */
    while (cc->up_fd >= 0 && cc->bev && evbuffer_get_length(bufferevent_get_output(cc->bev)) < UP_OUT_MAX) {
        if (up_z_piece(cc) < 0)
            return;
        if (cc->up_zend) {
            dcc_up_cleanup(cc);
            dcc_cc_idle(cc);
        }
    }
}

static bool up_tth(const char *ident, uint8_t tth[DC_TTH_LEN])
{
    return strncmp(ident, "TTH/", 4) == 0 && strlen(ident + 4) == DC_TTH_BASE32_LEN &&
           dc_base32_decode(ident + 4, DC_TTH_BASE32_LEN, tth, DC_TTH_LEN) == DC_TTH_LEN;
}

void dcc_up_get(struct dcc_cc *cc, const char *type, const char *ident, int64_t start, int64_t bytes, bool zl1,
                bool re1)
{
    struct dcc_client *c = cc->x->c;
    struct dcc_share *s = c->share;
    const struct dcc_sfile *f = NULL;
    const void *mem = NULL;
    uint64_t size = 0;
    uint8_t tth[DC_TTH_LEN];
    struct dc_buf partial;
    dc_buf_init(&partial, 0);
    if (start < 0 || bytes < -1) {
        dcc_cc_send_error(cc, 140, "Invalid range");
        return;
    }
    if (!s) {
        /* nothing shared */
    } else if (strcmp(type, "file") == 0) {
        const struct dc_buf *l = NULL;
        if (strcmp(ident, "files.xml.bz2") == 0 || strcmp(ident, "files.xml") == 0)
            l = dcc_share_list(s, strcmp(ident, "files.xml.bz2") == 0);
        else if (up_tth(ident, tth))
            f = dcc_share_by_tth(s, tth);
        else if (ident[0] == '/')
            f = dcc_share_by_path(s, ident);
        if (l)
            mem = l->data, size = l->len;
        if (f)
            size = f->size;
    } else if (strcmp(type, "tthl") == 0 && up_tth(ident, tth) && (f = dcc_share_by_tth(s, tth))) {
        mem = f->nleaves ? f->leaves : f->tth;
        size = f->nleaves ? f->nleaves * DC_TTH_LEN : DC_TTH_LEN;
        mem = dcc_upf_tthl(cc, mem, size, &partial);   /* up_bad_tthl: a lying copy */
        f = NULL;
    } else if (strcmp(type, "list") == 0 && dcc_share_partial(s, ident, re1, &partial) == 0) {
        mem = partial.data, size = partial.len;
    }
    if ((!f && !mem) || (uint64_t)start > size || (bytes >= 0 && (uint64_t)bytes > size - (uint64_t)start)) {
        dcc_log(c, "upload to %s: %s %s %lld %lld: file not available", cc->nick, type, ident, (long long)start,
                (long long)bytes);
        dcc_cc_send_error(cc, 151, "File Not Available");
        dc_buf_cleanup(&partial);
        return;
    }
    uint64_t n = bytes < 0 ? size - (uint64_t)start : (uint64_t)bytes;
    if (dcc_upf_refuse(cc, type, ident)) {   /* up_error / up_no_slots */
        dc_buf_cleanup(&partial);
        return;
    }
    if (f && f->size > DCC_MINISLOT_SIZE && !cc->holds_slot) {
        if (cc->x->slots_used >= dcc_sget_int(c->settings, DCC_S_SLOTS)) {
            dcc_cc_send_error(cc, 153, "Slots full");
            return;
        }
        cc->holds_slot = true;   /* kept for the connection, as DC++ does */
        cc->x->slots_used++;
    }
    int fd = f ? dcc_share_open(s, f) : -1;
    if (f && fd < 0) {
        dcc_cc_send_error(cc, 151, "File Not Available");
        return;
    }
    if ((zl1 || cc->tls) && !cc->zbuf && !(cc->zbuf = malloc(UP_IN))) {
        dcc_cc_close(cc, "out of memory");
        return;
    }
    bool faulty = f && dcc_upf_begin(cc, f, (uint64_t)start, n);   /* up_* faults */
    if (faulty)
        zl1 = false;   /* the faults act on the file's bytes as they go out */
    if (zl1) {
        memset(&cc->dz, 0, sizeof cc->dz);
        if (deflateInit2(&cc->dz, Z_BEST_SPEED, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)   /* raw */
            zl1 = false;
        cc->up_adler = 1;
        cc->up_zlevel = Z_BEST_SPEED;   /* the first piece is a probe */
        cc->up_probing = true;
        cc->up_stored = cc->up_stored_all = 0;
        cc->up_zend = false;
        cc->up_zin = cc->up_zout = 0;
        cc->up_seg_at = (uint64_t)start;
    }
    dcc_log(c, "upload to %s: %s %s %llu+%llu%s", cc->nick, type, ident, (unsigned long long)start,
            (unsigned long long)n, zl1 ? " ZL1" : "");
    dcc_cc_send_snd(cc, type, ident, start, (int64_t)n, zl1);
    struct evbuffer *out = bufferevent_get_output(cc->bev);
    if (zl1)
        evbuffer_add(out, "\x78\x01", 2);   /* zlib header: deflate, 32 KiB window, fastest level */
    if (mem && zl1) {
        if (up_deflate(cc, (const char *)mem + start, (size_t)n, 0, true) < 0)
            dcc_cc_close(cc, "deflate failed");
        deflateEnd(&cc->dz);
    } else if (mem) {
        evbuffer_add(out, (const char *)mem + start, (size_t)n);
    } else if (zl1) {
        if (lseek(fd, start, SEEK_SET) < 0) {
            close(fd);
            deflateEnd(&cc->dz);
            dcc_cc_close(cc, "cannot seek in a shared file");
            return;
        }
        cc->up_fd = fd;
        cc->up_z = true;
        cc->up_left = n;
        cc->state = DCC_CC_SEND_Z;
        /* Without TLS, stored payload is sent from the file (sendfile), by
         * a segment with a descriptor of its own: queued pieces may outlive
         * up_fd. Without one, it is copied, as over TLS. */
        int sfd = cc->tls ? -1 : dup(fd);
        if (sfd >= 0 && !(cc->up_seg = evbuffer_file_segment_new(sfd, start, (ev_off_t)n,
                                                                  EVBUF_FS_CLOSE_ON_FREE | EVBUF_FS_DISABLE_LOCKING)))
            close(sfd);
        /* Refill at half the queue, so the socket never runs dry. */
        bufferevent_setwatermark(cc->bev, EV_WRITE, UP_OUT_MAX / 2, 0);
        dcc_up_more(cc);
    } else if (n && faulty) {   /* read in chunks through the faults (upload_fault.c) */
        if (lseek(fd, start, SEEK_SET) < 0) {
            close(fd);
            dcc_cc_close(cc, "cannot seek in a shared file");
            return;
        }
        cc->up_fd = fd;
        cc->up_z = false;
        cc->up_left = n;
        cc->state = DCC_CC_SEND_Z;
        dcc_up_more(cc);
    } else if (n && cc->tls) {
        if (lseek(fd, start, SEEK_SET) < 0) {
            close(fd);
            dcc_cc_close(cc, "cannot seek in a shared file");
            return;
        }
        cc->up_fd = fd;
        cc->up_z = false;
        cc->up_left = n;
        cc->state = DCC_CC_SEND_Z;
        dcc_up_more(cc);   /* the write callback starts it once the SND is out */
    } else if (n) {
        evbuffer_add_file(out, fd, start, (ev_off_t)n);   /* takes the fd; sendfile() */
    } else {
        close(fd);
    }
    dc_buf_cleanup(&partial);
}
