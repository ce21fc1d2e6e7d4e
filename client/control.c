/* control.c: dcclient's JSON-lines control protocol (see control.h and
 * docs/control-protocol.md).
 *
 * Framing: one JSON object per '\n'-terminated line, at most DCC_CTL_MAX_LINE
 * bytes; a longer line gets an error reply and is skipped up to its '\n', so
 * the following request is read intact. Dispatch: the ctl_cmds table gives
 * each command its argument spec; ctl_check_args validates names, types and
 * presence before a handler runs, so handlers never re-check. connect and
 * disconnect reply later, when the client reports the outcome; everything
 * else replies at once. Text from the hub that is not valid UTF-8 is passed
 * on with U+FFFD in place of each bad byte, since JSON strings must be UTF-8.
 */
#include "client/control.h"
#include "client/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <jansson.h>

#include "proto/base32.h"
#include "proto/fltree.h"
#include "proto/fixture.h"

/* One controller connection. Owned by the ctl's list. */
struct dcc_chan {
    struct dcc_ctl *ctl;          /* borrowed back-pointer */
    struct bufferevent *bev;      /* owned: reads requests; for sockets also writes (owns the fd) */
    int out_fd;                   /* stdio: replies written here with blocking writes; else -1 */
    bool is_stdio;
    bool discarding;              /* skipping the rest of an over-long line */
    struct dcc_chan *next;
};

/* A reply owed later (connect, disconnect). chan is borrowed and cleared if
 * the channel goes away first; id is an owned reference. */
struct ctl_pending {
    struct dcc_chan *chan;
    json_t *id;
};

/* The controller. Owns the client, the channels, the listener and the socket path. */
struct dcc_ctl {
    struct event_base *base;      /* borrowed */
    struct dcc_client *client;
    struct dcc_chan *chans;
    struct evconnlistener *listener;
    char *socket_path;
    struct ctl_pending connect, disconnect;
    struct ctl_xpending *xpending;
    bool quitting, quit_called;
    void (*quit_cb)(void *ctx);
    void *quit_ctx;               /* borrowed */
    struct ctl_flood *flood;      /* a paced flood under way, or NULL */
};

/* A flood sent one line per interval (cmd_flood). Owned by the ctl. */
struct ctl_flood {
    struct dcc_ctl *t;            /* borrowed */
    struct event *ev;             /* owned timer */
    long count, sent;
    long size;
    char *nick;                   /* owned: PMs to it, or NULL: chat */
    struct timeval every;
};

/* A list/download request answered when its transfer ends. chan is
 * borrowed (cleared if the channel goes first); id and path are owned. */
struct ctl_xpending {
    long xid;
    struct dcc_chan *chan;
    json_t *id;
    char *path;                   /* list: the part of the tree to return */
    struct ctl_xpending *next;
};

/* One request being handled. */
struct ctl_req {
    struct dcc_chan *chan;        /* borrowed */
    json_t *id;                   /* borrowed from the parsed request */
    json_t *args;                 /* borrowed; an object (possibly empty) */
    char err[DCC_ERR_LEN];        /* message, and its code (dcc_err_code) */
    bool deferred;                /* the handler stored the id; reply later */
};

/* Fail a request with a message and a stable code (docs/control-protocol.md). */
#define ctl_fail(r, code, ...) ((void)dcc_errc((r)->err, (code), __VA_ARGS__))

/* ---- output --------------------------------------------------------------- */

static int ctl_write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Send one JSON object (consumed) as a line. */
static void ctl_send(struct dcc_chan *ch, json_t *obj)
{
    char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (!text || !ch)
        goto out;
    size_t n = strlen(text);
    text[n] = '\n';    /* json_dumps' NUL becomes the line end; we write n + 1 bytes */
    if (ch->is_stdio) {
        if (ch->out_fd >= 0 && ctl_write_all(ch->out_fd, text, n + 1) < 0)
            ch->out_fd = -1;   /* the reader is gone; keep serving the others */
    } else {
        bufferevent_write(ch->bev, text, n + 1);
    }
out:
    free(text);
}

static void ctl_broadcast(struct dcc_ctl *t, json_t *obj)
{
    for (struct dcc_chan *ch = t->chans; ch; ch = ch->next)
        ctl_send(ch, json_incref(obj));
    json_decref(obj);
}

static void ctl_reply_ok(struct dcc_chan *ch, json_t *id, json_t *result)
{
    ctl_send(ch, json_pack("{s:O?,s:b,s:o}", "id", id, "ok", 1, "result", result ? result : json_object()));
}

static json_t *ctl_str(const char *s);

/* code: a stable code (docs/parties.md); error: the human text. */
static void ctl_reply_err(struct dcc_chan *ch, json_t *id, const char *error, const char *code)
{
    ctl_send(ch, json_pack("{s:O?,s:b,s:o,s:s}", "id", id, "ok", 0, "error", ctl_str(error), "code", code));
}

/* Length of the valid UTF-8 sequence at p (RFC 3629: no overlongs, no
 * surrogates, at most U+10FFFF), or 0. */
