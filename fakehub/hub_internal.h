/* hub_internal.h: the structs behind struct fh_hub and struct fh_conn, shared
 * by hub.c (connections, signals, timers), input.c (reading, framing),
 * hub_nmdc.c and hub_adc.c (the two protocol state machines). Not for hook writers: use hooks.h.
 */
#ifndef FH_HUB_INTERNAL_H
#define FH_HUB_INTERNAL_H

#include <stdint.h>
#include <netinet/in.h>
#include <sys/time.h>

#include <event2/event.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "fakehub/hub.h"
#include "fakehub/rules.h"
#include "proto/adc.h"
#include "proto/lines.h"
#include "proto/tiger.h"
#include "tls/dctls.h"

struct fh_control;
struct fh_trace;
struct fh_faults;
struct fh_delayed;
struct fh_shaped;

#define FH_NSIGNALS 5   /* signals the hub handles: TERM INT QUIT HUP USR1 (hub.c) */

enum fh_conn_state {
    FH_CONN_OPEN,       /* reading and writing */
    FH_CONN_CLOSING,    /* no more reads; flushing the last words, then DEAD */
    FH_CONN_DEAD,       /* waiting for the reaper to free it */
};

/* Per-protocol login states. */
enum fh_login {
    FH_LOGIN_START,     /* NMDC: $Lock sent; ADC: waiting for HSUP */
    FH_LOGIN_IDENTIFY,  /* ADC: ISID sent, waiting for BINF */
    FH_LOGIN_VERIFY,    /* password asked ($GetPass / IGPA) */
    FH_LOGIN_HELLO,     /* NMDC: $Hello sent, waiting for $MyINFO */
    FH_LOGIN_NORMAL,    /* in the user list */
};

#define FH_NMDC_NOHELLO   0x1u
#define FH_NMDC_NOGETINFO 0x2u
#define FH_NMDC_USERIP2   0x4u
#define FH_NMDC_QUICKLIST 0x8u

/* One protocol line, terminator included, made once for many recipients (a
 * broadcast, a user's INF in every newcomer's list). On plain connections it
 * is queued by reference (hub->pend, struct fh_outq), so a broadcast to N
 * users costs one copy plus 8 bytes per recipient; TLS connections copy it
 * into their bufferevent. (libevent 2.1's evbuffer_add_reference would share
 * it too, but allocates a >= 1 KiB chain per reference: tried, 23 KiB per
 * user.)
 * Ownership: refcounted, immutable once made. fh_msg_new returns it holding
 * one reference for the caller; hub->pend_msg holds one while this pass's
 * lines use it, and every fh_outq holding it one, dropped once its bytes are
 * written or the connection is freed; fh_msg_unref frees it at zero. One
 * thread: a plain counter. */
struct fh_msg {
    unsigned refs;
    uint32_t len;        /* wire bytes: the line and its terminator */
    uint32_t pend_slot;  /* its index in hub->pend_msg, if hub->pend_msg[pend_slot] is it */
    char data[];         /* the line, its terminator, then a NUL (not sent) */
};

/* A plain connection's output goes two ways. Lines queued during a loop
 * pass are linked per connection in hub->pend (one hub-wide array, reused
 * every pass: no allocation and no reference count per recipient, so a
 * broadcast to N users costs N entries of 8 bytes and nothing that fragments
 * the heap; each message used this pass is held once, in hub->pend_msg), and
 * written with writev at the end of the pass (fh_flush_cb, via hub->dirty),
 * or between input lines once a burst has queued many (FH_PEND_FLUSH). Only
 * what a socket does not take then moves to the connection's own queue,
 * struct fh_outq, which waits for a write event. */
/* Written out between input lines once this many are queued and at least
 * FH_PEND_PER_USER per user: the trade between memory and syscalls. Per
 * user, at 1,000 ADC users (dcload; hub KiB/user, chat deliveries/s, hub
 * CPU s): no limit (queues per recipient, before) 1.25, 1.8M, 0.9;
 * 1/user 0.62, 0.18M, 3.8; 4/user 0.71, 0.57M, 1.6; 8/user 0.82, 0.9M, 1.1
 * (uhub 0.98, 0.67M). */
#define FH_PEND_FLUSH 512
#define FH_PEND_PER_USER 8
struct fh_pend {
    uint32_t msg;         /* the line: hub->pend_msg[msg] */
    uint32_t next;        /* the connection's next line in hub->pend; 0: none */
};

/* The backlog of a plain connection: allocated while it holds anything.
 * Owns one reference to each queued message, and wev. */
