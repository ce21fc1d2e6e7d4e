/* dcc.h: the dcclient core, a reentrant Direct Connect hub client (NMDC and
 * ADC) on the caller's libevent event_base.
 *
 * One struct dcc_client owns all of a client's state: settings, the hub
 * connection, timers, the user list, its identity. There are no mutable
 * globals, so any number of clients can live in one process on one event_base
 * and be created and destroyed any number of times (ci/check-globals enforces
 * this on libdcclient.a).
 *
 * What it does: hub URLs (dchub://, nmdc://, adc://, and over TLS nmdcs://,
 * adcs:// with an optional ?kp= keyprint check), login with or without a
 * password, user list (join, update, leave), main chat, private messages,
 * clean disconnect, optional reconnect with bounded exponential backoff, and
 * typed settings looked up by name; sharing directories (background TTH
 * hashing, hash cache, files.xml.bz2), client-client connections (NMDC and
 * ADC, active and passive) serving uploads, and downloads of file lists and
 * files (TTHL per-block verification, ZLIB, resume from a .part file),
 * client-client connections over TLS (ADC ADCS/0.10, NMDC "S" ports) with
 * the peer's certificate checked against the keyprint the hub relayed. What
 * it does not do (yet): searches, segmented (multi-source) downloads.
 *
 * Entry points: dcc_client_new / dcc_client_free, dcc_client_connect,
 * dcc_client_disconnect, dcc_client_say, dcc_client_pm, dcc_client_set /
 * dcc_client_get, dcc_url_parse, dcc_client_share, dcc_client_list,
 * dcc_client_download. Everything the hub does arrives through one
 * event callback (struct dcc_callbacks).
 *
 * Threads: every callback runs on the caller's loop thread. The only other
 * thread is a download's own TTH verifier (large files), started and joined
 * by the library; the client is not thread-safe otherwise.
 *
 * Conventions: int functions return 0 or -1 and, on -1, write a message to the
 * caller's err buffer (DCC_ERR_LEN bytes; err may be NULL) and, in its last
 * DCC_ERR_CODE_LEN bytes, a stable code (dcc_err_code). A function that
 * fails synchronously never calls the event callback for that failure.
 */
#ifndef DC_CLIENT_DCC_H
#define DC_CLIENT_DCC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DCC_VERSION "0.1"
#define DCC_ERR_LEN 256
#define DCC_ERR_CODE_LEN 24   /* the last bytes of an err buffer hold its code */

/* The stable, machine-readable code of the error in err (docs/parties.md:
 * not-online, nick-taken, bad-url, ...), written beside the message by the
 * failing call; "internal" when none was set. */
const char *dcc_err_code(const char *err);

struct event_base;
struct dcc_client;
struct dc_fl_tree;

/* ---- hub URLs ---------------------------------------------------------- */

enum dcc_proto {
    DCC_PROTO_NONE = 0,
    DCC_PROTO_NMDC,
    DCC_PROTO_ADC,
};

/* A keyprint: "SHA256/" + 52 base32 characters (notes §1.7). */
#define DCC_KEYPRINT_LEN 59

/* A parsed hub URL. Plain value type, owns nothing. */
struct dcc_url {
    enum dcc_proto proto;
    bool tls;             /* adcs://, nmdcs:// */
    char host[256];       /* without brackets for IPv6 literals */
    uint16_t port;
    char kp[DCC_KEYPRINT_LEN + 1];   /* expected hub keyprint from ?kp=, "" when none */
};

/* dchub://host[:port] and nmdc://host[:port] (NMDC, default port 411),
 * adc://host:port (ADC, port required), nmdcs://host:port and
 * adcs://host:port (the same over TLS, port required), each optionally
 * followed by "/?kp=SHA256/<52 base32>" (TLS only). The scheme is
 * case-insensitive; one trailing '/' is allowed. */
int dcc_url_parse(const char *url, struct dcc_url *out, char *err);
const char *dcc_proto_name(enum dcc_proto p);   /* "nmdc", "adc", "none" */

/* ---- settings ------------------------------------------------------------ */