static int ctl_utf8_len(const unsigned char *p)
{
    int n = p[0] < 0x80 ? 1 : p[0] >= 0xC2 && p[0] <= 0xDF ? 2 : (p[0] & 0xF0) == 0xE0 ? 3
          : p[0] >= 0xF0 && p[0] <= 0xF4 ? 4 : 0;
    for (int i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    if ((p[0] == 0xE0 && p[1] < 0xA0) || (p[0] == 0xED && p[1] >= 0xA0) ||
        (p[0] == 0xF0 && p[1] < 0x90) || (p[0] == 0xF4 && p[1] >= 0x90))
        return 0;
    return n;
}

/* A JSON string for bytes from the hub: invalid UTF-8 bytes become U+FFFD. */
static json_t *ctl_str(const char *s)
{
    json_t *j = json_string(s ? s : "");
    if (j)
        return j;
    struct dc_buf b;
    dc_buf_init(&b, 0);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        int n = ctl_utf8_len(p);
        if (n)
            dc_buf_append(&b, p, (size_t)n), p += n;
        else
            dc_buf_append_str(&b, "\xEF\xBF\xBD"), p++;
    }
    j = json_string(b.data ? b.data : "");
    dc_buf_cleanup(&b);
    return j;
}

static json_t *ctl_user_json(const struct dcc_user *u)
{
    json_t *j = json_pack("{s:o,s:o,s:o,s:o,s:I,s:b}", "nick", ctl_str(u->nick), "description",
                          ctl_str(u->description), "email", ctl_str(u->email), "tag", ctl_str(u->tag),
                          "share", (json_int_t)u->share, "op", u->op);
    if (j && *u->sid)
        json_object_set_new(j, "sid", json_string(u->sid));
    if (j && *u->cid)
        json_object_set_new(j, "cid", ctl_str(u->cid));
    if (j && u->tls)
        json_object_set_new(j, "tls", json_true());
    if (j && *u->keyprint)
        json_object_set_new(j, "keyprint", ctl_str(u->keyprint));
    return j;
}

static json_t *ctl_session_json(struct dcc_ctl *t)
{
    json_t *j = json_pack("{s:o,s:s,s:o,s:b}", "url", ctl_str(dcc_client_url(t->client)), "protocol",
                          dcc_proto_name(dcc_client_proto(t->client)), "nick", ctl_str(dcc_client_nick(t->client)),
                          "tls", dcc_client_tls(t->client));
    if (j && *dcc_client_hub_keyprint(t->client))
        json_object_set_new(j, "keyprint", json_string(dcc_client_hub_keyprint(t->client)));
    return j;
}

static void ctl_resolve(struct ctl_pending *p, json_t *result, const char *error, const char *code)
{
    if (p->id) {
        if (error)
            ctl_reply_err(p->chan, p->id, error, code ? code : "internal");
        else
            ctl_reply_ok(p->chan, p->id, result), result = NULL;
        json_decref(p->id);
    }
    json_decref(result);
    p->id = NULL;
    p->chan = NULL;
}

/* Recursive: the depth of a peer's list is bounded by the reader (libxml2's
 * nesting limit). */
static json_t *ctl_tree_json(const struct dc_fl_tree *t, dc_fl_id n)
{
    if (!dc_fl_tree_is_dir(t, n)) {
        char tth[DC_TTH_BASE32_LEN + 1];
        dc_base32_encode(dc_fl_tree_tth(t, n), DC_TTH_LEN, tth, sizeof tth);
        return json_pack("{s:o,s:s,s:I,s:s}", "name", ctl_str(dc_fl_tree_name(t, n)), "type", "file", "size",
                         (json_int_t)dc_fl_tree_size(t, n), "tth", tth);
    }
    json_t *kids = json_array();
    for (dc_fl_id k = dc_fl_tree_first_child(t, n); k != DC_FL_NONE; k = dc_fl_tree_next_sibling(t, k))
        json_array_append_new(kids, ctl_tree_json(t, k));
    json_t *j = json_pack("{s:o,s:s,s:o}", "name", ctl_str(dc_fl_tree_name(t, n)), "type", "dir", "children", kids);
    if (j && dc_fl_tree_incomplete(t, n))
        json_object_set_new(j, "incomplete", json_true());
    return j;
}

static json_t *ctl_transfer_json(const char *event, const struct dcc_transfer_info *x)
{
    json_t *j = json_pack("{s:s,s:I,s:o,s:b,s:o,s:s,s:o,s:I,s:I,s:I,s:I,s:f,s:f,s:b}", "event", event, "id",
                          (json_int_t)x->id, "nick", ctl_str(x->nick), "list", x->is_list, "path", ctl_str(x->path),
                          "tth", x->tth, "file", ctl_str(x->file), "size", (json_int_t)x->size, "done",
                          (json_int_t)x->done, "resumed_from", (json_int_t)x->resumed_from, "received",
                          (json_int_t)x->received, "seconds", x->seconds, "bytes_per_second", x->speed,
                          "compressed", x->compressed);
    if (j)
        json_object_set_new(j, "tls", json_boolean(x->tls));
    return j;
}

/* A transfer ended: answer the list/download request waiting for it. */
static void ctl_xresolve(struct dcc_ctl *t, const struct dcc_event *ev)
{
    const struct dcc_transfer_info *x = ev->transfer;
    for (struct ctl_xpending **pp = &t->xpending; *pp; pp = &(*pp)->next) {
        struct ctl_xpending *p = *pp;
        if (p->xid != x->id)
            continue;
        *pp = p->next;
        if (ev->type == DCC_EVENT_TRANSFER_FAILED) {
            ctl_reply_err(p->chan, p->id, ev->text, ev->error_code ? ev->error_code : "transfer-failed");
        } else if (x->is_list) {
            dc_fl_id n = x->list ? dc_fl_tree_find(x->list, DC_FL_ROOT, p->path) : DC_FL_NONE;
            if (n != DC_FL_NONE)
                ctl_reply_ok(p->chan, p->id, json_pack("{s:I,s:o,s:s,s:o}", "id", (json_int_t)x->id, "nick",
                                                       ctl_str(x->nick), "path", p->path, "tree",
                                                       ctl_tree_json(x->list, n)));
            else
                ctl_reply_err(p->chan, p->id, "no such path in the list", "no-such-path");
        } else {
            json_t *r = ctl_transfer_json("", x);
            json_object_del(r, "event");
            ctl_reply_ok(p->chan, p->id, r);
        }
        json_decref(p->id);
        free(p->path);
        free(p);
        return;
    }
}

