/* dctls.h: the TLS pieces Direct Connect needs, over OpenSSL 3 and
 * libevent_openssl, shared by fakehub (adcs://, nmdcs:// listeners) and,
 * next, the client core (adcs:// / nmdcs:// hubs, ADCS/0.10 and NMDC "S"
 * client-client connections).
 *
 * DC identities are self-signed certificates checked by keyprint, never by a
 * CA (notes §1.7): KEYP = "SHA256/" + base32(SHA-256 over the DER
 * certificate), 52 base32 chars. So contexts here verify nothing on their
 * own; the caller compares the peer's keyprint after the handshake
 * (dctls_bev_check_keyprint) when it has one to compare against.
 *
 * What it does: load a cert+key pair, or generate a self-signed EC P-256 one
 * (fast, unlike RSA) and optionally keep it in a data directory so a restart
 * reuses it; keyprints of our own and of the peer's certificate; server and
 * client SSL_CTX (TLS 1.2+); wrapping a connected fd or an existing
 * bufferevent into a libevent openssl bufferevent. What it does not do: CA
 * or hostname verification, renegotiation, session resumption.
 *
 * No globals and no process-wide init (OpenSSL 3 initialises itself), so
 * libdcclient may link it and stay reentrant. Conventions as in the rest of
 * the project: int functions return 0 or -1; pointer functions return NULL;
 * on failure a message goes to err (DCTLS_ERR_LEN bytes, may be NULL).
 *
 * For the client (part 2): dctls_cert_load_or_create for its own identity
 * (publish dctls_cert_keyprint as INF KP), dctls_client_ctx_new (with that
 * cert, so a C-C peer can check our KP), dctls_bev_wrap_fd or
 * dctls_bev_wrap_filter in DCTLS_CONNECT role, then on BEV_EVENT_CONNECTED
 * dctls_bev_check_keyprint against the URL's ?kp= or the peer's INF KP; a
 * BEV_EVENT_ERROR before CONNECTED is a failed handshake (dctls_bev_error
 * says why). Incoming TLS C-C uses dctls_server_ctx_new, which asks for the
 * peer's certificate so its keyprint can be checked the same way.
 */
#ifndef DC_TLS_DCTLS_H
#define DC_TLS_DCTLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <event2/util.h>
#include <openssl/ssl.h>

#define DCTLS_ERR_LEN 256
/* "SHA256/" + 52 base32 chars + NUL. */
#define DCTLS_KEYPRINT_SIZE 60

struct bufferevent;
struct event_base;

/* A certificate and its private key. Owns both; free with dctls_cert_free. */
struct dctls_cert;

/* Load a PEM certificate and a PEM private key (the two paths may name the
 * same file); fails unless the key matches the certificate. */
struct dctls_cert *dctls_cert_load(const char *cert_path, const char *key_path, char *err);
/* A new self-signed certificate (EC P-256, SHA-256, CN=cn, valid from a day
 * ago for ten years), kept in memory only. */
struct dctls_cert *dctls_cert_generate(const char *cn, char *err);
/* dir/cert.pem + dir/key.pem if both exist; otherwise generate one (CN=cn),
 * write it there (key mode 0600, each file by rename, dir created if
 * missing) and return it. *generated (may be NULL) says which happened.
 * Not meant for two processes creating into one empty dir at once: the
 * loser's pair may not match, which the next load reports. */
struct dctls_cert *dctls_cert_load_or_create(const char *dir, const char *cn, bool *generated,
                                             char *err);
void dctls_cert_free(struct dctls_cert *cert);
/* Our keyprint, "SHA256/<52 base32>" (computed once; borrowed from cert). */
const char *dctls_cert_keyprint(const struct dctls_cert *cert);
/* The PEM paths it was loaded from or written to; NULL when in memory only.
 * Borrowed from cert. */
const char *dctls_cert_path(const struct dctls_cert *cert);

/* Keyprint of any DER certificate, into out (DCTLS_KEYPRINT_SIZE). */
void dctls_keyprint_der(const uint8_t *der, size_t len, char *out);
/* Keyprint of the peer's certificate on a connection; -1 if it sent none
 * (a client need not). */
int dctls_peer_keyprint(const SSL *ssl, char *out);
/* Same keyprint? The "SHA256/" prefix must match exactly; the base32 part
 * is compared case-insensitively (URLs are sometimes lower-cased). */
bool dctls_keyprint_equal(const char *a, const char *b);

/* Contexts: TLS 1.2 minimum, no CA verification, unexpected EOF treated as
 * a close. Owned by the caller (SSL_CTX_free); reference-counted by OpenSSL,
 * so SSL objects made from one keep it alive. The server context presents
 * cert (required) and asks for, but does not require, the peer's
 * certificate (C-C: both sides check keyprints; a hub merely reports it).
 * The client context presents cert when it is not NULL. */
