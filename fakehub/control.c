/* control.c: the --control Unix socket, JSON lines (docs/fakehub.md).
 *
 * Any number of controllers. Framing, request parsing and reply encoding
 * are proto/jsonl.c's, shared with dcclient's control channel; this file is
 * the socket glue and the verb table. Each request {"id","cmd","args"} gets
 * exactly one reply; bad JSON, an unknown cmd, bad args or an oversized line
 * get {"ok":false,"error":...} and the connection carries on. Subscribers get
 * login/logout/chat/pm/ctm events, which come from the hub's hooks, so they
 * are emitted from the loop like everything else. Commands are a table.
 *
 * Controllers are freed by a reaper event, never inside their own callback.
 */
#include "fakehub/hub_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "fakehub/fault.h"
#include "fakehub/trace.h"
#include "proto/jsonl.h"

#define FH_CTL_MAX_LINE 65536
#define FH_CTL_MAX_OUTPUT (16u << 20)

enum fh_ctl_event {
    FH_EV_LOGIN = 1u << 0,
    FH_EV_LOGOUT = 1u << 1,
    FH_EV_CHAT = 1u << 2,
    FH_EV_PM = 1u << 3,
    FH_EV_CTM = 1u << 4,
    FH_EV_VIOLATION = 1u << 5,
};
static const struct { const char *name; unsigned bit; } fh_ctl_events[] = {
    {"login", FH_EV_LOGIN}, {"logout", FH_EV_LOGOUT}, {"chat", FH_EV_CHAT},
    {"pm", FH_EV_PM}, {"ctm", FH_EV_CTM}, {"violation", FH_EV_VIOLATION},
};

/* One controller connection. Owned by its fh_control list. */
struct fh_ctl_client {
    struct fh_control *ctl;              /* borrowed */
    struct fh_ctl_client *next, *prev;
    struct bufferevent *bev;             /* owned; BEV_OPT_CLOSE_ON_FREE */
    unsigned events;                     /* subscription mask */
    struct dc_lines in;                  /* owned: request bytes read, not yet framed */
    bool closing, dead;
};

/* The control server. Owned by the hub. */
struct fh_control {
    struct fh_hub *hub;                  /* borrowed */
    struct evconnlistener *l;            /* owned */
    char *path;                          /* owned; unlinked at free */
    struct fh_ctl_client *clients;       /* owned list */
    size_t n;
    struct event *reap_ev;               /* owned */
    bool shutdown_requested;
    char errbuf[FH_FAULT_ERR_LEN];       /* a handler's error text, until the reply is written */
};

size_t fh_control_nclients(const struct fh_control *ctl)
{
    return ctl->n;
}

/* ---- client lifetime ------------------------------------------------------- */

static void fh_ctl_kill(struct fh_ctl_client *cl)
{
    if (cl->dead)
        return;
    cl->dead = true;
    bufferevent_disable(cl->bev, EV_READ | EV_WRITE);
    event_active(cl->ctl->reap_ev, 0, 0);
}

static void fh_ctl_reap_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct fh_control *ctl = arg;
    for (struct fh_ctl_client *cl = ctl->clients, *next; cl; cl = next) {
        next = cl->next;
        if (!cl->dead)
            continue;
        if (cl->prev)
            cl->prev->next = cl->next;
        else
            ctl->clients = cl->next;
        if (cl->next)
            cl->next->prev = cl->prev;
        bufferevent_free(cl->bev);
        dc_lines_cleanup(&cl->in);
        free(cl);
        ctl->n--;
    }
    fh_hub_check_done(ctl->hub);
}

static void fh_ctl_drained_cb(struct bufferevent *bev, void *arg)
{
    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        fh_ctl_kill(arg);
}

static void fh_ctl_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        fh_ctl_kill(arg);
}

/* Close after flushing what is queued (the hub's stop timer bounds it). */
static void fh_ctl_close(struct fh_ctl_client *cl)
{
    if (cl->closing || cl->dead)
        return;
    cl->closing = true;
    bufferevent_disable(cl->bev, EV_READ);
    if (evbuffer_get_length(bufferevent_get_output(cl->bev)) == 0)
        fh_ctl_kill(cl);
    else
        bufferevent_setcb(cl->bev, NULL, fh_ctl_drained_cb, fh_ctl_event_cb, cl);
}