struct fh_outq {
    struct event *wev;                  /* owned, or NULL */
    unsigned head, len, cap;            /* msg[head..len) are queued */
    struct fh_msg *msg[];
};

/* One client connection. Owned by hub->conns; freed only by the reaper (so a
 * handler never sees a freed peer while it iterates the list). One lives per
 * user, so its size is most of the hub's memory per user (issue 4): times
 * are 32-bit milliseconds, the login secrets (NMDC lock, ADC salt) are
 * derived from hub->secret instead of stored, and CID and SU are offsets
 * into the INF line instead of copies. */
struct fh_conn {
    struct fh_hub *hub;                 /* borrowed */
    struct fh_conn *next, *prev;        /* hub->conns */
    uint64_t id;                        /* ascending: hub->conns is in descending id order */
    uint64_t list_from;                 /* listing: users with id >= this have been walked */
    uint32_t seq;                       /* hub->n.logins at login: who was in before whom */
    /* fh_now_ms() times (wrap after 49 days: compared by unsigned difference) */
    uint32_t since;                     /* OPEN: accepted (login, TLS timeouts); CLOSING: when
                                           the close began (its flush grace); fh_sweep_cb */
    uint32_t last_in;
    uint32_t tokens_at;
    float tokens;                       /* rate limit bucket */
    uint8_t proto;                      /* enum fh_proto */
    uint8_t state;                      /* enum fh_conn_state */
    uint8_t login;                      /* enum fh_login */
    uint8_t nmdc_feats;                 /* NMDC: FH_NMDC_* */
    bool op, registered;
    bool announced;                     /* login hooks called: logout hooks owed */
    bool tls, tls_up;                   /* on a TLS port; handshake done */
    bool got_input;                     /* any byte read yet (TLS-on-plain check; plain only) */
    bool listing;                       /* the user list is still being queued (fh_conn_list_start) */
    bool dirty;                         /* on hub->dirty: a write is due this pass */
    bool key_ok;                        /* NMDC: $Key matched our lock */
    bool shaped;                        /* has a struct fh_shaped on hub->shaped (intercept.c) */
    bool read_stalled;                  /* a stall fault stopped reading: buffered lines wait too */
    bool half_closed;                   /* shutdown(SHUT_WR) done or due: output is discarded */
    char sid[5];                        /* ADC */
    uint16_t cid_at;                    /* ADC: the CID's offset in inf->data, 0 until known */
    uint16_t su_at;                     /* ADC: the SU value's offset in inf->data, 0 if none */
    /* A plain connection has no bufferevent (~1 KiB with its buffers and
     * events): its socket is read straight into hub->in (fh_in_cb) and
     * written from hub->pend and out, and only a line split across reads is kept. */
    evutil_socket_t fd;                 /* owned when plain, else bev's */
    union {
        struct event *rev;              /* owned, plain (!tls): EV_READ on fd */
        struct bufferevent *bev;        /* owned, tls: BEV_OPT_CLOSE_ON_FREE (with its SSL) */
    };
    char *partial;                      /* owned, plain: an incomplete line read, or NULL */
    uint32_t partial_len;
    uint32_t pend_head, pend_tail;      /* plain: this pass's lines in hub->pend; 0: none */
    uint32_t out_off;                   /* plain: bytes of the first queued line written */
    size_t out_bytes;                   /* plain: queued, not yet written (both places) */
    struct fh_outq *out;                /* owned, plain: the backlog, NULL when none */
    struct fh_conn *next_dirty;         /* hub->dirty, while dirty */
    char *keyprint;                     /* owned: the client's certificate, NULL if none */
    char *nick;                         /* owned; set once the nick is accepted */
    struct fh_msg *inf;                 /* one reference: the INF line everyone gets (ADC
                                           BINF, NMDC $MyINFO as sent); NULL until known */
    uint8_t ip[16];                     /* the peer's address: IPv4-mapped or IPv6 */
};

/* A registered hook set (copied from the writer's struct). */
struct fh_hook_reg {
    struct fh_hooks h;
    void *ctx;
};

/* Counters for the SIGUSR1 dump; a value member of struct fh_hub. */
struct fh_counters {
    unsigned long accepted, logins, lines_in, lines_out, errors, kicks, overflows, violations;
    unsigned long sighup, sigusr1, reloads;
};