SSL_CTX *dctls_server_ctx_new(const struct dctls_cert *cert, char *err);
SSL_CTX *dctls_client_ctx_new(const struct dctls_cert *cert, char *err);
/* Both prefer AES-128-GCM (TLS 1.3, then 1.2), the cheapest AEAD where the
 * CPU has AES instructions; ChaCha20 stays on offer for peers without. */

enum dctls_role {
    DCTLS_ACCEPT,     /* we are the TLS server */
    DCTLS_CONNECT,    /* we start the handshake */
};

/* A libevent openssl bufferevent over a connected socket (takes fd: with
 * BEV_OPT_CLOSE_ON_FREE in opts, freeing the bufferevent closes it and
 * frees the SSL). The handshake starts at once; BEV_EVENT_CONNECTED follows
 * it, BEV_EVENT_ERROR reports a failed one. A peer closing without
 * close_notify is reported as BEV_EVENT_EOF. On failure fd is left open. */
struct bufferevent *dctls_bev_wrap_fd(struct event_base *base, evutil_socket_t fd, SSL_CTX *ctx,
                                      enum dctls_role role, int opts, char *err);
/* The same over an existing bufferevent (e.g. after a plain-text prelude);
 * with BEV_OPT_CLOSE_ON_FREE the new one owns `under`. */
struct bufferevent *dctls_bev_wrap_filter(struct event_base *base, struct bufferevent *under,
                                          SSL_CTX *ctx, enum dctls_role role, int opts,
                                          char *err);
/* The SSL behind a bufferevent from the two above, or NULL (not TLS). */
SSL *dctls_bev_ssl(struct bufferevent *bev);
/* After BEV_EVENT_CONNECTED: 0 if the peer's keyprint equals expected, -1
 * (with both keyprints in err) if not or if the peer sent no certificate. */
int dctls_bev_check_keyprint(struct bufferevent *bev, const char *expected, char *err);
/* Why a TLS bufferevent failed: OpenSSL's queued errors for it, else errno's
 * text, into buf. Returns buf. */
const char *dctls_bev_error(struct bufferevent *bev, char *buf, size_t len);

/* Bulk sending (an upload's data phase): from dctls_bulk_begin on, the
 * records SSL_write makes are collected in a buffer of cap bytes instead of
 * going to the socket one write() per 16 KiB record, and dctls_bulk_send
 * writes them in one write() (what the socket takes; the rest stays queued;
 * -1 with errno as from write()). SSL_write no more than dctls_bulk_room
 * bytes at once: that much always fits as records (more fails the
 * SSL_write). Control requests (the fd, ...) still reach the socket BIO.
 * Call it only while nothing else is queued for the socket (the
 * bufferevent's output empty). dctls_bulk_end puts the socket BIO back
 * (ssl: the same SSL, or NULL once it was freed) and frees b. NULL: out of
 * memory, err says. (dctls_bulk.c) */
struct dctls_bulk;
struct dctls_bulk *dctls_bulk_begin(SSL *ssl, size_t cap, char *err);
size_t dctls_bulk_room(const struct dctls_bulk *b);
size_t dctls_bulk_queued(const struct dctls_bulk *b);
ssize_t dctls_bulk_send(struct dctls_bulk *b, int fd);
void dctls_bulk_end(struct dctls_bulk *b, SSL *ssl);

/* Bulk receiving (a download's data phase): dctls_rx_begin puts a read BIO
 * in front of the SSL's socket BIO (and turns OpenSSL's read-ahead off).
 * In bulk mode (dctls_rx_bulk with the plaintext bytes still expected) it
 * fills a buffer of cap bytes (at least 2 records) with one read() and
 * hands OpenSSL its records from there, never reading past the last record
 * those bytes need, so nothing that follows the data phase is taken early.
 * With 0 it passes reads through (what is still buffered first) and frees
 * the buffer once drained. Bytes waiting in it do not make the socket
 * readable: a reader loops while dctls_rx_pending says there are some. EOF
 * and errors reach SSL_read as from the socket BIO. It stays until
 * dctls_rx_end (before the SSL is freed, or with ssl NULL after). -1/NULL:
 * out of memory (err says). */
struct dctls_rx;
struct dctls_rx *dctls_rx_begin(SSL *ssl, size_t cap, char *err);
int dctls_rx_bulk(struct dctls_rx *r, uint64_t plaintext_left);
size_t dctls_rx_pending(const struct dctls_rx *r);   /* r may be NULL */
void dctls_rx_end(struct dctls_rx *r, SSL *ssl);

#endif
