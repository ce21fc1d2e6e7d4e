/* intercept.c: what filters (hooks.h, struct fh_hooks.filter) decide,
 * carried out: lines dropped, replaced, delivered twice or later, closes by
 * FIN, reset or half-close, and shaped connections (output rate, slices,
 * stalled reading or writing).
 *
 * None of this is on the relay path unless a hook set has a filter
 * (hub->nfilters): input.c calls fh_filter_in and hub.c fh_filter_out only
 * then, and fh_shape_write only for connections marked shaped.
 *
 * Delayed lines and shapes point at their connection; hub.c calls
 * fh_intercept_conn_gone before it frees one, so no timer fires into a
 * freed connection.
 */
#include "fakehub/hub_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

/* A line a filter delayed. Owned by hub->delayed; freed when delivered, or
 * with its connection or the hub. */
struct fh_delayed {
    struct fh_delayed *next, *prev;
    struct fh_conn *c;          /* borrowed: the item goes before c does */
    struct event *ev;           /* owned timer */
    uint8_t dir;                /* enum fh_dir */
    unsigned copies;
    size_t len;
    char data[];                /* the line, then a NUL */
};

/* A shaped connection. Owned by hub->shaped; freed when its time is up, or
 * with its connection or the hub. */
struct fh_shaped {
    struct fh_shaped *next, *prev;
    struct fh_conn *c;          /* borrowed */
    struct event *ev;           /* owned: the next write, or the end */
    struct fh_shape s;
    uint32_t until;             /* fh_now_ms() at the end; meaningless when !s.for_ms */
    uint32_t refill_at;         /* rate: tokens counted up to here */
    uint32_t slice_at;          /* slice: the last slice went out then */
    double tokens;              /* rate: bytes that may go out now */
    bool read_off;              /* reading is stopped (stall_read) */
    struct ev_token_bucket_cfg *tb;   /* owned, TLS: its write limit */
};

/* ---- filters -------------------------------------------------------------- */

/* Ask every filter in turn; true when one wants more than a plain pass.
 * *any: every filter passed it whoever the recipient. */
static bool fh_run_filters(struct fh_conn *c, const struct fh_conn *from, enum fh_dir dir,
                           const char *line, size_t len, struct fh_verdict *v, bool *any)
{
    struct fh_hub *hub = c->hub;
    *any = true;
    for (size_t i = 0; i < hub->nhooks; i++) {
        if (!hub->hooks[i].h.filter)
            continue;
        memset(v, 0, sizeof *v);
        hub->hooks[i].h.filter(c, from, dir, line, len, v, hub->hooks[i].ctx);
        if (v->kind != FH_PASS || v->copies > 1 || v->shape)
            return true;
        *any = *any && v->any_recipient;
    }
    return false;
}

void fh_hub_filters_changed(struct fh_hub *hub)
{
    fh_msg_unref(hub->pass_msg);
    hub->pass_msg = NULL;
}

/* Handle a copy of line: the protocol modules cut lines in place, and the
 * original may be needed again (a duplicate) or not be ours (a filter's). */
static void fh_dispatch_copy(struct fh_conn *c, const char *line, size_t len)
{
    char *copy = malloc(len + 1);
    if (!copy) {
        fh_conn_close(c, "out of memory", false);
        return;
    }
    memcpy(copy, line, len);
    copy[len] = '\0';
    fh_conn_dispatch(c, copy, len);
    free(copy);
}

static void fh_shape_apply(struct fh_conn *c, const struct fh_shape *sh);
static void fh_delay(struct fh_conn *c, enum fh_dir dir, const char *line, size_t len,
                     unsigned ms, unsigned copies);

static void fh_close_how(struct fh_conn *c, enum fh_close_how how)
{
    switch (how) {
    case FH_CLOSE_RST: {
        struct linger l = {1, 0};   /* close() then sends RST instead of FIN */
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        fh_conn_close(c, "fault: reset", false);
        break;
    }
    case FH_CLOSE_FIN:
        fh_conn_close(c, "fault: disconnect", true);
        break;
    case FH_CLOSE_HALF:
        if (c->half_closed)
            break;
        c->half_closed = true;   /* the FIN goes once what is queued has gone */
        if (fh_conn_pending(c) == 0)
            fh_shape_drained(c);
        break;
    }
}