/* A hub instance. Owns everything it points to except opts' strings. */
struct fh_hub {
    struct fh_hub_opts opts;             /* borrowed strings */
    struct event_base *base;             /* the caller's (fh_hub_new) */
    struct evconnlistener *nmdc_l, *adc_l, *nmdcs_l, *adcs_l;   /* owned */
    char nmdc_bound[80], adc_bound[80], nmdcs_bound[80], adcs_bound[80];
    struct dctls_cert *cert;             /* owned; only with a TLS listener */
    SSL_CTX *tls_ctx;                    /* owned; only with a TLS listener */
    struct fh_config cfg;                /* owned */
    struct fh_conn *conns;               /* owned list, newest first */
    unsigned nusers;                     /* logged-in users */
    uint64_t next_id;
    unsigned next_sid;
    struct fh_hook_reg *hooks;           /* owned array */
    size_t nhooks;
    struct event *sig_ev[FH_NSIGNALS];   /* owned: TERM, INT, QUIT, HUP, USR1 */
    struct event *reap_ev;               /* owned: frees DEAD connections */
    struct event *stop_ev;               /* owned: shutdown flush deadline */
    struct event *sweep_ev;              /* owned: connection deadlines (fh_sweep_cb) */
    struct event *flush_ev;              /* owned: end-of-pass writes (fh_flush_cb) */
    struct fh_conn *dirty;               /* borrowed list (next_dirty): queued to this pass */
    struct fh_pend *pend;                /* owned: this pass's plain output; [0] unused */
    struct fh_msg **pend_msg;            /* owned, one reference each: the lines hub->pend
                                            uses, each once */
    uint8_t secret[DC_TIGER_LEN];        /* random: connections' locks and salts derive from it */
    struct timeval t0;                   /* fh_now_ms() counts from here */
    uint32_t npend, pend_cap;            /* used entries ([0] included), allocated; the
                                            array grows to the biggest fan-out of one line */
    uint32_t npend_msg, pend_msg_cap;
    bool stopping;
    bool done;                           /* the shutdown is flushed: fh_hub_run returns */
    bool flushing;                       /* in fh_flush_cb: queue to connections' own queues */
    FILE *log;                           /* owned unless stderr */
    struct dc_lines in;                  /* owned scratch framer of every plain connection:
                                            its kept partial line + one read, handled line by
                                            line in place; reset per read (fh_in_cb) */
    char *tls_line;                      /* owned scratch: one TLS input line. Apart from in:
                                            a write to a TLS bufferevent inside a handler may
                                            run its read callback at once (OpenSSL wanting to
                                            read to write), which must not clobber the lines
                                            a plain read still has to handle */
    size_t tls_line_cap;                 /* max_line + 1 at least; grows only */
    struct fh_control *control;          /* owned, optional */
    struct fh_trace *trace;              /* owned, optional */
    struct fh_faults *faults;            /* owned, optional: the fault rules (fault.c) */
    size_t nfilters;                     /* hook sets with a filter: 0 skips interception */
    struct fh_conn *cur_in;              /* borrowed: whose input line is being handled */
    struct fh_msg *pass_msg;             /* one reference: an output line every filter passed for
                                            any recipient (intercept.c), until the pass ends */
    struct fh_conn *pass_from;           /* borrowed, compared only: its cur_in then */
    struct fh_delayed *delayed;          /* owned list: lines a filter delayed (intercept.c) */
    struct fh_shaped *shaped;            /* owned list: shaped connections (intercept.c) */
    struct fh_counters n;
};

/* Call one hook on every registered set, from the loop. */
#define FH_HOOK(hub, name, ...)                                              \
    do {                                                                     \
        for (size_t fh_i_ = 0; fh_i_ < (hub)->nhooks; fh_i_++)               \
            if ((hub)->hooks[fh_i_].h.name)                                  \
                (hub)->hooks[fh_i_].h.name(__VA_ARGS__, (hub)->hooks[fh_i_].ctx); \
    } while (0)