static void ctl_finish_quit(struct dcc_ctl *t)
{
    if (t->quit_called)
        return;
    t->quit_called = true;
    if (t->quit_cb)
        t->quit_cb(t->quit_ctx);
}

/* ---- client events -> JSON ------------------------------------------------ */

static void ctl_event_cb(struct dcc_client *c, const struct dcc_event *ev, void *arg)
{
    struct dcc_ctl *t = arg;
    (void)c;
    json_t *j = NULL, *json_t_tmp;
    switch (ev->type) {
    case DCC_EVENT_CONNECTED:
        j = json_pack("{s:s}", "event", "hub.connected");
        json_object_update(j, json_t_tmp = ctl_session_json(t));
        json_decref(json_t_tmp);
        ctl_resolve(&t->connect, ctl_session_json(t), NULL, NULL);
        break;
    case DCC_EVENT_DISCONNECTED:
        j = json_pack("{s:s,s:o,s:b}", "event", "hub.disconnected", "reason", ctl_str(ev->text), "logged_in",
                      ev->logged_in);
        ctl_resolve(&t->connect, NULL, ev->text, ev->error_code ? ev->error_code : "connect-failed");
        ctl_resolve(&t->disconnect, json_object(), NULL, NULL);
        break;
    case DCC_EVENT_RECONNECTING:
        j = json_pack("{s:s,s:f}", "event", "hub.reconnecting", "delay", ev->delay);
        break;
    case DCC_EVENT_STATUS:
        j = json_pack("{s:s,s:o}", "event", "hub.status", "text", ctl_str(ev->text));
        if (ev->code >= 0)
            json_object_set_new(j, "code", json_integer(ev->code));
        break;
    case DCC_EVENT_USER_JOIN:
    case DCC_EVENT_USER_UPDATE:
        j = json_pack("{s:s}", "event", ev->type == DCC_EVENT_USER_JOIN ? "user.join" : "user.update");
        json_object_update(j, json_t_tmp = ctl_user_json(ev->user));
        json_decref(json_t_tmp);
        break;
    case DCC_EVENT_USER_LEAVE:
        j = json_pack("{s:s,s:o}", "event", "user.leave", "nick", ctl_str(ev->user->nick));
        break;
    case DCC_EVENT_CHAT:
        j = json_pack("{s:s,s:o,s:o}", "event", "chat", "from", ctl_str(ev->from), "text", ctl_str(ev->text));
        break;
    case DCC_EVENT_PM:
        j = json_pack("{s:s,s:o,s:o,s:o}", "event", "pm", "from", ctl_str(ev->from), "to", ctl_str(ev->to),
                      "text", ctl_str(ev->text));
        break;
    case DCC_EVENT_SHARE_PROGRESS:
    case DCC_EVENT_SHARE_DONE:
        j = json_pack("{s:s,s:I,s:I,s:I,s:I}", "event",
                      ev->type == DCC_EVENT_SHARE_DONE ? "share.done" : "share.progress", "files",
                      (json_int_t)ev->share->files, "bytes", (json_int_t)ev->share->bytes, "files_hashed",
                      (json_int_t)ev->share->files_hashed, "bytes_hashed", (json_int_t)ev->share->bytes_hashed);
        break;
    case DCC_EVENT_TRANSFER_PROGRESS:
        j = ctl_transfer_json("transfer.progress", ev->transfer);
        break;
    case DCC_EVENT_TRANSFER_DONE:
    case DCC_EVENT_TRANSFER_FAILED:
        j = ctl_transfer_json(ev->type == DCC_EVENT_TRANSFER_DONE ? "transfer.done" : "transfer.failed",
                              ev->transfer);
        if (j && ev->text)
            json_object_set_new(j, "error", ctl_str(ev->text));
        if (j)
            ctl_broadcast(t, j);
        j = NULL;
        ctl_xresolve(t, ev);   /* after the event: the reply comes last */
        break;
    }
    if (j)
        ctl_broadcast(t, j);
    if (ev->type == DCC_EVENT_DISCONNECTED && t->quitting)
        ctl_finish_quit(t);
}

static void ctl_log_cb(struct dcc_client *c, const char *line, void *arg)
{
    (void)c;
    (void)arg;
    fprintf(stderr, "dcclient: %s\n", line);
}

/* ---- commands ------------------------------------------------------------ */

static json_t *cmd_ping(struct dcc_ctl *t, struct ctl_req *r)
{
    (void)t;
    (void)r;
    return json_pack("{s:b}", "pong", 1);
}

static json_t *cmd_connect(struct dcc_ctl *t, struct ctl_req *r)
{
    const char *names[] = {"nick", "password"};
    for (size_t i = 0; i < 2; i++) {
        json_t *v = json_object_get(r->args, names[i]);
        if (v && dcc_client_set_text(t->client, names[i], json_string_value(v), r->err) < 0)
            return NULL;
    }
    if (dcc_client_connect(t->client, json_string_value(json_object_get(r->args, "url")), r->err) < 0)
        return NULL;
    ctl_resolve(&t->connect, NULL, "superseded by a newer connect", "connect-failed");
    t->connect.chan = r->chan;
    t->connect.id = json_incref(r->id);
    r->deferred = true;
    return NULL;
}

