/* hub.h: the fakehub core, one struct fh_hub per hub instance, passed first
 * everywhere (no globals). It owns the libevent base, the listeners, the
 * config, every connection, the hook sets, the trace and the control socket.
 *
 * Signals are taken the deferred way: libevent's evsignal (a self-pipe) turns
 * SIGTERM/SIGINT/SIGHUP/SIGUSR1 into loop callbacks; nothing runs in the
 * signal handler itself, so hooks are only ever called from the loop.
 *
 * Entry points: fh_hub_new, fh_hub_ready_json, fh_hub_run, fh_hub_free for
 * main(); fh_hub_add_hooks for observers; fh_hub_find_user, fh_hub_kick,
 * fh_hub_send_raw, fh_hub_chat, fh_hub_foreach_user, fh_hub_shutdown for the
 * control socket and tests.
 */
#ifndef FH_HUB_H
#define FH_HUB_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "fakehub/config.h"
#include "fakehub/hooks.h"

struct fh_hub;
struct event_base;

/* How to start a hub. All pointers are borrowed and must outlive the hub
 * (the overrides are re-applied on every SIGHUP reload). */
struct fh_hub_opts {
    bool no_signals;              /* leave signals alone (an embedding program
                                     that handles them itself; libevent lets one
                                     base per process take signals) */
    const char *nmdc_addr;        /* "HOST:PORT" or NULL */
    const char *adc_addr;         /* "HOST:PORT" or NULL */
    const char *nmdcs_addr;       /* TLS listeners, "HOST:PORT" or NULL */
    const char *adcs_addr;
    const char *cert_path;        /* PEM certificate for TLS, or NULL: generated */
    const char *key_path;         /* PEM key; NULL: the key is in cert_path */
    const char *data_dir;         /* where a generated cert is kept; NULL: memory only */
    const char *config_path;      /* NULL: defaults + overrides only */
    const struct fh_kv *overrides;
    size_t noverrides;
    const char *control_path;     /* Unix socket, or NULL */
    const char *trace_path;       /* JSON-lines trace, or NULL */
    const char *log_path;         /* NULL: stderr */
};

/* Returns a listening hub on the caller's event base (borrowed: it must
 * outlive the hub, and may run clients and anything else too), or NULL with
 * a message in err (FH_ERR_LEN). */
struct fh_hub *fh_hub_new(struct event_base *base, const struct fh_hub_opts *opts, char *err);
/* The ready line's object: {"event":"ready","pid",...,"nmdc","adc","nmdcs",
 * "adcs","keyprint","control"}.
 * Owned by the caller (json_decref). */
json_t *fh_hub_ready_json(struct fh_hub *hub);
/* Runs the loop until a shutdown has been flushed (or its bound expired:
 * the hub then breaks the loop). Returns 0. An embedding program may run
 * the base itself instead and check fh_hub_done. */
int fh_hub_run(struct fh_hub *hub);
/* A shutdown has been flushed (the point where fh_hub_run returns). */
bool fh_hub_done(const struct fh_hub *hub);
/* Frees everything but the event base; closes every socket; no hooks are called. */
void fh_hub_free(struct fh_hub *hub);

/* Add a fault rule (docs/fakehub.md, "Fault rules"; the text form, e.g.
 * "delay=2s cmd=pm from=alice"). Its id, or -1 with err (FH_ERR_LEN)
 * naming the field. */
int fh_hub_fault_add(struct fh_hub *hub, const char *rule, char *err);

/* A filter's state changed (a rule added or removed): forget which
 * broadcast line passed every filter (struct fh_verdict.any_recipient). */
void fh_hub_filters_changed(struct fh_hub *hub);

/* Take fd, a connected socket (a socketpair in fuzzers), as a plain client
 * connection from 127.0.0.1, as if accepted on the NMDC or ADC port. The
 * hub owns fd afterwards (also when it refuses it). 0, or -1 (fd not taken). */
int fh_hub_adopt(struct fh_hub *hub, int fd, bool adc);

/* Register a hook set (copied; ctx borrowed). -1 on a version/size mismatch. */
int fh_hub_add_hooks(struct fh_hub *hub, const struct fh_hooks *hooks, void *ctx);

struct event_base *fh_hub_base(struct fh_hub *hub);
const struct fh_config *fh_hub_config(const struct fh_hub *hub);
void fh_log(struct fh_hub *hub, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The logged-in user with this nick (case-insensitive), or NULL. */
struct fh_conn *fh_hub_find_user(struct fh_hub *hub, const char *nick);
/* Call fn for every logged-in user; returns the count. */
size_t fh_hub_foreach_user(struct fh_hub *hub, void (*fn)(struct fh_conn *c, void *ctx),
                           void *ctx);
/* Disconnect a user with the protocol's kick notice. */
void fh_hub_kick(struct fh_hub *hub, struct fh_conn *c, const char *reason);
/* Send a raw line (terminator added) to one user, or to every logged-in user
 * when c is NULL. Returns the number of users it went to. */
size_t fh_hub_send_raw(struct fh_hub *hub, struct fh_conn *c, const char *line, size_t len);
/* Hub chat to every logged-in user (NMDC "<Hub> text", ADC IMSG). */
void fh_hub_chat(struct fh_hub *hub, const char *text);
/* The SIGTERM path: notify users, call shutdown hooks once, flush, stop. */
void fh_hub_shutdown(struct fh_hub *hub, const char *why);
/* Called by the control socket when one of its connections is gone, so a
 * pending shutdown can finish as soon as everything is flushed. */
void fh_hub_check_done(struct fh_hub *hub);

#endif