/* hub.c services for the protocol modules. */
void fh_conn_send(struct fh_conn *c, const char *line, size_t len);   /* adds terminator */
void fh_conn_sendf(struct fh_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* struct fh_msg: NULL when out of memory (fh_msg_unref and fh_conn_send_msg
 * then do nothing). */
struct fh_msg *fh_msg_new(enum fh_proto proto, const char *line, size_t len);   /* adds terminator */
void fh_msg_unref(struct fh_msg *m);
void fh_conn_send_msg(struct fh_conn *c, struct fh_msg *m);   /* queues a reference */
/* Queue the user list (the INF of every user of c's protocol who logged in
 * before c) a bounded amount at a time, then call the protocol's
 * fh_*_list_done. Call after fh_conn_logged_in. */
void fh_conn_list_start(struct fh_conn *c);
/* Has c been sent u's INF yet (true unless c's list is still on its way)? */
bool fh_conn_knows(const struct fh_conn *c, const struct fh_conn *u);
/* Fatal protocol error: the protocol's notice (ADC ISTA code + IQUI, NMDC a
 * hub chat line), then close after flushing. adc_code e.g. "240". */
void fh_conn_fail(struct fh_conn *c, const char *adc_code, const char *flags, const char *text);
/* Close; flush first unless the output overflowed. Idempotent. */
void fh_conn_close(struct fh_conn *c, const char *reason, bool flush);
/* The connection became a user: count it (the idle timeout applies). Call before
 * sending the user list; fh_conn_announce (the login hooks) after it. */
void fh_conn_logged_in(struct fh_conn *c);
void fh_conn_announce(struct fh_conn *c);
/* Any open connection (logged in or not) holding this nick. */
struct fh_conn *fh_hub_nick_holder(struct fh_hub *hub, const char *nick);
bool fh_hub_full(const struct fh_hub *hub);
/* Milliseconds since the hub started, from the loop's cached time. */
uint32_t fh_now_ms(struct fh_hub *hub);
/* c's login secret: DC_TIGER_LEN bytes, Tiger(hub->secret, c->id): the ADC
 * IGPA salt, and the NMDC lock's random part. Derived, not stored: it is
 * needed twice per login and would cost every user its bytes. */
void fh_conn_secret(const struct fh_conn *c, uint8_t out[DC_TIGER_LEN]);
/* ADC: the CID / SU value in c's INF line (ends at ' ' or '\n'), or NULL. */
const char *fh_adc_inf_cid(const struct fh_conn *c);
const char *fh_adc_inf_su(const struct fh_conn *c);
void fh_random(void *buf, size_t len);

/* Protocol modules. */
void fh_nmdc_accepted(struct fh_conn *c);
void fh_nmdc_line(struct fh_conn *c, char *line, size_t len);
void fh_nmdc_left(struct fh_conn *c);                  /* broadcast $Quit */
void fh_nmdc_hub_chat(struct fh_conn *c, const char *text);
void fh_nmdc_list_done(struct fh_conn *c);             /* after fh_conn_list_start */
void fh_adc_line(struct fh_conn *c, char *line, size_t len);
void fh_adc_left(struct fh_conn *c);                   /* broadcast IQUI */
void fh_adc_hub_chat(struct fh_conn *c, const char *text);
void fh_adc_list_done(struct fh_conn *c);
void fh_adc_quit_self(struct fh_conn *c, const char *code, const char *flags, const char *text);

/* input.c: the read callbacks, plain (an event on fd) and TLS (a bufferevent). */
void fh_in_cb(evutil_socket_t fd, short what, void *arg);
void fh_read_cb(struct bufferevent *bev, void *arg);
/* input.c, for intercept.c: the path a line takes once filters are done.
 * Handle one input line (NUL-terminated, writable) as the protocol says. */
void fh_conn_dispatch(struct fh_conn *c, char *line, size_t len);
/* hub.c, for input.c and intercept.c. */
/* Write a pass's staged output out once it passes its bound (after each input line). */
void fh_pend_bound(struct fh_hub *hub);
/* Queue m to c without filtering (the `line` hooks see it). */
void fh_conn_queue_msg(struct fh_conn *c, struct fh_msg *m);
/* Write at most limit bytes of a plain connection's output; what is left
 * waits in its own queue (for a write event only if the socket was full). */
void fh_out_write_n(struct fh_conn *c, size_t limit);
void fh_conn_mark_dead(struct fh_conn *c);
/* Bytes queued to c and not yet written (either output path). */
size_t fh_conn_pending(const struct fh_conn *c);

/* intercept.c: filters (hooks.h), delayed lines, shaping, closes. */
void fh_filter_in(struct fh_conn *c, char *line, size_t len);
void fh_filter_out(struct fh_conn *c, struct fh_msg *m);
void fh_shape_write(struct fh_conn *c);       /* fh_out_write for a shaped connection */
void fh_shape_drained(struct fh_conn *c);     /* its output is empty (half-close waits for it) */
void fh_intercept_conn_gone(struct fh_conn *c);   /* before c is freed */
void fh_intercept_free(struct fh_hub *hub);

/* The fault table, made on first use; NULL when out of memory. */
struct fh_faults *fh_hub_faults(struct fh_hub *hub);

/* control.c: the --control socket (JSON lines; docs/fakehub.md). */
struct fh_control *fh_control_new(struct fh_hub *hub, const char *path, char *err);
size_t fh_control_nclients(const struct fh_control *ctl);
void fh_control_free(struct fh_control *ctl);

#endif