static void fh_ctl_write(struct fh_ctl_client *cl, json_t *o)
{
    if (!o)
        return;
    if (!cl->dead && !cl->closing) {
        size_t n;
        char *s = dc_jsonl_line(o, &n);
        struct evbuffer *out = bufferevent_get_output(cl->bev);
        if (s)
            evbuffer_add(out, s, n);
        free(s);
        if (evbuffer_get_length(out) > FH_CTL_MAX_OUTPUT) {
            fh_log(cl->ctl->hub, "control: dropping a controller that does not read");
            fh_ctl_kill(cl);
        }
    } else {
        json_decref(o);
    }
}

/* code: the channel's own errors carry one (docs/fakehub.md); a command's
 * failure is its message only (NULL). */
static void fh_ctl_reply_error(struct fh_ctl_client *cl, json_t *id, const char *msg, const char *code)
{
    fh_ctl_write(cl, dc_jsonl_err(id, msg, code));
}

/* ---- commands ---------------------------------------------------------------- */

/* A handler returns the result object (new reference) or NULL with *err set. */
typedef json_t *fh_ctl_cmd_fn(struct fh_ctl_client *cl, json_t *args, const char **err);

static const char *fh_arg_str(json_t *args, const char *key)
{
    return json_string_value(json_object_get(args, key));
}

static json_t *fh_ctl_ping(struct fh_ctl_client *cl, json_t *args, const char **err)
{
    (void)cl, (void)args, (void)err;
    return json_pack("{s:b}", "pong", 1);
}

static void fh_ctl_user_json(struct fh_conn *c, void *ctx)
{
    bool l1;
    char ip[FH_IP_LEN];
    json_t *u = json_pack("{s:o, s:s, s:s, s:b}", "nick", fh_json_bytes(c->nick, strlen(c->nick), &l1),
                          "proto", fh_proto_name(c->proto), "ip", fh_conn_ip(c, ip), "op", c->op);
    if (u && c->proto == FH_PROTO_ADC)
        json_object_set_new(u, "sid", json_string(c->sid));
    if (u)
        json_object_set_new(u, "tls", json_boolean(c->tls));
    if (u && c->keyprint)
        json_object_set_new(u, "keyprint", json_string(c->keyprint));
    if (u)
        json_array_append_new(ctx, u);
}

static json_t *fh_ctl_users(struct fh_ctl_client *cl, json_t *args, const char **err)
{
    (void)args, (void)err;
    json_t *list = json_array();
    fh_hub_foreach_user(cl->ctl->hub, fh_ctl_user_json, list);
    return json_pack("{s:o}", "users", list);
}

static json_t *fh_ctl_kick(struct fh_ctl_client *cl, json_t *args, const char **err)
{
    const char *nick = fh_arg_str(args, "nick"), *reason = fh_arg_str(args, "reason");
    json_t *r = json_object_get(args, "reason");
    if (!nick || (r && !reason)) {
        *err = "kick needs \"nick\" (string) and an optional \"reason\" (string)";
        return NULL;
    }
    struct fh_conn *c = fh_hub_find_user(cl->ctl->hub, nick);
    if (!c) {
        *err = "no such user";
        return NULL;
    }
    fh_hub_kick(cl->ctl->hub, c, reason);
    return json_object();
}

static json_t *fh_ctl_raw(struct fh_ctl_client *cl, json_t *args, const char **err)
{
    struct fh_hub *hub = cl->ctl->hub;
    json_t *jl = json_object_get(args, "line"), *jall = json_object_get(args, "all");
    const char *nick = fh_arg_str(args, "nick"), *proto = fh_arg_str(args, "proto");
    if (!json_is_string(jl) || (jall && !json_is_boolean(jall)) || (!nick == !json_is_true(jall)) ||
        (json_object_get(args, "proto") && (!proto || (strcmp(proto, "nmdc") && strcmp(proto, "adc"))))) {
        *err = "raw needs \"line\" (string) and either \"nick\" or \"all\": true (optional \"proto\": \"nmdc\"|\"adc\")";
        return NULL;
    }
    const char *line = json_string_value(jl);
    size_t len = json_string_length(jl);
    struct fh_conn *target = nick ? fh_hub_find_user(hub, nick) : NULL;
    if (nick && !target) {
        *err = "no such user";
        return NULL;
    }
    /* One line: no terminator of the protocol it goes to. */
    bool to_nmdc = target ? target->proto == FH_PROTO_NMDC : (!proto || !strcmp(proto, "nmdc"));
    bool to_adc = target ? target->proto == FH_PROTO_ADC : (!proto || !strcmp(proto, "adc"));
    if ((to_nmdc && memchr(line, '|', len)) || (to_adc && memchr(line, '\n', len))) {
        *err = "line must not contain the protocol's terminator ('|' NMDC, LF ADC)";
        return NULL;
    }
    size_t sent = 0;
    if (target)
        sent = fh_hub_send_raw(hub, target, line, len);
    else
        for (struct fh_conn *c = hub->conns; c; c = c->next)
            if (c->state == FH_CONN_OPEN && c->login == FH_LOGIN_NORMAL &&
                (c->proto == FH_PROTO_NMDC ? to_nmdc : to_adc))
                sent += fh_hub_send_raw(hub, c, line, len);
    return json_pack("{s:I}", "sent", (json_int_t)sent);
}

