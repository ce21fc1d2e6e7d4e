/* control.c: dcclient's JSON-lines control protocol (see control.h and
 * docs/control-protocol.md): the channels (stdio, socket controllers), the
 * replies, and the client's events as JSON. The verb table is
 * control_cmds.c; framing, request checks and reply encoding are
 * proto/jsonl.c's, shared with fakehub's control socket.
 *
 * Framing: one JSON object per '\n'-terminated line, at most DCC_CTL_MAX_LINE
 * bytes; a longer line gets an error reply and is skipped up to its '\n', so
 * the following request is read intact. connect and disconnect reply later,
 * when the client reports the outcome; list and download when their
 * transfer ends; everything else replies at once. Text from the hub that is
 * not valid UTF-8 is passed on with U+FFFD in place of each bad byte
 * (dc_jsonl_str), since JSON strings must be UTF-8.
 */
#include "client/control_int.h"

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

#include "proto/base32.h"
#include "proto/fltree.h"

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
    size_t n;
    char *text = dc_jsonl_line(obj, &n);
    if (!text || !ch)
        goto out;
    if (ch->is_stdio) {
        if (ch->out_fd >= 0 && ctl_write_all(ch->out_fd, text, n) < 0)
            ch->out_fd = -1;   /* the reader is gone; keep serving the others */
    } else {
        bufferevent_write(ch->bev, text, n);
    }
out:
    free(text);
}

void dcc_ctl_broadcast(struct dcc_ctl *t, json_t *obj)
{
    for (struct dcc_chan *ch = t->chans; ch; ch = ch->next)
        ctl_send(ch, json_incref(obj));
    json_decref(obj);
}

void dcc_ctl_reply_ok(struct dcc_chan *ch, json_t *id, json_t *result)
{
    ctl_send(ch, dc_jsonl_ok(id, result));
}

void dcc_ctl_reply_err(struct dcc_chan *ch, json_t *id, const char *error, const char *code)
{
    ctl_send(ch, dc_jsonl_err(id, error, code));
}

json_t *dcc_ctl_user_json(const struct dcc_user *u)
{
    json_t *j = json_pack("{s:o,s:o,s:o,s:o,s:I,s:b}", "nick", dc_jsonl_str(u->nick), "description",
                          dc_jsonl_str(u->description), "email", dc_jsonl_str(u->email), "tag", dc_jsonl_str(u->tag),
                          "share", (json_int_t)u->share, "op", u->op);
    if (j && *u->sid)
        json_object_set_new(j, "sid", json_string(u->sid));
    if (j && *u->cid)
        json_object_set_new(j, "cid", dc_jsonl_str(u->cid));
    if (j && u->tls)
        json_object_set_new(j, "tls", json_true());
    if (j && *u->keyprint)
        json_object_set_new(j, "keyprint", dc_jsonl_str(u->keyprint));
    return j;
}

static json_t *ctl_session_json(struct dcc_ctl *t)
{
    json_t *j = json_pack("{s:o,s:s,s:o,s:b}", "url", dc_jsonl_str(dcc_client_url(t->client)), "protocol",
                          dcc_proto_name(dcc_client_proto(t->client)), "nick", dc_jsonl_str(dcc_client_nick(t->client)),
                          "tls", dcc_client_tls(t->client));
    if (j && *dcc_client_hub_keyprint(t->client))
        json_object_set_new(j, "keyprint", json_string(dcc_client_hub_keyprint(t->client)));
    return j;
}

void dcc_ctl_resolve(struct ctl_pending *p, json_t *result, const char *error, const char *code)
{
    if (p->id) {
        if (error)
            dcc_ctl_reply_err(p->chan, p->id, error, code ? code : "internal");
        else
            dcc_ctl_reply_ok(p->chan, p->id, result), result = NULL;
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
        return json_pack("{s:o,s:s,s:I,s:s}", "name", dc_jsonl_str(dc_fl_tree_name(t, n)), "type", "file", "size",
                         (json_int_t)dc_fl_tree_size(t, n), "tth", tth);
    }
    json_t *kids = json_array();
    for (dc_fl_id k = dc_fl_tree_first_child(t, n); k != DC_FL_NONE; k = dc_fl_tree_next_sibling(t, k))
        json_array_append_new(kids, ctl_tree_json(t, k));
    json_t *j = json_pack("{s:o,s:s,s:o}", "name", dc_jsonl_str(dc_fl_tree_name(t, n)), "type", "dir", "children", kids);
    if (j && dc_fl_tree_incomplete(t, n))
        json_object_set_new(j, "incomplete", json_true());
    return j;
}