void fh_filter_in(struct fh_conn *c, char *line, size_t len)
{
    struct fh_verdict v;
    bool any;
    if (!fh_run_filters(c, c, FH_DIR_IN, line, len, &v, &any)) {
        fh_conn_dispatch(c, line, len);
        return;
    }
    if (v.shape)
        fh_shape_apply(c, &v.shaping);
    unsigned copies = v.copies ? v.copies : 1;
    switch (v.kind) {
    case FH_DROP:
        return;
    case FH_CLOSE:
        fh_close_how(c, v.close);
        return;
    case FH_DELAY:
        fh_delay(c, FH_DIR_IN, line, len, v.delay_ms, copies);
        return;
    case FH_REPLACE:
        for (unsigned k = 0; k < copies && c->state == FH_CONN_OPEN; k++)
            fh_dispatch_copy(c, v.line, v.len);
        return;
    case FH_PASS:
        for (unsigned k = 0; k + 1 < copies && c->state == FH_CONN_OPEN; k++)
            fh_dispatch_copy(c, line, len);
        fh_conn_dispatch(c, line, len);
        return;
    }
}

void fh_filter_out(struct fh_conn *c, struct fh_msg *m)
{
    struct fh_hub *hub = c->hub;
    if (m == hub->pass_msg && hub->cur_in == hub->pass_from) {
        fh_conn_queue_msg(c, m);   /* a broadcast every filter passed for its first recipient */
        return;
    }
    struct fh_verdict v;
    bool any;
    if (!fh_run_filters(c, hub->cur_in, FH_DIR_OUT, m->data, m->len - 1, &v, &any)) {
        if (any) {   /* held, so its address cannot come back as another line */
            fh_msg_unref(hub->pass_msg);
            m->refs++;
            hub->pass_msg = m;
            hub->pass_from = hub->cur_in;
        }
        fh_conn_queue_msg(c, m);
        return;
    }
    if (v.shape)
        fh_shape_apply(c, &v.shaping);
    unsigned copies = v.copies ? v.copies : 1;
    switch (v.kind) {
    case FH_DROP:
        return;
    case FH_CLOSE:
        fh_close_how(c, v.close);
        return;
    case FH_DELAY:
        fh_delay(c, FH_DIR_OUT, m->data, m->len - 1, v.delay_ms, copies);
        return;
    case FH_REPLACE:
        m = fh_msg_new(c->proto, v.line, v.len);
        if (!m) {
            fh_conn_close(c, "out of memory", false);
            return;
        }
        for (unsigned k = 0; k < copies; k++)
            fh_conn_queue_msg(c, m);
        fh_msg_unref(m);
        return;
    case FH_PASS:
        for (unsigned k = 0; k < copies; k++)
            fh_conn_queue_msg(c, m);
        return;
    }
}

/* ---- delayed lines ---------------------------------------------------------- */

static void fh_delayed_free(struct fh_hub *hub, struct fh_delayed *d)
{
    if (d->prev)
        d->prev->next = d->next;
    else
        hub->delayed = d->next;
    if (d->next)
        d->next->prev = d->prev;
    event_free(d->ev);
    free(d);
}

static void fh_delayed_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct fh_delayed *d = arg;
    struct fh_conn *c = d->c;
    struct fh_hub *hub = c->hub;
    if (d->dir == FH_DIR_IN) {
        for (unsigned k = 0; k < d->copies && c->state == FH_CONN_OPEN; k++)
            fh_dispatch_copy(c, d->data, d->len);
    } else {
        struct fh_msg *m = fh_msg_new(c->proto, d->data, d->len);
        for (unsigned k = 0; m && k < d->copies; k++)
            fh_conn_queue_msg(c, m);
        fh_msg_unref(m);
    }
    fh_delayed_free(hub, d);
}

static void fh_delay(struct fh_conn *c, enum fh_dir dir, const char *line, size_t len,
                     unsigned ms, unsigned copies)
{
    struct fh_hub *hub = c->hub;
    struct fh_delayed *d = malloc(sizeof *d + len + 1);
    if (!d || !(d->ev = evtimer_new(hub->base, fh_delayed_cb, d))) {
        free(d);
        fh_conn_close(c, "out of memory", false);
        return;
    }
    d->c = c;
    d->dir = (uint8_t)dir;
    d->copies = copies;
    d->len = len;
    memcpy(d->data, line, len);
    d->data[len] = '\0';
    d->prev = NULL;
    d->next = hub->delayed;
    if (hub->delayed)
        hub->delayed->prev = d;
    hub->delayed = d;
    struct timeval tv = {ms / 1000, (long)(ms % 1000) * 1000};
    evtimer_add(d->ev, &tv);
}