static json_t *fh_ctl_chat(struct fh_ctl_client *cl, json_t *args, const char **err)
{
    const char *text = fh_arg_str(args, "text");
    if (!text) {
        *err = "chat needs \"text\" (string)";
        return NULL;
    }
    fh_hub_chat(cl->ctl->hub, text);
    return json_object();
}

static json_t *fh_ctl_subscribe(struct fh_ctl_client *cl, json_t *args, const char **err)
{
    json_t *ev = json_object_get(args, "events");
    unsigned mask = 0;
    if (!ev) {
        mask = ~0u;
    } else if (!json_is_array(ev)) {
        *err = "subscribe: \"events\" must be a list";
        return NULL;
    }
    size_t i;
    json_t *v;
    json_array_foreach(ev, i, v) {
        const char *name = json_string_value(v);
        size_t k = 0;
        while (k < sizeof fh_ctl_events / sizeof fh_ctl_events[0] &&
               (!name || strcmp(name, fh_ctl_events[k].name) != 0))
            k++;
        if (k == sizeof fh_ctl_events / sizeof fh_ctl_events[0]) {
            *err = "subscribe: unknown event (login, logout, chat, pm, ctm, violation)";
            return NULL;
        }
        mask |= fh_ctl_events[k].bit;
    }
    cl->events |= mask;
    return json_object();
}

static json_t *fh_ctl_shutdown(struct fh_ctl_client *cl, json_t *args, const char **err)
{
    (void)args, (void)err;
    cl->ctl->shutdown_requested = true;   /* after the reply is queued */
    return json_object();
}

/* Fault rules: add/list/clear (fault.h); errors name the field. */
static json_t *fh_ctl_fault(struct fh_ctl_client *cl, json_t *args, const char **err)
{
    struct fh_faults *f = fh_hub_faults(cl->ctl->hub);
    json_t *r = f ? fh_faults_request(f, args, cl->ctl->errbuf) : NULL;
    if (!f)
        snprintf(cl->ctl->errbuf, sizeof cl->ctl->errbuf, "out of memory");
    if (!r)
        *err = cl->ctl->errbuf;
    return r;
}

static const struct { const char *name; fh_ctl_cmd_fn *fn; } fh_ctl_cmds[] = {
    {"ping", fh_ctl_ping}, {"users", fh_ctl_users}, {"kick", fh_ctl_kick},
    {"raw", fh_ctl_raw}, {"chat", fh_ctl_chat}, {"subscribe", fh_ctl_subscribe},
    {"shutdown", fh_ctl_shutdown}, {"fault", fh_ctl_fault},
};

/* One request, parsed or refused by the channel (cmd NULL): one reply. */
static void fh_ctl_request(struct fh_ctl_client *cl, const struct dc_jsonl_req *req)
{
    size_t i = 0;
    while (req->cmd && i < sizeof fh_ctl_cmds / sizeof fh_ctl_cmds[0] && strcmp(fh_ctl_cmds[i].name, req->cmd))
        i++;
    if (!req->cmd) {
        fh_ctl_reply_error(cl, req->id, req->err, DC_JSONL_BAD_REQUEST);
    } else if (i == sizeof fh_ctl_cmds / sizeof fh_ctl_cmds[0]) {
        fh_ctl_reply_error(cl, req->id, "unknown cmd", "unknown-command");
    } else {
        const char *err = "failed";
        json_t *result = fh_ctl_cmds[i].fn(cl, req->args, &err);
        if (result)
            fh_ctl_write(cl, dc_jsonl_ok(req->id, result));
        else
            fh_ctl_reply_error(cl, req->id, err, NULL);
    }
    if (cl->ctl->shutdown_requested)
        fh_hub_shutdown(cl->ctl->hub, "control request");
}