static json_t *cmd_disconnect(struct dcc_ctl *t, struct ctl_req *r)
{
    if (t->disconnect.id) {
        ctl_fail(r, "not-connected", "already disconnecting");
        return NULL;
    }
    /* Registered first: the DISCONNECTED event may come synchronously. */
    t->disconnect.chan = r->chan;
    t->disconnect.id = json_incref(r->id);
    r->deferred = true;
    if (dcc_client_disconnect(t->client, r->err) < 0) {
        json_decref(t->disconnect.id);
        t->disconnect.id = NULL;
        t->disconnect.chan = NULL;
        r->deferred = false;
    }
    return NULL;
}

static json_t *cmd_say(struct dcc_ctl *t, struct ctl_req *r)
{
    if (dcc_client_say(t->client, json_string_value(json_object_get(r->args, "text")), r->err) < 0)
        return NULL;
    return json_object();
}

static json_t *cmd_pm(struct dcc_ctl *t, struct ctl_req *r)
{
    if (dcc_client_pm(t->client, json_string_value(json_object_get(r->args, "nick")),
                      json_string_value(json_object_get(r->args, "text")), r->err) < 0)
        return NULL;
    return json_object();
}

/* One flood line: "flood <i> " padded with x to size bytes. */
static int ctl_flood_line(struct dcc_client *c, const char *nick, long i, long size, char *err)
{
    char *text = malloc((size_t)size + 1);
    if (!text)
        return dcc_errc(err, "internal", "out of memory");
    int k = snprintf(text, (size_t)size + 1, "flood %ld ", i);
    memset(text + k, 'x', (size_t)(size - k));
    text[size] = '\0';
    int rc = nick ? dcc_client_pm(c, nick, text, err) : dcc_client_say(c, text, err);
    free(text);
    return rc;
}

static void ctl_flood_free(struct dcc_ctl *t)
{
    if (!t->flood)
        return;
    event_free(t->flood->ev);
    free(t->flood->nick);
    free(t->flood);
    t->flood = NULL;
}

static void ctl_flood_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct ctl_flood *f = arg;
    struct dcc_ctl *t = f->t;
    char err[DCC_ERR_LEN] = "";
    if (ctl_flood_line(t->client, f->nick, f->sent, f->size, err) == 0)
        f->sent++;
    if (*err || f->sent == f->count) {
        json_t *ev = json_pack("{s:s, s:i}", "event", "flood.done", "sent", (int)f->sent);
        if (ev && *err)
            json_object_set_new(ev, "error", json_string(err));
        ctl_flood_free(t);
        ctl_broadcast(t, ev);
        return;
    }
    evtimer_add(f->ev, &f->every);
}

/* A flood (fault): count chat lines, or PMs to nick, of size bytes each,
 * so a hub meets a client that sends more than it should: all at once, or
 * one per interval ms (then replied at once, and `flood.done` at the end). */
static json_t *cmd_flood(struct dcc_ctl *t, struct ctl_req *r)
{
    json_t *jc = json_object_get(r->args, "count"), *js = json_object_get(r->args, "size");
    json_t *ji = json_object_get(r->args, "interval");
    const char *nick = json_string_value(json_object_get(r->args, "nick"));
    json_int_t count = json_integer_value(jc), size = js ? json_integer_value(js) : 64;
    json_int_t interval = ji ? json_integer_value(ji) : 0;
    if (interval < 0 || interval > 60000) {
        ctl_fail(r, "bad-request", "interval: %lld is out of range 0..60000 (ms)", (long long)interval);
        return NULL;
    }
    if (t->flood) {
        ctl_fail(r, "bad-request", "a flood is already under way");
        return NULL;
    }
    if (count < 1 || count > 100000) {
        ctl_fail(r, "bad-request", "count: %lld is out of range 1..100000", (long long)count);
        return NULL;
    }
    if (size < 16 || size > 1048576) {
        ctl_fail(r, "bad-request", "size: %lld is out of range 16..1048576", (long long)size);
        return NULL;
    }
    if (interval) {
        struct ctl_flood *f = calloc(1, sizeof *f);
        if (!f || (nick && !(f->nick = strdup(nick))) || !(f->ev = evtimer_new(t->base, ctl_flood_cb, f))) {
            if (f)
                free(f->nick);
            free(f);
            ctl_fail(r, "internal", "out of memory");
            return NULL;
        }
        *f = (struct ctl_flood){.t = t, .ev = f->ev, .count = (long)count, .size = (long)size, .nick = f->nick,
                                .every = {interval / 1000, (long)(interval % 1000) * 1000}};
        t->flood = f;
        evtimer_add(f->ev, &f->every);
        return json_pack("{s:I}", "queued", count);
    }
    json_int_t sent = 0;
    while (sent < count && ctl_flood_line(t->client, nick, (long)sent, (long)size, r->err) == 0)
        sent++;
    if (sent == 0)
        return NULL;
    return json_pack("{s:I}", "sent", sent);
}

static json_t *cmd_raw(struct dcc_ctl *t, struct ctl_req *r)
{
    if (dcc_client_raw(t->client, json_string_value(json_object_get(r->args, "line")), r->err) < 0)
        return NULL;
    return json_object();
}

static void ctl_add_user(const struct dcc_user *u, void *arg)
{
    json_array_append_new(arg, ctl_user_json(u));
}

static int ctl_nick_cmp(const void *a, const void *b)
{
    return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "nick")),
                  json_string_value(json_object_get(*(json_t *const *)b, "nick")));
}

