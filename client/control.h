/* control.h: the JSON-lines control protocol of dcclient
 * (docs/control-protocol.md) on top of one struct dcc_client.
 *
 * A struct dcc_ctl owns a client and any number of channels: the stdio pair
 * (requests on one fd, replies and events written to another) and the
 * connections accepted on an optional Unix control socket. Each request gets
 * exactly one reply on its channel; events go to every channel. Commands are
 * a table (name, argument spec, handler, help), and arguments are checked in
 * one place before a handler runs. Bad input never stops the controller: it
 * gets an error reply and the next line is read normally.
 *
 * Entry points: dcc_ctl_new, dcc_ctl_stdio, dcc_ctl_listen, dcc_ctl_connect,
 * dcc_ctl_quit, dcc_ctl_free. Like the core, it keeps no global state.
 */
#ifndef DC_CLIENT_CONTROL_H
#define DC_CLIENT_CONTROL_H

#include "client/dcc.h"

/* Longest request line; a longer one is refused and skipped up to its '\n'. */
#define DCC_CTL_MAX_LINE (1024 * 1024)

struct dcc_ctl;

/* base is borrowed. quit_cb is called once the controller asked to quit (the
 * `quit` request, EOF on the stdio input, dcc_ctl_quit) and the hub session
 * has been closed cleanly; the caller then stops its loop and frees. */
struct dcc_ctl *dcc_ctl_new(struct event_base *base, void (*quit_cb)(void *ctx), void *ctx, char *err);
/* Everything (client, channels, socket file) is released; queued replies to
 * socket controllers are flushed first. */
void dcc_ctl_free(struct dcc_ctl *t);
struct dcc_client *dcc_ctl_client(struct dcc_ctl *t);   /* borrowed */

/* Use in_fd for requests and out_fd for replies and events (blocking writes).
 * Writes the ready event. If in_fd cannot be watched (not a pipe, socket or
 * tty, e.g. /dev/null), requests are not read from it and 1 is returned. */
int dcc_ctl_stdio(struct dcc_ctl *t, int in_fd, int out_fd, char *err);
/* Accept controllers on a Unix socket at path (replaced if a stale socket). */
int dcc_ctl_listen(struct dcc_ctl *t, const char *path, char *err);
/* Connect at start (dcclient --hub); the outcome is reported as events only. */
int dcc_ctl_connect(struct dcc_ctl *t, const char *url, char *err);
/* Leave the hub cleanly, then call quit_cb (SIGTERM, EOF). */
void dcc_ctl_quit(struct dcc_ctl *t);

#endif