static void fh_ctl_read_cb(struct bufferevent *bev, void *arg)
{
    struct fh_ctl_client *cl = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t n = evbuffer_get_length(in);
    if (dc_lines_feed(&cl->in, evbuffer_pullup(in, -1), n) < 0) {
        fh_ctl_kill(cl);   /* out of memory: the requests are lost, say so by closing */
        return;
    }
    evbuffer_drain(in, n);
    struct dc_jsonl_req req;
    while (!cl->closing && !cl->dead && dc_jsonl_next_request(&cl->in, false, &req)) {
        fh_ctl_request(cl, &req);
        dc_jsonl_req_cleanup(&req);
    }
}

static void fh_ctl_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                             int len, void *arg)
{
    (void)l, (void)sa, (void)len;
    struct fh_control *ctl = arg;
    struct fh_ctl_client *cl = calloc(1, sizeof *cl);
    struct bufferevent *bev = bufferevent_socket_new(fh_hub_base(ctl->hub), fd, BEV_OPT_CLOSE_ON_FREE);
    if (!cl || !bev) {
        free(cl);
        if (bev)
            bufferevent_free(bev);
        else
            evutil_closesocket(fd);
        return;
    }
    cl->ctl = ctl;
    cl->bev = bev;
    dc_jsonl_framer_init(&cl->in, FH_CTL_MAX_LINE);
    bufferevent_setcb(bev, fh_ctl_read_cb, NULL, fh_ctl_event_cb, cl);
    bufferevent_setwatermark(bev, EV_READ, 0, FH_CTL_MAX_LINE + 2);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    cl->next = ctl->clients;
    if (ctl->clients)
        ctl->clients->prev = cl;
    ctl->clients = cl;
    ctl->n++;
}

/* ---- events from hooks ----------------------------------------------------------- */

static void fh_ctl_emit(struct fh_control *ctl, unsigned bit, json_t *o)
{
    if (!o)
        return;
    for (struct fh_ctl_client *cl = ctl->clients; cl; cl = cl->next)
        if (cl->events & bit)
            fh_ctl_write(cl, json_incref(o));
    json_decref(o);
}

static json_t *fh_ctl_str(const char *s)
{
    bool l1;
    return s ? fh_json_bytes(s, strlen(s), &l1) : json_null();
}

static void fh_ctl_login(const struct fh_conn *c, void *ctx)
{
    fh_ctl_emit(ctx, FH_EV_LOGIN, json_pack("{s:s, s:o, s:s}", "event", "login", "nick",
                                            fh_ctl_str(c->nick), "proto", fh_proto_name(c->proto)));
}

static void fh_ctl_logout(const struct fh_conn *c, const char *reason, void *ctx)
{
    fh_ctl_emit(ctx, FH_EV_LOGOUT, json_pack("{s:s, s:o, s:s, s:o}", "event", "logout", "nick",
                                             fh_ctl_str(c->nick), "proto", fh_proto_name(c->proto),
                                             "reason", fh_ctl_str(reason)));
}

static void fh_ctl_chat_ev(const struct fh_conn *from, const char *text, void *ctx)
{
    fh_ctl_emit(ctx, FH_EV_CHAT, json_pack("{s:s, s:o, s:s, s:o}", "event", "chat", "nick",
                                           fh_ctl_str(from->nick), "proto", fh_proto_name(from->proto),
                                           "text", fh_ctl_str(text)));
}

static void fh_ctl_pm(const struct fh_conn *from, const struct fh_conn *to, const char *text, void *ctx)
{
    fh_ctl_emit(ctx, FH_EV_PM, json_pack("{s:s, s:o, s:o, s:o}", "event", "pm", "from",
                                         fh_ctl_str(from->nick), "to", fh_ctl_str(to->nick), "text",
                                         fh_ctl_str(text)));
}