static json_t *cmd_users(struct dcc_ctl *t, struct ctl_req *r)
{
    (void)r;
    json_t *arr = json_array();
    dcc_client_foreach_user(t->client, ctl_add_user, arr);
    /* Sorted by nick, so the reply is the same whatever the hash order. */
    size_t n = json_array_size(arr);
    json_t **items = calloc(n ? n : 1, sizeof *items);
    json_t *sorted = json_array();
    for (size_t i = 0; items && i < n; i++)
        items[i] = json_array_get(arr, i);
    if (items)
        qsort(items, n, sizeof *items, ctl_nick_cmp);
    for (size_t i = 0; items && i < n; i++)
        json_array_append(sorted, items[i]);
    free(items);
    json_decref(arr);
    return json_pack("{s:o}", "users", sorted);
}

static json_t *ctl_value_json(const struct dcc_value *v)
{
    switch (v->type) {
    case DCC_TYPE_STRING: return ctl_str(v->u.s);
    case DCC_TYPE_INT: return json_integer(v->u.i);
    case DCC_TYPE_INT64: return json_integer(v->u.i64);
    case DCC_TYPE_DOUBLE: return json_real(v->u.d);
    case DCC_TYPE_BOOL: return json_boolean(v->u.b);
    }
    return json_null();
}

static json_t *cmd_get(struct dcc_ctl *t, struct ctl_req *r)
{
    const char *name = json_string_value(json_object_get(r->args, "name"));
    struct dcc_value v;
    if (dcc_client_get(t->client, name, &v, r->err) < 0)
        return NULL;
    return json_pack("{s:s,s:s,s:o}", "name", name, "type", dcc_type_name(v.type), "value", ctl_value_json(&v));
}

