/* xfer.h: what the transfer modules share and nobody else sees.
 *
 * cc.c owns client-client connections (listener, CTM/RCM, the NMDC and ADC
 * handshakes, line framing, the raw/ZLIB data phase and the wire forms of
 * GET/SND/errors); upload.c answers GETs from our share; download.c owns the
 * download queue, the .part files, verification and the transfer events.
 * They meet only through the functions below, in protocol-neutral terms
 * (type, identifier, start, bytes, ZL1; errors as ADC STA codes).
 */
#ifndef DC_CLIENT_XFER_H
#define DC_CLIENT_XFER_H

#include <event2/util.h>
#include <zlib.h>

#include "client/internal.h"

#define DCC_MINISLOT_SIZE (64 * 1024)   /* lists and files up to this need no slot */
#define DCC_CC_MAX_LINE 16384           /* longest C-C message */
#define DCC_CC_IDLE_SECONDS 120.0       /* an idle connection is kept this long (reuse) */

struct dcc_dl;

enum dcc_cc_state {
    DCC_CC_CONNECTING,
    DCC_CC_HANDSHAKE,
    DCC_CC_IDLE,          /* handshake done, no transfer running */
    DCC_CC_WAIT_SND,      /* downloader: GET sent */
    DCC_CC_RECV,          /* downloader: data phase */
    DCC_CC_SEND_Z,        /* uploader: streaming a file from up_fd (compressed, or over TLS) */
};

/* One client-client connection. Owned by the xfer's list; freed when closed
 * and no callback is running on it (busy). */
struct dcc_cc {
    struct dcc_xfer *x;             /* borrowed: the owner */
    struct bufferevent *bev;        /* owns the socket; NULL once closed (and while sniffing) */
    struct event *sniff;            /* incoming, before bev: waits for the first byte (TLS or not) */
    evutil_socket_t sniff_fd;       /* owned while sniffing, else -1 */
    bool tls;                       /* the connection is (to be) TLS */
    struct event *timer;            /* handshake, stall and idle timeouts */
    enum dcc_proto proto;
    enum dcc_cc_state state;
    bool outgoing;                  /* we connected */
    bool download;                  /* we are the downloader */
    bool closed;
    bool flush_close;               /* a fatal error was sent: close once it is out */
    const char *fatal;              /* static, or NULL: why, when it was the peer's fault (the close's reason) */
    int busy;
    char *nick;                     /* peer; NULL until identified */
    char token[64];                 /* ADC token ("" on NMDC) */
    /* handshake */
    bool sent_lock, got_lock, got_key, got_dir, got_sup, sent_inf, got_inf;
    bool peer_wants_download;
    long my_num, peer_num;
    bool peer_tthl, peer_zlig;
    /* downloader */
    struct dcc_dl *dl;              /* borrowed: the download being served */
    uint64_t want;                  /* bytes of data still expected */
    bool inflating;
    z_stream zs;
    unsigned char *zbuf;            /* owned: uploader's deflate input (file bytes) */
    unsigned char *rbuf;            /* owned: direct socket reads of ZLIB data, inflated from here */
    struct dctls_rx *rx;            /* owned: TLS downloads read through it (from the first on) */
    /* uploader */
    bool holds_slot;
    int up_fd;                      /* streamed upload source, or -1 */
    bool up_z;                      /* ... deflated through dz */
    uint64_t up_left;
    z_stream dz;                    /* raw deflate (level 1): upload.c frames it as zlib */
    uint32_t up_adler;              /* Adler-32 of the stream's data */
    int up_zlevel;                  /* 1: deflating through dz; 0: stored blocks of our own */
    bool up_zend;                   /* the stream's last byte is queued */
    struct evbuffer_file_segment *up_seg;   /* owned: ZL1 without TLS: the range, sent as stored payload */
    uint64_t up_seg_at;             /* file offset of up_seg's first byte */
    uint64_t up_zin, up_zout;       /* stream bytes in and out (logged at its end) */
    bool up_probing;                /* the next piece measures level 1's gain */
    uint64_t up_stored;             /* bytes stored since the last probe */
    uint64_t up_stored_all;         /* ... in this upload (logged at its end) */
    struct dctls_bulk *up_bulk;     /* owned: TLS upload, records collected and written in large writes */
    struct evbuffer *up_out;        /* owned: ZL1 upload without TLS, the stream written from here */
    struct event *up_wev;           /* owned: ... when the socket is writable */
    /* uploader faults of this upload (upload_fault.c); off: -1, -1, NULL */
    int64_t upf_stop;               /* file bytes after which it stalls or closes */
    int64_t upf_corrupt;            /* file offset of the byte changed */
    bool upf_close;                 /* at upf_stop: close (else stall) */
    bool upf_on;                    /* this upload is faulty: read in chunks, through the faults */
    uint64_t upf_pos;               /* file offset of the next byte read */
    uint64_t upf_done;              /* file bytes of this upload read so far */
    struct ev_token_bucket_cfg *upf_tb;   /* owned: the throttle, or NULL */
    struct dcc_cc *next;
};

/* An ADC token we handed out, and what the connection presenting it is
 * for. Plain value, kept in the xfer's array. */
struct dcc_expect {
    char token[64];
    bool download;
    bool tls;                       /* we asked for ADCS: a plain connection is refused */
};