enum dcc_type {
    DCC_TYPE_STRING,
    DCC_TYPE_INT,
    DCC_TYPE_INT64,
    DCC_TYPE_DOUBLE,
    DCC_TYPE_BOOL,
};

/* A typed value. For DCC_TYPE_STRING, s is borrowed: on set it is copied, on
 * get it points into the settings and stays valid until the next set of that
 * name or until the owner is freed. */
struct dcc_value {
    enum dcc_type type;
    union {
        const char *s;
        int i;
        int64_t i64;
        double d;
        bool b;
    } u;
};

/* One row of the settings table (static, read-only). */
struct dcc_setting_info {
    const char *name;
    enum dcc_type type;
    const char *def;          /* default, in the text form dcc_settings_set_text accepts */
    double min, max;          /* inclusive range for numeric types */
    const char *description;
};

const char *dcc_type_name(enum dcc_type t);      /* "string", "int", ... */
size_t dcc_setting_count(void);
const struct dcc_setting_info *dcc_setting_at(size_t i);
const struct dcc_setting_info *dcc_setting_find(const char *name);

/* A settings store holding one value per table row. Owned by its creator;
 * free with dcc_settings_free. Every client owns one. */
struct dcc_settings;
struct dcc_settings *dcc_settings_new(void);    /* all defaults; NULL on OOM */
void dcc_settings_free(struct dcc_settings *s);
/* Unknown name, wrong type or out of range: -1 with a message naming the
 * setting and its type. */
int dcc_settings_set(struct dcc_settings *s, const char *name, const struct dcc_value *v, char *err);
int dcc_settings_get(const struct dcc_settings *s, const char *name, struct dcc_value *out, char *err);
/* Parse text for the setting's type ("42", "1.5", "true"/"false"/"yes"/"no"/
 * "on"/"off"/"1"/"0", any string) and set it. */
int dcc_settings_set_text(struct dcc_settings *s, const char *name, const char *text, char *err);

/* ---- users and events ------------------------------------------------------ */

/* A user on the hub. Owned by the client; a pointer handed to a callback or
 * returned by a lookup is borrowed and valid until control returns to the
 * event loop. Strings are never NULL ("" when unknown). */
struct dcc_user {
    char *nick;
    char *description;
    char *email;
    char *tag;            /* NMDC tag "<... V:..>", ADC VE */
    char *sid;            /* ADC SID, "" on NMDC */
    char *cid;            /* ADC CID, "" on NMDC */
    char *ip;             /* ADC I4, "" when unknown */
    char *keyprint;       /* ADC INF KP ("SHA256/..."), "" when not announced */
    uint64_t share;
    bool active;          /* accepts client connections (NMDC M:A, ADC SU TCP4) */
    bool tls;             /* announces TLS client connections (ADC SU ADC0/ADCS, NMDC flag 0x10) */
    bool op;
    bool self;            /* this client's own entry */
};

enum dcc_event_type {
    DCC_EVENT_CONNECTED,      /* login complete, own user in the list */
    DCC_EVENT_DISCONNECTED,   /* text = reason; logged_in = whether login had completed */
    DCC_EVENT_RECONNECTING,   /* delay = seconds until the next attempt */
    DCC_EVENT_STATUS,         /* text; code = ADC STA code (e.g. 0, 222) or -1 */
    DCC_EVENT_USER_JOIN,      /* user */
    DCC_EVENT_USER_UPDATE,    /* user (after the change) */
    DCC_EVENT_USER_LEAVE,     /* user (still complete; gone afterwards) */
    DCC_EVENT_CHAT,           /* from, text (own lines come back as the hub echoes them) */
    DCC_EVENT_PM,             /* from, to, text (never our own PMs echoed by an ADC hub) */
    DCC_EVENT_SHARE_PROGRESS, /* share (at most every 100 ms while hashing) */
    DCC_EVENT_SHARE_DONE,     /* share: everything hashed, lists and INF updated */
    DCC_EVENT_TRANSFER_PROGRESS, /* transfer (at most every 250 ms while receiving) */
    DCC_EVENT_TRANSFER_DONE,  /* transfer; a file is verified and under its final name */
    DCC_EVENT_TRANSFER_FAILED, /* transfer, text = reason */
};