static const char *ctl_json_type(int type)
{
    switch (type) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

static json_t *cmd_set(struct dcc_ctl *t, struct ctl_req *r)
{
    const char *name = json_string_value(json_object_get(r->args, "name"));
    json_t *j = json_object_get(r->args, "value");
    const struct dcc_setting_info *info = dcc_setting_find(name);
    if (!info) {
        ctl_fail(r, "unknown-setting", "unknown setting '%s'", name);
        return NULL;
    }
    /* The JSON type must match: no "5" for an int. */
    struct dcc_value v = {.type = info->type};
    bool ok = false;
    switch (info->type) {
    case DCC_TYPE_STRING:
        ok = json_is_string(j), v.u.s = json_string_value(j);
        break;
    case DCC_TYPE_INT:
        ok = json_is_integer(j) && json_integer_value(j) >= INT32_MIN && json_integer_value(j) <= INT32_MAX;
        v.u.i = (int)json_integer_value(j);
        break;
    case DCC_TYPE_INT64:
        ok = json_is_integer(j), v.u.i64 = json_integer_value(j);
        break;
    case DCC_TYPE_DOUBLE:
        ok = json_is_number(j), v.u.d = json_number_value(j);
        break;
    case DCC_TYPE_BOOL:
        ok = json_is_boolean(j), v.u.b = json_is_true(j);
        break;
    }
    if (!ok) {
        ctl_fail(r, "bad-value", "setting '%s' is of type %s, not %s", name, dcc_type_name(info->type),
                 ctl_json_type(j ? (int)json_typeof(j) : JSON_NULL));
        return NULL;
    }
    return dcc_client_set(t->client, name, &v, r->err) < 0 ? NULL : json_object();
}

static json_t *cmd_settings(struct dcc_ctl *t, struct ctl_req *r)
{
    (void)r;
    json_t *arr = json_array();
    for (size_t i = 0; i < dcc_setting_count(); i++) {
        const struct dcc_setting_info *info = dcc_setting_at(i);
        struct dcc_value v;
        dcc_client_get(t->client, info->name, &v, NULL);
        json_array_append_new(arr, json_pack("{s:s,s:s,s:o,s:s,s:s}", "name", info->name, "type",
                                             dcc_type_name(info->type), "value", ctl_value_json(&v),
                                             "default", info->def, "description", info->description));
    }
    return json_pack("{s:o}", "settings", arr);
}

static json_t *cmd_share(struct dcc_ctl *t, struct ctl_req *r)
{
    const char *path = json_string_value(json_object_get(r->args, "path"));
    if (dcc_client_share(t->client, path, r->err) < 0)
        return NULL;
    return json_pack("{s:s}", "path", path);
}

/* Remember a request answered when transfer xid ends. */
static json_t *ctl_defer(struct dcc_ctl *t, struct ctl_req *r, long xid, const char *path)
{
    struct ctl_xpending *p = calloc(1, sizeof *p);
    if (!p || !(p->path = strdup(path ? path : ""))) {
        free(p);
        ctl_fail(r, "internal", "out of memory");
        return NULL;
    }
    p->xid = xid;
    p->chan = r->chan;
    p->id = json_incref(r->id);
    p->next = t->xpending;
    t->xpending = p;
    r->deferred = true;
    return NULL;
}

static json_t *cmd_list(struct dcc_ctl *t, struct ctl_req *r)
{
    long xid = dcc_client_list(t->client, json_string_value(json_object_get(r->args, "nick")), r->err);
    return xid < 0 ? NULL : ctl_defer(t, r, xid, json_string_value(json_object_get(r->args, "path")));
}

static json_t *cmd_download(struct dcc_ctl *t, struct ctl_req *r)
{
    struct dcc_download_req q = {
        .nick = json_string_value(json_object_get(r->args, "nick")),
        .path = json_string_value(json_object_get(r->args, "path")),
        .tth = json_string_value(json_object_get(r->args, "tth")),
        .target_dir = json_string_value(json_object_get(r->args, "target_dir")),
        .name = json_string_value(json_object_get(r->args, "name")),
    };
    long xid = dcc_client_download(t->client, &q, r->err);
    return xid < 0 ? NULL : ctl_defer(t, r, xid, NULL);
}

/* Fixture files for scenarios (proto/fixture.h: the bytes dcharness's
 * `fixture` step writes too): size bytes from a seeded xorshift64* stream,
 * or with text=true numbered text lines. Blocks the client while writing;
 * meant for test set-up. A path ending in '/' creates that directory. */
static json_t *cmd_mkfile(struct dcc_ctl *t, struct ctl_req *r)
{
    (void)t;
    const char *path = json_string_value(json_object_get(r->args, "path"));
    json_int_t size = json_integer_value(json_object_get(r->args, "size"));
    json_t *seedj = json_object_get(r->args, "seed"), *textj = json_object_get(r->args, "text");
    if (textj && !json_is_boolean(textj)) {
        ctl_fail(r, "bad-request", "mkfile: argument 'text' must be a boolean");
        return NULL;
    }
    if (size < 0 || size > DC_FIXTURE_MAX_SIZE) {
        ctl_fail(r, "bad-request", "mkfile: size must be 0..2^40");
        return NULL;
    }
    char why[512];
    size_t plen = strlen(path);
    if (dc_fixture_write(path, size, seedj ? (uint64_t)json_integer_value(seedj) : 1, json_is_true(textj), why,
                         sizeof why) < 0) {
        ctl_fail(r, "internal", "mkfile: %s", why);
        return NULL;
    }
    return json_pack("{s:s,s:I}", "path", path, "size", plen && path[plen - 1] == '/' ? (json_int_t)0 : size);
}

static json_t *cmd_quit(struct dcc_ctl *t, struct ctl_req *r)
{
    ctl_reply_ok(r->chan, r->id, NULL);
    r->deferred = true;    /* replied already: the reply must precede the exit */
    dcc_ctl_quit(t);
    return NULL;
}

#define CTL_MAX_ARGS 5

/* An argument: name, JSON type (-1: any), required. */
struct ctl_arg {
    const char *name;
    int type;
    bool required;
};

static const struct ctl_cmd {
    const char *name;
    json_t *(*fn)(struct dcc_ctl *t, struct ctl_req *r);
    struct ctl_arg args[CTL_MAX_ARGS];
} ctl_cmds[] = {
    {"ping", cmd_ping, {{0}}},
    {"connect", cmd_connect, {{"url", JSON_STRING, true}, {"nick", JSON_STRING, false}, {"password", JSON_STRING, false}}},
    {"disconnect", cmd_disconnect, {{0}}},
    {"say", cmd_say, {{"text", JSON_STRING, true}}},
    {"pm", cmd_pm, {{"nick", JSON_STRING, true}, {"text", JSON_STRING, true}}},
    {"flood", cmd_flood, {{"count", JSON_INTEGER, true}, {"size", JSON_INTEGER, false}, {"nick", JSON_STRING, false},
                          {"interval", JSON_INTEGER, false}}},
    {"users", cmd_users, {{0}}},
    {"raw", cmd_raw, {{"line", JSON_STRING, true}}},
    {"get", cmd_get, {{"name", JSON_STRING, true}}},
    {"set", cmd_set, {{"name", JSON_STRING, true}, {"value", -1, true}}},
    {"settings", cmd_settings, {{0}}},
    {"share", cmd_share, {{"path", JSON_STRING, true}}},
    {"list", cmd_list, {{"nick", JSON_STRING, true}, {"path", JSON_STRING, false}}},
    {"download", cmd_download, {{"nick", JSON_STRING, true}, {"path", JSON_STRING, false}, {"tth", JSON_STRING, false},
                                {"target_dir", JSON_STRING, true}, {"name", JSON_STRING, false}}},
    {"mkfile", cmd_mkfile, {{"path", JSON_STRING, true}, {"size", JSON_INTEGER, false}, {"seed", JSON_INTEGER, false},
                            {"text", -1, false}}},
    {"quit", cmd_quit, {{0}}},
};


/* Every given argument known and of the right type; every required one given. */
static int ctl_check_args(const struct ctl_cmd *cmd, json_t *args, char *err)
{
    const char *key;
    json_t *v;
    json_object_foreach(args, key, v) {
        const struct ctl_arg *a = NULL;
        for (size_t i = 0; i < CTL_MAX_ARGS && cmd->args[i].name; i++)
            if (strcmp(cmd->args[i].name, key) == 0)
                a = &cmd->args[i];
        if (!a)
            return dcc_errc(err, "bad-request", "%s: unknown argument '%s'", cmd->name, key);
        if (a->type >= 0 && (int)json_typeof(v) != a->type)
            return dcc_errc(err, "bad-request", "%s: argument '%s' must be %s", cmd->name, key, ctl_json_type(a->type));
    }
    for (size_t i = 0; i < CTL_MAX_ARGS && cmd->args[i].name; i++)
        if (cmd->args[i].required && !json_object_get(args, cmd->args[i].name))
            return dcc_errc(err, "bad-request", "%s: missing argument '%s'", cmd->name, cmd->args[i].name);
    return 0;
}

static void ctl_request(struct dcc_chan *ch, const char *line, size_t len)
{
    struct dcc_ctl *t = ch->ctl;
    json_error_t jerr;
    json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    struct ctl_req r = {.chan = ch};
    json_t *id = req ? json_object_get(req, "id") : NULL;
    if (!req) {
        ctl_reply_err(ch, NULL, "request is not valid JSON", "bad-request");
        return;
    }
    if (id && !json_is_integer(id) && !json_is_string(id) && !json_is_null(id)) {
        ctl_reply_err(ch, NULL, "request id must be an integer or a string", "bad-request");
        goto out;
    }
    r.id = id;
    json_t *cmdj = json_is_object(req) ? json_object_get(req, "cmd") : NULL;
    json_t *args = json_is_object(req) ? json_object_get(req, "args") : NULL;
    const struct ctl_cmd *cmd = NULL;
    if (!json_is_object(req)) {
        ctl_reply_err(ch, NULL, "request must be a JSON object", "bad-request");
        goto out;
    }
    if (!json_is_string(cmdj)) {
        ctl_reply_err(ch, id, "request has no \"cmd\" string", "bad-request");
        goto out;
    }
    for (size_t i = 0; i < sizeof ctl_cmds / sizeof ctl_cmds[0]; i++)
        if (strcmp(ctl_cmds[i].name, json_string_value(cmdj)) == 0)
            cmd = &ctl_cmds[i];
    if (!cmd) {
        ctl_fail(&r, "unknown-command", "unknown command '%s'", json_string_value(cmdj));
        ctl_reply_err(ch, id, r.err, dcc_err_code(r.err));
        goto out;
    }
    if (args && !json_is_object(args) && !json_is_null(args)) {
        ctl_reply_err(ch, id, "\"args\" must be an object", "bad-request");
        goto out;
    }
    json_t *empty = json_object();
    r.args = json_is_object(args) ? args : empty;
    if (ctl_check_args(cmd, r.args, r.err) < 0) {
        ctl_reply_err(ch, id, r.err, dcc_err_code(r.err));
    } else {
        json_t *result = cmd->fn(t, &r);
        if (result)
            ctl_reply_ok(ch, id, result);
        else if (!r.deferred)
            ctl_reply_err(ch, id, r.err[0] ? r.err : "failed", dcc_err_code(r.err));
    }
    json_decref(empty);
out:
    json_decref(req);
}

/* ---- channels ---------------------------------------------------------------- */

static void ctl_chan_free(struct dcc_chan *ch)
{
    struct dcc_ctl *t = ch->ctl;
    for (struct dcc_chan **pp = &t->chans; *pp; pp = &(*pp)->next) {
        if (*pp == ch) {
            *pp = ch->next;
            break;
        }
    }
    if (t->connect.chan == ch)
        t->connect.chan = NULL;
    if (t->disconnect.chan == ch)
        t->disconnect.chan = NULL;
    for (struct ctl_xpending *p = t->xpending; p; p = p->next)
        if (p->chan == ch)
            p->chan = NULL;
    if (ch->bev)
        bufferevent_free(ch->bev);
    free(ch);
}

static void ctl_read_cb(struct bufferevent *bev, void *arg)
{
    struct dcc_chan *ch = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    while (!ch->ctl->quitting) {
        struct evbuffer_ptr p = evbuffer_search(in, "\n", 1, NULL);
        if (p.pos < 0) {
            size_t len = evbuffer_get_length(in);
            if (len > DCC_CTL_MAX_LINE) {
                if (!ch->discarding)
                    ctl_reply_err(ch, NULL, "request line longer than 1048576 bytes; ignored", "bad-request");
                ch->discarding = true;
                evbuffer_drain(in, len);
            }
            break;
        }
        size_t n = (size_t)p.pos;
        if (ch->discarding || n > DCC_CTL_MAX_LINE) {
            if (!ch->discarding)
                ctl_reply_err(ch, NULL, "request line longer than 1048576 bytes; ignored", "bad-request");
            ch->discarding = false;
            evbuffer_drain(in, n + 1);
            continue;
        }
        char *line = (char *)evbuffer_pullup(in, (ssize_t)n + 1);
        size_t len = n;
        if (len && line[len - 1] == '\r')
            len--;
        if (len)
            ctl_request(ch, line, len);
        evbuffer_drain(in, n + 1);
    }
}

static void ctl_chan_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct dcc_chan *ch = arg;
    struct dcc_ctl *t = ch->ctl;
    (void)bev;
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        return;
    /* A last request without its '\n' still gets its one reply. */
    struct evbuffer *in = bufferevent_get_input(ch->bev);
    size_t left = evbuffer_get_length(in);
    if ((what & BEV_EVENT_EOF) && left && !ch->discarding && !t->quitting)
        ctl_request(ch, (const char *)evbuffer_pullup(in, (ssize_t)left), left);
    if (ch->is_stdio) {
        /* EOF on stdin: the controller is gone; quit cleanly. */
        bufferevent_free(ch->bev);
        ch->bev = NULL;
        dcc_ctl_quit(t);
    } else {
        ctl_chan_free(ch);
    }
}

