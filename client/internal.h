/* internal.h: what the client core's modules share and nobody else sees:
 * the settings table, struct dcc_client itself, the per-protocol handler
 * table (struct dcc_proto_ops) and the helpers the protocol modules call.
 *
 * Modules: settings.c (typed settings), url.c (hub URLs), client.c
 * (lifecycle, connection, framing, reconnect, events), users.c (the user
 * table),
 * hub_nmdc.c and hub_adc.c (one protocol each, table-driven dispatch),
 * share.c (shared files, hashing, lists), cc.c / upload.c / download.c
 * (client-client connections and transfers, sharing xfer.h), control.c (the
 * JSON-lines control protocol of dcclient).
 */
#ifndef DC_CLIENT_INTERNAL_H
#define DC_CLIENT_INTERNAL_H

#include <stdarg.h>

#include "client/dcc.h"
#include "client/users.h"
#include "proto/buf.h"
#include "proto/fltree.h"
#include "proto/lines.h"
#include "proto/tiger.h"
#include "proto/tth.h"

struct adc_msg;
struct dctls_cert;
struct ssl_ctx_st;

/* The settings table: X(id, name, type, default, min, max, description).
 * Add a row here and it appears in get/set, --set, --help and `settings`. */
#define DCC_SETTINGS(X)                                                                          \
    X(NICK, "nick", STRING, "dcclient", 0, 0, "nick name on the hub")                             \
    X(PASSWORD, "password", STRING, "", 0, 0, "password for a registered nick (empty: none)")     \
    X(DESCRIPTION, "description", STRING, "", 0, 0, "description shown to other users")           \
    X(EMAIL, "email", STRING, "", 0, 0, "e-mail address shown to other users")                    \
    X(DATA_DIR, "data_dir", STRING, "", 0, 0,                                                     \
      "directory for persistent state (ADC PID, TLS certificate); empty: fresh ones per client") \
    X(SHARE_SIZE, "share_size", INT64, "0", 0, 9.0e18, "advertised share size in bytes")          \
    X(SLOTS, "slots", INT, "2", 0, 1000, "advertised upload slots")                                \
    X(RECONNECT, "reconnect", BOOL, "false", 0, 0, "reconnect after losing the hub")              \
    X(RECONNECT_DELAY, "reconnect_delay", DOUBLE, "1", 0.001, 3600,                               \
      "seconds before the first reconnect attempt; doubles after each failed one")               \
    X(RECONNECT_MAX_DELAY, "reconnect_max_delay", DOUBLE, "60", 0.001, 86400,                     \
      "upper bound of the reconnect delay in seconds")                                           \
    X(LOGIN_TIMEOUT, "login_timeout", DOUBLE, "30", 0.01, 3600,                                    \
      "seconds from connect to a complete login before giving up")                               \
    X(MAX_LINE, "max_line", INT, "65536", 256, 16777216,                                          \
      "longest hub message accepted, in bytes; a longer one is a protocol error")                \
    X(ACTIVE, "active", BOOL, "true", 0, 0,                                                       \
      "accept client connections (listen on a port picked by the system); false: passive")      \
    X(COMPRESS, "compress", BOOL, "false", 0, 0,                                                  \
      "ask uploaders for ZLIB-compressed transfers (ZL1) when they support ZLIG")                 \
    X(TRANSFER_TIMEOUT, "transfer_timeout", DOUBLE, "30", 0.1, 3600,                              \
      "seconds a client connection may take to be set up, or stay silent during a transfer")      \
    X(CC_TLS, "cc_tls", STRING, "auto", 0, 0,                                                     \
      "client connections over TLS with peers that announce it: auto (on TLS hubs), always, never") \
    X(SOURCE_ADDRESS, "source_address", STRING, "", 0, 0,                                         \
      "local IPv4 address the hub connection is bound to (e.g. 127.0.0.3); empty: the system's choice") \
    X(UP_STALL_AFTER, "up_stall_after", INT64, "-1", -1, 9.0e18,                                   \
      "fault: stop sending an upload's file data after this many bytes, silent; -1 off")         \
    X(UP_CLOSE_AFTER, "up_close_after", INT64, "-1", -1, 9.0e18,                                   \
      "fault: close the connection after this many bytes of an upload's file data; -1 off")      \
    X(UP_CORRUPT_BLOCK, "up_corrupt_block", INT64, "-1", -1, 9.0e18,                               \
      "fault: change the first byte of this TTH leaf block (0 = first) in uploads; -1 off")      \
    X(UP_BAD_TTHL, "up_bad_tthl", BOOL, "false", 0, 0,                                             \
      "fault: send TTH leaves (tthl) that do not match the file's root")                          \
    X(UP_THROTTLE, "up_throttle", INT64, "0", 0, 1.0e12,                                            \
      "fault: upload file data at most this many bytes per second; 0 off")                        \
    X(UP_ERROR, "up_error", STRING, "", 0, 0,                                                      \
      "fault: answer file requests with this error, \"CODE text\" (e.g. \"151 File Not Available\")") \
    X(UP_NO_SLOTS, "up_no_slots", BOOL, "false", 0, 0,                                             \
      "fault: answer file requests with no slots (NMDC $MaxedOut, ADC STA 153)")                  \
    X(UP_FAULT_COUNT, "up_fault_count", INT, "0", 0, 1000000,                                      \
      "fault: the up_* faults apply to this many requests, then stop; 0 = to every request")       \
    X(HUB_READ, "hub_read", BOOL, "true", 0, 0,                                                    \
      "read the hub connection; false stops reading it (fault: a client that does not read)") \
    X(SHARE_HIDDEN, "share_hidden", BOOL, "false", 0, 0,                                         \
      "share files and directories whose name starts with '.' (read when a directory is shared)") \
    X(LIST_MAX_ENTRIES, "list_max_entries", INT64, "2000000", 1, 9.0e18,                          \
      "most directories + files a peer's file list may hold; a longer one fails the list request") \
    X(LIST_MAX_BYTES, "list_max_bytes", INT64, "536870912", 1, 9.0e18,                            \
      "most bytes a peer's file list may have uncompressed (XML); a larger one fails the request")

