/* hooks.h: in-process observers of a running fakehub.
 *
 * A hook set is a versioned struct of optional callbacks (NULL = not
 * interested) plus a `void *ctx` handed back on every call. Several sets may
 * be registered; they are called in registration order. Every call happens
 * from the hub's event loop, never from a signal handler (the Verlihub
 * deadlock that motivated fakehub), so a hook may use any hub API below and
 * any non-reentrant library. Hooks must not free the hub.
 *
 * The trace (--trace) and the control socket (--control) are built on this
 * interface; fault-injecting hooks can be added the same way.
 *
 * Entry points: fh_hub_add_hooks (hub.h) and the fh_conn_* accessors below.
 */
#ifndef FH_HOOKS_H
#define FH_HOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FH_HOOKS_VERSION 1

struct fh_conn;   /* one client connection; opaque to hooks */

enum fh_proto { FH_PROTO_NMDC, FH_PROTO_ADC };
enum fh_dir { FH_DIR_IN, FH_DIR_OUT };
enum fh_ctm_kind { FH_CTM, FH_RCM };

/* Filled by the hook writer; the hub copies it at registration. Every
 * callback takes the registration's ctx last (project rule 4). */
struct fh_hooks {
    unsigned version;     /* FH_HOOKS_VERSION */
    size_t size;          /* sizeof(struct fh_hooks) as compiled by the writer */
    const char *name;     /* for logs and the trace ("trace", "control"); static */
    /* A user finished logging in (is in the user list). */
    void (*login)(const struct fh_conn *c, void *ctx);
    /* A logged-in user left; reason is short text ("closed", "kicked: ..."). */
    void (*logout)(const struct fh_conn *c, const char *reason, void *ctx);
    /* Main chat accepted from a user; text unescaped. */
    void (*chat)(const struct fh_conn *from, const char *text, void *ctx);
    /* A private message delivered from one user to another; text unescaped. */
    void (*pm)(const struct fh_conn *from, const struct fh_conn *to, const char *text, void *ctx);
    /* A connect-to-me or reverse connect-to-me forwarded. */
    void (*ctm)(const struct fh_conn *from, const struct fh_conn *to, enum fh_ctm_kind kind,
                void *ctx);
    /* Every protocol line in or out, without its terminator; may hold any bytes. */
    void (*line)(const struct fh_conn *c, enum fh_dir dir, const char *line, size_t len,
                 void *ctx);
    /* A signal was taken from the loop (SIGHUP, SIGUSR1, SIGTERM, SIGINT). */
    void (*signal)(int signo, void *ctx);
    /* The hub is shutting down: called exactly once per hook set, before the
     * final flush. */
    void (*shutdown)(void *ctx);
};

/* Accessors, valid during a hook call (the connection may be freed after). */
uint64_t fh_conn_id(const struct fh_conn *c);
enum fh_proto fh_conn_proto(const struct fh_conn *c);
const char *fh_conn_nick(const struct fh_conn *c);   /* NULL before the nick is known */
#define FH_IP_LEN 46   /* INET6_ADDRSTRLEN */
/* The peer's address as text ("127.0.0.1", "::1"), written to buf. */
const char *fh_conn_ip(const struct fh_conn *c, char buf[FH_IP_LEN]);
const char *fh_conn_sid(const struct fh_conn *c);    /* ADC: "AAAB"; NMDC: NULL */
bool fh_conn_is_op(const struct fh_conn *c);
bool fh_conn_tls(const struct fh_conn *c);           /* came in on an adcs/nmdcs port */
/* The keyprint of the certificate a TLS client presented, or NULL. */
const char *fh_conn_keyprint(const struct fh_conn *c);
const char *fh_proto_name(enum fh_proto p);           /* "nmdc" / "adc" */

#endif