static struct dcc_chan *ctl_chan_new(struct dcc_ctl *t, struct bufferevent *bev, int out_fd, bool is_stdio)
{
    struct dcc_chan *ch = calloc(1, sizeof *ch);
    if (!ch)
        return NULL;
    ch->ctl = t;
    ch->bev = bev;
    ch->out_fd = out_fd;
    ch->is_stdio = is_stdio;
    ch->next = t->chans;
    t->chans = ch;
    if (bev) {
        bufferevent_setcb(bev, ctl_read_cb, NULL, ctl_chan_event_cb, ch);
        bufferevent_setwatermark(bev, EV_READ, 0, DCC_CTL_MAX_LINE + 1);
    }
    return ch;
}

static json_t *ctl_ready_json(void)
{
    return json_pack("{s:s,s:I,s:s}", "event", "ready", "pid", (json_int_t)getpid(), "version", DCC_VERSION);
}

int dcc_ctl_stdio(struct dcc_ctl *t, int in_fd, int out_fd, char *err)
{
    struct dcc_chan *ch = ctl_chan_new(t, NULL, out_fd, true);
    if (!ch)
        return dcc_err(err, "out of memory");
    ctl_send(ch, ctl_ready_json());
    /* Not owned: stdin is the process's, closed at exit. */
    struct bufferevent *bev = bufferevent_socket_new(t->base, in_fd, 0);
    if (!bev)
        return dcc_err(err, "out of memory");
    ch->bev = bev;
    bufferevent_setcb(bev, ctl_read_cb, NULL, ctl_chan_event_cb, ch);
    bufferevent_setwatermark(bev, EV_READ, 0, DCC_CTL_MAX_LINE + 1);
    if (bufferevent_enable(bev, EV_READ) < 0) {
        /* /dev/null or a regular file cannot be polled: no requests from it. */
        bufferevent_free(bev);
        ch->bev = NULL;
        return 1;
    }
    return 0;
}