static void fh_ctl_ctm(const struct fh_conn *from, const struct fh_conn *to, enum fh_ctm_kind kind,
                       void *ctx)
{
    fh_ctl_emit(ctx, FH_EV_CTM, json_pack("{s:s, s:o, s:o, s:s}", "event", "ctm", "from",
                                          fh_ctl_str(from->nick), "to", fh_ctl_str(to->nick), "kind",
                                          kind == FH_CTM ? "ctm" : "rcm"));
}

static void fh_ctl_violation(const struct fh_conn *c, const struct fh_violation *v, void *ctx)
{
    bool l1;
    json_t *o = json_pack("{s:s, s:I, s:o, s:s, s:s, s:s, s:s, s:s, s:o}", "event", "violation",
                          "conn", (json_int_t)c->id, "nick", fh_ctl_str(c->nick), "proto",
                          fh_proto_name(c->proto), "rule", v->rule, "section", v->section, "what",
                          v->what, "action", v->action, "line", fh_json_bytes(v->line, v->len, &l1));
    if (o && v->detail)
        json_object_set_new(o, "detail", fh_ctl_str(v->detail));
    fh_ctl_emit(ctx, FH_EV_VIOLATION, o);
}

static void fh_ctl_shutdown_hook(void *ctx)
{
    struct fh_control *ctl = ctx;
    if (ctl->l)
        evconnlistener_disable(ctl->l);
    json_t *o = json_pack("{s:s}", "event", "shutdown");
    for (struct fh_ctl_client *cl = ctl->clients; cl; cl = cl->next) {
        if (cl->events)
            fh_ctl_write(cl, json_incref(o));
        fh_ctl_close(cl);
    }
    json_decref(o);
}

/* ---- setup ---------------------------------------------------------------------- */

/* A listening Unix socket at sun's path, mode 0600 whatever the umask: the
 * socket drives the hub (kick, raw lines, shutdown), so only its owner may
 * connect. Bound, then restricted, then listening: nobody can connect
 * before the mode is set (connect needs listen). The fd, or -1 with errno. */
static evutil_socket_t fh_ctl_bind(const struct sockaddr_un *sun)
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

struct fh_control *fh_control_new(struct fh_hub *hub, const char *path, char *err)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sun.sun_path) {
        snprintf(err, FH_ERR_LEN, "--control %s: path too long", path);
        return NULL;
    }
    memcpy(sun.sun_path, path, strlen(path) + 1);
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);   /* a stale socket from an earlier run */
    struct fh_control *ctl = calloc(1, sizeof *ctl);
    if (!ctl || !(ctl->path = strdup(path))) {
        free(ctl);
        snprintf(err, FH_ERR_LEN, "out of memory");
        return NULL;
    }
    ctl->hub = hub;
    ctl->reap_ev = event_new(fh_hub_base(hub), -1, 0, fh_ctl_reap_cb, ctl);
    evutil_socket_t fd = fh_ctl_bind(&sun);
    if (fd >= 0 && !(ctl->l = evconnlistener_new(fh_hub_base(hub), fh_ctl_accept_cb, ctl,
                                                 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16, fd)))
        close(fd);
    if (!ctl->l || !ctl->reap_ev) {
        snprintf(err, FH_ERR_LEN, "--control %s: %s", path, strerror(errno));
        fh_control_free(ctl);
        return NULL;
    }
    const struct fh_hooks hooks = {
        .version = FH_HOOKS_VERSION, .size = sizeof hooks, .name = "control",
        .login = fh_ctl_login, .logout = fh_ctl_logout, .chat = fh_ctl_chat_ev, .pm = fh_ctl_pm,
        .ctm = fh_ctl_ctm, .shutdown = fh_ctl_shutdown_hook, .violation = fh_ctl_violation,
    };
    if (fh_hub_add_hooks(hub, &hooks, ctl) < 0) {
        snprintf(err, FH_ERR_LEN, "cannot register the control hooks");
        fh_control_free(ctl);
        return NULL;
    }
    return ctl;
}

void fh_control_free(struct fh_control *ctl)
{
    if (!ctl)
        return;
    while (ctl->clients) {
        struct fh_ctl_client *cl = ctl->clients;
        ctl->clients = cl->next;
        bufferevent_free(cl->bev);
        dc_lines_cleanup(&cl->in);
        free(cl);
    }
    if (ctl->l) {
        evconnlistener_free(ctl->l);
        unlink(ctl->path);
    }
    if (ctl->reap_ev)
        event_free(ctl->reap_ev);
    free(ctl->path);
    free(ctl);
}
