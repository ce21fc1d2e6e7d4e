/* upload_fault.c: dcclient as a bad uploader, on cue (the up_* settings,
 * docs/control-protocol.md): stall or close after N bytes of file data,
 * corrupt a TTH leaf block, send TTH leaves that do not match the root,
 * throttle, or answer file requests with a given error or "no slots". So a
 * downloader under test, ours or another party, meets each failure for
 * real, over a real connection.
 *
 * up_fault_count limits how many requests get a fault (x->upf_used counts
 * them), so a scenario can break one attempt and let the retry through.
 * A faulty upload is read in chunks (dcc_upf_more, never sendfile) so
 * every byte passes dcc_upf_clamp/dcc_upf_data; the throttle is libevent's
 * rate limit on the connection, kept for its life. Plain client
 * connections only: a TLS upload has its own bulk writer (upload.c), which
 * bypasses the bufferevent; it gets the request faults (error, no slots,
 * lying leaves) but not these.
 */
#include "client/xfer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "proto/tth.h"

static struct dcc_client *upf_client(const struct dcc_cc *cc)
{
    return cc->x->c;
}

/* May one more request get a fault? Counts it if so. */
static bool upf_take(struct dcc_cc *cc)
{
    int limit = dcc_sget_int(upf_client(cc)->settings, DCC_S_UP_FAULT_COUNT);
    if (limit && cc->x->upf_used >= limit)
        return false;
    cc->x->upf_used++;
    return true;
}

bool dcc_upf_refuse(struct dcc_cc *cc, const char *type, const char *ident)
{
    struct dcc_client *c = upf_client(cc);
    if (strcmp(type, "file") != 0 || strcmp(ident, "files.xml.bz2") == 0 || strcmp(ident, "files.xml") == 0)
        return false;   /* file lists stay intact: the downloader needs one to ask at all */
    const char *error = dcc_sget_str(c->settings, DCC_S_UP_ERROR);
    bool no_slots = dcc_sget_bool(c->settings, DCC_S_UP_NO_SLOTS);
    if ((!*error && !no_slots) || !upf_take(cc))
        return false;
    if (no_slots) {
        dcc_log(c, "upload fault: no slots for %s", cc->nick);
        dcc_cc_send_error(cc, 153, "Slots full");
        return true;
    }
    char *end;
    long code = strtol(error, &end, 10);
    if (end == error || code < 100 || code > 999)
        code = 151;   /* text only: "file not available" is the generic refusal */
    while (*end == ' ')
        end++;
    dcc_log(c, "upload fault: error %ld %s for %s", code, end, cc->nick);
    dcc_cc_send_error(cc, (int)code, *end ? end : "Error");
    return true;
}

const void *dcc_upf_tthl(struct dcc_cc *cc, const void *leaves, size_t len, struct dc_buf *buf)
{
    struct dcc_client *c = upf_client(cc);
    if (!dcc_sget_bool(c->settings, DCC_S_UP_BAD_TTHL) || len == 0 || !upf_take(cc))
        return leaves;
    dc_buf_reset(buf);
    if (dc_buf_append(buf, leaves, len) < 0)
        return leaves;
    buf->data[0] ^= 0x5a;   /* the first leaf changes: they no longer fold into the root */
    dcc_log(c, "upload fault: lying TTH leaves to %s", cc->nick);
    return buf->data;
}

bool dcc_upf_begin(struct dcc_cc *cc, const struct dcc_sfile *f, uint64_t start, uint64_t n)
{
    struct dcc_client *c = upf_client(cc);
    int64_t stall = dcc_sget_i64(c->settings, DCC_S_UP_STALL_AFTER);
    int64_t close_at = dcc_sget_i64(c->settings, DCC_S_UP_CLOSE_AFTER);
    int64_t block = dcc_sget_i64(c->settings, DCC_S_UP_CORRUPT_BLOCK);
    int64_t rate = dcc_sget_i64(c->settings, DCC_S_UP_THROTTLE);
    cc->upf_on = false;
    cc->upf_stop = cc->upf_corrupt = -1;
    if (cc->bev && !rate && cc->upf_tb)
        bufferevent_set_rate_limit(cc->bev, NULL);
    if (stall < 0 && close_at < 0 && block < 0 && !rate)
        return false;
    if (cc->tls) {
        dcc_log(c, "upload fault to %s: not on a TLS connection (set cc_tls=never)", cc->nick);
        return false;
    }
    if (!upf_take(cc))
        return false;
    if (close_at >= 0 && (stall < 0 || close_at <= stall)) {
        cc->upf_stop = close_at;
        cc->upf_close = true;
    } else if (stall >= 0) {
        cc->upf_stop = stall;
        cc->upf_close = false;
    }
    if (block >= 0) {
        /* The leaf block size is the one the downloader checks with. */
        uint64_t bs = f->size ? f->size : 1;
        if (f->nleaves > 1)
            dc_tth_check_leaves(f->leaves, f->nleaves, f->size, f->tth, &bs);
        uint64_t at = (uint64_t)block * bs;
        if (at >= start && at < start + n)
            cc->upf_corrupt = (int64_t)at;
    }
    if (rate && cc->bev) {
        struct timeval tick = {0, 100000};
        size_t per = (size_t)(rate / 10 ? rate / 10 : 1);
        if (cc->upf_tb)
            bufferevent_set_rate_limit(cc->bev, NULL), ev_token_bucket_cfg_free(cc->upf_tb);
        cc->upf_tb = ev_token_bucket_cfg_new(EV_RATE_LIMIT_MAX, EV_RATE_LIMIT_MAX, per, per, &tick);
        if (cc->upf_tb)
            bufferevent_set_rate_limit(cc->bev, cc->upf_tb);
    }
    cc->upf_pos = start;
    cc->upf_done = 0;
    cc->upf_on = true;
    dcc_log(c, "upload fault to %s:%s%s%s", cc->nick, cc->upf_stop >= 0 ? (cc->upf_close ? " close" : " stall") : "",
            cc->upf_corrupt >= 0 ? " corrupt" : "", rate ? " throttle" : "");
    return true;
}

