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
 * interface. A `filter` callback intercepts lines: it can pass a line, drop
 * it, replace it, delay it, deliver it more than once, close the connection
 * or shape the connection's traffic (fault.c, the hub's fault rules, is one).
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

/* A filter's decision about one line (struct fh_hooks.filter). The hub
 * zeroes it before each call: all zero is "pass, once". */
enum fh_verdict_kind {
    FH_PASS,       /* deliver (copies times) */
    FH_DROP,       /* never handled (in) / never sent (out) */
    FH_REPLACE,    /* deliver line/len instead (copies times) */
    FH_DELAY,      /* deliver delay_ms later (in: then handled; out: then queued) */
    FH_CLOSE,      /* close the connection the line is on; the line goes nowhere */
};
enum fh_close_how {
    FH_CLOSE_FIN,    /* what is queued is flushed, then FIN */
    FH_CLOSE_RST,    /* at once, with a TCP reset (SO_LINGER 0); nothing flushed */
    FH_CLOSE_HALF,   /* what is queued is flushed, then shutdown(SHUT_WR): the peer
                        reads EOF, the hub keeps reading; later output is discarded */
};
/* Traffic shaping of the line's connection, set by a filter along with its
 * verdict (shape = true), from now for for_ms (0: as long as it lives). A
 * new shape replaces the old one. Plain connections are shaped by the hub's
 * writer, TLS ones with libevent's bufferevent rate limits. */
struct fh_shape {
    unsigned rate;         /* output bytes per second; 0: unlimited */
    unsigned slice;        /* output written this many bytes at a time; 0: whole */
    unsigned gap_ms;       /* pause between slices */
    bool stall_read;       /* the hub reads nothing from it */
    bool stall_write;      /* the hub writes nothing to it (output piles up
                              against max-output) */
    unsigned for_ms;
};
struct fh_verdict {
    enum fh_verdict_kind kind;
    const char *line;      /* FH_REPLACE: without terminator; the hub copies it */
    size_t len;
    unsigned delay_ms;     /* FH_DELAY */
    unsigned copies;       /* FH_PASS/FH_REPLACE/FH_DELAY: 0 or 1 once, 2 twice ... */
    enum fh_close_how close;   /* FH_CLOSE */
    bool shape;            /* apply `shaping` to the connection */
    struct fh_shape shaping;
    /* With a plain pass of an output line: the verdict does not depend on
     * the recipient (nor on anything but the line, `from` and the filter's
     * own state). When every filter says so, the hub passes the same line
     * (the same broadcast) to its other recipients without asking again,
     * until the end of the loop pass or fh_hub_filters_changed. This is
     * what keeps an idle filter off a broadcast's per-recipient path. */
    bool any_recipient;
};

/* A client broke one of the hub's protocol rules (fakehub/strict.h; every
 * rule is listed in docs/fakehub.md). Static strings except line. */
struct fh_violation {
    const char *rule;      /* "adc-msg-me" */
    const char *section;   /* where the rule is written ("ADC 1.0.4 MSG: ME") */
    const char *what;      /* the rule in words */
    const char *detail;    /* this instance ("ME2"), or NULL */
    const char *action;    /* "refused", "stripped", "replaced", "ignored",
                              "disconnected", or "relayed" (lenient mode) */
    const char *line;      /* the offending line, no terminator; any bytes */
    size_t len;
};

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
    /* Interception: called for every line before it takes effect (in: after
     * the `line` hooks saw it arrive, before the hub handles it; out: before
     * it is queued, and the `line` hooks see only what is queued). `from` is
     * the connection whose input made the line (in: c itself; out: NULL for
     * lines the hub makes on its own: timers, the control socket). Fill *v
     * (zeroed by the hub) and return; the first set whose verdict is not a
     * plain pass decides. Lines the hub delivers after a delay, and those a
     * filter made, are not filtered again. Never called while no set has a
     * filter, so an unused interface costs nothing. */
    void (*filter)(const struct fh_conn *c, const struct fh_conn *from, enum fh_dir dir,
                   const char *line, size_t len, struct fh_verdict *v, void *ctx);
    /* A client broke a protocol rule; called before the hub acts on it. */
    void (*violation)(const struct fh_conn *c, const struct fh_violation *v, void *ctx);
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