/* ---- shaping ---------------------------------------------------------------- */

static struct fh_shaped *fh_shaped_of(const struct fh_conn *c)
{
    for (struct fh_shaped *s = c->hub->shaped; s; s = s->next)
        if (s->c == c)
            return s;
    return NULL;
}

/* Stopping reading also holds the complete lines already read; resuming
 * hands them to the read callback at once (from the loop, not from here:
 * a line's own fault can resume reading). */
static void fh_read_on(struct fh_conn *c, bool on)
{
    c->read_stalled = !on;
    if (c->tls) {
        if (on) {
            bufferevent_enable(c->bev, EV_READ);
            if (evbuffer_get_length(bufferevent_get_input(c->bev)))
                bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
        } else {
            bufferevent_disable(c->bev, EV_READ);
        }
    } else if (on) {
        event_add(c->rev, NULL);
        if (c->partial_len)
            event_active(c->rev, EV_READ, 0);
    } else {
        event_del(c->rev);
    }
}

/* TLS connections: libevent's rate limit does the rate and the slices. */
static void fh_shape_tls(struct fh_shaped *s)
{
    struct fh_conn *c = s->c;
    bufferevent_set_rate_limit(c->bev, NULL);
    if (s->tb)
        ev_token_bucket_cfg_free(s->tb);
    s->tb = NULL;
    size_t per = 0;
    struct timeval tick = {0, 100000};
    if (s->s.rate)
        per = s->s.rate / 10 ? s->s.rate / 10 : 1;
    if (s->s.slice) {
        if (!per || s->s.slice < per)
            per = s->s.slice;
        tick = (struct timeval){s->s.gap_ms / 1000, (long)(s->s.gap_ms % 1000) * 1000 + 1};
    }
    if (per && (s->tb = ev_token_bucket_cfg_new(EV_RATE_LIMIT_MAX, EV_RATE_LIMIT_MAX, per, per, &tick)))
        bufferevent_set_rate_limit(c->bev, s->tb);
    if (s->s.stall_write)
        bufferevent_disable(c->bev, EV_WRITE);
    else
        bufferevent_enable(c->bev, EV_WRITE);
}

static void fh_shape_free(struct fh_shaped *s, bool restore)
{
    struct fh_conn *c = s->c;
    struct fh_hub *hub = c->hub;
    if (s->prev)
        s->prev->next = s->next;
    else
        hub->shaped = s->next;
    if (s->next)
        s->next->prev = s->prev;
    c->shaped = false;
    bool open = c->state == FH_CONN_OPEN;
    if (c->tls && c->bev) {
        bufferevent_set_rate_limit(c->bev, NULL);
        if (restore && c->state != FH_CONN_DEAD)
            bufferevent_enable(c->bev, EV_WRITE);
    }
    if (s->tb)
        ev_token_bucket_cfg_free(s->tb);
    if (restore && s->read_off && open)
        fh_read_on(c, true);
    event_free(s->ev);
    free(s);
    /* What piled up goes out unshaped now (unless the socket is full:
     * its write event does it). */
    if (restore && !c->tls && c->state != FH_CONN_DEAD && c->out_bytes && !(c->out && c->out->wev))
        fh_out_write_n(c, SIZE_MAX);
}

static bool fh_shape_over(struct fh_shaped *s, uint32_t now)
{
    return s->s.for_ms && (int32_t)(now - s->until) >= 0;
}

static void fh_shape_arm(struct fh_shaped *s, unsigned ms)
{
    if (s->s.for_ms) {
        uint32_t left = s->until - fh_now_ms(s->c->hub);
        if ((int32_t)left < 0)
            left = 0;
        if (left < ms)
            ms = left;
    }
    struct timeval tv = {ms / 1000, (long)(ms % 1000) * 1000};
    evtimer_add(s->ev, &tv);
}

static void fh_shape_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct fh_shaped *s = arg;
    if (fh_shape_over(s, fh_now_ms(s->c->hub)))
        fh_shape_free(s, true);
    else if (!s->c->tls && s->c->state != FH_CONN_DEAD)
        fh_shape_write(s->c);
}