size_t dcc_upf_clamp(struct dcc_cc *cc, size_t want)
{
    if (!cc->upf_on || cc->upf_stop < 0)
        return want;
    uint64_t left = (uint64_t)cc->upf_stop > cc->upf_done ? (uint64_t)cc->upf_stop - cc->upf_done : 0;
    if (left)
        return want < left ? want : (size_t)left;
    /* The stop point: nothing more of this upload goes out. */
    struct dcc_client *c = upf_client(cc);
    dcc_up_cleanup(cc);
    cc->upf_on = false;
    if (cc->upf_close) {
        dcc_log(c, "upload fault: closing on %s after %llu bytes", cc->nick, (unsigned long long)cc->upf_done);
        cc->state = DCC_CC_IDLE;
        dcc_cc_close_after(cc, "", 0);
        if (cc->bev && evbuffer_get_length(bufferevent_get_output(cc->bev)) == 0)
            shutdown(bufferevent_getfd(cc->bev), SHUT_WR);
    } else {
        /* State stays DCC_CC_SEND_Z with nothing to send: silent, and
         * further requests wait, until the downloader gives up. */
        dcc_log(c, "upload fault: stalling %s after %llu bytes", cc->nick, (unsigned long long)cc->upf_done);
    }
    return 0;
}

void dcc_upf_data(struct dcc_cc *cc, uint8_t *p, size_t n)
{
    if (!cc->upf_on)
        return;
    if (cc->upf_corrupt >= 0 && (uint64_t)cc->upf_corrupt >= cc->upf_pos &&
        (uint64_t)cc->upf_corrupt < cc->upf_pos + n) {
        p[(uint64_t)cc->upf_corrupt - cc->upf_pos] ^= 0xff;
        dcc_log(upf_client(cc), "upload fault: corrupted byte %lld for %s", (long long)cc->upf_corrupt, cc->nick);
    }
    cc->upf_pos += n;
    cc->upf_done += n;
}

#define UPF_CHUNK (256 * 1024)           /* file bytes read per step */
#define UPF_QUEUED (4 * 1024 * 1024)     /* bytes queued at most */

void dcc_upf_more(struct dcc_cc *cc)
{
    struct evbuffer *out = bufferevent_get_output(cc->bev);
    /* Refill at half the queue, so the socket never runs dry. */
    bufferevent_setwatermark(cc->bev, EV_WRITE, UPF_QUEUED / 2, 0);
    while (cc->up_fd >= 0 && cc->up_left && evbuffer_get_length(out) < UPF_QUEUED) {
        size_t want = cc->up_left < UPF_CHUNK ? (size_t)cc->up_left : UPF_CHUNK;
        if (!(want = dcc_upf_clamp(cc, want)))
            return;   /* stalled or closing */
        struct evbuffer_iovec v;
        if (evbuffer_reserve_space(out, (ev_ssize_t)want, &v, 1) < 1) {
            dcc_cc_close(cc, "out of memory");
            return;
        }
        ssize_t n = read(cc->up_fd, v.iov_base, want);
        if (n <= 0) {
            dcc_cc_close(cc, "shared file could not be read while uploading");
            return;
        }
        v.iov_len = (size_t)n;
        dcc_upf_data(cc, v.iov_base, (size_t)n);
        evbuffer_commit_space(out, &v, 1);
        cc->up_left -= (uint64_t)n;
    }
    if (cc->up_fd >= 0 && cc->up_left == 0) {
        cc->upf_on = false;
        dcc_up_cleanup(cc);
        dcc_cc_idle(cc);
    }
}

void dcc_upf_cleanup(struct dcc_cc *cc)
{
    if (cc->upf_tb) {
        if (cc->bev)
            bufferevent_set_rate_limit(cc->bev, NULL);
        ev_token_bucket_cfg_free(cc->upf_tb);
        cc->upf_tb = NULL;
    }
}