static json_t *ctl_transfer_json(const char *event, const struct dcc_transfer_info *x)
{
    json_t *j = json_pack("{s:s,s:I,s:o,s:b,s:o,s:s,s:o,s:I,s:I,s:I,s:I,s:f,s:f,s:b}", "event", event, "id",
                          (json_int_t)x->id, "nick", dc_jsonl_str(x->nick), "list", x->is_list, "path", dc_jsonl_str(x->path),
                          "tth", x->tth, "file", dc_jsonl_str(x->file), "size", (json_int_t)x->size, "done",
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
            dcc_ctl_reply_err(p->chan, p->id, ev->text, ev->error_code ? ev->error_code : "transfer-failed");
        } else if (x->is_list) {
            dc_fl_id n = x->list ? dc_fl_tree_find(x->list, DC_FL_ROOT, p->path) : DC_FL_NONE;
            if (n != DC_FL_NONE)
                dcc_ctl_reply_ok(p->chan, p->id, json_pack("{s:I,s:o,s:s,s:o}", "id", (json_int_t)x->id, "nick",
                                                       dc_jsonl_str(x->nick), "path", p->path, "tree",
                                                       ctl_tree_json(x->list, n)));
            else
                dcc_ctl_reply_err(p->chan, p->id, "no such path in the list", "no-such-path");
        } else {
            json_t *r = ctl_transfer_json("", x);
            json_object_del(r, "event");
            dcc_ctl_reply_ok(p->chan, p->id, r);
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
        dcc_ctl_resolve(&t->connect, ctl_session_json(t), NULL, NULL);
        break;
    case DCC_EVENT_DISCONNECTED:
        j = json_pack("{s:s,s:o,s:b}", "event", "hub.disconnected", "reason", dc_jsonl_str(ev->text), "logged_in",
                      ev->logged_in);
        dcc_ctl_resolve(&t->connect, NULL, ev->text, ev->error_code ? ev->error_code : "connect-failed");
        dcc_ctl_resolve(&t->disconnect, json_object(), NULL, NULL);
        break;
    case DCC_EVENT_RECONNECTING:
        j = json_pack("{s:s,s:f}", "event", "hub.reconnecting", "delay", ev->delay);
        break;
    case DCC_EVENT_STATUS:
        j = json_pack("{s:s,s:o}", "event", "hub.status", "text", dc_jsonl_str(ev->text));
        if (ev->code >= 0)
            json_object_set_new(j, "code", json_integer(ev->code));
        break;
    case DCC_EVENT_USER_JOIN:
    case DCC_EVENT_USER_UPDATE:
        j = json_pack("{s:s}", "event", ev->type == DCC_EVENT_USER_JOIN ? "user.join" : "user.update");
        json_object_update(j, json_t_tmp = dcc_ctl_user_json(ev->user));
        json_decref(json_t_tmp);
        break;
    case DCC_EVENT_USER_LEAVE:
        j = json_pack("{s:s,s:o}", "event", "user.leave", "nick", dc_jsonl_str(ev->user->nick));
        break;
    case DCC_EVENT_CHAT:
        j = json_pack("{s:s,s:o,s:o}", "event", "chat", "from", dc_jsonl_str(ev->from), "text", dc_jsonl_str(ev->text));
        break;
    case DCC_EVENT_PM:
        j = json_pack("{s:s,s:o,s:o,s:o}", "event", "pm", "from", dc_jsonl_str(ev->from), "to", dc_jsonl_str(ev->to),
                      "text", dc_jsonl_str(ev->text));
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
            json_object_set_new(j, "error", dc_jsonl_str(ev->text));
        if (j)
            dcc_ctl_broadcast(t, j);
        j = NULL;
        ctl_xresolve(t, ev);   /* after the event: the reply comes last */
        break;
    }
    if (j)
        dcc_ctl_broadcast(t, j);
    if (ev->type == DCC_EVENT_DISCONNECTED && t->quitting)
        ctl_finish_quit(t);
}

static void ctl_log_cb(struct dcc_client *c, const char *line, void *arg)
{
    (void)c;
    (void)arg;
    fprintf(stderr, "dcclient: %s\n", line);
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
    dc_lines_cleanup(&ch->in);
    free(ch);
}

/* Answer every complete request read so far; with eof also a last one cut
 * off without its '\n', which still gets its one reply. */
static void ctl_read(struct dcc_chan *ch, bool eof)
{
    struct evbuffer *in = bufferevent_get_input(ch->bev);
    size_t n = evbuffer_get_length(in);
    if (dc_lines_feed(&ch->in, evbuffer_pullup(in, -1), n) < 0)
        return;   /* out of memory: the bytes wait in the input buffer */
    evbuffer_drain(in, n);
    struct dc_jsonl_req req;
    while (!ch->ctl->quitting && dc_jsonl_next_request(&ch->in, eof, &req)) {
        dcc_ctl_request(ch, &req);
        dc_jsonl_req_cleanup(&req);
    }
}

static void ctl_read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    ctl_read(arg, false);
}

static void ctl_chan_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct dcc_chan *ch = arg;
    struct dcc_ctl *t = ch->ctl;
    (void)bev;
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        return;
    if (what & BEV_EVENT_EOF)
        ctl_read(ch, true);
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
    dc_jsonl_framer_init(&ch->in, DCC_CTL_MAX_LINE);
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
    dcc_ctl_flood_free(t);
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