static void fh_shape_apply(struct fh_conn *c, const struct fh_shape *sh)
{
    struct fh_hub *hub = c->hub;
    if (c->state == FH_CONN_DEAD)
        return;
    struct fh_shaped *s = c->shaped ? fh_shaped_of(c) : NULL;
    if (!s) {
        if (!(s = calloc(1, sizeof *s)) || !(s->ev = evtimer_new(hub->base, fh_shape_cb, s))) {
            free(s);
            fh_conn_close(c, "out of memory", false);
            return;
        }
        s->c = c;
        s->next = hub->shaped;
        if (hub->shaped)
            hub->shaped->prev = s;
        hub->shaped = s;
        c->shaped = true;
    }
    uint32_t now = fh_now_ms(hub);
    s->s = *sh;
    s->until = now + sh->for_ms;
    s->refill_at = now;
    s->slice_at = now - sh->gap_ms;   /* the first slice may go at once */
    s->tokens = 0;
    if (sh->stall_read != s->read_off && c->state == FH_CONN_OPEN) {
        fh_read_on(c, !sh->stall_read);
        s->read_off = sh->stall_read;
    }
    if (c->tls)
        fh_shape_tls(s);
    if (sh->for_ms)
        fh_shape_arm(s, sh->for_ms);
}

void fh_shape_write(struct fh_conn *c)
{
    struct fh_shaped *s = fh_shaped_of(c);
    if (!s) {
        fh_out_write_n(c, SIZE_MAX);
        return;
    }
    if (c->out && c->out->wev)
        return;   /* the socket is full: its write event calls again */
    uint32_t now = fh_now_ms(c->hub);
    size_t allow = SIZE_MAX;
    if (s->s.stall_write) {
        allow = 0;
    } else {
        if (s->s.rate) {
            s->tokens += (double)(uint32_t)(now - s->refill_at) * s->s.rate / 1000.0;
            s->refill_at = now;
            double cap = s->s.rate / 10.0 > 1.0 ? s->s.rate / 10.0 : 1.0;   /* 100 ms of burst */
            if (s->tokens > cap)
                s->tokens = cap;
            allow = (size_t)s->tokens;
        }
        if (s->s.slice) {
            if ((uint32_t)(now - s->slice_at) < s->s.gap_ms)
                allow = 0;   /* the pause after the last slice is not over */
            else if (allow > s->s.slice)
                allow = s->s.slice;
        }
    }
    size_t before = c->out_bytes;
    fh_out_write_n(c, allow);
    size_t written = before >= c->out_bytes ? before - c->out_bytes : 0;
    if (s->s.rate)
        s->tokens -= (double)written;
    if (written)
        s->slice_at = now;
    if (c->state == FH_CONN_DEAD || !c->out_bytes || (c->out && c->out->wev))
        return;
    /* More is waiting: come back when the shape lets some of it out. */
    unsigned ms;
    if (s->s.stall_write) {
        if (!s->s.for_ms)
            return;   /* stalled for good: output piles up against max-output */
        ms = s->s.for_ms;
    } else if (s->s.slice && (!s->s.rate || allow)) {
        ms = s->s.gap_ms ? s->s.gap_ms : 1;
    } else {
        double need = 1.0 - s->tokens;
        ms = need > 0 ? (unsigned)(need * 1000.0 / s->s.rate) + 1 : 1;
        if (ms < 10)
            ms = 10;   /* at least a few bytes per wake-up */
    }
    fh_shape_arm(s, ms);
}

void fh_shape_drained(struct fh_conn *c)
{
    if (c->half_closed && c->state == FH_CONN_OPEN)
        shutdown(c->fd, SHUT_WR);
}

/* ---- lifetime ---------------------------------------------------------------- */

void fh_intercept_conn_gone(struct fh_conn *c)
{
    struct fh_hub *hub = c->hub;
    for (struct fh_delayed *d = hub->delayed, *next; d; d = next) {
        next = d->next;
        if (d->c == c)
            fh_delayed_free(hub, d);
    }
    struct fh_shaped *s = c->shaped ? fh_shaped_of(c) : NULL;
    if (s)
        fh_shape_free(s, false);
}

void fh_intercept_free(struct fh_hub *hub)
{
    fh_hub_filters_changed(hub);
    while (hub->delayed)
        fh_delayed_free(hub, hub->delayed);
    while (hub->shaped)
        fh_shape_free(hub->shaped, false);
}