/* Share totals: every scanned file, and those hashed so far. Plain value. */
struct dcc_share_info {
    uint64_t files, bytes, files_hashed, bytes_hashed;
};

/* One download as events report it; strings borrowed for the callback. */
struct dcc_transfer_info {
    long id;
    const char *nick;
    bool is_list;
    const char *path;          /* virtual path in the peer's share ("" for a list) */
    const char *tth;           /* base32 root ("" for a list) */
    const char *file;          /* final local path ("" for a list) */
    uint64_t size;             /* file size (list: bytes received) */
    uint64_t done;             /* bytes we have, verified or being verified */
    uint64_t resumed_from;     /* verified bytes kept from the .part file */
    uint64_t received;         /* bytes of file data received in this transfer */
    double seconds, speed;     /* data phase duration and received bytes/s */
    bool compressed;           /* the uploader sent ZL1 */
    bool tls;                  /* the connection that carried it was TLS */
    const struct dc_fl_tree *list;   /* DONE of a list: the parsed tree (proto/fltree.h) */
};

/* One event; every pointer is borrowed for the duration of the callback. */
struct dcc_event {
    enum dcc_event_type type;
    const struct dcc_user *user;
    const char *from, *to, *text;
    const struct dcc_share_info *share;
    const struct dcc_transfer_info *transfer;
    int code;
    double delay;
    bool logged_in;
    const char *error_code;    /* DISCONNECTED (not on request), TRANSFER_FAILED: a stable code
                                * (docs/parties.md), e.g. nick-taken, transfer-failed; else NULL */
};

/* Callbacks may call any dcc_client_* function on the client that is calling
 * them, including dcc_client_free (the free then completes once the callback
 * returns). */
struct dcc_callbacks {
    void (*event_cb)(struct dcc_client *c, const struct dcc_event *ev, void *ctx);
    /* Optional: human-readable diagnostics (malformed hub lines and the like). */
    void (*log_cb)(struct dcc_client *c, const char *line, void *ctx);
};

enum dcc_state {
    DCC_STATE_IDLE,            /* not connected */
    DCC_STATE_CONNECTING,      /* TCP connect (or DNS) in progress */
    DCC_STATE_LOGIN,           /* connected, handshake in progress */
    DCC_STATE_ONLINE,          /* logged in */
    DCC_STATE_CLOSING,         /* flushing output before closing */
    DCC_STATE_WAIT_RECONNECT,  /* a reconnect is scheduled */
};

/* ---- the client ---------------------------------------------------------- */

/* base and cbs are borrowed (cbs is copied); ctx is passed to the callbacks.
 * NULL on allocation failure. */
struct dcc_client *dcc_client_new(struct event_base *base, const struct dcc_callbacks *cbs, void *ctx);
/* Releases every socket, timer, buffer and file the client owns, at once
 * (pending output is dropped; use dcc_client_disconnect to leave cleanly).
 * Emits no events. NULL is a no-op. */
void dcc_client_free(struct dcc_client *c);

int dcc_client_set(struct dcc_client *c, const char *name, const struct dcc_value *v, char *err);
int dcc_client_set_text(struct dcc_client *c, const char *name, const char *text, char *err);
int dcc_client_get(const struct dcc_client *c, const char *name, struct dcc_value *out, char *err);

/* Start connecting (allowed when idle or waiting to reconnect). The outcome
 * arrives as DCC_EVENT_CONNECTED, or DCC_EVENT_DISCONNECTED with the reason
 * (nick taken, bad password, hub refusal, network error, login timeout). */
int dcc_client_connect(struct dcc_client *c, const char *url, char *err);
/* The same over fd, a socket already connected to the hub (a socketpair in
 * tests and fuzzers): no name lookup, no TCP connect, no TLS URLs. The
 * protocol comes from url. The client owns fd from the call on (it is
 * closed on failure). */
int dcc_client_adopt(struct dcc_client *c, const char *url, int fd, char *err);
/* Leave the hub: flush what is queued, close, then DCC_EVENT_DISCONNECTED
 * ("disconnected on request"); no reconnect follows. Also cancels a pending
 * connect or reconnect. -1 when there is nothing to disconnect. */
