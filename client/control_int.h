/* control_int.h: what client/control.c (channels, replies, client events)
 * and client/control_cmds.c (the verb table) share; included by them only.
 * The wire format (framing, request checks, reply encoding) is
 * proto/jsonl.c's, shared with fakehub's control socket. */
#ifndef DC_CLIENT_CONTROL_INT_H
#define DC_CLIENT_CONTROL_INT_H

#include "client/control.h"
#include "client/internal.h"

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <jansson.h>

#include "proto/jsonl.h"

struct dcc_chan {
    struct dcc_ctl *ctl;          /* borrowed back-pointer */
    struct bufferevent *bev;      /* owned: reads requests; for sockets also writes (owns the fd) */
    int out_fd;                   /* stdio: replies written here with blocking writes; else -1 */
    bool is_stdio;
    struct dc_lines in;           /* owned: request bytes read, not yet framed */
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

/* control.c: replies and events. Each consumes its result/obj argument. */
void dcc_ctl_broadcast(struct dcc_ctl *t, json_t *obj);
void dcc_ctl_reply_ok(struct dcc_chan *ch, json_t *id, json_t *result);
/* code: a stable code (docs/control-protocol.md); error: the human text. */
void dcc_ctl_reply_err(struct dcc_chan *ch, json_t *id, const char *error, const char *code);
/* Answer a deferred request (connect, disconnect), if one is waiting. */
void dcc_ctl_resolve(struct ctl_pending *p, json_t *result, const char *error, const char *code);
json_t *dcc_ctl_user_json(const struct dcc_user *u);

/* control_cmds.c: one request from ch, parsed or refused by the channel
 * (cmd NULL), gets exactly one reply (now, or later for a deferred one). */
void dcc_ctl_request(struct dcc_chan *ch, const struct dc_jsonl_req *q);
void dcc_ctl_flood_free(struct dcc_ctl *t);

#endif