enum dcc_setting_id {
#define DCC_SETTING_ID(id, ...) DCC_S_##id,
    DCC_SETTINGS(DCC_SETTING_ID)
#undef DCC_SETTING_ID
    DCC_S_COUNT
};

const char *dcc_sget_str(const struct dcc_settings *s, enum dcc_setting_id id);
int dcc_sget_int(const struct dcc_settings *s, enum dcc_setting_id id);
int64_t dcc_sget_i64(const struct dcc_settings *s, enum dcc_setting_id id);
double dcc_sget_double(const struct dcc_settings *s, enum dcc_setting_id id);
bool dcc_sget_bool(const struct dcc_settings *s, enum dcc_setting_id id);

/* Write a message to err (DCC_ERR_LEN, may be NULL); always returns -1. */
int dcc_err(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same with a stable code (docs/parties.md), e.g. "not-online". */
int dcc_errc(char *err, const char *code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* One protocol: what the core calls. Tables are const and live in
 * hub_nmdc.c / hub_adc.c. */
struct dcc_proto_ops {
    char delim;                                       /* '|' or '\n' */
    void (*connected)(struct dcc_client *c);          /* TCP is up */
    void (*line)(struct dcc_client *c, char *line, size_t len);   /* one frame, NUL-terminated */
    int (*say)(struct dcc_client *c, const char *text, char *err);
    int (*pm)(struct dcc_client *c, const struct dcc_user *to, const char *text, char *err);
    int (*send_info)(struct dcc_client *c);           /* own info changed while online */
};
extern const struct dcc_proto_ops dcc_nmdc_ops;
extern const struct dcc_proto_ops dcc_adc_ops;

/* The client. Every pointer member is owned unless marked borrowed. */
struct dcc_client {
    struct event_base *base;          /* borrowed */
    struct dcc_callbacks cbs;
    void *ctx;                        /* borrowed, the callbacks' */
    struct dcc_settings *settings;
    struct evdns_base *dns;           /* created on the first hostname URL */
    struct bufferevent *bev;          /* the hub connection; owns the socket */
    struct event *timer;              /* login timeout, close flush or reconnect delay */
    enum dcc_state state;
    const struct dcc_proto_ops *ops;  /* borrowed const table, NULL before the first connect */
    struct dcc_url url;
    char *url_text;
    char *nick;                       /* nick of this session (copied at connect) */
    unsigned gen;                     /* bumped whenever the session ends: stale work stops */
    int busy;                         /* depth of calls that may reach a callback */
    bool doomed;                      /* freed inside a callback: destroy when busy drops to 0 */
    int attempt;                      /* failed reconnect attempts since the last login */
    bool was_online;                  /* CLOSING: whether the session had logged in */
    bool no_reconnect;                /* the hub said never (ADC QUI TL-1) for this session */
    char *last_status;                /* last hub status text, for refusal reasons */
    struct dc_lines in;               /* hub input not yet handled: frames, then a partial one */
    struct dc_buf out;                /* scratch for formatting outgoing messages */
    struct dcc_users users;
    /* ADC */
    struct adc_msg *adc_msg;          /* the parsed hub line's struct, reused (hub_adc.c) */
    char sid[5];
    bool have_pid;
    char pid_b32[40], cid_b32[40];
    /* NMDC: $OpList nicks, kept to mark users who join after it */
    char **ops_nicks;
    size_t nops;
    struct dcc_share *share;
    struct dcc_xfer *xfer;
    /* TLS: our identity and contexts, made on first use (dcc_tls_ready) */
    struct dctls_cert *cert;
    struct ssl_ctx_st *tls_client, *tls_server;   /* SSL_CTX */
    char hub_kp[DCC_KEYPRINT_LEN + 1];   /* the hub's certificate, "" until seen */
    bool cc_tls;                      /* this session announces and uses TLS C-C */
    bool tls_stale;                   /* data_dir changed while connected: new identity at the next connect */
    bool hub_rx;                      /* something arrived from the hub this attempt */
};

/* Core helpers for the protocol modules (client.c). */
int dcc_send(struct dcc_client *c, const void *data, size_t len);
int dcc_send_out(struct dcc_client *c);        /* send c->out and reset it */
/* Close the session with a reason (not requested): DISCONNECTED, maybe reconnect. */
void dcc_failc(struct dcc_client *c, const char *code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* End the session with a failure whose code is connect-failed. */
#define dcc_fail(c, ...) dcc_failc((c), "connect-failed", __VA_ARGS__)
void dcc_log(struct dcc_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Emit an event. Returns false when the session is over afterwards (the
 * callback disconnected or freed the client): the caller must stop. */
bool dcc_emit(struct dcc_client *c, const struct dcc_event *ev);
/* Emit an event that is not about the hub session (shares, transfers):
 * false only when the client was freed by the callback. */
bool dcc_emit_any(struct dcc_client *c, const struct dcc_event *ev);
/* Bracket any entry from the event loop that may reach a callback. */
void dcc_enter(struct dcc_client *c);
void dcc_leave(struct dcc_client *c);
bool dcc_status(struct dcc_client *c, int code, const char *text);
/* Keep text as the hub's latest word, quoted if the hub then refuses us. */
void dcc_remember(struct dcc_client *c, const char *text);
bool dcc_online(struct dcc_client *c);         /* login complete */
/* No reconnect after this session (ADC QUI TL-1). */
void dcc_no_reconnect(struct dcc_client *c);
const char *dcc_setting_s(const struct dcc_client *c, enum dcc_setting_id id);

/* Users by key (SID on ADC, nick on NMDC) and by nick; the table itself
 * (c->users) is users.h's. */
struct dcc_user *dcc_user_find(struct dcc_client *c, const char *key);
struct dcc_user *dcc_user_find_nick(struct dcc_client *c, const char *nick);

/* TLS identity and contexts (client.c): 0, or -1 with err. */
int dcc_tls_ready(struct dcc_client *c, char *err);
/* "SU" tokens that announce TLS client connections (notes §5 pitfall 16). */
bool dcc_su_tls(const char *su);

/* ADC identity: fills c->pid_b32/cid_b32 (data_dir file or random). */
int dcc_identity(struct dcc_client *c, char *err);
/* Our share size and file count as advertised (the share once hashed). */
void dcc_advertised(const struct dcc_client *c, uint64_t *bytes, uint64_t *files);

/* ---- sharing (share.c) ------------------------------------------------- */

/* A shared file. Owned by the share. */
struct dcc_sfile {
    char *vpath;                   /* "/<root name>/dir/name" */
    char *real;                    /* resolved absolute path */
    size_t root;                   /* index of its root */
    uint64_t size, dev, ino;
    int64_t mtime_ns;
    uint8_t tth[DC_TTH_LEN];
    uint8_t *leaves;               /* owned: TTHL level, nleaves * 24 bytes */
    size_t nleaves;
    bool hashed;
    dc_fl_id node;                 /* its entry in the share's tree */
};

/* A line of the hash cache (data_dir/hashes.txt): "dev ino size mtime_ns
 * TTH leaves|- realpath". Owns real and leaves. */
struct dcc_hcache {
    char *real;
    uint64_t dev, ino, size;
    int64_t mtime_ns;
    uint8_t tth[DC_TTH_LEN];
    uint8_t *leaves;
    size_t nleaves;
};
/* Parse one line (without its '\n'): 0, or -1 for a damaged line (e is
 * then empty). The file is ours, but anything may have written it. */
int dcc_hcache_parse(const char *line, struct dcc_hcache *e);
void dcc_hcache_cleanup(struct dcc_hcache *e);

struct dcc_share;
struct dcc_share *dcc_share_new(struct dcc_client *c);
void dcc_share_free(struct dcc_share *s);
int dcc_share_add_root(struct dcc_share *s, const char *dir, char *err);
bool dcc_share_hashing(const struct dcc_share *s);
void dcc_share_totals(const struct dcc_share *s, uint64_t *files, uint64_t *bytes);
/* Borrowed entries, or NULL (unknown, not hashed, or a path with "..", "."
 * or empty components). */
const struct dcc_sfile *dcc_share_by_tth(const struct dcc_share *s, const uint8_t tth[DC_TTH_LEN]);
const struct dcc_sfile *dcc_share_by_path(const struct dcc_share *s, const char *vpath);
/* An fd (caller closes) after the confinement and identity checks, or -1. */
int dcc_share_open(const struct dcc_share *s, const struct dcc_sfile *f);
/* The full list (borrowed; NULL on failure) and a partial list of directory
 * dir ("/" or "/a/b/") as uncompressed XML into out (0/-1). */
const struct dc_buf *dcc_share_list(struct dcc_share *s, bool bz2);
int dcc_share_partial(struct dcc_share *s, const char *dir, bool recursive, struct dc_buf *out);
bool dcc_utf8_valid(const char *s);
/* Called by the share when hashing finished: re-announce our INF. */
void dcc_share_changed(struct dcc_client *c);

/* ---- transfers (cc.c, upload.c, download.c; details in xfer.h) --------- */

struct dcc_xfer;
struct dcc_xfer *dcc_xfer_new(struct dcc_client *c);
void dcc_xfer_free(struct dcc_xfer *x);
/* The hub connection is up: listen next to it if active. */
void dcc_xfer_hub_up(struct dcc_client *c);
int dcc_xfer_port(const struct dcc_client *c);          /* 0 when passive */
/* Connection requests from the hub. */
void dcc_cc_nmdc_ctm(struct dcc_client *c, const char *host, uint16_t port, bool tls);
void dcc_cc_nmdc_rcm(struct dcc_client *c, const char *from);
void dcc_cc_adc_ctm(struct dcc_client *c, const struct dcc_user *u, const char *proto, uint16_t port,
                    const char *token);
void dcc_cc_adc_rcm(struct dcc_client *c, const struct dcc_user *u, const char *proto, const char *token);
/* Take fd (connected, e.g. a socketpair in fuzzers) as an incoming client
 * connection, as if accepted on our listener. */
void dcc_cc_adopt(struct dcc_client *c, int fd);

#endif