int dcc_client_disconnect(struct dcc_client *c, char *err);
/* Queue main chat / a private message (text is raw UTF-8; escaping is done
 * here). Requires DCC_STATE_ONLINE; pm requires the nick to be online. */
int dcc_client_say(struct dcc_client *c, const char *text, char *err);
int dcc_client_pm(struct dcc_client *c, const char *nick, const char *text, char *err);
/* Queue one protocol line to the hub exactly as given (the terminator is
 * added): for tests of hubs, which need a client that breaks the protocol
 * on purpose. Requires DCC_STATE_ONLINE; the line must not hold the
 * protocol's terminator ('|' NMDC, LF ADC). */
int dcc_client_raw(struct dcc_client *c, const char *line, char *err);

enum dcc_state dcc_client_state(const struct dcc_client *c);
const char *dcc_state_name(enum dcc_state s);
enum dcc_proto dcc_client_proto(const struct dcc_client *c);   /* of the current/last URL */
const char *dcc_client_url(const struct dcc_client *c);        /* "" when none */
const char *dcc_client_nick(const struct dcc_client *c);       /* the session's nick */
/* Whether the current/last hub connection is TLS, and the keyprint of the
 * certificate the hub presented ("" until a TLS handshake completed). */
bool dcc_client_tls(const struct dcc_client *c);
const char *dcc_client_hub_keyprint(const struct dcc_client *c);
/* Our own certificate's keyprint (created on first use: <data_dir>/cert.pem
 * and key.pem, or in memory without a data_dir). NULL with err on failure. */
const char *dcc_client_keyprint(struct dcc_client *c, char *err);
/* ADC identity (base32), creating the PID on first use (from data_dir if set).
 * NULL with err if the PID file is unreadable or malformed. */
const char *dcc_client_cid(struct dcc_client *c, char *err);

size_t dcc_client_user_count(const struct dcc_client *c);
const struct dcc_user *dcc_client_find_user(const struct dcc_client *c, const char *nick);
/* Calls each_cb once per user, in no particular order. each_cb must not
 * change the client. */
void dcc_client_foreach_user(const struct dcc_client *c,
                             void (*each_cb)(const struct dcc_user *u, void *ctx), void *ctx);

/* ---- sharing and transfers ------------------------------------------------ */

/* Share a directory (its name becomes a top-level directory of our list).
 * Scans now; hashes in the background (SHARE_PROGRESS, then SHARE_DONE, after
 * which the list and the advertised share size/count are updated). Files
 * whose size, mtime and inode match <data_dir>/hashes.txt are not rehashed. */
int dcc_client_share(struct dcc_client *c, const char *dir, char *err);
void dcc_client_share_info(const struct dcc_client *c, struct dcc_share_info *out);

/* Fetch nick's file list (files.xml.bz2). Returns the transfer id (> 0); the
 * outcome is TRANSFER_DONE (transfer->list is the parsed tree, also kept as
 * dcc_client_peer_list) or TRANSFER_FAILED. Requires being online. */
long dcc_client_list(struct dcc_client *c, const char *nick, char *err);
/* The last list fetched from nick (borrowed until the next fetch), or NULL. */
const struct dc_fl_tree *dcc_client_peer_list(const struct dcc_client *c, const char *nick);

/* What to download: by path ("/share/dir/file", as in nick's list) or by
 * tth (base32); the size and TTH come from nick's list, which is fetched
 * first when we have none. name defaults to the list's file name. Strings
 * are borrowed for the call (copied). */
struct dcc_download_req {
    const char *nick;
    const char *path;          /* or NULL */
    const char *tth;           /* or NULL */
    const char *target_dir;
    const char *name;          /* or NULL */
};
/* Queue a download; returns its id (> 0). Data goes to target_dir/name.part
 * (resumed from its verified prefix if present) and is renamed to name only
 * once every TTHL block and the root are verified. */
long dcc_client_download(struct dcc_client *c, const struct dcc_download_req *r, char *err);

#endif