/* The last file list fetched from a user. Owned by the xfer. */
struct dcc_plist {
    char *nick;
    struct dc_fl_tree *tree;       /* owned */
    struct dcc_plist *next;
};

#define DCC_MAX_EXPECT 64

/* Transfer state of one client. Owned by the client. */
struct dcc_xfer {
    struct dcc_client *c;           /* borrowed */
    struct evconnlistener *listener;
    char ip[64];                    /* our address for $ConnectToMe */
    int port;
    struct dcc_cc *ccs;
    struct dcc_dl *dls;             /* queue, oldest first */
    struct dcc_expect expects[DCC_MAX_EXPECT];
    size_t nexpects;
    struct dcc_plist *lists;
    long next_id;
    int slots_used;
    int upf_used;                   /* requests the up_* faults were applied to */
    unsigned seq;                   /* token counter */
};

/* cc.c */
void dcc_cc_close(struct dcc_cc *cc, const char *why);
int dcc_cc_send_get(struct dcc_cc *cc, const char *type, const char *ident, int64_t start, int64_t bytes, bool zl1);
int dcc_cc_send_snd(struct dcc_cc *cc, const char *type, const char *ident, int64_t start, int64_t bytes, bool zl1);
/* code: 151 not available, 153 slots full, 140 protocol error. */
void dcc_cc_send_error(struct dcc_cc *cc, int code, const char *text);
/* Ask nick for a connection (CTM when active, RCM when passive). */
int dcc_cc_request(struct dcc_xfer *x, const char *nick, char *err);
struct dcc_cc *dcc_cc_find(struct dcc_xfer *x, const char *nick, bool download);
void dcc_cc_arm(struct dcc_cc *cc, double seconds);
/* The downloader accepted a SND: data phase (0/-1). tth_verified: the
 * data is a file's, checked against its TTH as it arrives. */
int dcc_cc_recv_begin(struct dcc_cc *cc, uint64_t bytes, bool zl1, bool tth_verified);
void dcc_cc_idle(struct dcc_cc *cc);
/* TLS upload: call dcc_up_more whenever the socket is writable (up_wev),
 * until dcc_up_cleanup. 0/-1. */
int dcc_cc_bulk_watch(struct dcc_cc *cc);

/* upload.c */
void dcc_up_get(struct dcc_cc *cc, const char *type, const char *ident, int64_t start, int64_t bytes, bool zl1,
                bool re1);
void dcc_up_more(struct dcc_cc *cc);        /* output drained: continue a compressed upload */
void dcc_up_cleanup(struct dcc_cc *cc);
/* Send the last words (may be empty), then close once they are out. */
void dcc_cc_close_after(struct dcc_cc *cc, const char *line, size_t len);

/* upload_fault.c: the up_* fault settings (docs/control-protocol.md). */
/* A file request: answer it with up_error / up_no_slots? true if answered. */
bool dcc_upf_refuse(struct dcc_cc *cc, const char *type, const char *ident);
/* TTH leaves about to go out: with up_bad_tthl, a changed copy in buf. */
const void *dcc_upf_tthl(struct dcc_cc *cc, const void *leaves, size_t len, struct dc_buf *buf);
/* A file upload of [start, start+n) of f begins: set this upload's faults;
 * true when it has some (it then goes through dcc_upf_clamp/_data). */
bool dcc_upf_begin(struct dcc_cc *cc, const struct dcc_sfile *f, uint64_t start, uint64_t n);
/* How much of want may be read now; 0 when the stop point is reached, after
 * which the upload stalls or closes (done here). */
size_t dcc_upf_clamp(struct dcc_cc *cc, size_t want);
/* n file bytes were read into p: corrupt what is due. */
void dcc_upf_data(struct dcc_cc *cc, uint8_t *p, size_t n);
/* A faulty upload's next chunks into the output (plain connections). */
void dcc_upf_more(struct dcc_cc *cc);
void dcc_upf_cleanup(struct dcc_cc *cc);

/* download.c */
void dcc_dl_next(struct dcc_cc *cc);        /* cc is idle as downloader: start the next item */
bool dcc_dl_wanted(struct dcc_xfer *x, const char *nick);
void dcc_dl_on_snd(struct dcc_cc *cc, const char *type, const char *ident, int64_t start, int64_t bytes, bool zl1);
/* Received data goes where dcc_dl_space says (up to *cap bytes, never
 * past the announced size; it may wait for a free slot), then
 * dcc_dl_commit takes the n bytes put there: no copy on the way to the
 * disk and the hash. dcc_dl_data copies into the space (inflated data).
 * NULL / -1: failed (cc closed). */
uint8_t *dcc_dl_space(struct dcc_cc *cc, size_t *cap);
int dcc_dl_commit(struct dcc_cc *cc, size_t n);
int dcc_dl_data(struct dcc_cc *cc, const void *data, size_t len);
void dcc_dl_data_end(struct dcc_cc *cc);
void dcc_dl_on_error(struct dcc_cc *cc, int code, const char *text);
void dcc_dl_conn_lost(struct dcc_cc *cc, const char *why);
/* A connection from/to nick was refused (its certificate): fail the
 * downloads from nick that wait for one. */
void dcc_dl_refused(struct dcc_xfer *x, const char *nick, const char *why);
void dcc_dl_free_all(struct dcc_xfer *x);

#endif