static void ctl_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
    struct dcc_ctl *t = arg;
    (void)l;
    (void)sa;
    (void)salen;
    struct bufferevent *bev = bufferevent_socket_new(t->base, fd, BEV_OPT_CLOSE_ON_FREE);
    struct dcc_chan *ch = bev ? ctl_chan_new(t, bev, -1, false) : NULL;
    if (!ch) {
        if (bev)
            bufferevent_free(bev);
        else
            close(fd);
        return;
    }
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    ctl_send(ch, ctl_ready_json());
}

/* A listening Unix socket at sun's path, mode 0600 whatever the umask: a
 * controller can make dcclient read (share) and write (mkfile, download)
 * files as its owner, so only the owner may connect. Bound, then
 * restricted, then listening: nobody can connect before the mode is set
 * (connect needs listen). The fd, or -1 with errno. */
static evutil_socket_t ctl_bind(const struct sockaddr_un *sun)
{
    evutil_socket_t fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (bind(fd, (const struct sockaddr *)sun, sizeof *sun) < 0 || chmod(sun->sun_path, 0600) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int dcc_ctl_listen(struct dcc_ctl *t, const char *path, char *err)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (t->listener)
        return dcc_err(err, "already listening on %s", t->socket_path);
    if (strlen(path) >= sizeof sun.sun_path)
        return dcc_err(err, "control socket path too long: %s", path);
    memcpy(sun.sun_path, path, strlen(path) + 1);
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);    /* a stale socket from an earlier run */
    evutil_socket_t fd = ctl_bind(&sun);
    if (fd >= 0 && !(t->listener = evconnlistener_new(t->base, ctl_accept_cb, t,
                                                      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16, fd))) {
        close(fd);
        errno = ENOMEM;
    }
    if (!t->listener)
        return dcc_err(err, "cannot listen on %s: %s", path, strerror(errno));
    t->socket_path = strdup(path);
    return 0;
}

int dcc_ctl_connect(struct dcc_ctl *t, const char *url, char *err)
{
    return dcc_client_connect(t->client, url, err);
}

void dcc_ctl_quit(struct dcc_ctl *t)
{
    if (t->quitting)
        return;
    t->quitting = true;
    enum dcc_state s = dcc_client_state(t->client);
    /* Leave the hub cleanly first; quit_cb follows its DISCONNECTED event. */
    if ((s == DCC_STATE_LOGIN || s == DCC_STATE_ONLINE) && dcc_client_disconnect(t->client, NULL) == 0)
        return;
    if (s == DCC_STATE_CLOSING)
        return;
    ctl_finish_quit(t);
}

struct dcc_ctl *dcc_ctl_new(struct event_base *base, void (*quit_cb)(void *ctx), void *ctx, char *err)
{
    struct dcc_ctl *t = calloc(1, sizeof *t);
    if (!t) {
        dcc_err(err, "out of memory");
        return NULL;
    }
    t->base = base;
    t->quit_cb = quit_cb;
    t->quit_ctx = ctx;
    struct dcc_callbacks cbs = {.event_cb = ctl_event_cb, .log_cb = ctl_log_cb};
    t->client = dcc_client_new(base, &cbs, t);
    if (!t->client) {
        free(t);
        dcc_err(err, "out of memory");
        return NULL;
    }
    return t;
}

struct dcc_client *dcc_ctl_client(struct dcc_ctl *t)
{
    return t->client;
}

/* Push what is queued for a socket controller out before closing it. */
static void ctl_flush(struct dcc_chan *ch)
{
    if (ch->is_stdio || !ch->bev)
        return;
    int fd = bufferevent_getfd(ch->bev);
    struct evbuffer *out = bufferevent_get_output(ch->bev);
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    while (evbuffer_get_length(out) && evbuffer_write(out, fd) > 0)
        ;
}

void dcc_ctl_free(struct dcc_ctl *t)
{
    if (!t)
        return;
    ctl_flood_free(t);
    /* The client first: it may not call back into freed channels. */
    dcc_client_free(t->client);
    t->client = NULL;
    json_decref(t->connect.id);
    json_decref(t->disconnect.id);
    while (t->xpending) {
        struct ctl_xpending *p = t->xpending;
        t->xpending = p->next;
        json_decref(p->id);
        free(p->path);
        free(p);
    }
    while (t->chans) {
        ctl_flush(t->chans);
        ctl_chan_free(t->chans);
    }
    if (t->listener)
        evconnlistener_free(t->listener);
    if (t->socket_path)
        unlink(t->socket_path);
    free(t->socket_path);
    free(t);
}
